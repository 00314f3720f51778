/* The request/result protocol between osrun and the guest's command helper
 * (osrun-guest: guest-init/linux/osrun-guest/, guest-init/windows/osrun-guest/), carried by the run's
 * share, so that what a command exited with never depends on the agent's platform rules. The Windows helper
 * includes this header: what it shares with the host is plain C.
 *
 * Result (both guests): before it exits, the helper writes "result"
 * (Windows: as "result.new", then renamed, since its --user parent waits
 * for the file to appear), which osrun reads once the agent says the
 * helper has ended: one line, either
 *   exit CODE     the command's exact exit code (decimal, 0 to 2^32-1)
 *   error TEXT    the helper could not run the command (TEXT says why)
 * The agent's own status for the helper only says that it ended.
 *
 * Request (Windows): "request.json" = {"version": 1, "command": TEXT,
 * "script": BOOL, "workdir": PATH, "env": [{"name", "value"}...],
 * "volumes": [{"share", "mode", "path"}...], "user": BOOL, "stdin_stream": BOOL}; with
 * script true the command is "command.cmd" in the share, a batch file (request_script); with
 * stdin_stream true osrun appends to "stdin" while the command runs and makes "stdin.end"
 * after its last byte (the Linux helper's OSRUN_STDIN=stream). The
 * Windows helper is started with no environment of its own (it inherits
 * the agent's) and without captured output. The Linux helper takes the
 * same fields from its environment (OSRUN_*). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESULT_MAX 4096
#define REQUEST_VERSION 1
/* cmd.exe's command line holds 8191 characters; past this, and for any
 * command with a line feed (cmd /c stops at the first), a batch file. */
#define REQUEST_LINE_MAX 8000

enum helper_result_kind { HELPER_EXIT, HELPER_ERROR };
struct helper_result {
	enum helper_result_kind kind;
	uint32_t code;	/* HELPER_EXIT */
	char text[256]; /* HELPER_ERROR: printable, cut */
};

/* Parses what the guest wrote: -EBADMSG for anything but one well-formed
 * line (a guest is not trusted: n is at most RESULT_MAX). */
int helper_result_parse(const char *buf, size_t n, struct helper_result *ret);

/* Sets NAME=VALUE in *env, replacing an entry of the same name (ASCII case
 * folded when fold_case: Windows' names are case-insensitive), so that no
 * name is passed twice. -EINVAL for an entry without a name. */
int env_set(char ***env, const char *entry, bool fold_case);

/* Whether the command must run from a batch file on Windows. */
bool request_needs_script(const char *command);
/* The batch file for command: CRLF line ends, no echo of its lines. */
char *request_script(const char *command);
/* The request as JSON text; volumes are "SHARE MODE PATH" lines or NULL;
 * as_user: run as the logged-on user (osrun --user); stdin_stream: stdin
 * grows while the command runs, until stdin.end. */
char *request_json(const char *command, const char *workdir, char *const *env, const char *volumes, bool as_user,
		   bool stdin_stream);
