/* A failed build stage's console log, status lines, screen and the logs
 * its guest left on its disk, kept in the store; e's message gets "; ...
 * are in DIR" appended. Best effort: the failure stays the message when
 * keeping them fails. */
#pragma once
#include "job.h"
#include "lib/status.h"

struct stage_evidence {
	const char *stage;
	const char *console; /* QEMU's serial log */
	struct status_follow *status;
	const char *disk;	      /* the layer the failed boot wrote */
	const struct diskfile *files; /* what to copy off it (the profile's); NULL: none */
};

/* Takes the screen while QEMU runs, then stops QEMU (j->vm), so that the
 * disk is read only once nothing writes it, and its console log is whole. */
void stage_evidence(struct job *j, const struct stage_evidence *ev, struct error *e);
