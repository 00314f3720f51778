#include "copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "share.h"
#include "stream.h"

/* Windows' own tar.exe (bsdtar, in System32 since Windows 10 1803:
 * Microsoft's "tar" command reference) packs and unpacks; the tests name
 * another (--tar). */
static int tar_find(const struct places *pl, wchar_t **ret, struct failure *f)
{
	if (pl->tar)
		return (*ret = wide_join(pl->tar, L"")) ? 0 : fail_text(f, "out of memory");
	wchar_t sys[MAX_PATH];
	UINT n = GetSystemDirectoryW(sys, MAX_PATH);
	if (!n || n >= MAX_PATH)
		return fail_win32(f, GetLastError(), "finding tar.exe");
	*ret = path_in(sys, L"tar.exe");
	if (!*ret)
		return fail_text(f, "out of memory");
	if (GetFileAttributesW(*ret) == INVALID_FILE_ATTRIBUTES) {
		free(*ret);
		return fail_text(f, "%%SystemRoot%%\\System32\\tar.exe is missing (Windows 10 1803 and later have it)");
	}
	return 0;
}

/* Runs tar with ARGS in dir, stdin and stdout the given handles (made
 * inheritable here), stderr this helper's: no path on its command line,
 * whose code page is not UTF-8. *ret_code: tar's exit code. */
static int tar_run(const struct places *pl, const wchar_t *args, const wchar_t *dir, HANDLE in, HANDLE out,
		   DWORD *ret_code, struct failure *f)
{
	_cleanup_free_ wchar_t *tar = NULL;
	int k = tar_find(pl, &tar, f);
	if (k < 0)
		return k;
	size_t len = wcslen(tar) + wcslen(args) + 8;
	_cleanup_free_ wchar_t *cl = malloc(len * sizeof *cl);
	if (!cl)
		return fail_text(f, "out of memory");
	swprintf(cl, len, L"\"%ls\" %ls", tar, args);
	if (!SetHandleInformation(in, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) ||
	    !SetHandleInformation(out, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT))
		return fail_win32(f, GetLastError(), "handing files to tar");
	STARTUPINFOW si = {.cb = sizeof si,
			   .dwFlags = STARTF_USESTDHANDLES,
			   .hStdInput = in,
			   .hStdOutput = out,
			   .hStdError = GetStdHandle(STD_ERROR_HANDLE)};
	PROCESS_INFORMATION pi;
	/* DETACHED_PROCESS: no console for it to make or share; its streams
	 * are the handles given. (Under Wine, CREATE_NO_WINDOW also kept
	 * them from a Unix program's descriptors.) */
	if (!CreateProcessW(tar, cl, NULL, NULL, TRUE, DETACHED_PROCESS, NULL, dir, &si, &pi)) {
		_cleanup_free_ char *u = utf8_from_wide(tar);
		return fail_win32(f, GetLastError(), "starting %s", u ? u : "tar");
	}
	CloseHandle(pi.hThread);
	DWORD code = 1;
	if (WaitForSingleObject(pi.hProcess, INFINITE) != WAIT_OBJECT_0 || !GetExitCodeProcess(pi.hProcess, &code))
		k = fail_win32(f, GetLastError(), "waiting for tar");
	CloseHandle(pi.hProcess);
	if (k == 0)
		*ret_code = code;
	return k;
}

static bool is_dir(const wchar_t *p)
{
	DWORD a = GetFileAttributesW(p);
	return a != INVALID_FILE_ATTRIBUTES && (a & FILE_ATTRIBUTE_DIRECTORY);
}

/* p and the directories above it; the drive's root or a UNC share's
 * first levels fail to be made and are there. */
static int dirs_make(const wchar_t *p, struct failure *f)
{
	_cleanup_free_ wchar_t *d = wide_join(p, L"");
	if (!d)
		return fail_text(f, "out of memory");
	for (wchar_t *s = d; (s = wcspbrk(s + 1, L"\\/"));) {
		wchar_t c = *s;
		*s = 0;
		CreateDirectoryW(d, NULL);
		*s = c;
	}
	if (!CreateDirectoryW(d, NULL) && !is_dir(d)) {
		_cleanup_free_ char *u = utf8_from_wide(p);
		return fail_win32(f, GetLastError(), "making the directory %s", u ? u : "");
	}
	return 0;
}

/* A directory this helper made and everything in it; a link in it is
 * removed, never followed. */
