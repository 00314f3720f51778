/* The run engine: a run in two phases, so that a pool can do the first
 * ahead of time. Warming up restores the snapshot into a fresh clone, sets
 * its clock and readies its share; the command phase runs one command in
 * it, follows its output and, with -n, saves the result. `osrun COMMAND`
 * does both in one go, or hands its plan to a pool's warm clone (pool.h). */
#pragma once
#include "job.h"

/* Everything a run needs, parsed and checked by the command layer. A pool
 * member gets the same struct from its client (pool.h encodes it). */
struct run_plan {
	const char *cache; /* the store; NULL: the default */
	int verbose;
	const char *snapshot;
	const char *new_snapshot;
	bool save_failed; /* -n saves also after a non-zero exit status */
	char *command;	  /* NULL while a pool member warms up for any command */
	char **env;
	const char *workdir;
	usec_t timeout;
	usec_t agent_timeout;
	unsigned memory_mib;
	bool pause;
	bool no_stdin;
	bool monitor;
	bool vnc;
	const char *novnc;
};

void run_plan_release(struct run_plan *p);
/* A pool's clones have private RAM and no debug listeners: plans that need
 * neither (no -n, -p, --vnc, --monitor) can run in one. */
bool run_plan_poolable(const struct run_plan *p);

/* A restored guest whose clock is set and share is ready. Released in
 * field order reversed: QEMU stops before the snapshot's lock goes and
 * before an unsaved new snapshot is removed. */
struct warm {
	struct snapshot *sn;
	struct snapshot_new *nsn;
	struct job j;
	struct share *sh;
	const struct profile *prof;
	usec_t qemu_started;
};
void warm_release(struct warm *w);

int run_warm_up(const struct run_plan *p, struct warm *w, struct error *e);
/* For a clone warmed up for another plan: refuses what this one cannot
 * take from it (another memory size). */
int run_plan_check(const struct run_plan *p, const struct warm *w, struct error *e);

/* How the guest command ended, for the command layer to tell. */
struct run_result {
	int status;	     /* its exit code, or 128 + signal */
	int signal;	     /* the signal that killed it; 0: none */
	char *helper_stderr; /* what the guest helper said before the command ran */
};
void run_result_release(struct run_result *r);

/* Runs p's command in w (stdin from fd 0, output to fds 1 and 2). A command
 * past its timeout fails with -ETIME. */
int run_command(const struct run_plan *p, struct warm *w, struct run_result *ret, struct error *e);
