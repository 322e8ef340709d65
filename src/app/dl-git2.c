/* SPDX-License-Identifier: GPL-2.0-or-later */
#define BOTHY_DL_GIT2_IMPL
#include "app/dl-git2.h"

#include <stdbool.h>

#include "base/dlopen.h"

#define BOTHY_DL_DEFINE(f) __typeof__(f) *sym_##f;
BOTHY_GIT2_SYMBOLS(BOTHY_DL_DEFINE)
#undef BOTHY_DL_DEFINE

int bothy_dlopen_git2(bothy_error_t *err)
{
  static void *handle;
  static bool initialized;
#define BOTHY_DL_SYM(f) { #f, (void **) &sym_##f },
  static const struct bothy_dlsym syms[] = { BOTHY_GIT2_SYMBOLS(BOTHY_DL_SYM) };
#undef BOTHY_DL_SYM
  /* The soname carries the minor version: libgit2 breaks its ABI between
   * minor releases, and the symbol table above is checked against 1.5's
   * headers. */
  static const char *const names[] = { "libgit2.so.1.5", NULL };
  int r = bothy_dlopen(&handle, names, syms, ARRAY_SIZE(syms), err);
  if (r < 0 || initialized)
    return r;
  r = sym_git_libgit2_init();
  if (r < 0) {
    const git_error *e = sym_git_error_last();
    return bothy_error_set(err, 0, "cannot initialise %s: %s", names[0],
                           e && e->message ? e->message : "unknown error");
  }
  initialized = true;
  return 0;
}
