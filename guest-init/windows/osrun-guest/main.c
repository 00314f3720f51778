/* osrun-guest.exe VERB [--share PATH] [--state DIR]
 * The guest agent starts it (runner/lib/profile.c): exec runs a run's
 * command, mount waits for the share, kill stops an interrupted command,
 * detach drops the share before a save. --share and --state are for the
 * tests, which run it under Wine against a directory. One process per
 * run; threads, not processes, pump the streams. */
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

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

static const struct {
	const wchar_t *name;
	int (*run)(const struct places *pl);
} verbs[] = {
	{L"exec", verb_exec},
	{L"mount", verb_mount},
	{L"kill", verb_kill},
	{L"detach", verb_detach},
};

int wmain(int argc, wchar_t **argv);
int wmain(int argc, wchar_t **argv)
{
	struct places pl = {.share = L"\\\\10.0.2.4\\qemu", .state = L"C:\\osrun"};
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!wcscmp(argv[i], L"--share"))
			pl.share = argv[i + 1];
		else if (!wcscmp(argv[i], L"--state"))
			pl.state = argv[i + 1];
		else
			argc = 0;
	}
	for (size_t i = 0; argc >= 2 && argc % 2 == 0 && i < sizeof verbs / sizeof *verbs; i++)
		if (!wcscmp(argv[1], verbs[i].name))
			return verbs[i].run(&pl);
	fputs("usage: osrun-guest.exe exec|mount|kill|detach [--share PATH] [--state DIR]\n", stderr);
	return 2;
}
