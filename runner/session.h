/* The client's side of sessions (cmd-session.c has the keeper): where a
 * session's files are, whether it runs, and requests to it. A session is
 * alive while its keeper holds the flock on ROOT/sessions/NAME.json. */
#pragma once
#include <json-c/json.h>

#include "run.h"

/* The store's root for --cache (NULL: the default). */
char *session_store_root(const char *cache);
/* Removes what killed keepers left: NAME.* beside a NAME.json that nobody
 * holds and that is older than the instant between its open and flock. */
void session_sweep(const char *root);
bool session_alive(const char *root, const char *name);
/* Sends p (a command, copies or the end) to session name, holding
 * NAME.busy meanwhile: -EBUSY while another request runs, -ENOENT when no
 * such session runs. *ret_status: the exit status the keeper sent. */
int session_request(const char *cache, const char *name, struct run_plan *p, int *ret_status, struct error *e);
/* The running sessions' NAME.json objects, as an array. */
int session_list(const char *cache, json_object **ret, struct error *e);
