/* A Linux guest's snapshot: its image built through the stage engine,
 * booted, saved. Two guests: the test guest (busybox in an initramfs),
 * which `osrun provision` builds and a first `osrun COMMAND` on a store
 * without `provisioned` asks for (firstrun.h), and the Debian guest
 * (bookworm with systemd on its disk, guest-init/debian), which `osrun
 * provision debian` builds. Builds in one store take turns (a lock): the
 * second one waits, then finds the snapshot made. */
#pragma once
#include "lib/error.h"

#ifndef OSRUN_GUEST_DIR
#define OSRUN_GUEST_DIR "/usr/local/share/osrun/guest"
#endif
#ifndef OSRUN_DEBIAN_DIR
#define OSRUN_DEBIAN_DIR "/usr/local/share/osrun/debian"
#endif

/* What differs between the guests osrun provisions. */
struct guest_kind {
	const char *name;	  /* osrun provision NAME; NULL: the test guest */
	const char *what;	  /* in messages */
	const char *snapshot;	  /* the default snapshot name */
	const char *image_prefix; /* of its image's id in the store */
	const char *dir_env;	  /* names its build directory */
	const char *dir_default;
	const char *make_target; /* builds it */
	/* Every boot's kernel command line (stages and the final boot) before
	 * the rest; NULL: none. */
	const char *kernel_args;
	const char *stage_args; /* the stages' whole command line */
	unsigned memory_mib;
	unsigned boot_seconds; /* default bound on a boot (runclock time) */
};

struct provision_plan {
	const struct guest_kind *kind;
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

/* The guest named (NULL: the test guest); NULL when there is none. */
const struct guest_kind *guest_kind_find(const char *name);
/* The kind's defaults: the test guest's are "provisioned", 256 MiB, 1 CPU,
 * 120 s, the guest in $OSRUN_GUEST_DIR, else OSRUN_GUEST_DIR. */
void provision_plan_init(struct provision_plan *p, const struct guest_kind *kind);
/* The guest's files and stage scripts are all in dir; -ENOENT naming the
 * first one missing. */
int provision_check_guest(const struct guest_kind *kind, const char *dir, struct error *e);
int provision_execute(const struct provision_plan *p, struct error *e);

/* Takes ROOT/provision.lock, which every build of a snapshot a run may
 * need takes (this one, osrun image build), waiting (and saying so) while
 * another osrun holds it. 1 when if_missing and snapshot name is there
 * once the lock is ours. *ret_fd, set on 0 and 1, is the caller's to close. */
struct job;
int provision_lock(struct job *j, const char *name, bool if_missing, int *ret_fd, struct error *e);
