#define _GNU_SOURCE
#include "iso.h"

#include <fcntl.h>
#include <string.h>

#include "../runner/lib/proc.h"

/* The primary volume descriptor is sector 16 (2 KiB sectors). */
#define PVD_OFFSET (16 * 2048)

static int read_pvd(const char *path, unsigned char pvd[2048])
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t k = pread_retry(fd, pvd, 2048, PVD_OFFSET);
	if (k < 0)
		return (int)k;
	if (k < 2048 || memcmp(pvd + 1, "CD001", 5))
		return -EMEDIUMTYPE;
	return 0;
}

int iso_check(const char *path)
{
	unsigned char pvd[2048];
	return read_pvd(path, pvd);
}

int iso_volume_id(const char *path, char **ret)
{
	unsigned char pvd[2048];
	int r = read_pvd(path, pvd);
	if (r < 0)
		return r;
	char id[33];
	memcpy(id, pvd + 40, 32);
	id[32] = 0;
	for (int i = 31; i >= 0 && id[i] == ' '; i--)
		id[i] = 0;
	*ret = strdup(id);
	return *ret ? 0 : -ENOMEM;
}

static int xorriso(char *const *argv, char **ret_msg)
{
	_cleanup_free_ char *out = NULL;
	int r = proc_run(argv, 3600 * USEC_PER_SEC, &out);
	if (r < 0)
		return r;
	if (r == 0)
		return 0;
	if (ret_msg && out) {
		/* xorriso's own complaint is the line with FAILURE or SORRY. */
		char *line = strstr(out, "FAILURE");
		if (!line)
			line = strstr(out, "SORRY");
		if (!line)
			line = out;
		line[strcspn(line, "\n")] = 0;
		*ret_msg = strdup(line);
	}
	return -EIO;
}

int iso_extract(const char *iso, const char *inner, const char *dest, char **ret_msg)
{
	char *argv[] = {"xorriso",   "-abort_on", "FAILURE",	 "-osirrox",   "on", "-indev",
			(char *)iso, "-extract",  (char *)inner, (char *)dest, NULL};
	int r = xorriso(argv, ret_msg);
	/* A missing path is a SORRY, which xorriso may still exit 0 on. */
	if (r == 0 && !file_exists(dest))
		return -ENOENT;
	if (r == -EIO && ret_msg && *ret_msg &&
	    (strstr(*ret_msg, "Cannot find") || strstr(*ret_msg, "No such file or directory")))
		return -ENOENT;
	return r;
}

int iso_make(const char *dir, const char *volid, const char *out, char **ret_msg)
{
	char *argv[] = {"xorriso",     "-as", "mkisofs",   "-quiet",	"-J", "-joliet-long", "-R", "-V",
			(char *)volid, "-o",  (char *)out, (char *)dir, NULL};
	return xorriso(argv, ret_msg);
}
