/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Image archives, both ways, and rootfs tarballs made into images.
 *
 * Two archive formats, each a tar (loaded plain or gzip/bzip2/xz/zstd
 * compressed, written plain):
 *
 * - docker-archive, as `docker save` writes it: manifest.json
 *   ([{"Config": NAME, "RepoTags": [...], "Layers": [NAME...]}]) naming
 *   files of the archive: the image configs and one uncompressed tar per
 *   layer ("<id>/layer.tar" from docker before 25, "blobs/sha256/<hex>" from
 *   docker 25+, "<hex>.tar" from skopeo and podman).
 * - oci-archive: an OCI image layout (image-spec image-layout.md) in a tar:
 *   oci-layout, index.json, blobs/<alg>/<hex>, as skopeo and podman write it.
 *
 * Loading trusts nothing in the archive. It is extracted into a private
 * directory ROOT/tmp-load-XXXXXX (removed on every path): a member with an
 * absolute name, a ".." component, or a symlink pointing out of the archive
 * is refused, and files named by manifest.json are opened resolved inside
 * that directory. Every blob is checked against its digest and size, every
 * layer's diff_id against its config, and every layer is unpacked with
 * bothy_images_add_layer()'s policy. Blobs and layers go into the stores
 * first, and the references are set last, once every image of the archive
 * is complete. On any failure, what the load added to the stores is removed
 * again, so a bad archive leaves them as they were.
 *
 * A docker-archive's layers are stored as uncompressed OCI layers (their
 * digest is their diff_id) under a new OCI manifest; the config blob is kept
 * byte for byte, so the image keeps its config digest (docker's image ID).
 * An oci-archive's blobs are stored as they are.
 *
 * An image loaded or imported without a name is kept in index.json under its
 * manifest digest as ref name ("sha256:<hex>"), so that it can be found by
 * digest and is not garbage; none is added when the image already has a
 * name.
 *
 * Errors follow base/error.h; each message names the archive ("loading
 * 'x.tar': ...") and what was wrong in it. */
#include <errno.h>
#include <stddef.h>
#include "base/error.h"
#include "image/images.h"

enum bothy_archive_format {
  BOTHY_ARCHIVE_DOCKER, /* "docker-archive" */
  BOTHY_ARCHIVE_OCI,    /* "oci-archive" */
  _BOTHY_ARCHIVE_FORMAT_MAX,
  _BOTHY_ARCHIVE_FORMAT_INVALID = -EINVAL,
};

/* "docker-archive" / "oci-archive" and back; _INVALID for anything else. */
enum bothy_archive_format bothy_archive_format_from_string(const char *s);
const char *bothy_archive_format_to_string(enum bothy_archive_format f);

/* One image a load put in the store. */
struct bothy_loaded_image {
  char *ref;    /* normalised reference, or NULL for an image without a name */
  char *digest; /* its manifest digest */
};

struct bothy_loaded {
  struct bothy_loaded_image *images; /* one per reference set (or untagged image) */
  size_t n;
};
struct bothy_loaded *bothy_loaded_free(struct bothy_loaded *l); /* NULL-safe, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_loaded *, bothy_loaded_free)
#define _cleanup_loaded_ _cleanup_(bothy_loaded_freep)

/* Loads every image of the archive read from fd (to its end; fd stays the
 * caller's). The format is told from the content: manifest.json makes it a
 * docker-archive (docker 25+ writes index.json as well), else index.json
 * and oci-layout an oci-archive. An oci-archive's index entry that is itself
 * an index is resolved to this machine's platform. Names come from RepoTags,
 * or from the annotations io.containerd.image.name, then
 * org.opencontainers.image.ref.name, normalised as docker does (a name that
 * is not a valid reference leaves the image unnamed). `what` names the
 * archive in messages. *ret (caller frees) lists what was loaded. */
int bothy_archive_load(struct bothy_images *imgs, int fd, const char *what,
                       struct bothy_loaded **ret, bothy_error_t *err);

/* Writes the images that names find (bothy_images_get(): references or
 * digests) as one archive. docker-archive: manifest.json with RepoTags as
 * full references ("docker.io/library/busybox:latest", which docker reads as
 * it reads its own short form, and podman reads right), <config hex>.json, and <diff_id
 * hex>/layer.tar holding each layer decompressed (its sha256 is the diff_id, checked on the way).
 * oci-archive: oci-layout, the images' blobs as stored, and index.json with
 * one entry per reference (annotations org.opencontainers.image.ref.name and
 * io.containerd.image.name: the full reference), or one without annotations
 * for an image named by digest.
 *
 * With path, the archive is written to a temporary file beside it, fsynced
 * and renamed over path: a failure never leaves a partial archive at path.
 * Without path (NULL) it is streamed to fd. Every name is resolved before
 * anything is written. */
int bothy_archive_save(struct bothy_images *imgs, char *const *names,
                       enum bothy_archive_format format, const char *path, int fd,
                       bothy_error_t *err);

/* Makes a one-layer image of the tarball (plain or compressed) read from fd:
 * the layer is stored uncompressed (application/vnd.oci.image.layer.v1.tar)
 * and unpacked; the config has this machine's os/architecture
 * (bothy_platform_native), a default PATH, rootfs.diff_ids, and a history
 * entry "bothy import". ref (optional) is normalised and pointed at the
 * image; without it the image is kept under its digest. *ret_digest
 * (optional, caller frees) is the manifest digest. On failure the stores
 * are left as they were. */
int bothy_archive_import(struct bothy_images *imgs, int fd, const char *what, const char *ref,
                         char **ret_digest, bothy_error_t *err);
