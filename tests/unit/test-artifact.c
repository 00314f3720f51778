/* Snapshots as OCI artifacts (snapshots/artifact.c, chunk.c, ocilayout.c):
 * written into a store's blob cache, read back into another snapshot
 * byte for byte, a chunk of zeros left a hole, and a tampered blob or
 * manifest refused with nothing entering the store. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "../../snapshots/artifact.h"
#include "../../snapshots/chunk.h"
#include "tap.h"

static char *tmp;

static void put(const char *dir, const char *name, const char *data, size_t n, off_t at, mode_t mode)
{
	char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, mode);
	if (fd < 0 || pwrite_full(fd, data, n, at) < 0)
		abort();
	close(fd);
	free(p);
}

static bool same_file(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t nx = 0, ny = 0;
	bool same = read_full_file(a, &x, &nx) == 0 && read_full_file(b, &y, &ny) == 0 && nx == ny && !memcmp(x, y, nx);
	free(x);
	free(y);
	return same;
}

/* "base": made on image linux-0; its memory is a chunk of zeros, then
 * a few bytes past 64 MiB. */
static void make_snapshot(struct store *s)
{
	struct snapshot_new *img = NULL, *n = NULL;
	if (store_new_begin(s, STORE_IMAGES, "linux-0", &img) < 0)
		abort();
	put(img->dir, "vmlinuz", "kernel", 6, 0, 0400);
	put(img->dir, "disk.qcow2", "image disk", 10, 0, 0400);
	if (store_new_commit(img) < 0 || snapshot_new_begin(s, "base", &n) < 0)
		abort();
	put(n->dir, "disk.qcow2", "overlay", 7, 0, 0600);
	put(n->dir, "memory", "ram past the first chunk", 24, (off_t)CHUNK_SIZE + 4096, 0600);
	put(n->dir, "state", "device state", 12, 0, 0600);
	struct snapshot_meta m = {
		.image = "linux-0", .created = "2026-12-06T00:00:00Z", .made_by = "test", .qemu_version = "7.2.22"};
	snprintf(m.machine.profile, sizeof m.machine.profile, "linux");
	m.machine.memory_mib = 256;
	m.machine.cpus = 1;
	if (snapshot_new_commit(n, &m) < 0)
		abort();
	snapshot_new_free(img);
	snapshot_new_free(n);
}

static char *blob_path(struct oci_layout *l, const char *digest)
{
	char *p = NULL;
	if (asprintf(&p, "%s/blobs/sha256/%s", l->dir, digest + 7) < 0)
		abort();
	return p;
}

static void test_round_trip(struct store *s, struct oci_layout *l, char digest[static OCI_DIGEST_LEN + 1],
			    uint64_t *size)
{
	struct snapshot *sn = NULL;
	struct artifact *a = NULL;
	char *why = NULL, again[OCI_DIGEST_LEN + 1];
	uint64_t again_size;
	is_int(snapshot_open(s, "base", &sn), 0, "snapshot opened");
	is_int(artifact_write(s, l, sn, NULL, digest, size), 0, "artifact written");
	is_int(artifact_write(s, l, sn, NULL, again, &again_size), 0, "and again");
	is_str(again, digest, "the same snapshot makes the same manifest");
	is_int(artifact_read(l, digest, *size, &a, &why), 0, "manifest read back and checked");
	ok(a && a->has_image && !a->parent_digest, "it carries the image, and has no parent");
	/* 2 image files, disk, state, memory's second chunk; not its first. */
	is_int((int)json_object_array_length(json_object_object_get(a->manifest, "layers")), 5,
	       "5 layers: no zero chunk");
	is_int(artifact_install(s, l, a, "copy", "registry.test/x:1", &why), 0, "installed as 'copy'");
	char *d1 = store_path(s, STORE_SNAPSHOTS, "base", NULL), *d2 = store_path(s, STORE_SNAPSHOTS, "copy", NULL);
	const char *files[] = {"disk.qcow2", "memory", "state", "meta.json"};
	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		char *x = path_join(d1, files[i]), *y = path_join(d2, files[i]);
		ok(same_file(x, y), "%s byte for byte", files[i]);
		free(x);
		free(y);
	}
	struct snapshot *copy = NULL;
	char *ref = NULL, *got = NULL;
	is_int(snapshot_open(s, "copy", &copy), 0, "the copy opens");
	is_int(snapshot_origin_read(copy, &ref, &got), 0, "and says where it came from");
	is_str(got, digest, "its digest");
	is_int(snapshot_origin_read(sn, &ref, &got) == -ENOENT ? 0 : -1, 0, "one made here has no origin");
	free(ref);
	free(got);
	free(d1);
	free(d2);
	snapshot_free(copy);
	snapshot_free(sn);
	artifact_free(a);
	free(why);
}

