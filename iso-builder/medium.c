#define _GNU_SOURCE
#include "medium.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "iso.h"
#include "unattend.h"

/* Copied onto the medium (osrun\): run by FirstLogonCommands and at every
 * boot, and by each osrun run (osrun-guest.exe, built by make). */
static const char *const medium_scripts[] = {"firstlogon.ps1", "stage-runner.ps1", "osrun-guest.exe", NULL};
/* virtio-win folders whose drivers Setup loads: disk, network, agent port. */
static const char *const driver_dirs[] = {"viostor", "NetKVM", "vioserial"};
#define AGENT_MSI "guest-agent/qemu-ga-x86_64.msi"

static int check_iso(const char *opt, const char *path, const char *what, struct error *e)
{
	int r = iso_check(path);
	if (r == -EMEDIUMTYPE)
		return error_set(e, r, "%s %s: not an ISO 9660 image (expected %s)", opt, path, what);
	if (r < 0)
		return error_errno(e, r, "%s %s", opt, path);
	return 0;
}

int medium_check_isos(const struct medium_inputs *in, struct error *e)
{
	int r = check_iso("--iso", in->iso, "a Windows install ISO", e);
	return r < 0 ? r : check_iso("--virtio-win", in->virtio, "the virtio-win ISO", e);
}

/* -ENOENT (e untouched) when the ISO has no such path. */
static int extract(const char *opt, const char *iso, const char *inner, const char *dest, struct error *e)
{
	_cleanup_free_ char *msg = NULL;
	int r = iso_extract(iso, inner, dest, &msg);
	if (r < 0 && r != -ENOENT)
		return error_set(e, r, "%s %s: reading %s failed: %s", opt, iso, inner, msg ? msg : strerror(-r));
	return r;
}

/* The editions as lines after a message. */
_printf_(3, 4) static int editions_error(struct error *e, const struct edition_list *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	size_t n = k < 0 ? 0 : (size_t)k;
	for (size_t i = 0; i < l->n && n < sizeof e->msg; i++) {
		const struct edition *ed = &l->v[i];
		n += (size_t)snprintf(e->msg + n, sizeof e->msg - n, "\n  %u: %s%s%s%s", ed->index, ed->name,
				      ed->edition_id ? " (" : "", ed->edition_id ? ed->edition_id : "",
				      ed->edition_id ? ")" : "");
	}
	e->code = -ENOENT;
	return -ENOENT;
}

int medium_read_editions(const char *opt, const char *iso, const char *work, struct edition_list *l, struct error *e)
{
	static const char *const candidates[] = {"/sources/install.wim", "/sources/install.esd"};
	_cleanup_free_ char *wim = NULL;
	int r = -ENOENT;
	for (size_t i = 0; r == -ENOENT && i < ELEMENTSOF(candidates); i++) {
		free(wim);
		if (!(wim = path_join(work, strrchr(candidates[i], '/') + 1)))
			return error_errno(e, -ENOMEM, "paths");
		r = extract(opt, iso, candidates[i], wim, e);
	}
	if (r == -ENOENT)
		return error_set(e, r,
				 "%s %s: no sources/install.wim or install.esd in ISO (expected a Windows install ISO)",
				 opt, iso);
	if (r < 0) {
		unlink(wim);
		return r;
	}
	r = wim_read_editions(wim, l);
	unlink(wim); /* gigabytes; only its XML was needed */
	if (r == -EMEDIUMTYPE)
		return error_set(e, r, "%s %s: %s is not a WIM/ESD image wimlib can read", opt, iso,
				 strrchr(wim, '/') + 1);
	if (r < 0)
		return error_errno(e, r, "%s %s: reading the install image", opt, iso);
	return 0;
}

int medium_pick_edition(const struct medium_inputs *in, const char *work, struct edition_list *l,
			const struct edition **ret, struct error *e)
{
	int r = medium_read_editions("--iso", in->iso, work, l, e);
	if (r < 0)
		return r;
	int picked = edition_pick(l, in->edition, ret);
	if (picked == -ENOENT && in->edition)
		return editions_error(e, l, "--edition '%s': not in %s; it has:", in->edition, in->iso);
	if (picked == -ENOTUNIQ && in->edition)
		return editions_error(
			e, l, "--edition '%s': several images of %s have it; name one by index:", in->edition, in->iso);
	if (picked < 0)
		return editions_error(e, l, "--iso %s: %s; name one with --edition:", in->iso,
				      l->n ? "no Pro or Server Standard edition to default to"
					   : "the install image has no editions");
	const struct edition *ed = *ret;
	if (!edition_virtio_dir(ed))
		return error_set(e, -EINVAL, "--iso %s: edition %u has no Windows build number in its XML", in->iso,
				 ed->index);
	const char *arch = edition_arch_name(ed);
	if (arch && strcmp(arch, "x64"))
		return error_set(e, -EINVAL, "--iso %s: edition %u is for %s (WINDOWS/ARCH %s); osrun runs x64 guests",
				 in->iso, ed->index, arch, ed->arch);
	if (ed->language && !edition_language_valid(ed->language))
		return error_set(e, -EINVAL, "--iso %s: edition %u's language '%.40s' is not a language tag", in->iso,
				 ed->index, ed->language);
	/* Without a key, Setup stops at its product key page, where nobody
	 * answers; evaluation media ask for none. */
	if (!in->product_key && !edition_generic_key(ed) && !edition_is_evaluation(ed))
		return error_set(
			e, -ENOKEY,
			"--iso %s: osrun knows no key that selects edition %u (%s) for Setup, which would stop "
			"at its product key page: give one with --product-key",
			in->iso, ed->index, ed->edition_id ? ed->edition_id : ed->name);
	return picked;
}

