/* A session's keeper: restores the snapshot as a run would, with the
 * session's volumes, and serves requests on the store's session socket
 * until `stop`, its idle limit or its lifetime ends it; QEMU is its child
 * and dies with it. A request is a pool request (pool.h) with an "op": a
 * command, copies, or the end. The keeper serves one at a time; a client
 * holds NAME.busy while its request runs, so a second one is refused at
 * once rather than left waiting. The guest's RAM is a copy of the
 * snapshot's from the start (as with -n), so that `stop -n` can save it. */
#define _GNU_SOURCE
#include "session-keeper.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>

#include "copy.h"
#include "lib/log.h"
#include "pool.h"
#include "session.h"

struct keeper {
	const char *name;
	usec_t idle_timeout, max_lifetime;
	usec_t end; /* when --max-lifetime is up */
	const struct serve_report *rep;
	struct warm w;
	int listen_fd;
	char *sock, *json, *busy, *log;
};

static void keeper_release(struct keeper *k)
{
	free(k->sock);
	free(k->json);
	free(k->busy);
	free(k->log);
}

/* What `session list` shows; once the guest is up, with where its screen
 * is served (vnc, novnc), for the client to say and for scripts. */
static char *session_json(const struct keeper *k, const struct run_plan *p)
{
	json_object *o = json_object_new_object();
	char started[32];
	time_t now = time(NULL);
	strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	json_object_object_add(o, "name", json_object_new_string(k->name));
	json_object_object_add(o, "snapshot", json_object_new_string(p->snapshot));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "started", json_object_new_string(started));
	json_object_object_add(o, "idle_timeout", json_object_new_int64((int64_t)(k->idle_timeout / USEC_PER_SEC)));
	json_object_object_add(o, "max_lifetime", json_object_new_int64((int64_t)(k->max_lifetime / USEC_PER_SEC)));
	_cleanup_free_ char *url = NULL;
	if (k->w.j.vnc)
		json_object_object_add(o, "vnc", json_object_new_string(k->w.j.vnc));
	if (k->w.j.novnc > 0 && asprintf(&url, "http://%s/vnc.html?autoconnect=1", p->novnc) > 0)
		json_object_object_add(o, "novnc", json_object_new_string(url));
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

static int session_json_write(int fd, const struct keeper *k, const struct run_plan *p)
{
	_cleanup_free_ char *text = session_json(k, p);
	if (!text || ftruncate(fd, 0) < 0 || pwrite(fd, text, strlen(text), 0) != (ssize_t)strlen(text))
		return -EIO;
	return 0;
}

/* Restores the guest and takes the session's files: NAME.json, flocked
 * for the keeper's life, says that it runs. */
