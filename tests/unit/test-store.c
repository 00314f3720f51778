#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sys/wait.h>

#include "../../snapshots/cachevol.h"
#include "../../snapshots/layer.h"
#include "../../snapshots/memory.h"
#include "../../runner/lib/proc.h"
#include "tap.h"

static char *tmp;

static void touch(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, "x", 1) != 1)
		abort();
	close(fd);
	free(p);
}

static struct snapshot_meta meta_for(const char *parent)
{
	struct snapshot_meta m = {.parent = (char *)parent,
				  .image = "linux-0",
				  .created = "2026-11-23T00:00:00Z",
				  .made_by = "test",
				  .qemu_version = "7.2.22"};
	snprintf(m.machine.profile, sizeof m.machine.profile, "linux");
	m.machine.memory_mib = 256;
	m.machine.cpus = 1;
	return m;
}

static void test_names(void)
{
	const char *why = NULL;
	is_int(snapshot_name_check("provisioned", NULL), 0, "plain name accepted");
	is_int(snapshot_name_check("msvc-2022_v1.2+x@y", NULL), 0, "letters, digits and ._-+@ accepted");
	is_int(snapshot_name_check("a/b", &why), -EINVAL, "'/' refused");
	is_str(why, "contains '/'", "and said why");
	is_int(snapshot_name_check("..", NULL), -EINVAL, "'..' refused");
	is_int(snapshot_name_check(".hidden", NULL), -EINVAL, "leading dot refused");
	is_int(snapshot_name_check("", NULL), -EINVAL, "empty refused");
	is_int(snapshot_name_check("a\nb", &why), -EINVAL, "control character refused");
	char longname[80];
	memset(longname, 'a', sizeof longname - 1);
	longname[79] = 0;
	is_int(snapshot_name_check(longname, NULL), -EINVAL, "over 64 characters refused");
	is_int(snapshot_name_check("a b", NULL), -EINVAL, "space refused");
}

static void test_meta(void)
{
	struct snapshot_meta m = meta_for("base"), back;
	m.machine.accel = ACCEL_KVM;
	snprintf(m.machine.cpu, sizeof m.machine.cpu, "GenuineIntel 6/85 Xeon");
	char *json = NULL;
	is_int(snapshot_meta_to_json(&m, &json), 0, "meta to JSON");
	is_int(snapshot_meta_from_json(json, &back), 0, "meta from JSON");
	ok(!strcmp(back.parent, "base") && back.machine.memory_mib == 256 && back.machine.accel == ACCEL_KVM &&
		   !strcmp(back.machine.profile, "linux") && !strcmp(back.made_by, "test") &&
		   !strcmp(back.machine.cpu, "GenuineIntel 6/85 Xeon"),
	   "meta survives the round trip, the CPU model with it");
	snapshot_meta_release(&back);
	free(json);
	char cpu[300], *long_cpu = NULL;
	memset(cpu, 'x', sizeof cpu - 1);
	cpu[sizeof cpu - 1] = 0;
	ok(asprintf(&long_cpu,
		    "{\"machine\":{\"profile\":\"linux\",\"memory_mib\":256,\"cpus\":1,\"accel\":\"kvm\","
		    "\"cpu\":\"%s\"}}",
		    cpu) > 0,
	   "a meta.json with a CPU model of 299 characters");
	is_int(snapshot_meta_from_json(long_cpu, &back), -EBADMSG, "refused, not cut");
	free(long_cpu);
	is_int(snapshot_meta_from_json("{\"machine\": {}}", &back), -EBADMSG, "incomplete meta refused");
	is_int(snapshot_meta_from_json("[1", &back), -EBADMSG, "broken JSON refused");
	/* Fields that become paths into the store may not lead out of it. */
	static const char *const bad[][2] = {{"../../../etc", NULL},
					     {"linux-1/../../x", NULL},
					     {".hidden", NULL},
					     {"linux-1", "../other"},
					     {"linux-1", "a/b"}};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct snapshot_meta t = meta_for(bad[i][1]);
		t.image = (char *)bad[i][0];
		char *text = NULL;
		snapshot_meta_to_json(&t, &text);
		is_int(snapshot_meta_from_json(text, &back), -EBADMSG, "meta with image '%s', parent '%s' refused",
		       bad[i][0], bad[i][1] ? bad[i][1] : "(none)");
		free(text);
	}
}

