/* Snapshots to and from a registry: artifacts in the store's blob cache,
 * carried by skopeo (argv, never a shell). */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "lib/log.h"
#include "lib/proc.h"
#include "budget.h"
#include "registry.h"

#define REF_MAX 512
#define CHAIN_MAX 64 /* a parent named in a circle ends here */
#define SKOPEO_TAIL 1024
#define PULL_TAG "osrun-pull"

void registry_result_release(struct registry_result *r)
{
	free(r->name);
	strv_free(r->chain);
	strv_free(r->fetched_parents);
	strv_free(r->evicted);
	*r = (struct registry_result){0};
}

int registry_ref_split(const char *ref, char **ret_repo, char **ret_last)
{
	size_t n = strlen(ref);
	if (n == 0 || n > REF_MAX || ref[0] == '-' || ref[0] == '/' || strstr(ref, "://") || strstr(ref, "..") ||
	    strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@") != n)
		return -EINVAL;
	const char *slash = strchr(ref, '/'), *at = strchr(ref, '@');
	if (!slash || (at && at < slash))
		return -EINVAL;
	size_t repo_n = at ? (size_t)(at - ref) : n;
	const char *colon = memrchr(ref, ':', repo_n);
	if (colon && colon > strrchr(ref, '/'))
		repo_n = (size_t)(colon - ref);
	if (at && oci_digest_check(at + 1) < 0)
		return -EINVAL;
	_cleanup_free_ char *repo = strndup(ref, repo_n);
	if (!repo)
		return -ENOMEM;
	const char *last = strrchr(repo, '/') + 1;
	char *l = strdup(last);
	if (!l)
		return -ENOMEM;
	if (!*l) {
		free(l);
		return -EINVAL;
	}
	*ret_repo = TAKE_PTR(repo);
	*ret_last = l;
	return 0;
}

/* skopeo's last line on stderr: its own words for what failed. */
static void skopeo_why(int fd, char *buf, size_t len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
	ssize_t k = end > 0 ? pread_retry(fd, buf, (size_t)(end - from), from) : 0;
	buf[k > 0 ? k : 0] = 0;
	while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == ' '))
		buf[--k] = 0;
	char *line = strrchr(buf, '\n');
	if (line)
		memmove(buf, line + 1, strlen(line + 1) + 1);
}

/* A pull being watched: the cache's bytes when it began, and how many
 * the manifest says are missing. */
struct skopeo_watch {
	struct oci_layout *l;
	const char *ref;
	uint64_t base, total;
	usec_t start;
};

static void watch_tick(const struct registry_opts *o, const struct skopeo_watch *w)
{
	uint64_t now;
	if (!w || !o->progress || oci_layout_bytes(w->l, &now) < 0)
		return;
	uint64_t done = now > w->base ? now - w->base : 0;
	/* The manifest and index.json come on top of the blobs counted. */
	if (w->total && done > w->total)
		done = w->total;
	char what[REF_MAX + 16];
	snprintf(what, sizeof what, "pulling %s", w->ref);
	struct registry_progress p = {what, NULL, done, w->total, now_usec() - w->start};
	o->progress(&p, o->progress_data);
}

/* Packing or unpacking a snapshot's files, chunk by chunk: the rate is
 * each file's own. */
struct chunk_watch {
	const struct registry_opts *o;
	char what[SNAPSHOT_NAME_MAX + 16];
	char file[80];
	usec_t start;
};

static void chunk_tick(void *data, const char *file, uint64_t done, uint64_t size)
{
	struct chunk_watch *w = data;
	if (strncmp(w->file, file, sizeof w->file - 1)) {
		snprintf(w->file, sizeof w->file, "%s", file);
		w->start = now_usec();
	}
	struct registry_progress p = {w->what, w->file, done, size, now_usec() - w->start};
	w->o->progress(&p, w->o->progress_data);
}

/* Has l tell o's progress about the chunks of snapshot name. */
static void chunk_watch_start(struct oci_layout *l, struct chunk_watch *w, const struct registry_opts *o,
			      const char *verb, const char *name)
{
	if (!o || !o->progress)
		return;
	*w = (struct chunk_watch){.o = o};
	snprintf(w->what, sizeof w->what, "%s '%s'", verb, name);
	l->chunk_progress = chunk_tick;
	l->chunk_progress_data = w;
}

