#define _GNU_SOURCE
#include "selftest-runs.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "run.h"

/* Step k of the check on this guest, or NULL when the table has fewer. */
static const struct st_step *step_of(const struct st_context *t, const struct st_check *c, size_t k)
{
	const struct st_step *s = c->steps[t->os];
	for (size_t i = 0; s && s[i].cmd; i++)
		if (i == k)
			return &s[i];
	return NULL;
}

static int missing_steps(const struct st_check *c, struct st_row *row)
{
	return st_row_fail(row, "the table gives check '%s' too few commands for this guest", c->name);
}

/* Runs s in cl and judges it; a failure goes into row, prefixed. */
static int step_judged(struct st_context *t, struct st_clone *cl, const struct st_step *s, const char *prefix,
		       struct st_outcome *o, struct st_row *row, struct error *e)
{
	int r = st_clone_command(t, cl, s, o, e);
	if (r < 0)
		return r;
	char why[512], a[200];
	if (!st_judge_step(s, o, why, sizeof why))
		st_row_fail(row, "%s'%s': %s", prefix, st_shown(s->cmd, a, sizeof a), why);
	return 0;
}

int st_run_steps(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	_cleanup_(st_clone_release) struct st_clone cl = {0};
	st_clone_init(t, &cl, NULL);
	size_t n = 0;
	double longest = 0;
	for (const struct st_step *s = c->steps[t->os]; s && s->cmd; s++, n++) {
		struct st_outcome o;
		int r = step_judged(t, &cl, s, "", &o, row, e);
		longest = o.seconds > longest ? o.seconds : longest;
		st_outcome_release(&o);
		if (r < 0)
			return r;
	}
	st_row_figure(row, "commands", (double)n);
	st_row_figure(row, "longest_s", longest);
	if (row->verdict == ST_PASS)
		st_row_note(row, "%zu command%s as expected, the longest %.2f s", n, n == 1 ? "" : "s", longest);
	return 0;
}

int st_run_hundred(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	_cleanup_(st_clone_release) struct st_clone cl = {0};
	st_clone_init(t, &cl, NULL);
	double took[100], lo, mid, hi;
	unsigned bad = 0;
	for (unsigned i = 1; i <= 100; i++) {
		char buf[192], why[512];
		struct st_step s;
		struct st_outcome o;
		st_hundred_step(t->os, i, &s, buf, sizeof buf);
		int r = st_clone_command(t, &cl, &s, &o, e);
		took[i - 1] = o.seconds;
		if (r == 0 && !st_judge_step(&s, &o, why, sizeof why) && !bad++)
			st_row_fail(row, "command %u ('%s'): %s", i, s.cmd, why);
		st_outcome_release(&o);
		if (r < 0)
			return r;
	}
	st_stats(took, 100, &lo, &mid, &hi);
	st_row_figure(row, "median_s", mid);
	st_row_figure(row, "max_s", hi);
	if (bad)
		st_row_note(row, "%u of 100 not exact", bad);
	else
		st_row_note(row, "100 commands in one restore, each exact: median %.2f s, max %.2f s", mid, hi);
	return 0;
}

int st_run_layer(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	const struct st_step *make = step_of(t, c, 0), *use = step_of(t, c, 1);
	if (!make || !use)
		return missing_steps(c, row);
	char name[64];
	snprintf(name, sizeof name, "osrun-selftest-%d-%llu", (int)getpid(),
		 (unsigned long long)(realtime_usec() / USEC_PER_SEC));
	struct st_outcome o = {0};
	_cleanup_(st_clone_release) struct st_clone a = {0}, b = {0};
	st_clone_init(t, &a, NULL);
	a.plan.new_snapshot = name;
	int r = step_judged(t, &a, make, "-n: ", &o, row, e);
	bool saved = r == 0 && o.r == 0 && o.status == 0;
	st_outcome_release(&o);
	st_clone_release(&a);
	if (r < 0 || !saved)
		return r;
	if (!(t->layer = strdup(name)))
		return error_errno(e, -ENOMEM, "snapshot name");
	st_clone_init(t, &b, name);
	r = step_judged(t, &b, use, "-s: ", &o, row, e);
	double took = o.seconds;
	st_outcome_release(&o);
	st_clone_release(&b);
	if (r == 0 && st_context_drop_layer(t) < 0)
		st_row_fail(row, "the new snapshot could not be removed");
	if (r == 0 && row->verdict == ST_PASS)
		st_row_note(row, "the -n run's change is there with -s (%.2f s)", took);
	return r;
}

