/* What every subcommand shares at the command layer: the options they all
 * take, a parser driven by a table of options, and the one place where a
 * failure becomes a message and an exit code. Engines below never print an
 * error and never pick an exit code. */
#pragma once
#include "lib/error.h"
#include "lib/log.h"
#include "lib/profile.h"

#define EXIT_TIMEOUT 124
#define EXIT_OSRUN 125

#define OSRUN_VERSION "0.1.0"

/* Options every subcommand takes. */
struct common_opts {
	const char *cache;
	int verbose;
};

enum opt_kind {
	OPT_FLAG,    /* bool *, set */
	OPT_COUNT,   /* int *, incremented (-v -v) */
	OPT_STRING,  /* const char **, the argument */
	OPT_SECONDS, /* usec_t *, a positive number of seconds */
	OPT_UINT,    /* unsigned *, from min to max */
	OPT_ENV,     /* char ***, NAME=VALUE appended */
	OPT_LIST,    /* char ***, each argument appended (repeatable) */
	OPT_HELP,    /* the command's help, then exit 0 */
	OPT_VERSION, /* osrun's version, then exit 0 */
};

struct opt {
	const char *name; /* the long name, without "--" */
	int short_name;	  /* 0: none */
	enum opt_kind kind;
	void *dest;
	unsigned min, max;  /* OPT_UINT */
	const char *expect; /* what a bad value is told; a default per kind */
};

/* The entries for --cache, -v and -h, which every table ends with. */
// clang-format off
#define OPTS_COMMON(c) \
	{"cache", 0, OPT_STRING, &(c)->cache, 0, 0, NULL}, \
	{"verbose", 'v', OPT_COUNT, &(c)->verbose, 0, 0, NULL}, \
	{"help", 'h', OPT_HELP, NULL, 0, 0, NULL}, \
	{NULL, 0, 0, NULL, 0, 0, NULL}
// clang-format on

/* Parses argv[1..] by table (ended by a NULL name). With in_order, the
 * first operand ends the options (osrun COMMAND...); else operands and
 * options may mix. 0: go on, with *ret_optind the first operand; 1: help
 * or version printed; <0: e says what is wrong. Sets the log level for -v. */
int options_parse(const struct opt *table, void (*help)(void), bool in_order, int argc, char **argv, int *ret_optind,
		  struct error *e);
/* OSRUN_PARSE_ONLY=1: options_parse stops a command once its options are
 * parsed (returns 1: exit 0, nothing done); a bad option still fails.
 * For checking the osrun command lines a script or a manifest holds
 * without running them (tests/fleet); operands are not checked. */
bool options_parse_only(void);
/* -EINVAL naming the first operand from optind on, when there is one. */
int options_no_operands(const char *command, int argc, char **argv, int optind, struct error *e);
/* "snapshot name 'x' contains '/'" */
int options_check_snapshot_name(const char *name, struct error *e);
struct run_plan;
/* -s VALUE: a snapshot name, or a registry reference (it has a '/')
 * that options_snapshot_use pulls. */
int options_check_snapshot_use(const char *value, struct error *e);
/* p->snapshot made a snapshot in the store: pulled first when it is a
 * reference or a name with a source (registry-use.h), p->snapshot then
 * the name it is pulled as. */
int options_snapshot_use(struct run_plan *p, struct error *e);
struct registry_opts;
/* What push, pull and pulls on first use share: TLS verified unless
 * OSRUN_REGISTRY_TLS_VERIFY is 0 or false; a pull's progress (bytes, rate,
 * time left) on stderr when it is a terminal, never when CI is set. */
void options_registry(struct registry_opts *ro);

/* --novnc ADDRESS:PORT */
int options_check_novnc(const char *addr, struct error *e);
/* --network: "none" (NULL too), "internet" or "host". */
int options_network(const char *policy, enum network *ret, struct error *e);

/* Reports e (a line each, when it has several) and returns the exit code
 * it implies: 128+N for a signal, 124 for a command's timeout, else 125. */
int options_report(const struct error *e);

struct run_result;
/* Reports how a guest command ended (its helper's words, a signal) and
 * returns the exit status it implies. */
int options_report_result(const struct run_result *res);

struct run_plan;
/* --volume and --cache-volume specs into p: at most RUN_VOLUMES_MAX in
 * all, folders that exist, no two at one guest path. */
int options_volumes(char **volumes, char **caches, struct run_plan *p, struct error *e);
/* --copy-in and --copy-out specs into p. */
int options_copies(char **copy_in, char **copy_out, struct run_plan *p, struct error *e);
