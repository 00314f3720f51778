#define _GNU_SOURCE
#include "http.h"

#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

/* Microsoft's download connector answers browsers; the public clients send
 * a browser's agent too (dockur/windows src/mido.sh, getAgent). */
#define HTTP_USER_AGENT "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static void global_init(void) { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

struct xfer {
	CURL *c;
	const struct http_progress *progress;
	usec_t last_progress;
	uint64_t base; /* what fd held before this transfer */
	bool cancelled, too_big, started;
	int werr;
	char errbuf[CURL_ERROR_SIZE];
	/* into memory */
	char *buf;
	size_t n, max;
	/* onto a file */
	int fd;
	uint64_t off, max_file;
};

static void xfer_release(struct xfer *x)
{
	if (x->c)
		curl_easy_cleanup(x->c);
	free(x->buf);
}

bool http_url_valid(const char *s, bool allow_http)
{
	size_t n = strnlen(s, HTTP_URL_MAX + 1);
	if (n == 0 || n > HTTP_URL_MAX)
		return false;
	if (strncmp(s, "https://", 8) && !(allow_http && !strncmp(s, "http://", 7)))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* A URL for a message: without its query, which may carry a signature. */
static void url_shown(const char *url, char out[static 256])
{
	size_t n = strcspn(url, "?#");
	snprintf(out, 256, "%.*s", (int)(n > 255 ? 255 : n), url);
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal _unused_,
		       curl_off_t ulnow _unused_)
{
	struct xfer *x = ctx;
	struct pollfd pf = {.fd = cancel_fd_get(), .events = POLLIN};
	if (pf.fd >= 0 && poll(&pf, 1, 0) > 0) {
		x->cancelled = true;
		return 1;
	}
	usec_t now = now_usec();
	if (x->progress && x->progress->fn && now - x->last_progress >= USEC_PER_SEC) {
		x->last_progress = now;
		x->progress->fn(x->progress->ctx, x->base + (uint64_t)dlnow,
				dltotal > 0 ? x->base + (uint64_t)dltotal : 0);
	}
	return 0;
}

static size_t on_memory(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t k = size * nmemb;
	if (k > x->max - x->n) {
		x->too_big = true;
		return 0;
	}
	char *nb = realloc(x->buf, x->n + k + 1);
	if (!nb) {
		x->werr = -ENOMEM;
		return 0;
	}
	memcpy(nb + x->n, p, k);
	x->n += k;
	nb[x->n] = 0;
	x->buf = nb;
	return k;
}

static size_t on_file(char *p, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t k = size * nmemb;
	if (!x->started) {
		x->started = true;
		long code = 0;
		curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code);
		/* A server that ignores Range sends the whole file: start over. */
		if (code == 200 && x->off > 0) {
			if (ftruncate(x->fd, 0) < 0) {
				x->werr = -errno;
				return 0;
			}
			x->off = x->base = 0;
		}
	}
	if (k > x->max_file - x->off) {
		x->too_big = true;
		return 0;
	}
	int r = pwrite_full(x->fd, p, k, (off_t)x->off);
	if (r < 0) {
		x->werr = r;
		return 0;
	}
	x->off += k;
	return k;
}

static int xfer_setup(struct xfer *x, const struct http_opts *o, const char *url, struct error *e)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return error_set(e, -EIO, "libcurl: %s", curl_easy_strerror(global_rc));
	char shown[256];
	url_shown(url, shown);
	if (!http_url_valid(url, o->allow_http))
		return error_set(e, -EINVAL, "refusing to fetch '%s': not an %s URL of at most %d characters", shown,
				 o->allow_http ? "http(s)" : "https", HTTP_URL_MAX);
	CURL *c = x->c = curl_easy_init();
	if (!c)
		return error_errno(e, -ENOMEM, "libcurl");
	const char *protos = o->allow_http ? "http,https" : "https";
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRECTS);
	curl_easy_setopt(c, CURLOPT_USERAGENT, HTTP_USER_AGENT);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* A stalled server: under 1 KiB/s for two minutes ends the transfer. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	if (o->referer)
		curl_easy_setopt(c, CURLOPT_REFERER, o->referer);
	/* As the curl tool does; libcurl alone would use its built-in bundle. */
	const char *ca = getenv("CURL_CA_BUNDLE");
	if (!ca || !*ca)
		ca = getenv("SSL_CERT_FILE");
	if (ca && *ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	const char *dir = getenv("SSL_CERT_DIR");
	if (dir && *dir)
		curl_easy_setopt(c, CURLOPT_CAPATH, dir);
	return 0;
}

