#define _GNU_SOURCE
#include "options.h"

#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "../snapshots/store.h"
#include "lib/proc.h"
#include "registry-use.h"
#include "run.h"

static const char *default_expect(const struct opt *o)
{
	switch (o->kind) {
	case OPT_SECONDS:
		return "expected a positive number of seconds";
	case OPT_ENV:
		return "expected NAME=VALUE";
	default:
		return "expected a number";
	}
}

/* Stores one option's argument where its table entry says. */
static int opt_apply(const struct opt *o, const char *arg, struct error *e)
{
	const char *expect = o->expect ? o->expect : default_expect(o);
	switch (o->kind) {
	case OPT_FLAG:
		*(bool *)o->dest = true;
		return 0;
	case OPT_COUNT:
		(*(int *)o->dest)++;
		return 0;
	case OPT_STRING:
		*(const char **)o->dest = arg;
		return 0;
	case OPT_SECONDS:
		if (parse_seconds(arg, o->dest) < 0)
			return error_set(e, -EINVAL, "--%s '%s': %s", o->name, arg, expect);
		return 0;
	case OPT_UINT:
		if (parse_uint(arg, o->min, o->max, o->dest) < 0)
			return error_set(e, -EINVAL, "--%s '%s': %s", o->name, arg, expect);
		return 0;
	case OPT_ENV:
		if (!strchr(arg, '=') || arg[0] == '=')
			return error_set(e, -EINVAL, "--%s '%s': %s", o->name, arg, expect);
		/* The guest helpers' own variables (case-insensitive on Windows). */
		if (!strncasecmp(arg, "OSRUN_", 6))
			return error_set(e, -EINVAL, "--%s '%s': names beginning with OSRUN_ are osrun's own", o->name,
					 arg);
		/* A checked NAME=VALUE is a list entry. */
		__attribute__((fallthrough));
	case OPT_LIST:
		if (!(*(char ***)o->dest = strv_append(*(char ***)o->dest, arg)))
			return error_errno(e, -ENOMEM, "--%s", o->name);
		return 0;
	default:
		return 0;
	}
}

static int bad_option(int c, char **argv, struct error *e)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		return error_set(e, -EINVAL, "option '%s' needs a value (see 'osrun --help')", arg);
	if (optopt && arg[0] == '-' && arg[1] != '-')
		return error_set(e, -EINVAL, "unknown option '-%c' (see 'osrun --help')", optopt);
	return error_set(e, -EINVAL, "unknown option '%s' (see 'osrun --help')", arg);
}

#define OPTS_MAX 32

int options_parse(const struct opt *table, void (*help)(void), bool in_order, int argc, char **argv, int *ret_optind,
		  struct error *e)
{
	struct option longs[OPTS_MAX + 1] = {{0}};
	char shorts[2 + 3 * OPTS_MAX + 1] = {0}, *w = shorts;
	*w++ = in_order ? '+' : ':';
	if (in_order)
		*w++ = ':';
	size_t n = 0;
	for (; table[n].name; n++) {
		assert(n < OPTS_MAX);
		bool arg = table[n].kind >= OPT_STRING && table[n].kind <= OPT_LIST;
		longs[n] = (struct option){table[n].name, arg ? required_argument : no_argument, NULL, 0x100 + (int)n};
		if (table[n].short_name) {
			*w++ = (char)table[n].short_name;
			if (arg)
				*w++ = ':';
		}
	}
	opterr = 0;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) >= 0) {
		const struct opt *o = NULL;
		if (c >= 0x100 && c < 0x100 + (int)n)
			o = &table[c - 0x100];
		for (size_t i = 0; !o && c != '?' && c != ':' && i < n; i++)
			if (table[i].short_name == c)
				o = &table[i];
		if (!o)
			return bad_option(c, argv, e);
		if (o->kind == OPT_HELP) {
			help();
			return 1;
		}
		if (o->kind == OPT_VERSION) {
			printf("osrun %s\n", OSRUN_VERSION);
			return 1;
		}
		int r = opt_apply(o, optarg, e);
		if (r < 0)
			return r;
		if (o->kind == OPT_COUNT && o->dest && *(int *)o->dest > 0)
			log_set_level(LOG_DEBUG);
	}
	if (options_parse_only())
		return 1;
	*ret_optind = optind;
	return 0;
}

bool options_parse_only(void)
{
	const char *v = getenv("OSRUN_PARSE_ONLY");
	return v && !strcmp(v, "1");
}

int options_no_operands(const char *command, int argc, char **argv, int first, struct error *e)
{
	if (first < argc)
		return error_set(e, -EINVAL, "%s: unexpected argument '%s' (see 'osrun %s --help')", command,
				 argv[first], command);
	return 0;
}

int options_check_snapshot_name(const char *name, struct error *e)
{
	const char *why;
	if (snapshot_name_check(name, &why) < 0)
		return error_set(e, -EINVAL, "snapshot name '%s' %s", name, why);
	return 0;
}

int options_check_snapshot_use(const char *value, struct error *e)
{
	_cleanup_free_ char *name = NULL;
	if (!registry_is_ref(value))
		return options_check_snapshot_name(value, e);
	if (registry_local_name(value, &name) < 0)
		return error_set(
			e, -EINVAL,
			"-s %s: has a '/', so it is taken for a registry reference, and it is not one osrun "
			"can pull (HOST[:PORT]/PATH[:TAG] or HOST[:PORT]/PATH@sha256:..., the last part short)",
			value);
	return 0;
}

