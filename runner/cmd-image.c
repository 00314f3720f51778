/* osrun image build: from a Windows ISO and the virtio-win ISO to the
 * provisioned snapshot, unattended. Every input is checked before anything
 * starts; then the setup medium is made (iso-builder/) and the stage engine
 * installs Windows. */
#define _GNU_SOURCE
#include <string.h>

#include "../iso-builder/medium.h"
#include "build.h"
#include "commands.h"
#include "isofetch.h"
#include "options.h"

#ifndef OSRUN_WINDOWS_DIR
#define OSRUN_WINDOWS_DIR "/usr/local/share/osrun/windows"
#endif

struct image_plan {
	struct common_opts common;
	struct medium_inputs in;
	const char *version, *language; /* what to fetch without --iso */
	const char *name;
	unsigned memory_mib;
	unsigned cpus;
	usec_t stage_timeout;
	usec_t setup_timeout;
	bool keep;
	bool force;
	bool dry_run;
	bool vnc;
};

/* Stage scripts: given through the stage's share, so a change reruns only
 * that stage. */
static const char *const stage_scripts[] = {"configure.ps1", "cleanup.ps1"};

static void image_help(void)
{
	printf("Usage: osrun image build [--iso WINDOWS.iso] [--virtio-win VIRTIO-WIN.iso] [OPTIONS]\n"

	       "\n"
	       "Installs Windows with nobody at the keyboard and saves the snapshot runs\n"
	       "start from. The Windows ISO is not changed: a small second medium carries\n"
	       "the generated autounattend.xml, the guest-init scripts, the virtio drivers\n"
	       "and the guest agent. The install runs in stages, each cached: a rebuild\n"
	       "starts at the first stage whose inputs changed. Needs KVM to finish in\n"
	       "reasonable time (about 30-60 min); under TCG it takes many hours.\n"
	       "\n"
	       "Options:\n"
	       "      --iso PATH           a Windows 10/11 or Server 2019-2025 ISO (default: fetched\n"
	       "                           into the store as 'osrun image fetch --help' says)\n"
	       "      --version V          what to fetch without --iso (default: 11), --language L\n"
	       "      --virtio-win PATH    the virtio-win ISO (default: fetched from Fedora)\n"
	       "      --edition NAME|INDEX|ID  the edition to install: an image's index or name,\n"
	       "                           or an edition id such as ServerDatacenter (default:\n"
	       "                           Pro; on Server media Standard, Desktop Experience)\n"
	       "      --name NAME          the snapshot to make (default: provisioned)\n"
	       "      --size GIB           disk size (default: 64)\n"
	       "      --memory MIB         guest memory (default: 4096)\n"
	       "      --cpus N             guest CPUs (default: 2)\n"
	       "      --admin-password PW  the '" MEDIUM_ADMIN_USER "' administrator's password (default:\n"
	       "                           random, kept 0600 in the store)\n"
	       "      --product-key KEY    install key (default: Microsoft's generic or KMS\n"
	       "                           client key for the edition; none for evaluation\n"
	       "                           media)\n"
	       "      --guest-init DIR     the Windows guest-init scripts (default:\n"
	       "                           $OSRUN_WINDOWS_DIR, else %s)\n"
	       "      --stage-timeout SECONDS  longest a stage may take (default: 14400)\n"
	       "      --setup-timeout SECONDS  longest Windows Setup's first pass may take: it\n"
	       "                           says nothing while it runs, and a dialog stops it\n"
	       "                           (default: 5400; its screen is kept when it fails)\n"
	       "      --keep               keep the stages' disk layers for later builds\n"
	       "      --force              replace snapshot NAME when built from other inputs\n"
	       "      --dry-run            check the inputs, write the setup medium, print\n"
	       "                           every stage's QEMU command line; start nothing\n"
	       "      --vnc                show each stage's screen on VNC (a UNIX socket, path printed)\n"
	       "      --cache DIR          the store\n"
	       "  -v, --verbose            say what happens\n"
	       "  -h, --help               this text\n",
	       OSRUN_WINDOWS_DIR);
}

