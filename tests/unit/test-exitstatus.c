/* What osrun exits with for a command's end, from the agent's own words:
 * guest-exec-status replies as QEMU's agent sends them (qga/commands.c:
 * on Windows a code >= 0xC0000000 comes as "signal"), parsed by osrun's
 * parser, then mapped. A failing Windows command must never exit 0. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "../../runner/lib/exitstatus.h"
#include "../../runner/lib/qga.h"
#include "tap.h"

static int status_of(bool windows, const char *reply, char *why, size_t n)
{
	json_object *o = json_tokener_parse(reply);
	struct qga_exec_status st;
	int r = qga_exec_status_parse(o, &st);
	json_object_put(o);
	if (r < 0)
		return -1000 + r;
	qga_exec_status_release(&st);
	return exit_status_map(windows, st.exitcode, st.signal, why, n);
}

int main(void)
{
	char why[160];
	is_int(status_of(true, "{\"exited\":true,\"exitcode\":0}", why, sizeof why), 0, "Windows: 0");
	ok(!*why, "nothing said");
	is_int(status_of(true, "{\"exited\":true,\"exitcode\":7}", why, sizeof why), 7, "Windows: 7 as is");
	is_int(status_of(true, "{\"exited\":true,\"exitcode\":255}", why, sizeof why), 255, "Windows: 255 as is");
	is_int(status_of(true, "{\"exited\":true,\"exitcode\":256}", why, sizeof why), EXIT_WINDOWS_CODE,
	       "Windows: 256 does not become 0");
	ok(strstr(why, "code 256 (0x00000100)") != NULL, "and is said exactly: %s", why);
	is_int(status_of(true, "{\"exited\":true,\"exitcode\":3010}", why, sizeof why), EXIT_WINDOWS_CODE,
	       "Windows: 3010 (MSI reboot required) is not 194");
	ok(strstr(why, "code 3010 (0x00000BC2)") != NULL, "said: %s", why);
	/* An access violation: the agent's "signal" is the NTSTATUS as an int. */
	is_int(status_of(true, "{\"exited\":true,\"signal\":-1073741819}", why, sizeof why), EXIT_WINDOWS_CODE,
	       "Windows: 0xC0000005 reported as a signal is a code, not 128 + a negative number");
	ok(strstr(why, "0xC0000005, STATUS_ACCESS_VIOLATION") != NULL, "named: %s", why);
	ok(!strstr(why, "signal"), "not called a signal");
	/* `exit /b -1`: 0xFFFFFFFF, also past 0xC0000000, so also "signal". */
	is_int(status_of(true, "{\"exited\":true,\"signal\":-1}", why, sizeof why), EXIT_WINDOWS_CODE, "Windows: -1");
	ok(strstr(why, "code 4294967295 (0xFFFFFFFF)") != NULL, "said: %s", why);
	is_int(status_of(true, "{\"exited\":true,\"out-data\":null}", why, sizeof why), -1000 - EBADMSG,
	       "out-data null: a broken reply, not a success");

	is_int(status_of(false, "{\"exited\":true,\"exitcode\":3}", why, sizeof why), 3, "Linux: 3");
	is_int(status_of(false, "{\"exited\":true,\"signal\":9}", why, sizeof why), 137, "Linux: SIGKILL is 137");
	ok(strstr(why, "killed by signal 9 (SIGKILL)") != NULL, "said: %s", why);
	return tap_done();
}
