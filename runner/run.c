#define _GNU_SOURCE
#include "run.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>

#include "copy.h"
#include "follow.h"
#include "../snapshots/backing.h"
#include "../snapshots/memory.h"
#include "lib/log.h"
#include "lib/request.h"

/* stdin goes to the guest when it is data. A file, whose end is known, is
 * copied before the command starts; a pipe or a socket is streamed while it
 * runs. A terminal is not data. */
enum stdin_kind { STDIN_NONE, STDIN_FILE, STDIN_STREAM };

static enum stdin_kind stdin_kind(const struct run_plan *p, const struct profile *prof)
{
	struct stat st;
	if (p->no_stdin || fstat(run_plan_fd(p, 0), &st) < 0)
		return STDIN_NONE;
	if (S_ISREG(st.st_mode))
		return STDIN_FILE;
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return STDIN_NONE;
	return prof->stdin_stream ? STDIN_STREAM : STDIN_FILE;
}

static int snapshot_error(struct store *s, const char *name, int r, struct error *e)
{
	if (r == -EBADMSG)
		return error_set(e, r, "snapshot '%s': meta.json is missing or damaged", name);
	if (r != -ENOENT)
		return error_errno(e, r, "snapshot '%s'", name);
	_cleanup_strv_free_ char **names = NULL;
	char have[512] = "";
	if (snapshot_list(s, &names) == 0)
		for (char **n = names; *n; n++)
			snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", n == names ? "" : ", ", *n);
	if (!strcmp(name, "provisioned") && !*have)
		return error_set(e, r, "snapshot 'provisioned': not found in %s (make it with 'osrun provision')",
				 s->root);
	return error_set(e, r, "snapshot '%s': not found in %s (have: %s)", name, s->root, *have ? have : "none");
}

static int check_machine(const struct run_plan *p, const struct snapshot *sn, enum accel accel, struct error *e)
{
	const struct machine *m = &sn->meta.machine;
	if (p->memory_mib && p->memory_mib != m->memory_mib)
		return error_set(e, -EINVAL,
				 "snapshot '%s' was saved with %u MiB of guest memory; it cannot be restored into a %u "
				 "MiB machine",
				 sn->name, m->memory_mib, p->memory_mib);
	int r = machine_check_host(m, sn->name, accel, "/proc/cpuinfo", e);
	if (r < 0)
		return r;
	if (p->as_user && strcmp(m->profile, "windows"))
		return error_set(e, -EINVAL,
				 "--user runs the command as a Windows guest's logged-on user; snapshot '%s' is a %s "
				 "guest, whose commands run as root",
				 sn->name, m->profile);
	return 0;
}

/* A build step's ENV and WORKDIR are the build state's alone: the
 * snapshot it runs on may be a tag (layer_find), which holds its file's
 * final ENV and WORKDIR, not those the step's key was made of. */
static const char *run_workdir(const struct run_plan *p, const struct warm *w)
{
	return p->workdir || p->step ? p->workdir : w->sn->meta.workdir;
}

static bool is_windows(const struct warm *w) { return !strcmp(w->prof->name, "windows"); }

/* The snapshot's variables (a build file's ENV; not for a build step, see
 * run_workdir), then -e: a later entry replaces an earlier one of the same
 * name (any case on Windows), since with two entries for a name which one
 * a guest sees is the guest's choice. */
static int user_env(const struct run_plan *p, const struct warm *w, char ***env)
{
	int r = 0;
	for (char **v = p->step ? NULL : w->sn->meta.env; r == 0 && v && *v; v++)
		r = env_set(env, *v, is_windows(w));
	for (char **v = p->env; r == 0 && v && *v; v++)
		r = env_set(env, *v, is_windows(w));
	return r;
}