static void test_lifecycle(void)
{
	struct store *s = NULL;
	char *root = path_join(tmp, "store");
	is_int(store_open(root, &s), 0, "store created");

	struct snapshot_new *n = NULL;
	is_int(snapshot_new_begin(s, "base", &n), 0, "begin a snapshot");
	touch(n->dir, "disk.qcow2");
	struct snapshot *sn = NULL;
	is_int(snapshot_open(s, "base", &sn), -ENOENT, "not visible before commit");
	struct snapshot_meta m = meta_for(NULL);
	is_int(snapshot_new_commit(n, &m), 0, "commit");
	snapshot_new_free(n);
	is_int(snapshot_open(s, "base", &sn), 0, "visible after commit");
	char *d = sn ? snapshot_path(sn, "disk.qcow2") : NULL;
	ok(d && file_exists(d), "parts moved with it");
	free(d);

	is_int(snapshot_new_begin(s, "base", &n), -EEXIST, "a taken name is refused");

	/* Abandoned: freeing without commit leaves nothing. */
	is_int(snapshot_new_begin(s, "gone", &n), 0, "begin another");
	char *ndir = strdup(n->dir);
	snapshot_new_free(n);
	ok(!file_exists(ndir), "uncommitted snapshot removed on free");
	free(ndir);

	is_int(snapshot_remove(s, "base", NULL), -EBUSY, "remove refused while a reader holds it");
	snapshot_free(sn);

	is_int(snapshot_new_begin(s, "child", &n), 0, "begin a child");
	m = meta_for("base");
	snapshot_new_commit(n, &m);
	snapshot_new_free(n);
	char *child = NULL;
	is_int(snapshot_remove(s, "base", &child), -ENOTEMPTY, "remove refused while a child depends on it");
	is_str(child, "child", "the child is named");
	free(child);
	is_int(snapshot_remove(s, "child", NULL), 0, "leaf removed");
	is_int(snapshot_remove(s, "base", NULL), 0, "then its parent");
	is_int(snapshot_remove(s, "base", NULL), -ENOENT, "removing twice: -ENOENT");

	/* A maker killed mid-way leaves a directory nobody holds. */
	pid_t pid = fork();
	if (pid == 0) {
		struct snapshot_new *k = NULL;
		if (snapshot_new_begin(s, "killed", &k) < 0)
			_exit(1);
		touch(k->dir, "memory");
		raise(SIGKILL);
	}
	waitpid(pid, NULL, 0);
	struct snapshot_new *live = NULL;
	snapshot_new_begin(s, "live", &live);
	/* Not yet locked by its maker: left alone while young, swept when old. */
	char *young = store_path(s, STORE_SNAPSHOTS, ".making-young.abc123", NULL),
	     *old = store_path(s, STORE_SNAPSHOTS, ".making-old.abc123", NULL);
	mkdir(young, 0755);
	mkdir(old, 0755);
	struct timeval tv[2] = {{.tv_sec = time(NULL) - 3600}, {.tv_sec = time(NULL) - 3600}};
	utimes(old, tv);
	char **removed = NULL;
	is_int(store_sweep(s, &removed), 0, "sweep");
	ok(removed && strv_length(removed) == 2, "sweep removed two leftovers");
	bool killed_gone = false, old_gone = false;
	for (char **p = removed; p && *p; p++) {
		killed_gone |= strstr(*p, ".new-killed.") != NULL;
		old_gone |= !strcmp(*p, "snapshots/.making-old.abc123");
	}
	ok(killed_gone, "the killed maker's leftover was removed");
	ok(old_gone && !file_exists(old), "an old unlocked .making- directory was removed");
	ok(file_exists(young), "a young .making- directory stays (its maker may be about to lock it)");
	ok(live && file_exists(live->dir), "a live maker's directory stays");
	rm_rf(young);
	free(young);
	free(old);
	strv_free(removed);
	snapshot_new_free(live);
	char **names = NULL;
	snapshot_list(s, &names);
	ok(names && !names[0], "store lists nothing");
	strv_free(names);
	store_free(s);
	free(root);
}

