#define _GNU_SOURCE
#include "profile.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

// clang-format off
static const char *const linux_env[] = {
	"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
	"HOME=/root",
	"TERM=dumb",
	"LANG=C.UTF-8",
	NULL,
};
// clang-format on

/* The environment of the share, detach, kill and copy helpers (guest-exec's
 * env replaces the whole of it). The command helper gets none: it keeps the
 * agent's, which is the machine's, and refreshes it from the registry
 * (guest-init/windows/osrun-guest/environ.c). */
static const char *const windows_env[] = {
	"SystemRoot=C:\\Windows",
	"windir=C:\\Windows",
	"SystemDrive=C:",
	"ComSpec=C:\\Windows\\system32\\cmd.exe",
	"PATH=C:\\Windows\\system32;C:\\Windows;C:\\Windows\\System32\\Wbem;"
	"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\",
	"PATHEXT=.COM;.EXE;.BAT;.CMD;.VBS;.JS;.WSF;.MSC;.PS1",
	"TEMP=C:\\Windows\\Temp",
	"TMP=C:\\Windows\\Temp",
	"ProgramData=C:\\ProgramData",
	"ProgramFiles=C:\\Program Files",
	"ProgramFiles(x86)=C:\\Program Files (x86)",
	"USERPROFILE=C:\\Windows\\system32\\config\\systemprofile",
	NULL,
};

/* One static program for every job (guest-init/linux/osrun-guest): under
 * TCG each fork and exec costs tens of milliseconds. */
#define LINUX_HELPER "/usr/lib/osrun/osrun-guest"
static const char *const linux_exec_argv[] = {"exec", NULL};
static const char *const linux_prepare_argv[] = {"mount", NULL};
static const char *const linux_detach_argv[] = {"detach", NULL};
static const char *const linux_kill_argv[] = {"kill", NULL};
static const char *const linux_copy_argv[] = {"copy", NULL};

/* One C program for the per-run verbs (firstlogon.ps1 installs it): no
 * PowerShell start-up in a run. */
#define GUEST_EXE "C:\\osrun\\osrun-guest.exe"
static const char *const windows_exec_argv[] = {"exec", NULL};
static const char *const windows_detach_argv[] = {"detach", NULL};
static const char *const windows_prepare_argv[] = {"mount", NULL};
static const char *const windows_kill_argv[] = {"kill", NULL};
static const char *const windows_copy_argv[] = {"copy", NULL};

/* Windows Setup's logs after the disk is set up (Microsoft's "Windows
 * Setup log files and event logs": %WINDIR%\Panther, and UnattendGC for
 * the specialize and OOBE passes' unattend actions) and the stage runner's
 * own (guest-init/windows). The Linux test guest stands in for Windows
 * here too: a disk with such an NTFS volume (a test's) gives the same
 * files, its own ext4 disk none. */
static const struct diskfile windows_evidence[] = {
	{"Windows/Panther/setupact.log", "setupact.log"},
	{"Windows/Panther/setuperr.log", "setuperr.log"},
	{"Windows/Panther/UnattendGC/setupact.log", "UnattendGC-setupact.log"},
	{"osrun/build.log", "build.log"},
	{NULL, NULL},
};

static const struct profile profiles[] = {
	{
		.name = "linux",
		.exec_path = LINUX_HELPER,
		.exec_argv = linux_exec_argv,
		.prepare_path = LINUX_HELPER,
		.prepare_argv = linux_prepare_argv,
		.detach_path = LINUX_HELPER,
		.detach_argv = linux_detach_argv,
		.kill_path = LINUX_HELPER,
		.kill_argv = linux_kill_argv,
		.copy_path = LINUX_HELPER,
		.copy_argv = linux_copy_argv,
		.base_env = linux_env,
		.share_unc = "//10.0.2.4/qemu",
		.stage_script = "stage.sh",
		.stdin_stream = true,
		.command_in_env = true,
		.evidence_files = windows_evidence,
	},
	{
		.name = "windows",
		.exec_path = GUEST_EXE,
		.exec_argv = windows_exec_argv,
		.prepare_path = GUEST_EXE,
		.prepare_argv = windows_prepare_argv,
		.detach_path = GUEST_EXE,
		.detach_argv = windows_detach_argv,
		.kill_path = GUEST_EXE,
		.kill_argv = windows_kill_argv,
		.copy_path = GUEST_EXE,
		.copy_argv = windows_copy_argv,
		.base_env = windows_env,
		.share_unc = "\\\\10.0.2.4\\qemu",
		.stage_script = "stage.ps1",
		.stdin_stream = true,
		.evidence_files = windows_evidence,
	},
};

struct qga_exec profile_command_exec(const struct profile *p, char *const *env)
{
	bool windows = !strcmp(p->name, "windows");
	/* Windows: the helper keeps the agent's (the machine's) environment
	 * and has no pipes to the agent, which a command's background process
	 * would inherit and hold: the agent says a process with captured
	 * output has exited only once its pipes close (qga/commands.c,
	 * guest_exec_status), so the run would wait until its timeout. */
	return (struct qga_exec){.path = p->exec_path,
				 .argv = (char *const *)p->exec_argv,
				 .env = windows ? NULL : env,
				 .capture = !windows};
}

