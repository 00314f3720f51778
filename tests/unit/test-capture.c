/* A command's output kept in memory: both streams whole, in order, the
 * time of stdout's first byte, a bound on what is kept, and a stop that
 * does not wait for another holder of the pipes. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

#include "../../runner/lib/capture.h"
#include "tap.h"

int main(void)
{
	struct capture *c = NULL;
	is_int(capture_start(1 << 20, &c), 0, "started");
	usec_t t0 = now_usec();
	ok(capture_first(c) == 0, "no first byte yet");
	write_full(capture_fd(c, 2), "err\n", 4);
	char big[200000];
	memset(big, 'x', sizeof big);
	/* More than a pipe holds: the thread reads while we write. */
	ok(write_full(capture_fd(c, 1), big, sizeof big) == 0, "200000 bytes written to stdout without blocking");
	write_full(capture_fd(c, 1), "end", 3);
	/* A child holding the write ends, as a process started meanwhile
	 * would until it execs. */
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	is_int(capture_stop(c), 0, "stopped while another process holds the pipes");
	size_t n;
	uint64_t total;
	const char *out = capture_data(c, 1, &n, &total);
	ok(n == sizeof big + 3 && total == n && !memcmp(out + sizeof big, "end", 4), "stdout whole, NUL-terminated");
	is_str(capture_data(c, 2, &n, NULL), "err\n", "stderr apart");
	ok(capture_first(c) >= t0, "the first byte's time noted");
	capture_free(c);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	is_int(capture_start(10, &c), 0, "a capture that keeps 10 bytes");
	write_full(capture_fd(c, 1), "0123456789abcdef", 16);
	capture_stop(c);
	out = capture_data(c, 1, &n, &total);
	ok(n == 10 && total == 16 && !strcmp(out, "0123456789"), "keeps 10, counts 16");
	capture_free(c);
	return tap_done();
}
