/* Snapshots in the store (ROOT/snapshots/NAME, store.h has the layout):
 * opened for reading under a shared lock, made under a temporary name and
 * renamed into place, removed when nothing reads or builds on them. */
#pragma once
#include "meta.h"
#include "store.h"

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

/* store_new_begin for a snapshot, with its name checked. */
int snapshot_new_begin(struct store *s, const char *name, struct snapshot_new **ret);
/* fsyncs the parts, writes meta.json, renames into place. -EEXIST if the
 * name was taken meanwhile. */
int snapshot_new_commit(struct snapshot_new *n, const struct snapshot_meta *meta);
/* The name it will be committed under (a session's snapshot is begun
 * before its name is known). -EINVAL for a bad name. */
int snapshot_new_rename(struct snapshot_new *n, const char *name);

/* Markers beside a snapshot's files, which are not part of it (never
 * pushed, linked or hashed): "pinned" keeps it from a store size budget;
 * "used", touched by every run from it, says when it was last used. */
/* Pins (pin) or unpins snapshot name: -ENOENT if there is none. */
int snapshot_pin(struct store *s, const char *name, bool pin);
bool snapshot_pinned(const struct snapshot *sn);
/* Records a run from sn: the marker's time, set without a write to the
 * snapshot's own files. Best effort: a store this user may not write
 * (mounted read-only) records nothing. */
void snapshot_use_mark(const struct snapshot *sn);
/* When sn was last run from, else when it was made or pulled: in
 * nanoseconds since the epoch. */
int64_t snapshot_last_used(const struct snapshot *sn);
/* Whether a run, pool member or session reads sn now (its shared lock). */
bool snapshot_busy(const struct snapshot *sn);

/* Names of all snapshots, sorted. */
int snapshot_list(struct store *s, char ***ret);
/* Removes a snapshot: -EBUSY if a run reads it, -ENOTEMPTY with
 * *ret_child set if another snapshot is built on it. */
int snapshot_remove(struct store *s, const char *name, char **ret_child);
