#define _GNU_SOURCE
#include "build.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib/log.h"

#define STATUS_FILE "status.txt"
#define IDLE_PERCENT 10

static int stage_key(uint64_t prev, const struct build *b, const struct stage *st, uint64_t *ret)
{
	uint64_t h = fnv1a64(FNV1A64_INIT, &prev, sizeof prev);
	h = fnv1a64(h, b->profile->name, strlen(b->profile->name) + 1);
	h = fnv1a64(h, st->name, strlen(st->name) + 1);
	unsigned char flags[] = {st->wait_done, st->install_media};
	h = fnv1a64(h, flags, sizeof flags);
	if (st->script) {
		int r = hash_file(&h, st->script);
		if (r < 0)
			return r;
	}
	*ret = h;
	return 0;
}

static int image_key(const struct build *b, uint64_t *keys, uint64_t *ret)
{
	uint64_t k = b->seed;
	for (size_t i = 0; i < b->n_stages; i++) {
		int r = stage_key(k, b, &b->stages[i], &k);
		if (r < 0)
			return r;
		if (keys)
			keys[i] = k;
	}
	*ret = k;
	return 0;
}

/* Each stage's key and the image's, reported on failure: an exit code. */
static int build_keys(const struct build *b, uint64_t **ret_keys, uint64_t *ret_final)
{
	_cleanup_free_ uint64_t *keys = calloc(b->n_stages ? b->n_stages : 1, sizeof *keys);
	if (!keys)
		return log_errno(-ENOMEM, "build"), EXIT_OSRUN;
	int r = image_key(b, keys, ret_final);
	if (r < 0)
		return log_errno(r, "hashing the stages' inputs"), EXIT_OSRUN;
	*ret_keys = TAKE_PTR(keys);
	return 0;
}

int build_image_id(const struct build *b, char **ret)
{
	uint64_t k;
	int r = image_key(b, NULL, &k);
	if (r < 0)
		return r;
	return asprintf(ret, "build-%016llx", (unsigned long long)k) < 0 ? -ENOMEM : 0;
}

static char *entry_name(const struct stage *st, uint64_t key)
{
	char *s;
	return asprintf(&s, "%s-%016llx", st->name, (unsigned long long)key) < 0 ? NULL : s;
}

/* The stage plan: build media, anonymous RAM, a reboot ends QEMU. */
static struct vm_plan stage_plan(const struct build *b, const struct stage *st, const char *disk, const char *share,
				 const char *console, const char *append)
{
	return (struct vm_plan){
		.machine = b->machine,
		.kernel = b->kernel,
		.initrd = b->initrd,
		.append = append,
		.disk = disk,
		.share = share,
		.serial_log = console,
		.cdroms = st->install_media ? b->install_media : b->media,
		.boot_cdrom = st->install_media,
		.reboot_exits = true,
		.vnc = b->vnc,
	};
}

/* The test guest's init runs the share's stage script and powers off. The
 * user's --append is for the provisioned machine, not for the stages. */
static const char *stage_append(const struct build *b)
{
	return strcmp(b->profile->name, "linux") ? NULL : "osrun.stage=1";
}

static void print_argv(char **argv)
{
	for (char **a = argv; *a; a++) {
		bool plain = **a && !(*a)[strcspn(*a, " \t\n'\"\\$`;&|<>()*?[]#~")];
		if (plain)
			printf("%s%s", a == argv ? "" : " ", *a);
		else {
			printf("%s'", a == argv ? "" : " ");
			for (const char *c = *a; *c; c++)
				if (*c == '\'')
					printf("'\\''");
				else
					putchar(*c);
			putchar('\'');
		}
	}
	putchar('\n');
}

int build_print(struct job *j, const struct build *b)
{
	_cleanup_free_ uint64_t *keys = NULL;
	const char *append = stage_append(b);
	uint64_t final;
	int r = build_keys(b, &keys, &final);
	if (r)
		return r;
	printf("image: %s/build-%016llx\n", j->store->images, (unsigned long long)final);
	for (size_t i = 0; i < b->n_stages; i++) {
		const struct stage *st = &b->stages[i];
		_cleanup_free_ char *entry = entry_name(st, keys[i]), *dir = entry ? path_join(j->store->stages, entry) : NULL,
				    *disk = dir ? path_join(dir, "disk.qcow2") : NULL, *share = NULL;
		if (!disk || asprintf(&share, "RUNDIR/stage-%s", st->name) < 0)
			return log_errno(-ENOMEM, "build"), EXIT_OSRUN;
		struct vm_plan plan = stage_plan(b, st, disk, share, NULL, append);
		_cleanup_strv_free_ char **argv = NULL;
		r = profile_argv(&plan, 3, 4, &argv);
		if (r < 0)
			return log_errno(r, "stage %s: QEMU command line", st->name), EXIT_OSRUN;
		printf("stage %zu/%zu %s: %s%s\n", i + 1, b->n_stages, st->name,
		       file_exists(dir) ? "cached in " : "would be made in ", dir);
		if (st->script)
			printf("  script: %s\n", st->script);
		printf("  qemu: ");
		print_argv(argv);
	}
	return 0;
}

