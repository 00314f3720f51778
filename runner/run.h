/* The run engine: a run in two phases, so that a pool can do the first
 * ahead of time. Warming up restores the snapshot into a fresh clone, sets
 * its clock and readies its share; the command phase runs one command in
 * it, follows its output and, with -n, saves the result. `osrun COMMAND`
 * does both in one go, or hands its plan to a pool's warm clone (pool.h). */
#pragma once
#include "job.h"
#include "volume.h"

/* What a request to a warm clone asks: a pool's is always a command; a
 * session's may also be copies, or its end. */
enum run_op { RUN_OP_COMMAND, RUN_OP_COPY, RUN_OP_STOP };

/* Everything a run needs, parsed and checked by the command layer. A pool
 * member gets the same struct from its client (pool.h encodes it). */
struct run_plan {
	const char *cache; /* the store; NULL: the default */
	int verbose;
	const char *snapshot;
	const char *new_snapshot;
	bool save_failed; /* -n saves also after a non-zero exit status */
	bool as_user;	  /* Windows: as the logged-on user, not SYSTEM (--user) */
	char *command;	  /* NULL while a pool member warms up for any command */
	char **env;
	const char *workdir;
	usec_t timeout;
	usec_t agent_timeout;
	unsigned memory_mib;
	unsigned share_limit_mib; /* 0: SHARE_LIMIT_DEFAULT */
	bool pause;
	bool no_stdin;
	bool monitor;
	bool vnc;
	const char *novnc;
	enum network network;			    /* --network */
	struct run_volume volumes[RUN_VOLUMES_MAX]; /* --volume, --cache-volume */
	size_t n_volumes;
	struct run_copy copy_in[RUN_COPIES_MAX], copy_out[RUN_COPIES_MAX];
	size_t n_copy_in, n_copy_out;
	enum run_op op;
	/* A build file's step (layers.c): the ENV, WORKDIR and layer its
	 * snapshot records, and a file that gets a copy of the command's
	 * output (its log, kept with the layer). */
	const struct snapshot_meta *step;
	int step_log_fd; /* > 2 when there is one */
};

void run_plan_release(struct run_plan *p);
/* A pool's clones have private RAM, no debug listeners, no network and only
 * the run's share: plans that need none of these (no -n, -p, --vnc,
 * --monitor, a network, volumes or copies) can run in one. */
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
	struct cache_volume *caches[RUN_VOLUMES_MAX]; /* locked while the VM runs */
};
void warm_release(struct warm *w);

int run_warm_up(const struct run_plan *p, struct warm *w, struct error *e);
/* For a clone warmed up for another plan: refuses what this one cannot
 * take from it (another memory size). */
int run_plan_check(const struct run_plan *p, const struct warm *w, struct error *e);

/* How the guest command ended, for the command layer to tell. */
struct run_result {
	int status;	     /* osrun's exit status for it (lib/exitstatus.h) */
	char why[160];	     /* a line for stderr when the status alone misleads */
	char *helper_stderr; /* what the guest helper said before the command ran */
};
void run_result_release(struct run_result *r);

/* Runs p's command in w (stdin from fd 0, output to fds 1 and 2). A command
 * past its timeout fails with -ETIME. */
int run_command(const struct run_plan *p, struct warm *w, struct run_result *ret, struct error *e);

/* Engine-internal (follow.c): follows the command pid started in w until it
 * ends (*ret filled), its deadline, a signal or QEMU's death, streaming
 * in_fd (if >= 0) to its stdin. */
int run_follow(const struct run_plan *p, struct warm *w, int64_t pid, int in_fd, usec_t deadline,
	       struct run_result *ret, struct error *e);
/* The command's end once the agent says its helper ended (st): what the
 * helper wrote in the share (lib/request.h) as osrun's exit status, or
 * why there is none (the helper's own failure, a missing or malformed
 * result: -EPROTO, -EBADMSG). The agent's status is only quoted. */
int run_result_read(bool windows, struct share *sh, const struct qga_exec_status *st, struct run_result *ret,
		    struct error *e);
/* A failure passing the command's streams (-ETIME, -ECANCELED, -EFBIG...)
 * as the user should read it. */
int run_stream_error(const struct run_plan *p, int r, struct error *e);

/* The environment guest helpers get for p in w (copies use it). */
char **run_guest_env(const struct run_plan *p, const struct warm *w);
/* Saves w, begun with a new snapshot (w->nsn), as that snapshot: its
 * parent is w's, made_by p->command. QEMU is stopped after. */
int run_save_snapshot(const struct run_plan *p, struct warm *w, struct error *e);
