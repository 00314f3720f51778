/* How the self-test's checks run (the table in selftest-checks.c names
 * one of these for each): in fresh restores made by selftest-exec.h,
 * judged by selftest-judge.h, each filling its row. A guest that does not
 * do what a check expects makes a FAIL row; < 0 only stops the self-test
 * (a signal, out of memory), e saying why. */
#pragma once
#include "selftest-exec.h"

/* The check's steps in one fresh restore, in order, each judged alone. */
int st_run_steps(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* 100 commands in one restore, each with its own exit code and output. */
int st_run_hundred(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* steps[0] with -n into a new snapshot, then steps[1] restored from it. */
int st_run_layer(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* steps[0] with a rw and a ro --volume, a --copy-in and a --copy-out. */
int st_run_volumes(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* steps[0] prints the guest's clock: right after a restore, and 60 s on. */
int st_run_clock(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* steps[0] does nothing, steps[1] waits 2 s in the guest. */
int st_run_timer(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* steps[0] in ST_RESTORES restores back to back. */
#define ST_RESTORES 20
int st_run_restores(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
/* Judges the share's readiness over every restore the checks before made. */
int st_run_share(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);

/* How long the clock check waits between its readings. */
#define ST_CLOCK_WAIT (60 * USEC_PER_SEC)
/* How far the guest's clock may be from the host's. */
#define ST_CLOCK_TOLERANCE 1.0
/* How far the guest's monotonic clock's rate may be from the host's, on
 * top of the commands' own windows: a clock 18 times slow (as others'
 * QueryPerformanceCounter after a restore) is far outside. */
#define ST_RATE_TOLERANCE 0.02
