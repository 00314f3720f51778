/* The RAM delta file. Holes play no part in it: a filesystem allocates in
 * blocks of its own (2 MiB on tmpfs with huge=always, 64 KiB on XFS with
 * such blocks, a record on ZFS; NFSv3 has no SEEK_HOLE at all), and the
 * unwritten rest of a block reads as zeros that would pass for the
 * guest's. So the file says which pages it holds:
 *
 *   0     "osrunRD1"
 *   8     the RAM's size in bytes (little-endian, 64 bits)
 *   16    the number of pages held (the same)
 *   24    the bitmap: page i is bit i % 8 (from the low bit) of byte i / 8
 *   DATA  the pages held, in order; DATA is the bitmap's end rounded up to
 *         a page, and the file ends after the last page
 *
 * The store is read as untrusted as anything else: every field is checked
 * against the others before a page is read. */
#define _GNU_SOURCE
#include <endian.h>
#include <string.h>
#include <sys/stat.h>

#include "ramdelta.h"

#define MAGIC "osrunRD1"
#define HEAD 24
#define RAM_MAX ((uint64_t)1 << 40) /* osrun's --memory allows 1 TiB */

static uint64_t bitmap_bytes(uint64_t size) { return (size / RAM_PAGE + 7) / 8; }

static off_t data_at(uint64_t size)
{
	return (off_t)((HEAD + bitmap_bytes(size) + RAM_PAGE - 1) & ~(uint64_t)(RAM_PAGE - 1));
}

static bool bit(const unsigned char *b, size_t i) { return b[i / 8] >> (i % 8) & 1; }

static int pread_exact(int fd, void *buf, size_t n, off_t off)
{
	ssize_t k = pread_retry(fd, buf, n, off);
	return k < 0 ? (int)k : (size_t)k == n ? 0 : -EBADMSG;
}

/* The pages the bitmap holds; a bit past the last page is damage. */
static int bitmap_count(int fd, uint64_t size, uint64_t *ret)
{
	unsigned char b[4096];
	uint64_t total = bitmap_bytes(size), n = 0;
	for (uint64_t at = 0; at < total;) {
		size_t len = total - at < sizeof b ? (size_t)(total - at) : sizeof b;
		int r = pread_exact(fd, b, len, HEAD + (off_t)at);
		if (r < 0)
			return r;
		for (size_t i = 0; i < len; i++)
			n += (uint64_t)__builtin_popcount(b[i]);
		at += len;
		if (at == total && (size / RAM_PAGE) % 8 && b[len - 1] >> (size / RAM_PAGE) % 8)
			return -EBADMSG;
	}
	*ret = n;
	return 0;
}

int ram_delta_open(int fd, struct ram_delta *ret)
{
	unsigned char head[HEAD];
	uint64_t size, pages, counted;
	struct stat st;
	int r = pread_exact(fd, head, HEAD, 0);
	if (r < 0)
		return r;
	if (memcmp(head, MAGIC, 8))
		return -EBADMSG;
	memcpy(&size, head + 8, 8);
	memcpy(&pages, head + 16, 8);
	size = le64toh(size);
	pages = le64toh(pages);
	if (!size || size > RAM_MAX || size % RAM_PAGE || pages > size / RAM_PAGE)
		return -EBADMSG;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size != (uint64_t)data_at(size) + pages * RAM_PAGE)
		return -EBADMSG;
	if ((r = bitmap_count(fd, size, &counted)) < 0)
		return r;
	if (counted != pages)
		return -EBADMSG;
	*ret = (struct ram_delta){.fd = fd, .size = size, .pages = pages, .data = data_at(size)};
	return 0;
}

/* A span's bitmap bytes: checks its bounds, reads them. */
static int span_bits(int fd, uint64_t size, uint64_t off, size_t len, unsigned char *b)
{
	if (off % (8 * RAM_PAGE) || len % RAM_PAGE || len / RAM_PAGE > RAM_DELTA_SPAN || off + len > size)
		return -EINVAL;
	return pread_exact(fd, b, (len / RAM_PAGE + 7) / 8, HEAD + (off_t)(off / RAM_PAGE / 8));
}

