#define _GNU_SOURCE
#include "selftest-judge.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

void st_outcome_release(struct st_outcome *o)
{
	free(o->out);
	free(o->err);
	o->out = o->err = NULL;
}

const char *st_verdict_name(enum st_verdict v) { return v == ST_PASS ? "PASS" : v == ST_FAIL ? "FAIL" : "SKIP"; }

__attribute__((format(printf, 2, 0))) static void row_vnote(struct st_row *row, const char *fmt, va_list ap)
{
	size_t k = strlen(row->details);
	if (k && k + 2 < sizeof row->details)
		k += (size_t)snprintf(row->details + k, sizeof row->details - k, "; ");
	if (k < sizeof row->details)
		vsnprintf(row->details + k, sizeof row->details - k, fmt, ap);
}

void st_row_note(struct st_row *row, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	row_vnote(row, fmt, ap);
	va_end(ap);
}

int st_row_fail(struct st_row *row, const char *fmt, ...)
{
	/* What a pass would have noted goes after the failure. */
	char kept[sizeof row->details];
	snprintf(kept, sizeof kept, "%s", row->verdict == ST_FAIL ? "" : row->details);
	if (row->verdict != ST_FAIL)
		row->details[0] = 0;
	row->verdict = ST_FAIL;
	va_list ap;
	va_start(ap, fmt);
	row_vnote(row, fmt, ap);
	va_end(ap);
	if (*kept)
		st_row_note(row, "%s", kept);
	return 0;
}

void st_row_figure(struct st_row *row, const char *name, double value)
{
	if (row->n_figures < ST_FIGURES_MAX)
		row->figures[row->n_figures++] = (struct st_figure){name, value};
}

/* s with CR LF as LF and without one last line end, in a new string. */
static char *text_normal(const char *s)
{
	char *o = malloc(strlen(s) + 1), *w = o;
	if (!o)
		return NULL;
	for (; *s; s++)
		if (!(s[0] == '\r' && s[1] == '\n'))
			*w++ = *s;
	if (w > o && w[-1] == '\n')
		w--;
	*w = 0;
	return o;
}

bool st_text_same(const char *got, const char *want, bool fold_case)
{
	_cleanup_free_ char *g = text_normal(got ? got : ""), *w = text_normal(want);
	return g && w && (fold_case ? !strcasecmp(g, w) : !strcmp(g, w));
}