static int xfer_result(struct xfer *x, CURLcode rc, const char *url, struct error *e)
{
	char shown[256];
	url_shown(url, shown);
	long code = 0;
	curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code);
	if (x->cancelled) {
		int r = error_interrupted(e);
		snprintf(e->msg, sizeof e->msg, "interrupted while fetching %s", shown);
		return r;
	}
	if (x->werr)
		return error_errno(e, x->werr, "%s: keeping what arrived", shown);
	if (x->too_big)
		return error_set(e, -EFBIG, "%s: the answer is larger than expected", shown);
	if (rc == CURLE_OK || rc == CURLE_HTTP_RETURNED_ERROR) {
		if (code == 403 || code == 429)
			return error_set(e, -EACCES, "%s: HTTP %ld", shown, code);
		if (code < 200 || code > 299)
			return error_set(e, -EPROTO, "%s: HTTP %ld", shown, code);
		return 0;
	}
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return error_set(e, -EFBIG, "%s: the file is larger than expected", shown);
	return error_set(e, -EIO, "%s: %s", shown, *x->errbuf ? x->errbuf : curl_easy_strerror(rc));
}

int http_get(const struct http_opts *o, const char *url, size_t max, char **ret_body, struct error *e)
{
	_cleanup_(xfer_release) struct xfer x = {.max = max};
	int r = xfer_setup(&x, o, url, e);
	if (r < 0)
		return r;
	curl_easy_setopt(x.c, CURLOPT_WRITEFUNCTION, on_memory);
	curl_easy_setopt(x.c, CURLOPT_WRITEDATA, &x);
	r = xfer_result(&x, curl_easy_perform(x.c), url, e);
	if (r < 0 && r != -EACCES && r != -EPROTO)
		return r;
	if (!x.buf && !(x.buf = strdup("")))
		return error_errno(e, -ENOMEM, "answer");
	*ret_body = TAKE_PTR(x.buf);
	return r;
}

int http_download(const struct http_opts *o, const char *url, int fd, uint64_t max, uint64_t *io_size,
		  const struct http_progress *p, char **ret_url, struct error *e)
{
	_cleanup_(xfer_release) struct xfer x = {
		.fd = fd, .off = *io_size, .base = *io_size, .max_file = max, .progress = p};
	int r = xfer_setup(&x, o, url, e);
	if (r < 0)
		return r;
	curl_easy_setopt(x.c, CURLOPT_WRITEFUNCTION, on_file);
	curl_easy_setopt(x.c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(x.c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	if (x.off > 0)
		curl_easy_setopt(x.c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)x.off);
	CURLcode rc = curl_easy_perform(x.c);
	long code = 0;
	curl_easy_getinfo(x.c, CURLINFO_RESPONSE_CODE, &code);
	*io_size = x.off;
	/* Nothing past the end: what is there may be the whole file already,
	 * for the caller's checks to judge. */
	if (!(code == 416 && x.off > 0) && (r = xfer_result(&x, rc, url, e)) < 0)
		return r;
	char *last = NULL;
	curl_easy_getinfo(x.c, CURLINFO_EFFECTIVE_URL, &last);
	if (ret_url && !(*ret_url = strdup(last ? last : url)))
		return error_errno(e, -ENOMEM, "url");
	return 0;
}
