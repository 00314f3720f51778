/* Run directories against a sweep running at the same time (another osrun
 * starting): a sweep removes only the directories of runs that are gone,
 * never one that a live run has just made. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../runner/lib/rundir.h"
#include "../../runner/lib/util.h"
#include "tap.h"

int main(void)
{
	char tmp[] = "/tmp/osrun-unit-rundir.XXXXXX";
	if (!mkdtemp(tmp) || setenv("TMPDIR", tmp, 1) < 0)
		abort();
	pid_t sweeper = fork();
	if (sweeper == 0)
		for (;;)
			rundir_sweep();
	int made = 0, lost = 0;
	for (int i = 0; i < 3000; i++) {
		struct rundir *d = NULL;
		if (rundir_new(&d) < 0)
			continue;
		made++;
		/* A live run's directory and its lock stay while it holds them. */
		_cleanup_free_ char *f = path_join(d->path, "share");
		if (mkdir(f, 0700) < 0 || access(d->path, F_OK) < 0)
			lost++;
		d = rundir_free(d);
	}
	kill(sweeper, SIGKILL);
	waitpid(sweeper, NULL, 0);
	ok(made > 2900, "run directories made while a sweep runs (%d)", made);
	is_int(lost, 0, "none of them removed under a live run");

	/* A dead run's directory (its lock not held) is removed. */
	struct rundir *d = NULL;
	is_int(rundir_new(&d), 0, "a run directory");
	_cleanup_free_ char *path = strdup(d->path);
	close(d->lock_fd); /* as if the run were killed */
	d->lock_fd = -1;
	free(d->path);
	free(d);
	is_int(rundir_sweep(), 1, "the sweep removes the dead run's directory");
	ok(access(path, F_OK) < 0, "gone");
	rm_rf(tmp);
	return tap_done();
}