/* The profile's variables, then user_env, then osrun's own. */
static char **guest_env(const struct run_plan *p, const struct warm *w, const char *run_id, bool stream)
{
	const struct profile *prof = w->prof;
	char **env = NULL;
	for (const char *const *v = prof->base_env; *v; v++)
		if (!(env = strv_append(env, *v)))
			return NULL;
	if (user_env(p, w, &env) < 0) {
		strv_free(env);
		return NULL;
	}
	char *extra[4] = {NULL};
	if ((prof->command_in_env && asprintf(&extra[0], "OSRUN_CMD=%s", p->command ? p->command : "") < 0) ||
	    asprintf(&extra[1], "OSRUN_SHARE=%s", prof->share_unc) < 0 ||
	    asprintf(&extra[2], "OSRUN_RUN_ID=%s", run_id) < 0 ||
	    asprintf(&extra[3], "OSRUN_WORKDIR=%s", run_workdir(p, w) ? run_workdir(p, w) : "") < 0) {
		for (size_t i = 0; i < ELEMENTSOF(extra); i++)
			free(extra[i]);
		strv_free(env);
		return NULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(extra); i++) {
		if (env && extra[i])
			env = strv_append(env, extra[i]);
		free(extra[i]);
	}
	if (env && stream)
		env = strv_append(env, "OSRUN_STDIN=stream");
	if (env && p->n_volumes) {
		_cleanup_free_ char *list = volume_guest_list(p->volumes, p->n_volumes), *var = NULL;
		if (!list || asprintf(&var, "OSRUN_VOLUMES=%s", list) < 0) {
			strv_free(env);
			return NULL;
		}
		env = strv_append(env, var);
	}
	return env;
}

static const char *run_id(const struct warm *w) { return strrchr(w->j.rundir->path, '.') + 1; }

char **run_guest_env(const struct run_plan *p, const struct warm *w) { return guest_env(p, w, run_id(w), false); }

static int wait_for_enter(void)
{
	log_info("paused: the VM keeps running; press Enter to stop it");
	_cleanup_close_ int fd = open("/dev/tty", O_RDONLY | O_CLOEXEC);
	int in = fd >= 0 ? fd : STDIN_FILENO;
	for (;;) {
		int r = fd_wait(in, POLLIN, USEC_INFINITY);
		if (r < 0)
			return r;
		char c;
		ssize_t k = read(in, &c, 1);
		if (k <= 0 || c == '\n')
			return 0;
	}
}

/* Starts the profile's share helper, so that it (and smbd's start on the
 * host) runs while the clock is set. *ret_pid is -1 when there is none to
 * wait for: no helper in the profile, or a snapshot older than it. */
static int share_prepare_start(struct warm *w, char **env, int64_t *ret_pid, struct error *e)
{
	*ret_pid = -1;
	if (!w->prof->prepare_path)
		return 0;
	struct remote_error err;
	struct qga_exec x = {.path = w->prof->prepare_path,
			     .argv = (char *const *)w->prof->prepare_argv,
			     .env = env,
			     .capture = true};
	int r = qga_exec(vm_qga(w->j.vm), &x, 10 * USEC_PER_SEC, ret_pid, &err);
	if (r == -EREMOTEIO) {
		log_debug("no share helper in this snapshot (%s); the command's helper mounts it", err.desc);
		*ret_pid = -1;
		return 0;
	}
	return r < 0 ? job_fail(&w->j, r, &err, "preparing the share", e) : 0;
}

static int share_prepare_wait(struct warm *w, int64_t pid, struct error *e)
{
	return pid < 0 ? 0 : job_wait_guest_helper(&w->j, pid, RUN_SHARE_TIMEOUT, "opening the run's share", e);
}

int run_plan_check(const struct run_plan *p, const struct warm *w, struct error *e)
{
	return check_machine(p, w->sn, w->sn->meta.machine.accel, e);
}

/* The snapshot to restore, checked against this host, and with -n the new
 * one begun. */
static int warm_open(const struct run_plan *p, struct warm *w, struct error *e)
{
	struct job *j = &w->j;
	int r = job_open_store(j, p->cache, true, e);
	if (r < 0)
		return r;
	r = snapshot_open(j->store, p->snapshot, &w->sn);
	if (r < 0)
		return snapshot_error(j->store, p->snapshot, r, e);
	/* What a store size budget removes last (budget.h). */
	snapshot_use_mark(w->sn);
	enum accel accel;
	if ((r = job_accel(&accel, e)) < 0 || (r = check_machine(p, w->sn, accel, e)) < 0)
		return r;
	w->prof = profile_find(w->sn->meta.machine.profile);
	if ((r = volume_open_caches(j->store, p->volumes, p->n_volumes, w->caches, e)) < 0)
		return r;
	if (p->new_snapshot) {
		r = snapshot_new_begin(j->store, p->new_snapshot, &w->nsn);
		if (r == -EEXIST)
			return error_set(e, r, "snapshot '%s' already exists (remove it with 'osrun snapshot rm %s')",
					 p->new_snapshot, p->new_snapshot);
		if (r < 0)
			return error_errno(e, r, "snapshot '%s'", p->new_snapshot);
	}
	return job_make_rundir(j, e);
}

