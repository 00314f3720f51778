#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cachevol.h"

int cache_volume_open(struct store *s, const char *name, struct cache_volume **ret)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	_cleanup_(cache_volume_freep) struct cache_volume *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->lock_fd = -1;
	if (!(c->name = strdup(name)) || !(c->dir = store_path(s, STORE_CACHES, name, NULL)))
		return -ENOMEM;
	/* The area is made by store_open, the volume on first use. */
	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((r = store_lock_dir(c->dir, LOCK_EX | LOCK_NB, &c->lock_fd)) < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

struct cache_volume *cache_volume_free(struct cache_volume *c)
{
	if (!c)
		return NULL;
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c->name);
	free(c->dir);
	free(c);
	return NULL;
}

int cache_volume_remove(struct store *s, const char *name)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	_cleanup_free_ char *area = store_path(s, STORE_CACHES, NULL, NULL),
			    *dir = store_path(s, STORE_CACHES, name, NULL), *gone = NULL;
	if (!area || !dir)
		return -ENOMEM;
	_cleanup_close_ int fd = -1;
	r = store_lock_dir(dir, LOCK_EX | LOCK_NB, &fd);
	if (r < 0)
		return r;
	/* Out of the namespace first, under a name the sweep finishes if this
	 * process dies halfway through a large tree. */
	if (asprintf(&gone, "%s/" STORE_NEW_PREFIX "removed-%s.%d", area, name, (int)getpid()) < 0)
		return -ENOMEM;
	if (rename(dir, gone) < 0)
		return -errno;
	return rm_rf(gone);
}
