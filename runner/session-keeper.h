/* The session keeper (session-keeper.c): one VM that serves many requests
 * from session.h's clients until it is stopped, idle or too old. */
#pragma once
#include "serve.h"

struct session_keeper_plan {
	const char *name; /* NULL: one is made up */
	usec_t idle_timeout, max_lifetime;
	const struct serve_report *report;
};

/* Forks a keeper that restores p->snapshot as a run would (with p's
 * volumes and network) and returns once the guest is ready, with the
 * session's name in *ret_name; or why it could not be (-EEXIST: a session
 * of that name runs). QEMU is the keeper's child and dies with it. */
int session_keeper_start(struct run_plan *p, const struct session_keeper_plan *kp, char **ret_name, struct error *e);
