/* ISO 9660 images: what is in one (xorriso reads it, the image is never
 * mounted or changed) and making a small one. Never prints; a failed
 * xorriso's first line of output comes back in *ret_msg. */
#pragma once
#include "../runner/lib/util.h"

/* 0 when path is an ISO 9660 image; -EMEDIUMTYPE when it is something
 * else; -errno when it cannot be read. */
int iso_check(const char *path);
/* The volume id ("CCCOMA_X64FRE_EN-US_DV9"); "" when blank. */
int iso_volume_id(const char *path, char **ret);
/* Copies a file or a directory tree out of the image into dest (must not
 * exist). -ENOENT when the image has no such path. */
int iso_extract(const char *iso, const char *inner, const char *dest, char **ret_msg);
/* Makes an image of dir with Joliet (Windows' long names) and Rock Ridge. */
int iso_make(const char *dir, const char *volid, const char *out, char **ret_msg);