/* One chunk's blob changed in the cache: refused, named, not stored. */
static void test_tampered_chunk(struct store *s, struct oci_layout *l, const char *digest, uint64_t size)
{
	struct artifact *a = NULL;
	char *why = NULL;
	is_int(artifact_read(l, digest, size, &a, &why), 0, "manifest read");
	json_object *layers = json_object_object_get(a->manifest, "layers");
	struct chunk c = {0};
	for (size_t i = 0; i < json_object_array_length(layers); i++)
		if (chunk_parse(json_object_array_get_idx(layers, i), &c) == 0 && !strcmp(c.file, "memory"))
			break;
	char *p = blob_path(l, c.digest), *text = NULL;
	size_t n;
	if (read_full_file(p, &text, &n) < 0)
		abort();
	text[n - 1] ^= 1;
	unlink(p);
	put(l->dir, p + strlen(l->dir) + 1, text, n, 0, 0600);
	is_int(artifact_install(s, l, a, "bad", "registry.test/x:1", &why), -EBADMSG, "a tampered chunk is refused");
	ok(why && strstr(why, c.digest) && strstr(why, "memory at offset 67108864"), "naming its blob: %s",
	   why ? why : "");
	struct snapshot *sn = NULL;
	is_int(snapshot_open(s, "bad", &sn), -ENOENT, "nothing entered the store");
	char **names = NULL;
	is_int(store_list_area(s, STORE_SNAPSHOTS, &names), 0, "listed");
	is_int((int)strv_length(names), 2, "base and copy, no leftover");
	ok(!file_exists(p), "the bad blob left the cache, for the next pull to fetch");
	strv_free(names);
	free(p);
	free(text);
	free(why);
	artifact_free(a);
}

/* A manifest whose bytes are not its digest, and one naming a file
 * outside the snapshot. */
static void test_tampered_manifest(struct oci_layout *l, const char *digest, uint64_t size)
{
	struct artifact *a = NULL;
	char *why = NULL, *p = blob_path(l, digest), *text = NULL, forged[OCI_DIGEST_LEN + 1];
	size_t n;
	if (read_full_file(p, &text, &n) < 0)
		abort();
	char *f = strstr(text, "\\\"state\\\"");
	ok(f != NULL, "the manifest names the state file");
	if (f)
		memcpy(f, "\\\"../x\\\"", 8);
	is_int(oci_blob_put(l, text, n, forged), 0, "a forged manifest stored under its own digest");
	is_int(artifact_read(l, forged, n, &a, &why), -EBADMSG, "a file named ../x is refused");
	free(why);
	why = NULL;
	text[0] = ' ';
	unlink(p);
	put(l->dir, p + strlen(l->dir) + 1, text, n, 0, 0600);
	is_int(artifact_read(l, digest, size, &a, &why), -EBADMSG, "a manifest that is not its digest is refused");
	ok(why && strstr(why, digest), "naming it: %s", why ? why : "");
	free(why);
	free(text);
	free(p);
}

