/* osrun [OPTIONS] COMMAND: restore a snapshot, run COMMAND in the guest,
 * stream its output, exit with its code. */
#define _GNU_SOURCE
#include <string.h>

#include "commands.h"
#include "firstrun.h"
#include "lib/netguard.h"
#include "options.h"
#include "pool.h"

static void run_help_notes(void);

static void run_help(void)
{
	printf("Usage: osrun [OPTIONS] COMMAND...\n"
	       "       osrun provision [OPTIONS]\n"
	       "       osrun snapshot list|inspect|rm|gc [OPTIONS]\n"
	       "       osrun pool [-s NAME] [-j N]   keep clones warm for fast runs\n"
	       "       osrun session start|exec|cp|stop|list   one VM for many commands (a CI job)\n"
	       "       osrun image build [--iso WINDOWS.iso] [OPTIONS]   the Windows image (fetches the ISOs)\n"
	       "       osrun image fetch [--version V] [--list]   a Windows or virtio-win ISO into the store\n"
	       "       osrun build [-f FILE] [-t NAME]   snapshot layers from a build file, cached\n"
	       "       osrun doctor [--json]   can this host run osrun well, and what to fix\n"
	       "       osrun host-info [--json]   this host's facts and node labels, for schedulers\n"
	       "       osrun gitlab-driver config|prepare|run|cleanup   GitLab Runner's custom executor\n"
	       "       osrun selftest [-s NAME]   check everything runs rely on; a report for an issue\n"
	       "\n"
	       "Runs COMMAND in a short-lived VM restored from a snapshot, streams its\n"
	       "stdout and stderr live, and exits with its exit code. Several words are\n"
	       "joined with spaces; the guest's shell (sh, or cmd on Windows) runs them.\n"
	       "A COMMAND that is also a subcommand's name needs '--' before it.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --use-snapshot NAME  restore NAME (default: provisioned; when that is\n"
	       "                           missing, a first run builds it as 'osrun provision'\n"
	       "                           does; a store for Windows says what to run instead)\n"
	       "  -s, --use-snapshot REF   a registry reference (HOST[:PORT]/PATH[:TAG]): pulled\n"
	       "                           on first use as snapshot PATH's last part+TAG, then\n"
	       "                           used without asking the registry (see 'osrun\n"
	       "                           snapshot pull --help'; also a NAME given a source)\n"
	       "      --no-provision       never build provisioned: fail when it is missing\n"
	       "                           (also: OSRUN_NO_PROVISION=1)\n"
	       "  -n, --new-snapshot NAME  save the VM's end state as snapshot NAME, when\n"
	       "                           COMMAND exits 0\n"
	       "      --save-failed        with -n: save it whatever the exit status\n"
	       "  -t, --timeout SECONDS    stop the command after SECONDS; exit 124\n"
	       "  -e, --env K=V            set an environment variable for COMMAND\n"
	       "  -w, --workdir DIR        run COMMAND in DIR in the guest\n"
	       "      --user               Windows: run COMMAND as the logged-on user, on its\n"
	       "                           desktop, instead of as SYSTEM (the default: no\n"
	       "                           session or profile to wait for)\n"
	       "  -p, --pause              keep the VM after COMMAND until Enter\n"
	       "      --no-stdin           do not pass osrun's stdin to COMMAND\n"
	       "      --network POLICY     none (default): the guest reaches osrun's shares\n"
	       "                           only; internet: also outbound connections, but\n"
	       "                           not the host's 127.0.0.1; host: internet and the\n"
	       "                           host's 127.0.0.1 at 10.0.2.2 (for trusted code)\n"
	       "      --monitor            QEMU's human monitor on a UNIX socket in the run\n"
	       "                           directory (its path is printed); with -p to use it\n"
	       "      --vnc                the VM's screen over VNC on a UNIX socket in the run\n"
	       "                           directory (its path is printed)\n"
	       "      --novnc ADDR:PORT    also serve it as a noVNC web page on ADDR:PORT\n"
	       "                           (in a container: --novnc 0.0.0.0:6080 -p)\n"
	       "      --volume HOST_DIR:GUEST_PATH[:ro]  share HOST_DIR with COMMAND at\n"
	       "                           GUEST_PATH (read-only with :ro, enforced on the host)\n"
	       "      --cache-volume NAME:GUEST_PATH  share the store's cache volume NAME\n"
	       "                           (made on first use, kept between runs, one run at a time)\n"
	       "      --copy-in HOST:GUEST    copy a file or tree into the guest before COMMAND\n"
	       "      --copy-out GUEST:HOST   copy one out after COMMAND, also when it failed\n"
	       "      --memory MIB         refuse a snapshot of another memory size\n"
	       "      --share-limit MIB    what the guest may keep in the run's share (output\n"
	       "                           not yet passed on, copy-out tars): past it the run\n"
	       "                           fails (default 8192)\n"
	       "      --agent-timeout SECONDS  how long to wait for the guest agent (60), counted\n"
	       "                           while QEMU can run (a loaded host waits longer)\n"
	       "      --cache DIR          the store (default: $OSRUN_CACHE, else\n"
	       "                           ~/.cache/osrun)\n"
	       "  -v, --verbose            say what happens, with timings\n"
	       "  -h, --help               this text\n"
	       "      --version            osrun's version\n");
	run_help_notes();
}

