#define _GNU_SOURCE
#include "smb.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/wait.h>

#include "proc.h"

#define SMB_RESTARTS_MAX 5

/* One direction of the relay: bytes read from `in`, not yet written to
 * `out`. */
struct half {
	char buf[256 * 1024];
	size_t start, end;
	bool eof;
};

struct smb {
	char *dir;	 /* smbd's private, lock, state and log directory */
	char *conf;	 /* smb.conf osrun wrote */
	char **env;	 /* nss_wrapper, when the user has no passwd entry */
	int qemu_fd;	 /* ours of the pair QEMU's guestfwd chardev has */
	int qemu_theirs; /* QEMU's, until QEMU has it */
	int smbd_fd;	 /* ours of the TCP pair smbd serves */
	pid_t pid;
	int pidfd;   /* smbd's, or -1 (no pidfd_open) */
	bool exited; /* smbd has, and its socket may not say so yet */
	int stop[2]; /* a byte here ends the relay */
	pthread_t relay;
	bool relay_running;
	struct half to_smbd, to_guest;
	/* NetBIOS session framing of the guest's stream: after smbd is
	 * restarted, the rest of a cut message is dropped, so the new smbd
	 * starts on a message boundary. */
	uint8_t hdr[4];
	size_t hdr_have;
	uint32_t msg_left;
	bool skipping;
	usec_t restarts[SMB_RESTARTS_MAX];
	unsigned n_restarts;
	unsigned ended; /* how often an smbd ended, for smb_ended() */
	int error;	/* why the relay gave up; 0 while it runs */
};

int smb_qemu_fd(const struct smb *s) { return s->qemu_theirs; }
void smb_qemu_fd_close(struct smb *s) { s->qemu_theirs = safe_close(s->qemu_theirs); }
int smb_error(const struct smb *s) { return __atomic_load_n(&s->error, __ATOMIC_ACQUIRE); }

unsigned smb_ended(const struct smb *s) { return __atomic_load_n(&s->ended, __ATOMIC_ACQUIRE); }

/* smbd looks up its force user and its guest account by name and gives up
 * without them, as under `docker run --user UID` with no passwd entry.
 * nss_wrapper then gives smbd alone both entries, from files next to its
 * configuration, and the system's files stay as they are. */
static const char *const nss_wrapper_paths[] = {
	"/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
	"/usr/lib64/libnss_wrapper.so",
	"/usr/lib/libnss_wrapper.so",
};

const char *smb_nss_wrapper(void)
{
	for (size_t i = 0; i < ELEMENTSOF(nss_wrapper_paths); i++)
		if (access(nss_wrapper_paths[i], R_OK) == 0)
			return nss_wrapper_paths[i];
	return NULL;
}

static int user_env(const char *dir, char ***env)
{
	_cleanup_free_ char *passwd = path_join(dir, "passwd"), *group = path_join(dir, "group"), *pw_line = NULL,
			    *gr_line = NULL, *e_lib = NULL, *e_pw = NULL, *e_gr = NULL;
	const char *lib = smb_nss_wrapper();
	if (!lib)
		return -EUSERS;
	if (!passwd || !group ||
	    /* smbd maps the guest's anonymous session to its guest account. */
	    asprintf(&pw_line,
		     "osrun:x:%u:%u:osrun:%s:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		     (unsigned)geteuid(), (unsigned)getegid(), dir) < 0 ||
	    asprintf(&gr_line, "osrun:x:%u:\nnogroup:x:65534:\n", (unsigned)getegid()) < 0 ||
	    asprintf(&e_lib, "LD_PRELOAD=%s", lib) < 0 || asprintf(&e_pw, "NSS_WRAPPER_PASSWD=%s", passwd) < 0 ||
	    asprintf(&e_gr, "NSS_WRAPPER_GROUP=%s", group) < 0)
		return -ENOMEM;
	int r = write_file_atomic(passwd, pw_line, strlen(pw_line), 0600);
	if (r == 0)
		r = write_file_atomic(group, gr_line, strlen(gr_line), 0600);
	if (r < 0)
		return r;
	const char *add[] = {e_lib, e_pw, e_gr};
	for (size_t i = 0; i < ELEMENTSOF(add); i++)
		if (!(*env = strv_append(*env, add[i])))
			return -ENOMEM;
	return 0;
}

/* smb.conf has no quoting: a value ends at the line's end and loses its
 * outer blanks, and a share name ends at ']'. Nor has it an escape for
 * '%': smbd expands %U, %m... in paths, and the guest chooses some of
 * them (a path "v%Uw" served "vguestw"). */
static bool conf_value_ok(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || v[0] == ' ' || v[n - 1] == ' ')
		return false;
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f || *v == '%')
			return false;
	return true;
}

static bool share_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > 64)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') || *n == '-' ||
		      *n == '_'))
			return false;
	return true;
}

