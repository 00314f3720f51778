/* osrun [OPTIONS] COMMAND: restore a snapshot, run COMMAND in the guest,
 * stream its output, exit with its code. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "commands.h"
#include "run.h"
#include "lib/log.h"

void run_plan_release(struct run_plan *p)
{
	free(p->command);
	strv_free(p->env);
}

void run_help(void)
{
	printf("Usage: osrun [OPTIONS] COMMAND...\n"
	       "       osrun provision [OPTIONS]\n"
	       "       osrun snapshot list|inspect|rm|gc [OPTIONS]\n"
	       "       osrun pool [-s NAME] [-j N]   keep clones warm for fast runs\n"
	       "       osrun image build --iso WINDOWS.iso --virtio-win VIRTIO-WIN.iso [OPTIONS]\n"
	       "\n"
	       "Runs COMMAND in a short-lived VM restored from a snapshot, streams its\n"
	       "stdout and stderr live, and exits with its exit code. Several words are\n"
	       "joined with spaces; the guest's shell (sh, or cmd on Windows) runs them.\n"
	       "A COMMAND that is also a subcommand's name needs '--' before it.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --use-snapshot NAME  restore NAME (default: provisioned)\n"
	       "  -n, --new-snapshot NAME  save the VM's end state as snapshot NAME\n"
	       "  -t, --timeout SECONDS    stop the command after SECONDS; exit 124\n"
	       "  -e, --env K=V            set an environment variable for COMMAND\n"
	       "  -w, --workdir DIR        run COMMAND in DIR in the guest\n"
	       "  -p, --pause              keep the VM after COMMAND until Enter\n"
	       "      --no-stdin           do not pass osrun's stdin to COMMAND\n"
	       "      --monitor            QEMU's human monitor on a UNIX socket in the run\n"
	       "                           directory (its path is printed); with -p to use it\n"
	       "      --vnc                the VM's screen over VNC on 127.0.0.1 (port printed)\n"
	       "      --novnc ADDR:PORT    also serve it as a noVNC web page on ADDR:PORT\n"
	       "                           (in a container: --novnc 0.0.0.0:6080 -p)\n"
	       "      --memory MIB         refuse a snapshot of another memory size\n"
	       "      --agent-timeout SECONDS  how long to wait for the guest agent (60)\n"
	       "      --cache DIR          the store (default: $OSRUN_CACHE, else\n"
	       "                           ~/.cache/osrun)\n"
	       "  -v, --verbose            say what happens, with timings\n"
	       "  -h, --help               this text\n"
	       "      --version            osrun's version\n"
	       "\n"
	       "When 'osrun pool' keeps clones of the snapshot warm, COMMAND runs in one\n"
	       "(see 'osrun pool --help'); -n, -p, --vnc and --monitor always restore anew.\n"
	       "\n"
	       "stdin is passed to COMMAND when it is a file or a pipe (read to its end\n"
	       "before COMMAND starts), not when it is a terminal.\n"
	       "\n"
	       "Exit status:\n"
	       "  N     COMMAND's own exit status\n"
	       "  128+N COMMAND was killed by signal N (reported on stderr)\n"
	       "  124   COMMAND ran past --timeout\n"
	       "  125   osrun itself failed (reported on stderr)\n"
	       "  130, 143  osrun was interrupted by SIGINT, SIGTERM\n"
	       "\n"
	       "Environment: OSRUN_CACHE (store), OSRUN_ACCEL (kvm or tcg; default: kvm\n"
	       "when /dev/kvm is usable), OSRUN_QEMU (QEMU binary).\n");
}

enum { OPT_CACHE = 0x100, OPT_MEMORY, OPT_AGENT_TIMEOUT, OPT_VERSION, OPT_NO_STDIN, OPT_MONITOR, OPT_VNC, OPT_NOVNC };

int run_parse(int argc, char **argv, struct run_plan *p)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{"pause", no_argument, NULL, 'p'},
		{"use-snapshot", required_argument, NULL, 's'},
		{"new-snapshot", required_argument, NULL, 'n'},
		{"timeout", required_argument, NULL, 't'},
		{"env", required_argument, NULL, 'e'},
		{"workdir", required_argument, NULL, 'w'},
		{"cache", required_argument, NULL, OPT_CACHE},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"agent-timeout", required_argument, NULL, OPT_AGENT_TIMEOUT},
		{"no-stdin", no_argument, NULL, OPT_NO_STDIN},
		{"monitor", no_argument, NULL, OPT_MONITOR},
		{"vnc", no_argument, NULL, OPT_VNC},
		{"novnc", required_argument, NULL, OPT_NOVNC},
		{"version", no_argument, NULL, OPT_VERSION},
		{},
	};
	p->snapshot = "provisioned";
	p->agent_timeout = 60 * USEC_PER_SEC;
	p->argc = argc;
	p->argv = argv;
	int c;
	opterr = 0;
	optind = 0; /* a pool member parses a client's arguments after its own */
	while ((c = getopt_long(argc, argv, "+:hvps:n:t:e:w:", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			run_help();
			return 0;
		case OPT_VERSION:
			printf("osrun %s\n", OSRUN_VERSION);
			return 0;
		case 'v':
			p->common.verbose++;
			break;
		case 'p':
			p->pause = true;
			break;
		case 's':
			p->snapshot = optarg;
			break;
		case 'n':
			p->new_snapshot = optarg;
			break;
		case 't':
			if (parse_seconds(optarg, &p->timeout) < 0)
				return log_error("--timeout '%s': expected a positive number of seconds", optarg), EXIT_OSRUN;
			break;
		case OPT_AGENT_TIMEOUT:
			if (parse_seconds(optarg, &p->agent_timeout) < 0)
				return log_error("--agent-timeout '%s': expected a positive number of seconds", optarg),
				       EXIT_OSRUN;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return log_error("--env '%s': expected NAME=VALUE", optarg), EXIT_OSRUN;
			if (!(p->env = strv_append(p->env, optarg)))
				return log_errno(-ENOMEM, "--env"), EXIT_OSRUN;
			break;
		case 'w':
			p->workdir = optarg;
			break;
		case OPT_CACHE:
			p->common.cache = optarg;
			break;
		case OPT_MEMORY:
			if (parse_uint(optarg, 64, 1u << 20, &p->memory_mib) < 0)
				return log_error("--memory '%s': expected MiB, 64 or more", optarg), EXIT_OSRUN;
			break;
		case OPT_NO_STDIN:
			p->no_stdin = true;
			break;
		case OPT_MONITOR:
			p->monitor = true;
			break;
		case OPT_VNC:
			p->vnc = true;
			break;
		case OPT_NOVNC: {
			const char *colon = strrchr(optarg, ':');
			unsigned port;
			if (!colon || colon == optarg || parse_uint(colon + 1, 1, 65535, &port) < 0)
				return log_error("--novnc '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:6080", optarg),
				       EXIT_OSRUN;
			p->novnc = optarg;
			p->vnc = true;
			break;
		}
		default:
			return report_bad_option(c, argv), EXIT_OSRUN;
		}
	}
	if (optind >= argc)
		return log_error("no command given (see 'osrun --help')"), EXIT_OSRUN;
	size_t len = 0;
	for (int i = optind; i < argc; i++)
		len += strlen(argv[i]) + 1;
	p->command = malloc(len);
	if (!p->command)
		return log_errno(-ENOMEM, "command"), EXIT_OSRUN;
	char *w = p->command;
	for (int i = optind; i < argc; i++) {
		size_t n = strlen(argv[i]);
		memcpy(w, argv[i], n);
		w += n;
		*w++ = i + 1 < argc ? ' ' : 0;
	}
	if (!*p->command)
		return log_error("the command is empty"), EXIT_OSRUN;
	const char *why;
	if (snapshot_name_check(p->snapshot, &why) < 0)
		return log_error("snapshot name '%s' %s", p->snapshot, why), EXIT_OSRUN;
	if (p->new_snapshot && snapshot_name_check(p->new_snapshot, &why) < 0)
		return log_error("snapshot name '%s' %s", p->new_snapshot, why), EXIT_OSRUN;
	return -1; /* go on */
}

