/* osrun snapshot list|inspect|rm|gc: look after the store. */
#define _GNU_SOURCE
#include <ftw.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "job.h"
#include "options.h"

static void snapshot_help(void)
{
	printf("Usage: osrun snapshot list [--json] [--cache-volumes]\n"
	       "       osrun snapshot inspect NAME [--json]\n"
	       "       osrun snapshot rm NAME [--json] [--cache-volumes]\n"
	       "       osrun snapshot gc [--json]\n"
	       "\n"
	       "list     every snapshot: name, parent, bytes on disk of its own and shared\n"
	       "         with other snapshots (hard links, reflinks), created, made by\n"
	       "inspect  one snapshot's metadata and files\n"
	       "rm       remove a snapshot (refused while a run uses it or another\n"
	       "         snapshot is built on it)\n"
	       "gc       remove what killed runs left behind, and build layers (layer-KEY)\n"
	       "         that no named snapshot is built on\n"
	       "\n"
	       "With --cache-volumes, list and rm act on cache volumes instead (the\n"
	       "directories 'osrun --cache-volume NAME:PATH' keeps between runs); rm is\n"
	       "refused while a run uses one.\n"
	       "\n"
	       "Options: --cache DIR, --json, --cache-volumes, -v, -h\n");
}

/* The snapshot as meta.json has it, with its name, size and files. */
static json_object *snapshot_json(const struct snapshot *sn, bool files)
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

static void human_size(uint64_t n, char *buf, size_t len)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t i = 0;
	while (v >= 1024 && i + 1 < ELEMENTSOF(u)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char *json_string(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static int do_list(struct job *j, bool json, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = store_list(j->store, &names);
	if (r < 0)
		return error_errno(e, r, "listing %s/snapshots", j->store->root);
	json_object *arr = json_object_new_array();
	for (char **n = names; *n; n++) {
		_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
		if (snapshot_open(j->store, *n, &sn) < 0) {
			log_warn("snapshot '%s': unreadable, skipped", *n);
			continue;
		}
		json_object_array_add(arr, snapshot_json(sn, false));
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_FLAGS));
	else {
		int w = 20;
		for (char **n = names; *n; n++)
			w = (int)strlen(*n) > w ? (int)strlen(*n) : w;
		printf("%-*s %-*s %10s %10s  %-20s  %s\n", w, "NAME", w, "PARENT", "OWN", "SHARED", "CREATED",
		       "MADE BY");
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *o = json_object_array_get_idx(arr, i), *v;
			char own[32], shared[32];
			human_size(json_object_object_get_ex(o, "own_bytes", &v) ? json_object_get_uint64(v) : 0, own,
				   sizeof own);
			human_size(json_object_object_get_ex(o, "shared_bytes", &v) ? json_object_get_uint64(v) : 0,
				   shared, sizeof shared);
			const char *parent = json_string(o, "parent"), *created = json_string(o, "created"),
				   *made_by = json_string(o, "made_by");
			printf("%-*s %-*s %10s %10s  %-20s  %s\n", w, json_string(o, "name"), w, parent ? parent : "-",
			       own, shared, created ? created : "", made_by ? made_by : "");
		}
	}
	json_object_put(arr);
	return 0;
}

static uint64_t tree_total;
static int tree_add(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	tree_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

static int do_list_caches(struct job *j, bool json, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = store_list_area(j->store, STORE_CACHES, &names);
	if (r < 0)
		return error_errno(e, r, "listing cache volumes in %s", j->store->root);
	json_object *arr = json_object_new_array();
	if (!json)
		printf("%-20s %10s  %s\n", "CACHE VOLUME", "SIZE", "IN USE");
	for (char **n = names; *n; n++) {
		_cleanup_free_ char *dir = store_path(j->store, STORE_CACHES, *n, NULL);
		_cleanup_(cache_volume_freep) struct cache_volume *c = NULL;
		bool busy = cache_volume_open(j->store, *n, &c) == -EBUSY;
		tree_total = 0;
		if (dir)
			(void)nftw(dir, tree_add, 16, FTW_PHYS | FTW_MOUNT);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(*n));
		json_object_object_add(o, "size", json_object_new_uint64(tree_total));
		json_object_object_add(o, "in_use", json_object_new_boolean(busy));
		json_object_array_add(arr, o);
		char size[32];
		human_size(tree_total, size, sizeof size);
		if (!json)
			printf("%-20s %10s  %s\n", *n, size, busy ? "yes" : "no");
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_FLAGS));
	json_object_put(arr);
	return 0;
}

static int do_rm_cache(struct job *j, const char *name, bool json, struct error *e)
{
	int r = cache_volume_remove(j->store, name);
	if (r == -ENOENT)
		return error_set(e, r, "cache volume '%s': not found in %s", name, j->store->root);
	if (r == -EBUSY)
		return error_set(e, r, "cache volume '%s': not removed, a run is using it", name);
	if (r < 0)
		return error_errno(e, r, "cache volume '%s'", name);
	if (json)
		printf("{ \"removed\": \"%s\" }\n", name);
	else
		log_info("removed cache volume '%s'", name);
	return 0;
}

static int not_found(struct job *j, const char *name, struct error *e)
{
	return error_set(e, -ENOENT, "snapshot '%s': not found in %s", name, j->store->root);
}

/* Without --json: one "key: value" line each, the machine and the files
 * indented under their headings. */
static void print_fields(json_object *o, int depth)
{
	json_object_object_foreach(o, key, v)
	{
		if (json_object_is_type(v, json_type_object)) {
			printf("%*s%s:\n", 2 * depth, "", key);
			print_fields(v, depth + 1);
		} else if (json_object_is_type(v, json_type_array)) {
			printf("%*s%s:\n", 2 * depth, "", key);
			for (size_t i = 0; i < json_object_array_length(v); i++)
				printf("%*s%s\n", 2 * depth + 2, "",
				       json_object_get_string(json_object_array_get_idx(v, i)));
		} else
			printf("%*s%s: %s\n", 2 * depth, "", key, v ? json_object_get_string(v) : "-");
	}
}

