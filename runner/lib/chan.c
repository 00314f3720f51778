#define _GNU_SOURCE
#include "chan.h"
#include "fdpass.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>

/* A reply larger than this is broken: qemu-ga keeps at most 16 MiB of a
 * command's stdout and as much of its stderr (GUEST_EXEC_MAX_OUTPUT in
 * qga/commands.c), base64 makes that 43 MiB. */
#define CHAN_MAX_MESSAGE (64u << 20)

struct chan {
	int fd;
	char *buf;
	size_t len, cap;
	size_t parsed; /* bytes of the message in progress already in the tokener */
	json_tokener *tok;
	struct runclock *clock; /* deadlines are on it, when set */
};

int chan_new(int fd, struct chan **ret)
{
	_cleanup_close_ int owned = fd;
	_cleanup_(chan_freep) struct chan *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	if (!(c->tok = json_tokener_new()))
		return -ENOMEM;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	c->fd = TAKE_FD(owned);
	*ret = TAKE_PTR(c);
	return 0;
}

struct chan *chan_free(struct chan *c)
{
	if (!c)
		return NULL;
	if (c->fd >= 0)
		close(c->fd);
	json_tokener_free(c->tok);
	free(c->buf);
	free(c);
	return NULL;
}

int chan_fd(const struct chan *c) { return c->fd; }

void chan_set_clock(struct chan *c, struct runclock *clock) { c->clock = clock; }

static int chan_wait(struct chan *c, short events, usec_t deadline)
{
	return c->clock ? runclock_fd_wait(c->clock, c->fd, events, deadline) : fd_wait(c->fd, events, deadline);
}

static int send_all(struct chan *c, const char *p, size_t n, int pass_fd, usec_t deadline)
{
	while (n > 0) {
		ssize_t k = fdpass_sendmsg(c->fd, p, n, pass_fd >= 0 ? &pass_fd : NULL, pass_fd >= 0 ? 1 : 0);
		if (k == -EAGAIN) {
			int r = chan_wait(c, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (k < 0)
			return k == -EPIPE ? -ECONNRESET : (int)k;
		pass_fd = -1; /* the descriptor went with the first byte */
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int chan_send_raw(struct chan *c, const void *data, size_t n, usec_t deadline)
{
	return send_all(c, data, n, -1, deadline);
}

int chan_send(struct chan *c, json_object *msg, int pass_fd, usec_t deadline)
{
	size_t n;
	const char *s = json_object_to_json_string_length(msg, JSON_C_TO_STRING_PLAIN, &n);
	if (!s)
		return -ENOMEM;
	_cleanup_free_ char *line = malloc(n + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, s, n);
	line[n] = '\n';
	return send_all(c, line, n + 1, pass_fd, deadline);
}

/* Reads what is available; 0 on data, -EAGAIN on none, -ECONNRESET at EOF. */
static int fill(struct chan *c)
{
	if (c->cap - c->len < 4096) {
		size_t ncap = c->cap ? c->cap * 2 : 8192;
		if (ncap > CHAN_MAX_MESSAGE)
			return -EMSGSIZE;
		char *nb = realloc(c->buf, ncap);
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = ncap;
	}
	ssize_t k = read_retry(c->fd, c->buf + c->len, c->cap - c->len);
	if (k < 0)
		return (int)k;
	if (k == 0)
		return -ECONNRESET;
	c->len += (size_t)k;
	return 0;
}

static void consume(struct chan *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Parses from the buffer: 0 with *ret set, -EAGAIN when more is needed. */
static int parse(struct chan *c, json_object **ret)
{
	if (c->len == 0)
		return -EAGAIN;
	json_object *o = json_tokener_parse_ex(c->tok, c->buf, (int)c->len);
	enum json_tokener_error e = json_tokener_get_error(c->tok);
	if (e == json_tokener_continue) {
		/* The tokener keeps what it has seen; only unseen bytes stay. It
		 * keeps it without limit, so the limit is counted here. */
		c->parsed += c->len;
		consume(c, c->len);
		if (c->parsed > CHAN_MAX_MESSAGE) {
			json_tokener_reset(c->tok);
			c->parsed = 0;
			return -EMSGSIZE;
		}
		return -EAGAIN;
	}
	c->parsed = 0;
	if (e != json_tokener_success || !o) {
		json_tokener_reset(c->tok);
		c->len = 0;
		json_object_put(o);
		return -EBADMSG;
	}
	consume(c, json_tokener_get_parse_end(c->tok));
	json_tokener_reset(c->tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

int chan_try_recv(struct chan *c, json_object **ret)
{
	for (;;) {
		int r = parse(c, ret);
		if (r != -EAGAIN)
			return r;
		r = fill(c);
		if (r < 0)
			return r;
	}
}

int chan_recv(struct chan *c, usec_t deadline, json_object **ret)
{
	for (;;) {
		int r = chan_try_recv(c, ret);
		if (r != -EAGAIN)
			return r;
		r = chan_wait(c, POLLIN, deadline);
		if (r < 0)
			return r;
	}
}

int chan_skip_until(struct chan *c, unsigned char b, usec_t deadline)
{
	json_tokener_reset(c->tok);
	c->parsed = 0;
	for (;;) {
		char *p = c->len ? memchr(c->buf, b, c->len) : NULL;
		if (p) {
			consume(c, (size_t)(p - c->buf) + 1);
			return 0;
		}
		c->len = 0;
		int r = fill(c);
		if (r == -EAGAIN) {
			r = chan_wait(c, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0)
			return r;
	}
}

int remote_error_set(struct remote_error *err, json_object *error)
{
	if (!err)
		return -EREMOTEIO;
	json_object *cl = NULL, *desc = NULL;
	json_object_object_get_ex(error, "class", &cl);
	json_object_object_get_ex(error, "desc", &desc);
	snprintf(err->class, sizeof err->class, "%s", cl ? json_object_get_string(cl) : "GenericError");
	snprintf(err->desc, sizeof err->desc, "%s", desc ? json_object_get_string(desc) : "(no description)");
	return -EREMOTEIO;
}

int reply_take(json_object *reply, json_object **ret, struct remote_error *err)
{
	json_object *val;
	int r = 0;
	if (json_object_object_get_ex(reply, "error", &val))
		r = remote_error_set(err, val);
	else if (!json_object_object_get_ex(reply, "return", &val))
		r = -EPROTO;
	else if (ret)
		*ret = json_object_get(val);
	json_object_put(reply);
	return r;
}
