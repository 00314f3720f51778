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

struct follower {
	HANDLE pipe;   /* ours: written */
	HANDLE file;   /* the share's stdin */
	HANDLE ended;  /* the command's process: following ends with it */
	wchar_t *mark; /* stdin.end's path */
	HANDLE thread;
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

int follower_start(struct follower *fl, struct failure *f);
void follower_release(struct follower *fl);
