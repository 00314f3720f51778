/* Backing chains, checked against the names the store gives them. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "../runner/lib/qcow2.h"
#include "backing.h"

#define DEPTH_MAX 4096 /* a parent named in a circle ends here */

/* The backing name in entry's disk.qcow2, neither through a link. */
static int disk_backing(struct store *s, enum store_area a, const char *entry, char **ret)
{
	_cleanup_free_ char *dir = store_path(s, a, entry, NULL);
	if (!dir)
		return -ENOMEM;
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_close_ int fd = openat(dfd, "disk.qcow2", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode) ? qcow2_backing(fd, ret) : -EBADMSG;
}

static int bad(enum store_area a, const char *entry, int r, char **ret_bad)
{
	char *b;
	if (asprintf(&b, "%s/%s", a == STORE_IMAGES ? "images" : "snapshots", entry) < 0)
		return -ENOMEM;
	*ret_bad = b;
	return r;
}

int image_backing_check(struct store *s, const char *image, char **ret_bad)
{
	_cleanup_free_ char *have = NULL;
	int r = disk_backing(s, STORE_IMAGES, image, &have);
	return r < 0 || have ? bad(STORE_IMAGES, image, r < 0 ? r : -EBADMSG, ret_bad) : 0;
}

int snapshot_backing_check(struct store *s, const struct snapshot *sn, char **ret_bad)
{
	_cleanup_free_ char *name = strdup(sn->name), *parent = sn->meta.parent ? strdup(sn->meta.parent) : NULL,
			    *image = strdup(sn->meta.image);
	if (!name || !image || (sn->meta.parent && !parent))
		return -ENOMEM;
	for (unsigned depth = 0; depth < DEPTH_MAX; depth++) {
		_cleanup_free_ char *have = NULL,
				    *want = parent ? store_disk_backing(STORE_SNAPSHOTS, STORE_SNAPSHOTS, parent)
						   : store_disk_backing(STORE_SNAPSHOTS, STORE_IMAGES, image);
		if (!want)
			return -ENOMEM;
		int r = disk_backing(s, STORE_SNAPSHOTS, name, &have);
		if (r < 0 || !have || strcmp(have, want))
			return bad(STORE_SNAPSHOTS, name, r < 0 ? r : -EBADMSG, ret_bad);
		if (!parent)
			return image_backing_check(s, image, ret_bad);
		_cleanup_free_ char *dir = store_path(s, STORE_SNAPSHOTS, parent, NULL);
		struct snapshot_meta m;
		if (!dir)
			return -ENOMEM;
		if ((r = snapshot_meta_read(dir, &m)) < 0)
			return bad(STORE_SNAPSHOTS, parent, r, ret_bad);
		free(name);
		free(image);
		name = TAKE_PTR(parent);
		parent = TAKE_PTR(m.parent);
		image = TAKE_PTR(m.image);
		snapshot_meta_release(&m);
	}
	return bad(STORE_SNAPSHOTS, name, -ELOOP, ret_bad);
}
