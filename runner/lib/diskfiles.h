/* Files copied off a stopped guest's disk, with no root and no kernel
 * module, so also in a container: qemu-nbd serves the qcow2 (and its
 * backing chain) read-only on a socket in a private directory, and a
 * child process reads it over libnbd, finds the Windows volume
 * (parttable.h) and copies the files with libntfs-3g (ntfsread.h). The
 * disk is the guest's: a disk that crashes or hangs the reading costs the
 * files, never the caller, since the child has a deadline. The child is a
 * fork without exec: call this with no other threads running. QEMU must
 * have let go of the disk. */
#pragma once
#include "error.h"
#include "util.h"

struct diskfile {
	const char *path; /* on the volume, '/'-separated, from its root */
	const char *name; /* the copy's name: a plain file name */
};

struct diskfiles_spec {
	const char *disk;	      /* qcow2 */
	const struct diskfile *files; /* ended by {NULL, NULL} */
	int dirfd;		      /* where the copies go */
	const char *sockdir;	      /* a private directory for qemu-nbd's socket */
	uint64_t max;		      /* a copy is the file's last max bytes */
	usec_t timeout;		      /* for all of it, wall time */
	const char *qemu_nbd;	      /* NULL: qemu-nbd from PATH */
};

/* Each file the volume has lands whole, 0600, under its name (written
 * under a temporary one, then renamed); a file the volume lacks is no
 * failure. Fails, e saying why, when the disk cannot be served, has no
 * NTFS volume (-ENOENT), or the reading fails, crashes or runs past the
 * timeout (-ETIMEDOUT); the cancel fd stops it (-ECANCELED, the signal left
 * for the caller to read). What was copied before a failure stays. When
 * this returns, qemu-nbd and the child are gone and so is the socket. */
int diskfiles_copy(const struct diskfiles_spec *s, struct error *e);
