#define _GNU_SOURCE
#include "selftest-report.h"

#include <json-c/json.h>
#include <string.h>

#include "selftest-checks.h"

/* A markdown table cell: '|' escaped, line ends as spaces. */
static void cell(FILE *f, const char *s, int width)
{
	int n = 0;
	for (; *s; s++, n++) {
		if (*s == '|') {
			fputc('\\', f);
			n++;
		}
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
	fprintf(f, "%*s", width > n ? width - n : 0, "");
}

static char *stream_end(FILE *f, char **buf)
{
	if (fclose(f) != 0) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

char *selftest_markdown(const struct selftest_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "## osrun selftest: %u passed, %u failed, %u skipped\n\n", r->passed, r->failed, r->skipped);
	const char *const setting[][2] = {{"osrun", r->version},
					  {"host", r->host},
					  {"QEMU", r->qemu},
					  {"accelerator", r->accel},
					  {"snapshot", r->snapshot}};
	fprintf(f, "| | |\n| --- | --- |\n");
	for (size_t i = 0; i < ELEMENTSOF(setting); i++) {
		fprintf(f, "| %s | ", setting[i][0]);
		cell(f, setting[i][1], 0);
		fprintf(f, " |\n");
	}
	fprintf(f, "| took | %.0f s |\n\n", r->seconds);
	int w = 5;
	for (size_t i = 0; i < r->n_rows; i++)
		w = (int)strlen(r->rows[i].check) > w ? (int)strlen(r->rows[i].check) : w;
	fprintf(f, "| %-*s | result | time    | details |\n| %.*s | ------ | ------- | ------- |\n", w, "check", w,
		"--------------------------------");
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct st_row *row = &r->rows[i];
		fprintf(f, "| %-*s | %-6s | %5.1f s | ", w, row->check, st_verdict_name(row->verdict), row->seconds);
		cell(f, row->details, 0);
		fprintf(f, " |\n");
	}
	return stream_end(f, &buf);
}

char *selftest_json(const struct selftest_report *r)
{
	json_object *o = json_object_new_object(), *checks = json_object_new_array();
	json_object_object_add(o, "osrun", json_object_new_string(r->version));
	json_object_object_add(o, "host", json_object_new_string(r->host));
	json_object_object_add(o, "qemu", json_object_new_string(r->qemu));
	json_object_object_add(o, "accelerator", json_object_new_string(r->accel));
	json_object_object_add(o, "snapshot", json_object_new_string(r->snapshot));
	json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
	json_object_object_add(o, "passed", json_object_new_int((int)r->passed));
	json_object_object_add(o, "failed", json_object_new_int((int)r->failed));
	json_object_object_add(o, "skipped", json_object_new_int((int)r->skipped));
	for (size_t i = 0; i < r->n_rows; i++) {
		const struct st_row *row = &r->rows[i];
		json_object *c = json_object_new_object(), *fig = json_object_new_object();
		const char *v = row->verdict == ST_PASS ? "pass" : row->verdict == ST_FAIL ? "fail" : "skip";
		json_object_object_add(c, "name", json_object_new_string(row->check));
		json_object_object_add(c, "result", json_object_new_string(v));
		json_object_object_add(c, "details", json_object_new_string(row->details));
		json_object_object_add(c, "seconds", json_object_new_double(row->seconds));
		for (size_t k = 0; k < row->n_figures; k++)
			json_object_object_add(fig, row->figures[k].name,
					       json_object_new_double(row->figures[k].value));
		json_object_object_add(c, "figures", fig);
		json_object_array_add(checks, c);
	}
	json_object_object_add(o, "checks", checks);
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *text = s ? strdup(s) : NULL;
	json_object_put(o);
	return text;
}

/* A step as --list shows it: its options, then its lines. */
static void step_list(FILE *f, const struct st_step *s)
{
	fprintf(f, "    $");
	if (s->workdir)
		fprintf(f, " [-w %s]", s->workdir);
	for (const char *const *v = s->env; v && *v; v++)
		fprintf(f, " [-e %s]", *v);
	if (s->as_user)
		fprintf(f, " [--user]");
	if (s->in)
		fprintf(f, " [stdin: %zu bytes]", strlen(s->in));
	fputc(' ', f);
	for (const char *c = s->cmd; *c; c++)
		if (*c == '\n')
			fputs("\n      ", f);
		else
			fputc(*c, f);
	fputc('\n', f);
}

char *selftest_list(void)
{
	static const char *const os_name[ST_OS_N] = {[ST_LINUX] = "linux", [ST_WINDOWS] = "windows"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < st_checks_n; i++) {
		const struct st_check *c = &st_checks[i];
		fprintf(f, "%s\n  proves: %s\n  judged: %s\n", c->name, c->proves, c->judged);
		for (int os = 0; os < ST_OS_N; os++) {
			fprintf(f, "  %s:", os_name[os]);
			if (c->not_on[os])
				fprintf(f, " does not apply: %s\n", c->not_on[os]);
			else if (!c->steps[os])
				fprintf(f, " no fixed commands (see judged)\n");
			else
				fputc('\n', f);
			for (const struct st_step *s = c->not_on[os] ? NULL : c->steps[os]; s && s->cmd; s++)
				step_list(f, s);
		}
	}
	return stream_end(f, &buf);
}
