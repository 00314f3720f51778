/* A Windows image (image.h): the ISOs, the setup medium, the install
 * stages, the save. */
#define _GNU_SOURCE
#include "image.h"

#include <string.h>

#include "build.h"
#include "image-fetch.h"
#include "lib/log.h"
#include "provision.h"

/* Stage scripts: given through the stage's share, so a change reruns only
 * that stage. */
static const char *const stage_scripts[] = {"configure.ps1", "cleanup.ps1"};

void image_plan_init(struct image_plan *p)
{
	*p = (struct image_plan){.name = "provisioned", .memory_mib = 4096, .cpus = 2};
	p->in.size_gib = 64;
	p->stage_timeout = 14400 * USEC_PER_SEC;
	p->setup_timeout = 5400 * USEC_PER_SEC;
	const char *g = getenv("OSRUN_WINDOWS_DIR");
	p->in.guest_init = g && *g ? g : OSRUN_WINDOWS_DIR;
}

int image_check(const struct image_plan *p, struct error *e)
{
	if (p->in.iso && p->version)
		return error_set(e, -EINVAL, "image build: --version picks an ISO to fetch; --iso names one already");
	return p->in.password && !*p->in.password ? error_set(e, -EINVAL, "--admin-password: empty") : 0;
}

static int check_guest_init(const struct image_plan *p, struct error *e)
{
	for (size_t i = 0; i < ELEMENTSOF(stage_scripts); i++) {
		_cleanup_free_ char *s = path_join(p->in.guest_init, stage_scripts[i]);
		if (s && !file_exists(s))
			return error_set(e, -ENOENT, "guest-init: %s not found (name the folder with --guest-init)", s);
	}
	return 0;
}

/* With the setup medium made: the stages and the final save. */
static int image_install(struct job *j, const struct image_plan *p, enum accel accel, const char *setup_iso,
			 uint64_t seed, struct error *e)
{
	_cleanup_free_ char *configure = path_join(p->in.guest_init, stage_scripts[0]),
			    *cleanup = path_join(p->in.guest_init, stage_scripts[1]);
	if (!configure || !cleanup)
		return error_errno(e, -ENOMEM, "paths");
	const char *const install_media[] = {p->in.iso, setup_iso, p->in.virtio, NULL};
	const char *const media[] = {setup_iso, p->in.virtio, NULL};
	/* setup: Windows Setup's first pass, ended by its reboot. firstboot:
	 * specialize and OOBE (a reboot or two), then FirstLogonCommands
	 * run firstlogon.ps1, which says done and shuts down. */
	const struct stage stages[] = {
		/* WinPE has no status channel: a dialog (an answer-file error)
		 * shows only on the screen, which a timeout keeps. */
		{.name = "setup", .install_media = true, .max_boots = 1, .timeout = p->setup_timeout},
		{.name = "firstboot", .wait_done = true, .max_boots = 6, .timeout = p->stage_timeout},
		{.name = "configure",
		 .script = configure,
		 .wait_done = true,
		 .max_boots = 4,
		 .timeout = p->stage_timeout},
		{.name = "cleanup", .script = cleanup, .wait_done = true, .max_boots = 3, .timeout = p->stage_timeout},
	};
	struct machine machine = {.profile = "windows", .memory_mib = p->memory_mib, .cpus = p->cpus, .accel = accel};
	struct build b = {
		.profile = profile_find("windows"),
		.machine = machine,
		.install_media = install_media,
		.media = media,
		.disk_size = (uint64_t)p->in.size_gib << 30,
		.seed = seed,
		.stages = stages,
		.n_stages = ELEMENTSOF(stages),
		.keep = p->keep,
		.vnc = p->vnc,
	};
	struct build_final f = {
		.profile = profile_find("windows"),
		.machine = machine,
		.agent_timeout = 600 * USEC_PER_SEC,
		.idle_window = 30 * USEC_PER_SEC,
		.vnc = p->vnc,
	};
	if (!p->dry_run)
		return build_provision(j, &b, &f, p->name, p->force, "image build", e);
	int r = build_print(j, &b, stdout, e);
	return r < 0 ? r : build_print_final(j, &b, &f, p->name, stdout, e);
}

/* The inputs checked, the medium made: the install. */
static int image_prepare_install(struct job *j, const struct image_plan *q, struct error *e)
{
	enum accel accel;
	int r;
	if ((r = medium_check_isos(&q->in, e)) < 0 || (r = check_guest_init(q, e)) < 0 ||
	    (r = job_accel(&accel, e)) < 0)
		return r;
	_cleanup_(edition_list_release) struct edition_list editions = {0};
	const struct edition *ed;
	if ((r = medium_pick_edition(&q->in, j->rundir->path, &editions, &ed, e)) < 0)
		return r;
	if (r > 0)
		log_info("edition id %s names several images: taking %u, %s (%s, not Server Core); --edition INDEX "
			 "picks another",
			 ed->edition_id, ed->index, ed->name, ed->install_type ? ed->install_type : "?");
	log_info("edition %u: %s (build %u, drivers %s, language %s)", ed->index, ed->name, ed->build,
		 edition_virtio_dir(ed), ed->language ? ed->language : "en-US");
	_cleanup_free_ char *setup_iso = NULL;
	uint64_t seed;
	if ((r = medium_make(j->store, &q->in, ed, j->rundir->path, &setup_iso, &seed, e)) < 0)
		return r;
	log_info("setup medium: %s", setup_iso);
	return image_install(j, q, accel, setup_iso, seed, e);
}

int image_execute(const struct image_plan *p, struct error *e)
{
	_cleanup_(job_release) struct job j = {0};
	_cleanup_(isofetch_result_release) struct isofetch_result iso = {0}, virtio = {0};
	_cleanup_close_ int lock = -1;
	struct image_plan q = *p;
	int r;
	if ((r = job_open_store(&j, p->cache, !p->dry_run, e)) < 0)
		return r;
	/* Before the fetch: a second first run waits here instead of
	 * failing on the ISO the first one is fetching. */
	if (!p->dry_run && (r = provision_lock(&j, p->name, p->if_missing, &lock, e)) != 0)
		return r < 0 ? r : 0;
	if ((r = job_make_rundir(&j, e)) < 0 ||
	    (r = image_fetch_missing(&j, p->version, p->language, &q.in.iso, &q.in.virtio, &iso, &virtio, e)) < 0)
		return r;
	return image_prepare_install(&j, &q, e);
}
