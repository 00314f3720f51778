/* A stage's status file, which the guest writes: appended in pieces the
 * input decides, read by the stage engine as it grows. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/lib/status.h"
#include "../../runner/lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static void remove_path(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!*path) {
		snprintf(path, sizeof path, "/tmp/osrun-fuzz-status.%d", (int)getpid());
		atexit(remove_path);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	struct status_follow s;
	if (status_open(path, &s) < 0) {
		close(fd);
		return 0;
	}
	/* The first byte of each piece is its length. */
	for (size_t i = 0; i < size;) {
		size_t n = data[i++] % 64;
		if (n > size - i)
			n = size - i;
		if (write_full(fd, data + i, n) < 0)
			break;
		i += n;
		status_poll(&s);
		size_t len = strlen(s.last);
		if (len > STATUS_LINE_MAX || s.len > STATUS_LINE_MAX)
			abort();
		for (size_t k = 0; k < len; k++)
			if ((unsigned char)s.last[k] < 0x20 || s.last[k] == 0x7f || s.last[k] == '\n')
				abort();
	}
	status_close(&s);
	close(fd);
	return 0;
}
