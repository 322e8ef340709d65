/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/dlopen.h"

#include <dlfcn.h>

int bothy_dlopen(void **handle, const char *const *sonames, const struct bothy_dlsym *syms,
                 size_t n, bothy_error_t *err)
{
  if (*handle)
    return 0;
  void *h = NULL;
  const char *last = "";
  for (size_t i = 0; sonames[i] && !h; i++) {
    h = dlopen(sonames[i], RTLD_NOW | RTLD_NODELETE);
    if (!h)
      last = dlerror();
  }
  if (!h)
    return bothy_error_set(err, 0, "cannot load %s: %s", sonames[0], last ? last : "");
  for (size_t i = 0; i < n; i++) {
    void *p = dlsym(h, syms[i].name);
    if (!p) {
      dlclose(h);
      return bothy_error_set(err, 0, "cannot find %s in %s", syms[i].name, sonames[0]);
    }
    *syms[i].ptr = p;
  }
  *handle = h;
  return 0;
}
