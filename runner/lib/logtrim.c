#define _GNU_SOURCE
#include "logtrim.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

struct logtrim {
	char *path;
	uint64_t max, keep;
	int stop[2]; /* a byte here ends the thread */
	int timer;   /* once a second: a console writes a byte at a time, so
		      * watching each write (inotify) would cost more than it */
	pthread_t thread;
	bool running;
};

int logtrim_check(const char *path, uint64_t max, uint64_t keep)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_blocks * 512 <= max)
		return 0;
	off_t end = (st.st_size - (off_t)keep) & ~(off_t)0xfff;
	if (end <= 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, end) < 0)
		return -errno;
	return 1;
}

static void *logtrim_main(void *arg)
{
	struct logtrim *t = arg;
	for (;;) {
		struct pollfd p[2] = {{.fd = t->stop[0], .events = POLLIN}, {.fd = t->timer, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		uint64_t ticks;
		if (p[1].revents && read(t->timer, &ticks, sizeof ticks) > 0)
			(void)logtrim_check(t->path, t->max, t->keep);
	}
	return NULL;
}

int logtrim_new(const char *path, uint64_t max, uint64_t keep, struct logtrim **ret)
{
	_cleanup_(logtrim_freep) struct logtrim *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->stop[0] = t->stop[1] = t->timer = -1;
	t->max = max;
	t->keep = keep;
	if (!(t->path = strdup(path)))
		return -ENOMEM;
	struct itimerspec every = {.it_interval = {.tv_sec = 1}, .it_value = {.tv_sec = 1}};
	if (pipe2(t->stop, O_CLOEXEC) < 0 || (t->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(t->timer, 0, &every, NULL) < 0)
		return -errno;
	int r = -pthread_create(&t->thread, NULL, logtrim_main, t);
	if (r < 0)
		return r;
	t->running = true;
	*ret = TAKE_PTR(t);
	return 0;
}

struct logtrim *logtrim_free(struct logtrim *t)
{
	if (!t)
		return NULL;
	if (t->running) {
		(void)!write(t->stop[1], "x", 1);
		pthread_join(t->thread, NULL);
	}
	safe_close(t->stop[0]);
	safe_close(t->stop[1]);
	safe_close(t->timer);
	free(t->path);
	free(t);
	return NULL;
}
