/* What a run brings into the guest besides its command: host folders and
 * cache volumes shared while it runs (--volume, --cache-volume), and copies
 * made before and after it (--copy-in, --copy-out). The command layer parses
 * the user's specs with these; the run engine carries them out. */
#pragma once
#include "lib/error.h"
#include "lib/smb.h"

struct store;
struct cache_volume;

#define RUN_VOLUMES_MAX 16
#define RUN_COPIES_MAX 32

/* A shared folder. The guest sees it at `guest` (Linux: a CIFS mount; Windows:
 * a drive letter for "X:", else a directory link). Read-only is the server's
 * rule (smb.conf), not the guest's. */
struct run_volume {
	char *host;  /* --volume: the host directory, resolved; NULL for a cache */
	char *cache; /* --cache-volume: its name in the store */
	char *guest;
	bool read_only;
};

/* --copy-in HOST:GUEST or --copy-out GUEST:HOST. */
struct run_copy {
	char *host;
	char *guest;
};

void run_volume_release(struct run_volume *v);
void run_copy_release(struct run_copy *c);

/* "HOST_DIR:GUEST_PATH[:ro|:rw]": the directory must exist. */
int volume_parse(const char *spec, struct run_volume *ret, struct error *e);
/* "NAME:GUEST_PATH" */
int cache_volume_parse(const char *spec, struct run_volume *ret, struct error *e);
/* "HOST:GUEST" (in: HOST must exist) or "GUEST:HOST" (out: HOST's
 * directory must exist, HOST itself not, unless it is a directory). A guest
 * path may start with a drive letter ("C:\\src"). */
int copy_parse(const char *spec, bool out, struct run_copy *ret, struct error *e);

/* The guest helpers' description of the volumes, one per line:
 * "SHARE ro|rw GUEST_PATH\n", where SHARE is volume_share_name(i). */
char *volume_guest_list(const struct run_volume *v, size_t n);
/* The share name of volume i, as smb.conf and the guest name it. */
void volume_share_name(size_t i, char buf[static 8]);

/* Opens and locks the cache volumes among v into caches[i] (same index):
 * a second writer would see a half-written download. */
int volume_open_caches(struct store *s, const struct run_volume *v, size_t n, struct cache_volume **caches,
		       struct error *e);
/* The SMB shares for v (names[i] holds share i's name). */
void volume_shares(const struct run_volume *v, size_t n, struct cache_volume *const *caches, struct smb_share *ret,
		   char names[][8]);
