/* osrun pool: keeps clones of one snapshot warm — restored, clock set,
 * share ready — so that `osrun -s NAME COMMAND` starts COMMAND at once.
 *
 * The keeper listens on the store's pool socket for NAME and forks one
 * member process per clone. A member warms its clone up with the run
 * engine, says "ready", and waits. A client connects and sends its parsed
 * plan with its stdin, stdout and stderr attached (pool.h has the
 * protocol); the keeper passes the connection to a ready member and forks a
 * replacement. The member runs the client's command as a plain run would,
 * with the client's descriptors, reports on the client's stderr, and sends
 * the exit code back. Each clone serves one command, then is thrown away,
 * so runs stay isolated. A client that finds no pool, or no clone ready,
 * runs on its own. */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "commands.h"
#include "lib/fdpass.h"
#include "options.h"
#include "pool.h"

/* Clones at once, waiting and running; --clones is at most 64. */
#define MEMBERS_MAX 96

/* ---- member ------------------------------------------------------------ */

/* The client's plan, checked against this clone: 0, or the exit code
 * already reported to the client. */
static int member_accept(int conn, struct warm *w, struct pool_request *req, int *ret_code)
{
	int r = pool_request_accept(conn, req);
	if (r == -ENOTCONN) {
		*ret_code = EXIT_OSRUN; /* not a client: nobody to tell */
		return r;
	}
	struct error e = {0};
	if (r < 0)
		error_set(&e, r, "pool: the request is not one this osrun understands (another version?)");
	else if (req->plan.op != RUN_OP_COMMAND || req->plan.new_snapshot || req->plan.n_copy_in ||
		 req->plan.n_copy_out)
		r = error_set(&e, -EINVAL, "pool: a pool's clone runs one command, nothing else");
	else if (strcmp(req->plan.snapshot, w->sn->name))
		r = error_set(&e, -EINVAL, "pool: the request is for snapshot '%s', not '%s'", req->plan.snapshot,
			      w->sn->name);
	else {
		log_set_level(req->plan.verbose ? LOG_DEBUG : LOG_INFO);
		r = run_plan_check(&req->plan, w, &e);
	}
	if (r < 0) {
		*ret_code = options_report(&e);
		pool_send_exit(conn, *ret_code);
	}
	return r;
}

/* Runs the request on conn in w; returns the exit code sent back. */
static int member_serve(int conn, struct warm *w)
{
	_cleanup_(pool_request_release) struct pool_request req = {0};
	int code;
	if (member_accept(conn, w, &req, &code) < 0)
		return code;
	struct pool_bridge b;
	pool_bridge_start(&b, conn);
	struct error e = {0};
	_cleanup_(run_result_release) struct run_result res = {0};
	int r = run_command(&req.plan, w, &res, &e);
	pool_bridge_stop(&b);
	code = r < 0 ? options_report(&e) : options_report_result(&res);
	/* QEMU stops before the client hears the end, as in a plain run. */
	warm_release(w);
	pool_send_exit(conn, code);
	return code;
}

/* Waits for the keeper's job while watching QEMU: a clone whose QEMU died
 * must not take a command; ending here makes the keeper start another. */
static int member_wait_job(int keeper, struct warm *w, int *ret_conn)
{
	for (;;) {
		struct pollfd pf[3] = {{.fd = keeper, .events = POLLIN},
				       {.fd = cancel_fd_get(), .events = POLLIN},
				       {.fd = qmp_fd(vm_qmp(w->j.vm)), .events = POLLIN}};
		if (poll(pf, 3, -1) < 0 && errno != EINTR)
			return EXIT_OSRUN;
		if (pf[1].revents & POLLIN)
			return 0; /* the pool stops: warm_release stops QEMU */
		int r;
		struct error e = {0};
		if (pf[2].revents && (r = qmp_poll(vm_qmp(w->j.vm))) < 0)
			return job_fail(&w->j, r, NULL, "warm clone", &e), options_report(&e);
		if (!pf[0].revents)
			continue;
		_cleanup_free_ char *msg = NULL;
		size_t n, nfds;
		int conn[FDPASS_MAX_FDS];
		r = fdpass_recv(keeper, 16, &msg, &n, conn, &nfds);
		if (r < 0 || n == 0)
			return 0; /* the keeper is gone */
		if (nfds == 1) {
			*ret_conn = conn[0];
			return -1;
		}
		for (size_t i = 0; i < nfds; i++)
			close(conn[i]);
	}
}

