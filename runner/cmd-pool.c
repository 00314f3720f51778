/* osrun pool: keeps clones of one snapshot warm — restored, clock set,
 * share ready — so that `osrun -s NAME COMMAND` starts COMMAND at once.
 *
 * The keeper listens on STORE/pools/NAME.sock (a UNIX socket in a 0700
 * directory) and forks one member process per clone. A member warms its
 * clone up with the same code as a plain run, says "ready", and waits. A
 * client connects and sends its arguments with its stdin, stdout and
 * stderr attached; the keeper passes the connection to a ready member and
 * forks a replacement. The member runs the client's command as a plain run
 * would, with the client's descriptors, and sends the exit code back. Each
 * clone serves one command, then is thrown away, so runs stay isolated.
 * A client that finds no pool, or no clone ready, runs on its own. */
#define _GNU_SOURCE
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "commands.h"
#include "lib/fdpass.h"
#include "lib/log.h"
#include "run.h"

/* Messages: client -> member: the request (arguments, NUL-separated, with
 * fds 0-2), then 'S' + signal number to pass Ctrl-C on. keeper -> client:
 * 'B' (busy: no clone ready). member -> keeper: 'R' (ready). member ->
 * client: 'A' (taken), then 'X' + exit code. */
enum { MSG_BUSY = 'B', MSG_READY = 'R', MSG_TAKEN = 'A', MSG_EXIT = 'X', MSG_SIGNAL = 'S' };
#define REQUEST_MAX (1u << 20)

static char *pool_socket_path(const char *cache, const char *name)
{
	_cleanup_free_ char *root = cache ? strdup(cache) : store_default_root();
	char *path;
	if (!root || asprintf(&path, "%s/pools/%s.sock", root, name) < 0)
		return NULL;
	return path;
}

static int socket_address(const char *path, struct sockaddr_un *ret)
{
	*ret = (struct sockaddr_un){.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof ret->sun_path)
		return -ENAMETOOLONG;
	memcpy(ret->sun_path, path, n + 1);
	return 0;
}

/* ---- client ------------------------------------------------------------ */

static int request_encode(const struct run_plan *p, char **ret, size_t *ret_len)
{
	size_t len = 0;
	for (int i = 0; i < p->argc; i++)
		len += strlen(p->argv[i]) + 1;
	if (len > REQUEST_MAX)
		return -E2BIG;
	char *buf = malloc(len ? len : 1), *w = buf;
	if (!buf)
		return -ENOMEM;
	for (int i = 0; i < p->argc; i++)
		w = stpcpy(w, p->argv[i]) + 1;
	*ret = buf;
	*ret_len = len;
	return 0;
}

int pool_run(const struct run_plan *p)
{
	_cleanup_free_ char *path = pool_socket_path(p->common.cache, p->snapshot);
	struct sockaddr_un sa;
	if (!path || socket_address(path, &sa) < 0)
		return -EAGAIN;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -EAGAIN; /* no pool: the usual case */
	_cleanup_free_ char *req = NULL;
	size_t len;
	int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	if (request_encode(p, &req, &len) < 0 || fdpass_send(fd, req, len, fds, 3) < 0)
		return -EAGAIN;

	int forwarded = 0; /* a signal passed on to the member */
	bool taken = false; /* a member has the command: it must answer */
	usec_t deadline = USEC_INFINITY;
	for (;;) {
		struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = cancel_fd_get(), .events = POLLIN}};
		int k = poll(pf, 2, deadline_to_poll_ms(deadline));
		if (k < 0 && errno != EINTR)
			return log_errno(-errno, "poll"), EXIT_OSRUN;
		if (k == 0) {
			log_error("interrupted by SIG%s; the pool's clone did not stop within 30 s",
				  signal_name(forwarded));
			return 128 + forwarded;
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(cancel_fd_get(), &si, sizeof si) == sizeof si) {
				forwarded = (int)si.ssi_signo;
				char m[2] = {MSG_SIGNAL, (char)forwarded};
				fdpass_send(fd, m, 2, NULL, 0);
				deadline = deadline_after(30 * USEC_PER_SEC);
			}
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		_cleanup_free_ char *msg = NULL;
		size_t n;
		int r = fdpass_recv(fd, 16, &msg, &n, NULL, NULL);
		if ((r < 0 || n == 0) && forwarded)
			return log_error("interrupted by SIG%s; the VM is stopped", signal_name(forwarded)),
			       128 + forwarded;
		if ((r < 0 || n == 0) && !taken) {
			log_debug("pool for '%s' closed the connection; restoring a clone here", p->snapshot);
			return -EAGAIN;
		}
		if (r < 0 || n == 0) {
			log_error("pool for '%s': its clone ended without an exit status", p->snapshot);
			return EXIT_OSRUN;
		}
		if (msg[0] == MSG_BUSY) {
			if (forwarded)
				return log_error("interrupted by SIG%s", signal_name(forwarded)), 128 + forwarded;
			log_debug("pool for '%s' has no clone ready; restoring one here", p->snapshot);
			return -EAGAIN;
		}
		if (msg[0] == MSG_TAKEN) {
			taken = true;
			log_debug("running in a warm clone of pool '%s'", p->snapshot);
		}
		else if (msg[0] == MSG_EXIT && n >= 1 + sizeof(int)) {
			int code;
			memcpy(&code, msg + 1, sizeof code);
			return code;
		}
	}
}

