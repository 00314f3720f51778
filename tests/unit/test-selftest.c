/* osrun selftest offline: the check table is whole, and every Windows
 * check's judging, on what a Windows guest gives. Each Windows outcome
 * comes the way a run's does: a fake Windows agent (as qga/commands.c is:
 * no captured output, no environment for the helper) says the helper
 * ended, and the result the helper wrote in a real share is read by
 * run_result_read(); the command's output is what cmd.exe writes (CR LF).
 * Each judge is also shown to fail on what a misbehaving guest gives. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

#include "../../runner/follow.h"
#include "../../runner/lib/profile.h"
#include "../../runner/selftest-checks.h"
#include "../../runner/selftest-report.h"
#include "../../runner/selftest-runs.h"
#include "peer.h"
#include "tap.h"

static char dir[] = "/tmp/osrun-test-selftest.XXXXXX";
static struct share *sh;
static bool agent_ok = true;

static void put_result(const char *text)
{
	char p[128];
	snprintf(p, sizeof p, "%s/share/result", dir);
	unlink(p);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A Windows agent: refuses a helper with captured output or an
 * environment, and says it ended (status 0, as the helper exits once its
 * result is written). */
static void script_windows_agent(int fd)
{
	char line[8192], id[32], buf[128];
	peer_read_line(fd, line, sizeof line);
	if ((unsigned char)line[0] != 0xff || !strstr(line, "guest-sync-delimited"))
		_exit(2);
	peer_id_of(line, id, sizeof id);
	snprintf(buf, sizeof buf, "\xff{\"return\": %s}\n", id);
	peer_say(fd, buf);
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"guest-exec\"") || strstr(line, "capture-output") || strstr(line, "\"env\""))
		_exit(2);
	peer_say(fd, "{\"return\": {\"pid\": 7}}\n");
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"guest-exec-status\""))
		_exit(2);
	peer_say(fd, "{\"return\": {\"exited\": true, \"exitcode\": 0}}\n");
}

/* How a Windows command ends when its helper writes result and the
 * command wrote out, taking seconds. */
static struct st_outcome win_run(const char *result, const char *out, double seconds)
{
	struct st_outcome o = {.first_output = -1, .seconds = seconds, .out = strdup(out), .err = strdup("")};
	put_result(result);
	struct peer p = peer_start(script_windows_agent);
	struct qga *g = NULL;
	struct remote_error err;
	struct qga_exec_status st = {0};
	struct qga_exec x = profile_command_exec(profile_find("windows"), NULL);
	int64_t pid;
	if (qga_new(p.fd, &g) < 0 || qga_sync(g, USEC_PER_SEC, 5 * USEC_PER_SEC) < 0 ||
	    qga_exec(g, &x, 5 * USEC_PER_SEC, &pid, &err) < 0 ||
	    qga_exec_status(g, pid, 5 * USEC_PER_SEC, &st, &err) < 0) {
		o.r = -EIO;
		snprintf(o.msg, sizeof o.msg, "the fake agent");
	} else {
		struct run_result res = {0};
		struct error e = {0};
		o.r = run_result_read(true, sh, &st, &res, &e);
		snprintf(o.msg, sizeof o.msg, "%.*s", (int)sizeof o.msg - 1, e.msg);
		o.status = res.status;
		snprintf(o.why, sizeof o.why, "%s", res.why);
		run_result_release(&res);
	}
	qga_exec_status_release(&st);
	qga_free(g);
	agent_ok = peer_verdict(&p) == 0 && agent_ok;
	return o;
}

static const struct st_step *win_step(const char *check, size_t k)
{
	return &st_check_find(check)->steps[ST_WINDOWS][k];
}

/* Whether the Windows step k of check passes on that outcome. */
static bool judged(const char *check, size_t k, const char *result, const char *out, double seconds, char *why,
		   size_t n)
{
	struct st_outcome o = win_run(result, out, seconds);
	bool pass = st_judge_step(win_step(check, k), &o, why, n);
	st_outcome_release(&o);
	return pass;
}

#define PASSES(check, k, result, out)                                                                                  \
	ok(judged(check, k, result, out, 1, why, sizeof why), "%s: passes: %s", check, why)
#define FAILS(check, k, result, out, said)                                                                             \
	ok(!judged(check, k, result, out, 1, why, sizeof why) && strstr(why, said), "%s: fails on %s: %s", check,      \
	   said, why)