static void chunk_watch_end(struct oci_layout *l) { l->chunk_progress = NULL; }

/* Runs skopeo with argv (its stdout into out, -1: nowhere) and waits,
 * ticking w about once a second. The error names what, and skopeo's
 * own last words. */
static int skopeo_run(char **argv, int out, const char *what, const struct registry_opts *o,
		      const struct skopeo_watch *w, struct error *e)
{
	_cleanup_close_ int err = memfd_create("skopeo-stderr", MFD_CLOEXEC);
	if (err < 0)
		return error_errno(e, -errno, "skopeo's output");
	struct proc_spec spec = {.argv = argv,
				 .stdin_fd = -1,
				 .stdout_fd = out,
				 .stderr_fd = err,
				 .own_pgroup = true,
				 .die_with_parent = true};
	pid_t pid;
	int status, r = proc_spawn(&spec, &pid);
	if (r < 0)
		return error_errno(e, r, "skopeo (is it installed?)");
	while ((r = proc_wait(pid, w && o->progress ? USEC_PER_SEC : USEC_INFINITY, &status)) == -ETIMEDOUT)
		watch_tick(o, w);
	if (r < 0) {
		proc_kill_and_reap(pid, USEC_PER_SEC);
		return r == -ECANCELED ? error_interrupted(e) : error_errno(e, r, "skopeo %s", what);
	}
	watch_tick(o, w);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char why[SKOPEO_TAIL];
	skopeo_why(err, why, sizeof why);
	/* Its log line's message, without the time and level around it. */
	char *msg = strstr(why, "msg=\"");
	size_t n = msg ? strlen(msg) : 0;
	if (n > 5 && msg[n - 1] == '"')
		msg[n - 1] = 0;
	return error_set(e, -EIO, "skopeo %s failed (%s %d): %s", what, WIFEXITED(status) ? "exit status" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			 msg	  ? msg + 5
			 : why[0] ? why
				  : "no message");
}

static int skopeo_copy(const char *from, const char *to, bool push, const struct registry_opts *o,
		       const struct skopeo_watch *w, struct error *e)
{
	char *argv[10], what[2 * REF_MAX + 1200];
	size_t i = 0;
	argv[i++] = "skopeo";
	argv[i++] = "copy";
	/* Never a manifest converted: the digests are the artifact's names. */
	argv[i++] = "--preserve-digests";
	argv[i++] = "--retry-times=2";
	if (!o->tls_verify)
		argv[i++] = push ? "--dest-tls-verify=false" : "--src-tls-verify=false";
	bool own = push && o->skopeo_progress;
	if (!own)
		argv[i++] = "--quiet";
	argv[i++] = (char *)from;
	argv[i++] = (char *)to;
	argv[i] = NULL;
	snprintf(what, sizeof what, "copy %s %s", from, to);
	return skopeo_run(argv, own ? STDERR_FILENO : -1, what, o, w, e);
}

/* *ret: what a pull of ref will download, the sizes in its manifest of
 * the blobs the cache lacks; 0 when that cannot be learnt (the copy that
 * follows says why). The manifest is read for this number only. Fails
 * only when interrupted. */
