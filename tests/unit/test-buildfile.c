/* The build file's syntax: instructions, continuations, comments and the
 * escape directive, the shape rules with their file:line messages, word
 * splitting with quotes and $-expansion, the quoting for both guests'
 * shells, and the content digest of a host tree (what COPY's key sees). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/lib/buildfile.h"
#include "../../runner/lib/digest.h"
#include "tap.h"

static int parse(const char *text, struct buildfile *f, struct error *e)
{
	memset(e, 0, sizeof *e);
	return buildfile_parse("Buildfile", text, f, e);
}

static void test_parse(void)
{
	struct buildfile f;
	struct error e;
	int r = parse("# comment\nARG V=1\nfrom base\n\n  RUN echo a \\\n  # inside\n    b\nCOPY [\"x y\", \"/z\"]\n"
		      "ENV K=V\nRUN [\"sh\", \"-c\", \"true\"]\n",
		      &f, &e);
	is_int(r, 0, "a build file parses (%s)", e.msg);
	is_int(f.n_steps, 6, "six instructions");
	is_int(f.steps[1].kind, STEP_FROM, "instructions in any case");
	is_int(f.steps[2].line, 5, "a step's line is where it begins");
	is_str(f.steps[2].text, "echo a     b", "a continuation joins lines; a comment inside is left out");
	ok(!f.steps[2].json, "the shell form has no words");
	ok(f.steps[3].json && !strcmp(f.steps[3].json[0], "x y") && !strcmp(f.steps[3].json[1], "/z"),
	   "COPY's JSON form");
	ok(f.steps[5].json && strv_length(f.steps[5].json) == 3, "RUN's exec form");
	buildfile_release(&f);

	r = parse("# escape=`\nFROM base\nRUN dir C:\\ `\n  /b\nWORKDIR C:\\Windows\\\n", &f, &e);
	is_int(r, 0, "the escape directive (%s)", e.msg);
	is_str(f.steps[1].text, "dir C:\\   /b", "` continues a line, \\ is a plain character");
	is_str(f.steps[2].text, "C:\\Windows\\", "a trailing \\ is no continuation with escape=`");
	buildfile_release(&f);

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"FROM a\nFROBNICATE\n", "Buildfile:2: unknown instruction 'FROBNICATE'"},
		{"RUN true\nFROM a\n", "Buildfile:1: RUN before FROM"},
		{"FROM a\nFROM b\n", "Buildfile:2: a second FROM"},
		{"FROM a\nRUN\n", "Buildfile:2: RUN needs an argument"},
		{"FROM a\nSHELL sh -c\n", "Buildfile:2: SHELL takes a JSON array"},
		{"FROM a\nCOPY --chown=1 a b\n", "Buildfile:2: COPY options (--chown=1)"},
		{"FROM a\nCOPY [\"only\"]\n", "Buildfile:2: COPY needs a source and a destination"},
		{"ARG x\nRUN true\n", "Buildfile:2: RUN before FROM"},
		{"# just a comment\n", "Buildfile: no FROM"},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		r = parse(bad[i].text, &f, &e);
		ok(r == -EINVAL && strstr(e.msg, bad[i].msg), "refused: %s", bad[i].msg);
		if (r == 0)
			buildfile_release(&f);
		else if (!strstr(e.msg, bad[i].msg))
			printf("#   got '%s'\n", e.msg);
	}
	char *big = malloc(BUILDFILE_MAX + 2);
	memset(big, '#', BUILDFILE_MAX + 1);
	big[BUILDFILE_MAX + 1] = 0;
	is_int(parse(big, &f, &e), -EFBIG, "a file over the limit is refused");
	free(big);
	static char many[12 * (BUILDFILE_STEPS_MAX + 2)];
	char *w = stpcpy(many, "FROM a\n");
	for (int i = 0; i <= BUILDFILE_STEPS_MAX; i++)
		w = stpcpy(w, "RUN true\n");
	ok(parse(many, &f, &e) == -EINVAL && strstr(e.msg, "more than"), "too many instructions are refused");
}

static void test_words(void)
{
	struct buildfile f;
	struct error e;
	parse("FROM a\n", &f, &e);
	char *vars[] = {"A=one", "B=two words", "A=last", "EMPTY=", NULL};
	static const struct {
		const char *text;
		const char *words[4];
	} cases[] = {
		{"$A ${B}", {"last", "two words"}},
		{"\"$B\" x", {"two words", "x"}},
		{"'$A' \\$A", {"$A", "$A"}},
		{"${NOPE:-dflt} ${A:-no} ${A:+yes} ${NOPE:+no}", {"dflt", "last", "yes"}},
		{"${EMPTY:-was-empty}", {"was-empty"}},
		{"C:\\Windows \"\"", {"C:\\Windows", ""}},
		{"a\\ b $ $1", {"a b", "$", "$1"}},
		{"pre${A}post", {"prelastpost"}},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char **w = NULL;
		int r = buildfile_words(&f, &f.steps[0], cases[i].text, vars, &w, &e);
		bool same = r == 0;
		size_t n = 0;
		while (same && cases[i].words[n]) {
			same = w[n] && !strcmp(w[n], cases[i].words[n]);
			n++;
		}
		same = same && !w[n];
		ok(same, "words of %s", cases[i].text);
		for (size_t k = 0; !same && w && w[k]; k++)
			printf("#   word %zu: '%s'\n", k, w[k]);
		strv_free(w);
	}
	const char *bad[] = {"\"open", "'open", "${A", "${A:?x}"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char **w = NULL;
		ok(buildfile_words(&f, &f.steps[0], bad[i], vars, &w, &e) == -EINVAL &&
			   strstr(e.msg, "Buildfile:1: FROM has"),
		   "refused: %s (%s)", bad[i], e.msg);
	}
	buildfile_release(&f);
}

static void test_quote(void)
{
	char *sh[] = {"sh", "-c", "echo 'it' $1", "a b", NULL};
	char *q = shell_join(sh, false);
	is_str(q, "'sh' '-c' 'echo '\\''it'\\'' $1' 'a b'", "sh quoting");
	free(q);
	/* Microsoft's examples ("Parsing C++ command-line arguments"):
	 * a\\\b stays, a"b becomes a\"b, a\ at the end a\\. */
	char *win[] = {"powershell", "-Command", "a\\\\\\b", "a\"b", "a\\", "", NULL};
	q = shell_join(win, true);
	is_str(q, "\"powershell\" \"-Command\" \"a\\\\\\b\" \"a\\\"b\" \"a\\\\\" \"\"", "Windows quoting");
	free(q);
}

