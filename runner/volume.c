#define _GNU_SOURCE
#include "volume.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../snapshots/cachevol.h"

void run_volume_release(struct run_volume *v)
{
	free(v->host);
	free(v->cache);
	free(v->guest);
}

void run_copy_release(struct run_copy *c)
{
	free(c->host);
	free(c->guest);
}

/* The guest helpers take one path per line: no control characters, and a
 * length both guests' tools handle. */
static int guest_path_check(const char *opt, const char *spec, const char *path, struct error *e)
{
	if (!*path)
		return error_set(e, -EINVAL, "--%s '%s': no guest path", opt, spec);
	if (strlen(path) > 1024)
		return error_set(e, -EINVAL, "--%s '%s': the guest path is longer than 1024 characters", opt, spec);
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return error_set(e, -EINVAL, "--%s '%s': the guest path holds a control character", opt, spec);
	return 0;
}

/* Where a guest path that starts a spec ends: past a drive letter ("C:\"),
 * at the next ':'. */
static const char *guest_path_end(const char *s)
{
	if (isalpha((unsigned char)s[0]) && s[1] == ':' && (s[2] == '\\' || s[2] == '/'))
		s += 2;
	return strchr(s, ':');
}

int volume_parse(const char *spec, struct run_volume *ret, struct error *e)
{
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec)
		return error_set(e, -EINVAL, "--volume '%s': expected HOST_DIR:GUEST_PATH[:ro]", spec);
	_cleanup_free_ char *host = strndup(spec, (size_t)(colon - spec)), *guest = strdup(colon + 1);
	if (!host || !guest)
		return error_errno(e, -ENOMEM, "--volume");
	bool ro = false;
	size_t n = strlen(guest);
	if (n > 3 && (!strcmp(guest + n - 3, ":ro") || !strcmp(guest + n - 3, ":rw"))) {
		ro = guest[n - 1] == 'o';
		guest[n - 3] = 0;
	}
	int r = guest_path_check("volume", spec, guest, e);
	if (r < 0)
		return r;
	char *real = realpath(host, NULL);
	if (!real)
		return error_errno(e, -errno, "--volume '%s': %s", spec, host);
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(real);
		return error_set(e, -ENOTDIR, "--volume '%s': %s is not a directory", spec, host);
	}
	/* smbd expands %U, %m... in a share's path, some of them chosen by the
	 * guest, and smb.conf has no escape for '%'. */
	if (strchr(real, '%')) {
		r = error_set(e, -EINVAL, "--volume '%s': %s holds '%%', which the SMB server would expand", spec,
			      real);
		free(real);
		return r;
	}
	*ret = (struct run_volume){.host = real, .guest = TAKE_PTR(guest), .read_only = ro};
	return 0;
}

int cache_volume_parse(const char *spec, struct run_volume *ret, struct error *e)
{
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec)
		return error_set(e, -EINVAL, "--cache-volume '%s': expected NAME:GUEST_PATH", spec);
	_cleanup_free_ char *name = strndup(spec, (size_t)(colon - spec)), *guest = strdup(colon + 1);
	if (!name || !guest)
		return error_errno(e, -ENOMEM, "--cache-volume");
	const char *why;
	if (snapshot_name_check(name, &why) < 0)
		return error_set(e, -EINVAL, "--cache-volume '%s': the name %s", spec, why);
	int r = guest_path_check("cache-volume", spec, guest, e);
	if (r < 0)
		return r;
	*ret = (struct run_volume){.cache = TAKE_PTR(name), .guest = TAKE_PTR(guest)};
	return 0;
}

static int copy_out_host_check(const char *spec, const char *host, struct error *e)
{
	struct stat st;
	if (stat(host, &st) == 0)
		return S_ISDIR(st.st_mode)
			       ? 0
			       : error_set(e, -EEXIST, "--copy-out '%s': %s exists (remove it first)", spec, host);
	_cleanup_free_ char *copy = strdup(host);
	if (!copy)
		return error_errno(e, -ENOMEM, "--copy-out");
	char *slash = strrchr(copy, '/');
	const char *parent = slash == copy ? "/" : slash ? (*slash = 0, copy) : ".";
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
		return error_set(e, -ENOENT, "--copy-out '%s': directory %s does not exist", spec, parent);
	return 0;
}

int copy_parse(const char *spec, bool out, struct run_copy *ret, struct error *e)
{
	const char *opt = out ? "copy-out" : "copy-in";
	const char *colon = out ? guest_path_end(spec) : strchr(spec, ':');
	if (!colon || colon == spec || !colon[1])
		return error_set(e, -EINVAL, "--%s '%s': expected %s", opt, spec, out ? "GUEST:HOST" : "HOST:GUEST");
	_cleanup_free_ char *first = strndup(spec, (size_t)(colon - spec)), *second = strdup(colon + 1);
	if (!first || !second)
		return error_errno(e, -ENOMEM, "--%s", opt);
	char *host = out ? second : first, *guest = out ? first : second;
	int r = guest_path_check(opt, spec, guest, e);
	if (r < 0)
		return r;
	struct stat st;
	if (!out && lstat(host, &st) < 0)
		return error_errno(e, -errno, "--copy-in '%s': %s", spec, host);
	if (out && (r = copy_out_host_check(spec, host, e)) < 0)
		return r;
	*ret = (struct run_copy){.host = strdup(host), .guest = strdup(guest)};
	if (!ret->host || !ret->guest) {
		run_copy_release(ret);
		return error_errno(e, -ENOMEM, "--%s", opt);
	}
	return 0;
}

void volume_share_name(size_t i, char buf[static 8]) { snprintf(buf, 8, "v%zu", i % 100); }

char *volume_guest_list(const struct run_volume *v, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char share[8];
		volume_share_name(i, share);
		fprintf(f, "%s %s %s\n", share, v[i].read_only ? "ro" : "rw", v[i].guest);
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int volume_open_caches(struct store *s, const struct run_volume *v, size_t n, struct cache_volume **caches,
		       struct error *e)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].cache)
			continue;
		int r = cache_volume_open(s, v[i].cache, &caches[i]);
		if (r == -EBUSY)
			return error_set(e, r, "cache volume '%s' is in use by another run (one at a time)",
					 v[i].cache);
		if (r < 0)
			return error_errno(e, r, "cache volume '%s'", v[i].cache);
	}
	return 0;
}

void volume_shares(const struct run_volume *v, size_t n, struct cache_volume *const *caches, struct smb_share *ret,
		   char names[][8])
{
	for (size_t i = 0; i < n; i++) {
		volume_share_name(i, names[i]);
		ret[i] = (struct smb_share){
			.name = names[i], .path = v[i].host ? v[i].host : caches[i]->dir, .read_only = v[i].read_only};
	}
}
