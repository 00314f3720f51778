/* osrun image build: from a Windows ISO and the virtio-win ISO to the
 * provisioned snapshot, unattended. Every input is checked before anything
 * starts; then a setup medium is made (answer file, guest-init scripts,
 * drivers, agent MSI) and the stage engine installs Windows. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "build.h"
#include "commands.h"
#include "lib/iso.h"
#include "lib/log.h"
#include "lib/unattend.h"
#include "lib/wim.h"

#ifndef OSRUN_WINDOWS_DIR
#define OSRUN_WINDOWS_DIR "/usr/local/share/osrun/windows"
#endif

#define ADMIN_USER "osrun"

struct image_plan {
	struct common_opts common;
	const char *iso;
	const char *virtio;
	const char *edition;
	const char *name;
	const char *password;
	const char *product_key;
	const char *guest_init;
	unsigned size_gib;
	unsigned memory_mib;
	unsigned cpus;
	usec_t stage_timeout;
	bool keep;
	bool force;
	bool dry_run;
	bool vnc;
};

/* Copied onto the setup medium (osrun\): run by FirstLogonCommands and at
 * every boot, and by each osrun run. */
static const char *const medium_scripts[] = {"firstlogon.ps1", "stage-runner.ps1", "osrun-exec.ps1",
					     "osrun-detach.ps1", NULL};
/* Stage scripts: given through the stage's share, so a change reruns only
 * that stage. */
static const char *const stage_scripts[] = {"configure.ps1", "cleanup.ps1"};
/* virtio-win folders whose drivers Setup loads: disk, network, agent port. */
static const char *const driver_dirs[] = {"viostor", "NetKVM", "vioserial"};
#define AGENT_MSI "guest-agent/qemu-ga-x86_64.msi"

static void image_help(void)
{
	printf("Usage: osrun image build --iso WINDOWS.iso --virtio-win VIRTIO-WIN.iso [OPTIONS]\n"
	       "\n"
	       "Installs Windows with nobody at the keyboard and saves the snapshot runs\n"
	       "start from. The Windows ISO is not changed: a small second medium carries\n"
	       "the generated autounattend.xml, the guest-init scripts, the virtio drivers\n"
	       "and the guest agent. The install runs in stages, each cached: a rebuild\n"
	       "starts at the first stage whose inputs changed. Needs KVM to finish in\n"
	       "reasonable time (about 30-60 min); under TCG it takes many hours.\n"
	       "\n"
	       "Options:\n"
	       "      --iso PATH           a Windows 10/11 or Server 2019/2022/2025 ISO\n"
	       "      --virtio-win PATH    the virtio-win ISO (drivers and qemu-ga MSI)\n"
	       "      --edition NAME|INDEX the edition to install (default: Pro where present)\n"
	       "      --name NAME          the snapshot to make (default: provisioned)\n"
	       "      --size GIB           disk size (default: 64)\n"
	       "      --memory MIB         guest memory (default: 4096)\n"
	       "      --cpus N             guest CPUs (default: 2)\n"
	       "      --admin-password PW  the '" ADMIN_USER "' administrator's password (default:\n"
	       "                           random, kept 0600 in the store)\n"
	       "      --product-key KEY    install key (default: the edition's generic key;\n"
	       "                           none for servers)\n"
	       "      --guest-init DIR     the Windows guest-init scripts (default:\n"
	       "                           $OSRUN_WINDOWS_DIR, else %s)\n"
	       "      --stage-timeout SECONDS  longest a stage may take (default: 14400)\n"
	       "      --keep               keep the stages' disk layers for later builds\n"
	       "      --force              replace snapshot NAME when built from other inputs\n"
	       "      --dry-run            check the inputs, write the setup medium, print\n"
	       "                           every stage's QEMU command line; start nothing\n"
	       "      --vnc                show each stage's screen on VNC (loopback)\n"
	       "      --cache DIR          the store\n"
	       "  -v, --verbose            say what happens\n"
	       "  -h, --help               this text\n",
	       OSRUN_WINDOWS_DIR);
}

