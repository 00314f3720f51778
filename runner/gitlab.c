/* GitLab Runner's custom executor (gitlab.h). Facts relied on, from
 * GitLab Runner's documentation of the custom executor and its merge
 * requests: JOB_RESPONSE_FILE holds the job as the runner received it
 * (MR 2912, because CUSTOM_ENV_* can be set by the job: issue 4677);
 * BUILD_EXIT_CODE_FILE takes the script's own exit code (MR 5028). */
#define _GNU_SOURCE
#include "gitlab.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "session-keeper.h"
#include "session.h"

/* Bounds what is read of the runner's job file. */
#define JOB_RESPONSE_MAX (64u << 20)

void gitlab_job_release(struct gitlab_job *j)
{
	free(j->snapshot);
	free(j->volume);
}

/* s as a decimal id of at most n - 1 digits into out; "" and NULL: dflt. */
static int id_copy(const char *what, const char *s, const char *dflt, char *out, size_t n, struct error *e)
{
	if (!s || !*s)
		s = dflt;
	size_t len = strspn(s, "0123456789");
	if (!*s || s[len] || len >= n)
		return error_set(e, -EINVAL, "%s '%.40s': expected a number of at most %zu digits", what, s ? s : "",
				 n - 1);
	memcpy(out, s, len + 1);
	return 0;
}

static json_object *json_path(json_object *o, const char *a, const char *b)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, a, &v) || !b)
		return v;
	return json_object_object_get_ex(v, b, &v) ? v : NULL;
}

/* The runner's own account of the job. *ret_image: image: (or NULL). */
static int job_from_response(struct gitlab_job *j, const char *path, char **ret_image, struct error *e)
{
	_cleanup_free_ char *text = NULL;
	size_t n;
	int r = read_file_untrusted(path, JOB_RESPONSE_MAX, &text, &n);
	if (r == -EFBIG || r == -EBADMSG)
		return error_set(e, -EINVAL, "JOB_RESPONSE_FILE %s: not a regular file of at most 64 MiB", path);
	if (r < 0)
		return error_errno(e, r, "JOB_RESPONSE_FILE %s", path);
	json_object *o = json_tokener_parse(text);
	json_object *id = json_path(o, "id", NULL), *project = json_path(o, "job_info", "project_id"),
		    *timeout = json_path(o, "runner_info", "timeout"), *image = json_path(o, "image", "name"),
		    *services = json_path(o, "services", NULL);
	if (!json_object_is_type(id, json_type_int) || !json_object_is_type(project, json_type_int) ||
	    json_object_get_int64(id) < 0 || json_object_get_int64(project) < 0) {
		json_object_put(o);
		return error_set(e, -EINVAL, "JOB_RESPONSE_FILE %s: no job id and project id in it", path);
	}
	snprintf(j->id, sizeof j->id, "%lld", (long long)json_object_get_int64(id));
	snprintf(j->project, sizeof j->project, "%lld", (long long)json_object_get_int64(project));
	if (json_object_is_type(timeout, json_type_int) && json_object_get_int64(timeout) > 0)
		j->timeout = (usec_t)json_object_get_int64(timeout) * USEC_PER_SEC;
	const char *name = json_object_is_type(image, json_type_string) ? json_object_get_string(image) : NULL;
	*ret_image = name && *name ? strdup(name) : NULL;
	j->services = json_object_is_type(services, json_type_array) ? json_object_array_length(services) : 0;
	json_object_put(o);
	return 0;
}

/* Whether jobs may use name: the admin's default, or one that the admin's
 * OSRUN_ALLOWED_SNAPSHOTS (globs, separated by spaces or commas) matches. */
static bool snapshot_allowed(const char *name, const char *dflt)
{
	const char *list = getenv("OSRUN_ALLOWED_SNAPSHOTS");
	if (!strcmp(name, dflt))
		return true;
	if (!list)
		return false;
	_cleanup_free_ char *copy = strdup(list);
	for (char *save = NULL, *g = copy ? strtok_r(copy, " ,", &save) : NULL; g; g = strtok_r(NULL, " ,", &save))
		if (fnmatch(g, name, 0) == 0)
			return true;
	return false;
}

/* image:, else OSRUN_SNAPSHOT, else the default: the first that the job
 * names is the one it gets, or a refusal (never another one). */