/* The drivers this Windows needs and the agent MSI, out of virtio-win. */
static int copy_virtio(const struct medium_inputs *in, const struct edition *ed, const char *medium, struct error *e)
{
	const char *ver = edition_virtio_dir(ed);
	int r;
	for (size_t i = 0; i < ELEMENTSOF(driver_dirs); i++) {
		_cleanup_free_ char *inner = NULL, *dest = NULL;
		if (asprintf(&inner, "/%s/%s/amd64", driver_dirs[i], ver) < 0 ||
		    asprintf(&dest, "%s/$WinPEDriver$/%s", medium, driver_dirs[i]) < 0)
			return error_errno(e, -ENOMEM, "paths");
		r = extract("--virtio-win", in->virtio, inner, dest, e);
		if (r == -ENOENT)
			return error_set(e, r,
					 "--virtio-win %s: no %s (expected the virtio-win ISO with drivers for %s)",
					 in->virtio, inner + 1, ver);
		if (r < 0)
			return r;
	}
	_cleanup_free_ char *msi = NULL;
	if (asprintf(&msi, "%s/osrun/qemu-ga-x86_64.msi", medium) < 0)
		return error_errno(e, -ENOMEM, "paths");
	r = extract("--virtio-win", in->virtio, "/" AGENT_MSI, msi, e);
	if (r == -ENOENT)
		return error_set(e, r, "--virtio-win %s: no %s (expected the virtio-win ISO)", in->virtio, AGENT_MSI);
	return r;
}

