#include "stream.h"

#include <stdio.h>
#include <stdlib.h>

int pipe_new(bool inbound, HANDLE *ret_ours, HANDLE *ret_child, struct failure *f)
{
	/* An anonymous pipe has no overlapped reads, which the pump needs to
	 * stop waiting once the command has ended: a named one as libuv
	 * makes (src/win/pipe.c), unique to this process. */
	static LONG serial;
	wchar_t name[96];
	swprintf(name, sizeof name / sizeof *name, L"\\\\.\\pipe\\osrun-guest-%lu-%ld", GetCurrentProcessId(),
		 InterlockedIncrement(&serial));
	DWORD mode = (inbound ? PIPE_ACCESS_INBOUND | FILE_FLAG_OVERLAPPED : PIPE_ACCESS_OUTBOUND) |
		     FILE_FLAG_FIRST_PIPE_INSTANCE;
	HANDLE ours = CreateNamedPipeW(name, mode, PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
				       STREAM_CHUNK, STREAM_CHUNK, 0, NULL);
	if (ours == INVALID_HANDLE_VALUE)
		return fail_win32(f, GetLastError(), "making a pipe for the command");
	SECURITY_ATTRIBUTES sa = {.nLength = sizeof sa, .bInheritHandle = TRUE};
	HANDLE child =
		CreateFileW(name, inbound ? GENERIC_WRITE | FILE_READ_ATTRIBUTES : GENERIC_READ | FILE_WRITE_ATTRIBUTES,
			    0, &sa, OPEN_EXISTING, 0, NULL);
	if (child == INVALID_HANDLE_VALUE) {
		DWORD err = GetLastError();
		CloseHandle(ours);
		return fail_win32(f, err, "making a pipe for the command");
	}
	*ret_ours = ours;
	*ret_child = child;
	return 0;
}

int share_file_open(const wchar_t *path, bool write, bool inherit, HANDLE *ret, struct failure *f)
{
	SECURITY_ATTRIBUTES sa = {.nLength = sizeof sa, .bInheritHandle = inherit};
	/* osrun made the file and reads it while it grows: shared, never
	 * truncated (appended to). */
	HANDLE h = CreateFileW(path, write ? FILE_APPEND_DATA | SYNCHRONIZE : GENERIC_READ,
			       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, &sa,
			       write ? OPEN_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		_cleanup_free_ char *u = utf8_from_wide(path);
		return fail_win32(f, GetLastError(), "opening %s", u ? u : "a file in the run's share");
	}
	*ret = h;
	return 0;
}

static bool write_all(HANDLE h, const char *buf, DWORD n)
{
	while (n) {
		DWORD k = 0;
		if (!WriteFile(h, buf, n, &k, NULL) || !k)
			return false;
		buf += k;
		n -= k;
	}
	return true;
}

/* One read: 1 with *ret_n bytes, 0 at the pipe's end (every writer
 * gone), -1 once stop is set and nothing more is waiting. */
static int pump_read(struct pump *p, OVERLAPPED *ov, char *buf, DWORD *ret_n)
{
	ResetEvent(ov->hEvent);
	DWORD n = 0;
	if (!ReadFile(p->pipe, buf, STREAM_CHUNK, &n, ov)) {
		DWORD err = GetLastError();
		if (err != ERROR_IO_PENDING)
			return err == ERROR_BROKEN_PIPE ? 0 : -1;
		HANDLE both[2] = {ov->hEvent, p->stop};
		/* The read first: what is waiting is taken before stopping. */
		if (WaitForMultipleObjects(2, both, FALSE, INFINITE) != WAIT_OBJECT_0) {
			CancelIo(p->pipe);
			if (!GetOverlappedResult(p->pipe, ov, &n, TRUE))
				return -1;
		} else if (!GetOverlappedResult(p->pipe, ov, &n, FALSE))
			return GetLastError() == ERROR_BROKEN_PIPE ? 0 : -1;
	}
	*ret_n = n;
	return 1;
}