/* stdin goes to the guest when it is data: a pipe, a file or a socket. */
static bool stdin_is_data(void)
{
	struct stat st;
	if (fstat(STDIN_FILENO, &st) < 0)
		return false;
	return S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode) || S_ISSOCK(st.st_mode);
}

static int report_snapshot_error(struct store *s, const char *name, int r)
{
	if (r == -ENOENT) {
		_cleanup_strv_free_ char **names = NULL;
		char have[512] = "";
		if (store_list(s, &names) == 0)
			for (char **n = names; *n; n++)
				snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", n == names ? "" : ", ", *n);
		if (!strcmp(name, "provisioned") && !*have)
			log_error("snapshot 'provisioned': not found in %s (make it with 'osrun provision')", s->root);
		else
			log_error("snapshot '%s': not found in %s (have: %s)", name, s->root, *have ? have : "none");
	} else if (r == -EBADMSG)
		log_error("snapshot '%s': meta.json is missing or damaged", name);
	else
		log_errno(r, "snapshot '%s'", name);
	return EXIT_OSRUN;
}

static int check_machine(const struct run_plan *p, const struct snapshot *sn, enum accel accel)
{
	const struct machine *m = &sn->meta.machine;
	if (p->memory_mib && p->memory_mib != m->memory_mib) {
		log_error("snapshot '%s' was saved with %u MiB of guest memory; it cannot be restored into a %u MiB machine",
			  sn->name, m->memory_mib, p->memory_mib);
		return EXIT_OSRUN;
	}
	if (m->accel != accel) {
		log_error("snapshot '%s' was saved under %s and this host runs %s; make a new one here, or set OSRUN_ACCEL=%s",
			  sn->name, accel_to_string(m->accel), accel_to_string(accel), accel_to_string(m->accel));
		return EXIT_OSRUN;
	}
	if (!profile_find(m->profile)) {
		log_error("snapshot '%s' needs machine profile '%s', which this osrun does not have", sn->name, m->profile);
		return EXIT_OSRUN;
	}
	return 0;
}

