/* What a qcow2 disk's header says it depends on (qcow2.c): read bounded
 * from the file, so a disk in the store can be judged before qemu-img or
 * QEMU opens whatever it names. */
#pragma once
#include "util.h"

/* *ret_backing: the backing file's name as the header has it, or NULL for
 * none. -EBADMSG: not a qcow2 header osrun can vouch for (damaged, or its
 * data kept in an external file, which QEMU would open as well). */
int qcow2_backing(int fd, char **ret_backing);
