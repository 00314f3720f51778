#include "volume.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static bool is_drive(const wchar_t *p)
{
	return ((p[0] >= L'A' && p[0] <= L'Z') || (p[0] >= L'a' && p[0] <= L'z')) && p[1] == L':' && !p[2];
}

/* The host names its shares; nothing else may reach the UNC path. */
static bool share_name_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return false;
	return true;
}

static int parents_make(wchar_t *path)
{
	/* Each directory above the link, from the top ("C:\" exists). */
	for (wchar_t *p = path + 3; *p; p++) {
		if (*p != L'\\' && *p != L'/')
			continue;
		wchar_t c = *p;
		*p = 0;
		BOOL ok = CreateDirectoryW(path, NULL) || GetLastError() == ERROR_ALREADY_EXISTS;
		*p = c;
		if (!ok)
			return -1;
	}
	return 0;
}

static int volume_connect(const struct order_volume *ov, const wchar_t *server, HANDLE token, wchar_t *path,
			  struct failure *f)
{
	_cleanup_free_ wchar_t *share = wide_from_utf8(ov->share);
	_cleanup_free_ wchar_t *unc = share ? path_in(server, share) : NULL;
	if (!unc)
		return fail_text(f, "out of memory");
	if (is_drive(path)) {
		NETRESOURCEW nr = {.dwType = RESOURCETYPE_DISK, .lpLocalName = path, .lpRemoteName = unc};
		/* A drive letter belongs to a logon session: the user's, for
		 * --user, which this thread then acts as. */
		if (token && !ImpersonateLoggedOnUser(token))
			return fail_win32(f, GetLastError(), "acting as the user for volume %s", ov->path);
		DWORD r = WNetAddConnection2W(&nr, NULL, NULL, 0);
		if (token)
			RevertToSelf();
		return r == NO_ERROR ? 0 : fail_win32(f, r, "connecting %s to volume %s", ov->path, ov->share);
	}
	if (wcslen(path) < 4 || path[1] != L':' || path[2] != L'\\' || parents_make(path) < 0)
		return fail_text(f, "volume path %s is not a path this helper can make", ov->path);
	if (!CreateSymbolicLinkW(path, unc, SYMBOLIC_LINK_FLAG_DIRECTORY))
		return fail_win32(f, GetLastError(), "linking %s to volume %s", ov->path, ov->share);
	return 0;
}

int volumes_connect(const struct order *o, const wchar_t *server, HANDLE token, struct volumes *v, struct failure *f)
{
	v->made = o->n_volumes ? calloc(o->n_volumes, sizeof *v->made) : NULL;
	if (o->n_volumes && !v->made)
		return fail_text(f, "out of memory");
	for (size_t i = 0; i < o->n_volumes; i++) {
		const struct order_volume *ov = &o->volumes[i];
		if (!share_name_ok(ov->share))
			return fail_text(f, "volume share name '%s' is not valid", ov->share);
		wchar_t *path = wide_from_utf8(ov->path);
		if (!path)
			return fail_text(f, "volume path %s is not valid", ov->path);
		int r = volume_connect(ov, server, token, path, f);
		if (r < 0) {
			free(path);
			return r;
		}
		v->made[v->n++] = path;
	}
	return 0;
}

void volumes_disconnect(struct volumes *v, HANDLE token)
{
	for (size_t i = 0; i < v->n; i++) {
		if (is_drive(v->made[i])) {
			if (!token || ImpersonateLoggedOnUser(token)) {
				WNetCancelConnection2W(v->made[i], 0, TRUE);
				if (token)
					RevertToSelf();
			}
		} else
			RemoveDirectoryW(v->made[i]); /* the link, not what it points to */
		free(v->made[i]);
	}
	free(v->made);
	*v = (struct volumes){0};
}
