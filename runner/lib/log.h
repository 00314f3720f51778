/* Messages for the user. Only the command layer reports; library code
 * returns errors and may note details at debug level. */
#pragma once
#include "util.h"

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level l);
enum log_level log_get_level(void);
void log_msg(enum log_level l, const char *fmt, ...) _printf_(2, 3);
/* Logs "fmt: strerror(-err)" at LOG_ERR; returns err. */
int log_errno(int err, const char *fmt, ...) _printf_(2, 3);

/* On a terminal: one line that the next progress line or message replaces.
 * Otherwise (or with -v) a plain message: callers print only changes. */
void log_progress(const char *fmt, ...) _printf_(1, 2);
/* Leaves the last progress line on the terminal. */
void log_progress_end(void);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
