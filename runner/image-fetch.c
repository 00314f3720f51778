/* The ISOs for an image build, with the fetch's progress (image-fetch.h). */
#define _GNU_SOURCE
#include "image-fetch.h"

#include <string.h>
#include <unistd.h>

#include "lib/log.h"

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

int image_fetch(struct job *j, const char *version, const char *language, const char *mirror, const char *sha256,
		struct isofetch_result *ret, struct error *e)
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
	int r = *io_iso ? 0 : image_fetch(j, v, language, NULL, NULL, iso, e);
	if (r == 0 && !*io_virtio)
		r = image_fetch(j, ISOFETCH_VIRTIO, NULL, NULL, NULL, virtio, e);
	if (r < 0)
		return r;
	*io_iso = *io_iso ? *io_iso : iso->path;
	*io_virtio = *io_virtio ? *io_virtio : virtio->path;
	return 0;
}
