/* What `run` and `provision` share at the command layer: the run
 * directory, starting QEMU, waiting for the agent, saving a snapshot, and
 * turning failures into one message naming what failed. Reports through
 * log.h; returns an osrun exit code (EXIT_OSRUN) or 0. */
#pragma once
#include "lib/proc.h"
#include "lib/rundir.h"
#include "lib/share.h"
#include "lib/vm.h"
#include "../snapshots/store.h"

#define EXIT_TIMEOUT 124
#define EXIT_OSRUN 125

#define OSRUN_VERSION "0.1.0"

/* Options every subcommand takes. */
struct common_opts {
	const char *cache;
	int verbose;
};

struct job {
	struct store *store;
	struct rundir *rundir;
	struct vm *vm;
	pid_t novnc; /* websockify serving noVNC, when asked for */
	usec_t started;
};

void job_release(struct job *j);

/* Opens the store (reporting); with sweep, removes leftovers of killed runs
 * first. */
int job_open_store(struct job *j, const struct common_opts *o, bool sweep);
int job_make_rundir(struct job *j);
/* The accelerator for this host, warning once when KVM is missing. */
int job_accel(enum accel *ret);

/* Runs a host tool (qemu-img, xorriso) to completion; reports its first
 * line of output when it fails, naming what. */
int job_run_tool(char *const *argv, const char *what);
/* qemu-img create -f qcow2 -b backing overlay */
int job_make_overlay(const char *backing, const char *overlay);

int job_start_vm(struct job *j, const struct vm_plan *plan);
/* Says where the debug listeners the plan asked for are; with novnc
 * ("ADDR:PORT"), serves noVNC there for QEMU's loopback VNC. */
int job_start_debug(struct job *j, const struct vm_plan *plan, const char *novnc);
/* Waits for the agent; names the console log tail on failure. */
int job_wait_agent(struct job *j, usec_t timeout, const char *what);
/* Reports the signal that cancelled the job; returns 128+signal. */
int job_interrupted(void);
/* Reports a failure of a vm, qmp or qga call: says "QEMU
 * exited" with QEMU's own last words when that is what happened. */
int job_fail(struct job *j, int r, const struct remote_error *err, const char *what);

/* Polls the agent until guest process pid has exited; reports a timeout. */
int job_wait_guest_process(struct job *j, int64_t pid, usec_t timeout, struct qga_exec_status *ret);

/* Drops the run's share in the guest, saves state into n, quits QEMU and
 * commits n with meta. */
int job_save_snapshot(struct job *j, const struct profile *p, struct snapshot_new *n, struct snapshot_meta *meta);

/* "2026-11-23T06:02:42Z" */
char *iso_time_now(void);
double seconds_since(usec_t t);
int parse_seconds(const char *s, usec_t *ret);
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);