/* The final boot: the run's machine, RAM in the snapshot's file, shared. */
static struct vm_plan final_plan(const struct build_final *f, const char *kernel, const char *initrd, const char *disk,
				 const char *memory, const char *share, const char *console)
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
		.vnc = f->vnc,
	};
}

int build_print_final(struct job *j, const struct build *b, const struct build_final *f, const char *name)
{
	_cleanup_free_ char *image = NULL;
	int r = build_image_id(b, &image);
	if (r < 0)
		return log_errno(r, "hashing the stages' inputs"), EXIT_OSRUN;
	_cleanup_free_ char *dir = path_join(j->store->snapshots, name), *disk = path_join(dir, "disk.qcow2"),
			    *memory = path_join(dir, "memory"), *kernel = store_image_path(j->store, image, "vmlinuz"),
			    *initrd = store_image_path(j->store, image, "initrd.img");
	if (!dir || !disk || !memory || !kernel || !initrd)
		return log_errno(-ENOMEM, "build"), EXIT_OSRUN;
	struct vm_plan plan = final_plan(f, kernel, initrd, disk, memory, "RUNDIR/share", NULL);
	_cleanup_strv_free_ char **argv = NULL;
	r = profile_argv(&plan, 3, 4, &argv);
	if (r < 0)
		return log_errno(r, "QEMU command line"), EXIT_OSRUN;
	printf("snapshot %s: boot image %s, wait for the agent and for idle, save\n  qemu: ", name, image);
	print_argv(argv);
	return 0;
}

/* The last line of status.txt, and whether any line says "done". */
static char *status_read(const char *path, bool *ret_done)
{
	_cleanup_free_ char *text = NULL;
	*ret_done = false;
	if (read_full_file(path, &text, NULL) < 0)
		return NULL;
	char *last = NULL;
	for (char *save = NULL, *line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (!strcmp(line, "done"))
			*ret_done = true;
		else if (*line)
			last = line;
	}
	return last ? strdup(last) : NULL;
}

static int make_disk(const char *backing, const char *disk, uint64_t size)
{
	if (backing)
		return job_make_overlay(backing, disk);
	char sz[32];
	snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
	char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", (char *)disk, sz, NULL};
	return job_run_tool(argv, disk);
}

