/* osrun snapshot list|inspect|rm|gc: the store (push, pull: cmd-registry.c). */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "inventory.h"
#include "options.h"

static void snapshot_help(void)
{
	printf("Usage: osrun snapshot list [--json] [--cache-volumes]\n"
	       "       osrun snapshot inspect NAME [--json]\n"
	       "       osrun snapshot rm NAME [--json] [--cache-volumes]\n"
	       "       osrun snapshot gc [--keep-cache] [--max-store-size SIZE] [--json]\n"
	       "       osrun snapshot pin NAME | unpin NAME  (see gc --help)\n"
	       "       osrun snapshot push NAME REF | pull REF [NAME] | source NAME [REF]  (see push --help)\n"
	       "\n"
	       "list     every snapshot: name, parent, bytes on disk of its own and shared\n"
	       "         with other snapshots (hard links, reflinks), created, made by\n"
	       "inspect  one snapshot's metadata and files\n"
	       "rm       remove a snapshot (refused while a run uses it or another\n"
	       "         snapshot is built on it)\n"
	       "gc       remove killed runs' leftovers, build layers no snapshot is on,\n"
	       "         the registry blob cache; with a size budget, least recently used\n"
	       "         pulled snapshots\n"
	       "pin      keep a snapshot from the size budget (unpin: no longer)\n"
	       "\n"
	       "With --cache-volumes, list and rm act on cache volumes instead (what\n"
	       "'osrun --cache-volume NAME:PATH' keeps); rm is refused while a run uses one.\n"
	       "\n"
	       "Options: --cache DIR, --json, --cache-volumes, -v, -h\n");
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

static const char *json_string(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

/* --json prints o as it is; the tables below are for people. Takes o. */
static void print_json(json_object *o, int flags)
{
	printf("%s\n",
	       json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void print_snapshots(json_object *arr)
{
	int w = 20;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		int n = (int)strlen(json_string(json_object_array_get_idx(arr, i), "name"));
		w = n > w ? n : w;
	}
	printf("%-*s %-*s %10s %10s  %-3s  %-20s  %s\n", w, "NAME", w, "PARENT", "OWN", "SHARED", "PIN", "CREATED",
	       "MADE BY/FROM");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		char own[32], shared[32];
		human_size(json_object_get_uint64(json_object_object_get(o, "own_bytes")), own, sizeof own);
		human_size(json_object_get_uint64(json_object_object_get(o, "shared_bytes")), shared, sizeof shared);
		const char *parent = json_string(o, "parent"), *created = json_string(o, "created"),
			   *made_by = json_string(o, "pulled_from") ?: json_string(o, "made_by");
		bool pinned = json_object_get_boolean(json_object_object_get(o, "pinned"));
		printf("%-*s %-*s %10s %10s  %-3s  %-20s  %s\n", w, json_string(o, "name"), w, parent ? parent : "-",
		       own, shared, pinned ? "yes" : "-", created ? created : "", made_by ? made_by : "");
	}
}

static void print_caches(json_object *arr)
{
	printf("%-20s %10s  %s\n", "CACHE VOLUME", "SIZE", "IN USE");
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		char size[32];
		human_size(json_object_get_uint64(json_object_object_get(o, "size")), size, sizeof size);
		printf("%-20s %10s  %s\n", json_string(o, "name"), size,
		       json_object_get_boolean(json_object_object_get(o, "in_use")) ? "yes" : "no");
	}
}

static int do_list(struct job *j, bool json, bool caches, struct error *e)
{
	json_object *arr;
	int r = caches ? inventory_caches(j->store, &arr, e) : inventory_snapshots(j->store, &arr, e);
	if (r < 0)
		return r;
	if (json)
		print_json(arr, JSON_C_TO_STRING_PRETTY);
	else {
		(caches ? print_caches : print_snapshots)(arr);
		json_object_put(arr);
	}
	return 0;
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
		return error_set(e, r, "snapshot '%s': not found in %s", name, j->store->root);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", name);
	json_object *o = inventory_snapshot(sn, true);
	if (json)
		print_json(o, JSON_C_TO_STRING_PRETTY);
	else {
		print_fields(o, 0);
		json_object_put(o);
	}
	return 0;
}

static int do_rm(struct job *j, const char *name, bool json, bool cache, struct error *e)
{
	_cleanup_free_ char *child = NULL;
	const char *what = cache ? "cache volume" : "snapshot";
	int r = cache ? cache_volume_remove(j->store, name) : snapshot_remove(j->store, name, &child);
	if (r == -ENOENT)
		return error_set(e, r, "%s '%s': not found in %s", what, name, j->store->root);
	if (r == -ENOTEMPTY && !cache)
		return error_set(e, r, "snapshot '%s': not removed, snapshot '%s' is built on it%s", name, child,
				 strncmp(child, "layer-", 6) ? "" : " (a build layer: 'osrun snapshot gc' removes it)");
	if (r == -EBUSY)
		return error_set(e, r, "%s '%s': not removed, a run is using it", what, name);
	if (r < 0)
		return error_errno(e, r, "%s '%s'", what, name);
	if (!json) {
		log_info("removed %s '%s'", what, name);
		return 0;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "removed", json_object_new_string(name));
	print_json(o, 0);
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
				 "snapshot: which action? list, inspect, rm, gc, pin, unpin, push or pull (see "
				 "'osrun snapshot --help')");
	const char *action = argv[first++];
	bool needs_name = !strcmp(action, "inspect") || !strcmp(action, "rm");
	if (!needs_name && strcmp(action, "list"))
		return error_set(e, -EINVAL,
				 "snapshot: unknown action '%s' (list, inspect, rm, gc, pin, unpin, push, pull)",
				 action);
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
	int r = job_open_store(&j, c->cache, true, e);
	if (r < 0)
		return r;
	if (caches && strcmp(action, "list") && strcmp(action, "rm"))
		return error_set(e, -EINVAL, "snapshot %s: --cache-volumes goes with list and rm only", action);
	if (!strcmp(action, "list"))
		return do_list(&j, json, caches, e);
	if (!strcmp(action, "inspect"))
		return do_inspect(&j, name, json, e);
	return do_rm(&j, name, json, caches, e);
}

int cmd_snapshot(int argc, char **argv)
{
	int i = 1;
	while (i < argc && (argv[i][0] == '-' || !strcmp(argv[i - 1], "--cache")))
		i++;
	if (i < argc && (!strcmp(argv[i], "push") || !strcmp(argv[i], "pull") || !strcmp(argv[i], "source")))
		return cmd_snapshot_transfer(argc, argv);
	if (i < argc && (!strcmp(argv[i], "gc") || !strcmp(argv[i], "pin") || !strcmp(argv[i], "unpin")))
		return cmd_snapshot_upkeep(argc, argv);
	struct common_opts c = {0};
	struct error e = {0};
	const char *action = NULL, *name = NULL;
	bool json = false, caches = false;
	int r = snapshot_parse(argc, argv, &action, &name, &c, &json, &caches, &e);
	if (r == 0)
		r = snapshot_execute(action, name, &c, json, caches, &e);
	return r < 0 ? options_report(&e) : 0;
}
