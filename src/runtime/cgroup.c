/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/mounts.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define DEFAULT_ROOT "/sys/fs/cgroup"

/* ---------------------------------------------------------------- names */

static const char *const mode_names[_BOTHY_CGROUP_MODE_MAX] = {
  [BOTHY_CGROUP_AUTO] = "auto",
  [BOTHY_CGROUP_V1] = "v1",
  [BOTHY_CGROUP_V2] = "v2",
  [BOTHY_CGROUP_HYBRID] = "hybrid",
};

const char *bothy_cgroup_mode_name(enum bothy_cgroup_mode m)
{
  return (m >= 0 && m < _BOTHY_CGROUP_MODE_MAX) ? mode_names[m] : "unknown";
}

enum bothy_cgroup_mode bothy_cgroup_mode_from_name(const char *name)
{
  for (int i = 0; i < _BOTHY_CGROUP_MODE_MAX; i++)
    if (streq(mode_names[i], name))
      return (enum bothy_cgroup_mode) i;
  return _BOTHY_CGROUP_MODE_INVALID;
}

/* v1 controllers a "cgroup" mount's options may name; other options (rw,
 * xattr, noprefix, release_agent=...) are not controllers. */
static const char *const v1_controllers[] = {
  "cpu",      "cpuacct", "cpuset",     "memory",  "devices", "freezer", "net_cls",
  "net_prio", "blkio",   "perf_event", "hugetlb", "pids",    "rdma",    "misc",
};

/* cgroup2 controllers enabled for the container, in this order. */
static const char *const v2_wanted[] = {
  "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
};

static bool is_v1_controller(const char *s)
{
  if (strncmp(s, "name=", 5) == 0)
    return s[5] != '\0';
  for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++)
    if (streq(s, v1_controllers[i]))
      return true;
  return false;
}

/* ---------------------------------------------------------------- small helpers */

/* Cleans p lexically into an absolute path: "/a/b", "/" for nothing; ".."
 * never goes above "/" (runc's CleanPath). */
static char *clean_abs(const char *p)
{
  size_t n = strlen(p);
  char *out = xmalloc(n + 2);
  size_t len = 0;
  const char *s = p;
  while (*s) {
    while (*s == '/')
      s++;
    if (!*s)
      break;
    const char *e = strchrnul(s, '/');
    size_t cl = (size_t) (e - s);
    if (cl == 1 && s[0] == '.') {
      /* nothing */
    } else if (cl == 2 && s[0] == '.' && s[1] == '.') {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0)
        len--;
    } else {
      out[len++] = '/';
      memcpy(out + len, s, cl);
      len += cl;
    }
    s = e;
  }
  if (len == 0)
    out[len++] = '/';
  out[len] = '\0';
  return out;
}

/* "/a" + "/b/c" (an absolute, cleaned path): "/a/b/c". */
static char *join_abs(const char *a, const char *b)
{
  if (streq(b, "/"))
    return xstrdup(a);
  if (streq(a, "/"))
    return xstrdup(b);
  return xasprintf("%s%s", a, b);
}

static void trim_right(char *s)
{
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
}

static void sleep_ms(long ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static char **split(const char *s, const char *sep)
{
  char **v = xcalloc(1, sizeof(char *));
  _cleanup_free_ char *copy = xstrdup(s);
  char *save = NULL;
  for (char *t = strtok_r(copy, sep, &save); t; t = strtok_r(NULL, sep, &save))
    strv_push(&v, xstrdup(t));
  return v;
}

static char *strv_join(char *const *v, const char *sep)
{
  size_t len = 1, seplen = strlen(sep);
  for (char *const *p = v; p && *p; p++)
    len += strlen(*p) + seplen;
  char *out = xmalloc(len);
  size_t off = 0;
  for (char *const *p = v; p && *p; p++) {
    if (p != v) {
      memcpy(out + off, sep, seplen);
      off += seplen;
    }
    size_t l = strlen(*p);
    memcpy(out + off, *p, l);
    off += l;
  }
  out[off] = '\0';
  return out;
}

/* ---------------------------------------------------------------- cgroup files */

/* Writes value to dir/file with one write(), as the kernel wants for cgroup
 * files. Returns 0 or -errno with *err naming the file and the value. */
static int cg_write_fd(int fd, const char *path, const char *value, bothy_error_t *err)
{
  size_t len = strlen(value);
  ssize_t w;
  do
    w = write(fd, value, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return bothy_error_errno(err, "cannot write '%s' to '%s'", value, path);
  if ((size_t) w != len)
    return bothy_error_set(err, EIO, "cannot write '%s' to '%s': short write", value, path);
  log_debug("cgroup: '%s' <- '%s'", path, value);
  return 0;
}

/* O_TRUNC is meaningless on cgroupfs but keeps a test tree's file equal to
 * the last value written. */
static int cg_open_w(const char *path)
{
  return open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
}

static int cg_write(const char *dir, const char *file, const char *value, bothy_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
  _cleanup_close_ int fd = cg_open_w(path);
  if (fd < 0)
    return bothy_error_errno(err, "cannot write '%s' to '%s'", value, path);
  return cg_write_fd(fd, path, value, err);
}

static int cg_writef(const char *dir, const char *file, bothy_error_t *err, const char *fmt, ...)
    _printf_(4, 5);
static int cg_writef(const char *dir, const char *file, bothy_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *v = xvasprintf(fmt, ap);
  va_end(ap);
  return cg_write(dir, file, v, err);
}

/* Reads dir/file; trailing whitespace removed. Returns 0 or -errno with
 * *err set; with enoent_ok, a missing file returns -ENOENT and sets nothing. */
static int cg_read_full(const char *dir, const char *file, bool enoent_ok, char **ret,
                        bothy_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && enoent_ok)
      return -ENOENT;
    return bothy_error_errno(err, "cannot read '%s'", path);
  }
  char *s = NULL;
  int r = bothy_read_fd(fd, &s, NULL, err);
  if (r < 0) {
    bothy_error_prefix(err, "'%s'", path);
    return r;
  }
  trim_right(s);
  *ret = s;
  return 0;
}

static int cg_read(const char *dir, const char *file, char **ret, bothy_error_t *err)
{
  return cg_read_full(dir, file, false, ret, err);
}

static bool cg_exists(const char *dir, const char *file)
{
  _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
  return access(path, F_OK) == 0;
}

static bool is_cgroupfs(const char *path)
{
  struct statfs sfs;
  if (statfs(path, &sfs) < 0)
    return false;
  return sfs.f_type == (typeof(sfs.f_type)) CGROUP2_SUPER_MAGIC ||
         sfs.f_type == (typeof(sfs.f_type)) CGROUP_SUPER_MAGIC;
}

/* ---------------------------------------------------------------- detection */

int bothy_cgroup_detect_mode(const char *root, enum bothy_cgroup_mode *ret, bothy_error_t *err)
{
  if (!root)
    root = DEFAULT_ROOT;
  struct statfs sfs;
  if (statfs(root, &sfs) < 0)
    return bothy_error_errno(err, "cannot examine '%s'", root);
  if (sfs.f_type == (typeof(sfs.f_type)) CGROUP2_SUPER_MAGIC) {
    *ret = BOTHY_CGROUP_V2;
    return 0;
  }
  _cleanup_free_ char *unified = xasprintf("%s/unified", root);
  struct statfs usfs;
  if (statfs(unified, &usfs) == 0 && usfs.f_type == (typeof(usfs.f_type)) CGROUP2_SUPER_MAGIC)
    *ret = BOTHY_CGROUP_HYBRID;
  else
    *ret = BOTHY_CGROUP_V1;
  return 0;
}

/* ---------------------------------------------------------------- systemd paths */

/* runc's ExpandSlice: "a-b.slice" -> "/a.slice/a-b.slice"; "-.slice" -> "/". */
static int expand_slice(const char *slice, char **ret, bothy_error_t *err)
{
  static const char suffix[] = ".slice";
  size_t n = strlen(slice), sl = strlen(suffix);
  if (n <= sl || !streq(slice + n - sl, suffix) || strchr(slice, '/'))
    return bothy_error_set(err, EINVAL, "invalid slice name '%s'", slice);
  _cleanup_free_ char *base = xstrndup(slice, n - sl);
  if (streq(base, "-")) {
    *ret = xstrdup("/");
    return 0;
  }
  _cleanup_free_ char *path = xstrdup("");
  size_t blen = strlen(base);
  for (size_t i = 0; i <= blen; i++) {
    if (base[i] != '-' && base[i] != '\0')
      continue;
    /* Each component must be non-empty: "a--b.slice" and "-a.slice" are not slices. */
    if (i == 0 || base[i - 1] == '-')
      return bothy_error_set(err, EINVAL, "invalid slice name '%s'", slice);
    char *next = xasprintf("%s/%.*s%s", path, (int) i, base, suffix);
    free(path);
    path = next;
  }
  *ret = TAKE_PTR(path);
  return 0;
}