static char **guest_env(const struct run_plan *p, const struct profile *prof, const char *share_unc, const char *run_id)
{
	char **env = NULL;
	for (const char *const *e = prof->base_env; *e; e++)
		if (!(env = strv_append(env, *e)))
			return NULL;
	/* Later entries win in the guest (-e PATH=... replaces the default). */
	for (char **e = p->env; e && *e; e++)
		if (!(env = strv_append(env, *e)))
			return NULL;
	char *extra[4] = {NULL};
	if (asprintf(&extra[0], "OSRUN_CMD=%s", p->command) < 0 ||
	    asprintf(&extra[1], "OSRUN_SHARE=%s", share_unc) < 0 || asprintf(&extra[2], "OSRUN_RUN_ID=%s", run_id) < 0 ||
	    asprintf(&extra[3], "OSRUN_WORKDIR=%s", p->workdir ? p->workdir : "") < 0) {
		for (size_t i = 0; i < 4; i++)
			free(extra[i]);
		strv_free(env);
		return NULL;
	}
	for (size_t i = 0; i < 4; i++) {
		if (env)
			env = strv_append(env, extra[i]);
		free(extra[i]);
	}
	return env;
}

static int wait_for_enter(void)
{
	log_info("paused: the VM keeps running; press Enter to stop it");
	_cleanup_close_ int fd = open("/dev/tty", O_RDONLY | O_CLOEXEC);
	int in = fd >= 0 ? fd : STDIN_FILENO;
	for (;;) {
		int r = fd_wait(in, POLLIN, USEC_INFINITY);
		if (r < 0)
			return r;
		char c;
		ssize_t k = read(in, &c, 1);
		if (k <= 0 || c == '\n')
			return 0;
	}
}

