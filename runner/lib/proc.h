/* Child processes: spawn without a shell, kill and reap, and collect the
 * orphans QEMU leaves (its smbd) once osrun is their subreaper. */
#pragma once
#include "util.h"

struct proc_spec {
	char *const *argv;   /* argv[0] is looked up in PATH */
	char *const *setenv; /* "K=V" added to the environment; may be NULL */
	const int *keep_fds; /* inherited under their own numbers */
	size_t n_keep;
	int stdin_fd;	      /* -1: /dev/null */
	int stdout_fd;	      /* -1: /dev/null; -2: inherit */
	int stderr_fd;	      /* -1: /dev/null; -2: inherit */
	bool own_pgroup;      /* out of the terminal's Ctrl-C: osrun tears it down */
	bool die_with_parent; /* SIGKILL if osrun dies without cleaning up */
	/* Above 2: a listening socket the child gets as fd 3, with
	 * LISTEN_FDS=1 and LISTEN_PID its own pid (systemd's socket
	 * activation, which qemu-nbd takes): it listens before the child
	 * starts, so a client's connect never races its start. Not with a
	 * keep_fds entry of 3. */
	int listen_fd;
};

#define PROC_INHERIT (-2)

int proc_spawn(const struct proc_spec *spec, pid_t *ret_pid);
/* Waits for pid; *ret_status as waitpid gives it. -ETIMEDOUT, -ECANCELED. */
int proc_wait(pid_t pid, usec_t timeout, int *ret_status);
/* A descriptor readable once pid has exited (pidfd_open); -ENOSYS on
 * kernels before 5.3 and under valgrind 3.19. */
int proc_pidfd(pid_t pid);
/* SIGTERM, up to grace to exit, then SIGKILL; always reaps. */
int proc_kill_and_reap(pid_t pid, usec_t grace);

/* Runs argv to completion with output captured (at most 64 KiB kept).
 * Returns the exit status (>= 0) or a negative errno. */
int proc_run(char *const *argv, usec_t timeout, char **ret_output);
/* The same with input (at most 4 KiB) on its stdin. */
int proc_run_input(char *const *argv, const char *input, usec_t timeout, char **ret_output);
/* The first line `bin --version` prints ("QEMU emulator version 7.2.19 ...");
 * -EIO when it exits non-zero. */
int proc_version_line(const char *bin, char **ret);

/* flock(fd, LOCK_EX), waiting while the cancel fd stays quiet: the wait
 * happens in a child sharing fd's open file, whose lock is then ours. 0
 * with *ret_waited telling whether another held it first; -ECANCELED. */
int proc_flock_wait(int fd, bool *ret_waited);

/* Makes this process the subreaper of its descendants, so QEMU's smbd comes
 * back to us when QEMU goes, and can be stopped. */
int proc_become_subreaper(void);
/* Kills and reaps every child of ours except `keep`. Returns how many. */
int proc_reap_orphans(pid_t keep);

/* "exit status 3", "signal 9 (KILL)" */
const char *signal_name(int sig);
