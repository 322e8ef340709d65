/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build/tarw.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "image/dl-archive.h" /* last: redirects the library calls */

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* tar's record is 20 blocks of 512 bytes: the archive ends with zeros up to
 * a multiple of it, as tar(1), docker and containers/storage write it.
 * Blocks handed to the write callback are a multiple of it, bigger than it
 * to save write() calls; the padding only depends on the last-block size. */
#define TAR_RECORD  10240
#define WRITE_BLOCK (TAR_RECORD * 32)
#define COPY_BUF    (128 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free)
#define _cleanup_archive_entry_ _cleanup_(archive_entry_freep)

/* ---- a string-keyed hash table (names, directory fds, inodes) ---- */

struct node {
  char *key;
  size_t keylen;
  ssize_t value; /* what the table is for; -1 when none */
  size_t below;  /* names table: live entries strictly below this path */
};

/* Open addressing with linear probing; nodes are never removed and live on
 * the heap, so a node pointer stays valid while the table grows. */
struct map {
  struct node **slots;
  size_t cap; /* a power of two, or 0 */
  size_t n;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char) s[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static void map_grow(struct map *m)
{
  size_t cap = m->cap ? m->cap * 2 : 256;
  struct node **slots = xcalloc(cap, sizeof(*slots));
  for (size_t i = 0; i < m->cap; i++) {
    struct node *n = m->slots[i];
    if (!n)
      continue;
    size_t j = hash_bytes(n->key, n->keylen) & (cap - 1);
    while (slots[j])
      j = (j + 1) & (cap - 1);
    slots[j] = n;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
}

/* The node of key[0..len), created (value -1) when create is set, else NULL
 * when there is none. */
static struct node *map_get(struct map *m, const char *key, size_t len, bool create)
{
  if (create && (m->n + 1) * 10 >= m->cap * 7)
    map_grow(m);
  if (m->cap == 0)
    return NULL;
  for (size_t i = hash_bytes(key, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    struct node *n = m->slots[i];
    if (!n) {
      if (!create)
        return NULL;
      n = xmalloc0(sizeof(*n));
      n->key = xstrndup(key, len);
      n->keylen = len;
      n->value = -1;
      m->slots[i] = n;
      m->n++;
      return n;
    }
    if (n->keylen == len && memcmp(n->key, key, len) == 0)
      return n;
  }
}

static void map_done(struct map *m)
{
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i]) {
      free(m->slots[i]->key);
      free(m->slots[i]);
    }
  free(m->slots);
  *m = (struct map){ 0 };
}

/* ---- entries ---- */

enum kind {
  KIND_DIR,    /* bothy_tarw_add_dir(): all metadata given */
  KIND_DATA,   /* content in memory: add_data(), whiteouts */
  KIND_SOURCE, /* a file system object, read at finish */
};

/* One add_tree()/add_diff() walk: its top directory stays open until the
 * writer is freed, and what was found below it is opened beneath it, with
 * no symlink followed, at finish. */
struct walk {
  int fd;
  char *display; /* the top's path, for messages */
  bool diff;     /* an overlay upper directory */
};

struct entry {
  char *name; /* cleaned: relative, no "." or empty components, no trailing '/' */
  enum kind kind;
  mode_t type; /* S_IFMT bits; for a source, what it was when added */
  mode_t perm;
  uid_t uid;
  gid_t gid;
  int64_t mtime;
  void *data; /* KIND_DATA */
  size_t len;
  /* KIND_SOURCE */
  int dirfd;   /* owned by the writer (fds, walks), or AT_FDCWD */
  char *path;  /* relative to dirfd (beneath the walk's top when walk > 0), or absolute */
  size_t walk; /* 1 + index in walks; 0: not found by a walk (no hard links) */
  bool has_meta;
  struct bothy_tarw_meta meta;
};

struct bothy_tarw {
  int64_t timestamp;
  struct entry **entries; /* in the order added; NULL where one was replaced */
  size_t n_entries;
  size_t cap_entries;
  size_t live;
  struct map names;  /* every entry's name and every prefix of one -> index in entries */
  struct map dirfds; /* "dev:ino" of a caller's directory -> our duplicate of it */
  int *fds;
  size_t n_fds;
  struct walk *walks;
  size_t n_walks;
  bool finished;
};

static struct entry *entry_free(struct entry *e)
{
  if (!e)
    return NULL;
  free(e->name);
  free(e->data);
  free(e->path);
  free(e);
  return NULL;
}

int bothy_tarw_new(const struct bothy_tarw_opts *opts, struct bothy_tarw **ret, bothy_error_t *err)
{
  (void) err;
  struct bothy_tarw *w = xmalloc0(sizeof(*w));
  w->timestamp = opts ? opts->timestamp : -1;
  *ret = w;
  return 0;
}

struct bothy_tarw *bothy_tarw_free(struct bothy_tarw *w)
{
  if (!w)
    return NULL;
  for (size_t i = 0; i < w->n_entries; i++)
    entry_free(w->entries[i]);
  free(w->entries);
  map_done(&w->names);
  map_done(&w->dirfds);
  for (size_t i = 0; i < w->n_fds; i++)
    safe_close(w->fds[i]);
  free(w->fds);
  for (size_t i = 0; i < w->n_walks; i++) {
    safe_close(w->walks[i].fd);
    free(w->walks[i].display);
  }
  free(w->walks);
  free(w);
  return NULL;
}

size_t bothy_tarw_count(const struct bothy_tarw *w)
{
  return w ? w->live : 0;
}

static int check_open(const struct bothy_tarw *w, bothy_error_t *err)
{
  if (w->finished)
    return bothy_error_set_code(err, EINVAL, "the layer was already written");
  return 0;
}

/* The name as it goes in the layer (without a directory's trailing '/'):
 * "/a//./b/" is "a/b", "" or "/" the layer's root. ".." is refused rather
 * than resolved: a COPY destination never needs it, and a name that climbs
 * is a bug upstream. So is a ".wh." name: it would delete files on unpack. */
static int clean_name(const char *name, char **ret, bothy_error_t *err)
{
  if (!name)
    return bothy_error_set_code(err, EINVAL, "layer entry without a name");
  size_t len = strlen(name);
  _cleanup_free_ char *out = xmalloc(len + 1);
  size_t o = 0;
  for (const char *p = name; *p;) {
    while (*p == '/')
      p++;
    const char *c = p;
    while (*p && *p != '/')
      p++;
    size_t n = (size_t) (p - c);
    if (n == 0 || (n == 1 && c[0] == '.'))
      continue;
    if (n == 2 && c[0] == '.' && c[1] == '.')
      return bothy_error_set_code(err, EINVAL,
                                  "layer entry '%s': \"..\" is not allowed in a layer path", name);
    if (n >= strlen(WH_PREFIX) && strncmp(c, WH_PREFIX, strlen(WH_PREFIX)) == 0)
      return bothy_error_set_code(
          err, EINVAL,
          "layer entry '%s': names starting with \"" WH_PREFIX "\" are whiteouts in a layer", name);
    if (o > 0)
      out[o++] = '/';
    memcpy(out + o, c, n);
    o += n;
  }
  out[o] = '\0';
  *ret = TAKE_PTR(out);
  return 0;
}

static void remove_entry(struct bothy_tarw *w, size_t idx)
{
  struct entry *e = w->entries[idx];
  for (const char *s = strchr(e->name, '/'); s; s = strchr(s + 1, '/')) {
    struct node *n = map_get(&w->names, e->name, (size_t) (s - e->name), false);
    if (n && n->below > 0)
      n->below--;
  }
  struct node *n = map_get(&w->names, e->name, strlen(e->name), false);
  if (n)
    n->value = -1;
  w->entries[idx] = entry_free(e);
  w->live--;
}

/* Removes every entry below the directory name (name is being replaced by
 * something that is not a directory). Rare: a scan. */
static void remove_below(struct bothy_tarw *w, const char *name)
{
  size_t len = strlen(name);
  for (size_t i = 0; i < w->n_entries; i++) {
    struct entry *e = w->entries[i];
    if (e && strncmp(e->name, name, len) == 0 && e->name[len] == '/')
      remove_entry(w, i);
  }
}

/* Adds e (taking it). A later entry wins over what it conflicts with: an
 * entry of the same name, what was below it when it is not a directory, a
 * non-directory where it needs a directory above it. Otherwise the tar would
 * hold a file "a" and then "a/b", which no unpacker can create. */
static void insert(struct bothy_tarw *w, struct entry *e)
{
  const char *name = e->name;
  for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
    struct node *n = map_get(&w->names, name, (size_t) (s - name), false);
    if (n && n->value >= 0 && w->entries[n->value]->type != S_IFDIR)
      remove_entry(w, (size_t) n->value);
  }
  struct node *node = map_get(&w->names, name, strlen(name), true);
  if (node->value >= 0)
    remove_entry(w, (size_t) node->value);
  if (e->type != S_IFDIR && node->below > 0)
    remove_below(w, name);

  if (w->n_entries == w->cap_entries) {
    w->cap_entries = w->cap_entries ? w->cap_entries * 2 : 64;
    w->entries = xrealloc(w->entries, w->cap_entries * sizeof(*w->entries));
  }
  node->value = (ssize_t) w->n_entries;
  w->entries[w->n_entries++] = e;
  w->live++;
  for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/'))
    map_get(&w->names, name, (size_t) (s - name), true)->below++;
}

