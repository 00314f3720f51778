/* Node labels (labels.h). */
#define _GNU_SOURCE
#include "labels.h"

#include <assert.h>
#include <ctype.h>
#include <string.h>

#include "lib/digest.h"

static bool label_char(char c) { return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-'; }

int label_sanitize(const char *s, size_t max, char **ret)
{
	assert(max > 9);
	size_t n = strlen(s);
	_cleanup_free_ char *out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (label_char(s[i]))
			out[w++] = s[i];
		else if (i == 0 || label_char(s[i - 1]))
			out[w++] = '_';
	}
	out[w] = 0;
	size_t a = 0;
	while (out[a] && !isalnum((unsigned char)out[a]))
		a++;
	while (w > a && !isalnum((unsigned char)out[w - 1]))
		out[--w] = 0;
	if (!strcmp(out + a, s) && n <= max) {
		*ret = TAKE_PTR(out);
		return 0;
	}
	_cleanup_(digest_freep) struct digest *d = NULL;
	char hex[DIGEST_HEX_LEN + 1];
	int r = digest_new(&d);
	if (r < 0)
		return r;
	digest_add(d, s, n);
	if ((r = digest_end(d, hex)) < 0)
		return r;
	size_t keep = w - a < max - 9 ? w - a : max - 9;
	return asprintf(ret, "%.*s%s%.8s", (int)keep, out + a, keep ? "-" : "", hex) < 0 ? -ENOMEM : 0;
}

static int label_add(json_object *labels, const char *name, const char *value)
{
	_cleanup_free_ char *n = NULL, *v = NULL, *key = NULL;
	int r = label_sanitize(name, LABEL_MAX, &n);
	if (r < 0 || (r = label_sanitize(value, LABEL_MAX, &v)) < 0)
		return r;
	if (asprintf(&key, LABEL_PREFIX "%s", n) < 0)
		return -ENOMEM;
	json_object_object_add(labels, key, json_object_new_string(v));
	return 0;
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* osrun.io/snapshot.NAME: the name cut so that the whole name segment
 * fits, as label_sanitize cuts. */
static int label_snapshots(json_object *labels, json_object *snapshots)
{
	for (size_t i = 0; i < json_object_array_length(snapshots); i++) {
		json_object *sn = json_object_array_get_idx(snapshots, i), *ok;
		const char *name = get_string(sn, "name");
		if (!name || !strncmp(name, "layer-", 6) || !json_object_object_get_ex(sn, "runnable", &ok) ||
		    !json_object_get_boolean(ok))
			continue;
		_cleanup_free_ char *n = NULL, *key = NULL;
		int r = label_sanitize(name, LABEL_MAX - strlen("snapshot."), &n);
		if (r < 0)
			return r;
		if (asprintf(&key, LABEL_PREFIX "snapshot.%s", n) < 0)
			return -ENOMEM;
		json_object_object_add(labels, key, json_object_new_string("true"));
	}
	return 0;
}

int labels_from_hostinfo(json_object *info, json_object **ret)
{
	json_object *labels = json_object_new_object(), *qemu, *snapshots;
	const char *accel = get_string(info, "accelerator"), *cpu = get_string(info, "cpu_model");
	const char *qv = json_object_object_get_ex(info, "qemu", &qemu) ? get_string(qemu, "version") : NULL;
	int r = 0;
	if (accel && ((r = label_add(labels, "kvm", strcmp(accel, "kvm") ? "false" : "true")) < 0 ||
		      (r = label_add(labels, "accelerator", accel)) < 0))
		goto fail;
	if ((cpu && (r = label_add(labels, "cpu-model", cpu)) < 0) ||
	    (qv && (r = label_add(labels, "qemu-version", qv)) < 0))
		goto fail;
	if (json_object_object_get_ex(info, "snapshots", &snapshots) && (r = label_snapshots(labels, snapshots)) < 0)
		goto fail;
	*ret = labels;
	return 0;
fail:
	json_object_put(labels);
	return r;
}
