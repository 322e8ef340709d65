/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/sbuf.h"
#include <stdlib.h>
#include <string.h>
#include "base/xalloc.h"

void sb_addn(struct sbuf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 32;
    while (cap < b->len + n + 1)
      cap *= 2;
    b->s = xrealloc(b->s, cap);
    b->cap = cap;
  }
  if (n)
    memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void sb_addc(struct sbuf *b, char c)
{
  sb_addn(b, &c, 1);
}

void sb_adds(struct sbuf *b, const char *s)
{
  if (s)
    sb_addn(b, s, strlen(s));
}

void sb_set(struct sbuf *b, const char *s)
{
  b->len = 0;
  if (b->s)
    b->s[0] = '\0';
  sb_adds(b, s);
}

void sb_truncate(struct sbuf *b, size_t len)
{
  b->len = len;
  if (b->s)
    b->s[len] = '\0';
}

char *sb_take(struct sbuf *b)
{
  char *s = b->s ? b->s : xstrdup("");
  *b = (struct sbuf){ 0 };
  return s;
}

void sb_done(struct sbuf *b)
{
  free(b->s);
  *b = (struct sbuf){ 0 };
}