static int member_main(int keeper, const struct run_plan *plan)
{
	_cleanup_(warm_release) struct warm w = {0};
	struct error e = {0};
	if (run_warm_up(plan, &w, &e) < 0)
		return options_report(&e);
	char m[1] = {POOL_MSG_READY};
	if (fdpass_send(keeper, m, 1, NULL, 0) < 0)
		return EXIT_OSRUN;
	int conn = -1, r = member_wait_job(keeper, &w, &conn);
	if (r >= 0)
		return r;
	/* The job is the client's now: it runs to its end even when the pool
	 * stops meanwhile. */
	prctl(PR_SET_PDEATHSIG, 0);
	r = member_serve(conn, &w);
	close(conn);
	return r;
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
	int lock_fd; /* held while the pool runs (pool_listen) */
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
		close(pl->lock_fd);
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
		if (msg[0] == POOL_MSG_READY) {
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
	if (failed_warm_up && ++pl->failures >= 3)
		return -EIO;
	return 0;
}

static void pool_accept(struct pool *pl)
{
	_cleanup_close_ int c = accept4(pl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	/* Every claimed clone is replaced: past MEMBERS_MAX, clients run on
	 * their own rather than the pool growing without bound. */
	for (size_t i = 0; pl->n < MEMBERS_MAX && i < pl->n; i++) {
		struct member *mb = &pl->m[i];
		if (!mb->ready || mb->busy)
			continue;
		char m[1] = {POOL_MSG_JOB};
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
		fdpass_recv(c, POOL_REQUEST_MAX, &req, &n, NULL, NULL);
	char m[1] = {POOL_MSG_BUSY};
	fdpass_send(c, m, 1, NULL, 0);
}

/* Stops the members that wait; those running a client's command finish
 * it on their own. A member ends when its teardown (QEMU, smbd, run
 * directory) is done. */
static void pool_stop(struct pool *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		if (!pl->m[i].busy)
			kill(pl->m[i].pid, SIGTERM);
	/* The Ctrl-C that stops the pool must not cut the waits short. */
	int cancel = cancel_fd_get();
	cancel_fd_set(-1);
	usec_t deadline = deadline_after(30 * USEC_PER_SEC);
	for (size_t i = 0; i < pl->n; i++) {
		usec_t now = now_usec();
		if (!pl->m[i].busy && proc_wait(pl->m[i].pid, deadline > now ? deadline - now : 1, NULL) < 0)
			proc_kill_and_reap(pl->m[i].pid, 0);
		close(pl->m[i].fd);
	}
	cancel_fd_set(cancel);
	free(pl->m);
	pl->m = NULL;
	pl->n = 0;
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

/* The snapshot must exist now: a typo should not become a loop of clones
 * that fail. Then the socket, in the store's private pools directory. */
static int pool_open(const struct run_plan *plan, char **ret_path, int *ret_fd, int *ret_lock, struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, plan->cache, false, e);
	if (r < 0)
		return r;
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	r = snapshot_open(j.store, plan->snapshot, &sn);
	if (r == -ENOENT)
		return error_set(e, r, "snapshot '%s': not found in %s", plan->snapshot, j.store->root);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", plan->snapshot);
	if ((r = store_area_make(j.store, STORE_POOLS)) < 0)
		return error_errno(e, r, "%s/pools", j.store->root);
	_cleanup_free_ char *path = store_pool_socket(j.store->root, plan->snapshot);
	if (!path)
		return error_errno(e, -ENOMEM, "pool");
	r = pool_listen(path, ret_fd, ret_lock);
	if (r == -EADDRINUSE)
		return error_set(e, r, "a pool for '%s' already runs (%s)", plan->snapshot, path);
	if (r < 0)
		return error_errno(e, r, "pool socket %s", path);
	*ret_path = TAKE_PTR(path);
	return 0;
}

/* One round: top the clones up, wait for an event, handle it. 0 goes on,
 * 1 stops (Ctrl-C), <0 stops on a failure in e. */
static int pool_step(struct pool *pl, struct error *e)
{
	while (pool_count(pl, false) < pl->want && pl->n < MEMBERS_MAX) {
		int r = member_spawn(pl);
		if (r < 0)
			return error_errno(e, r, "starting a clone");
	}
	if (!pl->announced && pool_count(pl, true) == pl->want) {
		log_info("pool for '%s': %zu clone%s ready; 'osrun -s %s COMMAND' runs in one", pl->plan->snapshot,
			 pl->want, pl->want == 1 ? "" : "s", pl->plan->snapshot);
		pl->announced = true;
	}
	struct pollfd pf[2 + MEMBERS_MAX];
	size_t np = 0;
	pf[np++] = (struct pollfd){.fd = cancel_fd_get(), .events = POLLIN};
	pf[np++] = (struct pollfd){.fd = pl->listen_fd, .events = POLLIN};
	for (size_t i = 0; i < pl->n && np < ELEMENTSOF(pf); i++)
		pf[np++] = (struct pollfd){.fd = pl->m[i].fd, .events = POLLIN};
	if (poll(pf, np, -1) < 0 && errno != EINTR)
		return error_errno(e, -errno, "poll");
	if (pf[0].revents & POLLIN) {
		log_info("pool for '%s': stopping", pl->plan->snapshot);
		return 1;
	}
	if (pf[1].revents & POLLIN)
		pool_accept(pl);
	/* Back to front: member_event may move the last member into i. */
	for (size_t i = np - 2; i-- > 0;)
		if (pf[2 + i].revents && member_event(pl, i) < 0)
			return error_set(e, -EIO, "pool for '%s': clones keep failing to start (see above); stopping",
					 pl->plan->snapshot);
	return 0;
}

int cmd_pool(int argc, char **argv)
{
	struct run_plan plan = {.snapshot = "provisioned", .agent_timeout = 60 * USEC_PER_SEC};
	struct common_opts c = {0};
	unsigned want = 1;
	const struct opt table[] = {
		{"use-snapshot", 's', OPT_STRING, &plan.snapshot, 0, 0, NULL},
		{"clones", 'j', OPT_UINT, &want, 1, 64, "expected a number from 1 to 64"},
		OPTS_COMMON(&c),
	};
	struct error e = {0};
	int first, r = options_parse(table, pool_help, false, argc, argv, &first, &e);
	if (r == 0 && (r = options_no_operands("pool", argc, argv, first, &e)) == 0)
		r = options_check_snapshot_name(plan.snapshot, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	plan.cache = c.cache;
	plan.verbose = c.verbose;
	_cleanup_free_ char *path = NULL;
	struct pool pl = {.plan = &plan, .want = want, .listen_fd = -1, .lock_fd = -1};
	if ((r = pool_open(&plan, &path, &pl.listen_fd, &pl.lock_fd, &e)) < 0)
		return options_report(&e);
	while ((r = pool_step(&pl, &e)) == 0)
		;
	unlink(path);
	close(pl.listen_fd);
	pool_stop(&pl);
	close(pl.lock_fd);
	return r < 0 ? options_report(&e) : 0;
}
