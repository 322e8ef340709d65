/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build/context.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "base/strv.h"
#include "base/sbuf.h"
#include "base/xalloc.h"
#include "build/ignore.h"
#include "image/layer.h"
#include "image/dl-archive.h" /* last: redirects the library calls */

/* Loading libcrypto costs about 3 ms; the plain SHA-256 hashes about
 * 200 MB/s, libcrypto's 1.5 GB/s: up to about 1 MB of content the plain one
 * is faster in all, and a warm rebuild of a small context (which hashes it
 * every time) should not pay for the load. So a context's first PLAIN_BUDGET
 * bytes are hashed with the plain one, the rest (and any file bigger than
 * READ_BUF, the read buffer) with libcrypto's. */
#define READ_BUF     (1024 * 1024)
#define PLAIN_BUDGET (1024 * 1024)
/* As the kernel (and docker's FollowSymlinkInScope) bound a resolution. */
#define MAX_LINK_HOPS 40

struct bothy_context {
  int dirfd;
  bool rootfs;
  struct bothy_ignore *ig; /* NULL: nothing ignored */
  char *tmpdir;            /* ADD's archives are unpacked below it; NULL until the first */
  int tmpfd;
  unsigned ntmp;
  unsigned char *buf;   /* READ_BUF bytes, for hashing */
  uint64_t plain_bytes; /* hashed with the plain SHA-256 so far */
  bool evp;             /* libcrypto's is in use: keep using it */
};

/* ---- small helpers ---- */

static const char *dot(const char *path)
{
  return *path ? path : ".";
}

static int openat2_fd(int dirfd, const char *path, int flags, uint64_t resolve)
{
  struct open_how how = {
    .flags = (uint64_t) (flags | O_CLOEXEC),
    .resolve = resolve | RESOLVE_NO_MAGICLINKS,
  };
  long fd;
  do
    fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
  while (fd < 0 && errno == EAGAIN);
  return fd < 0 ? -errno : (int) fd;
}

/* How a path that resolve_path() found (no symlink in it) is opened: beneath
 * the context, or inside a rootfs, and never through a symlink, so that a
 * directory swapped for a symlink since cannot lead anywhere else. */
static int open_resolved(const struct bothy_context *c, int dirfd, const char *path, int flags)
{
  return openat2_fd(dirfd, dot(path), flags,
                    (c->rootfs ? RESOLVE_IN_ROOT : RESOLVE_BENEATH) | RESOLVE_NO_SYMLINKS);
}

/* "a" + "b" -> "a/b"; "" + "b" -> "b". */
static void sb_push(struct sbuf *b, const char *name)
{
  if (b->len)
    sb_addn(b, "/", 1);
  sb_adds(b, name);
}

/* dir joined with name, one '/' between them ("/" + "x" is "/x"). */
static char *join(const char *dir, const char *name)
{
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/')
    n--;
  if (!*name)
    return xstrndup(dir, n);
  return xasprintf("%.*s%s%s", (int) n, dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

static char *readlinkat_alloc(int dirfd, const char *path)
{
  for (size_t size = 256;; size *= 2) {
    char *buf = xmalloc(size);
    ssize_t n = readlinkat(dirfd, path, buf, size);
    if (n < 0) {
      free(buf);
      return NULL;
    }
    if ((size_t) n < size) {
      buf[n] = '\0';
      return buf;
    }
    free(buf);
  }
}

/* Names of a directory, sorted in byte order: one block of strings and an
 * array of offsets, not an allocation per name. */
struct names {
  char *blk;
  size_t blen, bcap;
  size_t *off;
  size_t n, cap;
};

static void names_done(struct names *n)
{
  free(n->blk);
  free(n->off);
  *n = (struct names){ 0 };
}

static int cmp_names(const void *a, const void *b, void *blk)
{
  return strcmp((const char *) blk + *(const size_t *) a, (const char *) blk + *(const size_t *) b);
}

static int read_names(DIR *d, struct names *n)
{
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d))) {
    const char *s = de->d_name;
    if (s[0] == '.' && (!s[1] || (s[1] == '.' && !s[2])))
      continue;
    size_t len = strlen(s) + 1;
    if (n->blen + len > n->bcap) {
      n->bcap = n->bcap ? n->bcap * 2 : 4096;
      while (n->blen + len > n->bcap)
        n->bcap *= 2;
      n->blk = xrealloc(n->blk, n->bcap);
    }
    if (n->n == n->cap) {
      n->cap = n->cap ? n->cap * 2 : 64;
      n->off = xrealloc(n->off, n->cap * sizeof(size_t));
    }
    memcpy(n->blk + n->blen, s, len);
    n->off[n->n++] = n->blen;
    n->blen += len;
    errno = 0;
  }
  if (errno)
    return -errno;
  if (n->n)
    qsort_r(n->off, n->n, sizeof(size_t), cmp_names, n->blk);
  return 0;
}

static const char *name_at(const struct names *n, size_t i)
{
  return n->blk + n->off[i];
}

/* ---- paths and globs, as docker has them ---- */

/* src cleaned as a path below the root: "./a//b/", "/a/b" and "a/c/../b" are
 * "a/b"; the root is "". *ret_above: a ".." climbed above the root (it is
 * dropped, as a chroot would). */
static char *clean_source(const char *src, bool *ret_above)
{
  struct sbuf b = { 0 };
  sb_adds(&b, "");
  bool above = false;
  for (const char *p = src; *p;) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchrnul(p, '/');
    size_t n = (size_t) (e - p);
    if (n == 1 && p[0] == '.') {
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (!b.len) {
        above = true;
      } else {
        char *slash = strrchr(b.s, '/');
        sb_truncate(&b, slash ? (size_t) (slash - b.s) : 0);
      }
    } else {
      if (b.len)
        sb_addn(&b, "/", 1);
      sb_addn(&b, p, n);
    }
    p = e;
  }
  *ret_above = above;
  return b.s;
}

