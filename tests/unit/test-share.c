#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../runner/lib/share.h"
#include "tap.h"

static char *slurp_pipe(int fd, size_t *n)
{
	static char buf[1 << 16];
	ssize_t k = read(fd, buf, sizeof buf);
	*n = k > 0 ? (size_t)k : 0;
	return buf;
}

/* A build step's log: both streams in the order read, and no more than
 * SHARE_LOG_MAX_MIB of what the guest sends (a sparse 65 MiB stdout). */
static void test_log(const char *tmp)
{
	_cleanup_free_ char *dir = path_join(tmp, "logshare"), *log = path_join(tmp, "build.log"), *o = NULL, *e = NULL;
	struct share *s = NULL;
	if (share_new(dir, &s) < 0)
		abort();
	o = path_join(dir, "stdout");
	e = path_join(dir, "stderr");
	int lfd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), null = open("/dev/null", O_WRONLY);
	share_set_log(s, lfd);
	int fo = open(o, O_WRONLY | O_CLOEXEC), fe = open(e, O_WRONLY | O_CLOEXEC);
	(void)!write(fo, "out\n", 4);
	(void)!write(fe, "err\n", 4);
	is_int(share_drain(s, null, null), 0, "drain into the log");
	_cleanup_free_ char *text = NULL;
	read_full_file(log, &text, NULL);
	is_str(text, "out\nerr\n", "the log has both streams");
	if (ftruncate(fo, 4 + ((off_t)65 << 20)) < 0)
		abort();
	is_int(share_drain(s, null, null), 0, "a 65 MiB stdout drains");
	struct stat st;
	fstat(lfd, &st);
	ok(st.st_size > (64 << 20) && st.st_size < (64 << 20) + 200, "the log stops at %d MiB (%lld bytes)",
	   SHARE_LOG_MAX_MIB, (long long)st.st_size);
	close(fo);
	close(fe);
	close(lfd);
	close(null);
	share_free(s);
}

static bool stdin_is(const char *dir, const char *want, size_t n)
{
	_cleanup_free_ char *p = path_join(dir, "stdin"), *got = NULL;
	size_t k = 0;
	bool same = read_full_file(p, &got, &k) == 0 && k == n && !memcmp(got, want, n);
	if (!same)
		printf("#   the share's stdin: %zu bytes, expected %zu\n", k, n);
	return same;
}

/* A stdin spooled into the share before the command starts (Windows, or
 * a file whose end is known): the source's bytes, exactly, from a file
 * (from its offset) or a pipe; a second spool replaces the first. */
static void test_spool(struct share *s, const char *tmp, const char *dir)
{
	enum { N = 300000 };
	static char src[N];
	for (size_t i = 0; i < N; i++)
		src[i] = (char)((i * 7 + i / 251) % 256);
	_cleanup_free_ char *path = path_join(tmp, "stdin-src");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), p[2];
	if (fd < 0 || write_full(fd, src, N) < 0 || lseek(fd, 0, SEEK_SET) < 0 || pipe2(p, O_CLOEXEC) < 0)
		abort();
	is_int(share_fill_stdin(s, fd), 0, "stdin spooled from a file");
	ok(stdin_is(dir, src, N), "the share's stdin has the file's %d bytes", N);
	if (lseek(fd, 1000, SEEK_SET) < 0)
		abort();
	is_int(share_fill_stdin(s, fd), 0, "spooled again, the file read from offset 1000");
	ok(stdin_is(dir, src + 1000, N - 1000), "its bytes from there on, nothing of the first spool");
	close(fd);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(write_full(p[1], src, 100000) < 0);
	}
	close(p[1]);
	is_int(share_fill_stdin(s, p[0]), 0, "stdin spooled from a pipe");
	close(p[0]);
	waitpid(pid, NULL, 0);
	ok(stdin_is(dir, src, 100000), "the pipe's bytes");
}

/* One write the guest starts inside a block, split into two SMB writes of
 * which the second lands first: the unwritten rest of the first block
 * reads as zeros for a moment and must not be passed on as output. */
