/* osrun selftest [-s SNAPSHOT]: every behaviour osrun's runs rely on,
 * checked against a snapshot, reported as a table to paste into an issue
 * (the engine: selftest.h). */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "options.h"
#include "selftest-report.h"

/* The commit osrun was built from (the Makefile says; none outside git). */
#ifndef OSRUN_COMMIT
#define OSRUN_COMMIT ""
#endif

static void selftest_help(void)
{
	printf("Usage: osrun selftest [-s SNAPSHOT] [--check NAME]... [--json] [--report FILE]\n"
	       "       osrun selftest --list\n"
	       "\n"
	       "Checks, against SNAPSHOT, every behaviour osrun's runs rely on: exit codes (and\n"
	       "on Windows 3010 and NTSTATUS codes), a crash, 100 commands in a row, a\n"
	       "background process that outlives its command, multi-line commands, UTF-8, -w\n"
	       "to a missing directory, odd -e values, piped stdin, --user (Windows), -n then\n"
	       "-s, volumes and copies, the guest clock after a restore and 60 s later, guest\n"
	       "timers, 20 restores back to back and the share after every restore. Each check\n"
	       "runs in fresh restores, as 'osrun COMMAND' does. A check that does not apply\n"
	       "to the guest is SKIP, with the reason; never a pass.\n"
	       "\n"
	       "Prints a report on stdout: osrun, host, QEMU, accelerator and snapshot, and a\n"
	       "table of PASS, FAIL or SKIP with figures (markdown: paste it into an issue).\n"
	       "Progress goes to stderr. About 2-3 minutes on the Linux test guest under TCG.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --use-snapshot NAME  the snapshot to check (default: provisioned)\n"
	       "      --check NAME         run only this check (repeatable; --list names them)\n"
	       "      --list               every check: what it proves, how it is judged, its\n"
	       "                           commands on each guest\n"
	       "      --json               the report as JSON, for scripts\n"
	       "      --report FILE        also write the markdown report to FILE\n"
	       "      --cache DIR          the store (default: $OSRUN_CACHE, else ~/.cache/osrun)\n"
	       "  -v, --verbose            say what each restore and command does\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Exit status: 0 every check that applies passed, 1 a check failed, 125 the\n"
	       "self-test could not run, 130 or 143 interrupted.\n");
}

struct selftest_opts {
	struct selftest_plan plan;
	bool list, json;
	const char *report;
};

static int selftest_parse(int argc, char **argv, struct selftest_opts *o, struct error *e)
{
	struct common_opts c = {0};
	const struct opt table[] = {
		{"use-snapshot", 's', OPT_STRING, &o->plan.snapshot, 0, 0, NULL},
		{"check", 0, OPT_LIST, &o->plan.only, 0, 0, NULL},
		{"list", 0, OPT_FLAG, &o->list, 0, 0, NULL},
		{"json", 0, OPT_FLAG, &o->json, 0, 0, NULL},
		{"report", 0, OPT_STRING, &o->report, 0, 0, NULL},
		OPTS_COMMON(&c),
	};
	o->plan.snapshot = "provisioned";
	int first, r = options_parse(table, selftest_help, false, argc, argv, &first, e);
	if (r != 0)
		return r;
	o->plan.cache = c.cache;
	o->plan.verbose = c.verbose;
	if ((r = options_no_operands("selftest", argc, argv, first, e)) < 0 ||
	    (r = options_check_snapshot_name(o->plan.snapshot, e)) < 0)
		return r;
	return selftest_check_names(o->plan.only, e);
}

/* The markdown report into path, as the user named it. */
static int report_write(const char *path, const char *text, struct error *e)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return error_errno(e, -errno, "--report '%s'", path);
	bool ok = fputs(text, f) >= 0;
	if (fclose(f) != 0 || !ok)
		return error_errno(e, -EIO, "--report '%s'", path);
	return 0;
}

static int print_text(char *text, struct error *e)
{
	if (!text)
		return error_errno(e, -ENOMEM, "the report");
	fputs(text, stdout);
	free(text);
	return fflush(stdout) == 0 ? 0 : error_errno(e, -errno, "writing the report");
}

int cmd_selftest(int argc, char **argv)
{
	struct selftest_opts o = {0};
	struct error e = {0};
	int r = selftest_parse(argc, argv, &o, &e);
	_cleanup_strv_free_ char **only = o.plan.only;
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	if (o.list)
		return print_text(selftest_list(), &e) < 0 ? options_report(&e) : 0;
	char version[96];
	snprintf(version, sizeof version, "%s%s%s%s", OSRUN_VERSION, *OSRUN_COMMIT ? " (built from " : "", OSRUN_COMMIT,
		 *OSRUN_COMMIT ? ")" : "");
	o.plan.version = version;
	struct selftest_report rep;
	if ((r = selftest_run(&o.plan, &rep, &e)) < 0)
		return options_report(&e);
	_cleanup_free_ char *md = selftest_markdown(&rep);
	if (!md)
		return error_errno(&e, -ENOMEM, "the report"), options_report(&e);
	if (o.report && (r = report_write(o.report, md, &e)) < 0)
		return options_report(&e);
	if ((r = print_text(o.json ? selftest_json(&rep) : TAKE_PTR(md), &e)) < 0)
		return options_report(&e);
	return rep.failed ? 1 : 0;
}
