/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Pushing an image from the content store to a registry (`bothy push`).
 *
 * Order (the distribution spec's): every blob first, the config and the
 * layers, then the manifest, so the tag appears only once everything it
 * names is in the repository; a push that fails anywhere before the
 * manifest leaves the destination tag as it was (absent, or the old image).
 *
 * Each blob is, in this order of preference:
 *   skipped   the repository has it already (HEAD);
 *   mounted   cross-repository mount (POST ?mount=&from=) from the image's
 *             own repository, when the image's reference is on the same
 *             registry under another name (the usual "pull, retag, push");
 *             a mount the registry declines, or one that fails, falls back
 *             to an upload;
 *   uploaded  monolithic, or in chunk_size pieces.
 * The manifest goes up as the exact bytes of the store, so its digest on the
 * registry is the local one.
 *
 * Library code never prints: progress is reported through a callback. */
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"
#include "image/images.h"

enum bothy_push_blob_state {
  BOTHY_PUSH_BLOB_EXISTS,   /* skipped: already in the repository */
  BOTHY_PUSH_BLOB_MOUNTED,  /* mounted from `from` */
  BOTHY_PUSH_BLOB_UPLOADED, /* uploaded */
  _BOTHY_PUSH_BLOB_STATE_MAX,
  _BOTHY_PUSH_BLOB_STATE_INVALID = -EINVAL,
};

/* Called once per blob when it is in the repository. is_config: the image's
 * config rather than a layer; from: the repository mounted from, or NULL. */
typedef void (*bothy_push_progress_t)(void *data, const char *digest, bool is_config,
                                      enum bothy_push_blob_state state, const char *from);

struct bothy_push_opts {
  bool tls_verify_off; /* --tls-verify=false: plain http, or https without checks */
  const char *ca_file;
  /* NULL: the credentials saved for the destination's host (auth.h), if any */
  const char *username, *password;
  uint64_t chunk_size;            /* 0: monolithic uploads */
  bothy_push_progress_t progress; /* optional */
  void *progress_data;
};

/* Pushes the image that `name` finds (bothy_images_get: a reference or a
 * digest) to dest, a reference (an optional "docker://" prefix is
 * accepted); dest NULL means the image's own reference. A dest with a digest
 * must be the manifest's digest; the manifest is then pushed by digest, with
 * no tag. *ret_digest (optional, caller frees) is the manifest's digest.
 *
 * Errors name the image, the destination and what failed; the codes are the
 * registry client's (registry.h: EACCES 401, EPERM 403, ENOENT 404, EAGAIN
 * transient/5xx, ...), ENOENT for an image not known here or a blob missing
 * from the store, EBADMSG for a blob whose size in the store is not the
 * manifest's, and -1 (code 0) for a destination that is not a reference,
 * whose digest is not the image's, or that is missing for an image without
 * a name. */
int bothy_image_push(struct bothy_images *imgs, const char *name, const char *dest,
                     const struct bothy_push_opts *opts, char **ret_digest, bothy_error_t *err);
