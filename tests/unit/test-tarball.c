/* The archives of copies: what the host packs, and what it lets in from a
 * guest's archive (which a hostile guest writes as it likes). */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../runner/lib/tarball.h"
#include "nocaps.h"
#include "tap.h"

struct member {
	const char *name;
	unsigned type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR */
	unsigned mode;
	const char *data_or_target;
	const char *hardlink;
};

/* An archive as a guest could send it, made with libarchive's writer. */
static void write_archive(const char *path, const struct member *m, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_gnutar(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type);
		archive_entry_set_perm(e, m[i].mode);
		if (m[i].hardlink)
			archive_entry_set_hardlink(e, m[i].hardlink);
		if (m[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, m[i].data_or_target);
		size_t len = m[i].type == AE_IFREG && m[i].data_or_target && !m[i].hardlink
				     ? strlen(m[i].data_or_target)
				     : 0;
		archive_entry_set_size(e, (la_int64_t)len);
		archive_write_header(a, e);
		if (len)
			archive_write_data(a, m[i].data_or_target, len);
		archive_entry_free(e);
	}
	archive_write_free(a);
}

static int unpack(const char *tar, const char *dir, const char *top, char **why)
{
	mkdir(dir, 0700);
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	*why = NULL;
	int r = tarball_unpack(fd, dir, top, UINT64_C(1) << 20, why);
	close(fd);
	return r;
}

/* One sparse member, top/big: apparent bytes, of which the first data
 * bytes are written (pax, GNU sparse 1.0, as GNU tar --sparse makes). */
static void write_sparse(const char *path, la_int64_t apparent, size_t data)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		abort();
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, "art/big");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, apparent);
	archive_entry_sparse_add_entry(e, 0, (la_int64_t)data);
	char *buf = malloc(data);
	memset(buf, 'x', data);
	if (archive_write_header(a, e) != ARCHIVE_OK || archive_write_data(a, buf, data) != (la_ssize_t)data)
		abort();
	free(buf);
	archive_entry_free(e);
	archive_write_free(a);
}

/* tarball_unpack_as in a child that gave up its capabilities: as uid 0
 * it still owns what it makes, and modes apply to it as to uid 1000
 * running osrun. */
static int unpack_as_user(const char *tar, const char *target)
{
	int p[2], r = -EIO;
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		if (caps_drop_all() < 0)
			_exit(1);
		int fd = open(tar, O_RDONLY | O_CLOEXEC);
		char *why = NULL;
		r = tarball_unpack_as(fd, "art", target, UINT64_C(1) << 20, &why);
		free(why);
		_exit(write(p[1], &r, sizeof r) == sizeof r ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], &r, sizeof r) != sizeof r)
		r = -EIO;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return r;
}

/* Whether name is all there is in dir. */
static bool only_entry(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	int n = 0, seen = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		seen += !strcmp(e->d_name, name);
	}
	if (d)
		closedir(d);
	return d && n == 1 && seen == 1;
}

