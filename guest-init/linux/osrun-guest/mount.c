#define _GNU_SOURCE
#include "guest.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>

/* The share is osrun's smbd behind 10.0.2.4; the kernel's CIFS client
 * takes the address as ip= (busybox mount adds the same). */
#define SHARE_BASE "ip=10.0.2.4,user=guest,pass=x,vers=2.1,noserverino"
/* actimeo=0: the stdin follower must see stdin.end as soon as osrun makes
 * it, not a cached "not found". closetimeo=0: CIFS (kernel 6.1) defers a
 * close by 1 s without it. */
#define SHARE_OPTS SHARE_BASE ",cache=none,actimeo=0,closetimeo=0"
/* Volumes are read by any tool, and the 6.1 kernel's splice from a CIFS
 * file into a pipe is broken with cache=none and cache=strict: busybox cat
 * (sendfile) of a 7-byte file into a pipe sent the 7 bytes, then zeros
 * without end; into a file, or with cache=loose, it was exact (measured).
 * cache=loose: reads through the page cache; writes are sent at the latest
 * on close(2) (cifs_flush); a host change shows within actimeo (1 s). */
#define VOLUME_OPTS SHARE_BASE ",cache=loose"

/* A host busy enough can make the first SMB session fail ("Remote I/O
 * error", seen in make check on 2 loaded cores): tried 5 times, 300 ms
 * apart. Nothing in the guest signals that smbd is ready, so this one
 * wait is timed. */
static int mount_cifs(const char *unc, const char *at, unsigned long flags, const char *opts)
{
	int r = 0;
	for (int tries = 0; tries < 5; tries++) {
		if (tries > 0) {
			struct timespec ts = {.tv_nsec = 300 * 1000 * 1000};
			while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
				;
		}
		if (mount(unc, at, "cifs", flags, opts) == 0)
			return 0;
		r = -errno;
	}
	return guest_fail(r, "mounting %s at %s: %s", unc, at, strerror(-r));
}

/* Volume names are osrun's ("v0".."vN"); paths are absolute. */
static int volume_mount(char *line, int list_fd)
{
	char *mode = strchr(line, ' ');
	char *path = mode ? strchr(mode + 1, ' ') : NULL;
	if (!path)
		return guest_fail(-EINVAL, "volume line '%s': not \"SHARE MODE PATH\"", line);
	*mode++ = 0;
	*path++ = 0;
	size_t n = strlen(line);
	if (n == 0 || n > 32 || strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return guest_fail(-EINVAL, "volume share '%s': not a share name", line);
	if (path[0] != '/')
		return guest_fail(-EINVAL, "volume '%s': not an absolute path", path);
	unsigned long flags;
	if (!strcmp(mode, "ro"))
		flags = MS_RDONLY;
	else if (!strcmp(mode, "rw"))
		flags = 0;
	else
		return guest_fail(-EINVAL, "volume '%s': mode '%s' is neither ro nor rw", path, mode);
	int k = mkdir_parents(path, 0755);
	if (k < 0)
		return guest_fail(k, "volume '%s': %s", path, strerror(-k));
	/* Listed before the mount, so that detach finds every one made. */
	k = fd_write_all(list_fd, path, strlen(path));
	if (k == 0)
		k = fd_write_all(list_fd, "\n", 1);
	if (k < 0)
		return guest_fail(k, "listing volume '%s': %s", path, strerror(-k));
	char unc[64];
	snprintf(unc, sizeof unc, "//10.0.2.4/%s", line);
	return mount_cifs(unc, path, flags, VOLUME_OPTS);
}

static int volumes_mount(const struct guest_run *r)
{
	const char *list = getenv("OSRUN_VOLUMES");
	if (!list || !*list)
		return 0;
	char side[160];
	if (guest_run_side(r, "volumes", side, sizeof side) < 0)
		return -ENAMETOOLONG;
	_cleanup_close_ int fd = open(side, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return guest_fail(-errno, "%s: %s", side, strerror(errno));
	_cleanup_free_ char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (char *line = copy, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (!*line)
			continue;
		int k = volume_mount(line, fd);
		if (k < 0)
			return k;
	}
	return 0;
}

int share_mount(const struct guest_run *r)
{
	const char *unc = getenv("OSRUN_SHARE");
	if (!unc || strncmp(unc, "//10.0.2.4/", 11) != 0 || strlen(unc) > 64)
		return guest_fail(-EINVAL, "OSRUN_SHARE: not osrun's share");
	int k = mkdir_parents(r->dir, 0700);
	if (k < 0)
		return guest_fail(k, "%s: %s", r->dir, strerror(-k));
	k = mount_cifs(unc, r->dir, 0, SHARE_OPTS);
	return k < 0 ? k : volumes_mount(r);
}

/* osrun starts this while the agent sets the guest clock, so the mount
 * (and smbd's start on the host) overlaps that. exec mounts by itself
 * when this did not run. */
int verb_mount(int argc, char **argv)
{
	struct guest_run r;
	if (guest_run_init(&r) < 0)
		return guest_fail(1, "OSRUN_RUN_ID: missing or not a run id");
	return share_mount(&r) < 0 ? 1 : 0;
}