static int image_check(const struct image_plan *p, struct error *e)
{
	if (p->in.iso && p->version)
		return error_set(e, -EINVAL, "image build: --version picks an ISO to fetch; --iso names one already");
	return p->in.password && !*p->in.password ? error_set(e, -EINVAL, "--admin-password: empty") : 0;
}

/* 0: go on; 1: --help said all. */
static int image_parse(int argc, char **argv, struct image_plan *p, struct error *e)
{
	struct medium_inputs *in = &p->in;
	const struct opt table[] = {
		{"iso", 0, OPT_STRING, &in->iso, 0, 0, NULL},
		{"virtio-win", 0, OPT_STRING, &in->virtio, 0, 0, NULL},
		{"version", 0, OPT_STRING, &p->version, 0, 0, NULL},
		{"language", 0, OPT_STRING, &p->language, 0, 0, NULL},
		{"edition", 0, OPT_STRING, &in->edition, 0, 0, NULL},
		{"name", 0, OPT_STRING, &p->name, 0, 0, NULL},
		{"size", 0, OPT_UINT, &in->size_gib, 16, 65536, "expected GiB, 16 or more"},
		{"memory", 0, OPT_UINT, &p->memory_mib, 1024, 1u << 20, "expected MiB, 1024 or more"},
		{"cpus", 0, OPT_UINT, &p->cpus, 1, 64, "expected 1 to 64"},
		{"admin-password", 0, OPT_STRING, &in->password, 0, 0, NULL},
		{"product-key", 0, OPT_STRING, &in->product_key, 0, 0, NULL},
		{"guest-init", 0, OPT_STRING, &in->guest_init, 0, 0, NULL},
		{"stage-timeout", 0, OPT_SECONDS, &p->stage_timeout, 0, 0, NULL},
		{"setup-timeout", 0, OPT_SECONDS, &p->setup_timeout, 0, 0, NULL},
		{"keep", 0, OPT_FLAG, &p->keep, 0, 0, NULL},
		{"force", 0, OPT_FLAG, &p->force, 0, 0, NULL},
		{"dry-run", 0, OPT_FLAG, &p->dry_run, 0, 0, NULL},
		{"vnc", 0, OPT_FLAG, &p->vnc, 0, 0, NULL},
		OPTS_COMMON(&p->common),
	};
	p->name = "provisioned";
	in->size_gib = 64;
	p->memory_mib = 4096;
	p->cpus = 2;
	p->stage_timeout = 14400 * USEC_PER_SEC;
	p->setup_timeout = 5400 * USEC_PER_SEC;
	const char *g = getenv("OSRUN_WINDOWS_DIR");
	in->guest_init = g && *g ? g : OSRUN_WINDOWS_DIR;
	int first, r = options_parse(table, image_help, true, argc, argv, &first, e);
	if (r != 0)
		return r;
	if ((r = options_no_operands("image build", argc, argv, first, e)) < 0 ||
	    (r = options_check_snapshot_name(p->name, e)) < 0)
		return r;
	return image_check(p, e);
}

static int check_guest_init(const struct image_plan *p, struct error *e)
{
	for (size_t i = 0; i < ELEMENTSOF(stage_scripts); i++) {
		_cleanup_free_ char *s = path_join(p->in.guest_init, stage_scripts[i]);
		if (s && !file_exists(s))
			return error_set(e, -ENOENT, "guest-init: %s not found (name the folder with --guest-init)", s);
	}
	return 0;
}

