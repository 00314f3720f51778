/* Pull on first use (runner/registry-use.c, snapshots/source.c): which -s
 * values are references, the snapshot name each is pulled as, and a
 * snapshot's source kept in the store, read back bounded and checked. */
#define _GNU_SOURCE
#include <stdbool.h>

#include "../../snapshots/source.h"
#include "registry-use.h"
#include "tap.h"

static void local_name(const char *ref, const char *want)
{
	char *name = NULL;
	int r = registry_local_name(ref, &name);
	if (want)
		is_str(r == 0 ? name : NULL, want, "%s is pulled as %s", ref, want);
	else
		is_int(r, -EINVAL, "%s is refused", ref);
	free(name);
}

static void test_names(void)
{
	ok(registry_is_ref("127.0.0.1:5000/team/linux:1"), "a value with '/' is a reference");
	ok(!registry_is_ref("linux+1"), "a snapshot name is not");
	local_name("registry.example:5000/team/msvc:2026-12", "msvc+2026-12");
	local_name("registry.example/team/msvc", "msvc+latest");
	local_name("registry.example:5000/msvc@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		   "msvc@0123456789ab");
	local_name("registry.example/team/msvc@sha256:XYZ", NULL);
	local_name("registry.example/team/msvc:a;rm", NULL);
	local_name("registry.example/team/../msvc", NULL);
	local_name("registry.example/team/msvc:"
		   "0123456789012345678901234567890123456789012345678901234567890123456789",
		   NULL);
	local_name("registry.example/team/", NULL);
}

static void test_sources(void)
{
	char tmpl[] = "/tmp/test-regsource.XXXXXX", *ref = NULL, **names = NULL;
	struct store *s = NULL;
	if (!mkdtemp(tmpl) || store_open(tmpl, &s) < 0)
		abort();
	is_int(snapshot_source_get(s, "msvc", &ref), -ENOENT, "no source yet");
	ok(snapshot_source_list(s, &names) == 0 && !names[0], "none listed");
	strv_free(names);
	is_int(snapshot_source_set(s, "msvc", "h:5000/team/msvc:1"), 0, "a source set");
	is_int(snapshot_source_set(s, "../x", "h:5000/team/msvc:1"), -EINVAL, "a bad snapshot name refused");
	is_int(snapshot_source_set(s, "x", "h/a b"), -EINVAL, "a bad reference refused");
	ok(snapshot_source_get(s, "msvc", &ref) == 0 && !strcmp(ref, "h:5000/team/msvc:1"), "read back");
	free(ref);
	char *path = store_path(s, STORE_SOURCES, "msvc", NULL), *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp.42", path) < 0 || write_file_atomic(tmp, "h/x:1\n", 6, 0600) < 0)
		abort();
	ok(snapshot_source_list(s, &names) == 0 && names[0] && !strcmp(names[0], "msvc") && !names[1],
	   "listed, a leftover temporary file not");
	strv_free(names);
	write_file_atomic(path, "h/x:1\nh/y:2\n", 12, 0600);
	is_int(snapshot_source_get(s, "msvc", &ref), -EBADMSG, "two lines refused");
	write_file_atomic(path, "h/x:1\0evil\n", 11, 0600);
	is_int(snapshot_source_get(s, "msvc", &ref), -EBADMSG, "a NUL refused");
	unlink(path);
	if (symlink("/etc/hostname", path) < 0)
		abort();
	ok(snapshot_source_get(s, "msvc", &ref) < 0, "a link not followed");
	is_int(snapshot_source_set(s, "msvc", NULL), 0, "removed");
	is_int(snapshot_source_set(s, "msvc", NULL), -ENOENT, "removing none: -ENOENT");
	free(path);
	free(tmp);
	store_free(s);
	rm_rf(tmpl);
}

int main(void)
{
	test_names();
	test_sources();
	return tap_done();
}
