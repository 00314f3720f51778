/* The run's SMB server against a real smbd: the test plays QEMU's side of
 * the guestfwd socket and speaks SMB2 NEGOTIATE, as the guest's client does
 * first on every connection. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../../runner/lib/proc.h"
#include "../../runner/lib/smb.h"
#include "tap.h"

/* NetBIOS header + SMB2 header (MS-SMB2 2.2.1) + NEGOTIATE request
 * (2.2.3) offering 2.0.2 and 2.1, as Linux's cifs with vers=2.1 does not
 * quite, but smbd answers either way. */
static size_t negotiate(uint8_t *b, uint64_t message_id)
{
	memset(b, 0, 4 + 64 + 40);
	size_t n = 64 + 40;
	b[1] = 0, b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
	uint8_t *h = b + 4;
	memcpy(h, "\xfeSMB", 4);
	h[4] = 64; /* StructureSize */
	h[14] = 1; /* CreditRequest */
	memcpy(h + 24, &message_id, 8);
	uint8_t *q = h + 64;
	q[0] = 36;   /* StructureSize */
	q[2] = 2;    /* DialectCount */
	q[4] = 1;    /* SecurityMode: signing enabled */
	q[12] = 'o'; /* ClientGuid */
	q[36] = 0x02, q[37] = 0x02;
	q[38] = 0x10, q[39] = 0x02;
	return 4 + n;
}

/* Reads one NetBIOS-framed message within 10 s; its length or -1. */
static ssize_t read_message(int fd, uint8_t *buf, size_t size)
{
	size_t have = 0, want = 4;
	while (have < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0)
			return -1;
		ssize_t k = read(fd, buf + have, want - have);
		if (k <= 0)
			return -1;
		have += (size_t)k;
		if (have == 4 && want == 4) {
			want = 4 + ((size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3]);
			if (want > size)
				return -1;
		}
	}
	return (ssize_t)have;
}

static bool is_negotiate_ok(const uint8_t *m, ssize_t n)
{
	uint32_t status;
	if (n < 4 + 64 + 8 || memcmp(m + 4, "\xfeSMB", 4))
		return false;
	memcpy(&status, m + 4 + 8, 4);
	return status == 0 && m[4 + 12] == 0 && (m[4 + 16] & 1); /* NEGOTIATE, a response */
}

