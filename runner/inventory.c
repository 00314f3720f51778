/* What the store holds, as JSON (inventory.h). */
#define _GNU_SOURCE
#include "inventory.h"

#include <ftw.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#include "../snapshots/artifact.h"
#include "../snapshots/layer.h"
#include "../snapshots/source.h"
#include "budget.h"
#include "lib/log.h"
#include "lib/proc.h"

json_object *inventory_snapshot(const struct snapshot *sn, bool files)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(sn->name));
	_cleanup_free_ char *text = NULL;
	json_object *meta = snapshot_meta_to_json(&sn->meta, &text) == 0 ? json_tokener_parse(text) : NULL;
	json_object_object_foreach(meta, key, v)
	{
		if (strcmp(key, "version"))
			json_object_object_add(o, key, json_object_get(v));
	}
	json_object_put(meta);
	_cleanup_free_ char *ref = NULL, *digest = NULL;
	if (snapshot_origin_read(sn, &ref, &digest) == 0) {
		json_object_object_add(o, "pulled_from", json_object_new_string(ref));
		json_object_object_add(o, "pulled_digest", json_object_new_string(digest));
	}
	json_object_object_add(o, "pinned", json_object_new_boolean(snapshot_pinned(sn)));
	char used[32];
	time_t t = (time_t)(snapshot_last_used(sn) / 1000000000);
	struct tm tm;
	if (gmtime_r(&t, &tm) && strftime(used, sizeof used, "%Y-%m-%dT%H:%M:%SZ", &tm))
		json_object_object_add(o, "last_used", json_object_new_string(used));
	/* One walk of the entry: its size is what it owns and shares. */
	uint64_t own = 0, shared = 0;
	bool counted = store_entry_bytes(sn->dir, &own, &shared) == 0;
	json_object_object_add(o, "size", json_object_new_uint64(own + shared));
	if (counted) {
		json_object_object_add(o, "own_bytes", json_object_new_uint64(own));
		json_object_object_add(o, "shared_bytes", json_object_new_uint64(shared));
	}
	if (files) {
		json_object *f = json_object_new_object();
		const char *parts[] = {"disk.qcow2", "memory", "memory.delta", "state", "meta.json", "build.log"};
		for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
			_cleanup_free_ char *p = snapshot_path(sn, parts[i]);
			/* A build layer's full memory is made when a run needs it. */
			bool optional = !strncmp(parts[i], "memory", 6) || !strcmp(parts[i], "build.log");
			if (p && (!optional || file_exists(p)))
				json_object_object_add(f, parts[i], json_object_new_string(p));
		}
		json_object_object_add(o, "files", f);
	}
	return o;
}

int inventory_snapshots(struct store *s, json_object **ret, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = snapshot_list(s, &names);
	if (r < 0)
		return error_errno(e, r, "listing %s/snapshots", s->root);
	json_object *arr = json_object_new_array();
	for (char **n = names; *n; n++) {
		_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
		if (snapshot_open(s, *n, &sn) < 0) {
			log_warn("snapshot '%s': unreadable, skipped", *n);
			continue;
		}
		json_object *o = inventory_snapshot(sn, false);
		_cleanup_free_ char *source = NULL;
		if (snapshot_source_get(s, *n, &source) == 0)
			json_object_object_add(o, "source", json_object_new_string(source));
		json_object_array_add(arr, o);
	}
	*ret = arr;
	return 0;
}

/* nftw() takes no context: the walk in progress adds up here. */
static uint64_t tree_total;
static int tree_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	tree_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

int inventory_caches(struct store *s, json_object **ret, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = store_list_area(s, STORE_CACHES, &names);
	if (r < 0)
		return error_errno(e, r, "listing cache volumes in %s", s->root);
	json_object *arr = json_object_new_array();
	for (char **n = names; *n; n++) {
		_cleanup_free_ char *dir = store_path(s, STORE_CACHES, *n, NULL);
		_cleanup_(cache_volume_freep) struct cache_volume *c = NULL;
		bool busy = cache_volume_open(s, *n, &c) == -EBUSY;
		tree_total = 0;
		if (dir)
			(void)nftw(dir, tree_add, 16, FTW_PHYS | FTW_MOUNT);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(*n));
		json_object_object_add(o, "size", json_object_new_uint64(tree_total));
		json_object_object_add(o, "in_use", json_object_new_boolean(busy));
		json_object_array_add(arr, o);
	}
	*ret = arr;
	return 0;
}

