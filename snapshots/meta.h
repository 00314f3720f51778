/* A snapshot's description (meta.json): what it was made from and on,
 * and what a build file's step set up in it. */
#pragma once
#include "../runner/lib/profile.h"
#include "../runner/lib/util.h"

struct snapshot_meta {
	char *parent; /* NULL for one made from an image */
	char *image;  /* the image at the bottom of the chain */
	struct machine machine;
	char *qemu_version;
	char *created; /* ISO 8601, UTC */
	char *made_by; /* "provision" or the command of the run */
	char *build;   /* provisioned ones: the key of the inputs it was built from */
	/* A build file's ENV and WORKDIR: every run from this snapshot (and
	 * from the ones made on it) gets them; a run's own -e and -w win. */
	char **env;
	char *workdir;
	struct snapshot_layer {
		char *key;  /* made by a build file's step: its cache key (64 hex digits) */
		char *step; /* "RUN make", as expanded */
		char *file; /* the build file */
		unsigned line;
	} layer;
};
void snapshot_meta_release(struct snapshot_meta *m);
int snapshot_meta_to_json(const struct snapshot_meta *m, char **ret);
int snapshot_meta_from_json(const char *text, struct snapshot_meta *ret);
/* A snapshot directory's meta.json; -EBADMSG when missing or damaged. */
int snapshot_meta_read(const char *dir, struct snapshot_meta *ret);
