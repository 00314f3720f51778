#define _GNU_SOURCE
#include "qga.h"

#include <string.h>
#include <sys/random.h>

struct qga {
	struct chan *chan;
	bool synced;
	struct runclock clock;
};

int qga_new(int fd, struct qga **ret)
{
	_cleanup_close_ int owned = fd;
	_cleanup_(qga_freep) struct qga *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	int r = chan_new(TAKE_FD(owned), &g->chan);
	if (r < 0)
		return r;
	runclock_init(&g->clock, 0);
	chan_set_clock(g->chan, &g->clock);
	*ret = TAKE_PTR(g);
	return 0;
}

struct qga *qga_free(struct qga *g)
{
	if (!g)
		return NULL;
	chan_free(g->chan);
	free(g);
	return NULL;
}

void qga_bind_process(struct qga *g, pid_t pid) { runclock_init(&g->clock, pid); }

usec_t qga_clock(struct qga *g) { return runclock_now(&g->clock); }

void qga_set_wall_limit(struct qga *g, usec_t deadline) { g->clock.wall_limit = deadline; }

static int sync_once(struct qga *g, int64_t id, usec_t deadline)
{
	static const unsigned char ff = 0xff;
	int r = chan_send_raw(g->chan, &ff, 1, deadline);
	if (r < 0)
		return r;
	json_object *args = json_object_new_object();
	json_object_object_add(args, "id", json_object_new_int64(id));
	json_object *msg = json_object_new_object();
	json_object_object_add(msg, "execute", json_object_new_string("guest-sync-delimited"));
	json_object_object_add(msg, "arguments", args);
	r = chan_send(g->chan, msg, -1, deadline);
	json_object_put(msg);
	if (r < 0)
		return r;
	for (;;) {
		/* The agent answers the 0xFF itself with a parse error; only what
		 * follows its own 0xFF counts. */
		r = chan_skip_until(g->chan, 0xff, deadline);
		if (r < 0)
			return r;
		json_object *m = NULL;
		r = chan_recv(g->chan, deadline, &m);
		if (r == -EBADMSG)
			continue;
		if (r < 0)
			return r;
		json_object *v;
		bool match = json_object_object_get_ex(m, "return", &v) && json_object_get_int64(v) == id;
		json_object_put(m);
		if (match)
			return 0;
	}
}

int qga_sync(struct qga *g, usec_t retry, usec_t timeout)
{
	usec_t deadline = runclock_deadline(&g->clock, timeout);
	for (;;) {
		int64_t id;
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = (int64_t)now_usec();
		id &= INT32_MAX; /* the Windows agent keeps ids in an int */
		usec_t d = runclock_deadline(&g->clock, retry);
		if (deadline != USEC_INFINITY && d > deadline)
			d = deadline;
		int r = sync_once(g, id, d);
		if (r == 0) {
			g->synced = true;
			return 0;
		}
		if (r != -ETIMEDOUT)
			return r;
		if ((deadline != USEC_INFINITY && runclock_now(&g->clock) >= deadline) ||
		    now_usec() >= g->clock.wall_limit)
			return -ETIMEDOUT;
	}
}