/* The volume check's host side: two folders and a file to copy in. */
static int volumes_prepare(struct st_context *t, struct run_plan *p, struct error *e)
{
	static const char *const guest[ST_OS_N][4] = {
		[ST_LINUX] = {ST_LINUX_RW, ST_LINUX_RO, ST_LINUX_COPY_IN, ST_LINUX_COPY_OUT},
		[ST_WINDOWS] = {ST_WINDOWS_RW, ST_WINDOWS_RO, ST_WINDOWS_COPY_IN, ST_WINDOWS_COPY_OUT},
	};
	const char *dir = t->scratch->path;
	_cleanup_free_ char *rw = path_join(dir, "rw"), *ro = path_join(dir, "ro"),
			    *rw_in = path_join(dir, "rw/in.txt"), *ro_in = path_join(dir, "ro/ro.txt"),
			    *in = path_join(dir, "copy-in.txt");
	if (!rw || !ro || !rw_in || !ro_in || !in)
		return error_errno(e, -ENOMEM, "paths");
	if ((mkdir(rw, 0700) < 0 && errno != EEXIST) || (mkdir(ro, 0700) < 0 && errno != EEXIST))
		return error_errno(e, -errno, "a folder for the volume check in %s", dir);
	int r = write_file_atomic(rw_in, ST_VOLUME_RW_IN "\n", strlen(ST_VOLUME_RW_IN) + 1, 0600);
	if (r == 0)
		r = write_file_atomic(ro_in, ST_VOLUME_RO_IN "\n", strlen(ST_VOLUME_RO_IN) + 1, 0600);
	if (r == 0)
		r = write_file_atomic(in, ST_COPY_IN "\n", strlen(ST_COPY_IN) + 1, 0600);
	if (r < 0)
		return error_errno(e, r, "files for the volume check in %s", dir);
	p->volumes[0] = (struct run_volume){.host = realpath(rw, NULL), .guest = strdup(guest[t->os][0])};
	p->volumes[1] =
		(struct run_volume){.host = realpath(ro, NULL), .guest = strdup(guest[t->os][1]), .read_only = true};
	p->n_volumes = 2;
	p->copy_in[0] = (struct run_copy){.host = TAKE_PTR(in), .guest = strdup(guest[t->os][2])};
	p->copy_out[0] = (struct run_copy){.host = path_join(dir, "copied-out.txt"), .guest = strdup(guest[t->os][3])};
	p->n_copy_in = p->n_copy_out = 1;
	for (int i = 0; i < 2; i++)
		if (!p->volumes[i].host || !p->volumes[i].guest)
			return error_errno(e, -ENOMEM, "the volume check's folders");
	if (!p->copy_in[0].guest || !p->copy_out[0].host || !p->copy_out[0].guest)
		return error_errno(e, -ENOMEM, "the volume check's copies");
	return 0;
}

/* A small file the guest wrote on the host, or NULL. */
static char *host_file(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	char *text = NULL;
	size_t n;
	if (!p || read_file_untrusted(p, 4096, &text, &n) < 0)
		return NULL;
	return text;
}

int st_run_volumes(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	const struct st_step *s = step_of(t, c, 0);
	if (!s)
		return missing_steps(c, row);
	_cleanup_(st_clone_release) struct st_clone cl = {0};
	st_clone_init(t, &cl, NULL);
	int r = volumes_prepare(t, &cl.plan, e);
	if (r < 0)
		return r;
	struct st_outcome o;
	if ((r = st_clone_command(t, &cl, s, &o, e)) < 0) {
		st_outcome_release(&o);
		return r;
	}
	st_clone_release(&cl);
	const char *dir = t->scratch->path;
	_cleanup_free_ char *rw = host_file(dir, "rw/out.txt"), *out = host_file(dir, "copied-out.txt"),
			    *ro = path_join(dir, "ro/no.txt");
	struct st_volume_facts f = {.rw_file = rw, .ro_file = ro && file_exists(ro), .copy_out = out};
	st_judge_volumes(s, &o, &f, row);
	st_outcome_release(&o);
	return 0;
}

/* A reading of one of the guest's clocks: what it printed, and the
 * host's clock (the same kind: wall or monotonic) at the middle of the
 * command and half its window (seconds). */
struct reading {
	char *out;
	double host, half;
};

static void reading_release(struct reading *m) { free(m->out); }

/* One command's output in cl with the host's clock around it; a command
 * that did not run as s expects fails row (ret->out stays NULL). */
static int reading_take(struct st_context *t, struct st_clone *cl, const struct st_step *s, const char *when,
			usec_t (*host_clock)(void), struct reading *ret, struct st_row *row, struct error *e)
{
	struct st_outcome o;
	double before = (double)host_clock() / USEC_PER_SEC;
	int r = st_clone_command(t, cl, s, &o, e);
	double after = (double)host_clock() / USEC_PER_SEC;
	char why[512];
	*ret = (struct reading){.host = (before + after) / 2, .half = (after - before) / 2};
	if (r == 0 && !st_judge_step(s, &o, why, sizeof why))
		st_row_fail(row, "%s: %s", when, why);
	else if (r == 0)
		ret->out = TAKE_PTR(o.out);
	st_outcome_release(&o);
	return r;
}

/* The wall clock's reading against the host's; *ret_guest is 0 when
 * there is none. */
static int clock_read(struct st_context *t, struct st_clone *cl, const struct st_step *s, const char *when,
		      struct reading *ret, double *ret_guest, struct st_row *row, struct error *e)
{
	double outside;
	char why[512];
	*ret_guest = 0;
	int r = reading_take(t, cl, s, when, realtime_usec, ret, row, e);
	if (r == 0 && ret->out &&
	    !st_judge_clock(ret->out, ret->host - ret->half, ret->host + ret->half, ST_CLOCK_TOLERANCE, &outside, why,
			    sizeof why))
		st_row_fail(row, "%s: %s", when, why);
	else if (r == 0 && ret->out)
		*ret_guest = strtod(ret->out, NULL);
	return r;
}

