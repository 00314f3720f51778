/* The loopback guard QEMU preloads under --network internet: its connect(),
 * sendto() and sendmsg() are this program's, so real sockets show what
 * libslirp's would meet. And osrun's side: the environment it gives QEMU
 * and the report it waits for. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../runner/lib/netguard.h"
#include "../../runner/netguard/netguard.c"
#include "tap.h"

/* A listener on addr:0 (port filled in), or -1 when the host has no such
 * address (no IPv6). */
static int listener(int family, int type, struct sockaddr_storage *addr, socklen_t len)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, len) < 0 || (type == SOCK_STREAM && listen(fd, 4) < 0) ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void v4(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof *ss);
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &in->sin_addr);
}

static void v6(struct sockaddr_storage *ss, const char *ip, int port)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &in6->sin6_addr);
}

static int port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* connect() from a fresh socket of family to ip:port; the errno, 0 on success. */
static int try_connect(int family, const char *ip, int port)
{
	struct sockaddr_storage to;
	family == AF_INET ? v4(&to, ip, port) : v6(&to, ip, port);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = connect(fd, (struct sockaddr *)&to,
			family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	int err = r < 0 ? errno : 0;
	close(fd);
	return err;
}

static bool nothing_pending(int listen_fd)
{
	int c = accept(listen_fd, NULL, NULL);
	if (c >= 0)
		close(c);
	return c < 0 && errno == EAGAIN;
}

static void test_tcp(void)
{
	struct sockaddr_storage a;
	v4(&a, "127.0.0.1", 0);
	int l = listener(AF_INET, SOCK_STREAM, &a, sizeof(struct sockaddr_in));
	ok(l >= 0, "a TCP listener on 127.0.0.1");
	int port = port_of(&a);
	is_int(try_connect(AF_INET, "127.0.0.1", port), ECONNREFUSED, "connect to 127.0.0.1 refused");
	is_int(try_connect(AF_INET, "127.9.9.9", port), ECONNREFUSED, "anywhere in 127/8 refused");
	is_int(try_connect(AF_INET, "0.0.0.0", port), ECONNREFUSED, "0.0.0.0 (Linux: the local host) refused");
	int dual = try_connect(AF_INET6, "::ffff:127.0.0.1", port);
	ok(dual == ECONNREFUSED || dual == EAFNOSUPPORT, "v4-mapped 127.0.0.1 refused (%s)", strerror(dual));
	ok(nothing_pending(l), "the listener saw no connection");
	close(l);

	v6(&a, "::1", 0);
	l = listener(AF_INET6, SOCK_STREAM, &a, sizeof(struct sockaddr_in6));
	if (l >= 0) {
		is_int(try_connect(AF_INET6, "::1", port_of(&a)), ECONNREFUSED, "connect to ::1 refused");
		is_int(try_connect(AF_INET6, "::", port_of(&a)), ECONNREFUSED, ":: refused");
		ok(nothing_pending(l), "the IPv6 listener saw no connection");
		close(l);
	} else {
		skip("no IPv6 loopback here");
	}
}

static void test_udp(void)
{
	struct sockaddr_storage a;
	v4(&a, "127.0.0.1", 0);
	int rx = listener(AF_INET, SOCK_DGRAM, &a, sizeof(struct sockaddr_in));
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok(rx >= 0 && tx >= 0, "UDP sockets");
	errno = 0;
	ok(sendto(tx, "x", 1, 0, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) < 0 && errno == ECONNREFUSED,
	   "sendto 127.0.0.1 refused");
	struct iovec iov = {.iov_base = "y", .iov_len = 1};
	struct msghdr m = {.msg_name = &a, .msg_namelen = sizeof(struct sockaddr_in), .msg_iov = &iov, .msg_iovlen = 1};
	errno = 0;
	ok(sendmsg(tx, &m, 0) < 0 && errno == ECONNREFUSED, "sendmsg to 127.0.0.1 refused");
	char buf[4];
	ok(recv(rx, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN, "nothing arrived");

	/* DNS stays open: libslirp forwards 10.0.2.3 to resolv.conf's first
	 * nameserver, on the loopback under systemd-resolved and Docker. */
	struct sockaddr_storage dns;
	v4(&dns, "127.0.0.53", 53);
	ok(sendto(tx, "q", 1, 0, (struct sockaddr *)&dns, sizeof(struct sockaddr_in)) == 1,
	   "sendto a loopback resolver's port 53 passes");
	iov.iov_base = "z";
	m.msg_name = &dns;
	ok(sendmsg(tx, &m, 0) == 1, "and sendmsg");
	/* Nothing else on port 53 of the loopback. */
	v4(&dns, "127.0.0.1", 53);
	errno = 0;
	ok(sendto(tx, "q", 1, 0, (struct sockaddr *)&dns, sizeof(struct sockaddr_in)) < 0 && errno == ECONNREFUSED,
	   "sendto 127.0.0.1:53, which resolv.conf does not name, refused");
	m.msg_name = &dns;
	errno = 0;
	ok(sendmsg(tx, &m, 0) < 0 && errno == ECONNREFUSED, "and sendmsg");
	v4(&dns, "0.0.0.0", 53);
	errno = 0;
	ok(sendto(tx, "q", 1, 0, (struct sockaddr *)&dns, sizeof(struct sockaddr_in)) < 0 && errno == ECONNREFUSED,
	   "sendto 0.0.0.0:53 refused");
	v4(&dns, "127.0.0.53", 5353);
	errno = 0;
	ok(sendto(tx, "q", 1, 0, (struct sockaddr *)&dns, sizeof(struct sockaddr_in)) < 0 && errno == ECONNREFUSED,
	   "the resolver's address on another port refused");
	/* An address off the loopback goes to the kernel (a UDP connect sends
	 * nothing; without a route it fails the kernel's way). */
	struct sockaddr_storage out;
	v4(&out, "192.0.2.1", 9);
	int r = connect(tx, (struct sockaddr *)&out, sizeof(struct sockaddr_in));
	ok(r == 0 || errno != ECONNREFUSED, "192.0.2.1 passes to the kernel");
	close(tx);
	close(rx);
}

/* A TCP service on port 53 of the loopback that is no resolver: the
 * audit's banner came from one on 127.0.0.1. Binding port 53 needs root
 * (or CAP_NET_BIND_SERVICE). */
static void test_tcp_dns(void)
{
	struct sockaddr_storage a;
	v4(&a, "127.0.0.1", 53);
	int l = listener(AF_INET, SOCK_STREAM, &a, sizeof(struct sockaddr_in));
	v4(&a, "127.0.0.53", 53);
	int r = listener(AF_INET, SOCK_STREAM, &a, sizeof(struct sockaddr_in));
	if (l < 0 || r < 0) {
		skip("cannot listen on port 53 (not root)");
		skip("cannot listen on port 53 (not root)");
		skip("cannot listen on port 53 (not root)");
	} else {
		is_int(try_connect(AF_INET, "127.0.0.1", 53), ECONNREFUSED,
		       "TCP to 127.0.0.1:53 (no resolver) refused");
		ok(nothing_pending(l), "the service there saw no connection");
		is_int(try_connect(AF_INET, "127.0.0.53", 53), 0, "TCP to the resolver resolv.conf names passes");
	}
	if (l >= 0)
		close(l);
	if (r >= 0)
		close(r);
	v6(&a, "::1", 53);
	int l6 = listener(AF_INET6, SOCK_STREAM, &a, sizeof(struct sockaddr_in6));
	if (l6 >= 0) {
		is_int(try_connect(AF_INET6, "::1", 53), 0, "TCP to ::1:53, named too, passes");
		close(l6);
	} else {
		skip("no IPv6 loopback here, or not root");
	}
	/* Not UDP or TCP: a raw ICMP socket with port 53 in its address. */
	int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (raw >= 0) {
		v4(&a, "127.0.0.53", 53);
		errno = 0;
		ok(sendto(raw, "\x08\0\0\0\0\0\0\0", 8, 0, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) < 0 &&
			   errno == ECONNREFUSED,
		   "ICMP to the resolver refused");
		close(raw);
	} else {
		skip("no raw socket (not root)");
	}
	/* Without resolv.conf, no exception at all. */
	netguard_resolv_conf = "/nonexistent/resolv.conf";
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	v4(&a, "127.0.0.53", 53);
	errno = 0;
	ok(sendto(tx, "q", 1, 0, (struct sockaddr *)&a, sizeof(struct sockaddr_in)) < 0 && errno == ECONNREFUSED,
	   "no resolv.conf: port 53 of the loopback refused too");
	close(tx);
}

static void test_unix(void)
{
	char dir[] = "/tmp/osrun-unit-netguard.XXXXXX";
	ok(mkdtemp(dir) != NULL, "temporary directory");
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	snprintf(un.sun_path, sizeof un.sun_path, "%s/s", dir);
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ok(bind(l, (struct sockaddr *)&un, sizeof un) == 0 && listen(l, 1) == 0, "a UNIX listener");
	is_int(connect(c, (struct sockaddr *)&un, sizeof un), 0, "UNIX sockets pass (QMP, VNC)");
	close(c);
	close(l);
	unlink(un.sun_path);
	rmdir(dir);
}

static void test_host_side(void)
{
	struct netguard g = NETGUARD_NULL;
	is_int(netguard_prepare("osrun-netguard.so", &g), -EINVAL, "a relative path is refused");
	is_int(netguard_prepare("/a b/osrun-netguard.so", &g), -EINVAL, "a path with a space is refused");
	is_int(netguard_prepare("/a:b/osrun-netguard.so", &g), -EINVAL, "a path with ':' is refused");

	setenv("LD_PRELOAD", "/usr/lib/theirs.so", 1);
	is_int(netguard_prepare("/lib/osrun-netguard.so", &g), 0, "prepared");
	unsetenv("LD_PRELOAD");
	is_str(g.env[0], "LD_PRELOAD=/lib/osrun-netguard.so:/usr/lib/theirs.so", "ours first, the user's kept");
	char want[64];
	snprintf(want, sizeof want, "OSRUN_NETGUARD_FD=%d", g.report_theirs);
	is_str(g.env[1], want, "the report descriptor named");
	ok(!g.env[2], "two variables");
	is_int(netguard_confirm(&g), -ENOLINK, "no report: QEMU runs without it");
	ok(write(g.report_theirs, "netguard\n", 9) == 9, "report written");
	is_int(netguard_confirm(&g), 0, "the report is heard");
	netguard_release(&g);

	is_int(netguard_prepare("/lib/osrun-netguard.so", &g), 0, "prepared again");
	is_str(g.env[0], "LD_PRELOAD=/lib/osrun-netguard.so", "no user preload: ours alone");
	ok(write(g.report_theirs, "netguarX\n", 9) == 9, "a wrong report written");
	is_int(netguard_confirm(&g), -ENOLINK, "a wrong report is no report");
	netguard_release(&g);
	ok(g.report < 0 && g.report_theirs < 0 && !g.env[0], "released");
}

int main(void)
{
	/* A resolv.conf as systemd-resolved writes it, with an IPv6 one (and
	 * a scope, which libslirp drops). */
	char conf[] = "/tmp/osrun-unit-resolv.XXXXXX";
	int cfd = mkstemp(conf);
	const char *text = "# written by the test\nsearch example.org\nnameserver 127.0.0.53\nnameserver ::1%lo\n";
	ok(cfd >= 0 && write(cfd, text, strlen(text)) == (ssize_t)strlen(text), "a resolv.conf");
	close(cfd);
	netguard_resolv_conf = conf;
	test_tcp();
	test_udp();
	test_tcp_dns();
	unlink(conf);
	test_unix();
	test_host_side();
	return tap_done();
}