static void digest_of(const char *path, char out[static DIGEST_HEX_LEN + 1])
{
	struct digest *d;
	char *bad = NULL;
	if (digest_new(&d) < 0 || digest_add_tree(d, path, &bad) < 0 || digest_end(d, out) < 0)
		snprintf(out, DIGEST_HEX_LEN + 1, "%s", bad ? bad : "error");
	free(bad);
	digest_free(d);
}

static void test_tree_digest(void)
{
	char tmp[] = "/tmp/osrun-unit-digest.XXXXXX";
	if (!mkdtemp(tmp))
		abort();
	_cleanup_free_ char *a = path_join(tmp, "a"), *sub = path_join(tmp, "sub"), *b = path_join(tmp, "sub/b"),
			    *ln = path_join(tmp, "link");
	write_file_atomic(a, "one", 3, 0644);
	mkdir(sub, 0755);
	write_file_atomic(b, "two", 3, 0644);
	symlink("a", ln);
	char d1[DIGEST_HEX_LEN + 1], d2[DIGEST_HEX_LEN + 1];
	digest_of(tmp, d1);
	is_int(strlen(d1), DIGEST_HEX_LEN, "a tree's digest");
	struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
	utimensat(AT_FDCWD, b, old, 0);
	digest_of(tmp, d2);
	is_str(d2, d1, "times do not count");
	write_file_atomic(b, "TWO", 3, 0644);
	utimensat(AT_FDCWD, b, old, 0);
	digest_of(tmp, d2);
	ok(strcmp(d1, d2), "content counts, at the same size and time");
	write_file_atomic(b, "two", 3, 0644);
	chmod(b, 0755);
	digest_of(tmp, d2);
	ok(strcmp(d1, d2), "the mode counts");
	chmod(b, 0644);
	unlink(ln);
	symlink("sub", ln);
	digest_of(tmp, d2);
	ok(strcmp(d1, d2), "a symlink's target counts (it is not followed)");
	unlink(ln);
	symlink("a", ln);
	digest_of(tmp, d2);
	is_str(d2, d1, "the same tree again, the same digest");
	_cleanup_free_ char *fifo = path_join(tmp, "fifo");
	mkfifo(fifo, 0600);
	struct digest *d;
	char *bad = NULL;
	digest_new(&d);
	ok(digest_add_tree(d, tmp, &bad) == -EBADF && bad && !strcmp(bad, "./fifo"), "a FIFO is refused, by name");
	free(bad);
	digest_free(d);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	if (system(cmd) != 0)
		abort();
}

int main(void)
{
	test_parse();
	test_words();
	test_quote();
	test_tree_digest();
	return tap_done();
}
