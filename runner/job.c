#define _GNU_SOURCE
#include "job.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>

#include "../snapshots/memory.h"
#include "lib/log.h"
#include "lib/netguard.h"

void job_release(struct job *j)
{
	if (j->novnc > 0)
		proc_kill_and_reap(j->novnc, 0);
	j->novnc = 0;
	free(j->vnc);
	j->vnc = NULL;
	j->vm = vm_free(j->vm);
	j->rundir = rundir_free(j->rundir);
	j->store = store_free(j->store);
}

int job_store_open(const char *cache, struct store **ret, struct error *e)
{
	_cleanup_free_ char *root = cache ? strdup(cache) : store_default_root();
	if (!root)
		return error_errno(e, -ENOMEM, "store");
	int r = store_open(root, ret);
	return r < 0 ? error_errno(e, r, "cache '%s'", root) : 0;
}

int job_open_store(struct job *j, const char *cache, bool sweep, struct error *e)
{
	int r = job_store_open(cache, &j->store, e);
	if (r < 0)
		return r;
	j->started = now_usec();
	if (!sweep)
		return 0;
	_cleanup_strv_free_ char **removed = NULL;
	if (store_sweep(j->store, &removed) == 0)
		for (char **p = removed; *p; p++)
			log_debug("removed leftover '%s' of a killed run", *p);
	int n = rundir_sweep();
	if (n > 0)
		log_debug("removed %d run directories of killed runs", n);
	j->started = now_usec();
	return 0;
}

int job_make_rundir(struct job *j, struct error *e)
{
	int r = rundir_new(&j->rundir);
	if (r < 0)
		return error_errno(e, r, "run directory");
	log_debug("run directory %s", j->rundir->path);
	return 0;
}

/* Why job_accel() chose TCG, kept for the process's life. */
static char *accel_why;

const char *job_accel_why(void) { return accel_why; }

int job_accel_detect(enum accel *ret, char **ret_why, struct error *e)
{
	int r = accel_detect(NULL, ret, ret_why);
	if (r == -EINVAL)
		return error_errno(e, r, "OSRUN_ACCEL='%s' (expected kvm or tcg)", getenv("OSRUN_ACCEL"));
	return r < 0 ? error_errno(e, r, "choosing KVM or TCG") : 0;
}

int job_accel(enum accel *ret, struct error *e)
{
	/* Once a process: a build boots once a step, and the probe starts a
	 * QEMU of its own. */
	static bool known;
	static enum accel found;
	if (known) {
		*ret = found;
		return 0;
	}
	_cleanup_free_ char *why = NULL;
	int r = job_accel_detect(ret, &why, e);
	if (r < 0)
		return r;
	if (why)
		log_warn("no usable /dev/kvm (%s): the guest runs under TCG, slowly (in a container: "
			 "--device=/dev/kvm)",
			 why);
	known = true;
	found = *ret;
	accel_why = TAKE_PTR(why);
	return 0;
}

int job_run_tool(char *const *argv, const char *what, struct error *e)
{
	_cleanup_free_ char *out = NULL;
	int r = proc_run(argv, 3600 * USEC_PER_SEC, &out);
	if (r == -ECANCELED)
		return error_interrupted(e);
	if (r < 0)
		return error_errno(e, r, "%s: running %s", what, argv[0]);
	if (r != 0) {
		if (out)
			out[strcspn(out, "\n")] = 0;
		return error_set(e, -EIO, "%s: %s %s failed: %s", what, argv[0], argv[1] ? argv[1] : "",
				 out && *out ? out : "(no message)");
	}
	return 0;
}

int job_make_overlay(const char *backing, const char *overlay, struct error *e)
{
	char *argv[] = {"qemu-img",	 "create",	  "-q", "-f", "qcow2", "-F", "qcow2", "-b",
			(char *)backing, (char *)overlay, NULL};
	return job_run_tool(argv, overlay, e);
}

/* --network internet without a guard QEMU loads would hand the guest the
 * host's loopback: refused, never degraded to it. */
