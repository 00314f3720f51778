/* The pool's request: the parsed plan, encoded by the client and decoded
 * by a member that must not trust it; and the option table parser every
 * subcommand uses. */
#define _GNU_SOURCE
#include <stdbool.h>

#include "../../runner/options.h"
#include "../../runner/pool.h"
#include "tap.h"

static void test_roundtrip(void)
{
	char *env[] = {"A=1", "B=two words", NULL};
	struct run_plan p = {.snapshot = "base",
			     .command = "echo hi; exit 3",
			     .env = env,
			     .workdir = "/tmp",
			     .timeout = 2500000,
			     .memory_mib = 512,
			     .no_stdin = true,
			     .verbose = 1};
	char *buf = NULL;
	size_t len = 0;
	is_int(pool_request_encode(&p, &buf, &len), 0, "plan encoded");
	struct pool_request r = {0};
	is_int(pool_request_decode(buf, len, &r), 0, "and decoded");
	is_str(r.plan.command, "echo hi; exit 3", "command kept");
	is_str(r.plan.snapshot, "base", "snapshot kept");
	is_str(r.plan.workdir, "/tmp", "workdir kept");
	ok(r.plan.env && strv_length(r.plan.env) == 2 && !strcmp(r.plan.env[1], "B=two words"), "env kept in order");
	ok(r.plan.timeout == 2500000 && r.plan.memory_mib == 512 && r.plan.no_stdin && r.plan.verbose == 1,
	   "numbers and flags kept");
	ok(!r.plan.new_snapshot && !r.plan.pause && !r.plan.vnc, "nothing a clone cannot do comes through");
	pool_request_release(&r);
	free(buf);
}

/* A session's requests: copies without a command, and its end. */
static void test_session_ops(void)
{
	struct run_plan p = {.snapshot = "s1", .op = RUN_OP_COPY, .n_copy_in = 1, .n_copy_out = 1};
	p.copy_in[0] = (struct run_copy){.host = "/h/src", .guest = "C:\\build"};
	p.copy_out[0] = (struct run_copy){.host = "/h/out", .guest = "/build/out"};
	char *buf = NULL;
	size_t len = 0;
	is_int(pool_request_encode(&p, &buf, &len), 0, "copies encoded");
	struct pool_request r = {0};
	is_int(pool_request_decode(buf, len, &r), 0, "and decoded, with no command");
	ok(r.plan.op == RUN_OP_COPY && r.plan.n_copy_in == 1 && r.plan.n_copy_out == 1 && !r.plan.command,
	   "op copy, one copy each way");
	ok(!strcmp(r.plan.copy_in[0].guest, "C:\\build") && !strcmp(r.plan.copy_out[0].host, "/h/out"), "paths kept");
	pool_request_release(&r);
	free(buf);
	struct run_plan q = {.snapshot = "s1", .op = RUN_OP_STOP, .new_snapshot = "kept"};
	is_int(pool_request_encode(&q, &buf, &len), 0, "stop encoded");
	is_int(pool_request_decode(buf, len, &r), 0, "and decoded");
	ok(r.plan.op == RUN_OP_STOP && r.plan.new_snapshot && !strcmp(r.plan.new_snapshot, "kept"), "stop -n kept");
	pool_request_release(&r);
	free(buf);
	static const char *const bad[] = {
		"{\"version\":1,\"snapshot\":\"s\",\"op\":\"format-disk\",\"env\":[],\"timeout_us\":0,"
		"\"memory_mib\":0,\"no_stdin\":false,\"verbose\":0}",
		"{\"version\":1,\"snapshot\":\"s\",\"op\":\"copy\",\"copy_in\":[[\"/a\"]],\"env\":[],"
		"\"timeout_us\":0,\"memory_mib\":0,\"no_stdin\":false,\"verbose\":0}",
		"{\"version\":1,\"snapshot\":\"s\",\"env\":[],\"timeout_us\":0,\"memory_mib\":0,"
		"\"no_stdin\":false,\"verbose\":0}",
	};
	const char *why[] = {"an unknown op", "a copy that is no pair", "a command request without a command"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		is_int(pool_request_decode(bad[i], strlen(bad[i]), &r), -EBADMSG, "refused: %s", why[i]);
		pool_request_release(&r);
	}
}

