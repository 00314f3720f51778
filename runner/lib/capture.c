#define _GNU_SOURCE
#include "capture.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

struct stream {
	int rd, wr;
	char *buf;
	size_t n, cap;
	uint64_t total;
	bool ended;
};

struct capture {
	struct stream s[2];
	size_t max;
	int stop[2]; /* a byte on stop[1]: read what is there, then end */
	pthread_t thread;
	bool running;
	usec_t first;
};

/* One read of a stream: -EAGAIN when nothing is there now. */
static int stream_read(struct capture *c, struct stream *s)
{
	char chunk[65536];
	ssize_t k = read(s->rd, chunk, sizeof chunk);
	if (k < 0)
		return errno == EINTR ? 0 : -errno;
	if (k == 0) {
		s->ended = true;
		return 0;
	}
	if (s == &c->s[0] && !c->first)
		c->first = now_usec();
	s->total += (uint64_t)k;
	size_t keep = s->n + (size_t)k <= c->max ? (size_t)k : c->max - s->n;
	if (s->n + keep + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->n + keep + 1)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b)
			return -ENOMEM;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->n, chunk, keep);
	s->n += keep;
	return 0;
}

static void *capture_thread(void *arg)
{
	struct capture *c = arg;
	bool stopping = false;
	while (!c->s[0].ended || !c->s[1].ended) {
		struct pollfd pf[3] = {{.fd = c->s[0].ended ? -1 : c->s[0].rd, .events = POLLIN},
				       {.fd = c->s[1].ended ? -1 : c->s[1].rd, .events = POLLIN},
				       {.fd = stopping ? -1 : c->stop[0], .events = POLLIN}};
		/* Stopping, the pipes are read until they are empty. */
		if (poll(pf, 3, stopping ? 0 : -1) < 0 && errno != EINTR)
			break;
		if (pf[2].revents)
			stopping = true;
		bool got = false;
		for (int i = 0; i < 2; i++)
			if (pf[i].revents) {
				if (stream_read(c, &c->s[i]) < 0)
					c->s[i].ended = true;
				got = true;
			}
		if (stopping && !got && !pf[2].revents)
			break;
	}
	return NULL;
}

int capture_start(size_t max, struct capture **ret)
{
	struct capture *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->max = max;
	c->s[0].rd = c->s[0].wr = c->s[1].rd = c->s[1].wr = c->stop[0] = c->stop[1] = -1;
	int p[2], r = 0;
	for (int i = 0; i < 2 && r == 0; i++) {
		if (pipe2(p, O_CLOEXEC) < 0)
			r = -errno;
		else {
			c->s[i].rd = p[0];
			c->s[i].wr = p[1];
			fcntl(p[0], F_SETFL, O_NONBLOCK);
		}
	}
	if (r == 0 && pipe2(c->stop, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0 && (r = -pthread_create(&c->thread, NULL, capture_thread, c)) == 0)
		c->running = true;
	if (r < 0) {
		capture_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int capture_fd(const struct capture *c, int stream) { return c->s[stream - 1].wr; }

int capture_stop(struct capture *c)
{
	if (!c->running)
		return 0;
	for (int i = 0; i < 2; i++)
		c->s[i].wr = safe_close(c->s[i].wr);
	int r = write_full(c->stop[1], "x", 1);
	pthread_join(c->thread, NULL);
	c->running = false;
	for (int i = 0; i < 2; i++)
		if (c->s[i].buf)
			c->s[i].buf[c->s[i].n] = 0;
	return r;
}

const char *capture_data(const struct capture *c, int stream, size_t *ret_n, uint64_t *ret_total)
{
	const struct stream *s = &c->s[stream - 1];
	*ret_n = s->n;
	if (ret_total)
		*ret_total = s->total;
	return s->buf ? s->buf : "";
}

usec_t capture_first(const struct capture *c) { return c->first; }

struct capture *capture_free(struct capture *c)
{
	if (!c)
		return NULL;
	capture_stop(c);
	for (int i = 0; i < 2; i++) {
		safe_close(c->s[i].rd);
		safe_close(c->s[i].wr);
		free(c->s[i].buf);
	}
	safe_close(c->stop[0]);
	safe_close(c->stop[1]);
	free(c);
	return NULL;
}
