/* A command's stdout and stderr kept in memory (osrun selftest judges
 * them): two pipes that a thread reads as they are written, so a writer
 * never blocks on a full pipe, noting when stdout's first byte came. Past
 * max bytes a stream is counted, not kept. */
#pragma once
#include "util.h"

struct capture;

int capture_start(size_t max, struct capture **ret);
/* The write end of stream 1 (stdout) or 2 (stderr), for the writer. */
int capture_fd(const struct capture *c, int stream);
/* Closes the write ends and ends the thread once it has read what the
 * pipes hold: a writer must be done (a descriptor another process still
 * holds is not waited for). */
int capture_stop(struct capture *c);
/* What stream 1 or 2 got (NUL-terminated), after capture_stop; *ret_total
 * (may be NULL) counts what was not kept too. */
const char *capture_data(const struct capture *c, int stream, size_t *ret_n, uint64_t *ret_total);
/* When stdout's first byte was read (now_usec()); 0: none came. */
usec_t capture_first(const struct capture *c);
struct capture *capture_free(struct capture *c);
static inline void capture_freep(struct capture **c) { capture_free(*c); }
