/* A pool: clones of one snapshot kept warm — restored, clock set, share
 * ready — so that `osrun -s NAME COMMAND` starts COMMAND at once.
 *
 * The keeper listens on the store's pool socket for NAME and forks one
 * member process per clone. A member warms its clone up with the run
 * engine, says "ready", and waits. A client connects and sends its parsed
 * plan with its stdin, stdout and stderr attached (pool.h has the
 * protocol); the keeper passes the connection to a ready member and forks a
 * replacement. The member runs the client's command as a plain run would,
 * with the client's descriptors (serve.h), reports on the client's stderr,
 * and sends the exit code back. Each clone serves one command, then is
 * thrown away, so runs stay isolated. A client that finds no pool, or no
 * clone ready, runs on its own. */
#define _GNU_SOURCE
#include "pool-keeper.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "lib/fdpass.h"
#include "lib/log.h"
#include "pool.h"

/* Clones at once, waiting and running; --clones is at most 64. */
#define MEMBERS_MAX 96

/* ---- member ------------------------------------------------------------ */

/* The client's plan, checked against this clone: 0, or the exit code
 * already reported to the client. */
static int member_accept(int conn, struct warm *w, struct pool_request *req, const struct serve_report *rep)
{
	int r = pool_request_accept(conn, req);
	if (r == -ENOTCONN)
		return r; /* not a client: nobody to tell */
	struct error e = {0};
	if (r < 0)
		error_set(&e, r, "pool: the request is not one this osrun understands (another version?)");
	else if (req->plan.op != RUN_OP_COMMAND || req->plan.new_snapshot || req->plan.n_copy_in ||
		 req->plan.n_copy_out)
		r = error_set(&e, -EINVAL, "pool: a pool's clone runs one command, nothing else");
	else if (strcmp(req->plan.snapshot, w->sn->name))
		r = error_set(&e, -EINVAL, "pool: the request is for snapshot '%s', not '%s'", req->plan.snapshot,
			      w->sn->name);
	else {
		log_set_level(req->plan.verbose ? LOG_DEBUG : LOG_INFO);
		r = run_plan_check(&req->plan, w, &e);
	}
	if (r < 0)
		pool_send_exit(conn, rep->error(&e));
	return r;
}

/* Runs the request on conn in w and sends its exit status back. */
static void member_serve(int conn, struct warm *w, const struct serve_report *rep)
{
	_cleanup_(pool_request_release) struct pool_request req = {0};
	if (member_accept(conn, w, &req, rep) < 0)
		return;
	bool failed;
	int code = serve_command(conn, w, &req.plan, false, rep, &failed);
	/* QEMU stops before the client hears the end, as in a plain run. */
	warm_release(w);
	pool_send_exit(conn, code);
}

/* Waits for the keeper's job: the client's connection in *ret_conn, else
 * 0 when the pool stops or the keeper is gone, <0 when QEMU died (a clone
 * that must not take a command: ending makes the keeper start another). */
static int member_wait_job(int keeper, struct warm *w, int *ret_conn, struct error *e)
{
	for (;;) {
		int r = serve_wait(w, keeper, USEC_INFINITY, e);
		if (r <= 0)
			return r; /* on SERVE_CANCELLED, warm_release stops QEMU */
		_cleanup_free_ char *msg = NULL;
		size_t n, nfds;
		int conn[FDPASS_MAX_FDS];
		r = fdpass_recv(keeper, 16, &msg, &n, conn, &nfds);
		if (r < 0 || n == 0)
			return 0;
		if (nfds == 1) {
			*ret_conn = conn[0];
			return 1;
		}
		for (size_t i = 0; i < nfds; i++)
			close(conn[i]);
	}
}

/* A member's life: warm up, say ready, serve one client. <0 when it could
 * not (told on the pool's stderr). */
static int member_main(int keeper, const struct run_plan *plan, const struct serve_report *rep)
{
	_cleanup_(warm_release) struct warm w = {0};
	struct error e = {0};
	int r = run_warm_up(plan, &w, &e);
	if (r < 0)
		return rep->error(&e), r;
	char m[1] = {POOL_MSG_READY};
	if ((r = fdpass_send(keeper, m, 1, NULL, 0)) < 0)
		return r;
	int conn = -1;
	if ((r = member_wait_job(keeper, &w, &conn, &e)) <= 0)
		return r < 0 ? (rep->error(&e), r) : 0;
	/* The job is the client's now: it runs to its end even when the pool
	 * stops meanwhile. */
	prctl(PR_SET_PDEATHSIG, 0);
	member_serve(conn, &w, rep);
	close(conn);
	return 0;
}

