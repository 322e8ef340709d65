/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Where COPY and ADD take their files from: the build context (a directory,
 * with its .containerignore or .dockerignore), or the root filesystem of an
 * earlier stage or another image (COPY --from), which has no ignore file.
 *
 * Sources are paths relative to the root ("a/b", "./a", "/a" all mean
 * root/a) and may hold globs ('*', '?', "[a-z]", '\\' quoting, as Go's
 * filepath.Match that docker uses: '*' does not cross '/'). What they name is
 * resolved inside the root:
 *  - a ".." that would climb above the root is an error (EPERM):
 *      COPY failed: "../x" is outside the build context
 *  - a symlink on the way (or the source itself being a symlink) is followed
 *    inside the root only: for the build context, one that points outside it
 *    (absolute, or climbing out) is an error (EPERM) naming the source and
 *    the link; for a stage's root filesystem it is resolved as if the root
 *    were '/' (chroot semantics, as docker does for COPY --from);
 *  - a source that matches nothing (or only ignored files) is ENOENT:
 *      COPY failed: file not found in build context: "x"
 *  - symlinks below a copied directory are copied as symlinks, not followed.
 * Ignored paths are never copied and never hashed. COPY --exclude patterns
 * (same syntax as the ignore file) leave out more. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "base/error.h"
#include "build/tarw.h"

struct bothy_context;

/* The build context at dir: reads ignore_file if given (a path; ENOENT is an
 * error), else dir/.containerignore, else dir/.dockerignore (ENOENT fine).
 * Errors: the directory does not exist or is not one; a malformed ignore
 * file (its parse error with file:line). */
int bothy_context_open(const char *dir, const char *ignore_file, struct bothy_context **ret,
                       bothy_error_t *err);
/* A stage's or image's root filesystem (mounted by the caller) as a COPY
 * --from source: no ignore rules, symlinks resolved as inside a chroot. */
int bothy_context_open_rootfs(const char *dir, struct bothy_context **ret, bothy_error_t *err);
struct bothy_context *bothy_context_free(struct bothy_context *c); /* NULL-safe, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_context *, bothy_context_free)
#define _cleanup_context_ _cleanup_(bothy_context_freep)

/* The root's directory fd (borrowed). */
int bothy_context_dirfd(const struct bothy_context *c);

/* A COPY/ADD, with its sources as written (after the parser's expansion). */
struct bothy_copy_req {
  char *const *srcs; /* NULL-terminated, at least one */
  /* Absolute destination in the image, WORKDIR already applied; a trailing
   * '/' is kept as given (it says "a directory"). */
  const char *dest;
  /* Whether dest is a directory in the image the step builds on (the
   * builder looks): "COPY file /existing-dir" copies into it. */
  bool dest_is_dir;
  char *const *exclude;        /* --exclude patterns; may be NULL */
  struct bothy_tarw_meta meta; /* --chown, --chmod */
  bool add;                    /* ADD: a local tar archive (plain, gzip, bzip2, xz, zstd) is
                                * unpacked into dest instead of being copied (its files keep
                                * the archive's owners unless --chown) */
  const char *what;            /* "COPY" or "ADD", for messages */
};

/* The content hash of what req would copy, for the build cache: sha256 over
 * every matched entry in order, each as its path relative to its source,
 * type, permission bits, size, symlink target, uid/gid only for a stage's
 * rootfs (not the context's: the context's owners never reach the image),
 * and its content's sha256 for regular files, plus req's dest, meta and add
 * flag. mtimes do not count: touching a file does not invalidate the cache,
 * changing its content does. ret_hex: 64 hex digits and a NUL. Fails as
 * bothy_context_copy() would (a missing source, an escape). */
int bothy_context_hash(struct bothy_context *c, const struct bothy_copy_req *req, char *ret_hex,
                       bothy_error_t *err);

/* Adds to w the entries COPY/ADD makes, following docker's rules:
 *  - a source directory's contents (not the directory itself) go into dest;
 *  - several sources, or a glob, need dest to end in '/' (or dest_is_dir),
 *    else EINVAL: 'COPY with more than one source file requires the
 *    destination to end with "/"';
 *  - a file source goes to dest/<basename> when dest ends in '/' or
 *    dest_is_dir, else to dest itself;
 *  - context files get owner 0:0 unless meta says otherwise (a stage's
 *    rootfs keeps its owners); modes and mtimes are kept;
 *  - the destination directories that the copy itself creates are NOT
 *    added: the builder adds dest and its parents with the image's metadata.
 * ADD's archives are unpacked into a private temporary directory that
 * lives until bothy_context_free() (the writer reads it at finish). */
int bothy_context_copy(struct bothy_context *c, const struct bothy_copy_req *req,
                       struct bothy_tarw *w, bothy_error_t *err);
