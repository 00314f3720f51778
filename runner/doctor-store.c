/* The store's checks: what its filesystem can do for snapshots, and the
 * room it has. */
#define _GNU_SOURCE
#include "doctor.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include "../snapshots/store.h"

/* docs/windows.md: the image's disk is a sparse 64 GiB qcow2, and about
 * 70 GB free is what a build needs; the test guest fits in 2 GB. */
#define WINDOWS_ROOM (UINT64_C(70) * 1000 * 1000 * 1000)
#define LINUX_ROOM (UINT64_C(2) * 1000 * 1000 * 1000)
#define MOVE_STORE "put the store elsewhere: --cache DIR or OSRUN_CACHE"

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

/* Copies of RAM files and disks (-n, sessions) are clones where the
 * filesystem shares extents. */
static int check_reflink(struct doctor_report *r, struct store *s, const char *fs)
{
	_cleanup_close_ int a = -1, b = -1;
	char page[4096] = {1};
	int k = store_scratch_file(s, &a);
	if (k == 0 && (k = store_scratch_file(s, &b)) == 0 && (k = pwrite_full(a, page, sizeof page, 0)) == 0)
		k = ioctl(b, FICLONE, a) == 0 ? 0 : -errno;
	if (k == 0)
		return doctor_add(r, "store", DOCTOR_OK, NULL, "%s on %s, with reflinks", s->root, fs);
	return doctor_add(r, "store", DOCTOR_WARN,
			  "for instant copies put the store on XFS (reflink=1) or btrfs: --cache DIR or OSRUN_CACHE",
			  "%s on %s, without reflinks (%s): snapshot copies (-n, sessions) are full copies", s->root,
			  fs, strerror(-k));
}

/* How fine the filesystem's holes are: one page written into a hole, and
 * where the data it reports starts and ends. */
static int check_holes(struct doctor_report *r, struct store *s)
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
		return doctor_add(r, "holes", DOCTOR_WARN, "none needed: RAM deltas carry their own page bitmap",
				  "cannot tell (%s)", strerror(-k));
	off_t grain = hole - data;
	if (data <= at && hole >= at + 4096 && grain <= 4096)
		return doctor_add(r, "holes", DOCTOR_OK, NULL, "SEEK_HOLE sees single pages (4 KiB)");
	return doctor_add(
		r, "holes", DOCTOR_WARN,
		"a filesystem with 4 KiB blocks keeps sparse RAM files smaller (ext4, XFS's default); " MOVE_STORE,
		"SEEK_HOLE sees %lld KiB around one written page: sparse RAM files take more room "
		"(RAM deltas keep a page bitmap, so they stay right)",
		(long long)grain / 1024);
}

static int check_space(struct doctor_report *r, struct store *s)
{
	struct statvfs v;
	if (statvfs(s->root, &v) < 0)
		return doctor_add(r, "space", DOCTOR_WARN, MOVE_STORE, "%s: %s", s->root, strerror(errno));
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	double gb = (double)avail / 1e9;
	if (avail >= WINDOWS_ROOM)
		return doctor_add(r, "space", DOCTOR_OK, NULL, "%.1f GB free: room for a Windows image (70 GB)", gb);
	if (avail >= LINUX_ROOM)
		return doctor_add(r, "space", DOCTOR_WARN, "free space, or " MOVE_STORE,
				  "%.1f GB free: room for the test guest, not for a Windows image (about 70 GB)", gb);
	return doctor_add(r, "space", DOCTOR_FAIL, "free space, or " MOVE_STORE,
			  "%.1f GB free: not even room for the test guest (2 GB)", gb);
}

int doctor_store(const char *cache, struct doctor_report *r)
{
	_cleanup_free_ char *root = cache ? strdup(cache) : store_default_root();
	_cleanup_(store_freep) struct store *s = NULL;
	if (!root)
		return -ENOMEM;
	int k = store_open(root, &s);
	if (k < 0)
		return doctor_add(r, "store", DOCTOR_FAIL, "make it writable, or " MOVE_STORE, "%s: %s", root,
				  strerror(-k));
	struct statfs f;
	const char *fs = statfs(root, &f) == 0 ? fs_name((long)f.f_type) : "an unknown filesystem";
	if ((k = check_reflink(r, s, fs)) < 0 || (k = check_holes(r, s)) < 0)
		return k;
	return check_space(r, s);
}
