/* The share follower against a guest's writes to its stdout file: out of
 * order, with holes, truncated, punched, as the input says, each mirrored
 * in a model of the file. What a pump passes on must be the file's bytes
 * at that moment, and none from a block the guest has not written (a hole:
 * a write still on its way). After the drain the host has the file's
 * content exactly, but for bytes the guest changed after they were passed
 * on (a stream's bytes are written once). */
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
/* A write starts below FILE_MAX and is at most 255 bytes long. */
#define MODEL_MAX (FILE_MAX + 256)
#define BLOCK_MIN 512

struct model {
	uint8_t byte[MODEL_MAX];
	bool changed[MODEL_MAX]; /* changed after it was passed on */
	bool alloc[MODEL_MAX / BLOCK_MIN + 1];
	size_t size, passed, block;
	uint8_t host[MODEL_MAX];
};

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* The guest changes [from, to): what the host has of it no longer is the
 * file's. */
static void model_touch(struct model *m, size_t from, size_t to)
{
	for (size_t x = from; x < min_sz(to, m->passed); x++)
		m->changed[x] = true;
}

static void model_write(struct model *m, const uint8_t *buf, size_t len, size_t off)
{
	if (len == 0)
		return;
	model_touch(m, off, off + len);
	memcpy(m->byte + off, buf, len);
	for (size_t b = off / m->block; b <= (off + len - 1) / m->block; b++)
		m->alloc[b] = true;
	if (off + len > m->size)
		m->size = off + len;
}

/* Blocks wholly inside the hole are given back; the rest is zeroed. */
static void model_punch(struct model *m, size_t off, size_t len)
{
	size_t end = min_sz(off + len, MODEL_MAX);
	model_touch(m, off, end);
	if (off < m->size)
		memset(m->byte + off, 0, min_sz(end, m->size) - off);
	for (size_t b = (off + m->block - 1) / m->block; (b + 1) * m->block <= end; b++)
		m->alloc[b] = false;
}

static void model_truncate(struct model *m, size_t to)
{
	model_touch(m, min_sz(to, m->size), to > m->size ? to : m->size);
	if (to < m->size)
		memset(m->byte + to, 0, m->size - to);
	for (size_t b = (to + m->block - 1) / m->block; b * m->block < MODEL_MAX; b++)
		m->alloc[b] = false;
	m->size = to;
}

/* What the host got since the last look; final: the drain, which passes
 * holes on as zeros. */
static void model_check_host(struct model *m, int host, bool final)
{
	struct stat st;
	if (fstat(host, &st) < 0 || (size_t)st.st_size < m->passed || (size_t)st.st_size > MODEL_MAX)
		abort();
	size_t now = (size_t)st.st_size;
	if (pread(host, m->host + m->passed, now - m->passed, (off_t)m->passed) != (ssize_t)(now - m->passed))
		abort();
	for (size_t x = m->passed; x < now; x++) {
		/* Passed on past the file's end, or not the file's byte. */
		if (x >= m->size || m->host[x] != m->byte[x])
			abort();
		/* Passed on from a hole before the command ended. */
		if (!final && !m->alloc[x / m->block])
			abort();
	}
	if (final && now != (m->size > m->passed ? m->size : m->passed))
		abort();
	m->passed = now;
	if (final)
		for (size_t x = 0; x < m->size && x < now; x++)
			if (!m->changed[x] && m->host[x] != m->byte[x])
				abort();
}

static void run_ops(struct model *m, struct share *sh, int g, int host, int nul, const uint8_t *data, size_t size)
{
	/* Ops of 4 bytes: kind, offset (2), length; kind % 8: write LEN bytes
	 * at OFF (0, 1, 5), truncate to OFF (2 with LEN 0xff, else a pump),
	 * punch a hole of (LEN + 1) * 64 bytes at OFF (4), pump (3, 6, 7). */
	for (size_t i = 0; i + 4 <= size; i += 4) {
		unsigned kind = data[i] % 8, off = (unsigned)(data[i + 1] << 8 | data[i + 2]) % FILE_MAX,
			 len = data[i + 3];
		uint8_t buf[256];
		for (unsigned j = 0; j < sizeof buf; j++)
			buf[j] = (uint8_t)((i * 31 + j) % 251 + 1);
		if (kind == 0 || kind == 1 || kind == 5) {
			if (pwrite(g, buf, len, off) != (ssize_t)len)
				abort();
			model_write(m, buf, len, off);
		} else if (kind == 2 && len == 0xff) {
			if (ftruncate(g, off) < 0)
				abort();
			model_truncate(m, off);
		} else if (kind == 4) {
			/* A filesystem without holes cannot be fuzzed here. */
			if (fallocate(g, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (len + 1) * 64) < 0)
				abort();
			model_punch(m, off, (len + 1) * 64);
		} else {
			if (share_pump(sh, host, nul, NULL) < 0)
				abort();
			model_check_host(m, host, false);
		}
	}
	if (share_drain(sh, host, nul) < 0)
		abort();
	model_check_host(m, host, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char root[64];
	static struct model m;
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
	int g = open(out_path, O_WRONLY | O_CLOEXEC),
	    host = open(host_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
	    nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct stat st;
	if (g < 0 || host < 0 || nul < 0 || fstat(g, &st) < 0 || st.st_blksize < BLOCK_MIN)
		abort();
	memset(&m, 0, sizeof m);
	m.block = (size_t)st.st_blksize;
	run_ops(&m, sh, g, host, nul, data, size);
	close(g);
	close(host);
	close(nul);
	share_free(sh);
	rm_rf(root);
	return 0;
}
