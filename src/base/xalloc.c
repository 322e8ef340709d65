/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_noreturn_ static void oom(void)
{
  static const char msg[] = "bothy: out of memory\n";
  (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
  abort();
}

void *xmalloc(size_t size)
{
  void *p = malloc(size ? size : 1);
  if (!p)
    oom();
  return p;
}

void *xmalloc0(size_t size)
{
  return xcalloc(1, size);
}

void *xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    oom();
  return p;
}

void *xrealloc(void *p, size_t size)
{
  void *r = realloc(p, size ? size : 1);
  if (!r)
    oom();
  return r;
}

char *xstrdup(const char *s)
{
  if (!s)
    return NULL;
  char *r = strdup(s);
  if (!r)
    oom();
  return r;
}

char *xstrndup(const char *s, size_t n)
{
  if (!s)
    return NULL;
  char *r = strndup(s, n);
  if (!r)
    oom();
  return r;
}

char *xvasprintf(const char *fmt, va_list ap)
{
  char *r = NULL;
  if (vasprintf(&r, fmt, ap) < 0)
    oom();
  return r;
}

char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *r = xvasprintf(fmt, ap);
  va_end(ap);
  return r;
}
