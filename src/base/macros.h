/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Cleanup attributes and ownership helpers (systemd's and crun's pattern).
 *
 * Every resource a function holds is declared with a _cleanup_*_ attribute so
 * that every return path releases it. Ownership leaves a variable only through
 * TAKE_PTR() / TAKE_FD(), which read the value and reset the variable. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _unused_             __attribute__((unused))
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _noreturn_           __attribute__((noreturn))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x)          __builtin_expect(!!(x), 1)
#define _unlikely_(x)        __builtin_expect(!!(x), 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define TAKE_PTR(p)                                                                                \
  ({                                                                                               \
    __typeof__(p) _p_ = (p);                                                                       \
    (p) = NULL;                                                                                    \
    _p_;                                                                                           \
  })

#define TAKE_FD(fd)                                                                                \
  ({                                                                                               \
    int _fd_ = (fd);                                                                               \
    (fd) = -1;                                                                                     \
    _fd_;                                                                                          \
  })

/* Defines `static inline void func##p(type *p)` that calls func(*p) when *p is set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
  _unused_ static inline void func##p(type *p)                                                     \
  {                                                                                                \
    if (*p)                                                                                        \
      func(*p);                                                                                    \
  }

static inline void freep(void *p)
{
  free(*(void **) p);
}

/* close() that keeps errno: cleanup handlers run on error paths. */
static inline int safe_close(int fd)
{
  if (fd >= 0) {
    int saved = errno;
    close(fd);
    errno = saved;
  }
  return -1;
}

static inline void closep(int *fd)
{
  safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
  if (*f) {
    int saved = errno;
    fclose(*f);
    errno = saved;
  }
}

static inline void closedirp(DIR **d)
{
  if (*d) {
    int saved = errno;
    closedir(*d);
    errno = saved;
  }
}

#define _cleanup_free_     _cleanup_(freep)
#define _cleanup_close_    _cleanup_(closep)
#define _cleanup_fclose_   _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

static inline int streq(const char *a, const char *b)
{
  return a && b && __builtin_strcmp(a, b) == 0;
}
