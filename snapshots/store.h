/* The store: everything osrun keeps between runs, under one cache directory.
 * This module alone knows the layout; everybody else asks it for paths.
 *
 *   ROOT/snapshots/NAME/      meta.json, disk.qcow2 (a layer over the parent's
 *                             disk or the image's), memory (guest RAM), state
 *                             (device state, RAM left out); a build layer
 *                             (layer-KEY) has memory.delta (the RAM pages
 *                             that differ from the parent's) and memory only
 *                             once a run has needed it, and build.log
 *   ROOT/images/ID/           what a profile boots from (kernel, initrd, disk):
 *                             imported (linux-HASH) or built by stages (build-KEY)
 *   ROOT/stages/NAME-KEY/     a build stage's disk layer, kept for reuse; also
 *                             media-KEY/setup.iso, a Windows setup medium
 *   ROOT/pools/NAME.sock      a running pool's socket (the directory is 0700:
 *                             whoever connects runs commands), with
 *             NAME.sock.lock  flocked by its keeper while it runs
 *   ROOT/windows/             secrets: admin-password
 *   ROOT/caches/NAME/         a cache volume: a directory runs mount
 *                             (--cache-volume), kept between them
 *   ROOT/sessions/NAME.sock   a session's socket (0700 like pools), with
 *                NAME.json    its description, flocked by its keeper,
 *                NAME.busy    flocked by the client with a command in it,
 *                NAME.log     the keeper's messages
 *   ROOT/logs/stage-NAME-TIME/ what a failed build stage left: console.log,
 *                             status.txt, screen.png (or .ppm)
 *
 * Every directory is 0700 and every file 0600 (images 0400): they hold guest
 * RAM, disks and secrets. osrun runs with umask 077, so files that QEMU,
 * qemu-img and xorriso create are private from creation too.
 *   AREA/.making-NAME.XXXXXX/ an entry being made, for the instant before its
 *                             maker has locked it
 *   AREA/.new-NAME.XXXXXX/    an entry being made, locked by its maker
 *
 * Locking. An entry never changes once made. It appears by rename(), so a
 * reader sees all of it or nothing. A run holds a shared flock on the
 * snapshots and stages it reads; removal takes an exclusive one and renames
 * the entry out of the namespace before deleting it. An entry being made
 * holds an exclusive flock for its maker's life; one that anybody else can
 * lock is a leftover of a killed maker, and store_sweep removes it.
 *
 * Disks refer to their backing disks by relative paths
 * (store_disk_backing), so a store can be moved or mounted elsewhere. */
#pragma once
#include "../runner/lib/profile.h"
#include "../runner/lib/util.h"

#define SNAPSHOT_NAME_MAX 64
/* Names the sweep looks at: an entry being made, or being removed. */
#define STORE_NEW_PREFIX ".new-"

enum store_area {
	STORE_SNAPSHOTS,
	STORE_IMAGES,
	STORE_STAGES,
	STORE_POOLS,
	STORE_SECRETS,
	STORE_CACHES,
	STORE_SESSIONS,
	STORE_LOGS,
};

struct store {
	char *root;
};

/* Creates the layout if missing. */
int store_open(const char *root, struct store **ret);
struct store *store_free(struct store *s);
static inline void store_freep(struct store **s) { store_free(*s); }
/* $OSRUN_CACHE, else $XDG_CACHE_HOME/osrun or ~/.cache/osrun. */
char *store_default_root(void);

/* ROOT/AREA[/ENTRY[/FILE]]; entry and file may be NULL. */
char *store_path(const struct store *s, enum store_area a, const char *entry, const char *file);
/* An entry name made of a prefix and a key: "build-0123456789abcdef". */
char *store_entry_name(const char *prefix, uint64_t key);
/* The path by which a disk in area `from` names ENTRY/disk.qcow2 in area
 * `to` as its backing file: relative to the directory it sits in. */
char *store_disk_backing(enum store_area from, enum store_area to, const char *entry);
char *store_image_path(const struct store *s, const char *id, const char *file);
/* Makes a private area (pools, secrets: 0700) if it is missing. */
int store_area_make(const struct store *s, enum store_area a);
/* A pool's socket for snapshot name in the store at root (which need not
 * be open: clients only connect). */
char *store_pool_socket(const char *root, const char *name);

/* ROOT/sessions/NAME + suffix (".sock", ".json", ".busy", ".log"). */
char *store_session_file(const char *root, const char *name, const char *suffix);

/* 0, or -EINVAL with *ret_why saying what is wrong with the name. */
int snapshot_name_check(const char *name, const char **ret_why);

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

/* An entry (snapshot, image, stage) being made. */
struct snapshot_new {
	char *parent; /* the area directory it will appear in */
	char *name;
	char *dir; /* the temporary directory the parts go into */
	int lock_fd;
};

