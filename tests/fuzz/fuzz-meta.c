/* A snapshot's meta.json, which anyone who can write the store (or a
 * tampered copy) controls: parsed, and names it holds kept inside the store. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../snapshots/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct snapshot_meta m = {0};
	if (snapshot_meta_from_json(text, &m) == 0) {
		/* Whatever it names must be a plain entry name. */
		if ((m.image && (strchr(m.image, '/') || !strcmp(m.image, "..") || !*m.image)) ||
		    (m.parent && (strchr(m.parent, '/') || !strcmp(m.parent, ".."))) || m.machine.memory_mib < 64 ||
		    m.machine.memory_mib > (1u << 20) || !m.machine.cpus || m.machine.cpus > 1024)
			abort();
		char *again = NULL;
		if (snapshot_meta_to_json(&m, &again) == 0)
			free(again);
		snapshot_meta_release(&m);
	}
	free(text);
	return 0;
}
