/* Serving a client's request in a warm clone: what a pool's member and a
 * session's keeper share. Both wait for a request while watching their
 * QEMU and the signals, and run a client's command with the client's
 * streams as a plain run would. The command layer hands in how it reports,
 * since engines never report an error themselves. */
#pragma once
#include "run.h"

/* The command layer's reporting: each prints on stderr what it is given
 * (the client's stderr while its request is served) and returns the exit
 * status it implies. */
struct serve_report {
	int (*error)(const struct error *e);
	int (*result)(const struct run_result *res);
};

enum serve_event {
	SERVE_READY = 1,     /* fd is readable */
	SERVE_CANCELLED = 0, /* SIGINT or SIGTERM came (left in the signal fd) */
};

/* Waits until fd is readable, a signal comes or deadline (USEC_INFINITY:
 * none) passes, watching w's QEMU meanwhile: a clone whose QEMU died must
 * not take a request. -ETIME past the deadline; another negative errno,
 * with e saying so, when QEMU ended or the wait failed. */
int serve_wait(struct warm *w, int fd, usec_t deadline, struct error *e);

/* Runs p's command in w for the client on conn, whose fds 0-2 are ours
 * (pool_request_accept) and whose signals are passed on; with reset, the
 * share is emptied of the previous command's files first. Returns the exit
 * status reported; *ret_failed when osrun itself failed (the clone's state
 * is unknown then). The caller sends the status once QEMU is in the state
 * the client may see. */
int serve_command(int conn, struct warm *w, const struct run_plan *p, bool reset, const struct serve_report *rep,
		  bool *ret_failed);
