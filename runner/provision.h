/* The Linux test guest's snapshot: its image built through the stage
 * engine, booted, saved. `osrun provision` asks for it, and so does a
 * first `osrun COMMAND` on a store without `provisioned` (firstrun.h).
 * Builds in one store take turns (a lock): the second one waits, then
 * finds the snapshot made. */
#pragma once
#include "lib/error.h"

#ifndef OSRUN_GUEST_DIR
#define OSRUN_GUEST_DIR "/usr/local/share/osrun/guest"
#endif

struct provision_plan {
	const char *cache; /* NULL: the default store */
	const char *name;
	const char *guest_dir;
	const char *append;
	unsigned memory_mib;
	unsigned cpus;
	usec_t boot_timeout;
	bool force;
	bool keep;
	bool dry_run;
	/* Nothing to do when snapshot name exists, whatever it was built
	 * from (a first run's build, after waiting for another's). */
	bool if_missing;
};

/* The defaults: "provisioned", 256 MiB, 1 CPU, 120 s, the guest in
 * $OSRUN_GUEST_DIR, else OSRUN_GUEST_DIR. */
void provision_plan_init(struct provision_plan *p);
/* The test guest's files and stage scripts are all in dir; -ENOENT naming
 * the first one missing. */
int provision_check_guest(const char *dir, struct error *e);
int provision_execute(const struct provision_plan *p, struct error *e);

/* Takes ROOT/provision.lock, which every build of a snapshot a run may
 * need takes (this one, osrun image build), waiting (and saying so) while
 * another osrun holds it. 1 when if_missing and snapshot name is there
 * once the lock is ours. *ret_fd, set on 0 and 1, is the caller's to close. */
struct job;
int provision_lock(struct job *j, const char *name, bool if_missing, int *ret_fd, struct error *e);
