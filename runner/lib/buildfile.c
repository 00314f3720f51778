/* The build file's syntax (buildfile.h). */
#define _GNU_SOURCE
#include "buildfile.h"

#include <ctype.h>
#include <json-c/json.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[] = {"FROM", "ARG", "ENV", "WORKDIR", "SHELL", "RUN", "COPY"};

const char *step_kind_name(enum step_kind k) { return kind_names[k]; }

void buildfile_release(struct buildfile *f)
{
	for (size_t i = 0; i < f->n_steps; i++) {
		free(f->steps[i].text);
		strv_free(f->steps[i].json);
	}
	free(f->steps);
	free(f->name);
	memset(f, 0, sizeof *f);
}

/* "# escape=`" (or \), before any instruction; other comments are comments. */
static bool parse_directive(const char *line, char *escape)
{
	const char *p = line + strspn(line, " \t");
	if (*p != '#')
		return false;
	p++;
	p += strspn(p, " \t");
	if (strncasecmp(p, "escape", 6))
		return false;
	p += 6;
	p += strspn(p, " \t");
	if (*p != '=')
		return false;
	p++;
	p += strspn(p, " \t");
	if ((*p == '`' || *p == '\\') && p[1 + strspn(p + 1, " \t\r")] == 0) {
		*escape = *p;
		return true;
	}
	return false;
}

/* A JSON array of strings, or NULL (then the text is the shell form). */
static char **json_words(const char *text)
{
	const char *p = text + strspn(text, " \t");
	if (*p != '[')
		return NULL;
	json_object *o = json_tokener_parse(p);
	if (!o || !json_object_is_type(o, json_type_array)) {
		json_object_put(o);
		return NULL;
	}
	char **v = NULL;
	size_t n = json_object_array_length(o);
	bool ok = n > 0;
	for (size_t i = 0; ok && i < n; i++) {
		json_object *w = json_object_array_get_idx(o, i);
		ok = json_object_is_type(w, json_type_string) && (v = strv_append(v, json_object_get_string(w)));
	}
	json_object_put(o);
	if (!ok) {
		strv_free(v);
		return NULL;
	}
	return v;
}

static int step_add(struct buildfile *f, const char *keyword, size_t klen, const char *args, unsigned line,
		    struct error *e)
{
	size_t k;
	for (k = 0; k < ELEMENTSOF(kind_names); k++)
		if (strlen(kind_names[k]) == klen && !strncasecmp(keyword, kind_names[k], klen))
			break;
	if (k == ELEMENTSOF(kind_names))
		return error_set(e, -EINVAL, "%s:%u: unknown instruction '%.*s' (osrun build knows %s)", f->name, line,
				 (int)klen, keyword, "FROM, ARG, ENV, WORKDIR, SHELL, RUN, COPY");
	if (f->n_steps >= BUILDFILE_STEPS_MAX)
		return error_set(e, -EINVAL, "%s:%u: more than %u instructions", f->name, line, BUILDFILE_STEPS_MAX);
	struct build_step *s = reallocarray(f->steps, f->n_steps + 1, sizeof *s);
	if (!s)
		return error_errno(e, -ENOMEM, "%s", f->name);
	f->steps = s;
	s = &f->steps[f->n_steps];
	*s = (struct build_step){.kind = k, .line = line, .text = strdup(args)};
	if (!s->text)
		return error_errno(e, -ENOMEM, "%s", f->name);
	f->n_steps++;
	if (k == STEP_RUN || k == STEP_COPY || k == STEP_SHELL)
		s->json = json_words(args);
	if (k == STEP_SHELL && !s->json)
		return error_set(e, -EINVAL,
				 "%s:%u: SHELL takes a JSON array of strings: SHELL [\"cmd\", \"/S\", \"/C\"]", f->name,
				 line);
	return 0;
}

/* One logical line (continuations joined) into a step. */
static int line_parse(struct buildfile *f, char *l, unsigned line, struct error *e)
{
	char *p = l + strspn(l, " \t");
	size_t klen = strcspn(p, " \t");
	if (klen == 0)
		return 0;
	char *args = p + klen;
	args += strspn(args, " \t");
	for (size_t n = strlen(args); n > 0 && isspace((unsigned char)args[n - 1]); n--)
		args[n - 1] = 0;
	return step_add(f, p, klen, args, line, e);
}

/* Whether a physical line ends with the escape character (a continuation);
 * it and the white space after it are cut off. */
