#define _GNU_SOURCE
#include "diskfiles.h"

#include <fcntl.h>
#include <libnbd.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "ntfsread.h"
#include "parttable.h"
#include "proc.h"

/* One NBD request at most this large (qemu-nbd takes up to 32 MiB). */
#define NBD_CHUNK (4u << 20)
#define MSG_MAX 512

/* qemu-nbd serving the disk. */
struct server {
	pid_t pid;
	int err; /* its stderr: a pipe, non-blocking, so it never waits on us */
	char *sock;
};

static void server_stop(struct server *srv)
{
	/* With its one client gone it ends by itself; SIGTERM is its own
	 * clean stop when it has not. */
	if (srv->pid > 0)
		proc_kill_and_reap(srv->pid, 2 * USEC_PER_SEC);
	srv->pid = 0;
	if (srv->sock)
		unlink(srv->sock);
	free(srv->sock);
	srv->sock = NULL;
	srv->err = safe_close(srv->err);
}

/* qemu-nbd listens before it starts (socket activation): the reader's
 * connect needs no wait for it, and fails at once when it has exited. */
static int server_start(const struct diskfiles_spec *s, struct server *srv, struct error *e)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (!(srv->sock = path_join(s->sockdir, "nbd.sock")))
		return error_errno(e, -ENOMEM, "qemu-nbd");
	if (strlen(srv->sock) >= sizeof a.sun_path)
		return error_set(e, -ENAMETOOLONG, "%s: too long for a socket", srv->sock);
	memcpy(a.sun_path, srv->sock, strlen(srv->sock) + 1);
	_cleanup_close_ int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || (unlink(srv->sock) < 0 && errno != ENOENT) || bind(l, (struct sockaddr *)&a, sizeof a) < 0 ||
	    listen(l, 1) < 0)
		return error_errno(e, -errno, "%s", srv->sock);
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return error_errno(e, -errno, "qemu-nbd");
	srv->err = p[0];
	_cleanup_close_ int w = p[1];
	/* The format is named: the guest's data is never probed for one. */
	char *argv[] = {(char *)(s->qemu_nbd ? s->qemu_nbd : "qemu-nbd"),
			"--read-only",
			"--format=qcow2",
			"--shared=1",
			(char *)s->disk,
			NULL};
	struct proc_spec spec = {.argv = argv,
				 .stdin_fd = -1,
				 .stdout_fd = -1,
				 .stderr_fd = w,
				 .own_pgroup = true,
				 .die_with_parent = true,
				 .listen_fd = l};
	int r = proc_spawn(&spec, &srv->pid);
	if (r < 0)
		return error_errno(e, r, "running %s", argv[0]);
	return 0;
}

/* The first line a pipe holds ("" for none). */
static void pipe_first_line(int fd, char *out, size_t n)
{
	char buf[MSG_MAX];
	ssize_t k = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	buf[k > 0 ? k : 0] = '\0';
	char *line = buf + strspn(buf, "\n");
	line[strcspn(line, "\n")] = '\0';
	snprintf(out, n, "%s", line);
}

static int nbd_read(void *h, void *buf, size_t n, uint64_t off)
{
	for (size_t done = 0; done < n;) {
		size_t k = n - done < NBD_CHUNK ? n - done : NBD_CHUNK;
		if (nbd_pread(h, (char *)buf + done, k, off + done, 0) < 0)
			return nbd_get_errno() > 0 ? -nbd_get_errno() : -EIO;
		done += k;
	}
	return 0;
}

static void nbd_closep(struct nbd_handle **h) { nbd_close(*h); }

