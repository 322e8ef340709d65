/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Running a container from an image, in the foreground: its root filesystem
 * is an overlay of the image's shared layers and its own upper directory
 * (ROOT/containers/ID/), its configuration is generated from the image, and
 * the runtime runs it in this process (no second binary on the hot path). */
#include <stdbool.h>
#include "base/error.h"
#include "container/ocispec.h"

struct bothy_run_request {
  const char *root; /* bothy's state root (/var/lib/bothy) */
  const char *image;
  struct bothy_run_opts opts;
  bool remove;                 /* --rm: nothing of the container is kept */
  bool pull;                   /* pull the image when it is not here */
  const char *registries_conf; /* for that pull; NULL: none */
};

/* Creates, runs and waits for the container; *ret_exit is its exit code.
 * Without remove, ROOT/containers/ID stays (its upper directory and
 * configuration) and *ret_id (optional) names it. */
int bothy_run(const struct bothy_run_request *req, int *ret_exit, char **ret_id,
              bothy_error_t *err);
