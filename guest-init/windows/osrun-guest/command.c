#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static int job_attach(struct command *c, struct failure *f)
{
	wchar_t name[64];
	swprintf(name, sizeof name / sizeof *name, COMMAND_JOB_FORMAT, c->pid);
	/* No kill-on-close: a background process the command started goes on
	 * after the command, as it would without osrun. */
	c->job = CreateJobObjectW(NULL, name);
	if (c->job && !AssignProcessToJobObject(c->job, c->process)) {
		CloseHandle(c->job);
		c->job = NULL;
	}
	/* Without a job the kill verb ends the process alone. */
	return 0;
}

int command_start(const wchar_t *line, const wchar_t *workdir, HANDLE token, HANDLE std[3], struct command *ret,
		  struct failure *f)
{
	wchar_t sys[MAX_PATH];
	UINT n = GetSystemDirectoryW(sys, MAX_PATH);
	if (!n || n >= MAX_PATH)
		return fail_win32(f, GetLastError(), "finding cmd.exe");
	_cleanup_free_ wchar_t *cmd = path_in(sys, L"cmd.exe");
	/* /d: no AutoRun commands from the registry. /s /c "LINE": cmd drops
	 * the outer quotes and runs LINE as given (cmd /?). */
	size_t len = (cmd ? wcslen(cmd) : 0) + wcslen(line) + 32;
	_cleanup_free_ wchar_t *cl = malloc(len * sizeof *cl);
	if (!cmd || !cl)
		return fail_text(f, "out of memory");
	if (len > 32767)
		return fail_text(f, "the command line is longer than Windows takes");
	swprintf(cl, len, L"\"%ls\" /d /s /c \"%ls\"", cmd, line);
	STARTUPINFOW si = {.cb = sizeof si,
			   .dwFlags = STARTF_USESTDHANDLES,
			   .hStdInput = std[0],
			   .hStdOutput = std[1],
			   .hStdError = std[2],
			   .lpDesktop = token ? L"winsta0\\default" : NULL};
	PROCESS_INFORMATION pi;
	/* Suspended until it is in its job: nothing it starts escapes it. */
	DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW;
	BOOL ok = token ? CreateProcessAsUserW(token, cmd, cl, NULL, NULL, TRUE, flags, NULL, workdir, &si, &pi)
			: CreateProcessW(cmd, cl, NULL, NULL, TRUE, flags, NULL, workdir, &si, &pi);
	if (!ok)
		return fail_win32(f, GetLastError(), "starting cmd.exe");
	struct command c = {.process = pi.hProcess, .pid = pi.dwProcessId};
	job_attach(&c, f);
	ResumeThread(pi.hThread);
	CloseHandle(pi.hThread);
	*ret = c;
	return 0;
}

int command_wait(struct command *c, DWORD *ret_code, struct failure *f)
{
	if (WaitForSingleObject(c->process, INFINITE) != WAIT_OBJECT_0)
		return fail_win32(f, GetLastError(), "waiting for the command");
	DWORD code;
	if (!GetExitCodeProcess(c->process, &code))
		return fail_win32(f, GetLastError(), "reading the command's exit code");
	*ret_code = code;
	return 0;
}

void command_release(struct command *c)
{
	handle_closep(&c->process);
	handle_closep(&c->job);
	*c = (struct command){0};
}