/* smbd's pid: our child whose name is smbd. */
static pid_t find_smbd(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (d && (e = readdir(d)) && !found) {
		char path[300], *text = NULL;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if (read_full_file(path, &text, NULL) < 0)
			continue;
		char *rp = strrchr(text, ')');
		int ppid = 0;
		if (strstr(text, "(smbd)") && rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			found = atoi(e->d_name);
		free(text);
	}
	if (d)
		closedir(d);
	return found;
}

static double cpu_seconds(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* An smbd that fills the guest's direction while the guest reads nothing,
 * then ends (with the guest's request unread: a reset; without: a plain
 * close). The relay must notice, without spinning, and start another. */
static void test_smbd_ends_while_guest_full(const char *tmp, bool guest_sent)
{
	char fake[512];
	snprintf(fake, sizeof fake, "%s/fake-smbd", tmp);
	/* $2 is the directory smb.c gives smbd (-l): the next smbd waits. */
	const char *text = "#!/bin/sh\n"
			   "[ -e \"$2/filled\" ] && exec cat >/dev/null\n"
			   ": >\"$2/filled\"\n"
			   "timeout 2 head -c 8000000 /dev/zero\n";
	is_int(write_file_atomic(fake, text, strlen(text), 0755), 0, "a fake smbd");
	setenv("OSRUN_SMBD", fake, 1);
	struct smb_share sh = {.name = "qemu", .path = tmp};
	struct smb *s = NULL;
	is_int(smb_new(tmp, &sh, 1, &s), 0, "relay started");
	uint8_t req[256];
	if (guest_sent)
		is_int(write_full(smb_qemu_fd(s), req, negotiate(req, 0)), 0, "a request smbd will not read");
	/* The fake has ended after 2 s at most; then the relay has a second. */
	for (int i = 0; i < 40 && smb_ended(s) == 0; i++)
		usleep(100 * 1000);
	is_int((int)smb_ended(s), 1, "the relay noticed smbd's end (%s)", guest_sent ? "reset" : "closed");
	double before = cpu_seconds();
	usleep(1000 * 1000);
	double used = cpu_seconds() - before;
	ok(used < 0.2, "and does not spin: %.2f s of CPU in 1 s", used);
	is_int(smb_error(s), 0, "another smbd took over");
	smb_free(s);
	unsetenv("OSRUN_SMBD");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	char t[] = "/tmp/osrun-unit.XXXXXX";
	char *tmp = mkdtemp(t);
	char *share = path_join(tmp, "share");
	mkdir(share, 0700);
	struct smb *s = NULL;

	struct smb_share bad = {.name = "a]b", .path = share};
	is_int(smb_new(tmp, &bad, 1, &s), -EINVAL, "a share name smb.conf cannot hold is refused");
	struct smb_share badpath = {.name = "qemu", .path = "/tmp/x\n[global]"};
	is_int(smb_new(tmp, &badpath, 1, &s), -EINVAL, "a path with a line break is refused");

	/* smbd expands macros in a path: %U is the user name the guest chose. */
	char *pct = path_join(tmp, "v%Uw");
	mkdir(pct, 0700);
	struct smb_share macro = {.name = "v0", .path = pct};
	is_int(smb_new(tmp, &macro, 1, &s), -EINVAL, "a path with '%%' is refused");
	rmdir(pct);
	free(pct);

	struct smb_share sh = {.name = "qemu", .path = share};
	is_int(smb_new(tmp, &sh, 1, &s), 0, "smbd started");
	/* Samba's own parser reads osrun's smb.conf without a complaint. */
	char cmd[512];
	snprintf(cmd, sizeof cmd, "testparm -s %s/smb.*/smb.conf 2>&1", tmp);
	FILE *tp = popen(cmd, "r");
	char line[512];
	bool complaint = false, seen = false;
	/* testparm -s prints what differs from Samba's defaults. */
	while (tp && fgets(line, sizeof line, tp)) {
		if (strstr(line, "Unknown parameter") || strstr(line, "Ignoring")) {
			complaint = true;
			printf("# testparm: %s", line);
		}
		seen |= strstr(line, "disable netbios = Yes") != NULL;
	}
	ok(tp && pclose(tp) == 0 && !complaint && seen, "testparm accepts smb.conf as osrun wrote it");
	int q = smb_qemu_fd(s);
	uint8_t req[256], resp[1 << 16];
	size_t n = negotiate(req, 0);
	is_int(write_full(q, req, n), 0, "NEGOTIATE sent");
	ssize_t k = read_message(q, resp, sizeof resp);
	ok(is_negotiate_ok(resp, k), "smbd answers NEGOTIATE through the relay");
	ok(k > 4 + 64 + 6 && resp[4 + 64 + 4] == 0x10 && resp[4 + 64 + 5] == 0x02, "dialect 2.1 chosen");

	/* A message cut by smbd's end: the rest of it is dropped, and the next
	 * smbd gets the following one whole. */
	pid_t first = find_smbd();
	ok(first > 0, "smbd is our child");
	n = negotiate(req, 1);
	is_int(write_full(q, req, 20), 0, "first 20 bytes of a message");
	usleep(200 * 1000);
	kill(first, SIGKILL);
	usleep(300 * 1000);
	is_int(write_full(q, req + 20, n - 20), 0, "the rest, after smbd died");
	n = negotiate(req, 0);
	is_int(write_full(q, req, n), 0, "a new connection's NEGOTIATE");
	k = read_message(q, resp, sizeof resp);
	ok(is_negotiate_ok(resp, k), "a new smbd answers it");
	pid_t second = find_smbd();
	ok(second > 0 && second != first, "and it is a new process");
	is_int(smb_error(s), 0, "the relay still serves");

	/* smbd that keeps dying: the relay gives up and QEMU's side ends. */
	for (int i = 0; i < 8 && smb_error(s) == 0; i++) {
		pid_t p = find_smbd();
		if (p > 0)
			kill(p, SIGKILL);
		usleep(100 * 1000);
		(void)!write(q, req, n);
		usleep(100 * 1000);
	}
	ok(smb_error(s) < 0, "gives up after smbd died too often");
	s = smb_free(s);
	usleep(100 * 1000);
	is_int(find_smbd(), 0, "no smbd left after smb_free");

	test_smbd_ends_while_guest_full(tmp, true);
	/* A plain close waits behind the unsent bytes: only smbd's pidfd
	 * tells, which valgrind 3.19 does not have. */
	int self = proc_pidfd(getpid());
	if (self == -ENOSYS) {
		for (int i = 0; i < 5; i++)
			skip("no pidfd_open here (valgrind 3.19)");
	} else {
		safe_close(self);
		test_smbd_ends_while_guest_full(tmp, false);
	}
	rm_rf(tmp);
	free(share);
	return tap_done();
}
