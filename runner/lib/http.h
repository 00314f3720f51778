/* HTTPS transfers through libcurl: small bounded answers into memory, and
 * large files onto a descriptor, resumed with a Range request from what is
 * already there. Proxies come from the environment as curl reads them
 * (https_proxy, no_proxy); CAs from CURL_CA_BUNDLE or SSL_CERT_FILE (and
 * SSL_CERT_DIR), which the curl tool reads but libcurl does not. Only https
 * unless the caller allows http (a mirror the user named so). Redirects are
 * followed, at most HTTP_MAX_REDIRECTS. Ctrl-C (the cancel fd) stops a
 * transfer with -ECANCELED. Never prints: progress goes to a callback. */
#pragma once
#include "error.h"

#define HTTP_MAX_REDIRECTS 10
#define HTTP_URL_MAX 4096

struct http_opts {
	bool allow_http;     /* http:// too, for a mirror given as http */
	const char *referer; /* NULL: none */
};

/* Called about once a second while bytes arrive: done and total count the
 * whole file, a resumed part included; total is 0 while unknown. */
struct http_progress {
	void (*fn)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/* GET url into memory, NUL-terminated, at most max bytes (-EFBIG past it).
 * A 403 or 429 is -EACCES (the server refused us), another status that is
 * not 2xx -EPROTO; *ret_body is set for those too, for the caller to read
 * the server's words. */
int http_get(const struct http_opts *o, const char *url, size_t max, char **ret_body, struct error *e);

/* GET url onto fd from offset *io_size (a Range request when it is not 0;
 * a server that ignores it starts the file over). *io_size is what fd
 * holds afterwards, also on failure, so a later call resumes from there.
 * *ret_url (may be NULL): where the redirects ended. At most max bytes.
 * -EACCES for 403/429, -EPROTO for another status, -ECANCELED on Ctrl-C,
 * -EIO when the connection ended early. */
int http_download(const struct http_opts *o, const char *url, int fd, uint64_t max, uint64_t *io_size,
		  const struct http_progress *p, char **ret_url, struct error *e);

/* Whether s is a URL we may request: http(s)://, printable, not too long. */
bool http_url_valid(const char *s, bool allow_http);
