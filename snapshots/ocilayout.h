/* The registry blob cache: an OCI image layout in the store (ROOT/oci:
 * oci-layout, index.json, blobs/sha256/HEX) that skopeo copies artifacts
 * out of (push) and into (pull). Blobs are named by their digest, so one
 * that is there is never written or fetched again. Whoever opens it holds
 * an exclusive lock until oci_layout_free. */
#pragma once
#include <json-c/json.h>

#include "store.h"

/* "sha256:" and 64 hex digits. */
#define OCI_DIGEST_LEN 71

struct oci_layout {
	char *dir;
	int blobs_fd; /* blobs/sha256 */
	int lock_fd;
	/* Told after each chunk a push packs or a pull unpacks (chunk.h,
	 * artifact.h): the bytes of file done so far, of size. NULL: nobody
	 * listens. */
	void (*chunk_progress)(void *data, const char *file, uint64_t done, uint64_t size);
	void *chunk_progress_data;
};

/* Makes the layout if missing, locks it, and removes what a killed copy
 * left in blobs/sha256 (anything not named by a digest). */
int oci_layout_open(struct store *s, struct oci_layout **ret);
/* ROOT/oci (made if missing) opened but not locked, for a wait on its
 * lock that Ctrl-C can end; then oci_layout_open_locked, which owns the
 * descriptor from then on, even when it fails. */
int oci_layout_lock_fd(struct store *s, int *ret_fd);
int oci_layout_open_locked(struct store *s, int lock_fd, struct oci_layout **ret);
struct oci_layout *oci_layout_free(struct oci_layout *l);
static inline void oci_layout_freep(struct oci_layout **l) { oci_layout_free(*l); }

/* 0 for "sha256:" and 64 lowercase hex digits, else -EINVAL: the only
 * digests a blob may be named by. */
int oci_digest_check(const char *digest);
/* The digest of data, as out names it ("sha256:HEX"). */
int oci_digest_of(const void *data, size_t n, char out[static OCI_DIGEST_LEN + 1]);
/* Stores data as a blob (kept if already there); ret_digest gets its
 * digest. */
int oci_blob_put(struct oci_layout *l, const void *data, size_t n, char ret_digest[static OCI_DIGEST_LEN + 1]);
/* A blob of exactly size bytes (at most max) whose content has digest
 * digest: -ENOENT missing, -EFBIG too large, -EBADMSG wrong size or
 * content (then removed, so that the next pull fetches it again). */
int oci_blob_read(struct oci_layout *l, const char *digest, uint64_t size, size_t max, void **ret);
bool oci_blob_exists(struct oci_layout *l, const char *digest);
/* Makes what skopeo wrote private again (it writes blobs 0644): every
 * blob and index.json 0600. */
int oci_layout_narrow(struct oci_layout *l);
/* How many blobs the layout holds. */
int oci_blob_count(struct oci_layout *l, size_t *ret);
/* Bytes in the layout's files, those a copy is writing included (in
 * blobs/sha256 or beside it): a pull's progress. */
int oci_layout_bytes(struct oci_layout *l, uint64_t *ret);
/* index.json: tag names the manifest digest (of size bytes). */
int oci_tag_set(struct oci_layout *l, const char *tag, const char *digest, uint64_t size);
int oci_tag_get(struct oci_layout *l, const char *tag, char ret_digest[static OCI_DIGEST_LEN + 1], uint64_t *ret_size);

/* A manifest read from its blob (bounded, checked against its digest),
 * as JSON: -ENOENT, -EBADMSG. */
#define OCI_MANIFEST_MAX (4u << 20)
int oci_manifest_read(struct oci_layout *l, const char *digest, json_object **ret);
/* The manifest digests index.json names. */
int oci_index_digests(struct oci_layout *l, char ***ret);

struct oci_gc {
	char **removed; /* the blobs removed, by digest */
	char **dropped; /* the index.json entries dropped, by tag */
	uint64_t bytes; /* the disk blocks the removed blobs had */
};
void oci_gc_release(struct oci_gc *g);
/* Keeps the manifests keep names and the blobs they name (config,
 * layers); drops index.json's other entries and removes every other
 * blob. The index is written first, so that a gc stopped halfway leaves
 * only blobs that nothing names. */
int oci_layout_gc(struct oci_layout *l, char *const *keep, struct oci_gc *ret);
