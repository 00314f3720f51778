/* The host's checks: KVM, QEMU, Samba, the user, the network guard. */
#define _GNU_SOURCE
#include "doctor.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/accel.h"
#include "lib/netguard.h"
#include "lib/proc.h"
#include "lib/smb.h"

/* Whether /proc/cpuinfo's flags name a virtualization extension. */
static bool cpu_has_vmx(void)
{
	_cleanup_free_ char *info = NULL;
	if (read_full_file("/proc/cpuinfo", &info, NULL) < 0)
		return true; /* cannot tell: do not blame the CPU */
	return strstr(info, " vmx") || strstr(info, " svm");
}

static bool in_container(void) { return file_exists("/.dockerenv") || file_exists("/run/.containerenv"); }

/* Why there is no /dev/kvm, or it does not open, and the fix. */
static int kvm_unopened(struct doctor_report *r, int err)
{
	char fix[512];
	if (err == EACCES || err == EPERM) {
		struct stat st;
		bool got = stat("/dev/kvm", &st) == 0;
		struct group *g = got ? getgrgid(st.st_gid) : NULL;
		struct passwd *pw = getpwuid(geteuid());
		char user[64];
		snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "USER");
		if (got && (st.st_mode & 060) != 060)
			snprintf(fix, sizeof fix,
				 "/dev/kvm is for its owner alone (mode %03o): give it the kvm group (chgrp kvm "
				 "/dev/kvm; chmod 660 /dev/kvm; udev's rule does this), then usermod -aG kvm %s",
				 (unsigned)(st.st_mode & 0777), user);
		else
			snprintf(fix, sizeof fix,
				 "add the user to group '%s' (usermod -aG %s %s, then log in again); in a container: "
				 "--group-add $(stat -c %%g /dev/kvm)",
				 g ? g->gr_name : "kvm", g ? g->gr_name : "kvm", user);
		return doctor_add(r, "kvm", DOCTOR_WARN, fix, "/dev/kvm: no permission (%s): runs use TCG, slowly",
				  strerror(err));
	}
	if (err != ENOENT)
		return doctor_add(r, "kvm", DOCTOR_WARN, "check the kvm module: dmesg | grep -i kvm",
				  "/dev/kvm: %s: runs use TCG, slowly", strerror(err));
	if (in_container())
		snprintf(fix, sizeof fix, "pass the device: docker run --device=/dev/kvm (and the host needs KVM)");
	else if (!cpu_has_vmx())
		snprintf(fix, sizeof fix,
			 "the CPU shows no vmx/svm: turn on VT-x/AMD-V in the firmware, or nested virtualization "
			 "where this VM is defined");
	else
		snprintf(fix, sizeof fix, "load the module: modprobe kvm_intel (or kvm_amd)");
	return doctor_add(r, "kvm", DOCTOR_WARN, fix, "no /dev/kvm: runs use TCG, slowly");
}

static int check_kvm(struct doctor_report *r)
{
	const char *forced = getenv("OSRUN_ACCEL");
	if (forced && !strcmp(forced, "tcg"))
		return doctor_add(r, "kvm", DOCTOR_WARN, "unset OSRUN_ACCEL", "OSRUN_ACCEL=tcg: KVM is not tried");
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return kvm_unopened(r, errno);
	close(fd);
	_cleanup_free_ char *why = NULL, *version = NULL;
	int k = proc_version_line(accel_qemu_binary(), &version);
	if (k == -ENOMEM)
		return k;
	if (k < 0)
		return doctor_add(r, "kvm", DOCTOR_WARN, "install QEMU (see the qemu check), then ask again",
				  "/dev/kvm opens; whether QEMU can use it is not known: %s does not run",
				  accel_qemu_binary());
	k = accel_kvm_probe(accel_qemu_binary(), &why);
	if (k < 0)
		return k;
	if (!why)
		return doctor_add(r, "kvm", DOCTOR_OK, NULL, "/dev/kvm usable: runs use KVM");
	/* A /dev/kvm that opens on a CPU without vmx: a VM whose hypervisor
	 * does not pass virtualization on. */
	if (!cpu_has_vmx())
		return doctor_add(r, "kvm", DOCTOR_WARN,
				  "turn on nested virtualization where this VM is defined (kvm_intel nested=1 on "
				  "its host, or the cloud's nested option)",
				  "/dev/kvm opens but is not usable, nested virtualization is off (the CPU shows no "
				  "vmx/svm; %s): runs use TCG, slowly",
				  why);
	return doctor_add(r, "kvm", DOCTOR_WARN, "check dmesg for kvm errors",
			  "/dev/kvm opens but is not usable (%s): runs use TCG, slowly", why);
}