static DWORD WINAPI pump_run(void *arg)
{
	struct pump *p = arg;
	char *buf = malloc(STREAM_CHUNK);
	OVERLAPPED ov = {.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)};
	if (!buf || !ov.hEvent) {
		p->error = ERROR_NOT_ENOUGH_MEMORY;
		free(buf);
		return 0;
	}
	/* Once the command has ended, what the pipe held then is what is
	 * kept: a child it left may go on writing, and is not waited for. */
	long long left = -1;
	DWORD n;
	for (;;) {
		if (left < 0 && WaitForSingleObject(p->stop, 0) == WAIT_OBJECT_0) {
			DWORD avail = 0;
			PeekNamedPipe(p->pipe, NULL, 0, NULL, &avail, NULL);
			left = avail;
		}
		if (left == 0 || pump_read(p, &ov, buf, &n) <= 0)
			break;
		if (n && !p->error && !write_all(p->file, buf, n))
			p->error = GetLastError();
		if (left > 0)
			left = n < left ? left - n : 0;
	}
	CloseHandle(ov.hEvent);
	free(buf);
	return 0;
}

int pump_start(struct pump *p, struct failure *f)
{
	p->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
	p->thread = p->stop ? CreateThread(NULL, 0, pump_run, p, 0, NULL) : NULL;
	return p->thread ? 0 : fail_win32(f, GetLastError(), "starting the output pump");
}

void pump_finish(struct pump *p)
{
	if (!p->thread)
		return;
	SetEvent(p->stop);
	WaitForSingleObject(p->thread, INFINITE);
}

void pump_release(struct pump *p)
{
	if (p->thread)
		CloseHandle(p->thread);
	handle_closep(&p->stop);
	handle_closep(&p->pipe);
	handle_closep(&p->file);
	*p = (struct pump){0};
}

struct follower {
	HANDLE pipe, file, ended;
	wchar_t *mark;
};

static void follower_free(struct follower *fl)
{
	handle_closep(&fl->pipe);
	handle_closep(&fl->file);
	handle_closep(&fl->ended);
	free(fl->mark);
	free(fl);
}

static DWORD WINAPI follower_run(void *arg)
{
	struct follower *fl = arg;
	char *buf = malloc(STREAM_CHUNK);
	bool last = false;
	for (; buf;) {
		DWORD n = 0;
		if (!ReadFile(fl->file, buf, STREAM_CHUNK, &n, NULL))
			break;
		if (n) {
			/* The command may never read it all: then this write
			 * waits until the helper exits, which ends the thread. */
			if (!write_all(fl->pipe, buf, n))
				break;
			continue;
		}
		if (last)
			break;
		/* osrun makes stdin.end after the last byte: one more read to
		 * the end then. A read at the end of the share's file gives
		 * 0 and a later one what was added; the wait is on the
		 * command's end, so that following stops with it. */
		if (GetFileAttributesW(fl->mark) != INVALID_FILE_ATTRIBUTES)
			last = true;
		else if (WaitForSingleObject(fl->ended, 10) != WAIT_TIMEOUT)
			break;
	}
	free(buf);
	/* Closing the pipe: the command sees the end of its stdin. */
	follower_free(fl);
	return 0;
}

int follower_start(HANDLE pipe, HANDLE file, wchar_t *mark, HANDLE process, struct failure *f)
{
	struct follower *fl = calloc(1, sizeof *fl);
	if (!fl) {
		CloseHandle(pipe);
		CloseHandle(file);
		free(mark);
		return fail_text(f, "out of memory");
	}
	*fl = (struct follower){.pipe = pipe, .file = file, .mark = mark};
	HANDLE self = GetCurrentProcess();
	HANDLE t = DuplicateHandle(self, process, self, &fl->ended, SYNCHRONIZE, FALSE, 0)
			   ? CreateThread(NULL, 0, follower_run, fl, 0, NULL)
			   : NULL;
	if (!t) {
		DWORD err = GetLastError();
		follower_free(fl);
		return fail_win32(f, err, "starting the stdin follower");
	}
	CloseHandle(t);
	return 0;
}
