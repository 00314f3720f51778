/* osrun: run commands in short-lived VMs. This file sets up the process
 * (signals, subreaper) and hands over to a subcommand. */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>

#include "commands.h"
#include "job.h"
#include "lib/log.h"

void report_bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];
	if (c == ':')
		log_error("option '%s' needs a value (see 'osrun --help')", arg);
	else if (optopt && arg[0] == '-' && arg[1] != '-')
		log_error("unknown option '-%c' (see 'osrun --help')", optopt);
	else
		log_error("unknown option '%s' (see 'osrun --help')", arg);
}

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
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return log_errno(-errno, "signalfd"), EXIT_OSRUN;
	cancel_fd_set(sfd);
	signal(SIGPIPE, SIG_IGN);
	int r = proc_become_subreaper();
	if (r < 0)
		return log_errno(r, "PR_SET_CHILD_SUBREAPER"), EXIT_OSRUN;

	if (argc >= 2 && !strcmp(argv[1], "provision"))
		return cmd_provision(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "snapshot"))
		return cmd_snapshot(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "pool"))
		return cmd_pool(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "image"))
		return cmd_image(argc - 1, argv + 1);
	return cmd_run(argc, argv);
}
