#define _GNU_SOURCE
#include "runclock.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>

/* How often a wait reads the clock: a stop or a starved stretch shorter
 * than this may be counted as time the process had. */
#define RUNCLOCK_SLICE (250 * USEC_PER_MSEC)

static ssize_t read_small(int dirfd, const char *path, char *buf, size_t n)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t k = read_retry(fd, buf, n - 1);
	if (k >= 0)
		buf[k] = 0;
	return k;
}

/* The process's state letter ("R", "S", "T" ...); 0 when unreadable. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_small(AT_FDCWD, path, buf, sizeof buf) <= 0)
		return 0;
	/* The name before it is in parentheses and may hold any byte. */
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static uint64_t delay_before(const struct runclock *c, pid_t tid)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->thread[i].tid == tid)
			return c->thread[i].delay_ns;
	return 0;
}

/* Reads each thread's run_delay (ns spent runnable, waiting for a CPU);
 * returns the largest growth since the last reading, in us. */
static usec_t read_delays(struct runclock *c)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)c->pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	__typeof__(c->thread) seen;
	size_t n = 0;
	uint64_t most = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < RUNCLOCK_THREADS) {
		char *end, file[300], buf[128];
		long tid = strtol(de->d_name, &end, 10);
		if (tid <= 0 || *end)
			continue;
		snprintf(file, sizeof file, "%ld/schedstat", tid);
		unsigned long long run, delay;
		if (read_small(dirfd(d), file, buf, sizeof buf) <= 0 || sscanf(buf, "%llu %llu", &run, &delay) != 2)
			continue;
		uint64_t before = delay_before(c, (pid_t)tid);
		if (delay > before && delay - before > most)
			most = delay - before;
		seen[n].tid = (pid_t)tid;
		seen[n++].delay_ns = delay;
	}
	closedir(d);
	memcpy(c->thread, seen, n * sizeof seen[0]);
	c->n = n;
	return most / 1000;
}

void runclock_init(struct runclock *c, pid_t pid)
{
	*c = (struct runclock){.pid = pid, .wall_limit = USEC_INFINITY};
	c->wall = c->now = now_usec();
	if (pid > 0)
		read_delays(c);
}

usec_t runclock_now(struct runclock *c)
{
	usec_t wall = now_usec();
	if (c->pid <= 0)
		return wall;
	usec_t passed = wall - c->wall;
	c->wall = wall;
	char state = proc_state(c->pid);
	/* A wait is added to run_delay only when it ends: one longer than a
	 * reading's interval is taken off the intervals after it. */
	c->owed += read_delays(c);
	if (state == 'T' || state == 't')
		return c->now;
	usec_t off = c->owed < passed ? c->owed : passed;
	c->owed -= off;
	c->now += passed - off;
	return c->now;
}

int runclock_fd_wait(struct runclock *c, int fd, short events, usec_t deadline)
{
	if (c->pid <= 0)
		return fd_wait(fd, events, deadline < c->wall_limit ? deadline : c->wall_limit);
	for (;;) {
		usec_t now = runclock_now(c), wall = now_usec();
		if (now >= deadline || wall >= c->wall_limit)
			return -ETIMEDOUT;
		usec_t next = wall + (deadline - now < RUNCLOCK_SLICE ? deadline - now : RUNCLOCK_SLICE);
		int r = fd_wait(fd, events, next < c->wall_limit ? next : c->wall_limit);
		if (r != -ETIMEDOUT)
			return r;
	}
}
