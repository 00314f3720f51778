/* osrun build's engine: a build file's steps as snapshot layers.
 *
 * Each RUN and COPY is a run from the previous step's snapshot, saved as a
 * new one (a layer) under its cache key: the parent's key, the step as
 * expanded, the ENV, ARG and WORKDIR it sees and, for COPY, the content of
 * what it copies. A step whose key has a layer is not run again; nothing
 * boots when all of them have. A step that fails saves nothing. The
 * output of each step is kept with its layer (build.log). */
#pragma once
#include "run.h"

struct registry_opts;
struct layers_plan {
	const char *cache;
	int verbose;
	const char *file;    /* the build file */
	const char *context; /* COPY sources are relative to it: the file's directory by default */
	const char *tag;     /* -t: a name for the last layer */
	char **build_args;   /* "K=V" */
	bool no_cache;
	bool dry_run;
	bool show_cached_logs; /* --progress plain: a cached step's log again */
	enum network network;
	usec_t timeout; /* per step */
	unsigned share_limit_mib;
	/* FROM REF, or FROM NAME with a source, pulled as a run's -s is
	 * (registry-use.h); NULL: never pulled. */
	const struct registry_opts *registry;
};

/* One step as the build saw it. */
struct layers_step {
	unsigned line;
	char *what;  /* "RUN make", as expanded */
	char *layer; /* the snapshot it made or found; NULL for ENV, ARG... */
	bool cached;
	bool would_run; /* --dry-run: not cached */
};

struct layers_result {
	struct layers_step *steps;
	size_t n_steps;
	int status;	 /* the failing step's exit status; 0: all went through */
	size_t failed;	 /* that step's index */
	char why[160];	 /* how it ended, when its status alone misleads */
	bool up_to_date; /* -t already named this result */
	char *helper_stderr;
};
void layers_result_release(struct layers_result *r);

/* Runs (or finds) every step. A step that exits non-zero ends the build
 * with ret->status set and returns 0: the command layer reports it. */
int layers_build(const struct layers_plan *p, struct layers_result *ret, struct error *e);
