/* A log another process keeps writing, bounded by a thread of ours without
 * the writer's help: its head is punched out, its tail kept. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "../../runner/lib/logtrim.h"
#include "tap.h"

#define MAX (1u << 20)
#define KEEP (256u << 10)

static uint64_t on_disk(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : UINT64_MAX;
}

int main(void)
{
	char tmpl[] = "/tmp/osrun-unit.XXXXXX";
	char *t = mkdtemp(tmpl);
	char *path = path_join(t, "console.log");
	struct logtrim *lt = NULL;
	is_int(logtrim_check(path, MAX, KEEP), 0, "a log not made yet is no error");
	is_int(logtrim_new(path, MAX, KEEP, &lt), 0, "watching a log its writer has not made yet");

	/* The writer, as QEMU's chardev: its own offset, no O_APPEND. */
	int w = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char block[4096];
	uint64_t written = 0;
	for (int i = 0; i < 1024; i++) { /* 4 MiB, a line number in each block */
		memset(block, 'a' + i % 26, sizeof block);
		snprintf(block, 16, "%08d", i);
		written += write(w, block, sizeof block) == (ssize_t)sizeof block ? sizeof block : 0;
	}
	is_int((int)(written >> 20), 4, "4 MiB written");
	uint64_t disk = on_disk(path);
	for (int i = 0; i < 30 && disk > MAX; i++) {
		usleep(100 * 1000);
		disk = on_disk(path);
	}
	ok(disk <= MAX, "the thread bounded it within 3 s: %llu KiB on disk", (unsigned long long)(disk >> 10));
	struct stat st;
	ok(stat(path, &st) == 0 && (uint64_t)st.st_size == written, "its size stays (the writer's offset holds)");
	/* The newest bytes are kept; the oldest read as zeros. */
	int r = open(path, O_RDONLY | O_CLOEXEC);
	char got[16] = "";
	ok(pread(r, got, 8, (off_t)written - sizeof block) == 8 && !memcmp(got, "00001023", 8), "the last block kept");
	ok(pread(r, got, 8, 0) == 8 && !memcmp(got, "\0\0\0\0\0\0\0\0", 8), "the first one dropped");
	/* The writer goes on at its offset. */
	ok(write(w, "tail\n", 5) == 5, "the writer writes on");
	ok(pread(r, got, 5, (off_t)written) == 5 && !memcmp(got, "tail\n", 5), "after the kept part");
	close(r);
	close(w);
	is_int(logtrim_check(path, MAX, KEEP), 0, "under the bound: nothing to do");
	lt = logtrim_free(lt);
	ok(!lt, "stopped");
	unlink(path);
	rmdir(t);
	free(path);
	return tap_done();
}
