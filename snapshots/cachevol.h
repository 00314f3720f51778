#pragma once
#include "store.h"

/* A cache volume: a host directory in the store that runs mount
 * (--cache-volume NAME:PATH) and that outlives them, for downloads a job
 * would otherwise fetch again. It is made on first use. A run holds an
 * exclusive flock on it while its VM runs: one writer at a time. */
struct cache_volume {
	char *name;
	char *dir;
	int lock_fd;
};

/* Opens (making it if missing) and locks a cache volume: -EBUSY while
 * another run has it, -EINVAL for a bad name. */
int cache_volume_open(struct store *s, const char *name, struct cache_volume **ret);
struct cache_volume *cache_volume_free(struct cache_volume *c);
static inline void cache_volume_freep(struct cache_volume **c) { cache_volume_free(*c); }
/* Removes one: -ENOENT, -EBUSY while a run has it. */
int cache_volume_remove(struct store *s, const char *name);
