#define _GNU_SOURCE
#include "selftest-exec.h"

#include <fcntl.h>
#include <string.h>

#include "job.h"
#include "lib/capture.h"
#include "lib/log.h"
#include "run.h"

int st_context_open(struct st_context *t, const char *cache, const char *snapshot, int verbose, struct error *e)
{
	*t = (struct st_context){.cache = cache, .snapshot = snapshot, .verbose = verbose};
	int r = job_store_open(cache, &t->store, e);
	if (r < 0)
		return r;
	r = snapshot_open(t->store, snapshot, &t->sn);
	if (r == -ENOENT)
		return error_set(e, r,
				 "snapshot '%s': not found in %s (make one with 'osrun provision', or 'osrun image "
				 "build' for Windows)",
				 snapshot, t->store->root);
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", snapshot);
	const char *profile = t->sn->meta.machine.profile;
	if (strcmp(profile, "linux") && strcmp(profile, "windows"))
		return error_set(e, -EOPNOTSUPP, "snapshot '%s': the self-test knows no '%s' guest", snapshot, profile);
	t->os = strcmp(profile, "windows") ? ST_LINUX : ST_WINDOWS;
	if ((r = rundir_new(&t->scratch)) < 0)
		return error_errno(e, r, "a scratch directory for the self-test");
	return 0;
}

int st_context_drop_layer(struct st_context *t)
{
	if (!t->layer)
		return 0;
	_cleanup_free_ char *child = NULL;
	int r = snapshot_remove(t->store, t->layer, &child);
	if (r < 0 && r != -ENOENT)
		log_warn("could not remove snapshot '%s', which the self-test made: %s (remove it with 'osrun snapshot "
			 "rm %s')",
			 t->layer, strerror(-r), t->layer);
	free(t->layer);
	t->layer = NULL;
	return r == -ENOENT ? 0 : r;
}

void st_context_release(struct st_context *t)
{
	st_context_drop_layer(t);
	t->scratch = rundir_free(t->scratch);
	t->sn = snapshot_free(t->sn);
	t->store = store_free(t->store);
}

void st_clone_init(struct st_context *t, struct st_clone *c, const char *snapshot)
{
	*c = (struct st_clone){.plan = {
				       .cache = t->cache,
				       .verbose = t->verbose,
				       .snapshot = snapshot ? snapshot : t->snapshot,
				       .agent_timeout = 60 * USEC_PER_SEC,
				       .timeout = ST_COMMAND_TIMEOUT,
				       .no_stdin = true,
			       }};
}

static void clone_spend(struct st_clone *c)
{
	warm_release(&c->w);
	c->w = (struct warm){0};
	c->ready = c->used = false;
}

void st_clone_release(struct st_clone *c)
{
	clone_spend(c);
	run_plan_release(&c->plan);
	c->plan = (struct run_plan){0};
}

static void restore_failed(struct st_context *t, struct st_clone *c, int r, const char *msg, struct st_outcome *o)
{
	o->r = r;
	snprintf(o->msg, sizeof o->msg, "restoring snapshot '%s': %.*s", c->plan.snapshot, (int)sizeof o->msg / 2, msg);
	if (!t->restores_failed++)
		snprintf(t->first_failure, sizeof t->first_failure, "%.*s", (int)sizeof t->first_failure - 1, o->msg);
	clone_spend(c);
}

int st_clone_restore(struct st_context *t, struct st_clone *c, struct st_outcome *o, bool *ret_ok, struct error *e)
{
	*ret_ok = c->ready;
	if (c->ready)
		return 0;
	struct error we = {0};
	c->t0 = now_usec();
	int r = run_warm_up(&c->plan, &c->w, &we);
	if (r == -ECANCELED || r == -ENOMEM) {
		*e = we;
		clone_spend(c);
		return r;
	}
	if (r < 0) {
		restore_failed(t, c, r, we.msg, o);
		return 0;
	}
	c->ready = *ret_ok = true;
	if (c->w.share_ready && t->n_share < ST_SHARE_SAMPLES)
		t->share_ready[t->n_share++] = (double)(c->w.share_ready - c->t0) / USEC_PER_SEC;
	if (!*t->qemu_version)
		snprintf(t->qemu_version, sizeof t->qemu_version, "%s", qmp_version(vm_qmp(c->w.j.vm)));
	return 0;
}

