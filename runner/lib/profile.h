/* Machine profiles: how QEMU is started for a kind of guest, and what a
 * snapshot must match to be restored. The argv is built here, never by a
 * shell. The Linux test guest is the only profile that boots in tests;
 * Windows joins through the same structure. */
#pragma once
#include "accel.h"
#include "diskfiles.h"
#include "error.h"
#include "qga.h"
#include "smb.h"
#include "util.h"

/* What a snapshot needs from the VM that restores it. */
struct machine {
	char profile[16]; /* "linux" or "windows" */
	unsigned memory_mib;
	unsigned cpus;
	enum accel accel;
	/* Under KVM the guest sees the host's CPU (-cpu host), and a state
	 * saved on one CPU model may not run on another: accel_host_cpu()
	 * of the host that saved it. "" under TCG. */
	char cpu[128];
};

/* Fills m->cpu for the host whose cpuinfo (/proc/cpuinfo) is given: its
 * accel_host_cpu() under KVM, "" under TCG. What a snapshot records, and
 * what a rebuild compares it with. */
int machine_record_cpu(struct machine *m, const char *cpuinfo);

/* Whether a host that runs accel (and whose cpuinfo is given) can restore
 * snapshot name, saved on machine m: the same accelerator, a profile this
 * osrun has, and under KVM the same CPU model. 0, or -EINVAL with e saying
 * why. A run refuses a snapshot with this; `osrun host-info` reports it. */
int machine_check_host(const struct machine *m, const char *name, enum accel accel, const char *cpuinfo,
		       struct error *e);

struct profile {
	const char *name;
	/* The guest-side helper that runs one command (guest-init), and the
	 * arguments it needs (Linux: osrun-guest exec; Windows: osrun-guest.exe
	 * exec). */
	const char *exec_path;
	const char *const *exec_argv;
	/* Makes the per-run share ready while osrun sets the clock (Linux:
	 * mounts it; Windows: waits until it answers); NULL: none. */
	const char *prepare_path;
	const char *const *prepare_argv;
	/* Drops the per-run share before a snapshot is saved. */
	const char *detach_path;
	const char *const *detach_argv;
	/* Stops run OSRUN_RUN_ID's command and the processes it started, so
	 * that the guest takes another command (a session's, after Ctrl-C or
	 * --timeout); NULL: none, the session ends instead. */
	const char *kill_path;
	const char *const *kill_argv;
	/* Copies a tar in the run's share into the guest, or a guest path
	 * into one: "in TAR KIND GUEST NAME" / "out TAR GUEST" (after copy_argv). */
	const char *copy_path;
	const char *const *copy_argv;
	/* The environment guest commands start with; -e adds to it. The
	 * agent replaces the whole environment, so Windows needs its basics. */
	const char *const *base_env;
	/* QEMU's smbd as the guest names it. */
	const char *share_unc;
	/* The stage script's name in a build stage's share. */
	const char *stage_script;
	/* The exec helper follows a stdin that grows while the command runs
	 * (Linux: OSRUN_STDIN=stream; Windows: the request's stdin_stream;
	 * ended by stdin.end); without it, a piped stdin
	 * is read to its end before the command starts. */
	bool stdin_stream;
	/* The command in the helpers' environment (OSRUN_CMD), where the
	 * Linux helper reads it. Windows' helper reads request.json, and a
	 * variable there holds at most 32,767 characters (Microsoft Learn,
	 * "SetEnvironmentVariable"): a longer command would break the copy,
	 * kill and detach helpers, which get the environment. */
	bool command_in_env;
	/* What a failed build stage's evidence copies off the guest's disk
	 * (diskfiles.h), ended by {NULL, NULL}; NULL: nothing. */
	const struct diskfile *evidence_files;
};

const struct profile *profile_find(const char *name);
/* The guest-exec that starts p's command helper; env is the one
 * guest_env made (Linux); Windows' helper gets none (profile.c says why). */
struct qga_exec profile_command_exec(const struct profile *p, char *const *env);

/* What the guest reaches besides osrun's shares (--network). */
enum network {
	NETWORK_NONE,	  /* nothing: QEMU's restrict=on */
	NETWORK_INTERNET, /* outbound connections, but not the host's loopback */
	NETWORK_HOST,	  /* the same, and the host's 127.0.0.1 at 10.0.2.2 */
};

/* Everything that differs between two starts of the same machine. */
struct vm_plan {
	struct machine machine;
	const char *qemu;   /* binary; NULL: $OSRUN_QEMU or qemu-system-x86_64 */
	const char *kernel; /* linux profile: -kernel/-initrd */
	const char *initrd;
	const char *append;
	const char *disk;		 /* qcow2 */
	const char *memory;		 /* guest RAM file; NULL: anonymous RAM (build stages) */
	bool memory_shared;		 /* share=on: RAM writes land in the file */
	const char *share;		 /* host directory behind \\10.0.2.4\qemu */
	const struct smb_share *volumes; /* more shares beside it (--volume) */
	size_t n_volumes;
	bool incoming; /* wait for a saved state instead of booting */
	const char *serial_log;
	const char *monitor; /* debug: HMP on this UNIX socket path; NULL: none */
	const char *vnc;     /* debug: VNC on this UNIX socket path; NULL: none */
	enum network network;
	/* NETWORK_INTERNET: osrun-netguard.so, preloaded into QEMU. */
	const char *netguard;
	/* Build stages only (their state is never saved, so these may differ
	 * from the machine that runs): */
	const char *const *cdroms; /* read-only media, in order */
	bool boot_cdrom;	   /* boot the first medium (Windows Setup) */
	bool reboot_exits;	   /* a guest reboot ends QEMU: one boot per QEMU */
};

/* The argv for plan, with QMP and the agent on already connected sockets. */
int profile_argv(const struct vm_plan *plan, int qmp_fd, int qga_fd, int smb_fd, char ***ret);