/* -EEXIST if name is taken in area a. */
int store_new_begin(struct store *s, enum store_area a, const char *name, struct snapshot_new **ret);
/* fsyncs the parts and renames into place; -EEXIST if the name was taken. */
int store_new_commit(struct snapshot_new *n);
/* flock on a store directory (-EBUSY when LOCK_NB would block). */
int store_lock_dir(const char *dir, int how, int *ret_fd);

/* store_new_begin for a snapshot, with its name checked. */
int snapshot_new_begin(struct store *s, const char *name, struct snapshot_new **ret);
/* fsyncs the parts, writes meta.json, renames into place. -EEXIST if the
 * name was taken meanwhile. */
int snapshot_new_commit(struct snapshot_new *n, const struct snapshot_meta *meta);
/* Removes whatever was not committed. */
struct snapshot_new *snapshot_new_free(struct snapshot_new *n);
static inline void snapshot_new_freep(struct snapshot_new **n) { snapshot_new_free(*n); }
char *snapshot_new_path(const struct snapshot_new *n, const char *part);
/* The name it will be committed under (a session's snapshot is begun
 * before its name is known). -EINVAL for a bad name. */
int snapshot_new_rename(struct snapshot_new *n, const char *name);

/* Names of all snapshots, sorted. */
int store_list(struct store *s, char ***ret);
/* The same for any area's entries. */
int store_list_area(struct store *s, enum store_area a, char ***ret);
/* Removes a snapshot: -EBUSY if a run reads it, -ENOTEMPTY with
 * *ret_child set if another snapshot is built on it. */
int store_remove(struct store *s, const char *name, char **ret_child);
/* Removes leftovers of killed makers; *ret_removed lists them, relative to
 * the root ("snapshots/.new-x.123456"). */
int store_sweep(struct store *s, char ***ret_removed);

/* Copies a profile's boot files into ROOT/images/ID (once: ID comes from
 * their content). */
int store_import_image(struct store *s, const char *prefix, const char *src_dir, const char *const *files,
		       char **ret_id);

/* A cache volume: a host directory in the store that runs mount
 * (--cache-volume NAME:PATH) and that outlives them, for downloads a job
 * would otherwise fetch again. It is made on first use. A run holds an
 * exclusive flock on it while its VM runs: one writer at a time. */
struct cache_volume {
	char *name;
	char *dir;
	int lock_fd;
};

/* Opens (making it if missing) and locks a cache volume: -EBUSY while
 * another run has it, -EINVAL for a bad name. */
int cache_volume_open(struct store *s, const char *name, struct cache_volume **ret);
struct cache_volume *cache_volume_free(struct cache_volume *c);
static inline void cache_volume_freep(struct cache_volume **c) { cache_volume_free(*c); }
/* Removes one: -ENOENT, -EBUSY while a run has it. */
int cache_volume_remove(struct store *s, const char *name);

/* Build layers (osrun build). A step's layer is the snapshot
 * "layer-" + the first 32 hex digits of its key; -t NAME gives the last
 * one a name of its own. */
int layer_entry_name(const char *key, char **ret);
/* Whether name is a layer no user named (gc may remove it). */
bool layer_is_unnamed(const char *name, const struct snapshot_meta *m);
/* The snapshot made by the step with this key: its layer, or a tag of it
 * (-ENOENT). */
int store_find_layer(struct store *s, const char *key, char **ret_name);
/* Makes snapshot name hold from's files (hard links: they never change)
 * with meta: -EEXIST if taken. */
int snapshot_tag(struct store *s, const struct snapshot *from, const char *name, const struct snapshot_meta *meta);
/* Removes unnamed layers that no named snapshot is built on, children
 * first; *ret_busy lists those a run was using (kept). */
int store_gc_layers(struct store *s, char ***ret_removed, char ***ret_busy);
/* Bytes an entry's files use on disk: its own, and those it shares with
 * other entries (hard links, reflinked extents). */
int store_entry_bytes(const char *dir, uint64_t *ret_own, uint64_t *ret_shared);

/* Guest RAM (memory.c): a snapshot's "memory", or a build layer's
 * "memory.delta" over its parent's RAM. */
/* Writes sn's RAM to the new file to (0600): a reflink or sparse copy of a
 * full file, else the chain composed. */
int snapshot_memory_copy(struct store *s, const struct snapshot *sn, const char *to);
/* Makes sn's full "memory" from its chain if it has none yet (kept: a run
 * maps it). */
int snapshot_memory_ready(struct store *s, const struct snapshot *sn);
/* Replaces n's "memory" (whole, QEMU done with it) by "memory.delta": the
 * pages that differ from parent's RAM. *ret_bytes: their size. 1: the
 * parent's chain is long (31 deltas), so n keeps its full file, and the
 * next layers' chains start there. On failure the full file stays. */
int snapshot_memory_to_delta(struct store *s, const struct snapshot *parent, struct snapshot_new *n,
			     uint64_t *ret_bytes);
