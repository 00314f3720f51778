/* Where the Windows volume is on a guest's disk: the largest partition a
 * GPT calls Basic data (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7) or an MBR
 * types 0x07, whose boot sector says NTFS; or the whole disk when its first
 * sector is an NTFS boot sector. The disk is the guest's, so untrusted:
 * every count and offset in it is bounded by the disk's size. */
#pragma once
#include "util.h"

/* A disk read through a callback (libnbd in diskfiles.c, a plain file in
 * the tests): read fills all n bytes at off or returns a negative errno. */
struct disk_reader {
	int (*read)(void *userdata, void *buf, size_t n, uint64_t off);
	void *userdata;
	uint64_t size;
};

/* The volume's byte offset and length. -ENOENT: no NTFS volume on it;
 * other negative errnos are the reader's. */
int parttable_find_ntfs(const struct disk_reader *d, uint64_t *ret_offset, uint64_t *ret_size);