int ram_delta_read(struct ram_delta *d, uint64_t off, size_t len, char *buf, bool *ret_any)
{
	unsigned char b[RAM_DELTA_SPAN / 8];
	int r = span_bits(d->fd, d->size, off, len, b);
	if (r < 0)
		return r;
	if (off != d->next) { /* out of order: the rank counted afresh */
		unsigned char c[RAM_DELTA_SPAN / 8];
		d->rank = 0;
		for (uint64_t at = 0; at < off; at += RAM_DELTA_SPAN * RAM_PAGE) {
			size_t l =
				off - at < RAM_DELTA_SPAN * RAM_PAGE ? (size_t)(off - at) : RAM_DELTA_SPAN * RAM_PAGE;
			if ((r = span_bits(d->fd, d->size, at, l, c)) < 0)
				return r;
			for (size_t i = 0; i < l / RAM_PAGE; i++)
				d->rank += bit(c, i);
		}
	}
	size_t n = len / RAM_PAGE, held = 0;
	for (size_t i = 0; i < n;) {
		size_t k = i;
		while (k < n && bit(b, k))
			k++;
		if (k == i) {
			i++;
			continue;
		}
		if (d->rank + held + (k - i) > d->pages)
			return -EBADMSG;
		r = pread_exact(d->fd, buf + i * RAM_PAGE, (k - i) * RAM_PAGE,
				d->data + (off_t)((d->rank + held) * RAM_PAGE));
		if (r < 0)
			return r;
		held += k - i;
		i = k;
	}
	d->rank += held;
	d->next = off + len;
	*ret_any = held > 0;
	return 0;
}

int ram_delta_begin(int fd, uint64_t size, struct ram_delta_writer *ret)
{
	if (!size || size > RAM_MAX || size % RAM_PAGE)
		return -EINVAL;
	/* The bitmap starts as zeros: nothing held. */
	if (ftruncate(fd, data_at(size)) < 0)
		return -errno;
	*ret = (struct ram_delta_writer){.fd = fd, .size = size, .data = data_at(size)};
	return 0;
}

int ram_delta_add(struct ram_delta_writer *w, uint64_t off, size_t len, const char *buf, const bool *keep)
{
	unsigned char b[RAM_DELTA_SPAN / 8] = {0};
	size_t n = len / RAM_PAGE;
	if (off < w->next || off % (8 * RAM_PAGE) || len % RAM_PAGE || n > RAM_DELTA_SPAN || off + len > w->size)
		return -EINVAL;
	for (size_t i = 0; i < n;) {
		size_t k = i;
		for (; k < n && keep[k]; k++)
			b[k / 8] |= (unsigned char)(1u << (k % 8));
		if (k == i) {
			i++;
			continue;
		}
		int r = pwrite_full(w->fd, buf + i * RAM_PAGE, (k - i) * RAM_PAGE,
				    w->data + (off_t)(w->pages * RAM_PAGE));
		if (r < 0)
			return r;
		w->pages += k - i;
		i = k;
	}
	w->next = off + len;
	static const unsigned char none[RAM_DELTA_SPAN / 8];
	size_t nb = (n + 7) / 8;
	return memcmp(b, none, nb) ? pwrite_full(w->fd, b, nb, HEAD + (off_t)(off / RAM_PAGE / 8)) : 0;
}

int ram_delta_end(struct ram_delta_writer *w)
{
	unsigned char head[HEAD];
	uint64_t size = htole64(w->size), pages = htole64(w->pages);
	memcpy(head, MAGIC, 8);
	memcpy(head + 8, &size, 8);
	memcpy(head + 16, &pages, 8);
	return pwrite_full(w->fd, head, HEAD, 0);
}
