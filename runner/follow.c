/* Following a command while it runs: its output from the share to the
 * host's streams, stdin the other way, the agent asked when it has ended,
 * the timeout, signals and QEMU's death. */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <poll.h>
#include <string.h>

#include "lib/exitstatus.h"
#include "lib/log.h"
#include "lib/request.h"
#include "follow.h"

/* A failure passing the command's streams, as the user should read it. */
int run_stream_error(const struct run_plan *p, int r, struct error *e)
{
	if (r == -ETIME)
		return error_set(e, r, "command timed out after %.1f s; the VM is stopped",
				 (double)p->timeout / USEC_PER_SEC);
	if (r == -ECANCELED)
		return error_interrupted(e);
	if (r == -EFBIG)
		return error_set(e, r,
				 "the guest put more in the run's share than it may (--share-limit %u MiB, %u "
				 "directory levels, %u files)",
				 p->share_limit_mib ? p->share_limit_mib : (unsigned)(SHARE_LIMIT_DEFAULT >> 20),
				 SHARE_DEPTH_MAX, SHARE_ENTRIES_MAX);
	return error_errno(e, r, "passing the guest's output on");
}

int run_result_read(bool windows, struct share *sh, const struct qga_exec_status *st, struct run_result *ret,
		    struct error *e)
{
	_cleanup_free_ char *said = job_helper_lines(st), *buf = NULL;
	size_t n;
	int r = share_read_file(sh, "result", RESULT_MAX, &buf, &n);
	if (r == -ENOENT)
		return error_set(e, -EPROTO,
				 "the guest's command helper ended (%s %d) without saying how the command ended%s%s%s",
				 st->signal ? "signal" : "status", st->signal ? st->signal : st->exitcode,
				 windows && !st->signal && st->exitcode == 2 ? ": it could not reach the run's share"
				 : said && *said			     ? ""
						 : " (a snapshot made before osrun's helpers wrote results needs a new "
						   "provision)",
				 said && *said ? "; it said: " : "", said ? said : "");
	struct helper_result res;
	if (r == 0)
		r = helper_result_parse(buf, n, &res);
	if (r < 0)
		return error_errno(e, r, "reading the command's result from the guest");
	if (res.kind == HELPER_ERROR)
		return error_set(e, -EPROTO, "the guest could not run the command: %s", res.text);
	*ret = (struct run_result){.helper_stderr = TAKE_PTR(said)};
	ret->status = exit_status_map(windows, res.code, ret->why, sizeof ret->why);
	return 0;
}

/* The Linux helper (osrun-guest exec) makes stdout.done once the
 * command's last byte is in the share, and only then ends: a pump slowed
 * by a loaded host has been waited for with the helper. An ended helper
 * without it lost output (a write to the share failed): never reported as
 * a success. The grace covers nothing but smbd's own bookkeeping. */
static int follow_pump(const struct run_plan *p, struct warm *w, struct error *e)
{
	int r = share_wait_for(w->sh, "stdout.done", USEC_PER_SEC, run_plan_fd(p, 1), run_plan_fd(p, 2));
	if (r == -ETIMEDOUT)
		return error_set(e, -EIO,
				 "the guest's helper ended without saying it had written all of the command's output: "
				 "it may be incomplete");
	return r < 0 ? run_stream_error(p, r, e) : 0;
}

/* The command's end as the agent tells it: 1 when it has exited (*ret
 * filled), 0 while it runs. */
static int follow_ask(const struct run_plan *p, struct warm *w, int64_t pid, usec_t deadline, struct run_result *ret,
		      struct error *e)
{
	struct remote_error err;
	struct qga_exec_status st;
	/* The ask's 10 s count only while QEMU can run (runclock.h); the
	 * command's own deadline is wall time even when QEMU is stopped. */
	qga_set_wall_limit(vm_qga(w->j.vm), deadline);
	int r = qga_exec_status(vm_qga(w->j.vm), pid, 10 * USEC_PER_SEC, &st, &err);
	qga_set_wall_limit(vm_qga(w->j.vm), USEC_INFINITY);
	if (r == -ETIMEDOUT && now_usec() >= deadline) {
		share_pump(w->sh, run_plan_fd(p, 1), run_plan_fd(p, 2), NULL);
		return run_stream_error(p, -ETIME, e);
	}
	if (r == -ETIMEDOUT)
		return error_set(e, r, "the guest agent stopped answering while the command ran");
	if (r < 0)
		return job_fail(&w->j, r, &err, "guest agent", e);
	if (!st.exited) {
		qga_exec_status_release(&st);
		return 0;
	}
	if (share_has(w->sh, "stdout.pump") && (r = follow_pump(p, w, e)) < 0) {
		qga_exec_status_release(&st);
		return r;
	}
	if ((r = share_drain(w->sh, run_plan_fd(p, 1), run_plan_fd(p, 2))) < 0) {
		qga_exec_status_release(&st);
		return run_stream_error(p, r, e);
	}
	r = run_result_read(!strcmp(w->prof->name, "windows"), w->sh, &st, ret, e);
	qga_exec_status_release(&st);
	if (r < 0)
		return r;
	return 1;
}

