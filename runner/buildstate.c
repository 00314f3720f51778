/* What a build file's steps so far have set up for the next one
 * (buildstate.h). */
#define _GNU_SOURCE
#include "buildstate.h"

#include <string.h>
#include <sys/stat.h>

#include "registry-use.h"

/* 2: a layer's RAM delta names its pages (snapshots/ramdelta.c); layers
 * of the old kind are not found as a cache, so a build makes them anew. */
#define KEY_VERSION "osrun-build 2"

void build_state_release(struct build_state *s)
{
	strv_free(s->vars);
	strv_free(s->env);
	strv_free(s->args);
	strv_free(s->used_args);
	free(s->workdir);
	free(s->file);
	strv_free(s->shell);
	snapshot_free(s->layer);
	job_release(&s->j);
}

/* Sets NAME=VALUE in *v, replacing an earlier NAME. */
static int var_set(char ***v, const char *name, const char *value)
{
	_cleanup_free_ char *kv = NULL;
	if (asprintf(&kv, "%s=%s", name, value) < 0)
		return -ENOMEM;
	size_t n = strlen(name);
	for (char **p = *v; p && *p; p++)
		if (!strncmp(*p, name, n) && (*p)[n] == '=') {
			free(*p);
			*p = TAKE_PTR(kv);
			return 0;
		}
	return (*v = strv_append(*v, kv)) ? 0 : -ENOMEM;
}

