/* Disks' backing chains (snapshots/backing.c, runner/lib/qcow2.c): a chain
 * as osrun makes it passes; a disk that names anything else as its backing
 * file (a path outside the store, QEMU's json: syntax, another snapshot
 * than its parent), keeps its data in an external file, is a link, or is
 * no qcow2, is refused, and the entry named. Disks made by qemu-img. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../runner/lib/qcow2.h"
#include "../../snapshots/backing.h"
#include "tap.h"
#include "tool.h"

static char *root;

static char *dir_of(const char *area, const char *entry)
{
	char *d;
	if (asprintf(&d, "%s/%s/%s", root, area, entry) < 0 || mkdir(d, 0700) < 0)
		abort();
	return d;
}

/* A qcow2 disk in dir, over backing (NULL: none), with qemu-img's own
 * options o (NULL: none). */
static void disk(const char *dir, const char *backing, const char *o)
{
	char *argv[16] = {"qemu-img", "create", "-q", "-f", "qcow2"};
	size_t n = 5;
	if (backing) {
		argv[n++] = "-u";
		argv[n++] = "-F";
		argv[n++] = "qcow2";
		argv[n++] = "-b";
		argv[n++] = (char *)backing;
	}
	if (o) {
		argv[n++] = "-o";
		argv[n++] = (char *)o;
	}
	argv[n++] = "disk.qcow2";
	argv[n++] = "64M";
	unlink("disk.qcow2");
	if (tool_run(argv, dir) != 0)
		abort();
}

static void rebase(const char *dir, const char *backing)
{
	if (tool_run((char *const[]){"qemu-img", "rebase", "-u", "-F", "qcow2", "-b", (char *)backing, "disk.qcow2",
				     NULL},
		     dir) != 0)
		abort();
}

static void meta(const char *dir, const char *parent)
{
	struct snapshot_meta m = {.parent = (char *)parent, .image = "linux-0", .created = "x", .made_by = "test"};
	snprintf(m.machine.profile, sizeof m.machine.profile, "linux");
	m.machine.memory_mib = 256;
	m.machine.cpus = 1;
	_cleanup_free_ char *json = NULL, *path = path_join(dir, "meta.json");
	if (snapshot_meta_to_json(&m, &json) < 0 || write_file_atomic(path, json, strlen(json), 0600) < 0)
		abort();
}

static int check(struct store *s, const char *name, char **bad)
{
	struct snapshot *sn;
	free(*bad);
	*bad = NULL;
	if (snapshot_open(s, name, &sn) < 0)
		abort();
	int r = snapshot_backing_check(s, sn, bad);
	snapshot_free(sn);
	return r;
}

int main(void)
{
	char t[] = "/tmp/osrun-unit-backing.XXXXXX";
	char *tmp = mkdtemp(t);
	root = path_join(tmp, "store");
	struct store *s;
	if (!tmp || store_open(root, &s) < 0)
		abort();
	_cleanup_free_ char *img = dir_of("images", "linux-0"), *base = dir_of("snapshots", "base"),
			    *top = dir_of("snapshots", "top"), *out = path_join(tmp, "outside"),
			    *outside = path_join(tmp, "outside/disk.qcow2"), *bad = NULL;
	if (mkdir(out, 0700) < 0)
		abort();
	disk(img, NULL, NULL);
	disk(out, NULL, NULL);
	disk(base, "../../images/linux-0/disk.qcow2", NULL);
	meta(base, NULL);
	disk(top, "../base/disk.qcow2", NULL);
	meta(top, "base");

	is_int(check(s, "top", &bad), 0, "a chain as osrun makes it passes");
	is_int(check(s, "base", &bad), 0, "and its first layer alone");
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int fd = open(outside, O_RDONLY | O_CLOEXEC);
	is_int(qcow2_backing(fd, &name), 0, "a disk without a backing file is read");
	ok(!name, "as having none");

	rebase(top, outside);
	is_int(check(s, "top", &bad), -EBADMSG, "a layer naming a disk outside the store is refused");
	is_str(bad, "snapshots/top", "and named");
	rebase(top, "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"/tmp/x\"}}");
	is_int(check(s, "top", &bad), -EBADMSG, "so is a json: backing description");
	rebase(top, "../base/../../../outside/disk.qcow2");
	is_int(check(s, "top", &bad), -EBADMSG, "and a path that leaves the store through the parent's");
	rebase(top, "../../images/linux-0/disk.qcow2");
	is_int(check(s, "top", &bad), -EBADMSG, "and the image's disk, skipping the parent");
	rebase(top, "../base/disk.qcow2");
	is_int(check(s, "top", &bad), 0, "mended, it passes again");

	rebase(base, outside);
	is_int(check(s, "top", &bad), -EBADMSG, "a parent naming a disk outside the store is refused");
	is_str(bad, "snapshots/base", "and the parent named");
	rebase(base, "../../images/linux-0/disk.qcow2");

	disk(img, outside, NULL);
	is_int(check(s, "top", &bad), -EBADMSG, "an image disk with a backing file is refused");
	is_str(bad, "images/linux-0", "and the image named");
	free(bad);
	bad = NULL;
	is_int(image_backing_check(s, "linux-0", &bad), -EBADMSG, "also when an image is checked alone");
	disk(img, NULL, NULL);
	is_int(image_backing_check(s, "linux-0", &bad), 0, "which passes without one");

	_cleanup_free_ char *data = path_join(tmp, "outside/data.raw"), *opt = NULL;
	if (asprintf(&opt, "data_file=%s", data) < 0)
		abort();
	disk(img, NULL, opt);
	is_int(check(s, "top", &bad), -EBADMSG, "an image disk keeping its data in an external file is refused");
	disk(img, NULL, NULL);

	_cleanup_free_ char *top_disk = path_join(top, "disk.qcow2");
	unlink(top_disk);
	if (symlink(outside, top_disk) < 0)
		abort();
	is_int(check(s, "top", &bad), -ELOOP, "a disk that is a link is refused");
	unlink(top_disk);
	int w = open(top_disk, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (w < 0 || write(w, "not a disk", 10) != 10)
		abort();
	close(w);
	is_int(check(s, "top", &bad), -EBADMSG, "and a file that is no qcow2");

	disk(top, "../base/disk.qcow2", NULL);
	meta(base, "top"); /* parents in a circle, each disk over the other */
	rebase(base, "../top/disk.qcow2");
	is_int(check(s, "top", &bad), -ELOOP, "parents in a circle end");

	store_free(s);
	free(root);
	rm_rf(tmp);
	return tap_done();
}
