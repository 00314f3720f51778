/* The command's stdout and stderr: pipes copied to the share's "stdout"
 * and "stderr" files. Each write(2) to a file on the share is one SMB
 * round trip (cache=none), ~0.9 ms under TCG, so 4 KiB writes ran at
 * 4.7 MB/s and 1 MiB ones at 17 MB/s (measured). The pump writes what one
 * read of a pipe gives, up to GUEST_IO_CHUNK: output stays live, and a
 * fast writer's small writes go out as large ones. */
#pragma once
#include "guest.h"

enum { PUMP_OUT, PUMP_ERR, PUMP_STREAMS };

struct pump_stream {
	int rd;	      /* the pipe's read end (the pump's); -1 once at its end */
	int out;      /* the share's file */
	size_t after; /* bytes read after the command's end */
};

/* Copies each stream until the command (pidfd) has ended and everything
 * it wrote has been copied. A stream whose rd is still open afterwards is
 * held by a process the command left behind (for pump_hand_off). A write
 * the share refuses closes that stream's pipe, so that the command's next
 * write fails, as it did when dd stopped: the first such error is returned
 * once the command has ended. */
int pump_run(struct pump_stream s[PUMP_STREAMS], int pidfd);
/* Leaves the held pipes (rd >= 0) to a process of its own ("osrun-guest
 * drain") that reads and drops what comes, so that a background child of
 * the command is not killed by SIGPIPE on its next write, and writes
 * nothing into the share, where the next command of a session has its
 * output. Its pid goes to pid_path, where detach finds it. */
int pump_hand_off(const struct pump_stream s[PUMP_STREAMS], const char *pid_path);
