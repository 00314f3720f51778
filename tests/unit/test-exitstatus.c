/* What osrun exits with when a command ends: the agent's word on the
 * helper (guest-exec-status replies as QEMU's agent sends them,
 * qga/commands.c: on Windows a code >= 0xC0000000 comes as "signal")
 * beside what the helper wrote in a real share. A failing Windows command
 * must never exit 0, and a helper's failure is never the command's code. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "../../runner/lib/exitstatus.h"
#include "../../runner/lib/qga.h"
#include "../../runner/follow.h"
#include "tap.h"

static char dir[] = "/tmp/osrun-test-exit.XXXXXX";
static struct share *sh;
static char msg[2048];

static void put_result(const char *text)
{
	char p[64];
	snprintf(p, sizeof p, "%s/share/result", dir);
	unlink(p);
	if (text) {
		FILE *f = fopen(p, "w");
		fputs(text, f);
		fclose(f);
	}
}

/* osrun's exit status for the agent's reply and what the share holds;
 * -1000 + errno when it fails (msg says why). */
static int status_read(bool windows, const char *reply, char *why, size_t n)
{
	json_object *o = json_tokener_parse(reply);
	struct qga_exec_status st;
	int r = qga_exec_status_parse(o, &st);
	json_object_put(o);
	*msg = *why = 0;
	if (r < 0)
		return -1000 + r;
	struct run_result res;
	struct error e = {0};
	r = run_result_read(windows, sh, &st, &res, &e);
	qga_exec_status_release(&st);
	if (r < 0) {
		snprintf(msg, sizeof msg, "%s", e.msg);
		return -1000 + r;
	}
	snprintf(why, n, "%s", res.why);
	run_result_release(&res);
	return res.status;
}

static int status_of(bool windows, const char *reply, const char *result, char *why, size_t n)
{
	put_result(result);
	return status_read(windows, reply, why, n);
}

int main(void)
{
	char why[160], p[64];
	if (!mkdtemp(dir))
		return 1;
	snprintf(p, sizeof p, "%s/share", dir);
	if (share_new(p, &sh) < 0)
		return 1;
	const char *done = "{\"exited\":true,\"exitcode\":0}";
	is_int(status_of(true, done, "exit 0\r\n", why, sizeof why), 0, "Windows: 0");
	is_int(status_of(true, done, "exit 256\r\n", why, sizeof why), EXIT_WINDOWS_CODE,
	       "Windows: 256 does not become 0");
	ok(strstr(why, "code 256 (0x00000100)") != NULL, "and is said exactly: %s", why);
	is_int(status_of(true, done, "exit 3010\r\n", why, sizeof why), EXIT_WINDOWS_CODE, "Windows: 3010 is not 194");
	is_int(status_of(true, done, "exit 3221225477\r\n", why, sizeof why), EXIT_WINDOWS_CODE,
	       "Windows: an access violation");
	ok(strstr(why, "0xC0000005, STATUS_ACCESS_VIOLATION") != NULL, "named: %s", why);

	/* The old helper's failure: Start-Process's ExitCode came back $null
	 * and `exit $null` is 0. The agent's 0 without a result is no success. */
	is_int(status_of(true, done, NULL, why, sizeof why), -1000 - EPROTO, "Windows: no result is no success");
	ok(strstr(msg, "without saying how the command ended") != NULL, "said: %s", msg);
	/* The helper crashed: the agent's "signal" is an NTSTATUS. */
	is_int(status_of(true, "{\"exited\":true,\"signal\":-1073741819}", NULL, why, sizeof why), -1000 - EPROTO,
	       "Windows: a helper that crashed");
	ok(strstr(msg, "signal -1073741819") != NULL, "the agent's word quoted: %s", msg);
	is_int(status_of(true, "{\"exited\":true,\"exitcode\":2}", NULL, why, sizeof why), -1000 - EPROTO,
	       "Windows: helper status 2");
	ok(strstr(msg, "could not reach the run's share") != NULL, "said: %s", msg);
	/* The helper's own failure beside a command status the agent reports
	 * as 0: the result decides. */
	is_int(status_of(true, done, "error working directory D:\\x does not exist\r\n", why, sizeof why),
	       -1000 - EPROTO, "Windows: a helper's error");
	ok(strstr(msg, "the guest could not run the command: working directory D:\\x does not exist") != NULL,
	   "said: %s", msg);
	is_int(status_of(true, done, "exit 0\r\nexit 1\r\n", why, sizeof why), -1000 - EBADMSG, "two results: refused");
	is_int(status_of(true, "{\"exited\":true,\"out-data\":null}", "exit 0\n", why, sizeof why), -1000 - EBADMSG,
	       "out-data null: a broken reply, not a success");

	is_int(status_of(false, done, "exit 3\n", why, sizeof why), 3, "Linux: 3");
	is_int(status_of(false, done, "exit 137\n", why, sizeof why), 137, "Linux: SIGKILL, as a shell says it");
	ok(strstr(why, "killed by signal 9 (SIGKILL)") != NULL, "said: %s", why);
	is_int(status_of(false, "{\"exited\":true,\"exitcode\":125,\"err-data\":\"bW91bnQgZmFpbGVk\"}", NULL, why,
			 sizeof why),
	       -1000 - EPROTO, "Linux: a helper that could not mount the share");
	ok(strstr(msg, "status 125") && strstr(msg, "guest: mount failed"), "its stderr quoted: %s", msg);

	/* A guest that makes the result a link (to a result that would be
	 * taken, read in place) or a directory. */
	char target[64];
	snprintf(target, sizeof target, "%s/share/elsewhere", dir);
	put_result(NULL);
	snprintf(p, sizeof p, "%s/share/result", dir);
	FILE *f = fopen(target, "w");
	ok(f && fputs("exit 0\r\n", f) >= 0 && fclose(f) == 0 && symlink(target, p) == 0,
	   "the result a link to a file that says exit 0");
	is_int(status_read(true, done, why, sizeof why), -1000 - EBADMSG, "not followed");
	unlink(p);
	ok(rename(target, p) == 0, "the link's target put in its place");
	is_int(status_read(true, done, why, sizeof why), 0, "is taken: only the link was refused");
	unlink(p);
	ok(mkdir(p, 0700) == 0, "the result a directory");
	is_int(status_read(true, done, why, sizeof why), -1000 - EBADMSG, "refused");
	rmdir(p);
	put_result("error x\n");
	ok(truncate(p, 1 << 20) == 0, "a result of 1 MiB");
	is_int(status_read(true, done, why, sizeof why), -1000 - EFBIG, "refused unread");
	share_free(sh);
	rm_rf(dir);
	return tap_done();
}
