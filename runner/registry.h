/* osrun snapshot push / pull: snapshots to and from an OCI registry
 * (docs/registry.md). The artifacts are written into and read from the
 * store's blob cache (snapshots/ocilayout.h, artifact.h); skopeo carries
 * them between it and the registry, with its own credentials (its
 * auth.json, ~/.docker/config.json, REGISTRY_AUTH_FILE). */
#pragma once
#include "../snapshots/artifact.h"
#include "lib/error.h"

/* A long step so far: what ("pulling REF": bytes the blob cache gained;
 * "packing 'NAME'", "unpacking 'NAME'": bytes of file chunked or
 * restored from chunks), done of total (0: not known), after elapsed. */
struct registry_progress {
	const char *what;
	const char *file; /* NULL for a download */
	uint64_t done, total;
	usec_t elapsed;
};

struct registry_opts {
	bool tls_verify;      /* false only when asked: a plain-HTTP registry */
	bool skopeo_progress; /* a push: skopeo's own progress on our stderr */
	/* Called about once a second while a pull downloads, and after each
	 * chunk packed or unpacked; NULL: never (and no request is made to
	 * learn a download's total). */
	void (*progress)(const struct registry_progress *p, void *data);
	void *progress_data;
};

struct registry_result {
	char *name;			  /* the snapshot pushed or pulled */
	char digest[OCI_DIGEST_LEN + 1];  /* its manifest's */
	char **chain;			  /* its parents, nearest first, as "NAME DIGEST" */
	char **fetched_parents;		  /* pull: parents it had to pull too */
	size_t blobs_fetched, blobs_kept; /* pull: blobs skopeo fetched, those the cache had */
	char **evicted;			  /* pull: snapshots the store's size budget removed */
};
void registry_result_release(struct registry_result *r);

/* A reference skopeo's docker transport takes (HOST[:PORT]/PATH[:TAG] or
 * @DIGEST), checked for characters: -EINVAL. *ret_repo: it without the
 * tag or digest; *ret_last: the last path component. */
int registry_ref_split(const char *ref, char **ret_repo, char **ret_last);

/* Pushes snapshot name to ref, its parents first (to the same
 * repository, tagged sha256-HEX by their digests). */
int registry_push(struct store *s, const char *name, const char *ref, const struct registry_opts *o,
		  struct registry_result *ret, struct error *e);
/* Pulls ref as snapshot name, and its parents the store lacks under the
 * names the artifact gives them; then applies the store's size budget
 * (budget.h), if it has one. */
int registry_pull(struct store *s, const char *ref, const char *name, const struct registry_opts *o,
		  struct registry_result *ret, struct error *e);