/* ---- keeper ------------------------------------------------------------ */

struct member {
	pid_t pid;
	int fd;
	bool ready;
	bool busy; /* has a client's command: no longer the pool's */
};

struct pool {
	const struct run_plan *plan;
	const struct serve_report *report;
	int listen_fd;
	int lock_fd; /* held while the pool runs (pool_listen) */
	struct member *m;
	size_t n, want;
	unsigned failures; /* members in a row that died before they were ready */
	bool announced;
};

static int member_spawn(struct pool *pl)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t ppid = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		close(pl->listen_fd);
		close(pl->lock_fd);
		for (size_t i = 0; i < pl->n; i++)
			close(pl->m[i].fd);
		/* A keeper killed outright still stops its warm clones. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != ppid)
			_exit(0);
		int r = proc_become_subreaper();
		if (r == 0)
			r = member_main(sv[1], pl->plan, pl->report);
		fflush(NULL);
		_exit(r < 0);
	}
	close(sv[1]);
	struct member *m = realloc(pl->m, (pl->n + 1) * sizeof *m);
	if (!m) {
		kill(pid, SIGTERM);
		close(sv[0]);
		return -ENOMEM;
	}
	pl->m = m;
	pl->m[pl->n++] = (struct member){.pid = pid, .fd = sv[0]};
	return 0;
}

static size_t pool_count(const struct pool *pl, bool ready_only)
{
	size_t k = 0;
	for (size_t i = 0; i < pl->n; i++)
		if (!pl->m[i].busy && (!ready_only || pl->m[i].ready))
			k++;
	return k;
}

/* A member's socket said something or closed. Returns <0 to stop. */
static int member_event(struct pool *pl, size_t i)
{
	struct member *mb = &pl->m[i];
	_cleanup_free_ char *msg = NULL;
	size_t n;
	int r = fdpass_recv(mb->fd, 16, &msg, &n, NULL, NULL);
	if (r == 0 && n > 0) {
		if (msg[0] == POOL_MSG_READY) {
			mb->ready = true;
			pl->failures = 0;
			log_debug("pool: clone %d ready (%zu of %zu)", (int)mb->pid, pool_count(pl, true), pl->want);
		}
		return 0;
	}
	/* Closed: the member ended. */
	int st = 0;
	waitpid(mb->pid, &st, 0);
	bool failed_warm_up = !mb->ready && !mb->busy;
	close(mb->fd);
	pl->m[i] = pl->m[--pl->n];
	if (failed_warm_up && ++pl->failures >= 3)
		return -EIO;
	return 0;
}

