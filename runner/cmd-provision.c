/* osrun provision: build the Linux test guest's snapshot every run starts
 * from (provision.h). */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "options.h"
#include "provision.h"

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

/* 0: go on; 1: --help said all. */
static int provision_parse(int argc, char **argv, struct provision_plan *p, struct error *e)
{
	struct common_opts c = {0};
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
		OPTS_COMMON(&c),
	};
	provision_plan_init(p);
	int first, r = options_parse(table, provision_help, true, argc, argv, &first, e);
	if (r != 0)
		return r;
	p->cache = c.cache;
	if ((r = options_no_operands("provision", argc, argv, first, e)) < 0 ||
	    (r = options_check_snapshot_name(p->name, e)) < 0)
		return r;
	return provision_check_guest(p->guest_dir, e);
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
