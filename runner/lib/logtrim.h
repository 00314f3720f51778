/* A log another process writes (QEMU's file of the guest's serial console)
 * kept from filling the disk for as long as that process runs: the guest
 * decides how much it writes, whether a command runs or not. A thread
 * looks at the file once a second; past max bytes on disk, all but its
 * last keep bytes are punched out (the file keeps its size: its writer's
 * offset stays valid, and the head reads as zeros). */
#pragma once
#include "util.h"

/* QEMU's serial log: what a guest's console may hold on disk. */
#define LOGTRIM_MAX (64u << 20)
#define LOGTRIM_KEEP (8u << 20)

struct logtrim;

/* Watches path, which need not exist yet (its writer makes it). */
int logtrim_new(const char *path, uint64_t max, uint64_t keep, struct logtrim **ret);
/* Trims once now: 1 when it punched, 0 when there was no need. */
int logtrim_check(const char *path, uint64_t max, uint64_t keep);
/* Stops the thread. */
struct logtrim *logtrim_free(struct logtrim *t);
static inline void logtrim_freep(struct logtrim **t) { logtrim_free(*t); }
