/* osrun provision: build the Linux test guest's image through the stage
 * engine (its stage scripts write status lines and power off), then boot
 * it, wait for its agent and save the snapshot every run starts from. */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "build.h"
#include "commands.h"
#include "lib/log.h"

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

enum {
	OPT_NAME = 0x100,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_GUEST,
	OPT_APPEND,
	OPT_BOOT_TIMEOUT,
	OPT_FORCE,
	OPT_CACHE,
	OPT_KEEP,
	OPT_DRY_RUN,
};

static int provision_parse(int argc, char **argv, struct provision_plan *p)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{"name", required_argument, NULL, OPT_NAME},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"guest", required_argument, NULL, OPT_GUEST},
		{"append", required_argument, NULL, OPT_APPEND},
		{"boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT},
		{"force", no_argument, NULL, OPT_FORCE},
		{"cache", required_argument, NULL, OPT_CACHE},
		{"keep", no_argument, NULL, OPT_KEEP},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{},
	};
	p->name = "provisioned";
	p->memory_mib = 256;
	p->cpus = 1;
	p->boot_timeout = 120 * USEC_PER_SEC;
	const char *g = getenv("OSRUN_GUEST_DIR");
	p->guest_dir = g && *g ? g : OSRUN_GUEST_DIR;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:hv", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			provision_help();
			return 0;
		case 'v':
			p->common.verbose++;
			break;
		case OPT_NAME:
			p->name = optarg;
			break;
		case OPT_MEMORY:
			if (parse_uint(optarg, 64, 1u << 20, &p->memory_mib) < 0)
				return log_error("--memory '%s': expected MiB, 64 or more", optarg), EXIT_OSRUN;
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, 64, &p->cpus) < 0)
				return log_error("--cpus '%s': expected 1 to 64", optarg), EXIT_OSRUN;
			break;
		case OPT_GUEST:
			p->guest_dir = optarg;
			break;
		case OPT_APPEND:
			p->append = optarg;
			break;
		case OPT_BOOT_TIMEOUT:
			if (parse_seconds(optarg, &p->boot_timeout) < 0)
				return log_error("--boot-timeout '%s': expected a positive number of seconds", optarg),
				       EXIT_OSRUN;
			break;
		case OPT_FORCE:
			p->force = true;
			break;
		case OPT_CACHE:
			p->common.cache = optarg;
			break;
		case OPT_KEEP:
			p->keep = true;
			break;
		case OPT_DRY_RUN:
			p->dry_run = true;
			break;
		default:
			return report_bad_option(c, argv), EXIT_OSRUN;
		}
	}
	if (optind < argc)
		return log_error("provision: unexpected argument '%s'", argv[optind]), EXIT_OSRUN;
	const char *why;
	if (snapshot_name_check(p->name, &why) < 0)
		return log_error("snapshot name '%s' %s", p->name, why), EXIT_OSRUN;
	for (const char *const *f = guest_files; *f; f++) {
		_cleanup_free_ char *path = path_join(p->guest_dir, *f);
		if (path && !file_exists(path))
			return log_error("test guest: %s not found (build it with 'make guest', or name it with --guest)",
					 path),
			       EXIT_OSRUN;
	}
	for (size_t i = 0; i < ELEMENTSOF(stage_names); i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/stages/%s.sh", p->guest_dir, stage_names[i]) >= 0 && !file_exists(path))
			return log_error("test guest: stage script %s not found (rebuild it with 'make guest')", path),
			       EXIT_OSRUN;
	}
	return -1;
}

static int provision_execute(const struct provision_plan *p)
{
	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, &p->common, !p->dry_run);
	if (r)
		return r;
	enum accel accel;
	if ((r = job_accel(&accel)))
		return r;

	_cleanup_free_ char *image = NULL;
	r = store_import_image(j.store, "linux", p->guest_dir, guest_files, &image);
	if (r < 0)
		return log_errno(r, "importing the test guest from %s", p->guest_dir), EXIT_OSRUN;
	_cleanup_free_ char *kernel = store_image_path(j.store, image, "vmlinuz"),
			    *initrd = store_image_path(j.store, image, "initrd.img");
	_cleanup_strv_free_ char **scripts = NULL;
	struct stage stages[ELEMENTSOF(stage_names)];
	for (size_t i = 0; i < ELEMENTSOF(stage_names); i++) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/stages/%s.sh", p->guest_dir, stage_names[i]) < 0 ||
		    !(scripts = strv_append(scripts, path)))
			return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
		stages[i] = (struct stage){
			.name = stage_names[i],
			.script = scripts[i],
			.wait_done = true,
			.max_boots = 1,
			.timeout = p->boot_timeout,
		};
	}
	struct machine machine = {.profile = "linux", .memory_mib = p->memory_mib, .cpus = p->cpus, .accel = accel};
	uint64_t seed = fnv1a64(FNV1A64_INIT, image, strlen(image) + 1);
	struct build b = {
		.profile = profile_find("linux"),
		/* The stages' own RAM size does not reach the disk: any will do. */
		.machine = {.profile = "linux", .memory_mib = 256, .cpus = 1, .accel = accel},
		.kernel = kernel,
		.initrd = initrd,
		.base_image = image,
		.seed = seed,
		.stages = stages,
		.n_stages = ELEMENTSOF(stages),
		.image_files = boot_files,
		.keep = p->keep,
	};
	if (!kernel || !initrd)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if (p->dry_run)
		return build_print(&j, &b);

	struct build_final f = {
		.profile = profile_find("linux"),
		.machine = machine,
		.append = p->append,
		.agent_timeout = p->boot_timeout,
		.idle_window = USEC_PER_SEC,
	};
	return build_provision(&j, &b, &f, p->name, p->force, "provision");
}

int cmd_provision(int argc, char **argv)
{
	struct provision_plan p = {0};
	int r = provision_parse(argc, argv, &p);
	if (r >= 0)
		return r;
	if (p.common.verbose)
		log_set_level(LOG_DEBUG);
	return provision_execute(&p);
}
