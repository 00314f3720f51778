/* The run engine: a run in two phases, so that a pool can do the first
 * ahead of time. Warming up restores the snapshot into a fresh clone, sets
 * its clock and readies its share; the command phase runs one command in
 * it, follows its output and, with -n, saves the result. `osrun COMMAND`
 * does both in one go, or hands its plan to a pool's warm clone (pool.h). */
#pragma once
#include "plan.h"

/* How long a restored guest's helper may take to make the run's share
 * ready (Windows' helper waits as long for it to answer). */
#define RUN_SHARE_TIMEOUT (60 * USEC_PER_SEC)

int run_warm_up(const struct run_plan *p, struct warm *w, struct error *e);
/* For a clone warmed up for another plan: refuses what this one cannot
 * take from it (another memory size). */
int run_plan_check(const struct run_plan *p, const struct warm *w, struct error *e);

/* Runs p's command in w (stdin from fd 0, output to fds 1 and 2). A command
 * past its timeout fails with -ETIME. */
int run_command(const struct run_plan *p, struct warm *w, struct run_result *ret, struct error *e);

/* The environment guest helpers get for p in w (copies use it). */
char **run_guest_env(const struct run_plan *p, const struct warm *w);
/* Saves w, begun with a new snapshot (w->nsn), as that snapshot: its
 * parent is w's, made_by p->command. QEMU is stopped after. */
int run_save_snapshot(const struct run_plan *p, struct warm *w, struct error *e);
