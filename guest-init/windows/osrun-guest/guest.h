/* osrun-guest.exe, the Windows guest's helper: the verbs the host starts
 * through the guest agent (runner/lib/profile.c), and what they share.
 * Wide-character Win32 calls throughout; UTF-8 at the edges (the request,
 * the result, messages). Errors travel as a negative Win32 error code and
 * a struct failure, which only main() writes out. */
#pragma once
#include <windows.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h" /* the host's: RESULT_MAX, REQUEST_VERSION */

/* Where a run's files are: the share (\\10.0.2.4\qemu in a guest; a
 * directory in the tests) and this guest's own state (C:\osrun). */
struct places {
	const wchar_t *share;
	const wchar_t *state;
	const wchar_t *tar; /* NULL: System32's tar.exe */
};

/* What went wrong, as the host shows it ("error TEXT"); the host keeps
 * 255 characters of it. */
struct failure {
	char msg[256];
};
/* Both return a negative error code for the caller to pass up. */
int fail_text(struct failure *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds Windows' own text for err (FormatMessage) after the message. */
int fail_win32(struct failure *f, DWORD err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* UTF-8 <-> UTF-16 (NULL for invalid input or no memory); free(). */
wchar_t *wide_from_utf8(const char *s);
char *utf8_from_wide(const wchar_t *s);
/* a + b as a new string; free(). */
wchar_t *wide_join(const wchar_t *a, const wchar_t *b);
/* dir\name as a new string; free(). */
wchar_t *path_in(const wchar_t *dir, const wchar_t *name);

static inline void freep(void *p) { free(*(void **)p); }
static inline void handle_closep(HANDLE *h)
{
	if (*h && *h != INVALID_HANDLE_VALUE)
		CloseHandle(*h);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define _cleanup_handle_ __attribute__((cleanup(handle_closep)))

/* Hands a pointer on: the variable is NULL after. */
static inline void *take_ptr(void *pp)
{
	void **p = pp, *v = *p;
	*p = NULL;
	return v;
}
#define TAKE_WIDE(p) ((wchar_t *)take_ptr(&(p)))
#define TAKE_PTR(p) take_ptr(&(p))