/* gc of the cache (oci_layout_gc over artifact_cache_needed): a stray
 * blob goes (and the forged manifest); a pushed artifact whose snapshot is here stays whole, found
 * by its config (base's meta.json) once the pulled copy is gone; with
 * base gone too, the index entry and every blob go. */
static void test_cache_gc(struct store *s, struct oci_layout *l, const char *digest)
{
	char *p = blob_path(l, digest), again[OCI_DIGEST_LEN + 1], stray[OCI_DIGEST_LEN + 1], **keep = NULL,
	     *why = NULL;
	struct snapshot *sn = NULL;
	struct artifact *a = NULL;
	struct oci_gc g = {0};
	uint64_t size;
	size_t n = 0, all = 0;
	unlink(p); /* the tampered one */
	is_int(snapshot_open(s, "base", &sn), 0, "base opened");
	is_int(artifact_write(s, l, sn, NULL, again, &size), 0, "its artifact written again");
	sn = snapshot_free(sn);
	is_int(oci_tag_set(l, "sha256-base", again, size), 0, "and tagged as a push tags it");
	is_int(oci_blob_put(l, "stray", 5, stray), 0, "a blob nothing names");
	is_int(snapshot_remove(s, "copy", NULL), 0, "the pulled copy removed");
	is_int(oci_blob_count(l, &all), 0, "blobs counted");
	is_int(artifact_cache_needed(s, l, &keep), 0, "what the store stands for");
	ok(keep && keep[0] && !strcmp(keep[0], again) && !keep[1], "base's manifest, found by its config");
	is_int(oci_layout_gc(l, keep, &g), 0, "gc");
	/* The other: test_tampered_manifest's forgery, which nothing names. */
	ok(strv_length(g.removed) == 2 && (!strcmp(g.removed[0], stray) || !strcmp(g.removed[1], stray)),
	   "removed the stray blob and the forged manifest");
	ok(g.bytes > 0, "and counted its blocks");
	is_int(artifact_read(l, again, size, &a, &why), 0, "base's artifact is whole");
	oci_gc_release(&g);
	strv_free(keep);
	keep = NULL;
	is_int(snapshot_remove(s, "base", NULL), 0, "base removed");
	is_int(artifact_cache_needed(s, l, &keep), 0, "what the store stands for");
	ok(keep && !keep[0], "nothing");
	is_int(oci_layout_gc(l, keep, &g), 0, "gc");
	is_int((int)strv_length(g.removed), (int)all - 2, "every other blob removed");
	ok(g.dropped && g.dropped[0] && !strcmp(g.dropped[0], "sha256-base"), "and its index entry dropped");
	is_int(oci_blob_count(l, &n), 0, "blobs counted");
	is_int((int)n, 0, "none left");
	oci_gc_release(&g);
	strv_free(keep);
	artifact_free(a);
	free(why);
	free(p);
}

int main(void)
{
	char t[] = "/tmp/osrun-unit.XXXXXX";
	tmp = mkdtemp(t);
	struct store *s = NULL;
	struct oci_layout *l = NULL;
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size = 0;
	if (store_open(tmp, &s) < 0)
		abort();
	make_snapshot(s);
	is_int(oci_layout_open(s, &l), 0, "blob cache made");
	put(l->dir, "blobs/sha256/oci-put-blob123", "x", 1, 0, 0600);
	l = oci_layout_free(l);
	is_int(oci_layout_open(s, &l), 0, "and opened again");
	char *left = path_join(l->dir, "blobs/sha256/oci-put-blob123");
	ok(!file_exists(left), "a killed copy's temporary blob is swept");
	free(left);
	test_round_trip(s, l, digest, &size);
	test_tampered_chunk(s, l, digest, size);
	test_tampered_manifest(l, digest, size);
	test_cache_gc(s, l, digest);
	oci_layout_free(l);
	store_free(s);
	rm_rf(tmp);
	return tap_done();
}