enum {
	OPT_ISO = 0x100,
	OPT_VIRTIO,
	OPT_EDITION,
	OPT_NAME,
	OPT_SIZE,
	OPT_MEMORY,
	OPT_CPUS,
	OPT_PASSWORD,
	OPT_KEY,
	OPT_GUEST_INIT,
	OPT_STAGE_TIMEOUT,
	OPT_KEEP,
	OPT_FORCE,
	OPT_DRY_RUN,
	OPT_VNC,
	OPT_CACHE,
};

static int image_parse(int argc, char **argv, struct image_plan *p)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{"verbose", no_argument, NULL, 'v'},
		{"iso", required_argument, NULL, OPT_ISO},
		{"virtio-win", required_argument, NULL, OPT_VIRTIO},
		{"edition", required_argument, NULL, OPT_EDITION},
		{"name", required_argument, NULL, OPT_NAME},
		{"size", required_argument, NULL, OPT_SIZE},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"cpus", required_argument, NULL, OPT_CPUS},
		{"admin-password", required_argument, NULL, OPT_PASSWORD},
		{"product-key", required_argument, NULL, OPT_KEY},
		{"guest-init", required_argument, NULL, OPT_GUEST_INIT},
		{"stage-timeout", required_argument, NULL, OPT_STAGE_TIMEOUT},
		{"keep", no_argument, NULL, OPT_KEEP},
		{"force", no_argument, NULL, OPT_FORCE},
		{"dry-run", no_argument, NULL, OPT_DRY_RUN},
		{"vnc", no_argument, NULL, OPT_VNC},
		{"cache", required_argument, NULL, OPT_CACHE},
		{},
	};
	p->name = "provisioned";
	p->size_gib = 64;
	p->memory_mib = 4096;
	p->cpus = 2;
	p->stage_timeout = 14400 * USEC_PER_SEC;
	const char *g = getenv("OSRUN_WINDOWS_DIR");
	p->guest_init = g && *g ? g : OSRUN_WINDOWS_DIR;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+:hv", opts, NULL)) >= 0) {
		switch (c) {
		case 'h':
			image_help();
			return 0;
		case 'v':
			p->common.verbose++;
			break;
		case OPT_ISO:
			p->iso = optarg;
			break;
		case OPT_VIRTIO:
			p->virtio = optarg;
			break;
		case OPT_EDITION:
			p->edition = optarg;
			break;
		case OPT_NAME:
			p->name = optarg;
			break;
		case OPT_SIZE:
			if (parse_uint(optarg, 16, 65536, &p->size_gib) < 0)
				return log_error("--size '%s': expected GiB, 16 or more", optarg), EXIT_OSRUN;
			break;
		case OPT_MEMORY:
			if (parse_uint(optarg, 1024, 1u << 20, &p->memory_mib) < 0)
				return log_error("--memory '%s': expected MiB, 1024 or more", optarg), EXIT_OSRUN;
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, 64, &p->cpus) < 0)
				return log_error("--cpus '%s': expected 1 to 64", optarg), EXIT_OSRUN;
			break;
		case OPT_PASSWORD:
			p->password = optarg;
			break;
		case OPT_KEY:
			p->product_key = optarg;
			break;
		case OPT_GUEST_INIT:
			p->guest_init = optarg;
			break;
		case OPT_STAGE_TIMEOUT:
			if (parse_seconds(optarg, &p->stage_timeout) < 0)
				return log_error("--stage-timeout '%s': expected a positive number of seconds", optarg),
				       EXIT_OSRUN;
			break;
		case OPT_KEEP:
			p->keep = true;
			break;
		case OPT_FORCE:
			p->force = true;
			break;
		case OPT_DRY_RUN:
			p->dry_run = true;
			break;
		case OPT_VNC:
			p->vnc = true;
			break;
		case OPT_CACHE:
			p->common.cache = optarg;
			break;
		default:
			return report_bad_option(c, argv), EXIT_OSRUN;
		}
	}
	if (optind < argc)
		return log_error("image build: unexpected argument '%s'", argv[optind]), EXIT_OSRUN;
	const char *why;
	if (snapshot_name_check(p->name, &why) < 0)
		return log_error("snapshot name '%s' %s", p->name, why), EXIT_OSRUN;
	if (!p->iso)
		return log_error("image build: --iso is required (a Windows 10/11 or Server 2019/2022/2025 ISO)"),
		       EXIT_OSRUN;
	if (!p->virtio)
		return log_error("image build: --virtio-win is required (the virtio-win ISO: drivers and guest agent)"),
		       EXIT_OSRUN;
	if (p->password && !*p->password)
		return log_error("--admin-password: empty"), EXIT_OSRUN;
	return -1;
}

