/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Deterministic layer tarballs: what `bothy build` turns a step into.
 *
 * A writer collects entries (a name in the layer and where its content comes
 * from) and writes them all at bothy_tarw_finish(), sorted by name (byte
 * order), so the same entries always give the same bytes whatever order
 * they were added in; a parent directory always sorts before what is in it.
 * Adding a name twice replaces the first entry (the last COPY source wins).
 *
 * The tar is POSIX pax ("restricted": a pax header only when ustar cannot
 * hold a field: long names, big sizes, xattrs), uncompressed, with:
 *  - names relative, without "./" or a leading '/', directories ending in '/';
 *  - numeric owners only (no uname/gname), the mode's permission and
 *    setuid/setgid/sticky bits, mtime in whole seconds (no atime, no ctime);
 *    with opts.timestamp >= 0 every mtime is that;
 *  - xattrs kept: security.capability and user.*, except user.overlay.*;
 *    trusted.* and other security.* are left out;
 *  - hard links: two regular files of one walk (bothy_tarw_add_tree or
 *    bothy_tarw_add_diff) with the same inode are written as the first (in
 *    name order) and a hard link to it;
 *  - the end-of-archive marker then zeros to a 10240-byte record, as tar does.
 * The sha256 of those bytes is the layer's diff_id.
 *
 * Sources are not read until finish: the files must still be there then. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "base/digest.h"
#include "base/error.h"

struct bothy_tarw_opts {
  int64_t timestamp; /* >= 0: every entry's mtime; < 0: each file's own */
};

/* What a COPY changes about the entries it adds; all zero changes nothing. */
struct bothy_tarw_meta {
  bool set_owner; /* --chown: every entry gets uid:gid */
  uid_t uid;
  gid_t gid;
  bool set_mode; /* --chmod: the permission bits of every entry (directories too, as docker) */
  mode_t mode;
};

struct bothy_tarw;

int bothy_tarw_new(const struct bothy_tarw_opts *opts, struct bothy_tarw **ret, bothy_error_t *err);
struct bothy_tarw *bothy_tarw_free(struct bothy_tarw *w); /* NULL-safe, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_tarw *, bothy_tarw_free)
#define _cleanup_tarw_ _cleanup_(bothy_tarw_freep)

/* A directory entry (no content). name: the path in the layer, "a/b" or
 * "/a/b" (leading '/' and "./" dropped; ".." components are refused with
 * EINVAL). */
int bothy_tarw_add_dir(struct bothy_tarw *w, const char *name, mode_t perm, uid_t uid, gid_t gid,
                       int64_t mtime, bothy_error_t *err);

/* A regular file with the given content (copied). */
int bothy_tarw_add_data(struct bothy_tarw *w, const char *name, const void *data, size_t len,
                        mode_t perm, uid_t uid, gid_t gid, int64_t mtime, bothy_error_t *err);

/* One file system object at path (relative to dirfd, or absolute), not
 * followed if it is a symlink, as the entry name: its type (regular,
 * directory, symlink, fifo; devices too), owner, mode, mtime and xattrs,
 * changed by meta (may be NULL). A directory adds only itself. */
int bothy_tarw_add_path(struct bothy_tarw *w, const char *name, int dirfd, const char *path,
                        const struct bothy_tarw_meta *meta, bothy_error_t *err);

/* path and everything below it (not following symlinks), as name and
 * name/...; a non-directory is the same as bothy_tarw_add_path(). With
 * include_top false the directory itself is not added, only what is in it
 * (COPY dir/ dest copies the contents). */
int bothy_tarw_add_tree(struct bothy_tarw *w, const char *name, int dirfd, const char *path,
                        bool include_top, const struct bothy_tarw_meta *meta, bothy_error_t *err);

/* The upper directory of an overlay (everything below upper_dirfd) as an OCI
 * layer: a 0:0 character device NAME becomes a whiteout ".wh.NAME" (an empty
 * regular file, mode 0, owner 0:0), a directory with the xattr
 * trusted.overlay.opaque or user.overlay.opaque = "y" gets an entry
 * "DIR/.wh..wh..opq" besides its own; other overlay xattrs are dropped. */
int bothy_tarw_add_diff(struct bothy_tarw *w, int upper_dirfd, bothy_error_t *err);

/* How many entries there are now. */
size_t bothy_tarw_count(const struct bothy_tarw *w);

/* Writes the tar to out_fd (a file or pipe; written sequentially), and sets
 * ret_diff_id ("sha256:<hex>", BOTHY_DIGEST_MAX bytes) and *ret_size (bytes
 * written). A source that changed type or vanished since it was added is an
 * error naming it. The writer can only be freed afterwards. */
int bothy_tarw_finish(struct bothy_tarw *w, int out_fd, char *ret_diff_id, uint64_t *ret_size,
                      bothy_error_t *err);