/* run_help's second half: where runs go, stdin, exit codes, variables. */
static void run_help_notes(void)
{
	printf("\n"
	       "When 'osrun pool' keeps clones of the snapshot warm, COMMAND runs in one\n"
	       "(see 'osrun pool --help'); -n, -p, --vnc, --monitor, a --network other than\n"
	       "none, --user, volumes and copies always restore anew.\n"
	       "\n"
	       "stdin is passed to COMMAND when it is a file or a pipe, not when it is a\n"
	       "terminal. A pipe is streamed while COMMAND runs (Windows guests: read to\n"
	       "its end first); --timeout counts the wait for it.\n"
	       "\n"
	       "Exit status:\n"
	       "  N     COMMAND's own exit status\n"
	       "  128+N COMMAND was killed by signal N (reported on stderr)\n"
	       "  255   a Windows COMMAND's code above 255 (3010, 0xC0000005): the code is\n"
	       "        reported on stderr\n"
	       "  124   COMMAND ran past --timeout\n"
	       "  125   osrun itself failed (reported on stderr)\n"
	       "  130, 143  osrun was interrupted by SIGINT, SIGTERM\n"
	       "\n"
	       "'osrun doctor' says whether this host runs osrun well, and what to fix.\n"
	       "\n"
	       "Environment: OSRUN_CACHE (store), OSRUN_ACCEL (kvm or tcg; default: kvm\n"
	       "when /dev/kvm is usable), OSRUN_QEMU (QEMU binary), OSRUN_GUEST_DIR (the\n"
	       "test guest, for provision and a first run), OSRUN_GUEST (windows or linux:\n"
	       "what a first run builds; OSRUN_WINDOWS_VERSION, OSRUN_WINDOWS_LANGUAGE\n"
	       "pick the ISO it fetches), OSRUN_NO_PROVISION (as\n"
	       "--no-provision), OSRUN_NETGUARD (the loopback guard QEMU loads under\n"
	       "--network internet; default: %s), OSRUN_REGISTRY_TLS_VERIFY (0: -s REF\n"
	       "talks to a plain-HTTP registry).\n",
	       OSRUN_NETGUARD);
}

/* The words after the options, joined with spaces. */
static int command_join(int argc, char **argv, int first, char **ret, struct error *e)
{
	if (first >= argc)
		return error_set(e, -EINVAL, "no command given (see 'osrun --help')");
	size_t len = 0;
	for (int i = first; i < argc; i++)
		len += strlen(argv[i]) + 1;
	_cleanup_free_ char *cmd = malloc(len);
	if (!cmd)
		return error_errno(e, -ENOMEM, "command");
	char *w = cmd;
	for (int i = first; i < argc; i++) {
		w = stpcpy(w, argv[i]);
		*w++ = i + 1 < argc ? ' ' : 0;
	}
	if (!*cmd)
		return error_set(e, -EINVAL, "the command is empty");
	*ret = TAKE_PTR(cmd);
	return 0;
}

/* The repeatable options, as given, until options_volumes and
 * options_copies check them. */
struct run_lists {
	char **volumes, **caches, **copy_in, **copy_out;
};

static void run_lists_release(struct run_lists *l)
{
	strv_free(l->volumes);
	strv_free(l->caches);
	strv_free(l->copy_in);
	strv_free(l->copy_out);
}

