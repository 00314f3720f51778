#pragma once
#include "snapshot.h"

/* Guest RAM (memory.c): a snapshot's "memory", or a build layer's
 * "memory.delta" over its parent's RAM. */
/* Writes sn's RAM to the new file to (0600): a reflink or sparse copy of a
 * full file, else the chain composed. */
int snapshot_memory_copy(struct store *s, const struct snapshot *sn, const char *to);
/* Makes sn's full "memory" from its chain if it has none yet (kept: a run
 * maps it). */
int snapshot_memory_ready(struct store *s, const struct snapshot *sn);
/* Replaces n's "memory" (whole, QEMU done with it) by "memory.delta": the
 * pages that differ from parent's RAM. *ret_bytes: their size. 1: the
 * parent's chain is long (31 deltas), so n keeps its full file, and the
 * next layers' chains start there. On failure the full file stays. */
int snapshot_memory_to_delta(struct store *s, const struct snapshot *parent, struct snapshot_new *n,
			     uint64_t *ret_bytes);
