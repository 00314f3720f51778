/* osrun selftest: runs, against a snapshot, every behaviour osrun's runs
 * rely on (the checks: selftest-checks.c), each in fresh restores through
 * the same run engine as `osrun COMMAND`, and reports what it found with
 * the host and machine it ran on. It is the first thing to run on a new
 * host (docs/windows.md: the first run with KVM). */
#pragma once
#include "selftest-judge.h"

#define ST_CHECKS_MAX 32

struct selftest_plan {
	const char *cache; /* the store; NULL: the default */
	const char *snapshot;
	int verbose;
	char **only;	     /* check names to run; NULL: all */
	const char *version; /* osrun's, as the report names it */
};

struct selftest_report {
	char version[96];
	char host[512];	    /* kernel, machine, CPUs, CPU model */
	char qemu[64];	    /* the QEMU that ran the restores */
	char accel[320];    /* KVM, or TCG and why */
	char snapshot[512]; /* name, guest, machine, how it was made */
	struct st_row rows[ST_CHECKS_MAX];
	size_t n_rows;
	unsigned passed, failed, skipped;
	double seconds;
};

/* Checks only's names (NULL: fine), before anything starts. */
int selftest_check_names(char **only, struct error *e);
/* Runs the checks: 0 with *ret filled, whatever they found; < 0 when the
 * self-test could not run (no such snapshot) or was interrupted. */
int selftest_run(const struct selftest_plan *p, struct selftest_report *ret, struct error *e);