int bothy_cgroup_systemd_path(const char *cgroups_path, const char *id, char **ret,
                              bothy_error_t *err)
{
  _cleanup_free_ char *slice = NULL, *prefix = NULL, *name = NULL;
  if (!cgroups_path || !*cgroups_path) {
    if (!id || !*id)
      return bothy_error_set(err, EINVAL, "a container id is needed for the default cgroup");
    slice = xstrdup("");
    prefix = xstrdup("runc");
    name = xstrdup(id);
  } else {
    const char *c1 = strchr(cgroups_path, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || strchr(c2 + 1, ':'))
      return bothy_error_set(err, EINVAL,
                             "cgroupsPath '%s' must be of the form 'slice:prefix:name' "
                             "with --systemd-cgroup",
                             cgroups_path);
    slice = xstrndup(cgroups_path, (size_t) (c1 - cgroups_path));
    prefix = xstrndup(c1 + 1, (size_t) (c2 - c1 - 1));
    name = xstrdup(c2 + 1);
  }
  if (!*name || strchr(name, '/') || streq(name, ".") || streq(name, "..") || strchr(prefix, '/'))
    return bothy_error_set(err, EINVAL, "invalid systemd cgroupsPath '%s'",
                           cgroups_path ? cgroups_path : "");
  _cleanup_free_ char *slice_path = NULL;
  if (expand_slice(*slice ? slice : "system.slice", &slice_path, err) < 0)
    return bothy_error_prefix(err, "cgroupsPath '%s'", cgroups_path ? cgroups_path : "");

  size_t nl = strlen(name);
  _cleanup_free_ char *unit = NULL;
  if (nl > 6 && streq(name + nl - 6, ".slice"))
    unit = xstrdup(name); /* the user asked for a slice: used as is */
  else if (*prefix)
    unit = xasprintf("%s-%s.scope", prefix, name);
  else
    unit = xasprintf("%s.scope", name);
  *ret = streq(slice_path, "/") ? xasprintf("/%s", unit) : xasprintf("%s/%s", slice_path, unit);
  return 0;
}

/* ---------------------------------------------------------------- hierarchies */

static void hierarchy_done(struct bothy_cgroup_hierarchy *h)
{
  free(h->name);
  free(h->options);
  strv_free(h->controllers);
  free(h->mountpoint);
  free(h->mount_root);
  free(h->path);
  free(h->dir);
}

struct bothy_cgroup *bothy_cgroup_free(struct bothy_cgroup *cg)
{
  if (!cg)
    return NULL;
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    hierarchy_done(&cg->hierarchies[i]);
  free(cg->hierarchies);
  free(cg);
  return NULL;
}

static struct bothy_cgroup_hierarchy *add_hierarchy(struct bothy_cgroup *cg)
{
  cg->hierarchies = xrealloc(cg->hierarchies, (cg->n_hierarchies + 1) * sizeof(*cg->hierarchies));
  struct bothy_cgroup_hierarchy *h = &cg->hierarchies[cg->n_hierarchies++];
  memset(h, 0, sizeof(*h));
  return h;
}

static const char *basename_of(const char *p)
{
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Decodes mountinfo's octal escapes ("\040" for a space) in place. */
static void unescape_mountinfo(char *s)
{
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

static bool path_under(const char *p, const char *dir)
{
  size_t n = strlen(dir);
  return strncmp(p, dir, n) == 0 && p[n] == '/';
}

struct mount_entry {
  char *mount_root;
  char *mountpoint;
  char *fstype;
  char *super_options;
};

static void mount_entry_done(struct mount_entry *m)
{
  free(m->mount_root);
  free(m->mountpoint);
  free(m->fstype);
  free(m->super_options);
}

/* One mountinfo line:
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS". */
static bool parse_mountinfo_line(const char *line, struct mount_entry *ret)
{
  _cleanup_strv_free_ char **f = split(line, " \n");
  size_t n = strv_length(f), sep = 0;
  for (size_t i = 6; i < n; i++)
    if (streq(f[i], "-")) {
      sep = i;
      break;
    }
  /* After "-": FSTYPE SOURCE [SUPEROPTS]. */
  if (sep == 0 || sep + 2 >= n)
    return false;
  ret->mount_root = xstrdup(f[3]);
  ret->mountpoint = xstrdup(f[4]);
  unescape_mountinfo(ret->mount_root);
  unescape_mountinfo(ret->mountpoint);
  ret->fstype = xstrdup(f[sep + 1]);
  ret->super_options = xstrdup(sep + 3 < n ? f[sep + 3] : "");
  return true;
}

static int read_mountinfo(const char *file, struct mount_entry **ret, size_t *ret_n,
                          bothy_error_t *err)
{
  _cleanup_fclose_ FILE *f = fopen(file, "re");
  if (!f)
    return bothy_error_errno(err, "cannot open '%s'", file);
  struct mount_entry *v = NULL;
  size_t n = 0;
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    struct mount_entry m = { 0 };
    if (!parse_mountinfo_line(line, &m))
      continue;
    if (!streq(m.fstype, "cgroup") && !streq(m.fstype, "cgroup2")) {
      mount_entry_done(&m);
      continue;
    }
    v = xrealloc(v, (n + 1) * sizeof(*v));
    v[n++] = m;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

static void mount_entries_free(struct mount_entry *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    mount_entry_done(&v[i]);
  free(v);
}

/* Reads the controllers a cgroup2 hierarchy's root offers. */
static char **read_v2_controllers(const char *mountpoint)
{
  _cleanup_free_ char *s = NULL;
  if (cg_read(mountpoint, "cgroup.controllers", &s, NULL) < 0)
    return xcalloc(1, sizeof(char *));
  return split(s, " \n");
}

static void add_v2(struct bothy_cgroup *cg, const char *name, const char *mountpoint,
                   const struct mount_entry *mounts, size_t n_mounts)
{
  struct bothy_cgroup_hierarchy *h = add_hierarchy(cg);
  h->unified = true;
  h->name = xstrdup(name);
  h->mountpoint = xstrdup(mountpoint);
  h->mount_root = xstrdup("/");
  for (size_t i = 0; i < n_mounts; i++)
    if (streq(mounts[i].fstype, "cgroup2") && streq(mounts[i].mountpoint, mountpoint)) {
      free(h->mount_root);
      h->mount_root = xstrdup(mounts[i].mount_root);
      break;
    }
  h->controllers = read_v2_controllers(mountpoint);
}

static bool same_controllers(char *const *a, char *const *b)
{
  if (strv_length(a) != strv_length(b))
    return false;
  for (; *a; a++)
    if (!strv_contains(b, *a))
      return false;
  return true;
}

static void add_v1(struct bothy_cgroup *cg, char **controllers, const char *mountpoint,
                   const char *mount_root)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (!cg->hierarchies[i].unified &&
        same_controllers(cg->hierarchies[i].controllers, controllers)) {
      strv_free(controllers);
      return; /* the same hierarchy mounted twice: the first one wins */
    }
  struct bothy_cgroup_hierarchy *h = add_hierarchy(cg);
  h->name = xstrdup(basename_of(mountpoint));
  h->options = strv_join(controllers, ",");
  h->controllers = controllers;
  h->mountpoint = xstrdup(mountpoint);
  h->mount_root = xstrdup(mount_root);
}

static int find_v1_from_mountinfo(struct bothy_cgroup *cg, const char *root,
                                  const struct mount_entry *mounts, size_t n_mounts)
{
  for (size_t i = 0; i < n_mounts; i++) {
    const struct mount_entry *m = &mounts[i];
    if (!streq(m->fstype, "cgroup") || !path_under(m->mountpoint, root))
      continue;
    _cleanup_strv_free_ char **opts = split(m->super_options, ",");
    char **ctl = xcalloc(1, sizeof(char *));
    for (char **o = opts; *o; o++)
      if (is_v1_controller(*o) && !strv_contains(ctl, *o))
        strv_push(&ctl, xstrdup(*o));
    if (!ctl[0]) {
      strv_free(ctl);
      continue;
    }
    add_v1(cg, ctl, m->mountpoint, m->mount_root);
  }
  return 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Test trees: every directory under root is a hierarchy. */
static int find_v1_from_dirs(struct bothy_cgroup *cg, const char *root, bool hybrid,
                             bothy_error_t *err)
{
  _cleanup_closedir_ DIR *d = opendir(root);
  if (!d)
    return bothy_error_errno(err, "cannot open '%s'", root);
  _cleanup_strv_free_ char **names = xcalloc(1, sizeof(char *));
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || (hybrid && streq(de->d_name, "unified")))
      continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
      continue;
    strv_push(&names, xstrdup(de->d_name));
  }
  qsort(names, strv_length(names), sizeof(char *), cmp_str);
  for (char **n = names; *n; n++) {
    char **ctl = streq(*n, "systemd") ? split("name=systemd", ",") : split(*n, ",");
    _cleanup_free_ char *mp = xasprintf("%s/%s", root, *n);
    add_v1(cg, ctl, mp, "/");
  }
  return 0;
}

/* The runtime's own cgroup in h, from /proc/self/cgroup's content. */
static char *own_cgroup(const char *self, const struct bothy_cgroup_hierarchy *h)
{
  _cleanup_strv_free_ char **lines = split(self, "\n");
  for (char **l = lines; *l; l++) {
    /* "ID:CONTROLLERS:PATH"; the path may itself contain ':'. */
    char *c1 = strchr(*l, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    *c2 = '\0';
    const char *ctl = c1 + 1, *path = c2 + 1;
    if (h->unified) {
      if (*ctl == '\0' && strncmp(*l, "0:", 2) == 0)
        return clean_abs(path);
      continue;
    }
    _cleanup_strv_free_ char **names = split(ctl, ",");
    for (char **n = names; *n; n++)
      if (strv_contains(h->controllers, *n))
        return clean_abs(path);
  }
  return xstrdup("/");
}

static int hierarchy_set_dir(struct bothy_cgroup_hierarchy *h, bothy_error_t *err)
{
  const char *rel = h->path;
  if (!streq(h->mount_root, "/")) {
    size_t ml = strlen(h->mount_root);
    if (strncmp(h->path, h->mount_root, ml) != 0 || (h->path[ml] != '/' && h->path[ml] != '\0'))
      return bothy_error_set(err, EINVAL,
                             "the cgroup '%s' is not visible in '%s', which shows only '%s'",
                             h->path, h->mountpoint, h->mount_root);
    rel = h->path + ml;
  }
  free(h->dir);
  h->dir =
      (!*rel || streq(rel, "/")) ? xstrdup(h->mountpoint) : xasprintf("%s%s", h->mountpoint, rel);
  return 0;
}

static int do_new(const struct bothy_cgroup_config *cfg, struct bothy_cgroup **ret,
                  bothy_error_t *err)
{
  const char *root_in = cfg->root ? cfg->root : DEFAULT_ROOT;
  if (root_in[0] != '/')
    return bothy_error_set(err, EINVAL, "the cgroup root '%s' is not an absolute path", root_in);
  _cleanup_free_ char *root = clean_abs(root_in);

  enum bothy_cgroup_mode mode = cfg->mode;
  if (mode == BOTHY_CGROUP_AUTO && bothy_cgroup_detect_mode(root, &mode, err) < 0)
    return -1;
  if (mode <= BOTHY_CGROUP_AUTO || mode >= _BOTHY_CGROUP_MODE_MAX)
    return bothy_error_set(err, EINVAL, "invalid cgroup mode %d", (int) mode);

  /* The path, as an absolute one or one relative to our own cgroup. */
  _cleanup_free_ char *abs_path = NULL, *rel_path = NULL;
  const char *p = cfg->path;
  if (cfg->systemd) {
    if (bothy_cgroup_systemd_path(p, cfg->id, &abs_path, err) < 0)
      return -1;
  } else if (p && p[0] == '/') {
    abs_path = clean_abs(p);
  } else if (p && *p) {
    rel_path = clean_abs(p);
  } else {
    if (!cfg->id || !*cfg->id || strchr(cfg->id, '/') || streq(cfg->id, ".") ||
        streq(cfg->id, ".."))
      return bothy_error_set(err, EINVAL, "invalid container id '%s' for a cgroup name",
                             cfg->id ? cfg->id : "");
    rel_path = clean_abs(cfg->id);
  }
  if (abs_path && streq(abs_path, "/"))
    return bothy_error_set(err, EINVAL, "cgroupsPath '%s' names the root cgroup", p ? p : "");
  if (rel_path && streq(rel_path, "/"))
    return bothy_error_set(err, EINVAL, "cgroupsPath '%s' names the runtime's own cgroup",
                           p ? p : "");

  _cleanup_cgroup_ struct bothy_cgroup *cg = xmalloc0(sizeof(*cg));
  cg->mode = mode;

  struct mount_entry *mounts = NULL;
  size_t n_mounts = 0;
  const char *mi = cfg->mountinfo_file ? cfg->mountinfo_file : "/proc/self/mountinfo";
  bool scan_dirs = cfg->mountinfo_file && !*cfg->mountinfo_file;
  if (!scan_dirs && read_mountinfo(mi, &mounts, &n_mounts, err) < 0)
    return -1;

  int r = 0;
  if (mode == BOTHY_CGROUP_V2) {
    add_v2(cg, "", root, mounts, n_mounts);
  } else {
    if (scan_dirs)
      r = find_v1_from_dirs(cg, root, mode == BOTHY_CGROUP_HYBRID, err);
    else
      r = find_v1_from_mountinfo(cg, root, mounts, n_mounts);
    if (r >= 0 && mode == BOTHY_CGROUP_HYBRID) {
      _cleanup_free_ char *unified = xasprintf("%s/unified", root);
      add_v2(cg, "unified", unified, mounts, n_mounts);
    }
  }
  mount_entries_free(mounts, n_mounts);
  if (r < 0)
    return -1;
  if (cg->n_hierarchies == 0)
    return bothy_error_set(err, ENOENT, "no cgroup v1 hierarchy is mounted under '%s'", root);

  _cleanup_free_ char *self = NULL;
  if (rel_path) {
    const char *sf = cfg->self_cgroup_file ? cfg->self_cgroup_file : "/proc/self/cgroup";
    if (bothy_read_file(AT_FDCWD, sf, &self, NULL, err) < 0)
      return -1;
  }
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    if (abs_path) {
      h->path = xstrdup(abs_path);
    } else {
      _cleanup_free_ char *own = own_cgroup(self, h);
      h->path = join_abs(own, rel_path);
    }
    if (hierarchy_set_dir(h, err) < 0)
      return -1;
  }
  *ret = TAKE_PTR(cg);
  return 0;
}

static struct bothy_cgroup_hierarchy *find_v1(const struct bothy_cgroup *cg, const char *ctl)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (!cg->hierarchies[i].unified && strv_contains(cg->hierarchies[i].controllers, ctl))
      return &cg->hierarchies[i];
  return NULL;
}

