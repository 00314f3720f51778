/* osrun image fetch: a Windows ISO or the virtio-win ISO into the store
 * (image-fetch.h), with progress. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "commands.h"
#include "image-fetch.h"
#include "options.h"

struct fetch_plan {
	struct common_opts common;
	const char *version;
	const char *language;
	const char *mirror;
	const char *sha256;
	bool list;
	bool json;
};

static void fetch_help(void)
{
	printf("Usage: osrun image fetch [--version V] [--language L] [OPTIONS]\n"
	       "\n"
	       "Downloads an ISO into the store (ROOT/isos/) through Microsoft's own download\n"
	       "flow, or the virtio-win ISO from Fedora; resumes an interrupted download; keeps\n"
	       "the file only once verified (SHA-256 where known, and an install image wimlib\n"
	       "reads). An ISO already in the store is not fetched again.\n"
	       "\n"
	       "Options:\n"
	       "      --version V     what to fetch (default: " ISOFETCH_DEFAULT_VERSION "; --list shows all)\n"
	       "      --language L    Microsoft's language name (default: " ISOFETCH_DEFAULT_LANGUAGE ")\n"
	       "      --mirror URL    send every request to this server instead of Microsoft's\n"
	       "                      and Fedora's hosts, same paths (default: $OSRUN_ISO_MIRROR)\n"
	       "      --sha256 HEX    the SHA-256 the file must have (Microsoft's page lists them)\n"
	       "      --list          the versions osrun can fetch\n"
	       "      --json          the result (or the list) as JSON on stdout\n"
	       "      --cache DIR     the store\n"
	       "  -v, --verbose       say what happens\n"
	       "  -h, --help          this text\n");
}

static void list_print(bool json)
{
	size_t n;
	const struct isofetch_version *v = isofetch_versions(&n);
	json_object *a = json ? json_object_new_array() : NULL;
	for (size_t i = 0; i < n; i++) {
		if (!json) {
			printf("%-14s %s\n", v[i].name, v[i].title);
			continue;
		}
		json_object *o = json_object_new_object();
		json_object_object_add(o, "version", json_object_new_string(v[i].name));
		json_object_object_add(o, "title", json_object_new_string(v[i].title));
		json_object_array_add(a, o);
	}
	if (json)
		puts(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(a);
}

static void result_print(const char *version, const struct isofetch_result *res)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(version));
	json_object_object_add(o, "path", json_object_new_string(res->path));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)res->size));
	json_object_object_add(o, "cached", json_object_new_boolean(res->cached));
	json_object_object_add(o, "url", res->url ? json_object_new_string(res->url) : NULL);
	json_object_object_add(o, "sha256", *res->sha256 ? json_object_new_string(res->sha256) : NULL);
	json_object_object_add(o, "sha256_checked", json_object_new_boolean(res->sha256_checked));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

int cmd_image_fetch(int argc, char **argv)
{
	struct fetch_plan p = {.version = ISOFETCH_DEFAULT_VERSION};
	struct error e = {0};
	const struct opt table[] = {
		{"version", 0, OPT_STRING, &p.version, 0, 0, NULL},
		{"language", 0, OPT_STRING, &p.language, 0, 0, NULL},
		{"mirror", 0, OPT_STRING, &p.mirror, 0, 0, NULL},
		{"sha256", 0, OPT_STRING, &p.sha256, 0, 0, NULL},
		{"list", 0, OPT_FLAG, &p.list, 0, 0, NULL},
		{"json", 0, OPT_FLAG, &p.json, 0, 0, NULL},
		OPTS_COMMON(&p.common),
	};
	int first, r = options_parse(table, fetch_help, false, argc, argv, &first, &e);
	if (r == 0)
		r = options_no_operands("image fetch", argc, argv, first, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	if (p.list) {
		list_print(p.json);
		return 0;
	}
	_cleanup_(job_release) struct job j = {0};
	_cleanup_(isofetch_result_release) struct isofetch_result res = {0};
	if ((r = job_open_store(&j, p.common.cache, true, &e)) < 0 || (r = job_make_rundir(&j, &e)) < 0 ||
	    (r = image_fetch(&j, p.version, p.language, p.mirror, p.sha256, &res, &e)) < 0)
		return options_report(&e);
	if (p.json)
		result_print(p.version, &res);
	else
		puts(res.path);
	return 0;
}
