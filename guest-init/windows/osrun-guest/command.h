/* The command's process: cmd.exe /d /s /c LINE, started with
 * CreateProcessW (or CreateProcessAsUserW with a user's token) so that the
 * handle it returns, which the exit code is read from, is this helper's
 * from the start. The process and every process it starts are in a job
 * object named after its id, which the kill verb ends as one. */
#pragma once
#include "guest.h"

/* The job's name for a command's process id. */
#define COMMAND_JOB_FORMAT L"Global\\osrun-command-%lu"

struct command {
	HANDLE process;
	HANDLE job; /* NULL when Windows would not make one */
	DWORD pid;
};

/* token: NULL for this helper's own user. std[3]: the command's standard
 * handles, inheritable. */
int command_start(const wchar_t *line, const wchar_t *workdir, HANDLE token, HANDLE std[3], struct command *ret,
		  struct failure *f);
/* Waits for its end: the exact 32-bit exit code. */
int command_wait(struct command *c, DWORD *ret_code, struct failure *f);
void command_release(struct command *c);
