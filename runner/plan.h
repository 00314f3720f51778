/* The run engine's types, below both of its halves: run.c (warm up a
 * clone, run one command in it) and follow.c (follow that command to its
 * end). A plan is what the command layer parsed and checked; a warm clone
 * is a restored guest ready for a command; a result is how the command
 * ended, for the command layer to tell. */
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
	char *snapshot_pulled; /* owns the name snapshot points at after -s REF */
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
	/* A session's command: after the client's Ctrl-C or --timeout, stop
	 * the command in the guest and keep the clone (never sent by a
	 * client: the keeper sets it). */
	bool keep_on_interrupt;
	/* A build file's step (layers.c): the ENV, WORKDIR and layer its
	 * snapshot records, and a file that gets a copy of the command's
	 * output (its log, kept with the layer). */
	const struct snapshot_meta *step;
	int step_log_fd; /* > 2 when there is one */
	/* The command's stdin, stdout and stderr; NULL: fds 0, 1 and 2. The
	 * self-test passes pipes of its own (selftest-exec.c). */
	const int *stdio;
};

/* The host fd that is the command's fd n (0 stdin, 1 stdout, 2 stderr). */
static inline int run_plan_fd(const struct run_plan *p, int n) { return p->stdio ? p->stdio[n] : n; }

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
	bool command_stopped; /* the last command was interrupted and stopped: the clone goes on */
	usec_t share_ready;   /* when the share answered (now_usec); 0: no helper said */
};
void warm_release(struct warm *w);

/* How the guest command ended, for the command layer to tell. */
struct run_result {
	int status;	     /* osrun's exit status for it (lib/exitstatus.h) */
	char why[160];	     /* a line for stderr when the status alone misleads */
	char *helper_stderr; /* what the guest helper said before the command ran */
};
void run_result_release(struct run_result *r);