/* The run's disk is a layer over the snapshot's. With -n it is made where
 * the new snapshot is, with a relative backing path, so it can be renamed
 * into place as the new snapshot's own layer; its RAM starts as a copy of
 * the parent's and the VM writes into it (share=on), the parent's stays
 * untouched. Without -n the VM maps the snapshot's RAM privately. */
static int warm_disks(struct warm *w, char **ret_disk, char **ret_memory, struct error *e)
{
	_cleanup_free_ char *sn_disk = snapshot_path(w->sn, "disk.qcow2"), *sn_mem = snapshot_path(w->sn, "memory"),
			    *disk = NULL, *memory = NULL, *backing = NULL;
	if (w->nsn) {
		disk = snapshot_new_path(w->nsn, "disk.qcow2");
		memory = snapshot_new_path(w->nsn, "memory");
		backing = store_disk_backing(STORE_SNAPSHOTS, STORE_SNAPSHOTS, w->sn->name);
	} else {
		disk = path_join(w->j.rundir->path, "disk.qcow2");
		memory = sn_mem ? strdup(sn_mem) : NULL;
		backing = sn_disk ? strdup(sn_disk) : NULL;
	}
	if (!sn_disk || !sn_mem || !disk || !memory || !backing)
		return error_errno(e, -ENOMEM, "paths");
	/* qemu-img below and QEMU open the whole chain, as the disks name it. */
	_cleanup_free_ char *bad = NULL;
	int r = snapshot_backing_check(w->j.store, w->sn, &bad);
	if (r == -EBADMSG)
		return error_set(e, r,
				 "snapshot '%s': refused: %s/disk.qcow2 names a backing file the store did not "
				 "give it (or is no qcow2 disk osrun made)",
				 w->sn->name, bad);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s': checking its disks (%s)", w->sn->name, bad ? bad : "");
	if ((r = job_make_overlay(backing, disk, e)) < 0)
		return r;
	/* A build layer keeps only its RAM's changes; a run maps a whole file. */
	if (!w->nsn && (r = snapshot_memory_ready(w->j.store, w->sn)) < 0)
		return error_errno(e, r, "the guest memory of snapshot '%s'", w->sn->name);
	if (w->nsn) {
		usec_t t0 = now_usec();
		if ((r = job_check_room(memory, (uint64_t)w->sn->meta.machine.memory_mib << 20, e)) < 0)
			return r;
		r = snapshot_memory_copy(w->j.store, w->sn, memory);
		if (r < 0)
			return error_errno(e, r, "copying the guest memory of snapshot '%s'", w->sn->name);
		log_debug("copied guest memory for the new snapshot in %.2f s", seconds_since(t0));
	}
	*ret_disk = TAKE_PTR(disk);
	*ret_memory = TAKE_PTR(memory);
	return 0;
}

/* QEMU started on the snapshot's state, its agent answering. */
static int warm_restore(const struct run_plan *p, struct warm *w, struct error *e)
{
	struct job *j = &w->j;
	_cleanup_free_ char *disk = NULL, *memory = NULL, *state = snapshot_path(w->sn, "state"),
			    *share = path_join(j->rundir->path, "share"),
			    *console = path_join(j->rundir->path, "console.log"),
			    *monitor = p->monitor ? path_join(j->rundir->path, "monitor.sock") : NULL,
			    *vnc = p->vnc ? path_join(j->rundir->path, "vnc.sock") : NULL,
			    *kernel = store_image_path(j->store, w->sn->meta.image, "vmlinuz"),
			    *initrd = store_image_path(j->store, w->sn->meta.image, "initrd.img");
	if (!state || !share || !console || (p->monitor && !monitor) || (p->vnc && !vnc) || !kernel || !initrd)
		return error_errno(e, -ENOMEM, "paths");
	int r = share_new(share, &w->sh);
	if (r < 0)
		return error_errno(e, r, "share %s", share);
	if ((r = warm_disks(w, &disk, &memory, e)) < 0)
		return r;
	struct smb_share vols[RUN_VOLUMES_MAX];
	char names[RUN_VOLUMES_MAX][8];
	volume_shares(p->volumes, p->n_volumes, w->caches, vols, names);
	struct vm_plan plan = {
		.machine = w->sn->meta.machine,
		.volumes = vols,
		.n_volumes = p->n_volumes,
		.kernel = kernel,
		.initrd = initrd,
		.disk = disk,
		.memory = memory,
		.memory_shared = w->nsn != NULL,
		.share = share,
		.incoming = true,
		.serial_log = console,
		.monitor = monitor,
		.vnc = vnc,
		.network = p->network,
	};
	usec_t t0 = w->qemu_started = now_usec();
	if ((r = job_start_vm(j, &plan, e)) < 0 || (r = job_start_debug(j, &plan, p->novnc, e)) < 0)
		return r;
	struct remote_error err;
	r = vm_restore(j->vm, state, 120 * USEC_PER_SEC, &err);
	if (r < 0)
		return job_fail(j, r, &err, "restoring snapshot", e);
	log_debug("restored '%s' in %.3f s", w->sn->name, seconds_since(t0));
	return job_wait_agent(j, p->agent_timeout, "restored guest", e);
}

