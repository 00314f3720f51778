/* Guest-agent client (qemu-ga, on Linux and on Windows). The agent has no
 * greeting and no ids: a session starts with qga_sync, which resynchronises
 * the stream, and a call that times out leaves the channel needing another
 * sync. Never prints; a refused command returns -EREMOTEIO with *err set. */
#pragma once
#include "chan.h"

struct qga;

/* Takes ownership of fd. */
int qga_new(int fd, struct qga **ret);
struct qga *qga_free(struct qga *g);
static inline void qga_freep(struct qga **g) { qga_free(*g); }

/* From now on the timeouts below count only the time process pid (the
 * agent's QEMU) could run: runclock.h. Without it they are wall time. */
void qga_bind_process(struct qga *g, pid_t pid);
/* Now, on the clock the timeouts count on: for deadlines of waits that
 * ask the agent. */
usec_t qga_clock(struct qga *g);
/* Calls end with -ETIMEDOUT at deadline (now_usec()) too, whatever
 * QEMU's state; USEC_INFINITY lifts it. */
void qga_set_wall_limit(struct qga *g, usec_t deadline);

/* Sends 0xFF and guest-sync-delimited with a fresh id, discards everything
 * up to the agent's 0xFF and the reply carrying that id. Retries every
 * `retry` until timeout: an agent that is still starting misses the first
 * tries. -ETIMEDOUT when the agent never answers. */
int qga_sync(struct qga *g, usec_t retry, usec_t timeout);

/* args is consumed (may be NULL); *ret gets "return" (a new reference). */
int qga_call(struct qga *g, const char *cmd, json_object *args, usec_t timeout, json_object **ret,
	     struct remote_error *err);

struct qga_exec {
	const char *path;
	char *const *argv; /* arguments after path; may be NULL */
	char *const *env;  /* replaces the guest process's environment; may be NULL */
	bool capture;	   /* collect stdout/stderr in the agent */
	const void *input; /* given to stdin by the agent; may be NULL */
	size_t input_len;
};

int qga_exec(struct qga *g, const struct qga_exec *x, usec_t timeout, int64_t *ret_pid, struct remote_error *err);

struct qga_exec_status {
	bool exited;
	int exitcode; /* -1 when killed by a signal */
	int signal;   /* 0 when not killed */
	char *out, *err;
	size_t out_len, err_len;
};
void qga_exec_status_release(struct qga_exec_status *s);

int qga_exec_status(struct qga *g, int64_t pid, usec_t timeout, struct qga_exec_status *ret, struct remote_error *err);
/* The "return" of a guest-exec-status reply (the guest's word, so -EBADMSG
 * for any member of the wrong type or size). */
int qga_exec_status_parse(json_object *o, struct qga_exec_status *ret);

/* Sets the guest clock to ns since the epoch. The time is always explicit:
 * Windows' agent refuses the call without one. */
int qga_set_time(struct qga *g, int64_t ns, usec_t timeout, struct remote_error *err);

/* base64 as the agent speaks it (RFC 4648, with padding). */
char *base64_encode(const void *data, size_t n);
int base64_decode(const char *s, char **ret, size_t *ret_len);
