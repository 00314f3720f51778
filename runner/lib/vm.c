#define _GNU_SOURCE
#include "vm.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "logtrim.h"
#include "netguard.h"
#include "proc.h"
#include "smb.h"

struct vm {
	pid_t pid;
	bool reaped;
	int status;
	struct qmp *qmp;
	struct qga *qga;
	struct smb *smb;
	struct logtrim *console; /* the serial log's bound, while QEMU runs */
	char **argv;
	char *log_path;
};

struct qmp *vm_qmp(struct vm *vm) { return vm->qmp; }
struct qga *vm_qga(struct vm *vm) { return vm->qga; }
unsigned vm_smb_ended(const struct vm *vm) { return vm->smb ? smb_ended(vm->smb) : 0; }

pid_t vm_pid(const struct vm *vm) { return vm->pid; }
char *const *vm_argv(const struct vm *vm) { return vm->argv; }

char *vm_exit_describe(const struct vm *vm)
{
	_cleanup_free_ char *last = vm_last_error(vm);
	char *s = NULL;
	int st = vm->status, r;
	if (WIFSIGNALED(st))
		r = asprintf(&s, "killed by signal %d (%s)%s%s", WTERMSIG(st), signal_name(WTERMSIG(st)),
			     last ? ": " : "", last ? last : "");
	else
		r = asprintf(&s, "exit status %d%s%s", WEXITSTATUS(st), last ? ": " : "", last ? last : "");
	return r < 0 ? NULL : s;
}

/* What QEMU gets on top of osrun's environment: TMPDIR, and under
 * NETWORK_INTERNET the loopback guard (*guard filled in). */
static int qemu_env(const struct vm_plan *plan, const char *tmpdir, struct netguard *guard, char ***ret)
{
	_cleanup_free_ char *env_tmp = NULL;
	if (asprintf(&env_tmp, "TMPDIR=%s", tmpdir) < 0)
		return -ENOMEM;
	_cleanup_strv_free_ char **env = strv_append(NULL, env_tmp);
	if (!env)
		return -ENOMEM;
	if (plan->network == NETWORK_INTERNET) {
		int r = netguard_prepare(plan->netguard, guard);
		if (r < 0)
			return r;
		for (size_t i = 0; guard->env[i]; i++)
			if (!(env = strv_append(env, guard->env[i])))
				return -ENOMEM;
	}
	*ret = TAKE_PTR(env);
	return 0;
}

/* The run's share and its volumes, from one smbd of the VM's own. */
static int vm_smb_start(struct vm *vm, const struct vm_plan *plan, const char *tmpdir)
{
	struct smb_share shares[1 + SMB_VOLUMES_MAX] = {{.name = "qemu", .path = plan->share}};
	if (!plan->share)
		return 0;
	if (plan->n_volumes > SMB_VOLUMES_MAX)
		return -E2BIG;
	for (size_t i = 0; i < plan->n_volumes; i++)
		shares[1 + i] = plan->volumes[i];
	return smb_new(tmpdir, shares, 1 + plan->n_volumes, &vm->smb);
}

