/* Snapshots: named, locked, layered entries of the store. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "snapshot.h"

int snapshot_open(struct store *s, const char *name, struct snapshot **ret)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	_cleanup_(snapshot_freep) struct snapshot *sn = calloc(1, sizeof *sn);
	if (!sn)
		return -ENOMEM;
	sn->lock_fd = -1;
	sn->name = strdup(name);
	sn->dir = store_path(s, STORE_SNAPSHOTS, name, NULL);
	if (!sn->name || !sn->dir)
		return -ENOMEM;
	r = store_lock_dir(sn->dir, LOCK_SH, &sn->lock_fd);
	if (r < 0)
		return r == -ENOTDIR ? -ENOENT : r;
	/* A removal renames the directory away while holding its lock: what
	 * we locked must still be what the name points at. */
	struct stat locked, named;
	if (fstat(sn->lock_fd, &locked) < 0)
		return -errno;
	if (stat(sn->dir, &named) < 0 || named.st_ino != locked.st_ino || named.st_dev != locked.st_dev)
		return -ENOENT;
	r = snapshot_meta_read(sn->dir, &sn->meta);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(sn);
	return 0;
}

struct snapshot *snapshot_free(struct snapshot *sn)
{
	if (!sn)
		return NULL;
	if (sn->lock_fd >= 0)
		close(sn->lock_fd);
	snapshot_meta_release(&sn->meta);
	free(sn->name);
	free(sn->dir);
	free(sn);
	return NULL;
}

char *snapshot_path(const struct snapshot *sn, const char *part) { return path_join(sn->dir, part); }

int snapshot_new_begin(struct store *s, const char *name, struct snapshot_new **ret)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	return store_new_begin(s, STORE_SNAPSHOTS, name, ret);
}

int snapshot_new_commit(struct snapshot_new *n, const struct snapshot_meta *meta)
{
	_cleanup_free_ char *json = NULL, *mp = snapshot_new_path(n, "meta.json");
	if (!mp)
		return -ENOMEM;
	int r = snapshot_meta_to_json(meta, &json);
	if (r < 0)
		return r;
	r = write_file_atomic(mp, json, strlen(json), 0600);
	if (r < 0)
		return r;
	return store_new_commit(n);
}

int snapshot_list(struct store *s, char ***ret) { return store_list_area(s, STORE_SNAPSHOTS, ret); }

int snapshot_remove(struct store *s, const char *name, char **ret_child)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	_cleanup_strv_free_ char **names = NULL;
	r = snapshot_list(s, &names);
	if (r < 0)
		return r;
	_cleanup_free_ char *area = store_path(s, STORE_SNAPSHOTS, NULL, NULL),
			    *dir = store_path(s, STORE_SNAPSHOTS, name, NULL);
	if (!area || !dir)
		return -ENOMEM;
	if (!file_exists(dir))
		return -ENOENT;
	for (char **p = names; *p; p++) {
		_cleanup_free_ char *d = path_join(area, *p);
		if (!d)
			return -ENOMEM;
		struct snapshot_meta m;
		if (snapshot_meta_read(d, &m) < 0)
			continue;
		bool child = m.parent && !strcmp(m.parent, name);
		snapshot_meta_release(&m);
		if (child) {
			if (ret_child)
				*ret_child = strdup(*p);
			return -ENOTEMPTY;
		}
	}
	_cleanup_close_ int fd = -1;
	r = store_lock_dir(dir, LOCK_EX | LOCK_NB, &fd);
	if (r < 0)
		return r;
	/* Renamed out of the namespace first: no reader can open it now. */
	_cleanup_free_ char *gone = NULL;
	if (asprintf(&gone, "%s/" STORE_NEW_PREFIX "removed-%s.%d", area, name, (int)getpid()) < 0)
		return -ENOMEM;
	if (rename(dir, gone) < 0)
		return -errno;
	fsync_path(area);
	return rm_rf(gone);
}

int snapshot_new_rename(struct snapshot_new *n, const char *name)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	free(n->name);
	n->name = copy;
	return 0;
}

#define PIN_MARKER "pinned"
#define USE_MARKER "used"

int snapshot_pin(struct store *s, const char *name, bool pin)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	int r = snapshot_open(s, name, &sn);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = snapshot_path(sn, PIN_MARKER);
	if (!path)
		return -ENOMEM;
	if (!pin)
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : 0;
}

bool snapshot_pinned(const struct snapshot *sn)
{
	struct stat st;
	return fstatat(sn->lock_fd, PIN_MARKER, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

void snapshot_use_mark(const struct snapshot *sn)
{
	/* The time alone: one system call on a run's way, no data written. */
	if (utimensat(sn->lock_fd, USE_MARKER, NULL, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return;
	int fd = openat(sn->lock_fd, USE_MARKER, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

int64_t snapshot_last_used(const struct snapshot *sn)
{
	struct stat st;
	if (fstatat(sn->lock_fd, USE_MARKER, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(sn->lock_fd, "meta.json", &st, AT_SYMLINK_NOFOLLOW) == 0)
		return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

bool snapshot_busy(const struct snapshot *sn)
{
	/* Our own shared lock turned exclusive: only somebody else's stops
	 * that. It is shared again after (flock converts by releasing). */
	bool busy = flock(sn->lock_fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	(void)flock(sn->lock_fd, LOCK_SH | LOCK_NB);
	return busy;
}