static struct bothy_cgroup_hierarchy *find_unified(const struct bothy_cgroup *cg)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (cg->hierarchies[i].unified)
      return &cg->hierarchies[i];
  return NULL;
}

/* The hierarchy offering a v2 controller through cgroup2 (not bound to v1). */
static struct bothy_cgroup_hierarchy *find_v2(const struct bothy_cgroup *cg, const char *ctl)
{
  struct bothy_cgroup_hierarchy *u = find_unified(cg);
  return (u && strv_contains(u->controllers, ctl)) ? u : NULL;
}

const char *bothy_cgroup_dir(const struct bothy_cgroup *cg, const char *controller)
{
  struct bothy_cgroup_hierarchy *h = find_v1(cg, controller);
  if (!h)
    h = find_v2(cg, controller);
  return h ? h->dir : NULL;
}

/* Where processes are listed and signalled from: the freezer's hierarchy
 * in v1 (so a frozen list stays exact), the cgroup2 one on pure v2. */
static struct bothy_cgroup_hierarchy *primary(const struct bothy_cgroup *cg)
{
  if (cg->mode == BOTHY_CGROUP_V2)
    return find_unified(cg);
  static const char *const order[] = { "freezer", "pids", "memory", "cpu", "devices" };
  for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
    struct bothy_cgroup_hierarchy *h = find_v1(cg, order[i]);
    if (h)
      return h;
  }
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (!cg->hierarchies[i].unified)
      return &cg->hierarchies[i];
  return find_unified(cg);
}

/* ---------------------------------------------------------------- create, enter */

/* The path components of h->dir below its mount point. */
static char **components_below_mount(const struct bothy_cgroup_hierarchy *h)
{
  const char *rel = h->dir + strlen(h->mountpoint);
  return split(rel, "/");
}

/* cgroup v1 cpuset: a new cgroup starts with empty cpus and mems and no task
 * can join it until they are set, so copy the parent's (runc does the same). */
static int cpuset_copy_if_empty(const char *parent, const char *dir, const char *file,
                                bothy_error_t *err)
{
  _cleanup_free_ char *cur = NULL, *pval = NULL;
  int r = cg_read_full(dir, file, /* enoent_ok= */ true, &cur, err);
  if (r == -ENOENT)
    return 0; /* not a cpuset cgroup (a test tree) */
  if (r < 0)
    return r;
  if (*cur)
    return 0;
  r = cg_read_full(parent, file, /* enoent_ok= */ true, &pval, err);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  if (!*pval)
    return 0;
  return cg_write(dir, file, pval, err);
}

static int create_cpuset(const struct bothy_cgroup_hierarchy *h, bothy_error_t *err)
{
  _cleanup_strv_free_ char **comps = components_below_mount(h);
  _cleanup_free_ char *cur = xstrdup(h->mountpoint);
  for (char **c = comps; *c; c++) {
    char *next = xasprintf("%s/%s", cur, *c);
    if (mkdir(next, 0755) < 0 && errno != EEXIST) {
      int e = errno;
      free(next);
      return bothy_error_set(err, e, "cannot create the cgroup '%s/%s'", cur, *c);
    }
    if (cpuset_copy_if_empty(cur, next, "cpuset.cpus", err) < 0 ||
        cpuset_copy_if_empty(cur, next, "cpuset.mems", err) < 0) {
      free(next);
      return -1;
    }
    free(cur);
    cur = next;
  }
  return 0;
}

/* Enables in dir's cgroup.subtree_control the wanted controllers dir offers. */
static void enable_controllers_in(const char *dir)
{
  _cleanup_free_ char *avail_s = NULL, *enabled_s = NULL;
  if (cg_read(dir, "cgroup.controllers", &avail_s, NULL) < 0)
    return; /* not a cgroup2 directory (a test tree's intermediate level) */
  if (cg_read(dir, "cgroup.subtree_control", &enabled_s, NULL) < 0)
    enabled_s = xstrdup("");
  _cleanup_strv_free_ char **avail = split(avail_s, " \n");
  _cleanup_strv_free_ char **enabled = split(enabled_s, " \n");
  _cleanup_strv_free_ char **add = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < ARRAY_SIZE(v2_wanted); i++)
    if (strv_contains(avail, v2_wanted[i]) && !strv_contains(enabled, v2_wanted[i]))
      strv_push(&add, xasprintf("+%s", v2_wanted[i]));
  if (!add[0])
    return;
  _cleanup_free_ char *all = strv_join(add, " ");
  if (cg_write(dir, "cgroup.subtree_control", all, NULL) == 0)
    return;
  /* One refused controller (say cpu with a real-time task in the way) must
   * not keep the others off: enable them one by one, as runc does. */
  for (char **a = add; *a; a++)
    if (cg_write(dir, "cgroup.subtree_control", *a, NULL) < 0)
      log_debug("cgroup: cannot enable '%s' in '%s', ignoring", *a, dir);
}

static void enable_controllers(const struct bothy_cgroup_hierarchy *h)
{
  _cleanup_strv_free_ char **comps = components_below_mount(h);
  _cleanup_free_ char *cur = xstrdup(h->mountpoint);
  for (char **c = comps; *c; c++) {
    enable_controllers_in(cur);
    char *next = xasprintf("%s/%s", cur, *c);
    free(cur);
    cur = next;
  }
}

/* which: 1 the cgroup2 hierarchy only, 0 the v1 ones only, -1 all. */
static int do_create(struct bothy_cgroup *cg, int which, bothy_error_t *err)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    const struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    if (which >= 0 && h->unified != (which == 1))
      continue;
    if (!h->unified && strv_contains(h->controllers, "cpuset")) {
      if (create_cpuset(h, err) < 0)
        return -1;
      continue;
    }
    if (bothy_mkdir_p(h->dir, 0755, err) < 0)
      return bothy_error_prefix(err, "cannot create the cgroup '%s'", h->path);
    if (h->unified)
      enable_controllers(h);
  }
  return 0;
}

