#define _GNU_SOURCE
#include "selftest.h"

#include <string.h>
#include <sys/utsname.h>

#include "job.h"
#include "lib/log.h"
#include "selftest-checks.h"
#include "selftest-runs.h"

int selftest_check_names(char **only, struct error *e)
{
	for (char **n = only; n && *n; n++) {
		if (st_check_find(*n))
			continue;
		char names[512] = "";
		for (size_t i = 0; i < st_checks_n; i++)
			snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
				 st_checks[i].name);
		return error_set(e, -EINVAL, "--check '%s': no such check (the checks: %s)", *n, names);
	}
	return 0;
}

static bool selected(const struct selftest_plan *p, const struct st_check *c)
{
	if (!p->only)
		return true;
	for (char **n = p->only; *n; n++)
		if (!strcmp(*n, c->name))
			return true;
	return false;
}

/* The host, the accelerator and the snapshot, as the report names them. */
static int report_setting(const struct selftest_plan *p, const struct st_context *t, struct selftest_report *r,
			  struct error *e)
{
	struct utsname u;
	char cpu[128] = "";
	if (uname(&u) < 0)
		return error_errno(e, -errno, "uname");
	(void)accel_host_cpu("/proc/cpuinfo", cpu, sizeof cpu);
	snprintf(r->version, sizeof r->version, "%s", p->version ? p->version : "");
	snprintf(r->host, sizeof r->host, "%s %s %s, %ld CPUs%s%s", u.sysname, u.release, u.machine,
		 sysconf(_SC_NPROCESSORS_ONLN), *cpu ? ", " : "", cpu);
	enum accel a;
	int k = job_accel(&a, e);
	if (k < 0)
		return k;
	const char *why = job_accel_why();
	snprintf(r->accel, sizeof r->accel, "%s%s%s", a == ACCEL_KVM ? "KVM" : "TCG",
		 a == ACCEL_KVM ? ""
		 : why		? ": "
				: " (OSRUN_ACCEL chose it)",
		 a == ACCEL_KVM ? ""
		 : why		? why
				: "");
	const struct snapshot_meta *m = &t->sn->meta;
	snprintf(r->snapshot, sizeof r->snapshot,
		 "%s: %s guest, %u MiB, %u CPU%s, saved under %s by QEMU %s on %s (%s)", t->snapshot,
		 m->machine.profile, m->machine.memory_mib, m->machine.cpus, m->machine.cpus == 1 ? "" : "s",
		 accel_to_string(m->machine.accel), m->qemu_version ? m->qemu_version : "?",
		 m->created ? m->created : "?", m->made_by ? m->made_by : "?");
	return 0;
}

/* One check into its row; < 0 stops the self-test. */
static int check_run(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	*row = (struct st_row){.check = c->name};
	usec_t t0 = now_usec();
	int r = 0;
	if (c->not_on[t->os]) {
		row->verdict = ST_SKIP;
		st_row_note(row, "%s", c->not_on[t->os]);
	} else if (c->run) {
		r = c->run(t, c, row, e);
	} else if (c->steps[t->os]) {
		r = st_run_steps(t, c, row, e);
	} else {
		st_row_fail(row, "the table gives check '%s' no commands for this guest", c->name);
	}
	row->seconds = seconds_since(t0);
	return r;
}

static void rows_count(struct selftest_report *r)
{
	for (size_t i = 0; i < r->n_rows; i++) {
		enum st_verdict v = r->rows[i].verdict;
		r->passed += v == ST_PASS;
		r->failed += v == ST_FAIL;
		r->skipped += v == ST_SKIP;
	}
}

int selftest_run(const struct selftest_plan *p, struct selftest_report *ret, struct error *e)
{
	int r = selftest_check_names(p->only, e);
	if (r < 0)
		return r;
	usec_t t0 = now_usec();
	_cleanup_(st_context_release) struct st_context t = {0};
	if ((r = st_context_open(&t, p->cache, p->snapshot, p->verbose, e)) < 0)
		return r;
	struct selftest_report rep = {0};
	if ((r = report_setting(p, &t, &rep, e)) < 0)
		return r;
	size_t n = 0, k = 0;
	for (size_t i = 0; i < st_checks_n; i++)
		n += selected(p, &st_checks[i]);
	for (size_t i = 0; i < st_checks_n && rep.n_rows < ST_CHECKS_MAX; i++) {
		const struct st_check *c = &st_checks[i];
		if (!selected(p, c))
			continue;
		log_info("selftest: %zu/%zu %s ...", ++k, n, c->name);
		struct st_row *row = &rep.rows[rep.n_rows++];
		if ((r = check_run(&t, c, row, e)) < 0)
			return r;
		log_info("selftest: %s: %s (%.1f s)%s%s", c->name, st_verdict_name(row->verdict), row->seconds,
			 *row->details ? ": " : "", row->details);
	}
	snprintf(rep.qemu, sizeof rep.qemu, "%s", *t.qemu_version ? t.qemu_version : "(no restore ran)");
	rows_count(&rep);
	rep.seconds = seconds_since(t0);
	*ret = rep;
	return 0;
}
