/* osrun doctor: whether this host runs osrun well, a check at a time, each
 * with what was found and, when it is not fine, what to do about it. The
 * checks only look: the store's are made on a file with no name, the
 * probes' QEMUs are paused machines that quit at once. */
#pragma once
#include "lib/util.h"

enum doctor_status {
	DOCTOR_OK,
	DOCTOR_WARN, /* osrun runs, not well (under TCG, say) */
	DOCTOR_FAIL, /* osrun cannot run (no QEMU, no smbd, user nobody) */
};

struct doctor_check {
	const char *name; /* "kvm", "qemu", "samba", "store", "holes", "space", "user", "netguard" */
	enum doctor_status status;
	char *detail; /* what was found */
	char *fix;    /* what to do; NULL when status is DOCTOR_OK */
};

#define DOCTOR_CHECKS_MAX 8

struct doctor_report {
	struct doctor_check checks[DOCTOR_CHECKS_MAX];
	size_t n;
};

/* The checks append to a report, in this order: doctor_host (kvm, qemu,
 * samba), doctor_store (of the store at cache, NULL: the default), then
 * doctor_user (user, netguard). A check that cannot tell says so in its
 * own entry: they fail with -ENOMEM only. */
int doctor_host(struct doctor_report *r);
int doctor_user(struct doctor_report *r);
void doctor_report_release(struct doctor_report *r);
const char *doctor_status_to_string(enum doctor_status s);

/* The store's: writable and reflinks ("store"), "holes", "space". */
int doctor_store(const char *cache, struct doctor_report *r);
/* Appends a check: fix copied (NULL: none), the detail from a format. */
int doctor_add(struct doctor_report *r, const char *name, enum doctor_status status, const char *fix, const char *fmt,
	       ...) _printf_(5, 6);
