/* A fake peer in a child process at the other end of a socketpair, for
 * protocol tests: the child runs `script` and exits. */
#pragma once
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../runner/lib/util.h"

struct peer {
	pid_t pid;
	int fd; /* our end */
};

static inline struct peer peer_start(void (*script)(int fd))
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		close(sp[0]);
		script(sp[1]);
		_exit(0);
	}
	close(sp[1]);
	return (struct peer){.pid = pid, .fd = sp[0]};
}

static inline int peer_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

/* Stops a peer whose verdict does not matter (one that sleeps to stay silent). */
static inline int peer_finish(struct peer *p)
{
	int st = 0;
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &st, 0);
	return peer_status(st);
}

/* The verdict of a peer that ends by itself: 0 when its script ran to the
 * end. Killing it instead could cut it short after its last reply. */
static inline int peer_verdict(struct peer *p)
{
	int st = 0;
	waitpid(p->pid, &st, 0);
	return peer_status(st);
}

/* Reads one line (up to '\n') from fd into buf. */
static inline ssize_t peer_read_line(int fd, char *buf, size_t n)
{
	size_t i = 0;
	while (i + 1 < n) {
		ssize_t k = read(fd, buf + i, 1);
		if (k <= 0)
			break;
		if (buf[i++] == '\n')
			break;
	}
	buf[i] = 0;
	return (ssize_t)i;
}

static inline void peer_say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		_exit(3);
}

/* The "id" value of a request line, as text ("7"). */
static inline void peer_id_of(const char *line, char *out, size_t n)
{
	const char *p = strstr(line, "\"id\":");
	out[0] = 0;
	if (!p)
		return;
	p += 5;
	while (*p == ' ')
		p++;
	size_t i = 0;
	while (*p && *p != ',' && *p != '}' && i + 1 < n)
		out[i++] = *p++;
	out[i] = 0;
}