/* Boots until the stage is done. n holds the stage's layer. */
static int stage_boot(struct job *j, const struct build *b, const struct stage *st, size_t idx, const char *disk,
		      const char *share)
{
	_cleanup_free_ char *status_path = path_join(share, STATUS_FILE), *console = NULL;
	const char *append = stage_append(b);
	if (!status_path || asprintf(&console, "%s/console-%s.log", j->rundir->path, st->name) < 0)
		return log_errno(-ENOMEM, "stage %s", st->name), EXIT_OSRUN;
	usec_t t0 = now_usec(), deadline = deadline_after(st->timeout);
	_cleanup_free_ char *last = NULL;
	for (unsigned boot = 1;; boot++) {
		struct vm_plan plan = stage_plan(b, st, disk, share, console, append);
		int r = job_start_vm(j, &plan);
		if (r)
			return r;
		if (b->vnc && (r = job_start_debug(j, &plan, NULL)))
			return r;
		int status = 0;
		while (!vm_exited(j->vm, &status)) {
			r = fd_wait(qmp_fd(vm_qmp(j->vm)), POLLIN, deadline_after(USEC_PER_SEC));
			if (r == -ECANCELED)
				return job_interrupted();
			if (r > 0 && qmp_poll(vm_qmp(j->vm)) == -ECONNRESET)
				vm_wait_exited(j->vm, 10 * USEC_PER_SEC, &status);
			bool done;
			_cleanup_free_ char *now = status_read(status_path, &done);
			bool changed = now && (!last || strcmp(now, last));
			if (changed) {
				free(last);
				last = TAKE_PTR(now);
			}
			/* A terminal shows the clock; a log gets each new line once. */
			if (changed || isatty(STDERR_FILENO))
				log_progress("stage %zu/%zu %s: %.0f s%s%s", idx + 1, b->n_stages, st->name,
					     seconds_since(t0), last ? ": " : "", last ? last : "");
			if (now_usec() >= deadline) {
				log_error("stage %s: not done after %.0f s; last status: %s (console: %s)", st->name,
					  (double)st->timeout / USEC_PER_SEC, last ? last : "(none)", console);
				return EXIT_OSRUN;
			}
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return job_fail(j, -ECONNRESET, NULL, st->name);
		j->vm = vm_free(j->vm);
		bool done;
		free(last);
		last = status_read(status_path, &done);
		if (!st->wait_done || done)
			break;
		log_progress_end();
		if (boot >= st->max_boots) {
			log_progress_end();
			log_error("stage %s: the guest stopped %u time%s without saying done; last status: %s", st->name,
				  boot, boot == 1 ? "" : "s", last ? last : "(none)");
			return EXIT_OSRUN;
		}
		log_debug("stage %s: the guest rebooted (boot %u of at most %u)", st->name, boot, st->max_boots);
	}
	log_progress("stage %zu/%zu %s: done in %.0f s", idx + 1, b->n_stages, st->name, seconds_since(t0));
	log_progress_end();
	return 0;
}

static int stage_run(struct job *j, const struct build *b, size_t idx, const char *entry, const char *backing,
		     struct snapshot_new **ret)
{
	const struct stage *st = &b->stages[idx];
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	int r = store_new_begin(j->store, j->store->stages, entry, &n);
	if (r == -EEXIST) {
		log_error("stage %s: made by another build meanwhile; run again to use it", st->name);
		return EXIT_OSRUN;
	}
	if (r < 0)
		return log_errno(r, "stage %s in %s", st->name, j->store->stages), EXIT_OSRUN;
	_cleanup_free_ char *disk = snapshot_new_path(n, "disk.qcow2"), *share = NULL;
	if (!disk || asprintf(&share, "%s/stage-%s", j->rundir->path, st->name) < 0)
		return log_errno(-ENOMEM, "stage %s", st->name), EXIT_OSRUN;
	if ((r = make_disk(backing, disk, b->disk_size)))
		return r;
	if ((r = mkdir(share, 0700)) < 0)
		return log_errno(-errno, "%s", share), EXIT_OSRUN;
	_cleanup_free_ char *status = path_join(share, STATUS_FILE), *script = path_join(share, b->profile->stage_script);
	if (!status || !script)
		return log_errno(-ENOMEM, "stage %s", st->name), EXIT_OSRUN;
	if ((r = write_file_atomic(status, "", 0, 0644)) < 0)
		return log_errno(r, "%s", status), EXIT_OSRUN;
	if (st->script && (r = copy_file_sparse(st->script, script, 0644)) < 0)
		return log_errno(r, "stage %s: copying %s", st->name, st->script), EXIT_OSRUN;

	if ((r = stage_boot(j, b, st, idx, disk, share)))
		return r;
	_cleanup_free_ char *log = snapshot_new_path(n, STATUS_FILE);
	if (log)
		copy_file_sparse(status, log, 0644); /* what the guest said, for later reading */
	r = store_new_commit(n);
	if (r < 0)
		return log_errno(r, "stage %s", st->name), EXIT_OSRUN;
	*ret = TAKE_PTR(n); /* its lock keeps other builds from removing it */
	return 0;
}

static int image_flatten(struct job *j, const struct build *b, const char *id, const char *top)
{
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	int r = store_new_begin(j->store, j->store->images, id, &n);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return log_errno(r, "image %s", id), EXIT_OSRUN;
	usec_t t0 = now_usec();
	_cleanup_free_ char *disk = snapshot_new_path(n, "disk.qcow2");
	if (!disk)
		return log_errno(-ENOMEM, "image"), EXIT_OSRUN;
	/* One standalone file: "convert -B" would copy only the top layer. */
	char *conv[] = {"qemu-img", "convert", "-O", "qcow2", (char *)top, disk, NULL};
	if ((r = job_run_tool(conv, disk)))
		return r;
	for (const char *const *f = b->image_files; b->base_image && f && *f; f++) {
		_cleanup_free_ char *from = store_image_path(j->store, b->base_image, *f), *to = snapshot_new_path(n, *f);
		if (!from || !to)
			return log_errno(-ENOMEM, "image"), EXIT_OSRUN;
		if (link(from, to) < 0 && (r = copy_file_sparse(from, to, 0444)) < 0)
			return log_errno(r, "copying %s", from), EXIT_OSRUN;
	}
	chmod(disk, 0444);
	r = store_new_commit(n);
	if (r < 0 && r != -EEXIST)
		return log_errno(r, "image %s", id), EXIT_OSRUN;
	log_debug("flattened the stages into %s in %.1f s", id, seconds_since(t0));
	return 0;
}

struct held {
	struct snapshot_new *made;
	int lock_fd;
	char *dir;
};

static void held_release(struct held *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snapshot_new_free(h[i].made);
		if (h[i].lock_fd >= 0)
			close(h[i].lock_fd);
		free(h[i].dir);
	}
	free(h);
}

