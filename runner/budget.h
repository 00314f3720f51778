/* A store size budget (docs/registry.md): when the store uses more disk
 * than its budget, the blob cache goes first (a copy of what the
 * snapshots hold), then the least recently used pulled snapshots that
 * nobody pins or uses (snapshots/evict.h). Applied by `snapshot gc` and
 * after every pull. */
#pragma once
#include "../snapshots/artifact.h"
#include "lib/error.h"

#define BUDGET_ENV "OSRUN_MAX_STORE_SIZE"

struct budget_result {
	uint64_t max;		/* the budget, bytes */
	uint64_t before, after; /* what the store used */
	struct oci_gc cache;	/* what went from the blob cache */
	char **evicted;		/* the snapshots removed, in order */
	bool over;		/* still over: nothing more may go */
};
void budget_result_release(struct budget_result *r);

/* "50G", "512M", "1T", "1024": K, M, G and T are powers of 1024 (KiB,
 * MiB... and KB, MB... mean the same). -EINVAL, -ERANGE. */
int budget_parse(const char *text, uint64_t *ret);
/* The budget asked for: $OSRUN_MAX_STORE_SIZE, else the store's
 * max-store-size file; *ret 0 when neither says one. */
int budget_configured(struct store *s, uint64_t *ret, struct error *e);
/* Brings the store (its cache l locked) under max; keep, with its
 * parents, is never removed (the snapshot a pull just made). */
int budget_apply(struct store *s, struct oci_layout *l, uint64_t max, const char *keep, struct budget_result *ret,
		 struct error *e);
/* After a pull of name: the configured budget applied, if any. What it
 * cannot do is warned about, never a failure of the pull. */
void budget_after_pull(struct store *s, struct oci_layout *l, const char *name, char ***ret_evicted);
