/* The command's request as the host wrote it (request.json in the share;
 * runner/lib/request.h gives its fields). Strings are UTF-8 as sent. */
#pragma once
#include "guest.h"

/* Bounds: the request is the host's, but nothing the helper reads is
 * taken unbounded. */
#define ORDER_FILE_MAX (4u << 20)
#define ORDER_ENV_MAX 4096
#define ORDER_VOLUMES_MAX 64

struct order_var {
	char *name, *value;
};
struct order_volume {
	char *share, *mode, *path;
};
struct order {
	long version;
	char *command;
	bool script;
	char *workdir;
	struct order_var *env;
	size_t n_env;
	struct order_volume *volumes;
	size_t n_volumes;
	bool user;
	bool stdin_stream;
};

/* Parses request.json's text: -1 with f filled for anything malformed, a
 * field of the wrong type, or past the bounds; unknown fields are skipped. */
int order_parse(const char *text, size_t n, struct order *ret, struct failure *f);
void order_release(struct order *o);
