#include "verbs.h"

#include <lm.h>
#include <wtsapi32.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "command.h"
#include "share.h"

int verb_mount(const struct places *pl)
{
	if (share_wait_for(pl, L"stdin", 60000) == 0)
		return 0;
	_cleanup_free_ char *u = utf8_from_wide(pl->share);
	fprintf(stderr, "the run's share %s did not answer within 60 s\n", u ? u : "");
	return 1;
}

int verb_kill(const struct places *pl)
{
	struct failure f;
	_cleanup_free_ wchar_t *p = path_in(pl->state, L"command.pid");
	_cleanup_free_ char *text = NULL;
	size_t n;
	if (!p || GetFileAttributesW(p) == INVALID_FILE_ATTRIBUTES)
		return 0;
	if (file_read(p, 32, &text, &n, &f) < 0 || !n || strspn(text, "0123456789") != n || n > 10)
		return 1;
	DWORD pid = (DWORD)strtoul(text, NULL, 10);
	wchar_t name[64];
	swprintf(name, sizeof name / sizeof *name, COMMAND_JOB_FORMAT, pid);
	/* The job holds what the command started, also what outlived its
	 * parent (taskkill /T follows parents, and misses those). 1: as
	 * taskkill /F leaves it. */
	_cleanup_handle_ HANDLE job = OpenJobObjectW(JOB_OBJECT_TERMINATE, FALSE, name);
	if (job && TerminateJobObject(job, 1))
		return 0;
	_cleanup_handle_ HANDLE proc = OpenProcess(PROCESS_TERMINATE, FALSE, pid);
	if (proc)
		TerminateProcess(proc, 1);
	return 0;
}

/* Every connection "net use" lists in this thread's logon session, with
 * or without a drive letter (the share was reached by its UNC path), as
 * osrun-detach.ps1's net use /delete did. */
static void uses_drop(const wchar_t *share)
{
	USE_INFO_0 *uses = NULL;
	DWORD n = 0, total = 0;
	if (NetUseEnum(NULL, 0, (BYTE **)&uses, MAX_PREFERRED_LENGTH, &n, &total, NULL) == NERR_Success) {
		for (DWORD i = 0; i < n; i++) {
			wchar_t *name =
				uses[i].ui0_local && *uses[i].ui0_local ? uses[i].ui0_local : uses[i].ui0_remote;
			if (name)
				NetUseDel(NULL, name, USE_LOTS_OF_FORCE);
		}
	}
	if (uses)
		NetApiBufferFree(uses);
	WNetCancelConnection2W(share, 0, TRUE);
}

int verb_detach(const struct places *pl)
{
	uses_drop(pl->share);
	/* A --user command's connections are in the user's logon sessions,
	 * not SYSTEM's: the console session's token's and, under UAC, its
	 * elevated linked token's, which --user runs with (user.c). Dropped
	 * as that user, or a -n snapshot would keep them. */
	HANDLE t = NULL;
	DWORD session = WTSGetActiveConsoleSessionId();
	if (session == 0xFFFFFFFF || !WTSQueryUserToken(session, &t))
		return 0;
	TOKEN_LINKED_TOKEN linked = {0};
	DWORD n;
	if (!GetTokenInformation(t, TokenLinkedToken, &linked, sizeof linked, &n))
		linked.LinkedToken = NULL;
	HANDLE tokens[2] = {t, linked.LinkedToken};
	for (int i = 0; i < 2; i++) {
		if (tokens[i] && ImpersonateLoggedOnUser(tokens[i])) {
			uses_drop(pl->share);
			RevertToSelf();
		}
		handle_closep(&tokens[i]);
	}
	return 0;
}