static bool continues(char *l, char escape)
{
	size_t n = strlen(l);
	while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\t' || l[n - 1] == '\r'))
		n--;
	if (n == 0 || l[n - 1] != escape)
		return false;
	l[n - 1] = 0;
	return true;
}

static int lines_parse(struct buildfile *f, char *text, struct error *e)
{
	_cleanup_free_ char *logical = NULL;
	size_t len = 0;
	unsigned lineno = 0, start = 0;
	bool directives = true;
	for (char *save = NULL, *l = text; l; l = save) {
		save = strchr(l, '\n');
		if (save)
			*save++ = 0;
		lineno++;
		if (directives && parse_directive(l, &f->escape))
			continue;
		const char *t = l + strspn(l, " \t\r");
		if (*t == '#' || !*t) /* comments and blank lines, also inside a continuation */
			continue;
		directives = false;
		bool more = continues(l, f->escape);
		size_t add = strlen(l);
		char *n = realloc(logical, len + add + 1);
		if (!n)
			return error_errno(e, -ENOMEM, "%s", f->name);
		logical = n;
		/* Docker's rule: the escape and the line end go, nothing else. */
		if (len == 0)
			start = lineno;
		memcpy(logical + len, l, add + 1);
		len += add;
		if (more && save)
			continue;
		int r = line_parse(f, logical, start, e);
		if (r < 0)
			return r;
		len = 0;
		logical[0] = 0;
	}
	return 0;
}

/* The shape: ARGs, one FROM, then the rest, each with what it needs. */
static int shape_check(const struct buildfile *f, struct error *e)
{
	bool from = false;
	for (size_t i = 0; i < f->n_steps; i++) {
		const struct build_step *s = &f->steps[i];
		const char *k = step_kind_name(s->kind);
		if (!*s->text)
			return error_set(e, -EINVAL, "%s:%u: %s needs an argument", f->name, s->line, k);
		if (s->kind == STEP_FROM && from)
			return error_set(e, -EINVAL, "%s:%u: a second FROM: multi-stage builds are not supported",
					 f->name, s->line);
		if (s->kind == STEP_FROM)
			from = true;
		else if (!from && s->kind != STEP_ARG)
			return error_set(e, -EINVAL, "%s:%u: %s before FROM (only ARG may come first)", f->name,
					 s->line, k);
		if (s->kind == STEP_COPY && !strncmp(s->text, "--", 2))
			return error_set(e, -EINVAL, "%s:%u: COPY options (%.*s) are not supported", f->name, s->line,
					 (int)strcspn(s->text, " \t"), s->text);
		if (s->kind == STEP_COPY && s->json && strv_length(s->json) < 2)
			return error_set(e, -EINVAL, "%s:%u: COPY needs a source and a destination", f->name, s->line);
	}
	if (!from)
		return error_set(e, -EINVAL, "%s: no FROM: a build file starts from a snapshot (FROM provisioned)",
				 f->name);
	return 0;
}

int buildfile_parse(const char *name, const char *text, struct buildfile *ret, struct error *e)
{
	struct buildfile f = {.escape = '\\', .name = strdup(name)};
	if (!f.name)
		return error_errno(e, -ENOMEM, "%s", name);
	_cleanup_free_ char *copy = NULL;
	int r;
	if (strlen(text) > BUILDFILE_MAX)
		r = error_set(e, -EFBIG, "%s: over %u bytes", name, BUILDFILE_MAX);
	else if (!(copy = strdup(text)))
		r = error_errno(e, -ENOMEM, "%s", name);
	else if ((r = lines_parse(&f, copy, e)) >= 0)
		r = shape_check(&f, e);
	if (r < 0) {
		buildfile_release(&f);
		return r;
	}
	*ret = f;
	return 0;
}

/* A growing string. */
struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

static const char *var_get(char *const *vars, const char *name, size_t n)
{
	const char *found = NULL;
	for (char *const *v = vars; v && *v; v++)
		if (!strncmp(*v, name, n) && (*v)[n] == '=')
			found = *v + n + 1;
	return found;
}

static size_t name_len(const char *p)
{
	if (!isalpha((unsigned char)*p) && *p != '_')
		return 0;
	size_t n = 1;
	while (isalnum((unsigned char)p[n]) || p[n] == '_')
		n++;
	return n;
}

/* At p, just past a '$': appends the expansion; returns the characters
 * used, or 0 for an unclosed brace. A '$' that starts no name stays. */