static const char *base_name(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* fsutil's containsWildcards: an unquoted '*', '?' or '['. */
static bool has_wildcards(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\')
      i++;
    else if (s[i] == '*' || s[i] == '?' || s[i] == '[')
      return true;
  }
  return false;
}

/* One UTF-8 character at *s (Go's utf8.DecodeRuneInString: an invalid byte
 * is U+FFFD, one byte long). */
static uint32_t next_rune(const char **s, bool *ret_invalid)
{
  const unsigned char *p = (const unsigned char *) *s;
  uint32_t r = 0xFFFD;
  size_t n = 1;
  if (p[0] < 0x80) {
    r = p[0];
  } else if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
    uint32_t v = (uint32_t) (p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (v >= 0x80)
      r = v, n = 2;
  } else if ((p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
    uint32_t v = (uint32_t) (p[0] & 0x0F) << 12 | (uint32_t) (p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    if (v >= 0x800 && (v < 0xD800 || v > 0xDFFF))
      r = v, n = 3;
  } else if ((p[0] & 0xF8) == 0xF0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
             (p[3] & 0xC0) == 0x80) {
    uint32_t v = (uint32_t) (p[0] & 0x07) << 18 | (uint32_t) (p[1] & 0x3F) << 12 |
                 (uint32_t) (p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    if (v >= 0x10000 && v <= 0x10FFFF)
      r = v, n = 4;
  }
  if (ret_invalid)
    *ret_invalid = n == 1 && p[0] >= 0x80;
  *s += n;
  return r;
}

/* Go's getEsc: one character of a class, maybe quoted; -1 if malformed. */
static int class_char(const char **pp, uint32_t *ret)
{
  const char *p = *pp;
  if (!*p || *p == '-' || *p == ']')
    return -1;
  if (*p == '\\' && !*++p)
    return -1;
  bool invalid;
  uint32_t r = next_rune(&p, &invalid);
  if (invalid || !*p)
    return -1;
  *ret = r;
  *pp = p;
  return 0;
}

/* A class at *pp (just after '[') against r: 1 matches, 0 does not, -1
 * malformed. *pp moves past the ']'. */
static int class_match(const char **pp, uint32_t r)
{
  const char *p = *pp;
  bool negate = *p == '^', match = false;
  if (negate)
    p++;
  for (unsigned nrange = 0;; nrange++) {
    if (*p == ']' && nrange > 0) {
      p++;
      break;
    }
    uint32_t lo, hi;
    if (class_char(&p, &lo) < 0)
      return -1;
    hi = lo;
    if (*p == '-' && (p++, class_char(&p, &hi) < 0))
      return -1;
    if (lo <= r && r <= hi)
      match = true;
  }
  *pp = p;
  return match != negate;
}

/* Whether filepath.Match would accept pat as a pattern. */
static bool glob_valid(const char *pat)
{
  for (const char *p = pat; *p;) {
    if (*p == '\\') {
      if (!p[1])
        return false;
      p += 2;
    } else if (*p == '[') {
      p++;
      if (class_match(&p, 0) < 0)
        return false;
    } else {
      p++;
    }
  }
  return true;
}

/* One pattern element at *p against the start of *s (not empty). */
static bool match_one(const char **p, const char **s)
{
  const char *pp = *p, *ss = *s;
  bool ok;
  if (*pp == '?') {
    next_rune(&ss, NULL);
    pp++;
    ok = true;
  } else if (*pp == '[') {
    pp++;
    ok = class_match(&pp, next_rune(&ss, NULL)) == 1;
  } else {
    if (*pp == '\\')
      pp++;
    ok = *pp++ == *ss++;
  }
  if (ok) {
    *p = pp;
    *s = ss;
  }
  return ok;
}

/* filepath.Match for a pattern already checked by glob_valid() and a name
 * without '/'. Backtracking to the last '*' only is enough: what follows a
 * star matches a fixed number of characters. As Go, '*' skips bytes, '?'
 * and classes take one UTF-8 character. */
static bool glob_match(const char *pat, const char *name)
{
  const char *p = pat, *s = name, *star_p = NULL, *star_s = NULL;
  while (*p || *s) {
    if (*p == '*') {
      while (*p == '*')
        p++;
      star_p = p;
      star_s = s;
      continue;
    }
    if (*p && *s && match_one(&p, &s))
      continue;
    if (star_p && *star_s) {
      s = ++star_s;
      p = star_p;
      continue;
    }
    return false;
  }
  return true;
}

/* ---- resolving a source ---- */

static const char *what_of(const struct bothy_copy_req *req)
{
  return req->what ? req->what : "COPY";
}

static int not_found(const struct bothy_context *c, const char *what, const char *src,
                     bothy_error_t *err)
{
  if (c->rootfs)
    return bothy_error_set_code(err, ENOENT, "%s failed: file not found: \"%s\"", what, src);
  return bothy_error_set_code(err, ENOENT, "%s failed: file not found in build context: \"%s\"",
                              what, src);
}

static bool ignored(const struct bothy_context *c, const char *path)
{
  return c->ig && *path && bothy_ignore_match(c->ig, path);
}

/* The error for a source that a symlink (via, linking to target) leads out
 * of the context. */
static int escapes(const char *what, const char *name, const char *path, const char *via,
                   const char *target, bothy_error_t *err)
{
  if (streq(via, path))
    return bothy_error_set_code(err, EPERM,
                                "%s failed: \"%s\" points outside the build context (to \"%s\")",
                                what, name, target);
  return bothy_error_set_code(
      err, EPERM, "%s failed: \"%s\" points outside the build context (\"%s\" links to \"%s\")",
      what, name, via, target);
}

/* Follows path (cleaned, relative to the root) inside the root, symlinks
 * included: a context's symlink that leads out of it is an error, a rootfs's
 * is resolved as in a chroot. On success *ret_real is where path leads, with
 * no symlink in it ("" for the root), and *ret_st what is there. Returns
 * -ENOENT without setting err when there is nothing there (or only an
 * ignored symlink on the way). name is the source for messages. */
static int resolve_path(struct bothy_context *c, const char *what, const char *name,
                        const char *path, char **ret_real, struct stat *ret_st, bothy_error_t *err)
{
  _cleanup_free_ char *todo = xstrdup(path);
  _cleanup_free_ char *via = NULL, *via_target = NULL; /* the last symlink followed */
  _cleanup_(sb_done) struct sbuf done = { 0 };
  unsigned hops = 0;
  sb_adds(&done, "");
  for (const char *p = todo;;) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchrnul(p, '/');
    size_t n = (size_t) (e - p);
    if (n == 1 && p[0] == '.') {
      p = e;
      continue;
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (!done.len && !c->rootfs) {
        /* The source was cleaned lexically: only a symlink's target can
         * climb out (or a quoted "\\.\\."). */
        if (!via)
          return bothy_error_set_code(err, EPERM, "%s failed: \"%s\" is outside the build context",
                                      what, name);
        return escapes(what, name, path, via, via_target, err);
      }
      /* done has no symlink in it: dropping its last component is going up. */
      char *slash = strrchr(done.s, '/');
      sb_truncate(&done, slash ? (size_t) (slash - done.s) : 0);
      p = e;
      continue;
    }
    size_t before = done.len;
    if (done.len)
      sb_addn(&done, "/", 1);
    sb_addn(&done, p, n);
    struct stat st;
    if (fstatat(c->dirfd, done.s, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT || errno == ENOTDIR)
        return -ENOENT;
      return bothy_error_errno(err, "%s failed: cannot stat \"%s\"", what, done.s);
    }
    const char *rest = e;
    while (*rest == '/')
      rest++;
    if (!S_ISLNK(st.st_mode)) {
      if (*rest && !S_ISDIR(st.st_mode))
        return -ENOENT;
      p = e;
      continue;
    }
    /* An ignored symlink is not in the context: nothing to follow. */
    if (ignored(c, done.s))
      return -ENOENT;
    if (++hops > MAX_LINK_HOPS)
      return bothy_error_set_code(
          err, ELOOP, "%s failed: \"%s\": too many levels of symbolic links", what, name);
    char *target = readlinkat_alloc(c->dirfd, done.s);
    if (!target)
      return bothy_error_errno(err, "%s failed: cannot read symlink \"%s\"", what, done.s);
    free(via);
    free(via_target);
    via = xstrdup(done.s);
    via_target = target;
    if (target[0] == '/') {
      if (!c->rootfs)
        return escapes(what, name, path, via, target, err);
      sb_truncate(&done, 0); /* as in a chroot: '/' is the root */
    } else {
      sb_truncate(&done, before);
    }
    char *next = *rest ? xasprintf("%s/%s", target, rest) : xstrdup(target);
    free(todo);
    todo = next;
    p = todo;
  }
  /* What was found has no symlink in it: opening it beneath the root
   * without following any checks that nothing was swapped on the way. */
  _cleanup_close_ int fd = open_resolved(c, c->dirfd, done.s, O_PATH | O_NOFOLLOW);
  if (fd == -ENOENT || fd == -ENOTDIR)
    return -ENOENT;
  if (fd == -EXDEV || fd == -ELOOP)
    return bothy_error_set_code(err, EPERM, "%s failed: \"%s\" points outside the build context",
                                what, name);
  if (fd < 0)
    return bothy_error_set(err, -fd, "%s failed: cannot open \"%s\"", what, name);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bothy_error_errno(err, "%s failed: cannot stat \"%s\"", what, name);
  *ret_st = st;
  *ret_real = TAKE_PTR(done.s);
  return 0;
}

/* ---- walking a directory ---- */

struct walk;
/* One entry: wk->path is its path from the root, walk_rel(wk) from the
 * source. dirfd/name open it (dirfd is -1 for a directory that is only
 * there because something below it is kept). */
typedef int (*visit_fn)(struct walk *wk, int dfd, const char *name, const struct stat *st,
                        bothy_error_t *err);

struct pending {
  size_t len; /* its path is wk->path's first len bytes */
  struct stat st;
  bool visited;
};

struct walk {
  struct bothy_context *c;
  const struct bothy_ignore *exclude;
  struct sbuf path;
  size_t src_len; /* wk->path's length at the source */
  visit_fn visit; /* NULL: only find out what is left out */
  void *userdata;
  bool stop_at_first; /* stop (returning 1) at the first entry kept */
  bool filtered;      /* something below was left out */
  struct pending *pend;
  size_t npend, cappend;
};

static const char *walk_rel(const struct walk *wk)
{
  return wk->src_len ? wk->path.s + wk->src_len + 1 : wk->path.s;
}

/* An entry is kept: the left-out directories it is in come first. */
static int emit(struct walk *wk, int dfd, const char *name, const struct stat *st,
                bothy_error_t *err)
{
  if (wk->stop_at_first)
    return 1;
  for (size_t i = 0; i < wk->npend; i++) {
    struct pending *pd = &wk->pend[i];
    if (pd->visited)
      continue;
    pd->visited = true;
    if (!wk->visit)
      continue;
    char saved = wk->path.s[pd->len];
    wk->path.s[pd->len] = '\0';
    int r = wk->visit(wk, -1, NULL, &pd->st, err);
    wk->path.s[pd->len] = saved;
    if (r < 0)
      return r;
  }
  return wk->visit ? wk->visit(wk, dfd, name, st, err) : 0;
}

static int walk_dir(struct walk *wk, int fd, bothy_error_t *err)
{
  struct bothy_context *c = wk->c;
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return bothy_error_errno(err, "cannot read directory \"%s\"", dot(wk->path.s));
  }
  _cleanup_(names_done) struct names names = { 0 };
  int r = read_names(d, &names);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot read directory \"%s\"", dot(wk->path.s));
  for (size_t i = 0; i < names.n && r == 0; i++) {
    const char *name = name_at(&names, i);
    struct stat st;
    if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT)
        continue; /* gone since readdir */
      r = bothy_error_errno(err, "cannot stat \"%s/%s\"", dot(wk->path.s), name);
      break;
    }
    if (S_ISSOCK(st.st_mode)) {
      wk->filtered = true; /* a tar cannot hold one; docker leaves them out too */
      continue;
    }
    size_t old = wk->path.len;
    sb_push(&wk->path, name);
    bool ign = ignored(c, wk->path.s);
    bool exc = wk->exclude && bothy_ignore_match(wk->exclude, walk_rel(wk));
    bool walk_in = S_ISDIR(st.st_mode), pushed = false;
    if (!ign && !exc) {
      r = emit(wk, dirfd(d), name, &st, err);
    } else {
      wk->filtered = true;
      /* Left out, but an exception may keep something below it. */
      walk_in = walk_in && !(ign && bothy_ignore_can_skip_dir(c->ig, wk->path.s)) &&
                !(exc && bothy_ignore_can_skip_dir(wk->exclude, walk_rel(wk)));
      if (walk_in) {
        if (wk->npend == wk->cappend) {
          wk->cappend = wk->cappend ? wk->cappend * 2 : 8;
          wk->pend = xrealloc(wk->pend, wk->cappend * sizeof(*wk->pend));
        }
        wk->pend[wk->npend++] = (struct pending){ .len = wk->path.len, .st = st };
        pushed = true;
      }
    }
    if (r == 0 && walk_in) {
      int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0 && errno != ENOENT)
        r = bothy_error_errno(err, "cannot open directory \"%s\"", wk->path.s);
      else if (cfd >= 0)
        r = walk_dir(wk, cfd, err);
    }
    if (pushed)
      wk->npend--;
    sb_truncate(&wk->path, old);
  }
  return r;
}

