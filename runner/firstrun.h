/* A first `osrun COMMAND` on a store without the default snapshot builds
 * it first. Which guest a store is for: Windows when it has ROOT/windows
 * (made by `osrun image build`), whose image is never built implicitly
 * (the ISOs are the user's to name); else the Linux test guest in
 * $OSRUN_GUEST_DIR (or the built-in default), built as `osrun provision`
 * builds it. */
#pragma once
#include "lib/error.h"

/* The snapshot a run with no -s restores, the only one built implicitly. */
#define FIRSTRUN_SNAPSHOT "provisioned"

/* Whether $OSRUN_NO_PROVISION asks runs never to build (set, not "0"). */
bool firstrun_disabled_by_env(void);

/* 0 when snapshot is not FIRSTRUN_SNAPSHOT, is in the store at cache
 * (NULL: the default), or has been built now (waiting for another osrun
 * building it); else e says what to run. */
int firstrun_ensure(const char *cache, const char *snapshot, struct error *e);
