/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Filesystem helpers. All fds are O_CLOEXEC. Paths inside a container's root
 * are resolved against a directory fd with openat2(RESOLVE_IN_ROOT), never by
 * joining strings, so a symlink in the rootfs cannot lead outside it. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "base/error.h"

/* Writes data to dirfd/name atomically: a temporary file in the same
 * directory, fsync, rename over name, fsync of the directory. Either the old
 * or the new content is visible, never a mix or a partial file. */
int bothy_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                            bothy_error_t *err);

/* The same, without the fsyncs: atomic (never a partial file) but not
 * durable. For state that does not outlive a reboot anyway (the runtime's
 * state under /run), where an fsync per container costs more than the
 * container's start. */
int bothy_write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                             bothy_error_t *err);

/* Writes data to an existing file (cgroupfs, procfs): open O_WRONLY|O_TRUNC,
 * one write(). The error names path. */
int bothy_write_file(int dirfd, const char *path, const char *data, size_t len, bothy_error_t *err);
int bothy_write_string(int dirfd, const char *path, const char *s, bothy_error_t *err);

/* Reads a whole file; *ret is NUL-terminated, *ret_len (optional) its length. */
int bothy_read_file(int dirfd, const char *path, char **ret, size_t *ret_len, bothy_error_t *err);
int bothy_read_fd(int fd, char **ret, size_t *ret_len, bothy_error_t *err);

/* mkdir -p. Existing directories are fine. */
int bothy_mkdir_p(const char *path, mode_t mode, bothy_error_t *err);

/* rm -rf of dirfd/name without following symlinks or crossing mounts. A
 * missing name is success. */
int bothy_rm_rf_at(int dirfd, const char *name, bothy_error_t *err);

/* openat2(rootfd, path, flags | O_CLOEXEC, mode, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS).
 * Returns the fd or negative errno (no error set: callers word the message). */
int bothy_open_in_root(int rootfd, const char *path, int flags, mode_t mode);

/* Creates every missing directory of path inside rootfd (resolved in root)
 * and returns an O_PATH fd of the last one, or a negative value with *err.
 * A dangling symlink on the way is followed inside the root and its target
 * created (an image's /var/run -> /run with no /run). */
int bothy_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, bothy_error_t *err);

/* Creates an empty regular file at path inside rootfd (parents included) if
 * nothing is there; returns an O_PATH fd of what is there. */
int bothy_touch_in_root(int rootfd, const char *path, mode_t mode, bothy_error_t *err);

/* Writes all of buf to fd, retrying on EINTR and short writes. */
int bothy_write_all(int fd, const void *buf, size_t len);
/* Reads exactly len bytes (or until EOF: returns bytes read). */
ssize_t bothy_read_all(int fd, void *buf, size_t len);

/* Closes every fd >= from except those in keep (sorted or not, n entries). */
void bothy_close_fds_from(int from);

bool bothy_path_exists(const char *path);
