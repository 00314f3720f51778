/* The command's standard streams. Output goes through a pipe that a
 * thread pumps into the share's file: each write to a file on the share
 * is one SMB round trip, so the pump writes what one read gives (up to
 * 64 KiB) and output stays live. stdin is the share's file itself, or,
 * when osrun streams it, a pipe that a thread fills from the file as it
 * grows until stdin.end appears. */
#pragma once
#include "guest.h"

#define STREAM_CHUNK 65536

struct pump {
	HANDLE pipe;   /* ours, overlapped: read */
	HANDLE file;   /* the share's file: written */
	HANDLE stop;   /* set when the command has ended */
	HANDLE thread; /* NULL until started */
	DWORD error;   /* the write that failed, else 0 */
};

/* A pipe whose child end (inheritable) is *ret_child; inbound: the
 * child writes. */
int pipe_new(bool inbound, HANDLE *ret_ours, HANDLE *ret_child, struct failure *f);
/* Opens a file in the share for the command: for appending, or reading;
 * inheritable when the command gets it as it is. */
int share_file_open(const wchar_t *path, bool write, bool inherit, HANDLE *ret, struct failure *f);

int pump_start(struct pump *p, struct failure *f);
/* After the command's end: what the pipe holds is written, then the pump
 * ends even when a child the command left still holds the pipe. */
void pump_finish(struct pump *p);
void pump_release(struct pump *p);

/* Follows file (the share's stdin) into pipe (ours of the command's
 * stdin) until mark (stdin.end) appears or process ends. The thread owns
 * pipe, file and mark from then on (also when it fails to start): it may
 * wait in a write nobody reads until this helper exits, so nothing it
 * uses may belong to the caller. */
int follower_start(HANDLE pipe, HANDLE file, wchar_t *mark, HANDLE process, struct failure *f);
