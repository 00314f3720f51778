#define _GNU_SOURCE
#include "job.h"

#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "lib/log.h"

void job_release(struct job *j)
{
	if (j->novnc > 0)
		proc_kill_and_reap(j->novnc, 0);
	j->novnc = 0;
	j->vm = vm_free(j->vm);
	j->rundir = rundir_free(j->rundir);
	j->store = store_free(j->store);
}

int job_open_store(struct job *j, const struct common_opts *o, bool sweep)
{
	_cleanup_free_ char *root = o->cache ? strdup(o->cache) : store_default_root();
	if (!root)
		return log_errno(-ENOMEM, "store"), EXIT_OSRUN;
	int r = store_open(root, &j->store);
	if (r < 0)
		return log_errno(r, "cache '%s'", root), EXIT_OSRUN;
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

int job_make_rundir(struct job *j)
{
	int r = rundir_new(&j->rundir);
	if (r < 0)
		return log_errno(r, "run directory"), EXIT_OSRUN;
	log_debug("run directory %s", j->rundir->path);
	return 0;
}

int job_accel(enum accel *ret)
{
	bool missing;
	int r = accel_detect(ret, &missing);
	if (r < 0)
		return log_errno(r, "OSRUN_ACCEL='%s' (expected kvm or tcg)", getenv("OSRUN_ACCEL")), EXIT_OSRUN;
	if (missing)
		log_warn("no usable /dev/kvm: the guest runs under TCG, slowly (in a container: --device=/dev/kvm)");
	return 0;
}

int job_run_tool(char *const *argv, const char *what)
{
	_cleanup_free_ char *out = NULL;
	int r = proc_run(argv, 3600 * USEC_PER_SEC, &out);
	if (r == -ECANCELED)
		return job_interrupted();
	if (r < 0)
		return log_errno(r, "%s: running %s", what, argv[0]), EXIT_OSRUN;
	if (r != 0) {
		if (out)
			out[strcspn(out, "\n")] = 0;
		log_error("%s: %s %s failed: %s", what, argv[0], argv[1] ? argv[1] : "",
			  out && *out ? out : "(no message)");
		return EXIT_OSRUN;
	}
	return 0;
}

int job_make_overlay(const char *backing, const char *overlay)
{
	char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
			"-b", (char *)backing, (char *)overlay, NULL};
	return job_run_tool(argv, overlay);
}

int job_start_vm(struct job *j, const struct vm_plan *plan)
{
	int r = vm_start(plan, j->rundir->path, 30 * USEC_PER_SEC, &j->vm);
	if (r < 0) {
		if (r == -ENOENT || r == -EACCES)
			return log_errno(r, "starting QEMU"), EXIT_OSRUN;
		return job_fail(j, r, NULL, "starting QEMU");
	}
	if (log_get_level() >= LOG_DEBUG) {
		char line[8192] = "";
		size_t n = 0;
		for (char *const *a = vm_argv(j->vm); *a && n < sizeof line - 2; a++)
			n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", n ? " " : "", *a);
		log_debug("QEMU pid %d: %s", (int)vm_pid(j->vm), line);
	}
	return 0;
}

int job_interrupted(void)
{
	struct signalfd_siginfo si;
	ssize_t k = read(cancel_fd_get(), &si, sizeof si);
	int sig = k == sizeof si ? (int)si.ssi_signo : SIGINT;
	log_error("interrupted by SIG%s; the VM is stopped", signal_name(sig));
	return 128 + sig;
}

#define NOVNC_WEB "/usr/share/novnc"

static int start_novnc(struct job *j, const char *listen, const char *vnc_port)
{
	_cleanup_free_ char *target = NULL, *log = path_join(j->rundir->path, "novnc.log");
	if (!log || asprintf(&target, "127.0.0.1:%s", vnc_port) < 0)
		return log_errno(-ENOMEM, "noVNC"), EXIT_OSRUN;
	if (!file_exists(NOVNC_WEB "/vnc.html"))
		return log_error("--novnc: %s/vnc.html not found (install the novnc package)", NOVNC_WEB), EXIT_OSRUN;
	char *argv[] = {"websockify", "--web", NOVNC_WEB, "--log-file", log, (char *)listen, target, NULL};
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
		return log_errno(r, "--novnc: starting websockify"), EXIT_OSRUN;
	log_info("noVNC: http://%s/vnc.html", listen);
	return 0;
}

