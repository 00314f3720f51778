/* Pulled artifacts: the manifest checked, then the files made from their
 * chunks, every blob checked, under temporary names until all is there. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact.h"
#include "chunk.h"

#define ORIGIN_MAX (64u << 10)

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static int bad(char **ret_why, const char *what, const char *detail)
{
	if (asprintf(ret_why, "%s%s%s", what, detail ? ": " : "", detail ? detail : "") < 0)
		return -ENOMEM;
	return -EBADMSG;
}

static uint64_t chunks_of(uint64_t size) { return (size + CHUNK_SIZE - 1) / CHUNK_SIZE; }

/* Marks chunk i of a file's map once: a second time is a lie. */
static bool mark(json_object *entry, uint64_t i)
{
	unsigned char *map = json_object_get_userdata(entry);
	if (!map || i >= chunks_of((uint64_t)json_object_get_int64(json_object_object_get(entry, "size"))) || map[i])
		return false;
	map[i] = 1;
	return true;
}

static void map_free(json_object *o, void *p) { free(p); }

/* Each file: a known name, a size, zero chunks in range, once each. */
static int files_check(json_object *files, char **ret_why)
{
	if (!json_object_is_type(files, json_type_object))
		return bad(ret_why, "manifest", "no file list");
	json_object_object_foreach(files, name, entry)
	{
		json_object *size, *zero;
		if (!artifact_file_name_ok(name) || !json_object_is_type(entry, json_type_object) ||
		    !json_object_object_get_ex(entry, "size", &size) || !json_object_is_type(size, json_type_int) ||
		    json_object_get_int64(size) < 0 || (uint64_t)json_object_get_int64(size) > ARTIFACT_FILE_MAX ||
		    !json_object_object_get_ex(entry, "zero", &zero) || !json_object_is_type(zero, json_type_array))
			return bad(ret_why, "manifest: file", name);
		unsigned char *map = calloc(chunks_of((uint64_t)json_object_get_int64(size)) + 1, 1);
		if (!map)
			return -ENOMEM;
		json_object_set_userdata(entry, map, map_free);
		for (size_t i = 0; i < json_object_array_length(zero); i++) {
			json_object *z = json_object_array_get_idx(zero, i);
			if (!json_object_is_type(z, json_type_int) || json_object_get_int64(z) < 0 ||
			    !mark(entry, (uint64_t)json_object_get_int64(z)))
				return bad(ret_why, "manifest: zero chunks of", name);
		}
	}
	return 0;
}

/* Every layer a chunk of a listed file, and every chunk there once. */
static int layers_check(json_object *layers, json_object *files, char **ret_why)
{
	if (!json_object_is_type(layers, json_type_array))
		return bad(ret_why, "manifest", "no layers");
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		struct chunk c;
		json_object *entry;
		if (chunk_parse(json_object_array_get_idx(layers, i), &c) < 0 ||
		    !json_object_object_get_ex(files, c.file, &entry))
			return bad(ret_why, "manifest: a layer",
				   get_str(json_object_array_get_idx(layers, i), "digest"));
		uint64_t size = (uint64_t)json_object_get_int64(json_object_object_get(entry, "size"));
		uint64_t want = c.offset < size ? size - c.offset : 0;
		if (want > CHUNK_SIZE)
			want = CHUNK_SIZE;
		if (c.size != want || !mark(entry, c.offset / CHUNK_SIZE))
			return bad(ret_why, "manifest: layer", c.digest);
	}
	json_object_object_foreach(files, name, entry)
	{
		unsigned char *map = json_object_get_userdata(entry);
		uint64_t n = chunks_of((uint64_t)json_object_get_int64(json_object_object_get(entry, "size")));
		for (uint64_t k = 0; k < n; k++)
			if (!map[k])
				return bad(ret_why, "manifest: chunks missing for", name);
	}
	return 0;
}

