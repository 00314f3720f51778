/* Following a running command (follow.c): its output from the share to
 * the host's streams, stdin the other way, the agent asked when it has
 * ended, the timeout, signals and QEMU's death; and reading its result. */
#pragma once
#include "plan.h"

/* Follows the command pid started in w until it
 * ends (*ret filled), its deadline, a signal or QEMU's death, streaming
 * in_fd (if >= 0) to its stdin. */
int run_follow(const struct run_plan *p, struct warm *w, int64_t pid, int in_fd, usec_t deadline,
	       struct run_result *ret, struct error *e);
/* The command's end once the agent says its helper ended (st): what the
 * helper wrote in the share (lib/request.h) as osrun's exit status, or
 * why there is none (the helper's own failure, a missing or malformed
 * result: -EPROTO, -EBADMSG). The agent's status is only quoted. */
int run_result_read(bool windows, struct share *sh, const struct qga_exec_status *st, struct run_result *ret,
		    struct error *e);
/* A failure passing the command's streams (-ETIME, -ECANCELED, -EFBIG...)
 * as the user should read it. */
int run_stream_error(const struct run_plan *p, int r, struct error *e);