static int do_enter(struct bothy_cgroup *cg, pid_t pid, bothy_error_t *err)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (cg_writef(cg->hierarchies[i].dir, "cgroup.procs", err, "%d", (int) pid) < 0)
      return bothy_error_prefix(err, "cannot move process %d into its cgroup", (int) pid);
  return 0;
}

/* ---------------------------------------------------------------- apply */

/* runc treats 0 as "not given" for most fields. */
static bool is_set(int64_t v)
{
  return v != BOTHY_UNSET && v != 0;
}

static bool given(int64_t v)
{
  return v != BOTHY_UNSET;
}

static bool want_memory(const struct bothy_resources *r)
{
  return is_set(r->memory_limit) || is_set(r->memory_reservation) || is_set(r->memory_swap);
}

static bool want_cpu(const struct bothy_resources *r)
{
  return is_set(r->cpu_shares) || is_set(r->cpu_quota) || is_set(r->cpu_period) ||
         given(r->cpu_burst) || given(r->cpu_idle) || is_set(r->cpu_realtime_period) ||
         is_set(r->cpu_realtime_runtime);
}

static bool want_cpuset(const struct bothy_resources *r)
{
  return (r->cpu_cpus && *r->cpu_cpus) || (r->cpu_mems && *r->cpu_mems);
}

static bool want_io(const struct bothy_resources *r)
{
  return is_set(r->blkio_weight) || is_set(r->blkio_leaf_weight) || r->n_blkio_weight_device ||
         r->n_throttle_read_bps || r->n_throttle_write_bps || r->n_throttle_read_iops ||
         r->n_throttle_write_iops;
}

/* "2MB", "1GB", "64KB": also keeps a '/' out of the file name. */
static bool valid_page_size(const char *s)
{
  size_t d = strspn(s, "0123456789");
  return d > 0 && s[d] != '\0' && strchr("KMGTP", s[d]) && s[d + 1] == 'B' && s[d + 2] == '\0';
}

static int v1_set_swap(const char *dir, int64_t swap, bool memsw, bothy_error_t *err)
{
  if (!memsw) {
    if (swap == -1)
      return 0;
    return bothy_error_set(err, ENOTSUP,
                           "cannot set a swap limit: swap accounting is off "
                           "('%s/memory.memsw.limit_in_bytes' does not exist)",
                           dir);
  }
  return cg_writef(dir, "memory.memsw.limit_in_bytes", err, "%" PRId64, swap);
}

static int v1_memory(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  int64_t mem = is_set(r->memory_limit) ? r->memory_limit : 0;
  int64_t swap = is_set(r->memory_swap) ? r->memory_swap : 0;
  bool memsw = cg_exists(dir, "memory.memsw.limit_in_bytes");

  /* runc: unlimited memory with swap not given means unlimited mem+swap too. */
  if (mem == -1 && swap == 0 && memsw)
    swap = -1;
  if (mem != 0 && swap != 0) {
    /* The kernel wants memory <= memsw at every moment: raise memsw first
     * when growing, lower memory first when shrinking. */
    _cleanup_free_ char *cur_s = NULL;
    if (cg_read(dir, "memory.limit_in_bytes", &cur_s, err) < 0)
      return -1;
    uint64_t cur = strtoull(cur_s, NULL, 10);
    if (swap == -1 || cur < (uint64_t) swap) {
      if (v1_set_swap(dir, swap, memsw, err) < 0 ||
          cg_writef(dir, "memory.limit_in_bytes", err, "%" PRId64, mem) < 0)
        return -1;
    } else if (cg_writef(dir, "memory.limit_in_bytes", err, "%" PRId64, mem) < 0 ||
               v1_set_swap(dir, swap, memsw, err) < 0) {
      return -1;
    }
  } else {
    if (mem != 0 && cg_writef(dir, "memory.limit_in_bytes", err, "%" PRId64, mem) < 0)
      return -1;
    if (swap != 0 && v1_set_swap(dir, swap, memsw, err) < 0)
      return -1;
  }
  if (is_set(r->memory_reservation) &&
      cg_writef(dir, "memory.soft_limit_in_bytes", err, "%" PRId64, r->memory_reservation) < 0)
    return -1;
  if (is_set(r->memory_kernel)) {
    /* Deprecated since Linux 5.4 and refused or absent on recent kernels;
     * runc ignores it too. */
    _cleanup_error_ bothy_error_t e = NULL;
    if (cg_writef(dir, "memory.kmem.limit_in_bytes", &e, "%" PRId64, r->memory_kernel) < 0)
      log_debug("%s, ignoring", e->msg);
  }
  if (is_set(r->memory_kernel_tcp) &&
      cg_writef(dir, "memory.kmem.tcp.limit_in_bytes", err, "%" PRId64, r->memory_kernel_tcp) < 0)
    return -1;
  if (given(r->memory_swappiness) &&
      cg_writef(dir, "memory.swappiness", err, "%" PRId64, r->memory_swappiness) < 0)
    return -1;
  if (r->disable_oom_killer >= 0 &&
      cg_write(dir, "memory.oom_control", r->disable_oom_killer ? "1" : "0", err) < 0)
    return -1;
  if (r->use_hierarchy >= 0 &&
      cg_write(dir, "memory.use_hierarchy", r->use_hierarchy ? "1" : "0", err) < 0)
    return -1;
  return 0;
}

static char *v2_num(int64_t v)
{
  return v == -1 ? xstrdup("max") : xasprintf("%" PRId64, v);
}

static int v2_memory(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  int64_t mem = is_set(r->memory_limit) ? r->memory_limit : 0;
  int64_t swap = is_set(r->memory_swap) ? r->memory_swap : 0;

  /* v1's swap is memory+swap, v2's is swap alone (runc's
   * ConvertMemorySwapToCgroupV2Value). */
  int64_t v2swap;
  if (mem == -1 && swap == 0)
    v2swap = -1;
  else if (swap == -1 || swap == 0)
    v2swap = swap;
  else if (mem == 0 || mem == -1)
    return bothy_error_set(err, EINVAL, "cannot set a swap limit without a memory limit");
  else if (swap < mem)
    return bothy_error_set(
        err, EINVAL, "the memory+swap limit (%" PRId64 ") is below the memory limit (%" PRId64 ")",
        swap, mem);
  else
    v2swap = swap - mem;

  if (r->check_before_update == 1 && mem > 0) {
    _cleanup_free_ char *cur = NULL;
    if (cg_read(dir, "memory.current", &cur, err) < 0)
      return -1;
    uint64_t usage = strtoull(cur, NULL, 10);
    if ((uint64_t) mem < usage)
      return bothy_error_set(err, EBUSY,
                             "the memory limit %" PRId64 " is below the current usage %" PRIu64,
                             mem, usage);
  }
  if (swap != 0 || v2swap != 0) {
    _cleanup_free_ char *s = v2_num(v2swap);
    _cleanup_error_ bothy_error_t e = NULL;
    int r2 = cg_write(dir, "memory.swap.max", s, &e);
    /* Without swap support, "max" and "0" are what the kernel does anyway. */
    if (r2 < 0 && !(r2 == -ENOENT && (v2swap == -1 || v2swap == 0))) {
      if (err) {
        bothy_error_free(err);
        *err = TAKE_PTR(e);
      }
      return r2;
    }
  }
  if (mem != 0) {
    _cleanup_free_ char *s = v2_num(mem);
    if (cg_write(dir, "memory.max", s, err) < 0)
      return -1;
  }
  if (is_set(r->memory_reservation)) {
    _cleanup_free_ char *s = v2_num(r->memory_reservation);
    if (cg_write(dir, "memory.low", s, err) < 0)
      return -1;
  }
  return 0;
}

static int v1_cpu(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  /* Real-time first: a real-time task cannot join a cgroup without a budget. */
  if (is_set(r->cpu_realtime_period) &&
      cg_writef(dir, "cpu.rt_period_us", err, "%" PRId64, r->cpu_realtime_period) < 0)
    return -1;
  if (is_set(r->cpu_realtime_runtime) &&
      cg_writef(dir, "cpu.rt_runtime_us", err, "%" PRId64, r->cpu_realtime_runtime) < 0)
    return -1;
  if (is_set(r->cpu_shares) && cg_writef(dir, "cpu.shares", err, "%" PRId64, r->cpu_shares) < 0)
    return -1;
  bool period_pending = false;
  if (is_set(r->cpu_period)) {
    _cleanup_error_ bothy_error_t e = NULL;
    int rr = cg_writef(dir, "cpu.cfs_period_us", &e, "%" PRId64, r->cpu_period);
    /* A period below the current one can be refused (EINVAL: old quota /
     * new period exceeds the parent's) until the quota is lowered: retry
     * after the quota, as runc does. */
    if (rr == -EINVAL && is_set(r->cpu_quota)) {
      period_pending = true;
    } else if (rr < 0) {
      if (err) {
        bothy_error_free(err);
        *err = TAKE_PTR(e);
      }
      return rr;
    }
  }
  if (is_set(r->cpu_quota) && cg_writef(dir, "cpu.cfs_quota_us", err, "%" PRId64, r->cpu_quota) < 0)
    return -1;
  if (period_pending && cg_writef(dir, "cpu.cfs_period_us", err, "%" PRId64, r->cpu_period) < 0)
    return -1;
  if (given(r->cpu_burst) && cg_writef(dir, "cpu.cfs_burst_us", err, "%" PRId64, r->cpu_burst) < 0)
    return -1;
  if (given(r->cpu_idle) && cg_writef(dir, "cpu.idle", err, "%" PRId64, r->cpu_idle) < 0)
    return -1;
  return 0;
}

/* runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] onto [1, 10000]. */
static uint64_t shares_to_weight(int64_t shares)
{
  if (shares == 0)
    return 0;
  return (uint64_t) (1 + ((shares - 2) * 9999) / 262142);
}

static int v2_cpu(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  if (is_set(r->cpu_realtime_period) || is_set(r->cpu_realtime_runtime))
    return bothy_error_set(err, EINVAL, "cgroup v2 does not support real-time CPU settings");
  if (is_set(r->cpu_shares) &&
      cg_writef(dir, "cpu.weight", err, "%" PRIu64, shares_to_weight(r->cpu_shares)) < 0)
    return -1;
  if (is_set(r->cpu_quota) || is_set(r->cpu_period)) {
    _cleanup_free_ char *v = NULL;
    const char *quota = NULL;
    _cleanup_free_ char *qbuf = NULL;
    if (is_set(r->cpu_quota) && r->cpu_quota > 0)
      quota = qbuf = xasprintf("%" PRId64, r->cpu_quota);
    else
      quota = "max";
    if (is_set(r->cpu_period))
      v = xasprintf("%s %" PRId64, quota, r->cpu_period);
    else
      v = xstrdup(quota);
    if (cg_write(dir, "cpu.max", v, err) < 0)
      return -1;
  }
  if (given(r->cpu_burst) && cg_writef(dir, "cpu.max.burst", err, "%" PRId64, r->cpu_burst) < 0)
    return -1;
  if (given(r->cpu_idle) && cg_writef(dir, "cpu.idle", err, "%" PRId64, r->cpu_idle) < 0)
    return -1;
  return 0;
}

static int cpuset_apply(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  if (r->cpu_cpus && *r->cpu_cpus && cg_write(dir, "cpuset.cpus", r->cpu_cpus, err) < 0)
    return -1;
  if (r->cpu_mems && *r->cpu_mems && cg_write(dir, "cpuset.mems", r->cpu_mems, err) < 0)
    return -1;
  return 0;
}

static int pids_apply(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  if (!given(r->pids_limit))
    return 0;
  if (r->pids_limit <= 0)
    return cg_write(dir, "pids.max", "max", err);
  return cg_writef(dir, "pids.max", err, "%" PRId64, r->pids_limit);
}

static int write_throttle(const char *dir, const char *file, const struct bothy_throttle_device *t,
                          size_t n, bothy_error_t *err)
{
  for (size_t i = 0; i < n; i++)
    if (cg_writef(dir, file, err, "%" PRId64 ":%" PRId64 " %" PRIu64, t[i].major, t[i].minor,
                  t[i].rate) < 0)
      return -1;
  return 0;
}

static int v1_blkio(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  /* Kernels without CFQ (5.0+) only have BFQ's files. */
  bool bfq = !cg_exists(dir, "blkio.weight") && cg_exists(dir, "blkio.bfq.weight");
  const char *wfile = bfq ? "blkio.bfq.weight" : "blkio.weight";
  const char *wdfile = bfq ? "blkio.bfq.weight_device" : "blkio.weight_device";
  if (is_set(r->blkio_weight) && cg_writef(dir, wfile, err, "%" PRId64, r->blkio_weight) < 0)
    return -1;
  if (is_set(r->blkio_leaf_weight) &&
      cg_writef(dir, "blkio.leaf_weight", err, "%" PRId64, r->blkio_leaf_weight) < 0)
    return -1;
  for (size_t i = 0; i < r->n_blkio_weight_device; i++) {
    const struct bothy_weight_device *d = &r->blkio_weight_device[i];
    if (is_set(d->weight) && cg_writef(dir, wdfile, err, "%" PRId64 ":%" PRId64 " %" PRId64,
                                       d->major, d->minor, d->weight) < 0)
      return -1;
    if (is_set(d->leaf_weight) &&
        cg_writef(dir, "blkio.leaf_weight_device", err, "%" PRId64 ":%" PRId64 " %" PRId64,
                  d->major, d->minor, d->leaf_weight) < 0)
      return -1;
  }
  if (write_throttle(dir, "blkio.throttle.read_bps_device", r->throttle_read_bps,
                     r->n_throttle_read_bps, err) < 0 ||
      write_throttle(dir, "blkio.throttle.write_bps_device", r->throttle_write_bps,
                     r->n_throttle_write_bps, err) < 0 ||
      write_throttle(dir, "blkio.throttle.read_iops_device", r->throttle_read_iops,
                     r->n_throttle_read_iops, err) < 0 ||
      write_throttle(dir, "blkio.throttle.write_iops_device", r->throttle_write_iops,
                     r->n_throttle_write_iops, err) < 0)
    return -1;
  return 0;
}

/* runc's ConvertBlkIOToIOWeightValue: [10, 1000] onto [1, 10000]. */
static int64_t blkio_to_io_weight(int64_t w)
{
  return 1 + (w - 10) * 9999 / 990;
}

static int write_io_max(const char *dir, const char *key, const struct bothy_throttle_device *t,
                        size_t n, bothy_error_t *err)
{
  for (size_t i = 0; i < n; i++)
    if (cg_writef(dir, "io.max", err, "%" PRId64 ":%" PRId64 " %s=%" PRIu64, t[i].major, t[i].minor,
                  key, t[i].rate) < 0)
      return -1;
  return 0;
}

static int v2_io(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  /* BFQ keeps blkio's scale (1-1000); io.weight is 1-10000. */
  bool bfq = cg_exists(dir, "io.bfq.weight");
  if (is_set(r->blkio_weight)) {
    if (bfq ? cg_writef(dir, "io.bfq.weight", err, "%" PRId64, r->blkio_weight)
            : cg_writef(dir, "io.weight", err, "%" PRId64, blkio_to_io_weight(r->blkio_weight)))
      return -1;
  }
  for (size_t i = 0; i < r->n_blkio_weight_device; i++) {
    const struct bothy_weight_device *d = &r->blkio_weight_device[i];
    if (!is_set(d->weight))
      continue;
    int rr = bfq ? cg_writef(dir, "io.bfq.weight", err, "%" PRId64 ":%" PRId64 " %" PRId64,
                             d->major, d->minor, d->weight)
                 : cg_writef(dir, "io.weight", err, "%" PRId64 ":%" PRId64 " %" PRId64, d->major,
                             d->minor, blkio_to_io_weight(d->weight));
    if (rr < 0)
      return -1;
  }
  if (write_io_max(dir, "rbps", r->throttle_read_bps, r->n_throttle_read_bps, err) < 0 ||
      write_io_max(dir, "wbps", r->throttle_write_bps, r->n_throttle_write_bps, err) < 0 ||
      write_io_max(dir, "riops", r->throttle_read_iops, r->n_throttle_read_iops, err) < 0 ||
      write_io_max(dir, "wiops", r->throttle_write_iops, r->n_throttle_write_iops, err) < 0)
    return -1;
  return 0;
}

static int hugetlb_apply(const char *dir, bool v2, const struct bothy_resources *r,
                         bothy_error_t *err)
{
  for (size_t i = 0; i < r->n_hugepage_limits; i++) {
    const struct bothy_hugepage_limit *l = &r->hugepage_limits[i];
    _cleanup_free_ char *file =
        xasprintf(v2 ? "hugetlb.%s.max" : "hugetlb.%s.limit_in_bytes", l->page_size);
    if (cg_writef(dir, file, err, "%" PRIu64, l->limit) < 0)
      return -1;
    if (v2) {
      /* Reservations (5.7+) are limited too when the kernel accounts them, as runc does. */
      _cleanup_free_ char *rsvd = xasprintf("hugetlb.%s.rsvd.max", l->page_size);
      if (cg_exists(dir, rsvd) && cg_writef(dir, rsvd, err, "%" PRIu64, l->limit) < 0)
        return -1;
    }
  }
  return 0;
}

static void device_rule_string(const struct bothy_device_rule *d, char *buf, size_t size)
{
  char maj[24], min[24];
  if (d->major < 0)
    snprintf(maj, sizeof(maj), "*");
  else
    snprintf(maj, sizeof(maj), "%" PRId64, d->major);
  if (d->minor < 0)
    snprintf(min, sizeof(min), "*");
  else
    snprintf(min, sizeof(min), "%" PRId64, d->minor);
  const char *access = (d->access && *d->access) ? d->access : "rwm";
  snprintf(buf, size, "%c %s:%s %s", d->type ? d->type : 'a', maj, min, access);
}

static int v1_devices(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  if (r->n_devices == 0)
    return 0;
  /* Default deny first, then the rules in order (runc's v1 sequence). A
   * leading "deny everything" rule is that same write. */
  size_t first = 0;
  const struct bothy_device_rule *d0 = &r->devices[0];
  if (!d0->allow && d0->type == 'a' && (!d0->access || strspn("rwm", d0->access) == 3))
    first = 1;
  /* One fd per file for all the rules: each write() is one rule, and a
   * container has a dozen of them. */
  _cleanup_free_ char *deny_path = xasprintf("%s/devices.deny", dir);
  _cleanup_free_ char *allow_path = xasprintf("%s/devices.allow", dir);
  _cleanup_close_ int deny = cg_open_w(deny_path);
  if (deny < 0)
    return bothy_error_errno(err, "cannot write 'a' to '%s'", deny_path);
  if (cg_write_fd(deny, deny_path, "a", err) < 0)
    return -1;
  _cleanup_close_ int allow = -1;
  for (size_t i = first; i < r->n_devices; i++) {
    const struct bothy_device_rule *d = &r->devices[i];
    char rule[80];
    device_rule_string(d, rule, sizeof(rule));
    if (d->allow && allow < 0 && (allow = cg_open_w(allow_path)) < 0)
      return bothy_error_errno(err, "cannot write '%s' to '%s'", rule, allow_path);
    if (cg_write_fd(d->allow ? allow : deny, d->allow ? allow_path : deny_path, rule, err) < 0)
      return -1;
  }
  return 0;
}

