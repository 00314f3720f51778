#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "../../runner/lib/fdpass.h"
#include "tap.h"

static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int main(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int p[2];
	if (pipe(p) < 0)
		abort();

	int fds[2] = {p[0], p[1]};
	is_int(fdpass_send(sv[0], "a\0bc", 4, fds, 2), 0, "message with two descriptors sent");
	char *buf = NULL;
	size_t n = 0, nfds = 0;
	int got[FDPASS_MAX_FDS] = {-1, -1};
	is_int(fdpass_recv(sv[1], 64, &buf, &n, got, &nfds), 0, "received");
	ok(n == 4 && !memcmp(buf, "a\0bc", 4), "bytes kept, NULs included");
	is_int(nfds, 2, "two descriptors");
	ok(nfds == 2 && same_file(got[0], p[0]) && same_file(got[1], p[1]), "they are the ones sent, in order");
	ok(nfds == 2 && got[0] != p[0] && got[1] != p[1], "as new descriptors");
	for (size_t i = 0; i < nfds; i++)
		close(got[i]);
	free(buf);

	is_int(fdpass_send(sv[0], "long message", 12, NULL, 0), 0, "a longer message");
	buf = NULL;
	is_int(fdpass_recv(sv[1], 4, &buf, &n, NULL, NULL), -EMSGSIZE, "too long for the buffer: -EMSGSIZE");
	ok(buf == NULL, "nothing handed out on failure");

	is_int(fdpass_send(sv[0], "x", 1, fds, 1), 0, "descriptor the receiver does not want");
	is_int(fdpass_recv(sv[1], 4, &buf, &n, NULL, NULL), 0, "received without taking descriptors");
	free(buf);
	is_int(fdpass_send(sv[0], "", 0, NULL, 0), -EINVAL, "an empty message is refused (it would read as EOF)");

	close(sv[0]);
	buf = NULL;
	is_int(fdpass_recv(sv[1], 4, &buf, &n, NULL, NULL), 0, "peer closed");
	is_int(n, 0, "closing reads as 0 bytes");
	free(buf);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	return tap_done();
}
