/* SPDX-License-Identifier: GPL-2.0-or-later */
#define BOTHY_DL_NFT_IMPL
#include "net/dl-nft.h"

#include "base/dlopen.h"

#define BOTHY_DL_DEFINE(f) __typeof__(f) *sym_##f;
BOTHY_NFT_SYMBOLS(BOTHY_DL_DEFINE)
#undef BOTHY_DL_DEFINE

int bothy_dlopen_nft(bothy_error_t *err)
{
  static void *handle;
#define BOTHY_DL_SYM(f) { #f, (void **) &sym_##f },
  static const struct bothy_dlsym syms[] = { BOTHY_NFT_SYMBOLS(BOTHY_DL_SYM) };
#undef BOTHY_DL_SYM
  static const char *const names[] = { "libnftables.so.1", NULL };
  return bothy_dlopen(&handle, names, syms, sizeof(syms) / sizeof(syms[0]), err);
}