int vm_start(const struct vm_plan *plan, const char *tmpdir, usec_t timeout, struct vm **ret, char **reterr_exit)
{
	int qmp_sp[2], qga_sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp_sp) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qga_sp) < 0) {
		int r = -errno;
		close(qmp_sp[0]);
		close(qmp_sp[1]);
		return r;
	}
	_cleanup_close_ int qmp_ours = qmp_sp[0], qmp_theirs = qmp_sp[1];
	_cleanup_close_ int qga_ours = qga_sp[0], qga_theirs = qga_sp[1];

	_cleanup_(vm_freep) struct vm *vm = calloc(1, sizeof *vm);
	if (!vm)
		return -ENOMEM;
	int r = vm_smb_start(vm, plan, tmpdir);
	if (r < 0)
		return r;
	int smb_theirs = vm->smb ? smb_qemu_fd(vm->smb) : -1;
	r = profile_argv(plan, qmp_theirs, qga_theirs, smb_theirs, &vm->argv);
	if (r < 0)
		return r;
	_cleanup_(netguard_release) struct netguard guard = NETGUARD_NULL;
	_cleanup_strv_free_ char **setenv = NULL;
	if (!(vm->log_path = path_join(tmpdir, "qemu.log")))
		return -ENOMEM;
	if ((r = qemu_env(plan, tmpdir, &guard, &setenv)) < 0)
		return r;
	int keep[4] = {qmp_theirs, qga_theirs};
	size_t n_keep = 2;
	if (vm->smb)
		keep[n_keep++] = smb_theirs;
	if (guard.report_theirs >= 0)
		keep[n_keep++] = guard.report_theirs;
	_cleanup_close_ int log = open(vm->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log < 0)
		return -errno;
	struct proc_spec spec = {
		.argv = vm->argv,
		.setenv = setenv,
		.keep_fds = keep,
		.n_keep = n_keep,
		.stdin_fd = -1,
		.stdout_fd = log,
		.stderr_fd = log,
		.own_pgroup = true,
		.die_with_parent = true,
	};
	/* Bounded from QEMU's start to its end, whatever osrun waits for
	 * meanwhile (a command, an idle session, a copy, a pool's client). */
	if (plan->serial_log && (r = logtrim_new(plan->serial_log, LOGTRIM_MAX, LOGTRIM_KEEP, &vm->console)) < 0)
		return r;
	r = proc_spawn(&spec, &vm->pid);
	if (r < 0)
		return r;
	/* Only QEMU holds its ends now, so its death closes them: a QEMU that
	 * refuses its arguments is told at once, not after the timeout. */
	qmp_theirs = safe_close(qmp_theirs);
	qga_theirs = safe_close(qga_theirs);
	if (vm->smb)
		smb_qemu_fd_close(vm->smb);
	guard.report_theirs = safe_close(guard.report_theirs);
	r = qmp_new(TAKE_FD(qmp_ours), timeout, &vm->qmp);
	if (r < 0) {
		if (reterr_exit && vm_wait_exited(vm, 2 * USEC_PER_SEC, NULL))
			*reterr_exit = vm_exit_describe(vm);
		return r;
	}
	if (plan->network == NETWORK_INTERNET && (r = netguard_confirm(&guard)) < 0)
		return r;
	r = qga_new(TAKE_FD(qga_ours), &vm->qga);
	if (r < 0)
		return r;
	qga_bind_process(vm->qga, vm->pid);
	*ret = TAKE_PTR(vm);
	return 0;
}

bool vm_exited(struct vm *vm, int *ret_status)
{
	if (!vm->reaped) {
		pid_t p = waitpid(vm->pid, &vm->status, WNOHANG);
		if (p != vm->pid)
			return false;
		vm->reaped = true;
	}
	if (ret_status)
		*ret_status = vm->status;
	return true;
}

bool vm_wait_exited(struct vm *vm, usec_t timeout, int *ret_status)
{
	if (!vm->reaped) {
		int c = cancel_fd_get();
		cancel_fd_set(-1);
		int r = proc_wait(vm->pid, timeout, &vm->status);
		cancel_fd_set(c);
		if (r < 0)
			return false;
		vm->reaped = true;
	}
	if (ret_status)
		*ret_status = vm->status;
	return true;
}

struct vm *vm_free(struct vm *vm)
{
	if (!vm)
		return NULL;
	qmp_free(vm->qmp);
	qga_free(vm->qga);
	if (vm->pid > 0 && !vm->reaped)
		proc_kill_and_reap(vm->pid, 0);
	/* After QEMU: the guest's session ends with it. smbd may have started
	 * helpers (samba-dcerpcd) that are ours as subreaper. */
	vm->smb = smb_free(vm->smb);
	vm->console = logtrim_free(vm->console);
	proc_reap_orphans(0);
	strv_free(vm->argv);
	free(vm->log_path);
	free(vm);
	return NULL;
}

char *vm_last_error(const struct vm *vm)
{
	_cleanup_free_ char *s = NULL;
	if (read_full_file(vm->log_path, &s, NULL) < 0)
		return NULL;
	/* The last non-empty line is QEMU's reason. */
	char *end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = 0;
	if (end == s)
		return NULL;
	char *nl = strrchr(s, '\n');
	return strdup(nl ? nl + 1 : s);
}

static int set_capabilities(struct qmp *q, bool events, usec_t timeout, struct remote_error *err)
{
	json_object *caps = json_object_new_array();
	const char *names[] = {"x-ignore-shared", "events"};
	for (size_t i = 0; i < (events ? 2u : 1u); i++) {
		json_object *c = json_object_new_object();
		json_object_object_add(c, "capability", json_object_new_string(names[i]));
		json_object_object_add(c, "state", json_object_new_boolean(true));
		json_object_array_add(caps, c);
	}
	json_object *args = json_object_new_object();
	json_object_object_add(args, "capabilities", caps);
	return qmp_call(q, "migrate-set-capabilities", args, timeout, NULL, err);
}

static int pass_fd(struct qmp *q, const char *name, int fd, usec_t timeout, struct remote_error *err)
{
	json_object *args = json_object_new_object();
	json_object_object_add(args, "fdname", json_object_new_string(name));
	return qmp_call_fd(q, "getfd", args, fd, timeout, NULL, err);
}

