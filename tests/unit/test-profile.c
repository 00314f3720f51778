#define _GNU_SOURCE
#include <stdbool.h>

#include "../../runner/lib/profile.h"
#include "tap.h"

static bool has(char **v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

/* The value after option opt, or NULL. */
static const char *after(char **v, const char *opt)
{
	for (; v && v[0] && v[1]; v++)
		if (!strcmp(v[0], opt))
			return v[1];
	return NULL;
}

static bool any_contains(char **v, const char *needle)
{
	for (; v && *v; v++)
		if (strstr(*v, needle))
			return true;
	return false;
}

int main(void)
{
	struct vm_plan p = {
		.machine = {.profile = "linux", .memory_mib = 256, .cpus = 2, .accel = ACCEL_TCG},
		.qemu = "qemu-system-x86_64",
		.kernel = "/k",
		.initrd = "/i",
		.disk = "/store/a,b/disk.qcow2",
		.memory = "/store/a,b/memory",
		.share = "/run/x/share",
		.incoming = true,
	};
	char **v = NULL;
	is_int(profile_argv(&p, 7, 9, &v), 0, "argv built");
	is_str(v ? v[0] : NULL, "qemu-system-x86_64", "QEMU binary first, no shell");
	ok(any_contains(v, "mem-path=/store/a,,b/memory,share=off"), "commas in paths doubled; private RAM by default");
	ok(any_contains(v, "file=/store/a,,b/disk.qcow2,"), "disk path escaped");
	is_str(after(v, "-incoming"), "defer", "restore waits for a state");
	ok(any_contains(v, "socket,id=qmp0,fd=7") && any_contains(v, "socket,id=qga0,fd=9"),
	   "QMP and agent on the given descriptors");
	ok(!has(v, "-vnc") && !any_contains(v, "hmp0"), "no debug listener unless asked");
	ok(!any_contains(v, "tcp:") && !any_contains(v, "0.0.0.0"), "nothing on a network address");
	ok(any_contains(v, "smb=/run/x/share"), "the share is QEMU's smb=");
	is_str(after(v, "-accel"), "tcg", "TCG");
	ok(!has(v, "-cpu"), "no -cpu under TCG");
	strv_free(v);

	p.memory_shared = true;
	p.incoming = false;
	p.machine.accel = ACCEL_KVM;
	p.monitor = "/run/x/monitor.sock";
	p.vnc = true;
	v = NULL;
	is_int(profile_argv(&p, 7, 9, &v), 0, "argv with debug listeners");
	ok(any_contains(v, "share=on"), "shared RAM when saving");
	ok(!has(v, "-incoming"), "a boot does not wait for a state");
	is_str(after(v, "-cpu"), "host", "-cpu host under KVM");
	is_str(after(v, "-vnc"), "127.0.0.1:0,to=99", "VNC on loopback only");
	ok(any_contains(v, "path=/run/x/monitor.sock,server=on"), "monitor on the UNIX socket asked for");
	ok(!has(v, "VGA"), "no display device added for VNC (the saved state must fit)");
	strv_free(v);

	snprintf(p.machine.profile, sizeof p.machine.profile, "windows");
	v = NULL;
	is_int(profile_argv(&p, 7, 9, &v), -EOPNOTSUPP, "a profile this osrun lacks is refused");
	ok(profile_find("linux") && !profile_find("nope"), "profile lookup");
	enum accel a;
	ok(accel_from_string("kvm", &a) == 0 && a == ACCEL_KVM && accel_from_string("xen", &a) == -EINVAL,
	   "accelerator names");
	return tap_done();
}
