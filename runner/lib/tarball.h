/* Tar archives for copies between host and guest (libarchive): the host
 * packs what goes in, and unpacks what the guest packed, which is untrusted.
 * GNU tar format: both guests' tar read it (busybox, Windows' bsdtar). */
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "util.h"

/* Writes an archive of path (a directory, file or symlink; symlinks are
 * stored, never followed) to out_fd. A directory's members are "./" and
 * "./REL"; anything else is one member named name. Owners are 0 and
 * nameless. *ret_bad names the path that failed, when one did. */
int tarball_pack(const char *path, const char *name, int out_fd, char **ret_bad);

/* Extracts the archive in_fd into dir, which should be new and empty.
 * Only what a copy needs gets in: regular files, directories and symlinks,
 * all named top or top/..., none absolute, none with "..", none written
 * through a symlink; no hard links, no devices; the files' sizes as the
 * archive gives them (a sparse file's holes included) at most limit bytes
 * in all. Modes are the archive's (permission bits only: no setuid, setgid
 * or sticky), owners the caller. Symlinks are kept as they are, absolute
 * targets too. Runs in a child process, which alone changes directory.
 * -EBADMSG with *ret_why when the archive breaks these rules or is
 * damaged. */
int tarball_unpack(int in_fd, const char *dir, const char *top, uint64_t limit, char **ret_why);

/* tarball_unpack into a new directory beside target, then top moved to
 * target: it appears whole or not at all, keeps the archive's mode (also
 * one without owner write), and never replaces what is at target
 * (-EEXIST), also what appeared after the caller looked. -ENOENT when the
 * archive has no top. Nothing is left beside target. */
int tarball_unpack_as(int in_fd, const char *top, const char *target, uint64_t limit, char **ret_why);

/* tarball_unpack's work in this process, into its working directory: for
 * the fuzz target, whose checks must see the rules run. 0, or -EBADMSG
 * with the reason written to why. */
int tarball_extract(int in_fd, const char *top, uint64_t limit, FILE *why);
