/* Messages with descriptors attached (SCM_RIGHTS), over UNIX SOCK_SEQPACKET
 * sockets: one send is one message, so a request and its descriptors arrive
 * together or not at all. The QMP channel passes its descriptors through
 * fdpass_sendmsg too. */
#pragma once
#include "util.h"

#define FDPASS_MAX_FDS 4

/* One sendmsg() of len bytes with nfds descriptors attached (EINTR
 * retried): the bytes sent, or -errno. On a stream socket the descriptors
 * travel with the first byte. */
ssize_t fdpass_sendmsg(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Sends len bytes (at least 1) and nfds descriptors as one message. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Receives one message of at most max bytes into a new buffer (NUL added)
 * and up to FDPASS_MAX_FDS descriptors (close-on-exec). 0 bytes: the peer
 * closed. -EMSGSIZE: a longer message (its descriptors are closed). */
int fdpass_recv(int sock, size_t max, char **ret_buf, size_t *ret_len, int *ret_fds, size_t *ret_nfds);
