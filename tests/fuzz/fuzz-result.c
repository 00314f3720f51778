/* The result line a guest's command helper writes into the share: any
 * bytes, parsed; a code other than 0 must never come out as exit status 0,
 * on either guest. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/lib/exitstatus.h"
#include "../../runner/lib/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct helper_result r;
	if (helper_result_parse((const char *)data, size, &r) < 0)
		return 0;
	if (r.kind == HELPER_ERROR) {
		for (const char *p = r.text; *p; p++)
			if ((unsigned char)*p < 0x20)
				abort();
		return 0;
	}
	char why[160];
	for (int windows = 0; windows < 2; windows++) {
		int status = exit_status_map(windows, r.code, why, sizeof why);
		if ((status == 0) != (r.code == 0) || status < 0 || status > 255)
			abort();
	}
	return 0;
}
