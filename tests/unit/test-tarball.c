/* The archives of copies: what the host packs, and what it lets in from a
 * guest's archive (which a hostile guest writes as it likes). */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "../../runner/lib/tarball.h"
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
	int r = tarball_unpack(fd, dir, top, why);
	close(fd);
	return r;
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
