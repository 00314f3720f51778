/* osrun-netguard.so: preloaded into QEMU under --network internet, so that
 * user networking cannot reach the host's loopback.
 *
 * Why a preload: libslirp maps the guest's connections to 10.0.2.2 (and
 * to any other address of the virtual network but its DNS) onto
 * 127.0.0.1 (sotranslate_out in libslirp 4.7's socket.c) unless its
 * disable_host_loopback is set, and QEMU 7.2's -netdev user has no option
 * for that. passt's --no-map-gw would do it, but passt needs user
 * namespaces (not in Docker's default seccomp profile) and cannot carry
 * osrun's guestfwd share. libslirp makes its host-side sockets with
 * libc's connect() and sendto() (tcp_fconnect, sosendto, icmp_send), which
 * a preload interposes.
 *
 * Refused: 127.0.0.0/8, 0.0.0.0/8 (Linux connects "any" to the local
 * host), ::1, :: and their v4-mapped forms. Let through: UDP and TCP to
 * port 53 of an address /etc/resolv.conf names as a nameserver. libslirp
 * forwards 10.0.2.3 to the first one there (get_dns_addr_resolv_conf in
 * slirp.c), which is on the loopback on systemd-resolved hosts
 * (127.0.0.53) and on Docker's user-defined networks (127.0.0.11); any
 * other service on port 53 of the loopback stays out of reach.
 *
 * osrun checks that QEMU really loaded this (a static QEMU, or a wrapper
 * that clears LD_PRELOAD, would not): the constructor writes NETGUARD_REPORT
 * to the descriptor in $NETGUARD_FD_ENV, once, from the QEMU binary
 * (runner/lib/netguard.h, which osrun's side shares). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lib/netguard.h"

#define NETGUARD_DNS_PORT 53

/* Where libslirp reads its nameservers; test-netguard points it elsewhere. */
static const char *netguard_resolv_conf = "/etc/resolv.conf";

static bool ipv4_is_local(uint32_t host_order)
{
	uint32_t first = host_order >> 24;
	return first == 127 || first == 0;
}

/* Whether resolv.conf names addr (4 or 16 bytes, network order) as a
 * nameserver, parsed as libslirp parses it. Read on each call: libslirp
 * reads it again when it changes, and only DNS to the loopback asks. */
static bool resolver_named(int family, const void *addr)
{
	FILE *f = fopen(netguard_resolv_conf, "re");
	if (!f)
		return false;
	char line[512], word[257];
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		if (sscanf(line, "nameserver%*[ \t]%256s", word) != 1)
			continue;
		char *scope = strchr(word, '%');
		if (scope)
			*scope = '\0';
		unsigned char a[sizeof(struct in6_addr)];
		found = inet_pton(family, word, a) == 1 && !memcmp(a, addr, family == AF_INET ? 4 : 16);
	}
	fclose(f);
	return found;
}

/* DNS as libslirp forwards it: UDP or TCP (not ICMP, not a raw socket). */
static bool is_udp_or_tcp(int fd)
{
	int proto = 0;
	socklen_t n = sizeof proto;
	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &n) == 0 &&
	       (proto == IPPROTO_UDP || proto == IPPROTO_TCP);
}

static bool dns_allowed(int fd, int port, int family, const void *addr)
{
	return port == NETGUARD_DNS_PORT && is_udp_or_tcp(fd) && resolver_named(family, addr);
}

/* True when fd may not reach addr: one of the host's own loopback or "any"
 * addresses, unless it is DNS to a nameserver resolv.conf names. A short or
 * odd address is left to the kernel. */
static bool netguard_refuses(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (!addr || len < (socklen_t)sizeof(sa_family_t))
		return false;
	if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, addr, sizeof in);
		return ipv4_is_local(ntohl(in.sin_addr.s_addr)) &&
		       !dns_allowed(fd, ntohs(in.sin_port), AF_INET, &in.sin_addr);
	}
	if (addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, addr, sizeof in6);
		const struct in6_addr *a = &in6.sin6_addr;
		int port = ntohs(in6.sin6_port);
		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return !dns_allowed(fd, port, AF_INET6, a);
		uint32_t v4;
		memcpy(&v4, &a->s6_addr[12], sizeof v4);
		if (IN6_IS_ADDR_V4MAPPED(a))
			return ipv4_is_local(ntohl(v4)) && !dns_allowed(fd, port, AF_INET, &v4);
	}
	return false;
}

/* Refused, as libslirp reads it: errno set, so the guest gets a RST. */
static bool refuse(int fd, const struct sockaddr *addr, socklen_t len)
{
	int saved = errno; /* what the checks set is no caller's business */
	bool refused = netguard_refuses(fd, addr, len);
	errno = saved;
	if (!refused)
		return false;
	errno = ECONNREFUSED;
	return true;
}

/* libc's function behind ours, found once. */
static void *next_of(void **slot, const char *name)
{
	if (!*slot && !(*slot = dlsym(RTLD_NEXT, name)))
		errno = ENOSYS;
	return *slot;
}

typedef int connect_fn(int, const struct sockaddr *, socklen_t);
typedef ssize_t sendto_fn(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
typedef ssize_t sendmsg_fn(int, const struct msghdr *, int);

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static void *next;
	if (refuse(fd, addr, len) || !next_of(&next, "connect"))
		return -1;
	return ((connect_fn *)next)(fd, addr, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len)
{
	static void *next;
	if (refuse(fd, addr, len) || !next_of(&next, "sendto"))
		return -1;
	return ((sendto_fn *)next)(fd, buf, n, flags, addr, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static void *next;
	if ((msg && refuse(fd, msg->msg_name, msg->msg_namelen)) || !next_of(&next, "sendmsg"))
		return -1;
	return ((sendmsg_fn *)next)(fd, msg, flags);
}

/* Only QEMU itself reports: a wrapper script that loads the guard and then
 * starts QEMU without it must not vouch for it. */
static bool netguard_in_qemu(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	const char *base = strrchr(exe, '/');
	return !strncmp(base ? base + 1 : exe, "qemu-system-", strlen("qemu-system-"));
}

__attribute__((constructor)) static void netguard_report(void)
{
	const char *s = getenv(NETGUARD_FD_ENV);
	if (!s || !netguard_in_qemu())
		return;
	char *end;
	long fd = strtol(s, &end, 10);
	unsetenv(NETGUARD_FD_ENV);
	if (*end || fd < 3 || fd > 1024)
		return;
	/* A report that cannot be written is no report: osrun then refuses. */
	(void)!write((int)fd, NETGUARD_REPORT, strlen(NETGUARD_REPORT));
	close((int)fd);
}
