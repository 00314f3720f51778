/* The pool keeper (pool-keeper.c): clones of one snapshot kept warm for
 * the clients of pool.h. */
#pragma once
#include "serve.h"

/* Keeps `clones` clones of plan->snapshot ready and hands each client to
 * one, until SIGINT or SIGTERM (0) or a failure (<0, e says which: the
 * snapshot is missing, a pool for it already runs, clones keep failing
 * to start). Clones running a client's command finish it. */
int pool_keeper_run(const struct run_plan *plan, unsigned clones, const struct serve_report *rep, struct error *e);