static int keeper_open(struct keeper *k, const struct run_plan *p, int *ret_lock, struct error *e)
{
	_cleanup_close_ int lock = open(k->json, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0)
		return error_errno(e, -errno, "session '%s': %s", k->name, k->json);
	if (session_json_write(lock, k, p) < 0)
		return error_errno(e, -EIO, "session '%s': writing %s", k->name, k->json);
	_cleanup_close_ int busy = open(k->busy, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (busy < 0)
		return error_errno(e, -errno, "session '%s': %s", k->name, k->busy);
	int r = pool_listen(k->sock, &k->listen_fd, NULL);
	if (r < 0)
		return error_errno(e, r, "session '%s': listening on %s", k->name, k->sock);
	if ((r = run_warm_up(p, &k->w, e)) < 0)
		return r;
	if (p->vnc && session_json_write(lock, k, p) < 0)
		return error_errno(e, -EIO, "session '%s': writing %s", k->name, k->json);
	*ret_lock = TAKE_FD(lock);
	return 0;
}

/* Copies in, then out: the exit status reported; *ret_end when the
 * session must end (the copy was interrupted). */
static int keeper_copy(struct keeper *k, int conn, const struct run_plan *p, bool *ret_end)
{
	struct error e = {0};
	_cleanup_strv_free_ char **env = run_guest_env(p, &k->w);
	/* The client's Ctrl-C reaches the copy as it reaches a command. */
	struct pool_bridge b;
	pool_bridge_start(&b, conn);
	int r = env ? run_copy_in(p, &k->w, env, &e) : error_errno(&e, -ENOMEM, "environment");
	if (r == 0)
		r = run_copy_out(p, &k->w, env, &e);
	pool_bridge_stop(&b);
	*ret_end = r == -ECANCELED;
	return r < 0 ? k->rep->error(&e) : 0;
}

/* The end: with `stop -n`, the session saved as that snapshot first. A
 * name already taken is refused before anything stops, and the session
 * goes on (*ret_end false): saved, it could only be thrown away. */
static int keeper_stop(struct keeper *k, struct run_plan *p, bool *ret_end)
{
	struct error e = {0};
	*ret_end = true;
	if (!p->new_snapshot)
		return 0;
	_cleanup_(snapshot_freep) struct snapshot *taken = NULL;
	int r = snapshot_name_check(p->new_snapshot, NULL);
	if (r == 0)
		r = snapshot_open(k->w.j.store, p->new_snapshot, &taken);
	if (r != -ENOENT) {
		*ret_end = false;
		if (r == 0)
			error_set(&e, -EEXIST,
				  "snapshot '%s' already exists: session '%s' not stopped, it goes on (stop it with "
				  "another name, or after 'osrun snapshot rm %s')",
				  p->new_snapshot, k->name, p->new_snapshot);
		else
			error_errno(&e, r, "snapshot '%s': session '%s' not stopped, it goes on", p->new_snapshot,
				    k->name);
		return k->rep->error(&e);
	}
	free(p->command);
	p->command = NULL;
	if ((r = snapshot_new_rename(k->w.nsn, p->new_snapshot)) < 0 ||
	    asprintf(&p->command, "osrun session %s", k->name) < 0)
		return error_errno(&e, r < 0 ? r : -ENOMEM, "snapshot '%s'", p->new_snapshot), k->rep->error(&e);
	if (run_save_snapshot(p, &k->w, &e) == 0)
		return 0;
	/* Past the share's detach the session cannot go on: its smbd served
	 * the one connection the guest has just closed. */
	size_t n = strlen(e.msg);
	snprintf(e.msg + n, sizeof e.msg - n, "\nsession '%s' has ended, unsaved", k->name);
	return k->rep->error(&e);
}

/* Serves one request; 1 when the session ends with it. The client's fds
 * are ours while it runs (pool_request_accept), as in a pool's member. */
static int keeper_serve(struct keeper *k, int conn)
{
	_cleanup_(pool_request_release) struct pool_request req = {0};
	int r = pool_request_accept(conn, &req), code;
	if (r == -ENOTCONN)
		return 0;
	struct run_plan *p = &req.plan;
	bool end = false;
	if (r < 0) {
		struct error e = {0};
		code = (error_set(&e, r, "session: the request is not one this osrun understands"), k->rep->error(&e));
	} else if (p->op == RUN_OP_COMMAND) {
		/* Only `stop -n` saves a session. */
		p->new_snapshot = NULL;
		/* --max-lifetime holds during a command too: past it the command
		 * times out and the session ends. */
		usec_t left = k->end > now_usec() ? k->end - now_usec() : 1;
		if (k->end != USEC_INFINITY && (!p->timeout || p->timeout > left))
			p->timeout = left;
		/* Ctrl-C or the command's own --timeout stop the command and
		 * keep the session; --max-lifetime ends it all the same. */
		p->keep_on_interrupt = true;
		code = serve_command(conn, &k->w, p, true, k->rep, &end);
		end = end || (k->end != USEC_INFINITY && now_usec() >= k->end);
	} else if (p->op == RUN_OP_COPY) {
		code = keeper_copy(k, conn, p, &end);
	} else {
		code = keeper_stop(k, p, &end);
	}
	/* QEMU stops before the client hears that the session ended. */
	if (end)
		warm_release(&k->w);
	pool_send_exit(conn, code);
	return end;
}

/* Serves until the session ends: 0 when it was asked to or its time is
 * up, <0 when QEMU ended. */
static int keeper_loop(struct keeper *k)
{
	usec_t end = k->end = deadline_after(k->max_lifetime), idle = deadline_after(k->idle_timeout);
	for (;;) {
		struct error e = {0};
		int r = serve_wait(&k->w, k->listen_fd, idle < end ? idle : end, &e);
		struct signalfd_siginfo si;
		if (r == SERVE_CANCELLED) {
			if (read(cancel_fd_get(), &si, sizeof si) != sizeof si)
				return 0;
			/* A client's signal passed on (as the keeper itself) after
			 * its command had ended: not the session's end. */
			if (si.ssi_pid == (uint32_t)getpid())
				continue;
			log_info("session '%s': stopped by SIG%s", k->name, signal_name((int)si.ssi_signo));
			return 0;
		}
		if (r == -ETIME) {
			log_info("session '%s': %s reached, stopping", k->name,
				 now_usec() >= end ? "--max-lifetime" : "--idle-timeout");
			return 0;
		}
		if (r < 0) {
			log_warn("session '%s': %s", k->name, e.msg);
			return r;
		}
		_cleanup_close_ int conn = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		/* The keeper's own streams (its log) come back after each request. */
		int saved[3] = {dup(0), dup(1), dup(2)};
		int done = keeper_serve(k, conn);
		for (int i = 0; i < 3; i++) {
			if (saved[i] >= 0)
				dup2(saved[i], i);
			safe_close(saved[i]);
		}
		if (done)
			return 0;
		idle = deadline_after(k->idle_timeout);
	}
}

/* The keeper process: says "R" on ready_fd once the guest is ready, or why
 * it could not be, then serves until the session ends. */
static int keeper_main(struct keeper *k, const struct run_plan *p, int ready_fd)
{
	struct error e = {0};
	_cleanup_close_ int lock = -1;
	int r = keeper_open(k, p, &lock, &e);
	if (r < 0) {
		(void)!write(ready_fd, e.msg, strlen(e.msg));
	} else {
		(void)!write(ready_fd, "R", 1);
		log_info("session '%s' ready", k->name);
	}
	close(ready_fd);
	if (r == 0)
		r = keeper_loop(k);
	warm_release(&k->w);
	safe_close(k->listen_fd);
	unlink(k->sock);
	unlink(k->busy);
	unlink(k->log);
	unlink(k->json);
	return r;
}

/* The keeper's child side of the fork: its own session, its log as
 * stderr, the subreaper of what it starts. Never returns. */
_Noreturn static void keeper_child(struct keeper *k, const struct run_plan *p, int ready_fd)
{
	setsid();
	int null = open("/dev/null", O_RDWR | O_CLOEXEC),
	    lf = open(k->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	dup2(null, 0);
	dup2(null, 1);
	dup2(lf >= 0 ? lf : null, 2);
	int r = proc_become_subreaper();
	if (r == 0)
		r = keeper_main(k, p, ready_fd);
	fflush(NULL);
	_exit(r < 0);
}

/* What the keeper said on the ready pipe: "R", or why it failed. */
static int keeper_wait_ready(int fd, struct error *e)
{
	char msg[sizeof e->msg];
	size_t n = 0;
	ssize_t got;
	while (n < sizeof msg - 1 && ((got = read(fd, msg + n, sizeof msg - 1 - n)) > 0 || (got < 0 && errno == EINTR)))
		n += got > 0 ? (size_t)got : 0;
	msg[n] = 0;
	if (strcmp(msg, "R"))
		return error_set(e, -EIO, "%s", *msg ? msg : "session: its keeper ended before the guest was ready");
	return 0;
}

/* Where the keeper serves the screen, as NAME.json says. */
static void keeper_say_screen(const struct keeper *k)
{
	_cleanup_free_ char *text = NULL;
	json_object *o = read_full_file(k->json, &text, NULL) == 0 ? json_tokener_parse(text) : NULL, *v;
	if (json_object_object_get_ex(o, "vnc", &v))
		log_info("session %s: VNC: %s (a UNIX socket)", k->name, json_object_get_string(v));
	if (json_object_object_get_ex(o, "novnc", &v))
		log_info("session %s: noVNC: %s", k->name, json_object_get_string(v));
	json_object_put(o);
}

/* The store's sessions area, swept of killed keepers' files, and the
 * session's name: kp's, or one made up. */
static int keeper_name(const struct run_plan *p, const struct session_keeper_plan *kp, char **ret_root, char **ret_name,
		       struct error *e)
{
	_cleanup_free_ char *root = session_store_root(p->cache), *name = NULL;
	_cleanup_(store_freep) struct store *st = NULL;
	int r = root ? store_open(root, &st) : -ENOMEM;
	if (r == 0)
		r = store_area_make(st, STORE_SESSIONS);
	if (r < 0)
		return error_errno(e, r, "store %s", root ? root : "");
	session_sweep(root);
	unsigned rnd = (unsigned)(now_usec() ^ ((unsigned)getpid() << 16)) & 0xffffff;
	if (kp->name ? !(name = strdup(kp->name)) : asprintf(&name, "s-%06x", rnd) < 0)
		return error_errno(e, -ENOMEM, "session");
	if (session_alive(root, name))
		return error_set(e, -EEXIST, "session '%s' already runs (osrun session stop %s)", name, name);
	*ret_root = TAKE_PTR(root);
	*ret_name = TAKE_PTR(name);
	return 0;
}

int session_keeper_start(struct run_plan *p, const struct session_keeper_plan *kp, char **ret_name, struct error *e)
{
	_cleanup_free_ char *root = NULL, *name = NULL, *placeholder = NULL;
	int r = keeper_name(p, kp, &root, &name, e);
	if (r < 0)
		return r;
	_cleanup_(keeper_release) struct keeper k = {.name = name,
						     .idle_timeout = kp->idle_timeout,
						     .max_lifetime = kp->max_lifetime,
						     .rep = kp->report,
						     .listen_fd = -1};
	k.sock = store_session_file(root, name, ".sock");
	k.json = store_session_file(root, name, ".json");
	k.busy = store_session_file(root, name, ".busy");
	k.log = store_session_file(root, name, ".log");
	/* Begun as a new snapshot under a stand-in name: `stop -n` renames it. */
	if (!k.sock || !k.json || !k.busy || !k.log || asprintf(&placeholder, "session-%s", name) < 0)
		return error_errno(e, -ENOMEM, "session");
	p->new_snapshot = placeholder;
	int pp[2];
	if (pipe2(pp, O_CLOEXEC) < 0)
		return error_errno(e, -errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(pp[0]);
		close(pp[1]);
		return error_errno(e, r, "fork");
	}
	if (pid == 0) {
		close(pp[0]);
		keeper_child(&k, p, pp[1]);
	}
	close(pp[1]);
	r = keeper_wait_ready(pp[0], e);
	close(pp[0]);
	p->new_snapshot = NULL;
	if (r < 0)
		return r;
	if (p->vnc)
		keeper_say_screen(&k);
	*ret_name = TAKE_PTR(name);
	return 0;
}
