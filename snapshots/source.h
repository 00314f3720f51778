/* Where a snapshot comes from when a run needs it and the store lacks it:
 * `osrun snapshot source NAME REF` keeps REF in ROOT/sources/NAME, so that
 * `-s NAME` on a fresh host pulls it (runner/registry-use.h). The
 * reference is checked by the registry code that uses it; here only its
 * size and characters. */
#pragma once
#include "store.h"

/* A reference's longest form (skopeo's docker transport). */
#define SOURCE_REF_MAX 512

/* Sets snapshot name's source to ref, or removes it when ref is NULL
 * (-ENOENT when there was none). */
int snapshot_source_set(struct store *s, const char *name, const char *ref);
/* name's source: -ENOENT when it has none, -EBADMSG when the file does
 * not hold one reference. */
int snapshot_source_get(struct store *s, const char *name, char **ret_ref);
/* The names with a source, sorted. */
int snapshot_source_list(struct store *s, char ***ret);
