/* Runs a host tool (qemu-img, mkfs.xfs, mount) for a test's fixture, its
 * output hidden: its exit code, -1 when it did not exit. */
#pragma once
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int tool_run(char *const argv[], const char *cwd)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (cwd && chdir(cwd) < 0)
			_exit(126);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