/* With the setup medium made: the stages and the final save. */
static int image_install(struct job *j, const struct image_plan *p, enum accel accel, const char *setup_iso,
			 uint64_t seed, struct error *e)
{
	_cleanup_free_ char *configure = path_join(p->in.guest_init, stage_scripts[0]),
			    *cleanup = path_join(p->in.guest_init, stage_scripts[1]);
	if (!configure || !cleanup)
		return error_errno(e, -ENOMEM, "paths");
	const char *const install_media[] = {p->in.iso, setup_iso, p->in.virtio, NULL};
	const char *const media[] = {setup_iso, p->in.virtio, NULL};
	/* setup: Windows Setup's first pass, ended by its reboot. firstboot:
	 * specialize and OOBE (a reboot or two), then FirstLogonCommands
	 * run firstlogon.ps1, which says done and shuts down. */
	const struct stage stages[] = {
		/* WinPE has no status channel: a dialog (an answer-file error)
		 * shows only on the screen, which a timeout keeps. */
		{.name = "setup", .install_media = true, .max_boots = 1, .timeout = p->setup_timeout},
		{.name = "firstboot", .wait_done = true, .max_boots = 6, .timeout = p->stage_timeout},
		{.name = "configure",
		 .script = configure,
		 .wait_done = true,
		 .max_boots = 4,
		 .timeout = p->stage_timeout},
		{.name = "cleanup", .script = cleanup, .wait_done = true, .max_boots = 3, .timeout = p->stage_timeout},
	};
	struct machine machine = {.profile = "windows", .memory_mib = p->memory_mib, .cpus = p->cpus, .accel = accel};
	struct build b = {
		.profile = profile_find("windows"),
		.machine = machine,
		.install_media = install_media,
		.media = media,
		.disk_size = (uint64_t)p->in.size_gib << 30,
		.seed = seed,
		.stages = stages,
		.n_stages = ELEMENTSOF(stages),
		.keep = p->keep,
		.vnc = p->vnc,
	};
	struct build_final f = {
		.profile = profile_find("windows"),
		.machine = machine,
		.agent_timeout = 600 * USEC_PER_SEC,
		.idle_window = 30 * USEC_PER_SEC,
		.vnc = p->vnc,
	};
	if (!p->dry_run)
		return build_provision(j, &b, &f, p->name, p->force, "image build", e);
	int r = build_print(j, &b, stdout, e);
	return r < 0 ? r : build_print_final(j, &b, &f, p->name, stdout, e);
}

static int image_execute(struct image_plan *p, struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	_cleanup_(isofetch_result_release) struct isofetch_result iso = {0}, virtio = {0};
	enum accel accel;
	int r;
	if ((r = job_open_store(&j, p->common.cache, !p->dry_run, e)) < 0 || (r = job_make_rundir(&j, e)) < 0 ||
	    (r = image_fetch_missing(&j, p->version, p->language, &p->in.iso, &p->in.virtio, &iso, &virtio, e)) < 0 ||
	    (r = medium_check_isos(&p->in, e)) < 0 || (r = check_guest_init(p, e)) < 0 ||
	    (r = job_accel(&accel, e)) < 0)
		return r;
	_cleanup_(edition_list_release) struct edition_list editions = {0};
	const struct edition *ed;
	if ((r = medium_pick_edition(&p->in, j.rundir->path, &editions, &ed, e)) < 0)
		return r;
	if (r > 0)
		log_info("edition id %s names several images: taking %u, %s (%s, not Server Core); --edition INDEX "
			 "picks another",
			 ed->edition_id, ed->index, ed->name, ed->install_type ? ed->install_type : "?");
	log_info("edition %u: %s (build %u, drivers %s, language %s)", ed->index, ed->name, ed->build,
		 edition_virtio_dir(ed), ed->language ? ed->language : "en-US");
	_cleanup_free_ char *setup_iso = NULL;
	uint64_t seed;
	if ((r = medium_make(j.store, &p->in, ed, j.rundir->path, &setup_iso, &seed, e)) < 0)
		return r;
	log_info("setup medium: %s", setup_iso);
	return image_install(&j, p, accel, setup_iso, seed, e);
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_help();
		return argc < 2 ? EXIT_OSRUN : 0;
	}
	struct image_plan p = {0};
	struct error e = {0};
	if (!strcmp(argv[1], "fetch"))
		return cmd_image_fetch(argc - 1, argv + 1);
	int r = strcmp(argv[1], "build")
			? error_set(&e, -EINVAL, "image: unknown subcommand '%s' (expected 'build' or 'fetch')",
				    argv[1])
			: image_parse(argc - 1, argv + 1, &p, &e);
	if (r == 0)
		r = image_execute(&p, &e);
	return r < 0 ? options_report(&e) : 0;
}
