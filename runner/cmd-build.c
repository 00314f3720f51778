/* osrun build: a build file's steps as cached snapshot layers. */
#define _GNU_SOURCE
#include <libgen.h>
#include <string.h>

#include "commands.h"
#include "layers.h"
#include "options.h"
#include "registry.h"

static void build_help(void)
{
	printf("Usage: osrun build [-f FILE] [-t NAME] [OPTIONS] [CONTEXT]\n"
	       "\n"
	       "Runs a build file's steps, each from the snapshot the step before it\n"
	       "made, and saves each RUN and COPY as a snapshot layer under a key of\n"
	       "everything it depends on: the layer below, the step as expanded, the\n"
	       "ENV, ARG and WORKDIR it sees and, for COPY, the content (not the times)\n"
	       "of what it copies. A rebuild reuses the layers of an unchanged prefix\n"
	       "without booting anything and runs from the first changed step on. A\n"
	       "step that fails ends the build with its exit status; nothing after the\n"
	       "layers before it is saved. Each step's output is kept with its layer.\n"
	       "\n"
	       "The build file is a subset of the Dockerfile's syntax (no Docker runs):\n"
	       "  FROM SNAPSHOT            the snapshot to start from (one FROM, first); a\n"
	       "                           registry reference is pulled first, as by 'osrun -s'\n"
	       "  RUN COMMAND              run COMMAND as 'osrun COMMAND' would (sh, or\n"
	       "                           cmd on Windows); RUN [\"EXE\", \"ARG\"] runs words\n"
	       "  COPY SRC... DEST         copy host files (relative to CONTEXT) into the\n"
	       "                           guest as --copy-in does: into DEST, or into\n"
	       "                           DEST/NAME when DEST is a directory there\n"
	       "  ENV K=V...               set for the later steps and kept in the layers:\n"
	       "                           runs from them get it (their -e wins)\n"
	       "  WORKDIR PATH             the later steps' directory, also kept (it must\n"
	       "                           exist: COPY or RUN mkdir -p makes it)\n"
	       "  ARG NAME[=DEFAULT]       a variable --build-arg may set; RUN sees it\n"
	       "  SHELL [\"EXE\", \"ARG\"...]  the shell RUN's text is given to\n"
	       "  # comments, '# escape=`' on the first line, a line ending in \\ goes on\n"
	       "$NAME, ${NAME}, ${NAME:-WORD}, ${NAME:+WORD} expand in all but RUN\n"
	       "(RUN's shell expands them: ARG and ENV values are in its environment).\n"
	       "\n"
	       "Options:\n"
	       "  -f, --file FILE          the build file (default: CONTEXT/Buildfile)\n"
	       "  -t, --tag NAME           name the result snapshot NAME (replacing an\n"
	       "                           earlier build's tag NAME that nothing is built\n"
	       "                           on; any other snapshot NAME is refused)\n"
	       "      --build-arg K=V      a value for ARG K\n"
	       "      --no-cache           run every step (the layers are new ones)\n"
	       "      --dry-run            say which steps are cached and which would run\n"
	       "      --progress plain     also print the kept output of cached steps\n"
	       "      --network POLICY     none (default), internet or host, for every RUN\n"
	       "                           (see 'osrun --help')\n"
	       "      --timeout SECONDS    stop a step after SECONDS; exit 124\n"
	       "      --share-limit MIB    as for 'osrun'\n"
	       "      --cache DIR          the store\n"
	       "  -v, --verbose            say what happens\n"
	       "  -h, --help               this text\n"
	       "\n"
	       "Layers are snapshots named layer-KEY ('osrun snapshot list'); 'osrun\n"
	       "snapshot gc' removes those that no named snapshot is built on.\n"
	       "\n"
	       "Exit status: 0, the failing step's own status, 124 (its timeout) or\n"
	       "125 (osrun failed, or the build file is wrong: FILE:LINE says where).\n");
}

struct build_opts {
	struct layers_plan plan;
	struct common_opts c;
	const char *progress, *network;
	char *context_buf;
};

static void build_opts_release(struct build_opts *o)
{
	strv_free(o->plan.build_args);
	free(o->context_buf);
	free((char *)o->plan.file);
}

