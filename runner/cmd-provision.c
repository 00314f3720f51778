/* osrun provision: build the Linux test guest's snapshot every run starts
 * from (provision.h). */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "options.h"
#include "provision.h"

static void provision_help(void)
{
	printf("Usage: osrun provision [OPTIONS] [debian]\n"
	       "\n"
	       "Builds the Linux test guest's image in stages (each one cached: a\n"
	       "rebuild starts at the first stage whose inputs changed), boots it,\n"
	       "waits for its guest agent and saves the snapshot runs start from.\n"
	       "Nothing is done when that snapshot was built from the same inputs.\n"
	       "With 'debian': the Debian guest (make debian-guest), snapshot 'debian',\n"
	       "1024 MiB, a 600 s boot bound. (Windows images: osrun image build.)\n"
	       "\n"
	       "Options:\n"
	       "      --name NAME          the snapshot to make (default: provisioned)\n"
	       "      --memory MIB         guest memory (default: 256)\n"
	       "      --cpus N             guest CPUs (default: 1)\n"
	       "      --guest DIR          the built guest (default: $OSRUN_GUEST_DIR,\n"
	       "                           else %s; debian: $OSRUN_DEBIAN_DIR,\n"
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
	       OSRUN_GUEST_DIR, OSRUN_DEBIAN_DIR);
}

/* The options' values over the guest's defaults: the guest (the operand)
 * is known only once they are parsed. */
static void provision_apply(struct provision_plan *p, const struct provision_plan *o)
{
	p->name = o->name ? o->name : p->name;
	p->guest_dir = o->guest_dir ? o->guest_dir : p->guest_dir;
	p->memory_mib = o->memory_mib ? o->memory_mib : p->memory_mib;
	p->cpus = o->cpus ? o->cpus : p->cpus;
	p->boot_timeout = o->boot_timeout ? o->boot_timeout : p->boot_timeout;
	p->append = o->append;
	p->force = o->force;
	p->keep = o->keep;
	p->dry_run = o->dry_run;
}

/* 0: go on; 1: --help said all. */
static int provision_parse(int argc, char **argv, struct provision_plan *p, struct error *e)
{
	struct common_opts c = {0};
	struct provision_plan o = {0};
	const struct opt table[] = {
		{"name", 0, OPT_STRING, &o.name, 0, 0, NULL},
		{"memory", 0, OPT_UINT, &o.memory_mib, 64, 1u << 20, "expected MiB, 64 or more"},
		{"cpus", 0, OPT_UINT, &o.cpus, 1, 64, "expected 1 to 64"},
		{"guest", 0, OPT_STRING, &o.guest_dir, 0, 0, NULL},
		{"append", 0, OPT_STRING, &o.append, 0, 0, NULL},
		{"boot-timeout", 0, OPT_SECONDS, &o.boot_timeout, 0, 0, NULL},
		{"force", 0, OPT_FLAG, &o.force, 0, 0, NULL},
		{"keep", 0, OPT_FLAG, &o.keep, 0, 0, NULL},
		{"dry-run", 0, OPT_FLAG, &o.dry_run, 0, 0, NULL},
		OPTS_COMMON(&c),
	};
	int first, r = options_parse(table, provision_help, false, argc, argv, &first, e);
	if (r != 0)
		return r;
	const char *guest = first < argc ? argv[first] : NULL;
	if (guest && (r = options_no_operands("provision", argc, argv, first + 1, e)) < 0)
		return r;
	const struct guest_kind *kind = guest_kind_find(guest);
	if (!kind)
		return error_set(e, -EINVAL, "provision: no guest '%s' (none: the test guest; or 'debian')", guest);
	provision_plan_init(p, kind);
	provision_apply(p, &o);
	p->cache = c.cache;
	if ((r = options_check_snapshot_name(p->name, e)) < 0)
		return r;
	return provision_check_guest(kind, p->guest_dir, e);
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