/* A guest helper's captured stderr, a line each. */
static void log_guest_stderr(struct qga_exec_status *st)
{
	if (st->err_len == 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(st->err, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_error("guest: %s", line);
}

/* Starts the profile's share helper, so that it (and smbd's start on the
 * host) runs while the clock is set. *ret_pid is -1 when there is none to
 * wait for: no helper in the profile, or a snapshot older than it. */
static int share_prepare_start(struct job *j, const struct profile *prof, char **env, int64_t *ret_pid)
{
	*ret_pid = -1;
	if (!prof->prepare_path)
		return 0;
	struct remote_error err;
	struct qga_exec x = {
		.path = prof->prepare_path, .argv = (char *const *)prof->prepare_argv, .env = env, .capture = true};
	int r = qga_exec(vm_qga(j->vm), &x, 10 * USEC_PER_SEC, ret_pid, &err);
	if (r == -EREMOTEIO) {
		log_debug("no share helper in this snapshot (%s); the command's helper mounts it", err.desc);
		*ret_pid = -1;
		return 0;
	}
	return r < 0 ? job_fail(j, r, &err, "preparing the share") : 0;
}

static int share_prepare_wait(struct job *j, int64_t pid)
{
	if (pid < 0)
		return 0;
	struct qga_exec_status st;
	int r = job_wait_guest_process(j, pid, 60 * USEC_PER_SEC, &st);
	if (r)
		return r;
	if (!st.signal && st.exitcode == 0) {
		qga_exec_status_release(&st);
		return 0;
	}
	log_guest_stderr(&st);
	if (st.signal)
		log_error("the guest's share helper was killed by signal %d", st.signal);
	else
		log_error("the guest could not open the run's share (helper exit status %d)", st.exitcode);
	qga_exec_status_release(&st);
	return EXIT_OSRUN;
}

struct outcome {
	int code;      /* osrun's exit code */
	bool finished; /* the command ran to its end (a snapshot may be saved) */
};

/* Follows the command until it ends, the timeout, a signal or QEMU's death. */
static void follow(struct job *j, const struct run_plan *p, struct share *sh, int64_t pid, struct outcome *out)
{
	usec_t deadline = p->timeout ? deadline_after(p->timeout) : USEC_INFINITY;
	/* The agent has no event for a process's end. The share's close of
	 * stdout says when to ask; the slow ask catches commands that close it
	 * early or leave a child holding it. */
	usec_t next_ask = deadline_after(USEC_PER_SEC);
	int quick_asks = 0;
	out->finished = false;
	for (;;) {
		usec_t wake = next_ask < deadline ? next_ask : deadline;
		struct pollfd pf[3] = {
			{.fd = cancel_fd_get(), .events = POLLIN},
			{.fd = share_fd(sh), .events = POLLIN},
			{.fd = qmp_fd(vm_qmp(j->vm)), .events = POLLIN},
		};
		int k = poll(pf, 3, deadline_to_poll_ms(wake));
		if (k < 0 && errno != EINTR) {
			log_errno(-errno, "poll");
			out->code = EXIT_OSRUN;
			return;
		}
		if (pf[0].revents & POLLIN) {
			share_pump(sh, STDOUT_FILENO, STDERR_FILENO, NULL);
			out->code = job_interrupted();
			return;
		}
		if (pf[1].revents & POLLIN) {
			bool closed = false;
			int r = share_pump(sh, STDOUT_FILENO, STDERR_FILENO, &closed);
			if (r < 0) {
				log_errno(r, "reading the guest's output");
				out->code = EXIT_OSRUN;
				return;
			}
			if (closed) {
				next_ask = now_usec();
				quick_asks = 50;
			}
		}
		if (pf[2].revents) {
			int r = qmp_poll(vm_qmp(j->vm));
			if (r < 0) {
				share_pump(sh, STDOUT_FILENO, STDERR_FILENO, NULL);
				out->code = job_fail(j, r, NULL, "while the command ran");
				return;
			}
		}
		usec_t now = now_usec();
		if (now >= deadline) {
			share_pump(sh, STDOUT_FILENO, STDERR_FILENO, NULL);
			log_error("command timed out after %.1f s; the VM is stopped", (double)p->timeout / USEC_PER_SEC);
			out->code = EXIT_TIMEOUT;
			return;
		}
		if (now < next_ask)
			continue;
		struct remote_error err;
		struct qga_exec_status st;
		int r = qga_exec_status(vm_qga(j->vm), pid, 10 * USEC_PER_SEC, &st, &err);
		if (r == -ETIMEDOUT) {
			out->code = EXIT_OSRUN;
			log_error("the guest agent stopped answering while the command ran");
			return;
		}
		if (r < 0) {
			out->code = job_fail(j, r, &err, "guest agent");
			return;
		}
		if (!st.exited) {
			qga_exec_status_release(&st);
			next_ask = now_usec() + (quick_asks > 0 ? 10 * USEC_PER_MSEC : USEC_PER_SEC);
			if (quick_asks > 0)
				quick_asks--;
			continue;
		}
		r = share_drain(sh, STDOUT_FILENO, STDERR_FILENO);
		if (r < 0)
			log_errno(r, "reading the guest's output");
		/* What the guest helper said before handing over to COMMAND. */
		log_guest_stderr(&st);
		out->finished = true;
		if (st.signal) {
			log_error("command killed by signal %d (SIG%s)", st.signal, signal_name(st.signal));
			out->code = 128 + st.signal;
		} else
			out->code = st.exitcode;
		qga_exec_status_release(&st);
		return;
	}
}

bool run_plan_poolable(const struct run_plan *p)
{
	return !p->new_snapshot && !p->pause && !p->monitor && !p->vnc;
}

void warm_release(struct warm *w)
{
	w->sh = share_free(w->sh);
	job_release(&w->j);
	w->nsn = snapshot_new_free(w->nsn);
	w->sn = snapshot_free(w->sn);
}

int run_plan_check(const struct run_plan *p, const struct warm *w)
{
	return check_machine(p, w->sn, w->sn->meta.machine.accel);
}

int run_warm_up(const struct run_plan *p, struct warm *w)
{
	struct job *j = &w->j;
	int r = job_open_store(j, &p->common, true);
	if (r)
		return r;
	r = snapshot_open(j->store, p->snapshot, &w->sn);
	if (r < 0)
		return report_snapshot_error(j->store, p->snapshot, r);
	struct snapshot *sn = w->sn;
	enum accel accel;
	if ((r = job_accel(&accel)) || (r = check_machine(p, sn, accel)))
		return r;
	const struct profile *prof = w->prof = profile_find(sn->meta.machine.profile);

	if (p->new_snapshot) {
		r = snapshot_new_begin(j->store, p->new_snapshot, &w->nsn);
		if (r == -EEXIST)
			return log_error("snapshot '%s' already exists (remove it with 'osrun snapshot rm %s')",
					 p->new_snapshot, p->new_snapshot),
			       EXIT_OSRUN;
		if (r < 0)
			return log_errno(r, "snapshot '%s'", p->new_snapshot), EXIT_OSRUN;
	}
	struct snapshot_new *nsn = w->nsn;
	if ((r = job_make_rundir(j)))
		return r;

	_cleanup_free_ char *share_path = path_join(j->rundir->path, "share");
	if (!share_path)
		return log_errno(-ENOMEM, "share"), EXIT_OSRUN;
	r = share_new(share_path, &w->sh);
	if (r < 0)
		return log_errno(r, "share %s", share_path), EXIT_OSRUN;

	/* The run's disk is a layer over the snapshot's. With -n it is made
	 * where the new snapshot is, with a relative backing path, so it can
	 * be renamed into place as the new snapshot's own layer. */
	_cleanup_free_ char *sn_disk = snapshot_path(sn, "disk.qcow2"), *sn_mem = snapshot_path(sn, "memory"),
			    *sn_state = snapshot_path(sn, "state"), *overlay = NULL, *memory = NULL, *backing = NULL,
			    *console = path_join(j->rundir->path, "console.log"),
			    *monitor = p->monitor ? path_join(j->rundir->path, "monitor.sock") : NULL;
	if (nsn) {
		overlay = snapshot_new_path(nsn, "disk.qcow2");
		memory = snapshot_new_path(nsn, "memory");
		if (asprintf(&backing, "../%s/disk.qcow2", sn->name) < 0)
			backing = NULL;
	} else {
		overlay = path_join(j->rundir->path, "disk.qcow2");
		memory = strdup(sn_mem);
		backing = strdup(sn_disk);
	}
	if (!sn_disk || !sn_mem || !sn_state || !overlay || !memory || !backing || !console)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if ((r = job_make_overlay(backing, overlay)))
		return r;
	if (nsn) {
		/* The new snapshot's RAM starts as a copy of the parent's and the
		 * VM writes into it (share=on); the parent's stays untouched. */
		usec_t t0 = now_usec();
		r = copy_file_sparse(sn_mem, memory, 0644);
		if (r < 0)
			return log_errno(r, "copying %s", sn_mem), EXIT_OSRUN;
		log_debug("copied guest memory for the new snapshot in %.2f s", seconds_since(t0));
	}

	_cleanup_free_ char *kernel = store_image_path(j->store, sn->meta.image, "vmlinuz"),
			    *initrd = store_image_path(j->store, sn->meta.image, "initrd.img");
	struct vm_plan plan = {
		.machine = sn->meta.machine,
		.kernel = kernel,
		.initrd = initrd,
		.disk = overlay,
		.memory = memory,
		.memory_shared = nsn != NULL,
		.share = share_path,
		.incoming = true,
		.serial_log = console,
		.monitor = monitor,
		.vnc = p->vnc,
	};
	usec_t t0 = w->qemu_started = now_usec();
	if ((r = job_start_vm(j, &plan)))
		return r;
	if ((r = job_start_debug(j, &plan, p->novnc)))
		return r;
	struct remote_error err;
	r = vm_restore(j->vm, sn_state, 120 * USEC_PER_SEC, &err);
	if (r < 0)
		return job_fail(j, r, &err, "restoring snapshot");
	log_debug("restored '%s' in %.3f s", sn->name, seconds_since(t0));
	if ((r = job_wait_agent(j, p->agent_timeout, "restored guest")))
		return r;
	const char *run_id = strrchr(j->rundir->path, '.') + 1;
	_cleanup_strv_free_ char **env = guest_env(p, prof, prof->share_unc, run_id);
	if (!env)
		return log_errno(-ENOMEM, "environment"), EXIT_OSRUN;
	int64_t prepare_pid;
	if ((r = share_prepare_start(j, prof, env, &prepare_pid)))
		return r;
	r = qga_set_time(vm_qga(j->vm), (int64_t)realtime_usec() * 1000, 10 * USEC_PER_SEC, &err);
	if (r < 0)
		return job_fail(j, r, &err, "setting the guest clock");
	log_debug("guest clock set %.3f s after QEMU", seconds_since(t0));
	if ((r = share_prepare_wait(j, prepare_pid)))
		return r;
	if (prepare_pid >= 0)
		log_debug("share ready %.3f s after QEMU", seconds_since(t0));
	return 0;
}

int run_command(const struct run_plan *p, struct warm *w)
{
	struct job *j = &w->j;
	const struct profile *prof = w->prof;
	usec_t t0 = w->qemu_started;
	int r;
	if (!p->no_stdin && stdin_is_data()) {
		r = share_fill_stdin(w->sh, STDIN_FILENO);
		if (r < 0)
			return log_errno(r, "reading stdin"), EXIT_OSRUN;
	}
	const char *run_id = strrchr(j->rundir->path, '.') + 1;
	_cleanup_strv_free_ char **env = guest_env(p, prof, prof->share_unc, run_id);
	if (!env)
		return log_errno(-ENOMEM, "environment"), EXIT_OSRUN;
	int64_t pid;
	struct remote_error err;
	struct qga_exec x = {
		.path = prof->exec_path, .argv = (char *const *)prof->exec_argv, .env = env, .capture = true};
	r = qga_exec(vm_qga(j->vm), &x, 10 * USEC_PER_SEC, &pid, &err);
	if (r < 0)
		return job_fail(j, r, &err, "starting the command");
	log_debug("command started %.3f s after QEMU", seconds_since(t0));

	struct outcome out;
	follow(j, p, w->sh, pid, &out);
	log_debug("command ended %.3f s after QEMU", seconds_since(t0));

	if (p->pause && out.finished) {
		if (wait_for_enter() == -ECANCELED)
			return job_interrupted();
	}
	if (w->nsn && out.finished) {
		struct snapshot_meta meta = {
			.parent = w->sn->name,
			.image = w->sn->meta.image,
			.machine = w->sn->meta.machine,
			.created = iso_time_now(),
			.made_by = p->command,
		};
		r = job_save_snapshot(j, prof, w->nsn, &meta);
		free(meta.created);
		free(meta.qemu_version);
		if (r)
			return r;
	} else if (w->nsn)
		log_info("snapshot '%s' not saved: the command did not finish", p->new_snapshot);
	return out.code;
}

static int run_execute(const struct run_plan *p)
{
	if (run_plan_poolable(p)) {
		int r = pool_run(p);
		if (r != -EAGAIN)
			return r;
	}
	_cleanup_(warm_release) struct warm w = {0};
	int r = run_warm_up(p, &w);
	return r ? r : run_command(p, &w);
}

int cmd_run(int argc, char **argv)
{
	_cleanup_(run_plan_release) struct run_plan p = {0};
	int r = run_parse(argc, argv, &p);
	if (r >= 0)
		return r;
	if (p.common.verbose)
		log_set_level(LOG_DEBUG);
	return run_execute(&p);
}
