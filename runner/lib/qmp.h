/* QMP client: greeting and capability negotiation, commands matched to their
 * replies by id, events queued (bounded, oldest dropped and counted) until a
 * caller asks for them by name. Never prints; a refused command comes back as
 * -EREMOTEIO with the server's error class and text in *err. */
#pragma once
#include "chan.h"

struct qmp;

#define QMP_EVENTS_MAX 128

/* Takes ownership of fd (a connected stream socket); reads the greeting and
 * sends qmp_capabilities. */
int qmp_new(int fd, usec_t timeout, struct qmp **ret);
struct qmp *qmp_free(struct qmp *q);
static inline void qmp_freep(struct qmp **q) { qmp_free(*q); }

int qmp_fd(const struct qmp *q);
/* "7.2.22" as the greeting gave it. */
const char *qmp_version(const struct qmp *q);
unsigned qmp_events_dropped(const struct qmp *q);

/* args is consumed (may be NULL). *ret gets the "return" value (a new
 * reference) when ret is not NULL. With pass_fd >= 0 the fd is sent along. */
int qmp_call_fd(struct qmp *q, const char *cmd, json_object *args, int pass_fd, usec_t timeout, json_object **ret,
		struct remote_error *err);
static inline int qmp_call(struct qmp *q, const char *cmd, json_object *args, usec_t timeout, json_object **ret,
			   struct remote_error *err)
{
	return qmp_call_fd(q, cmd, args, -1, timeout, ret, err);
}

/* Waits for an event called name; *ret_data gets its "data" (may be NULL
 * when the event has none). Earlier events of other names stay queued. */
int qmp_wait_event(struct qmp *q, const char *name, usec_t timeout, json_object **ret_data);
/* Reads what the server sent so far without waiting; -ECONNRESET at EOF. */
int qmp_poll(struct qmp *q);
