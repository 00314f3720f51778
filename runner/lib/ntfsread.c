#define _GNU_SOURCE
#include "ntfsread.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/volume.h>

/* A file is copied in pieces of this size (the disk_reader reads each in
 * one go). */
#define CHUNK (1u << 20)

struct ntfsread {
	struct disk_reader disk;
	uint64_t offset, size, pos; /* pos: for libntfs-3g's seek and read */
	struct ntfs_device *dev;
	ntfs_volume *vol;
};

/* libntfs-3g's device: the volume's bytes within the disk, read-only. A
 * read past its end is short, as a file's would be. */
static int dev_open(struct ntfs_device *dev, int flags)
{
	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	NDevSetOpen(dev);
	NDevSetReadOnly(dev);
	return 0;
}

static int dev_close(struct ntfs_device *dev)
{
	NDevClearOpen(dev);
	return 0;
}

static s64 dev_pread(struct ntfs_device *dev, void *buf, s64 count, s64 offset)
{
	struct ntfsread *v = dev->d_private;
	if (count < 0 || offset < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)offset >= v->size || count == 0)
		return 0;
	uint64_t n = (uint64_t)count < v->size - (uint64_t)offset ? (uint64_t)count : v->size - (uint64_t)offset;
	int r = v->disk.read(v->disk.userdata, buf, n, v->offset + (uint64_t)offset);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (s64)n;
}

static s64 dev_seek(struct ntfs_device *dev, s64 offset, int whence)
{
	struct ntfsread *v = dev->d_private;
	s64 base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (s64)v->pos : (s64)v->size;
	if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) || offset < -base) {
		errno = EINVAL;
		return -1;
	}
	v->pos = (uint64_t)(base + offset);
	return (s64)v->pos;
}

static s64 dev_read(struct ntfs_device *dev, void *buf, s64 count)
{
	struct ntfsread *v = dev->d_private;
	s64 n = dev_pread(dev, buf, count, (s64)v->pos);
	if (n > 0)
		v->pos += (uint64_t)n;
	return n;
}

static s64 dev_write(struct ntfs_device *dev, const void *buf, s64 count)
{
	errno = EROFS;
	return -1;
}

static s64 dev_pwrite(struct ntfs_device *dev, const void *buf, s64 count, s64 offset)
{
	errno = EROFS;
	return -1;
}

static int dev_sync(struct ntfs_device *dev) { return 0; }

static int dev_stat(struct ntfs_device *dev, struct stat *st)
{
	struct ntfsread *v = dev->d_private;
	memset(st, 0, sizeof *st);
	st->st_mode = S_IFREG | 0400;
	st->st_size = (off_t)v->size;
	return 0;
}

static int dev_ioctl(struct ntfs_device *dev, unsigned long request, void *argp)
{
	errno = ENOTTY;
	return -1;
}

static struct ntfs_device_operations dev_ops = {
	.open = dev_open,
	.close = dev_close,
	.seek = dev_seek,
	.read = dev_read,
	.write = dev_write,
	.pread = dev_pread,
	.pwrite = dev_pwrite,
	.sync = dev_sync,
	.stat = dev_stat,
	.ioctl = dev_ioctl,
};

/* libntfs-3g's errno, never 0 (it does not set one on every failure). */
static int ntfs_errno(void) { return errno > 0 ? -errno : -EIO; }

struct ntfsread *ntfsread_free(struct ntfsread *v)
{
	if (!v)
		return NULL;
	if (v->vol)
		ntfs_umount(v->vol, true); /* frees the device too */
	else if (v->dev) {
		NDevClearOpen(v->dev);
		ntfs_device_free(v->dev);
	}
	free(v);
	return NULL;
}

int ntfsread_open(const struct disk_reader *d, uint64_t offset, uint64_t size, struct ntfsread **ret)
{
	/* Its default in release builds, set again: it must never print. */
	ntfs_log_set_handler(ntfs_log_handler_null);
	_cleanup_(ntfsread_freep) struct ntfsread *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	*v = (struct ntfsread){.disk = *d, .offset = offset, .size = size};
	if (!(v->dev = ntfs_device_alloc("guest-disk", 0, &dev_ops, v)))
		return ntfs_errno();
	errno = 0;
	if (!(v->vol = ntfs_device_mount(v->dev, NTFS_MNT_RDONLY)))
		return ntfs_errno();
	/* Windows' names are case-insensitive (Win32 and DOS names); a lookup
	 * by the case osrun expects must find the case Setup wrote. */
	if (ntfs_set_ignore_case(v->vol) < 0)
		return ntfs_errno();
	*ret = TAKE_PTR(v);
	return 0;
}

static int attr_copy(ntfs_attr *na, uint64_t max, int fd)
{
	if (na->data_size < 0)
		return -EIO;
	uint64_t size = (uint64_t)na->data_size, pos = size > max ? size - max : 0;
	_cleanup_free_ char *buf = malloc(CHUNK);
	if (!buf)
		return -ENOMEM;
	while (pos < size) {
		s64 want = (s64)(size - pos < CHUNK ? size - pos : CHUNK);
		errno = 0;
		s64 n = ntfs_attr_pread(na, (s64)pos, want, buf);
		if (n <= 0)
			return n < 0 ? ntfs_errno() : -EIO;
		int r = write_full(fd, buf, (size_t)n);
		if (r < 0)
			return r;
		pos += (uint64_t)n;
	}
	return 0;
}

int ntfsread_copy(struct ntfsread *v, const char *path, uint64_t max, int fd)
{
	errno = 0;
	ntfs_inode *ni = ntfs_pathname_to_inode(v->vol, NULL, path);
	if (!ni)
		return ntfs_errno();
	int r;
	if (ni->mrec->flags & MFT_RECORD_IS_DIRECTORY)
		r = -EISDIR;
	else {
		errno = 0;
		ntfs_attr *na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
		r = na ? attr_copy(na, max, fd) : ntfs_errno();
		if (na)
			ntfs_attr_close(na);
	}
	ntfs_inode_close(ni);
	return r;
}
