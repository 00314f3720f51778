/* A failure on its way up to the command layer, which alone reports it and
 * turns it into an exit code (crun's libcrun_error_t is the model). Engines
 * and libraries fill one and return its negative errno; the message names
 * what failed and carries the peer's own words (QMP or agent error class
 * and text, QEMU's last line) where there are any.
 *
 * The errno says what kind of failure it was, which is all an exit code
 * needs: -ECANCELED a signal (the one in .signal) stopped the work, -ETIME
 * the guest command ran past its --timeout, anything else osrun failed. */
#pragma once
#include "util.h"

struct error {
	int code;	/* negative errno; 0 while nothing failed */
	int signal;	/* with -ECANCELED: the signal that asked osrun to stop */
	int signal_pid; /* who sent it (a pool's or session's client: ourselves) */
	char msg[2048];
};

/* Sets e to code (negative) and the formatted message; returns code. */
int error_set(struct error *e, int code, const char *fmt, ...) _printf_(3, 4);
/* The same, with ": strerror(code)" after the message. */
int error_errno(struct error *e, int code, const char *fmt, ...) _printf_(3, 4);
/* Reads which signal is pending on the cancel fd and says osrun was
 * interrupted by it; returns -ECANCELED. */
int error_interrupted(struct error *e);
