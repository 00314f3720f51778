/* Runs one command through osrun-guest.exe under Wine as osrun runs one
 * through the Windows profile, with the host's own code for the share
 * (runner/lib/share.c: its files, stdin fed and streamed, output pumped),
 * the request (runner/lib/request.c) and the result (helper_result_parse).
 *   wine-run [-w WORKDIR] [-e NAME=VALUE]... [-n] [-u] [-r RESULT] DIR COMMAND
 * DIR (not existing yet) becomes the run's share; DIR.state the helper's
 * C:\osrun. stdin: a file is copied before the command starts, a pipe
 * streamed while it runs (the Windows profile's stdin_stream), -n none;
 * -u: as the logged-on user (osrun --user).
 * The command's output goes to this program's; RESULT gets "exit CODE",
 * "error TEXT", or "helper ended with status N and no result". Wine:
 * $OSRUN_WINE (wine64), the helper: $OSRUN_GUEST_EXE, started through
 * $OSRUN_GUEST_WRAP when that is set (a Windows program that runs it). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/proc.h"
#include "lib/request.h"
#include "lib/share.h"

/* Wine's drive Z: is the Unix root. */
static char *wine_path(const char *unix_path)
{
	char *w = NULL;
	if (asprintf(&w, "Z:%s", unix_path) < 0)
		return NULL;
	for (char *p = w; *p; p++)
		if (*p == '/')
			*p = '\\';
	return w;
}

static int request_write(struct share *sh, const char *cmd, const char *wd, char **env, bool user, bool stream)
{
	_cleanup_free_ char *json = request_json(cmd, wd, env, NULL, user, stream);
	_cleanup_free_ char *script = request_needs_script(cmd) ? request_script(cmd) : NULL;
	if (!json || (request_needs_script(cmd) && !script))
		return -ENOMEM;
	int r = script ? share_write_file(sh, "command.cmd", script) : 0;
	return r < 0 ? r : share_write_file(sh, "request.json", json);
}

static int helper_start(const char *dir, const char *state, pid_t *ret)
{
	_cleanup_free_ char *share = wine_path(dir), *st = wine_path(state), *log = NULL;
	const char *wine = getenv("OSRUN_WINE"), *exe = getenv("OSRUN_GUEST_EXE");
	if (!share || !st || !wine || !exe || asprintf(&log, "%s/helper.log", state) < 0)
		return -EINVAL;
	const char *wrap = getenv("OSRUN_GUEST_WRAP");
	_cleanup_free_ char *wexe = wine_path(exe);
	char *argv[] = {(char *)wine, (char *)exe, "exec", "--share", share, "--state", st, NULL, NULL, NULL};
	if (wrap && *wrap) {
		/* A Windows program starts it: by its Windows path. */
		memmove(argv + 3, argv + 1, 6 * sizeof *argv);
		argv[1] = (char *)wrap;
		argv[2] = "stale";
		argv[3] = wexe;
	}
	/* Not our streams: a background process the command leaves would
	 * hold them, as Wine's processes inherit the Unix descriptors. */
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct proc_spec spec = {.argv = argv, .stdin_fd = -1, .stdout_fd = fd, .stderr_fd = fd};
	int r = fd < 0 ? -errno : proc_spawn(&spec, ret);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Follows the helper until it ends, as runner/follow.c does. */
static int helper_follow(struct share *sh, pid_t pid, int in_fd, int *ret_status)
{
	for (;;) {
		struct pollfd pf[2] = {{.fd = share_fd(sh), .events = POLLIN}, {.fd = in_fd, .events = POLLIN}};
		if (poll(pf, 2, 50) < 0 && errno != EINTR)
			return -errno;
		bool ended = false;
		int r;
		if ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) && (r = share_stdin_feed(sh, in_fd, &ended)) < 0)
			return r;
		if (ended)
			in_fd = -1;
		if ((pf[0].revents & POLLIN) && (r = share_pump(sh, STDOUT_FILENO, STDERR_FILENO, NULL)) < 0)
			return r;
		if (waitpid(pid, ret_status, WNOHANG) == pid)
			return share_drain(sh, STDOUT_FILENO, STDERR_FILENO);
	}
}

static int result_report(struct share *sh, int status, FILE *out)
{
	_cleanup_free_ char *buf = NULL;
	size_t n;
	struct helper_result res;
	int r = share_read_file(sh, "result", RESULT_MAX, &buf, &n);
	if (r == -ENOENT) {
		fprintf(out, "helper ended with status %d and no result\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 0;
	}
	if (r == 0)
		r = helper_result_parse(buf, n, &res);
	if (r < 0)
		return r;
	if (res.kind == HELPER_EXIT)
		fprintf(out, "exit %" PRIu32 "\n", res.code);
	else
		fprintf(out, "error %s\n", res.text);
	return 0;
}

int main(int argc, char **argv)
{
	const char *wd = "C:\\", *result = "/dev/stderr";
	_cleanup_strv_free_ char **env = NULL;
	bool no_stdin = false, user = false;
	int c;
	while ((c = getopt(argc, argv, "+w:e:nur:")) != -1) {
		if (c == 'w')
			wd = optarg;
		else if (c == 'e' && env_set(&env, optarg, true) < 0)
			return 2;
		else if (c == 'n')
			no_stdin = true;
		else if (c == 'u')
			user = true;
		else if (c == 'r')
			result = optarg;
		else if (c == '?')
			return 2;
	}
	if (argc - optind != 2) {
		fputs("usage: wine-run [-w WORKDIR] [-e NAME=VALUE]... [-n] [-u] [-r RESULT] DIR COMMAND\n", stderr);
		return 2;
	}
	const char *dir = argv[optind], *cmd = argv[optind + 1];
	_cleanup_free_ char *state = NULL;
	_cleanup_(share_freep) struct share *sh = NULL;
	struct stat st;
	bool file = !no_stdin && fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
	bool stream =
		!no_stdin && !file && fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
	int r = asprintf(&state, "%s.state", dir) < 0 ? -ENOMEM : 0;
	if (r == 0)
		r = mkdir(state, 0700) < 0 ? -errno : share_new(dir, &sh);
	if (r == 0 && file)
		r = share_fill_stdin(sh, STDIN_FILENO);
	if (r == 0)
		r = request_write(sh, cmd, wd, env, user, stream);
	pid_t pid;
	int status = 0;
	if (r == 0)
		r = helper_start(dir, state, &pid);
	if (r == 0)
		r = helper_follow(sh, pid, stream ? STDIN_FILENO : -1, &status);
	FILE *out = r == 0 ? fopen(result, "w") : NULL;
	if (r == 0)
		r = out ? result_report(sh, status, out) : -errno;
	if (out)
		fclose(out);
	if (r < 0)
		fprintf(stderr, "wine-run: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}
