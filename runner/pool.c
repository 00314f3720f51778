#define _GNU_SOURCE
#include "pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/fdpass.h"
#include "lib/log.h"

static void add_string(json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static void encode_copies(json_object *o, const char *k, const struct run_copy *c, size_t n)
{
	if (!n)
		return;
	json_object *arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		json_object *pair = json_object_new_array();
		json_object_array_add(pair, json_object_new_string(c[i].host));
		json_object_array_add(pair, json_object_new_string(c[i].guest));
		json_object_array_add(arr, pair);
	}
	json_object_object_add(o, k, arr);
}

int pool_request_encode(const struct run_plan *p, char **ret, size_t *ret_len)
{
	json_object *o = json_object_new_object(), *env = json_object_new_array();
	if (!o || !env) {
		json_object_put(o);
		json_object_put(env);
		return -ENOMEM;
	}
	json_object_object_add(o, "version", json_object_new_int(POOL_PROTOCOL_VERSION));
	add_string(o, "snapshot", p->snapshot);
	add_string(o, "command", p->command);
	for (char **v = p->env; v && *v; v++)
		json_object_array_add(env, json_object_new_string(*v));
	json_object_object_add(o, "env", env);
	add_string(o, "workdir", p->workdir);
	json_object_object_add(o, "timeout_us", json_object_new_uint64(p->timeout));
	json_object_object_add(o, "memory_mib", json_object_new_int64(p->memory_mib));
	if (p->share_limit_mib)
		json_object_object_add(o, "share_limit_mib", json_object_new_int64(p->share_limit_mib));
	json_object_object_add(o, "no_stdin", json_object_new_boolean(p->no_stdin));
	json_object_object_add(o, "verbose", json_object_new_int(p->verbose));
	if (p->op != RUN_OP_COMMAND)
		json_object_object_add(o, "op", json_object_new_string(p->op == RUN_OP_COPY ? "copy" : "stop"));
	add_string(o, "new_snapshot", p->new_snapshot);
	encode_copies(o, "copy_in", p->copy_in, p->n_copy_in);
	encode_copies(o, "copy_out", p->copy_out, p->n_copy_out);
	size_t n;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
	char *copy = s ? strndup(s, n) : NULL;
	json_object_put(o);
	if (!copy)
		return -ENOMEM;
	if (n > POOL_REQUEST_MAX) {
		free(copy);
		return -E2BIG;
	}
	*ret = copy;
	*ret_len = n;
	return 0;
}

/* A member of o of type t, or NULL. */
static json_object *member(json_object *o, const char *k, json_type t)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, t) ? v : NULL;
}

