/* What the engines share: a job's store, run directory and QEMU, and the
 * steps every engine takes with them (start QEMU, wait for the agent, run
 * a host tool, save a snapshot). Failures come back as negative errno with
 * e naming what failed; when QEMU died, its own last words are the message.
 * Progress goes to log.h; errors never do. */
#pragma once
#include "lib/error.h"
#include "lib/proc.h"
#include "lib/rundir.h"
#include "lib/share.h"
#include "lib/vm.h"
#include "../snapshots/cachevol.h"
#include "../snapshots/snapshot.h"

struct job {
	struct store *store;
	struct rundir *rundir;
	struct vm *vm;
	pid_t novnc; /* websockify serving noVNC, when asked for */
	char *vnc;   /* QEMU's VNC socket, when asked for */
	usec_t started;
};

void job_release(struct job *j);

/* Opens the store at cache (NULL: the default); with sweep, removes
 * leftovers of killed runs first. */
int job_open_store(struct job *j, const char *cache, bool sweep, struct error *e);
/* The store at cache (NULL: the default one), for an engine that needs
 * no job: the one way each of them opens it and says what failed. */
int job_store_open(const char *cache, struct store **ret, struct error *e);
int job_make_rundir(struct job *j, struct error *e);
/* The accelerator for this host, warning once when KVM is missing. */
int job_accel(enum accel *ret, struct error *e);
/* The same choice, made anew and silent: *ret_why says why not KVM. */
int job_accel_detect(enum accel *ret, char **ret_why, struct error *e);
/* Why that is TCG (accel_detect's words); NULL under KVM, when OSRUN_ACCEL
 * chose, or before job_accel() ran. */
const char *job_accel_why(void);

/* Runs a host tool (qemu-img, xorriso) to completion; its first line of
 * output is the message when it fails. */
int job_run_tool(char *const *argv, const char *what, struct error *e);
/* qemu-img create -f qcow2 -b backing overlay */
int job_make_overlay(const char *backing, const char *overlay, struct error *e);

int job_start_vm(struct job *j, const struct vm_plan *plan, struct error *e);
/* Says where the debug listeners the plan asked for are; with novnc
 * ("ADDR:PORT"), serves noVNC there for QEMU's VNC socket. */
int job_start_debug(struct job *j, const struct vm_plan *plan, const char *novnc, struct error *e);
/* Waits for the agent. */
int job_wait_agent(struct job *j, usec_t timeout, const char *what, struct error *e);
/* Fills e for a failed vm, qmp or qga call r: "QEMU exited" with QEMU's
 * own last words when that is what happened; returns r (or -ECANCELED). */
int job_fail(struct job *j, int r, const struct remote_error *err, const char *what, struct error *e);

/* Guest RAM in a file (share=on) takes disk as the guest writes it, and a
 * full filesystem then kills QEMU with SIGBUS: before that starts, the
 * filesystem of path must have need bytes free, else -ENOSPC naming both. */
int job_check_room(const char *path, uint64_t need, struct error *e);

/* Polls the agent until guest process pid has exited. */
int job_wait_guest_process(struct job *j, int64_t pid, usec_t timeout, struct qga_exec_status *ret, struct error *e);
/* A guest helper's captured stderr as "guest: " lines, each ending in a
 * newline, for a message to the user; NULL when it said nothing. */
char *job_helper_lines(const struct qga_exec_status *st);
/* Runs a guest helper to its end (its output captured): 0 when it exited
 * 0, else -EIO with what failed and the helper's stderr. */
int job_run_guest_helper(struct job *j, const struct qga_exec *x, usec_t timeout, const char *what, struct error *e);
/* The second half of that, for a helper started already (pid). */
int job_wait_guest_helper(struct job *j, int64_t pid, usec_t timeout, const char *what, struct error *e);

/* Drops the run's share in the guest, saves state into n, quits QEMU and
 * commits n with meta; with delta_from (n's parent), n keeps only the
 * pages of its RAM that differ from that one's. */
int job_save_snapshot(struct job *j, const struct profile *p, struct snapshot_new *n, struct snapshot_meta *meta,
		      const struct snapshot *delta_from, struct error *e);

/* "2026-11-23T06:02:42Z" */
char *iso_time_now(void);
double seconds_since(usec_t t);
