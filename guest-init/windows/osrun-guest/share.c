#include "share.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int share_wait_for(const struct places *pl, const wchar_t *name, DWORD ms)
{
	_cleanup_free_ wchar_t *p = path_in(pl->share, name);
	if (!p)
		return -1;
	ULONGLONG end = GetTickCount64() + ms;
	/* A change notification says when the directory changes (SMB's
	 * CHANGE_NOTIFY on the share); until the share answers there is
	 * nothing to wait on, and the next try is the wait. */
	HANDLE ch = INVALID_HANDLE_VALUE;
	for (;;) {
		if (GetFileAttributesW(p) != INVALID_FILE_ATTRIBUTES)
			break;
		ULONGLONG now = GetTickCount64();
		if (now >= end) {
			if (ch != INVALID_HANDLE_VALUE)
				FindCloseChangeNotification(ch);
			return -1;
		}
		DWORD step = end - now < 100 ? (DWORD)(end - now) : 100;
		if (ch == INVALID_HANDLE_VALUE)
			ch = FindFirstChangeNotificationW(pl->share, FALSE, FILE_NOTIFY_CHANGE_FILE_NAME);
		if (ch == INVALID_HANDLE_VALUE)
			SleepEx(step, FALSE);
		else if (WaitForSingleObject(ch, step) == WAIT_OBJECT_0)
			FindNextChangeNotification(ch);
	}
	if (ch != INVALID_HANDLE_VALUE)
		FindCloseChangeNotification(ch);
	return 0;
}

int file_read(const wchar_t *path, size_t max, char **ret, size_t *ret_n, struct failure *f)
{
	_cleanup_free_ char *u = utf8_from_wide(path);
	_cleanup_handle_ HANDLE h =
		CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
			    OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return fail_win32(f, GetLastError(), "opening %s", u ? u : "a file");
	size_t n = 0, cap = 4096;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (buf && n == cap && cap <= max) {
			char *b = realloc(buf, cap * 2 + 1);
			if (!b) {
				free(buf);
				buf = NULL;
			} else {
				buf = b;
				cap *= 2;
			}
		}
		DWORD k = 0;
		if (!buf)
			return fail_text(f, "out of memory");
		if (n > max) {
			free(buf);
			return fail_text(f, "%s is longer than %lu bytes", u ? u : "a file", (unsigned long)max);
		}
		if (!ReadFile(h, buf + n, (DWORD)(cap - n), &k, NULL)) {
			DWORD err = GetLastError();
			free(buf);
			return fail_win32(f, err, "reading %s", u ? u : "a file");
		}
		if (!k)
			break;
		n += k;
	}
	buf[n] = 0;
	*ret = buf;
	*ret_n = n;
	return 0;
}

int file_write(const wchar_t *path, const char *text, struct failure *f)
{
	_cleanup_handle_ HANDLE h =
		CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return fail_win32(f, GetLastError(), "creating a file");
	DWORD n = (DWORD)strlen(text), k = 0;
	if (!WriteFile(h, text, n, &k, NULL) || k != n)
		return fail_win32(f, GetLastError(), "writing a file");
	return 0;
}

int result_write(const struct places *pl, const char *line)
{
	struct failure f;
	_cleanup_free_ wchar_t *tmp = path_in(pl->share, L"result.new"), *dst = path_in(pl->share, L"result");
	if (!tmp || !dst)
		return -1;
	char text[RESULT_MAX];
	snprintf(text, sizeof text, "%s\n", line);
	if (file_write(tmp, text, &f) < 0)
		return -1;
	return MoveFileExW(tmp, dst, MOVEFILE_REPLACE_EXISTING) ? 0 : -1;
}
