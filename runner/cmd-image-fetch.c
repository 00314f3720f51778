/* osrun image fetch: a Windows ISO or the virtio-win ISO into the store
 * (isofetch.h), with progress; also what image build uses when it is given
 * no ISO. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "commands.h"
#include "isofetch.h"
#include "job.h"
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

struct progress_state {
	const char *name;
	usec_t start, last;
	uint64_t first;
};

/* On a terminal every second, in place; else a line a minute. */
static void progress_show(void *ctx, uint64_t done, uint64_t total)
{
	struct progress_state *s = ctx;
	usec_t now = now_usec();
	if (!s->start)
		s->start = now, s->first = done;
	if (done == 0 || (!isatty(STDERR_FILENO) && now - s->last < 60 * USEC_PER_SEC))
		return;
	s->last = now;
	double secs = (double)(now - s->start) / USEC_PER_SEC, rate = secs > 0 ? (double)(done - s->first) / secs : 0;
	char eta[32] = "";
	if (total > done && rate > 0)
		snprintf(eta, sizeof eta, ", %.0f min left", (double)(total - done) / rate / 60 + 0.5);
	char of[32] = "";
	if (total)
		snprintf(of, sizeof of, " of %.2f", (double)total / (1 << 30));
	log_progress("fetching %s: %.2f%s GiB, %.1f MiB/s%s", s->name, (double)done / (1 << 30), of, rate / (1 << 20),
		     eta);
}

static int image_fetch_path(struct job *j, const char *version, const char *language, const char *mirror,
			    const char *sha256, struct isofetch_result *ret, struct error *e)
{
	const struct isofetch_version *v = isofetch_version_find(version);
	if (!v)
		return error_set(e, -EINVAL, "--version '%s': unknown ('osrun image fetch --list' shows them)",
				 version);
	if (!mirror && getenv("OSRUN_ISO_MIRROR") && *getenv("OSRUN_ISO_MIRROR"))
		mirror = getenv("OSRUN_ISO_MIRROR");
	if (mirror && !http_url_valid(mirror, true))
		return error_set(e, -EINVAL, "--mirror '%.200s': expected an http:// or https:// URL", mirror);
	if (sha256 && (strlen(sha256) != 64 || sha256[strspn(sha256, "0123456789abcdefABCDEF")]))
		return error_set(e, -EINVAL, "--sha256: expected 64 hex digits");
	struct progress_state ps = {.name = v->name};
	struct isofetch_plan p = {
		.version = v,
		.language = language ? language : ISOFETCH_DEFAULT_LANGUAGE,
		.mirror = mirror,
		.sha256 = sha256,
		.progress = {.fn = progress_show, .ctx = &ps},
	};
	/* The mirror is not shown: its URL may carry credentials. */
	log_info("fetching %s: %s%s", v->name, v->title, mirror ? ", through the mirror" : "");
	int r = isofetch_run(j->store, &p, j->rundir->path, ret, e);
	log_progress_end();
	if (r < 0)
		return r;
	if (ret->cached)
		log_info("%s: in the store already", ret->path);
	else
		log_info("%s: %.1f GiB, SHA-256 %s (%s)", ret->path, (double)ret->size / (1 << 30), ret->sha256,
			 ret->sha256_checked ? "as expected" : "no published value to check it against");
	return 0;
}

int image_fetch_missing(struct job *j, const char *version, const char *language, const char **io_iso,
			const char **io_virtio, struct isofetch_result *iso, struct isofetch_result *virtio,
			struct error *e)
{
	const char *v = version ? version : ISOFETCH_DEFAULT_VERSION;
	int r = *io_iso ? 0 : image_fetch_path(j, v, language, NULL, NULL, iso, e);
	if (r == 0 && !*io_virtio)
		r = image_fetch_path(j, ISOFETCH_VIRTIO, NULL, NULL, NULL, virtio, e);
	if (r < 0)
		return r;
	*io_iso = *io_iso ? *io_iso : iso->path;
	*io_virtio = *io_virtio ? *io_virtio : virtio->path;
	return 0;
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
	    (r = image_fetch_path(&j, p.version, p.language, p.mirror, p.sha256, &res, &e)) < 0)
		return options_report(&e);
	if (p.json)
		result_print(p.version, &res);
	else
		puts(res.path);
	return 0;
}
