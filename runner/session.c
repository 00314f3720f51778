#define _GNU_SOURCE
#include "session.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "pool.h"

char *session_store_root(const char *cache) { return cache ? strdup(cache) : store_default_root(); }

/* The names of the sessions that have a NAME.json, alive or not. */
static char **session_names(const char *root)
{
	_cleanup_free_ char *dir = store_session_file(root, "", "");
	DIR *d = dir ? opendir(dir) : NULL;
	char **names = calloc(1, sizeof(char *));
	struct dirent *ent;
	while (d && names && (ent = readdir(d))) {
		size_t n = strlen(ent->d_name);
		if (n <= 5 || strcmp(ent->d_name + n - 5, ".json"))
			continue;
		_cleanup_free_ char *name = strndup(ent->d_name, n - 5);
		names = name ? strv_append(names, name) : (strv_free(names), NULL);
	}
	if (d)
		closedir(d);
	return names;
}

/* Removes what killed keepers left: a NAME.json nobody holds. */
void session_sweep(const char *root)
{
	_cleanup_strv_free_ char **names = session_names(root);
	for (char **name = names; name && *name; name++) {
		_cleanup_free_ char *json = store_session_file(root, *name, ".json");
		_cleanup_close_ int fd = json ? open(json, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || time(NULL) - st.st_mtime < 2 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		const char *suffixes[] = {".sock", ".busy", ".log", ".json"};
		for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
			_cleanup_free_ char *f = store_session_file(root, *name, suffixes[i]);
			if (f)
				unlink(f);
		}
	}
}

bool session_alive(const char *root, const char *name)
{
	_cleanup_free_ char *json = store_session_file(root, name, ".json");
	_cleanup_close_ int fd = json ? open(json, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	return fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* `stop` while a request runs: the keeper is told as Ctrl-C would tell
 * it (SIGTERM), which ends the request (its client hears 143) and the
 * session. Its pid is the one NAME.json records, flocked by that keeper. */
static int session_interrupt(const char *root, const char *name, int *ret_status, struct error *e)
{
	_cleanup_free_ char *path = store_session_file(root, name, ".json"), *text = NULL;
	json_object *o = path && read_full_file(path, &text, NULL) == 0 ? json_tokener_parse(text) : NULL, *v;
	pid_t pid = json_object_object_get_ex(o, "pid", &v) ? (pid_t)json_object_get_int(v) : 0;
	json_object_put(o);
	if (pid <= 1 || kill(pid, SIGTERM) < 0)
		return error_set(e, -ESRCH, "session '%s': its keeper cannot be told to stop", name);
	for (int i = 0; i < 6000 && session_alive(root, name); i++)
		fd_wait(-1, 0, deadline_after(10 * USEC_PER_MSEC));
	if (session_alive(root, name))
		return error_set(e, -ETIMEDOUT, "session '%s': still running 60 s after it was told to stop", name);
	*ret_status = 0;
	return 0;
}

/* Sends one request to session name and waits for its exit status. */
int session_request(const char *cache, const char *name, struct run_plan *p, int *ret_status, struct error *e)
{
	_cleanup_free_ char *root = session_store_root(cache);
	_cleanup_free_ char *sock = root ? store_session_file(root, name, ".sock") : NULL,
			    *busy = root ? store_session_file(root, name, ".busy") : NULL;
	if (!sock || !busy)
		return error_errno(e, -ENOMEM, "session");
	if (!session_alive(root, name))
		return error_set(e, -ENOENT, "session '%s': not running (see 'osrun session list')", name);
	_cleanup_close_ int lock = open(busy, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (lock < 0)
		return error_errno(e, -errno, "session '%s': %s", name, busy);
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		if (p->op == RUN_OP_STOP && !p->new_snapshot)
			return session_interrupt(root, name, ret_status, e);
		return error_set(e, -EBUSY, "session '%s' is busy with another request (one at a time)%s", name,
				 p->op == RUN_OP_STOP ? ": stop it without -n, or save it once the request ends" : "");
	}
	p->snapshot = name;
	int r = pool_run_socket(sock, p, ret_status, e);
	if (r == -EAGAIN)
		return error_set(e, -ECONNREFUSED, "session '%s': its keeper does not answer", name);
	/* A refused `stop -n` (its name taken) leaves the session running. */
	if (r < 0 || p->op != RUN_OP_STOP || *ret_status != 0)
		return r;
	/* Its files go just after its answer: wait, so `list` agrees. */
	for (int i = 0; i < 500 && session_alive(root, name); i++)
		fd_wait(-1, 0, deadline_after(10 * USEC_PER_MSEC));
	return 0;
}

int session_list(const char *cache, json_object **ret, struct error *e)
{
	_cleanup_free_ char *root = session_store_root(cache);
	_cleanup_strv_free_ char **names = root ? session_names(root) : NULL;
	if (!names)
		return error_errno(e, -ENOMEM, "session");
	json_object *arr = json_object_new_array();
	for (char **name = names; *name; name++) {
		_cleanup_free_ char *path = store_session_file(root, *name, ".json"), *text = NULL;
		if (!path || !session_alive(root, *name) || read_full_file(path, &text, NULL) < 0)
			continue;
		json_object *o = json_tokener_parse(text);
		if (o && json_object_is_type(o, json_type_object))
			json_object_array_add(arr, o);
		else
			json_object_put(o);
	}
	*ret = arr;
	return 0;
}
