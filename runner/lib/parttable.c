/* The layouts read here, as the UEFI spec (5.2, 5.3) has them:
 *   MBR, sector 0: four 16-byte entries at 446 (type at 4, first sector
 *     and sector count, little-endian, at 8 and 12), 0x55 0xAA at 510;
 *     type 0xEE is GPT's protective entry.
 *   GPT header, sector 1: "EFI PART", entries' first LBA at 72, their
 *     count at 80 and size at 84; an entry has its type GUID at 0 (the
 *     first three fields little-endian), first and last LBA at 32 and 40.
 * An NTFS boot sector has "NTFS    " at 3. */
#define _GNU_SOURCE
#include "parttable.h"

#include <endian.h>
#include <string.h>

#define MBR_NTFS 0x07
#define MBR_GPT 0xee
/* Bounds on what a GPT header may ask us to read: the spec's minimum is
 * 128 entries of 128 bytes; a disk that claims more than 1 MiB of them is
 * not one osrun or Windows made. */
#define GPT_ENTRIES_MAX (1u << 20)
#define GPT_ENTRY_MAX 4096

static const unsigned char basic_data[16] = {0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44,
					     0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7};

static uint64_t le64_at(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t le32_at(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static int disk_read(const struct disk_reader *d, void *buf, size_t n, uint64_t off)
{
	if (off > d->size || n > d->size - off)
		return -ENOENT; /* what the table names is not on the disk */
	return d->read(d->userdata, buf, n, off);
}

/* The best so far: an NTFS volume larger than it replaces it. */
struct found {
	uint64_t offset, size;
};

static int consider(const struct disk_reader *d, uint64_t off, uint64_t size, struct found *best)
{
	unsigned char boot[512];
	if (size <= best->size || off > d->size || size > d->size - off || size < sizeof boot)
		return 0;
	int r = disk_read(d, boot, sizeof boot, off);
	if (r < 0)
		return r;
	if (!memcmp(boot + 3, "NTFS    ", 8))
		*best = (struct found){off, size};
	return 0;
}

static int gpt_scan(const struct disk_reader *d, unsigned ss, struct found *best)
{
	unsigned char h[92];
	int r = disk_read(d, h, sizeof h, ss);
	if (r < 0)
		return r;
	if (memcmp(h, "EFI PART", 8))
		return -ENOENT;
	uint64_t lba = le64_at(h + 72);
	uint32_t count = le32_at(h + 80), esize = le32_at(h + 84);
	if (esize < 128 || esize > GPT_ENTRY_MAX || esize % 8 || !count || count > GPT_ENTRIES_MAX / esize ||
	    lba > d->size / ss)
		return -ENOENT;
	_cleanup_free_ unsigned char *e = malloc((size_t)count * esize + 1);
	if (!e)
		return -ENOMEM;
	if ((r = disk_read(d, e, (size_t)count * esize, lba * ss)) < 0)
		return r;
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *p = e + (size_t)i * esize;
		uint64_t first = le64_at(p + 32), last = le64_at(p + 40);
		if (memcmp(p, basic_data, sizeof basic_data) || first > last || last >= d->size / ss)
			continue;
		if ((r = consider(d, first * ss, (last - first + 1) * ss, best)) < 0)
			return r;
	}
	return 0;
}

static int mbr_scan(const struct disk_reader *d, const unsigned char *s0, struct found *best)
{
	for (int i = 0; i < 4; i++) {
		const unsigned char *p = s0 + 446 + 16 * i;
		if (p[4] == MBR_GPT) {
			/* A GPT's sector size is whatever the disk's is; QEMU's
			 * virtual disks have 512 or 4096. */
			int r = gpt_scan(d, 512, best);
			return r == -ENOENT ? gpt_scan(d, 4096, best) : r;
		}
	}
	for (int i = 0; i < 4; i++) {
		const unsigned char *p = s0 + 446 + 16 * i;
		int r = p[4] == MBR_NTFS
				? consider(d, (uint64_t)le32_at(p + 8) * 512, (uint64_t)le32_at(p + 12) * 512, best)
				: 0;
		if (r < 0)
			return r;
	}
	return 0;
}

int parttable_find_ntfs(const struct disk_reader *d, uint64_t *ret_offset, uint64_t *ret_size)
{
	unsigned char s0[512];
	int r = disk_read(d, s0, sizeof s0, 0);
	if (r < 0)
		return r;
	struct found best = {0};
	/* An NTFS boot sector ends in 0x55 0xAA too, and its code could pass
	 * for partition entries: it is looked for first. */
	if (!memcmp(s0 + 3, "NTFS    ", 8))
		best = (struct found){0, d->size};
	else if (s0[510] == 0x55 && s0[511] == 0xaa && (r = mbr_scan(d, s0, &best)) < 0 && r != -ENOENT)
		return r;
	if (!best.size)
		return -ENOENT;
	*ret_offset = best.offset;
	*ret_size = best.size;
	return 0;
}
