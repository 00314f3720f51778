/* The run's share as the guest sees it: files osrun made or will make,
 * the result this helper leaves there. */
#pragma once
#include "guest.h"

/* Waits up to ms for name to exist in the share: 0, or -1 past the time.
 * After a restore the guest's first SMB connection to osrun's smbd may
 * take a while. */
int share_wait_for(const struct places *pl, const wchar_t *name, DWORD ms);
/* Reads a whole file, at most max bytes (-1 with f filled past that); the
 * text ends with a NUL the size leaves out. */
int file_read(const wchar_t *path, size_t max, char **ret, size_t *ret_n, struct failure *f);
/* Writes text to a new file (replacing one). */
int file_write(const wchar_t *path, const char *text, struct failure *f);
/* "result" as runner/lib/request.h has it: written as result.new, then
 * renamed, so that osrun never reads half a line. */
int result_write(const struct places *pl, const char *line);
