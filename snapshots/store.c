#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

/* Where a directory is made before it is locked; the sweep leaves these
 * alone unless they are old enough to be a maker killed in that instant. */
#define MAKING_PREFIX ".making-"
#define MAKING_STALE_SEC 60

static const struct {
	const char *dir;
	mode_t mode;
	bool at_open; /* made by store_open; the others on first use */
} areas[] = {
	[STORE_SNAPSHOTS] = {"snapshots", 0700, true},
	[STORE_IMAGES] = {"images", 0700, true},
	[STORE_STAGES] = {"stages", 0700, true},
	[STORE_POOLS] = {"pools", 0700, false},
	[STORE_SECRETS] = {"windows", 0700, false},
	[STORE_CACHES] = {"caches", 0700, true},
	[STORE_SESSIONS] = {"sessions", 0700, false},
	[STORE_LOGS] = {"logs", 0700, false},
	[STORE_OCI] = {"oci", 0700, false},
	[STORE_ISOS] = {"isos", 0700, false},
	[STORE_SOURCES] = {"sources", 0700, false},
};

char *store_default_root(void)
{
	const char *e = getenv("OSRUN_CACHE");
	if (e && *e)
		return strdup(e);
	char *s = NULL;
	e = getenv("XDG_CACHE_HOME");
	if (e && *e) {
		if (asprintf(&s, "%s/osrun", e) < 0)
			return NULL;
		return s;
	}
	e = getenv("HOME");
	if (asprintf(&s, "%s/.cache/osrun", e && *e ? e : "/tmp") < 0)
		return NULL;
	return s;
}

int store_open(const char *root, struct store **ret)
{
	_cleanup_(store_freep) struct store *st = calloc(1, sizeof *st);
	if (!st || !(st->root = strdup(root)))
		return -ENOMEM;
	for (size_t a = 0; a < ELEMENTSOF(areas); a++) {
		if (!areas[a].at_open)
			continue;
		_cleanup_free_ char *dir = path_join(root, areas[a].dir);
		int r = dir ? mkdir_p(dir, areas[a].mode) : -ENOMEM;
		/* A store an older osrun made is narrowed. */
		if (r == 0 && chmod(dir, areas[a].mode) < 0)
			r = -errno;
		if (r < 0)
			return r;
	}
	/* The root may be a volume somebody else made: narrowed where ours. */
	(void)chmod(root, 0700);
	*ret = TAKE_PTR(st);
	return 0;
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	free(s->root);
	free(s);
	return NULL;
}

char *store_path(const struct store *s, enum store_area a, const char *entry, const char *file)
{
	char *p;
	if (asprintf(&p, "%s/%s%s%s%s%s", s->root, areas[a].dir, entry ? "/" : "", entry ? entry : "",
		     entry && file ? "/" : "", entry && file ? file : "") < 0)
		return NULL;
	return p;
}

char *store_entry_name(const char *prefix, uint64_t key)
{
	char *s;
	return asprintf(&s, "%s-%016llx", prefix, (unsigned long long)key) < 0 ? NULL : s;
}

char *store_disk_backing(enum store_area from, enum store_area to, const char *entry)
{
	char *p;
	int r = from == to ? asprintf(&p, "../%s/disk.qcow2", entry)
			   : asprintf(&p, "../../%s/%s/disk.qcow2", areas[to].dir, entry);
	return r < 0 ? NULL : p;
}

char *store_image_path(const struct store *s, const char *id, const char *file)
{
	return store_path(s, STORE_IMAGES, id, file);
}

int store_area_make(const struct store *s, enum store_area a)
{
	_cleanup_free_ char *dir = store_path(s, a, NULL, NULL);
	if (!dir)
		return -ENOMEM;
	if (mkdir(dir, areas[a].mode) < 0 && errno != EEXIST)
		return -errno;
	/* One made by an older osrun, or by hand, may be wider. */
	return chmod(dir, areas[a].mode) < 0 ? -errno : 0;
}

char *store_pool_socket(const char *root, const char *name)
{
	char *p;
	return asprintf(&p, "%s/%s/%s.sock", root, areas[STORE_POOLS].dir, name) < 0 ? NULL : p;
}

