/* Small helpers every module uses: cleanup attributes, ownership transfer,
 * time, EINTR-safe I/O, paths. Nothing here prints. */
#pragma once
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t)1000000)
#define USEC_PER_MSEC ((usec_t)1000)
#define USEC_INFINITY ((usec_t)-1)

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
/* Closes fd if open; returns -1 to store back. */
static inline int safe_close(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}
void strv_free(char **v);
static inline void strv_freep(char ***v) { strv_free(*v); }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Hand ownership out of a cleanup-scoped variable. */
#define TAKE_PTR(p)                                                                                                    \
	({                                                                                                             \
		__typeof__(p) _t = (p);                                                                                \
		(p) = NULL;                                                                                            \
		_t;                                                                                                    \
	})
#define TAKE_FD(fd)                                                                                                    \
	({                                                                                                             \
		int _t = (fd);                                                                                         \
		(fd) = -1;                                                                                             \
		_t;                                                                                                    \
	})

usec_t now_usec(void);	    /* CLOCK_MONOTONIC */
usec_t realtime_usec(void); /* CLOCK_REALTIME */
/* Milliseconds left until deadline, for poll(); -1 for USEC_INFINITY. */
int deadline_to_poll_ms(usec_t deadline);
usec_t deadline_after(usec_t timeout);

/* One process-wide descriptor that turns readable when the user asked us to
 * stop (the command layer's signalfd). Every blocking wait in the library
 * polls it too and returns -ECANCELED, so Ctrl-C never waits for a timeout. */
void cancel_fd_set(int fd);
int cancel_fd_get(void);
/* poll() on one fd plus the cancel fd: 1 ready, -ETIMEDOUT, -ECANCELED. */
int fd_wait(int fd, short events, usec_t deadline);

int write_full(int fd, const void *buf, size_t n);
/* read()/pread() retried on EINTR; -errno on failure. */
ssize_t read_retry(int fd, void *buf, size_t n);
ssize_t pread_retry(int fd, void *buf, size_t n, off_t off);
/* Copies in to out until EOF, waiting for input (and the cancel fd) until
 * deadline. *ret_copied may be NULL. */
int copy_stream(int in, int out, usec_t deadline, uint64_t *ret_copied);
int read_full_file(const char *path, char **ret, size_t *ret_size);
/* A file someone else wrote (the guest, a CI runner): a regular file of at
 * most max bytes, not followed if a link, not waited on if a FIFO;
 * NUL-terminated. -EBADMSG: a link or not a regular file; -EFBIG: larger. */
int read_file_untrusted(const char *path, size_t max, char **ret, size_t *ret_n);
int write_file_atomic(const char *path, const char *data, size_t n, mode_t mode);
int copy_fd_range(int in, int out, uint64_t *ret_copied);
int copy_file_sparse(const char *from, const char *to, mode_t mode);
/* All of buf at offset off of fd (EINTR and short writes retried). */
int pwrite_full(int fd, const void *buf, size_t n, off_t off);

char *path_join(const char *a, const char *b);
int mkdir_p(const char *path, mode_t mode);
/* Removes path and everything below it, not following symlinks, with two
 * descriptors at most whatever the depth (rmtree.c). 0 when it is gone. */
int rm_rf(const char *path);
int fsync_path(const char *path);
int fsync_parent(const char *path);
bool file_exists(const char *path);

char **strv_append(char **v, const char *s); /* NULL on ENOMEM; v freed then */
size_t strv_length(char *const *v);

/* 64-bit FNV-1a, for cache keys (not for security). */
uint64_t fnv1a64(uint64_t h, const void *data, size_t n);
#define FNV1A64_INIT UINT64_C(0xcbf29ce484222325)
int hash_file(uint64_t *h, const char *path);

/* "1.5" seconds (positive, at most 1e7); -EINVAL otherwise. */
int parse_seconds(const char *s, usec_t *ret);
/* A decimal from min to max; -EINVAL otherwise. */
int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret);
