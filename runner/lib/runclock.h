/* A clock for bounds on waits that a process (QEMU) must answer: it runs
 * while that process could run, and stands still while the process is
 * stopped (SIGSTOP, a debugger) and while its threads wait for a CPU (the
 * kernel's run_delay in /proc/PID/task/TID/schedstat; the busiest thread
 * counts). On an oversubscribed host a guest given 1/32 of a core so gets
 * 32 s of wall time for a 10 s bound: a loaded host makes a wait longer,
 * never failed. A guest that idles or spins on a CPU it has still meets
 * the bound in wall time. Without the process's /proc entries (gone,
 * another kernel) the clock is the monotonic one. Never prints. */
#pragma once
#include "util.h"

#define RUNCLOCK_THREADS 64

struct runclock {
	pid_t pid;	   /* 0: the clock is now_usec() */
	usec_t wall;	   /* now_usec() at the last reading */
	usec_t now;	   /* the clock at the last reading */
	usec_t owed;	   /* waits read but not yet taken off (a reading is capped at the wall time since the last) */
	usec_t wall_limit; /* now_usec() past which waits end anyway (USEC_INFINITY: none) */
	size_t n;
	struct {
		pid_t tid;
		uint64_t delay_ns;
	} thread[RUNCLOCK_THREADS];
};

/* Starts at now_usec(), so that its deadlines read like deadline_after()'s. */
void runclock_init(struct runclock *c, pid_t pid);
usec_t runclock_now(struct runclock *c);
static inline usec_t runclock_deadline(struct runclock *c, usec_t timeout)
{
	return timeout == USEC_INFINITY ? USEC_INFINITY : runclock_now(c) + timeout;
}

/* Waits for events on fd until the clock reaches deadline, or wall time
 * c->wall_limit (a command's own --timeout, which a stopped QEMU must not
 * stretch): 1 ready, -ETIMEDOUT, -ECANCELED (fd_wait's answers). */
int runclock_fd_wait(struct runclock *c, int fd, short events, usec_t deadline);