/* Both media must be ISO images; says which and why not. */
static int check_iso(const char *opt, const char *path, const char *what)
{
	int r = iso_check(path);
	if (r == -EMEDIUMTYPE)
		return log_error("%s %s: not an ISO 9660 image (expected %s)", opt, path, what), EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "%s %s", opt, path), EXIT_OSRUN;
	return 0;
}

static int extract(const char *opt, const char *iso, const char *inner, const char *dest)
{
	_cleanup_free_ char *msg = NULL;
	int r = iso_extract(iso, inner, dest, &msg);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0) {
		log_error("%s %s: reading %s failed: %s", opt, iso, inner, msg ? msg : strerror(-r));
		return EXIT_OSRUN;
	}
	return 0;
}

static void list_editions(const struct edition_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		log_info("  %u: %s%s%s%s", l->v[i].index, l->v[i].name, l->v[i].edition_id ? " (" : "",
			 l->v[i].edition_id ? l->v[i].edition_id : "", l->v[i].edition_id ? ")" : "");
}

/* Finds the install image in the ISO and the edition to install. */
static int pick_edition(const struct image_plan *p, const char *work, struct edition_list *l, const struct edition **ret)
{
	static const char *const candidates[] = {"/sources/install.wim", "/sources/install.esd"};
	_cleanup_free_ char *wim = NULL;
	int r = -ENOENT;
	for (size_t i = 0; r == -ENOENT && i < ELEMENTSOF(candidates); i++) {
		free(wim);
		wim = path_join(work, strrchr(candidates[i], '/') + 1);
		if (!wim)
			return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
		r = extract("--iso", p->iso, candidates[i], wim);
		if (r > 0)
			return r;
	}
	if (r == -ENOENT)
		return log_error("--iso %s: no sources/install.wim or install.esd in ISO (expected a Windows install ISO)",
				 p->iso),
		       EXIT_OSRUN;
	r = wim_read_editions(wim, l);
	unlink(wim); /* gigabytes; only its XML was needed */
	if (r == -EMEDIUMTYPE)
		return log_error("--iso %s: %s is not a WIM/ESD image wimlib can read", p->iso, strrchr(wim, '/') + 1),
		       EXIT_OSRUN;
	if (r < 0)
		return log_errno(r, "--iso %s: reading the install image", p->iso), EXIT_OSRUN;
	r = edition_pick(l, p->edition, ret);
	if (r == -ENOENT && p->edition) {
		log_error("--edition '%s': not in %s; it has:", p->edition, p->iso);
		list_editions(l);
		return EXIT_OSRUN;
	}
	if (r < 0) {
		log_error("--iso %s: %s; name one with --edition:", p->iso,
			  l->n ? "no Pro edition to default to" : "the install image has no editions");
		list_editions(l);
		return EXIT_OSRUN;
	}
	if (!edition_virtio_dir(*ret))
		return log_error("--iso %s: edition %u has no Windows build number in its XML", p->iso, (*ret)->index),
		       EXIT_OSRUN;
	return 0;
}

