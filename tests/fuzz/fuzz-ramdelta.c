/* Files from the store that anyone who can write it (or a tampered copy)
 * controls, read before QEMU sees them: a build layer's memory.delta
 * (snapshots/ramdelta.c) and a disk's qcow2 header (runner/lib/qcow2.c).
 * A delta that opens is read span by span: only the pages its bitmap
 * holds change, the rest of the RAM stays as it was; a backing name that
 * is read is at most 1023 bytes, with no NUL in it. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../runner/lib/qcow2.h"
#include "../../snapshots/ramdelta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPAN (RAM_DELTA_SPAN * RAM_PAGE)

static void read_all(struct ram_delta *d)
{
	static char buf[SPAN];
	for (uint64_t off = 0; off < d->size; off += SPAN) {
		size_t len = d->size - off < SPAN ? (size_t)(d->size - off) : SPAN;
		memset(buf, 0x5a, len);
		bool any = false;
		if (ram_delta_read(d, off, len, buf, &any) < 0)
			return;
		size_t same = 0;
		for (size_t i = 0; i < len; i++)
			same += buf[i] == 0x5a;
		if (!any && same != len)
			abort(); /* nothing held, yet the RAM changed */
	}
	if (d->rank != d->pages)
		abort(); /* read whole, every page held was used */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0 || write_full(fd, data, size) < 0)
		abort();
	struct ram_delta d;
	if (ram_delta_open(fd, &d) == 0)
		read_all(&d);
	char *name = NULL;
	if (qcow2_backing(fd, &name) == 0 && name && (strlen(name) > 1023 || !*name))
		abort();
	free(name);
	close(fd);
	return 0;
}