static json_object *strv_to_json(char **v)
{
	json_object *arr = json_object_new_array();
	for (char **p = v; p && *p; p++)
		json_object_array_add(arr, json_object_new_string(*p));
	return arr;
}

/* The blob cache, locked: a push or pull holding it is waited for, and
 * Ctrl-C ends the wait. */
static int cache_open(struct store *s, struct oci_layout **ret, struct error *e)
{
	int fd, r = oci_layout_lock_fd(s, &fd);
	bool waited;
	if (r < 0)
		return error_errno(e, r, "the blob cache in %s", s->root);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		log_info("waiting for a push or pull to finish with the blob cache");
	if ((r = proc_flock_wait(fd, &waited)) < 0) {
		close(fd);
		return r == -ECANCELED ? error_interrupted(e) : error_errno(e, r, "locking the blob cache");
	}
	r = oci_layout_open_locked(s, fd, ret);
	return r < 0 ? error_errno(e, r, "the blob cache in %s", s->root) : 0;
}

/* The blob cache: all of it, or with keep_cache what the store's
 * snapshots stand for; then the budget. */
static int cache_and_budget(struct store *s, const struct gc_opts *o, json_object *out, struct error *e)
{
	_cleanup_(oci_layout_freep) struct oci_layout *l = NULL;
	_cleanup_strv_free_ char **keep = NULL;
	struct oci_gc g = {0};
	struct budget_result b = {0};
	uint64_t max = o->max;
	int r = cache_open(s, &l, e);
	if (r == 0 && o->keep_cache && (r = artifact_cache_needed(s, l, &keep)) < 0)
		r = error_errno(e, r, "the blob cache in %s", s->root);
	if (r == 0 && (r = oci_layout_gc(l, keep, &g)) < 0)
		r = error_errno(e, r, "the blob cache in %s", s->root);
	if (r == 0 && max == 0)
		r = budget_configured(s, &max, e);
	if (r == 0 && max > 0)
		r = budget_apply(s, l, max, NULL, &b, e);
	if (r < 0) {
		oci_gc_release(&g);
		return r;
	}
	json_object *cache = json_object_new_object(), *removed = strv_to_json(g.removed);
	for (char **v = b.cache.removed; v && *v; v++)
		json_object_array_add(removed, json_object_new_string(*v));
	json_object_object_add(cache, "blobs_removed", removed);
	json_object_object_add(cache, "bytes_freed", json_object_new_uint64(g.bytes + b.cache.bytes));
	json_object_object_add(cache, "index_dropped", strv_to_json(g.dropped));
	json_object_object_add(out, "cache", cache);
	if (max > 0) {
		json_object *o2 = json_object_new_object();
		json_object_object_add(o2, "max_store_size", json_object_new_uint64(max));
		json_object_object_add(o2, "store_bytes_before", json_object_new_uint64(b.before));
		json_object_object_add(o2, "store_bytes", json_object_new_uint64(b.after));
		json_object_object_add(o2, "evicted", strv_to_json(b.evicted));
		json_object_object_add(o2, "over_budget", json_object_new_boolean(b.over));
		json_object_object_add(out, "budget", o2);
	}
	oci_gc_release(&g);
	budget_result_release(&b);
	return 0;
}

int inventory_gc(struct store *s, const struct gc_opts *o, json_object **ret, struct error *e)
{
	_cleanup_strv_free_ char **removed = NULL, **layers = NULL, **busy = NULL;
	int r = store_sweep(s, &removed);
	if (r < 0)
		return error_errno(e, r, "gc");
	if ((r = layer_gc(s, &layers, &busy)) < 0)
		return error_errno(e, r, "gc: build layers");
	for (char **b = busy; *b; b++)
		log_info("kept %s: a run is using it", *b);
	int runs = rundir_sweep();
	json_object *out = json_object_new_object();
	json_object_object_add(out, "removed", strv_to_json(removed));
	json_object_object_add(out, "layers", strv_to_json(layers));
	json_object_object_add(out, "run_directories", json_object_new_int(runs < 0 ? 0 : runs));
	if ((r = cache_and_budget(s, o, out, e)) < 0) {
		json_object_put(out);
		return r;
	}
	*ret = out;
	return 0;
}