static int job_snapshot(struct gitlab_job *j, char *image, struct error *e)
{
	const char *dflt = getenv("OSRUN_DEFAULT_SNAPSHOT"), *want = getenv("CUSTOM_ENV_OSRUN_SNAPSHOT"), *why;
	if (!dflt || !*dflt)
		dflt = "provisioned";
	const char *name = image ? image : want && *want ? want : dflt;
	if (snapshot_name_check(name, &why) < 0)
		return error_set(e, -EINVAL, "snapshot '%.64s' (the job's %s) %s", name,
				 image ? "image:" : "OSRUN_SNAPSHOT", why);
	if (!snapshot_allowed(name, dflt))
		return error_set(e, -EPERM,
				 "snapshot '%s' is not one this runner's jobs may use (OSRUN_ALLOWED_SNAPSHOTS)", name);
	return (j->snapshot = strdup(name)) ? 0 : error_errno(e, -ENOMEM, "snapshot");
}

/* The project's cache volume: ci-PROJECT[-SUFFIX]-SLOT, the suffix the
 * job's OSRUN_CACHE_VOLUME (letters, digits, '.' and '_'), the slot its
 * CI_CONCURRENT_PROJECT_ID (concurrent jobs of a project: one each). */
static int job_volume(struct gitlab_job *j, struct error *e)
{
	const char *suffix = getenv("CUSTOM_ENV_OSRUN_CACHE_VOLUME");
	int r = id_copy("CI_CONCURRENT_PROJECT_ID", getenv("CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID"), "0", j->slot,
			sizeof j->slot, e);
	if (r == 0 && atoi(j->slot) >= 64)
		r = error_set(e, -EINVAL, "CI_CONCURRENT_PROJECT_ID '%s': expected a slot below 64", j->slot);
	if (r < 0)
		return r;
	if (suffix && *suffix &&
	    (strlen(suffix) > 32 || suffix[0] == '.' ||
	     suffix[strspn(suffix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._")]))
		return error_set(e, -EINVAL,
				 "OSRUN_CACHE_VOLUME '%.40s': expected up to 32 letters, digits, '.' or '_' (it names "
				 "one of this project's cache volumes)",
				 suffix);
	r = suffix && *suffix ? asprintf(&j->volume, "ci-%s-%s-%s", j->project, suffix, j->slot)
			      : asprintf(&j->volume, "ci-%s-%s", j->project, j->slot);
	return r < 0 ? (j->volume = NULL, error_errno(e, -ENOMEM, "volume")) : 0;
}

/* The guest the snapshot holds, and what follows from it. */
static int job_guest(struct gitlab_job *j, const char *cache, struct error *e)
{
	_cleanup_(job_release) struct job store = {0};
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	int r = job_open_store(&store, cache, false, e);
	if (r < 0)
		return r;
	if ((r = snapshot_open(store.store, j->snapshot, &sn)) < 0)
		return r == -ENOENT ? error_set(e, r, "snapshot '%s': not found in %s", j->snapshot, store.store->root)
				    : error_errno(e, r, "snapshot '%s'", j->snapshot);
	j->windows = !strcmp(sn->meta.machine.profile, "windows");
	const char *shell = getenv("OSRUN_GITLAB_SHELL");
	const char *const ok[2][2] = {{"sh", "bash"}, {"powershell", "pwsh"}};
	j->shell = ok[j->windows][shell && !strcmp(shell, ok[j->windows][1])];
	if (shell && strcmp(shell, ok[j->windows][0]) && strcmp(shell, ok[j->windows][1]))
		return error_set(e, -EINVAL, "OSRUN_GITLAB_SHELL '%s': expected %s or %s for a %s guest", shell,
				 ok[j->windows][0], ok[j->windows][1], j->windows ? "Windows" : "Linux");
	j->builds = j->windows ? "C:\\builds" : "/builds";
	j->cache_dir = j->windows ? "C:\\cache" : "/cache";
	j->scripts = j->windows ? "C:\\osrun-ci" : "/tmp/osrun-ci";
	return 0;
}

/* OSRUN_GITLAB_RUNNER (the admin's; default "r"): keeps apart the jobs of
 * runners, or GitLab instances, whose job ids may meet in one store. */
static int runner_tag(char *out, size_t n, struct error *e)
{
	const char *t = getenv("OSRUN_GITLAB_RUNNER");
	if (!t || !*t)
		t = "r";
	size_t len = strlen(t);
	if (len >= n || t[strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")])
		return error_set(e, -EINVAL, "OSRUN_GITLAB_RUNNER '%.40s': expected up to %zu letters and digits", t,
				 n - 1);
	memcpy(out, t, len + 1);
	return 0;
}

int gitlab_job_load(struct gitlab_job *j, const char *cache, bool identity_only, struct error *e)
{
	_cleanup_free_ char *image = NULL;
	/* CUSTOM_ENV_CI_JOB_ID and the like are the job's to set: without
	 * the runner's file (GitLab Runner 14.1 and later write it) a job
	 * could name another job's session or project's cache. */
	const char *response = getenv("JOB_RESPONSE_FILE");
	if (!response || !*response)
		return error_set(e, -EINVAL,
				 "JOB_RESPONSE_FILE is not set: the job's ids cannot be trusted (GitLab "
				 "Runner 14.1 or later writes it)");
	int r = job_from_response(j, response, &image, e);
	if (r < 0 || (r = runner_tag(j->runner, sizeof j->runner, e)) < 0)
		return r;
	snprintf(j->session, sizeof j->session, "ci-%s-%s", j->runner, j->id);
	if (identity_only)
		return 0;
	if (j->services)
		return error_set(e, -EINVAL, "the job asks for %u services:, which the osrun driver does not run",
				 j->services);
	if ((r = job_snapshot(j, image, e)) < 0 || (r = job_volume(j, e)) < 0)
		return r;
	return job_guest(j, cache, e);
}

char *gitlab_config_json(const struct gitlab_job *j, const char *version)
{
	json_object *o = json_object_new_object(), *d = json_object_new_object();
	_cleanup_free_ char *host = NULL;
	json_object_object_add(o, "builds_dir", json_object_new_string(j->builds));
	json_object_object_add(o, "cache_dir", json_object_new_string(j->cache_dir));
	json_object_object_add(o, "builds_dir_is_shared", json_object_new_boolean(false));
	if (asprintf(&host, "osrun-%s", j->session) >= 0)
		json_object_object_add(o, "hostname", json_object_new_string(host));
	json_object_object_add(o, "shell", json_object_new_string(j->shell));
	json_object_object_add(d, "name", json_object_new_string("osrun"));
	json_object_object_add(d, "version", json_object_new_string(version));
	json_object_object_add(o, "driver", d);
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return s;
}

/* One request to the job's session: its exit status in *ret_status. */
static int job_request(const struct gitlab_job *j, const char *cache, struct run_plan *p, int *ret_status,
		       struct error *e)
{
	p->cache = cache;
	return session_request(cache, j->session, p, ret_status, e);
}

static int job_stop(const struct gitlab_job *j, const char *cache, struct error *e)
{
	_cleanup_free_ char *root = session_store_root(cache);
	if (!root || !session_alive(root, j->session))
		return 0;
	_cleanup_(run_plan_release) struct run_plan p = {.op = RUN_OP_STOP};
	int status;
	return job_request(j, cache, &p, &status, e);
}

int gitlab_prepare(const struct gitlab_job *j, const char *cache, enum network network, const struct serve_report *rep,
		   struct error *e)
{
	/* A retried prepare finds the session its first try left. */
	int r = job_stop(j, cache, e);
	if (r < 0)
		return r;
	_cleanup_(run_plan_release) struct run_plan p = {
		.cache = cache, .snapshot = j->snapshot, .agent_timeout = 60 * USEC_PER_SEC, .network = network};
	_cleanup_free_ char *spec = NULL;
	if (asprintf(&spec, "%s:%s", j->volume, j->cache_dir) < 0)
		return error_errno(e, -ENOMEM, "volume");
	if ((r = cache_volume_parse(spec, &p.volumes[0], e)) < 0)
		return r;
	p.n_volumes = 1;
	/* The job's own timeout bounds its VM, with room for after_script
	 * and the caches' stages after a timed-out script. */
	const struct session_keeper_plan kp = {.name = j->session,
					       .idle_timeout = 1800 * USEC_PER_SEC,
					       .max_lifetime = j->timeout ? j->timeout + 600 * USEC_PER_SEC
									  : 14400 * USEC_PER_SEC,
					       .report = rep};
	_cleanup_free_ char *name = NULL;
	log_info("job %s: session %s from snapshot '%s', cache volume '%s'", j->id, j->session, j->snapshot, j->volume);
	return session_keeper_start(&p, &kp, &name, e);
}

/* The guest command for a stage's script: it runs under the job's shell,
 * leaves the script's exit code in the scripts directory and exits 1 when
 * that is not 0, so that any other status is osrun's own (124, 125,
 * 128+N). On Windows it is a batch file (a command with line feeds is
 * one): each line is read as it runs, so %errorlevel% is the script's. */
static char *stage_command(const struct gitlab_job *j, const char *guest_script)
{
	char *cmd = NULL;
	/* The old rc goes first: a write that fails must not leave the last
	 * stage's. In cmd, "echo 1>f" would redirect handle 1: the
	 * redirection comes first. */
	int r = j->windows ? asprintf(&cmd,
				      "@del /q %s\\rc 2>nul\n"
				      "@%s -NoProfile -NonInteractive -ExecutionPolicy Bypass -File %s\n"
				      "@set rc=%%errorlevel%%\n"
				      "@>%s\\rc echo %%rc%%\n"
				      "@if not \"%%rc%%\"==\"0\" exit /b 1\n",
				      j->scripts, j->shell, guest_script, j->scripts)
			   : asprintf(&cmd, "rm -f %s/rc; %s %s; rc=$?; echo $rc >%s/rc; [ $rc = 0 ] || exit 1",
				      j->scripts, j->shell, guest_script, j->scripts);
	return r < 0 ? NULL : cmd;
}

/* The script's exit code, as it left it in the guest. */
static int stage_exit_code(const struct gitlab_job *j, const char *cache, int *ret, struct error *e)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *base = path_join(tmp && *tmp ? tmp : "/tmp", "osrun-gitlab.XXXXXX");
	if (!base || !mkdtemp(base))
		return error_errno(e, base ? -errno : -ENOMEM, "a directory for the script's exit code");
	_cleanup_(run_plan_release) struct run_plan p = {.op = RUN_OP_COPY, .n_copy_out = 1};
	p.copy_out[0].host = path_join(base, "rc");
	if (asprintf(&p.copy_out[0].guest, "%s%src", j->scripts, j->windows ? "\\" : "/") < 0)
		p.copy_out[0].guest = NULL;
	int status, r = p.copy_out[0].host && p.copy_out[0].guest ? job_request(j, cache, &p, &status, e)
								  : error_errno(e, -ENOMEM, "exit code");
	/* The guest wrote it: a regular file of a few bytes, never quoted. */
	_cleanup_free_ char *text = NULL;
	if (r == 0 && status != 0)
		r = error_set(e, -EPROTO, "the script's exit code could not be copied out (status %d)", status);
	size_t n;
	if (r == 0 && read_file_untrusted(p.copy_out[0].host, 32, &text, &n) < 0)
		r = error_set(e, -EPROTO, "the script's exit code: not a small regular file");
	char *end = NULL;
	long long code = r == 0 ? (errno = 0, strtoll(text, &end, 10)) : 0;
	if (r == 0 && (end == text || errno || code == 0 || code < INT32_MIN || code > (long long)UINT32_MAX ||
		       end[strspn(end, "\r\n ")]))
		r = error_set(e, -EPROTO, "the script's exit code is not a number other than 0");
	rm_rf(base);
	if (r == 0)
		*ret = (int)code;
	return r;
}

/* Stage names are GitLab's (prepare_script, step_script, step_release...):
 * they become file names in the guest. */
static bool stage_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 64 && s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_")] == 0;
}

int gitlab_run(const struct gitlab_job *j, const char *cache, const char *script, const char *stage, int *ret_build,
	       struct error *e)
{
	if (!stage_name_ok(stage))
		return error_set(e, -EINVAL, "stage '%.64s': expected lower-case letters, digits and '_'", stage);
	_cleanup_free_ char *host = realpath(script, NULL), *guest = NULL;
	if (!host)
		return error_errno(e, -errno, "script %s", script);
	if (asprintf(&guest, "%s%s%s%s", j->scripts, j->windows ? "\\" : "/", stage, j->windows ? ".ps1" : "") < 0)
		return error_errno(e, -ENOMEM, "script");
	_cleanup_(run_plan_release) struct run_plan cp = {.op = RUN_OP_COPY, .n_copy_in = 1};
	cp.copy_in[0].host = TAKE_PTR(host);
	cp.copy_in[0].guest = strdup(guest);
	int status,
		r = cp.copy_in[0].guest ? job_request(j, cache, &cp, &status, e) : error_errno(e, -ENOMEM, "script");
	if (r == 0 && status != 0)
		r = error_set(e, -EPROTO, "stage %s: copying its script in failed (exit status %d)", stage, status);
	if (r < 0)
		return r;
	_cleanup_(run_plan_release) struct run_plan p = {.op = RUN_OP_COMMAND, .no_stdin = true};
	if (!(p.command = stage_command(j, guest)))
		return error_errno(e, -ENOMEM, "command");
	if ((r = job_request(j, cache, &p, &status, e)) < 0)
		return r;
	if (status == 0 || status == 1) {
		*ret_build = 0;
		return status ? stage_exit_code(j, cache, ret_build, e) : 0;
	}
	return error_set(e, -EPROTO, "stage %s: osrun failed (exit status %d, said above)", stage, status);
}

int gitlab_cleanup(const struct gitlab_job *j, const char *cache, struct error *e) { return job_stop(j, cache, e); }
