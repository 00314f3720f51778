/* osrun image build: options into an image plan, built by image.c; image
 * fetch is cmd-image-fetch.c's. */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "image.h"
#include "options.h"

struct image_opts {
	struct common_opts common;
	struct image_plan plan;
};

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

/* 0: go on; 1: --help said all. */
static int image_parse(int argc, char **argv, struct image_opts *o, struct error *e)
{
	struct image_plan *p = &o->plan;
	struct medium_inputs *in = &p->in;
	image_plan_init(p);
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
		OPTS_COMMON(&o->common),
	};
	int first, r = options_parse(table, image_help, true, argc, argv, &first, e);
	if (r != 0)
		return r;
	if ((r = options_no_operands("image build", argc, argv, first, e)) < 0 ||
	    (r = options_check_snapshot_name(p->name, e)) < 0)
		return r;
	p->cache = o->common.cache;
	return image_check(p, e);
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_help();
		return argc < 2 ? EXIT_OSRUN : 0;
	}
	struct image_opts o = {0};
	struct error e = {0};
	if (!strcmp(argv[1], "fetch"))
		return cmd_image_fetch(argc - 1, argv + 1);
	int r = strcmp(argv[1], "build")
			? error_set(&e, -EINVAL, "image: unknown subcommand '%s' (expected 'build' or 'fetch')",
				    argv[1])
			: image_parse(argc - 1, argv + 1, &o, &e);
	if (r == 0)
		r = image_execute(&o.plan, &e);
	return r < 0 ? options_report(&e) : 0;
}