static void test_table(void)
{
	bool whole = true, unique = true;
	for (size_t i = 0; i < st_checks_n; i++) {
		const struct st_check *c = &st_checks[i];
		whole = whole && c->name && c->proves && *c->proves && c->judged && *c->judged;
		for (size_t k = 0; k < i; k++)
			unique = unique && strcmp(c->name, st_checks[k].name);
		for (int os = 0; os < ST_OS_N; os++) {
			bool has = c->steps[os] || (c->run && c->run != st_run_steps);
			if (!c->not_on[os] == !has || (c->not_on[os] && !*c->not_on[os])) {
				printf("#   %s: guest %d needs commands or a reason, not both\n", c->name, os);
				whole = false;
			}
			size_t n = 0;
			for (const struct st_step *s = c->steps[os]; s && s->cmd; s++)
				n++;
			size_t need = c->run == st_run_layer || c->run == st_run_timer ? 2 : c->steps[os] ? 1 : 0;
			if (!c->not_on[os] && n < need) {
				printf("#   %s: guest %d has %zu commands, needs %zu\n", c->name, os, n, need);
				whole = false;
			}
		}
	}
	ok(whole, "every check says what it proves and how it is judged, and has commands or a reason per guest");
	ok(unique, "check names are unique");
	ok(st_checks_n > 0 && st_checks[st_checks_n - 1].run == st_run_share, "the share check comes last");
	ok(st_check_find("user")->not_on[ST_LINUX] && !st_check_find("user")->not_on[ST_WINDOWS],
	   "--user is skipped on Linux, with its reason, and applies on Windows");
}

static void test_windows_steps(void)
{
	char why[512];
	PASSES("exit-codes", 0, "exit 0\r\n", "");
	PASSES("exit-codes", 3, "exit 3010\r\n", "");
	FAILS("exit-codes", 3, "exit 194\r\n", "", "exit status 194");
	FAILS("exit-codes", 3, "exit 3011\r\n", "", "osrun said");
	PASSES("crash", 0, "exit 3221225477\r\n", "");
	FAILS("crash", 0, "exit 0\r\n", "", "exit status 0");
	PASSES("background", 0, "exit 0\r\n", "quick\r\n");
	ok(!judged("background", 0, "exit 0\r\n", "quick\r\n", 30.2, why, sizeof why) && strstr(why, "took 30.2 s"),
	   "background: fails when the child held the run: %s", why);
	PASSES("multi-line", 0, "exit 4\r\n", "one\r\ntwo\r\n");
	FAILS("multi-line", 0, "exit 0\r\n", "one\r\n", "exit status 0");
	PASSES("utf8", 0, "exit 0\r\n", "grüße € ✓\r\n");
	FAILS("utf8", 0, "exit 0\r\n",
	      "gr\x81\xe1"
	      "e ? ?\r\n",
	      "stdout 'gr");
	PASSES("workdir-missing", 0,
	       "error working directory C:\\osrun-selftest\\missing does not exist in the guest\r\n", "");
	FAILS("workdir-missing", 0, "exit 1\r\n", "", "exited 1");
	PASSES("env", 0, "exit 0\r\n",
	       "STEST_A=x=y=z\r\nSTEST_B=two  spaces\r\nSTEST_C=\"double\" 'single' & | < > ^ %PATH% $HOME `id` ;\r\n"
	       "STEST_D=grüße\r\n");
	FAILS("env", 0, "exit 0\r\n",
	      "STEST_A=x=y=z\r\nSTEST_B=two  spaces\r\nSTEST_C=\"double\" 'single' & | < > ^ C:\\Windows $HOME `id` "
	      ";\r\n"
	      "STEST_D=grüße\r\n",
	      "stdout");
	PASSES("stdin", 0, "exit 0\r\n", "one\r\ntwo\r\nthree four\r\n");
	FAILS("stdin", 0, "exit 0\r\n", "one\r\n", "stdout");
	PASSES("user", 0, "exit 0\r\n", "nt authority\\system\r\n");
	PASSES("user", 1, "exit 0\r\n", "osrun-vm\\osrun\r\n");
	FAILS("user", 1, "exit 0\r\n", "nt authority\\system\r\n", "stdout");
	PASSES("new-snapshot", 0, "exit 0\r\n", "");
	PASSES("new-snapshot", 1, "exit 0\r\n", "tool-ok\r\n");
	FAILS("new-snapshot", 1, "exit 9009\r\n",
	      "'osrun-st-tool' is not recognized as an internal or external command,\r\n", "exit status 255");
	PASSES("timer", 1, "exit 0\r\n", "");
	ok(agent_ok, "the fake Windows agent saw a helper without pipes or environment each time");
}

