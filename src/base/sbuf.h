/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* A growable NUL-terminated string. All zero is the empty string. */
#include <stddef.h>
#include "base/macros.h"

struct sbuf {
  char *s; /* NULL until something is added */
  size_t len, cap;
};

void sb_addn(struct sbuf *b, const char *s, size_t n);
void sb_addc(struct sbuf *b, char c);
void sb_adds(struct sbuf *b, const char *s); /* NULL adds nothing */
/* Replaces the content with s. */
void sb_set(struct sbuf *b, const char *s);
/* Keeps the first len bytes (len <= b->len). */
void sb_truncate(struct sbuf *b, size_t len);
/* The string, owned by the caller ("" when empty); b is empty again. */
char *sb_take(struct sbuf *b);
void sb_done(struct sbuf *b);
#define _cleanup_sb_ _cleanup_(sb_done)
