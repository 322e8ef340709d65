/* SPDX-License-Identifier: GPL-2.0-or-later */
#define BOTHY_DL_NL_IMPL
#include "net/dl-nl.h"

#include "base/dlopen.h"

#define BOTHY_DL_DEFINE(f) __typeof__(f) *sym_##f;
BOTHY_NL_SYMBOLS(BOTHY_DL_DEFINE)
BOTHY_NL_ROUTE_SYMBOLS(BOTHY_DL_DEFINE)
#undef BOTHY_DL_DEFINE

int bothy_dlopen_nl(bothy_error_t *err)
{
  static void *nl_handle, *route_handle;
#define BOTHY_DL_SYM(f) { #f, (void **) &sym_##f },
  static const struct bothy_dlsym nl_syms[] = { BOTHY_NL_SYMBOLS(BOTHY_DL_SYM) };
  static const struct bothy_dlsym route_syms[] = { BOTHY_NL_ROUTE_SYMBOLS(BOTHY_DL_SYM) };
#undef BOTHY_DL_SYM
  static const char *const nl_names[] = { "libnl-3.so.200", NULL };
  static const char *const route_names[] = { "libnl-route-3.so.200", NULL };
  /* libnl-3 first: libnl-route-3 needs it, and a missing libnl-3 is then
   * reported under its own name. */
  int r = bothy_dlopen(&nl_handle, nl_names, nl_syms, ARRAY_SIZE(nl_syms), err);
  if (r < 0)
    return r;
  return bothy_dlopen(&route_handle, route_names, route_syms, ARRAY_SIZE(route_syms), err);
}