static int do_inspect(struct job *j, const char *name, bool json, struct error *e)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	int r = snapshot_open(j->store, name, &sn);
	if (r == -ENOENT)
		return not_found(j, name, e);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", name);
	json_object *o = snapshot_json(sn, true);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_FLAGS));
	else
		print_fields(o, 0);
	json_object_put(o);
	return 0;
}

static int do_rm(struct job *j, const char *name, bool json, struct error *e)
{
	_cleanup_free_ char *child = NULL;
	int r = store_remove(j->store, name, &child);
	if (r == -ENOENT)
		return not_found(j, name, e);
	if (r == -ENOTEMPTY)
		return error_set(e, r, "snapshot '%s': not removed, snapshot '%s' is built on it%s", name, child,
				 strncmp(child, "layer-", 6) ? "" : " (a build layer: 'osrun snapshot gc' removes it)");
	if (r == -EBUSY)
		return error_set(e, r, "snapshot '%s': not removed, a run is using it", name);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", name);
	if (json)
		printf("{ \"removed\": \"%s\" }\n", name);
	else
		log_info("removed snapshot '%s'", name);
	return 0;
}

static int do_gc(struct job *j, bool json, struct error *e)
{
	_cleanup_strv_free_ char **removed = NULL;
	_cleanup_strv_free_ char **layers = NULL, **busy = NULL;
	int r = store_sweep(j->store, &removed);
	if (r < 0)
		return error_errno(e, r, "gc");
	if ((r = store_gc_layers(j->store, &layers, &busy)) < 0)
		return error_errno(e, r, "gc: build layers");
	for (char **b = busy; *b; b++)
		log_info("kept %s: a run is using it", *b);
	int runs = rundir_sweep();
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	for (char **p = removed; *p; p++)
		json_object_array_add(arr, json_object_new_string(*p));
	json_object_object_add(o, "removed", arr);
	json_object *la = json_object_new_array();
	for (char **p = layers; *p; p++)
		json_object_array_add(la, json_object_new_string(*p));
	json_object_object_add(o, "layers", la);
	json_object_object_add(o, "run_directories", json_object_new_int(runs < 0 ? 0 : runs));
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	else {
		for (char **p = removed; *p; p++)
			printf("removed %s/%s\n", j->store->root, *p);
		for (char **p = layers; *p; p++)
			printf("removed layer %s (no named snapshot is built on it)\n", *p);
		if (runs > 0)
			printf("removed %d run directories of killed runs\n", runs);
		if (!*removed && !*layers && runs <= 0)
			printf("nothing to remove\n");
	}
	json_object_put(o);
	return 0;
}

/* The action and, for inspect and rm, the snapshot it names. */
static int snapshot_parse(int argc, char **argv, const char **ret_action, const char **ret_name, struct common_opts *c,
			  bool *json, bool *caches, struct error *e)
{
	const struct opt table[] = {
		{"json", 0, OPT_FLAG, json, 0, 0, NULL},
		{"cache-volumes", 0, OPT_FLAG, caches, 0, 0, NULL},
		OPTS_COMMON(c),
	};
	int first, r = options_parse(table, snapshot_help, false, argc, argv, &first, e);
	if (r != 0)
		return r;
	if (first >= argc)
		return error_set(e, -EINVAL,
				 "snapshot: which action? list, inspect, rm or gc (see 'osrun snapshot --help')");
	const char *action = argv[first++];
	bool needs_name = !strcmp(action, "inspect") || !strcmp(action, "rm");
	if (!needs_name && strcmp(action, "list") && strcmp(action, "gc"))
		return error_set(e, -EINVAL, "snapshot: unknown action '%s' (list, inspect, rm or gc)", action);
	if (needs_name && first >= argc)
		return error_set(e, -EINVAL, "snapshot %s: which snapshot?", action);
	if (argc - first > (needs_name ? 1 : 0))
		return error_set(e, -EINVAL, "snapshot %s: unexpected argument '%s'", action, argv[argc - 1]);
	*ret_action = action;
	*ret_name = needs_name ? argv[first] : NULL;
	return *ret_name ? options_check_snapshot_name(*ret_name, e) : 0;
}

static int snapshot_execute(const char *action, const char *name, const struct common_opts *c, bool json, bool caches,
			    struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, c->cache, strcmp(action, "gc") != 0, e);
	if (r < 0)
		return r;
	if (caches && strcmp(action, "list") && strcmp(action, "rm"))
		return error_set(e, -EINVAL, "snapshot %s: --cache-volumes goes with list and rm only", action);
	if (!strcmp(action, "list"))
		return caches ? do_list_caches(&j, json, e) : do_list(&j, json, e);
	if (!strcmp(action, "rm") && caches)
		return do_rm_cache(&j, name, json, e);
	if (!strcmp(action, "inspect"))
		return do_inspect(&j, name, json, e);
	if (!strcmp(action, "rm"))
		return do_rm(&j, name, json, e);
	return do_gc(&j, json, e);
}

int cmd_snapshot(int argc, char **argv)
{
	struct common_opts c = {0};
	struct error e = {0};
	const char *action = NULL, *name = NULL;
	bool json = false, caches = false;
	int r = snapshot_parse(argc, argv, &action, &name, &c, &json, &caches, &e);
	if (r == 0)
		r = snapshot_execute(action, name, &c, json, caches, &e);
	return r < 0 ? options_report(&e) : 0;
}
