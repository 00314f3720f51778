/* For tests that check what a user without privileges meets: a forked
 * child drops every capability (root's too), as a non-root run has none. */
#pragma once
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int caps_drop_all(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct none[2] = {{0}};
	return geteuid() == 0 ? (int)syscall(SYS_capset, &h, none) : 0;
}
