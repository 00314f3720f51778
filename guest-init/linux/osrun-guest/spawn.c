#define _GNU_SOURCE
#include "guest.h"

#include <signal.h>
#include <spawn.h>

int child_spawn(const char *path, char *const *argv, char *const *envp, int in, int out, int err, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t def, none;
	int r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	/* The helper ignores SIGPIPE (main.c); the command must not. */
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigemptyset(&none);
	if ((r = posix_spawn_file_actions_adddup2(&fa, in, 0)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, out, 1)) == 0 &&
	    (r = posix_spawn_file_actions_adddup2(&fa, err, 2)) == 0 &&
	    (r = posix_spawnattr_setflags(&attr,
					  POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) == 0 &&
	    (r = posix_spawnattr_setsigdefault(&attr, &def)) == 0 &&
	    (r = posix_spawnattr_setsigmask(&attr, &none)) == 0) {
		pid_t pid;
		r = posix_spawn(&pid, path, &fa, &attr, argv, envp);
		if (r == 0)
			*ret_pid = pid;
	}
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}