/* What QEMU's smb= writes (net/slirp.c), plus: SMB2 or later only, no
 * NetBIOS, no link out of a share (wide links, Samba's default, said
 * explicitly), no POSIX extensions through which a guest could make one,
 * no multichannel (Samba's default since 4.15): every connection the
 * guest makes arrives on the one stream QEMU forwards, so a second channel
 * would be interleaved with the first; and no oplocks or leases: holding
 * one, a client may cache writes and reads (MS-SMB2 3.3.1.4, 3.2.1.5), so
 * a Windows command's output would arrive late and a growing stdin would
 * look finished. */
static int conf_write(struct smb *s, const char *user, const struct smb_share *shares, size_t n)
{
	_cleanup_free_ char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	const char *d = s->dir;
	fprintf(f,
		"[global]\n"
		"private dir = %s\nlock directory = %s\nstate directory = %s\ncache directory = %s\n"
		"pid directory = %s\nncalrpc dir = %s/ncalrpc\nlog file = %s/log.smbd\n"
		"smb passwd file = %s/smbpasswd\n"
		"security = user\nmap to guest = Bad User\nserver role = standalone server\n"
		"server min protocol = SMB2_02\ndisable netbios = yes\nsmb ports = 445\n"
		"interfaces = 127.0.0.1\nbind interfaces only = yes\nserver multi channel support = no\n"
		"load printers = no\nprinting = bsd\ndisable spoolss = yes\nusershare max shares = 0\n"
		"unix extensions = no\nwide links = no\nallow insecure wide links = no\nsmb2 leases = no\n",
		d, d, d, d, d, d, d, d);
	for (size_t i = 0; i < n; i++)
		fprintf(f,
			"[%s]\npath = %s\nread only = %s\nguest ok = yes\nforce user = %s\noplocks = no\n"
			"level2 oplocks = no\n",
			shares[i].name, shares[i].path, shares[i].read_only ? "yes" : "no", user);
	if (fclose(f) != 0)
		return -ENOMEM;
	return write_file_atomic(s->conf, text, size, 0600);
}

/* A connected loopback TCP pair, both ends TCP_NODELAY: smbd will not
 * serve a UNIX socket (get_remote_hostname() needs an inet peer, seen in
 * log.smbd), so it gets a TCP end. The listener lives only until our own
 * connection is accepted; anyone else who connects in that moment is
 * recognised by address and closed. */
static int tcp_pair(int *ret_ours, int *ret_theirs)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}, mine, peer;
	socklen_t len = sizeof a;
	_cleanup_close_ int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	_cleanup_close_ int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || c < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		return -errno;
	len = sizeof mine;
	if (getsockname(c, (struct sockaddr *)&mine, &len) < 0)
		return -errno;
	for (int i = 0; i < 16; i++) {
		len = sizeof peer;
		_cleanup_close_ int t = accept4(l, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (t < 0)
			return -errno;
		if (peer.sin_port != mine.sin_port || peer.sin_addr.s_addr != mine.sin_addr.s_addr)
			continue;
		int one = 1;
		if (setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
		    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 || fcntl(c, F_SETFL, O_NONBLOCK) < 0)
			return -errno;
		*ret_ours = TAKE_FD(c);
		*ret_theirs = TAKE_FD(t);
		return 0;
	}
	return -EADDRINUSE;
}

const char *smb_binary(void)
{
	const char *e = getenv("OSRUN_SMBD");
	if (e && *e)
		return e;
	/* Debian's place, and the default QEMU was built with; /usr/sbin is
	 * often not on a user's PATH. */
	return access("/usr/sbin/smbd", X_OK) == 0 ? "/usr/sbin/smbd" : "smbd";
}

/* smbd with its socket on stdin serves that one connection (inetd mode, as
 * QEMU's smb= starts it); -l is its log directory. */
static int smbd_spawn(struct smb *s)
{
	_cleanup_close_ int theirs = -1;
	int r = tcp_pair(&s->smbd_fd, &theirs);
	if (r < 0)
		return r;
	char *argv[] = {(char *)smb_binary(), "-l", s->dir, "-s", s->conf, NULL};
	struct proc_spec spec = {
		.argv = argv,
		.setenv = s->env,
		.stdin_fd = theirs,
		.stdout_fd = theirs,
		.stderr_fd = -1,
		.own_pgroup = true,
		.die_with_parent = true,
	};
	r = proc_spawn(&spec, &s->pid);
	if (r < 0)
		return r;
	/* Without pidfds (valgrind) its end shows on the socket alone. */
	int fd = proc_pidfd(s->pid);
	if (fd < 0 && fd != -ENOSYS)
		return fd;
	s->pidfd = fd < 0 ? -1 : fd;
	s->exited = false;
	return 0;
}

