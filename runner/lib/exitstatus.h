/* How a guest command's end, as the agent reports it, becomes osrun's own
 * exit status and what osrun says about it. The rules differ by guest:
 * - Linux: an exit code (0-255), or a signal: 128 + N, as a shell does.
 * - Windows: a process ends with a 32-bit code. QEMU's agent
 *   (qga/commands.c, guest_exec_status, G_OS_WIN32) reports a code below
 *   0xC0000000 as "exitcode" and any other as "signal", since an unhandled
 *   exception ends a process with its NTSTATUS (0xC0000005 and up). So a
 *   Windows "signal" is a code, never a signal, and a code can be above
 *   255, which an exit status cannot hold (256 would be 0). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* What osrun exits with for a Windows code outside 0-255 (never 0: a
 * failure must not pass for success); the exact code is said on stderr. */
#define EXIT_WINDOWS_CODE 255

/* The host exit status for a command that ended with exitcode or signal
 * (0: none) as the agent said; why gets a line for stderr, or "". */
int exit_status_map(bool windows, int exitcode, int signal, char *why, size_t n);
