/* What a failed build stage leaves for the user to look at: with KVM a
 * Windows stage runs for up to hours and fails where nobody watches, and
 * the run directory (its console log) goes when osrun exits. So the
 * console log, the status file and the screen as it was go into the store
 * (ROOT/logs/stage-NAME-TIME/), and the error names the place. */
#define _GNU_SOURCE
#include "evidence.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/log.h"

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

void stage_evidence(struct job *j, const char *stage, const char *console, struct status_follow *status,
		    struct error *e)
{
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	_cleanup_free_ char *entry = NULL, *dir = NULL, *log = NULL, *st = NULL;
	if (asprintf(&entry, "stage-%s-%s", stage, stamp) < 0 || store_area_make(j->store, STORE_LOGS) < 0 ||
	    !(dir = store_path(j->store, STORE_LOGS, entry, NULL)) || (mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    !(log = path_join(dir, "console.log")) || !(st = path_join(dir, "status.txt")))
		return; /* the failure itself is the message; this is a bonus */
	bool screen = screen_save(j, dir);
	copy_file_sparse(console, log, 0600);
	_cleanup_close_ int fd = open(st, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		status_copy(status, fd);
	size_t n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, "; its console log%s in %s", screen ? " and screen are" : " is", dir);
}
