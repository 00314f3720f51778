/* osrun pool: keeps clones of one snapshot warm so that `osrun -s NAME
 * COMMAND` starts COMMAND at once. Parses, then runs the pool keeper
 * (pool-keeper.c) in the foreground. */
#include "commands.h"
#include "options.h"
#include "pool-keeper.h"

static void pool_help(void)
{
	printf("Usage: osrun pool [OPTIONS]\n"
	       "\n"
	       "Keeps clones of a snapshot restored and ready, with their clock set and\n"
	       "share mounted, so that 'osrun -s NAME COMMAND' starts COMMAND without\n"
	       "waiting for a restore. Each clone runs one command and is replaced.\n"
	       "Runs in the foreground until Ctrl-C or SIGTERM, which stop the clones\n"
	       "that wait (commands already running finish). Runs with -n, -p, --vnc\n"
	       "or --monitor, and runs that find no clone ready, restore their own.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --use-snapshot NAME  the snapshot to keep clones of (default: provisioned);\n"
	       "                           a registry reference is pulled first, as 'osrun -s'\n"
	       "  -j, --clones N           how many to keep ready (default: 1)\n"
	       "      --cache DIR          the store (default: $OSRUN_CACHE, else ~/.cache/osrun)\n"
	       "  -v, --verbose            say when each clone is ready and takes a command\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Each clone holds a QEMU process and its share of the snapshot's memory\n"
	       "(the pages it changed; the rest is the page cache all clones share).\n");
}

int cmd_pool(int argc, char **argv)
{
	_cleanup_(run_plan_release) struct run_plan plan = {.snapshot = "provisioned",
							    .agent_timeout = 60 * USEC_PER_SEC};
	struct common_opts c = {0};
	unsigned want = 1;
	const struct opt table[] = {
		{"use-snapshot", 's', OPT_STRING, &plan.snapshot, 0, 0, NULL},
		{"clones", 'j', OPT_UINT, &want, 1, 64, "expected a number from 1 to 64"},
		OPTS_COMMON(&c),
	};
	struct error e = {0};
	int first, r = options_parse(table, pool_help, false, argc, argv, &first, &e);
	if (r == 0 && (r = options_no_operands("pool", argc, argv, first, &e)) == 0)
		r = options_check_snapshot_use(plan.snapshot, &e);
	plan.cache = c.cache;
	plan.verbose = c.verbose;
	if (r == 0)
		r = options_snapshot_use(&plan, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	const struct serve_report rep = {options_report, options_report_result};
	return pool_keeper_run(&plan, want, &rep, &e) < 0 ? options_report(&e) : 0;
}
