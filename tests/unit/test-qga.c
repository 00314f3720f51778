#define _GNU_SOURCE
#include <stdbool.h>

#include "../../runner/lib/profile.h"
#include "../../runner/lib/qga.h"
#include "peer.h"
#include "tap.h"

/* Reads a request (after an optional 0xFF) and answers a sync. */
static void answer_sync(int fd, bool leftovers)
{
	char line[4096], id[32], buf[256];
	peer_read_line(fd, line, sizeof line);
	if ((unsigned char)line[0] != 0xff || !strstr(line, "guest-sync-delimited"))
		_exit(2);
	peer_id_of(line, id, sizeof id);
	if (leftovers) /* a late reply of an earlier session, and the agent's own complaint */
		peer_say(fd, "{\"return\": {\"pid\": 1}}\n");
	peer_say(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\ufffd'\"}}\n");
	snprintf(buf, sizeof buf, "\xff{\"return\": %s}\n", id);
	peer_say(fd, buf);
}

static void script_agent(int fd)
{
	char line[8192];
	answer_sync(fd, true);
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"guest-exec\"") || !strstr(line, "\"path\":\"\\/bin\\/sh\"") || !strstr(line, "\"A=1\"") ||
	    !strstr(line, "\"capture-output\":true") || !strstr(line, "\"input-data\":\"aGk=\""))
		_exit(2);
	peer_say(fd, "{\"return\": {\"pid\": 42}}\n");
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"guest-exec-status\"") || !strstr(line, "\"pid\":42"))
		_exit(2);
	/* out-data "\x00\xff\n" and err-data "err" */
	peer_say(fd,
		 "{\"return\": {\"exitcode\": 3, \"out-data\": \"AP8K\", \"err-data\": \"ZXJy\", \"exited\": true}}\n");
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"guest-exec-status\""))
		_exit(2);
	peer_say(fd, "{\"return\": {\"exited\": true, \"signal\": 9}}\n");
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"guest-set-time\"") || !strstr(line, "\"time\":1700000000000000000"))
		_exit(2);
	peer_say(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"this feature or command is not currently "
		     "supported\"}}\n");
}

/* A guest that lies: replies of the wrong shape, and one without end. */
static void script_hostile(int fd)
{
	char line[4096];
	answer_sync(fd, false);
	peer_read_line(fd, line, sizeof line);
	peer_say(fd, "{\"return\": {\"exited\": true, \"out-data\": null}}\n");
	peer_read_line(fd, line, sizeof line);
	peer_say(fd, "{\"return\": {\"exited\": true, \"exitcode\": \"3\"}}\n");
	peer_read_line(fd, line, sizeof line);
	peer_say(fd, "{\"return\": {\"exited\": true, \"exitcode\": 9999999999}}\n");
	peer_read_line(fd, line, sizeof line);
	peer_say(fd, "{\"return\": [1]}\n");
	peer_read_line(fd, line, sizeof line);
	/* 65 MiB of one string, never closed. */
	static char chunk[1 << 20];
	memset(chunk, 'A', sizeof chunk);
	peer_say(fd, "{\"return\": {\"exited\": true, \"out-data\": \"");
	for (int i = 0; i < 65; i++)
		if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
			break;
}

static void test_hostile(void)
{
	struct peer p = peer_start(script_hostile);
	struct qga *g = NULL;
	qga_new(p.fd, &g);
	struct remote_error err;
	struct qga_exec_status st;
	is_int(qga_sync(g, USEC_PER_SEC, 5 * USEC_PER_SEC), 0, "sync");
	is_int(qga_exec_status(g, 1, 5 * USEC_PER_SEC, &st, &err), -EBADMSG, "out-data null: a broken reply, no crash");
	is_int(qga_exec_status(g, 1, 5 * USEC_PER_SEC, &st, &err), -EBADMSG, "exitcode a string: refused");
	is_int(qga_exec_status(g, 1, 5 * USEC_PER_SEC, &st, &err), -EBADMSG, "exitcode past 32 bits: refused");
	is_int(qga_exec_status(g, 1, 5 * USEC_PER_SEC, &st, &err), -EBADMSG, "a return that is no object: refused");
	is_int(qga_exec_status(g, 1, 20 * USEC_PER_SEC, &st, &err), -EMSGSIZE, "a reply over 64 MiB: refused");
	qga_free(g);
	peer_finish(&p);
}

