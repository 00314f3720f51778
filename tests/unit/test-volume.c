/* The specs of --volume, --cache-volume, --copy-in and --copy-out, as users
 * write them for both guests. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/stat.h>

#include "../../runner/volume.h"
#include "tap.h"

int main(void)
{
	char tmpl[] = "/tmp/osrun-unit.XXXXXX", spec[512];
	char *t = mkdtemp(tmpl);
	struct error e = {0};
	struct run_volume v;
	struct run_copy c;

	snprintf(spec, sizeof spec, "%s:/work", t);
	is_int(volume_parse(spec, &v, &e), 0, "HOST:GUEST");
	ok(v.host && !strcmp(v.host, t) && !strcmp(v.guest, "/work") && !v.read_only, "read-write by default");
	run_volume_release(&v);
	snprintf(spec, sizeof spec, "%s/.:C:\\src:ro", t);
	is_int(volume_parse(spec, &v, &e), 0, "HOST:C:\\src:ro");
	ok(!strcmp(v.host, t) && !strcmp(v.guest, "C:\\src") && v.read_only, "a drive path, read-only, host resolved");
	run_volume_release(&v);
	snprintf(spec, sizeof spec, "%s:X:", t);
	is_int(volume_parse(spec, &v, &e), 0, "a drive letter alone");
	is_str(v.guest, "X:", "guest X:");
	run_volume_release(&v);
	snprintf(spec, sizeof spec, "%s:/a\nb", t);
	is_int(volume_parse(spec, &v, &e), -EINVAL, "a newline in the guest path is refused");
	ok(strstr(e.msg, "control character") != NULL, "and said: %s", e.msg);
	is_int(volume_parse("/no/such/dir:/x", &v, &e), -ENOENT, "a missing host directory");
	ok(strstr(e.msg, "/no/such/dir") != NULL, "is named: %s", e.msg);
	is_int(volume_parse(":/x", &v, &e), -EINVAL, "no host directory");
	/* smbd would serve v%Uw as "v" + the guest's user name + "w". */
	char pct[256];
	snprintf(pct, sizeof pct, "%s/v%%Uw", t);
	ok(mkdir(pct, 0700) == 0, "a host directory named v%%Uw");
	snprintf(spec, sizeof spec, "%s:/mnt/v", pct);
	is_int(volume_parse(spec, &v, &e), -EINVAL, "a host path with '%%' is refused");
	ok(strstr(e.msg, pct) && strstr(e.msg, "'%'"), "and said: %s", e.msg);
	snprintf(spec, sizeof spec, "%s/link", t);
	ok(symlink(pct, spec) == 0, "a link to it");
	snprintf(spec + strlen(spec), sizeof spec - strlen(spec), ":/mnt/v");
	is_int(volume_parse(spec, &v, &e), -EINVAL, "so is a link that resolves to one");

	is_int(cache_volume_parse("opam:/root/.opam", &v, &e), 0, "NAME:GUEST");
	ok(!v.host && !strcmp(v.cache, "opam") && !strcmp(v.guest, "/root/.opam"), "a cache volume has no host path");
	run_volume_release(&v);
	is_int(cache_volume_parse("../x:/y", &v, &e), -EINVAL, "a cache name with '/' is refused");

	snprintf(spec, sizeof spec, "%s:C:\\build", t);
	is_int(copy_parse(spec, false, &c, &e), 0, "copy-in HOST:C:\\build");
	is_str(c.guest, "C:\\build", "the guest path keeps its drive");
	run_copy_release(&c);
	snprintf(spec, sizeof spec, "C:\\build\\out:%s", t);
	is_int(copy_parse(spec, true, &c, &e), 0, "copy-out C:\\build\\out:HOST");
	ok(!strcmp(c.guest, "C:\\build\\out") && !strcmp(c.host, t), "split after the drive");
	run_copy_release(&c);
	snprintf(spec, sizeof spec, "/out:%s/missing/dir/x", t);
	is_int(copy_parse(spec, true, &c, &e), -ENOENT, "copy-out into a missing directory");
	is_int(copy_parse("/nonexistent-host-path:/x", false, &c, &e), -ENOENT, "copy-in of a missing path");
	ok(strstr(e.msg, "/nonexistent-host-path: No such file") != NULL, "names it: %s", e.msg);

	struct run_volume list[2] = {{.guest = "/work"}, {.guest = "/mnt/a b", .read_only = true}};
	char *text = volume_guest_list(list, 2);
	is_str(text, "v0 rw /work\nv1 ro /mnt/a b\n", "the guest's list: share, mode, path");
	free(text);
	snprintf(spec, sizeof spec, "%s/link", t);
	unlink(spec);
	rmdir(pct);
	rmdir(t);
	return tap_done();
}
