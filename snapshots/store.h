/* The store: images and snapshots under one cache directory.
 *
 *   ROOT/images/ID/         what a profile boots from (kernel, initrd, disk):
 *                           imported (linux-HASH) or built by stages (build-KEY)
 *   ROOT/stages/NAME-KEY/   a build stage's disk layer, kept for reuse
 *   ROOT/snapshots/NAME/    meta.json, disk.qcow2 (a layer over the parent's
 *                           disk or the image's), memory (guest RAM), state
 *                           (device state, RAM left out)
 *   ROOT/snapshots/.new-NAME.XXXXXX/   a snapshot being made
 *   ROOT/snapshots/.making-NAME.XXXXXX/  the same, for the instant before
 *                                         its maker has locked it
 *
 * A snapshot never changes once made. It appears by rename(), so a reader
 * sees all of it or nothing; a run holds a shared flock on the snapshots it
 * reads, and removal takes an exclusive one. A directory being made holds an
 * exclusive flock for its maker's life; one that can be locked by anybody
 * else is a leftover, and store_sweep removes it. Images and stages are made
 * the same way. */
#pragma once
#include "../runner/lib/profile.h"
#include "../runner/lib/util.h"

#define SNAPSHOT_NAME_MAX 64

struct store {
	char *root;
	char *snapshots; /* ROOT/snapshots */
	char *images;	 /* ROOT/images */
	char *stages;	 /* ROOT/stages */
};

/* Creates the layout if missing. */
int store_open(const char *root, struct store **ret);
struct store *store_free(struct store *s);
static inline void store_freep(struct store **s) { store_free(*s); }
/* --cache, else $OSRUN_CACHE, else $XDG_CACHE_HOME/osrun or ~/.cache/osrun. */
char *store_default_root(void);

/* 0, or -EINVAL with *ret_why saying what is wrong with the name. */
int snapshot_name_check(const char *name, const char **ret_why);

struct snapshot_meta {
	char *parent;	 /* NULL for one made from an image */
	char *image;	 /* the image at the bottom of the chain */
	struct machine machine;
	char *qemu_version;
	char *created;	 /* ISO 8601, UTC */
	char *made_by;	 /* "provision" or the command of the run */
	char *build;	 /* provisioned ones: the key of the inputs it was built from */
};
void snapshot_meta_release(struct snapshot_meta *m);

struct snapshot {
	char *name;
	char *dir;
	struct snapshot_meta meta;
	int lock_fd; /* shared flock while we read it */
};

/* Opens a snapshot for reading and takes a shared lock on it (-ENOENT). */
int snapshot_open(struct store *s, const char *name, struct snapshot **ret);
struct snapshot *snapshot_free(struct snapshot *sn);
static inline void snapshot_freep(struct snapshot **sn) { snapshot_free(*sn); }
/* Path of a part: "disk.qcow2", "memory", "state", "meta.json". */
char *snapshot_path(const struct snapshot *sn, const char *part);

/* A snapshot (or image, or stage) being made. */
struct snapshot_new {
	struct store *store;
	char *parent; /* the store directory it will appear in */
	char *name;
	char *dir; /* the temporary directory the parts go into */
	int lock_fd;
};

/* The same for any store directory (parent: s->images, s->stages). */
int store_new_begin(struct store *s, const char *parent, const char *name, struct snapshot_new **ret);
/* fsyncs the parts and renames into place; -EEXIST if the name was taken. */
int store_new_commit(struct snapshot_new *n);
/* flock on a store directory (-EBUSY when LOCK_NB would block). */
int store_lock_dir(const char *dir, int how, int *ret_fd);

/* -EEXIST if name is taken. */
int snapshot_new_begin(struct store *s, const char *name, struct snapshot_new **ret);
/* fsyncs the parts, writes meta.json, renames into place. -EEXIST if the
 * name was taken meanwhile. */
int snapshot_new_commit(struct snapshot_new *n, const struct snapshot_meta *meta);
/* Removes whatever was not committed. */
struct snapshot_new *snapshot_new_free(struct snapshot_new *n);
static inline void snapshot_new_freep(struct snapshot_new **n) { snapshot_new_free(*n); }
char *snapshot_new_path(const struct snapshot_new *n, const char *part);

int snapshot_meta_to_json(const struct snapshot_meta *m, char **ret);
int snapshot_meta_from_json(const char *text, struct snapshot_meta *ret);

/* Names of all snapshots, sorted. */
int store_list(struct store *s, char ***ret);
/* Removes a snapshot: -EBUSY if a run reads it, -ENOTEMPTY with
 * *ret_child set if another snapshot is built on it. */
int store_remove(struct store *s, const char *name, char **ret_child);
/* Removes leftovers of killed runs; *ret_removed lists them, relative to
 * the root ("snapshots/.new-x.123456"). */
int store_sweep(struct store *s, char ***ret_removed);

/* Copies a profile's boot files into ROOT/images/ID (once: ID comes from
 * their content). */
int store_import_image(struct store *s, const char *prefix, const char *src_dir, const char *const *files,
		       char **ret_id);
char *store_image_path(struct store *s, const char *id, const char *file);
