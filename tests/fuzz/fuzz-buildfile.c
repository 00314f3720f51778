/* A build file, which a repository someone else wrote controls: parsed
 * to the shape buildfile.h promises (one FROM, only ARG before it, lines
 * in order, no step without its argument), every step's words expanded,
 * and the words quoted for each guest's shell reading back as the same
 * words: sh's by the build file's own word rules, Windows' by the C
 * runtime's (CommandLineToArgvW). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/lib/buildfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The Microsoft C runtime's reading of one argument that starts with a
 * quote, as quote_windows writes them; *p is left after it. NULL when it
 * is not one. */
static char *windows_unquote(const char **p)
{
	const char *s = *p;
	if (*s++ != '"')
		return NULL;
	char *out = malloc(strlen(s) + 1), *w = out;
	if (!out)
		abort();
	for (;;) {
		size_t bs = 0;
		while (*s == '\\') {
			bs++;
			s++;
		}
		if (*s == '"') {
			for (size_t i = 0; i < bs / 2; i++)
				*w++ = '\\';
			s++;
			if (bs % 2 == 0)
				break; /* the closing quote */
			*w++ = '"';
			continue;
		}
		for (size_t i = 0; i < bs; i++)
			*w++ = '\\';
		if (!*s) {
			free(out);
			return NULL;
		}
		*w++ = *s++;
	}
	*w = 0;
	*p = s;
	return out;
}

static void check_windows(char *const *words)
{
	char *line = shell_join(words, true);
	if (!line)
		abort();
	const char *p = line;
	for (char *const *w = words; *w; w++) {
		if (w != words && *p++ != ' ')
			abort();
		char *got = windows_unquote(&p);
		if (!got || strcmp(got, *w))
			abort();
		free(got);
	}
	if (*p)
		abort();
	free(line);
}

/* sh's quoting read back by the build file's own rules (\ escapes outside
 * quotes, nothing inside single quotes, no $ expansion there). */
static void check_sh(const struct buildfile *f, const struct build_step *st, char *const *words)
{
	char *line = shell_join(words, false);
	if (!line)
		abort();
	struct buildfile sh = {.name = f->name, .escape = '\\'};
	struct error e = {0};
	char **again = NULL;
	if (buildfile_words(&sh, st, line, NULL, &again, &e) < 0)
		abort();
	size_t i = 0;
	for (; words[i] && again[i]; i++)
		if (strcmp(words[i], again[i]))
			abort();
	if (words[i] || again[i])
		abort();
	strv_free(again);
	free(line);
}

static void check_shape(const struct buildfile *f)
{
	size_t from = 0;
	if (!f->n_steps || f->n_steps > BUILDFILE_STEPS_MAX)
		abort();
	for (size_t i = 0; i < f->n_steps; i++) {
		const struct build_step *st = &f->steps[i];
		if (!st->text || !*st->text || strchr(st->text, '\n') || st->line == 0 ||
		    (i && st->line <= f->steps[i - 1].line))
			abort();
		if (st->kind == STEP_FROM)
			from++;
		else if (!from && st->kind != STEP_ARG)
			abort();
		if (st->kind == STEP_SHELL && !st->json)
			abort();
		if (st->kind == STEP_COPY && st->json && strv_length(st->json) < 2)
			abort();
	}
	if (from != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct buildfile f = {0};
	struct error e = {0};
	/* Values with what expansion must never re-read: quotes, $, the
	 * escape characters, white space. */
	char *vars[] = {"A=a b", "B=", "Q=\"'$B\\`", "W=C:\\dir\\", NULL};
	if (buildfile_parse("Buildfile", text, &f, &e) == 0) {
		check_shape(&f);
		for (size_t i = 0; i < f.n_steps; i++) {
			const struct build_step *st = &f.steps[i];
			char **words = NULL;
			if (buildfile_words(&f, st, st->text, vars, &words, &e) == 0) {
				check_sh(&f, st, words);
				check_windows(words);
				strv_free(words);
			}
			if (st->json) {
				check_sh(&f, st, st->json);
				check_windows(st->json);
			}
		}
		buildfile_release(&f);
	}
	free(text);
	return 0;
}
