/* osrun gitlab-driver config|prepare|run SCRIPT STAGE|cleanup: GitLab
 * Runner's custom executor (gitlab.h does the work). Exit codes are the
 * runner's: BUILD_FAILURE_EXIT_CODE when the job's script failed (its own
 * code in BUILD_EXIT_CODE_FILE), SYSTEM_FAILURE_EXIT_CODE when osrun did. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>

#include "commands.h"
#include "gitlab.h"
#include "options.h"

static void gitlab_help(void)
{
	printf("Usage: osrun gitlab-driver config | prepare | run SCRIPT STAGE | cleanup\n"
	       "\n"
	       "GitLab Runner's custom executor: point config_exec, prepare_exec, run_exec and\n"
	       "cleanup_exec of a [[runners]] entry here (contrib/gitlab-runner/config.toml).\n"
	       "Each job is one session, started from a snapshot at prepare.\n"
	       "\n"
	       "From the runner's environment (config.toml, the admin's):\n"
	       "  OSRUN_ALLOWED_SNAPSHOTS  globs of the snapshots jobs may name (default: only\n"
	       "                           the default snapshot)\n"
	       "  OSRUN_DEFAULT_SNAPSHOT   the snapshot of a job that names none (provisioned)\n"
	       "  OSRUN_NETWORK            none, internet (default) or host\n"
	       "  OSRUN_GITLAB_SHELL       sh (default) or bash for Linux guests, powershell\n"
	       "                           (default) or pwsh for Windows guests\n"
	       "  OSRUN_GITLAB_RUNNER      a tag for this runner's sessions (default r)\n"
	       "  OSRUN_CACHE              the store\n"
	       "From the job: image: or OSRUN_SNAPSHOT (a snapshot name), OSRUN_CACHE_VOLUME\n"
	       "(a suffix for this project's cache volume). The job's and project's ids come\n"
	       "from the runner's JOB_RESPONSE_FILE (GitLab Runner 14.1 and later), never\n"
	       "from the job's variables.\n");
}

/* An exit code the runner's environment names, 1-255. */
static int runner_code(const char *name, int dflt)
{
	unsigned v;
	const char *s = getenv(name);
	return s && parse_uint(s, 1, 255, &v) == 0 ? (int)v : dflt;
}

/* BUILD_EXIT_CODE_FILE, when the runner asks for it: the script's code. */
static int write_build_code(int code, struct error *e)
{
	const char *path = getenv("BUILD_EXIT_CODE_FILE");
	char text[16];
	int n = snprintf(text, sizeof text, "%d\n", code);
	if (!path || !*path)
		return 0;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_full(fd, text, (size_t)n) < 0)
		return error_errno(e, fd < 0 ? -errno : -EIO, "BUILD_EXIT_CODE_FILE %s", path);
	return 0;
}

static int gitlab_stage(const char *stage, int argc, char **argv, struct gitlab_job *j, int *ret_build, struct error *e)
{
	static const struct serve_report report = {options_report, options_report_result};
	enum network network;
	const char *net = getenv("OSRUN_NETWORK");
	int r = options_network(net && *net ? net : "internet", &network, e);
	if (r < 0 || (r = gitlab_job_load(j, NULL, !strcmp(stage, "cleanup"), e)) < 0)
		return r;
	if (!strcmp(stage, "config")) {
		_cleanup_free_ char *json = gitlab_config_json(j, OSRUN_VERSION);
		return json ? (printf("%s\n", json), 0) : error_errno(e, -ENOMEM, "config");
	}
	if (!strcmp(stage, "prepare"))
		return gitlab_prepare(j, NULL, network, &report, e);
	if (!strcmp(stage, "cleanup"))
		return gitlab_cleanup(j, NULL, e);
	if (argc != 4)
		return error_set(e, -EINVAL, "gitlab-driver run: expected SCRIPT STAGE");
	/* The runner reads the file after any stage that exits 1 and never
	 * empties it: a code left by an earlier stage must not be read. */
	const char *code_file = getenv("BUILD_EXIT_CODE_FILE");
	if (code_file && *code_file && unlink(code_file) < 0 && errno != ENOENT)
		return error_errno(e, -errno, "BUILD_EXIT_CODE_FILE %s", code_file);
	return gitlab_run(j, NULL, argv[2], argv[3], ret_build, e);
}

int cmd_gitlab(int argc, char **argv)
{
	struct error e = {0};
	int build_fail = runner_code("BUILD_FAILURE_EXIT_CODE", 1),
	    system_fail = runner_code("SYSTEM_FAILURE_EXIT_CODE", 2);
	const char *stage = argc >= 2 ? argv[1] : "";
	if (!strcmp(stage, "-h") || !strcmp(stage, "--help"))
		return gitlab_help(), 0;
	if (strcmp(stage, "config") && strcmp(stage, "prepare") && strcmp(stage, "run") && strcmp(stage, "cleanup")) {
		error_set(&e, -EINVAL, "gitlab-driver: expected config, prepare, run SCRIPT STAGE or cleanup");
		return options_report(&e), system_fail;
	}
	if (options_parse_only())
		return 0;
	_cleanup_(gitlab_job_release) struct gitlab_job j = {0};
	int build = 0, r = gitlab_stage(stage, argc, argv, &j, &build, &e);
	if (r < 0) {
		options_report(&e);
		/* GitLab only logs a failed cleanup. */
		return strcmp(stage, "cleanup") ? system_fail : 0;
	}
	if (build == 0)
		return 0;
	if (write_build_code(build, &e) < 0)
		return options_report(&e), system_fail;
	return build_fail;
}