int run_warm_up(const struct run_plan *p, struct warm *w, struct error *e)
{
	int r;
	if ((r = warm_open(p, w, e)) < 0 || (r = warm_restore(p, w, e)) < 0)
		return r;
	usec_t t0 = w->qemu_started;
	_cleanup_strv_free_ char **env = guest_env(p, w, run_id(w), false);
	if (!env)
		return error_errno(e, -ENOMEM, "environment");
	int64_t prepare_pid;
	if ((r = share_prepare_start(w, env, &prepare_pid, e)) < 0)
		return r;
	struct remote_error err;
	r = qga_set_time(vm_qga(w->j.vm), (int64_t)realtime_usec() * 1000, 10 * USEC_PER_SEC, &err);
	if (r < 0)
		return job_fail(&w->j, r, &err, "setting the guest clock", e);
	log_debug("guest clock set %.3f s after QEMU", seconds_since(t0));
	if ((r = share_prepare_wait(w, prepare_pid, e)) < 0)
		return r;
	if (prepare_pid >= 0) {
		w->share_ready = now_usec();
		log_debug("share ready %.3f s after QEMU", seconds_since(t0));
	}
	return 0;
}

int run_save_snapshot(const struct run_plan *p, struct warm *w, struct error *e)
{
	struct snapshot_meta meta = {
		.parent = w->sn->name,
		.image = w->sn->meta.image,
		.machine = w->sn->meta.machine,
		.created = iso_time_now(),
		.made_by = p->step ? p->step->layer.step : p->command,
		/* What a build file set is kept down the chain. */
		.env = p->step ? p->step->env : w->sn->meta.env,
		.workdir = p->step ? p->step->workdir : w->sn->meta.workdir,
	};
	if (p->step)
		meta.layer = p->step->layer;
	/* Build layers keep their RAM as a delta: most steps change little. */
	int r = job_save_snapshot(&w->j, w->prof, w->nsn, &meta, p->step ? w->sn : NULL, e);
	free(meta.created);
	free(meta.qemu_version);
	return r;
}

/* The Windows helper's request in the share (request.h). */
static int write_request(const struct run_plan *p, struct warm *w, bool stdin_stream, struct error *e)
{
	const char *cmd = p->command ? p->command : "";
	_cleanup_strv_free_ char **env = NULL;
	_cleanup_free_ char *volumes = p->n_volumes ? volume_guest_list(p->volumes, p->n_volumes) : NULL;
	if (user_env(p, w, &env) < 0 || (p->n_volumes && !volumes))
		return error_errno(e, -ENOMEM, "the command's request");
	const char *wd = run_workdir(p, w);
	bool needs_script = request_needs_script(cmd);
	_cleanup_free_ char *json = request_json(cmd, wd && *wd ? wd : "C:\\", env, volumes, p->as_user, stdin_stream);
	_cleanup_free_ char *script = needs_script ? request_script(cmd) : NULL;
	if (!json || (needs_script && !script))
		return error_errno(e, -ENOMEM, "the command's request");
	int r = script ? share_write_file(w->sh, "command.cmd", script) : 0;
	if (r == 0)
		r = share_write_file(w->sh, "request.json", json);
	return r < 0 ? error_errno(e, r, "writing the command's request into the run's share") : 0;
}

/* After the client's own Ctrl-C or SIGTERM, or its --timeout (a signal
 * from anyone else, such as `session stop`, ends the session), stops the
 * command and the processes it started in the guest, and waits for its
 * helper to end: 0 when the clone can take the next command. */
