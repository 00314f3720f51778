/* Copies between host and guest around a run's command: --copy-in before
 * it, --copy-out after it (also when it failed: a failed build's artifacts
 * are the ones people need). Each copy is one tar in the run's share: the
 * host packs and the guest helper (profile.copy_path) unpacks, or the other
 * way round; what the guest packed is unpacked under tarball.h's rules. */
#pragma once
#include "plan.h"

int run_copy_in(const struct run_plan *p, struct warm *w, char **env, struct error *e);
int run_copy_out(const struct run_plan *p, struct warm *w, char **env, struct error *e);
/* run_copy_out after a command that exited with status: a failed copy
 * fails a run whose command succeeded; after a failed command its exit
 * status is what the caller needs, so the copy's failure is only told. */
int run_copy_out_after(const struct run_plan *p, struct warm *w, char **env, int status, struct error *e);