/* cgroup2 has no devices files: the kernel asks a BPF_PROG_TYPE_CGROUP_DEVICE
 * program attached to the cgroup (runc's and crun's approach). The program
 * below gives v1's meaning to the same rule list: default deny, the last
 * matching rule wins (so rules are tested last first), and a rule matches a
 * request whose access is a subset of the rule's (runc's devicefilter). */

struct bpf_prog_buf {
  struct bpf_insn *v;
  size_t n;
};

static void bpf_emit(struct bpf_prog_buf *b, uint8_t code, uint8_t dst, uint8_t src, int16_t off,
                     int32_t imm)
{
  b->v = xrealloc(b->v, (b->n + 1) * sizeof(*b->v));
  b->v[b->n++] = (struct bpf_insn){
    .code = code, .dst_reg = dst & 0xf, .src_reg = src & 0xf, .off = off, .imm = imm
  };
}

static int device_access_bits(const char *access)
{
  int bits = 0;
  for (const char *a = (access && *access) ? access : "rwm"; *a; a++)
    bits |= *a == 'r'   ? BPF_DEVCG_ACC_READ
            : *a == 'w' ? BPF_DEVCG_ACC_WRITE
            : *a == 'm' ? BPF_DEVCG_ACC_MKNOD
                        : 0;
  return bits;
}

static void bpf_device_program(const struct bothy_resources *r, struct bpf_prog_buf *b)
{
  /* struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major, minor; } */
  bpf_emit(b, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0);
  bpf_emit(b, BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff); /* r2: type */
  bpf_emit(b, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 0, 0);
  bpf_emit(b, BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);        /* r3: access */
  bpf_emit(b, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0); /* r4: major */
  bpf_emit(b, BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0); /* r5: minor */
  for (size_t i = r->n_devices; i-- > 0;) {
    const struct bothy_device_rule *d = &r->devices[i];
    int access = device_access_bits(d->access);
    size_t start = b->n;
    /* Conditional jumps get their offset (to the end of the block) below. */
    if (d->type == 'c' || d->type == 'b')
      bpf_emit(b, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
               d->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
    if (access != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
      bpf_emit(b, BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
      bpf_emit(b, BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, access);
      bpf_emit(b, BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
    }
    if (d->major >= 0)
      bpf_emit(b, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t) d->major);
    if (d->minor >= 0)
      bpf_emit(b, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t) d->minor);
    bool unconditional = b->n == start;
    bpf_emit(b, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, d->allow ? 1 : 0);
    bpf_emit(b, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    /* A rule matching everything ends the program: the verifier refuses
     * unreachable instructions after it. */
    if (unconditional)
      return;
    for (size_t j = start; j < b->n; j++)
      if (BPF_CLASS(b->v[j].code) == BPF_JMP && BPF_OP(b->v[j].code) == BPF_JNE)
        b->v[j].off = (int16_t) (b->n - j - 1);
  }
  bpf_emit(b, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0); /* default deny */
  bpf_emit(b, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
  return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* Ids of the device programs attached to the cgroup itself. */
static int bpf_attached_ids(int cgfd, uint32_t **ret, uint32_t *ret_n)
{
  uint32_t cap = 16;
  for (;;) {
    _cleanup_free_ uint32_t *ids = xcalloc(cap, sizeof(uint32_t));
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t) cgfd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t) (uintptr_t) ids;
    attr.query.prog_cnt = cap;
    if (sys_bpf(BPF_PROG_QUERY, &attr) < 0) {
      if (errno == ENOSPC && cap < 4096) {
        cap *= 4;
        continue;
      }
      return -errno;
    }
    *ret_n = attr.query.prog_cnt;
    *ret = TAKE_PTR(ids);
    return 0;
  }
}

static int v2_devices(const char *dir, const struct bothy_resources *r, bothy_error_t *err)
{
  if (r->n_devices == 0)
    return 0;
  _cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgfd < 0)
    return bothy_error_errno(err, "cannot open the cgroup '%s'", dir);
  _cleanup_free_ uint32_t *old = NULL;
  uint32_t n_old = 0;
  int q = bpf_attached_ids(cgfd, &old, &n_old);
  if (q < 0)
    return bothy_error_set(err, -q, "cannot list the device programs of '%s'", dir);

  struct bpf_prog_buf prog = { 0 };
  bpf_device_program(r, &prog);
  _cleanup_free_ struct bpf_insn *insns = prog.v;
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t) (uintptr_t) insns;
  attr.insn_cnt = (uint32_t) prog.n;
  attr.license = (uint64_t) (uintptr_t) "GPL";
  _cleanup_close_ int progfd = (int) sys_bpf(BPF_PROG_LOAD, &attr);
  if (progfd < 0 && errno == EINVAL) {
    /* Load again with the verifier's log, to say why. */
    int e = errno;
    _cleanup_free_ char *log = xmalloc0(65536);
    attr.log_buf = (uint64_t) (uintptr_t) log;
    attr.log_size = 65536;
    attr.log_level = 1;
    (void) sys_bpf(BPF_PROG_LOAD, &attr);
    trim_right(log);
    const char *last = strrchr(log, '\n');
    return bothy_error_set(err, e, "cannot load the device rules of '%s' as a BPF program (%s)",
                           dir, last ? last + 1 : log);
  }
  if (progfd < 0)
    return bothy_error_errno(err, "cannot load the device rules of '%s' as a BPF program", dir);

  /* Attach the new program next to the old ones, then detach those: the
   * cgroup is never without a filter. */
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t) cgfd;
  attr.attach_bpf_fd = (uint32_t) progfd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
    return bothy_error_errno(err, "cannot attach the device rules to '%s'", dir);
  for (uint32_t i = 0; i < n_old; i++) {
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = old[i];
    _cleanup_close_ int oldfd = (int) sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (oldfd < 0) {
      if (errno == ENOENT)
        continue;
      return bothy_error_errno(err, "cannot open the old device program %u of '%s'", old[i], dir);
    }
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t) cgfd;
    attr.attach_bpf_fd = (uint32_t) oldfd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
      return bothy_error_errno(err, "cannot detach the old device program %u of '%s'", old[i], dir);
  }
  return 0;
}

static int net_apply(const struct bothy_cgroup *cg, const struct bothy_resources *r,
                     bothy_error_t *err)
{
  const struct bothy_cgroup_hierarchy *h;
  if (given(r->net_cls_classid) && (h = find_v1(cg, "net_cls")) &&
      cg_writef(h->dir, "net_cls.classid", err, "%" PRId64, r->net_cls_classid) < 0)
    return -1;
  if (r->net_prio_ifpriomap && (h = find_v1(cg, "net_prio"))) {
    size_t i;
    json_t *e;
    json_array_foreach (r->net_prio_ifpriomap, i, e) {
      const char *name = json_string_value(json_object_get(e, "name"));
      json_t *prio = json_object_get(e, "priority");
      if (!name || !json_is_integer(prio))
        return bothy_error_set(err, EINVAL,
                               "'linux.resources.network.priorities[%zu]' must have a name and "
                               "an integer priority",
                               i);
      if (cg_writef(h->dir, "net_prio.ifpriomap", err, "%s %" JSON_INTEGER_FORMAT, name,
                    json_integer_value(prio)) < 0)
        return -1;
    }
  }
  return 0;
}

static bool valid_unified_key(const char *k)
{
  return *k && !strchr(k, '/') && !streq(k, ".") && !streq(k, "..");
}

