/* A build layer's "memory.delta" (ramdelta.c): the pages of guest RAM that
 * differ from its parent's, packed, after a bitmap that says which pages
 * they are. memory.c reads and writes it; nothing else needs its format. */
#pragma once
#include "../runner/lib/util.h"

#define RAM_PAGE 4096
/* A read or an add covers at most this many pages, starting on a multiple
 * of 8 pages (a byte of the bitmap). */
#define RAM_DELTA_SPAN 256

/* A delta open for reading, in increasing offsets. fd is the caller's. */
struct ram_delta {
	int fd;
	uint64_t size;	/* the RAM it applies to, in bytes */
	uint64_t pages; /* pages held */
	off_t data;	/* where the first held page starts */
	uint64_t rank;	/* pages held before next */
	uint64_t next;	/* the offset a read in order starts at */
};

/* Checks fd's header, bitmap and length against each other: -EBADMSG if
 * they disagree (a damaged file, or a delta of the old sparse kind, which
 * cannot say which pages it holds). */
int ram_delta_open(int fd, struct ram_delta *ret);
/* Copies the pages d holds in [off, off + len) over buf (the RAM below it
 * there), leaving the others as they are. *ret_any: it held one. */
int ram_delta_read(struct ram_delta *d, uint64_t off, size_t len, char *buf, bool *ret_any);

/* A delta being written to fd (new, empty), in increasing offsets. */
struct ram_delta_writer {
	int fd;
	uint64_t size;
	off_t data;
	uint64_t pages; /* pages added so far */
	uint64_t next;
};

int ram_delta_begin(int fd, uint64_t size, struct ram_delta_writer *ret);
/* Adds the pages of buf (RAM at off) that keep says to. */
int ram_delta_add(struct ram_delta_writer *w, uint64_t off, size_t len, const char *buf, const bool *keep);
/* Writes the header last: a delta cut short has none and is refused. */
int ram_delta_end(struct ram_delta_writer *w);
