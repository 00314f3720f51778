/* Preloading osrun-netguard.so (runner/netguard/netguard.c) into QEMU under
 * --network internet, and hearing from QEMU that it loaded it: a guard
 * that silently failed to load would let the guest reach the host's
 * loopback. */
#pragma once
#include "util.h"

/* Where osrun finds the guard when $OSRUN_NETGUARD is unset: set by make
 * (the build tree, or PREFIX/lib/osrun for make install). */
#ifndef OSRUN_NETGUARD
#define OSRUN_NETGUARD "/usr/local/lib/osrun/osrun-netguard.so"
#endif

/* The protocol between osrun and the preload (which includes this file):
 * the variable naming the descriptor, and what QEMU writes to it. */
#define NETGUARD_FD_ENV "OSRUN_NETGUARD_FD"
#define NETGUARD_REPORT "netguard\n"

/* Whether LD_PRELOAD can carry so: an absolute path without ' ' or ':'
 * (where ld.so splits the list). */
bool netguard_path_usable(const char *so);

struct netguard {
	int report;	   /* ours: QEMU's constructor writes NETGUARD_REPORT */
	int report_theirs; /* QEMU's end, inherited under its own number */
	char *env[3];	   /* LD_PRELOAD=, NETGUARD_FD_ENV=, NULL */
};

#define NETGUARD_NULL                                                                                                  \
	{                                                                                                              \
		.report = -1, .report_theirs = -1                                                                      \
	}

/* -EINVAL: !netguard_path_usable(so). */
int netguard_prepare(const char *so, struct netguard *ret);
/* After QEMU answered QMP (its constructors ran before main): 0 when it
 * reported, -ENOLINK when it runs without the guard. */
int netguard_confirm(struct netguard *ng);
void netguard_release(struct netguard *ng);