static int do_apply(struct bothy_cgroup *cg, const struct bothy_resources *r, bothy_error_t *err)
{
  struct bothy_cgroup_hierarchy *u = find_unified(cg);

  /* Refuse what cannot be applied before writing anything. */
  struct {
    bool wanted;
    const char *v1, *v2, *what;
  } need[] = {
    { want_memory(r), "memory", "memory", "memory limits" },
    { want_cpu(r), "cpu", "cpu", "CPU limits" },
    { want_cpuset(r), "cpuset", "cpuset", "CPU and memory node sets" },
    { given(r->pids_limit), "pids", "pids", "a pids limit" },
    { want_io(r), "blkio", "io", "block I/O limits" },
    { r->n_hugepage_limits > 0, "hugetlb", "hugetlb", "hugepage limits" },
    /* Pure v2 needs no controller for them: a BPF program does it. */
    { r->n_devices > 0 && cg->mode != BOTHY_CGROUP_V2, "devices", NULL, "device rules" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(need); i++)
    if (need[i].wanted && !find_v1(cg, need[i].v1) && !(need[i].v2 && find_v2(cg, need[i].v2)))
      return bothy_error_set(err, ENOTSUP, "cannot apply %s: the %s controller is not available",
                             need[i].what, need[i].v2 ? need[i].v2 : need[i].v1);
  for (size_t i = 0; i < r->n_hugepage_limits; i++)
    if (!valid_page_size(r->hugepage_limits[i].page_size))
      return bothy_error_set(err, EINVAL, "invalid hugepage size '%s'",
                             r->hugepage_limits[i].page_size);
  if (r->unified && json_object_size(r->unified) > 0) {
    if (!u)
      return bothy_error_set(err, EINVAL,
                             "cannot apply 'linux.resources.unified': cgroup v2 is not mounted");
    const char *key;
    json_t *v;
    json_object_foreach (r->unified, key, v) {
      if (!valid_unified_key(key))
        return bothy_error_set(
            err, EINVAL, "invalid key '%s' in 'linux.resources.unified': not a file name", key);
      if (!json_is_string(v))
        return bothy_error_set(err, EINVAL, "'linux.resources.unified.%s' must be a string", key);
    }
  }

  /* v1 hierarchies, controller by controller. */
  const struct bothy_cgroup_hierarchy *h;
  if ((h = find_v1(cg, "memory")) && v1_memory(h->dir, r, err) < 0)
    return -1;
  if ((h = find_v1(cg, "cpu")) && v1_cpu(h->dir, r, err) < 0)
    return -1;
  if ((h = find_v1(cg, "cpuset")) && cpuset_apply(h->dir, r, err) < 0)
    return -1;
  if ((h = find_v1(cg, "pids")) && pids_apply(h->dir, r, err) < 0)
    return -1;
  if ((h = find_v1(cg, "blkio")) && v1_blkio(h->dir, r, err) < 0)
    return -1;
  if ((h = find_v1(cg, "hugetlb")) && hugetlb_apply(h->dir, false, r, err) < 0)
    return -1;
  if ((h = find_v1(cg, "devices")) && v1_devices(h->dir, r, err) < 0)
    return -1;
  if (net_apply(cg, r, err) < 0)
    return -1;

  /* cgroup2: the controllers that v1 does not hold. */
  if (u) {
    if (!find_v1(cg, "memory") && find_v2(cg, "memory") && v2_memory(u->dir, r, err) < 0)
      return -1;
    if (!find_v1(cg, "cpu") && find_v2(cg, "cpu") && v2_cpu(u->dir, r, err) < 0)
      return -1;
    if (!find_v1(cg, "cpuset") && find_v2(cg, "cpuset") && cpuset_apply(u->dir, r, err) < 0)
      return -1;
    if (!find_v1(cg, "pids") && find_v2(cg, "pids") && pids_apply(u->dir, r, err) < 0)
      return -1;
    if (!find_v1(cg, "blkio") && find_v2(cg, "io") && v2_io(u->dir, r, err) < 0)
      return -1;
    if (!find_v1(cg, "hugetlb") && find_v2(cg, "hugetlb") &&
        hugetlb_apply(u->dir, true, r, err) < 0)
      return -1;
    if (cg->mode == BOTHY_CGROUP_V2 && v2_devices(u->dir, r, err) < 0)
      return -1;
    /* Last, so that it wins over the fields above, as in runc. */
    if (r->unified) {
      const char *key;
      json_t *v;
      json_object_foreach (r->unified, key, v)
        if (cg_write(u->dir, key, json_string_value(v), err) < 0)
          return -1;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- processes */

/* Whether de names a directory: cgroupfs (kernfs) fills in d_type, so the
 * usual answer costs no stat of each of a cgroup's dozens of files. */
static bool dirent_is_dir(DIR *d, const struct dirent *de)
{
  if (de->d_type != DT_UNKNOWN)
    return de->d_type == DT_DIR;
  struct stat st;
  return fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int read_pids_in(const char *dir, bool recursive, pid_t **v, size_t *n, bothy_error_t *err)
{
  _cleanup_free_ char *s = NULL;
  if (cg_read(dir, "cgroup.procs", &s, err) < 0)
    return -1;
  for (char *p = s; *p;) {
    char *end;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (end == p)
      break;
    if (pid > 0) {
      *v = xrealloc(*v, (*n + 1) * sizeof(pid_t));
      (*v)[(*n)++] = (pid_t) pid;
    }
    p = end;
    while (*p == '\n' || *p == ' ')
      p++;
  }
  if (!recursive)
    return 0;
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (!d)
    return bothy_error_errno(err, "cannot open '%s'", dir);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || !dirent_is_dir(d, de))
      continue;
    _cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
    int r = read_pids_in(sub, true, v, n, err);
    if (r == -ENOENT) /* removed meanwhile */
      continue;
    if (r < 0)
      return r;
  }
  return 0;
}

static int do_pids(struct bothy_cgroup *cg, bool recursive, pid_t **ret, size_t *ret_n,
                   bothy_error_t *err)
{
  const struct bothy_cgroup_hierarchy *h = primary(cg);
  _cleanup_free_ pid_t *v = NULL;
  size_t n = 0;
  int r = read_pids_in(h->dir, recursive, &v, &n, err);
  if (r < 0)
    return r;
  *ret = TAKE_PTR(v);
  *ret_n = n;
  return 0;
}

/* ---------------------------------------------------------------- freezer */

#define FREEZE_TIMEOUT_MS 5000

/* Which file freezes: v1's freezer.state, or cgroup2's cgroup.freeze (5.2+). */
static const struct bothy_cgroup_hierarchy *freezer_of(const struct bothy_cgroup *cg, bool *ret_v2)
{
  const struct bothy_cgroup_hierarchy *h = find_v1(cg, "freezer");
  if (h) {
    *ret_v2 = false;
    return h;
  }
  if (cg->mode == BOTHY_CGROUP_V2) {
    h = find_unified(cg);
    if (h && cg_exists(h->dir, "cgroup.freeze")) {
      *ret_v2 = true;
      return h;
    }
  }
  return NULL;
}

static bool v2_events_frozen(const char *dir)
{
  _cleanup_free_ char *s = NULL;
  if (cg_read(dir, "cgroup.events", &s, NULL) < 0)
    return false;
  for (char *l = s; l && *l;) {
    if (strncmp(l, "frozen ", 7) == 0)
      return l[7] == '1';
    l = strchr(l, '\n');
    if (l)
      l++;
  }
  return false;
}

static int do_freeze(struct bothy_cgroup *cg, bothy_error_t *err)
{
  bool v2;
  const struct bothy_cgroup_hierarchy *h = freezer_of(cg, &v2);
  if (!h)
    return bothy_error_set(err, ENOTSUP, "cannot freeze the cgroup: no freezer is available");
  if (cg_write(h->dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "1" : "FROZEN", err) < 0)
    return -1;
  for (long waited = 0; waited < FREEZE_TIMEOUT_MS; waited++) {
    if (v2) {
      if (v2_events_frozen(h->dir))
        return 0;
    } else {
      _cleanup_free_ char *state = NULL;
      if (cg_read(h->dir, "freezer.state", &state, err) < 0)
        return -1;
      if (streq(state, "FROZEN"))
        return 0;
      /* A task that was forking or in the middle of a system call can keep
       * v1 in FREEZING: asking again makes the kernel retry. */
      if (waited % 10 == 9 && cg_write(h->dir, "freezer.state", "FROZEN", err) < 0)
        return -1;
    }
    sleep_ms(1);
  }
  (void) cg_write(h->dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "0" : "THAWED", NULL);
  return bothy_error_set(err, ETIMEDOUT, "cannot freeze the cgroup '%s'", h->dir);
}

static int do_thaw(struct bothy_cgroup *cg, bothy_error_t *err)
{
  bool v2;
  const struct bothy_cgroup_hierarchy *h = freezer_of(cg, &v2);
  if (!h)
    return bothy_error_set(err, ENOTSUP, "cannot thaw the cgroup: no freezer is available");
  return cg_write(h->dir, v2 ? "cgroup.freeze" : "freezer.state", v2 ? "0" : "THAWED", err);
}

static int do_is_frozen(struct bothy_cgroup *cg, bool *ret, bothy_error_t *err)
{
  bool v2;
  const struct bothy_cgroup_hierarchy *h = freezer_of(cg, &v2);
  if (!h) {
    *ret = false;
    return 0;
  }
  _cleanup_free_ char *s = NULL;
  int r =
      cg_read_full(h->dir, v2 ? "cgroup.freeze" : "freezer.state", /* enoent_ok= */ true, &s, err);
  if (r == -ENOENT) {
    *ret = false;
    return 0;
  }
  if (r < 0)
    return r;
  *ret = v2 ? streq(s, "1") : streq(s, "FROZEN");
  return 0;
}

/* ---------------------------------------------------------------- kill, destroy */

static int signal_pids(const pid_t *pids, size_t n, int sig, bothy_error_t *err)
{
  int ret = 0;
  for (size_t i = 0; i < n; i++)
    if (kill(pids[i], sig) < 0 && errno != ESRCH && ret == 0)
      ret = bothy_error_errno(err, "cannot send signal %d to process %d", sig, (int) pids[i]);
  return ret;
}

static int do_kill(struct bothy_cgroup *cg, int sig, bothy_error_t *err)
{
  const struct bothy_cgroup_hierarchy *h = primary(cg);
  if (access(h->dir, F_OK) < 0 && errno == ENOENT)
    return 0;
  /* cgroup.kill (5.14+) kills the whole subtree atomically, forks included. */
  if (sig == SIGKILL && h->unified && cg_exists(h->dir, "cgroup.kill"))
    return cg_write(h->dir, "cgroup.kill", "1", err);

  /* Nothing to signal (the common case when a container is deleted after
   * it exited): skip the freeze and thaw, which poll and cost milliseconds. */
  {
    _cleanup_free_ pid_t *now = NULL;
    size_t nnow = 0;
    if (do_pids(cg, /* recursive= */ true, &now, &nnow, NULL) >= 0 && nnow == 0)
      return 0;
  }
  bool v2, was_frozen = false, froze = false;
  if (freezer_of(cg, &v2)) {
    if (do_is_frozen(cg, &was_frozen, NULL) < 0)
      was_frozen = false;
    if (!was_frozen) {
      _cleanup_error_ bothy_error_t e = NULL;
      froze = do_freeze(cg, &e) >= 0;
      if (!froze)
        log_debug("%s, signalling without freezing", e->msg);
    }
  }
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  int r = do_pids(cg, /* recursive= */ true, &pids, &n, err);
  if (r == -ENOENT) {
    bothy_error_free(err);
    r = 0;
  }
  if (r >= 0)
    r = signal_pids(pids, n, sig, err);
  /* Thaw what we froze; and after SIGKILL thaw a paused cgroup too, since
   * v1's frozen tasks cannot die until thawed (runc thaws in both cases). */
  if (froze || (was_frozen && sig == SIGKILL)) {
    _cleanup_error_ bothy_error_t e = NULL;
    int t = do_thaw(cg, &e);
    if (t < 0 && r >= 0) {
      if (err) {
        bothy_error_free(err);
        *err = TAKE_PTR(e);
      }
      r = t;
    }
  }
  return r;
}

/* SIGKILLs what is in dir and below (used between rmdir attempts). */
static void kill_dir(const char *dir)
{
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (read_pids_in(dir, true, &pids, &n, NULL) >= 0)
    (void) signal_pids(pids, n, SIGKILL, NULL);
}

/* Removes dir and the cgroups below it, deepest first. On cgroupfs rmdir()
 * removes a cgroup with its files; a test tree's files are unlinked. */
static int remove_cgroup_dir(const char *dir, bothy_error_t *err)
{
  /* The usual case, an empty cgroup without children, is one rmdir(): the
   * walk below is for child cgroups, tasks still leaving, and test trees. */
  if (rmdir(dir) == 0 || errno == ENOENT)
    return 0;
  if (errno != EBUSY && errno != ENOTEMPTY && errno != EEXIST)
    return bothy_error_errno(err, "cannot remove the cgroup '%s'", dir);
  bool cgroupfs = is_cgroupfs(dir);
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot open '%s'", dir);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (streq(de->d_name, ".") || streq(de->d_name, ".."))
      continue;
    if (dirent_is_dir(d, de)) {
      _cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
      if (remove_cgroup_dir(sub, err) < 0)
        return -1;
    } else if (!cgroupfs && unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
      return bothy_error_errno(err, "cannot remove '%s/%s'", dir, de->d_name);
    }
  }
  /* The kernel keeps a cgroup busy until its last task has exited, which
   * takes a moment after SIGKILL: retry for about a second. */
  long delay = 5;
  for (int attempt = 0;; attempt++) {
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY || attempt >= 12)
      return bothy_error_errno(err, "cannot remove the cgroup '%s'", dir);
    if (cgroupfs)
      kill_dir(dir);
    sleep_ms(delay);
    if (delay < 160)
      delay *= 2;
  }
}

static int do_destroy(struct bothy_cgroup *cg, bothy_error_t *err)
{
  {
    _cleanup_error_ bothy_error_t e = NULL;
    if (do_kill(cg, SIGKILL, &e) < 0)
      log_debug("%s, removing the cgroup anyway", e->msg);
  }
  int ret = 0;
  for (size_t i = cg->n_hierarchies; i-- > 0;) {
    const struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    if (streq(h->dir, h->mountpoint))
      continue; /* never the root (bothy_cgroup_new refuses it; from_json could carry it) */
    if (remove_cgroup_dir(h->dir, ret < 0 ? NULL : err) < 0 && ret == 0)
      ret = -1;
  }
  return ret < 0 ? bothy_error_ret(err) : 0;
}

/* ---------------------------------------------------------------- JSON */

json_t *bothy_cgroup_to_json(const struct bothy_cgroup *cg)
{
  json_t *arr = json_array();
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    const struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    json_t *ctl = json_array();
    for (char **c = h->controllers; c && *c; c++)
      json_array_append_new(ctl, json_string(*c));
    json_t *o = json_pack("{s:b, s:s, s:o, s:s, s:s, s:s}", "unified", h->unified, "name", h->name,
                          "controllers", ctl, "mountpoint", h->mountpoint, "mount_root",
                          h->mount_root, "path", h->path);
    if (h->options)
      json_object_set_new(o, "options", json_string(h->options));
    json_array_append_new(arr, o);
  }
  return json_pack("{s:s, s:o}", "mode", bothy_cgroup_mode_name(cg->mode), "hierarchies", arr);
}

