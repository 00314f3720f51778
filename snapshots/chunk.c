/* Store files as chunked, compressed blobs, and back. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "chunk.h"

/* zstd's default: fast enough to keep up with a disk, and the same bytes
 * always make the same blob with one libzstd. */
#define CHUNK_ZSTD_LEVEL 3

static bool all_zero(const unsigned char *p, size_t n) { return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1)); }

static void annotate(json_object *a, const char *key, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	json_object_object_add(a, key, json_object_new_string(buf));
}

static int chunk_put(struct oci_layout *l, const void *data, size_t n, uint64_t offset, const char *name,
		     json_object *layers)
{
	size_t cap = ZSTD_compressBound(n);
	_cleanup_free_ void *z = malloc(cap);
	char digest[OCI_DIGEST_LEN + 1], udigest[OCI_DIGEST_LEN + 1];
	if (!z)
		return -ENOMEM;
	size_t zn = ZSTD_compress(z, cap, data, n, CHUNK_ZSTD_LEVEL);
	if (ZSTD_isError(zn))
		return -EIO;
	int r = oci_digest_of(data, n, udigest);
	if (r < 0 || (r = oci_blob_put(l, z, zn, digest)) < 0)
		return r;
	json_object *layer = json_object_new_object(), *a = json_object_new_object();
	json_object_object_add(layer, "mediaType", json_object_new_string(CHUNK_MEDIA_TYPE));
	json_object_object_add(layer, "digest", json_object_new_string(digest));
	json_object_object_add(layer, "size", json_object_new_int64((int64_t)zn));
	json_object_object_add(a, CHUNK_ANN_FILE, json_object_new_string(name));
	annotate(a, CHUNK_ANN_OFFSET, offset);
	annotate(a, CHUNK_ANN_SIZE, n);
	json_object_object_add(a, CHUNK_ANN_DIGEST, json_object_new_string(udigest));
	json_object_object_add(layer, "annotations", a);
	json_object_array_add(layers, layer);
	return 0;
}

int chunk_file_put(struct oci_layout *l, int fd, const char *name, json_object *layers, json_object **ret_entry)
{
	_cleanup_free_ unsigned char *buf = malloc(CHUNK_SIZE);
	if (!buf)
		return -ENOMEM;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	json_object *zero = json_object_new_array();
	uint64_t off = 0;
	int r = 0;
	for (uint64_t i = 0;; i++, off += CHUNK_SIZE) {
		ssize_t k = 0, got;
		while ((uint64_t)k < CHUNK_SIZE &&
		       (got = pread_retry(fd, buf + k, CHUNK_SIZE - (size_t)k, (off_t)(off + (uint64_t)k))) > 0)
			k += got;
		/* A read error is one, not the file's end. */
		if (got < 0 && (uint64_t)k < CHUNK_SIZE) {
			r = (int)got;
			break;
		}
		if (k == 0)
			break;
		if (all_zero(buf, (size_t)k))
			json_object_array_add(zero, json_object_new_int64((int64_t)i));
		else if ((r = chunk_put(l, buf, (size_t)k, off, name, layers)) < 0)
			break;
		if (l->chunk_progress)
			l->chunk_progress(l->chunk_progress_data, name, off + (uint64_t)k, (uint64_t)st.st_size);
		if ((uint64_t)k < CHUNK_SIZE) {
			off += (uint64_t)k;
			break;
		}
	}
	if (r < 0) {
		json_object_put(zero);
		return r;
	}
	json_object *entry = json_object_new_object();
	json_object_object_add(entry, "size", json_object_new_int64((int64_t)off));
	json_object_object_add(entry, "zero", zero);
	*ret_entry = entry;
	return 0;
}

static const char *ann(json_object *a, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(a, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* A decimal of at most 19 digits, no sign, no leading zero. */
static int parse_u64(const char *s, uint64_t *ret)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 19 || (n > 1 && s[0] == '0') || strspn(s, "0123456789") != n)
		return -EBADMSG;
	*ret = strtoull(s, NULL, 10);
	return 0;
}

int chunk_parse(json_object *layer, struct chunk *ret)
{
	json_object *t, *d, *n, *a;
	if (!json_object_object_get_ex(layer, "mediaType", &t) || !json_object_object_get_ex(layer, "digest", &d) ||
	    !json_object_object_get_ex(layer, "size", &n) || !json_object_object_get_ex(layer, "annotations", &a) ||
	    !json_object_is_type(n, json_type_int) || !json_object_is_type(a, json_type_object))
		return -EBADMSG;
	struct chunk c = {
		.file = ann(a, CHUNK_ANN_FILE),
		.digest = json_object_get_string(d),
		.udigest = ann(a, CHUNK_ANN_DIGEST),
	};
	int64_t bs = json_object_get_int64(n);
	if (strcmp(json_object_get_string(t), CHUNK_MEDIA_TYPE) || !c.file || !c.udigest ||
	    oci_digest_check(c.digest) < 0 || oci_digest_check(c.udigest) < 0 || bs <= 0 ||
	    (uint64_t)bs > ZSTD_compressBound(CHUNK_SIZE) || parse_u64(ann(a, CHUNK_ANN_OFFSET), &c.offset) < 0 ||
	    parse_u64(ann(a, CHUNK_ANN_SIZE), &c.size) < 0 || c.offset % CHUNK_SIZE || c.size == 0 ||
	    c.size > CHUNK_SIZE)
		return -EBADMSG;
	c.blob_size = (uint64_t)bs;
	*ret = c;
	return 0;
}

int chunk_restore(struct oci_layout *l, const struct chunk *c, int fd)
{
	_cleanup_free_ void *z = NULL, *out = malloc(c->size);
	if (!out)
		return -ENOMEM;
	int r = oci_blob_read(l, c->digest, c->blob_size, ZSTD_compressBound(CHUNK_SIZE), &z);
	if (r < 0)
		return r;
	/* The frame says its size; it must be the one the layer says. */
	unsigned long long fs = ZSTD_getFrameContentSize(z, c->blob_size);
	if (fs != c->size)
		return -EBADMSG;
	size_t k = ZSTD_decompress(out, c->size, z, c->blob_size);
	char have[OCI_DIGEST_LEN + 1];
	if (ZSTD_isError(k) || k != c->size)
		return -EBADMSG;
	if ((r = oci_digest_of(out, k, have)) < 0)
		return r;
	if (strcmp(have, c->udigest))
		return -EBADMSG;
	return pwrite_full(fd, out, k, (off_t)c->offset);
}
