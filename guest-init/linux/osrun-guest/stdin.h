/* The command's stdin: the share's "stdin" file copied into a pipe by a
 * thread, whole, or followed while osrun appends to it (OSRUN_STDIN=stream)
 * until "stdin.end" appears. */
#pragma once
#include <pthread.h>

#include "guest.h"

struct stdin_feed {
	char path[160];
	char end_path[160];
	bool stream;
	int wr;	   /* the pipe's write end; the thread closes it */
	int pidfd; /* the command: the follower ends with it */
	pthread_t thread;
};

/* Starts the thread; it owns f (which must outlive it) from then on. */
int stdin_feed_start(struct stdin_feed *f);