/* The drivers this Windows needs and the agent MSI, out of virtio-win. */
static int copy_virtio(const struct image_plan *p, const struct edition *e, const char *medium)
{
	const char *ver = edition_virtio_dir(e);
	for (size_t i = 0; i < ELEMENTSOF(driver_dirs); i++) {
		_cleanup_free_ char *inner = NULL, *dest = NULL;
		if (asprintf(&inner, "/%s/%s/amd64", driver_dirs[i], ver) < 0 ||
		    asprintf(&dest, "%s/$WinPEDriver$/%s", medium, driver_dirs[i]) < 0)
			return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
		int r = extract("--virtio-win", p->virtio, inner, dest);
		if (r == -ENOENT)
			return log_error("--virtio-win %s: no %s (expected the virtio-win ISO with drivers for %s)", p->virtio,
					 inner + 1, ver),
			       EXIT_OSRUN;
		if (r)
			return r;
	}
	_cleanup_free_ char *msi = NULL;
	if (asprintf(&msi, "%s/osrun/qemu-ga-x86_64.msi", medium) < 0)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	int r = extract("--virtio-win", p->virtio, "/" AGENT_MSI, msi);
	if (r == -ENOENT)
		return log_error("--virtio-win %s: no %s (expected the virtio-win ISO)", p->virtio, AGENT_MSI), EXIT_OSRUN;
	return r;
}

/* The administrator password: given, else the one this store made before
 * (so the answer file, and the stages' keys, stay the same), else new. */
static int admin_password(struct job *j, const struct image_plan *p, char **ret)
{
	if (p->password)
		return (*ret = strdup(p->password)) ? 0 : (log_errno(-ENOMEM, "password"), EXIT_OSRUN);
	_cleanup_free_ char *dir = path_join(j->store->root, "windows"), *path = path_join(dir, "admin-password");
	if (!dir || !path)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if (read_full_file(path, ret, NULL) == 0 && **ret)
		return 0;
	static const char abc[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char raw[20];
	_cleanup_close_ int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read_retry(fd, raw, sizeof raw) != sizeof raw)
		return log_errno(-EIO, "/dev/urandom"), EXIT_OSRUN;
	char pw[sizeof raw + 1];
	for (size_t i = 0; i < sizeof raw; i++)
		pw[i] = abc[raw[i] % (sizeof abc - 1)];
	pw[sizeof raw] = 0;
	int r = mkdir_p(dir, 0700);
	if (r == 0)
		r = write_file_atomic(path, pw, strlen(pw), 0600);
	if (r < 0)
		return log_errno(r, "%s", path), EXIT_OSRUN;
	return (*ret = strdup(pw)) ? 0 : (log_errno(-ENOMEM, "password"), EXIT_OSRUN);
}

/* Content hash of a directory tree, names included, in a stable order. */
static int hash_tree(uint64_t *h, const char *dir)
{
	struct dirent **v;
	int n = scandir(dir, &v, NULL, alphasort);
	if (n < 0)
		return -errno;
	int r = 0;
	for (int i = 0; i < n; i++) {
		const char *name = v[i]->d_name;
		if (r == 0 && strcmp(name, ".") && strcmp(name, "..")) {
			_cleanup_free_ char *p = path_join(dir, name);
			struct stat st;
			*h = fnv1a64(*h, name, strlen(name) + 1);
			if (!p)
				r = -ENOMEM;
			else if (lstat(p, &st) < 0)
				r = -errno;
			else
				r = S_ISDIR(st.st_mode) ? hash_tree(h, p) : hash_file(h, p);
		}
		free(v[i]);
	}
	free(v);
	return r;
}

