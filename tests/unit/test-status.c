/* The stage status file as the guest writes it: lines appended over time,
 * "done", over-long and control-character lines, a file that never stops
 * growing, and one that is not a regular file; and status lines read from
 * a console log by their prefix. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/lib/status.h"
#include "../../runner/lib/util.h"
#include "tap.h"

static void append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write_full(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
}

int main(void)
{
	char tmp[] = "/tmp/osrun-unit-status.XXXXXX";
	if (!mkdtemp(tmp))
		abort();
	_cleanup_free_ char *path = path_join(tmp, "status.txt"), *link = path_join(tmp, "link"),
			    *fifo = path_join(tmp, "fifo");
	write_file_atomic(path, "", 0, 0644);
	struct status_follow s;
	is_int(status_open(path, &s), 0, "opened");
	is_int(status_poll(&s), 0, "empty: nothing new");
	append(path, "installing drivers\r\nhalf a li");
	is_int(status_poll(&s), 1, "a new line");
	is_str(s.last, "installing drivers", "the last complete line, CR LF taken off");
	append(path, "ne\n\x1b[2Jclear\n");
	is_int(status_poll(&s), 1, "the rest of a line written in two goes");
	is_str(s.last, "?[2Jclear", "control characters are not passed to the terminal");
	ok(!s.done, "not done yet");
	char big[1000];
	memset(big, 'x', sizeof big - 2);
	big[sizeof big - 2] = '\n';
	big[sizeof big - 1] = 0;
	append(path, big);
	status_poll(&s);
	is_int(strlen(s.last), STATUS_LINE_MAX, "a long line is cut");
	ok(!s.failed, "no failure yet");
	append(path, "failed: drivers: pnputil exited 5\nshutting down\n");
	status_poll(&s);
	ok(s.failed, "a failed: line is seen");
	is_str(s.failure, "failed: drivers: pnputil exited 5", "and kept, whatever follows");
	append(path, "done\n");
	status_poll(&s);
	ok(s.done, "done seen");
	is_str(s.last, "shutting down", "done is not a status to show");
	status_close(&s);

	/* A guest that makes the file huge (sparse: free for it to make). */
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ok(fd >= 0 && ftruncate(fd, (off_t)STATUS_MAX + 4096) == 0, "a status file past the limit");
	close(fd);
	status_open(path, &s);
	int r = 0, polls = 0;
	while ((r = status_poll(&s)) >= 0 && polls < 1000)
		polls++;
	is_int(r, -EFBIG, "refused once past %u MiB, read in bounded steps (%d polls)", STATUS_MAX >> 20, polls);
	ok(polls > 1, "no poll reads it all");
	status_close(&s);

	/* A console log: the guest's status lines among the kernel's and
	 * whatever else, past the limit (punched holes read as zeros). */
	_cleanup_free_ char *con = path_join(tmp, "console.log");
	write_file_atomic(con, "", 0, 0644);
	is_int(status_open_prefixed(con, "osrun-status: ", &s), 0, "a console log opened");
	append(con, "[    0.1] Linux version 6.1\nfailed: not a status line\nosrun-status: firstboot: drivers\r\n");
	is_int(status_poll(&s), 1, "a prefixed line is a status");
	is_str(s.last, "firstboot: drivers", "read without its prefix");
	ok(!s.failed, "a failed: line without the prefix is the console's, not the guest's word");
	fd = open(con, O_WRONLY | O_CLOEXEC);
	ok(fd >= 0 && ftruncate(fd, (off_t)STATUS_MAX + 4096) == 0, "the console log past the status limit");
	close(fd);
	append(con, "\nosrun-status: failed: firstboot: the share did not answer\n");
	polls = 0;
	while ((r = status_poll(&s)) >= 0 && !s.failed && polls < 1000)
		polls++;
	ok(r >= 0 && s.failed, "no limit on a console log: the failure past 16 MiB is seen (%d polls)", polls);
	is_str(s.failure, "failed: firstboot: the share did not answer", "kept without the prefix");
	status_close(&s);

	ok(symlink(path, link) == 0, "a symlink");
	is_int(status_open(link, &s), -ELOOP, "not followed");
	ok(mkfifo(fifo, 0600) == 0, "a FIFO");
	is_int(status_open(fifo, &s), -EBADF, "not a regular file: refused, not waited on");
	rm_rf(tmp);
	return tap_done();
}