int build_run(struct job *j, const struct build *b, char **ret_image)
{
	_cleanup_free_ uint64_t *keys = NULL;
	uint64_t final;
	int r = build_keys(b, &keys, &final);
	if (r)
		return r;
	_cleanup_free_ char *id = NULL, *image_dir = NULL, *prev = NULL;
	if (asprintf(&id, "build-%016llx", (unsigned long long)final) < 0 || !(image_dir = path_join(j->store->images, id)))
		return log_errno(-ENOMEM, "build"), EXIT_OSRUN;
	if (file_exists(image_dir)) {
		log_info("all %zu stages cached: image %s", b->n_stages, id);
		*ret_image = TAKE_PTR(id);
		return 0;
	}
	if (b->base_image && asprintf(&prev, "../../images/%s/disk.qcow2", b->base_image) < 0)
		return log_errno(-ENOMEM, "build"), EXIT_OSRUN;

	struct held *h = calloc(b->n_stages ? b->n_stages : 1, sizeof *h);
	if (!h)
		return log_errno(-ENOMEM, "build"), EXIT_OSRUN;
	for (size_t i = 0; i < b->n_stages; i++)
		h[i].lock_fd = -1;
	for (size_t i = 0; r == 0 && i < b->n_stages; i++) {
		const struct stage *st = &b->stages[i];
		_cleanup_free_ char *entry = entry_name(st, keys[i]);
		if (!entry || !(h[i].dir = path_join(j->store->stages, entry))) {
			log_errno(-ENOMEM, "build");
			r = EXIT_OSRUN;
			break;
		}
		/* A shared lock: no other build removes a layer under us. */
		if (store_lock_dir(h[i].dir, LOCK_SH, &h[i].lock_fd) == 0) {
			log_info("stage %zu/%zu %s: cached", i + 1, b->n_stages, st->name);
		} else {
			r = stage_run(j, b, i, entry, prev, &h[i].made);
			if (r)
				break;
		}
		free(prev);
		if (asprintf(&prev, "../%s/disk.qcow2", entry) < 0) {
			log_errno(-ENOMEM, "build");
			r = EXIT_OSRUN;
		}
	}
	if (r == 0 && b->n_stages) {
		_cleanup_free_ char *top = path_join(h[b->n_stages - 1].dir, "disk.qcow2");
		r = top ? image_flatten(j, b, id, top) : (log_errno(-ENOMEM, "build"), EXIT_OSRUN);
	}
	if (r == 0 && !b->keep) {
		/* The built image stands alone now; a layer another build
		 * still holds stays. */
		for (size_t i = 0; i < b->n_stages; i++) {
			snapshot_new_free(h[i].made);
			h[i].made = NULL;
			if (h[i].lock_fd >= 0)
				close(h[i].lock_fd);
			h[i].lock_fd = -1;
			_cleanup_close_ int fd = -1;
			if (h[i].dir && store_lock_dir(h[i].dir, LOCK_EX | LOCK_NB, &fd) == 0)
				rm_rf(h[i].dir);
		}
	}
	held_release(h, b->n_stages);
	if (r)
		return r;
	*ret_image = TAKE_PTR(id);
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
static int wait_idle(struct job *j, usec_t window, usec_t timeout)
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
			return job_interrupted();
		unsigned long long after;
		if (cpu_ticks(vm_pid(j->vm), &after) < 0)
			return job_fail(j, -ECONNRESET, NULL, "waiting for the guest to go idle");
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
			  struct snapshot_meta *meta)
{
	_cleanup_free_ char *base = NULL, *disk = snapshot_new_path(n, "disk.qcow2"), *memory = snapshot_new_path(n, "memory"),
			    *share = path_join(j->rundir->path, "share"), *console = path_join(j->rundir->path, "console.log"),
			    *kernel = store_image_path(j->store, image, "vmlinuz"),
			    *initrd = store_image_path(j->store, image, "initrd.img");
	if (asprintf(&base, "../../images/%s/disk.qcow2", image) < 0 || !disk || !memory || !share || !console ||
	    !kernel || !initrd)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	int r = job_make_overlay(base, disk);
	if (r)
		return r;
	/* The same network and share as a run: the saved device state must
	 * fit the machine that restores it. */
	_cleanup_(share_freep) struct share *sh = NULL;
	r = share_new(share, &sh);
	if (r < 0)
		return log_errno(r, "share %s", share), EXIT_OSRUN;
	struct vm_plan plan = final_plan(f, kernel, initrd, disk, memory, share, console);
	log_info("booting the built image to save '%s' (%u MiB, %s)", n->name, f->machine.memory_mib,
		 accel_to_string(f->machine.accel));
	usec_t t0 = now_usec();
	if ((r = job_start_vm(j, &plan)))
		return r;
	if (f->vnc && (r = job_start_debug(j, &plan, NULL)))
		return r;
	if ((r = job_wait_agent(j, f->agent_timeout, "booted guest")))
		return r;
	log_info("guest agent ready after %.1f s", seconds_since(t0));
	if ((r = wait_idle(j, f->idle_window, 600 * USEC_PER_SEC)))
		return r;
	meta->image = (char *)image;
	meta->machine = f->machine;
	r = job_save_snapshot(j, f->profile, n, meta);
	meta->image = NULL;
	return r;
}