static int config_read(struct oci_layout *l, json_object *m, struct artifact *a, char **ret_why)
{
	json_object *c, *n;
	const char *d;
	if (!json_object_object_get_ex(m, "config", &c) || !(d = get_str(c, "digest")) ||
	    strcmp(get_str(c, "mediaType") ?: "", ARTIFACT_CONFIG_TYPE) || !json_object_object_get_ex(c, "size", &n) ||
	    !json_object_is_type(n, json_type_int) || json_object_get_int64(n) <= 0)
		return bad(ret_why, "manifest", "not an osrun snapshot's config");
	void *text = NULL;
	int r = oci_blob_read(l, d, (uint64_t)json_object_get_int64(n), ARTIFACT_CONFIG_MAX - 1, &text);
	if (r == -EBADMSG || r == -EFBIG || r == -EINVAL)
		return bad(ret_why, "config blob", d);
	if (r < 0)
		return r;
	a->config_n = (size_t)json_object_get_int64(n);
	a->config = realloc(text, a->config_n + 1);
	if (!a->config)
		return free(text), -ENOMEM;
	a->config[a->config_n] = 0;
	if (strlen(a->config) != a->config_n || snapshot_meta_from_json(a->config, &a->meta) < 0 || !a->meta.image ||
	    snapshot_name_check(a->meta.image, NULL) < 0 ||
	    (a->meta.parent && snapshot_name_check(a->meta.parent, NULL) < 0))
		return bad(ret_why, "config blob", d);
	return 0;
}

int artifact_read(struct oci_layout *l, const char *digest, uint64_t size, struct artifact **ret, char **ret_why)
{
	_cleanup_(artifact_freep) struct artifact *a = calloc(1, sizeof *a);
	_cleanup_free_ char *text = NULL;
	if (!a)
		return -ENOMEM;
	int r = oci_blob_read(l, digest, size, ARTIFACT_MANIFEST_MAX - 1, (void **)&text);
	if (r == -EBADMSG || r == -EFBIG || r == -EINVAL)
		return bad(ret_why, "manifest blob", digest);
	if (r < 0)
		return r;
	snprintf(a->digest, sizeof a->digest, "%s", digest);
	_cleanup_free_ char *z = realloc(TAKE_PTR(text), size + 1);
	if (!z)
		return -ENOMEM;
	z[size] = 0;
	json_object *ann;
	a->manifest = json_tokener_parse(z);
	if (!a->manifest || strcmp(get_str(a->manifest, "mediaType") ?: "", ARTIFACT_MANIFEST_TYPE) ||
	    strcmp(get_str(a->manifest, "artifactType") ?: "", ARTIFACT_TYPE) ||
	    !json_object_object_get_ex(a->manifest, "annotations", &ann) ||
	    strcmp(get_str(ann, ARTIFACT_ANN_CHUNK_SIZE) ?: "", "67108864") || !get_str(ann, ARTIFACT_ANN_FILES))
		return bad(ret_why, "manifest",
			   "not an osrun snapshot (artifactType " ARTIFACT_TYPE ", 64 MiB chunks)");
	if ((r = config_read(l, a->manifest, a, ret_why)) < 0)
		return r;
	a->parent_digest = get_str(ann, ARTIFACT_ANN_PARENT);
	if (!a->parent_digest != !a->meta.parent || (a->parent_digest && oci_digest_check(a->parent_digest) < 0))
		return bad(ret_why, "manifest", "parent digest");
	a->files = json_tokener_parse(get_str(ann, ARTIFACT_ANN_FILES));
	if ((r = files_check(a->files, ret_why)) < 0 ||
	    (r = layers_check(json_object_object_get(a->manifest, "layers"), a->files, ret_why)) < 0)
		return r;
	json_object_object_foreach(a->files, name, entry)
	{
		(void)entry;
		a->has_image = a->has_image || !strncmp(name, ARTIFACT_IMAGE_PREFIX, strlen(ARTIFACT_IMAGE_PREFIX));
	}
	if (a->has_image && a->meta.parent)
		return bad(ret_why, "manifest", "image files in a snapshot with a parent");
	*ret = TAKE_PTR(a);
	return 0;
}

