/* Guest RAM files. A snapshot has a full "memory", or (a build layer) a
 * "memory.delta" (ramdelta.h): the pages that differ from its parent's RAM,
 * zeros included, and a bitmap naming them. The full file is made from the
 * chain (the nearest full one below, then each delta over it) when a run
 * first needs it, and kept: so a layer costs the pages its step changed
 * even where the filesystem has no reflinks (ext4), and reads the same on
 * any filesystem, whatever its holes are made of. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "memory.h"
#include "ramdelta.h"

#define CHAIN_MAX 32
#define PAGE RAM_PAGE
#define CHUNK (RAM_DELTA_SPAN * RAM_PAGE)

struct chain {
	struct ram_delta delta[CHAIN_MAX]; /* the snapshot's own first */
	size_t n;			   /* deltas */
	int full_fd;			   /* the nearest full file, below them */
	char *full;			   /* its path */
	off_t size;
};

static void chain_release(struct chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		close(c->delta[i].fd);
	if (c->full_fd >= 0)
		close(c->full_fd);
	free(c->full);
	c->n = 0;
	c->full_fd = -1;
	c->full = NULL;
}

static int open_part(const char *dir, const char *file, char **ret_path)
{
	_cleanup_free_ char *p = path_join(dir, file);
	if (!p)
		return -ENOMEM;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (ret_path)
		*ret_path = TAKE_PTR(p);
	return fd;
}

/* dir's RAM: its full file ends the chain (1), or its delta goes on it. */
static int chain_push(struct chain *c, const char *dir)
{
	struct stat st;
	int fd = open_part(dir, "memory", &c->full);
	if (fd >= 0 && fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	if (fd >= 0) {
		c->full_fd = fd;
		c->size = st.st_size;
		/* A chain of one machine has one RAM size. */
		for (size_t i = 0; i < c->n; i++)
			if (c->delta[i].size != (uint64_t)c->size)
				return -EBADMSG;
		return 1;
	}
	if (fd != -ENOENT)
		return fd;
	if ((fd = open_part(dir, "memory.delta", NULL)) < 0)
		return fd == -ENOENT ? -EBADMSG : fd;
	int r = ram_delta_open(fd, &c->delta[c->n]);
	if (r < 0) {
		close(fd);
		return r;
	}
	c->n++;
	return 0;
}

/* The files that make sn's RAM. Ancestors need no lock: a snapshot
 * with a child is never removed (snapshot_remove). */
static int chain_open(struct store *s, const struct snapshot *sn, struct chain *c)
{
	*c = (struct chain){.full_fd = -1};
	_cleanup_free_ char *dir = strdup(sn->dir), *parent = sn->meta.parent ? strdup(sn->meta.parent) : NULL;
	if (!dir || (sn->meta.parent && !parent))
		return -ENOMEM;
	for (;;) {
		if (c->n == CHAIN_MAX)
			return -ELOOP;
		int r = chain_push(c, dir);
		if (r != 0)
			return r < 0 ? r : 0;
		if (!parent)
			return -EBADMSG;
		free(dir);
		if (!(dir = store_path(s, STORE_SNAPSHOTS, parent, NULL)))
			return -ENOMEM;
		struct snapshot_meta m;
		if ((r = snapshot_meta_read(dir, &m)) < 0)
			return r;
		free(parent);
		parent = TAKE_PTR(m.parent);
		snapshot_meta_release(&m);
	}
}

/* The chunk at off: CHUNK bytes, or the whole pages left before the end. */
static size_t chunk_len(const struct chain *c, off_t off)
{
	return c->size - off < CHUNK ? (size_t)(c->size - off) & ~(size_t)(PAGE - 1) : CHUNK;
}

/* Only ENXIO says there is none: any other failure reads the range. */
static bool has_data(int fd, off_t from, off_t to)
{
	off_t d = lseek(fd, from, SEEK_DATA);
	return d >= 0 ? d < to : errno != ENXIO;
}

static int pread_exact(int fd, void *buf, size_t n, off_t off)
{
	ssize_t k = pread_retry(fd, buf, n, off);
	return k < 0 ? (int)k : (size_t)k == n ? 0 : -EBADMSG;
}

/* The full file's data at [off, off + len) into buf (zeroed): its holes
 * are zeros on any filesystem. */
static int full_read(int fd, off_t off, size_t len, char *buf, bool *ret_any)
{
	off_t end = off + (off_t)len;
	for (off_t pos = off; pos < end;) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		if (d < 0 && errno != ENXIO)
			return -errno;
		if (d < 0 || d >= end)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if (h > end)
			h = end;
		ssize_t k = pread_retry(fd, buf + (d - off), (size_t)(h - d), d);
		if (k < 0)
			return (int)k;
		*ret_any = true;
		pos = h;
	}
	return 0;
}

/* The chain's RAM at [off, off + len): zeros, the full file's data over
 * them, each delta's pages over that. *ret_any: some file had data. */
static int chain_read(struct chain *c, off_t off, size_t len, char *buf, bool *ret_any)
{
	memset(buf, 0, len);
	*ret_any = false;
	int r = full_read(c->full_fd, off, len, buf, ret_any);
	for (size_t i = c->n; r >= 0 && i-- > 0;) {
		bool any;
		r = ram_delta_read(&c->delta[i], (uint64_t)off, len, buf, &any);
		*ret_any |= any;
	}
	return r;
}

