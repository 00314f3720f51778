#define _GNU_SOURCE
#include "guest.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

static bool name_ends(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n > k && !strcmp(name + n - k, suffix);
}

static int text_read(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* A drain left to a command's background child (pump.h): stopped with
 * the share, as before the pump existed. */
static void pump_stop(const char *path)
{
	char buf[32], *end;
	if (text_read(path, buf, sizeof buf) == 0) {
		long pid = strtol(buf, &end, 10);
		if (pid > 1 && (*end == '\n' || !*end))
			kill((pid_t)pid, SIGTERM);
	}
	(void)unlink(path);
}

static void volumes_unmount(const char *path)
{
	static char buf[65536];
	if (text_read(path, buf, sizeof buf) == 0)
		for (char *line = buf, *next; *line; line = next) {
			next = strchrnul(line, '\n');
			if (*next)
				*next++ = 0;
			if (*line == '/')
				(void)umount2(line, MNT_DETACH);
		}
	(void)unlink(path);
}

/* Unmounts the share and volumes of every earlier run before the guest is
 * saved as a snapshot, so the restored guest does not hold a dead SMB
 * session. */
int verb_detach(int argc, char **argv)
{
	DIR *d = opendir(GUEST_RUN_ROOT);
	struct dirent *de;
	char path[512];
	for (int pass = 0; d && pass < 2; pass++, rewinddir(d))
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' ||
			    snprintf(path, sizeof path, "%s/%s", GUEST_RUN_ROOT, de->d_name) >= (int)sizeof path)
				continue;
			struct stat st;
			if (pass == 0 && name_ends(de->d_name, ".drain.pid"))
				pump_stop(path);
			else if (pass == 0 && name_ends(de->d_name, ".volumes"))
				volumes_unmount(path);
			else if (pass == 1 && lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
				(void)umount2(path, MNT_DETACH);
				(void)rmdir(path);
			}
		}
	if (d)
		closedir(d);
	sync();
	return 0;
}
