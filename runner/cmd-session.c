/* osrun session start|exec|cp|stop|list: one VM, many commands.
 *
 * `start` forks a keeper, which restores the snapshot as a run would, with
 * the session's volumes, and serves requests on the store's session socket
 * until `stop`, its idle limit or its lifetime ends it; QEMU is its child
 * and dies with it. A request is a pool request (pool.h) with an "op": a
 * command, copies, or the end. The keeper serves one at a time; a client
 * holds NAME.busy while its request runs, so a second one is refused at
 * once rather than left waiting. The guest's RAM is a copy of the
 * snapshot's from the start (as with -n), so that `stop -n` can save it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "copy.h"
#include "lib/fdpass.h"
#include "options.h"
#include "pool.h"
#include "session.h"

static void session_help(void)
{
	printf("Usage: osrun session start [-s SNAPSHOT] [--name NAME] [--volume ...] [--cache-volume ...]\n"
	       "                           [--idle-timeout SECONDS] [--max-lifetime SECONDS]\n"
	       "                           [--network none|internet|host]\n"
	       "       osrun session exec NAME [-e K=V] [-w DIR] [-t SECONDS] [--no-stdin] COMMAND...\n"
	       "       osrun session cp NAME SRC DST      (one of them guest:PATH)\n"
	       "       osrun session stop NAME [-n NEW_SNAPSHOT]\n"
	       "       osrun session list [--json]\n"
	       "\n"
	       "A session is one VM that runs many commands, for a CI job's steps.\n"
	       "start     restores SNAPSHOT (default: provisioned), prints the session's\n"
	       "          name once the guest is ready, and leaves a keeper holding it\n"
	       "exec      runs COMMAND in it exactly as 'osrun COMMAND' would: streams,\n"
	       "          stdin, exit status; one command at a time (another is refused)\n"
	       "cp        copies a file or tree in (cp NAME ./src guest:/build) or out\n"
	       "          (cp NAME guest:/build/out ./artifacts), as --copy-in/--copy-out\n"
	       "stop      stops the VM; with -n, saves it as a new snapshot first\n"
	       "list      the sessions that run\n"
	       "\n"
	       "A session ends by itself after --idle-timeout without a request (default\n"
	       "1800 s) and after --max-lifetime (default 14400 s); when its keeper is\n"
	       "killed, its QEMU stops too. Interrupting 'exec' (Ctrl-C) or a command past\n"
	       "its --timeout stops the whole session: the guest is in no known state.\n"
	       "--network is as for 'osrun COMMAND' (default none: the shares only).\n"
	       "\n"
	       "Options: --cache DIR, -v, -h\n");
}

/* ---- keeper ------------------------------------------------------------ */

struct keeper {
	const char *root, *name;
	usec_t idle_timeout, max_lifetime;
	struct warm w;
	int listen_fd;
	char *sock, *json, *busy, *log;
};

static char *session_json(const struct keeper *k, const struct run_plan *p)
{
	json_object *o = json_object_new_object();
	char started[32];
	time_t now = time(NULL);
	strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_object_object_add(o, "name", json_object_new_string(k->name));
	json_object_object_add(o, "snapshot", json_object_new_string(p->snapshot));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "started", json_object_new_string(started));
	json_object_object_add(o, "idle_timeout", json_object_new_int64((int64_t)(k->idle_timeout / USEC_PER_SEC)));
	json_object_object_add(o, "max_lifetime", json_object_new_int64((int64_t)(k->max_lifetime / USEC_PER_SEC)));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED));
	json_object_put(o);
	return s;
}

/* Restores the guest and takes the session's files: NAME.json, flocked
 * for the keeper's life, says that it runs. */
