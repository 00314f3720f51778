/* ROOT/sources/NAME: one line, the reference NAME is pulled from. */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "source.h"

#define REF_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@"

static bool ref_chars_ok(const char *ref, size_t n)
{
	return n > 0 && n <= SOURCE_REF_MAX && strspn(ref, REF_CHARS) == n;
}

int snapshot_source_set(struct store *s, const char *name, const char *ref)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	if (ref && !ref_chars_ok(ref, strlen(ref)))
		return -EINVAL;
	_cleanup_free_ char *path = store_path(s, STORE_SOURCES, name, NULL), *line = NULL;
	if (!path)
		return -ENOMEM;
	if (!ref)
		return unlink(path) < 0 ? -errno : 0;
	if ((r = store_area_make(s, STORE_SOURCES)) < 0)
		return r;
	if (asprintf(&line, "%s\n", ref) < 0)
		return -ENOMEM;
	return write_file_atomic(path, line, strlen(line), 0600);
}

int snapshot_source_get(struct store *s, const char *name, char **ret_ref)
{
	int r = snapshot_name_check(name, NULL);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = store_path(s, STORE_SOURCES, name, NULL), *text = NULL;
	size_t n;
	if (!path)
		return -ENOMEM;
	if ((r = read_file_untrusted(path, SOURCE_REF_MAX + 2, &text, &n)) < 0)
		return r == -ENOTDIR ? -ENOENT : r;
	if (n > 0 && text[n - 1] == '\n')
		text[--n] = 0;
	if (strlen(text) != n || !ref_chars_ok(text, n))
		return -EBADMSG;
	*ret_ref = TAKE_PTR(text);
	return 0;
}

int snapshot_source_list(struct store *s, char ***ret)
{
	char **names = NULL;
	int r = store_list_area(s, STORE_SOURCES, &names);
	if (r == -ENOENT) {
		*ret = calloc(1, sizeof(char *));
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;
	/* What a killed write_file_atomic left (NAME.tmp.PID) is no source. */
	size_t k = 0;
	for (size_t i = 0; names[i]; i++) {
		if (strstr(names[i], ".tmp."))
			free(names[i]);
		else
			names[k++] = names[i];
	}
	names[k] = NULL;
	*ret = names;
	return 0;
}