static int do_from_json(json_t *o, struct bothy_cgroup **ret, bothy_error_t *err)
{
  const char *ctx = "cgroup";
  const char *mode_s = NULL;
  json_t *arr = NULL;
  if (!json_is_object(o))
    return bothy_error_set(err, EINVAL, "the saved cgroup must be an object");
  if (bothy_json_string(o, "mode", ctx, &mode_s, err) < 0 ||
      bothy_json_array(o, "hierarchies", ctx, &arr, err) < 0)
    return -1;
  enum bothy_cgroup_mode mode =
      mode_s ? bothy_cgroup_mode_from_name(mode_s) : _BOTHY_CGROUP_MODE_INVALID;
  if (mode <= BOTHY_CGROUP_AUTO || !arr || json_array_size(arr) == 0)
    return bothy_error_set(err, EINVAL, "the saved cgroup has no valid mode or hierarchies");

  _cleanup_cgroup_ struct bothy_cgroup *cg = xmalloc0(sizeof(*cg));
  cg->mode = mode;
  size_t i;
  json_t *e;
  json_array_foreach (arr, i, e) {
    _cleanup_free_ char *hctx = xasprintf("cgroup.hierarchies[%zu]", i);
    if (!json_is_object(e))
      return bothy_error_set(err, EINVAL, "'%s' must be an object", hctx);
    struct bothy_cgroup_hierarchy *h = add_hierarchy(cg);
    if (bothy_json_bool(e, "unified", hctx, &h->unified, err) < 0 ||
        bothy_json_strdup(e, "name", hctx, &h->name, err) < 0 ||
        bothy_json_strdup(e, "options", hctx, &h->options, err) < 0 ||
        bothy_json_strv(e, "controllers", hctx, &h->controllers, err) < 0 ||
        bothy_json_strdup(e, "mountpoint", hctx, &h->mountpoint, err) < 0 ||
        bothy_json_strdup(e, "mount_root", hctx, &h->mount_root, err) < 0 ||
        bothy_json_strdup(e, "path", hctx, &h->path, err) < 0)
      return -1;
    if (!h->name || !h->mountpoint || !h->mount_root || !h->path || h->mountpoint[0] != '/' ||
        h->path[0] != '/')
      return bothy_error_set(err, EINVAL, "'%s' is incomplete", hctx);
    if (!h->controllers)
      h->controllers = xcalloc(1, sizeof(char *));
    /* A saved path is trusted no more than a new one. */
    _cleanup_free_ char *clean = clean_abs(h->path);
    if (!streq(clean, h->path))
      return bothy_error_set(err, EINVAL, "'%s.path' is not a clean path", hctx);
    if (hierarchy_set_dir(h, err) < 0)
      return -1;
  }
  *ret = TAKE_PTR(cg);
  return 0;
}

/* ---------------------------------------------------------------- mounts */

void bothy_cgroup_mounts(const struct bothy_cgroup *cg, struct bothy_cgroup_mount **ret,
                         size_t *ret_n)
{
  struct bothy_cgroup_mount *m = xcalloc(cg->n_hierarchies + 1, sizeof(*m));
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    const struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    m[i].name = xstrdup(h->name);
    m[i].options = xstrdup(h->options);
    m[i].host_path = xstrdup(h->dir);
    m[i].v2 = h->unified;
  }
  *ret = m;
  *ret_n = cg->n_hierarchies;
}

void bothy_cgroup_mounts_free(struct bothy_cgroup_mount *m, size_t n)
{
  if (!m)
    return;
  for (size_t i = 0; i < n; i++) {
    free(m[i].name);
    free(m[i].options);
    free(m[i].host_path);
  }
  free(m);
}

/* ---------------------------------------------------------------- entry points */

/* The entry points return what the error says (-code, or -1), whichever
 * inner path failed, even when the caller passes no error. */
#define RETURN_LIKE_ERROR(call)                                                                    \
  do {                                                                                             \
    _cleanup_error_ bothy_error_t local_ = NULL;                                                   \
    if (!err)                                                                                      \
      err = &local_;                                                                               \
    int r_ = (call);                                                                               \
    return r_ < 0 ? bothy_error_ret(err) : r_;                                                     \
  } while (0)

int bothy_cgroup_new(const struct bothy_cgroup_config *cfg, struct bothy_cgroup **ret,
                     bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_new(cfg, ret, err));
}

int bothy_cgroup_create(struct bothy_cgroup *cg, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_create(cg, -1, err));
}

int bothy_cgroup_create_part(struct bothy_cgroup *cg, bool unified, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_create(cg, unified ? 1 : 0, err));
}

int bothy_cgroup_enter(struct bothy_cgroup *cg, pid_t pid, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_enter(cg, pid, err));
}

int bothy_cgroup_enter_self(struct bothy_cgroup *cg, bool skip_unified, bothy_error_t *err)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    const struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    if (h->unified && skip_unified)
      continue;
    /* "0" in a v1 "tasks" file moves the calling thread without the
     * kernel's global threadgroup lock (and its RCU grace period); the
     * caller is single-threaded, so that moves the process. */
    if (cg_writef(h->dir, h->unified ? "cgroup.procs" : "tasks", err, "0") < 0)
      return bothy_error_prefix(err, "cannot join the cgroup '%s'", h->path);
  }
  return 0;
}

int bothy_cgroup_unified_fd(struct bothy_cgroup *cg)
{
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (cg->hierarchies[i].unified)
      return open(cg->hierarchies[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return -1;
}

int bothy_cgroup_apply(struct bothy_cgroup *cg, const struct bothy_resources *r, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_apply(cg, r, err));
}

int bothy_cgroup_pids(struct bothy_cgroup *cg, bool recursive, pid_t **ret, size_t *ret_n,
                      bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_pids(cg, recursive, ret, ret_n, err));
}

int bothy_cgroup_freeze(struct bothy_cgroup *cg, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_freeze(cg, err));
}

int bothy_cgroup_thaw(struct bothy_cgroup *cg, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_thaw(cg, err));
}

int bothy_cgroup_is_frozen(struct bothy_cgroup *cg, bool *ret, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_is_frozen(cg, ret, err));
}

int bothy_cgroup_kill(struct bothy_cgroup *cg, int sig, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_kill(cg, sig, err));
}

int bothy_cgroup_destroy(struct bothy_cgroup *cg, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_destroy(cg, err));
}

int bothy_cgroup_from_json(json_t *o, struct bothy_cgroup **ret, bothy_error_t *err)
{
  RETURN_LIKE_ERROR(do_from_json(o, ret, err));
}
