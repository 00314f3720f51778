/* The store budget's choice (snapshots/evict.h): least recently used
 * pulled snapshots first; never a pinned one, one in use, one made here,
 * or a parent of one that stays. */
#define _GNU_SOURCE
#include "../../runner/budget.h"
#include "../../snapshots/evict.h"
#include "tap.h"

/* The names chosen, space-separated, in order. */
static char *chosen(const struct evict_candidate *c, size_t n, uint64_t need, uint64_t *ret_freed)
{
	size_t *idx = NULL, m = 0;
	uint64_t freed = 0;
	if (evict_select(c, n, need, &idx, &m, &freed) < 0)
		abort();
	static char buf[256];
	buf[0] = 0;
	for (size_t i = 0; i < m; i++)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "", c[idx[i]].name);
	free(idx);
	if (ret_freed)
		*ret_freed = freed;
	return buf;
}

int main(void)
{
	/* base <- kid <- grandkid, all pulled; old and new pulled on their own;
	 * pin pinned; busy in use by a session; local made here. */
	struct evict_candidate c[] = {
		{.name = "base", .bytes = 100, .last_used = 10, .pulled = true},
		{.name = "kid", .parent = "base", .bytes = 10, .last_used = 50, .pulled = true},
		{.name = "grandkid", .parent = "kid", .bytes = 10, .last_used = 20, .pulled = true},
		{.name = "old", .bytes = 30, .last_used = 5, .pulled = true},
		{.name = "new", .bytes = 30, .last_used = 90, .pulled = true},
		{.name = "pin", .bytes = 500, .last_used = 1, .pulled = true, .pinned = true},
		{.name = "busy", .bytes = 500, .last_used = 2, .pulled = true, .in_use = true},
		{.name = "local", .bytes = 500, .last_used = 3},
	};
	size_t n = ELEMENTSOF(c);
	uint64_t freed;
	is_str(chosen(c, n, 0, &freed), "", "nothing needed: nothing chosen");
	is_str(chosen(c, n, 1, &freed), "old", "one byte: the least recently used that may go");
	is_int(freed, 30, "and its bytes");
	is_str(chosen(c, n, 31, NULL), "old grandkid", "then the next oldest leaf, not its older parent");
	is_str(chosen(c, n, 1000, &freed), "old grandkid kid base new", "all that may go, children before parents");
	is_int(freed, 180, "and their bytes add up");
	c[1].pinned = true;
	is_str(chosen(c, n, 1000, NULL), "old grandkid new", "a pinned child keeps its parent");
	c[1].pinned = false;
	c[2].in_use = true;
	is_str(chosen(c, n, 1000, NULL), "old new", "a child in use keeps its parents");
	c[2].in_use = false;
	c[2].pulled = false;
	is_str(chosen(c, n, 1000, NULL), "old new", "a child made here keeps its pulled parents");
	struct evict_candidate loop[] = {
		{.name = "a", .parent = "b", .bytes = 1, .pulled = true},
		{.name = "b", .parent = "a", .bytes = 1, .pulled = true},
	};
	is_str(chosen(loop, 2, 10, NULL), "", "parents named in a circle: neither goes");
	is_str(chosen(c, 0, 10, NULL), "", "an empty store: nothing");
	uint64_t v = 0;
	is_int(budget_parse("50G", &v), 0, "50G read");
	is_int(v, UINT64_C(50) << 30, "as 50 GiB");
	is_int(budget_parse("512MiB", &v) == 0 && v == UINT64_C(512) << 20, 1, "512MiB read as 512 MiB");
	is_int(budget_parse("1t", &v) == 0 && v == UINT64_C(1) << 40, 1, "1t read as 1 TiB");
	is_int(budget_parse("4096", &v) == 0 && v == 4096, 1, "a plain number is bytes");
	is_int(budget_parse("-1G", &v), -EINVAL, "a negative size refused");
	is_int(budget_parse("10X", &v), -EINVAL, "an unknown unit refused");
	is_int(budget_parse("G", &v), -EINVAL, "a unit alone refused");
	is_int(budget_parse("99999999999T", &v), -ERANGE, "a size past 2^64 refused");
	return tap_done();
}