static void test_hundred(void)
{
	unsigned pass = 0, above = 0;
	char buf[192], result[64], out[32], why[512];
	for (unsigned i = 1; i <= 100; i++) {
		struct st_step s;
		st_hundred_step(ST_WINDOWS, i, &s, buf, sizeof buf);
		unsigned code = (i * 7919) % 70000;
		above += code > 255;
		snprintf(result, sizeof result, "exit %u\r\n", code);
		snprintf(out, sizeof out, "%u\r\n", i);
		struct st_outcome o = win_run(result, out, 0.1);
		pass += st_judge_step(&s, &o, why, sizeof why);
		st_outcome_release(&o);
	}
	is_int(pass, 100, "hundred: 100 Windows commands, each exact");
	ok(above > 90, "most of their codes are above 255 (%u)", above);
	struct st_step s;
	st_hundred_step(ST_WINDOWS, 2, &s, buf, sizeof buf);
	struct st_outcome o = win_run("exit 15838\r\n", "3\r\n", 0.1);
	ok(!st_judge_step(&s, &o, why, sizeof why) && strstr(why, "stdout '3"), "another command's output fails: %s",
	   why);
	st_outcome_release(&o);
	is_str(s.cmd, "echo 2& exit /b 15838", "the command is cmd.exe's");
	st_hundred_step(ST_LINUX, 4, &s, buf, sizeof buf);
	ok(!strcmp(s.cmd, "echo 4; exit 148") && s.expect.why && strstr(s.expect.why, "killed by signal"),
	   "Linux: 148 is expected said as a signal: %s", s.expect.why ? s.expect.why : "");
}

static void test_clock_timer(void)
{
	char why[512];
	double off = 9;
	ok(st_judge_clock("1796534993.757\r\n", 1796534993.5, 1796534994.1, 1, &off, why, sizeof why) && off == 0,
	   "clock: PowerShell's seconds inside the host's window");
	ok(st_judge_clock("1796534995.000\r\n", 1796534993.5, 1796534994.1, 1, &off, why, sizeof why) && off > 0.89,
	   "0.9 s ahead is within 1 s");
	ok(!st_judge_clock("1796531394\r\n", 1796534993.5, 1796534994.1, 1, &off, why, sizeof why) &&
		   strstr(why, "behind"),
	   "an hour behind (the snapshot's time) fails: %s", why);
	ok(!st_judge_clock("1796534993,757\r\n", 1796534993.5, 1796534994.1, 1, &off, why, sizeof why) &&
		   strstr(why, "not seconds"),
	   "a culture's decimal comma fails: %s", why);
	double rate = 0;
	ok(st_judge_rate("123.40\n", "183.46\n", 60.05, 0.3, 0.02, &rate, why, sizeof why) && fabs(rate - 1) < 0.01,
	   "monotonic: 60.06 s of guest time in 60.05 s of host time (%.4f)", rate);
	ok(st_judge_rate("5123.4567\r\n", "5183.1\r\n", 60.0, 0.4, 0.02, &rate, why, sizeof why),
	   "QueryPerformanceCounter seconds with CR LF, within the windows' slack");
	ok(!st_judge_rate("123.40\n", "126.73\n", 60.0, 0.3, 0.02, &rate, why, sizeof why) && rate < 0.1,
	   "a clock 18 times slow after a restore fails: %s", why);
	ok(!st_judge_rate("123.40\n", "300.00\n", 60.0, 0.3, 0.02, &rate, why, sizeof why), "one racing ahead fails");
	ok(!st_judge_rate("183.40\n", "123.40\n", 60.0, 0.3, 0.02, &rate, why, sizeof why) && strstr(why, "went back"),
	   "one going back fails: %s", why);
	ok(!st_judge_rate("123,40\n", "183,40\n", 60.0, 0.3, 0.02, &rate, why, sizeof why) &&
		   strstr(why, "not seconds"),
	   "a decimal comma (a culture's) is not taken for seconds: %s", why);
	ok(st_judge_timer(2, 2.31, 0.22, why, sizeof why), "timer: 2.09 s beyond the baseline");
	ok(!st_judge_timer(2, 0.3, 0.22, why, sizeof why), "a wait that did not wait fails: %s", why);
	ok(!st_judge_timer(2, 12, 0.22, why, sizeof why), "a timer that fired late fails");
}