static int netguard_find(struct vm_plan *p, struct error *e)
{
	const char *g = getenv("OSRUN_NETGUARD");
	p->netguard = g && *g ? g : OSRUN_NETGUARD;
	if (!netguard_path_usable(p->netguard))
		return error_set(e, -EINVAL,
				 "--network internet: osrun's loopback guard '%s' must be an absolute path without "
				 "' ' or ':' (LD_PRELOAD splits there)",
				 p->netguard);
	if (access(p->netguard, R_OK) < 0)
		return error_errno(e, -errno, "--network internet needs osrun's loopback guard '%s' (reinstall osrun)",
				   p->netguard);
	return 0;
}

int job_start_vm(struct job *j, const struct vm_plan *plan_in, struct error *e)
{
	_cleanup_free_ char *how = NULL;
	struct vm_plan guarded = *plan_in, *plan = &guarded;
	int r;
	if (plan->network == NETWORK_INTERNET && (r = netguard_find(plan, e)) < 0)
		return r;
	r = vm_start(plan, j->rundir->path, 30 * USEC_PER_SEC, &j->vm, &how);
	if (r == -ECANCELED)
		return error_interrupted(e);
	if (how)
		return error_set(e, -ECHILD, "starting QEMU: QEMU exited (%s)", how);
	if (r == -ETIMEDOUT)
		return error_set(e, r, "starting QEMU: QMP did not answer within 30 s");
	if (r == -EUSERS)
		return error_set(e, r,
				 "user %u has no passwd entry, and QEMU's SMB share needs a user name: install "
				 "libnss-wrapper (osrun then gives QEMU alone an entry) or add one",
				 (unsigned)geteuid());
	if (r == -EPERM)
		return error_set(e, r,
				 "osrun cannot run as user 'nobody': QEMU's smbd uses it as its guest account, and the "
				 "guest could not write its output; run as another user");
	if (r == -ENOLINK)
		return error_set(
			e, r,
			"--network internet: QEMU started without osrun's loopback guard '%s' (a static QEMU, or an "
			"$OSRUN_QEMU wrapper that drops LD_PRELOAD?), so the guest could reach the host's "
			"127.0.0.1: stopped it; --network host allows that",
			plan->netguard);
	if (r == -EINVAL && plan->share)
		return error_set(e, r,
				 "the run directory %s or a shared folder's path holds characters smb.conf cannot (a "
				 "control character, outer blanks, or '%%', which smbd would expand)",
				 j->rundir->path);
	if (r < 0)
		return error_errno(e, r, "starting QEMU");
	if (log_get_level() >= LOG_DEBUG) {
		char line[8192] = "";
		size_t n = 0;
		for (char *const *a = vm_argv(j->vm); *a && n < sizeof line - 2; a++)
			n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", n ? " " : "", *a);
		log_debug("QEMU pid %d: %s", (int)vm_pid(j->vm), line);
	}
	return 0;
}

#define NOVNC_WEB "/usr/share/novnc"

static int start_novnc(struct job *j, const char *listen, const char *vnc, struct error *e)
{
	_cleanup_free_ char *target = NULL, *log = path_join(j->rundir->path, "novnc.log");
	if (!log || asprintf(&target, "--unix-target=%s", vnc) < 0)
		return error_errno(e, -ENOMEM, "noVNC");
	if (!file_exists(NOVNC_WEB "/vnc.html"))
		return error_set(e, -ENOENT, "--novnc: %s/vnc.html not found (install the novnc package)", NOVNC_WEB);
	char *argv[] = {"websockify", "--web", NOVNC_WEB, "--log-file", log, target, (char *)listen, NULL};
	struct proc_spec spec = {
		.argv = argv,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.own_pgroup = true,
		.die_with_parent = true,
	};
	int r = proc_spawn(&spec, &j->novnc);
	if (r < 0)
		return error_errno(e, r, "--novnc: starting websockify");
	log_info("noVNC: http://%s/vnc.html", listen);
	return 0;
}