int qga_call(struct qga *g, const char *cmd, json_object *args, usec_t timeout, json_object **ret,
	     struct remote_error *err)
{
	usec_t deadline = runclock_deadline(&g->clock, timeout);
	if (!g->synced) {
		json_object_put(args);
		return -ENOTCONN;
	}
	json_object *msg = json_object_new_object();
	json_object_object_add(msg, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(msg, "arguments", args);
	int r = chan_send(g->chan, msg, -1, deadline);
	json_object_put(msg);
	if (r < 0) {
		g->synced = false;
		return r;
	}
	json_object *m = NULL;
	r = chan_recv(g->chan, deadline, &m);
	if (r < 0) {
		/* A late reply would be taken for the next call's: resync first. */
		g->synced = false;
		return r;
	}
	r = reply_take(m, ret, err);
	if (r == -EPROTO)
		g->synced = false;
	return r;
}

static json_object *strv_to_json(char *const *v)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

int qga_exec(struct qga *g, const struct qga_exec *x, usec_t timeout, int64_t *ret_pid, struct remote_error *err)
{
	json_object *args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string(x->path));
	if (x->argv)
		json_object_object_add(args, "arg", strv_to_json(x->argv));
	if (x->env)
		json_object_object_add(args, "env", strv_to_json(x->env));
	if (x->capture)
		json_object_object_add(args, "capture-output", json_object_new_boolean(true));
	if (x->input) {
		_cleanup_free_ char *b = base64_encode(x->input, x->input_len);
		if (!b) {
			json_object_put(args);
			return -ENOMEM;
		}
		json_object_object_add(args, "input-data", json_object_new_string(b));
	}
	json_object *ret = NULL;
	int r = qga_call(g, "guest-exec", args, timeout, &ret, err);
	if (r < 0)
		return r;
	json_object *pid;
	if (!json_object_object_get_ex(ret, "pid", &pid)) {
		json_object_put(ret);
		return -EPROTO;
	}
	*ret_pid = json_object_get_int64(pid);
	json_object_put(ret);
	return 0;
}

void qga_exec_status_release(struct qga_exec_status *s)
{
	free(s->out);
	free(s->err);
	s->out = s->err = NULL;
}

/* The guest is untrusted: a member of the wrong type (null, a number) is
 * a broken reply, never a crash. */
static int get_data(json_object *o, const char *key, char **ret, size_t *ret_len)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EBADMSG;
	return base64_decode(json_object_get_string(v), ret, ret_len);
}

/* An int member that fits an int, when present. */
static int get_int(json_object *o, const char *key, int *ret)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -EBADMSG;
	int64_t n = json_object_get_int64(v);
	if (n < INT32_MIN || n > INT32_MAX)
		return -EBADMSG;
	*ret = (int)n;
	return 0;
}

int qga_exec_status_parse(json_object *o, struct qga_exec_status *ret)
{
	struct qga_exec_status s = {.exitcode = -1};
	json_object *v;
	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "exited", &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return -EBADMSG;
	s.exited = json_object_get_boolean(v);
	int r = get_int(o, "exitcode", &s.exitcode);
	if (r == 0)
		r = get_int(o, "signal", &s.signal);
	if (r == 0)
		r = get_data(o, "out-data", &s.out, &s.out_len);
	if (r == 0)
		r = get_data(o, "err-data", &s.err, &s.err_len);
	if (r < 0) {
		qga_exec_status_release(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int qga_exec_status(struct qga *g, int64_t pid, usec_t timeout, struct qga_exec_status *ret, struct remote_error *err)
{
	json_object *args = json_object_new_object();
	json_object_object_add(args, "pid", json_object_new_int64(pid));
	json_object *o = NULL;
	int r = qga_call(g, "guest-exec-status", args, timeout, &o, err);
	if (r < 0)
		return r;
	r = qga_exec_status_parse(o, ret);
	json_object_put(o);
	return r;
}

int qga_set_time(struct qga *g, int64_t ns, usec_t timeout, struct remote_error *err)
{
	json_object *args = json_object_new_object();
	json_object_object_add(args, "time", json_object_new_int64(ns));
	return qga_call(g, "guest-set-time", args, timeout, NULL, err);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t n)
{
	const unsigned char *p = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64[(v >> 18) & 63];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = 0;
	return out;
}

int base64_decode(const char *s, char **ret, size_t *ret_len)
{
	size_t n = strlen(s);
	_cleanup_free_ char *out = malloc(n / 4 * 3 + 4);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=')
			break;
		if (c == '\n' || c == '\r')
			continue;
		const char *p = memchr(b64, c, 64);
		if (!p || !c)
			return -EBADMSG;
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = 0;
	*ret_len = o;
	*ret = TAKE_PTR(out);
	return 0;
}
