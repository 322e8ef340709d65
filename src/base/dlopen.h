/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Libraries loaded when first needed (systemd's dlopen pattern). libcurl and
 * libarchive, with what they pull in, are 40 shared objects and 7 ms of
 * start-up for every bothy process, twice for those that re-execute
 * themselves before entering a container; most commands never need them. */
#include "base/error.h"

struct bothy_dlsym {
  const char *name;
  void **ptr;
};

/* Opens the first of sonames that loads and resolves every symbol into its
 * pointer. *handle caches the result: later calls return at once. */
int bothy_dlopen(void **handle, const char *const *sonames, const struct bothy_dlsym *syms,
                 size_t n, bothy_error_t *err);
