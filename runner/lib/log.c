#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <string.h>

static enum log_level level = LOG_INFO;
/* A progress line is on the terminal and the next message replaces it. */
static bool progress_shown;

void log_set_level(enum log_level l) { level = l; }
enum log_level log_get_level(void) { return level; }

__attribute__((format(printf, 3, 0))) static void vlog(enum log_level l, const char *suffix, const char *fmt,
						       va_list ap)
{
	if (l > level)
		return;
	char msg[4096];
	vsnprintf(msg, sizeof msg, fmt, ap);
	const char *tag = l == LOG_WARN ? "warning: " : "";
	/* One write, so parallel runs sharing a terminal do not interleave. */
	char line[4200];
	int n = snprintf(line, sizeof line, "%sosrun: %s%s%s\n", progress_shown ? "\r\033[K" : "", tag, msg,
			 suffix ? suffix : "");
	progress_shown = false;
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

void log_progress(const char *fmt, ...)
{
	if (level < LOG_INFO)
		return;
	va_list ap;
	va_start(ap, fmt);
	if (!isatty(STDERR_FILENO) || level >= LOG_DEBUG) {
		vlog(LOG_INFO, NULL, fmt, ap);
		va_end(ap);
		return;
	}
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char line[600];
	int n = snprintf(line, sizeof line, "\r\033[Kosrun: %s", msg);
	if (n > 0)
		write_full(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	progress_shown = true;
}

void log_progress_end(void)
{
	if (progress_shown)
		write_full(STDERR_FILENO, "\n", 1);
	progress_shown = false;
}
