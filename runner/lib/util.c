#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

static int cancel_fd = -1;

void cancel_fd_set(int fd) { cancel_fd = fd; }
int cancel_fd_get(void) { return cancel_fd; }

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

size_t strv_length(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **strv_append(char **v, const char *s)
{
	size_t n = strv_length(v);
	char *d = strdup(s);
	char **nv = d ? realloc(v, (n + 2) * sizeof(char *)) : NULL;
	if (!nv) {
		free(d);
		strv_free(v);
		return NULL;
	}
	nv[n] = d;
	nv[n + 1] = NULL;
	return nv;
}

static usec_t clock_usec(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

usec_t now_usec(void) { return clock_usec(CLOCK_MONOTONIC); }
usec_t realtime_usec(void) { return clock_usec(CLOCK_REALTIME); }

usec_t deadline_after(usec_t timeout)
{
	if (timeout == USEC_INFINITY)
		return USEC_INFINITY;
	return now_usec() + timeout;
}

int deadline_to_poll_ms(usec_t deadline)
{
	if (deadline == USEC_INFINITY)
		return -1;
	usec_t n = now_usec();
	if (n >= deadline)
		return 0;
	usec_t ms = (deadline - n + 999) / 1000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int fd_wait(int fd, short events, usec_t deadline)
{
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = cancel_fd, .events = POLLIN}};
		int r = poll(p, cancel_fd >= 0 ? 2 : 1, deadline_to_poll_ms(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (cancel_fd >= 0 && (p[1].revents & POLLIN))
			return -ECANCELED;
		if (r == 0)
			return -ETIMEDOUT;
		if (p[0].revents)
			return 1;
	}
}

int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = fd_wait(fd, POLLOUT, USEC_INFINITY);
				if (r < 0)
					return r;
				continue;
			}
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

ssize_t read_retry(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? -errno : k;
	}
}

ssize_t pread_retry(int fd, void *buf, size_t n, off_t off)
{
	for (;;) {
		ssize_t k = pread(fd, buf, n, off);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? -errno : k;
	}
}

int copy_stream(int in, int out, usec_t deadline, uint64_t *ret_copied)
{
	char buf[1 << 16];
	uint64_t total = 0;
	for (;;) {
		int r = fd_wait(in, POLLIN, deadline);
		if (r < 0)
			return r;
		ssize_t k = read_retry(in, buf, sizeof buf);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		r = write_full(out, buf, (size_t)k);
		if (r < 0)
			return r;
		total += (uint64_t)k;
	}
	if (ret_copied)
		*ret_copied = total;
	return 0;
}

int read_full_file(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap *= 2;
		}
		ssize_t k = read_retry(fd, buf + n, cap - n);
		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = 0;
	if (ret_size)
		*ret_size = n;
	*ret = TAKE_PTR(buf);
	return 0;
}

int fsync_path(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

int fsync_parent(const char *path)
{
	_cleanup_free_ char *d = strdup(path);
	if (!d)
		return -ENOMEM;
	char *slash = strrchr(d, '/');
	if (!slash)
		return fsync_path(".");
	if (slash == d)
		slash[1] = 0;
	else
		*slash = 0;
	return fsync_path(d);
}

int write_file_atomic(const char *path, const char *data, size_t n, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int r = write_full(fd, data, n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_parent(path);
}

/* The kernel cannot copy between these two files (another filesystem, or
 * one without copy_file_range): read and write. */
static bool copy_range_unsupported(int err)
{
	return err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP;
}

int copy_fd_range(int in, int out, uint64_t *ret_copied)
{
	uint64_t total = 0;
	for (;;) {
		ssize_t k = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (!copy_range_unsupported(errno))
				return -errno;
			/* Plain copy where the kernel cannot copy between these files. */
			uint64_t rest = 0;
			int r = copy_stream(in, out, USEC_INFINITY, &rest);
			if (r < 0)
				return r;
			total += rest;
			break;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
	}
	if (ret_copied)
		*ret_copied = total;
	return 0;
}

int pwrite_full(int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		off += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies bytes [from, to) of in to the same offsets of out. */
static int copy_extent(int in, int out, off_t from, off_t to)
{
	off_t o_in = from, o_out = from;
	while (o_in < to) {
		ssize_t k = copy_file_range(in, &o_in, out, &o_out, (size_t)(to - o_in), 0);
		if (k > 0)
			continue;
		if (k == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (!copy_range_unsupported(errno))
			return -errno;
		char buf[1 << 16];
		while (o_in < to) {
			size_t want = (size_t)(to - o_in) < sizeof buf ? (size_t)(to - o_in) : sizeof buf;
			ssize_t n = pread_retry(in, buf, want, o_in);
			if (n < 0)
				return (int)n;
			if (n == 0)
				return 0;
			int r = pwrite_full(out, buf, (size_t)n, o_in);
			if (r < 0)
				return r;
			o_in += n;
		}
	}
	return 0;
}

/* Copies a file keeping its holes: guest RAM files are mostly zero pages the
 * guest never touched, and the copy must not allocate them. */
int copy_file_sparse(const char *from, const char *to, mode_t mode)
{
	_cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	struct stat st;
	if (fstat(in, &st) < 0)
		return -errno;
	_cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0)
		return -errno;
	/* A reflink (XFS, btrfs): the copy shares every block until one of
	 * the two is written, so a snapshot layer costs what its run changed. */
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	if (ftruncate(out, st.st_size) < 0)
		return -errno;
	off_t pos = 0;
	while (pos < st.st_size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break;
			return -errno;
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		int r = copy_extent(in, out, data, hole);
		if (r < 0)
			return r;
		pos = hole;
	}
	return 0;
}

char *path_join(const char *a, const char *b)
{
	char *s;
	size_t la = strlen(a);
	if (asprintf(&s, "%s%s%s", a, (la > 0 && a[la - 1] == '/') ? "" : "/", b) < 0)
		return NULL;
	return s;
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

bool file_exists(const char *path) { return access(path, F_OK) == 0; }

uint64_t fnv1a64(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

int hash_file(uint64_t *h, const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[1 << 16];
	for (;;) {
		ssize_t k = read_retry(fd, buf, sizeof buf);
		if (k <= 0)
			return (int)k;
		*h = fnv1a64(*h, buf, (size_t)k);
	}
}

int parse_seconds(const char *s, usec_t *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e7)
		return -EINVAL;
	*ret = (usec_t)(v * USEC_PER_SEC);
	return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int read_file_untrusted(const char *p, size_t max, char **ret, size_t *ret_n)
{
	/* Someone else made it: no link followed, no FIFO waited on. */
	_cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	_cleanup_free_ char *buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	size_t n = 0;
	for (ssize_t k; n <= max && (k = read_retry(fd, buf + n, max + 1 - n)) != 0; n += (size_t)k)
		if (k < 0)
			return (int)k;
	if (n > max)
		return -EFBIG;
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_n = n;
	return 0;
}
