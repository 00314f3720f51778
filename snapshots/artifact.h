/* A snapshot as an OCI artifact (docs/registry.md): an image manifest
 * with artifactType ARTIFACT_TYPE, its meta.json as the config, and its
 * files as chunk layers (chunk.h). A snapshot with a parent carries only
 * its own files and names the parent's manifest by digest; one made on an
 * image carries the image's files too. Pulled snapshots keep where they
 * came from in origin.json. */
#pragma once
#include <json-c/json.h>

#include "ocilayout.h"
#include "snapshot.h"

#define ARTIFACT_TYPE "application/vnd.osrun.snapshot.v1"
#define ARTIFACT_CONFIG_TYPE "application/vnd.osrun.snapshot.config.v1+json"
#define ARTIFACT_ANN_PARENT "org.osrun.parent"
#define ARTIFACT_ANN_FILES "org.osrun.files"
#define ARTIFACT_ANN_CHUNK_SIZE "org.osrun.chunk-size"
#define ARTIFACT_MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
/* An image file's name in an artifact: image/FILE. */
#define ARTIFACT_IMAGE_PREFIX "image/"
#define ARTIFACT_MANIFEST_MAX (4u << 20)
#define ARTIFACT_CONFIG_MAX (1u << 20)
/* A file's size in an artifact: 1 TiB, 16384 chunks. */
#define ARTIFACT_FILE_MAX (UINT64_C(1) << 40)

/* The names an artifact may give a file (nothing else is ever written):
 * a snapshot's own (disk.qcow2, memory.delta, memory, state, build.log)
 * or its image's, image/ and a plain name. */
bool artifact_file_name_ok(const char *name);

/* Writes sn into l as an artifact over the parent's manifest
 * parent_digest (NULL for one made on an image): *ret_digest, *ret_size
 * the manifest's. */
int artifact_write(struct store *s, struct oci_layout *l, const struct snapshot *sn, const char *parent_digest,
		   char ret_digest[static OCI_DIGEST_LEN + 1], uint64_t *ret_size);

/* A manifest read back from the layout, checked. */
struct artifact {
	char digest[OCI_DIGEST_LEN + 1];
	json_object *manifest;
	char *config; /* meta.json, as it came */
	size_t config_n;
	struct snapshot_meta meta;
	const char *parent_digest; /* NULL when made on an image */
	json_object *files;	   /* name: {"size", "zero"} */
	bool has_image;		   /* carries meta.image's files */
};
/* Reads and checks the manifest digest (of size bytes) and its config:
 * media types, digests, names, and that every file's chunks cover it
 * exactly once. -EBADMSG with *ret_why saying what is wrong. */
int artifact_read(struct oci_layout *l, const char *digest, uint64_t size, struct artifact **ret, char **ret_why);
struct artifact *artifact_free(struct artifact *a);
static inline void artifact_freep(struct artifact **a) { artifact_free(*a); }

/* Makes snapshot name (and meta.image, when the store lacks it) from a's
 * blobs, each checked before it is used: compressed and uncompressed
 * digests and sizes. Nothing enters the store unless all of it does.
 * origin.json gets ref and a's digest. -EBADMSG with *ret_why naming the
 * blob; -EEXIST if name is taken; -ENOENT (*ret_why the image) when a
 * snapshot made on an image that the store lacks does not carry it. */
int artifact_install(struct store *s, struct oci_layout *l, const struct artifact *a, const char *name, const char *ref,
		     char **ret_why);

/* Where a pulled snapshot came from: -ENOENT for one made here. */
int snapshot_origin_read(const struct snapshot *sn, char **ret_ref, char **ret_digest);

/* The manifests in l that the store's snapshots stand for: the one each
 * pulled snapshot was pulled as, and those in index.json whose config is
 * a snapshot's meta.json byte for byte (a push's). */
int artifact_cache_needed(struct store *s, struct oci_layout *l, char ***ret);
