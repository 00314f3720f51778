#include "environ.h"

#include <stdlib.h>
#include <wchar.h>

#define MACHINE_ENV L"SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment"
#define VALUE_MAX 32767 /* an environment variable's longest value */

/* A REG_EXPAND_SZ value expanded against the environment as it is, as
 * .NET's RegistryKey.GetValue does for GetEnvironmentVariables(target). */
static wchar_t *value_text(DWORD type, const wchar_t *data)
{
	if (type == REG_SZ)
		return wide_join(data, L"");
	if (type != REG_EXPAND_SZ)
		return NULL;
	DWORD n = ExpandEnvironmentStringsW(data, NULL, 0);
	wchar_t *w = n ? malloc(n * sizeof *w) : NULL;
	if (w && ExpandEnvironmentStringsW(data, w, n) != n) {
		free(w);
		return NULL;
	}
	return w;
}

/* Every value of one scope but Path set in this process; that scope's
 * Path returned in *ret_path (NULL when it has none). */
static int scope_apply(HKEY root, const wchar_t *key, wchar_t **ret_path, struct failure *f)
{
	HKEY k;
	LSTATUS s = RegOpenKeyExW(root, key, 0, KEY_READ, &k);
	*ret_path = NULL;
	if (s == ERROR_FILE_NOT_FOUND)
		return 0;
	if (s != ERROR_SUCCESS)
		return fail_win32(f, (DWORD)s, "reading the environment from the registry");
	static wchar_t name[16384], data[VALUE_MAX + 1];
	int r = 0;
	for (DWORD i = 0;; i++) {
		DWORD nn = sizeof name / sizeof *name, type, size = sizeof data - sizeof *data;
		s = RegEnumValueW(k, i, name, &nn, NULL, &type, (BYTE *)data, &size);
		if (s == ERROR_NO_MORE_ITEMS)
			break;
		if (s == ERROR_MORE_DATA)
			continue; /* longer than any environment variable may be */
		if (s != ERROR_SUCCESS) {
			r = fail_win32(f, (DWORD)s, "reading the environment from the registry");
			break;
		}
		data[size / sizeof *data] = 0;
		_cleanup_free_ wchar_t *v = value_text(type, data);
		if (!v || !*name)
			continue;
		if (!_wcsicmp(name, L"Path")) {
			free(*ret_path);
			*ret_path = TAKE_WIDE(v);
		} else
			SetEnvironmentVariableW(name, v);
	}
	RegCloseKey(k);
	return r;
}

int environ_refresh(struct failure *f)
{
	_cleanup_free_ wchar_t *machine = NULL, *user = NULL, *both = NULL;
	int r = scope_apply(HKEY_LOCAL_MACHINE, MACHINE_ENV, &machine, f);
	if (r == 0)
		r = scope_apply(HKEY_CURRENT_USER, L"Environment", &user, f);
	if (r < 0)
		return r;
	if (machine && *machine && user && *user) {
		_cleanup_free_ wchar_t *m = wide_join(machine, L";");
		both = m ? wide_join(m, user) : NULL;
	} else
		both = wide_join(machine && *machine ? machine : user ? user : L"", L"");
	if (!both)
		return fail_text(f, "out of memory");
	SetEnvironmentVariableW(L"Path", *both ? both : NULL);
	return 0;
}

int environ_apply(const struct order *o, struct failure *f)
{
	for (size_t i = 0; i < o->n_env; i++) {
		_cleanup_free_ wchar_t *name = wide_from_utf8(o->env[i].name), *value = wide_from_utf8(o->env[i].value);
		if (!name || !value || !*name || wcschr(name, L'='))
			return fail_text(f, "the request's variable '%s' is not valid", o->env[i].name);
		if (!SetEnvironmentVariableW(name, value))
			return fail_win32(f, GetLastError(), "setting %s", o->env[i].name);
	}
	return 0;
}

int environ_replace(const wchar_t *block, struct failure *f)
{
	/* Names that start with '=' are cmd's per-drive directories: kept. */
	wchar_t *old = GetEnvironmentStringsW();
	if (!old)
		return fail_win32(f, GetLastError(), "reading the environment");
	for (const wchar_t *e = old; *e; e += wcslen(e) + 1) {
		const wchar_t *eq = wcschr(e + 1, L'=');
		if (*e == L'=' || !eq)
			continue;
		_cleanup_free_ wchar_t *name = wide_join(e, L"");
		if (name) {
			name[eq - e] = 0;
			SetEnvironmentVariableW(name, NULL);
		}
	}
	FreeEnvironmentStringsW(old);
	for (const wchar_t *e = block; *e; e += wcslen(e) + 1) {
		const wchar_t *eq = wcschr(e + 1, L'=');
		_cleanup_free_ wchar_t *name = eq && *e != L'=' ? wide_join(e, L"") : NULL;
		if (!name)
			continue;
		name[eq - e] = 0;
		SetEnvironmentVariableW(name, eq + 1);
	}
	return 0;
}
