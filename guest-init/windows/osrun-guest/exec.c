#include "exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <userenv.h>
#include <wchar.h>

#include "command.h"
#include "environ.h"
#include "order.h"
#include "share.h"
#include "stream.h"
#include "user.h"
#include "volume.h"

struct run {
	const struct places *pl;
	struct order o;
	HANDLE token; /* --user */
	struct volumes vols;
	wchar_t *workdir, *line, *script, *pid_file;
	HANDLE child[3];
	struct pump out, err;
	/* stdin streamed: until the follower takes them */
	HANDLE in_pipe, in_file;
	wchar_t *in_mark;
	struct command cmd;
};

/* cmd /c runs a command line up to its first line feed and 8191
 * characters: longer ones and several lines come as a batch file, which
 * cmd reads again line by line as it runs, so it is copied out of the
 * share first. */
static int line_make(struct run *r, struct failure *f)
{
	if (!r->o.script)
		return (r->line = wide_from_utf8(r->o.command)) ? 0 : fail_text(f, "the command is not valid UTF-8");
	wchar_t dir[MAX_PATH], name[64];
	UINT n = GetWindowsDirectoryW(dir, MAX_PATH);
	if (!n || n >= MAX_PATH - 40)
		return fail_win32(f, GetLastError(), "finding the Windows directory");
	swprintf(name, sizeof name / sizeof *name, L"Temp\\osrun-%lu-%llu.cmd", GetCurrentProcessId(),
		 (unsigned long long)GetTickCount64());
	_cleanup_free_ wchar_t *src = path_in(r->pl->share, L"command.cmd");
	r->script = path_in(dir, name);
	if (!src || !r->script)
		return fail_text(f, "out of memory");
	if (!CopyFileW(src, r->script, FALSE)) {
		DWORD e = GetLastError();
		free(r->script);
		r->script = NULL;
		return fail_win32(f, e, "copying the command's batch file");
	}
	_cleanup_free_ wchar_t *q = wide_join(L"\"", r->script);
	r->line = q ? wide_join(q, L"\"") : NULL;
	return r->line ? 0 : fail_text(f, "out of memory");
}

static int request_load(struct run *r, struct failure *f)
{
	_cleanup_free_ wchar_t *p = path_in(r->pl->share, L"request.json");
	_cleanup_free_ char *text = NULL;
	size_t n;
	int k = p ? file_read(p, ORDER_FILE_MAX, &text, &n, f) : fail_text(f, "out of memory");
	return k < 0 ? k : order_parse(text, n, &r->o, f);
}

/* Environment, volumes, working directory and command line. */
static int prepare(struct run *r, struct failure *f)
{
	int k = request_load(r, f);
	if (k < 0)
		return k;
	if (r->o.user) {
		void *block;
		if ((k = user_token(&r->token, &block, f)) < 0)
			return k;
		/* The user's environment as a new logon gets it, as a
		 * scheduled task's process got it. */
		k = environ_replace(block, f);
		DestroyEnvironmentBlock(block);
	} else
		k = environ_refresh(f);
	if (k == 0)
		k = environ_apply(&r->o, f);
	/* The share's server: the share's path less its last part. */
	_cleanup_free_ wchar_t *server = wide_join(r->pl->share, L"");
	wchar_t *cut = server ? wcsrchr(server, L'\\') : NULL;
	if (cut)
		*cut = 0;
	if (k == 0)
		k = volumes_connect(&r->o, server ? server : L"", r->token, &r->vols, f);
	if (k < 0)
		return k;
	r->workdir = wide_from_utf8(r->o.workdir);
	DWORD a = r->workdir ? GetFileAttributesW(r->workdir) : INVALID_FILE_ATTRIBUTES;
	if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY))
		return fail_text(f, "working directory %s does not exist in the guest", r->o.workdir);
	return line_make(r, f);
}

/* stdin from the share's file, or a pipe the follower fills; stdout and
 * stderr through pumps. */
static int streams_open(struct run *r, struct failure *f)
{
	_cleanup_free_ wchar_t *in = path_in(r->pl->share, L"stdin"), *out = path_in(r->pl->share, L"stdout"),
			       *err = path_in(r->pl->share, L"stderr");
	if (!in || !out || !err)
		return fail_text(f, "out of memory");
	int k;
	if (r->o.stdin_stream) {
		r->in_mark = path_in(r->pl->share, L"stdin.end");
		k = r->in_mark ? pipe_new(false, &r->in_pipe, &r->child[0], f) : fail_text(f, "out of memory");
		if (k == 0)
			k = share_file_open(in, false, false, &r->in_file, f);
	} else
		k = share_file_open(in, false, true, &r->child[0], f);
	struct pump *p[2] = {&r->out, &r->err};
	const wchar_t *files[2] = {out, err};
	for (int i = 0; k == 0 && i < 2; i++) {
		k = pipe_new(true, &p[i]->pipe, &r->child[i + 1], f);
		if (k == 0)
			k = share_file_open(files[i], true, false, &p[i]->file, f);
		if (k == 0)
			k = pump_start(p[i], f);
	}
	return k;
}

static int pid_record(struct run *r, struct failure *f)
{
	char text[32];
	snprintf(text, sizeof text, "%lu", r->cmd.pid);
	r->pid_file = path_in(r->pl->state, L"command.pid");
	return r->pid_file ? file_write(r->pid_file, text, f) : fail_text(f, "out of memory");
}

static int run_command(struct run *r, DWORD *ret_code, struct failure *f)
{
	int k = streams_open(r, f);
	if (k == 0)
		k = command_start(r->line, r->workdir, r->token, r->child, &r->cmd, f);
	/* Only the command and what it starts hold the pipes' other ends:
	 * the pumps see the end of its output when they are gone. */
	for (int i = 0; i < 3; i++) {
		handle_closep(&r->child[i]);
		r->child[i] = NULL;
	}
	/* kill ends this process's tree when a session's command is
	 * interrupted. */
	if (k == 0)
		k = pid_record(r, f);
	if (k == 0 && r->o.stdin_stream) {
		k = follower_start(r->in_pipe, r->in_file, r->in_mark, r->cmd.process, f);
		r->in_pipe = r->in_file = NULL;
		r->in_mark = NULL;
	}
	DWORD code = 0;
	if (k == 0)
		k = command_wait(&r->cmd, &code, f);
	pump_finish(&r->out);
	pump_finish(&r->err);
	if (k == 0 && (r->out.error || r->err.error))
		k = fail_win32(f, r->out.error ? r->out.error : r->err.error,
			       "the command exited %lu, but writing its output to the run's share failed", code);
	if (k == 0)
		*ret_code = code;
	return k;
}

int exec_run(const struct places *pl, DWORD *ret_code, struct failure *f)
{
	struct run r = {.pl = pl};
	int k = prepare(&r, f);
	if (k == 0)
		k = run_command(&r, ret_code, f);
	volumes_disconnect(&r.vols, r.token);
	if (r.script)
		DeleteFileW(r.script);
	if (r.pid_file)
		DeleteFileW(r.pid_file);
	pump_release(&r.out);
	pump_release(&r.err);
	handle_closep(&r.in_pipe);
	handle_closep(&r.in_file);
	free(r.in_mark);
	command_release(&r.cmd);
	handle_closep(&r.token);
	free(r.workdir);
	free(r.line);
	free(r.script);
	free(r.pid_file);
	order_release(&r.o);
	return k;
}
