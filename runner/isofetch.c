/* Downloading one ISO into the store: under a lock on its partial file,
 * resumed from what that holds, verified, then renamed to its final name. */
#define _GNU_SOURCE
#include "isofetch.h"

#include <ctype.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "../iso-builder/iso.h"
#include "../iso-builder/medium.h"
#include "lib/digest.h"

/* Larger than any Windows ISO (about 8 GiB today). */
#define ISO_MAX (UINT64_C(16) << 30)
#define PART_SUFFIX ".part"

void isofetch_result_release(struct isofetch_result *r)
{
	free(r->path);
	free(r->url);
}

/* "windows-11-english.iso", "virtio-win.iso" */
static char *iso_name(const struct isofetch_plan *p)
{
	char lang[41];
	size_t n = 0;
	for (const char *c = p->language; *c && n < sizeof lang - 1; c++)
		lang[n++] = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '-';
	lang[n] = 0;
	char *s = NULL;
	int k = p->version->kind == ISOFETCH_DIRECT ? asprintf(&s, "%s.iso", p->version->name)
						    : asprintf(&s, "windows-%s-%s.iso", p->version->name, lang);
	return k < 0 ? NULL : s;
}

static int sha256_fd(int fd, char out[static 65])
{
	_cleanup_(digest_freep) struct digest *d = NULL;
	_cleanup_free_ char *buf = malloc(1u << 20);
	int r = digest_new(&d);
	if (r < 0 || !buf)
		return r < 0 ? r : -ENOMEM;
	for (off_t off = 0;;) {
		ssize_t k = pread_retry(fd, buf, 1u << 20, off);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		digest_add(d, buf, (size_t)k);
		off += k;
	}
	return digest_end(d, out);
}

/* What the file must be; removed when it is not. */
static int verify(const struct isofetch_plan *p, int fd, const char *part, const char *from, const char *work,
		  struct isofetch_result *res, struct error *e)
{
	const char *want = p->sha256 ? p->sha256 : isofetch_known_sha256(from);
	int r = sha256_fd(fd, res->sha256);
	if (r < 0)
		return error_errno(e, r, "%s: SHA-256", part);
	if (want && strcasecmp(want, res->sha256)) {
		unlink(part);
		return error_set(e, -EBADMSG, "%s: SHA-256 %s, expected %s (%s): removed", part, res->sha256, want,
				 p->sha256 ? "--sha256" : "published for this file");
	}
	res->sha256_checked = want != NULL;
	if ((r = iso_check(part)) < 0) {
		unlink(part);
		return r == -EMEDIUMTYPE ? error_set(e, r, "%s: not an ISO 9660 image: removed", part)
					 : error_errno(e, r, "%s: removed", part);
	}
	if (p->version->kind == ISOFETCH_DIRECT)
		return 0;
	_cleanup_(edition_list_release) struct edition_list l = {0};
	if ((r = medium_read_editions("downloaded", part, work, &l, e)) < 0) {
		unlink(part);
		size_t n = strlen(e->msg);
		snprintf(e->msg + n, sizeof e->msg - n, ": removed");
		return r;
	}
	return 0;
}

/* The lock on NAME.part: two fetches of one file would write it at once. */
static int part_open(const char *part, int *ret_fd, struct error *e)
{
	_cleanup_close_ int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	struct stat st;
	if (fd < 0)
		return error_errno(e, -errno, "%s", part);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? error_set(e, -EBUSY, "%s: another osrun is fetching it", part)
					    : error_errno(e, -errno, "%s: lock", part);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return error_set(e, -EBADMSG, "%s: not a regular file", part);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int result_cached(const char *path, struct isofetch_result *ret, struct error *e)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return error_errno(e, -errno, "%s", path);
	*ret = (struct isofetch_result){.path = strdup(path), .cached = true, .size = (uint64_t)st.st_size};
	return ret->path ? 0 : error_errno(e, -ENOMEM, "path");
}

/* After a failed transfer: a partial worth resuming is kept, an empty one
 * removed, and the message says which. */
static int download_failed(const char *part, uint64_t size, int r, struct error *e)
{
	size_t n = strlen(e->msg);
	if (size == 0)
		unlink(part);
	else if (r != -EACCES)
		snprintf(e->msg + n, sizeof e->msg - n, "; %llu MiB kept in %s: fetching again resumes from there",
			 (unsigned long long)(size >> 20), part);
	return r;
}

static int download(const struct isofetch_plan *p, int fd, const char *part, char **ret_from, struct error *e)
{
	_cleanup_free_ char *url = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return error_errno(e, -errno, "%s", part);
	uint64_t size = (uint64_t)st.st_size;
	int r = isofetch_locate(p, &url, e);
	if (r < 0)
		return download_failed(part, size, r, e);
	struct http_opts o = {.allow_http = p->mirror && !strncmp(p->mirror, "http://", 7)};
	r = http_download(&o, url, fd, ISO_MAX, &size, &p->progress, ret_from, e);
	if (r == -EACCES) {
		char why[160];
		snprintf(why, sizeof why, "%.150s", e->msg);
		isofetch_refused(e, why);
	}
	if (r < 0)
		return download_failed(part, size, r, e);
	if (fsync(fd) < 0)
		return error_errno(e, -errno, "%s", part);
	return 0;
}

int isofetch_run(struct store *s, const struct isofetch_plan *p, const char *work, struct isofetch_result *ret,
		 struct error *e)
{
	_cleanup_free_ char *name = iso_name(p), *path = NULL, *part = NULL, *from = NULL;
	if (!name || !(path = store_path(s, STORE_ISOS, name, NULL)) || asprintf(&part, "%s" PART_SUFFIX, path) < 0)
		return error_errno(e, -ENOMEM, "paths");
	if (file_exists(path))
		return result_cached(path, ret, e);
	int r = store_area_make(s, STORE_ISOS);
	if (r < 0)
		return error_errno(e, r, "the store's ISO area in %s", s->root);
	_cleanup_close_ int fd = -1;
	if ((r = part_open(part, &fd, e)) < 0)
		return r;
	/* Another fetch may have finished since we looked: the part we just
	 * made is then empty, and goes. */
	struct stat st;
	if (file_exists(path)) {
		if (fstat(fd, &st) == 0 && st.st_size == 0)
			unlink(part);
		return result_cached(path, ret, e);
	}
	struct isofetch_result res = {0};
	if ((r = download(p, fd, part, &from, e)) < 0 || (r = verify(p, fd, part, from, work, &res, e)) < 0)
		return r;
	if (fstat(fd, &st) < 0 || rename(part, path) < 0)
		return error_errno(e, -errno, "%s", path);
	(void)fsync_parent(path);
	size_t q = strcspn(from, "?#");
	from[q] = 0;
	res.path = TAKE_PTR(path);
	res.url = TAKE_PTR(from);
	res.size = (uint64_t)st.st_size;
	*ret = res;
	return 0;
}
