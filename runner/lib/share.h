/* The per-run SMB share as the host sees it: the guest command's stdin,
 * stdout and stderr are files in it. The guest writes through QEMU's smbd
 * without caching, so each write lands in the host file at once; inotify says
 * when, and share_pump copies the new bytes to the host's own streams. */
#pragma once
#include "util.h"

struct share;

/* What a guest may keep in its run's share (output not read yet, copy-out
 * tars, its own files) unless the run says otherwise (--share-limit). */
#define SHARE_LIMIT_DEFAULT (UINT64_C(8) << 30)
#define SHARE_DEPTH_MAX 32
#define SHARE_ENTRIES_MAX 100000

/* Creates dir (0700) with empty stdin, stdout and stderr files, and starts
 * watching it. */
int share_new(const char *dir, struct share **ret);
struct share *share_free(struct share *s);
static inline void share_freep(struct share **s) { share_free(*s); }
/* Readable when the guest has written something. */
int share_fd(const struct share *s);

/* Copies all of fd (until EOF) into the share's stdin file: for a regular
 * file, whose end is known (or a pipe, read to its end: -ETIME past the
 * deadline, -ECANCELED on a signal). */
int share_fill_stdin(struct share *s, int fd);
/* Streaming: appends what one read of fd gives to the stdin file while the
 * command runs; at fd's end makes stdin.end, which tells the guest's
 * follower that nothing more comes, and sets *ret_ended. */
int share_stdin_feed(struct share *s, int fd, bool *ret_ended);
int share_stdin_end(struct share *s);

/* Reads pending inotify events and copies new output to out_fd and err_fd.
 * *ret_closed is set when the guest closed its stdout (the command is
 * probably done; the caller asks the agent). A host stream that went away
 * (EPIPE) stops being written; the guest is not disturbed. */
int share_pump(struct share *s, int out_fd, int err_fd, bool *ret_closed);
/* Copies whatever is left in both files, holes included: call once the
 * command has exited and its writes have all landed. */
int share_drain(struct share *s, int out_fd, int err_fd);

/* Writes to the host's streams (a pipe that is not read) wait at most
 * until deadline: share_pump and share_drain fail with -ETIME then. A
 * signal (the cancel fd) makes them fail with -ECANCELED. */
void share_set_deadline(struct share *s, usec_t deadline);
void share_set_limit(struct share *s, uint64_t bytes);
/* Both streams also go to fd (a regular file: a build step's log), in the
 * order they are read, up to SHARE_LOG_MAX_MIB (then a line says the rest
 * is not kept); -1: none. The caller keeps fd open meanwhile. */
#define SHARE_LOG_MAX_MIB 64
void share_set_log(struct share *s, int fd);
/* -EFBIG when the guest keeps more than the limit in the share (or a
 * tree deeper or wider than SHARE_DEPTH_MAX, SHARE_ENTRIES_MAX); share_pump
 * and share_drain also fail with -EFBIG when a stream's unread part is
 * over it. *ret_bytes: what is on disk. */
int share_check_usage(struct share *s, uint64_t *ret_bytes);
/* share_check_usage at most once a second (share_pump calls it too): for
 * a caller that polls often. */
int share_check_usage_due(struct share *s);

/* Empties stdin, stdout and stderr for the next command in the same guest
 * (a session's), forgetting what was read of them. */
int share_reset(struct share *s);
/* Whether the guest made the file name in the share (markers such as
 * stdout.pump and stdout.done). */
bool share_has(const struct share *s, const char *name);
/* Waits until the guest makes name, copying output meanwhile: 0,
 * -ETIMEDOUT, -ECANCELED (a signal). */
int share_wait_for(struct share *s, const char *name, usec_t timeout, int out_fd, int err_fd);
/* Writes a file of osrun's into the share for the guest (0600). */
int share_write_file(struct share *s, const char *name, const char *data);
/* Reads a small file the guest made (a regular file, no link followed):
 * -ENOENT, -EFBIG past max bytes, -EBADMSG for anything but a file.
 * *ret is NUL-terminated. */
int share_read_file(struct share *s, const char *name, size_t max, char **ret, size_t *ret_n);
