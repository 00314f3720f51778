/* The copy-out unpacker against a tar the guest wrote as it liked: the
 * input is the archive, extracted under tarball.c's rules into a scratch
 * directory beside a directory of the host's. Whatever the archive holds,
 * and whether it is refused or not: nothing lands outside the scratch
 * directory or under another name than the copied path's, nothing is
 * written through a link out of it, only files, directories and symlinks
 * are made, no setuid bit, no hard link, and the files' sizes (holes
 * included) add up to no more than the limit. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/lib/tarball.h"
#include "../../runner/lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LIMIT (UINT64_C(64) << 10)

static char root[64], scratch[96], outside[96];
static uint64_t total;

static void remove_root(void) { rm_rf(root); }

/* The names in dir, as one string: what the checks compare. */
static void list_names(const char *dir, char *buf, size_t len)
{
	DIR *d = opendir(dir);
	if (!d)
		abort();
	buf[0] = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s/", e->d_name);
	closedir(d);
}

static int check_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	if (S_ISREG(st->st_mode)) {
		if (st->st_nlink != 1)
			abort(); /* a hard link, to a file of the host's or within the copy */
		total += (uint64_t)st->st_size;
	} else if (!S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode)) {
		abort();
	}
	if (st->st_mode & 07000)
		abort();
	return 0;
}

static void setup(void)
{
	snprintf(root, sizeof root, "/tmp/osrun-fuzz-tarball.%d", (int)getpid());
	snprintf(scratch, sizeof scratch, "%s/scratch", root);
	snprintf(outside, sizeof outside, "%s/outside", root);
	rm_rf(root);
	_cleanup_free_ char *keep = path_join(outside, "keep");
	if (mkdir(root, 0700) < 0 || mkdir(outside, 0700) < 0 || !keep ||
	    write_file_atomic(keep, "host\n", 5, 0600) < 0)
		abort();
	atexit(remove_root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *why;
	if (!*root) {
		setup();
		why = fopen("/dev/null", "w");
	}
	int in = memfd_create("guest.tar", MFD_CLOEXEC);
	_cleanup_close_ int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in < 0 || here < 0 || !why || write_full(in, data, size) < 0 || lseek(in, 0, SEEK_SET) != 0 ||
	    mkdir(scratch, 0700) < 0 || chdir(scratch) < 0)
		abort();
	(void)tarball_extract(in, "art", LIMIT, why);
	if (fchdir(here) < 0)
		abort();
	close(in);

	char names[4096];
	list_names(root, names, sizeof names);
	if (strcmp(names, "scratch/outside/") && strcmp(names, "outside/scratch/"))
		abort();
	list_names(outside, names, sizeof names);
	_cleanup_free_ char *keep = path_join(outside, "keep");
	_cleanup_close_ int k = keep ? open(keep, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (strcmp(names, "keep/") || k < 0 || read(k, names, sizeof names) != 5 || memcmp(names, "host\n", 5))
		abort();
	list_names(scratch, names, sizeof names);
	if (*names && strcmp(names, "art/"))
		abort();
	total = 0;
	if (nftw(scratch, check_one, 16, FTW_PHYS) < 0 || total > LIMIT)
		abort();
	if (rm_rf(scratch) < 0)
		abort();
	return 0;
}
