/* The copy verb, for --copy-in and --copy-out: a tar in the run's share,
 * packed and unpacked by Windows' own tar.exe, as the Linux helper's copy
 * verb does with the guest's tar (guest-init/linux/osrun-guest/copy.c).
 * osrun packs and unpacks the host's side (runner/copy.c). */
#pragma once
#include "guest.h"

/* argv: "in" TAR dir|file GUEST NAME, or "out" TAR GUEST. The helper's
 * exit status: 0, tar's when it failed, 1 for this helper's own error
 * (on stderr), 2 for bad usage. */
int verb_copy(const struct places *pl, int argc, wchar_t **argv);