const char *st_shown(const char *s, char *buf, size_t n)
{
	size_t k = 0;
	for (; s && *s && k + 8 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (k >= 160) {
			k += (size_t)snprintf(buf + k, n - k, "...");
			break;
		}
		if (c == '\n' || c == '\r' || c == '\t')
			k += (size_t)snprintf(buf + k, n - k, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		else if (c < 0x20 || c == 0x7f)
			k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
		else
			buf[k++] = (char)c;
	}
	buf[k < n ? k : n - 1] = 0;
	return buf;
}

static bool say(char *why, size_t n, const char *fmt, ...) _printf_(3, 4);
static bool say(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return false;
}

static bool judge_error(const struct st_expect *x, const struct st_outcome *o, char *why, size_t n)
{
	char a[200];
	if (o->r == 0)
		return say(why, n, "exited %d; expected the run to fail saying '%s'", o->status, x->error);
	if (!strstr(o->msg, x->error))
		return say(why, n, "failed saying '%s'; expected '%s'", o->msg, x->error);
	if (o->out && *o->out)
		return say(why, n, "failed as expected, but the command ran: stdout '%s'",
			   st_shown(o->out, a, sizeof a));
	return true;
}

bool st_judge_step(const struct st_step *s, const struct st_outcome *o, char *why, size_t n)
{
	const struct st_expect *x = &s->expect;
	char a[200], b[200];
	*why = 0;
	if (x->error)
		return judge_error(x, o, why, n);
	if (o->r < 0)
		return say(why, n, "%s", o->msg);
	if (o->status != x->status)
		return say(why, n, "exit status %d, expected %d%s%s", o->status, x->status, *o->why ? ": " : "",
			   o->why);
	if (x->why ? !strstr(o->why, x->why) : *o->why != 0)
		return say(why, n, "osrun said '%s', expected %s%s%s", o->why, x->why ? "'" : "nothing",
			   x->why ? x->why : "", x->why ? "'" : "");
	if (x->out && !st_text_same(o->out, x->out, x->fold_case))
		return say(why, n, "stdout '%s', expected '%s'", st_shown(o->out, a, sizeof a),
			   st_shown(x->out, b, sizeof b));
	if (x->within > 0 && o->seconds > x->within)
		return say(why, n, "took %.1f s, more than %.0f s", o->seconds, x->within);
	return true;
}

void st_hundred_step(enum st_os os, unsigned i, struct st_step *ret, char *buf, size_t n)
{
	/* Codes spread over the whole range each guest can give: Linux 0-255
	 * (129-192 read as a signal, and said so), Windows 32 bits. */
	unsigned code = os == ST_WINDOWS ? (i * 7919) % 70000 : (i * 37) % 256;
	size_t third = n / 3;
	char *cmd = buf, *out = buf + third, *said = buf + 2 * third;
	if (os == ST_WINDOWS)
		snprintf(cmd, third, "echo %u& exit /b %u", i, code);
	else
		snprintf(cmd, third, "echo %u; exit %u", i, code);
	snprintf(out, third, "%u", i);
	bool has_why = os == ST_WINDOWS ? code > 255 : code > 128 && code <= 192;
	if (os == ST_WINDOWS)
		snprintf(said, third, "code %u (", code);
	else
		snprintf(said, third, "status %u: killed by signal", code);
	*ret = (struct st_step){.cmd = cmd,
				.expect = {.status = os == ST_WINDOWS && code > 255 ? 255 : (int)code,
					   .out = out,
					   .why = has_why ? said : NULL}};
}

bool st_judge_clock(const char *guest, double before, double after, double tolerance, double *ret_offset, char *why,
		    size_t n)
{
	char a[200];
	char *end;
	const char *p = guest ? guest + strspn(guest, " \t\r\n") : "";
	double g = strtod(p, &end);
	if (end == p || !isfinite(g) || end[strspn(end, " \t\r\n")] != 0)
		return say(why, n, "the guest printed '%s', not seconds since 1970",
			   st_shown(guest ? guest : "", a, sizeof a));
	*ret_offset = g < before ? g - before : g > after ? g - after : 0;
	if (fabs(*ret_offset) > tolerance)
		return say(why, n, "the guest's clock is %.3f s %s the host's", fabs(*ret_offset),
			   *ret_offset < 0 ? "behind" : "ahead of");
	return true;
}

static bool seconds_parse(const char *s, double *ret)
{
	char *end;
	const char *p = s ? s + strspn(s, " \t\r\n") : "";
	double v = strtod(p, &end);
	if (end == p || !isfinite(v) || v < 0 || end[strspn(end, " \t\r\n")] != 0)
		return false;
	*ret = v;
	return true;
}

bool st_judge_rate(const char *first, const char *second, double host, double slack, double tolerance, double *ret_rate,
		   char *why, size_t n)
{
	char a[200];
	double g1, g2;
	if (!seconds_parse(first, &g1) || !seconds_parse(second, &g2))
		return say(why, n, "the guest printed '%s', not seconds",
			   st_shown(!seconds_parse(first, &g1) ? (first ? first : "")
				    : second		       ? second
							       : "",
				    a, sizeof a));
	if (host <= 0 || g2 < g1)
		return say(why, n, "the guest's monotonic clock went back (%.3f s, then %.3f s)", g1, g2);
	double rate = (g2 - g1) / host;
	*ret_rate = rate;
	if (fabs(g2 - g1 - host) > tolerance * host + slack)
		return say(why, n,
			   "the guest's monotonic clock advanced %.3f s in %.3f s of host time (%.3f a host second)",
			   g2 - g1, host, rate);
	return true;
}

bool st_judge_timer(double want, double took, double baseline, char *why, size_t n)
{
	double d = took - baseline;
	if (d < want - 0.5 || d > want + 2)
		return say(why, n,
			   "a %.0f s wait in the guest took %.2f s of host time (%.2f s beside a command that does "
			   "nothing)",
			   want, d, took);
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void st_stats(const double *v, size_t n, double *ret_min, double *ret_median, double *ret_max)
{
	*ret_min = *ret_median = *ret_max = 0;
	double s[256];
	n = n < ELEMENTSOF(s) ? n : ELEMENTSOF(s);
	if (!n)
		return;
	memcpy(s, v, n * sizeof *v);
	qsort(s, n, sizeof *s, cmp_double);
	*ret_min = s[0];
	*ret_max = s[n - 1];
	*ret_median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

void st_judge_restores(const struct st_step *s, const struct st_outcome *o, size_t n, struct st_row *row)
{
	double t[256], lo, mid, hi;
	size_t k = 0, bad = 0, differ = 0;
	char why[512], a[200], b[200];
	for (size_t i = 0; i < n; i++) {
		if (!st_judge_step(s, &o[i], why, sizeof why)) {
			if (!bad++)
				st_row_fail(row, "restore %zu of %zu: %s", i + 1, n, why);
			continue;
		}
		if (!st_text_same(o[i].out, o[0].out, false) && !differ++)
			st_row_fail(row, "restore %zu printed '%s', the first '%s'", i + 1,
				    st_shown(o[i].out, a, sizeof a), st_shown(o[0].out, b, sizeof b));
		if (o[i].first_output >= 0 && k < ELEMENTSOF(t))
			t[k++] = o[i].first_output;
	}
	if (bad > 1 || differ > 1)
		st_row_note(row, "%zu failed, %zu printed otherwise", bad, differ);
	if (!k) {
		st_row_fail(row, "no restore gave output");
		return;
	}
	st_stats(t, k, &lo, &mid, &hi);
	st_row_figure(row, "restores", (double)n);
	st_row_figure(row, "min_s", lo);
	st_row_figure(row, "median_s", mid);
	st_row_figure(row, "max_s", hi);
	st_row_note(row, "%zu restores, restore to output min %.2f s, median %.2f s, max %.2f s", n, lo, mid, hi);
}

void st_judge_share(const double *ready, size_t n, unsigned failed, const char *first, double bound, struct st_row *row)
{
	double lo, mid, hi;
	if (!n && !failed) {
		row->verdict = ST_SKIP;
		st_row_note(row, "no other check restored the snapshot");
		return;
	}
	if (failed)
		st_row_fail(row, "%u of %zu restores failed: %s", failed, n + failed, first);
	if (!n)
		return;
	st_stats(ready, n, &lo, &mid, &hi);
	if (hi > bound)
		st_row_fail(row, "a share took %.1f s, more than its %.0f s", hi, bound);
	st_row_figure(row, "restores", (double)n);
	st_row_figure(row, "median_s", mid);
	st_row_figure(row, "max_s", hi);
	st_row_note(row, "%zu restores, share ready after median %.2f s, max %.2f s (bound %.0f s)", n, mid, hi, bound);
}

void st_judge_volumes(const struct st_step *s, const struct st_outcome *o, const struct st_volume_facts *f,
		      struct st_row *row)
{
	char why[512], a[200];
	if (!st_judge_step(s, o, why, sizeof why))
		st_row_fail(row, "%s", why);
	if (!f->rw_file)
		st_row_fail(row, "the rw folder on the host did not get the guest's file");
	else if (!st_text_same(f->rw_file, ST_VOLUME_WRITTEN, false))
		st_row_fail(row, "the guest's file in the rw folder holds '%s'", st_shown(f->rw_file, a, sizeof a));
	if (f->ro_file)
		st_row_fail(row, "the guest wrote into the read-only folder");
	if (!f->copy_out || !st_text_same(f->copy_out, ST_COPY_OUT, false))
		st_row_fail(row, "--copy-out brought back %s",
			    f->copy_out ? st_shown(f->copy_out, a, sizeof a) : "nothing");
	if (row->verdict != ST_FAIL)
		st_row_note(row, "rw and ro folders, a copy in and a copy out as expected");
}
