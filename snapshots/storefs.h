/* What the store's filesystem can do for snapshots, found by trying it on
 * files with no name: reflinks (copies of RAM files and disks are clones),
 * how fine its holes are (sparse RAM files), its room. `osrun doctor`
 * judges these; `osrun host-info` reports them. */
#pragma once
#include "store.h"

struct storefs {
	const char *fs; /* "ext4", "xfs", ..., "another filesystem" */
	int reflink;	/* 0: FICLONE works; else the negative errno it failed with */
	int64_t hole;	/* bytes SEEK_HOLE sees around one written page; -1: cannot tell */
	int hole_err;	/* why it cannot tell (negative errno), with hole -1 */
	uint64_t free;	/* bytes an unprivileged user may still write */
	uint64_t total; /* the filesystem's size */
	int space_err;	/* statvfs failed (negative errno): free and total are 0 */
};

/* Fills ret for the open store s. Fails only with -ENOMEM: a probe that
 * cannot tell says so in its own field. */
int storefs_probe(struct store *s, struct storefs *ret);
