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
	char *language;	    /* WINDOWS/LANGUAGES/DEFAULT, "en-US"; may be NULL */
};

struct edition_list {
	struct edition *v;
	size_t n;
};
void edition_list_release(struct edition_list *l);

/* -EMEDIUMTYPE when path is not a WIM/ESD wimlib can read. */
int wim_read_editions(const char *path, struct edition_list *ret);

/* By index ("3") or image name exactly, else by edition id (any case);
 * want NULL: ServerStandard on Server media, else Professional, else the
 * only one. An edition id that several images share (Server's Core and
 * Desktop Experience images) takes the Desktop Experience one and returns
 * 1, for the caller to say so. -ENOENT when nothing matches, -ENOTUNIQ
 * when the choice is not clear. */
int edition_pick(const struct edition_list *l, const char *want, const struct edition **ret);
/* "x64", "x86", "arm64", "arm", "unknown"; NULL when the XML has none. */
const char *edition_arch_name(const struct edition *e);
/* Whether s is a language tag Setup can take ("en-US"). */
bool edition_language_valid(const char *s);
/* Evaluation media: their edition id ends in "Eval"; Setup asks no key. */
bool edition_is_evaluation(const struct edition *e);

/* The virtio-win driver folder for this Windows ("w11", "2k22"); NULL when
 * unknown. */
const char *edition_virtio_dir(const struct edition *e);
/* A key that selects the edition for Setup without activating it; NULL
 * for evaluation media and for editions osrun knows no key for. */
const char *edition_generic_key(const struct edition *e);
