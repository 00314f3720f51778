#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>

#include "../../runner/lib/qmp.h"
#include "peer.h"
#include "tap.h"

#define GREETING                                                                                                       \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "         \
	"\"capabilities\": [\"oob\"]}}\r\n"

static void expect_caps(int fd)
{
	char line[4096], id[32];
	peer_say(fd, GREETING);
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "qmp_capabilities"))
		_exit(2);
	peer_id_of(line, id, sizeof id);
	char reply[128];
	snprintf(reply, sizeof reply, "{\"return\": {}, \"id\": %s}\r\n", id);
	peer_say(fd, reply);
}

/* Answers a command with an event first, a stale reply, then its own. */
static void script_normal(int fd)
{
	char line[4096], id[32], buf[512];
	expect_caps(fd);
	peer_read_line(fd, line, sizeof line);
	if (!strstr(line, "\"query-status\""))
		_exit(2);
	peer_id_of(line, id, sizeof id);
	peer_say(fd, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n");
	peer_say(fd, "{\"return\": {\"status\": \"stale\"}, \"id\": 999}\r\n");
	/* The reply split in two writes: framing must not depend on reads. */
	snprintf(buf, sizeof buf, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": %s}", id);
	size_t half = strlen(buf) / 2;
	if (write(fd, buf, half) < 0)
		_exit(3);
	usleep(20000);
	peer_say(fd, buf + half);
	peer_say(fd, "\r\n");

	peer_read_line(fd, line, sizeof line);
	peer_id_of(line, id, sizeof id);
	snprintf(buf, sizeof buf,
		 "{\"id\": %s, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been "
		 "found\"}}\r\n",
		 id);
	peer_say(fd, buf);

	/* getfd: the descriptor must arrive with the message. */
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = line, .iov_len = sizeof line - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t k = recvmsg(fd, &mh, 0);
	if (k <= 0)
		_exit(4);
	line[k] = 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int got = -1;
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&got, CMSG_DATA(cm), sizeof got);
	peer_id_of(line, id, sizeof id);
	const char *verdict = got >= 0 && write(got, "x", 1) == 1 ? "{}" : "{\"nofd\": true}";
	snprintf(buf, sizeof buf, "{\"return\": %s, \"id\": %s}\r\n", verdict, id);
	peer_say(fd, buf);

	peer_say(fd, "{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}, \"timestamp\": {\"seconds\": "
		     "1, \"microseconds\": 2}}\r\n");
	/* then EOF */
}

static void script_silent(int fd)
{
	char line[4096];
	expect_caps(fd);
	peer_read_line(fd, line, sizeof line);
	sleep(5);
}

static void script_garbage(int fd)
{
	char line[4096];
	expect_caps(fd);
	peer_read_line(fd, line, sizeof line);
	peer_say(fd, "this is not json]\r\n");
	sleep(5);
}

/* More events than the queue keeps, then the reply. */
static void script_flood(int fd)
{
	char line[4096], id[32], buf[256];
	expect_caps(fd);
	peer_read_line(fd, line, sizeof line);
	peer_id_of(line, id, sizeof id);
	for (int i = 0; i < QMP_EVENTS_MAX + 2; i++) {
		snprintf(buf, sizeof buf, "{\"event\": \"E%d\", \"data\": {}}\n", i);
		peer_say(fd, buf);
	}
	snprintf(buf, sizeof buf, "{\"return\": {}, \"id\": %s}\n", id);
	peer_say(fd, buf);
	sleep(5);
}

static void script_no_greeting(int fd)
{
	peer_say(fd, "{\"hello\": 1}\r\n");
	sleep(5);
}

