/* The run's volumes (osrun -v), each a share of osrun's SMB server: "X:"
 * becomes a drive letter of the command's logon session, any other path
 * a directory symbolic link to the share's UNC path (local-to-remote links
 * are evaluated by default: Microsoft's "fsutil behavior"
 * SymlinkEvaluation). Read-only is the server's rule. */
#pragma once
#include "guest.h"
#include "order.h"

struct volumes {
	wchar_t **made; /* what to undo: "X:" or a link's path */
	size_t n;
};

/* server: the share's host as the guest names it (\\10.0.2.4). token:
 * the --user token whose logon session gets the drive letters, or NULL. */
int volumes_connect(const struct order *o, const wchar_t *server, HANDLE token, struct volumes *v, struct failure *f);
/* Nothing the run made is left for a -n snapshot: no link or drive to a
 * share that is gone. */
void volumes_disconnect(struct volumes *v, HANDLE token);