/* Walks what is below the directory real (from the root), leaving out what
 * the ignore file and exclude say, in name order. Returns 1 when
 * stop_at_first stopped it. */
static int walk_source(struct bothy_context *c, const char *real,
                       const struct bothy_ignore *exclude, visit_fn visit, void *userdata,
                       bool stop_at_first, bool *ret_filtered, bothy_error_t *err)
{
  struct walk wk = {
    .c = c,
    .exclude = exclude,
    .src_len = strlen(real),
    .visit = visit,
    .userdata = userdata,
    .stop_at_first = stop_at_first,
  };
  sb_adds(&wk.path, real);
  int fd = open_resolved(c, c->dirfd, real, O_RDONLY | O_DIRECTORY);
  int r = fd < 0 ? bothy_error_set(err, -fd, "cannot open directory \"%s\"", dot(real))
                 : walk_dir(&wk, fd, err);
  if (ret_filtered)
    *ret_filtered = wk.filtered;
  sb_done(&wk.path);
  free(wk.pend);
  return r;
}

/* Whether what is at real is in the context: not ignored, or a directory
 * that an exception keeps something of. */
static int visible(struct bothy_context *c, const char *real, const struct stat *st,
                   bothy_error_t *err)
{
  if (!ignored(c, real))
    return 1;
  if (!S_ISDIR(st->st_mode) || bothy_ignore_can_skip_dir(c->ig, real))
    return 0;
  return walk_source(c, real, NULL, NULL, NULL, /* stop_at_first= */ true, NULL, err);
}

