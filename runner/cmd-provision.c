/* osrun provision: build the Linux test guest's image through the stage
 * engine (its stage scripts write status lines and power off), then boot
 * it, wait for its agent and save the snapshot every run starts from. */
#define _GNU_SOURCE
#include <string.h>

#include "build.h"
#include "commands.h"
#include "options.h"

#ifndef OSRUN_GUEST_DIR
#define OSRUN_GUEST_DIR "/usr/local/share/osrun/guest"
#endif

struct provision_plan {
	struct common_opts common;
	const char *name;
	const char *guest_dir;
	const char *append;
	unsigned memory_mib;
	unsigned cpus;
	usec_t boot_timeout;
	bool force;
	bool keep;
	bool dry_run;
};

static const char *const guest_files[] = {"vmlinuz", "initrd.img", "disk.qcow2", NULL};
static const char *const boot_files[] = {"vmlinuz", "initrd.img", NULL};
/* The test guest's stages, in order; their scripts are in GUEST/stages. */
static const char *const stage_names[] = {"base", "finish"};

static void provision_help(void)
{
	printf("Usage: osrun provision [OPTIONS]\n"
	       "\n"
	       "Builds the Linux test guest's image in stages (each one cached: a\n"
	       "rebuild starts at the first stage whose inputs changed), boots it,\n"
	       "waits for its guest agent and saves the snapshot runs start from.\n"
	       "Nothing is done when that snapshot was built from the same inputs.\n"
	       "(Windows images: osrun image build.)\n"
	       "\n"
	       "Options:\n"
	       "      --name NAME          the snapshot to make (default: provisioned)\n"
	       "      --memory MIB         guest memory (default: 256)\n"
	       "      --cpus N             guest CPUs (default: 1)\n"
	       "      --guest DIR          the built test guest (default: $OSRUN_GUEST_DIR,\n"
	       "                           else %s)\n"
	       "      --append ARGS        extra kernel command line\n"
	       "      --boot-timeout SECONDS  how long the agent may take to answer (120)\n"
	       "      --force              replace snapshot NAME when it was built from\n"
	       "                           other inputs\n"
	       "      --keep               keep the stages' disk layers for later builds\n"
	       "      --dry-run            print the stages and their QEMU command lines\n"
	       "      --cache DIR          the store\n"
	       "  -v, --verbose            say what happens\n"
	       "  -h, --help               this text\n",
	       OSRUN_GUEST_DIR);
}

/* The test guest's files and stage scripts must all be there. */
static int check_guest(const char *dir, struct error *e)
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

/* 0: go on; 1: --help said all. */
static int provision_parse(int argc, char **argv, struct provision_plan *p, struct error *e)
{
	const struct opt table[] = {
		{"name", 0, OPT_STRING, &p->name, 0, 0, NULL},
		{"memory", 0, OPT_UINT, &p->memory_mib, 64, 1u << 20, "expected MiB, 64 or more"},
		{"cpus", 0, OPT_UINT, &p->cpus, 1, 64, "expected 1 to 64"},
		{"guest", 0, OPT_STRING, &p->guest_dir, 0, 0, NULL},
		{"append", 0, OPT_STRING, &p->append, 0, 0, NULL},
		{"boot-timeout", 0, OPT_SECONDS, &p->boot_timeout, 0, 0, NULL},
		{"force", 0, OPT_FLAG, &p->force, 0, 0, NULL},
		{"keep", 0, OPT_FLAG, &p->keep, 0, 0, NULL},
		{"dry-run", 0, OPT_FLAG, &p->dry_run, 0, 0, NULL},
		OPTS_COMMON(&p->common),
	};
	p->name = "provisioned";
	p->memory_mib = 256;
	p->cpus = 1;
	p->boot_timeout = 120 * USEC_PER_SEC;
	const char *g = getenv("OSRUN_GUEST_DIR");
	p->guest_dir = g && *g ? g : OSRUN_GUEST_DIR;
	int first, r = options_parse(table, provision_help, true, argc, argv, &first, e);
	if (r != 0)
		return r;
	if ((r = options_no_operands("provision", argc, argv, first, e)) < 0 ||
	    (r = options_check_snapshot_name(p->name, e)) < 0)
		return r;
	return check_guest(p->guest_dir, e);
}

/* The test guest's stages, their scripts in GUEST/stages. */
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

static int provision_execute(const struct provision_plan *p, struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	enum accel accel;
	int r;
	if ((r = job_open_store(&j, p->common.cache, !p->dry_run, e)) < 0 || (r = job_accel(&accel, e)) < 0)
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

int cmd_provision(int argc, char **argv)
{
	struct provision_plan p = {0};
	struct error e = {0};
	int r = provision_parse(argc, argv, &p, &e);
	if (r == 0)
		r = provision_execute(&p, &e);
	return r < 0 ? options_report(&e) : 0;
}