/* ---- member ------------------------------------------------------------ */

/* Turns the client's messages into this process's signals, so the run's
 * own signal handling (teardown, exit 128+N) serves the client: 'S' is the
 * client's Ctrl-C or SIGTERM; the client going away is a SIGTERM. */
struct bridge {
	int conn;
	int stop; /* eventfd: the run is over, stop listening */
	pthread_t thread;
};

static void *bridge_main(void *arg)
{
	struct bridge *b = arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = b->conn, .events = POLLIN}, {.fd = b->stop, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pf[1].revents)
			return NULL;
		char *msg = NULL;
		size_t n = 0;
		int r = fdpass_recv(b->conn, 16, &msg, &n, NULL, NULL);
		int sig = r < 0 || n == 0 ? SIGTERM : n == 2 && msg[0] == MSG_SIGNAL ? msg[1] : 0;
		free(msg);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
			kill(getpid(), sig);
		if (r < 0 || n == 0)
			return NULL;
	}
}

static void send_exit(int conn, int code)
{
	char m[1 + sizeof(int)] = {MSG_EXIT};
	memcpy(m + 1, &code, sizeof code);
	fdpass_send(conn, m, sizeof m, NULL, 0);
}

/* Runs the request on conn in w; returns the exit code sent back. */
static int member_serve(int conn, struct warm *w)
{
	_cleanup_free_ char *req = NULL;
	size_t len, nfds;
	int fds[FDPASS_MAX_FDS];
	int r = fdpass_recv(conn, REQUEST_MAX, &req, &len, fds, &nfds);
	if (r < 0 || len == 0 || nfds != 3 || req[len - 1]) {
		for (size_t i = 0; r == 0 && i < nfds; i++)
			close(fds[i]);
		return EXIT_OSRUN; /* not a client: nobody to tell */
	}
	for (int i = 0; i < 3; i++) {
		dup2(fds[i], i);
		close(fds[i]);
	}
	char m[1] = {MSG_TAKEN};
	fdpass_send(conn, m, 1, NULL, 0);

	_cleanup_strv_free_ char **argv = NULL;
	for (char *a = req; a < req + len; a += strlen(a) + 1)
		if (!(argv = strv_append(argv, a)))
			return send_exit(conn, EXIT_OSRUN), EXIT_OSRUN;
	_cleanup_(run_plan_release) struct run_plan p = {0};
	r = run_parse((int)strv_length(argv), argv, &p);
	if (r < 0) {
		log_set_level(p.common.verbose ? LOG_DEBUG : LOG_INFO);
		r = run_plan_check(&p, w);
		if (r == 0)
			r = -1; /* go on */
	}
	if (r >= 0) {
		send_exit(conn, r);
		return r;
	}
	struct bridge b = {.conn = conn, .stop = eventfd(0, EFD_CLOEXEC)};
	bool bridged = b.stop >= 0 && pthread_create(&b.thread, NULL, bridge_main, &b) == 0;
	r = run_command(&p, w);
	if (bridged) {
		uint64_t one = 1;
		if (write(b.stop, &one, sizeof one) < 0)
			pthread_cancel(b.thread);
		pthread_join(b.thread, NULL);
	}
	if (b.stop >= 0)
		close(b.stop);
	/* QEMU stops before the client hears the end, as in a plain run. */
	warm_release(w);
	send_exit(conn, r);
	return r;
}

