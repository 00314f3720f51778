/* osrun host-info: what a scheduler needs to know about this host, as one
 * JSON object (docs/usage.md#host-info documents every field; "version"
 * says which form it is): the accelerator and why, the CPU model
 * snapshots record, QEMU, the store's filesystem, the snapshots with
 * whether this host can run each (the run path's own check), the pools
 * and sessions running, and node labels made of these (labels.h). It only
 * looks: nothing in the store changes. */
#pragma once
#include <json-c/json.h>

#include "lib/error.h"

#define HOSTINFO_VERSION 1

/* cache: the store (NULL: the default); version: osrun's, as reported. */
int hostinfo_collect(const char *cache, const char *version, json_object **ret, struct error *e);
