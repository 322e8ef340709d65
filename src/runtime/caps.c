/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/caps.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/strv.h"
#include "base/xalloc.h"

#define MAX_CAPS 64

static void cap_freep(cap_t *c)
{
  if (*c)
    cap_free(*c);
}
#define _cleanup_cap_ _cleanup_(cap_freep)

/* "CAP_CHOWN"... by number, from libcap; NULL where libcap has no name. Built
 * once (no threads in the runtime). */
static char *names[MAX_CAPS];
static bool names_loaded;

static void load_names(void)
{
  if (names_loaded)
    return;
  for (int v = 0; v < MAX_CAPS; v++) {
    /* For a number it has no name for, libcap returns the number itself. */
    char *n = cap_to_name((cap_value_t) v);
    if (n && strncmp(n, "cap_", 4) == 0) {
      names[v] = xstrdup(n);
      for (char *p = names[v]; *p; p++)
        *p = (char) toupper((unsigned char) *p);
    }
    cap_free(n);
  }
  names_loaded = true;
}

static const char *cap_name(unsigned v)
{
  load_names();
  return v < MAX_CAPS ? names[v] : NULL;
}

unsigned bothy_caps_last_cap(void)
{
  static int cached = -1;
  if (cached >= 0)
    return (unsigned) cached;
  _cleanup_free_ char *s = NULL;
  if (bothy_read_file(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", &s, NULL, NULL) == 0) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno == 0 && end != s && (*end == '\n' || *end == '\0') && v >= 0 && v < MAX_CAPS)
      cached = (int) v;
  }
  if (cached < 0) {
    /* No /proc: libcap probed the kernel with PR_CAPBSET_READ when it loaded. */
    cap_value_t bits = cap_max_bits();
    cached = bits > 0 && bits <= MAX_CAPS ? bits - 1 : CAP_LAST_CAP;
  }
  return (unsigned) cached;
}

int bothy_caps_from_name(const char *name)
{
  /* Not cap_from_name(): it is case-insensitive, takes numbers, and matches
   * "CAP_CHOWN2" as CAP_CHOWN (it stops at the first digit). */
  for (int v = 0; v < MAX_CAPS; v++)
    if (streq(name, cap_name((unsigned) v)))
      return v;
  return -1;
}

static bool well_formed(const char *name)
{
  if (strncmp(name, "CAP_", 4) != 0 || name[4] == '\0')
    return false;
  for (const char *p = name + 4; *p; p++)
    if (!(isupper((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
      return false;
  return true;
}

static int parse_set(char *const *list, const char *set, unsigned last_cap, char ***unknown,
                     uint64_t *ret, bothy_error_t *err)
{
  uint64_t mask = 0;
  for (size_t i = 0; list && list[i]; i++) {
    const char *name = list[i];
    if (!well_formed(name))
      return bothy_error_set(err, 0, "process.capabilities.%s[%zu]: malformed capability name '%s'",
                             set, i, name);
    int v = bothy_caps_from_name(name);
    if (v < 0) {
      if (!strv_contains(*unknown, name)) {
        log_warning("unknown capability '%s', ignoring", name);
        strv_push(unknown, xstrdup(name));
      }
      continue;
    }
    if ((unsigned) v > last_cap) {
      log_debug("capability '%s' (%d) is above the kernel's last one (%u), ignoring", name, v,
                last_cap);
      continue;
    }
    mask |= UINT64_C(1) << v;
  }
  *ret = mask;
  return 0;
}

static const char *first_name(uint64_t mask, char *buf, size_t size)
{
  for (unsigned v = 0; v < MAX_CAPS; v++)
    if (mask & (UINT64_C(1) << v)) {
      const char *n = cap_name(v);
      if (n)
        return n;
      snprintf(buf, size, "%u", v);
      return buf;
    }
  return "";
}

int bothy_caps_parse(const struct bothy_caps_spec *spec, struct bothy_capset *ret,
                     bothy_error_t *err)
{
  struct bothy_capset c = { .last_cap = bothy_caps_last_cap() };
  _cleanup_strv_free_ char **unknown = NULL;
  if (parse_set(spec->bounding, "bounding", c.last_cap, &unknown, &c.bounding, err) < 0 ||
      parse_set(spec->effective, "effective", c.last_cap, &unknown, &c.effective, err) < 0 ||
      parse_set(spec->inheritable, "inheritable", c.last_cap, &unknown, &c.inheritable, err) < 0 ||
      parse_set(spec->permitted, "permitted", c.last_cap, &unknown, &c.permitted, err) < 0 ||
      parse_set(spec->ambient, "ambient", c.last_cap, &unknown, &c.ambient, err) < 0)
    return -1;

  char buf[16];
  uint64_t extra = c.effective & ~c.permitted;
  if (extra)
    return bothy_error_set(err, 0,
                           "process.capabilities.effective: '%s' is not in the permitted set",
                           first_name(extra, buf, sizeof(buf)));
  /* PR_CAP_AMBIENT_RAISE needs the capability both permitted and inheritable.
   * runc's own default spec asks for such ambient caps, so this is only worth
   * a debug message (runc is silent too). */
  uint64_t lone = c.ambient & ~(c.permitted & c.inheritable);
  for (unsigned v = 0; v < MAX_CAPS; v++)
    if (lone & (UINT64_C(1) << v))
      log_debug("ambient capability '%s' is not both permitted and inheritable, ignoring",
                first_name(UINT64_C(1) << v, buf, sizeof(buf)));
  c.ambient &= ~lone;
  *ret = c;
  return 0;
}

int bothy_caps_apply_bounding(const struct bothy_capset *c, bothy_error_t *err)
{
  char buf[16];
  for (unsigned v = 0; v <= c->last_cap && v < MAX_CAPS; v++) {
    if (c->bounding & (UINT64_C(1) << v))
      continue;
    int r = prctl(PR_CAPBSET_READ, (unsigned long) v, 0, 0, 0);
    if (r < 0 && errno == EINVAL)
      continue; /* not a capability of this kernel */
    if (r < 0)
      return bothy_error_errno(err, "cannot read the capability bounding set");
    if (r == 0)
      continue;
    if (prctl(PR_CAPBSET_DROP, (unsigned long) v, 0, 0, 0) < 0) {
      int e = errno;
      return bothy_error_set(err, e, "cannot drop '%s' from the capability bounding set",
                             first_name(UINT64_C(1) << v, buf, sizeof(buf)));
    }
  }
  return 0;
}

static int set_flag(cap_t caps, cap_flag_t flag, uint64_t mask)
{
  cap_value_t values[MAX_CAPS];
  int n = 0;
  for (unsigned v = 0; v < MAX_CAPS; v++)
    if (mask & (UINT64_C(1) << v))
      values[n++] = (cap_value_t) v;
  return n ? cap_set_flag(caps, flag, n, values, CAP_SET) : 0;
}

int bothy_caps_apply(const struct bothy_capset *c, bothy_error_t *err)
{
  _cleanup_cap_ cap_t caps = cap_init();
  if (!caps)
    return bothy_error_errno(err, "cannot allocate a capability state");
  if (set_flag(caps, CAP_EFFECTIVE, c->effective) < 0 ||
      set_flag(caps, CAP_PERMITTED, c->permitted) < 0 ||
      set_flag(caps, CAP_INHERITABLE, c->inheritable) < 0)
    return bothy_error_errno(err, "cannot build the capability state");
  if (cap_set_proc(caps) < 0)
    return bothy_error_errno(err,
                             "cannot set capabilities (effective 0x%" PRIx64
                             ", permitted 0x%" PRIx64 ", inheritable 0x%" PRIx64 ")",
                             c->effective, c->permitted, c->inheritable);

  /* Ambient capabilities appeared in Linux 4.3 (EINVAL before): only an
   * error when some are asked for. */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
      !(errno == EINVAL && c->ambient == 0))
    return bothy_error_errno(err, "cannot clear the ambient capability set");
  char buf[16];
  for (unsigned v = 0; v < MAX_CAPS; v++) {
    if (!(c->ambient & (UINT64_C(1) << v)))
      continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long) v, 0, 0) < 0) {
      int e = errno;
      return bothy_error_set(err, e, "cannot raise ambient capability '%s'",
                             first_name(UINT64_C(1) << v, buf, sizeof(buf)));
    }
  }

  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return bothy_error_errno(err, "cannot clear keepcaps");
  return 0;
}

char **bothy_caps_names(uint64_t mask)
{
  char **v = xcalloc(1, sizeof(char *));
  for (unsigned c = 0; c < MAX_CAPS; c++)
    if ((mask & (UINT64_C(1) << c)) && cap_name(c))
      strv_push(&v, xstrdup(cap_name(c)));
  return v;
}

char **bothy_caps_all_names(void)
{
  unsigned last = bothy_caps_last_cap();
  uint64_t mask = last >= MAX_CAPS - 1 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
  return bothy_caps_names(mask);
}
