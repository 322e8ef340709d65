/* SPDX-License-Identifier: GPL-2.0-or-later */
#define BOTHY_DL_ISAL_IMPL
#include "image/dl-isal.h"

#include "base/dlopen.h"

#define BOTHY_DL_DEFINE(f) __typeof__(f) *sym_##f;
BOTHY_ISAL_SYMBOLS(BOTHY_DL_DEFINE)
#undef BOTHY_DL_DEFINE

int bothy_dlopen_isal(bothy_error_t *err)
{
  static void *handle;
#define BOTHY_DL_SYM(f) { #f, (void **) &sym_##f },
  static const struct bothy_dlsym syms[] = { BOTHY_ISAL_SYMBOLS(BOTHY_DL_SYM) };
#undef BOTHY_DL_SYM
  static const char *const names[] = { "libisal.so.2", NULL };
  return bothy_dlopen(&handle, names, syms, sizeof(syms) / sizeof(syms[0]), err);
}
