#define _GNU_SOURCE
#include "share.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

enum { OUT, ERR, N_STREAMS };
static const char *const stream_file[N_STREAMS] = {"stdout", "stderr"};

struct share {
	char *dir;
	int ino;
	int fd[N_STREAMS];
	off_t pos[N_STREAMS];
	int in_fd; /* the stdin file, while osrun streams into it */
	bool host_gone[N_STREAMS];
	bool host_is_file[N_STREAMS];
	usec_t deadline;   /* writes to the host's streams wait until then */
	usec_t next_usage; /* when to count the share's bytes again */
	uint64_t limit;	   /* bytes the guest may keep in the share */
	int log_fd;	   /* a file that gets a copy of both streams, or -1 */
	uint64_t log_left; /* what it may still take: the guest decides how much it writes */
};

int share_fd(const struct share *s) { return s->ino; }

static int create_empty(const char *dir, const char *name, int flags, int *ret_fd)
{
	_cleanup_free_ char *p = path_join(dir, name);
	if (!p)
		return -ENOMEM;
	/* 0666: the guest side is smbd, running as us, but it must be able to
	 * open them whatever its own umask view is. */
	int fd = open(p, O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | flags, 0666);
	if (fd < 0)
		return -errno;
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return 0;
}

int share_new(const char *dir, struct share **ret)
{
	if (mkdir(dir, 0700) < 0)
		return -errno;
	_cleanup_(share_freep) struct share *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->ino = -1;
	s->fd[OUT] = s->fd[ERR] = s->in_fd = -1;
	s->deadline = USEC_INFINITY;
	s->log_fd = -1;
	s->limit = SHARE_LIMIT_DEFAULT;
	s->dir = strdup(dir);
	int r = s->dir ? 0 : -ENOMEM;
	if (r == 0)
		r = create_empty(dir, "stdin", O_WRONLY, NULL);
	for (int i = 0; r == 0 && i < N_STREAMS; i++)
		r = create_empty(dir, stream_file[i], O_RDWR, &s->fd[i]);
	if (r == 0) {
		/* Watching starts after creating them: their own creation must
		 * not look like output. */
		s->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (s->ino < 0 || inotify_add_watch(s->ino, dir, IN_MODIFY | IN_CLOSE_WRITE) < 0)
			r = -errno;
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

struct share *share_free(struct share *s)
{
	if (!s)
		return NULL;
	for (int i = 0; i < N_STREAMS; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->ino >= 0)
		close(s->ino);
	safe_close(s->in_fd);
	free(s->dir);
	free(s);
	return NULL;
}

int share_fill_stdin(struct share *s, int fd)
{
	_cleanup_free_ char *p = path_join(s->dir, "stdin");
	if (!p)
		return -ENOMEM;
	_cleanup_close_ int out = open(p, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
	if (out < 0)
		return -errno;
	/* A pipe may never end (ssh host osrun CMD): the deadline and signals
	 * end the wait. */
	struct stat st;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		int r = copy_stream(fd, out, s->deadline, NULL);
		return r == -ETIMEDOUT ? -ETIME : r;
	}
	return copy_fd_range(fd, out, NULL);
}

int share_stdin_feed(struct share *s, int fd, bool *ret_ended)
{
	if (s->in_fd < 0) {
		_cleanup_free_ char *p = path_join(s->dir, "stdin");
		if (!p)
			return -ENOMEM;
		if ((s->in_fd = open(p, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)) < 0)
			return -errno;
	}
	char buf[1 << 16];
	ssize_t k = read(fd, buf, sizeof buf);
	if (k < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	*ret_ended = k == 0;
	if (k == 0)
		return share_stdin_end(s);
	return write_full(s->in_fd, buf, (size_t)k);
}

int share_stdin_end(struct share *s)
{
	/* After the last byte: the guest reads to the end once more when it
	 * sees this. */
	s->in_fd = safe_close(s->in_fd);
	return create_empty(s->dir, "stdin.end", O_WRONLY, NULL);
}

/* A host stream that blocks (a pipe nobody reads, a stopped terminal) must
 * not hold osrun past its timeout or a signal: a pipe or terminal is
 * written PIPE_BUF bytes at a time once poll says there is room, which a
 * write then never blocks on. A file is written whole. */
static int host_write(struct share *s, int i, int fd, const char *buf, size_t n)
{
	if (s->host_is_file[i])
		return write_full(fd, buf, n);
	while (n > 0) {
		/* Room now is used even after a signal: output is not lost for
		 * nothing on the way out. */
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		int r = poll(&pf, 1, 0) == 1 ? 1 : fd_wait(fd, POLLOUT, s->deadline);
		if (r == -ETIMEDOUT)
			return -ETIME;
		if (r < 0)
			return r;
		ssize_t k = write(fd, buf, n < PIPE_BUF ? n : PIPE_BUF);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0)
			return -errno;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

static int log_copy(struct share *s, const char *buf, size_t n)
{
	if (s->log_fd < 0 || s->log_left == 0)
		return 0;
	static const char cut[] =
		"\n[osrun: the rest of the output is not kept: over " STRINGIFY(SHARE_LOG_MAX_MIB) " MiB]\n";
	size_t take = n < s->log_left ? n : (size_t)s->log_left;
	s->log_left -= take;
	int r = write_full(s->log_fd, buf, take);
	if (r >= 0 && s->log_left == 0)
		r = write_full(s->log_fd, cut, sizeof cut - 1);
	return r;
}

/* The guest's SMB client may have several writes of one stream in flight,
 * and smbd completes them in any order: until the command has exited, a
 * region past a hole is not trusted, since the hole is a write still on its
 * way. Once it has exited, a hole is the guest's own (a sparse write). */
static int copy_new(struct share *s, int i, int host_fd, bool final)
{
	struct stat st;
	if (fstat(s->fd[i], &st) < 0)
		return -errno;
	/* A guest can make its stdout huge for free (a sparse truncate). */
	if (st.st_size > s->pos[i] && (uint64_t)(st.st_size - s->pos[i]) > s->limit)
		return -EFBIG;
	off_t from = s->pos[i];
	struct stat hst;
	s->host_is_file[i] = fstat(host_fd, &hst) == 0 && S_ISREG(hst.st_mode);
	char buf[1 << 16];
	for (;;) {
		size_t want = sizeof buf;
		bool before_hole = false;
		if (!final) {
			off_t hole = lseek(s->fd[i], s->pos[i], SEEK_HOLE);
			struct stat fst;
			if (hole >= 0 && hole - s->pos[i] <= (off_t)want) {
				want = (size_t)(hole - s->pos[i]);
				before_hole = fstat(s->fd[i], &fst) == 0 && hole < fst.st_size;
			}
			if (want == 0)
				break;
		}
		ssize_t k = pread_retry(s->fd[i], buf, want, s->pos[i]);
		if (k < 0)
			return (int)k;
		/* A hole before the end is a write still on its way, and so may
		 * be the zeros just before it: the rest of a block whose first
		 * bytes came in another, earlier SMB write. They wait. (A gap
		 * smaller than a block leaves no hole to see: not caught.) */
		while (before_hole && k > 0 && buf[k - 1] == 0)
			k--;
		if (k == 0)
			break;
		s->pos[i] += k;
		int r = log_copy(s, buf, (size_t)k);
		if (r < 0)
			return r;
		if (s->host_gone[i])
			continue;
		r = host_write(s, i, host_fd, buf, (size_t)k);
		if (r == -EPIPE)
			s->host_gone[i] = true;
		else if (r < 0)
			return r;
	}
	/* What was passed on needs no disk: a long log costs the share only
	 * what is not read yet. (Not supported everywhere: then it stays.) */
	off_t end = s->pos[i] & ~(off_t)0xfff, start = from & ~(off_t)0xfff;
	if (end > start)
		(void)fallocate(s->fd[i], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, end - start);
	return 0;
}

int share_drain(struct share *s, int out_fd, int err_fd)
{
	int r = copy_new(s, OUT, out_fd, true);
	int k = copy_new(s, ERR, err_fd, true);
	return r < 0 ? r : k;
}

int share_pump(struct share *s, int out_fd, int err_fd, bool *ret_closed)
{
	bool closed = false;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t k = read(s->ino, buf, sizeof buf);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		for (char *p = buf; p < buf + k;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if ((e->mask & IN_CLOSE_WRITE) && e->len && !strcmp(e->name, stream_file[OUT]))
				closed = true;
			p += sizeof *e + e->len;
		}
	}
	int r = copy_new(s, OUT, out_fd, false);
	if (r == 0)
		r = copy_new(s, ERR, err_fd, false);
	if (r == 0)
		r = share_check_usage_due(s);
	if (r < 0)
		return r;
	if (ret_closed)
		*ret_closed = closed;
	return 0;
}

int share_reset(struct share *s)
{
	static const char *const files[] = {"stdin", "stdout", "stderr"};
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = path_join(s->dir, files[i]);
		if (!p)
			return -ENOMEM;
		if (truncate(p, 0) < 0)
			return -errno;
	}
	static const char *const markers[] = {"stdin.end",  "stdout.pump",  "stdout.done", "result",
					      "result.new", "request.json", "command.cmd"};
	for (size_t i = 0; i < ELEMENTSOF(markers); i++) {
		_cleanup_free_ char *p = path_join(s->dir, markers[i]);
		if (!p)
			return -ENOMEM;
		if (unlink(p) < 0 && errno != ENOENT)
			return -errno;
	}
	for (int i = 0; i < N_STREAMS; i++) {
		s->pos[i] = 0;
		s->host_gone[i] = false;
	}
	s->in_fd = safe_close(s->in_fd);
	/* Events of the last command and of these truncations are no output. */
	char buf[4096];
	while (read(s->ino, buf, sizeof buf) > 0)
		;
	return 0;
}

void share_set_deadline(struct share *s, usec_t deadline) { s->deadline = deadline; }

void share_set_limit(struct share *s, uint64_t bytes) { s->limit = bytes; }

void share_set_log(struct share *s, int fd)
{
	s->log_fd = fd;
	s->log_left = (uint64_t)SHARE_LOG_MAX_MIB << 20;
}

/* Bytes on disk below dfd; a tree deeper or wider than a run's share ever
 * is counts as over the limit. */
static int usage_at(int dfd, unsigned depth, uint64_t *bytes, unsigned *entries)
{
	if (depth > SHARE_DEPTH_MAX)
		return -EFBIG;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		safe_close(fd);
		return -errno;
	}
	rewinddir(d);
	int r = 0;
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		if (++*entries > SHARE_ENTRIES_MAX) {
			r = -EFBIG;
			break;
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		*bytes += (uint64_t)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode))
			continue;
		int c = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (c >= 0) {
			r = usage_at(c, depth + 1, bytes, entries);
			close(c);
		}
	}
	closedir(d);
	return r;
}

