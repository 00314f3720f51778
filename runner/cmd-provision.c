/* osrun provision: boot the Linux test guest, wait for its agent, save the
 * snapshot every run starts from. */
#define _GNU_SOURCE
#include <getopt.h>
#include <string.h>

#include "commands.h"
#include "job.h"
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
};

static const char *const guest_files[] = {"vmlinuz", "initrd.img", "disk.qcow2", NULL};

static void provision_help(void)
{
	printf("Usage: osrun provision [OPTIONS]\n"
	       "\n"
	       "Boots the Linux test guest, waits for its guest agent and saves the\n"
	       "snapshot runs start from. (Windows images: see the README.)\n"
	       "\n"
	       "Options:\n"
	       "      --name NAME          the snapshot to make (default: provisioned)\n"
	       "      --memory MIB         guest memory (default: 256)\n"
	       "      --cpus N             guest CPUs (default: 1)\n"
	       "      --guest DIR          the built test guest (default: $OSRUN_GUEST_DIR,\n"
	       "                           else %s)\n"
	       "      --append ARGS        extra kernel command line\n"
	       "      --boot-timeout SECONDS  how long the agent may take to answer (120)\n"
	       "      --force              replace an existing snapshot NAME\n"
	       "      --cache DIR          the store\n"
	       "  -v, --verbose            say what happens\n"
	       "  -h, --help               this text\n",
	       OSRUN_GUEST_DIR);
}

enum { OPT_NAME = 0x100, OPT_MEMORY, OPT_CPUS, OPT_GUEST, OPT_APPEND, OPT_BOOT_TIMEOUT, OPT_FORCE, OPT_CACHE };

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
	return -1;
}

static int provision_execute(const struct provision_plan *p)
{
	/* Released after the job, so QEMU stops before it is removed. */
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, &p->common, true);
	if (r)
		return r;
	enum accel accel;
	if ((r = job_accel(&accel)))
		return r;

	if (p->force) {
		_cleanup_free_ char *child = NULL;
		r = store_remove(j.store, p->name, &child);
		if (r == -ENOTEMPTY)
			return log_error("snapshot '%s' cannot be replaced: snapshot '%s' is built on it", p->name, child),
			       EXIT_OSRUN;
		if (r == -EBUSY)
			return log_error("snapshot '%s' cannot be replaced: a run is using it", p->name), EXIT_OSRUN;
		if (r < 0 && r != -ENOENT)
			return log_errno(r, "snapshot '%s'", p->name), EXIT_OSRUN;
	}
	r = snapshot_new_begin(j.store, p->name, &n);
	if (r == -EEXIST)
		return log_error("snapshot '%s' already exists (replace it with --force)", p->name), EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "snapshot '%s'", p->name), EXIT_OSRUN;

	_cleanup_free_ char *image = NULL;
	r = store_import_image(j.store, "linux", p->guest_dir, guest_files, &image);
	if (r < 0)
		return log_errno(r, "importing the test guest from %s", p->guest_dir), EXIT_OSRUN;
	if ((r = job_make_rundir(&j)))
		return r;

	_cleanup_free_ char *base = NULL, *disk = snapshot_new_path(n, "disk.qcow2"),
			    *memory = snapshot_new_path(n, "memory"), *kernel = store_image_path(j.store, image, "vmlinuz"),
			    *initrd = store_image_path(j.store, image, "initrd.img"),
			    *share = path_join(j.rundir->path, "share"), *console = path_join(j.rundir->path, "console.log");
	if (asprintf(&base, "../../images/%s/disk.qcow2", image) < 0 || !disk || !memory || !kernel || !initrd ||
	    !share || !console)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if ((r = job_make_overlay(base, disk)))
		return r;
	/* Provisioning has the same network and share as a run: the saved
	 * device state must fit the machine that restores it. */
	_cleanup_(share_freep) struct share *sh = NULL;
	r = share_new(share, &sh);
	if (r < 0)
		return log_errno(r, "share %s", share), EXIT_OSRUN;

	struct vm_plan plan = {
		.machine = {.memory_mib = p->memory_mib, .cpus = p->cpus, .accel = accel},
		.kernel = kernel,
		.initrd = initrd,
		.append = p->append,
		.disk = disk,
		.memory = memory,
		.memory_shared = true,
		.share = share,
		.serial_log = console,
	};
	snprintf(plan.machine.profile, sizeof plan.machine.profile, "linux");
	log_info("booting the test guest (%u MiB, %s)", p->memory_mib, accel_to_string(accel));
	if ((r = job_start_vm(&j, &plan)))
		return r;
	if ((r = job_wait_agent(&j, p->boot_timeout, "test guest")))
		return r;
	log_info("guest agent ready after %.1f s", seconds_since(j.started));

	struct snapshot_meta meta = {
		.image = image,
		.machine = plan.machine,
		.created = iso_time_now(),
		.made_by = "provision",
	};
	r = job_save_snapshot(&j, profile_find("linux"), n, &meta);
	free(meta.created);
	free(meta.qemu_version);
	return r;
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
