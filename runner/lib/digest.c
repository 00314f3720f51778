/* SHA-256 of strings and host trees (digest.h). */
#define _GNU_SOURCE
#include "digest.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/stat.h>

struct digest {
	EVP_MD_CTX *ctx;
};

int digest_new(struct digest **ret)
{
	struct digest *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		digest_free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

struct digest *digest_free(struct digest *d)
{
	if (d) {
		EVP_MD_CTX_free(d->ctx);
		free(d);
	}
	return NULL;
}

void digest_add(struct digest *d, const void *p, size_t n) { EVP_DigestUpdate(d->ctx, p, n); }

void digest_add_str(struct digest *d, const char *s) { digest_add(d, s, strlen(s) + 1); }

int digest_end(struct digest *d, char out[static DIGEST_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (EVP_DigestFinal_ex(d->ctx, md, &n) != 1 || n * 2 != DIGEST_HEX_LEN)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int file_add(struct digest *d, int fd)
{
	char buf[1 << 16];
	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return 0;
		digest_add(d, buf, (size_t)k);
	}
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

/* One entry, named rel, at dfd/name; a directory's entries after it. */
static int entry_add(struct digest *d, int dfd, const char *name, const char *rel, unsigned depth, char **bad);

static int dir_add(struct digest *d, int fd, const char *rel, unsigned depth, char **bad)
{
	struct dirent **list;
	_cleanup_free_ char *self = NULL;
	_cleanup_close_ int dup_fd = dup(fd);
	if (dup_fd < 0 || asprintf(&self, "/proc/self/fd/%d", dup_fd) < 0)
		return -errno;
	int n = scandir(self, &list, NULL, by_name), r = n < 0 ? -errno : 0;
	for (int i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		_cleanup_free_ char *child = NULL;
		if (r == 0 && strcmp(nm, ".") && strcmp(nm, "..")) {
			if (asprintf(&child, "%s/%s", rel, nm) < 0)
				r = -ENOMEM;
			else
				r = entry_add(d, fd, nm, child, depth + 1, bad);
		}
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return r;
}

/* The entry itself; *bad is set by whoever fails first, deepest first. */
static int entry_add_one(struct digest *d, int dfd, const char *name, const char *rel, unsigned depth, char **bad)
{
	struct stat st;
	if (depth > 256)
		return -ELOOP;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	char head[64];
	snprintf(head, sizeof head, "%c %o %lld",
		 S_ISDIR(st.st_mode)   ? 'd'
		 : S_ISLNK(st.st_mode) ? 'l'
				       : 'f',
		 (unsigned)(st.st_mode & 07777), S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL);
	digest_add_str(d, rel);
	digest_add_str(d, head);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t k = readlinkat(dfd, name, target, sizeof target - 1);
		if (k < 0)
			return -errno;
		target[k] = 0;
		digest_add_str(d, target);
		return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return -EBADF; /* a copy refuses devices and sockets too */
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? dir_add(d, fd, rel, depth, bad) : file_add(d, fd);
}

static int entry_add(struct digest *d, int dfd, const char *name, const char *rel, unsigned depth, char **bad)
{
	int r = entry_add_one(d, dfd, name, rel, depth, bad);
	if (r < 0 && !*bad)
		*bad = strdup(rel);
	return r;
}

int digest_add_tree(struct digest *d, const char *path, char **ret_bad)
{
	*ret_bad = NULL;
	return entry_add(d, AT_FDCWD, path, ".", 0, ret_bad);
}
