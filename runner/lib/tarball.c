#define _GNU_SOURCE
#include "tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>

#include "proc.h"

static void archive_readp(struct archive **a) { archive_read_free(*a); }
static void archive_writep(struct archive **a) { archive_write_free(*a); }
static void archive_entryp(struct archive_entry **e) { archive_entry_free(*e); }

static int pack_data(struct archive *disk, struct archive *out)
{
	char buf[65536];
	for (;;) {
		la_ssize_t k = archive_read_data(disk, buf, sizeof buf);
		if (k < 0)
			return -EIO;
		if (k == 0)
			return 0;
		if (archive_write_data(out, buf, (size_t)k) != k)
			return -EIO;
	}
}

/* The member name of a path found under root. */
static char *pack_name(const char *root, const char *name, bool root_is_dir, const char *path)
{
	const char *rel = path + strlen(root);
	char *s;
	return asprintf(&s, "%s%s", root_is_dir ? "." : name, rel) < 0 ? NULL : s;
}

int tarball_pack(const char *path, const char *name, int out_fd, char **ret_bad)
{
	_cleanup_(archive_readp) struct archive *disk = archive_read_disk_new();
	_cleanup_(archive_writep) struct archive *out = archive_write_new();
	if (!disk || !out)
		return -ENOMEM;
	struct stat st;
	if (lstat(path, &st) < 0)
		return -errno;
	if (archive_read_disk_set_symlink_physical(disk) != ARCHIVE_OK ||
	    archive_write_set_format_gnutar(out) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(out, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(out, out_fd) != ARCHIVE_OK || archive_read_disk_open(disk, path) != ARCHIVE_OK)
		return -EIO;
	for (;;) {
		_cleanup_(archive_entryp) struct archive_entry *ent = archive_entry_new();
		if (!ent)
			return -ENOMEM;
		int r = archive_read_next_header2(disk, ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			*ret_bad = strdup(archive_error_string(disk) ? archive_error_string(disk) : path);
			return -EIO;
		}
		archive_read_disk_descend(disk);
		_cleanup_free_ char *member = pack_name(path, name, S_ISDIR(st.st_mode), archive_entry_pathname(ent));
		if (!member)
			return -ENOMEM;
		archive_entry_set_pathname(ent, member);
		archive_entry_set_uid(ent, 0);
		archive_entry_set_gid(ent, 0);
		archive_entry_set_uname(ent, NULL);
		archive_entry_set_gname(ent, NULL);
		if (archive_write_header(out, ent) < ARCHIVE_WARN ||
		    (archive_entry_filetype(ent) == AE_IFREG && pack_data(disk, out) < 0)) {
			*ret_bad = strdup(archive_entry_sourcepath(ent) ? archive_entry_sourcepath(ent) : member);
			return -EIO;
		}
	}
	return archive_write_close(out) == ARCHIVE_OK ? 0 : -EIO;
}

/* Why a member may not be extracted; NULL if it may. */
static const char *member_refused(struct archive_entry *ent, const char *top)
{
	const char *p = archive_entry_pathname(ent);
	while (p && p[0] == '.' && p[1] == '/')
		p += 2;
	size_t n = strlen(top);
	if (!p || strncmp(p, top, n) || (p[n] && p[n] != '/'))
		return "outside the copied path";
	if (archive_entry_hardlink(ent))
		return "a hard link";
	unsigned t = archive_entry_filetype(ent);
	if (t != AE_IFREG && t != AE_IFDIR && t != AE_IFLNK)
		return "not a file, directory or symlink";
	archive_entry_set_pathname(ent, p);
	archive_entry_set_perm(ent, archive_entry_perm(ent) & 0777);
	return NULL;
}

/* A member's data, each block inside the size its header gave (a sparse
 * member's blocks come with their offsets). */
static int unpack_data(struct archive *in, struct archive *ext, struct archive_entry *ent, FILE *why)
{
	la_int64_t size = archive_entry_size(ent), off;
	const void *buf;
	size_t len;
	int r;
	while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off + len > (uint64_t)size) {
			fprintf(why, "member '%.200s': data past its size", archive_entry_pathname(ent));
			return -1;
		}
		if (archive_write_data_block(ext, buf, len, off) < ARCHIVE_WARN)
			break;
	}
	if (r != ARCHIVE_EOF) {
		fprintf(why, "member '%.200s': %s", archive_entry_pathname(ent),
			r == ARCHIVE_OK ? archive_error_string(ext) : archive_error_string(in));
		return -1;
	}
	return 0;
}

static int unpack_entries(struct archive *in, struct archive *ext, const char *top, uint64_t limit, FILE *why)
{
	uint64_t total = 0;
	for (;;) {
		struct archive_entry *ent;
		int r = archive_read_next_header(in, &ent);
		if (r == ARCHIVE_EOF) {
			if (archive_write_close(ext) == ARCHIVE_OK)
				return 0;
			fprintf(why, "%s", archive_error_string(ext));
			return -1;
		}
		if (r < ARCHIVE_WARN) {
			fprintf(why, "damaged archive: %s", archive_error_string(in));
			return -1;
		}
		const char *refused = member_refused(ent, top);
		if (refused) {
			fprintf(why, "member '%.200s': %s", archive_entry_pathname(ent), refused);
			return -1;
		}
		/* Sizes as the header says, holes included: a sparse member of a
		 * few blocks can claim a terabyte. */
		la_int64_t size = archive_entry_filetype(ent) == AE_IFREG ? archive_entry_size(ent) : 0;
		if (size < 0 || (uint64_t)size > limit - total) {
			fprintf(why, "member '%.200s': the files add up to more than the limit (%llu MiB)",
				archive_entry_pathname(ent), (unsigned long long)(limit >> 20));
			return -1;
		}
		total += (uint64_t)size;
		if (archive_write_header(ext, ent) < ARCHIVE_WARN) {
			fprintf(why, "member '%.200s': %s", archive_entry_pathname(ent), archive_error_string(ext));
			return -1;
		}
		if (unpack_data(in, ext, ent, why) < 0)
			return -1;
		if (archive_write_finish_entry(ext) < ARCHIVE_WARN) {
			fprintf(why, "member '%.200s': %s", archive_entry_pathname(ent), archive_error_string(ext));
			return -1;
		}
	}
}

