/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/push.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "image/auth.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/registry.h"
#include "image/store.h"

struct push_ctx {
  struct bothy_images *imgs;
  struct bothy_registry *reg;
  const struct bothy_reference *dst;
  const char *mount_from; /* a repository on the same registry that has the blobs, or NULL */
  const struct bothy_push_opts *opts;
};

static void report(const struct push_ctx *c, const struct bothy_descriptor *d, bool is_config,
                   enum bothy_push_blob_state state, const char *from)
{
  if (c->opts->progress)
    c->opts->progress(c->opts->progress_data, d->digest, is_config, state, from);
}

static int push_blob(const struct push_ctx *c, const struct bothy_descriptor *d, bool is_config,
                     bothy_error_t *err)
{
  const char *what = is_config ? "config" : "layer";
  /* The store has it, with the size the manifest says: otherwise the
   * registry would refuse the manifest after all the uploads. */
  uint64_t size = 0;
  if (bothy_store_blob_stat(c->imgs->store, d->digest, &size, err) < 0)
    return bothy_error_prefix(err, "%s %s is not in the local store", what, d->digest);
  if (d->size >= 0 && size != (uint64_t) d->size)
    return bothy_error_set(
        err, EBADMSG, "%s %s: the local store has %" PRIu64 " bytes, the manifest says %" PRId64,
        what, d->digest, size, d->size);

  int r = bothy_registry_blob_exists(c->reg, c->dst->path, d->digest, err);
  if (r < 0)
    return r;
  if (r > 0) {
    report(c, d, is_config, BOTHY_PUSH_BLOB_EXISTS, NULL);
    return 0;
  }

  if (c->mount_from) {
    _cleanup_error_ bothy_error_t merr = NULL;
    r = bothy_registry_mount_blob(c->reg, c->dst->path, d->digest, c->mount_from, &merr);
    if (r > 0) {
      report(c, d, is_config, BOTHY_PUSH_BLOB_MOUNTED, c->mount_from);
      return 0;
    }
    /* A mount is an optimisation: whatever went wrong, uploading is the
     * answer, and a real problem (credentials, a dead registry) shows there
     * with its own message. */
    if (r < 0)
      log_debug("push: %s, uploading instead", merr->msg);
  }

  _cleanup_close_ int fd = bothy_store_blob_open(c->imgs->store, d->digest, err);
  if (fd < 0)
    return fd;
  if ((r = bothy_registry_upload_blob(c->reg, c->dst->path, fd, size, d->digest,
                                      c->opts->chunk_size, err)) < 0)
    return r;
  report(c, d, is_config, BOTHY_PUSH_BLOB_UPLOADED, NULL);
  return 0;
}

static int parse_dest(const char *dest, struct bothy_reference **ret, bothy_error_t *err)
{
  if (strncmp(dest, "docker://", 9) == 0)
    dest += 9;
  return bothy_reference_parse(dest, ret, err);
}

int bothy_image_push(struct bothy_images *imgs, const char *name, const char *dest,
                     const struct bothy_push_opts *opts, char **ret_digest, bothy_error_t *err)
{
  static const struct bothy_push_opts defaults = { 0 };
  if (!opts)
    opts = &defaults;

  _cleanup_image_ struct bothy_image *img = NULL;
  if (bothy_images_get(imgs, name, &img, err) < 0)
    return bothy_error_prefix(err, "pushing '%s'", name);
  if (!dest && !img->ref)
    return bothy_error_set(
        err, 0, "pushing '%s': the image has no name to push to: give a destination", name);

  _cleanup_reference_ struct bothy_reference *dst = NULL;
  if (parse_dest(dest ? dest : img->ref, &dst, err) < 0)
    return bothy_error_prefix(err, "pushing '%s'", name);
  _cleanup_free_ char *full = bothy_reference_string(dst);
  if (dst->digest && !streq(dst->digest, img->digest))
    return bothy_error_set(err, 0, "pushing '%s' to '%s': the image's digest is %s", name, full,
                           img->digest);

  /* The manifest exactly as stored: re-serialising it would change its
   * digest. */
  _cleanup_free_ char *body = NULL;
  size_t len = 0;
  if (bothy_store_blob_read(imgs->store, img->digest, BOTHY_REGISTRY_MANIFEST_MAX, &body, &len,
                            err) < 0)
    return bothy_error_prefix(err, "pushing '%s' to '%s': manifest", name, full);

  _cleanup_free_ char *saved_user = NULL;
  _cleanup_secret_ char *saved_pass = NULL;
  if (!opts->username &&
      bothy_auth_lookup(imgs->root, dst->domain, &saved_user, &saved_pass, err) < 0)
    return bothy_error_prefix(err, "pushing '%s' to '%s'", name, full);
  struct bothy_registry_opts ro = {
    .host = dst->domain,
    .insecure = bothy_auth_host_is_loopback(dst->domain) || opts->tls_verify_off,
    .tls_skip_verify = opts->tls_verify_off,
    .ca_file = opts->ca_file,
    .username = opts->username ? opts->username : saved_user,
    .password = opts->username ? opts->password : saved_pass,
    .retries = 3,
  };
  _cleanup_registry_ struct bothy_registry *reg = NULL;
  if (bothy_registry_new(&ro, &reg, err) < 0)
    return bothy_error_prefix(err, "pushing '%s' to '%s'", name, full);

  /* Where the blobs may already be on the same registry: the repository the
   * image came from. */
  _cleanup_reference_ struct bothy_reference *src = NULL;
  if (img->ref && bothy_reference_parse(img->ref, &src, NULL) < 0)
    src = NULL;
  struct push_ctx c = {
    .imgs = imgs,
    .reg = reg,
    .dst = dst,
    .mount_from =
        src && streq(src->domain, dst->domain) && !streq(src->path, dst->path) ? src->path : NULL,
    .opts = opts,
  };

  const struct bothy_manifest *m = img->manifest;
  for (size_t i = 0; i < m->n_layers; i++) {
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++)
      dup = streq(m->layers[k].digest, m->layers[i].digest);
    if (!dup && push_blob(&c, &m->layers[i], false, err) < 0)
      return bothy_error_prefix(err, "pushing '%s' to '%s'", name, full);
  }
  if (push_blob(&c, &m->config, true, err) < 0)
    return bothy_error_prefix(err, "pushing '%s' to '%s'", name, full);

  /* Last, so the tag names only what is there. */
  _cleanup_free_ char *digest = NULL;
  if (bothy_registry_put_manifest(reg, dst->path, dst->tag ? dst->tag : dst->digest, body, len,
                                  m->media_type, &digest, err) < 0)
    return bothy_error_prefix(err, "pushing '%s' to '%s'", name, full);
  if (!streq(digest, img->digest))
    return bothy_error_set(err, EBADMSG,
                           "pushing '%s' to '%s': the manifest's digest is %s, not %s", name, full,
                           digest, img->digest);
  if (ret_digest)
    *ret_digest = TAKE_PTR(digest);
  return 0;
}
