/* The pool's wire protocol and its client. A pool (cmd-pool.c) listens on
 * the store's pool socket for its snapshot, a UNIX seqpacket socket in a
 * 0700 directory; one send is one message.
 *
 *   client -> member  the request: the parsed run plan as a versioned JSON
 *                     object, with the client's fds 0-2 attached; later
 *                     'S' + signal number to pass Ctrl-C or SIGTERM on.
 *                     A session also takes "op": "copy" (copy_in and
 *                     copy_out, no command) and "stop" (new_snapshot).
 *   keeper -> client  'B': busy, no clone ready (run it yourself)
 *   member -> keeper  'R': ready
 *   keeper -> member  'J' with the client's connection attached
 *   member -> client  'A': taken; then 'X' + exit code (an int) once QEMU
 *                     has stopped
 *
 * The client parses its command line itself, so a member parses nothing
 * and never touches getopt's global state. */
#pragma once
#include <pthread.h>

#include "run.h"

enum {
	POOL_MSG_BUSY = 'B',
	POOL_MSG_READY = 'R',
	POOL_MSG_JOB = 'J',
	POOL_MSG_TAKEN = 'A',
	POOL_MSG_EXIT = 'X',
	POOL_MSG_SIGNAL = 'S',
};
#define POOL_REQUEST_MAX (1u << 20)
#define POOL_PROTOCOL_VERSION 1

/* A decoded request: plan's strings point into root, but for command and
 * env, which plan owns as usual. */
struct pool_request {
	struct run_plan plan;
	json_object *root;
};
void pool_request_release(struct pool_request *r);

int pool_request_encode(const struct run_plan *p, char **ret, size_t *ret_len);
/* -EBADMSG for anything but a well-formed request of this version. */
int pool_request_decode(const char *buf, size_t len, struct pool_request *ret);

/* A listening socket at path; a stale socket file (its pool died) is
 * replaced, a live pool's is -EADDRINUSE. With ret_lock, liveness is the
 * flock of PATH.lock, which *ret_lock holds for the caller's life (a child
 * it forks without exec must close it); without, a live owner is one that
 * accepts a connection. */
int pool_listen(const char *path, int *ret_fd, int *ret_lock);
/* Whether a keeper holds the lock of the pool socket at path (one that
 * pool_listen made with ret_lock): asked without connecting, which would
 * spend a warm clone. */
bool pool_alive(const char *path);
void pool_send_exit(int conn, int code);
/* Whether a pool for snapshot name runs in the store at root (its
 * keeper holds the socket's lock). */
bool pool_running(const char *root, const char *name);

/* Runs p in a pool's warm clone when a pool serves p's snapshot and has
 * one ready: 0 with *ret_status the exit code the member sent. -EAGAIN: no
 * pool, or none ready: run it here. */
int pool_run(const struct run_plan *p, int *ret_status, struct error *e);
/* The same through the socket at path (a pool's or a session's). */
int pool_run_socket(const char *path, const struct run_plan *p, int *ret_status, struct error *e);

/* Turns a client's messages into this process's signals while it runs the
 * client's request, so the run's own signal handling (teardown, exit
 * 128+N) serves the client: 'S' is the client's Ctrl-C or SIGTERM; the
 * client going away is a SIGTERM. */
struct pool_bridge {
	int conn;
	int stop; /* eventfd: the run is over, stop listening */
	pthread_t thread;
	bool running;
};
void pool_bridge_start(struct pool_bridge *b, int conn);
void pool_bridge_stop(struct pool_bridge *b);

/* A client's request on conn (sent as it connected, within 10 s), with its
 * fds 0-2 put in place of ours: 0, else nothing is to be told to anyone. */
int pool_request_accept(int conn, struct pool_request *ret);