static int keeper_open(struct keeper *k, const struct run_plan *p, int *ret_lock, struct error *e)
{
	_cleanup_close_ int lock = open(k->json, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0)
		return error_errno(e, -errno, "session '%s': %s", k->name, k->json);
	_cleanup_free_ char *text = session_json(k, p);
	if (!text || ftruncate(lock, 0) < 0 || write(lock, text, strlen(text)) != (ssize_t)strlen(text))
		return error_errno(e, -EIO, "session '%s': writing %s", k->name, k->json);
	_cleanup_close_ int busy = open(k->busy, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (busy < 0)
		return error_errno(e, -errno, "session '%s': %s", k->name, k->busy);
	int r = pool_listen(k->sock, &k->listen_fd, NULL);
	if (r < 0)
		return error_errno(e, r, "session '%s': listening on %s", k->name, k->sock);
	if ((r = run_warm_up(p, &k->w, e)) < 0)
		return r;
	*ret_lock = TAKE_FD(lock);
	return 0;
}

/* Serves one request; 1 when the session ends with it. The client's fds
 * are ours while it runs (pool_request_accept), as in a pool's member. */
static int keeper_serve(struct keeper *k, int conn)
{
	_cleanup_(pool_request_release) struct pool_request req = {0};
	int r = pool_request_accept(conn, &req), code = 0, end = 0;
	if (r == -ENOTCONN)
		return 0;
	struct error e = {0};
	struct run_plan *p = &req.plan;
	if (r < 0)
		code = (error_set(&e, r, "session: the request is not one this osrun understands"), options_report(&e));
	else if (p->op == RUN_OP_COMMAND) {
		/* Only `stop -n` saves a session. */
		p->new_snapshot = NULL;
		log_set_level(p->verbose ? LOG_DEBUG : LOG_INFO);
		_cleanup_(run_result_release) struct run_result res = {0};
		struct pool_bridge b;
		pool_bridge_start(&b, conn);
		if ((r = share_reset(k->w.sh)) < 0)
			r = error_errno(&e, r, "emptying the share for the next command");
		else
			r = run_command(p, &k->w, &res, &e);
		pool_bridge_stop(&b);
		code = r < 0 ? options_report(&e) : options_report_result(&res);
		end = r < 0;
	} else if (p->op == RUN_OP_COPY) {
		_cleanup_strv_free_ char **env = run_guest_env(p, &k->w);
		r = env ? run_copy_in(p, &k->w, env, &e) : error_errno(&e, -ENOMEM, "environment");
		if (r == 0)
			r = run_copy_out(p, &k->w, env, &e);
		code = r < 0 ? options_report(&e) : 0;
		end = r == -ECANCELED;
	} else {
		end = 1;
		free(p->command);
		p->command = NULL;
		if (p->new_snapshot && ((r = snapshot_new_rename(k->w.nsn, p->new_snapshot)) < 0 ||
					asprintf(&p->command, "osrun session %s", k->name) < 0))
			code = (error_errno(&e, r < 0 ? r : -ENOMEM, "snapshot '%s'", p->new_snapshot),
				options_report(&e));
		else if (p->new_snapshot && (r = run_save_snapshot(p, &k->w, &e)) < 0)
			code = options_report(&e);
	}
	/* QEMU stops before the client hears that the session ended. */
	if (end)
		warm_release(&k->w);
	pool_send_exit(conn, code);
	return end;
}

static int keeper_loop(struct keeper *k)
{
	usec_t end = deadline_after(k->max_lifetime), idle = deadline_after(k->idle_timeout);
	for (;;) {
		struct pollfd pf[3] = {{.fd = k->listen_fd, .events = POLLIN},
				       {.fd = cancel_fd_get(), .events = POLLIN},
				       {.fd = qmp_fd(vm_qmp(k->w.j.vm)), .events = POLLIN}};
		if (poll(pf, 3, deadline_to_poll_ms(idle < end ? idle : end)) < 0 && errno != EINTR)
			return -errno;
		struct signalfd_siginfo si;
		if ((pf[1].revents & POLLIN) && read(cancel_fd_get(), &si, sizeof si) == sizeof si) {
			log_info("session '%s': stopped by SIG%s", k->name, signal_name((int)si.ssi_signo));
			return 0;
		}
		int r;
		if (pf[2].revents && (r = qmp_poll(vm_qmp(k->w.j.vm))) < 0) {
			log_warn("session '%s': QEMU ended (%s)", k->name, strerror(-r));
			return r;
		}
		usec_t now = now_usec();
		if (now >= end || now >= idle) {
			log_info("session '%s': %s reached, stopping", k->name,
				 now >= end ? "--max-lifetime" : "--idle-timeout");
			return 0;
		}
		if (!(pf[0].revents & POLLIN))
			continue;
		_cleanup_close_ int conn = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		/* The keeper's own streams (its log) come back after each request. */
		int saved[3] = {dup(0), dup(1), dup(2)};
		int done = keeper_serve(k, conn);
		for (int i = 0; i < 3; i++) {
			if (saved[i] >= 0)
				dup2(saved[i], i);
			safe_close(saved[i]);
		}
		if (done)
			return 0;
		idle = deadline_after(k->idle_timeout);
	}
}

/* The keeper process: says "R" on ready_fd once the guest is ready, or why
 * it could not be, then serves until the session ends. */
static int keeper_main(struct keeper *k, const struct run_plan *p, int ready_fd)
{
	struct error e = {0};
	_cleanup_close_ int lock = -1;
	int r = keeper_open(k, p, &lock, &e);
	if (r < 0) {
		(void)!write(ready_fd, e.msg, strlen(e.msg));
	} else {
		(void)!write(ready_fd, "R", 1);
		log_info("session '%s' ready", k->name);
	}
	close(ready_fd);
	if (r == 0)
		r = keeper_loop(k);
	warm_release(&k->w);
	safe_close(k->listen_fd);
	unlink(k->sock);
	unlink(k->busy);
	unlink(k->log);
	unlink(k->json);
	return r < 0 ? EXIT_OSRUN : 0;
}

/* ---- client ------------------------------------------------------------ */

struct session_opts {
	struct common_opts c;
	const char *name;
	usec_t idle_timeout, max_lifetime;
};

static int session_start(struct run_plan *p, const struct session_opts *o, struct error *e)
{
	_cleanup_free_ char *root = session_store_root(o->c.cache), *gen = NULL, *placeholder = NULL, *log = NULL;
	_cleanup_(store_freep) struct store *st = NULL;
	int r = root ? store_open(root, &st) : -ENOMEM;
	if (r == 0)
		r = store_area_make(st, STORE_SESSIONS);
	if (r < 0)
		return error_errno(e, r, "store %s", root ? root : "");
	session_sweep(root);
	const char *name = o->name;
	if (!name) {
		unsigned rnd = (unsigned)(now_usec() ^ ((unsigned)getpid() << 16)) & 0xffffff;
		if (asprintf(&gen, "s-%06x", rnd) < 0)
			return error_errno(e, -ENOMEM, "session");
		name = gen;
	}
	if ((r = options_check_snapshot_name(name, e)) < 0)
		return r;
	if (session_alive(root, name))
		return error_set(e, -EEXIST, "session '%s' already runs (osrun session stop %s)", name, name);
	struct keeper k = {.root = root,
			   .name = name,
			   .idle_timeout = o->idle_timeout,
			   .max_lifetime = o->max_lifetime,
			   .listen_fd = -1};
	k.sock = store_session_file(root, name, ".sock");
	k.json = store_session_file(root, name, ".json");
	k.busy = store_session_file(root, name, ".busy");
	k.log = log = store_session_file(root, name, ".log");
	/* Begun as a new snapshot under a stand-in name: `stop -n` renames it. */
	if (!k.sock || !k.json || !k.busy || !log || asprintf(&placeholder, "session-%s", name) < 0)
		return error_errno(e, -ENOMEM, "session");
	p->new_snapshot = placeholder;
	int pp[2];
	if (pipe2(pp, O_CLOEXEC) < 0)
		return error_errno(e, -errno, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return error_errno(e, -errno, "fork");
	if (pid == 0) {
		close(pp[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC),
		    lf = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(null, 0);
		dup2(null, 1);
		dup2(lf >= 0 ? lf : null, 2);
		if (proc_become_subreaper() < 0)
			_exit(EXIT_OSRUN);
		_exit(keeper_main(&k, p, pp[1]));
	}
	close(pp[1]);
	char msg[sizeof e->msg];
	size_t n = 0;
	ssize_t got;
	while (n < sizeof msg - 1 &&
	       ((got = read(pp[0], msg + n, sizeof msg - 1 - n)) > 0 || (got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	close(pp[0]);
	msg[n] = 0;
	free(k.sock);
	free(k.json);
	free(k.busy);
	if (strcmp(msg, "R"))
		return error_set(e, -EIO, "%s", *msg ? msg : "session: its keeper ended before the guest was ready");
	printf("%s\n", name);
	return 0;
}

static int session_print(const char *cache, bool json, struct error *e)
{
	json_object *arr;
	int r = session_list(cache, &arr, e);
	if (r < 0)
		return r;
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
									   JSON_C_TO_STRING_NOSLASHESCAPE));
	else {
		printf("%-20s %-20s %-20s %s\n", "SESSION", "SNAPSHOT", "STARTED", "PID");
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *o = json_object_array_get_idx(arr, i), *v;
			const char *f[3] = {"name", "snapshot", "started"}, *s[3];
			for (int j = 0; j < 3; j++)
				s[j] = json_object_object_get_ex(o, f[j], &v) ? json_object_get_string(v) : "?";
			printf("%-20s %-20s %-20s %d\n", s[0], s[1], s[2],
			       json_object_object_get_ex(o, "pid", &v) ? json_object_get_int(v) : 0);
		}
	}
	json_object_put(arr);
	return 0;
}

/* ---- command line ------------------------------------------------------ */

static int parse_start(int argc, char **argv, struct run_plan *p, struct session_opts *o, struct error *e)
{
	_cleanup_strv_free_ char **volumes = NULL, **caches = NULL;
	const char *network = NULL;
	const struct opt table[] = {
		{"use-snapshot", 's', OPT_STRING, &p->snapshot, 0, 0, NULL},
		{"name", 0, OPT_STRING, &o->name, 0, 0, NULL},
		{"volume", 0, OPT_LIST, &volumes, 0, 0, NULL},
		{"cache-volume", 0, OPT_LIST, &caches, 0, 0, NULL},
		{"idle-timeout", 0, OPT_SECONDS, &o->idle_timeout, 0, 0, NULL},
		{"max-lifetime", 0, OPT_SECONDS, &o->max_lifetime, 0, 0, NULL},
		{"agent-timeout", 0, OPT_SECONDS, &p->agent_timeout, 0, 0, NULL},
		{"network", 0, OPT_STRING, &network, 0, 0, NULL},
		OPTS_COMMON(&o->c),
	};
	int first, r = options_parse(table, session_help, false, argc, argv, &first, e);
	if (r != 0 || (r = options_no_operands("session start", argc, argv, first, e)) < 0 ||
	    (r = options_network(network, &p->network, e)) < 0)
		return r;
	p->cache = o->c.cache;
	p->verbose = o->c.verbose;
	if ((r = options_check_snapshot_name(p->snapshot, e)) < 0)
		return r;
	return options_volumes(volumes, caches, p, e);
}

/* exec NAME [OPTIONS] COMMAND...: argv[0] is NAME. */
static int parse_exec(int argc, char **argv, struct run_plan *p, struct session_opts *o, struct error *e)
{
	const struct opt table[] = {
		{"timeout", 't', OPT_SECONDS, &p->timeout, 0, 0, NULL},
		{"env", 'e', OPT_ENV, &p->env, 0, 0, NULL},
		{"workdir", 'w', OPT_STRING, &p->workdir, 0, 0, NULL},
		{"no-stdin", 0, OPT_FLAG, &p->no_stdin, 0, 0, NULL},
		OPTS_COMMON(&o->c),
	};
	int first, r = options_parse(table, session_help, true, argc, argv, &first, e);
	if (r != 0)
		return r;
	if (first >= argc)
		return error_set(e, -EINVAL, "session exec: no command given");
	size_t len = 0;
	for (int i = first; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if (!(p->command = malloc(len)))
		return error_errno(e, -ENOMEM, "command");
	char *w = p->command;
	for (int i = first; i < argc; i++) {
		w = stpcpy(w, argv[i]);
		*w++ = i + 1 < argc ? ' ' : 0;
	}
	p->verbose = o->c.verbose;
	return 0;
}

/* cp NAME SRC DST: the side that starts with "guest:" is the guest's. Host
 * paths are made absolute: the keeper does not run where we do. */
static int parse_cp(int argc, char **argv, struct run_plan *p, struct session_opts *o, struct error *e)
{
	const struct opt table[] = {OPTS_COMMON(&o->c)};
	int first, r = options_parse(table, session_help, false, argc, argv, &first, e);
	if (r != 0)
		return r;
	if (argc - first != 2)
		return error_set(e, -EINVAL, "session cp: expected SRC DST, one of them guest:PATH");
	const char *src = argv[first], *dst = argv[first + 1];
	bool out = !strncmp(src, "guest:", 6);
	if (out == !strncmp(dst, "guest:", 6))
		return error_set(e, -EINVAL, "session cp: exactly one of '%s' and '%s' must be guest:PATH", src, dst);
	const char *host = out ? dst : src, *guest = (out ? src : dst) + 6;
	_cleanup_free_ char *cwd = getcwd(NULL, 0), *abs = NULL, *spec = NULL;
	if (!cwd || asprintf(&abs, "%s%s%s", host[0] == '/' ? "" : cwd, host[0] == '/' ? "" : "/", host) < 0 ||
	    asprintf(&spec, "%s:%s", out ? guest : abs, out ? abs : guest) < 0)
		return error_errno(e, -ENOMEM, "session cp");
	p->op = RUN_OP_COPY;
	struct run_copy *c = out ? &p->copy_out[0] : &p->copy_in[0];
	if ((r = copy_parse(spec, out, c, e)) < 0)
		return r;
	*(out ? &p->n_copy_out : &p->n_copy_in) = 1;
	p->verbose = o->c.verbose;
	return 0;
}

static int parse_stop(int argc, char **argv, struct run_plan *p, struct session_opts *o, struct error *e)
{
	const struct opt table[] = {
		{"new-snapshot", 'n', OPT_STRING, &p->new_snapshot, 0, 0, NULL},
		OPTS_COMMON(&o->c),
	};
	int first, r = options_parse(table, session_help, false, argc, argv, &first, e);
	if (r != 0 || (r = options_no_operands("session stop", argc, argv, first, e)) < 0)
		return r;
	p->op = RUN_OP_STOP;
	return p->new_snapshot ? options_check_snapshot_name(p->new_snapshot, e) : 0;
}

static int session_execute(const char *action, int argc, char **argv, int *ret_status, struct error *e)
{
	_cleanup_(run_plan_release) struct run_plan p = {.snapshot = "provisioned", .agent_timeout = 60 * USEC_PER_SEC};
	struct session_opts o = {.idle_timeout = 1800 * USEC_PER_SEC, .max_lifetime = 14400 * USEC_PER_SEC};
	int r;
	*ret_status = 0;
	if (!strcmp(action, "start"))
		return (r = parse_start(argc, argv, &p, &o, e)) != 0 ? r : session_start(&p, &o, e);
	if (!strcmp(action, "list")) {
		bool json = false;
		const struct opt table[] = {{"json", 0, OPT_FLAG, &json, 0, 0, NULL}, OPTS_COMMON(&o.c)};
		int first;
		if ((r = options_parse(table, session_help, false, argc, argv, &first, e)) != 0 ||
		    (r = options_no_operands("session list", argc, argv, first, e)) < 0)
			return r;
		return session_print(o.c.cache, json, e);
	}
	int (*parse)(int, char **, struct run_plan *, struct session_opts *, struct error *) =
		!strcmp(action, "exec")	  ? parse_exec
		: !strcmp(action, "cp")	  ? parse_cp
		: !strcmp(action, "stop") ? parse_stop
					  : NULL;
	if (!parse)
		return error_set(e, -EINVAL, "session: unknown action '%s' (start, exec, cp, stop or list)", action);
	if (argc < 2 || argv[1][0] == '-')
		return argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
			       ? (session_help(), 1)
			       : error_set(e, -EINVAL,
					   "session %s: which session? Its name comes first: osrun session %s NAME ... "
					   "(see 'osrun session list')",
					   action, action);
	const char *name = argv[1];
	if ((r = options_check_snapshot_name(name, e)) < 0 || (r = parse(argc - 1, argv + 1, &p, &o, e)) != 0)
		return r;
	return session_request(o.c.cache, name, &p, ret_status, e);
}

int cmd_session(int argc, char **argv)
{
	struct error e = {0};
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		if (argc < 2)
			return error_set(&e, -EINVAL, "session: which action? start, exec, cp, stop or list"),
			       options_report(&e);
		session_help();
		return 0;
	}
	int status, r = session_execute(argv[1], argc - 1, argv + 1, &status, &e);
	return r < 0 ? options_report(&e) : status;
}
