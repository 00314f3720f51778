/* A pool request, which any local process that can reach the pool's socket
 * sends: decoded, and a decoded plan encodes again. */
#include <stdint.h>
#include <stdlib.h>

#include "../../runner/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool_request req = {0};
	if (pool_request_decode((const char *)data, size, &req) == 0) {
		char *again = NULL;
		size_t n;
		if (pool_request_encode(&req.plan, &again, &n) == 0)
			free(again);
		pool_request_release(&req);
	}
	return 0;
}
