/* Guest RAM as deltas (snapshots/memory.c) on stores whose filesystem
 * allocates more than a page for a page written: tmpfs with huge=always
 * (2 MiB) and XFS with 64 KiB blocks. Layers are saved and composed there,
 * and the RAM is compared page by page with what each layer had. Needs
 * root (mounts) and mkfs.xfs; a kernel before 6.12 cannot mount blocks
 * larger than its pages. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../snapshots/memory.h"
#include "tap.h"
#include "tool.h"

#define PAGES 2048
#define PG 4096
#define SIZE ((size_t)PAGES * PG)

static struct snapshot_meta meta_for(const char *parent)
{
	struct snapshot_meta m = {.parent = (char *)parent, .image = "linux-0", .created = "x", .made_by = "test"};
	snprintf(m.machine.profile, sizeof m.machine.profile, "linux");
	m.machine.memory_mib = 256;
	m.machine.cpus = 1;
	return m;
}

/* As QEMU leaves it: every page written, none a hole. */
static void write_ram(const char *path, const char *ram)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || pwrite(fd, ram, SIZE, 0) != (ssize_t)SIZE)
		abort();
	close(fd);
}

static int save(struct store *s, const char *name, const char *parent, const char *ram)
{
	struct snapshot_new *n;
	if (snapshot_new_begin(s, name, &n) < 0)
		abort();
	_cleanup_free_ char *mem = snapshot_new_path(n, "memory");
	write_ram(mem, ram);
	int r = 0;
	if (parent) {
		struct snapshot *p;
		if (snapshot_open(s, parent, &p) < 0)
			abort();
		r = snapshot_memory_to_delta(s, p, n, NULL);
		snapshot_free(p);
	}
	struct snapshot_meta m = meta_for(parent);
	if (r < 0 || snapshot_new_commit(n, &m) < 0)
		abort();
	snapshot_new_free(n);
	return r;
}

/* Pages of the file at path that differ from ram (all of them if it
 * cannot be read whole). */
static int pages_wrong(const char *path, const char *ram)
{
	_cleanup_free_ char *got = NULL;
	size_t n = 0;
	if (read_full_file(path, &got, &n) < 0 || n != SIZE)
		return PAGES;
	int wrong = 0;
	for (size_t i = 0; i < PAGES; i++)
		wrong += memcmp(got + i * PG, ram + i * PG, PG) != 0;
	return wrong;
}

/* The hole that follows one page written in a new file: where it starts
 * is the filesystem's allocation unit. */
static off_t hole_after_page(const char *dir)
{
	_cleanup_free_ char *p = path_join(dir, "probe");
	static const char page[PG] = {1};
	int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	off_t h =
		fd >= 0 && ftruncate(fd, 8 << 20) == 0 && pwrite(fd, page, PG, 0) == PG ? lseek(fd, 0, SEEK_HOLE) : -1;
	if (fd >= 0)
		close(fd);
	unlink(p);
	return h;
}

static void layers_on(const char *dir, const char *what)
{
	off_t unit = hole_after_page(dir);
	if (unit <= PG) {
		skip("%s: a page written allocates %lld bytes here, no more than a page", what, (long long)unit);
		return;
	}
	printf("# %s: a page written allocates %lld bytes\n", what, (long long)unit);
	_cleanup_free_ char *root = path_join(dir, "store"), *out = path_join(dir, "out"),
			    *full = path_join(dir, "store/snapshots/two/memory");
	struct store *s;
	if (store_open(root, &s) < 0)
		abort();
	char *r0 = malloc(SIZE), *r1 = malloc(SIZE), *r2 = malloc(SIZE);
	for (size_t i = 0; i < PAGES; i++)
		memset(r0 + i * PG, (int)(i % 251) + 1, PG); /* no page zero */
	memcpy(r1, r0, SIZE);
	memset(r1 + 700 * PG, 0xab, 16); /* one page changed */
	memcpy(r2, r1, SIZE);
	memset(r2 + 3 * PG, 0xcd, PG); /* one more */
	memset(r2 + 1500 * PG, 0, PG); /* and one that became zero */
	save(s, "base", NULL, r0);
	is_int(save(s, "one", "base", r1), 0, "%s: a layer saved as a delta", what);
	is_int(save(s, "two", "one", r2), 0, "%s: and another over it", what);
	struct snapshot *one, *two;
	if (snapshot_open(s, "one", &one) < 0 || snapshot_open(s, "two", &two) < 0)
		abort();
	is_int(snapshot_memory_copy(s, one, out), 0, "%s: the first layer's RAM composed", what);
	is_int(pages_wrong(out, r1), 0, "%s: pages of %d that differ from what the layer had", what, PAGES);
	unlink(out);
	is_int(snapshot_memory_copy(s, two, out), 0, "%s: the second layer's RAM composed", what);
	is_int(pages_wrong(out, r2), 0, "%s: pages of %d that differ from what the layer had", what, PAGES);
	is_int(snapshot_memory_ready(s, two), 0, "%s: a run makes the second layer's full file", what);
	is_int(pages_wrong(full, r2), 0, "%s: pages of %d wrong in it", what, PAGES);
	snapshot_free(one);
	snapshot_free(two);
	store_free(s);
	free(r0);
	free(r1);
	free(r2);
}

int main(void)
{
	char t[] = "/tmp/osrun-unit-memory-fs.XXXXXX";
	char *tmp = mkdtemp(t);
	_cleanup_free_ char *huge = path_join(tmp, "huge"), *xfs = path_join(tmp, "xfs"),
			    *img = path_join(tmp, "xfs.img");
	if (!tmp || mkdir(huge, 0700) < 0 || mkdir(xfs, 0700) < 0)
		abort();
	if (geteuid() != 0) {
		skip("tmpfs with huge=always: mounting needs root");
		skip("XFS with 64 KiB blocks: mounting needs root");
		rm_rf(tmp);
		return tap_done();
	}
	/* Mounts of our own: a test that aborts leaves none behind. */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		abort();
	if (mount("tmpfs", huge, "tmpfs", 0, "size=64m,huge=always,mode=0700") < 0)
		skip("tmpfs with huge=always: cannot mount (%s)", strerror(errno));
	else {
		layers_on(huge, "tmpfs huge=always");
		if (umount(huge) < 0)
			umount2(huge, MNT_DETACH);
	}
	int fd = open(img, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 1 << 30) < 0)
		abort();
	close(fd);
	if (tool_run((char *const[]){"mkfs.xfs", "-q", "-b", "size=65536", img, NULL}, NULL) != 0)
		skip("XFS with 64 KiB blocks: mkfs.xfs (xfsprogs) missing or failed");
	else if (tool_run((char *const[]){"mount", "-o", "loop", img, xfs, NULL}, NULL) != 0)
		skip("XFS with 64 KiB blocks: cannot mount (a kernel before 6.12 cannot)");
	else {
		layers_on(xfs, "XFS 64 KiB blocks");
		if (umount(xfs) < 0)
			umount2(xfs, MNT_DETACH);
	}
	rm_rf(tmp);
	return tap_done();
}