/* QEMU stops the VM when a write to its disk fails (werror=enospc, the
 * default: qapi/block-core.json BLOCK_IO_ERROR): the command would then
 * seem to hang until its timeout. A full filesystem under the run's disk
 * layer is the usual cause. */
static int follow_disk_error(const struct warm *w, struct error *e)
{
	json_object *data = NULL, *v;
	if (qmp_wait_event(vm_qmp(w->j.vm), "BLOCK_IO_ERROR", 0, &data) != 0)
		return 0;
	bool nospace = json_object_object_get_ex(data, "nospace", &v) && json_object_get_boolean(v);
	const char *reason = json_object_object_get_ex(data, "reason", &v) ? json_object_get_string(v) : NULL;
	_cleanup_free_ char *disk =
		w->nsn ? snapshot_new_path(w->nsn, "disk.qcow2") : path_join(w->j.rundir->path, "disk.qcow2");
	int r = error_set(e, nospace ? -ENOSPC : -EIO, "writing the guest's disk %s failed: %s; QEMU stopped the VM",
			  disk ? disk : "",
			  nospace  ? "No space left on device"
			  : reason ? reason
				   : "I/O error");
	json_object_put(data);
	return r;
}

/* Follows the command until it ends, the timeout, a signal or QEMU's death,
 * streaming in_fd (if >= 0) into the share's stdin meanwhile. */
int run_follow(const struct run_plan *p, struct warm *w, int64_t pid, int in_fd, usec_t deadline,
	       struct run_result *ret, struct error *e)
{
	/* The agent has no event for a process's end. The share's close of
	 * stdout says when to ask; the slow ask catches commands that close it
	 * early or leave a child holding it. */
	usec_t next_ask = deadline_after(USEC_PER_SEC);
	int quick_asks = 0, r, out = run_plan_fd(p, 1), err = run_plan_fd(p, 2);
	unsigned smbd_ends = vm_smb_ended(w->j.vm);
	for (;;) {
		usec_t wake = next_ask < deadline ? next_ask : deadline;
		struct pollfd pf[4] = {
			{.fd = cancel_fd_get(), .events = POLLIN},
			{.fd = share_fd(w->sh), .events = POLLIN},
			{.fd = qmp_fd(vm_qmp(w->j.vm)), .events = POLLIN},
			{.fd = in_fd, .events = POLLIN},
		};
		if (poll(pf, 4, deadline_to_poll_ms(wake)) < 0 && errno != EINTR)
			return error_errno(e, -errno, "poll");
		bool ended = false;
		if ((pf[3].revents & (POLLIN | POLLHUP | POLLERR)) && (r = share_stdin_feed(w->sh, in_fd, &ended)) < 0)
			return error_errno(e, r, "passing stdin to the guest");
		if (ended)
			in_fd = -1;
		if (pf[0].revents & POLLIN) {
			share_pump(w->sh, out, err, NULL);
			return error_interrupted(e);
		}
		bool closed = false;
		if ((pf[1].revents & POLLIN) && (r = share_pump(w->sh, out, err, &closed)) < 0)
			return run_stream_error(p, r, e);
		if (closed) {
			next_ask = now_usec();
			quick_asks = 50;
		}
		if (pf[2].revents && (r = qmp_poll(vm_qmp(w->j.vm))) < 0) {
			share_pump(w->sh, out, err, NULL);
			return job_fail(&w->j, r, NULL, "while the command ran", e);
		}
		if (pf[2].revents && (r = follow_disk_error(w, e)) < 0) {
			share_pump(w->sh, out, err, NULL);
			return r;
		}
		usec_t now = now_usec();
		if (now >= deadline) {
			share_pump(w->sh, out, err, NULL);
			return run_stream_error(p, -ETIME, e);
		}
		if (now < next_ask)
			continue;
		if ((r = share_check_usage_due(w->sh)) < 0)
			return run_stream_error(p, r, e);
		if ((r = follow_ask(p, w, pid, deadline, ret, e)) < 0)
			return r;
		/* Still running: the helper may be stuck writing to a share
		 * whose server is gone (the guest's CIFS client retries without
		 * end), and could never say how the command ended. */
		if (r == 0 && vm_smb_ended(w->j.vm) != smbd_ends) {
			share_pump(w->sh, out, err, NULL);
			return error_set(e, -EIO,
					 "osrun's SMB server ended while the command ran: its output may be incomplete "
					 "and its end cannot be known; the VM is stopped");
		}
		/* The guest's writes to a server that ended failed: an exit
		 * status of 0 would hide lost output. */
		if (r > 0 && vm_smb_ended(w->j.vm) != smbd_ends) {
			r = error_set(e, -EIO,
				      "osrun's SMB server ended while the command ran (the command exited %d): its "
				      "output may be incomplete",
				      ret->status);
			run_result_release(ret);
			return r;
		}
		if (r > 0)
			return 0;
		next_ask = now_usec() + (quick_asks > 0 ? 10 * USEC_PER_MSEC : USEC_PER_SEC);
		if (quick_asks > 0)
			quick_asks--;
	}
}
