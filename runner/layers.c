/* osrun build's engine (layers.h). */
#define _GNU_SOURCE
#include "layers.h"

#include <fcntl.h>
#include <string.h>

#include "../snapshots/layer.h"
#include "buildstate.h"
#include "lib/log.h"

void layers_result_release(struct layers_result *r)
{
	for (size_t i = 0; i < r->n_steps; i++) {
		free(r->steps[i].what);
		free(r->steps[i].layer);
	}
	free(r->steps);
	free(r->helper_stderr);
	memset(r, 0, sizeof *r);
}

/* Makes the result's entry for a step. */
static struct layers_step *result_add(struct layers_result *res, const struct build_step *st, const char *what)
{
	struct layers_step *n = reallocarray(res->steps, res->n_steps + 1, sizeof *n);
	if (!n)
		return NULL;
	res->steps = n;
	n = &res->steps[res->n_steps];
	*n = (struct layers_step){.line = st->line, .what = strdup(what)};
	if (!n->what)
		return NULL;
	res->n_steps++;
	return n;
}

/* A cached step's log, as it was when it ran (--progress plain). */
static void log_replay(const struct snapshot *sn)
{
	_cleanup_free_ char *path = snapshot_path(sn, "build.log");
	_cleanup_close_ int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	if (fd >= 0)
		(void)copy_stream(fd, STDOUT_FILENO, USEC_INFINITY, NULL);
}

/* Runs rp (from the current layer, saved as layer) and takes the new
 * layer as the current one. */