static void smbd_stop(struct smb *s)
{
	s->smbd_fd = safe_close(s->smbd_fd);
	s->pidfd = safe_close(s->pidfd);
	if (s->pid > 0)
		proc_kill_and_reap(s->pid, 0);
	s->pid = 0;
}

/* Advances the guest stream's framing over up to n bytes; with
 * to_boundary, stops at the end of the message being skipped and clears
 * skipping there. Returns how many bytes it went over. */
static size_t frame_step(struct smb *s, const uint8_t *p, size_t n, bool to_boundary)
{
	size_t i = 0;
	while (i < n) {
		if (s->msg_left > 0) {
			size_t k = n - i < s->msg_left ? n - i : s->msg_left;
			s->msg_left -= (uint32_t)k;
			i += k;
		} else {
			s->hdr[s->hdr_have++] = p[i++];
			if (s->hdr_have == 4) {
				/* RFC 1002 session message: type, 24-bit length */
				s->msg_left = (uint32_t)s->hdr[1] << 16 | (uint32_t)s->hdr[2] << 8 | s->hdr[3];
				s->hdr_have = 0;
			}
		}
		if (to_boundary && s->msg_left == 0 && s->hdr_have == 0) {
			s->skipping = false;
			break;
		}
	}
	return i;
}

/* smbd ended (the guest logged off, or it refused what it got): a new one
 * takes over at the next message boundary, so the guest never finds the
 * server gone. Too many restarts in a short time: give up. */
static int smbd_restart(struct smb *s)
{
	smbd_stop(s);
	__atomic_add_fetch(&s->ended, 1, __ATOMIC_RELEASE);
	usec_t now = now_usec();
	if (s->n_restarts == SMB_RESTARTS_MAX) {
		if (now - s->restarts[0] < 10 * USEC_PER_SEC)
			return -ECONNRESET;
		memmove(s->restarts, s->restarts + 1, sizeof s->restarts[0] * (SMB_RESTARTS_MAX - 1));
		s->n_restarts--;
	}
	s->restarts[s->n_restarts++] = now;
	s->to_guest.start = s->to_guest.end = 0;
	s->to_guest.eof = false;
	s->skipping = s->msg_left > 0 || s->hdr_have > 0;
	return smbd_spawn(s);
}

static size_t half_pending(const struct half *h) { return h->end - h->start; }

static size_t half_room(struct half *h)
{
	if (h->start == h->end)
		h->start = h->end = 0;
	else if (h->end == sizeof h->buf && h->start > 0) {
		memmove(h->buf, h->buf + h->start, h->end - h->start);
		h->end -= h->start;
		h->start = 0;
	}
	return sizeof h->buf - h->end;
}

/* -EAGAIN: nothing now; 0: EOF; else how many bytes. */
static ssize_t half_fill(struct half *h, int fd)
{
	ssize_t n = read(fd, h->buf + h->end, half_room(h));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? -EAGAIN : -errno;
	h->end += (size_t)n;
	return n;
}

static int half_flush(struct half *h, int fd, size_t max, size_t *ret_written)
{
	size_t n = half_pending(h) < max ? half_pending(h) : max;
	ssize_t w = n ? write(fd, h->buf + h->start, n) : 0;
	if (w < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	h->start += (size_t)w;
	if (ret_written)
		*ret_written = (size_t)w;
	return 0;
}

/* Guest bytes to smbd, through the framing; a cut message is dropped. */
static int to_smbd_flush(struct smb *s)
{
	struct half *h = &s->to_smbd;
	while (s->skipping && half_pending(h))
		h->start += frame_step(s, (uint8_t *)h->buf + h->start, half_pending(h), true);
	const uint8_t *from = (uint8_t *)h->buf + h->start;
	size_t w = 0;
	int r = half_flush(h, s->smbd_fd, SIZE_MAX, &w);
	frame_step(s, from, w, false);
	return r;
}

/* A peer that hung up while the half it feeds is full: poll reports that
 * at once every time, whatever was asked, so it must end the wait; what it
 * left unread cannot be relayed anyway. */
static bool hung_up_full(const struct pollfd *p, struct half *into)
{
	return (p->revents & (POLLHUP | POLLERR | POLLRDHUP)) && !half_room(into);
}

static int relay_step(struct smb *s, const struct pollfd *p)
{
	ssize_t n;
	if (hung_up_full(&p[1], &s->to_smbd))
		return 1; /* QEMU is gone */
	if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && half_room(&s->to_smbd)) {
		if ((n = half_fill(&s->to_smbd, s->qemu_fd)) == 0 || (n < 0 && n != -EAGAIN))
			return n == 0 ? 1 : (int)n; /* QEMU is gone */
	}
	if (p[1].revents & POLLOUT) {
		int r = half_flush(&s->to_guest, s->qemu_fd, SIZE_MAX, NULL);
		if (r < 0)
			return r == -EPIPE || r == -ECONNRESET ? 1 : r;
	}
	bool smbd_gone = hung_up_full(&p[2], &s->to_guest);
	if (!smbd_gone && (p[2].revents & (POLLIN | POLLHUP | POLLERR)) && half_room(&s->to_guest)) {
		n = half_fill(&s->to_guest, s->smbd_fd);
		smbd_gone = n == 0 || (n < 0 && n != -EAGAIN);
	}
	if (!smbd_gone && half_pending(&s->to_smbd))
		smbd_gone = to_smbd_flush(s) < 0;
	/* Its close waits behind what it sent, in a window the guest keeps
	 * shut: its exit is all there is to see. With room, its last bytes
	 * and then its end come through the socket. */
	s->exited |= p[3].revents != 0;
	if (s->exited && !half_room(&s->to_guest))
		smbd_gone = true;
	return smbd_gone ? smbd_restart(s) : 0;
}

