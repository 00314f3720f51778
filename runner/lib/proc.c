#define _GNU_SOURCE
#include "proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static void child_setup_fd(int from, int to)
{
	if (from == PROC_INHERIT)
		return;
	if (from < 0) {
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			_exit(127);
		from = n;
	}
	if (from == to) {
		fcntl(to, F_SETFD, 0);
		return;
	}
	if (dup2(from, to) < 0)
		_exit(127);
}

/* argv[0] as execvp would find it, the search done before fork; NULL with
 * errno set when it cannot be run. */
static char *find_program(const char *name)
{
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return NULL;
		return strdup(name);
	}
	const char *path = getenv("PATH");
	_cleanup_free_ char *dirs = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (!dirs)
		return NULL;
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(*d ? d : ".", name);
		if (!p || access(p, X_OK) == 0)
			return p;
		free(p);
	}
	errno = ENOENT;
	return NULL;
}

#define LISTEN_PID "LISTEN_PID="

/* environ with spec's additions; a later K=V replaces an earlier one. With
 * a listen_fd, the last two are LISTEN_FDS and LISTEN_PID, whose value
 * the child writes (*ret_pid_slot: room for any pid's digits). */
static char **spawn_env(const struct proc_spec *spec, char **ret_pid_slot)
{
	char **env = calloc(1, sizeof *env);
	for (char **e = environ; env && *e; e++) {
		size_t k = strcspn(*e, "=");
		bool replaced = spec->listen_fd > 2 && !strncmp(*e, "LISTEN_", 7);
		for (size_t i = 0; spec->setenv && spec->setenv[i]; i++)
			replaced |= !strncmp(spec->setenv[i], *e, k + 1);
		if (!replaced)
			env = strv_append(env, *e);
	}
	for (size_t i = 0; env && spec->setenv && spec->setenv[i]; i++)
		env = strv_append(env, spec->setenv[i]);
	if (env && spec->listen_fd > 2 && (env = strv_append(env, "LISTEN_FDS=1")) &&
	    (env = strv_append(env, LISTEN_PID "00000000000000000000")))
		*ret_pid_slot = env[strv_length(env) - 1] + strlen(LISTEN_PID);
	return env;
}

/* The child's pid into slot, in decimal (no printf after fork). */
static void child_write_pid(char *slot)
{
	char digits[24];
	size_t n = 0;
	for (unsigned long p = (unsigned long)getpid(); n == 0 || p; p /= 10)
		digits[n++] = (char)('0' + p % 10);
	while (n)
		*slot++ = digits[--n];
	*slot = '\0';
}

static void child_setup_listen(int fd, char *pid_slot)
{
	if (fd <= 2)
		return;
	if (fd == 3)
		fcntl(3, F_SETFD, 0);
	else if (dup2(fd, 3) < 0)
		_exit(127);
	child_write_pid(pid_slot);
}

int proc_spawn(const struct proc_spec *spec, pid_t *ret_pid)
{
	/* Everything that allocates happens here, before fork: the child of a
	 * process with threads (a pool member's signal bridge) may only make
	 * async-signal-safe calls. */
	_cleanup_free_ char *program = find_program(spec->argv[0]);
	if (!program)
		return -errno;
	char *pid_slot = NULL;
	_cleanup_strv_free_ char **env = spawn_env(spec, &pid_slot);
	if (!env)
		return -ENOMEM;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (spec->die_with_parent) {
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
				_exit(127);
		}
		if (spec->own_pgroup)
			setpgid(0, 0);
		child_setup_fd(spec->stdin_fd, 0);
		child_setup_fd(spec->stdout_fd, 1);
		child_setup_fd(spec->stderr_fd, 2);
		for (size_t i = 0; i < spec->n_keep; i++)
			fcntl(spec->keep_fds[i], F_SETFD, 0);
		child_setup_listen(spec->listen_fd, pid_slot);
		execve(program, spec->argv, env);
		_exit(127);
	}
	*ret_pid = pid;
	return 0;
}

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int proc_pidfd(pid_t pid)
{
	int fd = pidfd_open_(pid);
	return fd < 0 ? -errno : fd;
}

int proc_wait(pid_t pid, usec_t timeout, int *ret_status)
{
	usec_t deadline = deadline_after(timeout);
	_cleanup_close_ int pfd = pidfd_open_(pid);
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == pid) {
			if (ret_status)
				*ret_status = st;
			return 0;
		}
		if (pfd < 0 && errno != ENOSYS)
			return -errno;
		/* No pidfd_open (kernels before 5.3, valgrind 3.19): look again
		 * every 10 ms, still woken by a signal. */
		usec_t step = pfd >= 0 ? deadline : deadline_after(10 * USEC_PER_MSEC);
		int k = fd_wait(pfd, POLLIN, step < deadline ? step : deadline);
		if (k == -ETIMEDOUT && pfd < 0 && now_usec() < deadline)
			continue;
		if (k < 0)
			return k;
	}
}

