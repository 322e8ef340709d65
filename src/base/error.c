/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

static int ret_for(int code)
{
  return code > 0 ? -code : -1;
}

int bothy_error_setv(bothy_error_t *err, int code, const char *fmt, va_list ap)
{
  if (!err)
    return ret_for(code);
  _cleanup_free_ char *msg = xvasprintf(fmt, ap);
  bothy_error_free(err);
  struct bothy_error *e = xmalloc0(sizeof(*e));
  e->code = code;
  if (code > 0)
    e->msg = xasprintf("%s: %s", msg, strerror(code));
  else
    e->msg = TAKE_PTR(msg);
  *err = e;
  return ret_for(code);
}

int bothy_error_set(bothy_error_t *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int r = bothy_error_setv(err, code, fmt, ap);
  va_end(ap);
  return r;
}

int bothy_error_set_code(bothy_error_t *err, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  bothy_error_setv(err, 0, fmt, ap);
  va_end(ap);
  if (err && *err)
    (*err)->code = code;
  return code ? -code : -1;
}

int bothy_error_prefix(bothy_error_t *err, const char *fmt, ...)
{
  if (!err || !*err)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *prefix = xvasprintf(fmt, ap);
  va_end(ap);
  char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
  free((*err)->msg);
  (*err)->msg = msg;
  return ret_for((*err)->code);
}

int bothy_error_ret(const bothy_error_t *err)
{
  return (err && *err) ? ret_for((*err)->code) : -1;
}

void bothy_error_free(bothy_error_t *err)
{
  if (!err || !*err)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}
