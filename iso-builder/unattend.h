/* The Windows answer file (autounattend.xml), generated from what this build
 * needs rather than kept as a fixed blob. libxml2 writes it, so every value
 * is escaped and the result is well-formed. Never prints. */
#pragma once
#include "../runner/lib/util.h"

struct unattend {
	unsigned image_index;	 /* /IMAGE/INDEX in install.wim */
	bool uefi;		 /* GPT with ESP and MSR; else MBR for BIOS */
	const char *product_key; /* NULL: none (volume or evaluation media) */
	const char *user;	 /* the local administrator, logged on automatically */
	const char *password;
	const char *locale;	 /* "en-US" */
	const char *marker;	 /* file that marks the setup medium: "osrun\\osrun.tag" */
	const char *first_logon; /* the script FirstLogonCommands runs: "osrun\\firstlogon.ps1" */
};

int unattend_render(const struct unattend *u, char **ret, size_t *ret_len);
