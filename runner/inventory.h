/* What the store holds, as JSON for `osrun snapshot`: snapshots with
 * their meta.json, sizes and files; cache volumes with their sizes and
 * whether a run has them; what a gc removed. The command layer prints
 * these as they are (--json) or as tables. */
#pragma once
#include <json-c/json.h>

#include "job.h"

/* sn as meta.json has it, with its name, pinned, last_used (ISO 8601),
 * size (own_bytes, shared_bytes),
 * where it was pulled from (pulled_from: the reference; pulled_digest)
 * and, with files, the paths of its parts. */
json_object *inventory_snapshot(const struct snapshot *sn, bool files);
/* Every readable snapshot's inventory_snapshot(), without files, sorted
 * by name; one that cannot be read is warned about and left out. */
int inventory_snapshots(struct store *s, json_object **ret, struct error *e);
/* Every cache volume: name, size (bytes used), in_use. */
int inventory_caches(struct store *s, json_object **ret, struct error *e);
struct gc_opts {
	bool keep_cache; /* keep the cached artifacts the store's snapshots stand for */
	uint64_t max;	 /* a store size budget; 0: the configured one, if any */
};
/* Removes leftovers of killed makers and runs, the build layers no named
 * snapshot is built on, the blob cache (with keep_cache, what nothing in
 * the store stands for), then applies the budget: {removed, layers,
 * run_directories, cache: {blobs_removed, bytes_freed, index_dropped},
 * budget: {max_store_size, store_bytes_before, store_bytes, evicted,
 * over_budget}}. */
int inventory_gc(struct store *s, const struct gc_opts *o, json_object **ret, struct error *e);
