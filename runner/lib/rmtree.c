/* Removing a tree the guest may have made. A recursive walk holds one
 * descriptor per level, so a guest that makes a tree deeper than the file
 * limit (over SMB: mkdir in a loop) would make every later removal fail
 * with EMFILE and leave its files on the host for good. This walk holds
 * the current directory only: it goes down by name and back up by "..",
 * and checks that ".." is the directory it came from. */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* One directory on the way down: its name in its parent, its identity,
 * and the subdirectories still to remove. */
struct level {
	char *name;
	dev_t dev;
	ino_t ino;
	char **subdirs; /* NULL-terminated, so strv_free frees it */
	size_t n, cap, next;
};

static void level_release(struct level *l)
{
	free(l->name);
	strv_free(l->subdirs);
	l->subdirs = NULL;
	l->name = NULL;
}

/* Unlinks what is not a directory in fd, and lists the directories. */
static int level_scan(int fd, struct level *l)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (!d) {
		int r = -errno;
		if (dup_fd >= 0)
			close(dup_fd);
		return r;
	}
	rewinddir(d);
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type != DT_DIR && unlinkat(fd, e->d_name, 0) == 0)
			continue;
		if (e->d_type != DT_DIR && errno != EISDIR && errno != EPERM) {
			if (errno != ENOENT && r == 0)
				r = -errno;
			continue;
		}
		if (l->n + 1 >= l->cap) {
			char **v = realloc(l->subdirs, (l->cap = l->cap ? 2 * l->cap : 8) * sizeof *v);
			if (!v) {
				r = -ENOMEM;
				break;
			}
			l->subdirs = v;
		}
		if (!(l->subdirs[l->n] = strdup(e->d_name))) {
			r = -ENOMEM;
			break;
		}
		l->subdirs[++l->n] = NULL;
	}
	closedir(d);
	return r;
}

static int level_enter(int fd, const char *name, struct level *l)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* A directory of ours without write permission (a copy-out of the
	 * guest's "chmod 555 dir") cannot be emptied until it has it back. */
	if ((st.st_mode & 0300) != 0300)
		(void)fchmod(fd, (st.st_mode & 07777) | 0700);
	*l = (struct level){.dev = st.st_dev, .ino = st.st_ino};
	if (name && !(l->name = strdup(name)))
		return -ENOMEM;
	return level_scan(fd, l);
}

/* From the directory at the top of the stack to its parent, which must be
 * the level below it. Returns the parent's descriptor. */
static int level_up(int fd, const struct level *parent)
{
	int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (up < 0)
		return -errno;
	struct stat st;
	if (fstat(up, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
		close(up);
		return -ESTALE; /* moved while we were in it */
	}
	return up;
}

static int rm_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct level *stack = NULL;
	size_t depth = 0, cap = 0;
	int r = 0;
	for (bool entered = true;;) {
		if (entered) {
			if (depth == cap) {
				struct level *s = realloc(stack, (cap = cap ? 2 * cap : 16) * sizeof *s);
				if (!s) {
					r = -ENOMEM;
					break;
				}
				stack = s;
			}
			int k = level_enter(fd, depth ? stack[depth - 1].subdirs[stack[depth - 1].next - 1] : NULL,
					    &stack[depth]);
			depth++;
			if (k < 0 && r == 0)
				r = k;
		}
		struct level *l = &stack[depth - 1];
		if (l->next < l->n) {
			const char *child = l->subdirs[l->next++];
			int c = openat(fd, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			/* A directory of ours without read or search permission. */
			if (c < 0 && errno == EACCES && fchmodat(fd, child, 0700, AT_SYMLINK_NOFOLLOW) == 0)
				c = openat(fd, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (c < 0) {
				if (errno != ENOENT && r == 0)
					r = -errno;
				entered = false;
				continue;
			}
			close(fd);
			fd = c;
			entered = true;
			continue;
		}
		if (depth == 1)
			break;
		int up = level_up(fd, &stack[depth - 2]);
		if (up < 0) {
			r = up;
			break;
		}
		close(fd);
		fd = up;
		if (unlinkat(fd, l->name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
			r = -errno;
		level_release(l);
		depth--;
		entered = false;
	}
	close(fd);
	for (size_t i = 0; i < depth; i++)
		level_release(&stack[i]);
	free(stack);
	if (r == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

int rm_rf(const char *path)
{
	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	return rm_tree_at(AT_FDCWD, path);
}
