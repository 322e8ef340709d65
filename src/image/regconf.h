/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* registries.conf: per-registry settings, in the INI form every bothy file
 * uses (read with inih):
 *
 *   [registry.example.org:5000]
 *   insecure = true            # plain http (and no certificate checks)
 *   ca = /etc/bothy/certs/example.pem
 *   mirror = mirror.lan:5000   # tried first for pulls, in order; repeatable
 *
 * A section names a registry host as references do ("docker.io" for Docker
 * Hub). Unknown keys are errors naming the file and line. */
#include <stdbool.h>
#include "base/error.h"

struct bothy_regconf_entry {
  char *host;
  bool insecure;
  char *ca_file;
  char **mirrors; /* NULL-terminated, may be NULL */
};

struct bothy_regconf {
  struct bothy_regconf_entry *entries;
  size_t n;
};

/* Reads path; a missing file is an empty configuration. */
int bothy_regconf_load(const char *path, struct bothy_regconf **ret, bothy_error_t *err);
struct bothy_regconf *bothy_regconf_free(struct bothy_regconf *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_regconf *, bothy_regconf_free)
#define _cleanup_regconf_ _cleanup_(bothy_regconf_freep)

/* The entry for host, or NULL. Borrowed from c. */
const struct bothy_regconf_entry *bothy_regconf_find(const struct bothy_regconf *c,
                                                     const char *host);
