/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Images on this host: the content store (ROOT/store, an OCI image layout
 * whose index.json holds the references), and the layer store (ROOT/layers/
 * <hex of diff_id>/, each layer unpacked once and shared by every container).
 *
 * References are kept in the store's index.json only, under the store's
 * lock: one source of truth that skopeo and umoci read too, rather than a
 * second copy in the inventory database that could disagree with it. */
#include <jansson.h>
#include <stdbool.h>
#include "base/error.h"
#include "image/manifest.h"
#include "image/store.h"

struct bothy_images {
  char *root;
  struct bothy_store *store;
  char *layers_dir;
  int layers_fd;
};

/* Opens (creating) ROOT/store and ROOT/layers. */
int bothy_images_open(const char *root, struct bothy_images **ret, bothy_error_t *err);
struct bothy_images *bothy_images_free(struct bothy_images *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_images *, bothy_images_free)
#define _cleanup_images_ _cleanup_(bothy_images_freep)

struct bothy_pull_opts {
  bool tls_verify_off; /* --tls-verify=false: plain http, or https without checks */
  const char *ca_file;
  const char *registries_conf; /* path; NULL: none (insecure hosts, CAs, mirrors) */
  const char *username, *password;
  int parallel; /* layers fetched at once; 0: 6 */
  bool quiet;
  /* Called (in this process) as layers arrive: bytes so far of the layer
   * blob `digest`, of `total`. NULL: no progress reports. */
  void (*progress)(void *data, const char *digest, uint64_t done, int64_t total);
  void *progress_data;
};

/* Pulls ref (normalised as docker does) for this machine's platform:
 * manifest, config and layers into the stores, layers fetched in parallel
 * and each streamed once through digest check, decompression and unpacking.
 * Blobs and layers already present are not fetched again. On success the
 * reference points at the image's manifest; *ret_digest (optional) is its
 * digest. On failure the stores hold nothing partial. */
int bothy_images_pull(struct bothy_images *imgs, const char *ref,
                      const struct bothy_pull_opts *opts, char **ret_digest, bothy_error_t *err);

/* A loaded image: its reference's descriptor, manifest and config. */
struct bothy_image {
  char *ref; /* normalised reference, or NULL when looked up by digest */
  char *digest;
  struct bothy_manifest *manifest;
  struct bothy_image_config *config;
  char **layer_dirs; /* unpacked layers, base first; NULL-terminated */
};

/* Finds an image by reference (short names normalised) or manifest digest
 * (or a unique prefix of its hex of at least 12 characters). ENOENT:
 * "image 'x' is not known here". */
int bothy_images_get(struct bothy_images *imgs, const char *name, struct bothy_image **ret,
                     bothy_error_t *err);
struct bothy_image *bothy_image_free(struct bothy_image *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_image *, bothy_image_free)
#define _cleanup_image_ _cleanup_(bothy_image_freep)

/* Points ref at the image that `name` finds. */
int bothy_images_tag(struct bothy_images *imgs, const char *name, const char *ref,
                     bothy_error_t *err);
/* Removes a reference (not the content: prune does that). ENOENT if unknown. */
int bothy_images_untag(struct bothy_images *imgs, const char *ref, bothy_error_t *err);

/* [{"ref":..., "digest":..., "size":..., "created":...}] for `images`. */
int bothy_images_list(struct bothy_images *imgs, json_t **ret, bothy_error_t *err);

/* Unpacks a layer stream (tar, gzip or zstd) read from fd into the layer
 * store: into a temporary directory, renamed into place when complete. With
 * expected_diff_id, a layer already present is not read again, and content
 * with another diff_id is refused (EBADMSG). *ret_diff_id (optional,
 * BOTHY_DIGEST_MAX bytes) gets the layer's diff_id. */
int bothy_images_add_layer(struct bothy_images *imgs, int fd, const char *expected_diff_id,
                           char *ret_diff_id, bothy_error_t *err);

/* Removes the blobs and unpacked layers no reference needs (and what
 * interrupted pulls left). in_use: manifest digests containers were made
 * from (this layer does not know containers); they count as referenced even
 * when no name points at them any more. *ret_removed (optional)
 * lists what went ("blob sha256:...", "layer sha256:..."). */
int bothy_images_prune(struct bothy_images *imgs, char *const *in_use, char ***ret_removed,
                       bothy_error_t *err);

/* Path of an unpacked layer, or NULL if it is not here. Caller frees. */
char *bothy_images_layer_dir(struct bothy_images *imgs, const char *diff_id);