static int build_parse(int argc, char **argv, struct build_opts *o, struct error *e)
{
	struct layers_plan *p = &o->plan;
	const char *file = NULL;
	const struct opt table[] = {
		{"file", 'f', OPT_STRING, &file, 0, 0, NULL},
		{"tag", 't', OPT_STRING, &p->tag, 0, 0, NULL},
		{"build-arg", 0, OPT_ENV, &p->build_args, 0, 0, NULL},
		{"no-cache", 0, OPT_FLAG, &p->no_cache, 0, 0, NULL},
		{"dry-run", 0, OPT_FLAG, &p->dry_run, 0, 0, NULL},
		{"progress", 0, OPT_STRING, &o->progress, 0, 0, NULL},
		{"network", 0, OPT_STRING, &o->network, 0, 0, NULL},
		{"timeout", 0, OPT_SECONDS, &p->timeout, 0, 0, NULL},
		{"share-limit", 0, OPT_UINT, &p->share_limit_mib, 1, 1u << 24, "expected MiB"},
		OPTS_COMMON(&o->c),
	};
	int first, r = options_parse(table, build_help, false, argc, argv, &first, e);
	if (r != 0)
		return r;
	p->cache = o->c.cache;
	p->verbose = o->c.verbose;
	if (argc - first > 1)
		return error_set(e, -EINVAL, "build: unexpected argument '%s' (one CONTEXT at most)", argv[first + 1]);
	if (o->progress && strcmp(o->progress, "plain") && strcmp(o->progress, "auto"))
		return error_set(e, -EINVAL, "--progress '%s': expected plain or auto", o->progress);
	p->show_cached_logs = o->progress && !strcmp(o->progress, "plain");
	if ((r = options_network(o->network, &p->network, e)) < 0)
		return r;
	if (p->tag && (r = options_check_snapshot_name(p->tag, e)) < 0)
		return r;
	/* CONTEXT: given, else the file's directory, else the current one. */
	_cleanup_free_ char *dir = file ? strdup(file) : NULL;
	const char *context = first < argc ? argv[first] : file ? dirname(dir) : ".";
	if (!(o->context_buf = strdup(context)))
		return error_errno(e, -ENOMEM, "build");
	p->context = o->context_buf;
	p->file = file ? strdup(file) : path_join(p->context, "Buildfile");
	if (!p->file)
		return error_errno(e, -ENOMEM, "build");
	if (!file_exists(p->context))
		return error_errno(e, -ENOENT, "build context %s", p->context);
	return 0;
}

static void dry_run_print(const struct layers_plan *p, const struct layers_result *res)
{
	for (size_t i = 0; i < res->n_steps; i++) {
		const struct layers_step *s = &res->steps[i];
		printf("%-7s %s:%u  %s  (%s)\n", s->cached ? "cached" : "run", p->file, s->line, s->what, s->layer);
	}
	if (p->tag)
		printf("%-7s -t %s\n", res->up_to_date ? "cached" : "tag", p->tag);
}

int cmd_build(int argc, char **argv)
{
	_cleanup_(build_opts_release) struct build_opts o = {0};
	struct error e = {0};
	int r = build_parse(argc, argv, &o, &e);
	if (r != 0)
		return r < 0 ? options_report(&e) : 0;
	_cleanup_(layers_result_release) struct layers_result res = {0};
	struct registry_opts ro = {0};
	options_registry(&ro);
	o.plan.registry = &ro;
	if ((r = layers_build(&o.plan, &res, &e)) < 0)
		return options_report(&e);
	if (o.plan.dry_run) {
		dry_run_print(&o.plan, &res);
		return 0;
	}
	if (res.status != 0) {
		const struct layers_step *s = &res.steps[res.failed];
		struct run_result rr = {.status = res.status, .helper_stderr = res.helper_stderr};
		snprintf(rr.why, sizeof rr.why, "%s", res.why);
		options_report_result(&rr);
		log_error("%s:%u: %s: exited with status %d; the layers before it are kept", o.plan.file, s->line,
			  s->what, res.status);
		return res.status;
	}
	const char *last = res.n_steps ? res.steps[res.n_steps - 1].layer : NULL;
	if (o.plan.tag)
		log_info("%s: %s", o.plan.tag, res.up_to_date ? "up to date" : last ? last : "tagged");
	else if (last)
		log_info("built %s (name it with -t NAME)", last);
	return 0;
}
