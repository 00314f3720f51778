#define _GNU_SOURCE
#include "stdin.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* How long the follower waits at stdin's end before it reads again: on a
 * cache=none mount a read at the end returns 0 and a later one sees what
 * osrun added, but nothing in the guest says when that happens. The wait
 * is on the command's pidfd, so it ends early when the command does. */
#define FOLLOW_POLL_MS 10

static bool command_ended(int pidfd, int timeout_ms)
{
	struct pollfd pf = {.fd = pidfd, .events = POLLIN};
	int k;
	while ((k = poll(&pf, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	return k != 0;
}

/* The command reads stdin from a pipe fed with read(2), never the share's
 * file itself: splice (busybox cat's sendfile) from a cache=none CIFS file
 * pads its end with zeros (3,000,000 bytes came out as 3,080,192), and on
 * a file that grows returned zeros past the old end (measured). */
static void *feed_main(void *arg)
{
	struct stdin_feed *f = arg;
	_cleanup_close_ int fd = open(f->path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = malloc(GUEST_IO_CHUNK);
	bool last = !f->stream;
	while (fd >= 0 && buf) {
		ssize_t k = read(fd, buf, GUEST_IO_CHUNK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k > 0) {
			if (fd_write_all(f->wr, buf, (size_t)k) < 0)
				break;
			continue;
		}
		/* At the end of what is there now: the end for good once
		 * stdin.end exists (after one more read for what came before
		 * it), or once the command has gone. */
		if (k < 0 || last)
			break;
		if (access(f->end_path, F_OK) == 0)
			last = true;
		else if (command_ended(f->pidfd, FOLLOW_POLL_MS))
			break;
	}
	f->wr = safe_close(f->wr);
	return NULL;
}

int stdin_feed_start(struct stdin_feed *f)
{
	pthread_attr_t attr;
	int r = pthread_attr_init(&attr);
	if (r == 0)
		r = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (r == 0)
		r = pthread_create(&f->thread, &attr, feed_main, f);
	pthread_attr_destroy(&attr);
	return -r;
}
