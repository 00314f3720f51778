/* meta.json: what a snapshot is, as the run that made it saw it. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

#include "meta.h"
#include "store.h"

#define META_VERSION 1

void snapshot_meta_release(struct snapshot_meta *m)
{
	free(m->parent);
	free(m->image);
	free(m->qemu_version);
	free(m->created);
	free(m->made_by);
	free(m->build);
	strv_free(m->env);
	free(m->workdir);
	free(m->layer.key);
	free(m->layer.step);
	free(m->layer.file);
	memset(m, 0, sizeof *m);
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

int snapshot_meta_to_json(const struct snapshot_meta *m, char **ret)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int(META_VERSION));
	add_str(o, "parent", m->parent);
	add_str(o, "image", m->image);
	json_object *mach = json_object_new_object();
	add_str(mach, "profile", m->machine.profile);
	json_object_object_add(mach, "memory_mib", json_object_new_int64(m->machine.memory_mib));
	json_object_object_add(mach, "cpus", json_object_new_int64(m->machine.cpus));
	add_str(mach, "accel", accel_to_string(m->machine.accel));
	if (*m->machine.cpu)
		add_str(mach, "cpu", m->machine.cpu);
	json_object_object_add(o, "machine", mach);
	add_str(o, "qemu_version", m->qemu_version);
	add_str(o, "created", m->created);
	add_str(o, "made_by", m->made_by);
	if (m->build)
		add_str(o, "build", m->build);
	if (m->env) {
		json_object *env = json_object_new_array();
		for (char **v = m->env; *v; v++)
			json_object_array_add(env, json_object_new_string(*v));
		json_object_object_add(o, "env", env);
	}
	if (m->workdir)
		add_str(o, "workdir", m->workdir);
	if (m->layer.key) {
		json_object *l = json_object_new_object();
		add_str(l, "key", m->layer.key);
		add_str(l, "step", m->layer.step);
		add_str(l, "file", m->layer.file);
		json_object_object_add(l, "line", json_object_new_int64(m->layer.line));
		json_object_object_add(o, "layer", l);
	}
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static char *get_str(json_object *o, const char *k)
{
	json_object *v;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return strdup(json_object_get_string(v));
}

static bool key_valid(const char *k) { return k && strlen(k) == 64 && strspn(k, "0123456789abcdef") == 64; }

/* env, workdir and layer: absent, or as meta_to_json writes them. */
static int build_fields(json_object *o, struct snapshot_meta *m)
{
	json_object *v, *l;
	if (json_object_object_get_ex(o, "env", &v)) {
		if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 4096)
			return -EBADMSG;
		if (!(m->env = calloc(1, sizeof *m->env)))
			return -ENOMEM;
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *s = json_object_array_get_idx(v, i);
			if (!json_object_is_type(s, json_type_string) || !strchr(json_object_get_string(s), '='))
				return -EBADMSG;
			if (!(m->env = strv_append(m->env, json_object_get_string(s))))
				return -ENOMEM;
		}
	}
	m->workdir = get_str(o, "workdir");
	if (!json_object_object_get_ex(o, "layer", &l))
		return 0;
	m->layer.key = get_str(l, "key");
	m->layer.step = get_str(l, "step");
	m->layer.file = get_str(l, "file");
	int64_t line = json_object_object_get_ex(l, "line", &v) ? json_object_get_int64(v) : -1;
	if (!key_valid(m->layer.key) || !m->layer.step || !m->layer.file || line < 0 || line > UINT32_MAX)
		return -EBADMSG;
	m->layer.line = (unsigned)line;
	return 0;
}

int snapshot_meta_from_json(const char *text, struct snapshot_meta *ret)
{
	json_object *o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EBADMSG;
	}
	struct snapshot_meta m = {0};
	json_object *mach, *v;
	int r = 0;
	if (!json_object_object_get_ex(o, "machine", &mach))
		r = -EBADMSG;
	else {
		_cleanup_free_ char *profile = get_str(mach, "profile"), *accel = get_str(mach, "accel");
		if (!profile || strlen(profile) >= sizeof m.machine.profile || !accel ||
		    accel_from_string(accel, &m.machine.accel) < 0)
			r = -EBADMSG;
		else
			snprintf(m.machine.profile, sizeof m.machine.profile, "%s", profile);
		/* Ranges QEMU takes, so that a bad file is refused here and not
		 * wrapped into another number. */
		int64_t mem = json_object_object_get_ex(mach, "memory_mib", &v) ? json_object_get_int64(v) : 0,
			cpus = json_object_object_get_ex(mach, "cpus", &v) ? json_object_get_int64(v) : 0;
		_cleanup_free_ char *cpu = get_str(mach, "cpu");
		if (cpu && strlen(cpu) < sizeof m.machine.cpu)
			snprintf(m.machine.cpu, sizeof m.machine.cpu, "%s", cpu);
		else if (cpu)
			r = -EBADMSG;
		if (mem < 64 || mem > (1 << 20) || cpus < 1 || cpus > 1024)
			r = -EBADMSG;
		else {
			m.machine.memory_mib = (unsigned)mem;
			m.machine.cpus = (unsigned)cpus;
		}
	}
	m.parent = get_str(o, "parent");
	m.image = get_str(o, "image");
	m.qemu_version = get_str(o, "qemu_version");
	m.created = get_str(o, "created");
	m.made_by = get_str(o, "made_by");
	m.build = get_str(o, "build");
	if (r == 0)
		r = build_fields(o, &m);
	/* image and parent become paths into the store (kernel, initrd, the
	 * backing disk): a tampered meta.json must not lead outside it. */
	if (!m.image || snapshot_name_check(m.image, NULL) < 0 || (m.parent && snapshot_name_check(m.parent, NULL) < 0))
		r = -EBADMSG;
	json_object_put(o);
	if (r < 0) {
		snapshot_meta_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int snapshot_meta_read(const char *dir, struct snapshot_meta *ret)
{
	_cleanup_free_ char *mp = path_join(dir, "meta.json"), *text = NULL;
	if (!mp)
		return -ENOMEM;
	int r = read_full_file(mp, &text, NULL);
	if (r < 0)
		return r == -ENOENT ? -EBADMSG : r;
	return snapshot_meta_from_json(text, ret);
}
