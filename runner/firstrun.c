#define _GNU_SOURCE
#include "firstrun.h"

#include <string.h>

#include "lib/log.h"
#include "provision.h"
#include "../snapshots/snapshot.h"

/* It fetches Windows 11 and virtio-win into the store unless given ISOs. */
#define IMAGE_BUILD "osrun image build"

bool firstrun_disabled_by_env(void)
{
	const char *v = getenv("OSRUN_NO_PROVISION");
	return v && *v && strcmp(v, "0");
}

/* Where the store has no snapshot, the guest it is for decides what to do. */
static int firstrun_refuse_windows(const struct store *s, const char *name, struct error *e)
{
	_cleanup_free_ char *win = store_path(s, STORE_SECRETS, NULL, NULL);
	if (!win)
		return error_errno(e, -ENOMEM, "paths");
	if (!file_exists(win))
		return 0;
	return error_set(e, -ENOENT,
			 "snapshot '%s': not found in %s, a store for Windows (it has %s): build the image with "
			 "'" IMAGE_BUILD "' (it fetches the ISOs; --iso FILE takes yours)",
			 name, s->root, win);
}

int firstrun_ensure(const char *cache, const char *snapshot, struct error *e)
{
	if (strcmp(snapshot, FIRSTRUN_SNAPSHOT))
		return 0;
	_cleanup_free_ char *root = cache ? strdup(cache) : store_default_root();
	_cleanup_(store_freep) struct store *s = NULL;
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	if (!root)
		return error_errno(e, -ENOMEM, "store");
	int r = store_open(root, &s);
	if (r < 0)
		return error_errno(e, r, "cache '%s'", root);
	/* Any other failure than a missing one is the run's to report. */
	if (snapshot_open(s, snapshot, &sn) != -ENOENT)
		return 0;
	if ((r = firstrun_refuse_windows(s, snapshot, e)) < 0)
		return r;
	struct provision_plan p;
	provision_plan_init(&p, guest_kind_find(NULL));
	p.cache = root;
	p.if_missing = true;
	struct error why = {0};
	if (provision_check_guest(p.kind, p.guest_dir, &why) < 0)
		return error_set(e, -ENOENT,
				 "snapshot '%s': not found in %s, and there is no test guest to build it from in %s "
				 "($OSRUN_GUEST_DIR): for Windows run '" IMAGE_BUILD "'; for the test guest 'make "
				 "guest'",
				 snapshot, root, p.guest_dir);
	log_info("snapshot '%s' is not in %s yet: building it from the test guest in %s first, as 'osrun "
		 "provision' does (--no-provision refuses instead)",
		 snapshot, root, p.guest_dir);
	return provision_execute(&p, e);
}