/* The step's part of the plan: command, environment, directory, --user. */
static int plan_step(struct run_plan *p, const struct st_step *s)
{
	free(p->command);
	strv_free(p->env);
	p->env = NULL;
	p->command = strdup(s->cmd);
	if (!p->command)
		return -ENOMEM;
	for (const char *const *v = s->env; v && *v; v++)
		if (!(p->env = strv_append(p->env, *v)))
			return -ENOMEM;
	p->workdir = s->workdir;
	p->as_user = s->as_user;
	p->no_stdin = !s->in;
	return 0;
}

/* A pipe that holds s->in and its end, as a pipe on osrun's stdin would;
 * -1 when there is no input. The text fits in a pipe's buffer. */
static int stdin_pipe(const struct st_step *s)
{
	int p[2];
	if (!s->in || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	int r = write_full(p[1], s->in, strlen(s->in));
	close(p[1]);
	if (r < 0)
		return safe_close(p[0]);
	return p[0];
}

/* run_command with the streams in cap, and how it ended into o. */
static int command_run(struct st_clone *c, struct capture *cap, int in, struct st_outcome *o, struct error *e)
{
	int stdio[3] = {in, capture_fd(cap, 1), capture_fd(cap, 2)};
	struct run_result res = {0};
	c->plan.stdio = stdio;
	usec_t start = now_usec();
	int r = c->used ? share_reset(c->w.sh) : 0;
	if (r < 0)
		r = error_errno(e, r, "emptying the run's share for the next command");
	else
		r = run_command(&c->plan, &c->w, &res, e);
	o->seconds = seconds_since(start);
	c->plan.stdio = NULL;
	bool first = !c->used;
	c->used = true;
	capture_stop(cap);
	size_t n;
	if (!(o->out = strdup(capture_data(cap, 1, &n, NULL))) || !(o->err = strdup(capture_data(cap, 2, &n, NULL))))
		r = error_errno(e, -ENOMEM, "the command's output");
	usec_t t = capture_first(cap);
	o->first_output = first && t ? (double)(t - c->t0) / USEC_PER_SEC : -1;
	if (r == 0) {
		o->status = res.status;
		snprintf(o->why, sizeof o->why, "%s", res.why);
	}
	run_result_release(&res);
	return r;
}

int st_clone_command(struct st_context *t, struct st_clone *c, const struct st_step *s, struct st_outcome *o,
		     struct error *e)
{
	*o = (struct st_outcome){.first_output = -1};
	bool ok;
	int r = st_clone_restore(t, c, o, &ok, e);
	if (r < 0 || !ok)
		return r;
	if (plan_step(&c->plan, s) < 0)
		return error_errno(e, -ENOMEM, "the self-test's command");
	_cleanup_(capture_freep) struct capture *cap = NULL;
	if ((r = capture_start(ST_OUTPUT_MAX, &cap)) < 0)
		return error_errno(e, r, "capturing the command's output");
	_cleanup_close_ int in = stdin_pipe(s);
	if (s->in && in < 0)
		return error_errno(e, -errno, "the command's stdin");
	struct error ce = {0};
	r = command_run(c, cap, in, o, &ce);
	if (r == -ECANCELED || r == -ENOMEM) {
		*e = ce;
		clone_spend(c);
		return r;
	}
	if (r < 0) {
		o->r = r;
		snprintf(o->msg, sizeof o->msg, "%.*s", (int)sizeof o->msg - 1, ce.msg);
		clone_spend(c);
	}
	return 0;
}
