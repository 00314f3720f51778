#define _GNU_SOURCE
#include "rundir.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#define RUNDIR_PREFIX "osrun-run."

static const char *tmp_root(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

int rundir_new(struct rundir **ret)
{
	_cleanup_free_ char *tmpl = NULL;
	if (asprintf(&tmpl, "%s/" RUNDIR_PREFIX "XXXXXX", tmp_root()) < 0)
		return -ENOMEM;
	if (!mkdtemp(tmpl)) /* mkdtemp makes it 0700 */
		return -errno;
	/* Locked before it has its name: a sweep that finds ".lock" can then
	 * take it only from a run that is gone. (Made as ".lock" and locked
	 * after, a sweep between the two calls removed a live run.) */
	_cleanup_free_ char *tmp = path_join(tmpl, ".lock.new"), *lock = path_join(tmpl, ".lock");
	int fd = tmp && lock ? open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || rename(tmp, lock) < 0) {
		int r = tmp && lock ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		rm_rf(tmpl);
		return r;
	}
	struct rundir *d = calloc(1, sizeof *d);
	if (!d) {
		close(fd);
		rm_rf(tmpl);
		return -ENOMEM;
	}
	d->path = TAKE_PTR(tmpl);
	d->lock_fd = fd;
	*ret = d;
	return 0;
}

struct rundir *rundir_free(struct rundir *d)
{
	if (!d)
		return NULL;
	rm_rf(d->path);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->path);
	free(d);
	return NULL;
}

int rundir_sweep(void)
{
	DIR *dir = opendir(tmp_root());
	if (!dir)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, RUNDIR_PREFIX, strlen(RUNDIR_PREFIX)))
			continue;
		_cleanup_free_ char *p = path_join(tmp_root(), e->d_name);
		_cleanup_free_ char *lock = p ? path_join(p, ".lock") : NULL;
		if (!lock)
			break;
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			continue;
		_cleanup_close_ int fd = open(lock, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		/* No lock file: a run killed between mkdtemp and creating it. */
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		if (fd < 0 && time(NULL) - st.st_mtime < 60)
			continue;
		if (rm_rf(p) == 0)
			n++;
	}
	closedir(dir);
	return n;
}
