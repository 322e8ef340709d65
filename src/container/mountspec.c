/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/mountspec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "base/xalloc.h"

static const char *const propagation_modes[] = {
  "private", "rprivate", "shared", "rshared", "slave", "rslave",
};

/* docker's consistency modes: meaningful on macOS, accepted and ignored on
 * Linux. */
static const char *const consistency_modes[] = { "consistent", "cached", "delegated", "default" };

/* The mount flags a --tmpfs option may be (moby/sys/mount's flag table). */
static const char *const tmpfs_flags[] = {
  "defaults", "ro",         "rw",          "suid",          "nosuid",     "dev",
  "nodev",    "exec",       "noexec",      "sync",          "async",      "dirsync",
  "mand",     "nomand",     "atime",       "noatime",       "diratime",   "nodiratime",
  "relatime", "norelatime", "strictatime", "nostrictatime", "private",    "rprivate",
  "shared",   "rshared",    "slave",       "rslave",        "unbindable", "runbindable",
};

/* tmpfs's own key=value options (mm/shmem.c) that docker lets through. */
static const char *const tmpfs_data_keys[] = {
  "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol",
};

/* EINVAL with a message in docker's words (bothy_error_set would append
 * "Invalid argument" to it). */
_printf_(2, 3) static int invalid(bothy_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  bothy_error_setv(err, 0, fmt, ap);
  va_end(ap);
  if (err && *err)
    (*err)->code = EINVAL;
  return -EINVAL;
}

static bool in_list(const char *const *list, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++)
    if (streq(list[i], s))
      return true;
  return false;
}
#define IN_LIST(list, s) in_list((list), ARRAY_SIZE(list), (s))

static bool is_ascii_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char *ascii_lower(const char *s)
{
  char *r = xstrdup(s);
  for (char *p = r; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char) (*p - 'A' + 'a');
  return r;
}

/* Normalises an absolute container path into *ret; on failure returns what
 * is wrong with it (for the caller's message) and leaves *ret alone. */
static const char *clean_target(const char *t, char **ret)
{
  if (t[0] != '/')
    return "must be absolute";
  size_t len = strlen(t);
  char *out = xmalloc(len + 1);
  size_t o = 0;
  const char *p = t;
  while (*p) {
    while (*p == '/')
      p++;
    const char *e = strchrnul(p, '/');
    size_t n = (size_t) (e - p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      free(out);
      return "must not contain \"..\"";
    }
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      out[o++] = '/';
      memcpy(out + o, p, n);
      o += n;
    }
    p = e;
  }
  out[o] = '\0';
  if (o == 0) {
    free(out);
    return "can't be \"/\"";
  }
  *ret = out;
  return NULL;
}

/* docker's local volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+. NULL when n is
 * fine, else why not. */
static const char *volume_name_problem(const char *n)
{
  if (!is_ascii_alnum(n[0]))
    goto invalid;
  for (const char *p = n + 1; *p; p++)
    if (!is_ascii_alnum(*p) && *p != '_' && *p != '.' && *p != '-')
      goto invalid;
  if (!n[1])
    return "volume name is too short, names should be at least two alphanumeric characters";
  return NULL;
invalid:
  return "includes invalid characters for a local volume name, only "
         "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed; if you intended to pass a host "
         "directory, use an absolute path";
}

/* Splits s at every sep (empty pieces kept). */
static char **split(const char *s, char sep)
{
  char **v = xcalloc(1, sizeof(char *));
  for (;;) {
    const char *e = strchr(s, sep);
    if (!e) {
      strv_push(&v, xstrdup(s));
      return v;
    }
    strv_push(&v, xstrndup(s, (size_t) (e - s)));
    s = e + 1;
  }
}

