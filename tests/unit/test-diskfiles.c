/* Files off a guest's disk (runner/lib/diskfiles.c, parttable.c,
 * ntfsread.c) on disks made here as Windows leaves them: an NTFS volume
 * (mkntfs, the files applied from a WIM by wimlib, as Setup applies its
 * image) in a GPT or MBR partition (sfdisk), as qcow2 (qemu-img). The
 * files come whole, 0600, looked up whatever their case; a damaged disk
 * (random bytes in the partition, a truncated qcow2, bytes of the volume
 * changed at random) gives an error, never a crash, under ASan and UBSan;
 * a server that never answers ends at the deadline or at Ctrl-C; no child
 * and no socket is left. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../runner/lib/diskfiles.h"
#include "../../runner/lib/ntfsread.h"
#include "../../runner/lib/parttable.h"
#include "tap.h"
#include "tool.h"

#define MIB (1u << 20)
#define VOL_MIB 16u
#define BIG_LEN (1536u * 1024)

static char *tmp;
static char big[BIG_LEN];
static const char err_text[] = "2026-12-06 Error [0x0606cc] IBS Callback_Productkey_Validate: wrong key\n";
static const char build_text[] = "firstlogon: drivers installed\n";

static const struct diskfile files[] = {
	{"Windows/Panther/setupact.log", "setupact.log"},
	{"Windows/Panther/setuperr.log", "setuperr.log"},
	{"Windows/Panther/UnattendGC/setupact.log", "UnattendGC-setupact.log"},
	{"osrun/build.log", "build.log"},
	{NULL, NULL},
};

/* tmp/name; each call's result lives until the fourth call after it. */
static const char *at(const char *name)
{
	static char paths[4][4096];
	static unsigned i;
	char *p = paths[i++ % 4];
	snprintf(p, sizeof paths[0], "%s/%s", tmp, name);
	return p;
}

static void put(const char *path, const void *data, size_t n)
{
	if (write_file_atomic(path, data, n, 0644) < 0)
		abort();
}

static void sh(const char *script, const char *a, const char *b)
{
	if (tool_run((char *const[]){"sh", "-c", (char *)script, "sh", (char *)a, (char *)b, NULL}, tmp) != 0)
		abort();
}

/* An NTFS volume of VOL_MIB in path, holding the tree under src/. */
static void volume_make(const char *path)
{
	sh("rm -f \"$1\" && truncate -s 16M \"$1\" && mkntfs -F -Q -q -s 512 -p 2048 -H 255 -S 63 \"$1\" && "
	   "wimlib-imagex capture src vol.wim --compress=none >/dev/null && wimlib-imagex apply vol.wim 1 \"$1\" && "
	   "rm vol.wim",
	   path, NULL);
}

/* A raw disk of mib MiB: sfdisk's script, then vol at byte off. */
static void disk_make(const char *path, unsigned mib, const char *script, const char *vol, uint64_t off)
{
	_cleanup_free_ char *data = NULL;
	size_t n;
	char size[16];
	snprintf(size, sizeof size, "%uM", mib);
	put(at("table"), script, strlen(script));
	sh("rm -f \"$1\" && truncate -s \"$2\" \"$1\" && sfdisk -q \"$1\" <table", path, size);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || read_full_file(vol, &data, &n) < 0 || pwrite_full(fd, data, n, (off_t)off) < 0)
		abort();
	close(fd);
}

static void qcow2_make(const char *raw, const char *qcow2)
{
	sh("rm -f \"$2\" && qemu-img convert -q -f raw -O qcow2 \"$1\" \"$2\"", raw, qcow2);
}

static int fd_read(void *u, void *buf, size_t n, uint64_t off)
{
	ssize_t k = pread_retry(*(int *)u, buf, n, (off_t)off);
	return k < 0 ? (int)k : (size_t)k == n ? 0 : -EIO;
}

struct mem {
	unsigned char *p;
	size_t n;
};

static int mem_read(void *u, void *buf, size_t n, uint64_t off)
{
	struct mem *m = u;
	if (off > m->n || n > m->n - off)
		return -EIO;
	memcpy(buf, m->p + off, n);
	return 0;
}

/* The file's bytes, or NULL. */
static char *slurp(const char *path, size_t *n)
{
	char *s = NULL;
	return read_full_file(path, &s, n) < 0 ? NULL : s;
}

static bool same_file(const char *path, const void *want, size_t n)
{
	size_t got;
	_cleanup_free_ char *s = slurp(path, &got);
	struct stat st;
	return s && got == n && !memcmp(s, want, n) && stat(path, &st) == 0 && (st.st_mode & 07777) == 0600;
}

