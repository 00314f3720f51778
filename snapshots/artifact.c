/* Snapshots as OCI artifacts: written into the blob cache for a push,
 * read back, checked and made into store entries after a pull. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact.h"
#include "chunk.h"

/* A snapshot's own files; memory.delta, when there is one, stands for
 * the RAM (memory beside it is a run's copy made from the chain). */
static const char *const snapshot_files[] = {"disk.qcow2", "memory.delta", "memory", "state", "build.log", NULL};

static bool image_file_ok(const char *f)
{
	size_t n = strlen(f);
	return n > 0 && n <= 64 && f[0] != '.' && f[0] != '-' &&
	       strspn(f, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

bool artifact_file_name_ok(const char *name)
{
	if (!strncmp(name, ARTIFACT_IMAGE_PREFIX, strlen(ARTIFACT_IMAGE_PREFIX)))
		return image_file_ok(name + strlen(ARTIFACT_IMAGE_PREFIX));
	for (size_t i = 0; snapshot_files[i]; i++)
		if (!strcmp(name, snapshot_files[i]))
			return true;
	return false;
}

static int file_add(struct oci_layout *l, const char *dir, const char *file, const char *name, json_object *layers,
		    json_object *files)
{
	_cleanup_free_ char *path = path_join(dir, file);
	if (!path)
		return -ENOMEM;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > ARTIFACT_FILE_MAX)
		return -EBADMSG;
	json_object *entry;
	int r = chunk_file_put(l, fd, name, layers, &entry);
	if (r < 0)
		return r;
	json_object_object_add(files, name, entry);
	return 0;
}

static int image_add(struct store *s, struct oci_layout *l, const char *image, json_object *layers, json_object *files)
{
	_cleanup_free_ char *dir = store_path(s, STORE_IMAGES, image, NULL);
	struct dirent **list = NULL;
	int n = dir ? scandir(dir, &list, NULL, alphasort) : -1;
	if (n < 0)
		return dir ? -errno : -ENOMEM;
	int r = 0;
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *name = NULL;
		if (r == 0 && image_file_ok(list[i]->d_name) &&
		    asprintf(&name, ARTIFACT_IMAGE_PREFIX "%s", list[i]->d_name) < 0)
			r = -ENOMEM;
		if (r == 0 && name)
			r = file_add(l, dir, list[i]->d_name, name, layers, files);
		free(list[i]);
	}
	free(list);
	return r;
}

static json_object *descriptor(const char *type, const char *digest, size_t size)
{
	json_object *d = json_object_new_object();
	json_object_object_add(d, "mediaType", json_object_new_string(type));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

static int manifest_put(struct oci_layout *l, json_object *m, char ret_digest[static OCI_DIGEST_LEN + 1],
			uint64_t *ret_size)
{
	const char *text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int r = oci_blob_put(l, text, strlen(text), ret_digest);
	if (r == 0)
		*ret_size = strlen(text);
	return r;
}

int artifact_write(struct store *s, struct oci_layout *l, const struct snapshot *sn, const char *parent_digest,
		   char ret_digest[static OCI_DIGEST_LEN + 1], uint64_t *ret_size)
{
	_cleanup_free_ char *meta_path = snapshot_path(sn, "meta.json"), *meta = NULL;
	size_t meta_n;
	char config[OCI_DIGEST_LEN + 1];
	if (!meta_path)
		return -ENOMEM;
	int r = read_file_untrusted(meta_path, ARTIFACT_CONFIG_MAX, &meta, &meta_n);
	if (r < 0 || (r = oci_blob_put(l, meta, meta_n, config)) < 0)
		return r;
	json_object *m = json_object_new_object(), *layers = json_object_new_array(), *files = json_object_new_object(),
		    *ann = json_object_new_object();
	bool delta = false;
	for (size_t i = 0; r == 0 && snapshot_files[i]; i++) {
		if (!strcmp(snapshot_files[i], "memory") && delta)
			continue;
		r = file_add(l, sn->dir, snapshot_files[i], snapshot_files[i], layers, files);
		delta = delta || json_object_object_get(files, "memory.delta");
	}
	if (r == 0 && !sn->meta.parent)
		r = image_add(s, l, sn->meta.image, layers, files);
	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType", json_object_new_string(ARTIFACT_MANIFEST_TYPE));
	json_object_object_add(m, "artifactType", json_object_new_string(ARTIFACT_TYPE));
	json_object_object_add(m, "config", descriptor(ARTIFACT_CONFIG_TYPE, config, meta_n));
	json_object_object_add(m, "layers", layers);
	json_object_object_add(ann, ARTIFACT_ANN_CHUNK_SIZE, json_object_new_string("67108864"));
	json_object_object_add(ann, ARTIFACT_ANN_FILES,
			       json_object_new_string(json_object_to_json_string_ext(files, JSON_C_TO_STRING_PLAIN)));
	if (parent_digest)
		json_object_object_add(ann, ARTIFACT_ANN_PARENT, json_object_new_string(parent_digest));
	json_object_object_add(m, "annotations", ann);
	json_object_put(files);
	if (r == 0)
		r = manifest_put(l, m, ret_digest, ret_size);
	json_object_put(m);
	return r;
}

struct artifact *artifact_free(struct artifact *a)
{
	if (!a)
		return NULL;
	json_object_put(a->manifest);
	json_object_put(a->files);
	free(a->config);
	snapshot_meta_release(&a->meta);
	free(a);
	return NULL;
}
