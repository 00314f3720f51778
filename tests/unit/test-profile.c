#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

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
	is_int(profile_argv(&p, 7, 9, 11, &v), 0, "argv built");
	is_str(v ? v[0] : NULL, "qemu-system-x86_64", "QEMU binary first, no shell");
	ok(any_contains(v, "mem-path=/store/a,,b/memory,share=off"), "commas in paths doubled; private RAM by default");
	ok(any_contains(v, "file=/store/a,,b/disk.qcow2,"), "disk path escaped");
	is_str(after(v, "-incoming"), "defer", "restore waits for a state");
	ok(any_contains(v, "socket,id=qmp0,fd=7") && any_contains(v, "socket,id=qga0,fd=9"),
	   "QMP and agent on the given descriptors");
	ok(!has(v, "-vnc") && !any_contains(v, "hmp0"), "no debug listener unless asked");
	is_str(after(v, "-netdev"), "user,id=net0,restrict=on,guestfwd=tcp:10.0.2.4:445-unix:fd=11",
	       "the guest's SMB port goes to osrun's socket, given by descriptor; no smb=; nothing else by default");
	ok(!any_contains(v, "-tcp:") && !any_contains(v, "0.0.0.0") && !any_contains(v, "127.0.0.1"),
	   "nothing on a host network address");
	is_str(after(v, "-accel"), "tcg", "TCG");
	ok(!has(v, "-cpu"), "no -cpu under TCG");
	strv_free(v);

	p.memory_shared = true;
	p.incoming = false;
	p.machine.accel = ACCEL_KVM;
	p.monitor = "/run/x/monitor.sock";
	p.vnc = "/run/x/vnc,1.sock";
	p.network = NETWORK_INTERNET;
	v = NULL;
	is_int(profile_argv(&p, 7, 9, 11, &v), 0, "argv with debug listeners");
	ok(any_contains(v, "share=on"), "shared RAM when saving");
	ok(!has(v, "-incoming"), "a boot does not wait for a state");
	is_str(after(v, "-cpu"), "host", "-cpu host under KVM");
	is_str(after(v, "-vnc"), "unix:/run/x/vnc,,1.sock", "VNC on the UNIX socket asked for, no port");
	is_str(after(v, "-netdev"), "user,id=net0,guestfwd=tcp:10.0.2.4:445-unix:fd=11",
	       "--network internet: no restrict (the preloaded guard keeps the loopback out)");
	p.network = NETWORK_HOST;
	strv_free(v);
	v = NULL;
	is_int(profile_argv(&p, 7, 9, 11, &v), 0, "argv under --network host");
	is_str(after(v, "-netdev"), "user,id=net0,guestfwd=tcp:10.0.2.4:445-unix:fd=11",
	       "--network host: the same device, so snapshots restore under any policy");
	ok(any_contains(v, "path=/run/x/monitor.sock,server=on"), "monitor on the UNIX socket asked for");
	ok(!has(v, "VGA"), "no display device added for VNC (the saved state must fit)");
	strv_free(v);

	/* A build stage: media, anonymous RAM, a reboot ends QEMU. */
	const char *const media[] = {"/iso/win.iso", "/iso/setup,1.iso", NULL};
	struct vm_plan st = {
		.machine = {.profile = "windows", .memory_mib = 4096, .cpus = 2, .accel = ACCEL_KVM},
		.disk = "/store/stages/setup/disk.qcow2",
		.share = "/run/x/stage-setup",
		.cdroms = media,
		.boot_cdrom = true,
		.reboot_exits = true,
	};
	v = NULL;
	ok(profile_find("linux")->command_in_env && !profile_find("windows")->command_in_env,
	   "the command goes in the helpers' environment on Linux only (Windows: 32,767 characters a variable)");
	is_int(profile_argv(&st, 7, 9, 11, &v), 0, "windows stage argv");
	ok(!has(v, "-kernel"), "windows boots its own disk, no -kernel");
	is_str(after(v, "-cpu"), "host,hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_time,hv_vpindex,hv_synic,hv_stimer",
	       "Hyper-V enlightenments that migrate under KVM");
	ok(!any_contains(v, "invtsc"), "no invtsc (it blocks migration)");
	is_str(after(v, "-rtc"), "base=utc", "RTC in UTC: the guest's zone is UTC, whatever the host's");
	is_str(after(v, "-action"), "reboot=shutdown", "a guest reboot ends the stage's QEMU");
	ok(any_contains(v, "memory-backend-ram,id=ram0,size=4096M"), "a stage's RAM is anonymous");
	ok(any_contains(v, "file=/iso/setup,,1.iso,if=none,id=cd1,media=cdrom,readonly=on"),
	   "media read-only, escaped");
	ok(any_contains(v, "ide-cd,drive=cd0,bus=ide.0,bootindex=0") && any_contains(v, "bootindex=1"),
	   "Setup boots from the first medium, the disk after");
	ok(any_contains(v, "format=qcow2"), "qcow2 disk only (raw blocks snapshots)");
	ok(any_contains(v, "format=qcow2,cache=unsafe,discard=unmap"), "a guest's TRIM reaches the layer (ReTrim)");
	strv_free(v);
	st.machine.accel = ACCEL_TCG;
	st.cdroms = NULL;
	st.boot_cdrom = st.reboot_exits = false;
	v = NULL;
	is_int(profile_argv(&st, 7, 9, 11, &v), 0, "windows run argv");
	is_str(after(v, "-cpu"), "max", "TCG: no enlightenments, a CPU with SSE4.2 and POPCNT");
	ok(!has(v, "-action") && !any_contains(v, "ide-cd") && !any_contains(v, "bootindex"),
	   "a run's machine has no build media");
	strv_free(v);

	snprintf(p.machine.profile, sizeof p.machine.profile, "macos");
	v = NULL;
	is_int(profile_argv(&p, 7, 9, 11, &v), -EOPNOTSUPP, "a profile this osrun lacks is refused");
	ok(profile_find("linux") && profile_find("windows") && !profile_find("nope"), "profile lookup");
	/* How the command helper is started (issue 13 item 3): on Windows
	 * without captured output, which a command's background process would
	 * hold open (the agent reports "exited" only once those pipes close),
	 * and without an environment, which would replace the machine's. */
	char *env1[] = {"A=1", NULL};
	struct qga_exec xw = profile_command_exec(profile_find("windows"), env1),
			xl = profile_command_exec(profile_find("linux"), env1);
	ok(!xw.capture && !xw.env, "Windows: no pipes to the agent, the machine's environment");
	ok(!strcmp(xw.path, "C:\\osrun\\osrun-guest.exe") && xw.argv && strv_length(xw.argv) == 1 &&
		   !strcmp(xw.argv[0], "exec"),
	   "Windows: osrun-guest.exe exec, no PowerShell");
	ok(!strcmp(profile_find("windows")->kill_path, "C:\\osrun\\osrun-guest.exe") &&
		   !strcmp(profile_find("windows")->kill_argv[0], "kill"),
	   "Windows: osrun-guest.exe kill");
	ok(profile_find("windows")->stdin_stream, "Windows: a piped stdin streams while the command runs");
	ok(xl.capture && xl.env == env1, "Linux: the helper's stderr captured (before the share), its environment");
	ok(profile_find("windows")->prepare_argv &&
		   strstr(profile_find("windows")
				  ->prepare_argv[strv_length((char *const *)profile_find("windows")->prepare_argv) - 1],
			  "mount"),
	   "Windows: a share helper runs while the clock is set");
	/* The CPU a KVM snapshot was saved on: /proc/cpuinfo's first processor. */
	char info[] = "/tmp/osrun-test-cpuinfo.XXXXXX", cpu[128];
	int fd = mkstemp(info);
	const char *text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
			   "model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\nstepping\t: 4\n\n"
			   "processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
			   "model name\t: AMD EPYC\n";
	ok(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "a cpuinfo");
	close(fd);
	is_int(accel_host_cpu(info, cpu, sizeof cpu), 0, "read");
	is_str(cpu, "GenuineIntel 6/85 Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
	       "vendor, family/model (not 'model name' taken for 'model'), name; the first processor only");
	/* What a saved snapshot records (final.c) and a rebuild compares. */
	struct machine kvm = {.accel = ACCEL_KVM, .cpu = "stale"}, tcg = {.accel = ACCEL_TCG, .cpu = "stale"};
	is_int(machine_record_cpu(&kvm, info), 0, "a KVM machine records the host's CPU");
	is_str(kvm.cpu, cpu, "the CPU a KVM snapshot records is accel_host_cpu()'s");
	is_int(machine_record_cpu(&tcg, info), 0, "a TCG machine records none");
	is_str(tcg.cpu, "", "TCG: no CPU model (its state moves between hosts)");
	fd = open(info, O_WRONLY | O_TRUNC);
	ok(fd >= 0 && write(fd, "processor\t: 0\nflags\t: fpu\n", 27) == 27, "a cpuinfo without a model");
	close(fd);
	is_int(accel_host_cpu(info, cpu, sizeof cpu), -ENODATA, "no model: -ENODATA");
	is_int(machine_record_cpu(&kvm, info), -ENODATA, "KVM without a readable model: refused, not recorded empty");
	unlink(info);
	is_int(accel_host_cpu("/nonexistent/cpuinfo", cpu, sizeof cpu), -ENOENT, "no file: -ENOENT");
	enum accel a;
	ok(accel_from_string("kvm", &a) == 0 && a == ACCEL_KVM && accel_from_string("xen", &a) == -EINVAL,
	   "accelerator names");
	return tap_done();
}
