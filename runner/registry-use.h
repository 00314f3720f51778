/* A run's -s value that is not (yet) a snapshot in the store: pulled on
 * first use (docs/registry.md). A value with '/' is a registry reference
 * (no snapshot name has one), pulled as the name registry_local_name
 * gives it; a plain name with a source (snapshots/source.h) is pulled
 * from there. Once the snapshot is in the store a run uses it without
 * asking the registry anything: a tag is not looked up again. */
#pragma once
#include "registry.h"

/* Whether value is meant as a registry reference: it has a '/'. */
bool registry_is_ref(const char *value);
/* The snapshot name ref is pulled as when a run names it: the last part
 * of its repository path, then '+' and its tag ("latest" when it has
 * none), or '@' and the first 12 hex digits of its digest:
 * host:5000/team/msvc:2026-12 is msvc+2026-12. -EINVAL for a reference
 * skopeo would not take or a name that would not do (too long). */
int registry_local_name(const char *ref, char **ret);

/* The snapshot a run restores for value (a name or a reference), in the
 * store at cache (NULL: the default), pulled first when it is missing and
 * has a source: one pull at a time in a store (ROOT/provision.lock), so a
 * second run waits for the first's and says so. *ret_name: the name. A
 * name without a source is left to the run (and firstrun.h). */
int registry_use(const char *cache, const char *value, const struct registry_opts *o, char **ret_name, struct error *e);
