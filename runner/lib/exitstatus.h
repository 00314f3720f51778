/* How a guest command's exit code, as its helper reports it in the share
 * (request.h), becomes osrun's own exit status and what osrun says:
 * - Linux: 0-255; the helper's shell gives 128 + N for signal N.
 * - Windows: a process ends with a 32-bit code, often above 255 (3010,
 *   MSI's "reboot required") or an NTSTATUS (0xC0000005 when it crashed),
 *   which an exit status cannot hold (256 would be 0). QEMU's agent would
 *   even call codes from 0xC0000000 up a "signal" (qga/commands.c,
 *   guest_exec_status, G_OS_WIN32): the agent's status is not used. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What osrun exits with for a code above 255 (never 0: a failure must not
 * pass for success); the exact code is said on stderr. */
#define EXIT_WINDOWS_CODE 255

/* The host exit status for a command that exited with code; why gets a
 * line for stderr, or "". */
int exit_status_map(bool windows, uint32_t code, char *why, size_t n);