static size_t expand_one(const char *p, char *const *vars, struct buf *b)
{
	if (*p != '{') {
		size_t n = name_len(p);
		const char *v = n ? var_get(vars, p, n) : NULL;
		if (!n)
			buf_add(b, "$", 1);
		else if (v)
			buf_add(b, v, strlen(v));
		return n;
	}
	const char *end = strchr(p, '}');
	size_t n = name_len(p + 1);
	if (!end || !n)
		return 0;
	const char *v = var_get(vars, p + 1, n), *op = p + 1 + n;
	if (op == end) {
		if (v)
			buf_add(b, v, strlen(v));
	} else if (!strncmp(op, ":-", 2)) {
		if (v && *v)
			buf_add(b, v, strlen(v));
		else
			buf_add(b, op + 2, (size_t)(end - op - 2));
	} else if (!strncmp(op, ":+", 2)) {
		if (v && *v)
			buf_add(b, op + 2, (size_t)(end - op - 2));
	} else
		return 0;
	return (size_t)(end - p + 1);
}

static bool special(char c, char escape) { return c == '$' || c == '"' || c == '\'' || c == escape || isspace(c); }

int buildfile_words(const struct buildfile *f, const struct build_step *st, const char *text, char *const *vars,
		    char ***ret, struct error *e)
{
	_cleanup_strv_free_ char **words = NULL;
	struct buf b = {0};
	char quote = 0;
	bool in_word = false, quoted = false; /* an unquoted word that expands to nothing is no word */
	const char *why = NULL;
	for (const char *p = text; *p && !why; p++) {
		if (!quote && isspace((unsigned char)*p)) {
			if (in_word && (b.len || quoted) && !(words = strv_append(words, b.s ? b.s : "")))
				b.oom = true;
			in_word = quoted = false;
			b.len = 0;
			if (b.s)
				b.s[0] = 0;
			continue;
		}
		in_word = true;
		if (*p == f->escape && quote != '\'' && p[1] && special(p[1], f->escape)) {
			buf_add(&b, ++p, 1);
		} else if ((*p == '"' || *p == '\'') && (!quote || quote == *p)) {
			quote = quote ? 0 : *p;
			quoted = true;
			buf_add(&b, "", 0);
		} else if (*p == '$' && quote != '\'') {
			size_t n = expand_one(p + 1, vars, &b);
			if (n == 0 && p[1] == '{')
				why = "an unclosed or unknown ${...}";
			p += n;
		} else
			buf_add(&b, p, 1);
	}
	if (!why && quote)
		why = quote == '"' ? "an unclosed \"" : "an unclosed '";
	if (!why && in_word && (b.len || quoted) && !(words = strv_append(words, b.s ? b.s : "")))
		b.oom = true;
	free(b.s);
	if (why)
		return error_set(e, -EINVAL, "%s:%u: %s has %s", f->name, st->line, step_kind_name(st->kind), why);
	if (b.oom)
		return error_errno(e, -ENOMEM, "%s", f->name);
	if (!words && !(words = calloc(1, sizeof *words)))
		return error_errno(e, -ENOMEM, "%s", f->name);
	*ret = TAKE_PTR(words);
	return 0;
}

/* sh: 'it'\''s'. */
static void quote_sh(struct buf *b, const char *w)
{
	buf_add(b, "'", 1);
	for (const char *p = w; *p; p++)
		if (*p == '\'')
			buf_add(b, "'\\''", 4);
		else
			buf_add(b, p, 1);
	buf_add(b, "'", 1);
}

/* Microsoft's "Parsing C++ command-line arguments": inside quotes, n
 * backslashes before a quote become 2n+1, before the end 2n. */
static void quote_windows(struct buf *b, const char *w)
{
	buf_add(b, "\"", 1);
	for (const char *p = w;; p++) {
		size_t bs = 0;
		while (*p == '\\') {
			bs++;
			p++;
		}
		size_t times = *p == '"' ? 2 * bs + 1 : *p == 0 ? 2 * bs : bs;
		for (size_t i = 0; i < times; i++)
			buf_add(b, "\\", 1);
		if (!*p)
			break;
		buf_add(b, p, 1);
	}
	buf_add(b, "\"", 1);
}

char *shell_join(char *const *words, bool windows)
{
	struct buf b = {0};
	buf_add(&b, "", 0);
	for (char *const *w = words; w && *w; w++) {
		if (w != words)
			buf_add(&b, " ", 1);
		(windows ? quote_windows : quote_sh)(&b, *w);
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