int tarball_extract(int in_fd, const char *top, uint64_t limit, FILE *why)
{
	struct archive *in = archive_read_new(), *ext = archive_write_disk_new();
	int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		    ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	int r = -1;
	if (!in || !ext || archive_read_support_format_tar(in) != ARCHIVE_OK ||
	    archive_write_disk_set_options(ext, flags) != ARCHIVE_OK ||
	    archive_read_open_fd(in, in_fd, 65536) != ARCHIVE_OK)
		fprintf(why, "cannot read the archive: %s", in ? archive_error_string(in) : "no memory");
	else
		r = unpack_entries(in, ext, top, limit, why);
	archive_read_free(in);
	archive_write_free(ext);
	return r < 0 ? -EBADMSG : 0;
}

/* In the child: libarchive writes relative to the working directory. */
_Noreturn static void unpack_child(int in_fd, const char *dir, const char *top, uint64_t limit, int why_fd)
{
	FILE *why = fdopen(why_fd, "w");
	if (!why || chdir(dir) < 0) {
		if (why)
			fprintf(why, "cannot enter %s", dir);
		_exit(1);
	}
	int r = tarball_extract(in_fd, top, limit, why);
	/* Closed although the process ends, so that valgrind's leak check
	 * (make valgrind) sees no leak. */
	fclose(why);
	_exit(r < 0 ? 1 : 0);
}

int tarball_unpack(int in_fd, const char *dir, const char *top, uint64_t limit, char **ret_why)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	_cleanup_close_ int rd = p[0];
	pid_t pid = fork();
	if (pid < 0) {
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		unpack_child(in_fd, dir, top, limit, p[1]);
	}
	close(p[1]);
	char msg[512];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof msg - 1 && ((k = read(rd, msg + n, sizeof msg - 1 - n)) > 0 || (k < 0 && errno == EINTR)))
		n += k > 0 ? (size_t)k : 0;
	msg[n] = 0;
	int st, r = proc_wait(pid, USEC_INFINITY, &st);
	if (r < 0) {
		proc_kill_and_reap(pid, 0);
		return r;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	*ret_why = strdup(*msg ? msg : "the unpacking process failed");
	return -EBADMSG;
}

/* rename() that fails with EEXIST rather than replace what appeared at to
 * since the caller looked. Where the filesystem has no RENAME_NOREPLACE
 * (some FUSE ones): link() for a file, which never replaces either; for a
 * directory, an empty one made at to first (mkdir never replaces), which
 * rename() then may replace, being ours. */
static int rename_noreplace(const char *from, const char *to, bool is_dir)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	if (!is_dir)
		return link(from, to) < 0 ? -errno : unlink(from) < 0 ? -errno : 0;
	if (mkdir(to, 0700) < 0)
		return -errno;
	if (rename(from, to) == 0)
		return 0;
	int r = -errno;
	(void)rmdir(to);
	return r;
}

/* A directory moves to another parent only with write permission on
 * itself (its ".." changes), which the guest's "chmod 555" took away: it
 * gets it for the move, and its mode back through a descriptor that
 * follows it. */
static int unpacked_move(const char *from, const char *target)
{
	struct stat st;
	if (lstat(from, &st) < 0)
		return -errno;
	mode_t mode = st.st_mode & 07777;
	_cleanup_close_ int fd = -1;
	if (S_ISDIR(st.st_mode) && (mode & 0700) != 0700 &&
	    (chmod(from, mode | 0700) < 0 || (fd = open(from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0))
		return -errno;
	int r = rename_noreplace(from, target, S_ISDIR(st.st_mode));
	if (r == 0 && fd >= 0)
		(void)fchmod(fd, mode);
	return r;
}

int tarball_unpack_as(int in_fd, const char *top, const char *target, uint64_t limit, char **ret_why)
{
	_cleanup_free_ char *tmpl = strdup(target), *dir = NULL, *from = NULL;
	if (!tmpl)
		return -ENOMEM;
	char *slash = strrchr(tmpl, '/');
	if (asprintf(&dir, "%s/.osrun-copy-XXXXXX", slash ? (slash == tmpl ? "" : (*slash = 0, tmpl)) : ".") < 0) {
		dir = NULL;
		return -ENOMEM;
	}
	if (!mkdtemp(dir))
		return -errno;
	int r = tarball_unpack(in_fd, dir, top, limit, ret_why);
	if (r == 0)
		r = (from = path_join(dir, top)) ? unpacked_move(from, target) : -ENOMEM;
	(void)rm_rf(dir);
	return r;
}
