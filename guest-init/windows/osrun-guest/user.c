#include "user.h"

#include <userenv.h>
#include <wtsapi32.h>

int user_token(HANDLE *ret_token, void **ret_env, struct failure *f)
{
	DWORD session = WTSGetActiveConsoleSessionId();
	HANDLE t;
	if (session == 0xFFFFFFFF || !WTSQueryUserToken(session, &t))
		return fail_win32(f, GetLastError(),
				  "nobody is logged on to the console: --user needs the auto-logon session");
	TOKEN_LINKED_TOKEN linked;
	TOKEN_ELEVATION_TYPE type;
	DWORD n;
	if (GetTokenInformation(t, TokenElevationType, &type, sizeof type, &n) && type == TokenElevationTypeLimited &&
	    GetTokenInformation(t, TokenLinkedToken, &linked, sizeof linked, &n)) {
		CloseHandle(t);
		t = linked.LinkedToken;
	}
	void *env;
	if (!CreateEnvironmentBlock(&env, t, FALSE)) {
		DWORD err = GetLastError();
		CloseHandle(t);
		return fail_win32(f, err, "reading the user's environment");
	}
	*ret_token = t;
	*ret_env = env;
	return 0;
}
