/* osrun snapshot push NAME REF, osrun snapshot pull REF [NAME]: a snapshot
 * to or from an OCI registry (runner/registry.c, docs/registry.md). */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "job.h"
#include "options.h"
#include "registry.h"
#include "../snapshots/source.h"

static void transfer_help(void)
{
	printf("Usage: osrun snapshot push NAME REF [--tls-verify=false] [--json]\n"
	       "       osrun snapshot pull REF [NAME] [--tls-verify=false] [--json]\n"
	       "       osrun snapshot source [NAME [REF | --rm]] [--json]\n"
	       "\n"
	       "push  upload snapshot NAME to REF (HOST[:PORT]/PATH[:TAG]), its parents\n"
	       "      first (to the same repository, tagged sha256-HEX by their digests);\n"
	       "      blobs the registry has already are not sent again\n"
	       "pull  download REF (a tag or @sha256:DIGEST) as snapshot NAME (default:\n"
	       "      the last part of the repository's path), with the parents the store\n"
	       "      lacks; every blob is checked against its digest before anything\n"
	       "      enters the store, and blobs the store's cache has are not fetched\n"
	       "source  where snapshot NAME is pulled from when a run (-s NAME) needs it\n"
	       "      and the store lacks it; without REF: show it; --rm: forget it;\n"
	       "      without NAME: list them. 'osrun -s REF' pulls REF on first use too\n"
	       "\n"
	       "A pulled snapshot is used as it is: a tag is not looked up again. To\n"
	       "take a tag's new content, 'osrun snapshot rm NAME' then pull it again\n"
	       "(the blobs that did not change are not fetched).\n"
	       "\n"
	       "skopeo carries the blobs, with its own credentials (auth.json,\n"
	       "~/.docker/config.json, REGISTRY_AUTH_FILE). --tls-verify=false talks to\n"
	       "a registry over plain HTTP or with a certificate that does not verify\n"
	       "(OSRUN_REGISTRY_TLS_VERIFY=0 the same, also for 'osrun -s REF').\n"
	       "\n"
	       "Options: --tls-verify=true|false, --json, --cache DIR, -v, -h\n");
}

static void print_result(const char *action, const char *ref, const struct registry_result *r, bool json)
{
	bool pull = !strcmp(action, "pull");
	if (!json) {
		printf("%s snapshot '%s' %s %s: %s", pull ? "pulled" : "pushed", r->name, pull ? "from" : "to", ref,
		       r->digest);
		if (pull)
			printf(" (%zu blobs fetched, %zu in the cache already)", r->blobs_fetched, r->blobs_kept);
		printf("\n");
		return;
	}
	json_object *o = json_object_new_object(), *parents = json_object_new_array();
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "ref", json_object_new_string(ref));
	json_object_object_add(o, "digest", json_object_new_string(r->digest));
	for (char **p = pull ? r->fetched_parents : r->chain; p && *p; p++)
		json_object_array_add(parents, json_object_new_string(*p));
	json_object_object_add(o, pull ? "parents_pulled" : "parents", parents);
	if (pull) {
		json_object_object_add(o, "blobs_fetched", json_object_new_int64((int64_t)r->blobs_fetched));
		json_object_object_add(o, "blobs_cached", json_object_new_int64((int64_t)r->blobs_kept));
		json_object *evicted = json_object_new_array();
		for (char **p = r->evicted; p && *p; p++)
			json_object_array_add(evicted, json_object_new_string(*p));
		json_object_object_add(o, "evicted", evicted);
	}
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static int transfer_parse(int argc, char **argv, struct common_opts *c, bool *json, bool *rm, struct registry_opts *ro,
			  char ***ret_args, struct error *e)
{
	const char *tls = NULL;
	const struct opt table[] = {
		{"json", 0, OPT_FLAG, json, 0, 0, NULL},
		{"rm", 0, OPT_FLAG, rm, 0, 0, NULL},
		{"tls-verify", 0, OPT_STRING, &tls, 0, 0, NULL},
		OPTS_COMMON(c),
	};
	int first, r = options_parse(table, transfer_help, false, argc, argv, &first, e);
	if (r != 0)
		return r;
	if (tls && strcmp(tls, "true") && strcmp(tls, "false"))
		return error_set(e, -EINVAL, "--tls-verify '%s': true or false", tls);
	options_registry(ro);
	if (tls)
		ro->tls_verify = !strcmp(tls, "true");
	const char *action = argv[first];
	if (!strcmp(action, "source")) {
		*ret_args = argv + first;
		return argc - first - 1 > 2
			       ? error_set(e, -EINVAL, "snapshot source: unexpected argument '%s'", argv[argc - 1])
		       : argc - first > 1 ? options_check_snapshot_name(argv[first + 1], e)
					  : 0;
	}
	int want = !strcmp(action, "push") ? 2 : 1, n = argc - first - 1;
	if (*rm)
		return error_set(e, -EINVAL, "snapshot %s: --rm is for 'snapshot source'", action);
	if (n < want)
		return error_set(e, -EINVAL, "snapshot %s: %s", action,
				 want == 2 ? "which snapshot, to which reference? (push NAME REF)"
					   : "from which reference? (pull REF [NAME])");
	if (n > 2)
		return error_set(e, -EINVAL, "snapshot %s: unexpected argument '%s'", action, argv[argc - 1]);
	*ret_args = argv + first;
	if (want == 2)
		return options_check_snapshot_name(argv[first + 1], e);
	return n == 2 ? options_check_snapshot_name(argv[first + 2], e) : 0;
}

