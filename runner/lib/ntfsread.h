/* Files read off an NTFS volume with libntfs-3g, in this process: no
 * kernel module, no mount, no root. The volume is mounted read-only on a
 * disk_reader (its device never writes) and is untrusted: a damaged one
 * makes these calls fail, and libntfs-3g's messages are kept quiet. */
#pragma once
#include "parttable.h"

struct ntfsread;

/* Mounts the volume at offset (size bytes) of d; d must outlive it. Paths
 * are then looked up as Windows does, whatever their case. -EIO (or the
 * errno libntfs-3g gives): not a volume it can read. */
int ntfsread_open(const struct disk_reader *d, uint64_t offset, uint64_t size, struct ntfsread **ret);
struct ntfsread *ntfsread_free(struct ntfsread *v);
static inline void ntfsread_freep(struct ntfsread **v) { ntfsread_free(*v); }

/* Writes the last max bytes of the file at path ('/'-separated, from the
 * root; all of it when smaller) to fd. -ENOENT: no such file; -EISDIR: a
 * directory; -EIO: the volume is damaged there; else write(2)'s errno. */
int ntfsread_copy(struct ntfsread *v, const char *path, uint64_t max, int fd);
