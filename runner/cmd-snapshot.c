/* osrun snapshot list|inspect|rm|gc: look after the store. */
#define _GNU_SOURCE
#include <dirent.h>
#include <getopt.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "job.h"
#include "lib/log.h"

static void snapshot_help(void)
{
	printf("Usage: osrun snapshot list [--json]\n"
	       "       osrun snapshot inspect NAME [--json]\n"
	       "       osrun snapshot rm NAME [--json]\n"
	       "       osrun snapshot gc [--json]\n"
	       "\n"
	       "list     every snapshot: name, parent, size on disk, created, made by\n"
	       "inspect  one snapshot's metadata and files\n"
	       "rm       remove a snapshot (refused while a run uses it or another\n"
	       "         snapshot is built on it)\n"
	       "gc       remove what killed runs left behind\n"
	       "\n"
	       "Options: --cache DIR, --json, -v, -h\n");
}

static uint64_t dir_size(const char *dir)
{
	uint64_t total = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

static json_object *snapshot_json(const struct snapshot *sn, bool files)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(sn->name));
	json_object_object_add(o, "parent", sn->meta.parent ? json_object_new_string(sn->meta.parent) : NULL);
	json_object_object_add(o, "image", json_object_new_string(sn->meta.image));
	json_object_object_add(o, "size", json_object_new_uint64(dir_size(sn->dir)));
	json_object_object_add(o, "created", json_object_new_string(sn->meta.created ? sn->meta.created : ""));
	json_object_object_add(o, "made_by", json_object_new_string(sn->meta.made_by ? sn->meta.made_by : ""));
	json_object_object_add(o, "qemu_version",
			       json_object_new_string(sn->meta.qemu_version ? sn->meta.qemu_version : ""));
	json_object *m = json_object_new_object();
	json_object_object_add(m, "profile", json_object_new_string(sn->meta.machine.profile));
	json_object_object_add(m, "memory_mib", json_object_new_int64(sn->meta.machine.memory_mib));
	json_object_object_add(m, "cpus", json_object_new_int64(sn->meta.machine.cpus));
	json_object_object_add(m, "accel", json_object_new_string(accel_to_string(sn->meta.machine.accel)));
	json_object_object_add(o, "machine", m);
	if (files) {
		json_object *f = json_object_new_object();
		const char *parts[] = {"disk.qcow2", "memory", "state", "meta.json"};
		for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
			_cleanup_free_ char *p = snapshot_path(sn, parts[i]);
			json_object_object_add(f, parts[i], p ? json_object_new_string(p) : NULL);
		}
		json_object_object_add(o, "files", f);
	}
	return o;
}

static void human_size(uint64_t n, char *buf, size_t len)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	size_t i = 0;
	while (v >= 1024 && i + 1 < ELEMENTSOF(u)) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static int do_list(struct job *j, bool json)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = store_list(j->store, &names);
	if (r < 0)
		return log_errno(r, "listing %s", j->store->snapshots), EXIT_OSRUN;
	json_object *arr = json_object_new_array();
	for (char **n = names; *n; n++) {
		_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
		r = snapshot_open(j->store, *n, &sn);
		if (r < 0) {
			log_warn("snapshot '%s': unreadable, skipped", *n);
			continue;
		}
		json_object_array_add(arr, snapshot_json(sn, false));
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	else {
		printf("%-20s %-20s %10s  %-20s  %s\n", "NAME", "PARENT", "SIZE", "CREATED", "MADE BY");
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *o = json_object_array_get_idx(arr, i), *v;
			char size[32];
			json_object_object_get_ex(o, "size", &v);
			human_size(json_object_get_uint64(v), size, sizeof size);
			json_object *name, *parent, *created, *made;
			json_object_object_get_ex(o, "name", &name);
			json_object_object_get_ex(o, "parent", &parent);
			json_object_object_get_ex(o, "created", &created);
			json_object_object_get_ex(o, "made_by", &made);
			printf("%-20s %-20s %10s  %-20s  %s\n", json_object_get_string(name),
			       parent ? json_object_get_string(parent) : "-", size, json_object_get_string(created),
			       json_object_get_string(made));
		}
	}
	json_object_put(arr);
	return 0;
}

