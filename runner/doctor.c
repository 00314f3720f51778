/* A doctor's report: its checks, and their words. */
#define _GNU_SOURCE
#include "doctor.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

const char *doctor_status_to_string(enum doctor_status s)
{
	return s == DOCTOR_OK ? "ok" : s == DOCTOR_WARN ? "warn" : "fail";
}

int doctor_add(struct doctor_report *r, const char *name, enum doctor_status status, const char *fix, const char *fmt,
	       ...)
{
	assert(r->n < DOCTOR_CHECKS_MAX);
	struct doctor_check *c = &r->checks[r->n];
	va_list ap;
	va_start(ap, fmt);
	int k = vasprintf(&c->detail, fmt, ap);
	va_end(ap);
	if (k < 0 || (fix && !(c->fix = strdup(fix)))) {
		if (k >= 0)
			free(c->detail);
		*c = (struct doctor_check){0};
		return -ENOMEM;
	}
	c->name = name;
	c->status = status;
	r->n++;
	return 0;
}

void doctor_report_release(struct doctor_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->checks[i].detail);
		free(r->checks[i].fix);
	}
	r->n = 0;
}
