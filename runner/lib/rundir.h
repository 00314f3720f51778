/* The per-run private directory (0700): QEMU's TMPDIR (so its smbd
 * configuration lands here), the SMB share, the run's disk overlay and
 * console log. A lock held for the run's life lets a later osrun tell a
 * leftover of a killed run from a live one. */
#pragma once
#include "util.h"

struct rundir {
	char *path;
	int lock_fd;
};

/* Under $TMPDIR (or /tmp): osrun-run.XXXXXX */
int rundir_new(struct rundir **ret);
/* Removes the directory and frees; NULL is fine. */
struct rundir *rundir_free(struct rundir *d);
static inline void rundir_freep(struct rundir **d) { rundir_free(*d); }
/* Removes run directories whose owner is gone. Returns how many. */
int rundir_sweep(void);
