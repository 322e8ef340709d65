/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Unpacking one image layer (a tar stream: uncompressed, gzip or zstd, as the
 * OCI image spec allows) into an empty directory, in overlayfs's form, so the
 * directory can be used as a lowerdir as it is.
 *
 * What lands on disk:
 * - every path is resolved inside dest: a leading '/' is dropped, ".." is
 *   cleaned lexically and cannot climb above dest, and parent directories are
 *   opened with openat2(RESOLVE_IN_ROOT), so a symlink created by an earlier
 *   entry ("link -> /etc") leads back inside dest ("link/passwd" becomes
 *   dest/etc/passwd), never to the host. The last component is never followed:
 *   whatever is there (a symlink included) is replaced, except that a
 *   directory entry over an existing directory merges with it.
 * - a hard link must name a regular file that an earlier entry of the layer
 *   created, by a path with no symlink in it; anything else is an error.
 * - whiteouts: ".wh.NAME" becomes a 0:0 character device NAME, and
 *   ".wh..wh..opq" sets trusted.overlay.opaque="y" on its directory. Other
 *   ".wh..wh.*" entries (aufs metadata) are skipped. No ".wh." name is ever
 *   created as such.
 * - owner, mode, mtime/atime and xattrs (pax SCHILY.xattr.*) are kept.
 *   security.* xattrs are dropped except security.capability; overlayfs's own
 *   xattrs (trusted.overlay.*, user.overlay.*) are dropped, because they
 *   would steer the overlay mount (redirect, metacopy, opaque) and a layer
 *   expresses that only through whiteouts. Directories get their mode and
 *   times at the end, after their contents.
 * - character and block devices are refused unless allow_devices (fifos are
 *   always fine); setuid/setgid bits are cleared unless allow_setuid.
 *
 * Needs root (or CAP_CHOWN, CAP_MKNOD, CAP_SYS_ADMIN for trusted.* xattrs)
 * and a mounted /proc (xattrs and modes are set on O_PATH fds through
 * /proc/self/fd). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/digest.h"
#include "base/error.h"

struct bothy_layer_policy {
  bool allow_devices; /* create character and block device nodes */
  bool allow_setuid;  /* keep S_ISUID/S_ISGID */
};

/* The compressed bytes are not hashed here: their digest is checked where
 * they come from (the registry client as they arrive, the content store when
 * they were ingested), once. */
struct bothy_layer_result {
  char diff_id[BOTHY_DIGEST_MAX]; /* "sha256:..." of the uncompressed tar */
  uint64_t compressed_size;       /* bytes read from src_fd */
  uint64_t size;                  /* bytes of the uncompressed tar */
};

/* Reads src_fd to its end and unpacks it into dest_dirfd (an empty directory;
 * any fd of it, O_PATH is fine). pol may be NULL (everything refused).
 *
 * The diff_id is computed in the same single pass as the unpacking: gzip is
 * inflated by ISA-L's igzip when libisal loads (gunzip.h; it also checks the
 * CRC of each member), zstd (and gzip without libisal) by a first libarchive
 * reader (its filters and the "raw" format, which hands the decompressed
 * stream through as one entry), and a plain tar is read as it is; a
 * libarchive tar reader parses the result from a read callback that pulls
 * the decompressed blocks and hashes them. Bytes after the tar's
 * end-of-archive marker (record padding) are hashed too, so the diff_id
 * covers the whole stream, as the image config computes it; src_fd is read
 * to its end.
 *
 * A stream that is corrupt, not a tar, or that ends before the tar's
 * end-of-archive marker is an error. On error dest is left partly written:
 * the caller must remove it (unpack into a temporary directory and rename it
 * into place when this returns 0). *ret is written only on success. */
int bothy_layer_unpack(int src_fd, int dest_dirfd, const struct bothy_layer_policy *pol,
                       struct bothy_layer_result *ret, bothy_error_t *err);

/* Loads the libraries bothy_layer_unpack() uses (libarchive; libisal when
 * it is there), so that processes forked afterwards to unpack find them
 * loaded instead of each loading its own. Fails only without libarchive. */
int bothy_layer_preload(bothy_error_t *err);

/* The same, from a buffer in memory (tests, fuzzing). */
int bothy_layer_unpack_buffer(const void *data, size_t len, int dest_dirfd,
                              const struct bothy_layer_policy *pol, struct bothy_layer_result *ret,
                              bothy_error_t *err);
