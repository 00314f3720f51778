#define _GNU_SOURCE
#include "guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

/* What is left of the session this long after TERM gets KILL. */
#define KILL_GRACE_MS 5000
#define MEMBERS_MAX 1024

/* The session of /proc/PID/stat: the 4th field after the ") " that ends
 * the command's name (which may hold spaces and parentheses). */
static pid_t stat_session(const char *pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%s/stat", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	int ppid, pgrp, sid;
	char state;
	if (!p || sscanf(p + 1, " %c %d %d %d", &state, &ppid, &pgrp, &sid) != 4)
		return -1;
	return state == 'Z' ? -1 : sid;
}

/* Every live process whose session is sid, up to max. */
static size_t session_members(pid_t sid, pid_t *ret, size_t max)
{
	DIR *d = opendir("/proc");
	size_t n = 0;
	struct dirent *de;
	while (d && n < max && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (stat_session(de->d_name) == sid)
			ret[n++] = (pid_t)atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until one of the processes ends (their pidfds say so; zombies
 * count as ended), or the deadline. */
static void members_wait(const pid_t *pids, size_t n, long deadline)
{
	struct pollfd pf[MEMBERS_MAX];
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int fd = (int)syscall(SYS_pidfd_open, pids[i], 0);
		if (fd >= 0)
			pf[k++] = (struct pollfd){.fd = fd, .events = POLLIN};
	}
	long left = deadline - now_ms();
	if (k == n && left > 0)
		(void)poll(pf, k, (int)left);
	for (size_t i = 0; i < k; i++)
		close(pf[i].fd);
}

/* Stops the command of run OSRUN_RUN_ID and every process of its session
 * (exec starts it with setsid: its background children too), so that a
 * session's guest takes the next command after an interrupted or
 * timed-out one. TERM first; what is left after KILL_GRACE_MS gets KILL. */
int verb_kill(int argc, char **argv)
{
	struct guest_run r;
	char path[160], buf[32];
	if (guest_run_init(&r) < 0 || guest_run_side(&r, "cmd", path, sizeof path) < 0)
		return guest_fail(1, "OSRUN_RUN_ID: missing or not a run id");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : guest_fail(1, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	char *end;
	long sid = strtol(buf, &end, 10);
	if (n <= 0 || sid <= 1 || sid > 4194304 || (*end && *end != '\n'))
		return guest_fail(1, "%s: not a process id", path);
	static pid_t pids[MEMBERS_MAX];
	size_t k = session_members((pid_t)sid, pids, MEMBERS_MAX);
	for (size_t i = 0; i < k; i++)
		kill(pids[i], SIGTERM);
	long deadline = now_ms() + KILL_GRACE_MS;
	while ((k = session_members((pid_t)sid, pids, MEMBERS_MAX)) > 0 && now_ms() < deadline)
		members_wait(pids, k, deadline);
	for (size_t i = 0; i < k; i++)
		kill(pids[i], SIGKILL);
	return 0;
}
