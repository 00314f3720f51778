/* The store size budget (budget.h). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>

#include "../snapshots/evict.h"
#include "../snapshots/layer.h"
#include "budget.h"
#include "lib/log.h"
#include "pool.h"
#include "session.h"

#define BUDGET_SETTING "max-store-size"

void budget_result_release(struct budget_result *r)
{
	oci_gc_release(&r->cache);
	strv_free(r->evicted);
	*r = (struct budget_result){0};
}

int budget_parse(const char *text, uint64_t *ret)
{
	static const char units[] = "KMGT", lower[] = "kmgt";
	char *end;
	errno = 0;
	if (!*text || *text == '-' || *text == '+' || *text == ' ')
		return -EINVAL;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text)
		return errno == ERANGE ? -ERANGE : -EINVAL;
	const char *u = *end ? strchr(units, *end) : NULL, *l = *end ? strchr(lower, *end) : NULL;
	unsigned shift = u ? 10 * (unsigned)(u - units + 1) : l ? 10 * (unsigned)(l - lower + 1) : 0;
	u = u ? u : l;
	if (u)
		end++;
	if (u && (!strcmp(end, "iB") || !strcmp(end, "B")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

int budget_configured(struct store *s, uint64_t *ret, struct error *e)
{
	const char *env = getenv(BUDGET_ENV);
	_cleanup_free_ char *text = NULL;
	const char *from = BUDGET_ENV;
	int r = 0;
	if (!env || !*env) {
		if ((r = store_setting_read(s, BUDGET_SETTING, &text)) == -ENOENT) {
			*ret = 0;
			return 0;
		}
		if (r < 0)
			return error_errno(e, r, "%s/%s", s->root, BUDGET_SETTING);
		env = text;
		from = BUDGET_SETTING;
	}
	if (budget_parse(env, ret) < 0)
		return error_set(e, -EINVAL, "%s '%s': expected a size such as 50G, 512M or 1T", from, env);
	return 0;
}

/* The snapshots a pool or a live session runs from: in use even between
 * two of a pool's clones, when no run holds the snapshot's lock. */
static bool served(struct store *s, json_object *sessions, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(sessions); i++) {
		json_object *v;
		if (json_object_object_get_ex(json_object_array_get_idx(sessions, i), "snapshot", &v) &&
		    !strcmp(json_object_get_string(v), name))
			return true;
	}
	return pool_running(s->root, name);
}

/* Every snapshot as evict_select weighs it; c[i].name owned by names. */
static int candidates(struct store *s, char **names, const char *keep, struct evict_candidate *c, char **parents,
		      struct error *e)
{
	json_object *sessions = NULL;
	int r = session_list(s->root, &sessions, e);
	if (r < 0)
		return r;
	for (size_t i = 0; names[i]; i++) {
		_cleanup_(snapshot_freep) struct snapshot *sn = NULL;
		_cleanup_free_ char *ref = NULL, *digest = NULL;
		uint64_t own = 0, shared = 0;
		c[i] = (struct evict_candidate){.name = names[i]};
		if (snapshot_open(s, names[i], &sn) < 0)
			continue; /* gone, or unreadable: not ours to remove */
		parents[i] = sn->meta.parent ? strdup(sn->meta.parent) : NULL;
		(void)store_entry_bytes(sn->dir, &own, &shared);
		c[i] = (struct evict_candidate){
			.name = names[i],
			.parent = parents[i],
			.bytes = own,
			.last_used = snapshot_last_used(sn),
			.pinned = snapshot_pinned(sn),
			.pulled = snapshot_origin_read(sn, &ref, &digest) == 0,
			.in_use =
				(keep && !strcmp(keep, names[i])) || snapshot_busy(sn) || served(s, sessions, names[i]),
		};
	}
	json_object_put(sessions);
	return 0;
}

/* Removes what evict_select chose for need bytes, in its order. A
 * snapshot somebody began to use meanwhile is kept (its removal is
 * refused); Ctrl-C stops between two removals. */
