/* A pool request, which any local process that can reach the pool's socket
 * sends: decoded, and a decoded plan encodes to a request that decodes to
 * the same plan, field by field, and encodes to the same text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* NULL and an empty list are the same list. */
static bool same_strv(char *const *a, char *const *b)
{
	for (; a && *a && b && *b; a++, b++)
		if (strcmp(*a, *b))
			return false;
	return !(a && *a) && !(b && *b);
}

static bool same_copies(const struct run_copy *a, size_t na, const struct run_copy *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!same_str(a[i].host, b[i].host) || !same_str(a[i].guest, b[i].guest))
			return false;
	return true;
}

static bool same_plan(const struct run_plan *a, const struct run_plan *b)
{
	return same_str(a->snapshot, b->snapshot) && same_str(a->command, b->command) && same_strv(a->env, b->env) &&
	       same_str(a->workdir, b->workdir) && a->timeout == b->timeout && a->memory_mib == b->memory_mib &&
	       a->share_limit_mib == b->share_limit_mib && a->no_stdin == b->no_stdin && a->verbose == b->verbose &&
	       a->op == b->op && same_str(a->new_snapshot, b->new_snapshot) &&
	       same_copies(a->copy_in, a->n_copy_in, b->copy_in, b->n_copy_in) &&
	       same_copies(a->copy_out, a->n_copy_out, b->copy_out, b->n_copy_out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool_request req = {0}, again = {0};
	if (pool_request_decode((const char *)data, size, &req) < 0)
		return 0;
	char *text = NULL, *text2 = NULL;
	size_t n, n2;
	if (pool_request_encode(&req.plan, &text, &n) < 0)
		abort();
	if (pool_request_decode(text, n, &again) < 0 || !same_plan(&req.plan, &again.plan))
		abort();
	if (pool_request_encode(&again.plan, &text2, &n2) < 0 || n2 != n || memcmp(text, text2, n))
		abort();
	free(text);
	free(text2);
	pool_request_release(&again);
	pool_request_release(&req);
	return 0;
}
