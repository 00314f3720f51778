#define _GNU_SOURCE
#include "guest.h"

#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "pump.h"
#include "stdin.h"

/* A fast writer's output travels in requests as large as the pipe (the
 * kernel allows root this much). */
#define STREAM_PIPE_SIZE GUEST_IO_CHUNK

struct exec_run {
	struct guest_run run;
	int pidfd; /* the command */
	pid_t pid;
	char cmd_file[160]; /* GUEST_RUN_ROOT/ID.cmd: the command's pid (= its session id) for kill */
};

/* osrun reads "result" only once this helper has ended: no rename needed
 * (a rename, a fork and an SMB round trip more cost 8% of a plain run
 * under TCG). */
static int result_write(const struct exec_run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int result_write(const struct exec_run *x, const char *fmt, ...)
{
	char path[160], text[RESULT_MAX];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(text, sizeof text - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		return guest_fail(125, "cannot format the result");
	size_t n = strnlen(text, sizeof text - 2);
	/* One line: a workdir (from -w or a build file) may hold anything. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = '?';
	text[n] = '\n';
	text[n + 1] = 0;
	int r = guest_run_path(&x->run, "result", path, sizeof path);
	if (r == 0)
		r = file_write(path, text);
	if (r < 0)
		return guest_fail(125, "writing %s: %s", path, strerror(-r));
	return 0;
}

/* "error TEXT": the command could not be run; the helper exits 125. */
#define exec_fail(x, ...) (result_write((x), "error " __VA_ARGS__), 125)

static int share_open(const struct exec_run *x, const char *name, int flags)
{
	char path[160];
	if (guest_run_path(&x->run, name, path, sizeof path) < 0)
		return -ENAMETOOLONG;
	int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

/* The command's environment is the helper's without osrun's variables. */
static void env_drop_own(void)
{
	static const char *const own[] = {"OSRUN_CMD",	  "OSRUN_SHARE", "OSRUN_WORKDIR",
					  "OSRUN_RUN_ID", "OSRUN_STDIN", "OSRUN_VOLUMES"};
	for (size_t i = 0; i < ELEMENTSOF(own); i++)
		unsetenv(own[i]);
}

static int workdir_enter(const struct exec_run *x)
{
	const char *wd = getenv("OSRUN_WORKDIR");
	struct stat st;
	if (!wd || !*wd)
		wd = "/root";
	if (stat(wd, &st) < 0 || !S_ISDIR(st.st_mode))
		return exec_fail(x, "working directory %s does not exist in the guest", wd);
	if (chdir(wd) < 0)
		return exec_fail(x, "cannot enter working directory %s", wd);
	return 0;
}

/* A pipe for one of the command's output streams: its read end into
 * *s, with its share file (name) opened. */
static int stream_open(const struct exec_run *x, const char *name, struct pump_stream *s, int *ret_wr)
{
	int p[2];
	int out = share_open(x, name, O_WRONLY | O_CREAT | O_TRUNC);
	if (out < 0)
		return exec_fail(x, "cannot open the run's %s: %s", name, strerror(-out));
	if (pipe2(p, O_CLOEXEC) < 0) {
		close(out);
		return exec_fail(x, "cannot make the %s pipe: %s", name, strerror(errno));
	}
	(void)fcntl(p[0], F_SETPIPE_SZ, STREAM_PIPE_SIZE);
	*s = (struct pump_stream){.rd = p[0], .out = out};
	*ret_wr = p[1];
	return 0;
}

/* The command runs in a session of its own (osrun-guest kill stops the
 * session), with every stream on a pipe. */
static int command_start(struct exec_run *x, struct stdin_feed *in, struct pump_stream s[PUMP_STREAMS])
{
	_cleanup_free_ char *cmd = strdup(getenv("OSRUN_CMD") ? getenv("OSRUN_CMD") : "");
	const char *stream = getenv("OSRUN_STDIN");
	_cleanup_close_ int out_wr = -1, err_wr = -1, in_rd = -1;
	int ip[2], r;
	if (!cmd)
		return exec_fail(x, "out of memory");
	if ((r = stream_open(x, "stdout", &s[PUMP_OUT], &out_wr)) != 0 ||
	    (r = stream_open(x, "stderr", &s[PUMP_ERR], &err_wr)) != 0)
		return r;
	if (pipe2(ip, O_CLOEXEC) < 0)
		return exec_fail(x, "cannot make the stdin pipe: %s", strerror(errno));
	in_rd = ip[0];
	in->wr = ip[1];
	env_drop_own();
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	extern char **environ;
	r = child_spawn(argv[0], argv, environ, in_rd, out_wr, err_wr, &x->pid);
	if (r < 0)
		return exec_fail(x, "cannot start /bin/sh: %s", strerror(-r));
	x->pidfd = (int)syscall(SYS_pidfd_open, x->pid, 0);
	if (x->pidfd < 0)
		return guest_fail(125, "pidfd_open: %s", strerror(errno));
	in->stream = stream && !strcmp(stream, "stream");
	in->pidfd = x->pidfd;
	r = stdin_feed_start(in);
	if (r < 0)
		return guest_fail(125, "cannot start the stdin thread: %s", strerror(-r));
	char text[32];
	snprintf(text, sizeof text, "%d\n", (int)x->pid);
	if ((r = file_replace(x->cmd_file, text)) < 0)
		return guest_fail(125, "%s: %s", x->cmd_file, strerror(-r));
	return 0;
}

/* A shell's $?: the exit code, or 128 + the signal that ended it. */
static unsigned status_code(int status)
{
	return WIFEXITED(status) ? (unsigned)WEXITSTATUS(status) : 128u + (unsigned)WTERMSIG(status);
}

static int command_finish(struct exec_run *x, struct pump_stream s[PUMP_STREAMS])
{
	int status = 0;
	int r = pump_run(s, x->pidfd);
	/* stdout.done after the last write of both streams. */
	safe_close(share_open(x, "stdout.done", O_WRONLY | O_CREAT | O_TRUNC));
	while (waitpid(x->pid, &status, 0) < 0 && errno == EINTR)
		;
	(void)unlink(x->cmd_file);
	if (r < 0)
		guest_fail(0, "copying output to the share: %s", strerror(-r));
	if (s[PUMP_OUT].rd >= 0 || s[PUMP_ERR].rd >= 0) {
		char pid_path[160];
		if (guest_run_side(&x->run, "drain.pid", pid_path, sizeof pid_path) < 0 ||
		    pump_hand_off(s, pid_path) < 0)
			guest_fail(0, "a background child's output pipe is left without a reader");
	}
	r = result_write(x, "exit %u", status_code(status));
	/* osrun asks the agent whether the helper has ended when the share's
	 * stdout is closed: that comes last, just before the exit. */
	safe_close(s[PUMP_ERR].out);
	safe_close(s[PUMP_OUT].out);
	return r == 0 ? 0 : 125;
}

/* Runs one osrun command (OSRUN_CMD) and says how it ended in the share's
 * "result" (runner/lib/request.h): "exit CODE", or "error TEXT" when it
 * could not be run. Without a share, errors go to the agent's captured
 * stderr, which osrun quotes. */
int verb_exec(int argc, char **argv)
{
	struct exec_run x = {.pidfd = -1};
	struct stat st;
	char path[160];
	if (guest_run_init(&x.run) < 0)
		return guest_fail(125, "OSRUN_RUN_ID: missing or not a run id");
	/* The share is mounted per run (a restored guest never has a live SMB
	 * session from the run that saved it), usually by "mount" already:
	 * the share always has stdin. */
	if (guest_run_path(&x.run, "stdin", path, sizeof path) < 0 || (stat(path, &st) < 0 && share_mount(&x.run) < 0))
		return 125;
	if (guest_run_side(&x.run, "cmd", x.cmd_file, sizeof x.cmd_file) < 0)
		return guest_fail(125, "run id too long");
	int r = workdir_enter(&x);
	if (r != 0)
		return r;
	/* stdout.pump tells osrun to wait for stdout.done once the command
	 * has exited (older guests have neither). */
	int mark = share_open(&x, "stdout.pump", O_WRONLY | O_CREAT | O_TRUNC);
	if (mark < 0)
		return exec_fail(&x, "cannot write into the run's share: %s", strerror(-mark));
	close(mark);
	static struct stdin_feed in;
	if (guest_run_path(&x.run, "stdin", in.path, sizeof in.path) < 0 ||
	    guest_run_path(&x.run, "stdin.end", in.end_path, sizeof in.end_path) < 0)
		return exec_fail(&x, "run id too long");
	struct pump_stream s[PUMP_STREAMS] = {{.rd = -1, .out = -1}, {.rd = -1, .out = -1}};
	if ((r = command_start(&x, &in, s)) != 0)
		return r;
	return command_finish(&x, s);
}