static void *relay_main(void *arg)
{
	struct smb *s = arg;
	int r = 0;
	while (r == 0) {
		/* POLLRDHUP even when a half is full: an smbd that ended while
		 * the guest did not read is noticed (smb_ended) and replaced. */
		struct pollfd p[4] = {
			{.fd = s->stop[0], .events = POLLIN},
			{.fd = s->qemu_fd,
			 .events = (short)(POLLRDHUP | (half_room(&s->to_smbd) ? POLLIN : 0) |
					   (half_pending(&s->to_guest) ? POLLOUT : 0))},
			{.fd = s->smbd_fd,
			 .events = (short)(POLLRDHUP | (half_room(&s->to_guest) ? POLLIN : 0) |
					   (half_pending(&s->to_smbd) ? POLLOUT : 0))},
			{.fd = s->exited ? -1 : s->pidfd, .events = POLLIN},
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (p[0].revents)
			break;
		r = relay_step(s, p);
	}
	if (r < 0) {
		/* QEMU's chardev sees the end: the guest gets no answers
		 * rather than wrong ones. */
		s->qemu_fd = safe_close(s->qemu_fd);
		__atomic_store_n(&s->error, r, __ATOMIC_RELEASE);
	}
	return NULL;
}

int smb_new(const char *dir, const struct smb_share *shares, size_t n_shares, struct smb **ret)
{
	for (size_t i = 0; i < n_shares; i++)
		if (!share_name_ok(shares[i].name) || !conf_value_ok(shares[i].path))
			return -EINVAL;
	struct passwd *pw = getpwuid(geteuid());
	/* Forced to be smbd's guest account as well, the guest's session may
	 * not write (measured: EACCES on every create). */
	if (pw && !strcmp(pw->pw_name, "nobody"))
		return -EPERM;
	_cleanup_(smb_freep) struct smb *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->qemu_fd = s->qemu_theirs = s->smbd_fd = s->pidfd = s->stop[0] = s->stop[1] = -1;
	/* One directory per VM: a build boots several in one run directory. */
	s->dir = path_join(dir, "smb.XXXXXX");
	if (!s->dir)
		return -ENOMEM;
	if (!mkdtemp(s->dir))
		return -errno;
	/* smbd's own directories are values too. */
	if (!conf_value_ok(s->dir))
		return -EINVAL;
	if (!(s->conf = path_join(s->dir, "smb.conf")))
		return -ENOMEM;
	int r = 0, q[2];
	if (!pw)
		r = user_env(s->dir, &s->env);
	if (r == 0 && pw && !conf_value_ok(pw->pw_name))
		r = -EINVAL;
	if (r == 0)
		r = conf_write(s, pw ? pw->pw_name : "osrun", shares, n_shares);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q) < 0)
		return -errno;
	s->qemu_fd = q[0];
	s->qemu_theirs = q[1];
	if (fcntl(s->qemu_fd, F_SETFL, O_NONBLOCK) < 0 || pipe2(s->stop, O_CLOEXEC) < 0)
		return -errno;
	/* smbd starts now, while QEMU starts and loads the state, not when
	 * the guest first asks. */
	if ((r = smbd_spawn(s)) < 0)
		return r;
	if ((r = -pthread_create(&s->relay, NULL, relay_main, s)) < 0)
		return r;
	s->relay_running = true;
	*ret = TAKE_PTR(s);
	return 0;
}

struct smb *smb_free(struct smb *s)
{
	if (!s)
		return NULL;
	if (s->relay_running) {
		(void)!write(s->stop[1], "x", 1);
		pthread_join(s->relay, NULL);
	}
	smbd_stop(s);
	safe_close(s->qemu_fd);
	safe_close(s->qemu_theirs);
	safe_close(s->stop[0]);
	safe_close(s->stop[1]);
	free(s->dir);
	free(s->conf);
	strv_free(s->env);
	free(s);
	return NULL;
}
