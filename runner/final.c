/* The last stage of an image build: boot the built image as runs will
 * restore it, wait for the agent and for the guest to go idle, save the
 * snapshot; and build_provision, which decides whether any of it is needed. */
#define _GNU_SOURCE
#include "build.h"

#include <string.h>

#include "../snapshots/backing.h"
#include "lib/log.h"

#define IDLE_PERCENT 10

/* The final boot: the run's machine, RAM in the snapshot's file, shared. */
static struct vm_plan final_plan(const struct build_final *f, const char *kernel, const char *initrd, const char *disk,
				 const char *memory, const char *share, const char *console, const char *vnc)
{
	return (struct vm_plan){
		.machine = f->machine,
		.kernel = kernel,
		.initrd = initrd,
		.append = f->append,
		.disk = disk,
		.memory = memory,
		.memory_shared = true,
		.share = share,
		.serial_log = console,
		.vnc = f->vnc ? vnc : NULL,
	};
}

int build_print_final(struct job *j, const struct build *b, const struct build_final *f, const char *name, FILE *out,
		      struct error *e)
{
	_cleanup_free_ char *image = NULL;
	int r = build_image_id(b, &image, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *disk = store_path(j->store, STORE_SNAPSHOTS, name, "disk.qcow2"),
			    *memory = store_path(j->store, STORE_SNAPSHOTS, name, "memory"),
			    *kernel = store_image_path(j->store, image, "vmlinuz"),
			    *initrd = store_image_path(j->store, image, "initrd.img");
	if (!disk || !memory || !kernel || !initrd)
		return error_errno(e, -ENOMEM, "build");
	struct vm_plan plan = final_plan(f, kernel, initrd, disk, memory, "RUNDIR/share", NULL, "RUNDIR/vnc.sock");
	_cleanup_strv_free_ char **argv = NULL;
	if ((r = profile_argv(&plan, 3, 4, 5, &argv)) < 0)
		return error_errno(e, r, "QEMU command line");
	fprintf(out, "snapshot %s: boot image %s, wait for the agent and for idle, save\n  qemu: ", name, image);
	build_print_argv(out, argv);
	return 0;
}

/* CPU time QEMU used so far, in clock ticks. */
static int cpu_ticks(pid_t pid, unsigned long long *ret)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	_cleanup_free_ char *text = NULL;
	int r = read_full_file(path, &text, NULL);
	if (r < 0)
		return r;
	/* Fields after the command name, which may hold spaces: state is 3rd,
	 * utime 14th and stime 15th. */
	const char *p = strrchr(text, ')');
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &ut, &st) != 2)
		return -EBADMSG;
	*ret = ut + st;
	return 0;
}

/* Waits until QEMU has used under IDLE_PERCENT of one CPU for window. */
static int wait_idle(struct job *j, usec_t window, usec_t timeout, struct error *e)
{
	long hz = sysconf(_SC_CLK_TCK);
	usec_t deadline = deadline_after(timeout), quiet_since = now_usec();
	unsigned long long before;
	if (cpu_ticks(vm_pid(j->vm), &before) < 0)
		return 0;
	while (now_usec() - quiet_since < window) {
		usec_t t = now_usec();
		int r = fd_wait(-1, 0, deadline_after(window < USEC_PER_SEC ? window : USEC_PER_SEC));
		if (r == -ECANCELED)
			return error_interrupted(e);
		unsigned long long after;
		if (cpu_ticks(vm_pid(j->vm), &after) < 0)
			return job_fail(j, -ECONNRESET, NULL, "waiting for the guest to go idle", e);
		double busy = (double)(after - before) / (double)hz / ((double)(now_usec() - t) / USEC_PER_SEC);
		before = after;
		if (busy * 100 >= IDLE_PERCENT)
			quiet_since = now_usec();
		if (now_usec() >= deadline) {
			log_warn("the guest is still busy after %.0f s; saving anyway", (double)timeout / USEC_PER_SEC);
			return 0;
		}
	}
	return 0;
}

