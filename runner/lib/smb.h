/* The SMB server of one VM, owned by osrun rather than by QEMU's smb=.
 *
 * QEMU's smb= talks to its smbd over loopback TCP with Nagle on QEMU's side:
 * every SMB request longer than one segment waited for a delayed ACK, 40 ms
 * per write (NOTES.md, "Own SMB server"). Here QEMU forwards the guest's
 * 10.0.2.4:445 (guestfwd) to a socket pair osrun holds, and osrun relays it
 * to an smbd in inetd mode over a TCP pair with no Nagle, under a
 * configuration osrun writes. No TCP port listens on the host while the
 * guest runs. */
#pragma once
#include "util.h"

/* Shares besides the run's own that one server holds. */
#define SMB_VOLUMES_MAX 16

struct smb_share {
	const char *name; /* \\10.0.2.4\NAME */
	const char *path;
	bool read_only;
};

struct smb;

/* The smbd osrun starts: $OSRUN_SMBD, /usr/sbin/smbd, else smbd on PATH. */
const char *smb_binary(void);
/* The nss_wrapper library smbd gets for a user with no passwd entry; NULL
 * when none is installed. */
const char *smb_nss_wrapper(void);

/* Writes dir/smb.XXXXXX/smb.conf for the shares, starts smbd on one end of a
 * loopback TCP pair and a relay thread between it and a UNIX socket pair
 * whose other end is QEMU's (smb_qemu_fd). A new smbd takes over when one
 * ends, on a message boundary. -EUSERS: the user has no passwd entry and
 * there is no nss_wrapper to give smbd one; -EPERM: the user is "nobody",
 * smbd's guest account, under which nothing is writable; -EINVAL: a share
 * name or path smb.conf cannot hold (a control character, outer blanks, or
 * '%', which smbd would expand). */
int smb_new(const char *dir, const struct smb_share *shares, size_t n_shares, struct smb **ret);
/* The end QEMU gets: guestfwd=tcp:10.0.2.4:445-unix:fd=N. Close ours with
 * smb_qemu_fd_close() once QEMU has it. */
int smb_qemu_fd(const struct smb *s);
void smb_qemu_fd_close(struct smb *s);
/* Why the relay gave up (smbd ended too often, or failed to start again);
 * 0 while it serves. */
int smb_error(const struct smb *s);
/* How many times an smbd ended and another took over. The guest's open
 * files do not survive that (its writes to them fail), so a change while a
 * command ran means its output may be incomplete. */
unsigned smb_ended(const struct smb *s);
/* Stops the relay and smbd. */
struct smb *smb_free(struct smb *s);
static inline void smb_freep(struct smb **s) { smb_free(*s); }
