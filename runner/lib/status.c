#define _GNU_SOURCE
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int status_open(const char *path, struct status_follow *s)
{
	*s = (struct status_follow){.fd = -1};
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = S_ISREG(st.st_mode) ? -errno : -EBADF;
		close(fd);
		return r;
	}
	s->fd = fd;
	return 0;
}

int status_open_prefixed(const char *path, const char *prefix, struct status_follow *s)
{
	int r = status_open(path, s);
	if (r == 0)
		s->prefix = prefix;
	return r;
}

void status_close(struct status_follow *s) { s->fd = safe_close(s->fd); }

/* One complete line: "done", or the newest status to show. */
static bool line_end(struct status_follow *s)
{
	s->line[s->len] = 0;
	size_t n = s->len;
	s->len = 0;
	if (s->in_long_line) {
		s->in_long_line = false;
		return false;
	}
	if (s->prefix) {
		size_t k = strlen(s->prefix);
		if (n < k || memcmp(s->line, s->prefix, k))
			return false;
		memmove(s->line, s->line + k, n - k + 1);
		n -= k;
	}
	if (!strcmp(s->line, "done")) {
		s->done = true;
		return false;
	}
	if (!strncmp(s->line, "failed:", 7) && !s->failed) {
		s->failed = true;
		memcpy(s->failure, s->line, n + 1);
	}
	if (n == 0 || !strcmp(s->line, s->last))
		return false;
	memcpy(s->last, s->line, n + 1);
	return true;
}

int status_poll(struct status_follow *s)
{
	bool changed = false;
	char buf[1 << 16];
	for (int rounds = 0; rounds < 16; rounds++) {
		if (s->off >= (off_t)STATUS_MAX && !s->prefix)
			return -EFBIG;
		ssize_t k = pread(s->fd, buf, sizeof buf, s->off);
		if (k < 0)
			return errno == EINTR || errno == EAGAIN ? changed : -errno;
		if (k == 0)
			break;
		s->off += k;
		for (ssize_t i = 0; i < k; i++) {
			unsigned char c = (unsigned char)buf[i];
			if (c == '\n' || c == '\r') {
				changed |= line_end(s);
				continue;
			}
			if (s->in_long_line)
				continue;
			if (s->len == STATUS_LINE_MAX) {
				changed |= line_end(s); /* shown cut; its rest dropped */
				s->in_long_line = true;
				continue;
			}
			s->line[s->len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	return changed;
}

int status_copy(struct status_follow *s, int fd)
{
	char buf[1 << 16];
	for (off_t off = 0; off < (off_t)STATUS_MAX;) {
		ssize_t k = pread(s->fd, buf, sizeof buf, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : 0;
		int r = write_full(fd, buf, (size_t)k);
		if (r < 0)
			return r;
		off += k;
	}
	return 0;
}
