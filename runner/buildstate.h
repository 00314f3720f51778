/* What a build file's steps so far have set up for the next one: the
 * variables for $NAME, the ENV layers keep, ARG values, WORKDIR, SHELL,
 * and the cache key of the chain so far. Each build_state_* takes one
 * instruction into it; messages name the file and line. */
#pragma once
#include "lib/buildfile.h"
#include "lib/digest.h"
#include "run.h"

struct layers_plan;

/* What the steps so far have set up for the next one. */
struct build_state {
	const struct layers_plan *p;	      /* layers.c's own: opaque here */
	char **build_args;		      /* from p: --build-arg K=V */
	const char *context;		      /* from p: COPY sources are relative to it */
	bool no_cache;			      /* from p */
	const struct registry_opts *registry; /* from p */
	const struct buildfile *f;
	struct job j;	  /* the store */
	char *file;	  /* the build file's absolute path, for the layers' meta */
	char **vars;	  /* for $NAME: ARG and ENV values */
	char **env;	  /* ENV: kept in the layers */
	char **args;	  /* ARG values: RUN sees them, layers do not keep them */
	char **used_args; /* the --build-arg names an ARG took */
	char *workdir;	  /* WORKDIR */
	char **shell;	  /* SHELL; NULL: the guest's own (sh, cmd) */
	bool windows;	  /* the FROM snapshot's profile */
	char key[DIGEST_HEX_LEN + 1];
	struct snapshot *layer; /* the last one, locked so that gc leaves it */
	bool missed;		/* a step ran (or would): the ones after it run too */
};

void build_state_release(struct build_state *s);

int build_state_arg(struct build_state *s, const struct build_step *st, struct error *e);
int build_state_env(struct build_state *s, const struct build_step *st, struct error *e);
int build_state_workdir(struct build_state *s, const struct build_step *st, struct error *e);
/* Opens the snapshot (s->layer) and starts the key from it. */
int build_state_from(struct build_state *s, const struct build_step *st, struct error *e);
/* COPY's sources into rp's copies, and their content into d. */
int build_state_copy(struct build_state *s, const struct build_step *st, struct run_plan *rp, struct digest *d,
		     struct error *e);
/* The key of a step that makes a layer: s's key, what (the step as
 * expanded), the state it sees, and extra (ended here) when not NULL. */
int build_state_key(struct build_state *s, const char *what, struct digest *extra, char out[static DIGEST_HEX_LEN + 1]);
/* RUN's command line for the guest's shell: as written, the exec form's
 * words, or SHELL's words and the text. */
char *build_state_command(struct build_state *s, const struct build_step *st);