/* ---- the sources of a request ---- */

struct source {
  char *name; /* for messages: the source as written, or a glob's match */
  char *base; /* its last component: what a file is called in dest/ */
  char *real; /* where it is in the root, no symlink in it; "" is the root */
  struct stat st;
};

struct plan {
  struct source *v;
  size_t n, cap;
  struct bothy_ignore *exclude;
  bool dir_dest; /* dest ends in '/' or is a directory */
};

static void plan_done(struct plan *p)
{
  for (size_t i = 0; i < p->n; i++) {
    free(p->v[i].name);
    free(p->v[i].base);
    free(p->v[i].real);
  }
  free(p->v);
  bothy_ignore_free(p->exclude);
  *p = (struct plan){ 0 };
}

/* Resolves path and adds it when it is there. glob: a match, which is left
 * out quietly when ignored (the caller reports when nothing is left).
 * Returns 0 when added, -ENOENT (err not set) when not there. */
static int add_source(struct bothy_context *c, const char *what, struct plan *p, const char *name,
                      const char *path, bothy_error_t *err)
{
  _cleanup_free_ char *real = NULL;
  struct stat st;
  int r = resolve_path(c, what, name, path, &real, &st, err);
  if (r < 0)
    return r;
  r = visible(c, real, &st, err);
  if (r < 0)
    return bothy_error_prefix(err, "%s failed", what);
  if (r == 0)
    return -ENOENT;
  if (p->n == p->cap) {
    p->cap = p->cap ? p->cap * 2 : 4;
    p->v = xrealloc(p->v, p->cap * sizeof(*p->v));
  }
  p->v[p->n++] = (struct source){
    .name = xstrdup(name),
    .base = xstrdup(base_name(path)),
    .real = TAKE_PTR(real),
    .st = st,
  };
  return 0;
}

/* fsutil's resolveWildcards, one component at a time: the entries of the
 * directory at dir.s (real, from the root) matching pats[0], in name order;
 * directories (not symlinks to them) are searched for the next pattern. rel
 * is the match so far below the glob's fixed part (for --exclude), shown the
 * same as written (for messages). */
static int glob_dir(struct bothy_context *c, const char *what, struct plan *p, char **pats,
                    size_t npats, struct sbuf *dir, struct sbuf *shown, struct sbuf *rel,
                    bothy_error_t *err)
{
  int fd = open_resolved(c, c->dirfd, dir->s, O_RDONLY | O_DIRECTORY);
  if (fd == -ENOENT || fd == -ENOTDIR)
    return 0;
  if (fd < 0)
    return bothy_error_set(err, -fd, "%s failed: cannot open directory \"%s\"", what, dot(dir->s));
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return bothy_error_errno(err, "%s failed: cannot read directory \"%s\"", what, dot(dir->s));
  }
  _cleanup_(names_done) struct names names = { 0 };
  int r = read_names(d, &names);
  if (r < 0)
    r = bothy_error_set(err, -r, "%s failed: cannot read directory \"%s\"", what, dot(dir->s));
  for (size_t i = 0; i < names.n && r >= 0; i++) {
    const char *name = name_at(&names, i);
    if (!glob_match(pats[0], name))
      continue;
    size_t dlen = dir->len, slen = shown->len, rlen = rel->len;
    sb_push(dir, name);
    sb_push(shown, name);
    sb_push(rel, name);
    if (p->exclude && bothy_ignore_match(p->exclude, rel->s)) {
      /* left out by --exclude */
    } else if (npats == 1) {
      r = add_source(c, what, p, shown->s, dir->s, err);
      if (r == -ENOENT)
        r = 0;
    } else {
      struct stat st;
      if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
          !(ignored(c, dir->s) && bothy_ignore_can_skip_dir(c->ig, dir->s)))
        r = glob_dir(c, what, p, pats + 1, npats - 1, dir, shown, rel, err);
    }
    sb_truncate(dir, dlen);
    sb_truncate(shown, slen);
    sb_truncate(rel, rlen);
  }
  return r;
}

