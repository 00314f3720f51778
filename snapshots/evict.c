/* The budget's choice of snapshots to remove (evict.h). */
#define _GNU_SOURCE
#include <string.h>

#include "evict.h"

/* Whether a snapshot not (yet) chosen is built on c[i]. */
static bool has_child_kept(const struct evict_candidate *c, size_t n, const bool *chosen, size_t i)
{
	for (size_t k = 0; k < n; k++)
		if (k != i && !chosen[k] && c[k].parent && !strcmp(c[k].parent, c[i].name))
			return true;
	return false;
}

static bool older(const struct evict_candidate *a, const struct evict_candidate *b)
{
	return a->last_used < b->last_used || (a->last_used == b->last_used && strcmp(a->name, b->name) < 0);
}

int evict_select(const struct evict_candidate *c, size_t n, uint64_t need, size_t **ret, size_t *ret_n,
		 uint64_t *ret_freed)
{
	_cleanup_free_ bool *chosen = calloc(n + 1, sizeof *chosen);
	_cleanup_free_ size_t *out = calloc(n + 1, sizeof *out);
	if (!chosen || !out)
		return -ENOMEM;
	size_t m = 0;
	uint64_t freed = 0;
	/* One at a time, the oldest that may go now: a parent becomes one
	 * only once every snapshot on it is chosen. */
	while (freed < need) {
		size_t best = n;
		for (size_t i = 0; i < n; i++) {
			if (chosen[i] || !c[i].pulled || c[i].pinned || c[i].in_use || has_child_kept(c, n, chosen, i))
				continue;
			if (best == n || older(&c[i], &c[best]))
				best = i;
		}
		if (best == n)
			break;
		chosen[best] = true;
		out[m++] = best;
		freed += c[best].bytes;
	}
	*ret = TAKE_PTR(out);
	*ret_n = m;
	*ret_freed = freed;
	return 0;
}
