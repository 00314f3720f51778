/* What a pool's member and a session's keeper share (serve.h). */
#define _GNU_SOURCE
#include "serve.h"

#include <poll.h>

#include "lib/log.h"
#include "pool.h"

int serve_wait(struct warm *w, int fd, usec_t deadline, struct error *e)
{
	for (;;) {
		struct pollfd pf[3] = {{.fd = fd, .events = POLLIN},
				       {.fd = cancel_fd_get(), .events = POLLIN},
				       {.fd = qmp_fd(vm_qmp(w->j.vm)), .events = POLLIN}};
		if (poll(pf, 3, deadline_to_poll_ms(deadline)) < 0 && errno != EINTR)
			return error_errno(e, -errno, "poll");
		if (pf[1].revents & POLLIN)
			return SERVE_CANCELLED;
		int r;
		if (pf[2].revents && (r = qmp_poll(vm_qmp(w->j.vm))) < 0)
			return job_fail(&w->j, r, NULL, "warm clone", e);
		if (deadline != USEC_INFINITY && now_usec() >= deadline)
			return -ETIME;
		if (pf[0].revents)
			return SERVE_READY;
	}
}

int serve_command(int conn, struct warm *w, const struct run_plan *p, bool reset, const struct serve_report *rep,
		  bool *ret_failed)
{
	log_set_level(p->verbose ? LOG_DEBUG : LOG_INFO);
	struct error e = {0};
	_cleanup_(run_result_release) struct run_result res = {0};
	struct pool_bridge b;
	pool_bridge_start(&b, conn);
	w->command_stopped = false;
	int r = reset ? share_reset(w->sh) : 0;
	if (r < 0)
		r = error_errno(&e, r, "emptying the share for the next command");
	else
		r = run_command(p, w, &res, &e);
	pool_bridge_stop(&b);
	*ret_failed = r < 0 && !w->command_stopped;
	return r < 0 ? rep->error(&e) : rep->result(&res);
}