/* The monotonic clock's rate over the wait, judged into row. */
static void mono_judge(const struct reading *a, const struct reading *b, struct st_row *row)
{
	double rate = 0;
	char why[512];
	if (!a->out || !b->out)
		return;
	if (!st_judge_rate(a->out, b->out, b->host - a->host, a->half + b->half, ST_RATE_TOLERANCE, &rate, why,
			   sizeof why)) {
		st_row_fail(row, "%s", why);
		return;
	}
	st_row_figure(row, "monotonic_rate", rate);
	st_row_note(row, "the guest's monotonic clock ran %.4f s a host second", rate);
}

int st_run_clock(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	const struct st_step *s = step_of(t, c, 0), *m = step_of(t, c, 1);
	if (!s || !m)
		return missing_steps(c, row);
	_cleanup_(st_clone_release) struct st_clone cl = {0};
	st_clone_init(t, &cl, NULL);
	struct st_outcome o = {0};
	bool ok;
	int r = st_clone_restore(t, &cl, &o, &ok, e);
	if (r < 0 || !ok) {
		if (r == 0)
			st_row_fail(row, "%s", o.msg);
		return r;
	}
	_cleanup_(reading_release) struct reading a = {0}, b = {0}, ma = {0}, mb = {0};
	double ga, gb;
	if ((r = clock_read(t, &cl, s, "after the restore", &a, &ga, row, e)) < 0 ||
	    (r = reading_take(t, &cl, m, "after the restore", now_usec, &ma, row, e)) < 0)
		return r;
	log_info("selftest: clock: waiting %d s with the guest running", (int)(ST_CLOCK_WAIT / USEC_PER_SEC));
	r = fd_wait(-1, 0, deadline_after(ST_CLOCK_WAIT));
	if (r == -ECANCELED)
		return error_interrupted(e);
	if ((r = clock_read(t, &cl, s, "60 s later", &b, &gb, row, e)) < 0 ||
	    (r = reading_take(t, &cl, m, "60 s later", now_usec, &mb, row, e)) < 0)
		return r;
	mono_judge(&ma, &mb, row);
	if (!ga || !gb || b.host <= a.host)
		return 0;
	/* Offsets from the middle of each command: the guest read its clock
	 * somewhere in the window. */
	double rate = (gb - ga) / (b.host - a.host);
	st_row_figure(row, "offset_s", ga - a.host);
	st_row_figure(row, "offset_60s_s", gb - b.host);
	st_row_figure(row, "rate", rate);
	st_row_note(row,
		    "guest - host %+.3f s after the restore, %+.3f s 60 s later (windows %.2f s, %.2f s); the "
		    "guest's clock ran %.4f s a host second",
		    ga - a.host, gb - b.host, 2 * a.half, 2 * b.half, rate);
	return 0;
}

int st_run_timer(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	const struct st_step *base = step_of(t, c, 0), *wait = step_of(t, c, 1);
	if (!base || !wait)
		return missing_steps(c, row);
	_cleanup_(st_clone_release) struct st_clone cl = {0};
	st_clone_init(t, &cl, NULL);
	/* The baseline is the quicker of one run before the wait, one after. */
	const struct st_step *order[] = {base, wait, base};
	double took[3] = {0};
	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		struct st_outcome o;
		int r = step_judged(t, &cl, order[i], "", &o, row, e);
		took[i] = o.seconds;
		st_outcome_release(&o);
		if (r < 0)
			return r;
	}
	if (row->verdict == ST_FAIL)
		return 0;
	double baseline = took[0] < took[2] ? took[0] : took[2];
	char why[512];
	if (!st_judge_timer(2, took[1], baseline, why, sizeof why))
		return st_row_fail(row, "%s", why);
	st_row_figure(row, "wait_s", took[1] - baseline);
	st_row_note(row, "a 2 s wait in the guest took %.2f s of host time", took[1] - baseline);
	return 0;
}

int st_run_restores(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	const struct st_step *s = step_of(t, c, 0);
	if (!s)
		return missing_steps(c, row);
	struct st_outcome o[ST_RESTORES] = {{0}};
	int r = 0;
	for (size_t i = 0; i < ST_RESTORES && r == 0; i++) {
		_cleanup_(st_clone_release) struct st_clone cl = {0};
		st_clone_init(t, &cl, NULL);
		r = st_clone_command(t, &cl, s, &o[i], e);
	}
	if (r == 0)
		st_judge_restores(s, o, ST_RESTORES, row);
	for (size_t i = 0; i < ST_RESTORES; i++)
		st_outcome_release(&o[i]);
	return r;
}

int st_run_share(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e)
{
	st_judge_share(t->share_ready, t->n_share, t->restores_failed, t->first_failure,
		       (double)RUN_SHARE_TIMEOUT / USEC_PER_SEC, row);
	return 0;
}