static int file_copy(struct ntfsread *v, const struct diskfile *f, const struct diskfiles_spec *s)
{
	char part[NAME_MAX + 1];
	snprintf(part, sizeof part, ".%s.part", f->name); /* names_check made room */
	unlinkat(s->dirfd, part, 0);
	_cleanup_close_ int fd = openat(s->dirfd, part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = ntfsread_copy(v, f->path, s->max, fd);
	if (r == 0 && renameat(s->dirfd, part, s->dirfd, f->name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat(s->dirfd, part, 0);
	return r;
}

/* The reader's work, in the child; msg says what failed. */
static int reader_copy(const struct diskfiles_spec *s, const char *sock, char *msg, size_t n)
{
	_cleanup_(nbd_closep) struct nbd_handle *h = nbd_create();
	if (!h || nbd_connect_unix(h, sock) < 0) {
		snprintf(msg, n, "connecting to qemu-nbd: %s", nbd_get_error());
		return nbd_get_errno() > 0 ? -nbd_get_errno() : -EIO;
	}
	int64_t size = nbd_get_size(h);
	if (size < 0) {
		snprintf(msg, n, "the disk's size: %s", nbd_get_error());
		return -EIO;
	}
	struct disk_reader d = {.read = nbd_read, .userdata = h, .size = (uint64_t)size};
	uint64_t off, len;
	int r = parttable_find_ntfs(&d, &off, &len);
	if (r < 0) {
		snprintf(msg, n, "%s", r == -ENOENT ? "no NTFS volume on the disk" : strerror(-r));
		return r;
	}
	_cleanup_(ntfsread_freep) struct ntfsread *v = NULL;
	if ((r = ntfsread_open(&d, off, len, &v)) < 0) {
		snprintf(msg, n, "the NTFS volume at byte %llu: %s", (unsigned long long)off, strerror(-r));
		return r;
	}
	int first = 0;
	for (const struct diskfile *f = s->files; f->path; f++) {
		r = file_copy(v, f, s);
		if (r < 0 && r != -ENOENT && !first) {
			snprintf(msg, n, "%s: %s", f->path, strerror(-r));
			first = r;
		}
	}
	nbd_shutdown(h, 0);
	return first;
}

static _Noreturn void reader_main(const struct diskfiles_spec *s, const char *sock, int msg_fd, pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(EIO);
	char msg[MSG_MAX] = "";
	int r = reader_copy(s, sock, msg, sizeof msg);
	if (r < 0)
		write_full(msg_fd, msg, strlen(msg));
	_exit(r >= 0 ? 0 : -r < 256 ? -r : EIO);
}

/* Runs the reader in a child under the deadline; msg gets its words. */
static int reader_run(const struct diskfiles_spec *s, const char *sock, char *msg, size_t n, struct error *e)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return error_errno(e, -errno, "reading the disk");
	_cleanup_close_ int rd = p[0];
	pid_t parent = getpid(), pid = fork();
	if (pid == 0)
		reader_main(s, sock, p[1], parent);
	int fork_errno = errno;
	close(p[1]);
	if (pid < 0)
		return error_errno(e, -fork_errno, "reading the disk");
	int st, r = proc_wait(pid, s->timeout, &st);
	if (r < 0) {
		proc_kill_and_reap(pid, 0);
		if (r == -ETIMEDOUT)
			return error_set(e, r, "reading the disk took over %.0f s", (double)s->timeout / USEC_PER_SEC);
		return r == -ECANCELED ? error_set(e, r, "reading the disk: interrupted")
				       : error_errno(e, r, "waiting for the disk's reader");
	}
	pipe_first_line(rd, msg, n);
	if (WIFSIGNALED(st))
		return error_set(e, -EIO, "the disk's reader died of SIG%s", signal_name(WTERMSIG(st)));
	if (WEXITSTATUS(st))
		return error_set(e, -WEXITSTATUS(st), "%s", *msg ? msg : strerror(WEXITSTATUS(st)));
	return 0;
}

/* Plain names, with room for their temporary ".NAME.part". */
static int names_check(const struct diskfile *files, struct error *e)
{
	for (const struct diskfile *f = files; f->path; f++)
		if (!*f->name || *f->name == '.' || strchr(f->name, '/') || strlen(f->name) > NAME_MAX - 6)
			return error_set(e, -EINVAL, "'%s': not a plain file name", f->name);
	return 0;
}

int diskfiles_copy(const struct diskfiles_spec *s, struct error *e)
{
	int r = names_check(s->files, e);
	if (r < 0)
		return r;
	_cleanup_(server_stop) struct server srv = {.err = -1};
	if ((r = server_start(s, &srv, e)) < 0)
		return r;
	char msg[MSG_MAX], said[MSG_MAX];
	r = reader_run(s, srv.sock, msg, sizeof msg, e);
	/* What a killed reader left half written goes. */
	for (const struct diskfile *f = s->files; f->path; f++) {
		char part[NAME_MAX + 1];
		snprintf(part, sizeof part, ".%s.part", f->name);
		unlinkat(s->dirfd, part, 0);
	}
	int err = TAKE_FD(srv.err);
	server_stop(&srv);
	/* qemu-nbd's words say why it could not serve the disk (a damaged
	 * qcow2, a missing backing file). */
	pipe_first_line(err, said, sizeof said);
	close(err);
	if (r < 0 && r != -ECANCELED && *said) {
		size_t k = strlen(e->msg);
		snprintf(e->msg + k, sizeof e->msg - k, " (%s)", said);
	}
	return r;
}