static int member_main(int keeper, const struct run_plan *plan)
{
	_cleanup_(warm_release) struct warm w = {0};
	int r = run_warm_up(plan, &w);
	if (r)
		return r;
	char m[1] = {MSG_READY};
	if (fdpass_send(keeper, m, 1, NULL, 0) < 0)
		return EXIT_OSRUN;
	for (;;) {
		struct pollfd pf[3] = {{.fd = keeper, .events = POLLIN},
				       {.fd = cancel_fd_get(), .events = POLLIN},
				       {.fd = qmp_fd(vm_qmp(w.j.vm)), .events = POLLIN}};
		if (poll(pf, 3, -1) < 0 && errno != EINTR)
			return EXIT_OSRUN;
		if (pf[1].revents & POLLIN)
			return 0; /* the pool stops: warm_release stops QEMU */
		/* A clone whose QEMU died must not wait for a command: ending
		 * here makes the keeper start a replacement. */
		if (pf[2].revents && (r = qmp_poll(vm_qmp(w.j.vm))) < 0)
			return job_fail(&w.j, r, NULL, "warm clone");
		if (!pf[0].revents)
			continue;
		_cleanup_free_ char *msg = NULL;
		size_t n, nfds;
		int conn[FDPASS_MAX_FDS];
		r = fdpass_recv(keeper, 16, &msg, &n, conn, &nfds);
		if (r < 0 || n == 0)
			return 0; /* the keeper is gone */
		if (nfds != 1) {
			for (size_t i = 0; i < nfds; i++)
				close(conn[i]);
			continue;
		}
		/* The job is the client's now: it runs to its end even when the
		 * pool stops meanwhile. */
		prctl(PR_SET_PDEATHSIG, 0);
		r = member_serve(conn[0], &w);
		close(conn[0]);
		return r;
	}
}

/* ---- keeper ------------------------------------------------------------ */

struct member {
	pid_t pid;
	int fd;
	bool ready;
	bool busy; /* has a client's command: no longer the pool's */
};

struct pool {
	const struct run_plan *plan;
	int listen_fd;
	struct member *m;
	size_t n, want;
	unsigned failures; /* members in a row that died before they were ready */
	bool announced;
};

static int member_spawn(struct pool *pl)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t ppid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		close(pl->listen_fd);
		for (size_t i = 0; i < pl->n; i++)
			close(pl->m[i].fd);
		/* A keeper killed outright still stops its warm clones. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != ppid)
			_exit(0);
		if (proc_become_subreaper() < 0)
			_exit(EXIT_OSRUN);
		int r = member_main(sv[1], pl->plan);
		fflush(NULL);
		_exit(r);
	}
	close(sv[1]);
	struct member *m = realloc(pl->m, (pl->n + 1) * sizeof *m);
	if (!m) {
		kill(pid, SIGTERM);
		close(sv[0]);
		return -ENOMEM;
	}
	pl->m = m;
	pl->m[pl->n++] = (struct member){.pid = pid, .fd = sv[0]};
	return 0;
}

static size_t pool_count(const struct pool *pl, bool ready_only)
{
	size_t k = 0;
	for (size_t i = 0; i < pl->n; i++)
		if (!pl->m[i].busy && (!ready_only || pl->m[i].ready))
			k++;
	return k;
}

/* A member's socket said something or closed. Returns <0 to stop. */
static int member_event(struct pool *pl, size_t i)
{
	struct member *mb = &pl->m[i];
	_cleanup_free_ char *msg = NULL;
	size_t n;
	int r = fdpass_recv(mb->fd, 16, &msg, &n, NULL, NULL);
	if (r == 0 && n > 0) {
		if (msg[0] == MSG_READY) {
			mb->ready = true;
			pl->failures = 0;
			log_debug("pool: clone %d ready (%zu of %zu)", (int)mb->pid, pool_count(pl, true), pl->want);
		}
		return 0;
	}
	/* Closed: the member ended. */
	int st = 0;
	waitpid(mb->pid, &st, 0);
	bool failed_warm_up = !mb->ready && !mb->busy;
	close(mb->fd);
	pl->m[i] = pl->m[--pl->n];
	if (failed_warm_up && ++pl->failures >= 3) {
		log_error("pool for '%s': clones keep failing to start (see above); stopping", pl->plan->snapshot);
		return -EIO;
	}
	return 0;
}

