/* The store: everything osrun keeps between runs, under one cache directory.
 * This module alone knows the layout; everybody else asks it for paths.
 *
 *   ROOT/snapshots/NAME/      meta.json, disk.qcow2 (a layer over the parent's
 *                             disk or the image's), memory (guest RAM), state
 *                             (device state, RAM left out); a build layer
 *                             (layer-KEY) has memory.delta (the RAM pages
 *                             that differ from the parent's) and memory only
 *                             once a run has needed it, and build.log;
 *                             markers beside its files, not part of it
 *                             (snapshot.h): pinned, used
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
 *   ROOT/provision.lock       flocked by whoever builds a snapshot runs
 *                             start from (osrun provision, osrun image
 *                             build, a first run) or pulls one a run
 *                             needs (registry-use.h)
 *   ROOT/isos/NAME.iso        an ISO osrun image fetch downloaded and verified,
 *             NAME.iso.part   one being downloaded (flocked by its fetcher),
 *                             kept to resume from
 *   ROOT/max-store-size       the store's size budget, if it has one
 *                             (runner/budget.h)
 *   ROOT/oci/                 the registry blob cache: an OCI image layout
 *                             (oci-layout, index.json, blobs/sha256/HEX) that
 *                             skopeo copies from and into (ocilayout.h)
 *   ROOT/sources/NAME         the registry reference snapshot NAME is pulled
 *                             from when a run needs it (source.h)
 *
 * Every directory is 0700 and every file 0600 (images 0400): they hold guest
 * RAM, disks and secrets. osrun runs with umask 077, so files that QEMU,
 * qemu-img and xorriso create are private from creation too.
 *   AREA/.making-NAME.XXXXXX/ an entry being made, for the instant before its
 *                             maker has locked it
 *   AREA/.new-NAME.XXXXXX/    an entry being made, locked by its maker
 *
 * Locking. An entry never changes once made (a snapshot's two markers
 * aside: their presence and times say nothing about its content). It appears by rename(), so a
 * reader sees all of it or nothing. A run holds a shared flock on the
 * snapshots and stages it reads; removal takes an exclusive one and renames
 * the entry out of the namespace before deleting it. An entry being made
 * holds an exclusive flock for its maker's life; one that anybody else can
 * lock is a leftover of a killed maker, and store_sweep removes it.
 *
 * Disks refer to their backing disks by relative paths
 * (store_disk_backing), so a store can be moved or mounted elsewhere. */
#pragma once
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
	STORE_OCI,
	STORE_ISOS,
	STORE_SOURCES,
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
/* ROOT/provision.lock, opened (made if missing), not locked yet. */
int store_provision_lock(struct store *s, int *ret_fd);
/* A file on the store's filesystem with no name (nothing to leave behind),
 * open read-write: for trying what the filesystem can do. */
int store_scratch_file(struct store *s, int *ret_fd);
/* Removes whatever was not committed. */
struct snapshot_new *snapshot_new_free(struct snapshot_new *n);
static inline void snapshot_new_freep(struct snapshot_new **n) { snapshot_new_free(*n); }
char *snapshot_new_path(const struct snapshot_new *n, const char *part);
/* Names of an area's entries, sorted. */
int store_list_area(struct store *s, enum store_area a, char ***ret);

/* Removes leftovers of killed makers; *ret_removed lists them, relative to
 * the root ("snapshots/.new-x.123456"). */
int store_sweep(struct store *s, char ***ret_removed);

/* ROOT/NAME, a setting of this store (max-store-size), its first line
 * (at most 256 bytes): -ENOENT when it has none. */
int store_setting_read(struct store *s, const char *name, char **ret);
/* The disk blocks everything under the root has, in bytes: a file with
 * several links counts once, a sparse one what it holds. */
int store_usage(struct store *s, uint64_t *ret_bytes);

/* Copies a profile's boot files into ROOT/images/ID (once: ID comes from
 * their content). */
int store_import_image(struct store *s, const char *prefix, const char *src_dir, const char *const *files,
		       char **ret_id);
