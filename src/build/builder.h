/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* `bothy build`: a Containerfile and its context become an image.
 *
 * Each stage starts from an image (pulled when missing), from scratch or
 * from an earlier stage. Instructions that only change the configuration
 * (ENV, LABEL, CMD, ...) change it in memory. RUN, COPY, ADD and a WORKDIR
 * whose directory does not exist yet make a layer:
 *  - RUN runs in bothy's own runtime, in this process's children, over an
 *    overlay of the stage's layers with a fresh upper directory; only that
 *    upper directory (what the command changed) becomes the layer;
 *  - COPY and ADD write their layer directly from the context (or the
 *    --from stage's or image's files): nothing is run.
 * Layers are deterministic tarballs (build/tarw.h), stored uncompressed in
 * the content store and unpacked once into the layer store, like pulled ones.
 *
 * The cache: every step has a key, the sha256 of its parent's key, the
 * instruction with its arguments expanded (and for RUN the build ARGs in
 * scope and its mounts; for COPY/ADD the content hash of its sources,
 * build/context.h). A step that made a layer records it under
 * ROOT/build-cache/<key> (a small JSON file, written atomically); a later
 * build with the same key takes the layer from there instead of running the
 * step. Changing one copied file changes that COPY's key, and so the key of
 * every step after it, and of none before. `bothy prune` drops the cache
 * (bothy_build_cache_prune) before removing the layers nothing needs.
 *
 * Reproducible: with a timestamp, every time in the image (layer mtimes,
 * history, created) is that timestamp, tar entries are sorted with numeric
 * owners and no atime, and the configuration is written with sorted keys,
 * so the same context gives the same manifest digest on any root.
 *
 * Temporary files, mounts and the runtime containers of a build live in
 * ROOT/build/<random>/, held by a lock; a build that was killed leaves one
 * that the next build finds unlocked and removes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "base/error.h"

struct bothy_build_opts {
  const char *root;            /* bothy's state root */
  const char *registries_conf; /* for pulls; NULL: none */
  const char *context_dir;
  const char *file; /* -f; NULL: Containerfile, else Dockerfile, in the context */
  char *const *tags;
  char *const *build_args; /* KEY=VALUE */
  const char *target;      /* --target; NULL: the last stage */
  bool no_cache;
  bool pull;            /* --pull: fetch base images even when present */
  const char *network;  /* RUN's network: "host" (NULL) or "none" */
  int64_t timestamp;    /* --timestamp; < 0: none */
  char *const *labels;  /* --label KEY=VALUE */
  bool docker_format;   /* --format docker: Docker schema2 media types */
  char *const *secrets; /* --secret id=ID,src=PATH | id=ID,env=VAR */
  bool quiet;           /* print nothing but the image id (the caller does) */
  FILE *out;            /* step lines and RUN output; NULL: stdout */
};

/* Builds; on success *ret_digest (caller frees) is the new image's manifest
 * digest, and every tag points at it. On failure no tag moved, no cache
 * entry of the failed step was written, and what the build mounted or ran
 * is gone; a failing RUN's message has its exit code and its last lines. */
int bothy_build(const struct bothy_build_opts *o, char **ret_digest, bothy_error_t *err);

/* The diff_ids of the layers the build cache records (a strv, NULL when
 * none): not orphans, though no image may use them. */
int bothy_build_cache_layers(const char *root, char ***ret, bothy_error_t *err);
/* Removes every build cache entry (and cache mounts); how many went. */
int bothy_build_cache_prune(const char *root, size_t *ret_removed, bothy_error_t *err);
