/* Which accelerator QEMU runs guests with: KVM when the host can, else TCG
 * (a snapshot records it: a state saved under one does not restore under
 * the other). */
#pragma once
#include "util.h"

enum accel { ACCEL_TCG, ACCEL_KVM };
const char *accel_to_string(enum accel a);
int accel_from_string(const char *s, enum accel *ret);

/* OSRUN_ACCEL if set; else KVM when /dev/kvm opens read-write and a QEMU
 * (qemu: the binary; NULL: $OSRUN_QEMU or qemu-system-x86_64) starts a
 * `-cpu host` machine on it; else TCG, with *ret_why (malloc'd) saying why
 * KVM is not used. A /dev/kvm that opens is not enough: some hosts (nested
 * virtualisation) give one on which QEMU aborts setting the CPU's MSRs.
 * *ret_why is NULL when KVM is used or OSRUN_ACCEL chose. */
int accel_detect(const char *qemu, enum accel *ret, char **ret_why);

/* $OSRUN_QEMU, else qemu-system-x86_64. */
const char *accel_qemu_binary(void);
/* Starts a paused `-cpu host` machine on /dev/kvm with QEMU binary qemu:
 * 0 with *ret_why NULL when it worked, else *ret_why (malloc'd) says how
 * it failed. */
int accel_kvm_probe(const char *qemu, char **ret_why);

/* The host CPU as a state saved under `-cpu host` depends on it:
 * "VENDOR FAMILY/MODEL MODEL NAME" from the first processor in cpuinfo
 * (/proc/cpuinfo), e.g. "GenuineIntel 6/85 Intel(R) Xeon(R) Gold 6148 CPU
 * @ 2.40GHz"; cut to n - 1 bytes. -ENODATA when it lacks those fields. */
int accel_host_cpu(const char *cpuinfo, char *buf, size_t n);