static int evict(struct store *s, uint64_t need, const char *keep, struct budget_result *res, struct error *e)
{
	_cleanup_strv_free_ char **names = NULL;
	int r = snapshot_list(s, &names);
	if (r < 0)
		return error_errno(e, r, "listing %s/snapshots", s->root);
	size_t n = strv_length(names), *pick = NULL, m = 0;
	_cleanup_free_ struct evict_candidate *c = calloc(n + 1, sizeof *c);
	_cleanup_free_ char **parents = calloc(n + 1, sizeof *parents);
	uint64_t freed;
	if (!c || !parents)
		return error_errno(e, -ENOMEM, "budget");
	r = candidates(s, names, keep, c, parents, e);
	if (r == 0 && (r = evict_select(c, n, need, &pick, &m, &freed)) < 0)
		r = error_errno(e, r, "budget");
	for (size_t i = 0; r == 0 && i < m; i++) {
		const char *name = c[pick[i]].name;
		if (fd_wait(-1, 0, deadline_after(0)) == -ECANCELED) {
			r = error_interrupted(e);
			break;
		}
		int k = snapshot_remove(s, name, NULL);
		if (k == 0 && !(res->evicted = strv_append(res->evicted, name)))
			r = error_errno(e, -ENOMEM, "budget");
		else if (k == -EBUSY || k == -ENOTEMPTY)
			log_info("kept snapshot '%s': in use, or built on, since the budget chose it", name);
		else if (k < 0 && k != -ENOENT)
			r = error_errno(e, k, "removing snapshot '%s'", name);
	}
	for (size_t i = 0; i < n; i++)
		free(parents[i]);
	free(pick);
	return r;
}

int budget_apply(struct store *s, struct oci_layout *l, uint64_t max, const char *keep, struct budget_result *ret,
		 struct error *e)
{
	struct budget_result res = {.max = max, .evicted = calloc(1, sizeof(char *))};
	int r = res.evicted ? store_usage(s, &res.before) : -ENOMEM;
	if (r < 0)
		return error_errno(e, r, "measuring %s", s->root);
	res.after = res.before;
	/* The cache first: every blob in it is a copy of what the snapshots
	 * hold, or of what the registry has. */
	if (res.after > max && (r = oci_layout_gc(l, NULL, &res.cache)) < 0)
		r = error_errno(e, r, "the blob cache in %s", s->root);
	if (r == 0 && res.after > max && (r = store_usage(s, &res.after)) < 0)
		r = error_errno(e, r, "measuring %s", s->root);
	if (r == 0 && res.after > max && (r = evict(s, res.after - max, keep, &res, e)) == 0 &&
	    (r = store_usage(s, &res.after)) < 0)
		r = error_errno(e, r, "measuring %s", s->root);
	if (r < 0) {
		budget_result_release(&res);
		return r;
	}
	res.over = res.after > max;
	*ret = res;
	return 0;
}

void budget_after_pull(struct store *s, struct oci_layout *l, const char *name, char ***ret_evicted)
{
	struct error e = {0};
	struct budget_result res = {0};
	uint64_t max;
	int r = budget_configured(s, &max, &e);
	if (r == 0 && max == 0)
		return;
	if (r == 0)
		r = budget_apply(s, l, max, name, &res, &e);
	if (r < 0) {
		log_warn("the store's size budget was not applied: %s", e.msg);
		return;
	}
	for (char **v = res.evicted; *v; v++)
		log_info("removed snapshot '%s' (least recently used; the store is over its %" PRIu64 " bytes)", *v,
			 max);
	if (res.over)
		log_warn("the store uses %" PRIu64 " bytes, over its budget of %" PRIu64
			 ": what is left is pinned, in use, made here, or built on",
			 res.after, max);
	*ret_evicted = TAKE_PTR(res.evicted);
	budget_result_release(&res);
}
