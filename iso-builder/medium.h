/* The Windows setup medium: a small second ISO beside the untouched Windows
 * ISO, with the generated autounattend.xml, the guest-init scripts, the
 * virtio drivers Setup loads and the guest agent's MSI. It is kept in the
 * store under a key of its content, and that key, with the Windows ISO's
 * identity, seeds the install stages' keys. */
#pragma once
#include "../runner/lib/error.h"
#include "../snapshots/store.h"
#include "wim.h"

#define MEDIUM_ADMIN_USER "osrun"

struct medium_inputs {
	const char *iso;	 /* the Windows ISO */
	const char *virtio;	 /* the virtio-win ISO */
	const char *edition;	 /* name, edition id or index; NULL: the default */
	const char *password;	 /* NULL: the store's, else a new random one */
	const char *product_key; /* NULL: the edition's generic key */
	const char *guest_init;	 /* the folder of guest-init/windows scripts */
	unsigned size_gib;	 /* the disk the stages install onto */
};

/* A password from MEDIUM_PASSWORD_LEN random bytes, with a lower-case and
 * an upper-case letter, a digit and a symbol among them. */
#define MEDIUM_PASSWORD_LEN 20
void medium_password(const unsigned char raw[MEDIUM_PASSWORD_LEN], char pw[MEDIUM_PASSWORD_LEN + 1]);

/* Both media are ISO 9660 images. */
int medium_check_isos(const struct medium_inputs *in, struct error *e);
/* The editions of iso's install image (sources/install.wim or .esd,
 * extracted into work, read by wimlib, then removed); messages start with
 * "opt iso". */
int medium_read_editions(const char *opt, const char *iso, const char *work, struct edition_list *l, struct error *e);
/* Reads the install image's editions (extracted into work, then removed)
 * and picks the one to install (1: an edition id several images share
 * picked the Desktop Experience one, edition_pick); a failure lists what
 * the ISO has, or says why the edition cannot be installed unattended
 * (not x64, no key known). */
int medium_pick_edition(const struct medium_inputs *in, const char *work, struct edition_list *l,
			const struct edition **ret, struct error *e);
/* Assembles the medium in work, makes its ISO in the store (once) and
 * gives its path and the seed for the stages' keys. */
int medium_make(struct store *s, const struct medium_inputs *in, const struct edition *ed, const char *work,
		char **ret_iso, uint64_t *ret_seed, struct error *e);
