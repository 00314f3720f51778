/* The exec verb: runs the command of the request in the run's share
 * (runner/lib/request.h) and says how it ended. */
#pragma once
#include "guest.h"

/* The command's exact exit code, or -1 with f saying why it could not be
 * run (the result's "error TEXT"). */
int exec_run(const struct places *pl, DWORD *ret_code, struct failure *f);