/* A -v mode: a comma-separated list with at most one of each kind. */
static bool valid_volume_mode(const char *mode)
{
  if (!*mode)
    return true;
  unsigned rw = 0, label = 0, prop = 0, copy = 0, consistency = 0;
  _cleanup_strv_free_ char **opts = split(mode, ',');
  for (size_t i = 0; opts[i]; i++) {
    const char *o = opts[i];
    if (streq(o, "ro") || streq(o, "rw"))
      rw++;
    else if (streq(o, "z") || streq(o, "Z"))
      label++;
    else if (IN_LIST(propagation_modes, o))
      prop++;
    else if (streq(o, "nocopy"))
      copy++;
    else if (IN_LIST(consistency_modes, o))
      consistency++;
    else
      return false;
  }
  return rw <= 1 && label <= 1 && prop <= 1 && copy <= 1 && consistency <= 1;
}

void bothy_mount_req_done(struct bothy_mount_req *m)
{
  if (!m)
    return;
  free(m->source);
  free(m->target);
  strv_free(m->options);
  *m = (struct bothy_mount_req){ 0 };
}

static void mount_req_donep(struct bothy_mount_req *m)
{
  bothy_mount_req_done(m);
}
#define _cleanup_mount_req_ _cleanup_(mount_req_donep)

int bothy_mount_parse_volume(const char *spec, struct bothy_mount_req *ret, bothy_error_t *err)
{
  _cleanup_strv_free_ char **parts = split(spec, ':');
  size_t n = strv_length(parts);
  if (!*parts[0] || n > 3 || (n == 2 && valid_volume_mode(parts[1])))
    /* "/data:ro" is a destination and a mode, which a volume cannot have. */
    return invalid(err, "invalid volume specification: \"%s\"", spec);
  const char *src = n >= 2 ? parts[0] : NULL;
  const char *dst = n >= 2 ? parts[1] : parts[0];
  const char *mode = n == 3 ? parts[2] : "";
  if (!valid_volume_mode(mode))
    return invalid(err, "invalid volume specification: \"%s\": invalid mode \"%s\"", spec, mode);

  _cleanup_mount_req_ struct bothy_mount_req m = { 0 };
  m.kind = src && src[0] == '/' ? BOTHY_MOUNT_BIND : BOTHY_MOUNT_VOLUME;
  if (src && m.kind == BOTHY_MOUNT_VOLUME) {
    const char *why = volume_name_problem(src);
    if (why)
      return invalid(err, "invalid volume specification: \"%s\": \"%s\" %s", spec, src, why);
  }
  m.source = xstrdup(src);
  const char *why = clean_target(dst, &m.target);
  if (why)
    return invalid(err, "invalid volume specification: \"%s\": invalid mount path \"%s\": %s", spec,
                   dst, why);

  _cleanup_strv_free_ char **opts = split(mode, ',');
  for (size_t i = 0; opts[i]; i++) {
    const char *o = opts[i];
    if (streq(o, "ro")) {
      m.readonly = true;
    } else if (IN_LIST(propagation_modes, o)) {
      if (m.kind != BOTHY_MOUNT_BIND)
        return invalid(err,
                       "invalid volume specification: \"%s\": propagation mode \"%s\" "
                       "applies to bind mounts only",
                       spec, o);
      strv_push(&m.options, xstrdup(o));
    } else if (streq(o, "nocopy")) {
      if (m.kind != BOTHY_MOUNT_VOLUME)
        return invalid(err,
                       "invalid volume specification: \"%s\": \"nocopy\" applies to "
                       "volumes only",
                       spec);
      strv_push(&m.options, xstrdup(o));
    }
    /* rw is the default; z/Z (SELinux relabelling) and the consistency
     * modes have nothing to do here. */
  }
  *ret = m;
  m = (struct bothy_mount_req){ 0 };
  return 0;
}

/* Go's strconv.ParseBool, which docker uses for readonly= and volume-nocopy=. */
static int parse_bool(const char *s, bool *ret)
{
  static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
  if (IN_LIST(yes, s)) {
    *ret = true;
    return 0;
  }
  if (IN_LIST(no, s)) {
    *ret = false;
    return 0;
  }
  return -1;
}

