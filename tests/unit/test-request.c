/* The request/result protocol with the guest's command helper (request.h):
 * what a helper may write as the result, and what osrun exits with for
 * it; the Windows request and its batch file. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "../../runner/lib/exitstatus.h"
#include "../../runner/lib/request.h"
#include "../../runner/lib/util.h"
#include "tap.h"

static int parse(const char *s, struct helper_result *r) { return helper_result_parse(s, strlen(s), r); }

/* osrun's exit status for a result line; -1000 + errno when refused. */
static int status_of(bool windows, const char *line, char *why, size_t n)
{
	struct helper_result r;
	int k = parse(line, &r);
	if (k < 0)
		return -1000 + k;
	if (r.kind != HELPER_EXIT)
		return -2000;
	return exit_status_map(windows, r.code, why, n);
}

static void results(void)
{
	char why[160];
	struct helper_result r;
	is_int(status_of(true, "exit 0\n", why, sizeof why), 0, "Windows: 0");
	ok(!*why, "nothing said");
	is_int(status_of(true, "exit 7\r\n", why, sizeof why), 7, "Windows: 7, CRLF as PowerShell writes it");
	is_int(status_of(true, "exit 255\n", why, sizeof why), 255, "Windows: 255 as is");
	is_int(status_of(true, "exit 256\n", why, sizeof why), EXIT_WINDOWS_CODE, "Windows: 256 does not become 0");
	ok(strstr(why, "code 256 (0x00000100)") != NULL, "and is said exactly: %s", why);
	is_int(status_of(true, "exit 3010\n", why, sizeof why), EXIT_WINDOWS_CODE,
	       "Windows: 3010 (MSI reboot required) is not 194");
	ok(strstr(why, "code 3010 (0x00000BC2)") != NULL, "said: %s", why);
	/* An access violation: 0xC0000005, which the agent would call a
	 * signal (-1073741819); the helper writes the code as unsigned. */
	is_int(status_of(true, "exit 3221225477\n", why, sizeof why), EXIT_WINDOWS_CODE, "Windows: 0xC0000005");
	ok(strstr(why, "0xC0000005, STATUS_ACCESS_VIOLATION") != NULL, "named: %s", why);
	ok(!strstr(why, "signal"), "not called a signal");
	/* `exit /b -1` */
	is_int(status_of(true, "exit 4294967295\n", why, sizeof why), EXIT_WINDOWS_CODE, "Windows: -1");
	ok(strstr(why, "code 4294967295 (0xFFFFFFFF)") != NULL, "said: %s", why);

	is_int(status_of(false, "exit 3\n", why, sizeof why), 3, "Linux: 3");
	is_int(status_of(false, "exit 137\n", why, sizeof why), 137, "Linux: a shell's SIGKILL is 137");
	ok(strstr(why, "killed by signal 9 (SIGKILL)") != NULL, "said: %s", why);
	is_int(status_of(false, "exit 128\n", why, sizeof why), 128, "Linux: 128 is no signal");
	ok(!*why, "nothing said");

	is_int(parse("error working directory D:\\x does not exist\n", &r), 0, "a helper's error");
	ok(r.kind == HELPER_ERROR && !strcmp(r.text, "working directory D:\\x does not exist"), "its text: %s", r.text);
	is_int(parse("error a\033[2Jb\r\n", &r), 0, "an error with control characters");
	is_str(r.text, "a?[2Jb", "shown as '?'");

	/* What a guest may not pass off as a result. */
	static const char *const bad[] = {
		"",	      "exit 0",
		"exit \n",    "exit -1\n",
		"exit +3\n",  "exit 0x10\n",
		"exit 007\n", "exit 4294967296\n",
		"exit 1 2\n", "exit 3\nexit 0\n",
		"EXIT 0\n",   "signal 9\n",
		"error \n",   "exit 99999999999999999999\n",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		is_int(parse(bad[i], &r), -EBADMSG, "refused: '%.*s'", (int)strcspn(bad[i], "\n"), bad[i]);
	is_int(helper_result_parse("exit 0\0\n", 8, &r), -EBADMSG, "refused: a NUL");
	char big[RESULT_MAX + 2];
	memset(big, 'x', sizeof big);
	memcpy(big, "error ", 6);
	big[sizeof big - 1] = '\n';
	is_int(helper_result_parse(big, sizeof big, &r), -EBADMSG, "refused: over RESULT_MAX");
	is_int(helper_result_parse(big, RESULT_MAX, &r), -EBADMSG, "refused: no line end");
	big[RESULT_MAX - 1] = '\n';
	is_int(helper_result_parse(big, RESULT_MAX, &r), 0, "a long error is cut");
	is_int((long long)strlen(r.text), (long long)sizeof r.text - 1, "to its buffer");
}

static void environment(void)
{
	char **env = NULL;
	ok(env_set(&env, "Path=C:\\a", true) == 0 && env_set(&env, "TEMP=C:\\t", true) == 0, "two names");
	is_int(env_set(&env, "PATH=C:\\b", true), 0, "PATH again, other case");
	is_int((long long)strv_length(env), 2, "still two entries (Windows names fold case)");
	is_str(env[0], "PATH=C:\\b", "the later value, in the first one's place");
	is_int(env_set(&env, "path=x", false), 0, "Linux: path is not PATH");
	is_int((long long)strv_length(env), 3, "three entries");
	is_int(env_set(&env, "A=1", false), 0, "A=1");
	is_int(env_set(&env, "AB=2", false), 0, "AB=2 is another name");
	is_int(env_set(&env, "A=3", false), 0, "A=3");
	is_str(env[3], "A=3", "replaces A=1 only");
	is_str(env[4], "AB=2", "AB kept");
	is_int(env_set(&env, "=x", false), -EINVAL, "no name: refused");
	is_int(env_set(&env, "x", false), -EINVAL, "no '=': refused");
	strv_free(env);
}

static void windows_request(void)
{
	ok(!request_needs_script("dir C:\\ & echo done"), "one line: the command line");
	ok(request_needs_script("echo a\necho b"), "a line feed: a batch file (cmd /c stops at it)");
	char *longcmd = malloc(REQUEST_LINE_MAX + 2);
	memset(longcmd, 'x', REQUEST_LINE_MAX + 1);
	longcmd[REQUEST_LINE_MAX + 1] = 0;
	ok(request_needs_script(longcmd), "over %d characters: a batch file (cmd's limit is 8191)", REQUEST_LINE_MAX);
	free(longcmd);

	_cleanup_free_ char *s = request_script("echo a\necho b\r\nexit /b 3");
	is_str(s, "@echo off\r\necho a\r\necho b\r\nexit /b 3\r\n", "the batch file: CRLF, no echo");
	_cleanup_free_ char *s2 = request_script("echo \xc3\xa9t\xc3\xa9\n\n");
	is_str(s2, "@echo off\r\necho \xc3\xa9t\xc3\xa9\r\n\r\n", "UTF-8 kept; a final line end not doubled");

	char *env[] = {"Path=C:\\tools;%Path%", "EMPTY=", "Q=\"a b\"", NULL};
	_cleanup_free_ char *j =
		request_json("echo a\necho b", "C:\\work dir", env, "vol0 ro C:\\src\nvol1 rw X:\n", true, true);
	json_object *o = j ? json_tokener_parse(j) : NULL, *v, *e0, *x;
	ok(o != NULL, "request.json parses: %s", j ? j : "(null)");
	ok(json_object_object_get_ex(o, "version", &v) && json_object_get_int(v) == REQUEST_VERSION, "version");
	ok(json_object_object_get_ex(o, "script", &v) && json_object_get_boolean(v), "script: true");
	ok(json_object_object_get_ex(o, "user", &v) && json_object_get_boolean(v), "user: true (--user)");
	ok(json_object_object_get_ex(o, "stdin_stream", &v) && json_object_get_boolean(v), "stdin_stream: true");
	ok(json_object_object_get_ex(o, "workdir", &v) && !strcmp(json_object_get_string(v), "C:\\work dir"),
	   "workdir");
	ok(json_object_object_get_ex(o, "env", &v) && json_object_array_length(v) == 3, "3 variables");
	e0 = json_object_array_get_idx(v, 0);
	ok(json_object_object_get_ex(e0, "name", &x) && !strcmp(json_object_get_string(x), "Path"), "name Path");
	ok(json_object_object_get_ex(e0, "value", &x) && !strcmp(json_object_get_string(x), "C:\\tools;%Path%"),
	   "value as given");
	x = NULL;
	ok(json_object_object_get_ex(json_object_array_get_idx(v, 1), "value", &x) && !*json_object_get_string(x),
	   "an empty value");
	ok(json_object_object_get_ex(o, "volumes", &v) && json_object_array_length(v) == 2, "2 volumes");
	ok(json_object_object_get_ex(json_object_array_get_idx(v, 1), "path", &x) &&
		   !strcmp(json_object_get_string(x), "X:"),
	   "a drive letter volume");
	json_object_put(o);
	_cleanup_free_ char *j2 = request_json("ver", "C:\\", NULL, NULL, false, false);
	o = j2 ? json_tokener_parse(j2) : NULL;
	ok(json_object_object_get_ex(o, "script", &v) && !json_object_get_boolean(v), "one line: script false");
	ok(json_object_object_get_ex(o, "user", &v) && !json_object_get_boolean(v), "user: false (SYSTEM)");
	ok(json_object_object_get_ex(o, "stdin_stream", &v) && !json_object_get_boolean(v),
	   "stdin_stream: false (stdin whole before the command)");
	ok(json_object_object_get_ex(o, "volumes", &v) && json_object_array_length(v) == 0, "no volumes");
	json_object_put(o);
}

int main(void)
{
	results();
	environment();
	windows_request();
	return tap_done();
}
