/* osrun snapshot gc | pin NAME | unpin NAME: keeping the store's size in
 * hand (runner/inventory.c, budget.c; docs/registry.md). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <string.h>

#include "budget.h"
#include "commands.h"
#include "inventory.h"
#include "options.h"

static void upkeep_help(void)
{
	printf("Usage: osrun snapshot gc [--keep-cache] [--max-store-size SIZE] [--json]\n"
	       "       osrun snapshot pin NAME | unpin NAME\n"
	       "\n"
	       "gc     remove killed runs' leftovers, build layers no snapshot is on, and\n"
	       "       the registry blob cache (with --keep-cache: only what no snapshot in\n"
	       "       the store stands for); then, with a size budget, the least recently\n"
	       "       used pulled snapshots until the store fits\n"
	       "pin    keep snapshot NAME from the size budget; unpin: no longer\n"
	       "\n"
	       "--max-store-size SIZE (50G, 512M, 1T): the budget; without it,\n"
	       "$" BUDGET_ENV " or the store's max-store-size file, which every pull\n"
	       "applies too. Only pulled snapshots go: never one made here, pinned, in\n"
	       "use by a run, pool or session, or that a snapshot which stays is on.\n"
	       "\n"
	       "Options: --keep-cache, --max-store-size SIZE, --json, --cache DIR, -v, -h\n");
}

static void print_list(json_object *o, const char *key, const char *before, const char *after)
{
	json_object *v = o ? json_object_object_get(o, key) : NULL;
	for (size_t i = 0; v && i < json_object_array_length(v); i++)
		printf("%s%s%s\n", before, json_object_get_string(json_object_array_get_idx(v, i)), after);
}

static void print_gc(json_object *o, const char *root)
{
	json_object *cache = json_object_object_get(o, "cache"), *budget = json_object_object_get(o, "budget");
	_cleanup_free_ char *under = NULL;
	if (asprintf(&under, "removed %s/", root) < 0)
		return;
	print_list(o, "removed", under, "");
	print_list(o, "layers", "removed layer ", " (no named snapshot is built on it)");
	int runs = json_object_get_int(json_object_object_get(o, "run_directories"));
	if (runs > 0)
		printf("removed %d run directories of killed runs\n", runs);
	size_t blobs = json_object_array_length(json_object_object_get(cache, "blobs_removed"));
	if (blobs)
		printf("removed %zu blobs from the blob cache (%" PRIu64 " bytes)\n", blobs,
		       json_object_get_uint64(json_object_object_get(cache, "bytes_freed")));
	print_list(budget, "evicted", "removed snapshot ", " (least recently used, over the size budget)");
	if (!json_object_array_length(json_object_object_get(o, "removed")) &&
	    !json_object_array_length(json_object_object_get(o, "layers")) && runs <= 0 && !blobs &&
	    !(budget && json_object_array_length(json_object_object_get(budget, "evicted"))))
		printf("nothing to remove\n");
	if (budget)
		printf("the store uses %" PRIu64 " bytes of its %" PRIu64 "%s\n",
		       json_object_get_uint64(json_object_object_get(budget, "store_bytes")),
		       json_object_get_uint64(json_object_object_get(budget, "max_store_size")),
		       json_object_get_boolean(json_object_object_get(budget, "over_budget"))
			       ? ": still over (what is left is pinned, in use, made here, or built on)"
			       : "");
}

static int upkeep_execute(const char *action, const char *name, const char *cache, const struct gc_opts *g, bool json,
			  struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, cache, false, e);
	if (r < 0)
		return r;
	if (strcmp(action, "gc")) {
		bool pin = !strcmp(action, "pin");
		r = snapshot_pin(j.store, name, pin);
		if (r == -ENOENT)
			return error_set(e, r, "snapshot '%s': not found in %s", name, j.store->root);
		if (r < 0)
			return error_errno(e, r, "snapshot '%s'", name);
		if (!json)
			log_info("%s snapshot '%s'", pin ? "pinned" : "unpinned", name);
		else {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(name));
			json_object_object_add(o, "pinned", json_object_new_boolean(pin));
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED));
			json_object_put(o);
		}
		return 0;
	}
	json_object *o;
	if ((r = inventory_gc(j.store, g, &o, e)) < 0)
		return r;
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_gc(o, j.store->root);
	json_object_put(o);
	return 0;
}

int cmd_snapshot_upkeep(int argc, char **argv)
{
	struct common_opts c = {0};
	struct error e = {0};
	struct gc_opts g = {0};
	const char *max = NULL;
	bool json = false;
	const struct opt table[] = {
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL},
		{"keep-cache", 0, OPT_FLAG, &g.keep_cache, 0, 0, NULL},
		{"max-store-size", 0, OPT_STRING, &max, 0, 0, NULL},
		OPTS_COMMON(&c),
	};
	int first, r = options_parse(table, upkeep_help, false, argc, argv, &first, &e);
	if (r > 0)
		return 0;
	const char *action = r == 0 ? argv[first] : NULL;
	bool gc = action && !strcmp(action, "gc");
	int want = gc ? 1 : 2;
	if (r == 0 && argc - first < want)
		r = error_set(&e, -EINVAL, "snapshot %s: which snapshot?", action);
	else if (r == 0 && argc - first > want)
		r = error_set(&e, -EINVAL, "snapshot %s: unexpected argument '%s'", action, argv[argc - 1]);
	else if (r == 0 && !gc && (max || g.keep_cache))
		r = error_set(&e, -EINVAL, "snapshot %s: --max-store-size and --keep-cache go with gc", action);
	else if (r == 0 && !gc)
		r = options_check_snapshot_name(argv[first + 1], &e);
	if (r == 0 && max && (budget_parse(max, &g.max) < 0 || g.max == 0))
		r = error_set(&e, -EINVAL, "--max-store-size '%s': expected a size such as 50G, 512M or 1T", max);
	if (r == 0)
		r = upkeep_execute(action, gc ? NULL : argv[first + 1], c.cache, &g, json, &e);
	return r < 0 ? options_report(&e) : 0;
}
