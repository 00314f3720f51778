#define _GNU_SOURCE
#include "qmp.h"

#include <string.h>

struct qmp {
	struct chan *chan;
	uint64_t next_id;
	char version[32];
	json_object *events[QMP_EVENTS_MAX];
	size_t n_events;
	unsigned dropped;
};

int qmp_fd(const struct qmp *q) { return chan_fd(q->chan); }
const char *qmp_version(const struct qmp *q) { return q->version; }
unsigned qmp_events_dropped(const struct qmp *q) { return q->dropped; }

static void event_push(struct qmp *q, json_object *ev)
{
	if (q->n_events == QMP_EVENTS_MAX) {
		json_object_put(q->events[0]);
		memmove(q->events, q->events + 1, (QMP_EVENTS_MAX - 1) * sizeof(json_object *));
		q->n_events--;
		q->dropped++;
	}
	q->events[q->n_events++] = ev;
}

static json_object *event_take(struct qmp *q, const char *name)
{
	for (size_t i = 0; i < q->n_events; i++) {
		json_object *n;
		if (!json_object_object_get_ex(q->events[i], "event", &n) || strcmp(json_object_get_string(n), name))
			continue;
		json_object *ev = q->events[i];
		memmove(q->events + i, q->events + i + 1, (q->n_events - i - 1) * sizeof(json_object *));
		q->n_events--;
		return ev;
	}
	return NULL;
}

/* Files an incoming message: events go to the queue. Returns 1 when msg is a
 * reply (not consumed), 0 when it was taken. */
static int dispatch(struct qmp *q, json_object *msg)
{
	if (json_object_object_get_ex(msg, "event", NULL)) {
		event_push(q, msg);
		return 0;
	}
	return 1;
}

static int call_until(struct qmp *q, const char *cmd, json_object *args, int pass_fd, usec_t deadline,
		      json_object **ret, struct remote_error *err);

int qmp_poll(struct qmp *q)
{
	for (;;) {
		json_object *m = NULL;
		int r = chan_try_recv(q->chan, &m);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
		/* A reply nobody waits for belongs to a call that timed out. */
		if (dispatch(q, m))
			json_object_put(m);
	}
}

int qmp_new(int fd, usec_t timeout, struct qmp **ret)
{
	_cleanup_close_ int owned = fd;
	_cleanup_(qmp_freep) struct qmp *q = calloc(1, sizeof *q);
	if (!q)
		return -ENOMEM;
	int r = chan_new(TAKE_FD(owned), &q->chan);
	if (r < 0)
		return r;
	usec_t deadline = deadline_after(timeout);
	json_object *greeting = NULL;
	r = chan_recv(q->chan, deadline, &greeting);
	if (r < 0)
		return r;
	json_object *qmp, *v;
	if (!json_object_object_get_ex(greeting, "QMP", &qmp)) {
		json_object_put(greeting);
		return -EPROTO;
	}
	if (json_object_object_get_ex(qmp, "version", &v) && json_object_object_get_ex(v, "qemu", &v)) {
		json_object *ma, *mi, *mc;
		if (json_object_object_get_ex(v, "major", &ma) && json_object_object_get_ex(v, "minor", &mi) &&
		    json_object_object_get_ex(v, "micro", &mc))
			snprintf(q->version, sizeof q->version, "%d.%d.%d", json_object_get_int(ma),
				 json_object_get_int(mi), json_object_get_int(mc));
	}
	json_object_put(greeting);
	struct remote_error err;
	r = call_until(q, "qmp_capabilities", NULL, -1, deadline, NULL, &err);
	if (r < 0)
		return r == -EREMOTEIO ? -EPROTO : r;
	*ret = TAKE_PTR(q);
	return 0;
}

struct qmp *qmp_free(struct qmp *q)
{
	if (!q)
		return NULL;
	for (size_t i = 0; i < q->n_events; i++)
		json_object_put(q->events[i]);
	chan_free(q->chan);
	free(q);
	return NULL;
}

static int call_until(struct qmp *q, const char *cmd, json_object *args, int pass_fd, usec_t deadline,
		      json_object **ret, struct remote_error *err)
{
	uint64_t id = ++q->next_id;
	json_object *msg = json_object_new_object();
	if (!msg) {
		json_object_put(args);
		return -ENOMEM;
	}
	json_object_object_add(msg, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(msg, "arguments", args);
	json_object_object_add(msg, "id", json_object_new_uint64(id));
	int r = chan_send(q->chan, msg, pass_fd, deadline);
	json_object_put(msg);
	if (r < 0)
		return r;

	for (;;) {
		json_object *m = NULL;
		r = chan_recv(q->chan, deadline, &m);
		if (r < 0)
			return r;
		if (!dispatch(q, m))
			continue;
		json_object *mid;
		if (!json_object_object_get_ex(m, "id", &mid) || json_object_get_uint64(mid) != id) {
			json_object_put(m); /* stale reply of an earlier call */
			continue;
		}
		return reply_take(m, ret, err);
	}
}

int qmp_call_fd(struct qmp *q, const char *cmd, json_object *args, int pass_fd, usec_t timeout, json_object **ret,
		struct remote_error *err)
{
	return call_until(q, cmd, args, pass_fd, deadline_after(timeout), ret, err);
}

int qmp_wait_event(struct qmp *q, const char *name, usec_t timeout, json_object **ret_data)
{
	usec_t deadline = deadline_after(timeout);
	for (;;) {
		json_object *ev = event_take(q, name);
		if (ev) {
			json_object *data = NULL;
			if (json_object_object_get_ex(ev, "data", &data))
				json_object_get(data);
			json_object_put(ev);
			if (ret_data)
				*ret_data = data;
			else
				json_object_put(data);
			return 0;
		}
		json_object *m = NULL;
		int r = chan_recv(q->chan, deadline, &m);
		if (r < 0)
			return r;
		if (dispatch(q, m))
			json_object_put(m);
	}
}
