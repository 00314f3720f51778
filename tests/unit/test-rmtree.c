/* rm_rf on trees a guest can make over SMB: deeper than the descriptor
 * limit, wide, with symlinks out of the tree and directories without
 * permissions that hold files. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../runner/lib/util.h"
#include "nocaps.h"
#include "tap.h"

/* depth levels of "d" below root, a file at the bottom; built with *at
 * calls, so its depth is not bounded by PATH_MAX. */
static bool make_deep(const char *root, int depth)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (int i = 0; fd >= 0 && i < depth; i++) {
		int c = mkdirat(fd, "d", 0700) == 0 ? openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		close(fd);
		fd = c;
	}
	if (fd < 0)
		return false;
	int f = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	close(fd);
	return f >= 0 && close(f) == 0;
}

static bool make_file(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	return fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0;
}

/* Directories without read or search permission, with files in them:
 * rm_rf gives its own directories their modes back to empty them. Root
 * would open them anyway (CAP_DAC_OVERRIDE), so the removal runs in a
 * child that gave up its capabilities: as uid 0 it still owns the tree,
 * and permissions apply to it as to any owner. */
static void test_locked(const char *tmp)
{
	_cleanup_free_ char *tree = path_join(tmp, "locked"), *a = path_join(tree, "a"), *b = path_join(a, "b"),
			    *c = path_join(tree, "c"), *d = path_join(tree, "d"), *e = path_join(d, "e");
	ok(mkdir(tree, 0700) == 0 && mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0 && mkdir(c, 0700) == 0 &&
		   mkdir(d, 0700) == 0 && mkdir(e, 0700) == 0 && make_file(a, "f") && make_file(b, "g") &&
		   make_file(c, "h") && make_file(e, "i") && chmod(b, 0) == 0 && chmod(a, 0) == 0 &&
		   chmod(c, 0300) == 0 && chmod(e, 0555) == 0 && chmod(d, 0555) == 0 && chmod(tree, 0555) == 0,
	   "a/ and a/b/ mode 0, c/ mode 0300 (not listable), d/ and d/e/ mode 0555 (not writable), each with a "
	   "file, the tree mode 0555");
	int res[3] = {-1, -1, -1}, pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		if (caps_drop_all() < 0)
			_exit(1);
		int fd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		res[0] = fd < 0 ? errno : 0;
		res[1] = rm_rf(tree);
		res[2] = access(tree, F_OK) < 0 ? errno : 0;
		_exit(write(pfd[1], res, sizeof res) == sizeof res ? 0 : 1);
	}
	close(pfd[1]);
	ssize_t k = read(pfd[0], res, sizeof res);
	close(pfd[0]);
	int st = -1;
	waitpid(pid, &st, 0);
	ok(k == sizeof res && st == 0, "the child without capabilities reported");
	is_int(res[0], EACCES, "it cannot open a/: the modes apply to it");
	is_int(res[1], 0, "it removes the tree all the same");
	is_int(res[2], ENOENT, "gone");
	if (res[2] != ENOENT) {
		chmod(a, 0700);
		chmod(b, 0700);
		chmod(c, 0700);
		chmod(d, 0700);
		chmod(e, 0700);
		chmod(tree, 0700);
		rm_rf(tree);
	}
}

int main(void)
{
	char tmp[] = "/tmp/osrun-unit-rm.XXXXXX";
	if (!mkdtemp(tmp))
		abort();
	_cleanup_free_ char *deep = path_join(tmp, "deep"), *wide = path_join(tmp, "wide"),
			    *keep = path_join(tmp, "keep"), *keepf = path_join(tmp, "keep/file");
	mkdir(deep, 0700);
	ok(make_deep(deep, 1100), "a tree 1100 directories deep");
	/* The descriptor limit a guest could otherwise exhaust: far below the depth. */
	struct rlimit old, low = {.rlim_cur = 32, .rlim_max = 0};
	getrlimit(RLIMIT_NOFILE, &old);
	low.rlim_max = old.rlim_max;
	setrlimit(RLIMIT_NOFILE, &low);
	is_int(rm_rf(deep), 0, "removed with 32 descriptors allowed");
	setrlimit(RLIMIT_NOFILE, &old);
	ok(access(deep, F_OK) < 0, "gone");

	/* Wide, with a symlink out of the tree. */
	mkdir(wide, 0700);
	mkdir(keep, 0700);
	close(open(keepf, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	char p[4096];
	for (int i = 0; i < 300; i++) {
		snprintf(p, sizeof p, "%s/s%d", wide, i);
		mkdir(p, 0700);
		snprintf(p, sizeof p, "%s/s%d/f", wide, i);
		close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	}
	snprintf(p, sizeof p, "%s/out", wide);
	symlink(keep, p);
	is_int(rm_rf(wide), 0, "a wide tree removed");
	ok(access(wide, F_OK) < 0, "gone");
	ok(access(keepf, F_OK) == 0, "a symlink out of the tree is removed, not followed");
	test_locked(tmp);
	is_int(rm_rf(keep), 0, "a plain directory");
	is_int(rm_rf(keep), 0, "one that is not there: done");
	rmdir(tmp);
	return tap_done();
}
