/* The small verbs: each returns the helper's exit status. */
#pragma once
#include "guest.h"

/* Waits until the run's share answers (60 s at most), while osrun sets
 * the guest's clock: 0, or 1 saying so on stderr. */
int verb_mount(const struct places *pl);
/* Ends the recorded command and every process in its job: 0 (also when
 * there is none), 1 for a damaged record. */
int verb_kill(const struct places *pl);
/* Drops the guest's SMB connections before a snapshot is saved, SYSTEM's
 * and the logged-on user's (--user): a restored guest must never hold a
 * session from the run that saved it. Best effort: always 0. */
int verb_detach(const struct places *pl);
