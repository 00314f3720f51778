/* The ISOs an image build needs, from the store or fetched into it
 * (isofetch.h), with the fetch's progress: on a terminal every second, in
 * place; else a line a minute. Shared by `osrun image fetch`, `osrun image
 * build` and a first run on a store for Windows. */
#pragma once
#include "isofetch.h"
#include "job.h"

/* version (isofetch_version_find's name) into the store; mirror NULL:
 * $OSRUN_ISO_MIRROR, else Microsoft's and Fedora's hosts; sha256 NULL:
 * the published one, if any. */
int image_fetch(struct job *j, const char *version, const char *language, const char *mirror, const char *sha256,
		struct isofetch_result *ret, struct error *e);
/* The ISOs not given (*io_iso, *io_virtio NULL): version (NULL: the
 * default) and virtio-win. *io_* then point into iso and virtio, which the
 * caller releases. */
int image_fetch_missing(struct job *j, const char *version, const char *language, const char **io_iso,
			const char **io_virtio, struct isofetch_result *iso, struct isofetch_result *virtio,
			struct error *e);