int job_start_debug(struct job *j, const struct vm_plan *plan, const char *novnc, struct error *e)
{
	if (plan->monitor)
		log_info("QEMU monitor: %s (e.g. socat - UNIX-CONNECT:%s)", plan->monitor, plan->monitor);
	if (!plan->vnc)
		return 0;
	if (!(j->vnc = strdup(plan->vnc)))
		return error_errno(e, -ENOMEM, "VNC");
	log_info("VNC: %s (a UNIX socket; e.g. socat TCP-LISTEN:5900,bind=127.0.0.1 UNIX-CONNECT:%s)", plan->vnc,
		 plan->vnc);
	return novnc ? start_novnc(j, novnc, plan->vnc, e) : 0;
}

int job_check_room(const char *path, uint64_t need, struct error *e)
{
	_cleanup_free_ char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (!slash)
		return error_errno(e, -ENOMEM, "%s", path);
	*slash = 0;
	struct statvfs fs;
	if (statvfs(*dir ? dir : "/", &fs) < 0)
		return error_errno(e, -errno, "%s", dir);
	uint64_t avail = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (avail < need)
		return error_set(e, -ENOSPC,
				 "%s: No space left on device: the guest's memory needs up to %llu MiB there, %llu MiB "
				 "are free",
				 dir, (unsigned long long)(need >> 20), (unsigned long long)(avail >> 20));
	return 0;
}

int job_fail(struct job *j, int r, const struct remote_error *err, const char *what, struct error *e)
{
	if (r == -ECANCELED)
		return error_interrupted(e);
	/* A closed QMP or agent socket, or any failure, may be QEMU's death:
	 * then QEMU's own last words are the message. */
	if (j->vm && vm_wait_exited(j->vm, r == -ECONNRESET ? 2 * USEC_PER_SEC : 0, NULL)) {
		_cleanup_free_ char *how = vm_exit_describe(j->vm);
		/* SIGBUS: a page of its RAM file could not be allocated. */
		bool bus = how && strstr(how, "signal 7 ");
		return error_set(e, -ECHILD, "%s: QEMU exited (%s)%s", what, how ? how : "?",
				 bus ? "; its guest memory is a file in the store: is that filesystem full?" : "");
	}
	if (r == -EREMOTEIO && err)
		return error_set(e, r, "%s: %s: %s", what, err->class, err->desc);
	if (r == -ETIMEDOUT)
		return error_set(e, r, "%s: timed out", what);
	return error_errno(e, r, "%s", what);
}

int job_wait_agent(struct job *j, usec_t timeout, const char *what, struct error *e)
{
	usec_t t0 = now_usec();
	int r = qga_sync(vm_qga(j->vm), USEC_PER_SEC, timeout);
	if (r == -ETIMEDOUT)
		return error_set(e, r, "%s: guest agent did not answer within %.0f s", what,
				 (double)timeout / USEC_PER_SEC);
	if (r < 0)
		return job_fail(j, r, NULL, what, e);
	log_debug("guest agent answered after %.2f s", seconds_since(t0));
	return 0;
}

int job_wait_guest_process(struct job *j, int64_t pid, usec_t timeout, struct qga_exec_status *ret, struct error *e)
{
	/* Like the agent's calls, counted on the time QEMU could run. */
	struct qga *g = vm_qga(j->vm);
	usec_t deadline = timeout == USEC_INFINITY ? USEC_INFINITY : qga_clock(g) + timeout;
	for (;;) {
		struct remote_error err;
		struct qga_exec_status st;
		int r = qga_exec_status(g, pid, 10 * USEC_PER_SEC, &st, &err);
		if (r < 0)
			return job_fail(j, r, &err, "guest agent", e);
		if (st.exited) {
			*ret = st;
			return 0;
		}
		qga_exec_status_release(&st);
		if (qga_clock(g) >= deadline)
			return error_set(e, -ETIMEDOUT, "guest helper did not finish within %.0f s",
					 (double)timeout / USEC_PER_SEC);
		/* The agent has no "exited" event; helpers end within tens of
		 * ms, and each ask costs the guest a wakeup. */
		r = fd_wait(-1, 0, deadline_after(10 * USEC_PER_MSEC));
		if (r == -ECANCELED)
			return error_interrupted(e);
	}
}

/* A guest helper's captured stderr as "guest: " lines, each ending in a
 * newline, for a message to the user. */
