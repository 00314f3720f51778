/* The store's filesystem, tried (storefs.h). */
#define _GNU_SOURCE
#include "storefs.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

static const char *fs_name(long type)
{
	static const struct {
		long type;
		const char *name;
	} names[] = {
		{EXT4_SUPER_MAGIC, "ext4"},
		{XFS_SUPER_MAGIC, "xfs"},
		{BTRFS_SUPER_MAGIC, "btrfs"},
		{TMPFS_MAGIC, "tmpfs"},
		{OVERLAYFS_SUPER_MAGIC, "overlay"},
		{NFS_SUPER_MAGIC, "nfs"},
		{0x2fc12fc1, "zfs"},
		{0x65735546, "fuse"},
	};
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (names[i].type == type)
			return names[i].name;
	return "another filesystem";
}

static int probe_reflink(struct store *s)
{
	_cleanup_close_ int a = -1, b = -1;
	char page[4096] = {1};
	int k = store_scratch_file(s, &a);
	if (k == 0 && (k = store_scratch_file(s, &b)) == 0 && (k = pwrite_full(a, page, sizeof page, 0)) == 0)
		k = ioctl(b, FICLONE, a) == 0 ? 0 : -errno;
	return k;
}

/* One page written into a hole, and where the data it reports starts and
 * ends. */
static int probe_holes(struct store *s, int64_t *ret)
{
	_cleanup_close_ int fd = -1;
	char page[4096] = {1};
	off_t at = 4 << 20, data = -1, hole = -1;
	int k = store_scratch_file(s, &fd);
	if (k == 0 && ftruncate(fd, 8 << 20) < 0)
		k = -errno;
	if (k == 0 && (k = pwrite_full(fd, page, sizeof page, at)) == 0 &&
	    ((data = lseek(fd, 0, SEEK_DATA)) < 0 || (hole = lseek(fd, data, SEEK_HOLE)) < 0))
		k = -errno;
	if (k < 0)
		return k;
	*ret = hole - data;
	return 0;
}

int storefs_probe(struct store *s, struct storefs *ret)
{
	struct storefs f = {.hole = -1};
	struct statfs sf;
	f.fs = statfs(s->root, &sf) == 0 ? fs_name((long)sf.f_type) : "an unknown filesystem";
	f.reflink = probe_reflink(s);
	f.hole_err = probe_holes(s, &f.hole);
	struct statvfs v;
	if (statvfs(s->root, &v) == 0) {
		f.free = (uint64_t)v.f_bavail * v.f_frsize;
		f.total = (uint64_t)v.f_blocks * v.f_frsize;
	} else
		f.space_err = -errno;
	if (f.reflink == -ENOMEM || f.hole_err == -ENOMEM)
		return -ENOMEM;
	*ret = f;
	return 0;
}
