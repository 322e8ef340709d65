/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Image manifests, indexes and configs: OCI image-spec 1.1 and Docker's
 * schema2 (manifest and manifest list), parsed and checked. Parsing takes
 * registry or archive bytes, so everything is validated: digests well-formed,
 * sizes non-negative, media types known. All strings are owned by the
 * returned object and freed with it. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"

#define BOTHY_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define BOTHY_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define BOTHY_MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define BOTHY_MT_OCI_LAYER       "application/vnd.oci.image.layer.v1.tar"
#define BOTHY_MT_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
#define BOTHY_MT_OCI_LAYER_ZSTD  "application/vnd.oci.image.layer.v1.tar+zstd"
#define BOTHY_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define BOTHY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define BOTHY_MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"
#define BOTHY_MT_DOCKER_LAYER    "application/vnd.docker.image.rootfs.diff.tar.gzip"

struct bothy_descriptor {
  char *media_type;
  char *digest;
  int64_t size;
  char *os, *architecture, *variant; /* platform, index entries only; may be NULL */
  json_t *annotations;               /* owned, may be NULL */
};

enum bothy_manifest_kind {
  BOTHY_MANIFEST_IMAGE, /* OCI manifest or Docker schema2 manifest */
  BOTHY_MANIFEST_INDEX, /* OCI index or Docker manifest list */
};

struct bothy_manifest {
  enum bothy_manifest_kind kind;
  char *media_type;
  /* image */
  struct bothy_descriptor config;
  struct bothy_descriptor *layers;
  size_t n_layers;
  /* index */
  struct bothy_descriptor *manifests;
  size_t n_manifests;
  json_t *annotations; /* owned, may be NULL */
};

/* Parses a manifest or index. media_type (the registry's Content-Type or the
 * descriptor's) may be NULL: the document's own mediaType field, or its shape,
 * decides. `what` names the document in errors ("manifest of 'x:1'"). */
int bothy_manifest_parse(const char *data, size_t len, const char *media_type, const char *what,
                         struct bothy_manifest **ret, bothy_error_t *err);
struct bothy_manifest *bothy_manifest_free(struct bothy_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_manifest *, bothy_manifest_free)
#define _cleanup_manifest_ _cleanup_(bothy_manifest_freep)

/* Picks the entry of an index for os/architecture[/variant] (variant NULL:
 * any, preferring none or "v8" on arm64). Returns a pointer into index, or
 * fails with ENOENT naming the platforms on offer. */
int bothy_manifest_select(const struct bothy_manifest *index, const char *os,
                          const char *architecture, const char *variant,
                          const struct bothy_descriptor **ret, bothy_error_t *err);

/* The platform this machine runs: "linux", "amd64"/"arm64"/..., variant. */
void bothy_platform_native(const char **os, const char **architecture, const char **variant);

/* Whether a layer media type is one bothy can unpack (tar, gzip, zstd; OCI
 * and Docker names, non-distributable variants included). */
bool bothy_layer_media_type_ok(const char *media_type);

struct bothy_healthcheck {
  char **test; /* ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"]; NULL: none */
  int64_t interval_ns, timeout_ns, start_period_ns;
  int64_t retries;
};

struct bothy_image_config {
  char *architecture, *os, *variant;
  char *created;
  char *author;
  char *user;
  char **env;
  char **entrypoint;
  char **cmd;
  char *working_dir;
  char **volumes;       /* keys of config.Volumes */
  char **exposed_ports; /* keys of config.ExposedPorts ("80/tcp") */
  char *stop_signal;
  json_t *labels; /* owned, may be NULL */
  struct bothy_healthcheck health;
  char **diff_ids; /* rootfs.diff_ids, in order */
  size_t n_diff_ids;
  json_t *history; /* owned, may be NULL */
  json_t *json;    /* the whole document, owned */
};

int bothy_image_config_parse(const char *data, size_t len, const char *what,
                             struct bothy_image_config **ret, bothy_error_t *err);
struct bothy_image_config *bothy_image_config_free(struct bothy_image_config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_image_config *, bothy_image_config_free)
#define _cleanup_image_config_ _cleanup_(bothy_image_config_freep)
