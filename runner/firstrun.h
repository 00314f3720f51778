/* A first `osrun COMMAND` on a store without the default snapshot builds
 * it first. Which guest a store is for: $OSRUN_GUEST (windows or linux);
 * else Windows when the store has ROOT/isos or ROOT/windows (made by
 * `osrun image fetch` and `osrun image build`), built as `osrun image
 * build` builds it (the ISOs fetched unless in the store; the version from
 * $OSRUN_WINDOWS_VERSION, default 11, and $OSRUN_WINDOWS_LANGUAGE); else
 * the Linux test guest in $OSRUN_GUEST_DIR (or the built-in default),
 * built as `osrun provision` builds it. Both under ROOT/provision.lock. */
#pragma once
#include "lib/error.h"

/* The snapshot a run with no -s restores, the only one built implicitly. */
#define FIRSTRUN_SNAPSHOT "provisioned"

/* Whether $OSRUN_NO_PROVISION asks runs never to build (set, not "0"). */
bool firstrun_disabled_by_env(void);

/* 0 when snapshot is not FIRSTRUN_SNAPSHOT, is in the store at cache
 * (NULL: the default), or has been built now (waiting for another osrun
 * building it); else e says what to run. no_build (--no-provision): 0 for
 * the Linux guest (the run says what is missing), an error naming the
 * build for Windows. */
int firstrun_ensure(const char *cache, const char *snapshot, bool no_build, struct error *e);
