/* SPDX-License-Identifier: GPL-2.0-or-later */
#define BOTHY_DL_CRYPTO_IMPL
#include "base/dl-crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/dlopen.h"

#define BOTHY_DL_DEFINE(f) __typeof__(f) *sym_##f;
BOTHY_CRYPTO_SYMBOLS(BOTHY_DL_DEFINE)
#undef BOTHY_DL_DEFINE

int bothy_dlopen_crypto(bothy_error_t *err)
{
  static void *handle;
#define BOTHY_DL_SYM(f) { #f, (void **) &sym_##f },
  static const struct bothy_dlsym syms[] = { BOTHY_CRYPTO_SYMBOLS(BOTHY_DL_SYM) };
#undef BOTHY_DL_SYM
  static const char *const names[] = { "libcrypto.so.3", NULL };
  return bothy_dlopen(&handle, names, syms, sizeof(syms) / sizeof(syms[0]), err);
}

void bothy_dlopen_crypto_or_die(void)
{
  bothy_error_t err = NULL;
  if (bothy_dlopen_crypto(&err) < 0) {
    dprintf(STDERR_FILENO, "bothy: %s\n", err->msg);
    abort();
  }
}
