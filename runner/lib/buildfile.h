/* A build file: the subset of the Dockerfile syntax that osrun build runs
 * (Docker's reference, docs.docker.com/reference/dockerfile, is the model
 * for each rule below; nothing here runs Docker). Instructions, any case:
 *   ARG NAME[=DEFAULT]   FROM SNAPSHOT   RUN COMMAND | RUN ["EXE", "ARG"...]
 *   COPY SRC... DEST | COPY ["SRC"..., "DEST"]   ENV K=V... | ENV K V
 *   WORKDIR PATH   SHELL ["EXE", "ARG"...]
 * '#' lines are comments; "# escape=`" before the first instruction makes
 * ` the escape character (for Windows paths). A line that ends with the
 * escape character goes on on the next one.
 *
 * The escape character quotes the character after it only where that one
 * is special ($, quotes, whitespace, itself), so C:\Windows stays as it is
 * with the default \ (Docker's Windows lexer does the same for paths). */
#pragma once
#include "error.h"

#define BUILDFILE_MAX (1u << 20)
#define BUILDFILE_STEPS_MAX 1000

enum step_kind { STEP_FROM, STEP_ARG, STEP_ENV, STEP_WORKDIR, STEP_SHELL, STEP_RUN, STEP_COPY };

struct build_step {
	enum step_kind kind;
	unsigned line; /* where it begins */
	char *text;    /* its arguments as written, continuations joined (escape and line end cut) */
	char **json;   /* the JSON form's words (RUN, COPY, SHELL); NULL for the shell form */
};

struct buildfile {
	char *name; /* for messages: "FILE:LINE: ..." */
	char escape;
	struct build_step *steps;
	size_t n_steps;
};

/* Parses text (name is what messages call it). Besides the syntax it
 * checks the shape: one FROM, before all but ARG; every instruction with
 * what it needs. -EINVAL with e naming the file and the line. */
int buildfile_parse(const char *name, const char *text, struct buildfile *ret, struct error *e);
void buildfile_release(struct buildfile *f);
const char *step_kind_name(enum step_kind k);

/* The words of text after quote removal and $NAME, ${NAME}, ${NAME:-WORD},
 * ${NAME:+WORD} expansion from vars ("NAME=VALUE", the last one wins; an
 * unset name expands to nothing; an expansion is never split into words,
 * and an unquoted word that comes to nothing is dropped). -EINVAL (e says why) for an unclosed
 * quote or brace. */
int buildfile_words(const struct buildfile *f, const struct build_step *st, const char *text, char *const *vars,
		    char ***ret, struct error *e);

/* A command line for the guest's shell made of words, each quoted so that
 * it arrives as one argument: sh's single quotes for Linux, the Microsoft
 * C runtime's rules (CommandLineToArgvW: quotes, backslashes doubled before
 * a quote) for Windows. */
char *shell_join(char *const *words, bool windows);