static int check_tools(struct doctor_report *r)
{
	_cleanup_free_ char *qemu = NULL, *smbd = NULL;
	int k = proc_version_line(accel_qemu_binary(), &qemu);
	k = k == -ENOMEM ? k
	    : k < 0	 ? doctor_add(r, "qemu", DOCTOR_FAIL,
				      "apt-get install qemu-system-x86 qemu-utils (or set OSRUN_QEMU)",
				      "%s --version failed: %s", accel_qemu_binary(), strerror(-k))
			 : doctor_add(r, "qemu", DOCTOR_OK, NULL, "%s (tested: 7.2)", qemu);
	if (k < 0)
		return k;
	k = proc_version_line(smb_binary(), &smbd);
	if (k == -ENOMEM)
		return k;
	if (k < 0)
		return doctor_add(r, "samba", DOCTOR_FAIL, "apt-get install samba (or set OSRUN_SMBD)",
				  "%s --version failed: %s", smb_binary(), strerror(-k));
	return doctor_add(r, "samba", DOCTOR_OK, NULL, "smbd %s (tested: 4.17)", smbd);
}

static int check_user(struct doctor_report *r)
{
	uid_t uid = geteuid();
	struct passwd *pw = getpwuid(uid);
	if (pw && !strcmp(pw->pw_name, "nobody"))
		return doctor_add(r, "user", DOCTOR_FAIL, "run as another user (docker run --user 1000:1000, say)",
				  "user 'nobody' (uid %u) is smbd's guest account: the guest could not write its "
				  "output",
				  (unsigned)uid);
	if (pw)
		return doctor_add(r, "user", DOCTOR_OK, NULL, "user '%s' (uid %u)", pw->pw_name, (unsigned)uid);
	const char *lib = smb_nss_wrapper();
	if (!lib)
		return doctor_add(
			r, "user", DOCTOR_FAIL, "apt-get install libnss-wrapper, or run as a user with a passwd entry",
			"uid %u has no passwd entry, and there is no nss_wrapper to give smbd a name", (unsigned)uid);
	return doctor_add(r, "user", DOCTOR_OK, NULL,
			  "uid %u has no passwd entry: smbd gets a name from nss_wrapper (%s)", (unsigned)uid, lib);
}

/* The guard is loadable when QEMU, started with it preloaded, reports. */
static int check_netguard(struct doctor_report *r)
{
	const char *so = getenv("OSRUN_NETGUARD");
	so = so && *so ? so : OSRUN_NETGUARD;
	const char *fix = "make install (or set OSRUN_NETGUARD to osrun-netguard.so)";
	if (!netguard_path_usable(so) || !file_exists(so))
		return doctor_add(r, "netguard", DOCTOR_WARN, fix, "%s: %s: --network internet would be refused", so,
				  file_exists(so) ? "not an absolute path LD_PRELOAD can carry" : "not found");
	_cleanup_(netguard_release) struct netguard ng = NETGUARD_NULL;
	int k = netguard_prepare(so, &ng);
	if (k < 0)
		return k;
	char *const argv[] = {(char *)accel_qemu_binary(), "--version", NULL};
	struct proc_spec spec = {.argv = argv,
				 .setenv = ng.env,
				 .keep_fds = &ng.report_theirs,
				 .n_keep = 1,
				 .stdin_fd = -1,
				 .stdout_fd = -1,
				 .stderr_fd = -1};
	pid_t pid;
	int st = 0;
	if ((k = proc_spawn(&spec, &pid)) == 0 && (k = proc_wait(pid, 10 * USEC_PER_SEC, &st)) < 0)
		proc_kill_and_reap(pid, 0);
	if (k == 0 && netguard_confirm(&ng) == 0)
		return doctor_add(r, "netguard", DOCTOR_OK, NULL, "%s loads into QEMU", so);
	return doctor_add(r, "netguard", DOCTOR_WARN, fix,
			  "%s did not load into %s: --network internet would be refused", so, accel_qemu_binary());
}

int doctor_host(struct doctor_report *r)
{
	int k;
	if ((k = check_kvm(r)) < 0 || (k = check_tools(r)) < 0)
		return k;
	return 0;
}

int doctor_user(struct doctor_report *r)
{
	int k = check_user(r);
	return k < 0 ? k : check_netguard(r);
}
