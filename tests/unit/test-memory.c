/* Guest RAM as deltas (snapshots/memory.c): a chain of a full file and two
 * deltas gives back exactly the RAM each layer had: changed pages, pages
 * that became zero, holes of the full file; a delta holds only what
 * changed; a full file is made on demand and kept; a damaged chain is
 * refused. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "../../snapshots/cachevol.h"
#include "../../snapshots/layer.h"
#include "../../snapshots/memory.h"
#include "tap.h"

#define SIZE (4u << 20) /* 4 MiB of "RAM": chunks of 1 MiB, pages of 4 KiB */
#define PG 4096

static struct snapshot_meta meta_for(const char *parent)
{
	struct snapshot_meta m = {.parent = (char *)parent, .image = "linux-0", .created = "x", .made_by = "test"};
	snprintf(m.machine.profile, sizeof m.machine.profile, "linux");
	m.machine.memory_mib = 256;
	m.machine.cpus = 1;
	return m;
}

static void write_ram(const char *path, const char *ram)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, SIZE) < 0)
		abort();
	/* Only non-zero pages are written: the zero ones are holes, as in
	 * a RAM file QEMU never touched there. */
	for (size_t i = 0; i < SIZE / PG; i++) {
		static const char zero[PG];
		if (memcmp(ram + i * PG, zero, PG) && pwrite(fd, ram + i * PG, PG, (off_t)(i * PG)) != PG)
			abort();
	}
	close(fd);
}

static bool same_as(const char *path, const char *ram)
{
	_cleanup_free_ char *got = NULL;
	size_t n = 0;
	return read_full_file(path, &got, &n) == 0 && n == SIZE && !memcmp(got, ram, SIZE);
}

/* Saves ram as snapshot name over parent (NULL: a full one). */
static int save(struct store *s, const char *name, const char *parent, const char *ram, uint64_t *delta)
{
	int r = 0;
	struct snapshot_new *n;
	if (snapshot_new_begin(s, name, &n) < 0)
		abort();
	_cleanup_free_ char *mem = snapshot_new_path(n, "memory");
	write_ram(mem, ram);
	if (parent) {
		struct snapshot *p;
		if (snapshot_open(s, parent, &p) < 0)
			abort();
		r = snapshot_memory_to_delta(s, p, n, delta);
		snapshot_free(p);
	}
	struct snapshot_meta m = meta_for(parent);
	if (r < 0 || snapshot_new_commit(n, &m) < 0)
		abort();
	snapshot_new_free(n);
	return r;
}