static void pool_accept(struct pool *pl)
{
	_cleanup_close_ int c = accept4(pl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	/* Every claimed clone is replaced: past MEMBERS_MAX, clients run on
	 * their own rather than the pool growing without bound. */
	for (size_t i = 0; pl->n < MEMBERS_MAX && i < pl->n; i++) {
		struct member *mb = &pl->m[i];
		if (!mb->ready || mb->busy)
			continue;
		char m[1] = {POOL_MSG_JOB};
		if (fdpass_send(mb->fd, m, 1, &c, 1) < 0)
			continue;
		mb->busy = true;
		log_debug("pool: a command went to clone %d", (int)mb->pid);
		return;
	}
	/* The request is read first: closing a socket with unread data
	 * resets the connection, and the client would miss the answer. */
	_cleanup_free_ char *req = NULL;
	size_t n;
	if (fd_wait(c, POLLIN, deadline_after(USEC_PER_SEC)) == 1)
		fdpass_recv(c, POOL_REQUEST_MAX, &req, &n, NULL, NULL);
	char m[1] = {POOL_MSG_BUSY};
	fdpass_send(c, m, 1, NULL, 0);
}

/* Stops the members that wait; those running a client's command finish
 * it on their own. A member ends when its teardown (QEMU, smbd, run
 * directory) is done. */
static void pool_stop(struct pool *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		if (!pl->m[i].busy)
			kill(pl->m[i].pid, SIGTERM);
	/* The Ctrl-C that stops the pool must not cut the waits short. */
	int cancel = cancel_fd_get();
	cancel_fd_set(-1);
	usec_t deadline = deadline_after(30 * USEC_PER_SEC);
	for (size_t i = 0; i < pl->n; i++) {
		usec_t now = now_usec();
		if (!pl->m[i].busy && proc_wait(pl->m[i].pid, deadline > now ? deadline - now : 1, NULL) < 0)
			proc_kill_and_reap(pl->m[i].pid, 0);
		close(pl->m[i].fd);
	}
	cancel_fd_set(cancel);
	free(pl->m);
	pl->m = NULL;
	pl->n = 0;
}

/* The snapshot must exist now: a typo should not become a loop of clones
 * that fail. Then the socket, in the store's private pools directory. */
static int pool_open(const struct run_plan *plan, char **ret_path, int *ret_fd, int *ret_lock, struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, plan->cache, false, e);
	if (r < 0)
		return r;
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	r = snapshot_open(j.store, plan->snapshot, &sn);
	if (r == -ENOENT)
		return error_set(e, r, "snapshot '%s': not found in %s", plan->snapshot, j.store->root);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", plan->snapshot);
	if ((r = store_area_make(j.store, STORE_POOLS)) < 0)
		return error_errno(e, r, "%s/pools", j.store->root);
	_cleanup_free_ char *path = store_pool_socket(j.store->root, plan->snapshot);
	if (!path)
		return error_errno(e, -ENOMEM, "pool");
	r = pool_listen(path, ret_fd, ret_lock);
	if (r == -EADDRINUSE)
		return error_set(e, r, "a pool for '%s' already runs (%s)", plan->snapshot, path);
	if (r < 0)
		return error_errno(e, r, "pool socket %s", path);
	*ret_path = TAKE_PTR(path);
	return 0;
}

/* One round: top the clones up, wait for an event, handle it. 0 goes on,
 * 1 stops (Ctrl-C), <0 stops on a failure in e. */
static int pool_step(struct pool *pl, struct error *e)
{
	while (pool_count(pl, false) < pl->want && pl->n < MEMBERS_MAX) {
		int r = member_spawn(pl);
		if (r < 0)
			return error_errno(e, r, "starting a clone");
	}
	if (!pl->announced && pool_count(pl, true) == pl->want) {
		log_info("pool for '%s': %zu clone%s ready; 'osrun -s %s COMMAND' runs in one", pl->plan->snapshot,
			 pl->want, pl->want == 1 ? "" : "s", pl->plan->snapshot);
		pl->announced = true;
	}
	struct pollfd pf[2 + MEMBERS_MAX];
	size_t np = 0;
	pf[np++] = (struct pollfd){.fd = cancel_fd_get(), .events = POLLIN};
	pf[np++] = (struct pollfd){.fd = pl->listen_fd, .events = POLLIN};
	for (size_t i = 0; i < pl->n && np < ELEMENTSOF(pf); i++)
		pf[np++] = (struct pollfd){.fd = pl->m[i].fd, .events = POLLIN};
	if (poll(pf, np, -1) < 0 && errno != EINTR)
		return error_errno(e, -errno, "poll");
	if (pf[0].revents & POLLIN) {
		log_info("pool for '%s': stopping", pl->plan->snapshot);
		return 1;
	}
	if (pf[1].revents & POLLIN)
		pool_accept(pl);
	/* Back to front: member_event may move the last member into i. */
	for (size_t i = np - 2; i-- > 0;)
		if (pf[2 + i].revents && member_event(pl, i) < 0)
			return error_set(e, -EIO, "pool for '%s': clones keep failing to start (see above); stopping",
					 pl->plan->snapshot);
	return 0;
}

int pool_keeper_run(const struct run_plan *plan, unsigned clones, const struct serve_report *rep, struct error *e)
{
	_cleanup_free_ char *path = NULL;
	struct pool pl = {.plan = plan, .report = rep, .want = clones, .listen_fd = -1, .lock_fd = -1};
	int r = pool_open(plan, &path, &pl.listen_fd, &pl.lock_fd, e);
	if (r < 0)
		return r;
	while ((r = pool_step(&pl, e)) == 0)
		;
	unlink(path);
	close(pl.listen_fd);
	pool_stop(&pl);
	close(pl.lock_fd);
	return r < 0 ? r : 0;
}