static void fixtures(void)
{
	for (size_t i = 0; i < BIG_LEN; i++)
		big[i] = i % 97 == 96 ? '\n' : (char)('a' + (i * 7 + i / 4096) % 26);
	sh("mkdir -p src/Windows/Panther src/osrun", NULL, NULL);
	put(at("src/Windows/Panther/setupact.log"), big, BIG_LEN);
	put(at("src/Windows/Panther/setuperr.log"), err_text, strlen(err_text));
	put(at("src/osrun/build.log"), build_text, strlen(build_text));
	volume_make(at("vol.img"));
	disk_make(at("gpt.raw"), 32, "label: gpt\nstart=2048, size=32768, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n",
		  at("vol.img"), MIB);
	qcow2_make(at("gpt.raw"), at("gpt.qcow2"));
}

static void test_parttable(void)
{
	uint64_t off = 0, len = 0;
	int fd = open(at("gpt.raw"), O_RDONLY | O_CLOEXEC);
	struct disk_reader d = {.read = fd_read, .userdata = &fd, .size = 32 * MIB};
	is_int(parttable_find_ntfs(&d, &off, &len), 0, "GPT: the Basic data partition is found");
	ok(off == MIB && len == VOL_MIB * MIB, "GPT: at 1 MiB, 16 MiB long (%llu, %llu)", (unsigned long long)off,
	   (unsigned long long)len);
	close(fd);

	/* MBR: a small NTFS partition (System Reserved) before the larger C:. */
	disk_make(at("mbr.raw"), 64, "label: dos\nstart=2048, size=8192, type=7\nstart=16384, size=32768, type=7\n",
		  at("vol.img"), 8 * MIB);
	fd = open(at("mbr.raw"), O_RDWR | O_CLOEXEC);
	d.size = 64 * MIB;
	_cleanup_free_ char *vol = slurp(at("vol.img"), NULL);
	if (!vol || pwrite_full(fd, vol, 512, MIB) < 0) /* a boot sector that says NTFS */
		abort();
	is_int(parttable_find_ntfs(&d, &off, &len), 0, "MBR: an NTFS partition is found");
	ok(off == 8 * MIB && len == VOL_MIB * MIB, "MBR: the larger one (%llu)", (unsigned long long)off);
	close(fd);

	disk_make(at("linux.raw"), 32, "label: gpt\nstart=2048, size=32768, type=L\n", at("vol.img"), MIB);
	fd = open(at("linux.raw"), O_RDONLY | O_CLOEXEC);
	d.size = 32 * MIB;
	is_int(parttable_find_ntfs(&d, &off, &len), -ENOENT, "a partition of another type is not read");
	close(fd);

	fd = open(at("vol.img"), O_RDONLY | O_CLOEXEC);
	d.size = VOL_MIB * MIB;
	is_int(parttable_find_ntfs(&d, &off, &len), 0, "a volume without a partition table is found");
	ok(off == 0 && len == VOL_MIB * MIB, "at byte 0");
	close(fd);

	/* A GPT that claims entries past the disk's end, and a huge count. */
	struct mem m = {calloc(1, MIB), MIB};
	m.p[510] = 0x55, m.p[511] = 0xaa, m.p[446 + 4] = 0xee;
	memcpy(m.p + 512, "EFI PART", 8);
	m.p[512 + 72] = 0xff, m.p[512 + 79] = 0x7f, m.p[512 + 80] = 0x80, m.p[512 + 84] = 0x80;
	d = (struct disk_reader){.read = mem_read, .userdata = &m, .size = m.n};
	is_int(parttable_find_ntfs(&d, &off, &len), -ENOENT, "GPT entries past the disk's end: none");
	m.p[512 + 72] = 2, m.p[512 + 79] = 0, m.p[512 + 83] = 0xff;
	is_int(parttable_find_ntfs(&d, &off, &len), -ENOENT, "2^31 GPT entries: none read");
	memset(m.p, 0, 1024);
	is_int(parttable_find_ntfs(&d, &off, &len), -ENOENT, "an empty disk: none");
	free(m.p);
}