/* "1.5 GiB": sizes and rates on a progress line. */
static void size_text(uint64_t n, char *buf, size_t len)
{
	const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t i = 0;
	for (; v >= 1024 && i + 1 < ELEMENTSOF(unit); i++)
		v /= 1024;
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, unit[i]);
}

static void registry_progress_show(const struct registry_progress *p, void *data)
{
	char done[32], total[32], rate[32], left[32] = "";
	double secs = (double)p->elapsed / USEC_PER_SEC;
	uint64_t bps = secs > 0 ? (uint64_t)((double)p->done / secs) : 0;
	size_text(p->done, done, sizeof done);
	size_text(p->total, total, sizeof total);
	size_text(bps, rate, sizeof rate);
	if (p->total && bps && p->done < p->total) {
		uint64_t s = (p->total - p->done) / bps;
		snprintf(left, sizeof left, ", %" PRIu64 ":%02" PRIu64 " left", s / 60, s % 60);
	}
	log_progress("%s%s%s: %s%s%s, %s/s%s", p->what, p->file ? " " : "", p->file ? p->file : "", done,
		     p->total ? " of " : "", p->total ? total : "", rate, left);
}

void options_registry(struct registry_opts *ro)
{
	const char *tls = getenv("OSRUN_REGISTRY_TLS_VERIFY"), *ci = getenv("CI");
	ro->tls_verify = !tls || (strcmp(tls, "0") && strcasecmp(tls, "false"));
	bool terminal = isatty(STDERR_FILENO) && !(ci && *ci);
	ro->skopeo_progress = terminal;
	ro->progress = terminal ? registry_progress_show : NULL;
}

int options_snapshot_use(struct run_plan *p, struct error *e)
{
	struct registry_opts ro = {0};
	char *name = NULL;
	options_registry(&ro);
	int r = registry_use(p->cache, p->snapshot, &ro, &name, e);
	log_progress_end();
	if (r < 0)
		return r;
	free(p->snapshot_pulled);
	p->snapshot = p->snapshot_pulled = name;
	return 0;
}

int options_network(const char *policy, enum network *ret, struct error *e)
{
	static const char *const names[] = {
		[NETWORK_NONE] = "none", [NETWORK_INTERNET] = "internet", [NETWORK_HOST] = "host"};
	if (!policy) {
		*ret = NETWORK_NONE;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (!strcmp(policy, names[i])) {
			*ret = (enum network)i;
			return 0;
		}
	return error_set(e, -EINVAL, "--network '%s': expected none, internet or host", policy);
}

/* An error line each. */
static void log_lines(const char *m)
{
	for (size_t n; m && *m; m += n + (m[n] == '\n'))
		if ((n = strcspn(m, "\n")) > 0)
			log_error("%.*s", (int)n, m);
}

int options_report(const struct error *e)
{
	log_lines(e->msg);
	if (e->code == -ECANCELED && e->signal > 0)
		return 128 + e->signal;
	if (e->code == -ETIME)
		return EXIT_TIMEOUT;
	return EXIT_OSRUN;
}

/* What the guest command's end means to the user. */
int options_report_result(const struct run_result *res)
{
	log_lines(res->helper_stderr);
	if (*res->why)
		log_error("%s", res->why);
	return res->status;
}

int options_volumes(char **volumes, char **caches, struct run_plan *p, struct error *e)
{
	size_t nv = strv_length(volumes), nc = strv_length(caches);
	if (nv + nc > RUN_VOLUMES_MAX)
		return error_set(e, -E2BIG, "at most %d --volume and --cache-volume in all", RUN_VOLUMES_MAX);
	for (size_t i = 0; i < nv + nc; i++) {
		int r = i < nv ? volume_parse(volumes[i], &p->volumes[i], e)
			       : cache_volume_parse(caches[i - nv], &p->volumes[i], e);
		if (r < 0)
			return r;
		p->n_volumes++;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(p->volumes[k].guest, p->volumes[i].guest))
				return error_set(e, -EINVAL, "two volumes at guest path '%s'", p->volumes[i].guest);
	}
	return 0;
}

int options_copies(char **copy_in, char **copy_out, struct run_plan *p, struct error *e)
{
	size_t ni = strv_length(copy_in), no = strv_length(copy_out);
	if (ni > RUN_COPIES_MAX || no > RUN_COPIES_MAX)
		return error_set(e, -E2BIG, "at most %d --copy-in and %d --copy-out", RUN_COPIES_MAX, RUN_COPIES_MAX);
	int r;
	for (; p->n_copy_in < ni; p->n_copy_in++)
		if ((r = copy_parse(copy_in[p->n_copy_in], false, &p->copy_in[p->n_copy_in], e)) < 0)
			return r;
	for (; p->n_copy_out < no; p->n_copy_out++)
		if ((r = copy_parse(copy_out[p->n_copy_out], true, &p->copy_out[p->n_copy_out], e)) < 0)
			return r;
	return 0;
}

/* websockify takes it as its listen operand: a leading '-' would be read
 * as an option. */
int options_check_novnc(const char *addr, struct error *e)
{
	const char *colon = strrchr(addr, ':');
	unsigned port;
	if (!colon || colon == addr || *addr == '-' || parse_uint(colon + 1, 1, 65535, &port) < 0)
		return error_set(e, -EINVAL, "--novnc '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:6080", addr);
	return 0;
}