/* An agent that starts late: the first sync goes unanswered. */
static void script_late(int fd)
{
	char line[4096];
	peer_read_line(fd, line, sizeof line);
	answer_sync(fd, false);
}

static void script_silent(int fd)
{
	char line[4096];
	while (peer_read_line(fd, line, sizeof line) > 0)
		;
}

static void test_agent(void)
{
	struct peer p = peer_start(script_agent);
	struct qga *g = NULL;
	is_int(qga_new(p.fd, &g), 0, "agent channel");
	struct remote_error err;
	int64_t pid = 0;
	struct qga_exec x0 = {.path = "/bin/true"};
	is_int(qga_exec(g, &x0, USEC_PER_SEC, &pid, &err), -ENOTCONN, "no call before a sync");
	is_int(qga_sync(g, USEC_PER_SEC, 5 * USEC_PER_SEC), 0, "sync skips stale replies and the 0xFF complaint");

	char *argv[] = {"-c", "true", NULL}, *env[] = {"A=1", NULL};
	struct qga_exec x = {
		.path = "/bin/sh", .argv = argv, .env = env, .capture = true, .input = "hi", .input_len = 2};
	is_int(qga_exec(g, &x, 5 * USEC_PER_SEC, &pid, &err), 0, "guest-exec");
	is_int(pid, 42, "guest-exec pid");

	struct qga_exec_status st;
	int r = qga_exec_status(g, pid, 5 * USEC_PER_SEC, &st, &err);
	is_int(r, 0, "guest-exec-status");
	ok(st.exited && st.exitcode == 3 && st.signal == 0, "exit code 3");
	ok(st.out_len == 3 && !memcmp(st.out, "\x00\xff\n", 3), "binary out-data decoded");
	ok(st.err_len == 3 && !memcmp(st.err, "err", 3), "err-data decoded");
	qga_exec_status_release(&st);

	r = qga_exec_status(g, pid, 5 * USEC_PER_SEC, &st, &err);
	ok(r == 0 && st.exited && st.signal == 9, "killed by a signal");
	qga_exec_status_release(&st);

	r = qga_set_time(g, INT64_C(1700000000000000000), 5 * USEC_PER_SEC, &err);
	is_int(r, -EREMOTEIO, "refusal is -EREMOTEIO");
	is_str(err.desc, "this feature or command is not currently supported", "agent's reason handed back");
	qga_free(g);
	is_int(peer_verdict(&p), 0, "fake agent saw what it expected");
}

static void test_late_and_silent(void)
{
	struct peer p = peer_start(script_late);
	struct qga *g = NULL;
	qga_new(p.fd, &g);
	is_int(qga_sync(g, 200 * USEC_PER_MSEC, 5 * USEC_PER_SEC), 0, "sync retries until a late agent answers");
	qga_free(g);
	peer_finish(&p);

	p = peer_start(script_silent);
	qga_new(p.fd, &g);
	usec_t t0 = now_usec();
	is_int(qga_sync(g, 100 * USEC_PER_MSEC, 500 * USEC_PER_MSEC), -ETIMEDOUT,
	       "an agent that never answers: -ETIMEDOUT");
	ok(now_usec() - t0 < 2 * USEC_PER_SEC, "within the timeout");
	qga_free(g);
	peer_finish(&p);
}

static void script_sync_only(int fd) { answer_sync(fd, false); }

/* An agent whose process (QEMU, here the fake agent itself) is stopped
 * for 1.5 s, longer than the call's 1 s: bound to that process, the call
 * waits for it; on the wall clock it times out. */
static int sync_stopped_agent(bool bound)
{
	struct peer p = peer_start(script_sync_only);
	int st;
	kill(p.pid, SIGSTOP);
	waitpid(p.pid, &st, WUNTRACED);
	pid_t waker = fork();
	if (waker == 0) {
		fd_wait(-1, 0, deadline_after(1500 * USEC_PER_MSEC));
		kill(p.pid, SIGCONT);
		_exit(0);
	}
	struct qga *g = NULL;
	qga_new(p.fd, &g);
	if (bound)
		qga_bind_process(g, p.pid);
	int r = qga_sync(g, 5 * USEC_PER_SEC, USEC_PER_SEC);
	waitpid(waker, NULL, 0);
	qga_free(g);
	peer_finish(&p);
	return r;
}