static void test_split_write(const char *tmp)
{
	char *dir = path_join(tmp, "split");
	struct share *s = NULL;
	if (share_new(dir, &s) < 0)
		abort();
	char *out_path = path_join(dir, "stdout");
	int po[2], pe[2];
	if (pipe2(po, O_NONBLOCK | O_CLOEXEC) < 0 || pipe2(pe, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	static char b[8192], c[4094];
	memset(b, 'B', sizeof b);
	memset(c, 'C', sizeof c);
	int w = open(out_path, O_WRONLY | O_CLOEXEC);
	bool closed;
	if (pwrite(w, "x", 1, 0) != 1 || pwrite(w, c, sizeof c, 1 + sizeof b) != (ssize_t)sizeof c)
		abort();
	share_pump(s, po[1], pe[1], &closed);
	size_t n;
	char *got = slurp_pipe(po[0], &n);
	ok(n == 1 && got[0] == 'x', "a block's unwritten rest before a hole is held back (%zu bytes passed)", n);
	if (pwrite(w, b, sizeof b, 1) != (ssize_t)sizeof b)
		abort();
	close(w);
	share_pump(s, po[1], pe[1], &closed);
	got = slurp_pipe(po[0], &n);
	ok(n == sizeof b + sizeof c && !memcmp(got, b, sizeof b) && !memcmp(got + sizeof b, c, sizeof c),
	   "then the split write whole, in order (%zu bytes)", n);
	share_free(s);
	close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
	free(out_path);
	free(dir);
}

int main(void)
{
	char t[] = "/tmp/osrun-unit.XXXXXX";
	char *tmp = mkdtemp(t);
	char *dir = path_join(tmp, "share");
	struct share *s = NULL;
	is_int(share_new(dir, &s), 0, "share created");
	char *out_path = path_join(dir, "stdout"), *in_path = path_join(dir, "stdin");
	ok(file_exists(out_path) && file_exists(in_path), "stdin and stdout exist before the guest starts");

	int po[2], pe[2];
	if (pipe2(po, O_NONBLOCK | O_CLOEXEC) < 0 || pipe2(pe, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	bool closed = true;
	is_int(share_pump(s, po[1], pe[1], &closed), 0, "nothing pending");
	ok(!closed, "creation of the files is not taken for output");

	/* The second half of a write lands first, as smbd may complete them. */
	char a[4096], b[4096];
	memset(a, 'A', sizeof a);
	memset(b, 'B', sizeof b);
	int w = open(out_path, O_WRONLY | O_CLOEXEC);
	if (pwrite(w, b, sizeof b, 4096) != 4096)
		abort();
	is_int(share_pump(s, po[1], pe[1], &closed), 0, "pump after an out-of-order write");
	size_t n;
	slurp_pipe(po[0], &n);
	is_int(n, 0, "nothing past the hole is passed on while the command runs");
	if (pwrite(w, a, sizeof a, 0) != 4096)
		abort();
	close(w);
	is_int(share_pump(s, po[1], pe[1], &closed), 0, "pump after the hole is filled");
	char *got = slurp_pipe(po[0], &n);
	ok(n == 8192 && !memcmp(got, a, 4096) && !memcmp(got + 4096, b, 4096), "both halves, in file order");
	ok(closed, "the guest closing stdout is reported");

	/* After the command, a hole it left is its own: zeros. */
	w = open(out_path, O_WRONLY | O_CLOEXEC);
	if (pwrite(w, "z", 1, 16384) != 1)
		abort();
	close(w);
	is_int(share_drain(s, po[1], pe[1]), 0, "drain");
	got = slurp_pipe(po[0], &n);
	ok(n == 8193 && got[0] == 0 && got[8192] == 'z', "drain reads through holes to the end");

	char *err_path = path_join(dir, "stderr");
	int e = open(err_path, O_WRONLY | O_CLOEXEC);
	free(err_path);
	if (write(e, "err\n", 4) != 4)
		abort();
	close(e);
	share_pump(s, po[1], pe[1], &closed);
	got = slurp_pipe(pe[0], &n);
	ok(n == 4 && !memcmp(got, "err\n", 4), "stderr goes to its own stream");

	close(po[0]);
	is_int(share_drain(s, po[1], pe[1]), 0, "a host stream gone away is not an error");

	test_spool(s, tmp, dir);
	test_split_write(tmp);

	/* A stdin pipe that never ends, read whole first (a guest that cannot
	 * stream it): the run's deadline ends the wait. */
	int never[2];
	if (pipe2(never, O_CLOEXEC) < 0)
		abort();
	share_set_deadline(s, deadline_after(300 * USEC_PER_MSEC));
	usec_t t0 = now_usec();
	is_int(share_fill_stdin(s, never[0]), -ETIME, "a stdin pipe that never ends: -ETIME at the deadline");
	ok(now_usec() - t0 < 5 * USEC_PER_SEC, "and not later");
	/* A host stdout nobody reads: output stops at the deadline too. */
	int full[2];
	if (pipe2(full, O_CLOEXEC) < 0)
		abort();
	char junk[1 << 16] = {0};
	int out = open(out_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	for (int i = 0; i < 32; i++)
		write_full(out, junk, sizeof junk);
	close(out);
	share_set_deadline(s, deadline_after(300 * USEC_PER_MSEC));
	t0 = now_usec();
	is_int(share_drain(s, full[1], full[1]), -ETIME, "a blocked host stream: -ETIME at the deadline, no hang");
	ok(now_usec() - t0 < 5 * USEC_PER_SEC, "and not later");
	close(never[0]);
	close(never[1]);
	close(full[0]);
	close(full[1]);
	share_free(s);
	test_log(tmp);
	free(out_path);
	free(in_path);
	free(dir);
	rm_rf(tmp);
	return tap_done();
}
