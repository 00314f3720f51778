/* File copies as the store makes them: holes kept, and across filesystems
 * (a container's image and its /cache volume are two), where the kernel's
 * copy_file_range says EXDEV. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "../../runner/lib/util.h"
#include "tap.h"

#define MIB (1024 * 1024)

/* 8 MiB with data at 0 and at 5 MiB, holes between. */
static void make_sparse(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 8 * MIB) < 0 || pwrite(fd, "head", 4, 0) != 4 ||
	    pwrite(fd, "middle", 6, 5 * MIB) != 6)
		abort();
	close(fd);
}

static void check_copy(const char *from_dir, const char *to_dir, const char *what)
{
	char *from = path_join(from_dir, "osrun-unit-src"), *to = path_join(to_dir, "osrun-unit-dst");
	unlink(to);
	make_sparse(from);
	is_int(copy_file_sparse(from, to, 0600), 0, "%s: copied", what);
	char *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	ok(read_full_file(from, &a, &na) == 0 && read_full_file(to, &b, &nb) == 0 && na == nb && !memcmp(a, b, na),
	   "%s: byte for byte the same", what);
	struct stat st;
	ok(stat(to, &st) == 0 && st.st_blocks * 512 < 2 * MIB, "%s: the holes stay holes (%lld bytes allocated)", what,
	   (long long)st.st_blocks * 512);
	ok(stat(to, &st) == 0 && (st.st_mode & 0777) == 0600, "%s: created 0600", what);
	is_int(copy_file_sparse(from, to, 0600), -EEXIST, "%s: an existing target is not overwritten", what);
	free(a);
	free(b);
	unlink(from);
	unlink(to);
	free(from);
	free(to);
}

int main(void)
{
	char disk[] = "build/osrun-unit-disk.XXXXXX", shm[] = "/dev/shm/osrun-unit.XXXXXX";
	(void)mkdir("build", 0755); /* a disk directory, whatever BUILD is */
	if (!mkdtemp(disk) || !mkdtemp(shm))
		abort();
	check_copy(disk, disk, "same filesystem");
	struct stat a, b;
	if (stat(disk, &a) == 0 && stat(shm, &b) == 0 && a.st_dev != b.st_dev) {
		check_copy(shm, disk, "tmpfs to disk");
		check_copy(disk, shm, "disk to tmpfs");
	} else
		printf("# /dev/shm and build/ are one filesystem here: the cross-filesystem copy is not exercised\n");
	rmdir(disk);
	rmdir(shm);
	return tap_done();
}