int proc_flock_wait(int fd, bool *ret_waited)
{
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		*ret_waited = false;
		return 0;
	}
	if (errno != EWOULDBLOCK)
		return -errno;
	/* A blocked flock() hears no signal here (they are all blocked, for
	 * the signalfd): a child blocks on it instead, and the lock it gets
	 * belongs to the open file both hold. */
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				_exit(1);
		_exit(0);
	}
	int st, r = proc_wait(pid, USEC_INFINITY, &st);
	if (r < 0) {
		proc_kill_and_reap(pid, 0);
		return r;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -ENOLCK;
	*ret_waited = true;
	return 0;
}

int proc_kill_and_reap(pid_t pid, usec_t grace)
{
	if (pid <= 0)
		return 0;
	int saved = errno;
	if (grace > 0) {
		kill(pid, SIGTERM);
		/* Teardown must not be cut short by the Ctrl-C that asked for it. */
		int c = cancel_fd_get();
		cancel_fd_set(-1);
		int r = proc_wait(pid, grace, NULL);
		cancel_fd_set(c);
		if (r == 0) {
			errno = saved;
			return 0;
		}
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	errno = saved;
	return 0;
}

int proc_run(char *const *argv, usec_t timeout, char **ret_output)
{
	return proc_run_input(argv, NULL, timeout, ret_output);
}

int proc_version_line(const char *bin, char **ret)
{
	char *const argv[] = {(char *)bin, "--version", NULL};
	_cleanup_free_ char *out = NULL;
	int r = proc_run(argv, 10 * USEC_PER_SEC, &out);
	if (r != 0)
		return r < 0 ? r : -EIO;
	*ret = strndup(out ? out : "", out ? strcspn(out, "\n") : 0);
	return *ret ? 0 : -ENOMEM;
}

/* input goes whole into a pipe before the child starts: it must fit the
 * pipe's buffer (64 KiB), which a few commands do. */
static int input_pipe(const char *input, int *ret_fd)
{
	*ret_fd = -1;
	if (!input)
		return 0;
	size_t len = strlen(input);
	int p[2];
	if (len > 4096)
		return -E2BIG;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	ssize_t k = write(p[1], input, len);
	int r = k == (ssize_t)len ? 0 : k < 0 ? -errno : -EIO;
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		return r;
	}
	*ret_fd = p[0];
	return 0;
}

int proc_run_input(char *const *argv, const char *input, usec_t timeout, char **ret_output)
{
	_cleanup_close_ int in = -1;
	int p[2], r = input_pipe(input, &in);
	if (r < 0)
		return r;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	_cleanup_close_ int rd = p[0];
	struct proc_spec spec = {.argv = argv, .stdin_fd = in, .stdout_fd = p[1], .stderr_fd = p[1]};
	pid_t pid;
	r = proc_spawn(&spec, &pid);
	close(p[1]);
	if (r < 0)
		return r;
	usec_t deadline = deadline_after(timeout);
	size_t cap = 65536, n = 0;
	_cleanup_free_ char *out = malloc(cap + 1);
	if (!out) {
		proc_kill_and_reap(pid, 0);
		return -ENOMEM;
	}
	for (;;) {
		r = fd_wait(rd, POLLIN, deadline);
		if (r < 0) {
			proc_kill_and_reap(pid, 0);
			return r;
		}
		char buf[4096];
		ssize_t k = read(rd, buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		size_t take = (size_t)k < cap - n ? (size_t)k : cap - n;
		memcpy(out + n, buf, take);
		n += take;
	}
	out[n] = 0;
	int st;
	r = proc_wait(pid, deadline == USEC_INFINITY ? USEC_INFINITY : 5 * USEC_PER_SEC, &st);
	if (r < 0) {
		proc_kill_and_reap(pid, 0);
		return r;
	}
	if (ret_output)
		*ret_output = TAKE_PTR(out);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

int proc_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 ? -errno : 0; }

static int children_of_self(pid_t *out, int max)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] == '.')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		int pid;
		while (n < max && fscanf(f, "%d", &pid) == 1)
			out[n++] = pid;
		fclose(f);
	}
	closedir(d);
	return n;
}

int proc_reap_orphans(pid_t keep)
{
	int total = 0;
	/* Killing one may hand us its own children: go round until none. */
	for (int round = 0; round < 16; round++) {
		pid_t kids[256];
		int n = children_of_self(kids, (int)ELEMENTSOF(kids));
		if (n < 0)
			return n;
		int killed = 0;
		for (int i = 0; i < n; i++) {
			if (kids[i] == keep)
				continue;
			kill(kids[i], SIGKILL);
			while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
				;
			killed++;
		}
		total += killed;
		if (killed == 0)
			break;
	}
	return total;
}

const char *signal_name(int sig)
{
	const char *s = sigabbrev_np(sig);
	return s ? s : "?";
}
