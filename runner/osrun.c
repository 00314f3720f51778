/* osrun: run commands in short-lived VMs. This file sets up the process
 * (signals, subreaper) and hands over to a subcommand; it alone exits. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "commands.h"
#include "lib/proc.h"
#include "options.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{"provision", cmd_provision},  {"snapshot", cmd_snapshot}, {"pool", cmd_pool},
	{"session", cmd_session},      {"image", cmd_image},	   {"build", cmd_build},
	{"gitlab-driver", cmd_gitlab}, {"doctor", cmd_doctor},	   {"selftest", cmd_selftest},
	{"host-info", cmd_host_info},
};

int main(int argc, char **argv)
{
	/* Signals become events on one descriptor: every wait in osrun polls
	 * it, so Ctrl-C and SIGTERM reach teardown, never a default death
	 * that would leave QEMU and smbd behind. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	struct error e = {0};
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return error_errno(&e, -errno, "signalfd"), options_report(&e);
	cancel_fd_set(sfd);
	signal(SIGPIPE, SIG_IGN);
	/* Guest RAM, disks and the setup medium's password are private from
	 * the moment they exist, whoever creates them: osrun, qemu-img,
	 * xorriso or QEMU. */
	umask(077);
	int r = proc_become_subreaper();
	if (r < 0)
		return error_errno(&e, r, "PR_SET_CHILD_SUBREAPER"), options_report(&e);

	for (size_t i = 0; argc >= 2 && i < ELEMENTSOF(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return cmd_run(argc, argv);
}
