/* A run in two phases, so that a pool (cmd-pool.c) can do the first ahead
 * of time: warming up restores the snapshot into a fresh clone, sets its
 * clock and readies its share; the command phase runs one command in it,
 * follows it and, with -n, saves the result. `osrun COMMAND` does both in
 * one go, or hands its command to a pool's warm clone. */
#pragma once
#include "job.h"

struct run_plan {
	struct common_opts common;
	const char *snapshot;
	const char *new_snapshot;
	char *command;
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
	/* As given, for a pool member to parse the same way. */
	int argc;
	char **argv;
};

void run_plan_release(struct run_plan *p);
/* Parses `osrun [OPTIONS] COMMAND`: an exit code to return at once, or -1
 * to go on. Reports what is wrong. */
int run_parse(int argc, char **argv, struct run_plan *p);
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

int run_warm_up(const struct run_plan *p, struct warm *w);
/* Runs p's command in w (stdin from fd 0, output to fds 1 and 2). */
int run_command(const struct run_plan *p, struct warm *w);
/* For a clone warmed up for another plan: refuses what this one cannot
 * take from it (another memory size). */
int run_plan_check(const struct run_plan *p, const struct warm *w);

/* Runs p in a pool's warm clone when a pool serves p's snapshot and has
 * one ready: the command's exit code. -EAGAIN: no pool or none ready, run
 * it here. */
int pool_run(const struct run_plan *p);