static struct entry *entry_new(char *name, enum kind kind, mode_t type)
{
  struct entry *e = xmalloc0(sizeof(*e));
  e->name = name;
  e->kind = kind;
  e->type = type;
  e->dirfd = -1;
  return e;
}

static char *join(const char *a, const char *b)
{
  if (!*a)
    return xstrdup(b);
  return xasprintf("%s/%s", a, b);
}

/* dirfd/path, the last component not followed. A relative path below a
 * directory fd is resolved as if that directory were the root: callers pass
 * paths inside a build context or an image's root filesystem, where an
 * absolute symlink on the way ("var/run" -> "/run") must not lead to the
 * host's files. Returns the fd or a negative errno. */
static int open_at(int dirfd, const char *path, int flags)
{
  if (dirfd != AT_FDCWD && path[0] != '/')
    return bothy_open_in_root(dirfd, path, flags | O_NOFOLLOW, 0);
  int fd = openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static int stat_at(int dirfd, const char *path, struct stat *ret)
{
  _cleanup_close_ int fd = open_at(dirfd, path, O_PATH);
  if (fd < 0)
    return fd;
  return fstat(fd, ret) < 0 ? -errno : 0;
}

int bothy_tarw_add_dir(struct bothy_tarw *w, const char *name, mode_t perm, uid_t uid, gid_t gid,
                       int64_t mtime, bothy_error_t *err)
{
  int r;
  if ((r = check_open(w, err)) < 0)
    return r;
  _cleanup_free_ char *clean = NULL;
  if ((r = clean_name(name, &clean, err)) < 0)
    return r;
  /* The layer's root: OCI layers do not carry it (the unpacker has it). */
  if (!*clean)
    return 0;
  struct entry *e = entry_new(TAKE_PTR(clean), KIND_DIR, S_IFDIR);
  e->perm = perm & 07777;
  e->uid = uid;
  e->gid = gid;
  e->mtime = mtime;
  insert(w, e);
  return 0;
}

int bothy_tarw_add_data(struct bothy_tarw *w, const char *name, const void *data, size_t len,
                        mode_t perm, uid_t uid, gid_t gid, int64_t mtime, bothy_error_t *err)
{
  int r;
  if ((r = check_open(w, err)) < 0)
    return r;
  _cleanup_free_ char *clean = NULL;
  if ((r = clean_name(name, &clean, err)) < 0)
    return r;
  if (!*clean)
    return bothy_error_set_code(err, EINVAL, "layer entry '%s': a file cannot be the layer's root",
                                name);
  struct entry *e = entry_new(TAKE_PTR(clean), KIND_DATA, S_IFREG);
  if (len > 0) {
    e->data = xmalloc(len);
    memcpy(e->data, data, len);
  }
  e->len = len;
  e->perm = perm & 07777;
  e->uid = uid;
  e->gid = gid;
  e->mtime = mtime;
  insert(w, e);
  return 0;
}

/* A directory fd of the caller, kept until the writer is freed (sources are
 * read at finish, when the caller's fd may be closed). One per directory,
 * not per call: a COPY of many files relative to one directory holds one fd.
 * An absolute path needs none. */
static int keep_dirfd(struct bothy_tarw *w, int dirfd, const char *path, int *ret,
                      bothy_error_t *err)
{
  if (path[0] == '/') {
    *ret = AT_FDCWD;
    return 0;
  }
  struct stat st;
  if (fstatat(dirfd, ".", &st, 0) < 0)
    return bothy_error_errno(err, "cannot stat the directory of '%s'", path);
  char key[64];
  int klen = snprintf(key, sizeof(key), "%ju:%ju", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino);
  struct node *n = map_get(&w->dirfds, key, (size_t) klen, true);
  if (n->value < 0) {
    int fd = dirfd == AT_FDCWD ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)
                               : fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
      return bothy_error_errno(err, "cannot keep the directory of '%s' open", path);
    w->fds = xrealloc(w->fds, (w->n_fds + 1) * sizeof(*w->fds));
    w->fds[w->n_fds++] = fd;
    n->value = fd;
  }
  *ret = (int) n->value;
  return 0;
}

