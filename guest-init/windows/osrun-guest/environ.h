/* The command's environment. The agent's is the one its service got at
 * the boot that made the snapshot; what an install since then (a -n
 * layer) put in the machine's environment is read again from the
 * registry, as osrun-exec.ps1 did after Chocolatey's
 * Update-SessionEnvironment: Machine, then User, Path both joined. */
#pragma once
#include "guest.h"
#include "order.h"

/* This process's environment, which the command inherits, refreshed from
 * the registry. */
int environ_refresh(struct failure *f);
/* The request's -e variables on top (names case-insensitive, as Windows'
 * own are). */
int environ_apply(const struct order *o, struct failure *f);
/* This process's environment replaced by block (CreateEnvironmentBlock's
 * for --user's token). */
int environ_replace(const wchar_t *block, struct failure *f);
