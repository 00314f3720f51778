/* What a guest agent or QEMU can send: bytes on the channel, framed into
 * JSON objects, each taken as a reply and, when it has a "return", read as
 * a guest-exec-status. */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../runner/lib/chan.h"
#include "../../runner/lib/qga.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	/* Fits the socket's buffer: written whole, then EOF. */
	if (write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	struct chan *c = NULL;
	if (chan_new(sv[0], &c) < 0)
		return 0;
	for (int n = 0; n < 1000; n++) {
		json_object *m = NULL, *ret = NULL;
		int r = chan_try_recv(c, &m);
		if (r == -EBADMSG || r == -EMSGSIZE)
			continue;
		if (r < 0)
			break;
		struct remote_error err;
		if (reply_take(m, &ret, &err) == 0) {
			struct qga_exec_status st;
			if (qga_exec_status_parse(ret, &st) == 0)
				qga_exec_status_release(&st);
			json_object_put(ret);
		}
	}
	chan_free(c);
	return 0;
}
