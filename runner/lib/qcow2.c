/* The qcow2 header (QEMU's docs/interop/qcow2.txt): big-endian fields,
 *   0  magic "QFI\xfb"       4  version (2 or 3)
 *   8  backing file offset  16  backing file name length
 *  20  cluster bits         72  incompatible features (version 3)
 * An external data file is incompatible feature bit 2; its name is in a
 * header extension QEMU reads only when that bit is set. QEMU refuses a
 * backing name over 1023 bytes and one that does not sit in the first
 * cluster; so does this. */
#define _GNU_SOURCE
#include <endian.h>
#include <string.h>

#include "qcow2.h"

#define HEAD_V3 104
#define BACKING_MAX 1023
#define INCOMPAT_DATA_FILE (1ull << 2)

static uint64_t be64_at(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

static uint32_t be32_at(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}

int qcow2_backing(int fd, char **ret_backing)
{
	unsigned char h[HEAD_V3];
	ssize_t k = pread_retry(fd, h, sizeof h, 0);
	if (k < 0)
		return (int)k;
	if (k < 72 || memcmp(h, "QFI\xfb", 4))
		return -EBADMSG;
	uint32_t version = be32_at(h + 4), len = be32_at(h + 16), cluster_bits = be32_at(h + 20);
	uint64_t off = be64_at(h + 8);
	if (version < 2 || version > 3 || cluster_bits < 9 || cluster_bits > 21)
		return -EBADMSG;
	if (version == 3 && (k < HEAD_V3 || be64_at(h + 72) & INCOMPAT_DATA_FILE))
		return -EBADMSG;
	if (!off) {
		*ret_backing = NULL;
		return 0;
	}
	if (!len || len > BACKING_MAX || off > (1ull << cluster_bits) - len)
		return -EBADMSG;
	_cleanup_free_ char *name = malloc(len + 1);
	if (!name)
		return -ENOMEM;
	if ((k = pread_retry(fd, name, len, (off_t)off)) < 0)
		return (int)k;
	if ((size_t)k != len || memchr(name, '\0', len))
		return -EBADMSG;
	name[len] = '\0';
	*ret_backing = TAKE_PTR(name);
	return 0;
}