static void test_refused(void)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1,2]",
		"{\"version\":1}",
		/* another protocol version */
		"{\"version\":2,\"snapshot\":\"s\",\"command\":\"x\",\"env\":[],\"timeout_us\":0,\"memory_mib\":0,"
		"\"no_stdin\":false,\"verbose\":0}",
		/* an empty command */
		"{\"version\":1,\"snapshot\":\"s\",\"command\":\"\",\"env\":[],\"timeout_us\":0,\"memory_mib\":0,"
		"\"no_stdin\":false,\"verbose\":0}",
		/* an env entry that is no NAME=VALUE */
		"{\"version\":1,\"snapshot\":\"s\",\"command\":\"x\",\"env\":[\"NOEQUALS\"],\"timeout_us\":0,"
		"\"memory_mib\":0,\"no_stdin\":false,\"verbose\":0}",
		/* a type that is not the expected one */
		"{\"version\":1,\"snapshot\":\"s\",\"command\":\"x\",\"env\":[],\"timeout_us\":\"soon\",\"memory_mib\":"
		"0,"
		"\"no_stdin\":false,\"verbose\":0}",
		/* trailing bytes after the object */
		"{\"version\":1,\"snapshot\":\"s\",\"command\":\"x\",\"env\":[],\"timeout_us\":0,\"memory_mib\":0,"
		"\"no_stdin\":false,\"verbose\":0}xyz",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct pool_request r = {0};
		is_int(pool_request_decode(bad[i], strlen(bad[i]), &r), -EBADMSG, "refused: %.40s", bad[i]);
	}
	char nul[] = "{\"version\":1}\0{}";
	struct pool_request r = {0};
	is_int(pool_request_decode(nul, sizeof nul - 1, &r), -EBADMSG, "a NUL inside is refused");
}

static void help(void) { printf("help\n"); }

static void test_options(void)
{
	struct common_opts c = {0};
	const char *s = NULL;
	unsigned n = 0;
	usec_t t = 0;
	char **env = NULL;
	bool f = false;
	const struct opt table[] = {
		{"snap", 's', OPT_STRING, &s, 0, 0, NULL},  {"num", 0, OPT_UINT, &n, 1, 9, "expected 1 to 9"},
		{"time", 't', OPT_SECONDS, &t, 0, 0, NULL}, {"env", 'e', OPT_ENV, &env, 0, 0, NULL},
		{"flag", 0, OPT_FLAG, &f, 0, 0, NULL},	    OPTS_COMMON(&c),
	};
	char *argv[] = {"x",   "-s",	 "a",	    "--num", "3",   "-t", "1.5", "-e",
			"K=V", "--flag", "--cache", "/c",    "cmd", "-s", "b",	 NULL};
	struct error e = {0};
	int first = 0;
	is_int(options_parse(table, help, true, ELEMENTSOF(argv) - 1, argv, &first, &e), 0, "options parsed");
	ok(s && !strcmp(s, "a") && n == 3 && t == 1500000 && f && env && !strcmp(env[0], "K=V") &&
		   !strcmp(c.cache, "/c"),
	   "each kind stored where its entry says");
	is_int(first, 12, "in order: the first operand ends the options");
	strv_free(env);
	env = NULL;

	char *bad_num[] = {"x", "--num", "10", NULL};
	is_int(options_parse(table, help, false, 3, bad_num, &first, &e), -EINVAL, "out of range refused");
	is_str(e.msg, "--num '10': expected 1 to 9", "and named");
	char *bad_env[] = {"x", "-e", "=V", NULL};
	options_parse(table, help, false, 3, bad_env, &first, &e);
	is_str(e.msg, "--env '=V': expected NAME=VALUE", "an env without a name refused");
	char *unknown[] = {"x", "--nope", NULL};
	options_parse(table, help, false, 2, unknown, &first, &e);
	is_str(e.msg, "unknown option '--nope' (see 'osrun --help')", "unknown long option named");
	char *unknown_short[] = {"x", "-q", NULL};
	options_parse(table, help, false, 2, unknown_short, &first, &e);
	is_str(e.msg, "unknown option '-q' (see 'osrun --help')", "unknown short option named");
	char *missing[] = {"x", "--snap", NULL};
	options_parse(table, help, false, 2, missing, &first, &e);
	is_str(e.msg, "option '--snap' needs a value (see 'osrun --help')", "a missing value named");
	is_int(options_report(&e), EXIT_OSRUN, "a bad option exits 125");
	char *h[] = {"x", "op", "-h", NULL};
	is_int(options_parse(table, help, false, 3, h, &first, &e), 1, "-h after an operand, not in order: help");

	struct error timeout = {0};
	error_set(&timeout, -ETIME, "command timed out");
	is_int(options_report(&timeout), EXIT_TIMEOUT, "a command's timeout exits 124");
	struct error sig = {.code = -ECANCELED, .signal = 15};
	is_int(options_report(&sig), 143, "SIGTERM exits 143");
}

int main(void)
{
	log_set_level(LOG_ERR - 1); /* quiet: options_report would print */
	test_roundtrip();
	test_refused();
	test_session_ops();
	test_options();
	return tap_done();
}