/* 0: go on; 1: --help or --version said all. */
static int run_parse(int argc, char **argv, struct run_plan *p, bool *no_provision, struct error *e)
{
	struct common_opts c = {0};
	_cleanup_(run_lists_release) struct run_lists l = {0};
	const char *network = NULL;
	const struct opt table[] = {
		{"use-snapshot", 's', OPT_STRING, &p->snapshot, 0, 0, NULL},
		{"new-snapshot", 'n', OPT_STRING, &p->new_snapshot, 0, 0, NULL},
		{"save-failed", 0, OPT_FLAG, &p->save_failed, 0, 0, NULL},
		{"no-provision", 0, OPT_FLAG, no_provision, 0, 0, NULL},
		{"user", 0, OPT_FLAG, &p->as_user, 0, 0, NULL},
		{"timeout", 't', OPT_SECONDS, &p->timeout, 0, 0, NULL},
		{"env", 'e', OPT_ENV, &p->env, 0, 0, NULL},
		{"workdir", 'w', OPT_STRING, &p->workdir, 0, 0, NULL},
		{"pause", 'p', OPT_FLAG, &p->pause, 0, 0, NULL},
		{"no-stdin", 0, OPT_FLAG, &p->no_stdin, 0, 0, NULL},
		{"monitor", 0, OPT_FLAG, &p->monitor, 0, 0, NULL},
		{"vnc", 0, OPT_FLAG, &p->vnc, 0, 0, NULL},
		{"novnc", 0, OPT_STRING, &p->novnc, 0, 0, NULL},
		{"network", 0, OPT_STRING, &network, 0, 0, NULL},
		{"memory", 0, OPT_UINT, &p->memory_mib, 64, 1u << 20, "expected MiB, 64 or more"},
		{"share-limit", 0, OPT_UINT, &p->share_limit_mib, 1, 1u << 24, "expected MiB"},
		{"agent-timeout", 0, OPT_SECONDS, &p->agent_timeout, 0, 0, NULL},
		{"volume", 0, OPT_LIST, &l.volumes, 0, 0, NULL},
		{"cache-volume", 0, OPT_LIST, &l.caches, 0, 0, NULL},
		{"copy-in", 0, OPT_LIST, &l.copy_in, 0, 0, NULL},
		{"copy-out", 0, OPT_LIST, &l.copy_out, 0, 0, NULL},
		{"version", 0, OPT_VERSION, NULL, 0, 0, NULL},
		OPTS_COMMON(&c),
	};
	p->snapshot = FIRSTRUN_SNAPSHOT;
	*no_provision = firstrun_disabled_by_env();
	p->agent_timeout = 60 * USEC_PER_SEC;
	int first, r = options_parse(table, run_help, true, argc, argv, &first, e);
	if (r != 0)
		return r;
	p->cache = c.cache;
	p->verbose = c.verbose;
	if ((p->novnc && (r = options_check_novnc(p->novnc, e)) < 0) ||
	    (r = options_network(network, &p->network, e)) < 0)
		return r;
	p->vnc = p->vnc || p->novnc;
	if ((r = command_join(argc, argv, first, &p->command, e)) < 0 ||
	    (r = options_check_snapshot_use(p->snapshot, e)) < 0)
		return r;
	if (p->new_snapshot && (r = options_check_snapshot_name(p->new_snapshot, e)) < 0)
		return r;
	if ((r = options_volumes(l.volumes, l.caches, p, e)) < 0 ||
	    (r = options_copies(l.copy_in, l.copy_out, p, e)) < 0)
		return r;
	return 0;
}

int cmd_run(int argc, char **argv)
{
	_cleanup_(run_plan_release) struct run_plan p = {0};
	struct error e = {0};
	bool no_provision;
	int r = run_parse(argc, argv, &p, &no_provision, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	if ((r = options_snapshot_use(&p, &e)) < 0 || (r = firstrun_ensure(p.cache, p.snapshot, no_provision, &e)) < 0)
		return options_report(&e);
	int status;
	if (run_plan_poolable(&p) && (r = pool_run(&p, &status, &e)) != -EAGAIN)
		return r < 0 ? options_report(&e) : status;
	_cleanup_(warm_release) struct warm w = {0};
	_cleanup_(run_result_release) struct run_result res = {0};
	if ((r = run_warm_up(&p, &w, &e)) < 0 || (r = run_command(&p, &w, &res, &e)) < 0)
		return options_report(&e);
	return options_report_result(&res);
}