/* A component without a wildcard is a name, '\\' quoting what follows. */
static char *unquote(const char *s, size_t n)
{
  char *out = xmalloc(n + 1), *o = out;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\\' && i + 1 < n && s[i + 1] != '/')
      i++;
    *o++ = s[i];
  }
  *o = '\0';
  return out;
}

static int expand_source(struct bothy_context *c, const char *what, struct plan *p, const char *src,
                         bothy_error_t *err)
{
  bool above;
  _cleanup_free_ char *path = clean_source(src, &above);
  if (above && !c->rootfs)
    return bothy_error_set_code(err, EPERM, "%s failed: \"%s\" is outside the build context", what,
                                src);

  /* The fixed part, then the components from the first with a wildcard on. */
  size_t fixed = 0;
  const char *glob = NULL;
  for (const char *s = path; *s;) {
    const char *e = strchrnul(s, '/');
    if (has_wildcards(s, (size_t) (e - s))) {
      glob = s;
      break;
    }
    fixed = (size_t) (e - path);
    s = *e ? e + 1 : e;
  }
  size_t before = p->n;
  if (!glob) {
    _cleanup_free_ char *literal = unquote(path, strlen(path));
    int r = add_source(c, what, p, src, literal, err);
    if (r == -ENOENT)
      return not_found(c, what, src, err);
    return r;
  }

  _cleanup_strv_free_ char **pats = NULL;
  for (const char *s = glob; *s;) {
    const char *e = strchrnul(s, '/');
    strv_push(&pats, xstrndup(s, (size_t) (e - s)));
    s = *e ? e + 1 : e;
  }
  for (char **q = pats; *q; q++)
    if (!glob_valid(*q))
      return bothy_error_set_code(err, EINVAL, "%s failed: bad pattern \"%s\"", what, src);

  _cleanup_free_ char *prefix = unquote(path, fixed);
  _cleanup_free_ char *base = NULL;
  struct stat st;
  int r = resolve_path(c, what, src, prefix, &base, &st, err);
  if (r == -ENOENT || (r == 0 && !S_ISDIR(st.st_mode)))
    return not_found(c, what, src, err);
  if (r < 0)
    return r;
  _cleanup_(sb_done) struct sbuf dir = { 0 }, shown = { 0 }, rel = { 0 };
  sb_set(&dir, base);
  sb_set(&shown, prefix);
  sb_set(&rel, "");
  r = glob_dir(c, what, p, pats, strv_length(pats), &dir, &shown, &rel, err);
  if (r < 0)
    return r;
  if (p->n == before)
    return not_found(c, what, src, err);
  return 0;
}

#define MANY_SOURCES "%s with more than one source file requires the destination to end with \"/\""

static int make_plan(struct bothy_context *c, const struct bothy_copy_req *req, struct plan *p,
                     bothy_error_t *err)
{
  const char *what = what_of(req);
  size_t nsrcs = req->srcs ? strv_length(req->srcs) : 0;
  if (nsrcs == 0)
    return bothy_error_set_code(err, EINVAL, "%s failed: no source", what);
  if (!req->dest || req->dest[0] != '/')
    return bothy_error_set_code(err, EINVAL, "%s failed: the destination must be absolute", what);
  size_t dlen = strlen(req->dest);
  p->dir_dest = req->dest_is_dir || req->dest[dlen - 1] == '/';
  if (nsrcs > 1 && !p->dir_dest)
    return bothy_error_set_code(err, EINVAL, MANY_SOURCES, what);

  if (req->exclude && req->exclude[0]) {
    _cleanup_(sb_done) struct sbuf pats = { 0 };
    for (char *const *e = req->exclude; *e; e++) {
      sb_adds(&pats, *e);
      sb_addn(&pats, "\n", 1);
    }
    int r = bothy_ignore_parse(pats.s, pats.len, "--exclude", &p->exclude, err);
    if (r < 0)
      return bothy_error_prefix(err, "%s failed", what);
  }

  for (char *const *s = req->srcs; *s; s++) {
    int r = expand_source(c, what, p, *s, err);
    if (r < 0)
      return r;
  }
  if (p->n > 1 && !p->dir_dest)
    return bothy_error_set_code(err, EINVAL, MANY_SOURCES, what);
  return 0;
}

/* Where a source goes: a directory's contents and an archive go into dest,
 * a file to dest/<its name> or to dest itself. */
static char *target_of(const struct plan *p, const struct bothy_copy_req *req,
                       const struct source *s)
{
  if (S_ISDIR(s->st.st_mode) || !p->dir_dest)
    return join(req->dest, "");
  return join(req->dest, s->base);
}

/* ---- hashing ---- */

struct hbuf {
  unsigned char *b;
  size_t len, cap;
};

static void hb_add(struct hbuf *h, const void *data, size_t n)
{
  if (h->len + n > h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 4096;
    while (cap < h->len + n)
      cap *= 2;
    h->b = xrealloc(h->b, cap);
    h->cap = cap;
  }
  memcpy(h->b + h->len, data, n);
  h->len += n;
}

static void hb_u8(struct hbuf *h, uint8_t v)
{
  hb_add(h, &v, 1);
}

static void hb_u64(struct hbuf *h, uint64_t v)
{
  unsigned char b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char) (v >> (8 * i));
  hb_add(h, b, sizeof(b));
}

/* Length first, so that no two different sequences serialise the same. */
static void hb_str(struct hbuf *h, const char *s)
{
  size_t n = strlen(s);
  hb_u64(h, n);
  hb_add(h, s, n);
}

static void to_hex(const unsigned char *md, size_t n, char *ret)
{
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    ret[2 * i] = hex[md[i] >> 4];
    ret[2 * i + 1] = hex[md[i] & 15];
  }
  ret[2 * n] = '\0';
}