static int write_medium(struct job *j, const struct image_plan *p, const struct edition *e, const char *medium)
{
	_cleanup_free_ char *pw = NULL, *xml = NULL, *osrun_dir = path_join(medium, "osrun");
	int r = admin_password(j, p, &pw);
	if (r)
		return r;
	struct unattend u = {
		.image_index = e->index,
		/* The profile boots SeaBIOS: a raw UEFI VARS pflash would block
		 * snapshots, so the disk is MBR. */
		.uefi = false,
		.product_key = p->product_key ? p->product_key : edition_generic_key(e),
		.user = ADMIN_USER,
		.password = pw,
		.locale = "en-US",
		.drivers_dir = "$WinPEDriver$",
		.marker = "osrun\\osrun.tag",
		.first_logon = "osrun\\firstlogon.ps1",
	};
	size_t len;
	if (!osrun_dir || (r = unattend_render(&u, &xml, &len)) < 0)
		return log_errno(r < 0 ? r : -ENOMEM, "writing autounattend.xml"), EXIT_OSRUN;
	_cleanup_free_ char *ua = path_join(medium, "autounattend.xml"), *tag = path_join(osrun_dir, "osrun.tag");
	if (!ua || !tag)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if ((r = mkdir_p(osrun_dir, 0700)) < 0 || (r = write_file_atomic(ua, xml, len, 0600)) < 0 ||
	    (r = write_file_atomic(tag, "osrun setup medium\r\n", 20, 0644)) < 0)
		return log_errno(r, "%s", medium), EXIT_OSRUN;
	for (const char *const *s = medium_scripts; *s; s++) {
		_cleanup_free_ char *from = path_join(p->guest_init, *s), *to = path_join(osrun_dir, *s);
		if (!from || !to)
			return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
		if ((r = copy_file_sparse(from, to, 0644)) < 0)
			return log_errno(r, "guest-init %s", from), EXIT_OSRUN;
	}
	return copy_virtio(p, e, medium);
}

/* The setup medium as an ISO in the store, keyed by its content. */
static int make_medium(struct job *j, const char *medium, uint64_t key, char **ret)
{
	_cleanup_free_ char *entry = NULL, *iso = NULL;
	if (asprintf(&entry, "media-%016llx", (unsigned long long)key) < 0 ||
	    asprintf(&iso, "%s/%s/setup.iso", j->store->stages, entry) < 0)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if (!file_exists(iso)) {
		_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
		int r = store_new_begin(j->store, j->store->stages, entry, &n);
		if (r < 0 && r != -EEXIST)
			return log_errno(r, "setup medium"), EXIT_OSRUN;
		if (r == 0) {
			_cleanup_free_ char *out = snapshot_new_path(n, "setup.iso"), *msg = NULL;
			if (!out)
				return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
			r = iso_make(medium, "OSRUN_SETUP", out, &msg);
			if (r < 0)
				return log_error("setup medium: xorriso failed: %s", msg ? msg : strerror(-r)), EXIT_OSRUN;
			/* It holds the administrator password. */
			chmod(out, 0600);
			chmod(n->dir, 0700);
			r = store_new_commit(n);
			if (r < 0 && r != -EEXIST)
				return log_errno(r, "setup medium"), EXIT_OSRUN;
		}
	}
	*ret = TAKE_PTR(iso);
	return 0;
}