static int pull_total(struct oci_layout *l, const char *ref, const struct registry_opts *o, uint64_t *ret,
		      struct error *e)
{
	_cleanup_free_ char *from = NULL;
	_cleanup_close_ int out = memfd_create("skopeo-manifest", MFD_CLOEXEC);
	char *argv[] = {"skopeo", "inspect", "--raw", o->tls_verify ? "--tls-verify=true" : "--tls-verify=false",
			NULL,	  NULL};
	*ret = 0;
	if (out < 0 || asprintf(&from, "docker://%s", ref) < 0)
		return 0;
	argv[4] = from;
	int r = skopeo_run(argv, out, "inspect", o, NULL, e);
	if (r == -ECANCELED)
		return r;
	*e = (struct error){0};
	_cleanup_free_ char *text = calloc(1, ARTIFACT_MANIFEST_MAX + 1);
	ssize_t n = r == 0 && text ? pread_retry(out, text, ARTIFACT_MANIFEST_MAX, 0) : -1;
	json_object *m = n > 0 ? json_tokener_parse(text) : NULL, *layers = json_object_object_get(m, "layers");
	uint64_t total = 0;
	for (size_t k = 0; k <= json_object_array_length(layers); k++) {
		json_object *d = k < json_object_array_length(layers) ? json_object_array_get_idx(layers, k)
								      : json_object_object_get(m, "config");
		const char *digest = json_object_get_string(json_object_object_get(d, "digest"));
		int64_t size = json_object_get_int64(json_object_object_get(d, "size"));
		if (digest && size > 0 && !oci_blob_exists(l, digest))
			total += (uint64_t)size;
	}
	json_object_put(m);
	*ret = total;
	return 0;
}

static int open_named(struct store *s, const char *name, struct snapshot **ret, struct error *e)
{
	int r = snapshot_open(s, name, ret);
	if (r == -ENOENT)
		return error_set(e, r, "snapshot '%s': not found in %s", name, s->root);
	return r < 0 ? error_errno(e, r, "snapshot '%s'", name) : 0;
}

/* Writes sn's chain into the cache, bottom first; with repo, pushes
 * each parent there as repo:sha256-HEX. */
static int chain_write(struct store *s, struct oci_layout *l, const char *name, const char *repo,
		       const struct registry_opts *o, unsigned depth, struct registry_result *res,
		       char ret_digest[static OCI_DIGEST_LEN + 1], uint64_t *ret_size, struct error *e)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	char parent[OCI_DIGEST_LEN + 1], tag[80];
	uint64_t size;
	if (depth >= CHAIN_MAX)
		return error_set(e, -ELOOP, "snapshot '%s': more than %d parents", name, CHAIN_MAX);
	int r = open_named(s, name, &sn, e);
	if (r < 0)
		return r;
	if (sn->meta.parent) {
		if ((r = chain_write(s, l, sn->meta.parent, repo, o, depth + 1, res, parent, &size, e)) < 0)
			return r;
	}
	if (sn->meta.parent && repo) {
		_cleanup_free_ char *to = NULL, *from = NULL, *entry = NULL;
		snprintf(tag, sizeof tag, "sha256-%s", parent + 7);
		if (asprintf(&from, "oci:%s:%s", l->dir, tag) < 0 || asprintf(&to, "docker://%s:%s", repo, tag) < 0 ||
		    asprintf(&entry, "%s %s", sn->meta.parent, parent) < 0 ||
		    !(res->chain = strv_append(res->chain, entry)))
			return error_errno(e, -ENOMEM, "push");
		log_info("pushing parent '%s' (%s)", sn->meta.parent, parent);
		if ((r = skopeo_copy(from, to, true, o, NULL, e)) < 0)
			return r;
	}
	log_progress("snapshot '%s': writing its artifact", name);
	struct chunk_watch cw;
	chunk_watch_start(l, &cw, o, "packing", name);
	r = artifact_write(s, l, sn, sn->meta.parent ? parent : NULL, ret_digest, ret_size);
	chunk_watch_end(l);
	log_progress_end();
	if (r < 0)
		return error_errno(e, r, "snapshot '%s': writing its artifact into %s", name, l->dir);
	snprintf(tag, sizeof tag, "sha256-%s", ret_digest + 7);
	r = oci_tag_set(l, tag, ret_digest, *ret_size);
	return r < 0 ? error_errno(e, r, "%s/index.json", l->dir) : 0;
}