static int build_snapshot(struct job *j, const struct build_final *f, const char *image, struct snapshot_new *n,
			  struct snapshot_meta *meta, struct error *e)
{
	_cleanup_free_ char *base = store_disk_backing(STORE_SNAPSHOTS, STORE_IMAGES, image),
			    *disk = snapshot_new_path(n, "disk.qcow2"), *memory = snapshot_new_path(n, "memory"),
			    *share = path_join(j->rundir->path, "share"),
			    *console = path_join(j->rundir->path, "console.log"),
			    *vnc = path_join(j->rundir->path, "vnc.sock"),
			    *kernel = store_image_path(j->store, image, "vmlinuz"),
			    *initrd = store_image_path(j->store, image, "initrd.img");
	if (!base || !disk || !memory || !share || !console || !vnc || !kernel || !initrd)
		return error_errno(e, -ENOMEM, "paths");
	_cleanup_free_ char *bad = NULL;
	int r = image_backing_check(j->store, image, &bad);
	if (r == -EBADMSG)
		return error_set(e, r, "image %s: refused: its disk names a backing file (or is no qcow2 disk)", image);
	if (r < 0)
		return error_errno(e, r, "image %s", image);
	if ((r = job_make_overlay(base, disk, e)) < 0)
		return r;
	/* The same network and share as a run: the saved device state must
	 * fit the machine that restores it. */
	_cleanup_(share_freep) struct share *sh = NULL;
	if ((r = share_new(share, &sh)) < 0)
		return error_errno(e, r, "share %s", share);
	if ((r = job_check_room(memory, (uint64_t)f->machine.memory_mib << 20, e)) < 0)
		return r;
	struct vm_plan plan = final_plan(f, kernel, initrd, disk, memory, share, console, vnc);
	log_info("booting the built image to save '%s' (%u MiB, %s)", n->name, f->machine.memory_mib,
		 accel_to_string(f->machine.accel));
	usec_t t0 = now_usec();
	if ((r = job_start_vm(j, &plan, e)) < 0 || (f->vnc && (r = job_start_debug(j, &plan, NULL, e)) < 0) ||
	    (r = job_wait_agent(j, f->agent_timeout, "booted guest", e)) < 0)
		return r;
	log_info("guest agent ready after %.1f s", seconds_since(t0));
	if ((r = wait_idle(j, f->idle_window, 600 * USEC_PER_SEC, e)) < 0)
		return r;
	meta->image = (char *)image;
	meta->machine = f->machine;
	if ((r = machine_record_cpu(&meta->machine, "/proc/cpuinfo")) < 0)
		return error_errno(e, r, "reading the host's CPU model from /proc/cpuinfo");
	r = job_save_snapshot(j, f->profile, n, meta, NULL, e);
	meta->image = NULL;
	return r;
}

/* old, as a snapshot's meta has it, is what this host would build now. */
static bool machine_equal(const struct machine *old, const struct machine *now)
{
	struct machine host = *now;
	if (machine_record_cpu(&host, "/proc/cpuinfo") < 0)
		return false;
	return !strcmp(old->profile, host.profile) && old->memory_mib == host.memory_mib && old->cpus == host.cpus &&
	       old->accel == host.accel && !strcmp(old->cpu, host.cpu);
}

/* Replaces snapshot name when it exists (refused when a run uses it or a
 * snapshot is built on it). */
static int replace_snapshot(struct job *j, const char *name, struct error *e)
{
	_cleanup_free_ char *child = NULL;
	int r = snapshot_remove(j->store, name, &child);
	if (r == -ENOTEMPTY)
		return error_set(e, r, "snapshot '%s' cannot be replaced: snapshot '%s' is built on it", name, child);
	if (r == -EBUSY)
		return error_set(e, r, "snapshot '%s' cannot be replaced: a run is using it", name);
	if (r < 0 && r != -ENOENT)
		return error_errno(e, r, "snapshot '%s'", name);
	return 0;
}

/* 1 when snapshot name exists and was built from the same inputs; 0 when a
 * build is needed. */
static int provision_up_to_date(struct job *j, const struct build_final *f, const char *name, const char *built,
				bool force, struct error *e)
{
	_cleanup_(snapshot_freep) struct snapshot *old = NULL;
	if (snapshot_open(j->store, name, &old) < 0)
		return 0;
	if (old->meta.build && !strcmp(old->meta.build, built) && machine_equal(&old->meta.machine, &f->machine)) {
		log_info("snapshot '%s' is up to date (built from the same inputs)", name);
		return 1;
	}
	if (!force)
		return error_set(e, -EEXIST,
				 "snapshot '%s' exists and was built from other inputs (replace it with --force)",
				 name);
	return 0;
}

int build_provision(struct job *j, const struct build *b, const struct build_final *f, const char *name, bool force,
		    const char *made_by, struct error *e)
{
	/* What the snapshot is built from: the image and the kernel line. */
	_cleanup_free_ char *id = NULL, *built = NULL;
	int r = build_image_id(b, &id, e);
	if (r < 0)
		return r;
	if (asprintf(&built, "%s%s%s", id, f->append ? " append=" : "", f->append ? f->append : "") < 0)
		return error_errno(e, -ENOMEM, "build");
	if ((r = provision_up_to_date(j, f, name, built, force, e)) != 0)
		return r < 0 ? r : 0;
	if (!j->rundir && (r = job_make_rundir(j, e)) < 0)
		return r;
	free(id);
	id = NULL;
	if ((r = build_run(j, b, &id, e)) < 0 || (force && (r = replace_snapshot(j, name, e)) < 0))
		return r;
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	r = snapshot_new_begin(j->store, name, &n);
	if (r == -EEXIST)
		return error_set(e, r, "snapshot '%s' was made by another run meanwhile", name);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", name);
	struct snapshot_meta meta = {.created = iso_time_now(), .made_by = (char *)made_by, .build = built};
	r = build_snapshot(j, f, id, n, &meta, e);
	free(meta.created);
	free(meta.qemu_version);
	/* QEMU stops before n's directory, its RAM file, is removed. */
	j->vm = vm_free(j->vm);
	return r;
}
