#define _GNU_SOURCE
#include "error.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/signalfd.h>

#include "proc.h"

int error_set(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->code = code;
	e->signal = 0;
	return code;
}

int error_errno(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof e->msg)
		snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(code < 0 ? -code : code));
	e->code = code;
	e->signal = 0;
	return code;
}

int error_interrupted(struct error *e)
{
	struct signalfd_siginfo si;
	ssize_t k = read(cancel_fd_get(), &si, sizeof si);
	int sig = k == sizeof si ? (int)si.ssi_signo : SIGINT;
	error_set(e, -ECANCELED, "interrupted by SIG%s; the VM is stopped", signal_name(sig));
	e->signal = sig;
	e->signal_pid = k == sizeof si ? (int)si.ssi_pid : 0;
	return -ECANCELED;
}
