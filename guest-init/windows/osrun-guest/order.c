/* A JSON reader for request.json and nothing else: objects, arrays,
 * strings (\u escapes, surrogate pairs), true/false/null and integers.
 * Nesting is bounded; strings with a NUL are refused (Windows' strings end
 * at one). */
#include "order.h"

#include <stdlib.h>
#include <string.h>

struct js {
	const char *p, *end;
	int depth;
};

static void ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static bool take(struct js *j, char c)
{
	ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static bool word(struct js *j, const char *w)
{
	size_t n = strlen(w);
	ws(j);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n))
		return false;
	j->p += n;
	return true;
}

static int hex4(struct js *j, unsigned *ret)
{
	unsigned v = 0;
	if (j->end - j->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int escape(struct js *j, char *o, size_t *k)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	if (j->p >= j->end)
		return -1;
	char c = *j->p++;
	const char *at = c ? strchr(from, c) : NULL;
	if (at) {
		o[(*k)++] = to[at - from];
		return 0;
	}
	unsigned cp, lo;
	if (c != 'u' || hex4(j, &cp) < 0 || cp == 0 || (cp >= 0xdc00 && cp < 0xe000))
		return -1;
	if (cp >= 0xd800 && cp < 0xdc00) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return -1;
		j->p += 2;
		if (hex4(j, &lo) < 0 || lo < 0xdc00 || lo >= 0xe000)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	*k += utf8_put(o + *k, cp);
	return 0;
}

/* A string, decoded (escapes make it shorter, never longer). */
static int string(struct js *j, char **ret)
{
	if (!take(j, '"'))
		return -1;
	const char *q = j->p;
	while (q < j->end && *q != '"')
		q += *q == '\\' && q + 1 < j->end ? 2 : 1;
	if (q >= j->end)
		return -1;
	char *o = malloc((size_t)(q - j->p) + 1);
	size_t k = 0;
	while (o && j->p < q) {
		unsigned char c = (unsigned char)*j->p;
		if (c < 0x20 || (c == '\\' && (j->p++, escape(j, o, &k) < 0))) {
			free(o);
			return -1;
		}
		if (c != '\\')
			o[k++] = *j->p++;
	}
	if (!o)
		return -1;
	o[k] = 0;
	j->p = q + 1;
	*ret = o;
	return 0;
}

static int skip(struct js *j);

static int skip_members(struct js *j, char open, char close)
{
	if (++j->depth > 16)
		return -1;
	if (take(j, close)) {
		j->depth--;
		return 0;
	}
	do {
		char *key = NULL;
		if (open == '{' && (string(j, &key) < 0 || !take(j, ':')))
			return -1;
		free(key);
		if (skip(j) < 0)
			return -1;
	} while (take(j, ','));
	j->depth--;
	return take(j, close) ? 0 : -1;
}

static int skip(struct js *j)
{
	char *s;
	ws(j);
	if (j->p >= j->end)
		return -1;
	if (*j->p == '"') {
		if (string(j, &s) < 0)
			return -1;
		free(s);
		return 0;
	}
	if (take(j, '{'))
		return skip_members(j, '{', '}');
	if (take(j, '['))
		return skip_members(j, '[', ']');
	if (word(j, "true") || word(j, "false") || word(j, "null"))
		return 0;
	const char *s0 = j->p;
	while (j->p < j->end && strchr("+-0123456789.eE", *j->p) && *j->p)
		j->p++;
	return j->p > s0 ? 0 : -1;
}

static int json_bool(struct js *j, bool *ret)
{
	if (word(j, "true"))
		*ret = true;
	else if (word(j, "false"))
		*ret = false;
	else
		return -1;
	return 0;
}

static int integer(struct js *j, long *ret)
{
	ws(j);
	long v = 0;
	const char *s0 = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9' && v < 1000000)
		v = v * 10 + (*j->p++ - '0');
	if (j->p == s0)
		return -1;
	*ret = v;
	return 0;
}

/* {"a": "x", "b": "y"} with only string members, into fields[i] for
 * names[i]; every name must come. */
static int strings_object(struct js *j, const char *const *names, char **fields[], size_t n)
{
	if (!take(j, '{'))
		return -1;
	if (take(j, '}'))
		return -1;
	do {
		_cleanup_free_ char *key = NULL;
		if (string(j, &key) < 0 || !take(j, ':'))
			return -1;
		size_t i = 0;
		while (i < n && strcmp(key, names[i]))
			i++;
		if (i == n) {
			if (skip(j) < 0)
				return -1;
			continue;
		}
		free(*fields[i]);
		*fields[i] = NULL;
		if (string(j, fields[i]) < 0)
			return -1;
	} while (take(j, ','));
	for (size_t i = 0; i < n; i++)
		if (!*fields[i])
			return -1;
	return take(j, '}') ? 0 : -1;
}

static int env_array(struct js *j, struct order *o)
{
	static const char *const names[] = {"name", "value"};
	if (!take(j, '['))
		return -1;
	if (take(j, ']'))
		return 0;
	do {
		if (o->n_env >= ORDER_ENV_MAX)
			return -1;
		struct order_var *v = realloc(o->env, (o->n_env + 1) * sizeof *v);
		if (!v)
			return -1;
		o->env = v;
		v = &o->env[o->n_env++];
		*v = (struct order_var){0};
		char **fields[] = {&v->name, &v->value};
		if (strings_object(j, names, fields, 2) < 0)
			return -1;
	} while (take(j, ','));
	return take(j, ']') ? 0 : -1;
}

static int volume_array(struct js *j, struct order *o)
{
	static const char *const names[] = {"share", "mode", "path"};
	if (!take(j, '['))
		return -1;
	if (take(j, ']'))
		return 0;
	do {
		if (o->n_volumes >= ORDER_VOLUMES_MAX)
			return -1;
		struct order_volume *v = realloc(o->volumes, (o->n_volumes + 1) * sizeof *v);
		if (!v)
			return -1;
		o->volumes = v;
		v = &o->volumes[o->n_volumes++];
		*v = (struct order_volume){0};
		char **fields[] = {&v->share, &v->mode, &v->path};
		if (strings_object(j, names, fields, 3) < 0)
			return -1;
	} while (take(j, ','));
	return take(j, ']') ? 0 : -1;
}

static int member(struct js *j, const char *key, struct order *o)
{
	if (!strcmp(key, "version"))
		return integer(j, &o->version);
	if (!strcmp(key, "command"))
		return free(o->command), o->command = NULL, string(j, &o->command);
	if (!strcmp(key, "workdir"))
		return free(o->workdir), o->workdir = NULL, string(j, &o->workdir);
	if (!strcmp(key, "script"))
		return json_bool(j, &o->script);
	if (!strcmp(key, "user"))
		return json_bool(j, &o->user);
	if (!strcmp(key, "stdin_stream"))
		return json_bool(j, &o->stdin_stream);
	if (!strcmp(key, "env") && !o->env)
		return env_array(j, o);
	if (!strcmp(key, "volumes") && !o->volumes)
		return volume_array(j, o);
	return skip(j);
}

static int object(struct js *j, struct order *o)
{
	if (!take(j, '{'))
		return -1;
	if (take(j, '}'))
		return 0;
	do {
		_cleanup_free_ char *key = NULL;
		if (string(j, &key) < 0 || !take(j, ':') || member(j, key, o) < 0)
			return -1;
	} while (take(j, ','));
	if (!take(j, '}'))
		return -1;
	ws(j);
	return j->p == j->end ? 0 : -1;
}

int order_parse(const char *text, size_t n, struct order *ret, struct failure *f)
{
	struct js j = {.p = text, .end = text + n};
	struct order o = {0};
	if (n > ORDER_FILE_MAX || object(&j, &o) < 0) {
		order_release(&o);
		return fail_text(f, "request.json is not a request this helper can read");
	}
	if (o.version != REQUEST_VERSION) {
		order_release(&o);
		return fail_text(f, "request version %ld is not one this helper knows (%d)", o.version,
				 REQUEST_VERSION);
	}
	if (!o.command || !o.workdir) {
		order_release(&o);
		return fail_text(f, "request.json has no command or no workdir");
	}
	*ret = o;
	return 0;
}

void order_release(struct order *o)
{
	free(o->command);
	free(o->workdir);
	for (size_t i = 0; i < o->n_env; i++) {
		free(o->env[i].name);
		free(o->env[i].value);
	}
	free(o->env);
	for (size_t i = 0; i < o->n_volumes; i++) {
		free(o->volumes[i].share);
		free(o->volumes[i].mode);
		free(o->volumes[i].path);
	}
	free(o->volumes);
	*o = (struct order){0};
}
