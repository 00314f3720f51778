#define _GNU_SOURCE
#include "firstrun.h"

#include <string.h>

#include "image.h"
#include "isofetch.h"
#include "job.h"
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

/* Which guest the store is for: $OSRUN_GUEST says; else a store with
 * fetched ISOs or Windows' secrets is for Windows. *ret_why says how that
 * was decided, for the messages. */
static int firstrun_windows(const struct store *s, bool *ret_windows, char **ret_why, struct error *e)
{
	const char *g = getenv("OSRUN_GUEST");
	if (g && *g) {
		if (strcmp(g, "windows") && strcmp(g, "linux"))
			return error_set(e, -EINVAL, "OSRUN_GUEST '%.40s': expected 'windows' or 'linux'", g);
		*ret_windows = !strcmp(g, "windows");
		*ret_why = strdup(*ret_windows ? "OSRUN_GUEST=windows" : "OSRUN_GUEST=linux");
		return *ret_why ? 0 : error_errno(e, -ENOMEM, "paths");
	}
	*ret_windows = false;
	static const enum store_area marks[] = {STORE_SECRETS, STORE_ISOS};
	for (size_t i = 0; i < ELEMENTSOF(marks); i++) {
		_cleanup_free_ char *dir = store_path(s, marks[i], NULL, NULL);
		if (!dir)
			return error_errno(e, -ENOMEM, "paths");
		if (!file_exists(dir))
			continue;
		*ret_windows = true;
		return asprintf(ret_why, "it has %s", dir) < 0 ? error_errno(e, -ENOMEM, "paths") : 0;
	}
	return 0;
}

/* OSRUN_WINDOWS_VERSION and OSRUN_WINDOWS_LANGUAGE pick the ISO to fetch,
 * as image build's --version and --language do. */
static int firstrun_build_windows(const char *root, const char *snapshot, const char *why, struct error *e)
{
	struct image_plan p;
	image_plan_init(&p);
	p.cache = root;
	p.name = snapshot;
	p.if_missing = true;
	const char *v = getenv("OSRUN_WINDOWS_VERSION"), *l = getenv("OSRUN_WINDOWS_LANGUAGE");
	p.version = v && *v ? v : ISOFETCH_DEFAULT_VERSION;
	p.language = l && *l ? l : NULL;
	if (!isofetch_version_find(p.version) || !strcmp(p.version, ISOFETCH_VIRTIO))
		return error_set(e, -EINVAL,
				 "OSRUN_WINDOWS_VERSION '%.40s': not a Windows version ('osrun image fetch --list' "
				 "shows them)",
				 p.version);
	log_info(
		"snapshot '%s' is not in %s yet (%s): building Windows %s first, as '" IMAGE_BUILD
		" --version %s' does: the ISOs fetched unless in the store, then an unattended install (--no-provision "
		"refuses instead)",
		snapshot, root, why, p.version, p.version);
	return image_execute(&p, e);
}

static int firstrun_build_linux(const char *root, const char *snapshot, struct error *e)
{
	struct provision_plan p;
	provision_plan_init(&p, guest_kind_find(NULL));
	p.cache = root;
	p.if_missing = true;
	struct error why = {0};
	if (provision_check_guest(p.kind, p.guest_dir, &why) < 0)
		return error_set(e, -ENOENT,
				 "snapshot '%s': not found in %s, and there is no test guest to build it from in %s "
				 "($OSRUN_GUEST_DIR): for Windows set OSRUN_GUEST=windows (or run '" IMAGE_BUILD
				 "'); for the test guest 'make guest'",
				 snapshot, root, p.guest_dir);
	log_info("snapshot '%s' is not in %s yet: building it from the test guest in %s first, as 'osrun "
		 "provision' does (--no-provision refuses instead)",
		 snapshot, root, p.guest_dir);
	return provision_execute(&p, e);
}

int firstrun_ensure(const char *cache, const char *snapshot, bool no_build, struct error *e)
{
	if (strcmp(snapshot, FIRSTRUN_SNAPSHOT))
		return 0;
	_cleanup_(store_freep) struct store *s = NULL;
	_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
	int r = job_store_open(cache, &s, e);
	if (r < 0)
		return r;
	const char *root = s->root;
	/* Any other failure than a missing one is the run's to report. */
	if (snapshot_open(s, snapshot, &sn) != -ENOENT)
		return 0;
	bool windows = false;
	_cleanup_free_ char *why = NULL;
	if ((r = firstrun_windows(s, &windows, &why, e)) < 0)
		return r;
	/* Without a build, a Linux run fails as any run on a missing
	 * snapshot; Windows' fetch and install are named. */
	if (no_build && windows)
		return error_set(
			e, -ENOENT,
			"snapshot '%s': not found in %s, a store for Windows (%s), and --no-provision "
			"(OSRUN_NO_PROVISION) refuses to fetch the ISOs and install it: build it with '" IMAGE_BUILD
			"' (--iso FILE takes your ISO)",
			snapshot, root, why);
	if (no_build)
		return 0;
	return windows ? firstrun_build_windows(root, snapshot, why, e) : firstrun_build_linux(root, snapshot, e);
}
