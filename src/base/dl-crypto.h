/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* OpenSSL's libcrypto, loaded on first use (base/dlopen.h says why: the
 * runtime never needs it, and loading it costs every process 1.2 ms).
 * Include this in a .c file after every other header. */
#include <openssl/evp.h>
#include "base/error.h"

#define BOTHY_CRYPTO_SYMBOLS(X)                                                                    \
  X(EVP_DecodeBlock)                                                                               \
  X(EVP_DigestFinal_ex)                                                                            \
  X(EVP_DigestInit_ex)                                                                             \
  X(EVP_DigestUpdate)                                                                              \
  X(EVP_EncodeBlock)                                                                               \
  X(EVP_MD_CTX_free)                                                                               \
  X(EVP_MD_CTX_new)                                                                                \
  X(EVP_sha256)

#define BOTHY_DL_DECLARE(f) extern __typeof__(f) *sym_##f;
BOTHY_CRYPTO_SYMBOLS(BOTHY_DL_DECLARE)
#undef BOTHY_DL_DECLARE

/* Loads libcrypto (once). */
int bothy_dlopen_crypto(bothy_error_t *err);
/* The same for callers that cannot fail: a missing libcrypto (a broken
 * install: it is a package dependency) aborts with a message. */
void bothy_dlopen_crypto_or_die(void);

#ifndef BOTHY_DL_CRYPTO_IMPL
#define EVP_DecodeBlock    sym_EVP_DecodeBlock
#define EVP_DigestFinal_ex sym_EVP_DigestFinal_ex
#define EVP_DigestInit_ex  sym_EVP_DigestInit_ex
#define EVP_DigestUpdate   sym_EVP_DigestUpdate
#define EVP_EncodeBlock    sym_EVP_EncodeBlock
#define EVP_MD_CTX_free    sym_EVP_MD_CTX_free
#define EVP_MD_CTX_new     sym_EVP_MD_CTX_new
#define EVP_sha256         sym_EVP_sha256
#endif