int share_check_usage(struct share *s, uint64_t *ret_bytes)
{
	_cleanup_close_ int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	uint64_t bytes = 0;
	unsigned entries = 0;
	int r = usage_at(fd, 0, &bytes, &entries);
	if (ret_bytes)
		*ret_bytes = bytes;
	if (r < 0)
		return r;
	return bytes > s->limit ? -EFBIG : 0;
}

int share_check_usage_due(struct share *s)
{
	if (now_usec() < s->next_usage)
		return 0;
	s->next_usage = deadline_after(USEC_PER_SEC);
	return share_check_usage(s, NULL);
}

bool share_has(const struct share *s, const char *name)
{
	_cleanup_free_ char *p = path_join(s->dir, name);
	struct stat st;
	return p && lstat(p, &st) == 0;
}

int share_wait_for(struct share *s, const char *name, usec_t timeout, int out_fd, int err_fd)
{
	usec_t deadline = deadline_after(timeout);
	while (!share_has(s, name)) {
		if (now_usec() >= deadline)
			return -ETIMEDOUT;
		struct pollfd pf[2] = {{.fd = s->ino, .events = POLLIN}, {.fd = cancel_fd_get(), .events = POLLIN}};
		if (poll(pf, 2, deadline_to_poll_ms(deadline)) < 0 && errno != EINTR)
			return -errno;
		if (pf[1].revents)
			return -ECANCELED;
		if (pf[0].revents)
			share_pump(s, out_fd, err_fd, NULL);
	}
	return 0;
}

int share_write_file(struct share *s, const char *name, const char *data)
{
	_cleanup_free_ char *p = path_join(s->dir, name);
	if (!p)
		return -ENOMEM;
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	return write_full(fd, data, strlen(data));
}

int share_read_file(struct share *s, const char *name, size_t max, char **ret, size_t *ret_n)
{
	_cleanup_free_ char *p = path_join(s->dir, name);
	return p ? read_file_untrusted(p, max, ret, ret_n) : -ENOMEM;
}