static int step_run(struct build_state *s, struct run_plan *rp, const char *layer, struct layers_result *res,
		    struct error *e)
{
	_cleanup_(warm_release) struct warm w = {0};
	_cleanup_(run_result_release) struct run_result out = {0};
	int r = run_warm_up(rp, &w, e);
	if (r < 0)
		return r;
	_cleanup_free_ char *log = snapshot_new_path(w.nsn, "build.log");
	_cleanup_close_ int fd = log ? open(log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
	if (fd < 0)
		return error_errno(e, log ? -errno : -ENOMEM, "%s", log ? log : "build.log");
	rp->step_log_fd = fd;
	if ((r = run_command(rp, &w, &out, e)) < 0)
		return r;
	if (out.status != 0) {
		res->status = out.status;
		snprintf(res->why, sizeof res->why, "%s", out.why);
		res->helper_stderr = TAKE_PTR(out.helper_stderr);
		return 0;
	}
	warm_release(&w); /* QEMU gone, the layer saved */
	struct snapshot *next;
	if ((r = snapshot_open(s->j.store, layer, &next)) < 0)
		return error_errno(e, r, "snapshot '%s' (just saved)", layer);
	snapshot_free(s->layer);
	s->layer = next;
	return 0;
}

static const struct snapshot_meta *step_meta(struct build_state *s, struct snapshot_meta *m, const char *key,
					     const char *what, const struct build_step *st)
{
	*m = (struct snapshot_meta){.env = s->env, .workdir = s->workdir};
	m->layer = (struct snapshot_layer){.key = (char *)key, .step = (char *)what, .file = s->file, .line = st->line};
	return m;
}

/* A RUN or COPY: found by its key, or run. */
static int step_layer(struct build_state *s, const struct build_step *st, struct layers_result *res, size_t index,
		      struct error *e)
{
	_cleanup_(run_plan_release) struct run_plan rp = {.cache = s->p->cache,
							  .verbose = s->p->verbose,
							  .timeout = s->p->timeout,
							  .agent_timeout = 60 * USEC_PER_SEC,
							  .share_limit_mib = s->p->share_limit_mib,
							  .network = s->p->network,
							  .no_stdin = true,
							  .snapshot = s->layer->name};
	_cleanup_(digest_freep) struct digest *d = NULL;
	_cleanup_free_ char *what = NULL, *layer = NULL, *found = NULL;
	char key[DIGEST_HEX_LEN + 1];
	if (digest_new(&d) < 0)
		return error_errno(e, -ENOMEM, "key");
	int r = 0;
	if (st->kind == STEP_RUN)
		r = (rp.command = build_state_command(s, st)) ? 0 : -ENOMEM;
	else if ((r = build_state_copy(s, st, &rp, d, e)) < 0)
		return r;
	else /* the copies come before the command: a no-op for both shells */
		r = (rp.command = strdup("exit 0")) ? 0 : -ENOMEM;
	if (r < 0 ||
	    asprintf(&what, "%s %s", step_kind_name(st->kind), st->kind == STEP_RUN ? rp.command : st->text) < 0)
		return error_errno(e, -ENOMEM, "step");
	if ((r = build_state_key(s, what, d, key)) < 0 || (r = layer_entry_name(key, &layer)) < 0)
		return error_errno(e, r, "key");
	struct layers_step *out = result_add(res, st, what);
	if (!out)
		return error_errno(e, -ENOMEM, "step");
	snprintf(s->key, sizeof s->key, "%s", key);
	size_t total = s->f->n_steps;
	if (!s->missed && (r = layer_find(s->j.store, key, &found)) == 0) {
		struct snapshot *next;
		if ((r = snapshot_open(s->j.store, found, &next)) < 0)
			return error_errno(e, r, "snapshot '%s'", found);
		snapshot_free(s->layer);
		s->layer = next;
		out->cached = true;
		out->layer = TAKE_PTR(found);
		if (!s->p->dry_run)
			log_info("[%zu/%zu] %s: cached (%s)", index + 1, total, what, out->layer);
		if (s->p->show_cached_logs && !s->p->dry_run)
			log_replay(s->layer);
		return 0;
	}
	if (r < 0 && r != -ENOENT)
		return error_errno(e, r, "looking up layer %s", layer);
	s->missed = true;
	out->layer = TAKE_PTR(layer);
	if (s->p->dry_run) {
		out->would_run = true;
		return 0;
	}
	log_info("[%zu/%zu] %s", index + 1, total, what);
	usec_t t0 = now_usec();
	struct snapshot_meta m;
	rp.step = step_meta(s, &m, key, what, st);
	rp.new_snapshot = out->layer;
	_cleanup_strv_free_ char **env = NULL;
	for (char **v = s->args; v && *v; v++)
		if (!(env = strv_append(env, *v)))
			return error_errno(e, -ENOMEM, "env");
	for (char **v = s->env; v && *v; v++)
		if (!(env = strv_append(env, *v)))
			return error_errno(e, -ENOMEM, "env");
	rp.env = TAKE_PTR(env);
	rp.workdir = s->workdir;
	if ((r = step_run(s, &rp, out->layer, res, e)) < 0)
		return r;
	if (res->status == 0)
		log_info("[%zu/%zu] done in %.1f s (%s)", index + 1, total, seconds_since(t0), out->layer);
	return 0;
}

static bool strv_equal(char *const *a, char *const *b)
{
	for (; a && *a && b && *b; a++, b++)
		if (strcmp(*a, *b))
			return false;
	return !(a && *a) && !(b && *b);
}

/* -t NAME for the last layer: hard links to its files, with the ENV and
 * WORKDIR of the whole file. A NAME from an earlier build's -t is replaced
 * (refused while a run uses it or a snapshot is built on it); any other
 * snapshot of that name (osrun -n, a session's, provisioned, a layer) is
 * someone's work and never removed by a build. */
static int tag_check(const char *tag, const struct snapshot *old, struct error *e)
{
	if (old->meta.layer.key && !layer_is_unnamed(tag, &old->meta))
		return 0;
	return error_set(e, -EEXIST,
			 "-t %s: snapshot '%s' exists and is no earlier build's tag: not replaced (choose another "
			 "name, or remove it with 'osrun snapshot rm %s')",
			 tag, tag, tag);
}

/* Before any step runs: a -t that will be refused is refused now. */
static int tag_precheck(struct build_state *s, struct error *e)
{
	_cleanup_(snapshot_freep) struct snapshot *old = NULL;
	int r = snapshot_open(s->j.store, s->p->tag, &old);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? error_errno(e, r, "-t %s", s->p->tag) : tag_check(s->p->tag, old, e);
}

static int tag_layer(struct build_state *s, struct layers_result *res, struct error *e)
{
	const char *tag = s->p->tag;
	if (!strcmp(tag, s->layer->name))
		return 0;
	struct snapshot_meta m = s->layer->meta;
	m.env = s->env;
	m.workdir = s->workdir;
	_cleanup_(snapshot_freep) struct snapshot *old = NULL;
	int r = snapshot_open(s->j.store, tag, &old);
	if (r == 0) {
		const struct snapshot_meta *o = &old->meta;
		if ((r = tag_check(tag, old, e)) < 0)
			return r;
		res->up_to_date = o->layer.key && m.layer.key && !strcmp(o->layer.key, m.layer.key) &&
				  strv_equal(o->env, m.env) &&
				  !strcmp(o->workdir ? o->workdir : "", m.workdir ? m.workdir : "");
		if (res->up_to_date || s->p->dry_run)
			return 0;
		old = snapshot_free(old);
		_cleanup_free_ char *child = NULL;
		r = snapshot_remove(s->j.store, tag, &child);
		if (r == -ENOTEMPTY)
			return error_set(e, r, "-t %s: not replaced, snapshot '%s' is built on it", tag, child);
		if (r == -EBUSY)
			return error_set(e, r, "-t %s: not replaced, a run is using it", tag);
		if (r < 0 && r != -ENOENT)
			return error_errno(e, r, "-t %s: removing the old one", tag);
	} else if (r != -ENOENT)
		return error_errno(e, r, "-t %s", tag);
	if (s->p->dry_run)
		return 0;
	if ((r = snapshot_tag(s->j.store, s->layer, tag, &m)) < 0)
		return error_errno(e, r, "-t %s", tag);
	return 0;
}

static int build_file_read(const struct layers_plan *p, struct buildfile *ret, struct error *e)
{
	_cleanup_free_ char *text = NULL;
	size_t size;
	int r = read_full_file(p->file, &text, &size);
	if (r < 0)
		return error_errno(e, r, "build file %s", p->file);
	if (strlen(text) != size)
		return error_set(e, -EINVAL, "build file %s: contains a NUL byte", p->file);
	return buildfile_parse(p->file, text, ret, e);
}

static int step_take(struct build_state *s, const struct build_step *st, struct layers_result *res, size_t i,
		     struct error *e)
{
	switch (st->kind) {
	case STEP_FROM:
		return build_state_from(s, st, e);
	case STEP_ARG:
		return build_state_arg(s, st, e);
	case STEP_ENV:
		return build_state_env(s, st, e);
	case STEP_WORKDIR:
		return build_state_workdir(s, st, e);
	case STEP_SHELL:
		strv_free(s->shell);
		s->shell = NULL;
		for (char **w = st->json; w && *w; w++)
			if (!(s->shell = strv_append(s->shell, *w)))
				return error_errno(e, -ENOMEM, "SHELL");
		return 0;
	case STEP_RUN:
	case STEP_COPY:
		return step_layer(s, st, res, i, e);
	}
	return -EINVAL;
}

int layers_build(const struct layers_plan *p, struct layers_result *ret, struct error *e)
{
	_cleanup_(buildfile_release) struct buildfile f = {0};
	_cleanup_(build_state_release) struct build_state s = {.p = p,
							       .build_args = p->build_args,
							       .context = p->context,
							       .no_cache = p->no_cache,
							       .f = &f,
							       .registry = p->registry};
	struct layers_result res = {0};
	int r = build_file_read(p, &f, e);
	if (r < 0 || (r = job_open_store(&s.j, p->cache, true, e)) < 0)
		return r;
	if (!(s.file = realpath(p->file, NULL)))
		return error_errno(e, -errno, "build file %s", p->file);
	if (p->tag && (r = tag_precheck(&s, e)) < 0)
		return r;
	for (size_t i = 0; i < f.n_steps && r >= 0 && res.status == 0; i++)
		r = step_take(&s, &f.steps[i], &res, i, e);
	if (r >= 0 && res.status != 0)
		res.failed = res.n_steps - 1;
	for (char **a = p->build_args; r >= 0 && a && *a; a++) {
		bool used = false;
		for (char **u = s.used_args; u && *u; u++)
			used = used || (!strncmp(*a, *u, strlen(*u)) && (*a)[strlen(*u)] == '=');
		if (!used)
			log_warn("--build-arg %.*s: no ARG in %s takes it", (int)strcspn(*a, "="), *a, p->file);
	}
	if (r >= 0 && res.status == 0 && p->tag)
		r = tag_layer(&s, &res, e);
	if (r < 0) {
		layers_result_release(&res);
		return r;
	}
	*ret = res;
	return 0;
}