int job_start_debug(struct job *j, const struct vm_plan *plan, const char *novnc)
{
	if (plan->monitor)
		log_info("QEMU monitor: %s (e.g. socat - UNIX-CONNECT:%s)", plan->monitor, plan->monitor);
	if (!plan->vnc)
		return 0;
	struct remote_error err;
	json_object *v = NULL, *svc = NULL;
	int r = qmp_call(vm_qmp(j->vm), "query-vnc", NULL, 10 * USEC_PER_SEC, &v, &err);
	if (r < 0)
		return job_fail(j, r, &err, "query-vnc");
	json_object_object_get_ex(v, "service", &svc);
	_cleanup_free_ char *port = strdup(svc ? json_object_get_string(svc) : "");
	json_object_put(v);
	if (!port || !*port)
		return log_error("query-vnc: QEMU did not say its VNC port"), EXIT_OSRUN;
	log_info("VNC: 127.0.0.1:%s (loopback only)", port);
	return novnc ? start_novnc(j, novnc, port) : 0;
}

int job_fail(struct job *j, int r, const struct remote_error *err, const char *what)
{
	if (r == -ECANCELED)
		return job_interrupted();
	int st;
	/* A closed QMP or agent socket, or any failure, may be QEMU's death:
	 * then QEMU's own last words are the message. */
	if (j->vm && vm_wait_exited(j->vm, r == -ECONNRESET ? 2 * USEC_PER_SEC : 0, &st)) {
		_cleanup_free_ char *last = vm_last_error(j->vm);
		char how[64];
		if (WIFSIGNALED(st))
			snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(st), signal_name(WTERMSIG(st)));
		else
			snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(st));
		log_error("%s: QEMU exited (%s)%s%s", what, how, last ? ": " : "", last ? last : "");
		return EXIT_OSRUN;
	}
	if (r == -EREMOTEIO && err)
		log_error("%s: %s: %s", what, err->class, err->desc);
	else if (r == -ETIMEDOUT)
		log_error("%s: timed out", what);
	else
		log_errno(r, "%s", what);
	return EXIT_OSRUN;
}

int job_wait_agent(struct job *j, usec_t timeout, const char *what)
{
	usec_t t0 = now_usec();
	int r = qga_sync(vm_qga(j->vm), USEC_PER_SEC, timeout);
	if (r == -ETIMEDOUT) {
		log_error("%s: guest agent did not answer within %.0f s", what, (double)timeout / USEC_PER_SEC);
		return EXIT_OSRUN;
	}
	if (r < 0)
		return job_fail(j, r, NULL, what);
	log_debug("guest agent answered after %.2f s", seconds_since(t0));
	return 0;
}

int job_wait_guest_process(struct job *j, int64_t pid, usec_t timeout, struct qga_exec_status *ret)
{
	usec_t deadline = deadline_after(timeout);
	for (;;) {
		struct remote_error err;
		struct qga_exec_status st;
		int r = qga_exec_status(vm_qga(j->vm), pid, 10 * USEC_PER_SEC, &st, &err);
		if (r < 0)
			return job_fail(j, r, &err, "guest agent");
		if (st.exited) {
			*ret = st;
			return 0;
		}
		qga_exec_status_release(&st);
		if (now_usec() >= deadline) {
			log_error("guest helper did not finish within %.0f s", (double)timeout / USEC_PER_SEC);
			return EXIT_OSRUN;
		}
		/* The agent has no "exited" event; helpers end within tens of
		 * ms, and each ask costs the guest a wakeup. */
		r = fd_wait(-1, 0, deadline_after(10 * USEC_PER_MSEC));
		if (r == -ECANCELED)
			return job_interrupted();
	}
}

int job_save_snapshot(struct job *j, const struct profile *p, struct snapshot_new *n, struct snapshot_meta *meta)
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
		return job_fail(j, r, &err, "detaching the share");
	struct qga_exec_status st;
	r = job_wait_guest_process(j, pid, 60 * USEC_PER_SEC, &st);
	if (r)
		return r;
	qga_exec_status_release(&st);

	_cleanup_free_ char *state = snapshot_new_path(n, "state");
	if (!state)
		return log_errno(-ENOMEM, "snapshot"), EXIT_OSRUN;
	r = vm_save(j->vm, state, 600 * USEC_PER_SEC, &err);
	if (r < 0)
		return job_fail(j, r, &err, "saving the machine state");
	free(meta->qemu_version);
	meta->qemu_version = strdup(qmp_version(vm_qmp(j->vm)));
	r = vm_quit(j->vm, 60 * USEC_PER_SEC);
	if (r < 0)
		return job_fail(j, r, NULL, "stopping QEMU");
	r = snapshot_new_commit(n, meta);
	if (r == -EEXIST) {
		log_error("snapshot '%s': made by another run meanwhile; this one is dropped", n->name);
		return EXIT_OSRUN;
	}
	if (r < 0)
		return log_errno(r, "snapshot '%s'", n->name), EXIT_OSRUN;
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

int parse_seconds(const char *s, usec_t *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e7)
		return -EINVAL;
	*ret = (usec_t)(v * USEC_PER_SEC);
	return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}
