/* A guest's disk as the partition table reader sees it (parttable.c): the
 * input is the whole disk. What it finds must lie on the disk and begin
 * with an NTFS boot sector; no read may leave the disk. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/lib/parttable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct disk {
	const uint8_t *p;
	size_t n;
};

static int disk_read(void *u, void *buf, size_t n, uint64_t off)
{
	const struct disk *d = u;
	if (off > d->n || n > d->n - off)
		abort();
	memcpy(buf, d->p + off, n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct disk d = {data, size};
	struct disk_reader r = {.read = disk_read, .userdata = &d, .size = size};
	uint64_t off = 0, len = 0;
	if (parttable_find_ntfs(&r, &off, &len) < 0)
		return 0;
	if (off > size || len > size - off || len < 512 || memcmp(data + off + 3, "NTFS    ", 8))
		abort();
	return 0;
}