char *job_helper_lines(const struct qga_exec_status *st)
{
	_cleanup_free_ char *copy = st->err_len ? strndup(st->err, st->err_len) : NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *f = copy ? open_memstream(&out, &len) : NULL;
	if (!f)
		return NULL;
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(f, "guest: %s\n", line);
	fclose(f);
	return out;
}

int job_run_guest_helper(struct job *j, const struct qga_exec *x, usec_t timeout, const char *what, struct error *e)
{
	struct remote_error err;
	int64_t pid;
	struct qga_exec xc = *x;
	xc.capture = true;
	int r = qga_exec(vm_qga(j->vm), &xc, 10 * USEC_PER_SEC, &pid, &err);
	if (r < 0)
		return job_fail(j, r, &err, what, e);
	return job_wait_guest_helper(j, pid, timeout, what, e);
}

int job_wait_guest_helper(struct job *j, int64_t pid, usec_t timeout, const char *what, struct error *e)
{
	struct qga_exec_status st;
	int r = job_wait_guest_process(j, pid, timeout, &st, e);
	if (r < 0)
		return r;
	if (!st.signal && st.exitcode == 0) {
		qga_exec_status_release(&st);
		return 0;
	}
	_cleanup_free_ char *said = job_helper_lines(&st);
	if (st.signal)
		r = error_set(e, -EIO, "%s%s: the guest's helper was killed by signal %d", said ? said : "", what,
			      st.signal);
	else
		r = error_set(e, -EIO, "%s%s failed in the guest (helper exit status %d)", said ? said : "", what,
			      st.exitcode);
	qga_exec_status_release(&st);
	return r;
}

int job_save_snapshot(struct job *j, const struct profile *p, struct snapshot_new *n, struct snapshot_meta *meta,
		      const struct snapshot *delta_from, struct error *e)
{
	usec_t t0 = now_usec();
	struct remote_error err;
	int64_t pid;
	struct qga_exec x = {.path = p->detach_path,
			     .argv = (char *const *)p->detach_argv,
			     .env = (char *const *)p->base_env,
			     .capture = true};
	int r = qga_exec(vm_qga(j->vm), &x, 10 * USEC_PER_SEC, &pid, &err);
	if (r < 0)
		return job_fail(j, r, &err, "detaching the share", e);
	struct qga_exec_status st;
	r = job_wait_guest_process(j, pid, 60 * USEC_PER_SEC, &st, e);
	if (r < 0)
		return r;
	qga_exec_status_release(&st);

	_cleanup_free_ char *state = snapshot_new_path(n, "state");
	if (!state)
		return error_errno(e, -ENOMEM, "snapshot");
	r = vm_save(j->vm, state, 600 * USEC_PER_SEC, &err);
	if (r < 0)
		return job_fail(j, r, &err, "saving the machine state", e);
	free(meta->qemu_version);
	meta->qemu_version = strdup(qmp_version(vm_qmp(j->vm)));
	r = vm_quit(j->vm, 60 * USEC_PER_SEC);
	if (r < 0)
		return job_fail(j, r, NULL, "stopping QEMU", e);
	uint64_t delta;
	usec_t t1 = now_usec();
	if (delta_from && (r = snapshot_memory_to_delta(j->store, delta_from, n, &delta)) < 0)
		return error_errno(e, r, "snapshot '%s': keeping its memory as changes to '%s'", n->name,
				   delta_from->name);
	if (delta_from && r == 0)
		log_debug("memory: %llu MiB changed, kept as a delta in %.2f s", (unsigned long long)(delta >> 20),
			  seconds_since(t1));
	r = snapshot_new_commit(n, meta);
	if (r == -EEXIST)
		return error_set(e, r, "snapshot '%s': made by another run meanwhile; this one is dropped", n->name);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", n->name);
	log_info("saved snapshot '%s' in %.2f s", n->name, seconds_since(t0));
	return 0;
}

char *iso_time_now(void)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return strdup(buf);
}

double seconds_since(usec_t t) { return (double)(now_usec() - t) / USEC_PER_SEC; }
