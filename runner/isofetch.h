/* osrun image fetch: a Windows ISO from Microsoft's servers through the
 * flow the public clients use (consumer Windows through the software
 * download connector, Server and Enterprise evaluation media through the
 * Evaluation Center's links), and the virtio-win ISO from Fedora. The facts
 * and their sources are in docs/windows.md, "Fetching an ISO".
 *
 * A file is kept in the store (ROOT/isos/), downloaded beside its final
 * name as NAME.part, resumed from there, and renamed only once verified:
 * the SHA-256 where one is known (given, or published for that file), and
 * always the ISO's structure (an install image wimlib reads; for
 * virtio-win, an ISO 9660 image). A file that fails is removed. */
#pragma once
#include "lib/error.h"
#include "lib/http.h"
#include "../snapshots/store.h"

enum isofetch_kind {
	ISOFETCH_CONSUMER, /* software-download connector (Windows 10/11) */
	ISOFETCH_EVAL,	   /* an Evaluation Center page's fwlinks */
	ISOFETCH_DIRECT,   /* one fixed URL (virtio-win) */
};

struct isofetch_version {
	const char *name;  /* "11", "server2025", "virtio-win" */
	const char *title; /* "Windows 11 (consumer editions)" */
	enum isofetch_kind kind;
	const char *product_id; /* CONSUMER: ProductEditionId */
	const char *page;	/* CONSUMER, EVAL: the page's URL; DIRECT: the file's */
	unsigned link_index;	/* EVAL: which of the page's fwlinks */
};

/* The table, for --list; the last entry is virtio-win. */
const struct isofetch_version *isofetch_versions(size_t *ret_n);
const struct isofetch_version *isofetch_version_find(const char *name);

#define ISOFETCH_DEFAULT_VERSION "11"
#define ISOFETCH_DEFAULT_LANGUAGE "English"
#define ISOFETCH_VIRTIO "virtio-win"

struct isofetch_plan {
	const struct isofetch_version *version;
	const char *language; /* Microsoft's name: "English", "German" */
	const char *mirror;   /* NULL: Microsoft's hosts; else every request's scheme and host */
	const char *sha256;   /* NULL: the known one, if any */
	struct http_progress progress;
};

struct isofetch_result {
	char *path; /* ROOT/isos/NAME.iso */
	char *url;  /* where the file came from (query left off); NULL when cached */
	char sha256[65];
	bool sha256_checked; /* against a known value, not just computed */
	bool cached;	     /* it was in the store already */
	uint64_t size;
};
void isofetch_result_release(struct isofetch_result *r);

/* The file for p in the store: downloaded unless there already. work: a
 * scratch folder (the install image is read there). -EACCES: Microsoft
 * refused the automated download (the message says what to do instead). */
int isofetch_run(struct store *s, const struct isofetch_plan *p, const char *work, struct isofetch_result *ret,
		 struct error *e);

/* Where p's download starts: the connector's or the page's answer, or the
 * fixed URL; all requests through the mirror when there is one. */
int isofetch_locate(const struct isofetch_plan *p, char **ret_url, struct error *e);
/* The SHA-256 published for the file a URL's path ends in; NULL when osrun
 * knows none. */
const char *isofetch_known_sha256(const char *url);
/* -EACCES, and the one line that says Microsoft refused and what to do. */
int isofetch_refused(struct error *e, const char *why);
/* A URL with its scheme and host replaced by the mirror's (NULL: a copy). */
char *isofetch_rebase(const char *mirror, const char *url);
