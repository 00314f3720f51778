/* The host's facts for schedulers (hostinfo.h). */
#define _GNU_SOURCE
#include "hostinfo.h"

#include <string.h>

#include "../snapshots/artifact.h"
#include "../snapshots/snapshot.h"
#include "../snapshots/storefs.h"
#include "job.h"
#include "labels.h"
#include "lib/accel.h"
#include "lib/proc.h"
#include "pool.h"
#include "session.h"

#define CPUINFO "/proc/cpuinfo"

static json_object *string_or_null(const char *s) { return s && *s ? json_object_new_string(s) : NULL; }

/* As a run chooses (job_accel_detect), without its warning. */
static int host_accel(json_object *o, enum accel *ret, struct error *e)
{
	_cleanup_free_ char *why = NULL;
	int r = job_accel_detect(ret, &why, e);
	if (r < 0)
		return r;
	const char *forced = getenv("OSRUN_ACCEL");
	bool chosen = forced && *forced;
	json_object_object_add(o, "accelerator", json_object_new_string(accel_to_string(*ret)));
	json_object_object_add(o, "accelerator_reason",
			       chosen ? json_object_new_string("set by OSRUN_ACCEL") : string_or_null(why));
	json_object_object_add(o, "accelerator_forced", json_object_new_boolean(chosen));
	char cpu[sizeof((struct machine){0}).cpu];
	json_object_object_add(o, "cpu_model",
			       accel_host_cpu(CPUINFO, cpu, sizeof cpu) == 0 ? string_or_null(cpu) : NULL);
	return 0;
}

/* "QEMU emulator version 7.2.19 (Debian ...)": "7.2.19". */
static void host_qemu(json_object *o)
{
	json_object *q = json_object_new_object();
	_cleanup_free_ char *line = NULL;
	int r = proc_version_line(accel_qemu_binary(), &line);
	const char *v = r == 0 ? strstr(line, "version ") : NULL;
	_cleanup_free_ char *version = v ? strndup(v + 8, strcspn(v + 8, " ")) : NULL;
	json_object_object_add(q, "binary", json_object_new_string(accel_qemu_binary()));
	json_object_object_add(q, "version", string_or_null(version));
	json_object_object_add(q, "version_line", string_or_null(line));
	if (r < 0)
		json_object_object_add(q, "error", json_object_new_string(strerror(-r)));
	json_object_object_add(o, "qemu", q);
}

static int host_store(json_object *o, struct store *s)
{
	struct storefs f;
	int r = storefs_probe(s, &f);
	if (r < 0)
		return r;
	json_object *j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(s->root));
	json_object_object_add(j, "filesystem", json_object_new_string(f.fs));
	json_object_object_add(j, "free_bytes", f.space_err ? NULL : json_object_new_uint64(f.free));
	json_object_object_add(j, "total_bytes", f.space_err ? NULL : json_object_new_uint64(f.total));
	json_object_object_add(j, "reflink", json_object_new_boolean(f.reflink == 0));
	json_object_object_add(j, "hole_bytes", f.hole < 0 ? NULL : json_object_new_int64(f.hole));
	json_object_object_add(o, "store", j);
	return 0;
}

static json_object *host_snapshot(const struct snapshot *sn, enum accel accel)
{
	const struct snapshot_meta *m = &sn->meta;
	json_object *j = json_object_new_object();
	json_object_object_add(j, "name", json_object_new_string(sn->name));
	json_object_object_add(j, "profile", json_object_new_string(m->machine.profile));
	json_object_object_add(j, "memory_mib", json_object_new_int64(m->machine.memory_mib));
	json_object_object_add(j, "cpus", json_object_new_int64(m->machine.cpus));
	json_object_object_add(j, "accelerator", json_object_new_string(accel_to_string(m->machine.accel)));
	json_object_object_add(j, "cpu_model", string_or_null(m->machine.cpu));
	json_object_object_add(j, "qemu_version", string_or_null(m->qemu_version));
	json_object_object_add(j, "parent", string_or_null(m->parent));
	_cleanup_free_ char *ref = NULL, *digest = NULL;
	json_object_object_add(j, "pulled_from",
			       snapshot_origin_read(sn, &ref, &digest) == 0 ? string_or_null(ref) : NULL);
	struct error why = {0};
	bool ok = machine_check_host(&m->machine, sn->name, accel, CPUINFO, &why) == 0;
	json_object_object_add(j, "runnable", json_object_new_boolean(ok));
	json_object_object_add(j, "why_not", ok ? NULL : json_object_new_string(why.msg));
	return j;
}

/* One that cannot be read is listed as such, not runnable. */
static int host_snapshots(json_object *o, struct store *s, enum accel accel, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = snapshot_list(s, &names);
	if (r < 0)
		return error_errno(e, r, "listing %s/snapshots", s->root);
	json_object *arr = json_object_new_array();
	for (char **n = names; *n; n++) {
		_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
		if ((r = snapshot_open(s, *n, &sn)) == 0) {
			json_object_array_add(arr, host_snapshot(sn, accel));
			continue;
		}
		json_object *j = json_object_new_object();
		json_object_object_add(j, "name", json_object_new_string(*n));
		json_object_object_add(j, "runnable", json_object_new_boolean(false));
		json_object_object_add(
			j, "why_not",
			json_object_new_string(r == -EBADMSG ? "meta.json is missing or damaged" : strerror(-r)));
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "snapshots", arr);
	return 0;
}

/* A pool's socket is NAME.sock, NAME its snapshot. */
static int host_pools(json_object *o, struct store *s)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = store_list_area(s, STORE_POOLS, &names);
	if (r < 0 && r != -ENOENT)
		return r;
	json_object *arr = json_object_new_array();
	for (char **n = names; n && *n; n++) {
		size_t len = strlen(*n);
		if (len <= 5 || strcmp(*n + len - 5, ".sock"))
			continue;
		_cleanup_free_ char *snap = strndup(*n, len - 5);
		_cleanup_free_ char *path = snap ? store_pool_socket(s->root, snap) : NULL;
		if (!path)
			return json_object_put(arr), -ENOMEM;
		if (!pool_alive(path))
			continue;
		json_object *j = json_object_new_object();
		json_object_object_add(j, "snapshot", json_object_new_string(snap));
		json_object_array_add(arr, j);
	}
	json_object_object_add(o, "pools", arr);
	return 0;
}

int hostinfo_collect(const char *cache, const char *version, json_object **ret, struct error *e)
{
	_cleanup_(store_freep) struct store *s = NULL;
	int r = job_store_open(cache, &s, e);
	if (r < 0)
		return r;
	json_object *o = json_object_new_object(), *sessions = NULL, *labels = NULL;
	json_object_object_add(o, "version", json_object_new_int(HOSTINFO_VERSION));
	json_object_object_add(o, "osrun_version", json_object_new_string(version));
	enum accel accel;
	if ((r = host_accel(o, &accel, e)) < 0)
		goto fail;
	host_qemu(o);
	if ((r = host_store(o, s)) < 0 || (r = host_snapshots(o, s, accel, e)) < 0 || (r = host_pools(o, s)) < 0 ||
	    (r = session_list(s->root, &sessions, e)) < 0)
		goto fail;
	json_object_object_add(o, "sessions", sessions);
	if ((r = labels_from_hostinfo(o, &labels)) < 0)
		goto fail;
	json_object_object_add(o, "labels", labels);
	*ret = o;
	return 0;
fail:
	json_object_put(o);
	return e->code ? r : error_errno(e, r, "host-info");
}
