#define _GNU_SOURCE
#include "pump.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

/* After the command's end a pipe holds at most its capacity of what the
 * command wrote; more than that is a background child's. */
static size_t pipe_capacity(int rd)
{
	int k = fcntl(rd, F_GETPIPE_SZ);
	return k > 0 ? (size_t)k : 65536;
}

/* One read and its write; false when the stream is done (its end, or a
 * write the share refused, *err set). */
static bool stream_copy(struct pump_stream *s, char *buf, bool ended, int *err)
{
	ssize_t n = read(s->rd, buf, GUEST_IO_CHUNK);
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	if (ended)
		s->after += (size_t)n;
	int r = fd_write_all(s->out, buf, (size_t)n);
	if (r < 0 && *err == 0)
		*err = r;
	return r == 0;
}

int pump_run(struct pump_stream s[PUMP_STREAMS], int pidfd)
{
	_cleanup_free_ char *buf = malloc(GUEST_IO_CHUNK);
	size_t cap[PUMP_STREAMS];
	bool ended = false;
	int err = buf ? 0 : -ENOMEM;
	for (int i = 0; i < PUMP_STREAMS; i++)
		cap[i] = pipe_capacity(s[i].rd);
	for (;;) {
		bool busy = false;
		struct pollfd pf[PUMP_STREAMS + 1];
		for (int i = 0; i < PUMP_STREAMS; i++) {
			bool want = s[i].rd >= 0 && buf && !(ended && s[i].after >= cap[i]);
			pf[i] = (struct pollfd){.fd = want ? s[i].rd : -1, .events = POLLIN};
			busy |= want;
		}
		pf[PUMP_STREAMS] = (struct pollfd){.fd = ended ? -1 : pidfd, .events = POLLIN};
		if (ended && !busy)
			break;
		int k = poll(pf, PUMP_STREAMS + 1, ended ? 0 : -1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 && ended)
			break;
		for (int i = 0; i < PUMP_STREAMS; i++)
			if (pf[i].revents && !stream_copy(&s[i], buf, ended, &err))
				s[i].rd = safe_close(s[i].rd);
		if (pf[PUMP_STREAMS].revents || k < 0)
			ended = true;
	}
	return err;
}

int pump_hand_off(const struct pump_stream s[PUMP_STREAMS], const char *pid_path)
{
	_cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -errno;
	char *argv[] = {"osrun-guest", "drain", NULL};
	char *envp[] = {NULL};
	pid_t pid;
	int out = s[PUMP_OUT].rd >= 0 ? s[PUMP_OUT].rd : null, err = s[PUMP_ERR].rd >= 0 ? s[PUMP_ERR].rd : null;
	int r = child_spawn("/proc/self/exe", argv, envp, out, err, null, &pid);
	if (r < 0)
		return r;
	char text[32];
	snprintf(text, sizeof text, "%d\n", (int)pid);
	return file_replace(pid_path, text);
}

/* Reads fds 0 and 1 until both end, and drops what comes. */
int verb_drain(int argc, char **argv)
{
	char buf[65536];
	struct pollfd pf[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = STDOUT_FILENO, .events = POLLIN}};
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n = pf[i].revents ? read(pf[i].fd, buf, sizeof buf) : 1;
			if (n == 0 || (n < 0 && errno != EINTR))
				pf[i].fd = -1;
		}
	}
	return 0;
}