/* docker's units.RAMInBytes: "64m", "1.5g", "512 KiB"; powers of 1024. */
static int parse_ram_size(const char *s, int64_t *ret)
{
  /* By hand rather than strtod(), whose decimal point is the locale's. */
  const char *p = s;
  double v = 0, scale = 1;
  if (!(*p >= '0' && *p <= '9'))
    return -1;
  for (; *p >= '0' && *p <= '9'; p++)
    v = v * 10 + (*p - '0');
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9'))
      return -1;
    for (; *p >= '0' && *p <= '9'; p++)
      v += (*p - '0') * (scale /= 10);
  }
  if (*p == ' ')
    p++;
  static const char units[] = "kmgtp";
  const char *u = *p ? strchr(units, *p | 0x20) : NULL;
  if (u) {
    for (const char *k = units; k <= u; k++)
      v *= 1024;
    p++;
  }
  if (*p == 'i' || *p == 'I')
    p++;
  if (*p == 'b' || *p == 'B')
    p++;
  if (*p || !(v < 9223372036854775807.0))
    return -1;
  *ret = (int64_t) v;
  return 0;
}

/* One record of Go's encoding/csv, which docker reads --mount with: fields
 * split at commas, a field may be double-quoted with "" for a quote inside.
 * On failure returns what is wrong. */
static const char *csv_fields(const char *s, char ***ret)
{
  _cleanup_strv_free_ char **v = xcalloc(1, sizeof(char *));
  const char *p = s;
  for (;;) {
    _cleanup_free_ char *f = xmalloc(strlen(p) + 1);
    size_t n = 0;
    if (*p == '"') {
      p++;
      for (;;) {
        if (!*p)
          return "extraneous or missing \" in quoted-field";
        if (*p == '"') {
          if (p[1] == '"') {
            f[n++] = '"';
            p += 2;
            continue;
          }
          p++;
          break;
        }
        f[n++] = *p++;
      }
      if (*p && *p != ',')
        return "extraneous or missing \" in quoted-field";
    } else {
      while (*p && *p != ',') {
        if (*p == '"')
          return "bare \" in non-quoted-field";
        f[n++] = *p++;
      }
    }
    f[n] = '\0';
    strv_push(&v, TAKE_PTR(f));
    if (!*p)
      break;
    p++; /* the comma */
  }
  *ret = TAKE_PTR(v);
  return NULL;
}

#define MOUNT_ERR(...) invalid(err, "invalid mount spec \"%s\": " __VA_ARGS__)

