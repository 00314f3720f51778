/* What the store uses on disk (store.h): allocated blocks, so that a
 * sparse RAM file counts what it holds, and a file linked into two
 * entries counts once. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"

#define USAGE_DEPTH 16 /* the layout is four deep; a deeper tree is not ours */

struct inode {
	dev_t dev;
	ino_t ino;
};

struct usage {
	uint64_t bytes;
	struct inode *seen; /* files with more than one link, counted once */
	size_t n, cap;
};

static bool seen_before(struct usage *u, const struct stat *st)
{
	for (size_t i = 0; i < u->n; i++)
		if (u->seen[i].dev == st->st_dev && u->seen[i].ino == st->st_ino)
			return true;
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 64;
		struct inode *p = reallocarray(u->seen, cap, sizeof *p);
		if (!p)
			return false; /* counted twice rather than not at all */
		u->seen = p;
		u->cap = cap;
	}
	u->seen[u->n++] = (struct inode){st->st_dev, st->st_ino};
	return false;
}

static int usage_add(struct usage *u, int dir_fd, unsigned depth)
{
	DIR *d = fdopendir(dir_fd);
	if (!d) {
		close(dir_fd);
		return -errno;
	}
	int r = 0;
	for (struct dirent *de; r == 0 && (de = readdir(d));) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!(st.st_nlink > 1 && !S_ISDIR(st.st_mode) && seen_before(u, &st)))
			u->bytes += (uint64_t)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode) || depth >= USAGE_DEPTH)
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			r = usage_add(u, fd, depth + 1);
		if (r == -EACCES || r == -ENOENT)
			r = 0; /* not ours to count, or gone meanwhile */
	}
	closedir(d);
	return r;
}

int store_usage(struct store *s, uint64_t *ret_bytes)
{
	struct usage u = {0};
	int fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -errno : usage_add(&u, fd, 0);
	free(u.seen);
	if (r < 0)
		return r;
	*ret_bytes = u.bytes;
	return 0;
}
