#define _GNU_SOURCE
#include "store.h"

#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#define NEW_PREFIX ".new-"
/* Where a directory is made before it is locked; the sweep leaves these
 * alone unless they are old enough to be a maker killed in that instant. */
#define MAKING_PREFIX ".making-"
#define MAKING_STALE_SEC 60
#define META_VERSION 1

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
	_cleanup_(store_freep) struct store *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->root = strdup(root);
	s->snapshots = path_join(root, "snapshots");
	s->images = path_join(root, "images");
	s->stages = path_join(root, "stages");
	if (!s->root || !s->snapshots || !s->images || !s->stages)
		return -ENOMEM;
	int r = mkdir_p(s->snapshots, 0755);
	if (r == 0)
		r = mkdir_p(s->images, 0755);
	if (r == 0)
		r = mkdir_p(s->stages, 0755);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

struct store *store_free(struct store *s)
{
	if (!s)
		return NULL;
	free(s->root);
	free(s->snapshots);
	free(s->images);
	free(s->stages);
	free(s);
	return NULL;
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

void snapshot_meta_release(struct snapshot_meta *m)
{
	free(m->parent);
	free(m->image);
	free(m->qemu_version);
	free(m->created);
	free(m->made_by);
	free(m->build);
	memset(m, 0, sizeof *m);
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

int snapshot_meta_to_json(const struct snapshot_meta *m, char **ret)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(META_VERSION));
	add_str(o, "parent", m->parent);
	add_str(o, "image", m->image);
	json_object *mach = json_object_new_object();
	add_str(mach, "profile", m->machine.profile);
	json_object_object_add(mach, "memory_mib", json_object_new_int64(m->machine.memory_mib));
	json_object_object_add(mach, "cpus", json_object_new_int64(m->machine.cpus));
	add_str(mach, "accel", accel_to_string(m->machine.accel));
	json_object_object_add(o, "machine", mach);
	add_str(o, "qemu_version", m->qemu_version);
	add_str(o, "created", m->created);
	add_str(o, "made_by", m->made_by);
	if (m->build)
		add_str(o, "build", m->build);
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static char *get_str(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

int snapshot_meta_from_json(const char *text, struct snapshot_meta *ret)
{
	json_object *o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	struct snapshot_meta m = {0};
	json_object *mach, *v;
	int r = 0;
	if (!json_object_object_get_ex(o, "machine", &mach))
		r = -EBADMSG;
	else {
		_cleanup_free_ char *profile = get_str(mach, "profile"), *accel = get_str(mach, "accel");
		if (!profile || strlen(profile) >= sizeof m.machine.profile || !accel ||
		    accel_from_string(accel, &m.machine.accel) < 0)
			r = -EBADMSG;
		else
			snprintf(m.machine.profile, sizeof m.machine.profile, "%s", profile);
		if (json_object_object_get_ex(mach, "memory_mib", &v))
			m.machine.memory_mib = (unsigned)json_object_get_int64(v);
		if (json_object_object_get_ex(mach, "cpus", &v))
			m.machine.cpus = (unsigned)json_object_get_int64(v);
		if (!m.machine.memory_mib || !m.machine.cpus)
			r = -EBADMSG;
	}
	m.parent = get_str(o, "parent");
	m.image = get_str(o, "image");
	m.qemu_version = get_str(o, "qemu_version");
	m.created = get_str(o, "created");
	m.made_by = get_str(o, "made_by");
	m.build = get_str(o, "build");
	if (!m.image)
		r = -EBADMSG;
	json_object_put(o);
	if (r < 0) {
		snapshot_meta_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

/* A snapshot directory's meta.json; -EBADMSG when missing or damaged. */
static int meta_read(const char *dir, struct snapshot_meta *ret)
{
	_cleanup_free_ char *mp = path_join(dir, "meta.json"), *text = NULL;
	if (!mp)
		return -ENOMEM;
	int r = read_full_file(mp, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	return snapshot_meta_from_json(text, ret);
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
	sn->dir = path_join(s->snapshots, name);
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
	r = meta_read(sn->dir, &sn->meta);
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
char *snapshot_new_path(const struct snapshot_new *n, const char *part) { return path_join(n->dir, part); }

int store_new_begin(struct store *s, const char *parent, const char *name, struct snapshot_new **ret)
{
	_cleanup_free_ char *final = path_join(parent, name), *tmpl = NULL;
	if (!final)
		return -ENOMEM;
	if (file_exists(final))
		return -EEXIST;
	if (asprintf(&tmpl, "%s/" MAKING_PREFIX "%s.XXXXXX", parent, name) < 0)
		return -ENOMEM;
	if (!mkdtemp(tmpl))
		return -errno;
	chmod(tmpl, 0755);
	struct snapshot_new *n = calloc(1, sizeof *n);
	if (!n) {
		rm_rf(tmpl);
		return -ENOMEM;
	}
	n->store = s;
	n->lock_fd = -1;
	n->dir = TAKE_PTR(tmpl);
	n->name = strdup(name);
	n->parent = strdup(parent);
	int r = n->name && n->parent ? store_lock_dir(n->dir, LOCK_EX, &n->lock_fd) : -ENOMEM;
	if (r == 0) {
		/* Locked: now it may carry the name the sweep looks at. */
		const char *suffix = strrchr(n->dir, '/') + 1 + strlen(MAKING_PREFIX);
		_cleanup_free_ char *locked = NULL;
		if (asprintf(&locked, "%s/" NEW_PREFIX "%s", parent, suffix) < 0)
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

int snapshot_new_begin(struct store *s, const char *name, struct snapshot_new **ret)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	return store_new_begin(s, s->snapshots, name, ret);
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

int snapshot_new_commit(struct snapshot_new *n, const struct snapshot_meta *meta)
{
	_cleanup_free_ char *json = NULL, *mp = snapshot_new_path(n, "meta.json");
	if (!mp)
		return -ENOMEM;
	int r = snapshot_meta_to_json(meta, &json);
	if (r < 0)
		return r;
	r = write_file_atomic(mp, json, strlen(json), 0644);
	if (r < 0)
		return r;
	return store_new_commit(n);
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int store_list(struct store *s, char ***ret)
{
	DIR *d = opendir(s->snapshots);
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

int store_remove(struct store *s, const char *name, char **ret_child)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	_cleanup_strv_free_ char **names = NULL;
	r = store_list(s, &names);
	if (r < 0)
		return r;
	_cleanup_free_ char *dir = path_join(s->snapshots, name);
	if (!dir)
		return -ENOMEM;
	if (!file_exists(dir))
		return -ENOENT;
	for (char **p = names; *p; p++) {
		_cleanup_free_ char *d = path_join(s->snapshots, *p);
		if (!d)
			return -ENOMEM;
		struct snapshot_meta m;
		if (meta_read(d, &m) < 0)
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
	if (asprintf(&gone, "%s/" NEW_PREFIX "removed-%s.%d", s->snapshots, name, (int)getpid()) < 0)
		return -ENOMEM;
	if (rename(dir, gone) < 0)
		return -errno;
	fsync_path(s->snapshots);
	return rm_rf(gone);
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
		if (!making && strncmp(e->d_name, NEW_PREFIX, strlen(NEW_PREFIX)))
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
	static const char *const subs[] = {"snapshots", "images", "stages"};
	for (size_t i = 0; r == 0 && i < ELEMENTSOF(subs); i++)
		r = sweep_dir(s->root, subs[i], &removed);
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

char *store_image_path(struct store *s, const char *id, const char *file)
{
	char *p;
	if (asprintf(&p, "%s/%s/%s", s->images, id, file) < 0)
		return NULL;
	return p;
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
	dir = path_join(s->images, id);
	if (!dir)
		return -ENOMEM;
	if (!file_exists(dir)) {
		_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
		int r = store_new_begin(s, s->images, id, &n);
		for (size_t i = 0; r == 0 && files[i]; i++) {
			_cleanup_free_ char *from = path_join(src_dir, files[i]), *to = path_join(n->dir, files[i]);
			r = from && to ? copy_file_sparse(from, to, 0444) : -ENOMEM;
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
