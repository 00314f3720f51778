/* A Windows image: from a Windows ISO and the virtio-win ISO (given, or
 * fetched into the store, image-fetch.h) to a saved snapshot, unattended.
 * Every input is checked before anything starts; then the setup medium is
 * made (iso-builder/) and the stage engine installs Windows. `osrun image
 * build` asks for it, and so does a first `osrun COMMAND` on a store for
 * Windows (firstrun.h). Builds in one store take turns under the lock
 * `osrun provision` takes (provision.h). */
#pragma once
#include "../iso-builder/medium.h"
#include "lib/error.h"

#ifndef OSRUN_WINDOWS_DIR
#define OSRUN_WINDOWS_DIR "/usr/local/share/osrun/windows"
#endif

struct image_plan {
	struct medium_inputs in;
	const char *cache;		/* NULL: the default store */
	const char *version, *language; /* what to fetch without in.iso */
	const char *name;
	unsigned memory_mib;
	unsigned cpus;
	usec_t stage_timeout;
	usec_t setup_timeout;
	bool keep;
	bool force;
	bool dry_run;
	bool vnc;
	/* Nothing to do when snapshot name exists, whatever it was built
	 * from (a first run's build, after waiting for another's). */
	bool if_missing;
};

/* The defaults: "provisioned", 64 GiB, 4096 MiB, 2 CPUs, stages 14400 s,
 * Setup 5400 s, the scripts in $OSRUN_WINDOWS_DIR, else OSRUN_WINDOWS_DIR. */
void image_plan_init(struct image_plan *p);
/* The options that contradict each other. */
int image_check(const struct image_plan *p, struct error *e);
/* dry_run: checks the inputs, writes the setup medium and prints every
 * stage's QEMU command line on stdout; starts nothing. */
int image_execute(const struct image_plan *p, struct error *e);
