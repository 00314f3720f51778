/* The run engine's types and their release: see plan.h. */
#include "plan.h"

void run_plan_release(struct run_plan *p)
{
	free(p->command);
	free(p->snapshot_pulled);
	strv_free(p->env);
	for (size_t i = 0; i < p->n_volumes; i++)
		run_volume_release(&p->volumes[i]);
	for (size_t i = 0; i < p->n_copy_in; i++)
		run_copy_release(&p->copy_in[i]);
	for (size_t i = 0; i < p->n_copy_out; i++)
		run_copy_release(&p->copy_out[i]);
}

void run_result_release(struct run_result *r) { free(r->helper_stderr); }

bool run_plan_poolable(const struct run_plan *p)
{
	return !p->new_snapshot && !p->pause && !p->monitor && !p->vnc && p->network == NETWORK_NONE && !p->n_volumes &&
	       !p->n_copy_in && !p->n_copy_out && !p->as_user;
}

void warm_release(struct warm *w)
{
	w->sh = share_free(w->sh);
	job_release(&w->j);
	for (size_t i = 0; i < ELEMENTSOF(w->caches); i++)
		w->caches[i] = cache_volume_free(w->caches[i]);
	w->nsn = snapshot_new_free(w->nsn);
	w->sn = snapshot_free(w->sn);
}
