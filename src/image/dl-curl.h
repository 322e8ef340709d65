/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* libcurl, loaded on first use (base/dlopen.h says why). Include this in a .c
 * file after every other header: it turns the curl calls of that file into
 * calls through pointers that bothy_dlopen_curl() fills. */
#include <curl/curl.h>
#include "base/error.h"

#define BOTHY_CURL_SYMBOLS(X)                                                                      \
  X(curl_easy_cleanup)                                                                             \
  X(curl_easy_init)                                                                                \
  X(curl_easy_perform)                                                                             \
  X(curl_easy_reset)                                                                               \
  X(curl_easy_setopt)                                                                              \
  X(curl_easy_strerror)                                                                            \
  X(curl_getdate)                                                                                  \
  X(curl_global_cleanup)                                                                           \
  X(curl_global_init)                                                                              \
  X(curl_share_cleanup)                                                                            \
  X(curl_share_init)                                                                               \
  X(curl_share_setopt)                                                                             \
  X(curl_slist_append)                                                                             \
  X(curl_slist_free_all)

#define BOTHY_DL_DECLARE(f) extern __typeof__(f) *sym_##f;
BOTHY_CURL_SYMBOLS(BOTHY_DL_DECLARE)
#undef BOTHY_DL_DECLARE

/* Loads libcurl (once); fails with a message naming it. */
int bothy_dlopen_curl(bothy_error_t *err);

#ifndef BOTHY_DL_CURL_IMPL
/* curl.h's type-checking wrappers are function-like macros of these names. */
#undef curl_easy_setopt
#undef curl_share_setopt
#define curl_easy_cleanup   sym_curl_easy_cleanup
#define curl_easy_init      sym_curl_easy_init
#define curl_easy_perform   sym_curl_easy_perform
#define curl_easy_reset     sym_curl_easy_reset
#define curl_easy_setopt    sym_curl_easy_setopt
#define curl_easy_strerror  sym_curl_easy_strerror
#define curl_getdate        sym_curl_getdate
#define curl_global_cleanup sym_curl_global_cleanup
#define curl_global_init    sym_curl_global_init
#define curl_share_cleanup  sym_curl_share_cleanup
#define curl_share_init     sym_curl_share_init
#define curl_share_setopt   sym_curl_share_setopt
#define curl_slist_append   sym_curl_slist_append
#define curl_slist_free_all sym_curl_slist_free_all
#endif