int registry_push(struct store *s, const char *name, const char *ref, const struct registry_opts *o,
		  struct registry_result *ret, struct error *e)
{
	_cleanup_free_ char *repo = NULL, *last = NULL, *from = NULL, *to = NULL;
	if (registry_ref_split(ref, &repo, &last) < 0 || strchr(ref, '@'))
		return error_set(e, -EINVAL, "push: '%s' is not a reference to push to (HOST[:PORT]/PATH[:TAG])", ref);
	_cleanup_(oci_layout_freep) struct oci_layout *l = NULL;
	int r = oci_layout_open(s, &l);
	if (r < 0)
		return error_errno(e, r, "the blob cache in %s", s->root);
	struct registry_result res = {0};
	uint64_t size;
	r = chain_write(s, l, name, repo, o, 0, &res, res.digest, &size, e);
	if (r == 0 && (asprintf(&from, "oci:%s:sha256-%s", l->dir, res.digest + 7) < 0 ||
		       asprintf(&to, "docker://%s", ref) < 0 || !(res.name = strdup(name))))
		r = error_errno(e, -ENOMEM, "push");
	if (r == 0) {
		log_info("pushing '%s' to %s", name, ref);
		r = skopeo_copy(from, to, true, o, NULL, e);
	}
	if (r < 0) {
		registry_result_release(&res);
		return r;
	}
	*ret = res;
	return 0;
}

/* The manifest digest that stands for a snapshot here: the one it was
 * pulled as, else its artifact's, written anew. */
static int local_digest(struct store *s, struct oci_layout *l, const char *name, char ret[static OCI_DIGEST_LEN + 1],
			struct error *e)
{
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	_cleanup_free_ char *ref = NULL, *digest = NULL;
	int r = open_named(s, name, &sn, e);
	if (r < 0)
		return r;
	if (snapshot_origin_read(sn, &ref, &digest) == 0) {
		memcpy(ret, digest, OCI_DIGEST_LEN + 1);
		return 0;
	}
	struct registry_result none = {0};
	uint64_t size;
	r = chain_write(s, l, name, NULL, NULL, 0, &none, ret, &size, e);
	registry_result_release(&none);
	return r;
}

static int pull_one(struct store *s, struct oci_layout *l, const char *ref, const char *repo, const char *name,
		    const struct registry_opts *o, unsigned depth, struct registry_result *res, struct error *e);

/* The parent a names: the store's own when it is the same artifact,
 * else pulled from the same repository by digest. */
static int parent_ready(struct store *s, struct oci_layout *l, const char *ref, const char *repo,
			const struct artifact *a, const struct registry_opts *o, unsigned depth,
			struct registry_result *res, struct error *e)
{
	const char *pname = a->meta.parent;
	_cleanup_(snapshot_freep) struct snapshot *p = NULL;
	char have[OCI_DIGEST_LEN + 1];
	int r = snapshot_open(s, pname, &p);
	if (r == 0) {
		p = snapshot_free(p);
		if ((r = local_digest(s, l, pname, have, e)) < 0)
			return r;
		if (strcmp(have, a->parent_digest))
			return error_set(e, -EEXIST,
					 "%s: its parent is snapshot '%s' %s, and the store's '%s' is another (%s): "
					 "remove or rename it",
					 ref, pname, a->parent_digest, pname, have);
		log_info("parent '%s' (%s) is here already", pname, have);
		return 0;
	}
	if (r != -ENOENT)
		return error_errno(e, r, "snapshot '%s'", pname);
	_cleanup_free_ char *pref = NULL;
	if (asprintf(&pref, "%s@%s", repo, a->parent_digest) < 0 ||
	    !(res->fetched_parents = strv_append(res->fetched_parents, pname)))
		return error_errno(e, -ENOMEM, "pull");
	return pull_one(s, l, pref, repo, pname, o, depth + 1, res, e);
}

static int install_report(int r, const char *ref, const char *name, const char *why, struct error *e)
{
	if (r == -EEXIST)
		return error_set(e, r, "snapshot '%s': exists already", name);
	if (r == -EBADMSG)
		return error_set(e, r, "%s: refused, nothing was stored: %s", ref, why ? why : "damaged");
	if (r == -ENOENT && why)
		return error_set(e, r, "%s: the store has no %s, and the artifact does not carry it", ref, why);
	return r < 0 ? error_errno(e, r, "%s: storing snapshot '%s'", ref, name) : 0;
}