static unsigned mode_of(const char *dir, const char *rel)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	return lstat(p, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void test_refused(const char *t, const char *what, const struct member *m, size_t n, const char *expect)
{
	char tar[256], dir[256];
	snprintf(tar, sizeof tar, "%s/%s.tar", t, what);
	snprintf(dir, sizeof dir, "%s/%s.d", t, what);
	write_archive(tar, m, n);
	char *why;
	is_int(unpack(tar, dir, "art", &why), -EBADMSG, "%s: refused", what);
	ok(why && strstr(why, expect), "%s: says '%s' (%s)", what, expect, why ? why : "nothing");
	free(why);
}

/* The guest's "chmod 555" on what it sends, with osrun run by a user: the
 * copy lands with its modes, and nothing is left beside it. */
static void test_read_only_dir(const char *t)
{
	const struct member ro[] = {
		{"art/", AE_IFDIR, 0555, NULL, NULL},
		{"art/sub/", AE_IFDIR, 0555, NULL, NULL},
		{"art/sub/f", AE_IFREG, 0444, "f\n", NULL},
		{"art/g", AE_IFREG, 0644, "g\n", NULL},
	};
	char tar[256], out[256], target[300];
	snprintf(tar, sizeof tar, "%s/ro.tar", t);
	snprintf(out, sizeof out, "%s/ro-out", t);
	snprintf(target, sizeof target, "%s/art", out);
	write_archive(tar, ro, ELEMENTSOF(ro));
	mkdir(out, 0700);
	is_int(unpack_as_user(tar, target), 0, "a directory of mode 0555 unpacks for a user");
	is_int(mode_of(out, "art"), 0555, "it keeps mode 0555");
	is_int(mode_of(out, "art/sub"), 0555, "art/sub keeps mode 0555");
	is_int(mode_of(out, "art/sub/f"), 0444, "art/sub/f is there");
	ok(only_entry(out, "art"), "nothing but art beside it");
	is_int(unpack_as_user(tar, target), -EEXIST, "again, onto itself: -EEXIST");
	ok(only_entry(out, "art"), "the unpacked copy, mode 0555, is not left beside it");
	chmod(target, 0700);
	snprintf(target, sizeof target, "%s/art/sub", out);
	chmod(target, 0700);
}

/* A target that appears after the caller looked (its check for one is
 * before the guest's copy): left as it is. */
static void test_no_replace(const char *t)
{
	const struct member file[] = {{"art", AE_IFREG, 0644, "from the guest\n", NULL}};
	const struct member dir[] = {{"art/", AE_IFDIR, 0755, NULL, NULL}, {"art/f", AE_IFREG, 0644, "x", NULL}};
	char tar[256], nr[256], target[300], buf[64] = "", *why = NULL;
	snprintf(tar, sizeof tar, "%s/file.tar", t);
	snprintf(nr, sizeof nr, "%s/nr", t);
	snprintf(target, sizeof target, "%s/made-meanwhile", nr);
	mkdir(nr, 0700);
	write_archive(tar, file, ELEMENTSOF(file));
	write_file_atomic(target, "the user's\n", 11, 0600);
	int fd = open(tar, O_RDONLY | O_CLOEXEC);
	is_int(tarball_unpack_as(fd, "art", target, UINT64_C(1) << 20, &why), -EEXIST, "a file there: -EEXIST");
	close(fd);
	int in = open(target, O_RDONLY | O_CLOEXEC);
	ok(in >= 0 && read(in, buf, sizeof buf - 1) == 11 && !strcmp(buf, "the user's\n"), "the user's file is kept");
	close(in);
	ok(only_entry(nr, "made-meanwhile"), "nothing left beside it");
	unlink(target);
	mkdir(target, 0700);
	snprintf(tar, sizeof tar, "%s/dir.tar", t);
	write_archive(tar, dir, ELEMENTSOF(dir));
	fd = open(tar, O_RDONLY | O_CLOEXEC);
	is_int(tarball_unpack_as(fd, "art", target, UINT64_C(1) << 20, &why), -EEXIST,
	       "an empty directory there: -EEXIST");
	close(fd);
	ok(only_entry(nr, "made-meanwhile"), "nothing left beside it");
	ok(rmdir(target) == 0, "the directory stays empty");
	free(why);
}

/* Sizes as the headers give them, holes included, bound what lands. */
static void test_sizes(const char *t)
{
	char tar[300], dir[256], *why = NULL;
	snprintf(tar, sizeof tar, "%s/sparse.tar", t);
	snprintf(dir, sizeof dir, "%s/sparse.d", t);
	write_sparse(tar, (la_int64_t)1 << 40, 10240);
	is_int(unpack(tar, dir, "art", &why), -EBADMSG, "10 KiB of data as a 1 TiB sparse file: refused");
	ok(why && strstr(why, "member 'art/big': the files add up to more than the limit (1 MiB)"), "says so (%s)",
	   why ? why : "nothing");
	free(why);
	struct stat st;
	snprintf(tar, sizeof tar, "%s/art/big", dir);
	ok(lstat(tar, &st) < 0 || st.st_size <= (1 << 20), "no file over the limit left (%lld bytes)",
	   lstat(tar, &st) == 0 ? (long long)st.st_size : 0LL);
	snprintf(tar, sizeof tar, "%s/sparse-small.tar", t);
	snprintf(dir, sizeof dir, "%s/sparse-small.d", t);
	write_sparse(tar, 1 << 20, 10240);
	is_int(unpack(tar, dir, "art", &why), 0, "a 1 MiB sparse file, the limit exactly, unpacks");
	snprintf(tar, sizeof tar, "%s/art/big", dir);
	ok(lstat(tar, &st) == 0 && st.st_size == (1 << 20), "with its size");
	free(why);
	static char half[600 << 10];
	memset(half, 'y', sizeof half - 1);
	const struct member two[] = {{"art/", AE_IFDIR, 0755, NULL, NULL},
				     {"art/a", AE_IFREG, 0644, half, NULL},
				     {"art/b", AE_IFREG, 0644, half, NULL}};
	test_refused(t, "two-halves", two, ELEMENTSOF(two),
		     "member 'art/b': the files add up to more than the limit (1 MiB)");
}

int main(void)
{
	char tmpl[] = "/tmp/osrun-unit.XXXXXX";
	char *t = mkdtemp(tmpl), path[1024], *why = NULL;
	umask(077); /* osrun's own: modes must come from the archive, not from it */

	/* What a guest's tar normally holds comes in with its modes. */
	const struct member good[] = {
		{"art/", AE_IFDIR, 0755, NULL, NULL},	      {"art/run.sh", AE_IFREG, 0750, "#!/bin/sh\n", NULL},
		{"art/ro.txt", AE_IFREG, 0444, "ro\n", NULL}, {"art/link", AE_IFLNK, 0777, "run.sh", NULL},
		{"art/tool", AE_IFREG, 04755, "x", NULL},
	};
	snprintf(path, sizeof path, "%s/good.tar", t);
	write_archive(path, good, ELEMENTSOF(good));
	char dir[256];
	snprintf(dir, sizeof dir, "%s/good.d", t);
	is_int(unpack(path, dir, "art", &why), 0, "a plain archive unpacks");
	is_int(mode_of(dir, "art/run.sh"), 0750, "mode 0750 kept under umask 077");
	is_int(mode_of(dir, "art/ro.txt"), 0444, "mode 0444 kept");
	is_int(mode_of(dir, "art/tool"), 0755, "the setuid bit is dropped");
	char target[64] = "";
	snprintf(path, sizeof path, "%s/art/link", dir);
	ok(readlink(path, target, sizeof target - 1) == 6 && !strcmp(target, "run.sh"), "a symlink stays a symlink");

	/* What a hostile guest could put in. */
	test_refused(t, "dotdot", (struct member[]){{"art/../../escape", AE_IFREG, 0644, "x", NULL}}, 1,
		     "art/../../escape");
	test_refused(t, "absolute", (struct member[]){{"/tmp/osrun-abs", AE_IFREG, 0644, "x", NULL}}, 1,
		     "outside the copied path");
	test_refused(t, "other-top",
		     (struct member[]){{"art/ok", AE_IFREG, 0644, "x", NULL}, {"other", AE_IFREG, 0644, "x", NULL}}, 2,
		     "member 'other': outside the copied path");
	test_refused(t, "prefix", (struct member[]){{"artifact", AE_IFREG, 0644, "x", NULL}}, 1,
		     "outside the copied path");
	test_refused(t, "device", (struct member[]){{"art/null", AE_IFCHR, 0666, NULL, NULL}}, 1,
		     "not a file, directory or symlink");
	test_refused(t, "hardlink", (struct member[]){{"art/h", AE_IFREG, 0644, NULL, "/etc/passwd"}}, 1,
		     "a hard link");
	char victim[256];
	snprintf(victim, sizeof victim, "%s/victim", t);
	mkdir(victim, 0700);
	test_refused(
		t, "through-symlink",
		(struct member[]){{"art/l", AE_IFLNK, 0777, victim, NULL}, {"art/l/pwned", AE_IFREG, 0644, "x", NULL}},
		2, "art/l/pwned");
	snprintf(path, sizeof path, "%s/pwned", victim);
	ok(!file_exists(path), "nothing was written through the symlink");
	snprintf(path, sizeof path, "%s/garbage.tar", t);
	write_file_atomic(path, "this is no tar archive, not even close, but long enough to be read", 67, 0600);
	snprintf(dir, sizeof dir, "%s/garbage.d", t);
	is_int(unpack(path, dir, "art", &why), -EBADMSG, "garbage is refused");
	free(why);

	test_read_only_dir(t);
	test_no_replace(t);
	test_sizes(t);

	/* The host's pack: a directory's members are "./" and "./REL", owned
	 * by 0, with symlinks stored, not followed. */
	char src[256];
	snprintf(src, sizeof src, "%s/src", t);
	mkdir(src, 0755);
	snprintf(path, sizeof path, "%s/f", src);
	write_file_atomic(path, "data", 4, 0640);
	chmod(path, 0640);
	snprintf(path, sizeof path, "%s/l", src);
	(void)!symlink("/etc/passwd", path);
	snprintf(path, sizeof path, "%s/packed.tar", t);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char *bad = NULL;
	is_int(tarball_pack(src, "src", fd, &bad), 0, "a directory packs");
	close(fd);
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_open_filename(a, path, 65536);
	struct archive_entry *e;
	int seen = 0, root = 0, owners_ok = 1;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		seen++;
		root += !strcmp(n, "./");
		owners_ok &= archive_entry_uid(e) == 0 && archive_entry_gid(e) == 0;
		if (!strcmp(n, "./f"))
			is_int(archive_entry_perm(e), 0640, "./f keeps mode 0640");
		if (!strcmp(n, "./l"))
			ok(archive_entry_filetype(e) == AE_IFLNK && !strcmp(archive_entry_symlink(e), "/etc/passwd"),
			   "./l is a symlink, not /etc/passwd's content");
	}
	archive_read_free(a);
	ok(seen == 3 && root == 1 && owners_ok, "members ./, ./f, ./l, all owned by 0 (%d seen)", seen);
	snprintf(path, sizeof path, "%s/src/f", t);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	is_int(tarball_pack(path, "f", fd, &bad), 0, "a single file packs");
	snprintf(path, sizeof path, "%s/none", t);
	ok(tarball_pack(path, "none", fd, &bad) == -ENOENT, "a missing path is -ENOENT");
	close(fd);
	free(bad);

	rm_rf(t);
	return tap_done();
}