static void tree_remove(const wchar_t *dir)
{
	_cleanup_free_ wchar_t *pattern = path_in(dir, L"*");
	WIN32_FIND_DATAW fd;
	HANDLE h = pattern ? FindFirstFileW(pattern, &fd) : INVALID_HANDLE_VALUE;
	if (h != INVALID_HANDLE_VALUE) {
		do {
			if (!wcscmp(fd.cFileName, L".") || !wcscmp(fd.cFileName, L".."))
				continue;
			_cleanup_free_ wchar_t *p = path_in(dir, fd.cFileName);
			if (!p)
				continue;
			SetFileAttributesW(p, FILE_ATTRIBUTE_NORMAL);
			if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
				DeleteFileW(p);
			else if (fd.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT)
				RemoveDirectoryW(p);
			else
				tree_remove(p);
		} while (FindNextFileW(h, &fd));
		FindClose(h);
	}
	RemoveDirectoryW(dir);
}

/* tar -x from the share's archive, in dir. */
static int tar_extract(const struct places *pl, const wchar_t *archive, const wchar_t *dir, DWORD *ret_code,
		       struct failure *f)
{
	_cleanup_handle_ HANDLE in = INVALID_HANDLE_VALUE, out = INVALID_HANDLE_VALUE;
	int k = share_file_open(archive, false, true, &in, f);
	if (k < 0)
		return k;
	out = CreateFileW(L"NUL", GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	if (out == INVALID_HANDLE_VALUE)
		return fail_win32(f, GetLastError(), "opening NUL");
	return tar_run(pl, L"-x -f -", dir, in, out, ret_code, f);
}

/* A file's member is name: unpacked beside dst and moved over it, so
 * that dst is never half written. */
static int copy_in_file(const struct places *pl, const wchar_t *archive, const wchar_t *dst, const wchar_t *name,
			DWORD *ret_code, struct failure *f)
{
	_cleanup_free_ wchar_t *parent = wide_join(dst, L"");
	wchar_t *cut = parent ? wcspbrk(parent, L"\\/") : NULL, *last = cut;
	while (cut && (cut = wcspbrk(cut + 1, L"\\/")))
		last = cut;
	if (!parent || !last)
		return fail_text(f, "--copy-in: the guest's path must be absolute");
	last[last == parent + 2 && parent[1] == L':' ? 1 : 0] = 0;
	int k = dirs_make(parent, f);
	if (k < 0)
		return k;
	wchar_t leaf[64];
	swprintf(leaf, sizeof leaf / sizeof *leaf, L".osrun-copy.%lu.%llu", GetCurrentProcessId(),
		 (unsigned long long)GetTickCount64());
	_cleanup_free_ wchar_t *tmp = path_in(parent, leaf), *member = NULL;
	if (!tmp || !(member = path_in(tmp, name)))
		return fail_text(f, "out of memory");
	if (!CreateDirectoryW(tmp, NULL))
		return fail_win32(f, GetLastError(), "making a temporary directory beside the target");
	k = tar_extract(pl, archive, tmp, ret_code, f);
	if (k == 0 && *ret_code == 0 && !MoveFileExW(member, dst, MOVEFILE_REPLACE_EXISTING)) {
		_cleanup_free_ char *u = utf8_from_wide(dst);
		k = fail_win32(f, GetLastError(), "moving the copy to %s", u ? u : "its place");
	}
	tree_remove(tmp);
	return k;
}

/* A bare member name: no separator, no drive, not . or .. */
static bool name_ok(const wchar_t *s) { return *s && !wcspbrk(s, L"\\/:") && wcscmp(s, L".") && wcscmp(s, L".."); }

/* in TAR dir|file GUEST NAME: unpack TAR at GUEST, or into GUEST\NAME
 * when GUEST is a directory. */
static int copy_in(const struct places *pl, wchar_t **argv, DWORD *ret_code, struct failure *f)
{
	const wchar_t *kind = argv[1], *guest = argv[2], *name = argv[3];
	if (!name_ok(argv[0]) || !name_ok(name) || (wcscmp(kind, L"dir") && wcscmp(kind, L"file")))
		return fail_text(f, "copy in: bad arguments");
	_cleanup_free_ wchar_t *archive = path_in(pl->share, argv[0]);
	_cleanup_free_ wchar_t *dst = is_dir(guest) ? path_in(guest, name) : wide_join(guest, L"");
	if (!archive || !dst)
		return fail_text(f, "out of memory");
	if (wcscmp(kind, L"dir"))
		return copy_in_file(pl, archive, dst, name, ret_code, f);
	int k = dirs_make(dst, f);
	return k < 0 ? k : tar_extract(pl, archive, dst, ret_code, f);
}

/* out TAR GUEST: pack GUEST as its last component into TAR. The name
 * reaches tar on its stdin (--null -T -), not its command line, where one
 * starting with @ would name an archive to include and one starting with
 * - an option; in the ANSI code page, as a program's narrow argv has it. */
static int copy_out(const struct places *pl, wchar_t **argv, DWORD *ret_code, struct failure *f)
{
	if (!name_ok(argv[0]))
		return fail_text(f, "copy out: bad arguments");
	wchar_t full[32768];
	DWORD n = GetFullPathNameW(argv[1], sizeof full / sizeof *full, full, NULL);
	if (!n || n >= sizeof full / sizeof *full)
		return fail_win32(f, GetLastError(), "the guest's path");
	while (n > 3 && (full[n - 1] == L'\\' || full[n - 1] == L'/'))
		full[--n] = 0;
	_cleanup_free_ char *u = utf8_from_wide(argv[1]);
	if (GetFileAttributesW(full) == INVALID_FILE_ATTRIBUTES)
		return fail_text(f, "%s: No such file or directory", u ? u : "the guest's path");
	wchar_t *last = wcsrchr(full, L'\\');
	if (!last || !last[1])
		return fail_text(f, "%s: name a file or directory, not a root", u ? u : "the guest's path");
	_cleanup_free_ wchar_t *leaf = wide_join(last + 1, L"");
	if (!leaf)
		return fail_text(f, "out of memory");
	last[last == full + 2 && full[1] == L':' ? 1 : 0] = 0;
	char name[1024];
	BOOL lossy = FALSE;
	/* A UTF-8 code page (Windows' "Beta: Use Unicode UTF-8") takes
	 * neither the flag nor the question. */
	bool utf8 = GetACP() == CP_UTF8;
	int k = WideCharToMultiByte(CP_ACP, utf8 ? 0 : WC_NO_BEST_FIT_CHARS, leaf, -1, name, sizeof name, NULL,
				    utf8 ? NULL : &lossy);
	if (k <= 0 || lossy)
		return fail_text(f, "%s: its name cannot be written in this guest's code page, which tar.exe reads",
				 u ? u : "the guest's path");
	_cleanup_free_ wchar_t *archive = path_in(pl->share, argv[0]);
	_cleanup_handle_ HANDLE out = INVALID_HANDLE_VALUE, names = INVALID_HANDLE_VALUE;
	if (!archive)
		return fail_text(f, "out of memory");
	out = CreateFileW(archive, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	if (out == INVALID_HANDLE_VALUE)
		return fail_win32(f, GetLastError(), "creating the archive in the run's share");
	/* A file rather than a pipe: Wine gives a Unix tar's stdin a file's
	 * handle, not a pipe's (tests/windows/wine-tools.c). It goes when
	 * the last handle to it closes. */
	wchar_t dir[MAX_PATH], tmp[MAX_PATH];
	DWORD w = 0;
	if (!GetTempPathW(MAX_PATH, dir) || !GetTempFileNameW(dir, L"osr", 0, tmp))
		return fail_win32(f, GetLastError(), "making a temporary file for tar's list of names");
	names = CreateFileW(tmp, GENERIC_READ | GENERIC_WRITE | DELETE, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
			    CREATE_ALWAYS, FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, NULL);
	if (names == INVALID_HANDLE_VALUE)
		return fail_win32(f, GetLastError(), "making a temporary file for tar's list of names");
	if (!WriteFile(names, name, (DWORD)k, &w, NULL) || w != (DWORD)k ||
	    SetFilePointer(names, 0, NULL, FILE_BEGIN) == INVALID_SET_FILE_POINTER)
		return fail_win32(f, GetLastError(), "handing the name to tar");
	return tar_run(pl, L"-c -f - --null -T -", full, names, out, ret_code, f);
}

int verb_copy(const struct places *pl, int argc, wchar_t **argv)
{
	struct failure f = {{0}};
	DWORD code = 0;
	int k;
	if (argc == 5 && !wcscmp(argv[0], L"in"))
		k = copy_in(pl, argv + 1, &code, &f);
	else if (argc == 3 && !wcscmp(argv[0], L"out"))
		k = copy_out(pl, argv + 1, &code, &f);
	else
		k = fail_text(&f, "copy: expected 'in TAR dir|file GUEST NAME' or 'out TAR GUEST'");
	if (k < 0) {
		fprintf(stderr, "%s\n", f.msg);
		return argc == 5 || argc == 3 ? 1 : 2;
	}
	/* tar said what went wrong on stderr. */
	return code == 0 ? 0 : code < 256 ? (int)code : 1;
}
