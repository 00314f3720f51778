/* What a failed build stage leaves for the user to look at: with KVM a
 * Windows stage runs for up to hours and fails where nobody watches, and
 * the run directory (its console log) goes when osrun exits. So the
 * console log, the status file, the screen as it was and the logs Setup
 * and the stage runner left on the guest's disk go into the store
 * (ROOT/logs/stage-NAME-TIME/), and the error names the place. */
#define _GNU_SOURCE
#include "evidence.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"

/* A copy off the disk keeps the file's end, where a failure is logged. */
#define DISKFILE_MAX (16u << 20)
#define DISK_TIMEOUT (60 * USEC_PER_SEC)

/* QEMU's screen into path: PNG where QEMU has it (7.1+), else PPM. */
static bool screen_save(struct job *j, const char *dir)
{
	if (!j->vm || vm_exited(j->vm, NULL))
		return false;
	static const char *const formats[] = {"png", "ppm"};
	for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
		_cleanup_free_ char *name = NULL, *path = NULL;
		if (asprintf(&name, "screen.%s", formats[i]) < 0 || !(path = path_join(dir, name)))
			return false;
		json_object *args = json_object_new_object();
		json_object_object_add(args, "filename", json_object_new_string(path));
		if (i == 0)
			json_object_object_add(args, "format", json_object_new_string(formats[i]));
		struct remote_error err;
		if (qmp_call(vm_qmp(j->vm), "screendump", args, 10 * USEC_PER_SEC, NULL, &err) == 0)
			return true;
		log_debug("screendump (%s): %s", formats[i], err.desc);
	}
	return false;
}

/* Copies ev's files off its disk into dir; names gets the names of those
 * there, as "a, b". Returns how many. */
static size_t disk_evidence(struct job *j, const struct stage_evidence *ev, const char *dir, char *names, size_t n)
{
	*names = '\0';
	_cleanup_close_ int dfd =
		ev->files && ev->disk ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (dfd < 0)
		return 0;
	struct error de = {0};
	struct diskfiles_spec spec = {.disk = ev->disk,
				      .files = ev->files,
				      .dirfd = dfd,
				      .sockdir = j->rundir->path,
				      .max = DISKFILE_MAX,
				      .timeout = DISK_TIMEOUT};
	if (diskfiles_copy(&spec, &de) < 0)
		log_debug("stage %s: no logs from its disk: %s", ev->stage, de.msg);
	size_t kept = 0;
	for (const struct diskfile *f = ev->files; f->path; f++) {
		size_t len = strlen(names);
		if (faccessat(dfd, f->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			snprintf(names + len, n - len, "%s%s", kept++ ? ", " : "", f->name);
	}
	return kept;
}

void stage_evidence(struct job *j, const struct stage_evidence *ev, struct error *e)
{
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	_cleanup_free_ char *entry = NULL, *dir = NULL, *log = NULL, *st = NULL;
	bool made =
		asprintf(&entry, "stage-%s-%s", ev->stage, stamp) >= 0 && store_area_make(j->store, STORE_LOGS) >= 0 &&
		(dir = store_path(j->store, STORE_LOGS, entry, NULL)) && (mkdir(dir, 0700) >= 0 || errno == EEXIST) &&
		(log = path_join(dir, "console.log")) && (st = path_join(dir, "status.txt"));
	bool screen = made && screen_save(j, dir);
	j->vm = vm_free(j->vm);
	if (!made)
		return; /* the failure itself is the message; this is a bonus */
	copy_file_sparse(ev->console, log, 0600);
	_cleanup_close_ int fd = open(st, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		status_copy(ev->status, fd);
	char names[256], logs[300];
	size_t kept = disk_evidence(j, ev, dir, names, sizeof names);
	snprintf(logs, sizeof logs, "setup logs (%s)", names);
	const char *what[3] = {"console log"};
	size_t n = 1, len = strlen(e->msg);
	if (screen)
		what[n++] = "screen";
	if (kept)
		what[n++] = logs;
	snprintf(e->msg + len, sizeof e->msg - len, "; its %s%s%s%s%s %s in %s", what[0], n == 3 ? ", " : "",
		 n == 3 ? what[1] : "", n > 1 ? " and " : "", n > 1 ? what[n - 1] : "", n > 1 ? "are" : "is", dir);
}