static int uri_call(struct qmp *q, const char *cmd, const char *uri, usec_t timeout, struct remote_error *err)
{
	json_object *args = json_object_new_object();
	json_object_object_add(args, "uri", json_object_new_string(uri));
	return qmp_call(q, cmd, args, timeout, NULL, err);
}

/* "completed" or the error QEMU gives for a failed migration. */
static int migration_result(struct qmp *q, usec_t timeout, struct remote_error *err)
{
	json_object *st = NULL;
	int r = qmp_call(q, "query-migrate", NULL, timeout, &st, err);
	if (r < 0)
		return r;
	json_object *s = NULL, *d = NULL;
	json_object_object_get_ex(st, "status", &s);
	const char *status = s ? json_object_get_string(s) : "none";
	if (!strcmp(status, "completed")) {
		json_object_put(st);
		return 0;
	}
	if (err) {
		snprintf(err->class, sizeof err->class, "MigrationFailed");
		json_object_object_get_ex(st, "error-desc", &d);
		snprintf(err->desc, sizeof err->desc, "migration %s%s%s", status, d ? ": " : "",
			 d ? json_object_get_string(d) : "");
	}
	json_object_put(st);
	return -EREMOTEIO;
}

int vm_restore(struct vm *vm, const char *state_path, usec_t timeout, struct remote_error *err)
{
	usec_t deadline = deadline_after(timeout);
	int r = set_capabilities(vm->qmp, true, timeout, err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(state_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = pass_fd(vm->qmp, "osrun-state", fd, timeout, err);
	if (r < 0)
		return r;
	r = uri_call(vm->qmp, "migrate-incoming", "fd:osrun-state", timeout, err);
	if (r < 0)
		return r;
	for (;;) {
		json_object *data = NULL;
		usec_t left =
			deadline == USEC_INFINITY ? USEC_INFINITY : (deadline > now_usec() ? deadline - now_usec() : 0);
		r = qmp_wait_event(vm->qmp, "MIGRATION", left, &data);
		if (r < 0)
			return r;
		json_object *s = NULL;
		json_object_object_get_ex(data, "status", &s);
		bool done = s && (!strcmp(json_object_get_string(s), "completed") ||
				  !strcmp(json_object_get_string(s), "failed"));
		json_object_put(data);
		if (done)
			break;
	}
	r = migration_result(vm->qmp, timeout, err);
	if (r < 0)
		return r;
	return qmp_call(vm->qmp, "cont", NULL, timeout, NULL, err);
}

int vm_save(struct vm *vm, const char *state_path, usec_t timeout, struct remote_error *err)
{
	usec_t deadline = deadline_after(timeout);
	int r = qmp_call(vm->qmp, "stop", NULL, timeout, NULL, err);
	if (r < 0)
		return r;
	r = set_capabilities(vm->qmp, false, timeout, err);
	if (r < 0)
		return r;
	/* The default 128 MiB/s cap would throttle RAM that is not shared. */
	json_object *params = json_object_new_object();
	json_object_object_add(params, "max-bandwidth", json_object_new_int64(INT64_C(1) << 40));
	r = qmp_call(vm->qmp, "migrate-set-parameters", params, timeout, NULL, err);
	if (r < 0)
		return r;

	/* QEMU writes into a pipe and osrun into the file: QEMU 7.2 fails an
	 * outgoing fd: migration to a regular file, and exec: would need a
	 * shell. */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	_cleanup_close_ int rd = p[0];
	{
		_cleanup_close_ int wr = p[1];
		r = pass_fd(vm->qmp, "osrun-state", wr, timeout, err);
		if (r < 0)
			return r;
	}
	_cleanup_close_ int out = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r = uri_call(vm->qmp, "migrate", "fd:osrun-state", timeout, err);
	if (r < 0)
		return r;
	r = copy_stream(rd, out, deadline, NULL);
	if (r < 0)
		return r;
	r = migration_result(vm->qmp, timeout, err);
	if (r < 0)
		return r;
	return fsync(out) < 0 ? -errno : 0;
}

int vm_quit(struct vm *vm, usec_t timeout)
{
	if (vm_exited(vm, NULL))
		return 0;
	int r = qmp_call(vm->qmp, "quit", NULL, timeout, NULL, NULL);
	if (r < 0 && r != -ECONNRESET) {
		proc_kill_and_reap(vm->pid, 0);
		vm->reaped = true;
		return r;
	}
	r = proc_wait(vm->pid, timeout, &vm->status);
	if (r < 0) {
		proc_kill_and_reap(vm->pid, 0);
		vm->reaped = true;
		return r;
	}
	vm->reaped = true;
	return 0;
}