int bothy_mount_parse_mount(const char *spec, struct bothy_mount_req *ret, bothy_error_t *err)
{
  _cleanup_strv_free_ char **fields = NULL;
  const char *why = csv_fields(spec, &fields);
  if (why)
    return MOUNT_ERR("%s", spec, why);

  _cleanup_free_ char *type = NULL, *propagation = NULL;
  const char *source = NULL, *target = NULL;
  bool readonly = false, nocopy = false;
  bool bind_opts = false, volume_opts = false, tmpfs_opts = false;
  int64_t tmpfs_size = 0;
  unsigned long tmpfs_mode = 0;
  for (size_t i = 0; fields[i]; i++) {
    const char *field = fields[i];
    const char *eq = strchr(field, '=');
    _cleanup_free_ char *key = ascii_lower(field);
    if (!eq) {
      if (streq(key, "readonly") || streq(key, "ro")) {
        readonly = true;
      } else if (streq(key, "volume-nocopy")) {
        nocopy = true;
        volume_opts = true;
      } else {
        return MOUNT_ERR("invalid field \"%s\" must be a key=value pair", spec, field);
      }
      continue;
    }
    key[eq - field] = '\0';
    const char *val = eq + 1;
    if (streq(key, "type")) {
      free(type);
      type = ascii_lower(val);
    } else if (streq(key, "source") || streq(key, "src")) {
      source = val;
    } else if (streq(key, "target") || streq(key, "destination") || streq(key, "dst")) {
      target = val;
    } else if (streq(key, "readonly") || streq(key, "ro")) {
      if (parse_bool(val, &readonly) < 0)
        return MOUNT_ERR("invalid value for %s: \"%s\"", spec, key, val);
    } else if (streq(key, "consistency")) {
      /* macOS only; docker ignores it on Linux too. */
    } else if (streq(key, "bind-propagation")) {
      free(propagation);
      propagation = ascii_lower(val);
      bind_opts = true;
    } else if (streq(key, "volume-nocopy")) {
      if (parse_bool(val, &nocopy) < 0)
        return MOUNT_ERR("invalid value for volume-nocopy: \"%s\"", spec, val);
      volume_opts = true;
    } else if (streq(key, "tmpfs-size")) {
      if (parse_ram_size(val, &tmpfs_size) < 0)
        return MOUNT_ERR("invalid value for tmpfs-size: \"%s\"", spec, val);
      tmpfs_opts = true;
    } else if (streq(key, "tmpfs-mode")) {
      char *end = NULL;
      errno = 0;
      tmpfs_mode = strtoul(val, &end, 8);
      if (!*val || *end || errno || tmpfs_mode > UINT32_MAX || val[0] == '-' || val[0] == '+')
        return MOUNT_ERR("invalid value for tmpfs-mode: \"%s\"", spec, val);
      tmpfs_opts = true;
    } else if (streq(key, "bind-nonrecursive") || streq(key, "bind-recursive") ||
               streq(key, "bind-create-mountpoint") || streq(key, "volume-driver") ||
               streq(key, "volume-label") || streq(key, "volume-opt") ||
               streq(key, "volume-subpath") || streq(key, "image-subpath")) {
      return MOUNT_ERR("\"%s\" is not supported", spec, key);
    } else {
      return MOUNT_ERR("unexpected key \"%s\" in \"%s\"", spec, key, field);
    }
  }

  _cleanup_mount_req_ struct bothy_mount_req m = { 0 };
  const char *t = type ? type : "volume";
  if (streq(t, "bind"))
    m.kind = BOTHY_MOUNT_BIND;
  else if (streq(t, "volume"))
    m.kind = BOTHY_MOUNT_VOLUME;
  else if (streq(t, "tmpfs"))
    m.kind = BOTHY_MOUNT_TMPFS;
  else
    return MOUNT_ERR("unsupported mount type \"%s\"", spec, t);
  if (!target || !*target)
    return MOUNT_ERR("target is required", spec);
  if (bind_opts && m.kind != BOTHY_MOUNT_BIND)
    return MOUNT_ERR("cannot mix \"bind-*\" options with mount type \"%s\"", spec, t);
  if (volume_opts && m.kind != BOTHY_MOUNT_VOLUME)
    return MOUNT_ERR("cannot mix \"volume-*\" options with mount type \"%s\"", spec, t);
  if (tmpfs_opts && m.kind != BOTHY_MOUNT_TMPFS)
    return MOUNT_ERR("cannot mix \"tmpfs-*\" options with mount type \"%s\"", spec, t);
  why = clean_target(target, &m.target);
  if (why)
    return MOUNT_ERR("invalid mount path \"%s\": %s", spec, target, why);

  switch (m.kind) {
  case BOTHY_MOUNT_BIND:
    if (!source || !*source)
      return MOUNT_ERR("invalid mount config for type \"bind\": field Source must not be empty",
                       spec);
    /* docker's client turns "./dir" into an absolute path; a parser that
     * does not look at the filesystem cannot, so it asks for one. */
    if (source[0] != '/')
      return MOUNT_ERR("invalid mount config for type \"bind\": invalid mount path \"%s\": "
                       "must be absolute",
                       spec, source);
    if (propagation) {
      if (!IN_LIST(propagation_modes, propagation))
        return MOUNT_ERR("invalid mount config: must use either propagation mode \"rslave\", "
                         "\"rshared\", \"rprivate\", \"slave\", \"shared\" or \"private\", not "
                         "\"%s\"",
                         spec, propagation);
      strv_push(&m.options, xstrdup(propagation));
    }
    m.source = xstrdup(source);
    break;
  case BOTHY_MOUNT_VOLUME:
    if (source && *source) {
      why = volume_name_problem(source);
      if (why)
        return MOUNT_ERR("\"%s\" %s", spec, source, why);
      m.source = xstrdup(source);
    }
    if (nocopy)
      strv_push(&m.options, xstrdup("nocopy"));
    break;
  case BOTHY_MOUNT_TMPFS:
    if (source && *source)
      return MOUNT_ERR("invalid mount config for type \"tmpfs\": field Source must not be "
                       "specified",
                       spec);
    if (tmpfs_size > 0) {
      /* docker's spelling: the largest unit that divides the size. */
      static const struct {
        const char *suffix;
        int64_t div;
      } units[] = { { "g", INT64_C(1) << 30 }, { "m", INT64_C(1) << 20 }, { "k", 1024 } };
      const char *suffix = "";
      int64_t v = tmpfs_size;
      for (size_t i = 0; i < ARRAY_SIZE(units); i++)
        if (tmpfs_size % units[i].div == 0) {
          v = tmpfs_size / units[i].div;
          suffix = units[i].suffix;
          break;
        }
      strv_push(&m.options, xasprintf("size=%" PRId64 "%s", v, suffix));
    }
    if (tmpfs_mode)
      strv_push(&m.options, xasprintf("mode=%lo", tmpfs_mode));
    break;
  default:
    break;
  }
  m.readonly = readonly;
  *ret = m;
  m = (struct bothy_mount_req){ 0 };
  return 0;
}

