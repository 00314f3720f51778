/* A snapshot's meta.json, which anyone who can write the store (or a
 * tampered copy) controls: parsed, names it holds kept inside the store,
 * and what it parses to written and parsed again to the same fields and
 * the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../snapshots/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* NULL (no "env") and an empty list differ: both are written as they are. */
static bool same_strv(char *const *a, char *const *b)
{
	if (!a || !b)
		return a == b;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b))
			return false;
	return !*a && !*b;
}

static bool same_meta(const struct snapshot_meta *a, const struct snapshot_meta *b)
{
	return same_str(a->parent, b->parent) && same_str(a->image, b->image) &&
	       !strcmp(a->machine.profile, b->machine.profile) && a->machine.memory_mib == b->machine.memory_mib &&
	       a->machine.cpus == b->machine.cpus && a->machine.accel == b->machine.accel &&
	       !strcmp(a->machine.cpu, b->machine.cpu) && same_str(a->qemu_version, b->qemu_version) &&
	       same_str(a->created, b->created) && same_str(a->made_by, b->made_by) && same_str(a->build, b->build) &&
	       same_strv(a->env, b->env) && same_str(a->workdir, b->workdir) && same_str(a->layer.key, b->layer.key) &&
	       same_str(a->layer.step, b->layer.step) && same_str(a->layer.file, b->layer.file) &&
	       a->layer.line == b->layer.line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct snapshot_meta m = {0}, m2 = {0};
	if (snapshot_meta_from_json(text, &m) == 0) {
		/* Whatever it names must be a plain entry name. */
		if ((m.image && (strchr(m.image, '/') || !strcmp(m.image, "..") || !*m.image)) ||
		    (m.parent && (strchr(m.parent, '/') || !strcmp(m.parent, ".."))) || m.machine.memory_mib < 64 ||
		    m.machine.memory_mib > (1u << 20) || !m.machine.cpus || m.machine.cpus > 1024)
			abort();
		char *again = NULL, *again2 = NULL;
		if (snapshot_meta_to_json(&m, &again) < 0 || snapshot_meta_from_json(again, &m2) < 0 ||
		    !same_meta(&m, &m2) || snapshot_meta_to_json(&m2, &again2) < 0 || strcmp(again, again2))
			abort();
		free(again);
		free(again2);
		snapshot_meta_release(&m2);
		snapshot_meta_release(&m);
	}
	free(text);
	return 0;
}