/* The layout is the store's alone: every path into it comes from here. */
static void test_layout(void)
{
	char *root = path_join(tmp, "layout"), *p;
	struct store *s = NULL;
	is_int(store_open(root, &s), 0, "store opens");
	p = store_path(s, STORE_STAGES, "base-00000000000000ff", "disk.qcow2");
	ok(p && !strcmp(p + strlen(root), "/stages/base-00000000000000ff/disk.qcow2"), "stage path: %s", p);
	free(p);
	p = store_path(s, STORE_IMAGES, NULL, NULL);
	ok(p && !strcmp(p + strlen(root), "/images"), "area path: %s", p);
	free(p);
	p = store_entry_name("build", 0xabc);
	is_str(p, "build-0000000000000abc", "entry names carry 16 hex digits");
	free(p);
	p = store_disk_backing(STORE_SNAPSHOTS, STORE_SNAPSHOTS, "base");
	is_str(p, "../base/disk.qcow2", "a snapshot's backing in the same area is a sibling");
	free(p);
	p = store_disk_backing(STORE_STAGES, STORE_IMAGES, "linux-1");
	is_str(p, "../../images/linux-1/disk.qcow2", "across areas it goes up to the root");
	free(p);
	p = store_pool_socket(root, "provisioned");
	ok(p && !strcmp(p + strlen(root), "/pools/provisioned.sock"), "pool socket: %s", p);
	free(p);
	/* Private areas are made on first use, 0700 even when they existed wider. */
	p = store_path(s, STORE_POOLS, NULL, NULL);
	struct stat st;
	ok(stat(p, &st) < 0 && errno == ENOENT, "no pools directory before one is needed");
	is_int(store_area_make(s, STORE_POOLS), 0, "pools directory made");
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700, "pools directory is 0700");
	chmod(p, 0755);
	is_int(store_area_make(s, STORE_POOLS), 0, "pools directory made again");
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700, "a wider pools directory is narrowed to 0700");
	free(p);
	store_free(s);
	free(root);
}

/* Two first runs on one store: the second waits for the first's build
 * (proc_flock_wait), Ctrl-C still heard while it waits. */
static void test_provision_lock(void)
{
	char *root = path_join(tmp, "lock");
	struct store *s = NULL;
	int a = -1, b = -1, c = -1, ready[2], cancel[2];
	bool waited = true;
	is_int(store_open(root, &s), 0, "store opens");
	is_int(store_provision_lock(s, &a), 0, "provision.lock opens");
	is_int(store_provision_lock(s, &b), 0, "and opens again, another open file");
	is_int(proc_flock_wait(a, &waited), 0, "the first takes it");
	ok(!waited, "without waiting");
	if (pipe2(cancel, O_CLOEXEC) < 0 || write(cancel[1], "x", 1) != 1)
		abort();
	cancel_fd_set(cancel[0]);
	is_int(proc_flock_wait(b, &waited), -ECANCELED, "the second, waiting, hears the cancel fd");
	cancel_fd_set(-1);
	close(cancel[0]);
	close(cancel[1]);
	close(a);
	/* A holder that lets go 300 ms after it took the lock. */
	is_int(store_provision_lock(s, &c), 0, "a third open file");
	if (pipe2(ready, O_CLOEXEC) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		if (flock(c, LOCK_EX) < 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		poll(NULL, 0, 300);
		_exit(0);
	}
	char x;
	close(c);
	ok(read(ready[0], &x, 1) == 1, "the holder has it");
	usec_t t0 = now_usec();
	is_int(proc_flock_wait(b, &waited), 0, "the second gets it once the holder exits");
	ok(waited && now_usec() - t0 >= 250 * USEC_PER_MSEC, "after waiting (%llu ms)",
	   (unsigned long long)((now_usec() - t0) / USEC_PER_MSEC));
	waitpid(pid, NULL, 0);
	int fd = -1;
	is_int(store_scratch_file(s, &fd), 0, "a scratch file on the store's filesystem");
	char **names = NULL;
	DIR *d = opendir(root);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names = strv_append(names, e->d_name);
	ok(d && !names, "it has no name in the store");
	if (d)
		closedir(d);
	strv_free(names);
	close(fd);
	close(b);
	close(ready[0]);
	close(ready[1]);
	store_free(s);
	free(root);
}

int main(void)
{
	char t[] = "/tmp/osrun-unit.XXXXXX";
	tmp = mkdtemp(t);
	test_names();
	test_meta();
	test_lifecycle();
	test_layout();
	test_provision_lock();
	rm_rf(tmp);
	return tap_done();
}
