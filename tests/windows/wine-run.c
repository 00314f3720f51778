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
 * $OSRUN_GUEST_WRAP when that is set (a Windows program that runs it).
 *   wine-run -I [-r RESULT] DIR HOST GUEST      (osrun --copy-in HOST:GUEST)
 *   wine-run -O [-r RESULT] DIR GUEST HOST      (osrun --copy-out GUEST:HOST)
 * A copy as runner/copy.c makes it: the host's side packed and unpacked
 * with runner/lib/tarball.c, the guest's by the helper's copy verb with
 * the tar $OSRUN_TAR names (a Windows path). RESULT gets "status N", the
 * helper's exit status, or "host: TEXT" when the host's side refused. */
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
#include "lib/tarball.h"

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

/* osrun-guest.exe --share DIR --state DIR.state [--tar T] ARGS...; a copy's
 * stderr is ours. */
static int helper_start(const char *dir, const char *state, char **args, bool copy, pid_t *ret)
{
	_cleanup_free_ char *share = wine_path(dir), *st = wine_path(state), *log = NULL;
	const char *wine = getenv("OSRUN_WINE"), *exe = getenv("OSRUN_GUEST_EXE");
	if (!share || !st || !wine || !exe || asprintf(&log, "%s/helper.log", state) < 0)
		return -EINVAL;
	const char *wrap = getenv("OSRUN_GUEST_WRAP"), *tar = getenv("OSRUN_TAR");
	_cleanup_free_ char *wexe = wine_path(exe);
	char *argv[24];
	size_t n = 0;
	argv[n++] = (char *)wine;
	if (wrap && *wrap) {
		/* A Windows program starts it: by its Windows path. */
		argv[n++] = (char *)wrap;
		argv[n++] = "stale";
		argv[n++] = wexe;
	} else
		argv[n++] = (char *)exe;
	argv[n++] = "--share";
	argv[n++] = share;
	argv[n++] = "--state";
	argv[n++] = st;
	if (tar && *tar) {
		argv[n++] = "--tar";
		argv[n++] = (char *)tar;
	}
	for (; *args && n < ELEMENTSOF(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	/* Not our streams: a background process the command leaves would
	 * hold them, as Wine's processes inherit the Unix descriptors. */
	int fd = copy ? -1 : open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct proc_spec spec = {.argv = argv, .stdin_fd = -1, .stdout_fd = fd, .stderr_fd = copy ? PROC_INHERIT : fd};
	int r = !copy && fd < 0 ? -errno : proc_spawn(&spec, ret);
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

/* The last component of a path: what runner/copy.c names the member. */
static const char *last_part(const char *path)
{
	const char *s = path + strlen(path);
	while (s > path && (s[-1] == '/' || s[-1] == '\\'))
		s--;
	const char *e = s;
	while (s > path && s[-1] != '/' && s[-1] != '\\')
		s--;
	static char buf[4096];
	snprintf(buf, sizeof buf, "%.*s", (int)(e - s), s);
	return buf;
}

static int helper_wait(pid_t pid, int *ret_status)
{
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* -I DIR HOST GUEST and -O DIR GUEST HOST. */
static int copy_run(bool in, const char *dir, const char *a, const char *b, FILE *out)
{
	_cleanup_free_ char *state = NULL, *tar = NULL, *why = NULL, *bad = NULL;
	char base[4096];
	/* -I: the host's name; -O: the guest's. */
	snprintf(base, sizeof base, "%s", last_part(a));
	if (asprintf(&state, "%s.state", dir) < 0 ||
	    asprintf(&tar, "%s/%s", dir, in ? "copy-in.tar" : "copy-out.tar") < 0)
		return -ENOMEM;
	if (mkdir(dir, 0700) < 0 || mkdir(state, 0700) < 0)
		return -errno;
	struct stat st;
	int r, status = 0;
	pid_t pid;
	if (in) {
		if (lstat(a, &st) < 0)
			return fprintf(out, "host: %s: %s\n", a, strerror(errno)), 0;
		_cleanup_close_ int fd = open(tar, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if ((r = tarball_pack(a, base, fd, &bad)) < 0)
			return fprintf(out, "host: packing %s: %s\n", bad ? bad : a, strerror(-r)), 0;
		char *args[] = {"copy",	   "in", "copy-in.tar", S_ISDIR(st.st_mode) ? "dir" : "file",
				(char *)b, base, NULL};
		r = helper_start(dir, state, args, true, &pid);
	} else {
		char *args[] = {"copy", "out", "copy-out.tar", (char *)a, NULL};
		r = helper_start(dir, state, args, true, &pid);
	}
	if (r == 0)
		r = helper_wait(pid, &status);
	if (r < 0)
		return r;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || in)
		return fprintf(out, "status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1), 0;
	_cleanup_close_ int fd = open(tar, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fprintf(out, "host: the guest sent no archive\n"), 0;
	r = tarball_unpack_as(fd, base, b, SHARE_LIMIT_DEFAULT, &why);
	if (r < 0)
		return fprintf(out, "host: %s\n", why ? why : strerror(-r)), 0;
	return fprintf(out, "status 0\n"), 0;
}

int main(int argc, char **argv)
{
	const char *wd = "C:\\", *result = "/dev/stderr";
	_cleanup_strv_free_ char **env = NULL;
	bool no_stdin = false, user = false;
	int c, copy = 0;
	while ((c = getopt(argc, argv, "+w:e:nur:IO")) != -1) {
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
		else if (c == 'I' || c == 'O')
			copy = c;
		else if (c == '?')
			return 2;
	}
	if (copy && argc - optind == 3) {
		FILE *out = fopen(result, "w");
		int r = out ? copy_run(copy == 'I', argv[optind], argv[optind + 1], argv[optind + 2], out) : -errno;
		if (out)
			fclose(out);
		if (r < 0)
			fprintf(stderr, "wine-run: %s\n", strerror(-r));
		return r < 0 ? 1 : 0;
	}
	if (copy || argc - optind != 2) {
		fputs("usage: wine-run [-w WORKDIR] [-e NAME=VALUE]... [-n] [-u] [-r RESULT] DIR COMMAND\n"
		      "       wine-run -I|-O [-r RESULT] DIR FROM TO\n",
		      stderr);
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
		r = helper_start(dir, state, (char *[]){"exec", NULL}, false, &pid);
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
