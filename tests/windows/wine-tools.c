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
 *                                 runs "EXE exec --share SHARE --state STATE"
 *                                 N times, then "cmd.exe /d /c exit" N
 *                                 times: milliseconds per run of each */
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
	swprintf(helper, 4096, L"\"%ls\" exec --share \"%ls\" --state \"%ls\"", exe, share, state);
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

int wmain(int argc, wchar_t **argv);
int wmain(int argc, wchar_t **argv)
{
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