static void pool_accept(struct pool *pl)
{
	_cleanup_close_ int c = accept4(pl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	for (size_t i = 0; i < pl->n; i++) {
		struct member *mb = &pl->m[i];
		if (!mb->ready || mb->busy)
			continue;
		char m[1] = {'J'};
		if (fdpass_send(mb->fd, m, 1, &c, 1) < 0)
			continue;
		mb->busy = true;
		log_debug("pool: a command went to clone %d", (int)mb->pid);
		return;
	}
	/* The request is read first: closing a socket with unread data
	 * resets the connection, and the client would miss the answer. */
	_cleanup_free_ char *req = NULL;
	size_t n;
	if (fd_wait(c, POLLIN, deadline_after(USEC_PER_SEC)) == 1)
		fdpass_recv(c, REQUEST_MAX, &req, &n, NULL, NULL);
	char m[1] = {MSG_BUSY};
	fdpass_send(c, m, 1, NULL, 0);
}

static void pool_stop(struct pool *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		if (!pl->m[i].busy)
			kill(pl->m[i].pid, SIGTERM);
	usec_t deadline = deadline_after(30 * USEC_PER_SEC);
	for (size_t i = 0; i < pl->n; i++) {
		if (pl->m[i].busy)
			continue;
		/* A member ends when its teardown (QEMU, smbd, run dir) is done. */
		while (waitpid(pl->m[i].pid, NULL, WNOHANG) == 0) {
			if (now_usec() >= deadline) {
				kill(pl->m[i].pid, SIGKILL);
				waitpid(pl->m[i].pid, NULL, 0);
				break;
			}
			usleep(10 * 1000);
		}
	}
	for (size_t i = 0; i < pl->n; i++)
		close(pl->m[i].fd);
	free(pl->m);
	pl->m = NULL;
	pl->n = 0;
}

static int pool_listen(const char *path, int *ret)
{
	struct sockaddr_un sa;
	int r = socket_address(path, &sa);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno != EADDRINUSE)
			return -errno;
		/* A live pool answers; a dead one's socket file is stale. */
		_cleanup_close_ int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0)
			return -EADDRINUSE;
		if (unlink(path) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
			return -errno;
	}
	if (listen(fd, 64) < 0)
		return -errno;
	*ret = TAKE_FD(fd);
	return 0;
}

static void pool_help(void)
{
	printf("Usage: osrun pool [OPTIONS]\n"
	       "\n"
	       "Keeps clones of a snapshot restored and ready, with their clock set and\n"
	       "share mounted, so that 'osrun -s NAME COMMAND' starts COMMAND without\n"
	       "waiting for a restore. Each clone runs one command and is replaced.\n"
	       "Runs in the foreground until Ctrl-C or SIGTERM, which stop the clones\n"
	       "that wait (commands already running finish). Runs with -n, -p, --vnc\n"
	       "or --monitor, and runs that find no clone ready, restore their own.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --use-snapshot NAME  the snapshot to keep clones of (default: provisioned)\n"
	       "  -j, --clones N           how many to keep ready (default: 1)\n"
	       "      --cache DIR          the store (default: $OSRUN_CACHE, else ~/.cache/osrun)\n"
	       "  -v, --verbose            say when each clone is ready and takes a command\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Each clone holds a QEMU process and its share of the snapshot's memory\n"
	       "(the pages it changed; the rest is the page cache all clones share).\n");
}

