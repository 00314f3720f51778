/* A store file as blobs: cut in CHUNK_SIZE pieces, each compressed on its
 * own with zstd and named by its digest, described by a layer of the
 * snapshot's OCI manifest (artifact.h) with annotations for the file, the
 * offset, the uncompressed size and the uncompressed digest. A chunk of
 * zeros is no blob: the file's entry lists it, and it stays a hole.
 *
 * 64 MiB: a registry caps a manifest's size (docker-registry at 4 MiB),
 * and at about 400 bytes a layer a 100 GiB disk is 1600 layers, 0.6 MiB;
 * each blob costs a request or two, little beside 64 MiB of data; a
 * chunk and its compressed copy fit in memory twice over on a small host.
 * Smaller chunks would share more between a -n child's full RAM file and
 * its parent's (the same bytes make the same blob). */
#pragma once
#include <json-c/json.h>

#include "ocilayout.h"

#define CHUNK_SIZE (UINT64_C(64) << 20)
#define CHUNK_MEDIA_TYPE "application/vnd.osrun.chunk.v1.zstd"
#define CHUNK_ANN_FILE "org.osrun.file"
#define CHUNK_ANN_OFFSET "org.osrun.offset"
#define CHUNK_ANN_SIZE "org.osrun.size"
#define CHUNK_ANN_DIGEST "org.osrun.digest"

/* One layer, as the manifest describes it (strings point into it). */
struct chunk {
	const char *file;
	const char *digest; /* the blob's: compressed */
	uint64_t blob_size;
	uint64_t offset, size;
	const char *udigest; /* of the uncompressed bytes */
};

/* Cuts the file open on fd into blobs in l, appending a layer each to
 * layers (file named name in their annotations); *ret_entry: the file's
 * entry, {"size": N, "zero": [chunk indexes]}. */
int chunk_file_put(struct oci_layout *l, int fd, const char *name, json_object *layers, json_object **ret_entry);
/* A layer's descriptor, checked: our media type, a digest, offsets on
 * chunk boundaries, sizes within a chunk (-EBADMSG). */
int chunk_parse(json_object *layer, struct chunk *ret);
/* Reads c's blob (digest and size checked), decompresses it, checks the
 * uncompressed digest and size, and writes it at c->offset of fd.
 * -EBADMSG when anything differs, -ENOENT when the blob is missing. */
int chunk_restore(struct oci_layout *l, const struct chunk *c, int fd);
