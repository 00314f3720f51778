/* rm_rf on trees a guest can make over SMB: deeper than the descriptor
 * limit, wide, with symlinks out of the tree and directories without
 * permissions. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/lib/util.h"
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

	/* Wide, with a symlink out of the tree and a directory without modes. */
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
	snprintf(p, sizeof p, "%s/s7/locked", wide);
	mkdir(p, 0);
	is_int(rm_rf(wide), 0, "a wide tree removed");
	ok(access(wide, F_OK) < 0, "gone");
	ok(access(keepf, F_OK) == 0, "a symlink out of the tree is removed, not followed");
	is_int(rm_rf(keep), 0, "a plain directory");
	is_int(rm_rf(keep), 0, "one that is not there: done");
	rmdir(tmp);
	return tap_done();
}
