/* osrun --user: the command runs as the user logged on to the console, on
 * that user's desktop. This helper runs as SYSTEM, which may take that
 * user's token (WTSQueryUserToken needs SE_TCB_NAME) and start a process
 * with it (CreateProcessAsUserW). For an administrator under UAC the
 * session's token is the filtered one; its linked token is the elevated
 * one, which the scheduled task of osrun-exec.ps1 got (RunLevel Highest). */
#pragma once
#include "guest.h"

/* The token, and the user's environment as Windows builds it for a new
 * logon (CreateEnvironmentBlock): DestroyEnvironmentBlock(*ret_env). */
int user_token(HANDLE *ret_token, void **ret_env, struct failure *f);
