/* The blob cache: an OCI image layout that skopeo reads and writes. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "../runner/lib/digest.h"
#include "ocilayout.h"

#define INDEX_MAX (4u << 20)
#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"

int oci_digest_check(const char *digest)
{
	if (strlen(digest) != OCI_DIGEST_LEN || strncmp(digest, "sha256:", 7))
		return -EINVAL;
	for (const char *p = digest + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EINVAL;
	return 0;
}

int oci_digest_of(const void *data, size_t n, char out[static OCI_DIGEST_LEN + 1])
{
	_cleanup_(digest_freep) struct digest *d = NULL;
	char hex[DIGEST_HEX_LEN + 1];
	int r = digest_new(&d);
	if (r < 0)
		return r;
	digest_add(d, data, n);
	if ((r = digest_end(d, hex)) < 0)
		return r;
	snprintf(out, OCI_DIGEST_LEN + 1, "sha256:%s", hex);
	return 0;
}

/* blobs/sha256 read from its start, through a descriptor of its own;
 * NULL with errno set. */
static DIR *blobs_dir(int blobs_fd)
{
	int fd = dup(blobs_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int k = errno;
		if (fd >= 0)
			close(fd);
		errno = k;
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* A copy killed mid-blob leaves its temporary file; only digests stay. */
static void blobs_sweep(int blobs_fd)
{
	DIR *d = blobs_dir(blobs_fd);
	if (!d)
		return;
	char name[OCI_DIGEST_LEN + 1] = "sha256:";
	for (struct dirent *de; (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		bool ok = strlen(de->d_name) == DIGEST_HEX_LEN;
		if (ok) {
			memcpy(name + 7, de->d_name, DIGEST_HEX_LEN + 1);
			ok = oci_digest_check(name) == 0;
		}
		if (!ok)
			unlinkat(blobs_fd, de->d_name, 0);
	}
	closedir(d);
}

static int layout_make(struct oci_layout *l)
{
	_cleanup_free_ char *marker = path_join(l->dir, "oci-layout"), *index = path_join(l->dir, "index.json"),
			    *blobs = path_join(l->dir, "blobs/sha256");
	if (!marker || !index || !blobs)
		return -ENOMEM;
	int r = mkdir_p(blobs, 0700);
	if (r < 0)
		return r;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	static const char empty[] = "{\"schemaVersion\":2,\"manifests\":[]}";
	if (!file_exists(marker) && (r = write_file_atomic(marker, layout, strlen(layout), 0600)) < 0)
		return r;
	if (!file_exists(index) && (r = write_file_atomic(index, empty, strlen(empty), 0600)) < 0)
		return r;
	l->blobs_fd = open(blobs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return l->blobs_fd < 0 ? -errno : 0;
}

int oci_layout_lock_fd(struct store *s, int *ret_fd)
{
	int r = store_area_make(s, STORE_OCI);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = store_path(s, STORE_OCI, NULL, NULL);
	if (!dir)
		return -ENOMEM;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int oci_layout_open_locked(struct store *s, int lock_fd, struct oci_layout **ret)
{
	_cleanup_(oci_layout_freep) struct oci_layout *l = calloc(1, sizeof *l);
	if (!l) {
		close(lock_fd);
		return -ENOMEM;
	}
	l->blobs_fd = -1;
	l->lock_fd = lock_fd;
	if (!(l->dir = store_path(s, STORE_OCI, NULL, NULL)))
		return -ENOMEM;
	int r = layout_make(l);
	if (r < 0)
		return r;
	blobs_sweep(l->blobs_fd);
	*ret = TAKE_PTR(l);
	return 0;
}

int oci_layout_open(struct store *s, struct oci_layout **ret)
{
	int fd, r = oci_layout_lock_fd(s, &fd);
	if (r < 0)
		return r;
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			r = -errno;
			close(fd);
			return r;
		}
	return oci_layout_open_locked(s, fd, ret);
}

struct oci_layout *oci_layout_free(struct oci_layout *l)
{
	if (!l)
		return NULL;
	if (l->blobs_fd >= 0)
		close(l->blobs_fd);
	if (l->lock_fd >= 0)
		close(l->lock_fd);
	free(l->dir);
	free(l);
	return NULL;
}

bool oci_blob_exists(struct oci_layout *l, const char *digest)
{
	struct stat st;
	return oci_digest_check(digest) == 0 && fstatat(l->blobs_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

int oci_blob_put(struct oci_layout *l, const void *data, size_t n, char ret_digest[static OCI_DIGEST_LEN + 1])
{
	char digest[OCI_DIGEST_LEN + 1];
	int r = oci_digest_of(data, n, digest);
	if (r < 0)
		return r;
	if (!oci_blob_exists(l, digest)) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/blobs/sha256/%s", l->dir, digest + 7) < 0)
			return -ENOMEM;
		if ((r = write_file_atomic(path, data, n, 0600)) < 0)
			return r;
	}
	memcpy(ret_digest, digest, sizeof digest);
	return 0;
}

int oci_blob_read(struct oci_layout *l, const char *digest, uint64_t size, size_t max, void **ret)
{
	if (oci_digest_check(digest) < 0)
		return -EINVAL;
	if (size > max)
		return -EFBIG;
	_cleanup_close_ int fd = openat(l->blobs_fd, digest + 7, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	char have[OCI_DIGEST_LEN + 1];
	_cleanup_free_ char *buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	ssize_t k = S_ISREG(st.st_mode) && (uint64_t)st.st_size == size ? pread_retry(fd, buf, size, 0) : -EBADMSG;
	int r = k < 0 ? (int)k : (uint64_t)k != size ? -EBADMSG : oci_digest_of(buf, size, have);
	if (r == 0 && strcmp(have, digest))
		r = -EBADMSG;
	if (r == -EBADMSG)
		unlinkat(l->blobs_fd, digest + 7, 0);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(buf);
	return 0;
}

int oci_layout_narrow(struct oci_layout *l)
{
	DIR *d = blobs_dir(l->blobs_fd);
	if (!d)
		return -errno;
	int r = 0;
	for (struct dirent *de; (de = readdir(d));)
		if (de->d_name[0] != '.' && fchmodat(l->blobs_fd, de->d_name, 0600, 0) < 0 && errno != ENOENT)
			r = -errno;
	closedir(d);
	_cleanup_free_ char *index = path_join(l->dir, "index.json");
	if (!index)
		return -ENOMEM;
	return chmod(index, 0600) < 0 && r == 0 ? -errno : r;
}

int oci_blob_count(struct oci_layout *l, size_t *ret)
{
	DIR *d = blobs_dir(l->blobs_fd);
	if (!d)
		return -errno;
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	*ret = n;
	return 0;
}

/* Bytes of the regular files in d; closes d. */
static uint64_t dir_bytes(DIR *d)
{
	uint64_t n = 0;
	struct stat st;
	for (struct dirent *de; (de = readdir(d));)
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			n += (uint64_t)st.st_size;
	closedir(d);
	return n;
}

int oci_layout_bytes(struct oci_layout *l, uint64_t *ret)
{
	DIR *blobs = blobs_dir(l->blobs_fd), *top = blobs ? opendir(l->dir) : NULL;
	if (!top) {
		int k = errno;
		if (blobs)
			closedir(blobs);
		return -k;
	}
	*ret = dir_bytes(blobs) + dir_bytes(top);
	return 0;
}

static int index_read(struct oci_layout *l, json_object **ret)
{
	_cleanup_free_ char *path = path_join(l->dir, "index.json"), *text = NULL;
	if (!path)
		return -ENOMEM;
	size_t n;
	int r = read_file_untrusted(path, INDEX_MAX, &text, &n);
	if (r < 0)
		return r;
	json_object *o = json_tokener_parse(text), *m;
	if (!o || !json_object_object_get_ex(o, "manifests", &m) || !json_object_is_type(m, json_type_array)) {
		json_object_put(o);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

static const char *entry_tag(json_object *entry)
{
	json_object *a, *t;
	if (!json_object_object_get_ex(entry, "annotations", &a) || !json_object_object_get_ex(a, REF_NAME, &t))
		return NULL;
	return json_object_get_string(t);
}

int oci_tag_set(struct oci_layout *l, const char *tag, const char *digest, uint64_t size)
{
	json_object *o = NULL;
	int r = index_read(l, &o);
	if (r < 0)
		return r;
	json_object *old = json_object_object_get(o, "manifests"), *list = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(old); i++) {
		json_object *e = json_object_array_get_idx(old, i);
		const char *t = entry_tag(e);
		if (!t || strcmp(t, tag))
			json_object_array_add(list, json_object_get(e));
	}
	json_object *e = json_object_new_object(), *a = json_object_new_object();
	json_object_object_add(e, "mediaType", json_object_new_string(MANIFEST_TYPE));
	json_object_object_add(e, "digest", json_object_new_string(digest));
	json_object_object_add(e, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(a, REF_NAME, json_object_new_string(tag));
	json_object_object_add(e, "annotations", a);
	json_object_array_add(list, e);
	json_object_object_add(o, "manifests", list);
	_cleanup_free_ char *path = path_join(l->dir, "index.json");
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = path ? write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
	json_object_put(o);
	return r;
}

int oci_tag_get(struct oci_layout *l, const char *tag, char ret_digest[static OCI_DIGEST_LEN + 1], uint64_t *ret_size)
{
	json_object *o = NULL;
	int r = index_read(l, &o);
	if (r < 0)
		return r;
	json_object *list = json_object_object_get(o, "manifests");
	r = -ENOENT;
	for (size_t i = 0; r == -ENOENT && i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *d, *n;
		const char *t = entry_tag(e);
		if (!t || strcmp(t, tag))
			continue;
		if (!json_object_object_get_ex(e, "digest", &d) || !json_object_object_get_ex(e, "size", &n) ||
		    oci_digest_check(json_object_get_string(d)) < 0 || json_object_get_int64(n) <= 0)
			r = -EBADMSG;
		else {
			memcpy(ret_digest, json_object_get_string(d), OCI_DIGEST_LEN + 1);
			*ret_size = (uint64_t)json_object_get_int64(n);
			r = 0;
		}
	}
	json_object_put(o);
	return r;
}

static bool strv_contains(char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

void oci_gc_release(struct oci_gc *g)
{
	strv_free(g->removed);
	strv_free(g->dropped);
	*g = (struct oci_gc){0};
}

int oci_index_digests(struct oci_layout *l, char ***ret)
{
	json_object *o = NULL;
	int r = index_read(l, &o);
	if (r < 0)
		return r;
	json_object *list = json_object_object_get(o, "manifests"), *d;
	char **v = calloc(1, sizeof *v);
	for (size_t i = 0; v && i < json_object_array_length(list); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(list, i), "digest", &d) &&
		    oci_digest_check(json_object_get_string(d)) == 0)
			v = strv_append(v, json_object_get_string(d));
	json_object_put(o);
	if (!v)
		return -ENOMEM;
	*ret = v;
	return 0;
}

int oci_manifest_read(struct oci_layout *l, const char *digest, json_object **ret)
{
	struct stat st;
	if (oci_digest_check(digest) < 0)
		return -EINVAL;
	if (fstatat(l->blobs_fd, digest + 7, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	_cleanup_free_ char *text = NULL;
	int r = oci_blob_read(l, digest, (uint64_t)st.st_size, OCI_MANIFEST_MAX, (void **)&text);
	if (r < 0)
		return r;
	struct json_tokener *tok = json_tokener_new();
	json_object *o = tok ? json_tokener_parse_ex(tok, text, (int)st.st_size) : NULL;
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

/* A manifest and the blobs it names (config, layers) appended to v. */
static char **manifest_refs(struct oci_layout *l, const char *digest, char **v)
{
	json_object *m = NULL, *d;
	if (oci_manifest_read(l, digest, &m) < 0)
		return v; /* gone or damaged: nothing of it can be used */
	v = strv_append(v, digest);
	json_object *config = json_object_object_get(m, "config"), *layers = json_object_object_get(m, "layers");
	if (v && json_object_object_get_ex(config, "digest", &d) && oci_digest_check(json_object_get_string(d)) == 0)
		v = strv_append(v, json_object_get_string(d));
	for (size_t i = 0; v && i < json_object_array_length(layers); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(layers, i), "digest", &d) &&
		    oci_digest_check(json_object_get_string(d)) == 0)
			v = strv_append(v, json_object_get_string(d));
	json_object_put(m);
	return v;
}

/* index.json without the entries whose manifest is not in keep. */
static int index_keep(struct oci_layout *l, char *const *keep, char ***dropped)
{
	json_object *o = NULL, *d;
	int r = index_read(l, &o);
	if (r < 0)
		return r;
	json_object *old = json_object_object_get(o, "manifests"), *list = json_object_new_array();
	for (size_t i = 0; r == 0 && i < json_object_array_length(old); i++) {
		json_object *e = json_object_array_get_idx(old, i);
		const char *digest = json_object_object_get_ex(e, "digest", &d) ? json_object_get_string(d) : "";
		if (strv_contains(keep, digest))
			json_object_array_add(list, json_object_get(e));
		else if (!(*dropped = strv_append(*dropped, entry_tag(e) ? entry_tag(e) : digest)))
			r = -ENOMEM;
	}
	bool changed = json_object_array_length(old) != json_object_array_length(list);
	json_object_object_add(o, "manifests", list);
	_cleanup_free_ char *path = path_join(l->dir, "index.json");
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (r == 0 && changed)
		r = path ? write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
	json_object_put(o);
	return r;
}

int oci_layout_gc(struct oci_layout *l, char *const *keep, struct oci_gc *ret)
{
	struct oci_gc g = {.removed = calloc(1, sizeof(char *)), .dropped = calloc(1, sizeof(char *))};
	_cleanup_strv_free_ char **blobs = calloc(1, sizeof(char *));
	for (char *const *k = keep; blobs && k && *k; k++)
		blobs = manifest_refs(l, *k, blobs);
	/* The index first: stopped between the two, the blobs left are ones
	 * nothing names, and the next gc removes them. */
	int r = !blobs || !g.removed || !g.dropped ? -ENOMEM : index_keep(l, keep, &g.dropped);
	DIR *d = r == 0 ? blobs_dir(l->blobs_fd) : NULL;
	if (r == 0 && !d)
		r = -errno;
	char digest[OCI_DIGEST_LEN + 1] = "sha256:";
	for (struct dirent *de; r == 0 && (de = readdir(d));) {
		struct stat st;
		if (de->d_name[0] == '.' || strlen(de->d_name) != OCI_DIGEST_LEN - 7)
			continue;
		memcpy(digest + 7, de->d_name, OCI_DIGEST_LEN - 7 + 1);
		if (strv_contains(blobs, digest) || fstatat(l->blobs_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (unlinkat(l->blobs_fd, de->d_name, 0) < 0)
			r = errno == ENOENT ? 0 : -errno;
		else if (!(g.removed = strv_append(g.removed, digest)))
			r = -ENOMEM;
		else
			g.bytes += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	if (r < 0) {
		oci_gc_release(&g);
		return r;
	}
	*ret = g;
	return 0;
}
