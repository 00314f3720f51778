/* A build stage's status file, which the guest appends lines to (and its
 * stage script's output): read as it grows, never whole, and bounded, since
 * the guest writes it. "done" on a line of its own ends the stage; a line
 * that begins with "failed:" ends it at once, as a failure. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

/* What a guest's status lines begin with on its serial console, where it
 * writes them too (the Windows guest-init scripts): where the share cannot be
 * reached they are all osrun hears. */
#define STATUS_CONSOLE_PREFIX "osrun-status: "

/* A guest that writes more than this has gone wrong: the stage fails. */
#define STATUS_MAX (16u << 20)
#define STATUS_LINE_MAX 200

struct status_follow {
	int fd;
	off_t off;
	/* Only lines that begin with it count, read without it; the file
	 * may then be any size (a console log, which others trim). */
	const char *prefix;
	bool done;
	bool failed;			/* a line began with "failed:" */
	bool in_long_line;		/* the rest of an over-long line is dropped */
	char line[STATUS_LINE_MAX + 1]; /* the line being read */
	size_t len;
	char last[STATUS_LINE_MAX + 1];	   /* the last complete non-empty line, printable */
	char failure[STATUS_LINE_MAX + 1]; /* the first "failed:" line */
};

/* Opens path (not through a symlink; a regular file only). */
int status_open(const char *path, struct status_follow *s);
/* The same for the lines of a console log that begin with prefix: a
 * guest's status lines where its share could not be reached. */
int status_open_prefixed(const char *path, const char *prefix, struct status_follow *s);
void status_close(struct status_follow *s);
/* Reads what was appended: 1 when the last line changed, 0 when not,
 * -EFBIG past STATUS_MAX. */
int status_poll(struct status_follow *s);
/* Copies the file (at most STATUS_MAX) to fd. */
int status_copy(struct status_follow *s, int fd);