static bool page_zero(const char *p)
{
	static const char zero[PAGE];
	return !memcmp(p, zero, PAGE);
}

/* Writes the pages of buf (at off) that keep says to. */
static int pages_write(int fd, const char *buf, off_t off, size_t len, const bool *keep)
{
	for (size_t i = 0; i < len / PAGE;) {
		if (!keep[i]) {
			i++;
			continue;
		}
		size_t k = i;
		while (k < len / PAGE && keep[k])
			k++;
		int r = pwrite_full(fd, buf + i * PAGE, (k - i) * PAGE, off + (off_t)(i * PAGE));
		if (r < 0)
			return r;
		i = k;
	}
	return 0;
}

/* The chain's RAM into fd (a new file of the same size): zero pages stay
 * holes. */
static int chain_compose(struct chain *c, int fd)
{
	_cleanup_free_ char *buf = malloc(CHUNK);
	bool keep[CHUNK / PAGE];
	if (!buf)
		return -ENOMEM;
	if (ftruncate(fd, c->size) < 0)
		return -errno;
	for (off_t off = 0; off < c->size; off += CHUNK) {
		size_t len = chunk_len(c, off);
		bool any;
		int r = chain_read(c, off, len, buf, &any);
		if (r < 0)
			return r;
		if (!any)
			continue;
		for (size_t i = 0; i < len / PAGE; i++)
			keep[i] = !page_zero(buf + i * PAGE);
		if ((r = pages_write(fd, buf, off, len, keep)) < 0)
			return r;
	}
	return 0;
}

int snapshot_memory_copy(struct store *s, const struct snapshot *sn, const char *to)
{
	struct chain c;
	int r = chain_open(s, sn, &c);
	if (r >= 0 && c.n == 0) /* a full file: reflinked or copied sparsely */
		r = copy_file_sparse(c.full, to, 0600);
	else if (r >= 0) {
		int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		r = fd < 0 ? -errno : chain_compose(&c, fd);
		if (fd >= 0)
			close(fd);
	}
	chain_release(&c);
	return r;
}

int snapshot_memory_ready(struct store *s, const struct snapshot *sn)
{
	_cleanup_free_ char *full = snapshot_path(sn, "memory");
	if (!full)
		return -ENOMEM;
	if (file_exists(full))
		return 0;
	struct chain c;
	int r = chain_open(s, sn, &c);
	_cleanup_close_ int dfd = open(sn->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* A file without a name until it is whole: a killed run leaves
	 * nothing, and another run sees no file or a complete one. */
	_cleanup_close_ int fd = r < 0 || dfd < 0 ? -1 : openat(dfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (r >= 0 && fd < 0)
		r = -errno;
	if (r >= 0)
		r = chain_compose(&c, fd);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	char proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	if (r >= 0 && linkat(AT_FDCWD, proc, dfd, "memory", AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
		r = -errno;
	chain_release(&c);
	return r;
}

int snapshot_memory_to_delta(struct store *s, const struct snapshot *parent, struct snapshot_new *n,
			     uint64_t *ret_bytes)
{
	struct chain c;
	int r = chain_open(s, parent, &c);
	if (r < 0 || c.n + 1 >= CHAIN_MAX - 1) {
		/* A chain this long is cut here: this one keeps its full file. */
		chain_release(&c);
		return r < 0 ? r : 1;
	}
	_cleanup_free_ char *full = snapshot_new_path(n, "memory"), *delta = snapshot_new_path(n, "memory.delta"),
			    *buf = malloc(CHUNK), *mine = malloc(CHUNK);
	_cleanup_close_ int in = full ? open(full, O_RDONLY | O_CLOEXEC) : -1;
	_cleanup_close_ int out = delta ? open(delta, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	struct ram_delta_writer w;
	struct stat st;
	bool keep[CHUNK / PAGE];
	uint64_t bytes = 0;
	if (!buf || !mine || in < 0 || out < 0 || fstat(in, &st) < 0)
		r = !buf || !mine ? -ENOMEM : -errno;
	else if (st.st_size != c.size)
		r = -EBADMSG; /* not the parent's machine */
	else
		r = ram_delta_begin(out, (uint64_t)c.size, &w);
	for (off_t off = 0; r >= 0 && off < c.size; off += CHUNK) {
		size_t len = chunk_len(&c, off);
		bool any;
		if ((r = chain_read(&c, off, len, buf, &any)) < 0)
			break;
		if (!any && !has_data(in, off, off + (off_t)len))
			continue;
		if ((r = pread_exact(in, mine, len, off)) < 0)
			break;
		for (size_t i = 0; i < len / PAGE; i++) {
			keep[i] = memcmp(buf + i * PAGE, mine + i * PAGE, PAGE) != 0;
			bytes += keep[i] ? PAGE : 0;
		}
		r = ram_delta_add(&w, (uint64_t)off, len, mine, keep);
	}
	if (r >= 0)
		r = ram_delta_end(&w);
	if (r >= 0 && unlink(full) < 0)
		r = -errno;
	if (r < 0 && delta)
		unlink(delta); /* the full file stays: the snapshot is still whole */
	else if (ret_bytes)
		*ret_bytes = bytes;
	chain_release(&c);
	return r;
}
