/* GitLab Runner's custom executor (docs/ci.md): each job is one session.
 * `config` says where builds and caches are and which shell GitLab writes
 * the scripts for; `prepare` starts the session; `run` copies a stage's
 * script in and runs it; `cleanup` stops the session.
 *
 * The job author controls every CUSTOM_ENV_* variable, so nothing that
 * decides what a job may touch comes from them unchecked: the job's and
 * project's ids come from the runner's JOB_RESPONSE_FILE where it gives
 * one (else the CUSTOM_ENV_ ids, digits only); the cache volume is always
 * the project's own (ci-PROJECT[-SUFFIX]-SLOT); the snapshot must match
 * the admin's OSRUN_ALLOWED_SNAPSHOTS. */
#pragma once
#include "serve.h"

/* What the runner's environment and the job say, checked. */
struct gitlab_job {
	char id[21], project[21], runner[21], slot[4];
	char *snapshot; /* image:, else OSRUN_SNAPSHOT, else the admin's default */
	char *volume;	/* the project's cache volume */
	char session[SNAPSHOT_NAME_MAX + 1];
	bool windows;				  /* the snapshot's guest */
	const char *shell;			  /* what GitLab writes the scripts for */
	usec_t timeout;				  /* the job's, 0 when not given */
	unsigned services;			  /* services: asked for (refused) */
	const char *builds, *cache_dir, *scripts; /* guest paths */
};
void gitlab_job_release(struct gitlab_job *j);

/* Reads the job from the environment (and JOB_RESPONSE_FILE) and the
 * snapshot it may use from store cache: -EINVAL or -EPERM with e saying
 * what the job asked for that it may not have. With identity_only, only
 * the ids and the session's name (cleanup must work whatever else). */
int gitlab_job_load(struct gitlab_job *j, const char *cache, bool identity_only, struct error *e);

/* The config stage's JSON, built by json-c. */
char *gitlab_config_json(const struct gitlab_job *j, const char *version);

/* Starts the job's session (a leftover of an earlier try at the same job
 * is stopped first: prepare is retried on a system failure). */
int gitlab_prepare(const struct gitlab_job *j, const char *cache, enum network network, const struct serve_report *rep,
		   struct error *e);

/* Runs a stage's script in the session: 0 with *ret_build the script's
 * own exit code (0 when it passed); <0 when osrun itself failed. */
int gitlab_run(const struct gitlab_job *j, const char *cache, const char *script, const char *stage, int *ret_build,
	       struct error *e);

int gitlab_cleanup(const struct gitlab_job *j, const char *cache, struct error *e);
