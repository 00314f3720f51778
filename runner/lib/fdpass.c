#define _GNU_SOURCE
#include "fdpass.h"

#include <string.h>
#include <sys/socket.h>

ssize_t fdpass_sendmsg(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	if (nfds > FDPASS_MAX_FDS)
		return -EINVAL;
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		memset(&control, 0, sizeof control);
		m.msg_control = control.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t k = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (k >= 0)
			return k;
		if (errno != EINTR)
			return -errno;
	}
}

int fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	if (len == 0)
		return -EINVAL;
	ssize_t k = fdpass_sendmsg(sock, buf, len, fds, nfds);
	if (k < 0)
		return (int)k;
	return (size_t)k == len ? 0 : -EMSGSIZE;
}

static void close_passed(struct msghdr *m, int *fds, size_t *n)
{
	*n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int got[FDPASS_MAX_FDS];
		if (k > FDPASS_MAX_FDS)
			k = FDPASS_MAX_FDS;
		memcpy(got, CMSG_DATA(c), k * sizeof(int));
		for (size_t i = 0; i < k; i++) {
			if (fds && *n < FDPASS_MAX_FDS)
				fds[(*n)++] = got[i];
			else
				close(got[i]);
		}
	}
}

int fdpass_recv(int sock, size_t max, char **ret_buf, size_t *ret_len, int *ret_fds, size_t *ret_nfds)
{
	_cleanup_free_ char *buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	union {
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = max};
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
	ssize_t k;
	do
		k = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	int fds[FDPASS_MAX_FDS];
	size_t nfds;
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_passed(&m, NULL, &nfds);
		return -EMSGSIZE;
	}
	close_passed(&m, fds, &nfds);
	buf[k] = 0;
	*ret_buf = TAKE_PTR(buf);
	*ret_len = (size_t)k;
	if (ret_fds)
		memcpy(ret_fds, fds, nfds * sizeof(int));
	else
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
	if (ret_nfds)
		*ret_nfds = ret_fds ? nfds : 0;
	return 0;
}
