/* The self-test's vocabulary and verdicts (osrun selftest; selftest.h is
 * the engine): a check of the table (selftest-checks.c), the commands it
 * runs on each guest and what it expects of them, how a command ended as
 * the self-test saw it, and a check's row in the report. The judges are
 * pure functions of what they are given: the Windows checks are judged
 * offline (tests/unit/test-selftest.c) exactly as on a Windows guest. */
#pragma once
#include "lib/error.h"

enum st_os { ST_LINUX, ST_WINDOWS, ST_OS_N };

/* How one command ended. */
struct st_outcome {
	int r;		/* 0: it ended (status); else the run's negative errno */
	char msg[512];	/* r < 0: what osrun would have said */
	int status;	/* osrun's exit status for it */
	char why[160];	/* osrun's line beside the status on stderr, or "" */
	char *out;	/* stdout (NUL-terminated, up to ST_OUTPUT_MAX) */
	char *err;	/* stderr, the same */
	double seconds; /* host time from the command's start to its end */
	/* From the start of its restore to stdout's first byte; < 0: no
	 * output, or not the restore's first command. */
	double first_output;
};
#define ST_OUTPUT_MAX (1u << 20)
void st_outcome_release(struct st_outcome *o);

/* What a command must do. */
struct st_expect {
	int status;	   /* osrun's exit status */
	const char *out;   /* stdout, line by line (CR LF as LF, a last line end
			    * optional); NULL: not judged */
	const char *why;   /* in osrun's line beside the status; NULL: no line */
	const char *error; /* the run fails saying this, with no output */
	bool fold_case;	   /* out compared without ASCII case (whoami) */
	double within;	   /* > 0: the command ends within this many seconds */
};

/* One command of a check on one guest. */
struct st_step {
	const char *cmd; /* NULL ends a list */
	const char *workdir;
	const char *const *env; /* NAME=VALUE..., NULL-ended */
	const char *in;		/* piped to its stdin */
	bool as_user;		/* --user */
	struct st_expect expect;
};

enum st_verdict { ST_PASS, ST_FAIL, ST_SKIP };
const char *st_verdict_name(enum st_verdict v);

#define ST_FIGURES_MAX 8
struct st_figure {
	const char *name; /* a JSON key: "median_s" */
	double value;
};

/* A check's row in the report. */
struct st_row {
	const char *check;
	enum st_verdict verdict;
	char details[768]; /* figures for a pass; what failed; why it was skipped */
	struct st_figure figures[ST_FIGURES_MAX];
	size_t n_figures;
	double seconds; /* the check's own time */
};
/* Marks row failed, the first failure's words first; returns 0. */
int st_row_fail(struct st_row *row, const char *fmt, ...) _printf_(2, 3);
/* Adds to row's details ("; " between parts). */
void st_row_note(struct st_row *row, const char *fmt, ...) _printf_(2, 3);
void st_row_figure(struct st_row *row, const char *name, double value);

struct st_context;
/* A check: its name, what a pass proves and how it is judged (osrun
 * selftest --list and docs/windows.md say these), its commands per guest.
 * A guest it does not apply to has a reason instead, and the row says
 * SKIP with it: never a pass. */
struct st_check {
	const char *name;
	const char *proves;
	const char *judged;
	const struct st_step *steps[ST_OS_N]; /* NULL-cmd ended */
	const char *not_on[ST_OS_N];	      /* why it does not apply there */
	/* NULL: the steps run in one fresh restore, in order, each judged by
	 * st_judge_step. Else runs and judges the check; < 0 only when the
	 * self-test must stop (interrupted, out of memory). */
	int (*run)(struct st_context *t, const struct st_check *c, struct st_row *row, struct error *e);
};

/* s for a message: control characters escaped, cut after 160 bytes. */
const char *st_shown(const char *s, char *buf, size_t n);
/* got and want are the same text, CR LF read as LF and a last line end
 * optional. */
bool st_text_same(const char *got, const char *want, bool fold_case);
/* Whether o is what s expects; when not, why says how it differs. */
bool st_judge_step(const struct st_step *s, const struct st_outcome *o, char *why, size_t n);

/* Command i (1-100) of the hundred check: its line and what it expects
 * (codes above 255 on Windows: exit 255, the code said). Strings point
 * into buf. */
void st_hundred_step(enum st_os os, unsigned i, struct st_step *ret, char *buf, size_t n);

/* A guest clock reading (its output, seconds since the epoch as
 * "S[.FRACTION]") against the host's clock before and after the command
 * (seconds): *ret_offset is how far outside that window it is (0 inside;
 * negative: behind). false when it is more than tolerance out or
 * unreadable. */
bool st_judge_clock(const char *guest, double before, double after, double tolerance, double *ret_offset, char *why,
		    size_t n);

/* Two readings of the guest's monotonic clock (its output, seconds as
 * "S[.FRACTION]"), host seconds apart (from the middle of each command's
 * window; slack: the two windows' halves together): *ret_rate is guest
 * seconds a host second. false when unreadable, going back, or further
 * from 1 than tolerance beyond what the windows allow. */
bool st_judge_rate(const char *first, const char *second, double host, double slack, double tolerance, double *ret_rate,
		   char *why, size_t n);

/* A guest wait of want seconds took took seconds of host time, against a
 * command that does nothing (baseline): within [want - 0.5, want + 2]. */
bool st_judge_timer(double want, double took, double baseline, char *why, size_t n);

/* Sorted copy's minimum, median and maximum of v[0..n). */
void st_stats(const double *v, size_t n, double *ret_min, double *ret_median, double *ret_max);

/* Restores back to back: every one ran its command as step s expects, all
 * printed the same, each gave a restore-to-output time: row gets the
 * verdict and min/median/max. */
void st_judge_restores(const struct st_step *s, const struct st_outcome *o, size_t n, struct st_row *row);

/* Every restore the self-test made reached its share within bound
 * seconds: ready[0..n) are the times, failed how many restores failed
 * (first: the first failure's words). */
void st_judge_share(const double *ready, size_t n, unsigned failed, const char *first, double bound,
		    struct st_row *row);

/* What the volume check's command writes: into the rw folder, and into
 * the guest folder that --copy-out brings back; the host files the check
 * puts in the rw folder, the ro folder and --copy-in. */
#define ST_VOLUME_WRITTEN "from-guest"
#define ST_COPY_OUT "copied-out"
#define ST_VOLUME_RW_IN "rw-in"
#define ST_VOLUME_RO_IN "ro-in"
#define ST_COPY_IN "copied-in"

/* Where the volume check's folders and copies are in each guest. */
#define ST_LINUX_RW "/mnt/osrun-st-rw"
#define ST_LINUX_RO "/mnt/osrun-st-ro"
#define ST_LINUX_COPY_IN "/tmp/osrun-st-in.txt"
#define ST_LINUX_COPY_OUT "/tmp/osrun-st-out.txt"
#define ST_WINDOWS_RW "S:"
#define ST_WINDOWS_RO "C:\\osrun-st-ro"
#define ST_WINDOWS_COPY_IN "C:\\osrun-st-in.txt"
#define ST_WINDOWS_COPY_OUT "C:\\osrun-st-out.txt"

/* What the volume check finds on the host after its command. */
struct st_volume_facts {
	const char *rw_file;  /* the file the command wrote in the rw folder (NULL: none) */
	bool ro_file;	      /* a file appeared in the ro folder */
	const char *copy_out; /* the file --copy-out brought back (NULL: none) */
};
void st_judge_volumes(const struct st_step *s, const struct st_outcome *o, const struct st_volume_facts *f,
		      struct st_row *row);
