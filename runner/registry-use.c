/* Pull on first use: a run's -s REF, or -s NAME with a source. */
#define _GNU_SOURCE
#include "registry-use.h"

#include <string.h>
#include <sys/file.h>

#include "../snapshots/source.h"
#include "job.h"
#include "lib/log.h"
#include "lib/proc.h"

#define DIGEST_SHOWN 12

bool registry_is_ref(const char *value) { return strchr(value, '/') != NULL; }

int registry_local_name(const char *ref, char **ret)
{
	_cleanup_free_ char *repo = NULL, *last = NULL, *name = NULL;
	int r = registry_ref_split(ref, &repo, &last);
	if (r < 0)
		return r;
	const char *rest = ref + strlen(repo);
	if (*rest == '@')
		r = asprintf(&name, "%s@%.*s", last, DIGEST_SHOWN, rest + 1 + strlen("sha256:"));
	else
		r = asprintf(&name, "%s+%s", last, *rest == ':' ? rest + 1 : "latest");
	if (r < 0)
		return -ENOMEM;
	if (snapshot_name_check(name, NULL) < 0)
		return -EINVAL;
	*ret = TAKE_PTR(name);
	return 0;
}

/* 0 when snapshot name is in the store and may stand for ref: pulled
 * from it, or (configured) whatever it was made from; -ENOENT when it is
 * missing. */
static int present(struct store *s, const char *name, const char *ref, bool configured, struct error *e)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	_cleanup_free_ char *from = NULL, *digest = NULL;
	int r = snapshot_open(s, name, &sn);
	if (r == -ENOENT)
		return r;
	if (r < 0)
		return error_errno(e, r, "snapshot '%s'", name);
	if (configured || (snapshot_origin_read(sn, &from, &digest) == 0 && !strcmp(from, ref)))
		return 0;
	return error_set(e, -EEXIST,
			 "-s %s: it is pulled as snapshot '%s', and the store has a '%s' that was %s%s: pull it under "
			 "another name ('osrun snapshot pull %s NAME') and run with -s NAME",
			 ref, name, name, from ? "pulled from " : "made here", from ? from : "", ref);
}

/* The store's pull lock, waited for (hearing Ctrl-C) and said so. */
static int pull_lock(struct store *s, int *ret_fd, bool *ret_waited, struct error *e)
{
	_cleanup_close_ int fd = -1;
	int r = store_provision_lock(s, &fd);
	if (r < 0)
		return error_errno(e, r, "cache '%s': provision.lock", s->root);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		log_info("waiting for another osrun that is pulling or building a snapshot in %s", s->root);
	if ((r = proc_flock_wait(fd, ret_waited)) == -ECANCELED)
		return error_interrupted(e);
	if (r < 0)
		return error_errno(e, r, "cache '%s': locking provision.lock", s->root);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* *ret_name: the snapshot value stands for; *ret_ref: where it is
 * pulled from, NULL for a name with no source. */
static int source_of(struct store *s, const char *value, char **ret_name, char **ret_ref, struct error *e)
{
	_cleanup_free_ char *repo = NULL, *last = NULL;
	if (registry_is_ref(value)) {
		if (registry_local_name(value, ret_name) < 0)
			return error_set(e, -EINVAL,
					 "-s %s: not a registry reference osrun can pull as a snapshot "
					 "(HOST[:PORT]/PATH[:TAG] or HOST[:PORT]/PATH@sha256:..., its last part short)",
					 value);
		return (*ret_ref = strdup(value)) ? 0 : error_errno(e, -ENOMEM, "-s");
	}
	if (!(*ret_name = strdup(value)))
		return error_errno(e, -ENOMEM, "-s");
	int r = snapshot_source_get(s, value, ret_ref);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return error_errno(e, r, "snapshot '%s': its source in %s", value, s->root);
	if (registry_ref_split(*ret_ref, &repo, &last) < 0)
		return error_set(e, -EINVAL, "snapshot '%s': its source '%s' is not a registry reference", value,
				 *ret_ref);
	return 0;
}

int registry_use(const char *cache, const char *value, const struct registry_opts *o, char **ret_name, struct error *e)
{
	_cleanup_free_ char *name = NULL, *ref = NULL;
	_cleanup_(store_freep) struct store *s = NULL;
	_cleanup_close_ int lock = -1;
	struct registry_result res = {0};
	bool waited;
	int r = job_store_open(cache, &s, e);
	if (r < 0)
		return r;
	if ((r = source_of(s, value, &name, &ref, e)) < 0)
		return r;
	if (ref && (r = present(s, name, ref, !registry_is_ref(value), e)) == -ENOENT) {
		if ((r = pull_lock(s, &lock, &waited, e)) < 0)
			return r;
		if ((r = present(s, name, ref, !registry_is_ref(value), e)) == 0)
			log_info("snapshot '%s' is there now: %s", name,
				 waited ? "another osrun pulled it" : "pulled meanwhile");
	}
	if (r == -ENOENT) {
		log_info("snapshot '%s' is not in %s: pulling it from %s", name, s->root, ref);
		r = registry_pull(s, ref, name, o, &res, e);
		registry_result_release(&res);
	}
	if (r < 0)
		return r;
	*ret_name = TAKE_PTR(name);
	return 0;
}