const struct profile *profile_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(profiles); i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

static int add(char ***v, const char *fmt, ...) _printf_(2, 3);
static int add(char ***v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *s = NULL;
	int k = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (k < 0)
		return -ENOMEM;
	*v = strv_append(*v, s);
	return *v ? 0 : -ENOMEM;
}

/* QEMU's key=value option syntax doubles commas inside a value. */
static char *opt_escape(const char *s)
{
	char *o = malloc(strlen(s) * 2 + 1), *p = o;
	if (!o)
		return NULL;
	for (; *s; s++) {
		*p++ = *s;
		if (*s == ',')
			*p++ = ',';
	}
	*p = 0;
	return o;
}

/* Windows under KVM gets the Hyper-V enlightenments that migrate (no
 * invtsc, no hv_reenlightenment); TCG has none to offer, and its "max" CPU
 * has the SSE4.2 and POPCNT that Windows 11 24H2 requires. */
#define WINDOWS_KVM_CPU "host,hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_time,hv_vpindex,hv_synic,hv_stimer"

int profile_argv(const struct vm_plan *p, int qmp_fd, int qga_fd, int smb_fd, char ***ret)
{
	const struct machine *m = &p->machine;
	bool windows = !strcmp(m->profile, "windows");
	if (!windows && strcmp(m->profile, "linux"))
		return -EOPNOTSUPP;
	if (!windows && (!p->kernel || !p->initrd))
		return -EINVAL;
	const char *qemu = p->qemu ? p->qemu : getenv("OSRUN_QEMU");
	_cleanup_free_ char *mem = p->memory ? opt_escape(p->memory) : NULL, *disk = opt_escape(p->disk),
			    *serial = p->serial_log ? opt_escape(p->serial_log) : NULL;
	if ((p->memory && !mem) || !disk || (p->serial_log && !serial))
		return -ENOMEM;

	_cleanup_strv_free_ char **v = NULL;
	int r = 0;
	/* Order and devices must not change between save and restore: the
	 * migration stream names devices by their place on the bus. */
	r |= add(&v, "%s", qemu && *qemu ? qemu : "qemu-system-x86_64");
	r |= add(&v, "-nodefaults");
	r |= add(&v, "-no-user-config");
	r |= add(&v, "-display");
	r |= add(&v, "none");
	r |= add(&v, "-machine");
	r |= add(&v, "q35,memory-backend=ram0");
	r |= add(&v, "-accel");
	r |= add(&v, "%s", accel_to_string(m->accel));
	if (m->accel == ACCEL_KVM || windows) {
		r |= add(&v, "-cpu");
		r |= add(&v, "%s", m->accel == ACCEL_TCG ? "max" : windows ? WINDOWS_KVM_CPU : "host");
	}
	r |= add(&v, "-smp");
	r |= add(&v, "%u", m->cpus);
	r |= add(&v, "-m");
	r |= add(&v, "%u", m->memory_mib);
	r |= add(&v, "-object");
	if (mem)
		r |= add(&v, "memory-backend-file,id=ram0,size=%uM,mem-path=%s,share=%s", m->memory_mib, mem,
			 p->memory_shared ? "on" : "off");
	else
		r |= add(&v, "memory-backend-ram,id=ram0,size=%uM", m->memory_mib);
	if (windows) {
		/* Windows reads the RTC as local time, and the answer file sets
		 * its time zone to UTC: so the RTC must run in UTC, whatever the
		 * host's zone is (base=localtime would be the host's). */
		r |= add(&v, "-rtc");
		r |= add(&v, "base=utc");
		r |= add(&v, "-device");
		r |= add(&v, "VGA");
	} else {
		r |= add(&v, "-kernel");
		r |= add(&v, "%s", p->kernel);
		r |= add(&v, "-initrd");
		r |= add(&v, "%s", p->initrd);
		r |= add(&v, "-append");
		r |= add(&v, "console=ttyS0 quiet%s%s", p->append && *p->append ? " " : "", p->append ? p->append : "");
	}
	r |= add(&v, "-serial");
	if (serial)
		r |= add(&v, "file:%s", serial);
	else
		r |= add(&v, "null");
	r |= add(&v, "-chardev");
	r |= add(&v, "socket,id=qmp0,fd=%d", qmp_fd);
	r |= add(&v, "-mon");
	r |= add(&v, "chardev=qmp0,mode=control");
	r |= add(&v, "-device");
	r |= add(&v, "virtio-serial-pci,id=vser0");
	r |= add(&v, "-chardev");
	r |= add(&v, "socket,id=qga0,fd=%d", qga_fd);
	r |= add(&v, "-device");
	r |= add(&v, "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0");
	r |= add(&v, "-netdev");
	/* The guest's SMB server is osrun's, on an inherited socket (smb.h).
	 * restrict=on drops every packet but those to a guestfwd (libslirp's
	 * tcp_input/udp_input): without it the guest reaches the internet and,
	 * at 10.0.2.2, everything on the host's 127.0.0.1, unless QEMU runs
	 * with osrun-netguard.so (vm.c). The device is the same either way, so
	 * a snapshot restores under any policy. */
	const char *restrict_ = p->network != NETWORK_NONE ? "" : ",restrict=on";
	if (p->share)
		r |= add(&v, "user,id=net0%s,guestfwd=tcp:10.0.2.4:445-unix:fd=%d", restrict_, smb_fd);
	else
		r |= add(&v, "user,id=net0%s", restrict_);
	r |= add(&v, "-device");
	r |= add(&v, "virtio-net-pci,netdev=net0");
	r |= add(&v, "-drive");
	/* discard=unmap: a guest's TRIM (Windows' ReTrim in cleanup.ps1)
	 * frees the layer's clusters; with a backing file qcow2 v3 keeps them
	 * reading as zeros. The device's features, which a saved state
	 * holds, do not change with it. */
	r |= add(&v, "file=%s,if=none,id=disk0,format=qcow2,cache=unsafe,discard=unmap", disk);
	r |= add(&v, "-device");
	r |= add(&v, "virtio-blk-pci,drive=disk0%s", p->cdroms && p->cdroms[0] ? ",bootindex=1" : "");
	/* A new generation id per start tells a guest (Windows) it was cloned. */
	r |= add(&v, "-device");
	r |= add(&v, "vmgenid");
	/* Build media on the q35 AHCI ports; no snapshot carries them. */
	for (size_t i = 0; p->cdroms && p->cdroms[i]; i++) {
		_cleanup_free_ char *iso = opt_escape(p->cdroms[i]);
		if (!iso || i >= 6)
			return iso ? -E2BIG : -ENOMEM;
		r |= add(&v, "-drive");
		r |= add(&v, "file=%s,if=none,id=cd%zu,media=cdrom,readonly=on", iso, i);
		r |= add(&v, "-device");
		r |= add(&v, "ide-cd,drive=cd%zu,bus=ide.%zu%s", i, i, i == 0 && p->boot_cdrom ? ",bootindex=0" : "");
	}
	if (p->reboot_exits) {
		r |= add(&v, "-action");
		r |= add(&v, "reboot=shutdown");
	}
	/* Debug listeners only on request, never on a network address. */
	if (p->monitor) {
		_cleanup_free_ char *mon = opt_escape(p->monitor);
		if (!mon)
			return -ENOMEM;
		r |= add(&v, "-chardev");
		r |= add(&v, "socket,id=hmp0,path=%s,server=on,wait=off", mon);
		r |= add(&v, "-mon");
		r |= add(&v, "chardev=hmp0,mode=readline");
	}
	/* No display device is added for VNC: the saved state must fit the
	 * machine, so the profile alone decides what the screen is. */
	/* A UNIX socket, not a loopback port: a guest with internet access
	 * reaches the host's loopback, and VNC has no password. */
	if (p->vnc) {
		_cleanup_free_ char *vnc = opt_escape(p->vnc);
		if (!vnc)
			return -ENOMEM;
		r |= add(&v, "-vnc");
		r |= add(&v, "unix:%s", vnc);
	}
	if (p->incoming) {
		r |= add(&v, "-incoming");
		r |= add(&v, "defer");
	}
	if (r < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(v);
	return 0;
}

int machine_record_cpu(struct machine *m, const char *cpuinfo)
{
	char cpu[sizeof m->cpu] = "";
	int r = m->accel == ACCEL_KVM ? accel_host_cpu(cpuinfo, cpu, sizeof cpu) : 0;
	if (r < 0)
		return r;
	memcpy(m->cpu, cpu, sizeof cpu);
	return 0;
}

int machine_check_host(const struct machine *m, const char *name, enum accel accel, const char *cpuinfo,
		       struct error *e)
{
	if (m->accel != accel)
		return error_set(e, -EINVAL,
				 "snapshot '%s' was saved under %s and this host runs %s; make a new one here, or set "
				 "OSRUN_ACCEL=%s",
				 name, accel_to_string(m->accel), accel_to_string(accel), accel_to_string(m->accel));
	if (!profile_find(m->profile))
		return error_set(e, -EINVAL, "snapshot '%s' needs machine profile '%s', which this osrun does not have",
				 name, m->profile);
	/* Refused here, not by QEMU's load or by a guest that crashes later. */
	char cpu[sizeof m->cpu];
	if (accel == ACCEL_KVM && *m->cpu && accel_host_cpu(cpuinfo, cpu, sizeof cpu) == 0 && strcmp(cpu, m->cpu))
		return error_set(e, -EINVAL,
				 "snapshot '%s' was saved under KVM on a %s; this host's CPU is a %s, and a guest's "
				 "state does not move between CPU models: make a new snapshot on this host",
				 name, m->cpu, cpu);
	return 0;
}
