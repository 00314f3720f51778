#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <string.h>

static enum log_level level = LOG_INFO;

void log_set_level(enum log_level l) { level = l; }
enum log_level log_get_level(void) { return level; }

static void vlog(enum log_level l, const char *suffix, const char *fmt, va_list ap)
{
	if (l > level)
		return;
	char msg[4096];
	vsnprintf(msg, sizeof msg, fmt, ap);
	const char *tag = l == LOG_WARN ? "warning: " : "";
	/* One write, so parallel runs sharing a terminal do not interleave. */
	char line[4200];
	int n = snprintf(line, sizeof line, "osrun: %s%s%s\n", tag, msg, suffix ? suffix : "");
	if (n > 0)
		write_full(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(l, NULL, fmt, ap);
	va_end(ap);
}

int log_errno(int err, const char *fmt, ...)
{
	char suffix[256];
	snprintf(suffix, sizeof suffix, ": %s", strerror(err < 0 ? -err : err));
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_ERR, suffix, fmt, ap);
	va_end(ap);
	return err;
}