static uint64_t allocated(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

int main(void)
{
	char t[] = "/tmp/osrun-unit-memory.XXXXXX";
	char *tmp = mkdtemp(t);
	_cleanup_free_ char *root = path_join(tmp, "store");
	struct store *s;
	if (store_open(root, &s) < 0)
		abort();
	char *r0 = calloc(1, SIZE), *r1 = malloc(SIZE), *r2 = malloc(SIZE);
	for (size_t i = 0; i < SIZE / PG; i++)
		if (i % 3) /* a third of the pages never written */
			memset(r0 + i * PG, (int)(i & 0xff) | 1, PG);
	save(s, "base", NULL, r0, NULL);
	memcpy(r1, r0, SIZE);
	memset(r1 + 5 * PG, 0xab, 10);	  /* changed in part */
	memset(r1 + 7 * PG, 0, PG);	  /* became zero */
	memset(r1 + 9 * PG, 0x11, PG);	  /* a page that was a hole */
	memset(r1 + SIZE - PG, 0x22, PG); /* the last page of the last chunk */
	uint64_t d1 = 0, d2 = 0;
	is_int(save(s, "one", "base", r1, &d1), 0, "saved as a delta");
	is_int(d1, 4 * PG, "the delta holds the 4 changed pages");
	_cleanup_free_ char *one_delta = path_join(root, "snapshots/one/memory.delta"),
			    *one_full = path_join(root, "snapshots/one/memory"),
			    *two_full = path_join(root, "snapshots/two/memory"), *out = path_join(tmp, "out");
	ok(!file_exists(one_full), "no full file is kept for it");
	ok(allocated(one_delta) <= 8 * PG, "the delta file uses about that on disk (%llu bytes)",
	   (unsigned long long)allocated(one_delta));
	memcpy(r2, r1, SIZE);
	memset(r2 + 7 * PG, 0x33, PG);	  /* zero again becomes data */
	memset(r2 + 301 * PG, 0, 2 * PG); /* in another chunk */
	is_int(save(s, "two", "one", r2, &d2), 0, "saved as a delta over a delta");
	is_int(d2, 3 * PG, "the second delta: 3 pages");

	struct snapshot *two, *one;
	if (snapshot_open(s, "two", &two) < 0 || snapshot_open(s, "one", &one) < 0)
		abort();
	is_int(snapshot_memory_copy(s, two, out), 0, "a copy of two's RAM from the chain");
	ok(same_as(out, r2), "is exactly two's RAM (full file, two deltas)");
	ok(allocated(out) < SIZE, "zero pages stay holes in the copy");
	unlink(out);
	is_int(snapshot_memory_copy(s, one, out), 0, "one's RAM");
	ok(same_as(out, r1), "is exactly one's");
	is_int(snapshot_memory_ready(s, two), 0, "a run makes two's full file");
	ok(same_as(two_full, r2), "and it is two's RAM");
	struct stat st;
	stat(two_full, &st);
	ok((st.st_mode & 0777) == 0600, "0600, as guest RAM must be");
	is_int(snapshot_memory_ready(s, two), 0, "once made it is kept");
	unlink(out);
	snapshot_free(two);
	/* A long chain is cut: one layer keeps a full file, the next start
	 * over from it, and the RAM at the end is still exact. */
	char prev[16] = "two", name[16];
	int cut = 0;
	for (int i = 3; i < 40; i++) {
		memset(r2 + (size_t)(10 + i) * PG, i, 8);
		snprintf(name, sizeof name, "l%d", i);
		if (save(s, name, prev, r2, NULL) == 1 && !cut)
			cut = i;
		memcpy(prev, name, sizeof prev);
	}
	/* two has its full file now (made above): l3 is the first delta over
	 * it, l33 would be the 31st. */
	is_int(cut, 33, "the 31st delta in a row keeps its full file instead");
	_cleanup_free_ char *cut_full = path_join(root, "snapshots/l33/memory");
	ok(file_exists(cut_full), "there");
	struct snapshot *last;
	if (snapshot_open(s, prev, &last) < 0)
		abort();
	is_int(snapshot_memory_copy(s, last, out), 0, "the RAM at the end of 39 layers");
	ok(same_as(out, r2), "is exact");
	snapshot_free(last);
	unlink(out);
	/* A delta says which pages it holds: a bitmap that disagrees with
	 * its count, or a delta of the old sparse kind (whose holes cannot
	 * say), is refused rather than guessed at. */
	int dfd = open(one_delta, O_RDWR | O_CLOEXEC);
	unsigned char b = 0;
	if (dfd < 0 || pread(dfd, &b, 1, 24) != 1)
		abort();
	b ^= 0x01; /* page 0: not among the 4 */
	if (pwrite(dfd, &b, 1, 24) != 1)
		abort();
	is_int(snapshot_memory_copy(s, one, out), -EBADMSG, "a delta with a bit more in its bitmap is refused");
	unlink(out);
	b ^= 0x01;
	if (pwrite(dfd, &b, 1, 24) != 1)
		abort();
	close(dfd);
	is_int(snapshot_memory_copy(s, one, out), 0, "and read again once mended");
	unlink(out);
	struct snapshot_new *old;
	if (snapshot_new_begin(s, "old", &old) < 0)
		abort();
	_cleanup_free_ char *old_delta = snapshot_new_path(old, "memory.delta");
	write_ram(old_delta, r1); /* RAM-sized and sparse, as deltas were */
	struct snapshot_meta om = meta_for("base");
	if (snapshot_new_commit(old, &om) < 0)
		abort();
	snapshot_new_free(old);
	struct snapshot *olds;
	if (snapshot_open(s, "old", &olds) < 0)
		abort();
	is_int(snapshot_memory_copy(s, olds, out), -EBADMSG, "a delta of the old sparse kind is refused");
	is_int(snapshot_memory_ready(s, olds), -EBADMSG, "also for a run");
	unlink(out);
	snapshot_free(olds);
	/* A delta of another size is not part of this chain. */
	if (truncate(one_delta, SIZE / 2) < 0)
		abort();
	is_int(snapshot_memory_copy(s, one, out), -EBADMSG, "a delta of another size is refused");
	unlink(out);
	_cleanup_free_ char *base_full = path_join(root, "snapshots/base/memory");
	unlink(base_full);
	is_int(snapshot_memory_copy(s, one, out), -EBADMSG, "a chain without its full file is refused");
	ok(!file_exists(out) || allocated(out) == 0, "and gives nothing");
	snapshot_free(one);
	free(r0);
	free(r1);
	free(r2);
	store_free(s);
	rm_rf(tmp);
	return tap_done();
}
