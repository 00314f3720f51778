/* osrun session start|exec|cp|stop|list: one VM, many commands. Parses
 * each action into a plan; `start` hands it to the session keeper
 * (session-keeper.c), the others send it to a running keeper as its
 * client (session.c). */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "commands.h"
#include "copy.h"
#include "options.h"
#include "session-keeper.h"
#include "session.h"

static void session_help(void)
{
	printf("Usage: osrun session start [-s SNAPSHOT] [--name NAME] [--volume ...] [--cache-volume ...]\n"
	       "                           [--idle-timeout SECONDS] [--max-lifetime SECONDS]\n"
	       "                           [--network none|internet|host] [--vnc] [--novnc ADDR:PORT]\n"
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
	       "stop      stops the VM (a request still running is interrupted: 143);\n"
	       "          with -n, saves it as a new snapshot first (not during a request;\n"
	       "          a NEW_SNAPSHOT that exists is refused, and the session goes on)\n"
	       "list      the sessions that run\n"
	       "\n"
	       "A session ends by itself after --idle-timeout without a request (default\n"
	       "1800 s) and at --max-lifetime (default 14400 s; a command still running\n"
	       "then times out, 124); when its keeper is\n"
	       "killed, its QEMU stops too. Interrupting 'exec' (Ctrl-C) or a command past\n"
	       "its --timeout stops that command and every process it started in the guest\n"
	       "(Linux guests; on Windows, and when they do not stop, the session ends).\n"
	       "--network, --vnc and --novnc are as for 'osrun COMMAND' (default network\n"
	       "none: the shares only); the screen is served for the session's life.\n"
	       "\n"
	       "Options: --cache DIR, -v, -h\n");
}

struct session_opts {
	struct common_opts c;
	const char *name;
	usec_t idle_timeout, max_lifetime;
};

static const struct serve_report report = {options_report, options_report_result};

static int session_start(struct run_plan *p, const struct session_opts *o, struct error *e)
{
	const struct session_keeper_plan kp = {
		.name = o->name, .idle_timeout = o->idle_timeout, .max_lifetime = o->max_lifetime, .report = &report};
	_cleanup_free_ char *name = NULL;
	int r = session_keeper_start(p, &kp, &name, e);
	if (r < 0)
		return r;
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
		{"vnc", 0, OPT_FLAG, &p->vnc, 0, 0, NULL},
		{"novnc", 0, OPT_STRING, &p->novnc, 0, 0, NULL},
		OPTS_COMMON(&o->c),
	};
	int first, r = options_parse(table, session_help, false, argc, argv, &first, e);
	if (r != 0 || (r = options_no_operands("session start", argc, argv, first, e)) < 0 ||
	    (r = options_network(network, &p->network, e)) < 0 ||
	    (p->novnc && (r = options_check_novnc(p->novnc, e)) < 0))
		return r;
	p->vnc = p->vnc || p->novnc;
	p->cache = o->c.cache;
	p->verbose = o->c.verbose;
	if ((r = options_check_snapshot_use(p->snapshot, e)) < 0 ||
	    (o->name && (r = options_check_snapshot_name(o->name, e)) < 0) || (r = options_snapshot_use(p, e)) < 0)
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
