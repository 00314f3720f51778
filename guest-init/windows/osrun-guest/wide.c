/* Strings and messages: the request and the result are UTF-8, Windows'
 * calls take UTF-16. */
#include "guest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

wchar_t *wide_from_utf8(const char *s)
{
	/* MB_ERR_INVALID_CHARS: a malformed request is refused, not guessed. */
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
	if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
		free(w);
		return NULL;
	}
	return w;
}

char *utf8_from_wide(const wchar_t *s)
{
	int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
	char *u = n > 0 ? malloc((size_t)n) : NULL;
	if (u && WideCharToMultiByte(CP_UTF8, 0, s, -1, u, n, NULL, NULL) != n) {
		free(u);
		return NULL;
	}
	return u;
}

wchar_t *wide_join(const wchar_t *a, const wchar_t *b)
{
	size_t na = wcslen(a), nb = wcslen(b);
	wchar_t *w = malloc((na + nb + 1) * sizeof *w);
	if (!w)
		return NULL;
	wmemcpy(w, a, na);
	wmemcpy(w + na, b, nb + 1);
	return w;
}

wchar_t *path_in(const wchar_t *dir, const wchar_t *name)
{
	size_t n = wcslen(dir);
	_cleanup_free_ wchar_t *d = wide_join(dir, n && (dir[n - 1] == L'\\' || dir[n - 1] == L'/') ? L"" : L"\\");
	return d ? wide_join(d, name) : NULL;
}

static void text_clean(char *s)
{
	/* One line: the result file holds exactly one. */
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			*s = ' ';
}

int fail_text(struct failure *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof f->msg, fmt, ap);
	va_end(ap);
	text_clean(f->msg);
	return -1;
}

int fail_win32(struct failure *f, DWORD err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(f->msg, sizeof f->msg, fmt, ap);
	va_end(ap);
	size_t n = k < 0 ? 0 : (size_t)k < sizeof f->msg ? (size_t)k : sizeof f->msg - 1;
	wchar_t text[256];
	DWORD w = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0, text,
				 sizeof text / sizeof *text, NULL);
	_cleanup_free_ char *u = w ? utf8_from_wide(text) : NULL;
	if (u) {
		size_t len = strlen(u);
		while (len && (u[len - 1] == '\n' || u[len - 1] == '\r' || u[len - 1] == ' ' || u[len - 1] == '.'))
			u[--len] = 0;
	}
	if (u && *u)
		snprintf(f->msg + n, sizeof f->msg - n, ": %s (0x%lx)", u, (unsigned long)err);
	else
		snprintf(f->msg + n, sizeof f->msg - n, ": Windows error 0x%lx", (unsigned long)err);
	text_clean(f->msg);
	return err ? -(int)(err & 0x7fffffff) : -1;
}
