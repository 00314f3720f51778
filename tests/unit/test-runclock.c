/* The clock agent bounds count on: it runs while the process could run,
 * not while it is stopped or waits for a CPU. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

#include "../../runner/lib/runclock.h"
#include "tap.h"

static void pause_for(usec_t t) { fd_wait(-1, 0, deadline_after(t)); }

/* How far the clock moves while the caller waits t. */
static usec_t clock_over(struct runclock *c, usec_t t)
{
	usec_t a = runclock_now(c);
	pause_for(t);
	return runclock_now(c) - a;
}

static pid_t child_idle(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

/* A child spinning on one CPU (cpu), so that two of them share it. */
static pid_t child_spinning(int cpu)
{
	pid_t pid = fork();
	if (pid == 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) < 0)
			_exit(1);
		for (volatile unsigned long i = 0;; i++)
			;
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	kill(pid, SIGCONT);
	waitpid(pid, NULL, 0);
}

static void test_plain(void)
{
	struct runclock c;
	runclock_init(&c, 0);
	usec_t a = now_usec(), v = runclock_now(&c), b = now_usec();
	ok(v >= a && v <= b, "without a process the clock is now_usec()");
	is_int(runclock_deadline(&c, USEC_INFINITY), USEC_INFINITY, "no deadline stays none");
}

static void test_stopped(void)
{
	pid_t pid = child_idle();
	struct runclock c;
	runclock_init(&c, pid);
	usec_t d = clock_over(&c, 400 * USEC_PER_MSEC);
	ok(d >= 300 * USEC_PER_MSEC, "an idle process's clock runs (%llu ms in 400)", (unsigned long long)d / 1000);
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	runclock_now(&c);
	d = clock_over(&c, 600 * USEC_PER_MSEC);
	ok(d < 100 * USEC_PER_MSEC, "a stopped process's clock stands (%llu ms in 600)", (unsigned long long)d / 1000);
	kill(pid, SIGCONT);
	runclock_now(&c);
	d = clock_over(&c, 400 * USEC_PER_MSEC);
	ok(d >= 300 * USEC_PER_MSEC, "and runs again once continued (%llu ms in 400)", (unsigned long long)d / 1000);
	reap(pid);
	d = clock_over(&c, 200 * USEC_PER_MSEC);
	ok(d >= 150 * USEC_PER_MSEC, "a process gone: wall time (%llu ms in 200)", (unsigned long long)d / 1000);
}

/* Two spinners on one CPU each wait for it half the time (more on a busy
 * host): the clock gives each at most about its share. */
static void test_starved(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) < 0)
		CPU_ZERO(&set);
	int cpu = 0;
	while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
		cpu++;
	pid_t a = child_spinning(cpu), b = child_spinning(cpu);
	struct runclock c;
	runclock_init(&c, a);
	usec_t d = clock_over(&c, 1500 * USEC_PER_MSEC);
	ok(d < 1000 * USEC_PER_MSEC, "a process sharing its CPU with another: %llu ms of 1500 counted",
	   (unsigned long long)d / 1000);
	reap(a);
	reap(b);
}

/* A wait of 300 ms on the clock of a process stopped for its first 600
 * ms ends after both. */
static void test_wait(void)
{
	pid_t pid = child_idle();
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	pid_t waker = fork();
	if (waker == 0) {
		pause_for(600 * USEC_PER_MSEC);
		kill(pid, SIGCONT);
		_exit(0);
	}
	struct runclock c;
	runclock_init(&c, pid);
	usec_t t0 = now_usec();
	is_int(runclock_fd_wait(&c, -1, 0, runclock_deadline(&c, 300 * USEC_PER_MSEC)), -ETIMEDOUT,
	       "a wait ends at its deadline");
	usec_t took = now_usec() - t0;
	ok(took >= 750 * USEC_PER_MSEC && took < 3 * USEC_PER_SEC, "after the stop and its own time (%llu ms)",
	   (unsigned long long)took / 1000);
	waitpid(waker, NULL, 0);
	reap(pid);
}

/* A wall limit (a command's --timeout) ends a wait on a stopped process's
 * clock anyway. */
static void test_wall_limit(void)
{
	pid_t pid = child_idle();
	kill(pid, SIGSTOP);
	int st;
	waitpid(pid, &st, WUNTRACED);
	struct runclock c;
	runclock_init(&c, pid);
	usec_t t0 = now_usec();
	c.wall_limit = t0 + 300 * USEC_PER_MSEC;
	is_int(runclock_fd_wait(&c, -1, 0, runclock_deadline(&c, 10 * USEC_PER_SEC)), -ETIMEDOUT,
	       "a wait on a stopped process ends at the wall limit");
	usec_t took = now_usec() - t0;
	ok(took >= 290 * USEC_PER_MSEC && took < 2 * USEC_PER_SEC, "there (%llu ms)", (unsigned long long)took / 1000);
	reap(pid);
}

int main(void)
{
	test_plain();
	test_stopped();
	test_starved();
	test_wait();
	test_wall_limit();
	return tap_done();
}
