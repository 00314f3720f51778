/* The self-test's driver: what a self-test keeps while it runs (the
 * snapshot under test, held open; a scratch folder on the host; what its
 * restores measured), and clones: fresh restores of a snapshot that each
 * run one check's commands with their streams captured. A clone goes
 * through the run engine (run.h) as `osrun COMMAND` does, in this
 * process; its commands follow one another as a session's do. */
#pragma once
#include "plan.h"
#include "selftest-judge.h"

#define ST_SHARE_SAMPLES 256
/* How long one command of a check may run. */
#define ST_COMMAND_TIMEOUT (180 * USEC_PER_SEC)

struct st_context {
	const char *cache; /* the store; NULL: the default */
	const char *snapshot;
	int verbose;
	enum st_os os;
	struct store *store;
	struct snapshot *sn;	/* read (a shared lock) while the self-test runs */
	struct rundir *scratch; /* host folders and files for volumes and copies */
	char *layer;		/* a snapshot a check made (-n), removed on release */
	char qemu_version[64];
	/* The share's readiness after each restore (seconds from its start),
	 * and the restores that failed, for the share check. */
	double share_ready[ST_SHARE_SAMPLES];
	size_t n_share;
	unsigned restores_failed;
	char first_failure[256];
};

int st_context_open(struct st_context *t, const char *cache, const char *snapshot, int verbose, struct error *e);
void st_context_release(struct st_context *t);
/* Removes t->layer; 0 when there is none. */
int st_context_drop_layer(struct st_context *t);

struct st_clone {
	struct run_plan plan; /* the restore's: snapshot, volumes, copies, -n */
	struct warm w;
	bool ready; /* restored, takes a command */
	bool used;  /* ran one: the next empties the share first */
	usec_t t0;  /* when its restore began */
};

/* A clone of snapshot (NULL: the one under test), not restored yet: the
 * caller may add volumes, copies or a new snapshot to c->plan. */
void st_clone_init(struct st_context *t, struct st_clone *c, const char *snapshot);
void st_clone_release(struct st_clone *c);
/* Restores c now, unless it is ready: 0, with *ret_ok false and o saying
 * why when the restore failed. */
int st_clone_restore(struct st_context *t, struct st_clone *c, struct st_outcome *o, bool *ret_ok, struct error *e);
/* Runs s in c (restored first when it is not ready); o says how it
 * ended. A run that fails leaves c to be restored anew. Returns < 0 only
 * when the self-test must stop: -ECANCELED (a signal), -ENOMEM; e says
 * so. */
int st_clone_command(struct st_context *t, struct st_clone *c, const struct st_step *s, struct st_outcome *o,
		     struct error *e);
