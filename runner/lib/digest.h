/* SHA-256 (OpenSSL's libcrypto) for the build cache's keys: a key names a
 * layer, so two different inputs must never share one. */
#pragma once
#include "util.h"

#define DIGEST_HEX_LEN 64

struct digest;

int digest_new(struct digest **ret);
struct digest *digest_free(struct digest *d);
static inline void digest_freep(struct digest **d) { digest_free(*d); }
void digest_add(struct digest *d, const void *p, size_t n);
/* The string and its NUL, so that ("ab", "c") and ("a", "bc") differ. */
void digest_add_str(struct digest *d, const char *s);
/* What a copy of path would bring (tarball.h's view of it): names relative
 * to path, types, permission bits, symlink targets and file contents, in
 * byte order of names; not times or owners. *ret_bad names what could not
 * be read. */
int digest_add_tree(struct digest *d, const char *path, char **ret_bad);
/* Ends d: out gets DIGEST_HEX_LEN hex digits and a NUL. */
int digest_end(struct digest *d, char out[static DIGEST_HEX_LEN + 1]);
