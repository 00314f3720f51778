/* A JSON message channel over a stream socket: the framing QMP and the guest
 * agent share. Objects are written one per line; reading accepts any JSON
 * object boundaries, since neither peer promises one object per read. */
#pragma once
#include <json-c/json.h>

#include "runclock.h"
#include "util.h"

/* What a peer said when it refused a command: QMP's and the agent's
 * {"error": {"class": ..., "desc": ...}}. */
struct remote_error {
	char class[64];
	char desc[512];
};

struct chan;

/* Takes ownership of fd (closed on failure too). */
int chan_new(int fd, struct chan **ret);
struct chan *chan_free(struct chan *c);
static inline void chan_freep(struct chan **c) { chan_free(*c); }
int chan_fd(const struct chan *c);
/* Deadlines given to the calls below are on clock (not owned) from now
 * on, instead of now_usec()'s. */
void chan_set_clock(struct chan *c, struct runclock *clock);

/* Sends msg (not consumed) followed by a newline. With pass_fd >= 0 the
 * descriptor travels with the message as SCM_RIGHTS. */
int chan_send(struct chan *c, json_object *msg, int pass_fd, usec_t deadline);
int chan_send_raw(struct chan *c, const void *data, size_t n, usec_t deadline);

/* Next complete JSON object. -ECONNRESET at EOF, -EBADMSG on bytes that are
 * not JSON (the buffer is then dropped), -EMSGSIZE for a message over 64 MiB
 * (what was read of it is dropped), -ETIMEDOUT, -ECANCELED. */
int chan_recv(struct chan *c, usec_t deadline, json_object **ret);
/* Like chan_recv, but returns -EAGAIN instead of waiting. */
int chan_try_recv(struct chan *c, json_object **ret);
/* Discards input up to and including the first byte equal to b. */
int chan_skip_until(struct chan *c, unsigned char b, usec_t deadline);

/* Fills err from an {"error": {...}} object; returns -EREMOTEIO. */
int remote_error_set(struct remote_error *err, json_object *error);
/* Takes a reply (consumed): 0 with *ret its "return" (a new reference, when
 * ret is not NULL), -EREMOTEIO with err filled, -EPROTO when it has neither. */
int reply_take(json_object *reply, json_object **ret, struct remote_error *err);
