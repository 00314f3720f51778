#pragma once
#include "snapshot.h"

/* Build layers (osrun build). A step's layer is the snapshot
 * "layer-" + the first 32 hex digits of its key; -t NAME gives the last
 * one a name of its own. */
int layer_entry_name(const char *key, char **ret);
/* Whether name is a layer no user named (gc may remove it). */
bool layer_is_unnamed(const char *name, const struct snapshot_meta *m);
/* The snapshot made by the step with this key: its layer, or a tag of it
 * (-ENOENT). */
int layer_find(struct store *s, const char *key, char **ret_name);
/* Makes snapshot name hold from's files (hard links: they never change)
 * with meta: -EEXIST if taken. */
int snapshot_tag(struct store *s, const struct snapshot *from, const char *name, const struct snapshot_meta *meta);
/* Removes unnamed layers that no named snapshot is built on, children
 * first; *ret_busy lists those a run was using (kept). */
int layer_gc(struct store *s, char ***ret_removed, char ***ret_busy);
/* Bytes an entry's files use on disk: its own, and those it shares with
 * other entries (hard links, reflinked extents). */
int store_entry_bytes(const char *dir, uint64_t *ret_own, uint64_t *ret_shared);
