/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* libnftables, loaded on first use (base/dlopen.h says why; libnftables pulls
 * in libnftnl, libmnl, libjansson, libgmp and libxtables, and only the
 * commands that touch the firewall need it). Include this in a .c file after
 * every other header: it turns the nft calls of that file into calls through
 * pointers that bothy_dlopen_nft() fills. */
#include <nftables/libnftables.h>
#include "base/error.h"

#define BOTHY_NFT_SYMBOLS(X)                                                                       \
  X(nft_ctx_new)                                                                                   \
  X(nft_ctx_free)                                                                                  \
  X(nft_ctx_output_set_flags)                                                                      \
  X(nft_ctx_buffer_output)                                                                         \
  X(nft_ctx_buffer_error)                                                                          \
  X(nft_ctx_get_output_buffer)                                                                     \
  X(nft_ctx_get_error_buffer)                                                                      \
  X(nft_run_cmd_from_buffer)

#define BOTHY_DL_DECLARE(f) extern __typeof__(f) *sym_##f;
BOTHY_NFT_SYMBOLS(BOTHY_DL_DECLARE)
#undef BOTHY_DL_DECLARE

/* Loads libnftables (once); fails with a message naming it. */
int bothy_dlopen_nft(bothy_error_t *err);

#ifndef BOTHY_DL_NFT_IMPL
#define nft_ctx_new               sym_nft_ctx_new
#define nft_ctx_free              sym_nft_ctx_free
#define nft_ctx_output_set_flags  sym_nft_ctx_output_set_flags
#define nft_ctx_buffer_output     sym_nft_ctx_buffer_output
#define nft_ctx_buffer_error      sym_nft_ctx_buffer_error
#define nft_ctx_get_output_buffer sym_nft_ctx_get_output_buffer
#define nft_ctx_get_error_buffer  sym_nft_ctx_get_error_buffer
#define nft_run_cmd_from_buffer   sym_nft_run_cmd_from_buffer
#endif