void medium_password(const unsigned char raw[MEDIUM_PASSWORD_LEN], char pw[MEDIUM_PASSWORD_LEN + 1])
{
	/* No look-alikes (l, 1, I, O, 0); symbols that need no escaping in
	 * XML, cmd or PowerShell strings. */
	static const char *const classes[] = {"abcdefghijkmnpqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789",
					      "-_.+"};
	static const char all[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_.+";
	for (size_t i = 0; i < MEDIUM_PASSWORD_LEN; i++)
		pw[i] = all[raw[i] % (sizeof all - 1)];
	/* Every class at least once, at a place the random bytes choose:
	 * Windows' complexity policy (Server's default) wants three of four. */
	for (size_t c = 0; c < ELEMENTSOF(classes); c++) {
		size_t at = c * 5 + raw[(c + 11) % MEDIUM_PASSWORD_LEN] % 5; /* one place in each fifth */
		pw[at] = classes[c][raw[(c + 7) % MEDIUM_PASSWORD_LEN] % strlen(classes[c])];
	}
	pw[MEDIUM_PASSWORD_LEN] = 0;
}

/* The administrator password: given, else the one this store made before
 * (so the answer file, and the stages' keys, stay the same), else new. */
static int admin_password(struct store *s, const struct medium_inputs *in, char **ret, struct error *e)
{
	if (in->password)
		return (*ret = strdup(in->password)) ? 0 : error_errno(e, -ENOMEM, "password");
	_cleanup_free_ char *path = store_path(s, STORE_SECRETS, "admin-password", NULL);
	if (!path)
		return error_errno(e, -ENOMEM, "paths");
	if (read_full_file(path, ret, NULL) == 0 && **ret)
		return 0;
	unsigned char raw[MEDIUM_PASSWORD_LEN];
	_cleanup_close_ int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read_retry(fd, raw, sizeof raw) != sizeof raw)
		return error_errno(e, -EIO, "/dev/urandom");
	char pw[MEDIUM_PASSWORD_LEN + 1];
	medium_password(raw, pw);
	int r = store_area_make(s, STORE_SECRETS);
	if (r == 0)
		r = write_file_atomic(path, pw, strlen(pw), 0600);
	if (r < 0)
		return error_errno(e, r, "%s", path);
	return (*ret = strdup(pw)) ? 0 : error_errno(e, -ENOMEM, "password");
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

static int write_medium(struct store *s, const struct medium_inputs *in, const struct edition *ed, const char *medium,
			struct error *e)
{
	_cleanup_free_ char *pw = NULL, *xml = NULL, *osrun_dir = path_join(medium, "osrun");
	int r = admin_password(s, in, &pw, e);
	if (r < 0)
		return r;
	struct unattend u = {
		.image_index = ed->index,
		/* The profile boots SeaBIOS: a raw UEFI VARS pflash would block
		 * snapshots, so the disk is MBR. */
		.uefi = false,
		.product_key = in->product_key ? in->product_key : edition_generic_key(ed),
		.user = MEDIUM_ADMIN_USER,
		.password = pw,
		/* Setup's language must be one the image has. */
		.locale = ed->language ? ed->language : "en-US",
		.marker = "osrun\\osrun.tag",
		.first_logon = "osrun\\firstlogon.ps1",
	};
	size_t len;
	if (!osrun_dir || (r = unattend_render(&u, &xml, &len)) < 0)
		return error_errno(e, r < 0 ? r : -ENOMEM, "writing autounattend.xml");
	_cleanup_free_ char *ua = path_join(medium, "autounattend.xml"), *tag = path_join(osrun_dir, "osrun.tag");
	if (!ua || !tag)
		return error_errno(e, -ENOMEM, "paths");
	if ((r = mkdir_p(osrun_dir, 0700)) < 0 || (r = write_file_atomic(ua, xml, len, 0600)) < 0 ||
	    (r = write_file_atomic(tag, "osrun setup medium\r\n", 20, 0644)) < 0)
		return error_errno(e, r, "%s", medium);
	for (const char *const *f = medium_scripts; *f; f++) {
		_cleanup_free_ char *from = path_join(in->guest_init, *f), *to = path_join(osrun_dir, *f);
		if (!from || !to)
			return error_errno(e, -ENOMEM, "paths");
		if ((r = copy_file_sparse(from, to, 0644)) < 0)
			return error_errno(e, r, "guest-init %s%s", from, r == -ENOENT ? " (make builds it)" : "");
	}
	return copy_virtio(in, ed, medium, e);
}

/* The medium as an ISO in the store, keyed by its content. */
static int store_medium(struct store *s, const char *medium, uint64_t key, char **ret, struct error *e)
{
	_cleanup_free_ char *entry = store_entry_name("media", key),
			    *iso = entry ? store_path(s, STORE_STAGES, entry, "setup.iso") : NULL;
	if (!iso)
		return error_errno(e, -ENOMEM, "paths");
	_cleanup_(snapshot_new_freep) struct snapshot_new *n = NULL;
	int r = file_exists(iso) ? -EEXIST : store_new_begin(s, STORE_STAGES, entry, &n);
	if (r < 0 && r != -EEXIST)
		return error_errno(e, r, "setup medium");
	if (r == 0) {
		_cleanup_free_ char *out = snapshot_new_path(n, "setup.iso"), *msg = NULL;
		if (!out)
			return error_errno(e, -ENOMEM, "paths");
		if ((r = iso_make(medium, "OSRUN_SETUP", out, &msg)) < 0)
			return error_set(e, r, "setup medium: xorriso failed: %s", msg ? msg : strerror(-r));
		/* It holds the administrator password. */
		chmod(out, 0600);
		chmod(n->dir, 0700);
		r = store_new_commit(n);
		if (r < 0 && r != -EEXIST)
			return error_errno(e, r, "setup medium");
	}
	*ret = TAKE_PTR(iso);
	return 0;
}

int medium_make(struct store *s, const struct medium_inputs *in, const struct edition *ed, const char *work,
		char **ret_iso, uint64_t *ret_seed, struct error *e)
{
	_cleanup_free_ char *medium = path_join(work, "medium"), *vol = NULL;
	if (!medium)
		return error_errno(e, -ENOMEM, "paths");
	int r = write_medium(s, in, ed, medium, e);
	if (r < 0)
		return r;
	/* Everything the stages depend on besides their own scripts. */
	uint64_t seed = FNV1A64_INIT, gib = in->size_gib;
	struct stat st;
	if (stat(in->iso, &st) < 0 || (r = iso_volume_id(in->iso, &vol)) < 0)
		return error_errno(e, r < 0 ? r : -errno, "--iso %s", in->iso);
	seed = fnv1a64(seed, vol, strlen(vol) + 1);
	seed = fnv1a64(seed, &st.st_size, sizeof st.st_size);
	seed = fnv1a64(seed, ed->name, strlen(ed->name) + 1);
	seed = fnv1a64(seed, &ed->build, sizeof ed->build);
	if ((r = hash_tree(&seed, medium)) < 0)
		return error_errno(e, r, "hashing the setup medium");
	seed = fnv1a64(seed, &gib, sizeof gib);
	if ((r = store_medium(s, medium, seed, ret_iso, e)) < 0)
		return r;
	rm_rf(medium);
	*ret_seed = seed;
	return 0;
}
