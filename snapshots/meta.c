/* meta.json: what a snapshot is, as the run that made it saw it. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <string.h>

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
	json_object_object_add(o, "machine", mach);
	add_str(o, "qemu_version", m->qemu_version);
	add_str(o, "created", m->created);
	add_str(o, "made_by", m->made_by);
	if (m->build)
		add_str(o, "build", m->build);
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
