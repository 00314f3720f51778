/* The editions a Windows install image offers, read from the WIM/ESD's XML
 * with wimlib, and the choice of one by name or index. Never prints. */
#pragma once
#include "../runner/lib/util.h"

struct edition {
	unsigned index;	    /* /IMAGE/INDEX, 1-based */
	char *name;	    /* "Windows 11 Pro" */
	char *edition_id;   /* "Professional", "ServerStandard"; may be NULL */
	char *install_type; /* "Client", "Server", "Server Core"; may be NULL */
	unsigned build;	    /* 22631; 0 when unknown */
	char *arch;	    /* "9" (amd64) as the XML has it; may be NULL */
};

struct edition_list {
	struct edition *v;
	size_t n;
};
void edition_list_release(struct edition_list *l);

/* -EMEDIUMTYPE when path is not a WIM/ESD wimlib can read. */
int wim_read_editions(const char *path, struct edition_list *ret);

/* By index ("3"), by name or by edition id (case-insensitive); want NULL:
 * Pro where present, else the only one. -ENOENT when nothing matches,
 * -ENOTUNIQ when the default cannot choose. */
int edition_pick(const struct edition_list *l, const char *want, const struct edition **ret);

/* The virtio-win driver folder for this Windows ("w11", "2k22"); NULL when
 * unknown. */
const char *edition_virtio_dir(const struct edition *e);
/* The generic install key of a client edition (it does not activate);
 * NULL when none is known (servers: volume media need none). */
const char *edition_generic_key(const struct edition *e);