/* The sha256 (hex) and size of a regular file's content. */
static int hash_content(struct bothy_context *c, int dirfd, const char *path, char *ret_hex,
                        uint64_t *ret_size, bothy_error_t *err)
{
  _cleanup_close_ int fd = open_resolved(c, dirfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return bothy_error_set(err, -fd, "cannot open \"%s\"", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bothy_error_errno(err, "cannot stat \"%s\"", path);
  if (!S_ISREG(st.st_mode))
    return bothy_error_set_code(err, EAGAIN, "\"%s\" changed while it was read", path);
  if (!c->buf)
    c->buf = xmalloc(READ_BUF);
  _cleanup_digester_ struct bothy_digester *dg = NULL;
  uint64_t size = (uint64_t) st.st_size;
  if (c->evp || size >= READ_BUF || c->plain_bytes + size > PLAIN_BUDGET) {
    dg = bothy_digester_new();
    c->evp = true;
  }
  uint64_t total = 0;
  size_t n = 0; /* bytes in c->buf */
  for (;;) {
    ssize_t k = read(fd, c->buf + n, READ_BUF - n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return bothy_error_errno(err, "cannot read \"%s\"", path);
    }
    if (k == 0)
      break;
    n += (size_t) k;
    total += (uint64_t) k;
    if (n == READ_BUF) { /* full: into the streaming digest (a file grown since fstat too) */
      if (!dg)
        dg = bothy_digester_new();
      bothy_digester_update(dg, c->buf, n);
      n = 0;
    }
  }
  if (dg) {
    char d[BOTHY_DIGEST_MAX];
    bothy_digester_update(dg, c->buf, n);
    bothy_digester_final(dg, d);
    memcpy(ret_hex, d + strlen("sha256:"), 65);
  } else {
    unsigned char md[32];
    bothy_sha256_plain(c->buf, n, md);
    to_hex(md, sizeof(md), ret_hex);
    c->plain_bytes += total;
  }
  *ret_size = total;
  return 0;
}

/* One entry: path from the source, type and permission bits, owners (a
 * rootfs's only: the context's never reach the image), and what it holds. */
static int hash_entry(struct bothy_context *c, struct hbuf *h, int dirfd, const char *name,
                      const char *rel, const struct stat *st, bothy_error_t *err)
{
  hb_u8(h, 'E');
  hb_str(h, rel);
  hb_u64(h, st->st_mode & (S_IFMT | 07777));
  if (c->rootfs) {
    hb_u64(h, st->st_uid);
    hb_u64(h, st->st_gid);
  }
  if (S_ISREG(st->st_mode)) {
    char hex[65];
    uint64_t size = 0;
    int r = hash_content(c, dirfd, name, hex, &size, err);
    if (r < 0)
      return r;
    hb_u64(h, size);
    hb_add(h, hex, 64);
  } else if (S_ISLNK(st->st_mode)) {
    _cleanup_free_ char *target = readlinkat_alloc(dirfd, name);
    if (!target)
      return bothy_error_errno(err, "cannot read symlink \"%s\"", name);
    hb_str(h, target);
  } else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
    hb_u64(h, st->st_rdev);
  }
  return 0;
}

static int hash_visit(struct walk *wk, int dfd, const char *name, const struct stat *st,
                      bothy_error_t *err)
{
  if (dfd < 0) { /* a directory kept for what is below it: no content to read */
    dfd = wk->c->dirfd;
    name = wk->path.s;
  }
  return hash_entry(wk->c, wk->userdata, dfd, name, walk_rel(wk), st, err);
}

static void hbuf_done(struct hbuf *h)
{
  free(h->b);
}

int bothy_context_hash(struct bothy_context *c, const struct bothy_copy_req *req, char *ret_hex,
                       bothy_error_t *err)
{
  _cleanup_(plan_done) struct plan p = { 0 };
  int r = make_plan(c, req, &p, err);
  if (r < 0)
    return r;
  _cleanup_(hbuf_done) struct hbuf h = { 0 };
  hb_str(&h, "bothy context v1");
  hb_u8(&h, c->rootfs);
  hb_u8(&h, req->add);
  hb_u8(&h, req->dest_is_dir);
  hb_str(&h, req->dest);
  hb_u8(&h, req->meta.set_owner);
  hb_u64(&h, req->meta.set_owner ? req->meta.uid : 0);
  hb_u64(&h, req->meta.set_owner ? req->meta.gid : 0);
  hb_u8(&h, req->meta.set_mode);
  hb_u64(&h, req->meta.set_mode ? req->meta.mode : 0);
  for (size_t i = 0; req->exclude && req->exclude[i]; i++)
    hb_str(&h, req->exclude[i]);
  for (size_t i = 0; i < p.n; i++) {
    const struct source *s = &p.v[i];
    _cleanup_free_ char *target = target_of(&p, req, s);
    hb_u8(&h, 'S');
    hb_str(&h, target);
    hb_u8(&h, S_ISDIR(s->st.st_mode));
    if (S_ISDIR(s->st.st_mode))
      r = walk_source(c, s->real, p.exclude, hash_visit, &h, false, NULL, err);
    else
      r = hash_entry(c, &h, c->dirfd, s->real, "", &s->st, err);
    if (r < 0)
      return bothy_error_prefix(err, "%s failed", what_of(req));
  }
  hb_u8(&h, 'Z');
  unsigned char md[32];
  bothy_sha256_plain(h.b, h.len, md);
  to_hex(md, sizeof(md), ret_hex);
  return 0;
}

/* ---- ADD's archives ---- */

enum compression { COMP_NONE, COMP_GZIP, COMP_BZIP2, COMP_XZ, COMP_ZSTD };

/* The magic numbers docker's DecompressStream looks for. */
static enum compression sniff_compression(const unsigned char *h, size_t n)
{
  if (n >= 3 && h[0] == 0x1f && h[1] == 0x8b && h[2] == 0x08)
    return COMP_GZIP;
  if (n >= 3 && memcmp(h, "BZh", 3) == 0)
    return COMP_BZIP2;
  if (n >= 6 && memcmp(h,
                       "\xfd"
                       "7zXZ\0",
                       6) == 0)
    return COMP_XZ;
  if (n >= 4 && memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0)
    return COMP_ZSTD;
  return COMP_NONE;
}

/* Whether a block is a tar header, as Go's archive/tar reads one: not all
 * zeros, and its checksum (unsigned or signed sum, as old tars wrote it)
 * right. */
static bool tar_header(const unsigned char *b, size_t n)
{
  if (n < 512)
    return false;
  bool zero = true;
  for (size_t i = 0; i < 512 && zero; i++)
    zero = b[i] == 0;
  if (zero)
    return false;
  const unsigned char *f = b + 148, *e = b + 156;
  while (f < e && (*f == ' ' || *f == '\0'))
    f++;
  while (e > f && (e[-1] == ' ' || e[-1] == '\0'))
    e--;
  int64_t want = 0;
  for (; f < e; f++) {
    if (*f < '0' || *f > '7')
      return false;
    want = want * 8 + (*f - '0');
  }
  int64_t usum = 0, ssum = 0;
  for (size_t i = 0; i < 512; i++) {
    unsigned char ch = i >= 148 && i < 156 ? ' ' : b[i];
    usum += ch;
    ssum += (signed char) ch;
  }
  return want == usum || want == ssum;
}

static void archive_readp(struct archive **a)
{
  if (*a)
    archive_read_free(*a);
}

/* A reader of fd's decompressed bytes, from its start. */
static struct archive *open_decompressor(int fd, enum compression comp)
{
  if (lseek(fd, 0, SEEK_SET) < 0)
    return NULL;
  struct archive *a = archive_read_new();
  if (!a)
    abort(); /* out of memory: the x-allocator policy */
  /* By name, not support_filter_all(): that one may run external programs. */
  switch (comp) {
  case COMP_GZIP:
    archive_read_support_filter_gzip(a);
    break;
  case COMP_BZIP2:
    archive_read_support_filter_bzip2(a);
    break;
  case COMP_XZ:
    archive_read_support_filter_xz(a);
    break;
  case COMP_ZSTD:
    archive_read_support_filter_zstd(a);
    break;
  case COMP_NONE:
    break;
  }
  struct archive_entry *e;
  if (archive_read_support_format_raw(a) != ARCHIVE_OK ||
      archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK ||
      archive_read_next_header(a, &e) < ARCHIVE_WARN) {
    archive_read_free(a);
    return NULL;
  }
  return a;
}

/* Whether fd holds a tar, maybe compressed; *ret_comp how. */
static int is_archive(int fd, enum compression *ret_comp, bool *ret, bothy_error_t *err)
{
  unsigned char head[512];
  ssize_t n = pread(fd, head, sizeof(head), 0);
  if (n < 0)
    return bothy_error_errno(err, "cannot read");
  enum compression comp = sniff_compression(head, (size_t) n);
  *ret_comp = comp;
  if (comp == COMP_NONE) {
    *ret = tar_header(head, (size_t) n);
    return 0;
  }
  int r = bothy_dlopen_archive(err);
  if (r < 0)
    return r;
  _cleanup_(archive_readp) struct archive *a = open_decompressor(fd, comp);
  size_t got = 0;
  while (a && got < sizeof(head)) {
    const void *buf;
    size_t len;
    la_int64_t off;
    if (archive_read_data_block(a, &buf, &len, &off) != ARCHIVE_OK)
      break;
    len = len < sizeof(head) - got ? len : sizeof(head) - got;
    memcpy(head + got, buf, len);
    got += len;
  }
  /* Something that does not decompress is no archive: it is copied as it is,
   * as docker does. */
  *ret = tar_header(head, got);
  return 0;
}

/* libarchive's whole decompressed stream into out. */
static int decompress_to(int fd, enum compression comp, int out, bothy_error_t *err)
{
  _cleanup_(archive_readp) struct archive *a = open_decompressor(fd, comp);
  if (!a)
    return bothy_error_set_code(err, EBADMSG, "cannot decompress");
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      return 0;
    if (r < ARCHIVE_WARN) {
      const char *s = archive_error_string(a);
      return bothy_error_set_code(err, EBADMSG, "cannot decompress: %s", s ? s : "unknown error");
    }
    if (len && bothy_write_all(out, buf, len) < 0)
      return bothy_error_errno(err, "cannot write the decompressed archive");
  }
}