/* A tmpfs data option's value: mode is octal, size a number with an optional
 * k/m/g/t/p/e or % suffix (mm/shmem.c), the others non-empty. */
static bool tmpfs_value_ok(const char *key, const char *val)
{
  if (!*val)
    return false;
  if (streq(key, "mode"))
    return strspn(val, "01234567") == strlen(val);
  if (streq(key, "size")) {
    size_t d = strspn(val, "0123456789");
    if (d == 0)
      return false;
    return !val[d] || (strchr("kKmMgGtTpPeE%", val[d]) && !val[d + 1]);
  }
  return true;
}

int bothy_mount_parse_tmpfs(const char *spec, struct bothy_mount_req *ret, bothy_error_t *err)
{
  const char *colon = strchr(spec, ':');
  _cleanup_free_ char *dst = colon ? xstrndup(spec, (size_t) (colon - spec)) : xstrdup(spec);
  _cleanup_mount_req_ struct bothy_mount_req m = { .kind = BOTHY_MOUNT_TMPFS };
  const char *why = clean_target(dst, &m.target);
  if (why)
    return invalid(err, "invalid tmpfs destination \"%s\": %s", dst, why);
  if (colon) {
    _cleanup_strv_free_ char **opts = split(colon + 1, ',');
    for (size_t i = 0; opts[i]; i++) {
      const char *o = opts[i];
      const char *eq = strchr(o, '=');
      if (!*o || streq(o, "defaults"))
        continue;
      if (streq(o, "ro") || streq(o, "rw")) {
        m.readonly = streq(o, "ro");
        continue;
      }
      if (IN_LIST(tmpfs_flags, o)) {
        strv_push(&m.options, xstrdup(o));
        continue;
      }
      if (eq) {
        _cleanup_free_ char *key = xstrndup(o, (size_t) (eq - o));
        if (IN_LIST(tmpfs_data_keys, key) && tmpfs_value_ok(key, eq + 1)) {
          strv_push(&m.options, xstrdup(o));
          continue;
        }
      }
      return invalid(err, "invalid tmpfs option \"%s\" in \"%s\"", o, spec);
    }
  }
  *ret = m;
  m = (struct bothy_mount_req){ 0 };
  return 0;
}