static void test_ntfsread(void)
{
	int fd = open(at("vol.img"), O_RDONLY | O_CLOEXEC);
	struct disk_reader d = {.read = fd_read, .userdata = &fd, .size = VOL_MIB * MIB};
	_cleanup_(ntfsread_freep) struct ntfsread *v = NULL;
	is_int(ntfsread_open(&d, 0, VOL_MIB * MIB, &v), 0, "the volume mounts");
	if (!v) {
		close(fd);
		return;
	}
	int out = open(at("out"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	is_int(ntfsread_copy(v, "WINDOWS/panther/SetupAct.LOG", UINT64_MAX, out), 0,
	       "a file is found whatever the case of its path");
	ok(same_file(at("out"), big, BIG_LEN), "all of it, over 1 MiB");
	if (ftruncate(out, 0) < 0 || lseek(out, 0, SEEK_SET) < 0)
		abort();
	is_int(ntfsread_copy(v, "Windows/Panther/setupact.log", 1000, out), 0, "a bounded copy");
	ok(same_file(at("out"), big + BIG_LEN - 1000, 1000), "keeps the file's last bytes");
	is_int(ntfsread_copy(v, "Windows/Panther/nothere.log", 1000, out), -ENOENT, "a missing file: -ENOENT");
	is_int(ntfsread_copy(v, "Windows/Panther", 1000, out), -EISDIR, "a directory: -EISDIR");
	close(out);
	close(fd);
}

/* Each iteration changes a few bytes of the boot sector or the MFT (at
 * 16 KiB in mkntfs's layout) and reads every file: errors, no crash. */
static void test_fuzz(void)
{
	size_t n;
	_cleanup_free_ unsigned char *orig = (unsigned char *)slurp(at("vol.img"), &n);
	struct mem m = {malloc(n), n};
	struct disk_reader d = {.read = mem_read, .userdata = &m, .size = n};
	int out = open(at("fuzz.out"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unsigned seed = 30, mounted = 0, copied = 0;
	for (int i = 0; i < 400; i++) {
		memcpy(m.p, orig, n);
		for (int k = 1 + rand_r(&seed) % 8; k > 0; k--) {
			size_t where = rand_r(&seed) % 4 ? 16384 + (size_t)rand_r(&seed) % (128 * 1024)
							 : (size_t)rand_r(&seed) % 512;
			m.p[where] = (unsigned char)rand_r(&seed);
		}
		struct ntfsread *v = NULL;
		if (ntfsread_open(&d, 0, n, &v) < 0)
			continue;
		mounted++;
		for (const struct diskfile *f = files; f->path; f++)
			copied += ntfsread_copy(v, f->path, 4 * MIB, out) == 0;
		ntfsread_free(v);
	}
	ok(mounted > 0 && mounted < 400, "400 damaged volumes: %u mounted, %u files read, no crash", mounted, copied);
	close(out);
	free(m.p);
}

static bool no_children(void) { return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD; }

static int copy(const char *disk, const char *dir, usec_t timeout, const char *qemu_nbd, struct error *e)
{
	sh("rm -rf \"$1\" && mkdir -p \"$1\" sock", dir, NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct diskfiles_spec s = {.disk = disk,
				   .files = files,
				   .dirfd = dfd,
				   .sockdir = at("sock"),
				   .max = 16 * MIB,
				   .timeout = timeout,
				   .qemu_nbd = qemu_nbd};
	*e = (struct error){0};
	int r = diskfiles_copy(&s, e);
	close(dfd);
	return r;
}

static bool dir_empty(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "[ -z \"$(ls -A '%s')\" ] && [ -z \"$(ls -A '%s/sock')\" ]", dir, tmp);
	return tool_run((char *const[]){"sh", "-c", cmd, NULL}, NULL) == 0;
}

static void test_copy(void)
{
	struct error e;
	is_int(copy(at("gpt.qcow2"), at("ev"), 60 * USEC_PER_SEC, NULL, &e), 0, "a qcow2 disk: copied (%s)", e.msg);
	ok(same_file(at("ev/setupact.log"), big, BIG_LEN), "setupact.log whole, 0600");
	ok(same_file(at("ev/setuperr.log"), err_text, strlen(err_text)), "setuperr.log whole, 0600");
	ok(same_file(at("ev/build.log"), build_text, strlen(build_text)), "build.log whole, 0600");
	ok(!file_exists(at("ev/UnattendGC-setupact.log")), "a file the disk lacks: none, and no failure");
	ok(no_children(), "qemu-nbd and the reader are gone");
	ok(!file_exists(at("sock/nbd.sock")), "and so is the socket");

	/* As a stage leaves it: a layer over the disk below. */
	sh("rm -f top.qcow2 && qemu-img create -q -f qcow2 -F qcow2 -b gpt.qcow2 top.qcow2", NULL, NULL);
	is_int(copy(at("top.qcow2"), at("ev"), 60 * USEC_PER_SEC, NULL, &e), 0, "a layer: its backing chain read");
	ok(same_file(at("ev/setuperr.log"), err_text, strlen(err_text)), "setuperr.log whole");

	struct diskfile bad[] = {{"x", "../x"}, {NULL, NULL}};
	struct diskfiles_spec s = {.disk = at("gpt.qcow2"), .files = bad, .dirfd = -1, .sockdir = at("sock")};
	is_int(diskfiles_copy(&s, &e), -EINVAL, "a copy's name with a '/': refused");
}

static void test_damaged(void)
{
	struct error e;
	sh("cp gpt.raw junk.raw && head -c 16777216 /dev/urandom | dd of=junk.raw bs=1M seek=1 conv=notrunc "
	   "status=none && printf 'NTFS    ' | dd of=junk.raw bs=1 seek=1048579 conv=notrunc status=none",
	   NULL, NULL);
	qcow2_make(at("junk.raw"), at("junk.qcow2"));
	int r = copy(at("junk.qcow2"), at("ev"), 60 * USEC_PER_SEC, NULL, &e);
	ok(r < 0 && !strstr(e.msg, "died"), "random bytes in the partition: an error (%s)", e.msg);
	ok(dir_empty(at("ev")), "no files, no socket");
	ok(no_children(), "no child left");

	/* QEMU reads clusters past a qcow2's end as zeros; a header cut
	 * short it refuses. */
	sh("head -c 200000 gpt.qcow2 >cut.qcow2", NULL, NULL);
	r = copy(at("cut.qcow2"), at("ev"), 60 * USEC_PER_SEC, NULL, &e);
	ok(r < 0 && dir_empty(at("ev")) && no_children(), "a qcow2 cut short: an error, no files (%s)", e.msg);
	sh("head -c 64 gpt.qcow2 >cut.qcow2", NULL, NULL);
	r = copy(at("cut.qcow2"), at("ev"), 60 * USEC_PER_SEC, NULL, &e);
	ok(r < 0 && strstr(e.msg, "qemu-nbd"), "a qcow2 header cut short: qemu-nbd's error (%s)", e.msg);
	ok(dir_empty(at("ev")) && no_children(), "no files, socket or child");

	qcow2_make(at("linux.raw"), at("linux.qcow2"));
	is_int(copy(at("linux.qcow2"), at("ev"), 60 * USEC_PER_SEC, NULL, &e), -ENOENT, "no NTFS volume: -ENOENT");
	is_str(e.msg, "no NTFS volume on the disk", "and says so");

	r = copy(at("gpt.qcow2"), at("ev"), 60 * USEC_PER_SEC, "/nonexistent/qemu-nbd", &e);
	ok(r == -ENOENT && dir_empty(at("ev")), "no qemu-nbd: -ENOENT, socket gone (%s)", e.msg);
}

/* A server that takes the connection and never answers. */
static void test_hang(void)
{
	struct error e;
	const char *fake = at("fake-nbd");
	const char *script = "#!/bin/sh\nexec sleep 600\n";
	put(fake, script, strlen(script));
	chmod(fake, 0755);
	usec_t t0 = now_usec();
	int r = copy(at("gpt.qcow2"), at("ev"), USEC_PER_SEC, fake, &e);
	is_int(r, -ETIMEDOUT, "a server that never answers: -ETIMEDOUT (%s)", e.msg);
	ok(now_usec() - t0 < 10 * USEC_PER_SEC, "at the deadline");
	ok(dir_empty(at("ev")) && no_children(), "no files, socket or child");

	int c = eventfd(1, EFD_CLOEXEC);
	cancel_fd_set(c);
	t0 = now_usec();
	r = copy(at("gpt.qcow2"), at("ev"), 60 * USEC_PER_SEC, fake, &e);
	cancel_fd_set(-1);
	close(c);
	is_int(r, -ECANCELED, "Ctrl-C: -ECANCELED");
	ok(now_usec() - t0 < 10 * USEC_PER_SEC && no_children(), "at once, no child left");
}

int main(void)
{
	char dir[] = "/tmp/test-diskfiles.XXXXXX";
	if (!(tmp = mkdtemp(dir)))
		abort();
	const char *tools[] = {"mkntfs", "wimlib-imagex", "sfdisk", "qemu-img", "qemu-nbd"};
	for (size_t i = 0; i < ELEMENTSOF(tools); i++) {
		char cmd[64];
		snprintf(cmd, sizeof cmd, "command -v %s", tools[i]);
		if (tool_run((char *const[]){"sh", "-c", cmd, NULL}, NULL) != 0) {
			skip("%s is not installed (make deps)", tools[i]);
			rm_rf(tmp);
			return tap_done();
		}
	}
	fixtures();
	test_parttable();
	test_ntfsread();
	test_fuzz();
	test_copy();
	test_damaged();
	test_hang();
	rm_rf(tmp);
	return tap_done();
}
