#define _GNU_SOURCE
#include "build.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "evidence.h"
#include "lib/status.h"

#define STATUS_FILE "status.txt"

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

/* Each stage's key, and the built image's id. */
static int build_keys(const struct build *b, uint64_t **ret_keys, char **ret_id, struct error *e)
{
	_cleanup_free_ uint64_t *keys = calloc(b->n_stages ? b->n_stages : 1, sizeof *keys);
	if (!keys)
		return error_errno(e, -ENOMEM, "build");
	uint64_t final;
	int r = image_key(b, keys, &final);
	if (r < 0)
		return error_errno(e, r, "hashing the stages' inputs");
	if (!(*ret_id = store_entry_name("build", final)))
		return error_errno(e, -ENOMEM, "build");
	*ret_keys = TAKE_PTR(keys);
	return 0;
}

int build_image_id(const struct build *b, char **ret, struct error *e)
{
	_cleanup_free_ uint64_t *keys = NULL;
	return build_keys(b, &keys, ret, e);
}

/* The stage plan: build media, anonymous RAM, a reboot ends QEMU. */
static struct vm_plan stage_plan(const struct build *b, const struct stage *st, const char *disk, const char *share,
				 const char *console, const char *vnc)
{
	return (struct vm_plan){
		.machine = b->machine,
		.kernel = b->kernel,
		.initrd = b->initrd,
		/* The guest's own: it runs the share's stage script and
		 * powers off. The user's --append is for the provisioned
		 * machine, not for the stages. */
		.append = b->stage_append,
		.disk = disk,
		.share = share,
		.serial_log = console,
		.cdroms = st->install_media ? b->install_media : b->media,
		.boot_cdrom = st->install_media,
		.reboot_exits = true,
		.vnc = b->vnc ? vnc : NULL,
	};
}

void build_print_argv(FILE *out, char **argv)
{
	for (char **a = argv; *a; a++) {
		bool plain = **a && !(*a)[strcspn(*a, " \t\n'\"\\$`;&|<>()*?[]#~")];
		fputs(a == argv ? "" : " ", out);
		if (plain) {
			fputs(*a, out);
			continue;
		}
		fputc('\'', out);
		for (const char *c = *a; *c; c++)
			fputs(*c == '\'' ? "'\\''" : (char[]){*c, 0}, out);
		fputc('\'', out);
	}
	fputc('\n', out);
}

