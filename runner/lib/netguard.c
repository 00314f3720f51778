#define _GNU_SOURCE
#include "netguard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool netguard_path_usable(const char *so) { return so && so[0] == '/' && !strpbrk(so, " :\t\n"); }

int netguard_prepare(const char *so, struct netguard *ret)
{
	if (!netguard_path_usable(so))
		return -EINVAL;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	struct netguard ng = {.report = p[0], .report_theirs = p[1]};
	/* Ours first; the user's own preloads stay after it. */
	const char *theirs = getenv("LD_PRELOAD");
	if (asprintf(&ng.env[0], "LD_PRELOAD=%s%s%s", so, theirs && *theirs ? ":" : "", theirs ? theirs : "") < 0)
		ng.env[0] = NULL;
	if (asprintf(&ng.env[1], NETGUARD_FD_ENV "=%d", p[1]) < 0)
		ng.env[1] = NULL;
	if (!ng.env[0] || !ng.env[1]) {
		netguard_release(&ng);
		return -ENOMEM;
	}
	*ret = ng;
	return 0;
}

int netguard_confirm(struct netguard *ng)
{
	char buf[sizeof NETGUARD_REPORT] = "";
	ssize_t n = read(ng->report, buf, sizeof buf - 1);
	if (n < 0 && errno != EAGAIN)
		return -errno;
	return n == (ssize_t)strlen(NETGUARD_REPORT) && !memcmp(buf, NETGUARD_REPORT, (size_t)n) ? 0 : -ENOLINK;
}

void netguard_release(struct netguard *ng)
{
	ng->report = safe_close(ng->report);
	ng->report_theirs = safe_close(ng->report_theirs);
	free(ng->env[0]);
	free(ng->env[1]);
	ng->env[0] = ng->env[1] = NULL;
}
