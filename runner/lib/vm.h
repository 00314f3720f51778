/* One QEMU process: started from a plan, driven over QMP, with the guest
 * agent on a socket pair. Restores and saves machine state as a snapshot
 * needs it: guest RAM lives in a file of its own (memory-backend-file) and
 * the migration stream carries only device state (x-ignore-shared). */
#pragma once
#include "profile.h"
#include "qga.h"
#include "qmp.h"

struct vm;

/* Spawns QEMU (own process group, killed if osrun dies) with TMPDIR set to
 * tmpdir; stderr goes to tmpdir/qemu.log. With plan->share, the guest's
 * 10.0.2.4:445 is an smbd osrun starts (smb.h), its files in tmpdir/smb.
 * Connects QMP; the agent's timeouts count the time QEMU could run
 * (qga_bind_process). When QEMU exits before QMP answers, *reterr_exit (if not
 * NULL) says how, with QEMU's last line. plan->serial_log is kept under
 * LOGTRIM_MAX bytes on disk until vm_free (logtrim.h). -EUSERS: the user has no passwd
 * entry, which smbd needs, and there is no nss_wrapper to give smbd one;
 * -EPERM: the user is "nobody", smbd's guest account, under which the guest
 * cannot write to the share. Under NETWORK_INTERNET, QEMU runs with
 * plan->netguard preloaded: -EINVAL when that path cannot be preloaded,
 * -ENOLINK when QEMU started without it. */
int vm_start(const struct vm_plan *plan, const char *tmpdir, usec_t timeout, struct vm **ret, char **reterr_exit);

/* Kills QEMU if it still runs, then smbd; reaps whatever they left. */
struct vm *vm_free(struct vm *vm);
static inline void vm_freep(struct vm **vm) { vm_free(*vm); }

struct qmp *vm_qmp(struct vm *vm);
struct qga *vm_qga(struct vm *vm);
pid_t vm_pid(const struct vm *vm);
/* smb_ended() of the VM's SMB server; 0 without one. */
unsigned vm_smb_ended(const struct vm *vm);
/* The argv QEMU was started with (for -v). */
char *const *vm_argv(const struct vm *vm);
/* How a reaped QEMU ended, with its last line on stderr: "exit status 1:
 * qemu-system-x86_64: -netdev user: ..." or "killed by signal 9 (KILL)". */
char *vm_exit_describe(const struct vm *vm);
/* Last line QEMU printed on stderr, for an error message; NULL if none. */
char *vm_last_error(const struct vm *vm);

/* Loads device state from a file into a VM started with plan.incoming, then
 * lets it run. */
int vm_restore(struct vm *vm, const char *state_path, usec_t timeout, struct remote_error *err);
/* Stops the VM and writes its device state to state_path (created, must not
 * exist), fsynced. RAM is not in it: it is in the shared memory file. */
int vm_save(struct vm *vm, const char *state_path, usec_t timeout, struct remote_error *err);
/* Asks QEMU to quit and waits for it; kills it after timeout. */
int vm_quit(struct vm *vm, usec_t timeout);
/* Non-blocking: has QEMU exited? Sets *ret_status (waitpid's) when it has. */
bool vm_exited(struct vm *vm, int *ret_status);
/* Waits up to timeout for QEMU to exit (its QMP socket closing comes just
 * before). */
bool vm_wait_exited(struct vm *vm, usec_t timeout, int *ret_status);
