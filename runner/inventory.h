/* What the store holds, as JSON for `osrun snapshot`: snapshots with
 * their meta.json, sizes and files; cache volumes with their sizes and
 * whether a run has them; what a gc removed. The command layer prints
 * these as they are (--json) or as tables. */
#pragma once
#include <json-c/json.h>

#include "job.h"

/* sn as meta.json has it, with its name, size (own_bytes, shared_bytes),
 * where it was pulled from (pulled_from: the reference; pulled_digest)
 * and, with files, the paths of its parts. */
json_object *inventory_snapshot(const struct snapshot *sn, bool files);
/* Every readable snapshot's inventory_snapshot(), without files, sorted
 * by name; one that cannot be read is warned about and left out. */
int inventory_snapshots(struct store *s, json_object **ret, struct error *e);
/* Every cache volume: name, size (bytes used), in_use. */
int inventory_caches(struct store *s, json_object **ret, struct error *e);
/* Removes leftovers of killed makers and runs, and the build layers no
 * named snapshot is built on: {removed, layers, run_directories}. */
int inventory_gc(struct store *s, json_object **ret, struct error *e);