static int add_source(struct bothy_tarw *w, char *clean, const struct stat *st, int dirfd,
                      const char *path, size_t walk, const struct bothy_tarw_meta *meta)
{
  struct entry *e = entry_new(clean, KIND_SOURCE, st->st_mode & S_IFMT);
  e->dirfd = dirfd;
  e->path = xstrdup(path);
  e->walk = walk;
  if (meta) {
    e->has_meta = true;
    e->meta = *meta;
  }
  insert(w, e);
  return 0;
}

static int add_path_stat(struct bothy_tarw *w, const char *name, char *clean, int dirfd,
                         const char *path, const struct stat *st,
                         const struct bothy_tarw_meta *meta, bothy_error_t *err)
{
  int r;
  _cleanup_free_ char *owned = clean;
  if (S_ISSOCK(st->st_mode))
    return bothy_error_set_code(err, EINVAL, "'%s' is a socket: a layer cannot hold one", path);
  if (!*owned) {
    if (S_ISDIR(st->st_mode))
      return 0; /* the layer's root: not written */
    return bothy_error_set_code(err, EINVAL, "layer entry '%s': only a directory can be the root",
                                name);
  }
  int keep;
  if ((r = keep_dirfd(w, dirfd, path, &keep, err)) < 0)
    return r;
  return add_source(w, TAKE_PTR(owned), st, keep, path, 0, meta);
}

