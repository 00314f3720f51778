/* Disks' backing chains in the store (backing.c). A disk names its backing
 * file in its own header, so a tampered entry could name any file on the
 * host (or a json: description of one), and qemu-img and QEMU would open
 * it for the guest to read. */
#pragma once
#include "snapshot.h"

/* Checks the disks under snapshot sn's, down to its image's: each names
 * exactly what store_disk_backing() makes for its parent's disk (or its
 * image's, for a snapshot without a parent), and the image's disk names
 * none. Every entry on the way is a directory and every disk a regular
 * file, not a link. -EBADMSG (or the error opening it) with *ret_bad the
 * entry that is wrong, as "snapshots/NAME" or "images/ID". */
int snapshot_backing_check(struct store *s, const struct snapshot *sn, char **ret_bad);
/* The same for an image's disk alone. */
int image_backing_check(struct store *s, const char *image, char **ret_bad);
