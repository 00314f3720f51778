/* Build layers in the store: finding one by its cache key, naming one (a
 * tag), removing the ones nothing names, and what each costs on disk. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "layer.h"

#define LAYER_PREFIX "layer-"
#define LAYER_NAME_KEY 32 /* hex digits of the key in a layer's name: 128 bits */

int layer_entry_name(const char *key, char **ret)
{
	char *n;
	if (strlen(key) < LAYER_NAME_KEY || asprintf(&n, LAYER_PREFIX "%.*s", LAYER_NAME_KEY, key) < 0)
		return -EINVAL;
	*ret = n;
	return 0;
}

bool layer_is_unnamed(const char *name, const struct snapshot_meta *m)
{
	return m->layer.key && !strncmp(name, LAYER_PREFIX, strlen(LAYER_PREFIX)) &&
	       !strncmp(name + strlen(LAYER_PREFIX), m->layer.key, LAYER_NAME_KEY) &&
	       strlen(name) == strlen(LAYER_PREFIX) + LAYER_NAME_KEY;
}

static int meta_of(struct store *s, const char *name, struct snapshot_meta *ret)
{
	_cleanup_free_ char *dir = store_path(s, STORE_SNAPSHOTS, name, NULL);
	return dir ? snapshot_meta_read(dir, ret) : -ENOMEM;
}

int layer_find(struct store *s, const char *key, char **ret_name)
{
	_cleanup_free_ char *own = NULL;
	int r = layer_entry_name(key, &own);
	if (r < 0)
		return r;
	struct snapshot_meta m;
	if (meta_of(s, own, &m) == 0) {
		bool same = m.layer.key && !strcmp(m.layer.key, key);
		snapshot_meta_release(&m);
		if (same) {
			*ret_name = TAKE_PTR(own);
			return 0;
		}
	}
	/* A tag (-t NAME) holds the same files as its layer, which gc may
	 * have removed since. */
	_cleanup_strv_free_ char **names = NULL;
	if ((r = snapshot_list(s, &names)) < 0)
		return r;
	for (char **n = names; *n; n++) {
		if (meta_of(s, *n, &m) < 0)
			continue;
		bool same = m.layer.key && !strcmp(m.layer.key, key);
		snapshot_meta_release(&m);
		if (same)
			return (*ret_name = strdup(*n)) ? 0 : -ENOMEM;
	}
	return -ENOENT;
}

/* A hard link, or a copy where there can be none. */
static int part_link(const char *from_dir, const char *to_dir, const char *part)
{
	_cleanup_free_ char *from = path_join(from_dir, part), *to = path_join(to_dir, part);
	if (!from || !to)
		return -ENOMEM;
	if (link(from, to) == 0)
		return 0;
	if (errno == ENOENT && !file_exists(from))
		return 0;
	return copy_file_sparse(from, to, 0600);
}

int snapshot_tag(struct store *s, const struct snapshot *from, const char *name, const struct snapshot_meta *meta)
{
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	int r = snapshot_new_begin(s, name, &n);
	if (r < 0)
		return r;
	/* The files of an entry never change (store.h), so two names may
	 * share them: the disk's backing path names the parent, the same for
	 * both. */
	static const char *const parts[] = {"disk.qcow2", "memory", "memory.delta", "state", "build.log"};
	for (size_t i = 0; i < ELEMENTSOF(parts); i++)
		if ((r = part_link(from->dir, n->dir, parts[i])) < 0)
			return r;
	return snapshot_new_commit(n, meta);
}

/* Names nothing else needs: unnamed layers that are no named snapshot's
 * ancestor. */
