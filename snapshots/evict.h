/* Which snapshots a store size budget removes (docs/registry.md): the
 * least recently used pulled ones that nobody pins or uses, and that no
 * snapshot which stays is built on. Pure: the caller measures the store
 * and removes what this picks. */
#pragma once
#include "../runner/lib/util.h"

struct evict_candidate {
	const char *name;
	const char *parent; /* NULL: made on an image */
	uint64_t bytes;	    /* what removing it frees (its own blocks) */
	int64_t last_used;  /* nanoseconds since the epoch */
	bool pinned;
	bool pulled; /* made here (not pulled): never removed */
	bool in_use; /* a run, pool or session has it */
};

/* Indexes into c of the snapshots to remove, in the order to remove them
 * (a child before its parent), until their bytes add up to need or
 * nothing more may go; *ret_freed: their bytes. */
int evict_select(const struct evict_candidate *c, size_t n, uint64_t need, size_t **ret, size_t *ret_n,
		 uint64_t *ret_freed);
