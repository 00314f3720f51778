/* The test guest's snapshot: its stages (scripts in GUEST/stages write
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
/* The test guest's stages, in order; their scripts are in GUEST/stages. */
static const char *const stage_names[] = {"base", "finish"};

void provision_plan_init(struct provision_plan *p)
{
	*p = (struct provision_plan){.name = "provisioned", .memory_mib = 256, .cpus = 1};
	p->boot_timeout = 120 * USEC_PER_SEC;
	const char *g = getenv("OSRUN_GUEST_DIR");
	p->guest_dir = g && *g ? g : OSRUN_GUEST_DIR;
}

int provision_check_guest(const char *dir, struct error *e)
{
	for (const char *const *f = guest_files; *f; f++) {
		_cleanup_free_ char *path = path_join(dir, *f);
		if (path && !file_exists(path))
			return error_set(
				e, -ENOENT,
				"test guest: %s not found (build it with 'make guest', or name it with --guest)", path);
	}
	for (size_t i = 0; i < ELEMENTSOF(stage_names); i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/stages/%s.sh", dir, stage_names[i]) >= 0 && !file_exists(path))
			return error_set(e, -ENOENT,
					 "test guest: stage script %s not found (rebuild it with 'make guest')", path);
	}
	return 0;
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
	r = store_import_image(j.store, "linux", p->guest_dir, guest_files, &image);
	if (r < 0)
		return error_errno(e, r, "importing the test guest from %s", p->guest_dir);
	_cleanup_free_ char *kernel = store_image_path(j.store, image, "vmlinuz"),
			    *initrd = store_image_path(j.store, image, "initrd.img");
	_cleanup_strv_free_ char **scripts = NULL;
	struct stage stages[ELEMENTSOF(stage_names)];
	if (!kernel || !initrd)
		return error_errno(e, -ENOMEM, "paths");
	if ((r = provision_stages(p, stages, &scripts, e)) < 0)
		return r;
	struct build b = {
		.profile = profile_find("linux"),
		/* The stages' own RAM size does not reach the disk: any will do. */
		.machine = {.profile = "linux", .memory_mib = 256, .cpus = 1, .accel = accel},
		.kernel = kernel,
		.initrd = initrd,
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
		.append = p->append,
		.agent_timeout = p->boot_timeout,
		.idle_window = USEC_PER_SEC,
	};
	return build_provision(&j, &b, &f, p->name, p->force, "provision", e);
}
