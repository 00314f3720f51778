/* Machine profiles: how QEMU is started for a kind of guest, and what a
 * snapshot must match to be restored. The argv is built here, never by a
 * shell. The Linux test guest is the only profile that boots in tests;
 * Windows joins through the same structure. */
#pragma once
#include "util.h"

enum accel { ACCEL_TCG, ACCEL_KVM };
const char *accel_to_string(enum accel a);
int accel_from_string(const char *s, enum accel *ret);
/* KVM when /dev/kvm opens read-write, else TCG. OSRUN_ACCEL overrides. */
int accel_detect(enum accel *ret, bool *ret_kvm_missing);

/* What a snapshot needs from the VM that restores it. */
struct machine {
	char profile[16]; /* "linux" */
	unsigned memory_mib;
	unsigned cpus;
	enum accel accel;
};

struct profile {
	const char *name;
	/* The guest-side helper that runs one command (guest-init). */
	const char *exec_path;
	/* Drops the per-run share before a snapshot is saved. */
	const char *detach_path;
	/* The environment guest commands start with; -e adds to it. */
	const char *const *base_env;
};

const struct profile *profile_find(const char *name);

/* Everything that differs between two starts of the same machine. */
struct vm_plan {
	struct machine machine;
	const char *qemu;     /* binary; NULL: $OSRUN_QEMU or qemu-system-x86_64 */
	const char *kernel;   /* linux profile: -kernel/-initrd */
	const char *initrd;
	const char *append;
	const char *disk;     /* qcow2 */
	const char *memory;   /* guest RAM file */
	bool memory_shared;   /* share=on: RAM writes land in the file */
	const char *share;    /* host directory behind \\10.0.2.4\qemu */
	bool incoming;	      /* wait for a saved state instead of booting */
	const char *serial_log;
	const char *monitor;  /* debug: HMP on this UNIX socket path; NULL: none */
	bool vnc;	      /* debug: VNC on a free loopback port */
};

/* The argv for plan, with QMP and the agent on already connected sockets. */
int profile_argv(const struct vm_plan *plan, int qmp_fd, int qga_fd, char ***ret);
