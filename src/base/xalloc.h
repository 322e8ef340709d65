/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Allocation that cannot fail: on out-of-memory the process aborts (one policy,
 * as in crun, bubblewrap and redis). Callers never check for NULL. */
#include <stdarg.h>
#include <stddef.h>
#include "base/macros.h"

void *xmalloc(size_t size);
void *xmalloc0(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s); /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
char *xvasprintf(const char *fmt, va_list ap) _printf_(1, 0);
