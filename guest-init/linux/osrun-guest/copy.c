#define _GNU_SOURCE
#include "guest.h"

#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Copies for --copy-in and --copy-out go through a tar in the run's share
 * (osrun packs and unpacks the host's side; modes travel in the tar, which
 * SMB without unix extensions would lose). The share is mounted cache=none,
 * so every read(2) and write(2) tar made of it (one per 512-byte header,
 * one per small file) was an SMB round trip: 10,000 small files took 3 ms
 * each that way. The tar goes through a pipe here, moved in GUEST_IO_CHUNK
 * requests on the share's side. */

static int tar_wait(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* tar -x -f - -C dir, fed from the share's file. */
static int tar_extract(const char *tar, const char *dir)
{
	_cleanup_close_ int in = open(tar, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = malloc(GUEST_IO_CHUNK);
	int p[2];
	if (in < 0 || null < 0 || !buf)
		return guest_fail(1, "%s: %s", tar, strerror(errno));
	if (pipe2(p, O_CLOEXEC) < 0)
		return guest_fail(1, "pipe: %s", strerror(errno));
	char *argv[] = {"/bin/tar", "-x", "-f", "-", "-C", (char *)dir, NULL};
	extern char **environ;
	pid_t pid;
	int r = child_spawn(argv[0], argv, environ, p[0], STDERR_FILENO, STDERR_FILENO, &pid);
	close(p[0]);
	if (r < 0) {
		close(p[1]);
		return guest_fail(1, "cannot start tar: %s", strerror(-r));
	}
	ssize_t n;
	while ((n = read(in, buf, GUEST_IO_CHUNK)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && fd_write_all(p[1], buf, (size_t)n) < 0)
			break;
	close(p[1]);
	r = tar_wait(pid);
	return r != 0 ? r : n < 0 ? guest_fail(1, "%s: %s", tar, strerror(errno)) : 0;
}

/* A file's member is name; it is unpacked beside dst and renamed over it,
 * so that dst is never half written. */
static int copy_in_file(const char *tar, const char *dst, const char *name)
{
	_cleanup_free_ char *d = strdup(dst);
	if (!d)
		return 1;
	const char *parent = dirname(d);
	int k = mkdir_parents(parent, 0755);
	if (k < 0)
		return guest_fail(1, "%s: %s", parent, strerror(-k));
	char tmp[4096], member[4096];
	if (snprintf(tmp, sizeof tmp, "%s/.osrun-copy.XXXXXX", parent) >= (int)sizeof tmp || !mkdtemp(tmp))
		return guest_fail(1, "%s: cannot make a temporary directory: %s", parent, strerror(errno));
	int r = tar_extract(tar, tmp);
	if (r == 0 && snprintf(member, sizeof member, "%s/%s", tmp, name) < (int)sizeof member &&
	    rename(member, dst) < 0)
		r = guest_fail(1, "%s: %s", dst, strerror(errno));
	(void)tree_remove(tmp);
	return r;
}

/* in TAR dir|file GUEST NAME: unpack TAR at GUEST, or into GUEST/NAME
 * when GUEST is a directory. */
static int copy_in(const struct guest_run *run, char **argv)
{
	char tar[160], dst[4096];
	const char *kind = argv[1], *name = argv[3];
	struct stat st;
	if (strchr(argv[0], '/') || guest_run_path(run, argv[0], tar, sizeof tar) < 0 || strchr(name, '/') ||
	    !strcmp(name, ".") || !strcmp(name, ".."))
		return guest_fail(2, "copy in: bad arguments");
	int k = stat(argv[2], &st) == 0 && S_ISDIR(st.st_mode) ? snprintf(dst, sizeof dst, "%s/%s", argv[2], name)
							       : snprintf(dst, sizeof dst, "%s", argv[2]);
	if (k < 0 || k >= (int)sizeof dst)
		return guest_fail(1, "%s: name too long", argv[2]);
	if (strcmp(kind, "dir") != 0)
		return copy_in_file(tar, dst, name);
	if ((k = mkdir_parents(dst, 0755)) < 0)
		return guest_fail(1, "%s: %s", dst, strerror(-k));
	return tar_extract(tar, dst);
}

/* out TAR GUEST: pack GUEST as its last component into TAR. */
static int copy_out(const struct guest_run *run, char **argv)
{
	char tar[160];
	struct stat st;
	if (strchr(argv[0], '/') || guest_run_path(run, argv[0], tar, sizeof tar) < 0)
		return guest_fail(2, "copy out: bad arguments");
	if (lstat(argv[1], &st) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	_cleanup_free_ char *a = strdup(argv[1]), *b = strdup(argv[1]), *buf = malloc(GUEST_IO_CHUNK);
	_cleanup_close_ int out = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int p[2];
	if (!a || !b || !buf || out < 0 || null < 0 || pipe2(p, O_CLOEXEC) < 0)
		return guest_fail(1, "%s: %s", tar, strerror(errno));
	char *targv[] = {"/bin/tar", "-c", "-f", "-", "-C", dirname(a), basename(b), NULL};
	extern char **environ;
	pid_t pid;
	int r = child_spawn(targv[0], targv, environ, null, p[1], STDERR_FILENO, &pid);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		return guest_fail(1, "cannot start tar: %s", strerror(-r));
	}
	/* tar writes 10 KiB blocks: gathered into large writes. */
	size_t have = 0;
	int w = 0;
	for (;;) {
		ssize_t n = read(p[0], buf + have, GUEST_IO_CHUNK - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			have += (size_t)n;
		if ((n <= 0 || have == GUEST_IO_CHUNK) && have > 0 && w == 0)
			w = fd_write_all(out, buf, have);
		if (n <= 0 || have == GUEST_IO_CHUNK)
			have = 0;
		if (n <= 0)
			break;
	}
	close(p[0]);
	r = tar_wait(pid);
	if (r == 0 && w < 0)
		r = guest_fail(1, "%s: %s", tar, strerror(-w));
	return r;
}

int verb_copy(int argc, char **argv)
{
	struct guest_run run;
	struct stat st;
	char stdin_path[160];
	if (guest_run_init(&run) < 0)
		return guest_fail(125, "OSRUN_RUN_ID: missing or not a run id");
	if (guest_run_path(&run, "stdin", stdin_path, sizeof stdin_path) < 0 ||
	    (stat(stdin_path, &st) < 0 && share_mount(&run) < 0))
		return 125;
	if (argc == 6 && !strcmp(argv[1], "in"))
		return copy_in(&run, argv + 2);
	if (argc == 4 && !strcmp(argv[1], "out"))
		return copy_out(&run, argv + 2);
	return guest_fail(2, "copy: expected 'in TAR dir|file GUEST NAME' or 'out TAR GUEST'");
}
