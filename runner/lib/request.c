#define _GNU_SOURCE
#include "request.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static void text_copy(char *to, size_t size, const char *from, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < size; i++) {
		unsigned char c = (unsigned char)from[i];
		to[k++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	to[k] = 0;
}

int helper_result_parse(const char *buf, size_t n, struct helper_result *ret)
{
	if (n > RESULT_MAX || n == 0 || buf[n - 1] != '\n' || memchr(buf, '\n', n - 1) || memchr(buf, 0, n))
		return -EBADMSG;
	n--;
	if (n && buf[n - 1] == '\r') /* PowerShell's WriteLine on Windows */
		n--;
	struct helper_result r = {0};
	if (n > 5 && !memcmp(buf, "exit ", 5)) {
		char num[16];
		if (n - 5 >= sizeof num)
			return -EBADMSG;
		memcpy(num, buf + 5, n - 5);
		num[n - 5] = 0;
		/* Digits only: strtoull would take a sign, spaces or 0x. */
		if (num[strspn(num, "0123456789")] || (num[0] == '0' && num[1]))
			return -EBADMSG;
		unsigned long long v = strtoull(num, NULL, 10);
		if (v > UINT32_MAX)
			return -EBADMSG;
		r.kind = HELPER_EXIT;
		r.code = (uint32_t)v;
	} else if (n > 6 && !memcmp(buf, "error ", 6)) {
		r.kind = HELPER_ERROR;
		text_copy(r.text, sizeof r.text, buf + 6, n - 6);
	} else
		return -EBADMSG;
	*ret = r;
	return 0;
}

int env_set(char ***env, const char *entry, bool fold_case)
{
	const char *eq = strchr(entry, '=');
	if (!eq || eq == entry)
		return -EINVAL;
	size_t k = (size_t)(eq - entry);
	for (char **v = *env; v && *v; v++) {
		bool same = fold_case ? !strncasecmp(*v, entry, k) : !strncmp(*v, entry, k);
		if (same && (*v)[k] == '=') {
			char *copy = strdup(entry);
			if (!copy)
				return -ENOMEM;
			free(*v);
			*v = copy;
			return 0;
		}
	}
	char **n = strv_append(*env, entry);
	if (!n) {
		*env = NULL;
		return -ENOMEM;
	}
	*env = n;
	return 0;
}

bool request_needs_script(const char *command) { return strchr(command, '\n') || strlen(command) > REQUEST_LINE_MAX; }

char *request_script(const char *command)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	/* A batch file echoes each line unless told not to; a command line
	 * does not. */
	fputs("@echo off\r\n", f);
	for (const char *p = command; *p; p++) {
		if (*p == '\n' && (p == command || p[-1] != '\r'))
			fputc('\r', f);
		fputc(*p, f);
	}
	size_t n = strlen(command);
	if (!n || command[n - 1] != '\n')
		fputs("\r\n", f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static json_object *volumes_json(const char *volumes)
{
	json_object *a = json_object_new_array();
	for (const char *p = volumes; a && p && *p;) {
		const char *end = strchrnul(p, '\n');
		_cleanup_free_ char *line = strndup(p, (size_t)(end - p));
		char *mode = line ? strchr(line, ' ') : NULL, *path = mode ? strchr(mode + 1, ' ') : NULL;
		if (!path) {
			json_object_put(a);
			return NULL;
		}
		*mode++ = 0;
		*path++ = 0;
		json_object *v = json_object_new_object();
		json_object_object_add(v, "share", json_object_new_string(line));
		json_object_object_add(v, "mode", json_object_new_string(mode));
		json_object_object_add(v, "path", json_object_new_string(path));
		json_object_array_add(a, v);
		p = *end ? end + 1 : end;
	}
	return a;
}

char *request_json(const char *command, const char *workdir, char *const *env, const char *volumes, bool as_user,
		   bool stdin_stream)
{
	json_object *o = json_object_new_object(), *e = json_object_new_array(), *vols = volumes_json(volumes);
	if (!o || !e || !vols) {
		json_object_put(o);
		json_object_put(e);
		json_object_put(vols);
		return NULL;
	}
	json_object_object_add(o, "version", json_object_new_int(REQUEST_VERSION));
	json_object_object_add(o, "command", json_object_new_string(command));
	json_object_object_add(o, "script", json_object_new_boolean(request_needs_script(command)));
	json_object_object_add(o, "workdir", json_object_new_string(workdir));
	for (char *const *v = env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		json_object *pair = json_object_new_object();
		json_object_object_add(pair, "name",
				       json_object_new_string_len(*v, eq ? (int)(eq - *v) : (int)strlen(*v)));
		json_object_object_add(pair, "value", json_object_new_string(eq ? eq + 1 : ""));
		json_object_array_add(e, pair);
	}
	json_object_object_add(o, "env", e);
	json_object_object_add(o, "volumes", vols);
	json_object_object_add(o, "user", json_object_new_boolean(as_user));
	json_object_object_add(o, "stdin_stream", json_object_new_boolean(stdin_stream));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = s ? strdup(s) : NULL;
	json_object_put(o);
	return copy;
}