static int gc_candidates(struct store *s, char **names, char ***ret)
{
	size_t n = strv_length(names);
	_cleanup_free_ bool *keep = calloc(n + 1, sizeof *keep), *unnamed = calloc(n + 1, sizeof *unnamed);
	_cleanup_free_ char **parent = calloc(n + 1, sizeof *parent);
	if (!keep || !unnamed || !parent)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct snapshot_meta m;
		if (meta_of(s, names[i], &m) < 0) {
			keep[i] = true; /* unreadable: not ours to judge */
			continue;
		}
		unnamed[i] = layer_is_unnamed(names[i], &m);
		keep[i] = !unnamed[i];
		parent[i] = TAKE_PTR(m.parent);
		snapshot_meta_release(&m);
	}
	/* Keeping spreads from each kept one to its parent, at most n steps. */
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; keep[i] && parent[i] && k < n; k++)
				if (!keep[k] && !strcmp(names[k], parent[i]))
					keep[k] = changed = true;
	}
	char **out = calloc(1, sizeof *out);
	for (size_t i = 0; out && i < n; i++)
		if (!keep[i])
			out = strv_append(out, names[i]);
	for (size_t i = 0; i < n; i++)
		free(parent[i]);
	if (!out)
		return -ENOMEM;
	*ret = out;
	return 0;
}

int layer_gc(struct store *s, char ***ret_removed, char ***ret_busy)
{
	_cleanup_strv_free_ char **names = NULL, **cand = NULL, **removed = NULL, **busy = NULL;
	int r = snapshot_list(s, &names);
	if (r < 0 || (r = gc_candidates(s, names, &cand)) < 0)
		return r;
	if (!(removed = calloc(1, sizeof *removed)) || !(busy = calloc(1, sizeof *busy)))
		return -ENOMEM;
	/* Children go first: a pass removes those nothing is built on. */
	for (bool progress = true; progress;) {
		progress = false;
		for (char **c = cand; *c; c++) {
			if (!**c)
				continue;
			r = snapshot_remove(s, *c, NULL);
			if (r == -ENOTEMPTY)
				continue;
			if (r == -EBUSY && !(busy = strv_append(busy, *c)))
				return -ENOMEM;
			if (r == 0 && !(removed = strv_append(removed, *c)))
				return -ENOMEM;
			if (r < 0 && r != -EBUSY && r != -ENOENT)
				return r;
			**c = 0;
			progress = true;
		}
	}
	*ret_removed = TAKE_PTR(removed);
	*ret_busy = TAKE_PTR(busy);
	return 0;
}

/* Bytes of fd's extents that share their blocks with another file
 * (a reflink), by FIEMAP; 0 where the filesystem cannot say. */
static uint64_t shared_extents(int fd)
{
	enum { N = 256 };
	_cleanup_free_ struct fiemap *fm = calloc(1, sizeof *fm + N * sizeof(struct fiemap_extent));
	uint64_t shared = 0, start = 0;
	if (!fm)
		return 0;
	for (;;) {
		*fm = (struct fiemap){.fm_start = start, .fm_length = FIEMAP_MAX_OFFSET, .fm_extent_count = N};
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0 || fm->fm_mapped_extents == 0)
			return shared;
		const struct fiemap_extent *x = fm->fm_extents;
		for (unsigned i = 0; i < fm->fm_mapped_extents; i++)
			if (x[i].fe_flags & FIEMAP_EXTENT_SHARED)
				shared += x[i].fe_length;
		const struct fiemap_extent *last = &x[fm->fm_mapped_extents - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST)
			return shared;
		start = last->fe_logical + last->fe_length;
	}
}

int store_entry_bytes(const char *dir, uint64_t *ret_own, uint64_t *ret_shared)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	uint64_t own = 0, shared = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		uint64_t used = (uint64_t)st.st_blocks * 512, sh = used;
		if (st.st_nlink < 2) {
			_cleanup_close_ int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			sh = fd >= 0 ? shared_extents(fd) : 0;
			if (sh > used)
				sh = used;
		}
		own += used - sh;
		shared += sh;
	}
	closedir(d);
	*ret_own = own;
	*ret_shared = shared;
	return 0;
}