static int image_execute(const struct image_plan *p)
{
	_cleanup_(job_release) struct job j = {0};
	int r;
	if ((r = check_iso("--iso", p->iso, "a Windows install ISO")) ||
	    (r = check_iso("--virtio-win", p->virtio, "the virtio-win ISO")))
		return r;
	for (size_t i = 0; i < ELEMENTSOF(stage_scripts); i++) {
		_cleanup_free_ char *s = path_join(p->guest_init, stage_scripts[i]);
		if (s && !file_exists(s))
			return log_error("guest-init: %s not found (name the folder with --guest-init)", s), EXIT_OSRUN;
	}
	if ((r = job_open_store(&j, &p->common, !p->dry_run)) || (r = job_make_rundir(&j)))
		return r;
	enum accel accel;
	if ((r = job_accel(&accel)))
		return r;

	_cleanup_(edition_list_release) struct edition_list editions = {0};
	const struct edition *e;
	if ((r = pick_edition(p, j.rundir->path, &editions, &e)))
		return r;
	log_info("edition %u: %s (build %u, drivers %s)", e->index, e->name, e->build, edition_virtio_dir(e));
	_cleanup_free_ char *medium = path_join(j.rundir->path, "medium"), *setup_iso = NULL, *vol = NULL;
	if (!medium)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	if ((r = write_medium(&j, p, e, medium)))
		return r;

	/* Everything the stages depend on besides their own scripts. */
	uint64_t seed = FNV1A64_INIT;
	struct stat st;
	if (stat(p->iso, &st) < 0 || (r = iso_volume_id(p->iso, &vol)) < 0)
		return log_errno(r < 0 ? r : -errno, "--iso %s", p->iso), EXIT_OSRUN;
	seed = fnv1a64(seed, vol, strlen(vol) + 1);
	seed = fnv1a64(seed, &st.st_size, sizeof st.st_size);
	seed = fnv1a64(seed, e->name, strlen(e->name) + 1);
	seed = fnv1a64(seed, &e->build, sizeof e->build);
	if ((r = hash_tree(&seed, medium)) < 0)
		return log_errno(r, "hashing the setup medium"), EXIT_OSRUN;
	uint64_t gib = p->size_gib;
	seed = fnv1a64(seed, &gib, sizeof gib);
	if ((r = make_medium(&j, medium, seed, &setup_iso)))
		return r;
	rm_rf(medium);
	log_info("setup medium: %s", setup_iso);

	_cleanup_free_ char *configure = path_join(p->guest_init, stage_scripts[0]),
			    *cleanup = path_join(p->guest_init, stage_scripts[1]);
	if (!configure || !cleanup)
		return log_errno(-ENOMEM, "paths"), EXIT_OSRUN;
	const char *const install_media[] = {p->iso, setup_iso, p->virtio, NULL};
	const char *const media[] = {setup_iso, p->virtio, NULL};
	/* setup: Windows Setup's first pass, ended by its reboot. firstboot:
	 * specialize and OOBE (a reboot or two), then FirstLogonCommands
	 * run firstlogon.ps1, which says done and shuts down. */
	const struct stage stages[] = {
		{.name = "setup", .install_media = true, .max_boots = 1, .timeout = p->stage_timeout},
		{.name = "firstboot", .wait_done = true, .max_boots = 6, .timeout = p->stage_timeout},
		{.name = "configure", .script = configure, .wait_done = true, .max_boots = 4, .timeout = p->stage_timeout},
		{.name = "cleanup", .script = cleanup, .wait_done = true, .max_boots = 3, .timeout = p->stage_timeout},
	};
	struct machine machine = {.profile = "windows", .memory_mib = p->memory_mib, .cpus = p->cpus, .accel = accel};
	struct build b = {
		.profile = profile_find("windows"),
		.machine = machine,
		.install_media = install_media,
		.media = media,
		.disk_size = (uint64_t)p->size_gib << 30,
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
	if (p->dry_run) {
		if ((r = build_print(&j, &b)))
			return r;
		return build_print_final(&j, &b, &f, p->name);
	}
	return build_provision(&j, &b, &f, p->name, p->force, "image build");
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		image_help();
		return argc < 2 ? EXIT_OSRUN : 0;
	}
	if (strcmp(argv[1], "build"))
		return log_error("image: unknown subcommand '%s' (expected 'build')", argv[1]), EXIT_OSRUN;
	struct image_plan p = {0};
	int r = image_parse(argc - 1, argv + 1, &p);
	if (r >= 0)
		return r;
	if (p.common.verbose)
		log_set_level(LOG_DEBUG);
	return image_execute(&p);
}