char *store_session_file(const char *root, const char *name, const char *suffix)
{
	char *p;
	return asprintf(&p, "%s/%s/%s%s", root, areas[STORE_SESSIONS].dir, name, suffix) < 0 ? NULL : p;
}

int store_lock_dir(const char *dir, int how, int *ret_fd)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, how) < 0) {
		if (errno == EINTR)
			continue;
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int store_provision_lock(struct store *s, int *ret_fd)
{
	_cleanup_free_ char *path = path_join(s->root, "provision.lock");
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int store_setting_read(struct store *s, const char *name, char **ret)
{
	_cleanup_free_ char *path = path_join(s->root, name), *text = NULL;
	size_t n;
	if (!path)
		return -ENOMEM;
	int r = read_file_untrusted(path, 256, &text, &n);
	if (r < 0)
		return r;
	text[strcspn(text, "\n\r")] = 0;
	*ret = TAKE_PTR(text);
	return 0;
}

int store_scratch_file(struct store *s, int *ret_fd)
{
	int fd = open(s->root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		/* No O_TMPFILE here: a named file, unlinked at once. */
		_cleanup_free_ char *tmpl = path_join(s->root, ".scratch-XXXXXX");
		if (!tmpl)
			return -ENOMEM;
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int store_new_begin(struct store *s, enum store_area a, const char *name, struct snapshot_new **ret)
{
	_cleanup_free_ char *parent = store_path(s, a, NULL, NULL), *final = store_path(s, a, name, NULL), *tmpl = NULL;
	if (!parent || !final)
		return -ENOMEM;
	if (file_exists(final))
		return -EEXIST;
	if (asprintf(&tmpl, "%s/" MAKING_PREFIX "%s.XXXXXX", parent, name) < 0)
		return -ENOMEM;
	if (!mkdtemp(tmpl))
		return -errno;
	struct snapshot_new *n = calloc(1, sizeof *n);
	if (!n) {
		rm_rf(tmpl);
		return -ENOMEM;
	}
	n->lock_fd = -1;
	n->dir = TAKE_PTR(tmpl);
	n->name = strdup(name);
	n->parent = strdup(parent);
	int r = n->name && n->parent ? store_lock_dir(n->dir, LOCK_EX, &n->lock_fd) : -ENOMEM;
	if (r == 0) {
		/* Locked: now it may carry the name the sweep looks at. */
		const char *suffix = strrchr(n->dir, '/') + 1 + strlen(MAKING_PREFIX);
		_cleanup_free_ char *locked = NULL;
		if (asprintf(&locked, "%s/" STORE_NEW_PREFIX "%s", parent, suffix) < 0)
			r = -ENOMEM;
		else if (rename(n->dir, locked) < 0)
			r = -errno;
		else {
			free(n->dir);
			n->dir = TAKE_PTR(locked);
		}
	}
	if (r < 0) {
		snapshot_new_free(n);
		return r;
	}
	*ret = n;
	return 0;
}

static int fsync_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = path_join(dir, e->d_name);
		int k = p ? fsync_path(p) : -ENOMEM;
		if (k < 0 && r == 0)
			r = k;
	}
	closedir(d);
	if (r == 0)
		r = fsync_path(dir);
	return r;
}

int store_new_commit(struct snapshot_new *n)
{
	_cleanup_free_ char *final = path_join(n->parent, n->name);
	if (!final)
		return -ENOMEM;
	int r = fsync_dir_entries(n->dir);
	if (r < 0)
		return r;
	if (renameat2(AT_FDCWD, n->dir, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
		return errno == EEXIST || errno == ENOTEMPTY ? -EEXIST : -errno;
	r = fsync_path(n->parent);
	free(n->dir);
	n->dir = NULL; /* committed: nothing for _free to remove */
	return r;
}

struct snapshot_new *snapshot_new_free(struct snapshot_new *n)
{
	if (!n)
		return NULL;
	if (n->dir)
		rm_rf(n->dir);
	if (n->lock_fd >= 0)
		close(n->lock_fd);
	free(n->dir);
	free(n->name);
	free(n->parent);
	free(n);
	return NULL;
}

static int sweep_dir(const char *root, const char *sub, char ***removed)
{
	_cleanup_free_ char *dir = path_join(root, sub);
	if (!dir)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		bool making = !strncmp(e->d_name, MAKING_PREFIX, strlen(MAKING_PREFIX));
		if (!making && strncmp(e->d_name, STORE_NEW_PREFIX, strlen(STORE_NEW_PREFIX)))
			continue;
		_cleanup_free_ char *p = path_join(dir, e->d_name), *rel = path_join(sub, e->d_name);
		if (!p || !rel) {
			r = -ENOMEM;
			break;
		}
		struct stat st;
		if (making && (lstat(p, &st) < 0 || time(NULL) - st.st_mtime < MAKING_STALE_SEC))
			continue;
		_cleanup_close_ int fd = -1;
		if (store_lock_dir(p, LOCK_EX | LOCK_NB, &fd) < 0)
			continue; /* its maker is alive */
		if (rm_rf(p) < 0)
			continue;
		*removed = strv_append(*removed, rel);
		if (!*removed)
			r = -ENOMEM;
	}
	closedir(d);
	return r;
}

int store_sweep(struct store *s, char ***ret_removed)
{
	char **removed = calloc(1, sizeof(char *));
	int r = removed ? 0 : -ENOMEM;
	for (size_t a = 0; r == 0 && a < ELEMENTSOF(areas); a++)
		if (areas[a].at_open)
			r = sweep_dir(s->root, areas[a].dir, &removed);
	if (r < 0) {
		strv_free(removed);
		return r;
	}
	if (ret_removed)
		*ret_removed = removed;
	else
		strv_free(removed);
	return 0;
}

int store_import_image(struct store *s, const char *prefix, const char *src_dir, const char *const *files,
		       char **ret_id)
{
	uint64_t h = FNV1A64_INIT;
	for (size_t i = 0; files[i]; i++) {
		_cleanup_free_ char *p = path_join(src_dir, files[i]);
		if (!p)
			return -ENOMEM;
		h = fnv1a64(h, files[i], strlen(files[i]) + 1);
		int r = hash_file(&h, p);
		if (r < 0)
			return r;
	}
	_cleanup_free_ char *id = NULL, *dir = NULL;
	if (asprintf(&id, "%s-%016llx", prefix, (unsigned long long)h) < 0)
		return -ENOMEM;
	dir = store_path(s, STORE_IMAGES, id, NULL);
	if (!dir)
		return -ENOMEM;
	if (!file_exists(dir)) {
		_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
		int r = store_new_begin(s, STORE_IMAGES, id, &n);
		for (size_t i = 0; r == 0 && files[i]; i++) {
			_cleanup_free_ char *from = path_join(src_dir, files[i]), *to = path_join(n->dir, files[i]);
			r = from && to ? copy_file_sparse(from, to, 0400) : -ENOMEM;
		}
		if (r == 0)
			r = store_new_commit(n);
		/* Another import of the same content won the race: the same. */
		if (r < 0 && r != -EEXIST)
			return r;
	}
	*ret_id = TAKE_PTR(id);
	return 0;
}

int snapshot_name_check(const char *name, const char **ret_why)
{
	const char *why = NULL;
	size_t n = strlen(name);
	if (n == 0)
		why = "is empty";
	else if (n > SNAPSHOT_NAME_MAX)
		why = "is longer than 64 characters";
	else if (name[0] == '.' || name[0] == '-')
		why = "starts with '.' or '-'";
	else {
		for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
			if (*p == '/')
				why = "contains '/'";
			else if (*p < 0x20 || *p == 0x7f)
				why = "contains a control character";
			else if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
				 !strchr("._-+@", *p))
				why = "may only contain letters, digits and . _ - + @";
			if (why)
				break;
		}
	}
	if (why) {
		if (ret_why)
			*ret_why = why;
		return -EINVAL;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int store_list_area(struct store *s, enum store_area a, char ***ret)
{
	_cleanup_free_ char *dir = store_path(s, a, NULL, NULL);
	if (!dir)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	char **v = calloc(1, sizeof(char *));
	struct dirent *e;
	while (v && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		v = strv_append(v, e->d_name);
	}
	closedir(d);
	if (!v)
		return -ENOMEM;
	qsort(v, strv_length(v), sizeof(char *), cmp_str);
	*ret = v;
	return 0;
}

char *snapshot_new_path(const struct snapshot_new *n, const char *part) { return path_join(n->dir, part); }