/* Bound to a process stopped for good, a wall limit (a command's own
 * --timeout) still ends a sync, at once and once. */
static void sync_wall_limited(void)
{
	struct peer p = peer_start(script_silent);
	int st;
	kill(p.pid, SIGSTOP);
	waitpid(p.pid, &st, WUNTRACED);
	struct qga *g = NULL;
	qga_new(p.fd, &g);
	qga_bind_process(g, p.pid);
	usec_t t0 = now_usec();
	qga_set_wall_limit(g, t0 + 300 * USEC_PER_MSEC);
	is_int(qga_sync(g, 100 * USEC_PER_MSEC, 5 * USEC_PER_SEC), -ETIMEDOUT, "a wall limit ends a sync");
	ok(now_usec() - t0 < 2 * USEC_PER_SEC, "at the limit (%llu ms)", (unsigned long long)(now_usec() - t0) / 1000);
	qga_free(g);
	kill(p.pid, SIGCONT);
	peer_finish(&p);
}

static void test_stopped_agent(void)
{
	is_int(sync_stopped_agent(false), -ETIMEDOUT, "unbound: a stopped agent's process times the call out");
	is_int(sync_stopped_agent(true), 0, "bound to it: the call waits while it is stopped, then gets the answer");
	sync_wall_limited();
}

static void test_base64(void)
{
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	bool good = true;
	for (size_t n = 0; n <= 256; n++) {
		char *e = base64_encode(all, n), *d = NULL;
		size_t dl = 0;
		if (!e || base64_decode(e, &d, &dl) < 0 || dl != n || memcmp(d, all, n))
			good = false;
		free(e);
		free(d);
	}
	ok(good, "base64 round trip of every length 0..256 over all byte values");
	char *e = base64_encode("foobar", 6);
	is_str(e, "Zm9vYmFy", "base64 of a known string (RFC 4648)");
	free(e);
	char *d = NULL;
	size_t dl;
	is_int(base64_decode("Zm9v!mFy", &d, &dl), -EBADMSG, "invalid base64 refused");
}

/* A Windows agent as qga/commands.c is: a process started with captured
 * output is reported "exited" only once its pipes close, so a helper whose
 * command left a daemon holding them would never be. This one refuses a
 * guest-exec that asks for captured output or replaces the environment,
 * then says the helper ended. */
static void script_windows_agent(int fd)
{
	char line[4096];
	answer_sync(fd, false);
	for (int i = 0; i < 2; i++) {
		peer_read_line(fd, line, sizeof line);
		if (strstr(line, "\"capture-output\"") || strstr(line, "\"env\""))
			peer_say(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"pipes or env\"}}\n");
		else
			peer_say(fd, "{\"return\": {\"pid\": 7}}\n");
	}
	peer_read_line(fd, line, sizeof line);
	peer_say(fd, "{\"return\": {\"exited\": true, \"exitcode\": 0}}\n");
}

static void test_windows_helper(void)
{
	struct peer p = peer_start(script_windows_agent);
	struct qga *g = NULL;
	qga_new(p.fd, &g);
	struct remote_error err;
	int64_t pid = 0;
	char *env[] = {"A=1", NULL};
	is_int(qga_sync(g, USEC_PER_SEC, 5 * USEC_PER_SEC), 0, "sync");
	struct qga_exec lx = profile_command_exec(profile_find("linux"), env),
			wx = profile_command_exec(profile_find("windows"), env);
	is_int(qga_exec(g, &lx, 5 * USEC_PER_SEC, &pid, &err), -EREMOTEIO,
	       "the fake Windows agent refuses a helper with pipes and an environment (the Linux way)");
	is_int(qga_exec(g, &wx, 5 * USEC_PER_SEC, &pid, &err), 0, "Windows' command helper: neither");
	struct qga_exec_status st;
	ok(qga_exec_status(g, pid, 5 * USEC_PER_SEC, &st, &err) == 0 && st.exited, "and is reported ended");
	qga_exec_status_release(&st);
	qga_free(g);
	is_int(peer_verdict(&p), 0, "the agent saw what it expected");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_agent();
	test_windows_helper();
	test_late_and_silent();
	test_stopped_agent();
	test_hostile();
	test_base64();
	return tap_done();
}