int build_print(struct job *j, const struct build *b, FILE *out, struct error *e)
{
	_cleanup_free_ uint64_t *keys = NULL;
	_cleanup_free_ char *id = NULL;
	int r = build_keys(b, &keys, &id, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *image = store_path(j->store, STORE_IMAGES, id, NULL);
	if (!image)
		return error_errno(e, -ENOMEM, "build");
	fprintf(out, "image: %s\n", image);
	for (size_t i = 0; i < b->n_stages; i++) {
		const struct stage *st = &b->stages[i];
		_cleanup_free_ char *entry = store_entry_name(st->name, keys[i]),
				    *dir = entry ? store_path(j->store, STORE_STAGES, entry, NULL) : NULL,
				    *disk = dir ? path_join(dir, "disk.qcow2") : NULL, *share = NULL;
		if (!disk || asprintf(&share, "RUNDIR/stage-%s", st->name) < 0)
			return error_errno(e, -ENOMEM, "build");
		struct vm_plan plan = stage_plan(b, st, disk, share, NULL, "RUNDIR/vnc.sock");
		_cleanup_strv_free_ char **argv = NULL;
		if ((r = profile_argv(&plan, 3, 4, 5, &argv)) < 0)
			return error_errno(e, r, "stage %s: QEMU command line", st->name);
		fprintf(out, "stage %zu/%zu %s: %s%s\n", i + 1, b->n_stages, st->name,
			file_exists(dir) ? "cached in " : "would be made in ", dir);
		if (st->script)
			fprintf(out, "  script: %s\n", st->script);
		fprintf(out, "  timeout: %.0f s\n", (double)st->timeout / USEC_PER_SEC);
		fputs("  qemu: ", out);
		build_print_argv(out, argv);
	}
	return 0;
}

static int make_disk(const char *backing, const char *disk, uint64_t size, struct error *e)
{
	if (backing)
		return job_make_overlay(backing, disk, e);
	char sz[32];
	snprintf(sz, sizeof sz, "%llu", (unsigned long long)size);
	char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", (char *)disk, sz, NULL};
	return job_run_tool(argv, disk, e);
}

struct stage_run {
	const struct build *b;
	const struct stage *st;
	size_t idx;
	struct status_follow status; /* the guest's status lines */
	const char *disk;	     /* the stage's layer */
	char *console, *vnc;
	usec_t started, deadline;
};

/* The guest's status lines on its console: QEMU makes the file. A
 * "failed:" there ends the stage as one in the status file does. */
static bool console_failed(struct stage_run *s, struct status_follow *con)
{
	if (con->fd < 0 && status_open_prefixed(s->console, STATUS_CONSOLE_PREFIX, con) < 0)
		return false;
	status_poll(con);
	return con->failed;
}

/* Keeps what the failed stage left (evidence.h); stops QEMU. */
static void stage_failed(struct job *j, struct stage_run *s, struct error *e)
{
	struct stage_evidence ev = {.stage = s->st->name,
				    .console = s->console,
				    .status = &s->status,
				    .disk = s->disk,
				    .files = s->b->profile->evidence_files};
	stage_evidence(j, &ev, e);
}

/* Waits for one boot's QEMU to end, showing the guest's status. */
static int boot_follow(struct job *j, struct stage_run *s, struct error *e)
{
	int status = 0;
	_cleanup_(status_close) struct status_follow con = {.fd = -1};
	for (bool exited = false; !exited;) {
		exited = vm_exited(j->vm, &status);
		int r = fd_wait(qmp_fd(vm_qmp(j->vm)), POLLIN, deadline_after(USEC_PER_SEC));
		if (r == -ECANCELED)
			return error_interrupted(e);
		if (r > 0 && qmp_poll(vm_qmp(j->vm)) == -ECONNRESET)
			vm_wait_exited(j->vm, 10 * USEC_PER_SEC, &status);
		int k = status_poll(&s->status);
		if (k == -EFBIG)
			return error_set(e, k, "stage %s: the guest wrote over %u MiB to its status file", s->st->name,
					 STATUS_MAX >> 20);
		const char *last = *s->status.last ? s->status.last : NULL;
		/* A terminal shows the clock; a log gets each new line once. */
		if (k > 0 || isatty(STDERR_FILENO))
			log_progress("stage %zu/%zu %s: %.0f s%s%s", s->idx + 1, s->b->n_stages, s->st->name,
				     seconds_since(s->started), last ? ": " : "", last ? last : "");
		/* The guest said so: no waiting out the stage's timeout. */
		if (s->status.failed || console_failed(s, &con)) {
			error_set(e, -EPROTO, "stage %s %s", s->st->name,
				  s->status.failed ? s->status.failure : con.failure);
			stage_failed(j, s, e);
			return -EPROTO;
		}
		if (now_usec() >= s->deadline) {
			error_set(e, -ETIMEDOUT, "stage %s: not done after %.0f s; last status: %s", s->st->name,
				  (double)s->st->timeout / USEC_PER_SEC, *s->status.last ? s->status.last : "(none)");
			stage_failed(j, s, e);
			return -ETIMEDOUT;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return job_fail(j, -ECONNRESET, NULL, s->st->name, e);
	return 0;
}

/* A failure before the stage's guest ran (QEMU would not start) names
 * the stage, as every later one does. */
static int stage_blame(struct error *e, const char *stage, int r)
{
	if (r == -ECANCELED || !strncmp(e->msg, "stage ", 6))
		return r;
	char was[sizeof e->msg];
	memcpy(was, e->msg, sizeof was);
	snprintf(e->msg, sizeof e->msg, "stage %.32s: %.2000s", stage, was);
	return r;
}

/* Boots until the stage is done. */
static int stage_boot(struct job *j, struct stage_run *s, const char *disk, const char *share, struct error *e)
{
	const struct stage *st = s->st;
	for (unsigned boot = 1;; boot++) {
		struct vm_plan plan = stage_plan(s->b, st, disk, share, s->console, s->vnc);
		int r;
		if ((r = job_start_vm(j, &plan, e)) < 0 || (s->b->vnc && (r = job_start_debug(j, &plan, NULL, e)) < 0))
			return stage_blame(e, st->name, r);
		if ((r = boot_follow(j, s, e)) < 0)
			return r;
		j->vm = vm_free(j->vm);
		if ((r = status_poll(&s->status)) < 0)
			return error_errno(e, r, "stage %s: reading its status file", st->name);
		if (!st->wait_done || s->status.done)
			break;
		log_progress_end();
		if (boot >= st->max_boots) {
			error_set(e, -EPROTO,
				  "stage %s: the guest stopped %u time%s without saying done; last status: %s",
				  st->name, boot, boot == 1 ? "" : "s", *s->status.last ? s->status.last : "(none)");
			stage_failed(j, s, e);
			return -EPROTO;
		}
		log_debug("stage %s: the guest rebooted (boot %u of at most %u)", st->name, boot, st->max_boots);
	}
	log_progress("stage %zu/%zu %s: done in %.0f s", s->idx + 1, s->b->n_stages, st->name,
		     seconds_since(s->started));
	log_progress_end();
	return 0;
}

/* The stage's share: an empty status file and the stage's script. */
static int stage_share(struct job *j, const struct build *b, const struct stage *st, char **ret_share,
		       char **ret_status, struct error *e)
{
	_cleanup_free_ char *share = NULL, *status = NULL, *script = NULL;
	if (asprintf(&share, "%s/stage-%s", j->rundir->path, st->name) < 0 ||
	    !(status = path_join(share, STATUS_FILE)) || !(script = path_join(share, b->profile->stage_script)))
		return error_errno(e, -ENOMEM, "stage %s", st->name);
	int r;
	if (mkdir(share, 0700) < 0)
		return error_errno(e, -errno, "%s", share);
	if ((r = write_file_atomic(status, "", 0, 0644)) < 0)
		return error_errno(e, r, "%s", status);
	if (st->script && (r = copy_file_sparse(st->script, script, 0644)) < 0)
		return error_errno(e, r, "stage %s: copying %s", st->name, st->script);
	*ret_share = TAKE_PTR(share);
	*ret_status = TAKE_PTR(status);
	return 0;
}

static int stage_run(struct job *j, const struct build *b, size_t idx, const char *entry, const char *backing,
		     struct snapshot_new **ret, struct error *e)
{
	const struct stage *st = &b->stages[idx];
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	int r = store_new_begin(j->store, STORE_STAGES, entry, &n);
	if (r == -EEXIST)
		return error_set(e, r, "stage %s: made by another build meanwhile; run again to use it", st->name);
	if (r < 0)
		return error_errno(e, r, "stage %s in %s/stages", st->name, j->store->root);
	_cleanup_free_ char *disk = snapshot_new_path(n, "disk.qcow2"), *share = NULL, *status = NULL;
	if (!disk)
		return error_errno(e, -ENOMEM, "stage %s", st->name);
	if ((r = make_disk(backing, disk, b->disk_size, e)) < 0 || (r = stage_share(j, b, st, &share, &status, e)) < 0)
		return r;
	struct stage_run s = {.b = b,
			      .st = st,
			      .idx = idx,
			      .disk = disk,
			      .started = now_usec(),
			      .deadline = deadline_after(st->timeout)};
	if ((r = status_open(status, &s.status)) < 0)
		return error_errno(e, r, "%s", status);
	if (asprintf(&s.console, "%s/console-%s.log", j->rundir->path, st->name) < 0 ||
	    !(s.vnc = path_join(j->rundir->path, "vnc.sock")))
		r = error_errno(e, -ENOMEM, "stage %s", st->name);
	else
		r = stage_boot(j, &s, disk, share, e);
	free(s.console);
	free(s.vnc);
	_cleanup_free_ char *log = r < 0 ? NULL : snapshot_new_path(n, STATUS_FILE);
	_cleanup_close_ int log_fd = log ? open(log, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
	if (log_fd >= 0)
		status_copy(&s.status, log_fd); /* what the guest said, for later reading */
	status_close(&s.status);
	if (r < 0)
		return r;
	r = store_new_commit(n);
	if (r < 0)
		return error_errno(e, r, "stage %s", st->name);
	*ret = TAKE_PTR(n); /* its lock keeps other builds from removing it */
	return 0;
}

static int image_flatten(struct job *j, const struct build *b, const char *id, const char *top, struct error *e)
{
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	int r = store_new_begin(j->store, STORE_IMAGES, id, &n);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return error_errno(e, r, "image %s", id);
	usec_t t0 = now_usec();
	_cleanup_free_ char *disk = snapshot_new_path(n, "disk.qcow2");
	if (!disk)
		return error_errno(e, -ENOMEM, "image");
	/* One standalone file: "convert -B" would copy only the top layer. */
	char *conv[] = {"qemu-img", "convert", "-O", "qcow2", (char *)top, disk, NULL};
	if ((r = job_run_tool(conv, disk, e)) < 0)
		return r;
	for (const char *const *f = b->image_files; b->base_image && f && *f; f++) {
		_cleanup_free_ char *from = store_image_path(j->store, b->base_image, *f),
				    *to = snapshot_new_path(n, *f);
		if (!from || !to)
			return error_errno(e, -ENOMEM, "image");
		if (link(from, to) < 0 && (r = copy_file_sparse(from, to, 0400)) < 0)
			return error_errno(e, r, "copying %s", from);
	}
	chmod(disk, 0400);
	r = store_new_commit(n);
	if (r < 0 && r != -EEXIST)
		return error_errno(e, r, "image %s", id);
	log_debug("flattened the stages into %s in %.1f s", id, seconds_since(t0));
	return 0;
}

/* What a build holds of each stage: the layer it made, or a shared lock on
 * the cached one, so no other build removes it meanwhile. */
struct held {
	struct snapshot_new *made;
	int lock_fd;
	char *dir;
};

static void held_drop(struct held *h)
{
	h->made = snapshot_new_free(h->made);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	h->lock_fd = -1;
}

/* Runs or reuses every stage in turn, each layered on the one before. */
static int stages_run(struct job *j, const struct build *b, const uint64_t *keys, struct held *h, struct error *e)
{
	_cleanup_free_ char *prev =
		b->base_image ? store_disk_backing(STORE_STAGES, STORE_IMAGES, b->base_image) : NULL;
	if (b->base_image && !prev)
		return error_errno(e, -ENOMEM, "build");
	for (size_t i = 0; i < b->n_stages; i++) {
		const struct stage *st = &b->stages[i];
		_cleanup_free_ char *entry = store_entry_name(st->name, keys[i]);
		if (!entry || !(h[i].dir = store_path(j->store, STORE_STAGES, entry, NULL)))
			return error_errno(e, -ENOMEM, "build");
		if (store_lock_dir(h[i].dir, LOCK_SH, &h[i].lock_fd) == 0)
			log_info("stage %zu/%zu %s: cached", i + 1, b->n_stages, st->name);
		else {
			int r = stage_run(j, b, i, entry, prev, &h[i].made, e);
			if (r < 0)
				return r;
		}
		free(prev);
		if (!(prev = store_disk_backing(STORE_STAGES, STORE_STAGES, entry)))
			return error_errno(e, -ENOMEM, "build");
	}
	return 0;
}

int build_run(struct job *j, const struct build *b, char **ret_image, struct error *e)
{
	_cleanup_free_ uint64_t *keys = NULL;
	_cleanup_free_ char *id = NULL, *image_dir = NULL;
	int r = build_keys(b, &keys, &id, e);
	if (r < 0)
		return r;
	if (!(image_dir = store_path(j->store, STORE_IMAGES, id, NULL)))
		return error_errno(e, -ENOMEM, "build");
	if (file_exists(image_dir)) {
		log_info("all %zu stages cached: image %s", b->n_stages, id);
		*ret_image = TAKE_PTR(id);
		return 0;
	}
	struct held *h = calloc(b->n_stages ? b->n_stages : 1, sizeof *h);
	if (!h)
		return error_errno(e, -ENOMEM, "build");
	for (size_t i = 0; i < b->n_stages; i++)
		h[i].lock_fd = -1;
	r = stages_run(j, b, keys, h, e);
	if (r == 0 && b->n_stages) {
		_cleanup_free_ char *top = path_join(h[b->n_stages - 1].dir, "disk.qcow2");
		r = top ? image_flatten(j, b, id, top, e) : error_errno(e, -ENOMEM, "build");
	}
	for (size_t i = 0; i < b->n_stages; i++) {
		held_drop(&h[i]);
		/* The built image stands alone now; a layer another build
		 * still holds stays. */
		_cleanup_close_ int fd = -1;
		if (r == 0 && !b->keep && h[i].dir && store_lock_dir(h[i].dir, LOCK_EX | LOCK_NB, &fd) == 0)
			rm_rf(h[i].dir);
		free(h[i].dir);
	}
	free(h);
	if (r < 0)
		return r;
	*ret_image = TAKE_PTR(id);
	return 0;
}