int bothy_tarw_add_path(struct bothy_tarw *w, const char *name, int dirfd, const char *path,
                        const struct bothy_tarw_meta *meta, bothy_error_t *err)
{
  int r;
  if ((r = check_open(w, err)) < 0)
    return r;
  _cleanup_free_ char *clean = NULL;
  if ((r = clean_name(name, &clean, err)) < 0)
    return r;
  if (!path || !*path)
    path = ".";
  struct stat st;
  if ((r = stat_at(dirfd, path, &st)) < 0)
    return bothy_error_set(err, -r, "cannot stat '%s'", path);
  return add_path_stat(w, name, TAKE_PTR(clean), dirfd, path, &st, meta, err);
}

static bool is_opaque(int dirfd)
{
  char v[2];
  /* overlayfs marks a directory that hides the lower ones' contents; the
   * user.* form is what it writes when mounted with userxattr (rootless). */
  static const char *const keys[] = { "trusted.overlay.opaque", "user.overlay.opaque" };
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
    ssize_t n = fgetxattr(dirfd, keys[i], v, sizeof(v));
    if (n == 1 && v[0] == 'y')
      return true;
  }
  return false;
}

/* A whiteout or opaque marker: an empty regular file (OCI image spec,
 * "Representing Changes"). Mode 0 and owner 0:0 for a whiteout, as
 * containers/storage writes them; an opaque marker takes its directory's
 * permission bits and owner, as both docker and containers/storage do. */
static void add_marker(struct bothy_tarw *w, char *name, mode_t perm, uid_t uid, gid_t gid,
                       int64_t mtime)
{
  struct entry *e = entry_new(name, KIND_DATA, S_IFREG);
  e->perm = perm;
  e->uid = uid;
  e->gid = gid;
  e->mtime = mtime;
  insert(w, e);
}

struct walk_ctx {
  struct bothy_tarw *w;
  size_t walk; /* 1 + index */
  bool diff;
  const struct bothy_tarw_meta *meta;
};

/* Adds what is in the directory dfd (a readable fd; taken), found at rel
 * below the walk's top, as entries below name. */
static int walk_dir(struct walk_ctx *c, int dfd, const char *rel, const char *name,
                    bothy_error_t *err)
{
  int r;
  const char *top = c->w->walks[c->walk - 1].display;
  _cleanup_close_ int fd = dfd;
  DIR *raw = fdopendir(fd);
  if (!raw)
    return bothy_error_errno(err, "cannot read the directory '%s%s%s'", top, *rel ? "/" : "", rel);
  TAKE_FD(fd);
  _cleanup_closedir_ DIR *d = raw;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno != 0)
        return bothy_error_errno(err, "cannot read the directory '%s%s%s'", top, *rel ? "/" : "",
                                 rel);
      break;
    }
    if (streq(de->d_name, ".") || streq(de->d_name, ".."))
      continue;
    _cleanup_free_ char *crel = join(rel, de->d_name);
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return bothy_error_errno(err, "cannot stat '%s/%s'", top, crel);
    /* Sockets cannot be in a tar; docker and tar(1) skip them too. */
    if (S_ISSOCK(st.st_mode))
      continue;
    if (strncmp(de->d_name, WH_PREFIX, strlen(WH_PREFIX)) == 0)
      return bothy_error_set_code(
          err, EINVAL, "'%s/%s': names starting with \"" WH_PREFIX "\" are whiteouts in a layer",
          top, crel);
    int64_t mtime = (int64_t) st.st_mtim.tv_sec;
    if (c->diff && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
      _cleanup_free_ char *base = xasprintf(WH_PREFIX "%s", de->d_name);
      add_marker(c->w, join(name, base), 0, 0, 0, mtime);
      continue;
    }
    char *cname = join(name, de->d_name);
    add_source(c->w, cname, &st, c->w->walks[c->walk - 1].fd, crel, c->walk, c->meta);
    if (!S_ISDIR(st.st_mode))
      continue;
    int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0)
      return bothy_error_errno(err, "cannot open the directory '%s/%s'", top, crel);
    if (c->diff && is_opaque(cfd))
      add_marker(c->w, join(cname, WH_OPAQUE), st.st_mode & 0777, st.st_uid, st.st_gid, mtime);
    if ((r = walk_dir(c, cfd, crel, cname, err)) < 0)
      return r;
  }
  return 0;
}