/* Makes file name of a in dir from its chunks; zero chunks stay holes. */
static int file_restore(struct oci_layout *l, const struct artifact *a, const char *dir, const char *name,
			const char *as, mode_t mode, char **ret_why)
{
	_cleanup_free_ char *path = path_join(dir, as);
	if (!path)
		return -ENOMEM;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	json_object *layers = json_object_object_get(a->manifest, "layers");
	int64_t size = json_object_get_int64(json_object_object_get(json_object_object_get(a->files, name), "size"));
	if (fd < 0 || ftruncate(fd, size) < 0)
		return -errno;
	for (size_t i = 0; i < json_object_array_length(layers); i++) {
		struct chunk c;
		int r = chunk_parse(json_object_array_get_idx(layers, i), &c);
		if (r == 0 && strcmp(c.file, name))
			continue;
		if (r == 0 && (r = chunk_restore(l, &c, fd)) == 0 && l->chunk_progress)
			l->chunk_progress(l->chunk_progress_data, name, c.offset + c.size, (uint64_t)size);
		if (r == -EBADMSG || r == -ENOENT) {
			_cleanup_free_ char *what = NULL;
			if (asprintf(&what, "blob %s (%s at offset %llu)", c.digest, name,
				     (unsigned long long)c.offset) < 0)
				return -ENOMEM;
			return bad(ret_why, what, r == -ENOENT ? "missing" : "does not match its digest or size");
		}
		if (r < 0)
			return r;
	}
	return fchmod(fd, mode) < 0 || fsync(fd) < 0 ? -errno : 0;
}

static int origin_write(const char *dir, const char *ref, const char *digest)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ref", json_object_new_string(ref));
	json_object_object_add(o, "digest", json_object_new_string(digest));
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	_cleanup_free_ char *path = path_join(dir, "origin.json");
	int r = path ? write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
	json_object_put(o);
	return r;
}

/* Every file of a whose name does (image) or does not have the prefix. */
static int files_restore(struct oci_layout *l, const struct artifact *a, const char *dir, bool image, char **ret_why)
{
	json_object_object_foreach(a->files, name, entry)
	{
		(void)entry;
		bool is_image = !strncmp(name, ARTIFACT_IMAGE_PREFIX, strlen(ARTIFACT_IMAGE_PREFIX));
		if (is_image != image)
			continue;
		int r = file_restore(l, a, dir, name, image ? name + strlen(ARTIFACT_IMAGE_PREFIX) : name,
				     image ? 0400 : 0600, ret_why);
		if (r < 0)
			return r;
	}
	return 0;
}

int artifact_install(struct store *s, struct oci_layout *l, const struct artifact *a, const char *name, const char *ref,
		     char **ret_why)
{
	_cleanup_(snapshot_new_freep) struct snapshot_new *img = NULL, *n = NULL;
	_cleanup_free_ char *image_dir = store_path(s, STORE_IMAGES, a->meta.image, NULL), *meta = NULL;
	if (!image_dir)
		return -ENOMEM;
	bool have_image = file_exists(image_dir);
	if (!have_image && !a->has_image && !a->meta.parent)
		return asprintf(ret_why, "image %s", a->meta.image) < 0 ? -ENOMEM : -ENOENT;
	int r = snapshot_new_begin(s, name, &n);
	if (r == 0 && !have_image && a->has_image && (r = store_new_begin(s, STORE_IMAGES, a->meta.image, &img)) == 0)
		r = files_restore(l, a, img->dir, true, ret_why);
	if (r == 0)
		r = files_restore(l, a, n->dir, false, ret_why);
	if (r == 0 && !(meta = snapshot_new_path(n, "meta.json")))
		r = -ENOMEM;
	/* meta.json as it came, byte for byte: pushed again, it makes the
	 * same manifest. */
	if (r == 0)
		r = write_file_atomic(meta, a->config, a->config_n, 0600);
	if (r == 0)
		r = origin_write(n->dir, ref, a->digest);
	if (r == 0 && img && (r = store_new_commit(img)) == -EEXIST)
		r = 0;
	return r < 0 ? r : store_new_commit(n);
}

int snapshot_origin_read(const struct snapshot *sn, char **ret_ref, char **ret_digest)
{
	_cleanup_free_ char *path = snapshot_path(sn, "origin.json"), *text = NULL;
	if (!path)
		return -ENOMEM;
	size_t n;
	int r = read_file_untrusted(path, ORIGIN_MAX, &text, &n);
	if (r < 0)
		return r == -ENOENT ? r : -EBADMSG;
	json_object *o = json_tokener_parse(text);
	const char *ref = get_str(o, "ref"), *digest = get_str(o, "digest");
	char *a = ref ? strdup(ref) : NULL, *b = digest ? strdup(digest) : NULL;
	json_object_put(o);
	if (!a || !b || oci_digest_check(b) < 0) {
		free(a);
		free(b);
		return -EBADMSG;
	}
	*ret_ref = a;
	*ret_digest = b;
	return 0;
}
