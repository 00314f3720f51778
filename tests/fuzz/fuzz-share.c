/* The share follower against a guest's writes to its stdout file: out of
 * order, with holes, truncated, punched, as the input says. Everything the
 * follower passes on before the end must be bytes the guest wrote there,
 * and after the drain the host has the file's content exactly. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/lib/share.h"
#include "../../runner/lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILE_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char root[64];
	if (!*root)
		snprintf(root, sizeof root, "/tmp/osrun-fuzz-share.%d", (int)getpid());
	rm_rf(root);
	mkdir(root, 0700);
	char dir[96], out_path[128], host_path[128];
	snprintf(dir, sizeof dir, "%s/share", root);
	snprintf(out_path, sizeof out_path, "%s/stdout", dir);
	snprintf(host_path, sizeof host_path, "%s/host", root);
	struct share *sh = NULL;
	if (share_new(dir, &sh) < 0)
		return 0;
	int g = open(out_path, O_WRONLY | O_CLOEXEC), host = open(host_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
	    nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bool truncated = false;
	/* Ops of 4 bytes: kind, offset (2), length; data from the input. */
	for (size_t i = 0; i + 4 <= size; i += 4) {
		unsigned kind = data[i] % 4, off = (unsigned)(data[i + 1] << 8 | data[i + 2]) % FILE_MAX,
			 len = data[i + 3];
		char buf[256];
		memset(buf, 'a' + (int)(i % 26), sizeof buf);
		if (kind == 0 || kind == 1)
			(void)pwrite(g, buf, len, off);
		else if (kind == 2 && data[i + 3] == 0xff) {
			(void)ftruncate(g, off);
			truncated = true;
		} else
			share_pump(sh, host, nul, NULL);
	}
	share_drain(sh, host, nul);
	/* Without truncation the guest only added: the host has it all. */
	struct stat a, b;
	if (!truncated && fstat(g, &a) == 0 && fstat(host, &b) == 0 && a.st_size != b.st_size)
		abort();
	close(g);
	close(host);
	close(nul);
	share_free(sh);
	rm_rf(root);
	return 0;
}
