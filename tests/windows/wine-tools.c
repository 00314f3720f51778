/* Small Windows programs for tests/windows/wine.sh, run under Wine as the
 * commands osrun-guest.exe starts:
 *   wine-tools.exe crash          ends with 0xC0000005 (ExitProcess)
 *   wine-tools.exe sleep MS       waits MS milliseconds, exits 0
 *   wine-tools.exe cat            copies stdin to stdout, a read at a time
 *   wine-tools.exe yes            writes lines to stdout until it cannot
 *   wine-tools.exe stale EXE ARG...
 *                                 runs EXE ARG... with OsrunMachine, OsrunBoth
 *                                 and Path set to stale values first, as the
 *                                 agent's environment is after a -n layer
 *                                 changed the registry's: its exit code
 *   wine-tools.exe bench N EXE SHARE STATE
 *                                 runs "EXE --share SHARE --state STATE exec"
 *                                 N times, then "cmd.exe /d /c exit" N
 *                                 times: milliseconds per run of each
 *   tar.exe ARG...                (this program copied as tar.exe) runs
 *                                 Debian's bsdtar with ARG... in its working
 *                                 directory, its standard streams the
 *                                 handles it was given: 0 when bsdtar
 *                                 exited 0, else 1. Wine starts a Unix
 *                                 program from CreateProcessW but gives no
 *                                 handle to wait on; its own
 *                                 __wine_unix_spawnvp waits. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static double run_ms(wchar_t *line)
{
	STARTUPINFOW si = {.cb = sizeof si};
	PROCESS_INFORMATION pi;
	LARGE_INTEGER a, b, hz;
	QueryPerformanceFrequency(&hz);
	QueryPerformanceCounter(&a);
	if (!CreateProcessW(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
		return -1;
	WaitForSingleObject(pi.hProcess, INFINITE);
	QueryPerformanceCounter(&b);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	return (double)(b.QuadPart - a.QuadPart) * 1000.0 / (double)hz.QuadPart;
}

static int bench(int n, const wchar_t *exe, const wchar_t *share, const wchar_t *state)
{
	static wchar_t helper[4096], cmd[512], sys[MAX_PATH];
	GetSystemDirectoryW(sys, MAX_PATH);
	swprintf(helper, 4096, L"\"%ls\" --share \"%ls\" --state \"%ls\" exec", exe, share, state);
	swprintf(cmd, 512, L"\"%ls\\cmd.exe\" /d /c exit", sys);
	double h = 0, c = 0;
	for (int i = 0; i < n; i++) {
		static wchar_t l1[4096], l2[512];
		wcscpy(l1, helper);
		wcscpy(l2, cmd);
		double x = run_ms(l1), y = run_ms(l2);
		if (x < 0 || y < 0)
			return 1;
		h += x;
		c += y;
	}
	printf("helper %.1f ms per run, cmd /c exit %.1f ms per run, overhead %.1f ms (%d runs each)\n", h / n, c / n,
	       (h - c) / n, n);
	return 0;
}

static int stale(int argc, wchar_t **argv)
{
	static wchar_t line[8192];
	size_t n = 0;
	for (int i = 0; i < argc; i++)
		n += (size_t)swprintf(line + n, 8192 - n, L"%ls\"%ls\"", i ? L" " : L"", argv[i]);
	SetEnvironmentVariableW(L"OsrunMachine", L"stale-agent");
	SetEnvironmentVariableW(L"OsrunBoth", L"stale-agent");
	SetEnvironmentVariableW(L"Path", L"C:\\stale");
	STARTUPINFOW si = {.cb = sizeof si};
	PROCESS_INFORMATION pi;
	DWORD code = 1;
	if (!CreateProcessW(NULL, line, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
		return 1;
	WaitForSingleObject(pi.hProcess, INFINITE);
	GetExitCodeProcess(pi.hProcess, &code);
	return (int)code;
}

static char *narrow(const wchar_t *w)
{
	int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	char *s = n > 0 ? malloc((size_t)n) : NULL;
	if (s)
		WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
	return s;
}

static int unix_tar(int argc, wchar_t **argv)
{
	typedef LONG(__cdecl * spawnvp_fn)(char *const argv[], int wait);
	typedef char *(__cdecl * unix_name_fn)(const wchar_t *dos);
	spawnvp_fn spawnvp =
		(spawnvp_fn)(void (*)(void))GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "__wine_unix_spawnvp");
	unix_name_fn unix_name = (unix_name_fn)(void (*)(void))GetProcAddress(GetModuleHandleW(L"kernel32.dll"),
									      "wine_get_unix_file_name");
	static wchar_t cwd[MAX_PATH];
	char **uargv = calloc((size_t)argc + 4, sizeof *uargv);
	if (!spawnvp || !unix_name || !uargv || !GetCurrentDirectoryW(MAX_PATH, cwd))
		return 1;
	/* The Unix process starts in Wine's own Unix directory, not ours. */
	size_t n = 0;
	uargv[n++] = "bsdtar";
	uargv[n++] = "-C";
	uargv[n++] = unix_name(cwd);
	for (int i = 1; i < argc; i++)
		uargv[n++] = narrow(argv[i]);
	for (size_t i = 0; i < n; i++)
		if (!uargv[i])
			return 1;
	return spawnvp(uargv, 1) == 0 ? 0 : 1;
}

int wmain(int argc, wchar_t **argv);
int wmain(int argc, wchar_t **argv)
{
	const wchar_t *self = wcsrchr(argv[0], L'\\') ? wcsrchr(argv[0], L'\\') + 1 : argv[0];
	if (!_wcsicmp(self, L"tar.exe") || !_wcsicmp(self, L"tar"))
		return unix_tar(argc, argv);
	if (argc >= 2 && !wcscmp(argv[1], L"crash"))
		ExitProcess(0xC0000005);
	if (argc >= 3 && !wcscmp(argv[1], L"sleep")) {
		Sleep((DWORD)wcstoul(argv[2], NULL, 10));
		return 0;
	}
	if (argc >= 2 && !wcscmp(argv[1], L"cat")) {
		char buf[4096];
		DWORD n, k;
		HANDLE in = GetStdHandle(STD_INPUT_HANDLE), out = GetStdHandle(STD_OUTPUT_HANDLE);
		while (ReadFile(in, buf, sizeof buf, &n, NULL) && n)
			if (!WriteFile(out, buf, n, &k, NULL))
				return 1;
		return 0;
	}
	if (argc >= 2 && !wcscmp(argv[1], L"yes")) {
		static const char line[] = "y\n";
		DWORD k;
		while (WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), line, 2, &k, NULL))
			;
		return 0;
	}
	if (argc >= 3 && !wcscmp(argv[1], L"stale"))
		return stale(argc - 2, argv + 2);
	if (argc >= 6 && !wcscmp(argv[1], L"bench"))
		return bench(_wtoi(argv[2]), argv[3], argv[4], argv[5]);
	return 2;
}
