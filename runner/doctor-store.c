/* The store's checks: what its filesystem can do for snapshots, and the
 * room it has. */
#define _GNU_SOURCE
#include "doctor.h"

#include <string.h>

#include "../snapshots/storefs.h"

/* docs/windows.md: the image's disk is a sparse 64 GiB qcow2, and about
 * 70 GB free is what a build needs; the test guest fits in 2 GB. */
#define WINDOWS_ROOM (UINT64_C(70) * 1000 * 1000 * 1000)
#define LINUX_ROOM (UINT64_C(2) * 1000 * 1000 * 1000)
#define MOVE_STORE "put the store elsewhere: --cache DIR or OSRUN_CACHE"

/* Copies of RAM files and disks (-n, sessions) are clones where the
 * filesystem shares extents. */
static int check_reflink(struct doctor_report *r, const struct store *s, const struct storefs *f)
{
	if (f->reflink == 0)
		return doctor_add(r, "store", DOCTOR_OK, NULL, "%s on %s, with reflinks", s->root, f->fs);
	return doctor_add(r, "store", DOCTOR_WARN,
			  "for instant copies put the store on XFS (reflink=1) or btrfs: --cache DIR or OSRUN_CACHE",
			  "%s on %s, without reflinks (%s): snapshot copies (-n, sessions) are full copies", s->root,
			  f->fs, strerror(-f->reflink));
}

static int check_holes(struct doctor_report *r, const struct storefs *f)
{
	if (f->hole < 0)
		return doctor_add(r, "holes", DOCTOR_WARN, "none needed: RAM deltas carry their own page bitmap",
				  "cannot tell (%s)", strerror(-f->hole_err));
	if (f->hole > 0 && f->hole <= 4096)
		return doctor_add(r, "holes", DOCTOR_OK, NULL, "SEEK_HOLE sees single pages (4 KiB)");
	return doctor_add(
		r, "holes", DOCTOR_WARN,
		"a filesystem with 4 KiB blocks keeps sparse RAM files smaller (ext4, XFS's default); " MOVE_STORE,
		"SEEK_HOLE sees %lld KiB around one written page: sparse RAM files take more room "
		"(RAM deltas keep a page bitmap, so they stay right)",
		(long long)f->hole / 1024);
}

static int check_space(struct doctor_report *r, const struct store *s, const struct storefs *f)
{
	if (f->space_err)
		return doctor_add(r, "space", DOCTOR_WARN, MOVE_STORE, "%s: %s", s->root, strerror(-f->space_err));
	double gb = (double)f->free / 1e9;
	if (f->free >= WINDOWS_ROOM)
		return doctor_add(r, "space", DOCTOR_OK, NULL, "%.1f GB free: room for a Windows image (70 GB)", gb);
	if (f->free >= LINUX_ROOM)
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
	struct storefs f;
	if ((k = storefs_probe(s, &f)) < 0 || (k = check_reflink(r, s, &f)) < 0 || (k = check_holes(r, &f)) < 0)
		return k;
	return check_space(r, s, &f);
}