static int command_stop(const struct run_plan *p, struct warm *w, int64_t pid, int why, struct error *e)
{
	if (!w->prof->kill_path || !((why == -ECANCELED && e->signal_pid == getpid()) || why == -ETIME))
		return -EOPNOTSUPP;
	/* All within the 30 s a pool client waits after passing a signal.
	 * The agent is synced again first: the interrupt may have cut a
	 * question to it short. */
	usec_t deadline = deadline_after(25 * USEC_PER_SEC);
	share_set_deadline(w->sh, deadline);
	qga_set_wall_limit(vm_qga(w->j.vm), deadline); /* a stopped QEMU must not hold the client longer */
	struct error ke = {0};
	_cleanup_strv_free_ char **env = guest_env(p, w, run_id(w), false);
	struct qga_exec x = {
		.path = w->prof->kill_path, .argv = (char *const *)w->prof->kill_argv, .env = env, .capture = true};
	int r = job_wait_agent(&w->j, 5 * USEC_PER_SEC, "the guest agent, after the interrupt", &ke);
	if (r == 0)
		r = env ? job_run_guest_helper(&w->j, &x, 10 * USEC_PER_SEC, "stopping the command", &ke) : -ENOMEM;
	struct run_result res = {0};
	if (r == 0)
		r = run_follow(p, w, pid, -1, deadline, &res, &ke);
	run_result_release(&res);
	qga_set_wall_limit(vm_qga(w->j.vm), USEC_INFINITY);
	if (r < 0) {
		log_warn("the interrupted command could not be stopped in the guest (%s): the session ends", ke.msg);
		return r;
	}
	char *vm = strstr(e->msg, "; the VM is stopped");
	if (vm)
		*vm = 0;
	size_t n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, "; the command was stopped, the session goes on");
	return 0;
}

int run_command(const struct run_plan *p, struct warm *w, struct run_result *ret, struct error *e)
{
	w->command_stopped = false;
	int r;
	usec_t deadline = p->timeout ? deadline_after(p->timeout) : USEC_INFINITY;
	share_set_deadline(w->sh, deadline);
	share_set_limit(w->sh, p->share_limit_mib ? (uint64_t)p->share_limit_mib << 20 : SHARE_LIMIT_DEFAULT);
	share_set_log(w->sh, p->step_log_fd > 2 ? p->step_log_fd : -1);
	enum stdin_kind in = stdin_kind(p, w->prof);
	if (in == STDIN_FILE && (r = share_fill_stdin(w->sh, run_plan_fd(p, 0))) < 0)
		return r == -ETIME || r == -ECANCELED ? run_stream_error(p, r, e) : error_errno(e, r, "reading stdin");
	_cleanup_strv_free_ char **env = guest_env(p, w, run_id(w), in == STDIN_STREAM);
	if (!env)
		return error_errno(e, -ENOMEM, "environment");
	if ((r = run_copy_in(p, w, env, e)) < 0)
		return r;
	if (is_windows(w) && (r = write_request(p, w, in == STDIN_STREAM, e)) < 0)
		return r;
	int64_t pid;
	struct remote_error err;
	struct qga_exec x = profile_command_exec(w->prof, env);
	r = qga_exec(vm_qga(w->j.vm), &x, 10 * USEC_PER_SEC, &pid, &err);
	if (r < 0)
		return job_fail(&w->j, r, &err, "starting the command", e);
	log_debug("command started %.3f s after QEMU", seconds_since(w->qemu_started));

	struct run_result res = {0};
	r = run_follow(p, w, pid, in == STDIN_STREAM ? run_plan_fd(p, 0) : -1, deadline, &res, e);
	log_debug("command ended %.3f s after QEMU", seconds_since(w->qemu_started));
	if (r < 0) {
		w->command_stopped = p->keep_on_interrupt && command_stop(p, w, pid, r, e) == 0;
		if (p->new_snapshot && !w->command_stopped) {
			size_t n = strlen(e->msg);
			snprintf(e->msg + n, sizeof e->msg - n, "\nsnapshot '%s' not saved: the command did not finish",
				 p->new_snapshot);
		}
		return r;
	}
	if ((r = run_copy_out_after(p, w, env, res.status, e)) < 0) {
		run_result_release(&res);
		return r;
	}
	if (p->pause && wait_for_enter() == -ECANCELED)
		r = error_interrupted(e);
	/* A failed command's state is no layer to build on: kept only when
	 * asked for, so a broken layer never passes for a good one. */
	if (r == 0 && p->new_snapshot && w->nsn && res.status != 0 && !p->save_failed)
		log_info("snapshot '%s' not saved: the command exited with status %d (--save-failed keeps it)",
			 p->new_snapshot, res.status);
	else if (r == 0 && p->new_snapshot && w->nsn)
		r = run_save_snapshot(p, w, e);
	if (r < 0) {
		run_result_release(&res);
		return r;
	}
	*ret = res;
	return 0;
}