/* Starts a walk of the open directory fd (taken). */
static int walk_start(struct bothy_tarw *w, int fd, const char *display, bool diff,
                      const char *name, const struct bothy_tarw_meta *meta, bothy_error_t *err)
{
  _cleanup_close_ int owned = fd;
  /* What the walk finds is opened beneath the top at finish: an O_PATH fd
   * of it is kept until the writer is freed (the readable one is only for
   * reading the directories now). */
  int top = openat(fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (top < 0)
    return bothy_error_errno(err, "cannot open the directory '%s'", display);
  /* "src/" reads "src/a/b" in messages, not "src//a/b". */
  char *d = xstrdup(display);
  for (size_t n = strlen(d); n > 1 && d[n - 1] == '/'; n--)
    d[n - 1] = '\0';
  w->walks = xrealloc(w->walks, (w->n_walks + 1) * sizeof(*w->walks));
  w->walks[w->n_walks++] = (struct walk){ .fd = top, .display = d, .diff = diff };
  struct walk_ctx c = { .w = w, .walk = w->n_walks, .diff = diff, .meta = meta };
  return walk_dir(&c, TAKE_FD(owned), "", name, err);
}

int bothy_tarw_add_tree(struct bothy_tarw *w, const char *name, int dirfd, const char *path,
                        bool include_top, const struct bothy_tarw_meta *meta, bothy_error_t *err)
{
  int r;
  if ((r = check_open(w, err)) < 0)
    return r;
  _cleanup_free_ char *clean = NULL;
  if ((r = clean_name(name, &clean, err)) < 0)
    return r;
  if (!path || !*path)
    path = ".";
  _cleanup_close_ int fd = open_at(dirfd, path, O_RDONLY | O_DIRECTORY);
  if (fd < 0 && fd != -ENOTDIR && fd != -ELOOP)
    return bothy_error_set(err, -fd, "cannot open '%s'", path);
  if (fd < 0) {
    /* Not a directory (a symlink is not followed): one entry. */
    struct stat st;
    if ((r = stat_at(dirfd, path, &st)) < 0)
      return bothy_error_set(err, -r, "cannot stat '%s'", path);
    return add_path_stat(w, name, TAKE_PTR(clean), dirfd, path, &st, meta, err);
  }
  if (include_top && *clean) {
    struct stat st;
    if (fstat(fd, &st) < 0)
      return bothy_error_errno(err, "cannot stat '%s'", path);
    int keep;
    if ((r = keep_dirfd(w, dirfd, path, &keep, err)) < 0)
      return r;
    add_source(w, xstrdup(clean), &st, keep, path, 0, meta);
  }
  return walk_start(w, TAKE_FD(fd), path, /* diff= */ false, clean, meta, err);
}

int bothy_tarw_add_diff(struct bothy_tarw *w, int upper_dirfd, bothy_error_t *err)
{
  int r;
  if ((r = check_open(w, err)) < 0)
    return r;
  _cleanup_close_ int fd = openat(upper_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open the upper directory");
  /* Its path, for messages only. */
  char proc[64], buf[4096];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(proc, buf, sizeof(buf) - 1);
  if (n <= 0 || n >= (ssize_t) sizeof(buf) - 1)
    n = snprintf(buf, sizeof(buf), "upper");
  buf[n] = '\0';
  return walk_start(w, TAKE_FD(fd), buf, /* diff= */ true, "", NULL, err);
}

/* ---- writing ---- */

struct xattr {
  char *name;
  void *value;
  size_t size;
};

struct xattrs {
  struct xattr *v;
  size_t n;
};

static void xattrs_done(struct xattrs *x)
{
  for (size_t i = 0; i < x->n; i++) {
    free(x->v[i].name);
    free(x->v[i].value);
  }
  free(x->v);
}

struct out {
  struct bothy_tarw *w;
  struct entry **sorted;
  size_t n;
  int fd;
  struct archive *a;
  struct bothy_digester *digest;
  uint64_t size;
  int write_errno;
  struct map links; /* "walk:dev:ino" of a written file -> its index in sorted */
  char *buf;
};

static void out_done(struct out *o)
{
  /* The archive first: freeing it may still flush through out_write(). */
  if (o->a)
    archive_write_free(o->a);
  bothy_digester_free(o->digest);
  map_done(&o->links);
  free(o->sorted);
  free(o->buf);
}

/* libarchive's write callback: every byte of the tar passes here once, in
 * order, so this is where it is hashed and counted. */
static la_ssize_t out_write(struct archive *a, void *data, const void *buf, size_t len)
{
  struct out *o = data;
  int r = bothy_write_all(o->fd, buf, len);
  if (r < 0) {
    o->write_errno = -r;
    archive_set_error(a, -r, "cannot write the layer");
    return -1;
  }
  bothy_digester_update(o->digest, buf, len);
  o->size += len;
  return (la_ssize_t) len;
}

static int archive_fail(struct out *o, const char *name, bothy_error_t *err)
{
  if (o->write_errno)
    return bothy_error_set(err, o->write_errno, "cannot write the layer");
  const char *m = archive_error_string(o->a);
  if (!m || !*m)
    m = "unknown error";
  if (name)
    return bothy_error_set_code(err, EIO, "cannot write layer entry '%s': %s", name, m);
  return bothy_error_set_code(err, EIO, "cannot write the layer: %s", m);
}

static char *source_display(const struct bothy_tarw *w, const struct entry *e)
{
  if (e->walk)
    return xasprintf("%s/%s", w->walks[e->walk - 1].display, e->path);
  return xstrdup(e->path);
}

_printf_(5, 6) static int source_fail(const struct bothy_tarw *w, const struct entry *e, int code,
                                      bothy_error_t *err, const char *fmt, ...)
{
  _cleanup_free_ char *src = source_display(w, e);
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *what = xvasprintf(fmt, ap);
  va_end(ap);
  return bothy_error_set(err, code, "layer entry '%s' (from '%s'): %s", e->name, src, what);
}

/* The source as it is now, not followed if it is a symlink: as open_at()
 * does for the caller's paths; beneath the walk's top with no symlink on
 * the way for what a walk found, so a directory swapped for a symlink since
 * the walk cannot lead elsewhere. */
static int open_source(const struct bothy_tarw *w, const struct entry *e)
{
  if (e->walk) {
    int top = w->walks[e->walk - 1].fd;
    struct open_how how = {
      .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long r;
    do
      r = syscall(SYS_openat2, top, e->path, &how, sizeof(how));
    while (r < 0 && errno == EAGAIN);
    if (r >= 0 || errno != ENOSYS)
      return r < 0 ? -errno : (int) r;
    /* Before Linux 5.6: only the last component is checked. */
    int fd = openat(top, e->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
  }
  return open_at(e->dirfd, e->path, O_PATH);
}

static const char *type_name(mode_t type)
{
  switch (type) {
  case S_IFREG:
    return "regular file";
  case S_IFDIR:
    return "directory";
  case S_IFLNK:
    return "symlink";
  case S_IFIFO:
    return "fifo";
  case S_IFCHR:
    return "character device";
  case S_IFBLK:
    return "block device";
  case S_IFSOCK:
    return "socket";
  default:
    return "file of unknown type";
  }
}

/* What bothy_layer_unpack() and the OCI runtimes' unpackers keep, and what
 * the header promises: file capabilities and user.*, but not overlayfs's
 * own (user.overlay.* would steer an overlay mount of the unpacked layer). */
static bool xattr_kept(const char *key)
{
  if (streq(key, "security.capability"))
    return true;
  return strncmp(key, "user.", 5) == 0 && strncmp(key, "user.overlay.", 13) != 0;
}

/* overlayfs features whose upper entries do not hold what the merged view
 * shows: a metacopy file's data and a redirected directory's contents are
 * in a lower layer, so the diff of this upper directory would be wrong. */
static bool xattr_unsupported_in_diff(const char *key)
{
  static const char *const keys[] = { "trusted.overlay.metacopy", "trusted.overlay.redirect",
                                      "user.overlay.metacopy", "user.overlay.redirect" };
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
    if (streq(key, keys[i]))
      return true;
  return false;
}

static int xattr_cmp(const void *a, const void *b)
{
  return strcmp(((const struct xattr *) a)->name, ((const struct xattr *) b)->name);
}

/* The kept xattrs of the O_PATH fd's file, sorted by name (listxattr's order
 * is the file system's). Through /proc/self/fd: the f*xattr calls refuse
 * O_PATH fds, and following the magic link reaches the fd's own inode. */
static int read_xattrs(const struct bothy_tarw *w, const struct entry *e, int pfd, bool diff,
                       struct xattrs *ret, bothy_error_t *err)
{
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
  _cleanup_free_ char *list = NULL;
  ssize_t len;
  for (;;) {
    len = listxattr(proc, NULL, 0);
    if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
      return 0;
    if (len < 0)
      return source_fail(w, e, errno, err, "cannot list its xattrs");
    if (len == 0)
      return 0;
    list = xrealloc(list, (size_t) len);
    ssize_t n = listxattr(proc, list, (size_t) len);
    if (n >= 0) {
      len = n;
      break;
    }
    if (errno != ERANGE) /* ERANGE: one was added meanwhile */
      return source_fail(w, e, errno, err, "cannot list its xattrs");
  }
  for (const char *k = list; k < list + len; k += strnlen(k, (size_t) (list + len - k)) + 1) {
    if (diff && xattr_unsupported_in_diff(k)) {
      _cleanup_free_ char *src = source_display(w, e);
      return bothy_error_set_code(
          err, ENOTSUP,
          "layer entry '%s' (from '%s'): it has the overlay xattr '%s', its "
          "content is in a lower layer (mount the overlay with metacopy=off "
          "and redirect_dir=off)",
          e->name, src, k);
    }
    if (!xattr_kept(k))
      continue;
    _cleanup_free_ void *value = NULL;
    ssize_t size;
    for (;;) {
      size = getxattr(proc, k, NULL, 0);
      if (size <= 0)
        break;
      value = xrealloc(value, (size_t) size);
      ssize_t n = getxattr(proc, k, value, (size_t) size);
      if (n >= 0 || errno != ERANGE) {
        size = n;
        break;
      }
    }
    if (size < 0 && errno == ENODATA)
      continue; /* removed since listed */
    if (size < 0)
      return source_fail(w, e, errno, err, "cannot read its xattr '%s'", k);
    ret->v = xrealloc(ret->v, (ret->n + 1) * sizeof(*ret->v));
    ret->v[ret->n++] =
        (struct xattr){ .name = xstrdup(k), .value = TAKE_PTR(value), .size = (size_t) size };
  }
  if (ret->n > 1)
    qsort(ret->v, ret->n, sizeof(*ret->v), xattr_cmp);
  return 0;
}

static int read_symlink(const struct bothy_tarw *w, const struct entry *e, int pfd, char **ret,
                        bothy_error_t *err)
{
  for (size_t size = 256;; size *= 2) {
    _cleanup_free_ char *buf = xmalloc(size);
    /* An empty path reads the O_PATH fd's own link (Linux 2.6.39). */
    ssize_t n = readlinkat(pfd, "", buf, size);
    if (n < 0)
      return source_fail(w, e, errno, err, "cannot read the symlink");
    if ((size_t) n < size) {
      buf[n] = '\0';
      *ret = TAKE_PTR(buf);
      return 0;
    }
  }
}

/* Copies exactly size bytes of fd into the current entry. A file that is
 * shorter now than fstat() said is an error: libarchive would pad it with
 * zeros, silently. One that grew is cut at the size in the header. */
static int copy_data(struct out *o, const struct entry *e, int fd, uint64_t size,
                     bothy_error_t *err)
{
  for (uint64_t left = size; left > 0;) {
    size_t want = left < COPY_BUF ? (size_t) left : COPY_BUF;
    ssize_t n = read(fd, o->buf, want);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return source_fail(o->w, e, errno, err, "cannot read it");
    if (n == 0)
      return source_fail(o->w, e, 0, err, "it shrank while it was being read");
    if (archive_write_data(o->a, o->buf, (size_t) n) != n)
      return archive_fail(o, e->name, err);
    left -= (uint64_t) n;
  }
  return 0;
}

static int write_entry(struct out *o, size_t idx, bothy_error_t *err)
{
  int r;
  struct bothy_tarw *w = o->w;
  struct entry *e = o->sorted[idx];
  mode_t type = e->type, perm = e->perm;
  uid_t uid = e->uid;
  gid_t gid = e->gid;
  int64_t mtime = e->mtime;
  uint64_t size = e->kind == KIND_DATA ? e->len : 0;
  dev_t rdev = 0;
  const char *hardlink = NULL;
  _cleanup_free_ char *target = NULL;
  _cleanup_(xattrs_done) struct xattrs xa = { 0 };
  _cleanup_close_ int pfd = -1;
  _cleanup_close_ int rfd = -1;

  if (e->kind == KIND_SOURCE) {
    pfd = open_source(w, e);
    if (pfd < 0)
      return source_fail(w, e, -pfd, err, "cannot open it");
    struct stat st;
    if (fstat(pfd, &st) < 0)
      return source_fail(w, e, errno, err, "cannot stat it");
    if ((st.st_mode & S_IFMT) != type)
      return source_fail(w, e, 0, err, "it was a %s when added and is now a %s", type_name(type),
                         type_name(st.st_mode & S_IFMT));
    perm = st.st_mode & 07777;
    uid = st.st_uid;
    gid = st.st_gid;
    mtime = (int64_t) st.st_mtim.tv_sec;
    if (e->has_meta && e->meta.set_owner) {
      uid = e->meta.uid;
      gid = e->meta.gid;
    }
    /* A symlink's own mode means nothing on Linux: it stays 0777. */
    if (e->has_meta && e->meta.set_mode && type != S_IFLNK)
      perm = e->meta.mode & 07777;
    bool diff = e->walk && w->walks[e->walk - 1].diff;
    switch (type) {
    case S_IFREG:
      if (e->walk && st.st_nlink > 1) {
        char key[96];
        int klen = snprintf(key, sizeof(key), "%zu:%ju:%ju", e->walk, (uintmax_t) st.st_dev,
                            (uintmax_t) st.st_ino);
        struct node *n = map_get(&o->links, key, (size_t) klen, true);
        if (n->value >= 0) {
          hardlink = o->sorted[n->value]->name;
          break;
        }
        n->value = (ssize_t) idx;
      }
      /* Reopened for reading only now that it is known to be a regular
       * file: opening a fifo would block, a device could act on it. */
      char proc[64];
      snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
      rfd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      if (rfd < 0)
        return source_fail(w, e, errno, err, "cannot open it");
      size = (uint64_t) st.st_size;
      if ((r = read_xattrs(w, e, pfd, diff, &xa, err)) < 0)
        return r;
      break;
    case S_IFDIR:
      if ((r = read_xattrs(w, e, pfd, diff, &xa, err)) < 0)
        return r;
      break;
    case S_IFLNK:
      if ((r = read_symlink(w, e, pfd, &target, err)) < 0)
        return r;
      break;
    case S_IFCHR:
    case S_IFBLK:
      rdev = st.st_rdev;
      break;
    default:
      break;
    }
  }
  if (w->timestamp >= 0)
    mtime = w->timestamp;

  _cleanup_archive_entry_ struct archive_entry *ae = archive_entry_new();
  if (!ae)
    abort();
  _cleanup_free_ char *dirname = type == S_IFDIR ? xasprintf("%s/", e->name) : NULL;
  archive_entry_set_pathname(ae, dirname ? dirname : e->name);
  archive_entry_set_mode(ae, type | perm);
  archive_entry_set_uid(ae, uid);
  archive_entry_set_gid(ae, gid);
  archive_entry_set_mtime(ae, (time_t) mtime, 0);
  if (hardlink) {
    archive_entry_set_hardlink(ae, hardlink);
    size = 0;
  }
  archive_entry_set_size(ae, (la_int64_t) size);
  if (target)
    archive_entry_set_symlink(ae, target);
  if (type == S_IFCHR || type == S_IFBLK) {
    archive_entry_set_rdevmajor(ae, major(rdev));
    archive_entry_set_rdevminor(ae, minor(rdev));
  }
  for (size_t i = 0; i < xa.n; i++)
    archive_entry_xattr_add_entry(ae, xa.v[i].name, xa.v[i].value ? xa.v[i].value : "",
                                  xa.v[i].size);
  /* ARCHIVE_WARN: a name that is not ASCII, written as it is with
   * hdrcharset=BINARY (see bothy_tarw_finish()). */
  if (archive_write_header(o->a, ae) < ARCHIVE_WARN)
    return archive_fail(o, e->name, err);
  if (e->kind == KIND_DATA && e->len > 0 &&
      archive_write_data(o->a, e->data, e->len) != (la_ssize_t) e->len)
    return archive_fail(o, e->name, err);
  if (rfd >= 0 && (r = copy_data(o, e, rfd, size, err)) < 0)
    return r;
  return 0;
}

static int entry_cmp(const void *a, const void *b)
{
  return strcmp((*(struct entry *const *) a)->name, (*(struct entry *const *) b)->name);
}

struct locale_swap {
  locale_t c;
  locale_t old;
};

static void locale_swap_undo(struct locale_swap *s)
{
  if (s->c) {
    uselocale(s->old);
    freelocale(s->c);
  }
}

int bothy_tarw_finish(struct bothy_tarw *w, int out_fd, char *ret_diff_id, uint64_t *ret_size,
                      bothy_error_t *err)
{
  int r;
  if ((r = check_open(w, err)) < 0)
    return r;
  w->finished = true;
  if ((r = bothy_dlopen_archive(err)) < 0)
    return r;

  /* libarchive converts names from the locale's charset to UTF-8 for pax
   * headers: in a UTF-8 locale "café" is written one way, in the C locale
   * another (raw, with hdrcharset=BINARY). The bytes of a layer must not
   * depend on the caller's locale: always the C locale, on this thread. */
  _cleanup_(locale_swap_undo) struct locale_swap loc = { 0 };
  loc.c = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
  if (!loc.c)
    return bothy_error_errno(err, "cannot create the C locale");
  loc.old = uselocale(loc.c);

  _cleanup_(out_done) struct out o = { .w = w, .fd = out_fd };
  o.digest = bothy_digester_new();
  o.buf = xmalloc(COPY_BUF);
  o.sorted = xcalloc(w->live ? w->live : 1, sizeof(*o.sorted));
  for (size_t i = 0; i < w->n_entries; i++)
    if (w->entries[i])
      o.sorted[o.n++] = w->entries[i];
  qsort(o.sorted, o.n, sizeof(*o.sorted), entry_cmp);

  o.a = archive_write_new();
  if (!o.a)
    abort();
  /* pax "restricted": ustar headers, and a pax header only for what ustar
   * cannot hold, as docker and containers/storage write layers. xattrs as
   * SCHILY.xattr.* only (what GNU tar and Go's archive/tar read), not also
   * as libarchive's own LIBARCHIVE.xattr.* copies. */
  if (archive_write_set_format_pax_restricted(o.a) != ARCHIVE_OK ||
      archive_write_set_format_option(o.a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
      archive_write_add_filter_none(o.a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(o.a, WRITE_BLOCK) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(o.a, TAR_RECORD) != ARCHIVE_OK ||
      archive_write_open2(o.a, &o, NULL, out_write, NULL, NULL) != ARCHIVE_OK)
    return archive_fail(&o, NULL, err);
  for (size_t i = 0; i < o.n; i++)
    if ((r = write_entry(&o, i, err)) < 0)
      return r;
  if (archive_write_close(o.a) != ARCHIVE_OK)
    return archive_fail(&o, NULL, err);

  bothy_digester_final(o.digest, ret_diff_id);
  *ret_size = o.size;
  return 0;
}