static int make_tmpdir(struct bothy_context *c, bothy_error_t *err)
{
  if (c->tmpdir)
    return 0;
  char tmpl[] = "/var/tmp/bothy-add-XXXXXX";
  if (!mkdtemp(tmpl))
    return bothy_error_errno(err, "cannot create a directory in /var/tmp");
  c->tmpdir = xstrdup(tmpl);
  c->tmpfd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c->tmpfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", tmpl);
  return 0;
}

/* ADD of a local file: a tar (plain or compressed) is unpacked into dest,
 * keeping the archive's owners unless --chown. Returns 1 when it was one, 0
 * when not (the caller copies it as a file). */
static int add_archive(struct bothy_context *c, const struct bothy_copy_req *req,
                       const struct source *s, struct bothy_tarw *w, bothy_error_t *err)
{
  _cleanup_close_ int fd = open_resolved(c, c->dirfd, s->real, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return bothy_error_set(err, -fd, "cannot open");
  enum compression comp = COMP_NONE;
  bool tar = false;
  int r = is_archive(fd, &comp, &tar, err);
  if (r < 0 || !tar)
    return r;
  r = make_tmpdir(c, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *dir = xasprintf("%u", c->ntmp);
  _cleanup_free_ char *plain = xasprintf("%u.tar", c->ntmp);
  c->ntmp++;
  if (mkdirat(c->tmpfd, dir, 0700) < 0)
    return bothy_error_errno(err, "cannot create '%s/%s'", c->tmpdir, dir);
  _cleanup_close_ int dfd = openat(c->tmpfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s/%s'", c->tmpdir, dir);
  /* bothy_layer_unpack() reads what a layer may be (plain, gzip, zstd); bzip2
   * and xz are decompressed first. */
  _cleanup_close_ int tfd = -1;
  if (comp == COMP_BZIP2 || comp == COMP_XZ) {
    tfd = openat(c->tmpfd, plain, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (tfd < 0)
      return bothy_error_errno(err, "cannot create '%s/%s'", c->tmpdir, plain);
    r = decompress_to(fd, comp, tfd, err);
    if (r < 0 || lseek(tfd, 0, SEEK_SET) < 0) {
      unlinkat(c->tmpfd, plain, 0);
      return r < 0 ? r : bothy_error_errno(err, "cannot seek");
    }
  } else if (lseek(fd, 0, SEEK_SET) < 0) {
    return bothy_error_errno(err, "cannot seek");
  }
  /* What the archive holds lands as it is, as docker unpacks it: setuid
   * bits and device nodes too (the directory is root's alone, mode 0700). */
  struct bothy_layer_policy pol = { .allow_devices = true, .allow_setuid = true };
  struct bothy_layer_result res;
  r = bothy_layer_unpack(tfd >= 0 ? tfd : fd, dfd, &pol, &res, err);
  if (tfd >= 0)
    unlinkat(c->tmpfd, plain, 0);
  if (r < 0)
    return bothy_error_prefix(err, "unpacking");
  _cleanup_free_ char *target = join(req->dest, "");
  r = bothy_tarw_add_tree(w, target, c->tmpfd, dir, /* include_top= */ false, &req->meta, err);
  return r < 0 ? r : 1;
}

/* ---- copying ---- */

struct copier {
  struct bothy_tarw *w;
  const char *target;
  const struct bothy_tarw_meta *meta;
};

static int copy_visit(struct walk *wk, int dfd, const char *name, const struct stat *st,
                      bothy_error_t *err)
{
  (void) dfd, (void) name, (void) st;
  const struct copier *cp = wk->userdata;
  _cleanup_free_ char *dest = join(cp->target, walk_rel(wk));
  return bothy_tarw_add_path(cp->w, dest, wk->c->dirfd, wk->path.s, cp->meta, err);
}

static int copy_source(struct bothy_context *c, const struct bothy_copy_req *req,
                       const struct plan *p, const struct source *s, struct bothy_tarw *w,
                       bothy_error_t *err)
{
  struct bothy_tarw_meta meta = req->meta;
  if (!c->rootfs && !meta.set_owner) /* the context's owners are the host's */
    meta = (struct bothy_tarw_meta){
      .set_owner = true, .uid = 0, .gid = 0, .set_mode = meta.set_mode, .mode = meta.mode
    };
  _cleanup_free_ char *target = target_of(p, req, s);
  if (!S_ISDIR(s->st.st_mode)) {
    if (req->add && S_ISREG(s->st.st_mode)) {
      int r = add_archive(c, req, s, w, err);
      if (r != 0)
        return r < 0 ? bothy_error_prefix(err, "\"%s\"", s->name) : 0;
    }
    return bothy_tarw_add_path(w, target, c->dirfd, s->real, &meta, err);
  }
  /* A whole tree is one walk of the writer's (which keeps hard links); one
   * that something is left out of is added entry by entry. */
  bool filtered = false;
  if (c->ig || p->exclude) {
    int r = walk_source(c, s->real, p->exclude, NULL, NULL, false, &filtered, err);
    if (r < 0)
      return r;
  }
  if (!filtered)
    return bothy_tarw_add_tree(w, target, c->dirfd, dot(s->real), /* include_top= */ false, &meta,
                               err);
  struct copier cp = { .w = w, .target = target, .meta = &meta };
  return walk_source(c, s->real, p->exclude, copy_visit, &cp, false, NULL, err);
}

int bothy_context_copy(struct bothy_context *c, const struct bothy_copy_req *req,
                       struct bothy_tarw *w, bothy_error_t *err)
{
  _cleanup_(plan_done) struct plan p = { 0 };
  int r = make_plan(c, req, &p, err);
  if (r < 0)
    return r;
  for (size_t i = 0; i < p.n; i++) {
    r = copy_source(c, req, &p, &p.v[i], w, err);
    if (r < 0)
      return bothy_error_prefix(err, "%s failed", what_of(req));
  }
  return 0;
}

/* ---- opening ---- */

static int context_new(const char *dir, bool rootfs, struct bothy_context **ret, bothy_error_t *err)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open %s '%s'",
                             rootfs ? "root filesystem" : "build context", dir);
  struct bothy_context *c = xmalloc0(sizeof(*c));
  c->dirfd = fd;
  c->rootfs = rootfs;
  c->tmpfd = -1;
  *ret = c;
  return 0;
}

int bothy_context_open(const char *dir, const char *ignore_file, struct bothy_context **ret,
                       bothy_error_t *err)
{
  _cleanup_context_ struct bothy_context *c = NULL;
  int r = context_new(dir, false, &c, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  const char *fname = NULL;
  if (ignore_file) {
    r = bothy_read_file(AT_FDCWD, ignore_file, &data, &len, err);
    if (r < 0)
      return r;
    fname = ignore_file;
  } else {
    /* podman's .containerignore first, then docker's. */
    static const char *const names[] = { ".containerignore", ".dockerignore" };
    for (size_t i = 0; i < ARRAY_SIZE(names) && !data; i++) {
      _cleanup_close_ int fd = openat2_fd(c->dirfd, names[i], O_RDONLY | O_NOCTTY, RESOLVE_BENEATH);
      if (fd == -ENOENT)
        continue;
      if (fd < 0)
        return bothy_error_set(err, -fd, "cannot open '%s/%s'", dir, names[i]);
      r = bothy_read_fd(fd, &data, &len, err);
      if (r < 0)
        return bothy_error_prefix(err, "'%s/%s'", dir, names[i]);
      fname = names[i];
    }
  }
  if (data) {
    r = bothy_ignore_parse(data, len, fname, &c->ig, err);
    if (r < 0)
      return r;
  }
  *ret = TAKE_PTR(c);
  return 0;
}

int bothy_context_open_rootfs(const char *dir, struct bothy_context **ret, bothy_error_t *err)
{
  return context_new(dir, true, ret, err);
}

struct bothy_context *bothy_context_free(struct bothy_context *c)
{
  if (!c)
    return NULL;
  safe_close(c->dirfd);
  safe_close(c->tmpfd);
  if (c->tmpdir)
    bothy_rm_rf_at(AT_FDCWD, c->tmpdir, NULL);
  free(c->tmpdir);
  bothy_ignore_free(c->ig);
  free(c->buf);
  free(c);
  return NULL;
}

int bothy_context_dirfd(const struct bothy_context *c)
{
  return c->dirfd;
}