static int do_inspect(struct job *j, const char *name, bool json)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	int r = snapshot_open(j->store, name, &sn);
	if (r == -ENOENT)
		return log_error("snapshot '%s': not found in %s", name, j->store->root), EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "snapshot '%s'", name), EXIT_OSRUN;
	json_object *o = snapshot_json(sn, true);
	(void)json;
	/* The metadata is small and structured: JSON is the readable form too. */
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

static int do_rm(struct job *j, const char *name, bool json)
{
	_cleanup_free_ char *child = NULL;
	int r = store_remove(j->store, name, &child);
	if (r == -ENOENT)
		return log_error("snapshot '%s': not found in %s", name, j->store->root), EXIT_OSRUN;
	if (r == -ENOTEMPTY)
		return log_error("snapshot '%s': not removed, snapshot '%s' is built on it", name, child), EXIT_OSRUN;
	if (r == -EBUSY)
		return log_error("snapshot '%s': not removed, a run is using it", name), EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "snapshot '%s'", name), EXIT_OSRUN;
	if (json)
		printf("{ \"removed\": \"%s\" }\n", name);
	else
		log_info("removed snapshot '%s'", name);
	return 0;
}

static int do_gc(struct job *j, bool json)
{
	_cleanup_strv_free_ char **removed = NULL;
	int r = store_sweep(j->store, &removed);
	if (r < 0)
		return log_errno(r, "gc"), EXIT_OSRUN;
	int runs = rundir_sweep();
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	for (char **p = removed; *p; p++)
		json_object_array_add(arr, json_object_new_string(*p));
	json_object_object_add(o, "removed", arr);
	json_object_object_add(o, "run_directories", json_object_new_int(runs < 0 ? 0 : runs));
	if (json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	else {
		for (char **p = removed; *p; p++)
			printf("removed %s/%s\n", j->store->root, *p);
		if (runs > 0)
			printf("removed %d run directories of killed runs\n", runs);
		if (!*removed && runs <= 0)
			printf("nothing to remove\n");
	}
	json_object_put(o);
	return 0;
}

enum { OPT_CACHE = 0x100, OPT_JSON };

int cmd_snapshot(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{"cache", required_argument, NULL, OPT_CACHE},
		{"json", no_argument, NULL, OPT_JSON},
		{},
	};
	struct common_opts common = {0};
	bool json = false;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":hv", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			snapshot_help();
			return 0;
		case 'v':
			common.verbose++;
			break;
		case OPT_CACHE:
			common.cache = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		default:
			return report_bad_option(c, argv), EXIT_OSRUN;
		}
	}
	if (common.verbose)
		log_set_level(LOG_DEBUG);
	if (optind >= argc)
		return log_error("snapshot: which action? list, inspect, rm or gc (see 'osrun snapshot --help')"),
		       EXIT_OSRUN;
	const char *action = argv[optind++];
	bool needs_name = !strcmp(action, "inspect") || !strcmp(action, "rm");
	if (!needs_name && strcmp(action, "list") && strcmp(action, "gc"))
		return log_error("snapshot: unknown action '%s' (list, inspect, rm or gc)", action), EXIT_OSRUN;
	if (needs_name && optind >= argc)
		return log_error("snapshot %s: which snapshot?", action), EXIT_OSRUN;
	if (argc - optind > (needs_name ? 1 : 0))
		return log_error("snapshot %s: unexpected argument '%s'", action, argv[argc - 1]), EXIT_OSRUN;
	const char *name = needs_name ? argv[optind] : NULL;
	const char *why;
	if (name && snapshot_name_check(name, &why) < 0)
		return log_error("snapshot name '%s' %s", name, why), EXIT_OSRUN;

	_cleanup_(job_release) struct job j = {0};
	int r = job_open_store(&j, &common, strcmp(action, "gc") != 0);
	if (r)
		return r;
	if (!strcmp(action, "list"))
		return do_list(&j, json);
	if (!strcmp(action, "inspect"))
		return do_inspect(&j, name, json);
	if (!strcmp(action, "rm"))
		return do_rm(&j, name, json);
	return do_gc(&j, json);
}
