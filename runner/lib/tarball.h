/* Tar archives for copies between host and guest (libarchive): the host
 * packs what goes in, and unpacks what the guest packed, which is untrusted.
 * GNU tar format: both guests' tar read it (busybox, Windows' bsdtar). */
#pragma once
#include "util.h"

/* Writes an archive of path (a directory, file or symlink; symlinks are
 * stored, never followed) to out_fd. A directory's members are "./" and
 * "./REL"; anything else is one member named name. Owners are 0 and
 * nameless. *ret_bad names the path that failed, when one did. */
int tarball_pack(const char *path, const char *name, int out_fd, char **ret_bad);

/* Extracts the archive in_fd into dir, which should be new and empty.
 * Only what a copy needs gets in: regular files, directories and symlinks,
 * all named top or top/..., none absolute, none with "..", none written
 * through a symlink; no hard links, no devices. Modes are the archive's
 * (permission bits only: no setuid, setgid or sticky), owners the caller.
 * Runs in a child process, which alone changes directory. -EBADMSG with
 * *ret_why when the archive breaks these rules or is damaged. */
int tarball_unpack(int in_fd, const char *dir, const char *top, char **ret_why);