static void test_normal(void)
{
	struct peer p = peer_start(script_normal);
	struct qmp *q = NULL;
	int r = qmp_new(p.fd, 5 * USEC_PER_SEC, &q);
	is_int(r, 0, "greeting and capabilities negotiated");
	is_str(q ? qmp_version(q) : NULL, "7.2.22", "version taken from the greeting");

	json_object *ret = NULL;
	struct remote_error err;
	r = qmp_call(q, "query-status", NULL, 5 * USEC_PER_SEC, &ret, &err);
	is_int(r, 0, "command answered");
	json_object *st = NULL;
	json_object_object_get_ex(ret, "status", &st);
	is_str(st ? json_object_get_string(st) : NULL, "running", "reply matched by id, stale reply ignored");
	json_object_put(ret);

	r = qmp_call(q, "nope", NULL, 5 * USEC_PER_SEC, NULL, &err);
	is_int(r, -EREMOTEIO, "error reply is -EREMOTEIO");
	is_str(err.class, "CommandNotFound", "error class handed back");
	is_str(err.desc, "The command nope has not been found", "error text handed back");

	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		abort();
	json_object *args = json_object_new_object();
	json_object_object_add(args, "fdname", json_object_new_string("x"));
	ret = NULL;
	r = qmp_call_fd(q, "getfd", args, pfd[1], 5 * USEC_PER_SEC, &ret, &err);
	close(pfd[1]);
	char c = 0;
	ok(r == 0 && json_object_object_length(ret) == 0 && read(pfd[0], &c, 1) == 1 && c == 'x',
	   "descriptor passed with the command (SCM_RIGHTS)");
	json_object_put(ret);
	close(pfd[0]);

	json_object *data = NULL;
	r = qmp_wait_event(q, "RESUME", USEC_PER_SEC, &data);
	is_int(r, 0, "event received during a command was kept");
	json_object_put(data);
	r = qmp_wait_event(q, "MIGRATION", 5 * USEC_PER_SEC, &data);
	json_object_object_get_ex(data, "status", &st);
	ok(r == 0 && st && !strcmp(json_object_get_string(st), "completed"), "waited event returns its data");
	json_object_put(data);

	r = qmp_call(q, "query-status", NULL, 5 * USEC_PER_SEC, NULL, &err);
	is_int(r, -ECONNRESET, "EOF from the server is -ECONNRESET");
	qmp_free(q);
	is_int(peer_verdict(&p), 0, "fake server saw what it expected");
}

static void test_timeout(void)
{
	struct peer p = peer_start(script_silent);
	struct qmp *q = NULL;
	int r = qmp_new(p.fd, 5 * USEC_PER_SEC, &q);
	usec_t t0 = now_usec();
	if (r == 0)
		r = qmp_call(q, "query-status", NULL, 200 * USEC_PER_MSEC, NULL, NULL);
	usec_t took = now_usec() - t0;
	is_int(r, -ETIMEDOUT, "a server that never answers times out");
	ok(took >= 190 * USEC_PER_MSEC && took < 2 * USEC_PER_SEC, "timeout honoured (%.3f s)", (double)took / 1e6);
	qmp_free(q);
	peer_finish(&p);
}

static void test_garbage(void)
{
	struct peer p = peer_start(script_garbage);
	struct qmp *q = NULL;
	int r = qmp_new(p.fd, 5 * USEC_PER_SEC, &q);
	if (r == 0)
		r = qmp_call(q, "query-status", NULL, 2 * USEC_PER_SEC, NULL, NULL);
	is_int(r, -EBADMSG, "a reply that is not JSON is -EBADMSG");
	qmp_free(q);
	peer_finish(&p);

	p = peer_start(script_no_greeting);
	q = NULL;
	r = qmp_new(p.fd, 2 * USEC_PER_SEC, &q);
	is_int(r, -EPROTO, "a server without a QMP greeting is refused");
	ok(q == NULL, "no object on failure");
	peer_finish(&p);
}

static void test_event_queue_bound(void)
{
	struct peer p = peer_start(script_flood);
	struct qmp *q = NULL;
	int r = qmp_new(p.fd, 5 * USEC_PER_SEC, &q);
	if (r == 0)
		r = qmp_call(q, "query-status", NULL, 5 * USEC_PER_SEC, NULL, NULL);
	is_int(r, 0, "reply found behind a flood of events");
	is_int(q ? qmp_events_dropped(q) : 0, 2, "the oldest events beyond the bound are dropped and counted");
	is_int(qmp_wait_event(q, "E0", 100 * USEC_PER_MSEC, NULL), -ETIMEDOUT, "a dropped event is gone");
	char last[16];
	snprintf(last, sizeof last, "E%d", QMP_EVENTS_MAX + 1);
	is_int(qmp_wait_event(q, last, 100 * USEC_PER_MSEC, NULL), 0, "the newest event is kept");
	qmp_free(q);
	peer_finish(&p);
}

static void test_cancel(void)
{
	struct peer p = peer_start(script_silent);
	struct qmp *q = NULL;
	int r = qmp_new(p.fd, 5 * USEC_PER_SEC, &q);
	int cp[2];
	if (pipe2(cp, O_CLOEXEC) < 0)
		abort();
	if (write(cp[1], "c", 1) != 1)
		abort();
	cancel_fd_set(cp[0]);
	if (r == 0)
		r = qmp_call(q, "query-status", NULL, 10 * USEC_PER_SEC, NULL, NULL);
	cancel_fd_set(-1);
	is_int(r, -ECANCELED, "a pending cancel (Ctrl-C) ends a wait at once");
	close(cp[0]);
	close(cp[1]);
	qmp_free(q);
	peer_finish(&p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_normal();
	test_timeout();
	test_garbage();
	test_event_queue_bound();
	test_cancel();
	return tap_done();
}
