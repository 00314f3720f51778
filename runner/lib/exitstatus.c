#include "exitstatus.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "proc.h"

/* The NTSTATUS values a crashed Windows process most often ends with
 * (Microsoft, [MS-ERREF] 2.3.1 NTSTATUS Values). */
static const char *ntstatus_name(uint32_t code)
{
	switch (code) {
	case 0xC0000005:
		return "STATUS_ACCESS_VIOLATION";
	case 0xC00000FD:
		return "STATUS_STACK_OVERFLOW";
	case 0xC0000135:
		return "STATUS_DLL_NOT_FOUND";
	case 0xC0000139:
		return "STATUS_ENTRYPOINT_NOT_FOUND";
	case 0xC000013A:
		return "STATUS_CONTROL_C_EXIT";
	case 0xC0000142:
		return "STATUS_DLL_INIT_FAILED";
	case 0xC0000409:
		return "STATUS_STACK_BUFFER_OVERRUN";
	case 0xC0000374:
		return "STATUS_HEAP_CORRUPTION";
	default:
		return NULL;
	}
}

int exit_status_map(bool windows, uint32_t code, char *why, size_t n)
{
	*why = 0;
	if (!windows && code > 128 && code <= 128 + 64) {
		/* The Linux helper's shell reports a command killed by signal N
		 * as 128 + N, the same number an `exit` could give. */
		int sig = (int)code - 128;
		snprintf(why, n,
			 "command ended with status %" PRIu32 ": killed by signal %d (SIG%s), as a shell says it", code,
			 sig, signal_name(sig));
		return (int)code;
	}
	if (code <= 255)
		return (int)code;
	const char *name = windows ? ntstatus_name(code) : NULL;
	snprintf(why, n,
		 "command exited with code %" PRIu32 " (0x%08" PRIX32 "%s%s); osrun exits %d for codes above 255", code,
		 code, name ? ", " : "", name ? name : "", EXIT_WINDOWS_CODE);
	return EXIT_WINDOWS_CODE;
}
