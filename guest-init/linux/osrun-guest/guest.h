/* osrun-guest: the Linux guest's side of osrun, one static program with a
 * verb per job (exec, mount, kill, copy, detach). The guest agent starts
 * it with the run's variables (OSRUN_RUN_ID, OSRUN_SHARE, OSRUN_VOLUMES,
 * OSRUN_CMD, OSRUN_WORKDIR, OSRUN_STDIN). Each verb returns the process's
 * exit status and says what went wrong on stderr, which the agent
 * captures and osrun quotes. Under TCG every fork and exec costs tens of
 * milliseconds, so the helper itself never forks: only the command (and
 * tar, for copies) is started, with posix_spawn. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../../../runner/lib/request.h"
#include "../../../runner/lib/util.h"

#define GUEST_RUN_ROOT "/run/osrun"
/* One read(2) or write(2) on the cache=none share is one SMB round trip
 * (~1 ms under TCG): data moves in requests of up to this much. */
#define GUEST_IO_CHUNK (1024 * 1024)

/* The run's share is mounted at GUEST_RUN_ROOT/ID. */
struct guest_run {
	const char *id;
	char dir[128];
};

/* Fills r from OSRUN_RUN_ID; -EINVAL (and a message) when it is missing
 * or could name another path. */
int guest_run_init(struct guest_run *r);
/* r->dir/name into buf; -ENAMETOOLONG when it does not fit. */
int guest_run_path(const struct guest_run *r, const char *name, char *buf, size_t size);
/* GUEST_RUN_ROOT/ID.suffix (files beside the share's mount point). */
int guest_run_side(const struct guest_run *r, const char *suffix, char *buf, size_t size);

/* Writes text as the whole of path (created 0600, truncated). */
int file_write(const char *path, const char *text);
/* Writes text to a temporary file beside path and renames it into place,
 * so that a reader never sees it half written. */
int file_replace(const char *path, const char *text);
/* write(2) of all of buf, retried on EINTR and short writes. */
int fd_write_all(int fd, const void *buf, size_t n);
/* mkdir -p. */
int mkdir_parents(const char *path, mode_t mode);
/* rm -rf, without following links. */
int tree_remove(const char *path);
/* Prints "osrun-guest: " and the message to stderr; returns status. */
int guest_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Mounts the run's share at r->dir, then OSRUN_VOLUMES. */
int share_mount(const struct guest_run *r);
/* Starts path in a session of its own with fds 0, 1, 2 = in, out, err;
 * *ret_pid on success. */
int child_spawn(const char *path, char *const *argv, char *const *envp, int in, int out, int err, pid_t *ret_pid);

int verb_exec(int argc, char **argv);
int verb_mount(int argc, char **argv);
int verb_kill(int argc, char **argv);
int verb_copy(int argc, char **argv);
int verb_detach(int argc, char **argv);
int verb_drain(int argc, char **argv);