static void test_restores_share(void)
{
	struct st_outcome o[ST_RESTORES];
	for (size_t i = 0; i < ST_RESTORES; i++) {
		o[i] = win_run("exit 0\r\n", "OSRUN-VM\r\n", 0.2);
		o[i].first_output = 1.0 + (double)i / 10;
	}
	const struct st_step *s = win_step("restores", 0);
	struct st_row row = {0};
	st_judge_restores(s, o, ST_RESTORES, &row);
	ok(row.verdict == ST_PASS && strstr(row.details, "min 1.00 s, median 1.95 s, max 2.90 s"),
	   "restores: pass, restore to output min/median/max: %s", row.details);
	free(o[7].out);
	o[7].out = strdup("OTHER\r\n");
	st_outcome_release(&o[12]);
	o[12] = win_run("exit 2\r\n", "", 0.2);
	row = (struct st_row){0};
	st_judge_restores(s, o, ST_RESTORES, &row);
	ok(row.verdict == ST_FAIL && strstr(row.details, "restore 8 printed 'OTHER") &&
		   strstr(row.details, "restore 13 of 20: exit status 2"),
	   "a restore that printed otherwise, one that failed: %s", row.details);
	for (size_t i = 0; i < ST_RESTORES; i++)
		st_outcome_release(&o[i]);

	double ready[] = {0.4, 0.6, 0.5};
	row = (struct st_row){0};
	st_judge_share(ready, 3, 0, "", 60, &row);
	ok(row.verdict == ST_PASS && strstr(row.details, "3 restores"), "share: %s", row.details);
	row = (struct st_row){0};
	st_judge_share(ready, 3, 1, "restoring snapshot 'x': the run's share did not answer", 60, &row);
	ok(row.verdict == ST_FAIL && strstr(row.details, "1 of 4 restores failed"), "a failed restore fails: %s",
	   row.details);
	double late[] = {0.4, 61};
	row = (struct st_row){0};
	st_judge_share(late, 2, 0, "", 60, &row);
	ok(row.verdict == ST_FAIL, "past the bound fails: %s", row.details);
	row = (struct st_row){0};
	st_judge_share(NULL, 0, 0, "", 60, &row);
	ok(row.verdict == ST_SKIP && *row.details, "no restore: a skip with its reason, not a pass");
}

static void test_volumes(void)
{
	const struct st_step *s = win_step("volumes", 0);
	/* type prints the host's files as they are (LF), echo ends with CR LF. */
	struct st_outcome o = win_run("exit 0\r\n", "rw-in\nro-in\ncopied-in\nro-refused\r\n", 1);
	struct st_volume_facts f = {.rw_file = "from-guest\r\n", .copy_out = "copied-out\r\n"};
	struct st_row row = {0};
	st_judge_volumes(s, &o, &f, &row);
	ok(row.verdict == ST_PASS, "volumes: pass: %s", row.details);
	f.ro_file = true;
	row = (struct st_row){0};
	st_judge_volumes(s, &o, &f, &row);
	ok(row.verdict == ST_FAIL && strstr(row.details, "read-only"), "a write into the ro folder fails: %s",
	   row.details);
	f = (struct st_volume_facts){.rw_file = "from-guest\r\n"};
	row = (struct st_row){0};
	st_judge_volumes(s, &o, &f, &row);
	ok(row.verdict == ST_FAIL && strstr(row.details, "--copy-out brought back nothing"), "no copy out fails: %s",
	   row.details);
	st_outcome_release(&o);
}

static void test_report(void)
{
	struct selftest_report r = {.version = "0.1.0", .qemu = "7.2.0", .n_rows = 2, .passed = 1, .skipped = 1};
	r.rows[0] = (struct st_row){.check = "env", .verdict = ST_PASS};
	snprintf(r.rows[0].details, sizeof r.rows[0].details, "a | b\nc");
	st_row_figure(&r.rows[0], "commands", 1);
	r.rows[1] = (struct st_row){.check = "user", .verdict = ST_SKIP};
	snprintf(r.rows[1].details, sizeof r.rows[1].details, "no user");
	_cleanup_free_ char *md = selftest_markdown(&r), *js = selftest_json(&r), *list = selftest_list();
	ok(md && strstr(md, "| env   | PASS   |") && strstr(md, "a \\| b c |") && strstr(md, "| user  | SKIP   |"),
	   "markdown: a row per check, '|' escaped, one line each");
	json_object *o = js ? json_tokener_parse(js) : NULL, *checks, *c, *v;
	ok(o && json_object_object_get_ex(o, "checks", &checks) && (c = json_object_array_get_idx(checks, 1)) &&
		   json_object_object_get_ex(c, "result", &v) && !strcmp(json_object_get_string(v), "skip"),
	   "JSON: the skip is a skip");
	json_object_put(o);
	bool all = list != NULL;
	for (size_t i = 0; all && i < st_checks_n; i++)
		all = strstr(list, st_checks[i].name) && strstr(list, st_checks[i].proves);
	ok(all && strstr(list, "does not apply: the Linux guest has no logged-on user"),
	   "--list names every check, what it proves, and why one does not apply");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	char p[128];
	if (!mkdtemp(dir))
		return 1;
	snprintf(p, sizeof p, "%s/share", dir);
	if (share_new(p, &sh) < 0)
		return 1;
	test_table();
	test_windows_steps();
	test_hundred();
	test_clock_timer();
	test_restores_share();
	test_volumes();
	test_report();
	share_free(sh);
	rm_rf(dir);
	return tap_done();
}
