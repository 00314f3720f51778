/* Messages with descriptors attached, over UNIX SOCK_SEQPACKET sockets:
 * one send is one message, so a request and its descriptors arrive
 * together or not at all. */
#pragma once
#include "util.h"

#define FDPASS_MAX_FDS 4

/* Sends len bytes (at least 1) and nfds descriptors as one message. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Receives one message of at most max bytes into a new buffer (NUL added)
 * and up to FDPASS_MAX_FDS descriptors (close-on-exec). 0 bytes: the peer
 * closed. -EMSGSIZE: a longer message (its descriptors are closed). */
int fdpass_recv(int sock, size_t max, char **ret_buf, size_t *ret_len, int *ret_fds, size_t *ret_nfds);
