#define _GNU_SOURCE
#include "guest.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

int guest_fail(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("osrun-guest: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

/* The id names a directory under GUEST_RUN_ROOT: nothing that could
 * climb out of it. */
int guest_run_init(struct guest_run *r)
{
	const char *id = getenv("OSRUN_RUN_ID");
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 64 || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
		return -EINVAL;
	r->id = id;
	snprintf(r->dir, sizeof r->dir, "%s/%s", GUEST_RUN_ROOT, id);
	return 0;
}

int guest_run_path(const struct guest_run *r, const char *name, char *buf, size_t size)
{
	int k = snprintf(buf, size, "%s/%s", r->dir, name);
	return k < 0 || (size_t)k >= size ? -ENAMETOOLONG : 0;
}

int guest_run_side(const struct guest_run *r, const char *suffix, char *buf, size_t size)
{
	int k = snprintf(buf, size, "%s.%s", r->dir, suffix);
	return k < 0 || (size_t)k >= size ? -ENAMETOOLONG : 0;
}

int fd_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int file_write(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	int r = fd_write_all(fd, text, strlen(text));
	if (r < 0)
		return r;
	return close(TAKE_FD(fd)) < 0 ? -errno : 0;
}

int file_replace(const char *path, const char *text)
{
	char tmp[256];
	int k = snprintf(tmp, sizeof tmp, "%s.new", path);
	if (k < 0 || (size_t)k >= sizeof tmp)
		return -ENAMETOOLONG;
	int r = file_write(tmp, text);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

int mkdir_parents(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int tree_remove(const char *path) { return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0; }

static const struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
} verbs[] = {
	{"exec", verb_exec}, {"mount", verb_mount},   {"kill", verb_kill},
	{"copy", verb_copy}, {"detach", verb_detach}, {"drain", verb_drain},
};

int main(int argc, char **argv)
{
	/* Writes to a pipe whose reader has gone fail with EPIPE here; the
	 * command gets the default back (child_spawn). */
	signal(SIGPIPE, SIG_IGN);
	/* Installed as /sbin/hwclock in the Debian guest: qemu-ga's
	 * guest-set-time (each restore) sets the kernel clock, then runs
	 * "/sbin/hwclock -w" and waits for it (qga/commands-posix.c). A VM
	 * that is thrown away never reads its RTC again, and a dynamically
	 * linked program started just after a restore costs ~50 ms of guest
	 * CPU under TCG (docs/debian-guest.md, Timings); this static one is
	 * already in the page cache. */
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	if (argc > 0 && !strcmp(base ? base + 1 : argv[0], "hwclock"))
		return 0;
	if (argc < 2)
		return guest_fail(2, "usage: osrun-guest exec|mount|kill|copy|detach [ARGS]");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (!strcmp(verbs[i].name, argv[1]))
			return verbs[i].run(argc - 1, argv + 1);
	return guest_fail(2, "unknown verb '%s'", argv[1]);
}
