/* A Linux guest's snapshot: its stages (scripts in GUEST/stages write
 * status lines and power off), then a boot, the agent and the save. */
#define _GNU_SOURCE
#include "provision.h"

#include <string.h>
#include <sys/file.h>

#include "build.h"
#include "lib/log.h"
#include "lib/proc.h"

static const char *const guest_files[] = {"vmlinuz", "initrd.img", "disk.qcow2", NULL};
static const char *const boot_files[] = {"vmlinuz", "initrd.img", NULL};
/* Each guest's stages, in order; their scripts are in GUEST/stages. */
static const char *const stage_names[] = {"base", "finish"};

static const struct guest_kind kinds[] = {
	{
		.what = "test guest",
		.snapshot = "provisioned",
		.image_prefix = "linux",
		.dir_env = "OSRUN_GUEST_DIR",
		.dir_default = OSRUN_GUEST_DIR,
		.make_target = "guest",
		/* init runs the share's stage script and powers off. */
		.stage_args = "osrun.stage=1",
		.memory_mib = 256,
		.boot_seconds = 120,
	},
	{
		.name = "debian",
		.what = "Debian guest",
		.snapshot = "debian",
		.image_prefix = "debian",
		.dir_env = "OSRUN_DEBIAN_DIR",
		.dir_default = OSRUN_DEBIAN_DIR,
		.make_target = "debian-guest",
		/* The root file system is the disk; Debian's initramfs mounts
		 * it (virtio_blk is in its MODULES=most). */
		.kernel_args = "root=/dev/vda rw",
		/* osrun-stage.service runs the stage script, then powers off. */
		.stage_args = "root=/dev/vda rw osrun.stage=1",
		.memory_mib = 1024,
		/* systemd's first boot under TCG, beside other QEMUs: ~1 min. */
		.boot_seconds = 600,
	},
};

const struct guest_kind *guest_kind_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
		if (name ? kinds[i].name && !strcmp(kinds[i].name, name) : !kinds[i].name)
			return &kinds[i];
	return NULL;
}

void provision_plan_init(struct provision_plan *p, const struct guest_kind *kind)
{
	*p = (struct provision_plan){.kind = kind, .name = kind->snapshot, .memory_mib = kind->memory_mib, .cpus = 1};
	p->boot_timeout = kind->boot_seconds * USEC_PER_SEC;
	const char *g = getenv(kind->dir_env);
	p->guest_dir = g && *g ? g : kind->dir_default;
}

int provision_check_guest(const struct guest_kind *kind, const char *dir, struct error *e)
{
	for (const char *const *f = guest_files; *f; f++) {
		_cleanup_free_ char *path = path_join(dir, *f);
		if (path && !file_exists(path))
			return error_set(e, -ENOENT,
					 "%s: %s not found (build it with 'make %s', or name it with --guest)",
					 kind->what, path, kind->make_target);
	}
	for (size_t i = 0; i < ELEMENTSOF(stage_names); i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/stages/%s.sh", dir, stage_names[i]) >= 0 && !file_exists(path))
			return error_set(e, -ENOENT, "%s: stage script %s not found (rebuild it with 'make %s')",
					 kind->what, path, kind->make_target);
	}
	return 0;
}

/* The final boot's command line: the guest's own, then the user's. */
static char *provision_append(const struct provision_plan *p)
{
	const char *k = p->kind->kernel_args, *u = p->append;
	char *s = NULL;
	if (asprintf(&s, "%s%s%s", k ? k : "", k && u && *u ? " " : "", u ? u : "") < 0)
		return NULL;
	return s;
}

static int provision_stages(const struct provision_plan *p, struct stage *stages, char ***scripts, struct error *e)
{
	for (size_t i = 0; i < ELEMENTSOF(stage_names); i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/stages/%s.sh", p->guest_dir, stage_names[i]) < 0 ||
		    !(*scripts = strv_append(*scripts, path)))
			return error_errno(e, -ENOMEM, "paths");
		stages[i] = (struct stage){
			.name = stage_names[i],
			.script = (*scripts)[i],
			.wait_done = true,
			.max_boots = 1,
			.timeout = p->boot_timeout,
		};
	}
	return 0;
}

/* One build at a time in a store: two first runs at once would both boot
 * the stages, and the later save would fail on the name taken. */
int provision_lock(struct job *j, const char *name, bool if_missing, int *ret_fd, struct error *e)
{
	_cleanup_close_ int fd = -1;
	bool waited;
	int r = store_provision_lock(j->store, &fd);
	if (r < 0)
		return error_errno(e, r, "cache '%s': provision.lock", j->store->root);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		log_info("waiting for another osrun that is building a snapshot in %s", j->store->root);
	if ((r = proc_flock_wait(fd, &waited)) == -ECANCELED)
		return error_interrupted(e);
	if (r < 0)
		return error_errno(e, r, "cache '%s': locking provision.lock", j->store->root);
	*ret_fd = TAKE_FD(fd);
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	if (!if_missing || snapshot_open(j->store, name, &sn) < 0)
		return 0;
	log_info("snapshot '%s' is there now: %s", name, waited ? "the other osrun built it" : "made meanwhile");
	return 1;
}

int provision_execute(const struct provision_plan *p, struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	_cleanup_close_ int lock = -1;
	enum accel accel;
	int r;
	if ((r = job_open_store(&j, p->cache, !p->dry_run, e)) < 0)
		return r;
	if (!p->dry_run && (r = provision_lock(&j, p->name, p->if_missing, &lock, e)) != 0)
		return r < 0 ? r : 0;
	if ((r = job_accel(&accel, e)) < 0)
		return r;
	_cleanup_free_ char *image = NULL;
	r = store_import_image(j.store, p->kind->image_prefix, p->guest_dir, guest_files, &image);
	if (r < 0)
		return error_errno(e, r, "importing the %s from %s", p->kind->what, p->guest_dir);
	_cleanup_free_ char *kernel = store_image_path(j.store, image, "vmlinuz"),
			    *initrd = store_image_path(j.store, image, "initrd.img"), *append = provision_append(p);
	_cleanup_strv_free_ char **scripts = NULL;
	struct stage stages[ELEMENTSOF(stage_names)];
	if (!kernel || !initrd || !append)
		return error_errno(e, -ENOMEM, "paths");
	if ((r = provision_stages(p, stages, &scripts, e)) < 0)
		return r;
	struct build b = {
		.profile = profile_find("linux"),
		/* The stages' own RAM size does not reach the disk: any that
		 * boots the guest will do. */
		.machine = {.profile = "linux", .memory_mib = p->kind->memory_mib, .cpus = 1, .accel = accel},
		.kernel = kernel,
		.initrd = initrd,
		.stage_append = p->kind->stage_args,
		.base_image = image,
		.seed = fnv1a64(FNV1A64_INIT, image, strlen(image) + 1),
		.stages = stages,
		.n_stages = ELEMENTSOF(stages),
		.image_files = boot_files,
		.keep = p->keep,
	};
	if (p->dry_run)
		return build_print(&j, &b, stdout, e);
	struct build_final f = {
		.profile = profile_find("linux"),
		.machine = {.profile = "linux", .memory_mib = p->memory_mib, .cpus = p->cpus, .accel = accel},
		.append = *append ? append : NULL,
		.agent_timeout = p->boot_timeout,
		.idle_window = USEC_PER_SEC,
	};
	return build_provision(&j, &b, &f, p->name, p->force, "provision", e);
}
