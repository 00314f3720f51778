/* Node labels from `osrun host-info`'s facts, in Kubernetes' label syntax
 * so that a scheduler takes them as they are (node labels, runner tags,
 * Nomad node metadata): keys "osrun.io/NAME", where NAME and every value
 * are at most 63 characters of [A-Za-z0-9._-] that begin and end with a
 * letter or a digit ("Labels and Selectors", kubernetes.io). */
#pragma once
#include <json-c/json.h>

#include "lib/util.h"

#define LABEL_MAX 63
#define LABEL_PREFIX "osrun.io/"

/* s as a label name or value of at most max characters: each run of other
 * characters becomes one '_', and what does not begin or end with a
 * letter or digit loses those ends. When that changed s, or s is longer
 * than max, the result is cut to max - 9 and "-" and the first 8 hex digits
 * of s's SHA-256 are appended, so two different inputs get two different
 * labels. "" stays "". */
int label_sanitize(const char *s, size_t max, char **ret);

/* From host-info's object (hostinfo.h): osrun.io/kvm ("true", "false"),
 * osrun.io/accelerator, osrun.io/cpu-model, osrun.io/qemu-version and,
 * for each snapshot this host can run (build layers aside),
 * osrun.io/snapshot.NAME = "true". A fact that is unknown has no label. */
int labels_from_hostinfo(json_object *info, json_object **ret);