int cmd_pool(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{"use-snapshot", required_argument, NULL, 's'},
		{"clones", required_argument, NULL, 'j'},
		{"cache", required_argument, NULL, 0x100},
		{},
	};
	struct run_plan plan = {.snapshot = "provisioned", .agent_timeout = 60 * USEC_PER_SEC};
	unsigned want = 1;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hvs:j:", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			pool_help();
			return 0;
		case 'v':
			plan.common.verbose++;
			break;
		case 's':
			plan.snapshot = optarg;
			break;
		case 'j':
			if (parse_uint(optarg, 1, 64, &want) < 0)
				return log_error("--clones '%s': expected a number from 1 to 64", optarg), EXIT_OSRUN;
			break;
		case 0x100:
			plan.common.cache = optarg;
			break;
		default:
			return report_bad_option(c, argv), EXIT_OSRUN;
		}
	}
	if (optind < argc)
		return log_error("pool: unexpected argument '%s' (see 'osrun pool --help')", argv[optind]), EXIT_OSRUN;
	if (plan.common.verbose)
		log_set_level(LOG_DEBUG);
	const char *why;
	if (snapshot_name_check(plan.snapshot, &why) < 0)
		return log_error("snapshot name '%s' %s", plan.snapshot, why), EXIT_OSRUN;

	/* The snapshot must exist now: a typo should not become a loop of
	 * clones that fail. */
	{
		_cleanup_(job_release) struct job j = {0};
		int r = job_open_store(&j, &plan.common, false);
		if (r)
			return r;
		_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
		r = snapshot_open(j.store, plan.snapshot, &sn);
		if (r == -ENOENT)
			return log_error("snapshot '%s': not found in %s", plan.snapshot, j.store->root), EXIT_OSRUN;
		if (r < 0)
			return log_errno(r, "snapshot '%s'", plan.snapshot), EXIT_OSRUN;
		_cleanup_free_ char *dir = path_join(j.store->root, "pools");
		if (!dir)
			return log_errno(-ENOMEM, "pool"), EXIT_OSRUN;
		/* Whoever can connect runs commands: the directory is ours alone. */
		if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chmod(dir, 0700) < 0)
			return log_errno(-errno, "%s", dir), EXIT_OSRUN;
	}
	_cleanup_free_ char *path = pool_socket_path(plan.common.cache, plan.snapshot);
	if (!path)
		return log_errno(-ENOMEM, "pool"), EXIT_OSRUN;
	struct pool pl = {.plan = &plan, .want = want, .listen_fd = -1};
	int r = pool_listen(path, &pl.listen_fd);
	if (r == -EADDRINUSE)
		return log_error("a pool for '%s' already runs (%s)", plan.snapshot, path), EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "pool socket %s", path), EXIT_OSRUN;

	int code = 0;
	for (;;) {
		while (pool_count(&pl, false) < pl.want) {
			r = member_spawn(&pl);
			if (r < 0) {
				log_errno(r, "starting a clone");
				code = EXIT_OSRUN;
				goto stop;
			}
		}
		if (!pl.announced && pool_count(&pl, true) == pl.want) {
			log_info("pool for '%s': %zu clone%s ready; 'osrun -s %s COMMAND' runs in one", plan.snapshot,
				 pl.want, pl.want == 1 ? "" : "s", plan.snapshot);
			pl.announced = true;
		}
		struct pollfd pf[2 + 64 * 2];
		size_t np = 0;
		pf[np++] = (struct pollfd){.fd = cancel_fd_get(), .events = POLLIN};
		pf[np++] = (struct pollfd){.fd = pl.listen_fd, .events = POLLIN};
		for (size_t i = 0; i < pl.n && np < sizeof pf / sizeof *pf; i++)
			pf[np++] = (struct pollfd){.fd = pl.m[i].fd, .events = POLLIN};
		if (poll(pf, np, -1) < 0 && errno != EINTR) {
			log_errno(-errno, "poll");
			code = EXIT_OSRUN;
			goto stop;
		}
		if (pf[0].revents & POLLIN) {
			log_info("pool for '%s': stopping", plan.snapshot);
			goto stop;
		}
		if (pf[1].revents & POLLIN)
			pool_accept(&pl);
		/* Back to front: member_event may move the last member into i. */
		for (size_t i = np - 2; i-- > 0;)
			if (pf[2 + i].revents && member_event(&pl, i) < 0) {
				code = EXIT_OSRUN;
				goto stop;
			}
	}
stop:
	unlink(path);
	close(pl.listen_fd);
	pl.listen_fd = -1;
	pool_stop(&pl);
	return code;
}