static const char *string_member(json_object *o, const char *k)
{
	json_object *v = member(o, k, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

static int decode_copies(json_object *o, const char *k, struct run_copy *c, size_t *n)
{
	json_object *arr = member(o, k, json_type_array);
	size_t len = arr ? json_object_array_length(arr) : 0;
	if (len > RUN_COPIES_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		json_object *pair = json_object_array_get_idx(arr, i), *h, *g;
		if (!json_object_is_type(pair, json_type_array) || json_object_array_length(pair) != 2 ||
		    !json_object_is_type(h = json_object_array_get_idx(pair, 0), json_type_string) ||
		    !json_object_is_type(g = json_object_array_get_idx(pair, 1), json_type_string))
			return -EBADMSG;
		c[i] = (struct run_copy){.host = strdup(json_object_get_string(h)),
					 .guest = strdup(json_object_get_string(g))};
		(*n)++;
		if (!c[i].host || !c[i].guest)
			return -ENOMEM;
	}
	return 0;
}

static int decode_op(json_object *o, struct run_plan *p)
{
	const char *op = string_member(o, "op");
	p->op = !op || !strcmp(op, "run") ? RUN_OP_COMMAND
		: !strcmp(op, "copy")	  ? RUN_OP_COPY
		: !strcmp(op, "stop")	  ? RUN_OP_STOP
					  : -1;
	if ((int)p->op < 0)
		return -EBADMSG;
	p->new_snapshot = string_member(o, "new_snapshot");
	int r = decode_copies(o, "copy_in", p->copy_in, &p->n_copy_in);
	return r < 0 ? r : decode_copies(o, "copy_out", p->copy_out, &p->n_copy_out);
}

static int decode_plan(json_object *o, struct run_plan *p)
{
	json_object *v = member(o, "version", json_type_int), *env = member(o, "env", json_type_array),
		    *timeout = member(o, "timeout_us", json_type_int), *mem = member(o, "memory_mib", json_type_int),
		    *no_stdin = member(o, "no_stdin", json_type_boolean),
		    *verbose = member(o, "verbose", json_type_int);
	const char *command = string_member(o, "command");
	int r = decode_op(o, p);
	if (r < 0)
		return r;
	if (!v || json_object_get_int(v) != POOL_PROTOCOL_VERSION || !env || !timeout || !mem || !no_stdin ||
	    !verbose || (p->op == RUN_OP_COMMAND && (!command || !*command)))
		return -EBADMSG;
	int64_t m = json_object_get_int64(mem);
	if (m < 0 || m > (1 << 20))
		return -EBADMSG;
	p->snapshot = string_member(o, "snapshot");
	p->workdir = string_member(o, "workdir");
	p->timeout = json_object_get_uint64(timeout);
	p->memory_mib = (unsigned)m;
	json_object *limit = member(o, "share_limit_mib", json_type_int);
	int64_t l = limit ? json_object_get_int64(limit) : 0;
	if (l < 0 || l > (1 << 24))
		return -EBADMSG;
	p->share_limit_mib = (unsigned)l;
	p->no_stdin = json_object_get_boolean(no_stdin);
	p->verbose = json_object_get_int(verbose);
	if (!p->snapshot || (command && !(p->command = strdup(command))))
		return -EBADMSG;
	for (size_t i = 0; i < json_object_array_length(env); i++) {
		json_object *e = json_object_array_get_idx(env, i);
		const char *s = json_object_is_type(e, json_type_string) ? json_object_get_string(e) : NULL;
		if (!s || !strchr(s, '=') || s[0] == '=')
			return -EBADMSG;
		if (!(p->env = strv_append(p->env, s)))
			return -ENOMEM;
	}
	return 0;
}

int pool_request_decode(const char *buf, size_t len, struct pool_request *ret)
{
	if (len == 0 || len > POOL_REQUEST_MAX || memchr(buf, 0, len))
		return -EBADMSG;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	bool whole = json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == len;
	json_tokener_free(tok);
	struct pool_request r = {.root = o};
	int k = o && whole && json_object_is_type(o, json_type_object) ? decode_plan(o, &r.plan) : -EBADMSG;
	if (k < 0) {
		pool_request_release(&r);
		return k;
	}
	*ret = r;
	return 0;
}

void pool_request_release(struct pool_request *r)
{
	run_plan_release(&r->plan);
	json_object_put(r->root);
	*r = (struct pool_request){0};
}

static int socket_address(const char *path, struct sockaddr_un *ret)
{
	*ret = (struct sockaddr_un){.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof ret->sun_path)
		return -ENAMETOOLONG;
	memcpy(ret->sun_path, path, n + 1);
	return 0;
}

bool pool_running(const char *root, const char *name)
{
	_cleanup_free_ char *sock = store_pool_socket(root, name), *lp = NULL;
	if (!sock || asprintf(&lp, "%s.lock", sock) < 0)
		return false;
	_cleanup_close_ int fd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

int pool_listen(const char *path, int *ret_fd, int *ret_lock)
{
	struct sockaddr_un sa;
	int r = socket_address(path, &sa);
	if (r < 0)
		return r;
	/* A pool holds its lock for its life: asking a live pool by
	 * connecting would hand it a client that says nothing, and a warm
	 * clone would be spent on it. */
	_cleanup_close_ int lock = -1;
	if (ret_lock) {
		_cleanup_free_ char *lp = NULL;
		if (asprintf(&lp, "%s.lock", path) < 0)
			return -ENOMEM;
		if ((lock = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
			return -errno;
		if (flock(lock, LOCK_EX | LOCK_NB) < 0)
			return errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
	}
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		if (errno != EADDRINUSE)
			return -errno;
		/* With the lock, the socket file is a dead pool's. Without: a
		 * live owner answers; a dead one's socket file is stale. */
		_cleanup_close_ int probe = ret_lock ? -1 : socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0)
			return -EADDRINUSE;
		if (unlink(path) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
			return -errno;
	}
	if (listen(fd, 64) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	if (ret_lock)
		*ret_lock = TAKE_FD(lock);
	return 0;
}

bool pool_alive(const char *path)
{
	_cleanup_free_ char *lp = NULL;
	if (asprintf(&lp, "%s.lock", path) < 0)
		return false;
	_cleanup_close_ int fd = open(lp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

void pool_send_exit(int conn, int code)
{
	char m[1 + sizeof(int)] = {POOL_MSG_EXIT};
	memcpy(m + 1, &code, sizeof code);
	fdpass_send(conn, m, sizeof m, NULL, 0);
}

/* Connected to the socket at path, with the request sent. */
static int pool_connect(const char *path, const struct run_plan *p, int *ret_fd)
{
	struct sockaddr_un sa;
	if (!path || socket_address(path, &sa) < 0)
		return -EAGAIN;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -EAGAIN; /* no pool: the usual case */
	_cleanup_free_ char *req = NULL;
	size_t len;
	int fds[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
	if (pool_request_encode(p, &req, &len) < 0 || fdpass_send(fd, req, len, fds, 3) < 0)
		return -EAGAIN;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int interrupted_by(int sig, const char *how, struct error *e)
{
	error_set(e, -ECANCELED, "interrupted by SIG%s%s", signal_name(sig), how);
	e->signal = sig;
	return -ECANCELED;
}

int pool_run(const struct run_plan *p, int *ret_status, struct error *e)
{
	_cleanup_free_ char *root = p->cache ? strdup(p->cache) : store_default_root();
	_cleanup_free_ char *path = root ? store_pool_socket(root, p->snapshot) : NULL;
	return pool_run_socket(path, p, ret_status, e);
}

int pool_run_socket(const char *path, const struct run_plan *p, int *ret_status, struct error *e)
{
	_cleanup_close_ int fd = -1;
	if (pool_connect(path, p, &fd) < 0)
		return -EAGAIN;
	int forwarded = 0;  /* a signal passed on to the member */
	bool taken = false; /* a member has the command: it must answer */
	usec_t deadline = USEC_INFINITY;
	for (;;) {
		struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = cancel_fd_get(), .events = POLLIN}};
		int k = poll(pf, 2, deadline_to_poll_ms(deadline));
		if (k < 0 && errno != EINTR)
			return error_errno(e, -errno, "poll");
		if (k == 0)
			return interrupted_by(forwarded, "; the pool's clone did not stop within 30 s", e);
		struct signalfd_siginfo si;
		if ((pf[1].revents & POLLIN) && read(cancel_fd_get(), &si, sizeof si) == sizeof si) {
			forwarded = (int)si.ssi_signo;
			char m[2] = {POOL_MSG_SIGNAL, (char)forwarded};
			fdpass_send(fd, m, 2, NULL, 0);
			deadline = deadline_after(30 * USEC_PER_SEC);
		}
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		_cleanup_free_ char *msg = NULL;
		size_t n;
		int r = fdpass_recv(fd, 16, &msg, &n, NULL, NULL);
		bool gone = r < 0 || n == 0;
		if (gone && forwarded)
			return interrupted_by(forwarded, "; the VM is stopped", e);
		if (gone && !taken) {
			log_debug("pool for '%s' closed the connection; restoring a clone here", p->snapshot);
			return -EAGAIN;
		}
		if (gone)
			return error_set(e, -ECONNRESET, "pool for '%s': its clone ended without an exit status",
					 p->snapshot);
		if (msg[0] == POOL_MSG_BUSY) {
			if (forwarded)
				return interrupted_by(forwarded, "", e);
			log_debug("pool for '%s' has no clone ready; restoring one here", p->snapshot);
			return -EAGAIN;
		}
		if (msg[0] == POOL_MSG_TAKEN) {
			taken = true;
			log_debug("running in a warm clone of pool '%s'", p->snapshot);
		} else if (msg[0] == POOL_MSG_EXIT && n >= 1 + sizeof(int)) {
			memcpy(ret_status, msg + 1, sizeof *ret_status);
			return 0;
		}
	}
}

static void *bridge_main(void *arg)
{
	struct pool_bridge *b = arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = b->conn, .events = POLLIN}, {.fd = b->stop, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (pf[1].revents)
			return NULL;
		char *msg = NULL;
		size_t n = 0;
		int r = fdpass_recv(b->conn, 16, &msg, &n, NULL, NULL);
		int sig = r < 0 || n == 0 ? SIGTERM : n == 2 && msg[0] == POOL_MSG_SIGNAL ? msg[1] : 0;
		free(msg);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
			kill(getpid(), sig);
		if (r < 0 || n == 0)
			return NULL;
	}
}

void pool_bridge_start(struct pool_bridge *b, int conn)
{
	*b = (struct pool_bridge){.conn = conn, .stop = eventfd(0, EFD_CLOEXEC)};
	b->running = b->stop >= 0 && pthread_create(&b->thread, NULL, bridge_main, b) == 0;
}

void pool_bridge_stop(struct pool_bridge *b)
{
	if (b->running) {
		uint64_t one = 1;
		if (write(b->stop, &one, sizeof one) < 0)
			pthread_cancel(b->thread);
		pthread_join(b->thread, NULL);
	}
	if (b->stop >= 0)
		close(b->stop);
	b->running = false;
	b->stop = -1;
}

/* How long a connected client has to send its request. */
#define REQUEST_TIMEOUT (10 * USEC_PER_SEC)

int pool_request_accept(int conn, struct pool_request *ret)
{
	_cleanup_free_ char *buf = NULL;
	size_t len, nfds = 0; /* fd_wait never returns 0, but cppcheck cannot know */
	int fds[FDPASS_MAX_FDS];
	/* A client sends its request as it connects; one that says nothing
	 * must not hold a clone. */
	int r = fd_wait(conn, POLLIN, deadline_after(REQUEST_TIMEOUT));
	if (r > 0)
		r = fdpass_recv(conn, POOL_REQUEST_MAX, &buf, &len, fds, &nfds);
	if (r == 0 && nfds != 3) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		r = -EBADMSG;
	}
	if (r < 0)
		return -ENOTCONN;
	for (int i = 0; i < 3; i++) {
		dup2(fds[i], i);
		close(fds[i]);
	}
	char m[1] = {POOL_MSG_TAKEN};
	fdpass_send(conn, m, 1, NULL, 0);
	return pool_request_decode(buf, len, ret);
}
