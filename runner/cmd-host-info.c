/* osrun host-info: this host's facts for schedulers and scripts
 * (hostinfo.h), as JSON or as lines to read. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "commands.h"
#include "hostinfo.h"
#include "options.h"

static void host_info_help(void)
{
	printf("Usage: osrun host-info [--json] [--labels] [--cache DIR]\n"
	       "\n"
	       "What a scheduler needs to know about this host: the accelerator runs\n"
	       "use and why, the host's CPU model, QEMU's version, the store's\n"
	       "filesystem, free space and reflinks, the snapshots with whether this\n"
	       "host can run each (and why not), the pools and sessions running, and\n"
	       "node labels made of these (osrun.io/kvm, osrun.io/cpu-model,\n"
	       "osrun.io/snapshot.NAME, ...). It only looks.\n"
	       "\n"
	       "Options:\n"
	       "      --json               one JSON object, stable for scripts (its fields:\n"
	       "                           docs/usage.md, \"host-info\")\n"
	       "      --labels             the labels alone, KEY=VALUE a line\n"
	       "      --cache DIR          the store (default: $OSRUN_CACHE, else ~/.cache/osrun)\n"
	       "  -h, --help               this text\n");
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static const char *str_or(json_object *o, const char *key, const char *dflt)
{
	const char *v = str(o, key);
	return v ? v : dflt;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void print_labels(json_object *o, const char *indent)
{
	json_object_object_foreach(get(o, "labels"), k, v)
	{
		printf("%s%s=%s\n", indent, k, json_object_get_string(v));
	}
}

static void print_store(json_object *st)
{
	json_object *hole = get(st, "hole_bytes"), *free = get(st, "free_bytes"), *total = get(st, "total_bytes");
	printf("store        %s on %s, ", str_or(st, "path", "?"), str_or(st, "filesystem", "?"));
	if (free && total)
		printf("%.1f GB free of %.1f GB, ", (double)json_object_get_uint64(free) / 1e9,
		       (double)json_object_get_uint64(total) / 1e9);
	printf("reflinks: %s, holes: ", json_object_get_boolean(get(st, "reflink")) ? "yes" : "no");
	if (hole)
		printf("%lld KiB\n", (long long)json_object_get_int64(hole) / 1024);
	else
		printf("cannot tell\n");
}

static void print_text(json_object *o)
{
	json_object *q = get(o, "qemu"), *a = NULL;
	const char *why = str(o, "accelerator_reason");
	printf("osrun        %s\n", str_or(o, "osrun_version", "?"));
	printf("accelerator  %s%s%s%s\n", str_or(o, "accelerator", "?"), why ? " (" : "", why ? why : "",
	       why ? ")" : "");
	printf("cpu model    %s\n", str_or(o, "cpu_model", "unknown"));
	printf("qemu         %s (%s)\n", str_or(q, "version", "does not run"), str_or(q, "binary", "?"));
	print_store(get(o, "store"));
	json_object_object_get_ex(o, "snapshots", &a);
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *sn = json_object_array_get_idx(a, i);
		const char *cpu = str(sn, "cpu_model"), *not = str(sn, "why_not");
		printf("%-12s %s: %s, %s%s%s, %s%s\n", i ? "" : "snapshot", str_or(sn, "name", "?"),
		       str_or(sn, "profile", "?"), str_or(sn, "accelerator", "?"), cpu ? " on " : "", cpu ? cpu : "",
		       not ? "not runnable here: " : "runnable", not ? not : "");
	}
	json_object_object_get_ex(o, "pools", &a);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		printf("%-12s %s\n", i ? "" : "pool", str_or(json_object_array_get_idx(a, i), "snapshot", "?"));
	a = get(o, "sessions");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *s = json_object_array_get_idx(a, i);
		printf("%-12s %s (of %s)\n", i ? "" : "session", str_or(s, "name", "?"), str_or(s, "snapshot", "?"));
	}
	printf("labels\n");
	print_labels(o, "             ");
}

int cmd_host_info(int argc, char **argv)
{
	struct common_opts c = {0};
	bool json = false, labels = false;
	struct error e = {0};
	const struct opt table[] = {
		{"json", 0, OPT_FLAG, &json, 0, 0, NULL},
		{"labels", 0, OPT_FLAG, &labels, 0, 0, NULL},
		OPTS_COMMON(&c),
	};
	int first, r = options_parse(table, host_info_help, false, argc, argv, &first, &e);
	if (r == 0)
		r = options_no_operands("host-info", argc, argv, first, &e);
	if (r == 0 && json && labels)
		r = error_set(&e, -EINVAL, "host-info: --json or --labels, not both");
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	json_object *o = NULL;
	if (hostinfo_collect(c.cache, OSRUN_VERSION, &o, &e) < 0)
		return options_report(&e);
	if (json)
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (labels)
		print_labels(o, "");
	else
		print_text(o);
	json_object_put(o);
	fflush(stdout);
	return 0;
}