/* snapshot source [NAME [REF | --rm]]: args[0] is "source". */
static int source_execute(struct store *s, char **args, bool rm, bool json, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_free_ char *repo = NULL, *last = NULL;
	int r;
	if (args[1] && (args[2] || rm)) {
		if (args[2] && registry_ref_split(args[2], &repo, &last) < 0)
			return error_set(e, -EINVAL, "snapshot source: '%s' is not a registry reference", args[2]);
		r = snapshot_source_set(s, args[1], rm ? NULL : args[2]);
		return r < 0 ? error_errno(e, r, "snapshot '%s': its source", args[1]) : 0;
	}
	if (args[1])
		names = strv_append(NULL, args[1]);
	else if ((r = snapshot_source_list(s, &names)) < 0)
		return error_errno(e, r, "%s: the snapshots' sources", s->root);
	json_object *o = json_object_new_object();
	for (char **n = names; n && *n; n++) {
		_cleanup_free_ char *ref = NULL;
		if ((r = snapshot_source_get(s, *n, &ref)) < 0 && (args[1] || r != -ENOENT)) {
			json_object_put(o);
			return error_errno(e, r, "snapshot '%s': its source", *n);
		}
		if (ref && !json)
			printf(args[1] ? "%s\n" : "%-20s %s\n", args[1] ? ref : *n, ref);
		if (ref)
			json_object_object_add(o, *n, json_object_new_string(ref));
	}
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

int cmd_snapshot_transfer(int argc, char **argv)
{
	struct common_opts c = {0};
	struct error e = {0};
	struct registry_opts ro = {0};
	struct registry_result res = {0};
	bool json = false, rm = false;
	char **args = NULL;
	int r = transfer_parse(argc, argv, &c, &json, &rm, &ro, &args, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	_cleanup_(job_release) struct job j = {0};
	bool push = !strcmp(args[0], "push");
	r = job_open_store(&j, c.cache, false, &e);
	if (r == 0 && !strcmp(args[0], "source"))
		return source_execute(j.store, args, rm, json, &e) < 0 ? options_report(&e) : 0;
	if (r == 0)
		r = push ? registry_push(j.store, args[1], args[2], &ro, &res, &e)
			 : registry_pull(j.store, args[1], args[2], &ro, &res, &e);
	if (r < 0)
		return options_report(&e);
	print_result(args[0], args[push ? 2 : 1], &res, json);
	registry_result_release(&res);
	return 0;
}