static bool machine_equal(const struct machine *a, const struct machine *b)
{
	return !strcmp(a->profile, b->profile) && a->memory_mib == b->memory_mib && a->cpus == b->cpus &&
	       a->accel == b->accel;
}

/* Replaces snapshot name when it exists (refused when a run uses it or a
 * snapshot is built on it). */
static int replace_snapshot(struct job *j, const char *name)
{
	_cleanup_free_ char *child = NULL;
	int r = store_remove(j->store, name, &child);
	if (r == -ENOTEMPTY)
		return log_error("snapshot '%s' cannot be replaced: snapshot '%s' is built on it", name, child), EXIT_OSRUN;
	if (r == -EBUSY)
		return log_error("snapshot '%s' cannot be replaced: a run is using it", name), EXIT_OSRUN;
	if (r < 0 && r != -ENOENT)
		return log_errno(r, "snapshot '%s'", name), EXIT_OSRUN;
	return 0;
}

int build_provision(struct job *j, const struct build *b, const struct build_final *f, const char *name, bool force,
		    const char *made_by)
{
	/* What the snapshot is built from: the image and the kernel line. */
	_cleanup_free_ char *id = NULL, *built = NULL;
	int r = build_image_id(b, &id);
	if (r < 0)
		return log_errno(r, "hashing the stages' inputs"), EXIT_OSRUN;
	if (asprintf(&built, "%s%s%s", id, f->append ? " append=" : "", f->append ? f->append : "") < 0)
		return log_errno(-ENOMEM, "build"), EXIT_OSRUN;
	_cleanup_(snapshot_freep) struct snapshot *old = NULL;
	if (snapshot_open(j->store, name, &old) == 0) {
		bool same = old->meta.build && !strcmp(old->meta.build, built) &&
			    machine_equal(&old->meta.machine, &f->machine);
		old = snapshot_free(old);
		if (same) {
			log_info("snapshot '%s' is up to date (built from the same inputs)", name);
			return 0;
		}
		if (!force)
			return log_error("snapshot '%s' exists and was built from other inputs (replace it with --force)",
					 name),
			       EXIT_OSRUN;
	}
	if (!j->rundir && (r = job_make_rundir(j)))
		return r;
	free(id);
	id = NULL;
	if ((r = build_run(j, b, &id)))
		return r;
	if (force && (r = replace_snapshot(j, name)))
		return r;
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	r = snapshot_new_begin(j->store, name, &n);
	if (r == -EEXIST)
		return log_error("snapshot '%s' was made by another run meanwhile", name), EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "snapshot '%s'", name), EXIT_OSRUN;
	struct snapshot_meta meta = {.created = iso_time_now(), .made_by = (char *)made_by, .build = built};
	r = build_snapshot(j, f, id, n, &meta);
	free(meta.created);
	free(meta.qemu_version);
	/* QEMU stops before n's directory, its RAM file, is removed. */
	j->vm = vm_free(j->vm);
	return r;
}