static bool name_valid(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int bad_step(struct build_state *s, const struct build_step *st, struct error *e, const char *fmt,
		    const char *arg)
{
	return error_set(e, -EINVAL, "%s:%u: %s: %s '%s'", s->f->name, st->line, step_kind_name(st->kind), fmt, arg);
}

static int words_of(struct build_state *s, const struct build_step *st, char ***ret, struct error *e)
{
	return buildfile_words(s->f, st, st->text, s->vars, ret, e);
}

int build_state_arg(struct build_state *s, const struct build_step *st, struct error *e)
{
	_cleanup_strv_free_ char **w = NULL;
	int r = words_of(s, st, &w, e);
	if (r < 0)
		return r;
	if (strv_length(w) != 1)
		return bad_step(s, st, e, "expected NAME or NAME=DEFAULT, got", st->text);
	char *eq = strchr(w[0], '=');
	size_t n = eq ? (size_t)(eq - w[0]) : strlen(w[0]);
	if (!name_valid(w[0], n))
		return bad_step(s, st, e, "not a variable name", w[0]);
	w[0][n] = 0;
	const char *value = eq ? eq + 1 : NULL;
	for (char **a = s->build_args; a && *a; a++)
		if (!strncmp(*a, w[0], n) && (*a)[n] == '=') {
			value = *a + n + 1;
			if (!(s->used_args = strv_append(s->used_args, w[0])))
				return error_errno(e, -ENOMEM, "ARG");
		}
	if (!value) /* declared, never given: unset, as in Docker */
		return 0;
	if (var_set(&s->vars, w[0], value) < 0 || var_set(&s->args, w[0], value) < 0)
		return error_errno(e, -ENOMEM, "ARG");
	return 0;
}

/* ENV K=V K2=V2, or ENV K V (the rest of the line). */
int build_state_env(struct build_state *s, const struct build_step *st, struct error *e)
{
	_cleanup_strv_free_ char **w = NULL;
	int r = words_of(s, st, &w, e);
	if (r < 0)
		return r;
	if (w[0] && !strchr(w[0], '=')) {
		if (!name_valid(w[0], strlen(w[0])) || !w[1])
			return bad_step(s, st, e, "expected K=V or K V, got", st->text);
		_cleanup_free_ char *rest = NULL;
		for (char **p = w + 1; *p; p++) {
			char *n = NULL;
			if (asprintf(&n, "%s%s%s", rest ? rest : "", rest ? " " : "", *p) < 0)
				return error_errno(e, -ENOMEM, "ENV");
			free(rest);
			rest = n;
		}
		if (var_set(&s->env, w[0], rest) < 0 || var_set(&s->vars, w[0], rest) < 0)
			return error_errno(e, -ENOMEM, "ENV");
		return 0;
	}
	for (char **p = w; *p; p++) {
		char *eq = strchr(*p, '=');
		if (!eq || !name_valid(*p, (size_t)(eq - *p)))
			return bad_step(s, st, e, "expected K=V, got", *p);
		*eq = 0;
		if (var_set(&s->env, *p, eq + 1) < 0 || var_set(&s->vars, *p, eq + 1) < 0)
			return error_errno(e, -ENOMEM, "ENV");
	}
	return 0;
}

static bool path_absolute(const char *p, bool windows)
{
	if (windows)
		return (p[0] && p[1] == ':') || p[0] == '\\' || p[0] == '/';
	return p[0] == '/';
}

/* dir joined with a relative guest path (WORKDIR's rule for both). */
static char *guest_join(const char *dir, const char *rel, bool windows)
{
	if (!dir || path_absolute(rel, windows))
		return strdup(rel);
	char *j;
	size_t n = strlen(dir);
	char sep = windows ? '\\' : '/';
	bool has = n > 0 && (dir[n - 1] == '/' || dir[n - 1] == '\\');
	return asprintf(&j, "%s%s%s", dir, has ? "" : (char[]){sep, 0}, rel) < 0 ? NULL : j;
}

int build_state_workdir(struct build_state *s, const struct build_step *st, struct error *e)
{
	_cleanup_strv_free_ char **w = NULL;
	int r = words_of(s, st, &w, e);
	if (r < 0)
		return r;
	if (strv_length(w) != 1)
		return bad_step(s, st, e, "expected one path (quote one with spaces), got", st->text);
	if (!s->workdir && !path_absolute(w[0], s->windows))
		return bad_step(s, st, e, "the first WORKDIR must be absolute, got", w[0]);
	char *n = guest_join(s->workdir, w[0], s->windows);
	if (!n)
		return error_errno(e, -ENOMEM, "WORKDIR");
	free(s->workdir);
	s->workdir = n;
	return 0;
}

int build_state_from(struct build_state *s, const struct build_step *st, struct error *e)
{
	_cleanup_strv_free_ char **w = NULL;
	_cleanup_free_ char *pulled = NULL;
	int r = words_of(s, st, &w, e);
	if (r < 0)
		return r;
	/* A reference, or a name with a source, is pulled first. */
	if (strv_length(w) == 1 && s->registry && (registry_is_ref(w[0]) || snapshot_name_check(w[0], NULL) == 0)) {
		if ((r = registry_use(s->j.store->root, w[0], s->registry, &pulled, e)) < 0)
			return r;
		free(w[0]);
		w[0] = TAKE_PTR(pulled);
	}
	if (strv_length(w) != 1 || snapshot_name_check(w[0], NULL) < 0)
		return bad_step(s, st, e, "expected a snapshot name, got", st->text);
	if ((r = snapshot_open(s->j.store, w[0], &s->layer)) == -ENOENT)
		return error_set(e, r, "%s:%u: FROM: snapshot '%s' not found in %s", s->f->name, st->line, w[0],
				 s->j.store->root);
	if (r < 0)
		return error_errno(e, r, "%s:%u: FROM: snapshot '%s'", s->f->name, st->line, w[0]);
	const struct snapshot_meta *m = &s->layer->meta;
	s->windows = !strcmp(m->machine.profile, "windows");
	/* The snapshot itself is the key's root: its meta.json differs for
	 * every snapshot ever made under that name (created, made_by). */
	_cleanup_(digest_freep) struct digest *d = NULL;
	_cleanup_free_ char *json = NULL, *nonce = NULL;
	if (digest_new(&d) < 0 || snapshot_meta_to_json(m, &json) < 0 ||
	    asprintf(&nonce, "%lld.%d", (long long)now_usec(), (int)getpid()) < 0)
		return error_errno(e, -ENOMEM, "FROM");
	digest_add_str(d, KEY_VERSION);
	digest_add_str(d, w[0]);
	digest_add_str(d, json);
	/* --no-cache: keys nothing else has, so every step runs. */
	if (s->no_cache)
		digest_add_str(d, nonce);
	if ((r = digest_end(d, s->key)) < 0)
		return error_errno(e, r, "FROM");
	for (char **v = m->env; v && *v; v++) {
		char *eq = strchr(*v, '=');
		_cleanup_free_ char *k = strndup(*v, (size_t)(eq - *v));
		if (!k || var_set(&s->env, k, eq + 1) < 0 || var_set(&s->vars, k, eq + 1) < 0)
			return error_errno(e, -ENOMEM, "FROM");
	}
	if (m->workdir && !(s->workdir = strdup(m->workdir)))
		return error_errno(e, -ENOMEM, "FROM");
	return 0;
}

/* The key of a step that makes a layer: the parent's, the step, and
 * everything of the state it sees. */
int build_state_key(struct build_state *s, const char *what, struct digest *extra_done,
		    char out[static DIGEST_HEX_LEN + 1])
{
	_cleanup_(digest_freep) struct digest *d = NULL;
	if (digest_new(&d) < 0)
		return -ENOMEM;
	digest_add_str(d, s->key);
	digest_add_str(d, what);
	/* ARG values are RUN's environment; COPY does not see them. */
	char *const *lists[] = {s->env, strncmp(what, "RUN ", 4) ? NULL : s->args, s->shell};
	for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
		digest_add_str(d, "--");
		for (char *const *v = lists[i]; v && *v; v++)
			digest_add_str(d, *v);
	}
	digest_add_str(d, s->workdir ? s->workdir : "");
	if (extra_done) {
		char x[DIGEST_HEX_LEN + 1];
		int r = digest_end(extra_done, x);
		if (r < 0)
			return r;
		digest_add_str(d, x);
	}
	return digest_end(d, out);
}

