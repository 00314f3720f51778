/* A failed build stage's console log, status lines and screen, kept in the
 * store; e's message gets "; ... are in DIR" appended. Best effort: the
 * failure stays the message when keeping them fails. */
#pragma once
#include "job.h"
#include "lib/status.h"

void stage_evidence(struct job *j, const char *stage, const char *console, struct status_follow *status,
		    struct error *e);
