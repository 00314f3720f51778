#define _GNU_SOURCE
#include "copy.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/log.h"
#include "lib/share.h"
#include "lib/tarball.h"

/* A copy of tens of thousands of files under TCG takes minutes. */
#define COPY_TIMEOUT (3600 * USEC_PER_SEC)

/* The last component of a path, either guest's separators: "/a/b/" -> "b". */
static char *path_base(const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && (path[n - 1] == '/' || path[n - 1] == '\\'))
		n--;
	size_t start = n;
	while (start > 0 && path[start - 1] != '/' && path[start - 1] != '\\')
		start--;
	if (start == n || (n - start == 2 && path[start + 1] == ':') || !strncmp(path + start, "..", n - start))
		return NULL;
	return strndup(path + start, n - start);
}

static int copy_helper(struct warm *w, char **env, const char *const *args, const char *what, struct error *e)
{
	char *argv[16];
	size_t n = 0;
	for (const char *const *a = w->prof->copy_argv; a && *a && n < 8; a++)
		argv[n++] = (char *)*a;
	for (const char *const *a = args; *a && n < ELEMENTSOF(argv) - 1; a++)
		argv[n++] = (char *)*a;
	argv[n] = NULL;
	struct qga_exec x = {.path = w->prof->copy_path, .argv = argv, .env = env};
	return job_run_guest_helper(&w->j, &x, COPY_TIMEOUT, what, e);
}

static int copy_in_one(struct warm *w, char **env, const struct run_copy *c, struct error *e)
{
	_cleanup_free_ char *tar = path_join(w->j.rundir->path, "share/copy-in.tar"), *base = path_base(c->host),
			    *bad = NULL, *what = NULL, *real = NULL;
	struct stat st;
	if (!tar || asprintf(&what, "--copy-in '%s:%s'", c->host, c->guest) < 0)
		return error_errno(e, -ENOMEM, "--copy-in %s", c->host);
	if (lstat(c->host, &st) < 0)
		return error_errno(e, -errno, "%s: %s", what, c->host);
	/* "." and ".." are named by what they are. */
	if (!base && (!(real = realpath(c->host, NULL)) || !(base = path_base(real))))
		return error_set(e, -EINVAL, "%s: name a file or directory, not a root", what);
	usec_t t0 = now_usec();
	_cleanup_close_ int fd = open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_errno(e, -errno, "%s: %s", what, tar);
	int r = tarball_pack(c->host, base, fd, &bad);
	if (r < 0)
		return error_errno(e, r, "%s: reading %s", what, bad ? bad : c->host);
	const char *args[] = {"in", "copy-in.tar", S_ISDIR(st.st_mode) ? "dir" : "file", c->guest, base, NULL};
	r = copy_helper(w, env, args, what, e);
	(void)unlink(tar);
	if (r == 0)
		log_debug("%s in %.2f s", what, seconds_since(t0));
	return r;
}

int run_copy_in(const struct run_plan *p, struct warm *w, char **env, struct error *e)
{
	if (p->n_copy_in && !w->prof->copy_path)
		return error_set(e, -EOPNOTSUPP, "--copy-in: this guest has no copy helper");
	for (size_t i = 0; i < p->n_copy_in; i++) {
		int r = copy_in_one(w, env, &p->copy_in[i], e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Where the guest's path lands: in HOST when it is a directory, else at
 * HOST; never over something that exists. */
static int copy_out_target(const struct run_copy *c, const char *base, char **ret, struct error *e)
{
	struct stat st;
	char *t = stat(c->host, &st) == 0 && S_ISDIR(st.st_mode) ? path_join(c->host, base) : strdup(c->host);
	if (!t)
		return error_errno(e, -ENOMEM, "--copy-out");
	if (lstat(t, &st) == 0) {
		int r = error_set(e, -EEXIST, "--copy-out '%s:%s': %s exists (remove it first)", c->guest, c->host, t);
		free(t);
		return r;
	}
	*ret = t;
	return 0;
}

/* The guest's tar, unpacked beside the target and moved into place: the
 * target appears whole or not at all, and never over what appeared there
 * since copy_out_target looked. */
static int copy_out_unpack(const char *tar, const char *target, const char *base, uint64_t limit, const char *what,
			   struct error *e)
{
	_cleanup_free_ char *why = NULL;
	_cleanup_close_ int fd = open(tar, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	int r = fd < 0 ? -errno : fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EBADMSG;
	if (r == 0)
		r = tarball_unpack_as(fd, base, target, limit, &why);
	if (r == -EBADMSG)
		return error_set(e, r, "%s: the guest's archive was refused: %s", what, why ? why : "not a file");
	if (r == -ENOENT)
		return error_set(e, r, "%s: the guest sent nothing", what);
	if (r == -EEXIST)
		return error_set(e, r, "%s: %s appeared meanwhile (left as it is)", what, target);
	return r < 0 ? error_errno(e, r, "%s: unpacking into %s", what, target) : 0;
}

static int copy_out_one(const struct run_plan *p, struct warm *w, char **env, const struct run_copy *c, struct error *e)
{
	_cleanup_free_ char *tar = path_join(w->j.rundir->path, "share/copy-out.tar"), *base = path_base(c->guest),
			    *what = NULL, *target = NULL;
	if (!tar || asprintf(&what, "--copy-out '%s:%s'", c->guest, c->host) < 0)
		return error_errno(e, -ENOMEM, "--copy-out");
	if (!base)
		return error_set(e, -EINVAL, "%s: name a file or directory, not a root", what);
	int r = copy_out_target(c, base, &target, e);
	if (r < 0)
		return r;
	/* What the guest may keep in the share bounds what its tar brings. */
	uint64_t limit = p->share_limit_mib ? (uint64_t)p->share_limit_mib << 20 : SHARE_LIMIT_DEFAULT;
	usec_t t0 = now_usec();
	const char *args[] = {"out", "copy-out.tar", c->guest, NULL};
	if ((r = copy_helper(w, env, args, what, e)) == 0)
		r = copy_out_unpack(tar, target, base, limit, what, e);
	(void)unlink(tar);
	if (r == 0)
		log_debug("%s in %.2f s", what, seconds_since(t0));
	return r;
}

int run_copy_out(const struct run_plan *p, struct warm *w, char **env, struct error *e)
{
	if (p->n_copy_out && !w->prof->copy_path)
		return error_set(e, -EOPNOTSUPP, "--copy-out: this guest has no copy helper");
	for (size_t i = 0; i < p->n_copy_out; i++) {
		int r = copy_out_one(p, w, env, &p->copy_out[i], e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A failed copy-out fails a run whose command succeeded; after a failed
 * command its exit status is what the caller needs, so the copy's failure
 * is only told. */
int run_copy_out_after(const struct run_plan *p, struct warm *w, char **env, int status, struct error *e)
{
	struct error ce = {0};
	int r = run_copy_out(p, w, env, &ce);
	if (r == -ECANCELED || (r < 0 && status == 0)) {
		*e = ce;
		return r;
	}
	if (r < 0)
		log_warn("%s", ce.msg);
	return 0;
}