/* RUN's command line for the guest's shell: as written, or the exec
 * form's words, or SHELL's words and the text. */
char *build_state_command(struct build_state *s, const struct build_step *st)
{
	if (st->json)
		return shell_join(st->json, s->windows);
	if (!s->shell)
		return strdup(st->text);
	char **w = NULL;
	for (char **p = s->shell; p && *p; p++)
		if (!(w = strv_append(w, *p)))
			return NULL;
	if (!(w = strv_append(w, st->text)))
		return NULL;
	char *line = shell_join(w, s->windows);
	strv_free(w);
	return line;
}

/* Whether src names something beneath the context once every symlink on
 * the way (the last one too) and every ".." is resolved, as Docker keeps
 * COPY's sources in its context: 0, -EXDEV (it leads out), or why it
 * cannot be resolved. A build file from someone else's repository must
 * not copy ~/.ssh or the store. The copy reads the same path later; what
 * changes it meanwhile is the user's own. */
static int context_resolve(const char *context, const char *src)
{
	_cleanup_free_ char *root = realpath(context, NULL), *joined = path_join(context, src), *real = NULL;
	if (!joined)
		return -ENOMEM;
	if (!root || !(real = realpath(joined, NULL)))
		return -errno;
	size_t n = strlen(root);
	bool beneath = !strcmp(root, "/") || (!strncmp(real, root, n) && (real[n] == '/' || real[n] == 0));
	return beneath ? 0 : -EXDEV;
}

/* One COPY source: beneath the context, or refused. */
static int copy_source(struct build_state *s, const struct build_step *st, const char *src, char **ret, struct error *e)
{
	if (path_absolute(src, false))
		return error_set(e, -EXDEV,
				 "%s:%u: COPY: '%s' is outside the build context %s (sources are paths relative to it)",
				 s->f->name, st->line, src, s->context);
	_cleanup_free_ char *host = path_join(s->context, src);
	if (!host)
		return error_errno(e, -ENOMEM, "COPY");
	int r = context_resolve(s->context, src);
	if (r == -EXDEV)
		return error_set(e, r,
				 "%s:%u: COPY: '%s' leads out of the build context %s (through '..' or a symlink)",
				 s->f->name, st->line, src, s->context);
	if (r < 0)
		return error_errno(e, r, "%s:%u: COPY: %s", s->f->name, st->line, host);
	*ret = TAKE_PTR(host);
	return 0;
}

/* COPY SRC... DEST: --copy-in's rules (into DEST, or into DEST/NAME when
 * DEST is a directory in the guest), keyed by content. */
int build_state_copy(struct build_state *s, const struct build_step *st, struct run_plan *rp, struct digest *d,
		     struct error *e)
{
	_cleanup_strv_free_ char **w = NULL;
	int r = 0;
	if (st->json && !(w = calloc(1, sizeof *w)))
		return error_errno(e, -ENOMEM, "COPY");
	for (char **p = st->json; p && *p && r == 0; p++)
		if (!(w = strv_append(w, *p)))
			r = -ENOMEM;
	if (r < 0 || (!st->json && (r = words_of(s, st, &w, e)) < 0))
		return r == -ENOMEM ? error_errno(e, r, "COPY") : r;
	size_t n = strv_length(w);
	if (n < 2)
		return bad_step(s, st, e, "expected SRC... DEST, got", st->text);
	if (n - 1 > RUN_COPIES_MAX)
		return error_set(e, -E2BIG, "%s:%u: COPY: at most %d sources", s->f->name, st->line, RUN_COPIES_MAX);
	_cleanup_free_ char *dest = guest_join(s->workdir, w[n - 1], s->windows);
	if (!dest)
		return error_errno(e, -ENOMEM, "COPY");
	digest_add_str(d, dest);
	for (size_t i = 0; i + 1 < n; i++) {
		struct run_copy *c = &rp->copy_in[rp->n_copy_in];
		if ((r = copy_source(s, st, w[i], &c->host, e)) < 0)
			return r;
		c->guest = strdup(dest);
		rp->n_copy_in++;
		if (!c->guest)
			return error_errno(e, -ENOMEM, "COPY");
		_cleanup_free_ char *bad = NULL;
		digest_add_str(d, w[i]);
		if ((r = digest_add_tree(d, c->host, &bad)) < 0) {
			_cleanup_free_ char *where =
				bad && strcmp(bad, ".") ? path_join(c->host, bad) : strdup(c->host);
			return error_errno(e, r, "%s:%u: COPY: %s", s->f->name, st->line, where ? where : c->host);
		}
	}
	return 0;
}
