/* Preloading osrun-netguard.so (runner/netguard/netguard.c) into QEMU under
 * --network internet, and hearing from QEMU that it loaded it: a guard
 * that silently failed to load would let the guest reach the host's
 * loopback. */
#pragma once
#include "util.h"

struct netguard {
	int report;	   /* ours: QEMU's constructor writes "netguard\n" */
	int report_theirs; /* QEMU's end, inherited under its own number */
	char *env[3];	   /* LD_PRELOAD=, OSRUN_NETGUARD_FD=, NULL */
};

#define NETGUARD_NULL                                                                                                  \
	{                                                                                                              \
		.report = -1, .report_theirs = -1                                                                      \
	}

/* -EINVAL: so is not an absolute path LD_PRELOAD can carry (no ' ', ':'). */
int netguard_prepare(const char *so, struct netguard *ret);
/* After QEMU answered QMP (its constructors ran before main): 0 when it
 * reported, -ENOLINK when it runs without the guard. */
int netguard_confirm(struct netguard *ng);
void netguard_release(struct netguard *ng);
