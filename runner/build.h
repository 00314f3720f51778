/* Image builds in stages, for Windows and the Linux test guest alike.
 *
 * Each stage boots the machine on a qcow2 layer over the previous stage's
 * disk and lasts until the guest says it is done (a "done" line in
 * status.txt on the stage's SMB share) and powers off; with
 * -action reboot=shutdown every guest reboot ends a QEMU process, and a stage
 * may span a few. A finished stage is kept in the store under a key of
 * everything it depends on, so a rebuild starts at the first stage whose
 * inputs changed. The last layer is flattened into ROOT/images/build-KEY,
 * and the provisioned snapshot is saved on that (final.c). Progress goes
 * to log.h; failures come back in struct error. */
#pragma once
#include "job.h"

struct stage {
	const char *name;
	/* Host file the guest runs in this stage; it appears in the share
	 * under the profile's stage_script name. NULL: none. */
	const char *script;
	/* Ends only once status.txt has a "done" line; without, the guest's
	 * first power-off or reboot ends it (Windows Setup's first pass). */
	bool wait_done;
	/* Boots Windows Setup from the first install medium. */
	bool install_media;
	unsigned max_boots;
	usec_t timeout;
};

struct build {
	const struct profile *profile;
	struct machine machine;		  /* what the stages boot */
	const char *kernel, *initrd;	  /* linux */
	const char *stage_append;	  /* linux: the stages' kernel command line */
	const char *const *install_media; /* install stages' media */
	const char *const *media;	  /* the other stages' media */
	const char *base_image;		  /* image whose disk the first stage layers on; NULL: blank */
	uint64_t disk_size;		  /* bytes, for a blank disk */
	uint64_t seed;			  /* every input that is not a stage's own */
	const struct stage *stages;
	size_t n_stages;
	const char *const *image_files; /* linked from base_image into the built image */
	bool keep;			/* keep the stages' layers after the build */
	bool vnc;
};

/* The built image's id: "build-" and a key over the seed and every stage. */
int build_image_id(const struct build *b, char **ret, struct error *e);
/* Writes to out, without running anything, which stages would run and each
 * one's QEMU command line. */
int build_print(struct job *j, const struct build *b, FILE *out, struct error *e);
/* Runs (or reuses) the stages; *ret_image gets the built image's id. */
int build_run(struct job *j, const struct build *b, char **ret_image, struct error *e);
/* An argv as a shell would take it back, quoted where needed. */
void build_print_argv(FILE *out, char **argv);

/* The last stage: boots the built image as runs will restore it (a linux
 * image's vmlinuz and initrd.img are in it), waits for the agent and for the
 * guest to go idle, and saves the snapshot. */
struct build_final {
	const struct profile *profile;
	struct machine machine;
	const char *append;
	usec_t agent_timeout;
	usec_t idle_window; /* CPU below IDLE_PERCENT for this long */
	bool vnc;
};

/* Everything after the inputs are checked: nothing when snapshot name was
 * built from the same inputs and machine; else (with force, replacing it)
 * runs the stages and saves name. made_by goes into its metadata. */
int build_provision(struct job *j, const struct build *b, const struct build_final *f, const char *name, bool force,
		    const char *made_by, struct error *e);

/* Writes the last stage's QEMU command line to out (dry runs). */
int build_print_final(struct job *j, const struct build *b, const struct build_final *f, const char *name, FILE *out,
		      struct error *e);
