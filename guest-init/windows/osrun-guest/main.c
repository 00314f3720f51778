/* osrun-guest.exe [--share PATH] [--state DIR] [--tar EXE] VERB [ARGS]
 * The guest agent starts it (runner/lib/profile.c): exec runs a run's
 * command, mount waits for the share, kill stops an interrupted command,
 * detach drops the share before a save, copy packs and unpacks copies.
 * The options are for the tests, which run it under Wine against a
 * directory; they come before the verb, so that no guest path a copy
 * names is ever taken for one. One process per run; threads, not
 * processes, pump the streams. */
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#include "copy.h"
#include "exec.h"
#include "guest.h"
#include "share.h"
#include "verbs.h"

/* Exit statuses of exec, which the host tells apart (runner/follow.c): 0
 * once a result is written, 2 when the share never answered, 1 when even
 * the error could not be written. */
static int verb_exec(const struct places *pl)
{
	if (share_wait_for(pl, L"request.json", 60000) < 0)
		return 2;
	struct failure f = {{0}};
	DWORD code;
	char line[sizeof f.msg + 16];
	if (exec_run(pl, &code, &f) == 0)
		snprintf(line, sizeof line, "exit %lu", code);
	else
		snprintf(line, sizeof line, "error %s", f.msg[0] ? f.msg : "the command could not be run");
	return result_write(pl, line) < 0 ? 1 : 0;
}

#define NO_ARGS(verb)                                                                                                  \
	static int verb##_args(const struct places *pl, int argc, wchar_t **argv)                                      \
	{                                                                                                              \
		(void)argv;                                                                                            \
		return argc == 0 ? verb(pl) : -1;                                                                      \
	}
NO_ARGS(verb_exec)
NO_ARGS(verb_mount)
NO_ARGS(verb_kill)
NO_ARGS(verb_detach)

static const struct {
	const wchar_t *name;
	/* -1: not these arguments */
	int (*run)(const struct places *pl, int argc, wchar_t **argv);
} verbs[] = {
	{L"exec", verb_exec_args},     {L"mount", verb_mount_args}, {L"kill", verb_kill_args},
	{L"detach", verb_detach_args}, {L"copy", verb_copy},
};

int wmain(int argc, wchar_t **argv);
int wmain(int argc, wchar_t **argv)
{
	struct places pl = {.share = L"\\\\10.0.2.4\\qemu", .state = L"C:\\osrun"};
	int i = 1;
	for (; i + 1 < argc && !wcsncmp(argv[i], L"--", 2); i += 2) {
		if (!wcscmp(argv[i], L"--share"))
			pl.share = argv[i + 1];
		else if (!wcscmp(argv[i], L"--state"))
			pl.state = argv[i + 1];
		else if (!wcscmp(argv[i], L"--tar"))
			pl.tar = argv[i + 1];
		else
			break;
	}
	for (size_t v = 0; i < argc && v < sizeof verbs / sizeof *verbs; v++) {
		if (wcscmp(argv[i], verbs[v].name))
			continue;
		int r = verbs[v].run(&pl, argc - i - 1, argv + i + 1);
		if (r >= 0)
			return r;
		break;
	}
	fputs("usage: osrun-guest.exe [--share PATH] [--state DIR] [--tar EXE] exec|mount|kill|detach\n"
	      "       osrun-guest.exe [...] copy in TAR dir|file GUEST NAME | copy out TAR GUEST\n",
	      stderr);
	return 2;
}