static int pull_one(struct store *s, struct oci_layout *l, const char *ref, const char *repo, const char *name,
		    const struct registry_opts *o, unsigned depth, struct registry_result *res, struct error *e)
{
	_cleanup_free_ char *from = NULL, *to = NULL, *why = NULL;
	_cleanup_(artifact_freep) struct artifact *a = NULL;
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	size_t before = 0, after = 0;
	if (depth >= CHAIN_MAX)
		return error_set(e, -ELOOP, "%s: more than %d parents", ref, CHAIN_MAX);
	if (asprintf(&from, "docker://%s", ref) < 0 || asprintf(&to, "oci:%s:" PULL_TAG, l->dir) < 0)
		return error_errno(e, -ENOMEM, "pull");
	log_info("pulling %s", ref);
	struct skopeo_watch w = {l, ref, 0, 0, now_usec()};
	int r = o->progress ? pull_total(l, ref, o, &w.total, e) : 0;
	if (r < 0)
		return r;
	r = oci_blob_count(l, &before);
	if (r == 0 && o->progress)
		r = oci_layout_bytes(l, &w.base);
	if (r == 0)
		r = skopeo_copy(from, to, false, o, &w, e);
	else
		r = error_errno(e, r, "%s", l->dir);
	if (r == 0 && (r = oci_layout_narrow(l)) < 0)
		r = error_errno(e, r, "%s", l->dir);
	if (r < 0 || (r = oci_blob_count(l, &after)) < 0)
		return r < 0 && e->code ? r : error_errno(e, r, "%s", l->dir);
	r = oci_tag_get(l, PULL_TAG, digest, &size);
	if (r < 0)
		return error_errno(e, r, "%s: the manifest skopeo fetched, in %s/index.json", ref, l->dir);
	if ((r = artifact_read(l, digest, size, &a, &why)) < 0)
		return install_report(r, ref, name, why, e);
	size_t n = json_object_array_length(json_object_object_get(a->manifest, "layers")) + 2;
	res->blobs_fetched += after - before;
	res->blobs_kept += n > after - before ? n - (after - before) : 0;
	if (a->parent_digest && (r = parent_ready(s, l, ref, repo, a, o, depth, res, e)) < 0)
		return r;
	struct chunk_watch cw;
	chunk_watch_start(l, &cw, o, "unpacking", name);
	r = artifact_install(s, l, a, name, ref, &why);
	chunk_watch_end(l);
	if ((r = install_report(r, ref, name, why, e)) < 0)
		return r;
	if (depth == 0)
		memcpy(res->digest, digest, sizeof digest);
	return 0;
}

int registry_pull(struct store *s, const char *ref, const char *name, const struct registry_opts *o,
		  struct registry_result *ret, struct error *e)
{
	_cleanup_free_ char *repo = NULL, *last = NULL;
	_cleanup_(snapshot_freep) struct snapshot *have = NULL;
	_cleanup_(oci_layout_freep) struct oci_layout *l = NULL;
	const char *why = NULL;
	if (registry_ref_split(ref, &repo, &last) < 0)
		return error_set(e, -EINVAL, "pull: '%s' is not a reference (HOST[:PORT]/PATH[:TAG] or @sha256:...)",
				 ref);
	name = name ? name : last;
	if (snapshot_name_check(name, &why) < 0)
		return error_set(e, -EINVAL, "pull: snapshot name '%s' %s (give one: osrun snapshot pull REF NAME)",
				 name, why);
	int r = snapshot_open(s, name, &have);
	if (r == 0)
		return error_set(e, -EEXIST, "snapshot '%s': exists already", name);
	if (r != -ENOENT)
		return error_errno(e, r, "snapshot '%s'", name);
	if ((r = oci_layout_open(s, &l)) < 0)
		return error_errno(e, r, "the blob cache in %s", s->root);
	struct registry_result res = {0};
	if (!(res.name = strdup(name)))
		return error_errno(e, -ENOMEM, "pull");
	r = pull_one(s, l, ref, repo, name, o, 0, &res, e);
	if (r == 0)
		budget_after_pull(s, l, name, &res.evicted);
	if (r < 0) {
		registry_result_release(&res);
		return r;
	}
	*ret = res;
	return 0;
}
