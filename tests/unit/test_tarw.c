/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src/build/tarw: deterministic layer tarballs. Each test builds files in a
 * temporary directory, writes a layer from them, and checks the bytes (read
 * back with libarchive, and GNU tar where a second reader helps) and what
 * bothy_layer_unpack() makes of them. Runs as root (owners, devices,
 * trusted.* xattrs). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/digest.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "build/tarw.h"
#include "image/layer.h"

/* ---- fixtures ---- */

struct fx {
  char *tmp;
  int tmpfd;
  int src;  /* tmp/src: what layers are made from */
  int dest; /* tmp/dest: where they are unpacked */
};

static int open_dir(int dfd, const char *name)
{
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  return fd;
}

static int setup(void **state)
{
  struct fx *f = xmalloc0(sizeof(*f));
  f->tmp = xstrdup("/tmp/bothy-unit-tarw.XXXXXX");
  assert_non_null(mkdtemp(f->tmp));
  f->tmpfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(f->tmpfd >= 0);
  assert_int_equal(mkdirat(f->tmpfd, "src", 0755), 0);
  assert_int_equal(mkdirat(f->tmpfd, "dest", 0755), 0);
  f->src = open_dir(f->tmpfd, "src");
  f->dest = open_dir(f->tmpfd, "dest");
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  close(f->src);
  close(f->dest);
  close(f->tmpfd);
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->tmp, NULL), 0);
  free(f->tmp);
  free(f);
  return 0;
}

static void put(int dfd, const char *path, const char *content, mode_t mode, time_t mtime)
{
  int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(bothy_write_all(fd, content, strlen(content)), 0);
  assert_int_equal(fchmod(fd, mode), 0);
  if (mtime) {
    struct timespec ts[2] = { { mtime, 700000000 }, { mtime, 700000000 } };
    assert_int_equal(futimens(fd, ts), 0);
  }
  close(fd);
}

static void set_mtime(int dfd, const char *path, time_t mtime)
{
  struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
  assert_int_equal(utimensat(dfd, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void set_xattr(int dfd, const char *path, const char *key, const void *value, size_t len)
{
  _cleanup_close_ int fd = openat(dfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  assert_true(fd >= 0);
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  if (setxattr(proc, key, value, len, 0) < 0)
    fail_msg("setxattr %s on %s: %s", key, path, strerror(errno));
}

/* The value of key on dfd/path (NUL-terminated), or NULL when it has none. */
static char *get_xattr(int dfd, const char *path, const char *key, ssize_t *ret_len)
{
  _cleanup_close_ int fd = openat(dfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  assert_true(fd >= 0);
  char proc[64], buf[256];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  ssize_t n = getxattr(proc, key, buf, sizeof(buf) - 1);
  if (n < 0) {
    assert_int_equal(errno, ENODATA);
    return NULL;
  }
  if (ret_len)
    *ret_len = n;
  char *v = xmalloc((size_t) n + 1);
  memcpy(v, buf, (size_t) n);
  v[n] = '\0';
  return v;
}

static void lstat_at(int dfd, const char *path, struct stat *st)
{
  if (fstatat(dfd, path, st, AT_SYMLINK_NOFOLLOW) < 0)
    fail_msg("'%s' is missing: %s", path, strerror(errno));
}

static void assert_content(int dfd, const char *path, const char *content)
{
  _cleanup_free_ char *data = NULL;
  bothy_error_t err = NULL;
  if (bothy_read_file(dfd, path, &data, NULL, &err) < 0)
    fail_msg("%s", err->msg);
  assert_string_equal(data, content);
}

static struct bothy_tarw *writer(int64_t timestamp)
{
  struct bothy_tarw *w = NULL;
  struct bothy_tarw_opts opts = { .timestamp = timestamp };
  assert_int_equal(bothy_tarw_new(&opts, &w, NULL), 0);
  assert_non_null(w);
  return w;
}

#define OK(call)                                                                                   \
  do {                                                                                             \
    bothy_error_t err_ = NULL;                                                                     \
    if ((call) < 0)                                                                                \
      fail_msg("%s: %s", #call, err_ ? err_->msg : "(no message)");                                \
  } while (0)

/* Writes the layer to a memfd and returns its bytes; checks the diff_id and
 * size against them. */
static char *finish(struct bothy_tarw *w, size_t *ret_len)
{
  _cleanup_close_ int fd = memfd_create("tarw", MFD_CLOEXEC);
  assert_true(fd >= 0);
  char diff_id[BOTHY_DIGEST_MAX];
  uint64_t size = 0;
  bothy_error_t err = NULL;
  if (bothy_tarw_finish(w, fd, diff_id, &size, &err) < 0)
    fail_msg("finish: %s", err->msg);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  char *buf = NULL;
  size_t len = 0;
  assert_int_equal(bothy_read_fd(fd, &buf, &len, NULL), 0);
  assert_int_equal(len, size);
  assert_int_equal(len % 10240, 0); /* tar's record padding */
  char want[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(buf, len, want);
  assert_string_equal(diff_id, want);
  *ret_len = len;
  return buf;
}

/* finish() that must fail; returns the error (caller frees). */
static bothy_error_t finish_fail(struct bothy_tarw *w)
{
  _cleanup_close_ int fd = memfd_create("tarw", MFD_CLOEXEC);
  assert_true(fd >= 0);
  char diff_id[BOTHY_DIGEST_MAX];
  uint64_t size = 0;
  bothy_error_t err = NULL;
  assert_true(bothy_tarw_finish(w, fd, diff_id, &size, &err) < 0);
  assert_non_null(err);
  return err;
}

static void unpack(struct fx *f, const char *buf, size_t len)
{
  struct bothy_layer_policy pol = { .allow_devices = true, .allow_setuid = true };
  struct bothy_layer_result res;
  bothy_error_t err = NULL;
  if (bothy_layer_unpack_buffer(buf, len, f->dest, &pol, &res, &err) < 0)
    fail_msg("unpack: %s", err->msg);
  char want[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(buf, len, want);
  assert_string_equal(res.diff_id, want);
}

/* ---- reading a tar back ---- */

struct tent {
  char *name;
  mode_t mode; /* type and permission bits */
  int64_t uid, gid, mtime, size;
  char *symlink, *hardlink;
  char *xattrs; /* "key=value;" for each, in order */
  bool has_uname;
  unsigned rmajor, rminor;
};

struct tlist {
  struct tent *v;
  size_t n;
};

static void tlist_free(struct tlist *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].symlink);
    free(l->v[i].hardlink);
    free(l->v[i].xattrs);
  }
  free(l->v);
}

static struct tlist list(const char *buf, size_t len)
{
  struct tlist l = { 0 };
  struct archive *a = archive_read_new();
  assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
  assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
  struct archive_entry *e;
  for (;;) {
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    assert_true(r >= ARCHIVE_WARN);
    l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
    struct tent *t = &l.v[l.n++];
    *t = (struct tent){
      .name = xstrdup(archive_entry_pathname(e)),
      .mode = archive_entry_mode(e),
      .uid = archive_entry_uid(e),
      .gid = archive_entry_gid(e),
      .mtime = archive_entry_mtime(e),
      .size = archive_entry_size(e),
      .symlink = xstrdup(archive_entry_symlink(e)),
      .hardlink = xstrdup(archive_entry_hardlink(e)),
      .has_uname = (archive_entry_uname(e) && *archive_entry_uname(e)) ||
                   (archive_entry_gname(e) && *archive_entry_gname(e)),
      .rmajor = archive_entry_rdevmajor(e),
      .rminor = archive_entry_rdevminor(e),
    };
    /* Timestamps the writer must not set. */
    assert_false(archive_entry_atime_is_set(e));
    assert_false(archive_entry_ctime_is_set(e));
    assert_int_equal(archive_entry_mtime_nsec(e), 0);
    char *x = xstrdup("");
    const char *key;
    const void *value;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
      char *nx = xasprintf("%s%s=%.*s;", x, key, (int) size, (const char *) value);
      free(x);
      x = nx;
    }
    t->xattrs = x;
  }
  archive_read_free(a);
  return l;
}

static const struct tent *find(const struct tlist *l, const char *name)
{
  for (size_t i = 0; i < l->n; i++)
    if (streq(l->v[i].name, name))
      return &l->v[i];
  fail_msg("'%s' is not in the tar", name);
  return NULL;
}

/* The entries' names, in order, "," separated. */
static char *names(const struct tlist *l)
{
  char *s = xstrdup("");
  for (size_t i = 0; i < l->n; i++) {
    char *n = xasprintf("%s%s%s", s, i ? "," : "", l->v[i].name);
    free(s);
    s = n;
  }
  return s;
}

static bool contains(const char *buf, size_t len, const char *needle)
{
  return memmem(buf, len, needle, strlen(needle)) != NULL;
}

/* ---- tests ---- */

/* A file capability (CAP_NET_RAW, effective) as setcap writes it. */
static void cap_value(struct vfs_cap_data *cap)
{
  memset(cap, 0, sizeof(*cap));
  cap->magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  cap->data[0].permitted = 1u << CAP_NET_RAW;
}

/* A tree with every file type and the metadata a layer keeps. */
static void make_tree(int src)
{
  assert_int_equal(mkdirat(src, "d", 0750), 0);
  assert_int_equal(fchmodat(src, "d", 0750, 0), 0);
  assert_int_equal(fchownat(src, "d", 1000, 1001, 0), 0);
  put(src, "d/f", "hello\n", 0640, 1600000000);
  assert_int_equal(fchownat(src, "d/f", 1000, 1001, 0), 0);
  /* After the chown, which clears security.capability. */
  struct vfs_cap_data cap;
  cap_value(&cap);
  set_xattr(src, "d/f", "security.capability", &cap, XATTR_CAPS_SZ_2);
  set_xattr(src, "d/f", "user.color", "blue", 4);
  set_xattr(src, "d/f", "user.alpha", "1", 1);
  set_xattr(src, "d/f", "trusted.secret", "x", 1);
  set_xattr(src, "d/f", "user.overlay.origin", "x", 1);
  assert_int_equal(linkat(src, "d/f", src, "d/h", 0), 0);
  assert_int_equal(symlinkat("../target/x", src, "d/l"), 0);
  assert_int_equal(fchownat(src, "d/l", 7, 8, AT_SYMLINK_NOFOLLOW), 0);
  set_mtime(src, "d/l", 1500000000);
  put(src, "suid", "#!/bin/sh\n", 04755, 1600000001);
  assert_int_equal(mkfifoat(src, "p", 0600), 0);
  assert_int_equal(mknodat(src, "c", S_IFCHR | 0666, makedev(1, 3)), 0);
  assert_int_equal(fchmodat(src, "c", 0666, 0), 0);
  put(src, "e", "", 0644, 1600000002);
  set_mtime(src, "d", 1400000000);
}

static void test_round_trip(void **state)
{
  struct fx *f = *state;
  make_tree(f->src);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_tree(w, "/app", f->tmpfd, "src", true, NULL, &err_));
  OK(bothy_tarw_add_dir(w, "/opt/", 0700, 5, 6, 1234567, &err_));
  OK(bothy_tarw_add_data(w, "./opt//cfg", "k=v\n", 4, 0600, 5, 6, 1234568, &err_));
  assert_int_equal(bothy_tarw_count(w), 11);
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);

  /* The tar itself: sorted, numeric owners only, hard link to the first. */
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  _cleanup_free_ char *all = names(&l);
  assert_string_equal(all, "app/,app/c,app/d/,app/d/f,app/d/h,app/d/l,app/e,app/p,app/suid,opt/,"
                           "opt/cfg");
  for (size_t i = 0; i < l.n; i++)
    assert_false(l.v[i].has_uname);
  const struct tent *t = find(&l, "app/d/h");
  assert_string_equal(t->hardlink, "app/d/f");
  assert_int_equal(t->size, 0);
  t = find(&l, "app/d/f");
  /* Kept xattrs only, sorted by name. */
  struct vfs_cap_data cap;
  cap_value(&cap);
  assert_int_equal(strncmp(t->xattrs, "security.capability=", 20), 0);
  assert_non_null(strstr(t->xattrs, ";user.alpha=1;user.color=blue;"));
  assert_null(strstr(t->xattrs, "trusted"));
  assert_null(strstr(t->xattrs, "overlay"));
  t = find(&l, "app/c");
  assert_int_equal(t->rmajor, 1);
  assert_int_equal(t->rminor, 3);
  /* xattrs as SCHILY.xattr only; no uname/gname, no atime/ctime. */
  assert_true(contains(tar, len, "SCHILY.xattr.user.color=blue"));
  assert_false(contains(tar, len, "LIBARCHIVE.xattr"));
  assert_false(contains(tar, len, "atime="));
  assert_false(contains(tar, len, "ctime="));

  /* What lands on disk. */
  unpack(f, tar, len);
  struct stat st, src;
  lstat_at(f->dest, "app/d", &st);
  lstat_at(f->src, "d", &src);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0750);
  assert_int_equal(st.st_uid, 1000);
  assert_int_equal(st.st_gid, 1001);
  assert_int_equal(st.st_mtim.tv_sec, 1400000000);
  lstat_at(f->dest, "app", &st);
  lstat_at(f->tmpfd, "src", &src);
  assert_int_equal(st.st_mode & 07777, src.st_mode & 07777);
  assert_int_equal(st.st_mtim.tv_sec, src.st_mtim.tv_sec);

  assert_content(f->dest, "app/d/f", "hello\n");
  lstat_at(f->dest, "app/d/f", &st);
  assert_int_equal(st.st_mode & 07777, 0640);
  assert_int_equal(st.st_uid, 1000);
  assert_int_equal(st.st_gid, 1001);
  assert_int_equal(st.st_mtim.tv_sec, 1600000000);
  assert_int_equal(st.st_mtim.tv_nsec, 0); /* whole seconds */
  _cleanup_free_ char *color = get_xattr(f->dest, "app/d/f", "user.color", NULL);
  assert_string_equal(color, "blue");
  ssize_t caplen = 0;
  _cleanup_free_ char *capv = get_xattr(f->dest, "app/d/f", "security.capability", &caplen);
  assert_non_null(capv);
  assert_int_equal(caplen, XATTR_CAPS_SZ_2);
  assert_memory_equal(capv, &cap, XATTR_CAPS_SZ_2);
  assert_null(get_xattr(f->dest, "app/d/f", "trusted.secret", NULL));
  assert_null(get_xattr(f->dest, "app/d/f", "user.overlay.origin", NULL));

  struct stat h;
  lstat_at(f->dest, "app/d/h", &h);
  assert_int_equal(h.st_ino, st.st_ino);

  char target[64];
  ssize_t n = readlinkat(f->dest, "app/d/l", target, sizeof(target) - 1);
  assert_int_equal(n, 11);
  target[n] = '\0';
  assert_string_equal(target, "../target/x");
  lstat_at(f->dest, "app/d/l", &st);
  assert_int_equal(st.st_uid, 7);
  assert_int_equal(st.st_gid, 8);
  assert_int_equal(st.st_mtim.tv_sec, 1500000000);

  lstat_at(f->dest, "app/suid", &st);
  assert_int_equal(st.st_mode & 07777, 04755);
  lstat_at(f->dest, "app/p", &st);
  assert_true(S_ISFIFO(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  lstat_at(f->dest, "app/c", &st);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(st.st_rdev, makedev(1, 3));
  assert_int_equal(st.st_mode & 07777, 0666);
  assert_content(f->dest, "app/e", "");

  lstat_at(f->dest, "opt", &st);
  assert_int_equal(st.st_mode & 07777, 0700);
  assert_int_equal(st.st_uid, 5);
  assert_int_equal(st.st_mtim.tv_sec, 1234567);
  assert_content(f->dest, "opt/cfg", "k=v\n");
  lstat_at(f->dest, "opt/cfg", &st);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_gid, 6);
  assert_int_equal(st.st_mtim.tv_sec, 1234568);
}

static char *layer_in_order(struct fx *f, int order, int64_t timestamp, size_t *len)
{
  _cleanup_tarw_ struct bothy_tarw *w = writer(timestamp);
  for (int i = 0; i < 3; i++) {
    switch ((i + order) % 3) {
    case 0:
      OK(bothy_tarw_add_tree(w, "app", f->tmpfd, "src", false, NULL, &err_));
      break;
    case 1:
      OK(bothy_tarw_add_data(w, "zz/b", "b", 1, 0644, 0, 0, 42, &err_));
      OK(bothy_tarw_add_data(w, "a", "a", 1, 0644, 0, 0, 42, &err_));
      break;
    case 2:
      OK(bothy_tarw_add_dir(w, "zz", 0755, 0, 0, 43, &err_));
      OK(bothy_tarw_add_path(w, "single", f->src, "e", NULL, &err_));
      break;
    }
  }
  return finish(w, len);
}

static void test_determinism(void **state)
{
  struct fx *f = *state;
  make_tree(f->src);
  size_t l1, l2, l3;
  _cleanup_free_ char *t1 = layer_in_order(f, 0, -1, &l1);
  _cleanup_free_ char *t2 = layer_in_order(f, 0, -1, &l2);
  _cleanup_free_ char *t3 = layer_in_order(f, 2, -1, &l3);
  assert_int_equal(l1, l2);
  assert_memory_equal(t1, t2, l1);
  assert_int_equal(l1, l3);
  assert_memory_equal(t1, t3, l1);

  /* With a timestamp, every mtime is that one: touching the sources
   * changes nothing. */
  size_t l4, l5, l6;
  _cleanup_free_ char *t4 = layer_in_order(f, 1, 1000, &l4);
  set_mtime(f->src, "d/f", 1700000000);
  set_mtime(f->src, "d", 1700000001);
  _cleanup_free_ char *t5 = layer_in_order(f, 0, 1000, &l5);
  assert_int_equal(l4, l5);
  assert_memory_equal(t4, t5, l4);
  _cleanup_(tlist_free) struct tlist l = list(t5, l5);
  assert_int_equal(l.n, 12);
  for (size_t i = 0; i < l.n; i++)
    assert_int_equal(l.v[i].mtime, 1000);
  /* Without it the new mtime shows. */
  _cleanup_free_ char *t6 = layer_in_order(f, 0, -1, &l6);
  assert_true(l6 != l1 || memcmp(t1, t6, l1) != 0);
}

static void test_locale_independent(void **state)
{
  /* A name that is not ASCII: libarchive would write it differently in a
   * UTF-8 locale; the writer pins the C locale. */
  struct fx *f = *state;
  put(f->src, "caf\xc3\xa9", "x", 0644, 1600000000);
  size_t l1, l2;
  _cleanup_free_ char *t1 = NULL, *t2 = NULL;
  {
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    OK(bothy_tarw_add_tree(w, "/", f->tmpfd, "src", true, NULL, &err_));
    OK(bothy_tarw_add_data(w, "bad\xff", "y", 1, 0644, 0, 0, 0, &err_));
    t1 = finish(w, &l1);
  }
  if (!setlocale(LC_ALL, "C.UTF-8"))
    skip();
  {
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    OK(bothy_tarw_add_tree(w, "/", f->tmpfd, "src", true, NULL, &err_));
    OK(bothy_tarw_add_data(w, "bad\xff", "y", 1, 0644, 0, 0, 0, &err_));
    t2 = finish(w, &l2);
  }
  setlocale(LC_ALL, "C");
  assert_int_equal(l1, l2);
  assert_memory_equal(t1, t2, l1);
  unpack(f, t1, l1);
  assert_content(f->dest, "caf\xc3\xa9", "x");
  assert_content(f->dest, "bad\xff", "y");
}

static void test_diff_whiteouts(void **state)
{
  struct fx *f = *state;
  int up = f->src;
  /* What overlayfs leaves in an upper directory after a RUN. */
  assert_int_equal(mknodat(up, "gone", S_IFCHR | 0, makedev(0, 0)), 0);
  set_mtime(up, "gone", 1600000000);
  assert_int_equal(mkdirat(up, "opq", 0750), 0);
  assert_int_equal(fchownat(up, "opq", 3, 4, 0), 0);
  set_xattr(up, "opq", "trusted.overlay.opaque", "y", 1);
  put(up, "opq/new", "new", 0644, 0);
  assert_int_equal(mkdirat(up, "uo", 0755), 0);
  set_xattr(up, "uo", "user.overlay.opaque", "y", 1);
  assert_int_equal(mkdirat(up, "plain", 0755), 0);
  set_xattr(up, "plain", "trusted.overlay.impure", "y", 1);
  assert_int_equal(mknodat(up, "plain/old", S_IFCHR | 0, makedev(0, 0)), 0);
  put(up, "plain/f", "f", 0644, 0);
  set_xattr(up, "plain/f", "trusted.overlay.origin", "xyz", 3);
  set_xattr(up, "plain/f", "user.overlay.foo", "1", 1);
  set_xattr(up, "plain/f", "user.keep", "1", 1);
  /* A real device is not a whiteout. */
  assert_int_equal(mknodat(up, "null", S_IFCHR | 0666, makedev(1, 3)), 0);
  assert_int_equal(fchmodat(up, "null", 0666, 0), 0);

  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_diff(w, up, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  _cleanup_free_ char *all = names(&l);
  assert_string_equal(all, ".wh.gone,null,opq/,opq/.wh..wh..opq,opq/new,plain/,plain/.wh.old,"
                           "plain/f,uo/,uo/.wh..wh..opq");
  const struct tent *t = find(&l, ".wh.gone");
  assert_int_equal(t->mode, S_IFREG | 0);
  assert_int_equal(t->uid, 0);
  assert_int_equal(t->gid, 0);
  assert_int_equal(t->size, 0);
  assert_int_equal(t->mtime, 1600000000);
  t = find(&l, "opq/.wh..wh..opq");
  assert_int_equal(t->mode, S_IFREG | 0750);
  assert_int_equal(t->uid, 3);
  assert_int_equal(t->gid, 4);
  assert_int_equal(t->size, 0);
  t = find(&l, "plain/f");
  assert_string_equal(t->xattrs, "user.keep=1;");
  t = find(&l, "null");
  assert_int_equal(t->mode, S_IFCHR | 0666);
  assert_false(contains(tar, len, "trusted."));
  assert_false(contains(tar, len, "overlay"));

  unpack(f, tar, len);
  struct stat st;
  lstat_at(f->dest, "gone", &st);
  assert_true(S_ISCHR(st.st_mode));
  assert_int_equal(st.st_rdev, makedev(0, 0));
  lstat_at(f->dest, "plain/old", &st);
  assert_true(S_ISCHR(st.st_mode));
  _cleanup_free_ char *o1 = get_xattr(f->dest, "opq", "trusted.overlay.opaque", NULL);
  assert_string_equal(o1, "y");
  _cleanup_free_ char *o2 = get_xattr(f->dest, "uo", "trusted.overlay.opaque", NULL);
  assert_string_equal(o2, "y");
  assert_null(get_xattr(f->dest, "plain", "trusted.overlay.opaque", NULL));
  assert_null(get_xattr(f->dest, "plain/f", "trusted.overlay.origin", NULL));
  assert_content(f->dest, "opq/new", "new");
}

static void test_diff_metacopy_refused(void **state)
{
  struct fx *f = *state;
  put(f->src, "meta", "", 0644, 0);
  set_xattr(f->src, "meta", "trusted.overlay.metacopy", "", 0);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_diff(w, f->src, &err_));
  _cleanup_error_ bothy_error_t err = finish_fail(w);
  assert_int_equal(err->code, ENOTSUP);
  assert_non_null(strstr(err->msg, "metacopy"));
  assert_non_null(strstr(err->msg, "'meta'"));
}

static void test_replace(void **state)
{
  struct fx *f = *state;
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_data(w, "a", "one", 3, 0644, 0, 0, 1, &err_));
  OK(bothy_tarw_add_data(w, "/a", "two", 3, 0600, 0, 0, 1, &err_));
  assert_int_equal(bothy_tarw_count(w), 1);
  /* A directory replaced by a file takes what was in it along. */
  OK(bothy_tarw_add_dir(w, "d", 0755, 0, 0, 1, &err_));
  OK(bothy_tarw_add_data(w, "d/x", "x", 1, 0644, 0, 0, 1, &err_));
  OK(bothy_tarw_add_data(w, "d/y/z", "z", 1, 0644, 0, 0, 1, &err_));
  assert_int_equal(bothy_tarw_count(w), 4);
  OK(bothy_tarw_add_data(w, "d", "file", 4, 0644, 0, 0, 1, &err_));
  assert_int_equal(bothy_tarw_count(w), 2);
  /* A file that a later entry needs as a directory goes. */
  OK(bothy_tarw_add_data(w, "f", "f", 1, 0644, 0, 0, 1, &err_));
  OK(bothy_tarw_add_data(w, "f/g", "g", 1, 0644, 0, 0, 1, &err_));
  assert_int_equal(bothy_tarw_count(w), 3);
  /* A directory over a directory keeps what is in it. */
  OK(bothy_tarw_add_dir(w, "k", 0755, 0, 0, 1, &err_));
  OK(bothy_tarw_add_data(w, "k/in", "in", 2, 0644, 0, 0, 1, &err_));
  OK(bothy_tarw_add_dir(w, "k/", 0700, 0, 0, 1, &err_));
  /* A path source replaces data and the other way round. */
  put(f->src, "file", "from disk", 0644, 0);
  OK(bothy_tarw_add_data(w, "p", "mem", 3, 0644, 0, 0, 1, &err_));
  OK(bothy_tarw_add_path(w, "p", f->src, "file", NULL, &err_));
  /* The root is never an entry. */
  OK(bothy_tarw_add_dir(w, "/", 0755, 0, 0, 1, &err_));
  OK(bothy_tarw_add_dir(w, ".", 0755, 0, 0, 1, &err_));
  assert_int_equal(bothy_tarw_count(w), 6);
  assert_int_equal(bothy_tarw_add_data(w, "/", "x", 1, 0644, 0, 0, 1, NULL), -EINVAL);

  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  _cleanup_free_ char *all = names(&l);
  assert_string_equal(all, "a,d,f/g,k/,k/in,p");
  assert_int_equal(find(&l, "k/")->mode, S_IFDIR | 0700);
  unpack(f, tar, len);
  assert_content(f->dest, "a", "two");
  assert_content(f->dest, "d", "file");
  assert_content(f->dest, "p", "from disk");
}

static void test_bad_names(void **state)
{
  struct fx *f = *state;
  put(f->src, "x", "x", 0644, 0);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_tarw_add_data(w, "../x", "x", 1, 0644, 0, 0, 0, &err), -EINVAL);
  assert_non_null(strstr(err->msg, "'../x'"));
  assert_non_null(strstr(err->msg, ".."));
  assert_int_equal(bothy_tarw_add_dir(w, "a/../b", 0755, 0, 0, 0, NULL), -EINVAL);
  assert_int_equal(bothy_tarw_add_path(w, "a/..", f->src, "x", NULL, NULL), -EINVAL);
  assert_int_equal(bothy_tarw_add_tree(w, "/..", f->tmpfd, "src", true, NULL, NULL), -EINVAL);
  assert_int_equal(bothy_tarw_add_data(w, "d/.wh.x", "", 0, 0, 0, 0, 0, NULL), -EINVAL);
  assert_int_equal(bothy_tarw_add_data(w, NULL, "", 0, 0, 0, 0, 0, NULL), -EINVAL);
  assert_int_equal(bothy_tarw_count(w), 0);
  /* Cleaned, not refused. */
  OK(bothy_tarw_add_data(w, "./a//b/./c/", "c", 1, 0644, 0, 0, 0, &err_));
  OK(bothy_tarw_add_data(w, "..a/b..", "c", 1, 0644, 0, 0, 0, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  _cleanup_free_ char *all = names(&l);
  assert_string_equal(all, "..a/b..,a/b/c");
}

static void test_long_names(void **state)
{
  struct fx *f = *state;
  char comp[121];
  memset(comp, 'n', 120);
  comp[120] = '\0';
  _cleanup_free_ char *dir = xasprintf("%s.d", comp);
  _cleanup_free_ char *file = xasprintf("%s/%s.file", dir, comp);
  _cleanup_free_ char *link = xasprintf("%s/%s.link", dir, comp);
  _cleanup_free_ char *hard = xasprintf("%s/%s.hard", dir, comp);
  _cleanup_free_ char *target = xasprintf("../../%s/%s/%s/target", comp, comp, comp);
  assert_int_equal(mkdirat(f->src, dir, 0755), 0);
  put(f->src, file, "long", 0644, 1600000000);
  assert_int_equal(linkat(f->src, file, f->src, hard, 0), 0);
  assert_int_equal(symlinkat(target, f->src, link), 0);

  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_tree(w, "/usr/share/very/deep", f->tmpfd, "src", false, NULL, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  assert_int_equal(l.n, 4);
  _cleanup_free_ char *want_file = xasprintf("usr/share/very/deep/%s", file);
  _cleanup_free_ char *want_hard = xasprintf("usr/share/very/deep/%s", hard);
  _cleanup_free_ char *want_link = xasprintf("usr/share/very/deep/%s", link);
  assert_true(strlen(want_file) > 255);
  /* Sorted: ".file" < ".hard" < ".link". */
  assert_string_equal(l.v[1].name, want_file);
  assert_string_equal(l.v[2].name, want_hard);
  assert_string_equal(l.v[2].hardlink, want_file);
  assert_string_equal(l.v[3].name, want_link);
  assert_string_equal(l.v[3].symlink, target);

  unpack(f, tar, len);
  _cleanup_free_ char *dest_file = xasprintf("usr/share/very/deep/%s", file);
  _cleanup_free_ char *dest_hard = xasprintf("usr/share/very/deep/%s", hard);
  assert_content(f->dest, dest_file, "long");
  struct stat a, b;
  lstat_at(f->dest, dest_file, &a);
  lstat_at(f->dest, dest_hard, &b);
  assert_int_equal(a.st_ino, b.st_ino);

  /* A second reader: GNU tar lists the same names. */
  _cleanup_free_ char *path = xasprintf("%s/layer.tar", f->tmp);
  {
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(bothy_write_all(fd, tar, len), 0);
  }
  if (access("/usr/bin/tar", X_OK) != 0 && access("/bin/tar", X_OK) != 0)
    return;
  _cleanup_free_ char *cmd = xasprintf("tar -tf '%s'", path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char line[1024];
  size_t i = 0;
  while (fgets(line, sizeof(line), p)) {
    line[strcspn(line, "\n")] = '\0';
    assert_true(i < l.n);
    assert_string_equal(line, l.v[i].name);
    i++;
  }
  assert_int_equal(pclose(p), 0);
  assert_int_equal(i, l.n);
}

static void test_hardlinks_only_within_a_walk(void **state)
{
  struct fx *f = *state;
  put(f->src, "z", "same", 0644, 0);
  assert_int_equal(linkat(f->src, "z", f->src, "a", 0), 0);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  /* Two add_path calls: two files. */
  OK(bothy_tarw_add_path(w, "one", f->src, "z", NULL, &err_));
  OK(bothy_tarw_add_path(w, "two", f->src, "a", NULL, &err_));
  /* One walk: the first by name is the file. */
  OK(bothy_tarw_add_tree(w, "t", f->src, ".", false, NULL, &err_));
  /* Another walk of the same files: its own file, not a link into t/. */
  OK(bothy_tarw_add_tree(w, "u", f->src, ".", false, NULL, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  _cleanup_free_ char *all = names(&l);
  assert_string_equal(all, "one,t/a,t/z,two,u/a,u/z");
  assert_null(find(&l, "one")->hardlink);
  assert_int_equal(find(&l, "one")->size, 4);
  assert_null(find(&l, "two")->hardlink);
  assert_null(find(&l, "t/a")->hardlink);
  assert_string_equal(find(&l, "t/z")->hardlink, "t/a");
  assert_null(find(&l, "u/a")->hardlink);
  assert_string_equal(find(&l, "u/z")->hardlink, "u/a");
}

static void test_meta(void **state)
{
  struct fx *f = *state;
  make_tree(f->src);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  struct bothy_tarw_meta meta = {
    .set_owner = true, .uid = 0, .gid = 0, .set_mode = true, .mode = 0604
  };
  OK(bothy_tarw_add_tree(w, "app", f->tmpfd, "src", true, &meta, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  for (size_t i = 0; i < l.n; i++) {
    assert_int_equal(l.v[i].uid, 0);
    assert_int_equal(l.v[i].gid, 0);
    if (S_ISLNK(l.v[i].mode))
      assert_int_equal(l.v[i].mode & 07777, 0777);
    else
      assert_int_equal(l.v[i].mode & 07777, 0604);
  }
  assert_int_equal(find(&l, "app/")->mode, S_IFDIR | 0604);
}

static void test_vanished_source(void **state)
{
  struct fx *f = *state;
  assert_int_equal(mkdirat(f->src, "sub", 0755), 0);
  put(f->src, "sub/x", "x", 0644, 0);
  put(f->src, "single", "s", 0644, 0);
  put(f->src, "retyped", "r", 0644, 0);

  {
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    OK(bothy_tarw_add_path(w, "/app/single", f->src, "single", NULL, &err_));
    assert_int_equal(unlinkat(f->src, "single", 0), 0);
    _cleanup_error_ bothy_error_t err = finish_fail(w);
    assert_int_equal(err->code, ENOENT);
    assert_non_null(strstr(err->msg, "'single'"));
    assert_non_null(strstr(err->msg, "'app/single'"));
    /* Finished (if badly): nothing more can be added or written. */
    assert_int_equal(bothy_tarw_add_dir(w, "x", 0755, 0, 0, 0, NULL), -EINVAL);
    bothy_error_t err2 = finish_fail(w);
    bothy_error_free(&err2);
  }
  {
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    OK(bothy_tarw_add_tree(w, "t", f->tmpfd, "src", true, NULL, &err_));
    assert_int_equal(unlinkat(f->src, "sub/x", 0), 0);
    _cleanup_error_ bothy_error_t err = finish_fail(w);
    assert_int_equal(err->code, ENOENT);
    assert_non_null(strstr(err->msg, "'src/sub/x'"));
    assert_non_null(strstr(err->msg, "'t/sub/x'"));
  }
  {
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    OK(bothy_tarw_add_path(w, "r", f->src, "retyped", NULL, &err_));
    assert_int_equal(unlinkat(f->src, "retyped", 0), 0);
    assert_int_equal(mkdirat(f->src, "retyped", 0755), 0);
    _cleanup_error_ bothy_error_t err = finish_fail(w);
    assert_non_null(strstr(err->msg, "'retyped'"));
    assert_non_null(strstr(err->msg, "regular file"));
    assert_non_null(strstr(err->msg, "directory"));
  }
  {
    /* A directory of a walk swapped for a symlink is not followed. */
    assert_int_equal(mkdirat(f->src, "w", 0755), 0);
    assert_int_equal(mkdirat(f->src, "w/in", 0755), 0);
    put(f->src, "w/in/secret", "s", 0644, 0);
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    OK(bothy_tarw_add_tree(w, "t", f->src, "w", false, NULL, &err_));
    assert_int_equal(renameat(f->src, "w/in", f->src, "moved"), 0);
    assert_int_equal(symlinkat("../moved", f->src, "w/in"), 0);
    _cleanup_error_ bothy_error_t err = finish_fail(w);
    /* "t/in" comes first, and is now a symlink. */
    assert_non_null(strstr(err->msg, "'w/in'"));
    assert_non_null(strstr(err->msg, "symlink"));
  }
}

static void test_paths_stay_inside(void **state)
{
  /* A path below a directory fd resolves as if it were the root: an
   * absolute symlink on the way stays inside (an image's "/var/run" ->
   * "/run" must not reach the host's /run). */
  struct fx *f = *state;
  assert_int_equal(mkdirat(f->src, "real", 0755), 0);
  put(f->src, "real/x", "inside", 0644, 0);
  assert_int_equal(symlinkat("/real", f->src, "abs"), 0);
  assert_int_equal(symlinkat("../../../../../../..", f->src, "up"), 0);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_path(w, "x", f->src, "abs/x", NULL, &err_));
  OK(bothy_tarw_add_tree(w, "t", f->src, "up/real", true, NULL, &err_));
  /* The last component is never followed. */
  OK(bothy_tarw_add_tree(w, "l", f->src, "abs", true, NULL, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  _cleanup_(tlist_free) struct tlist l = list(tar, len);
  _cleanup_free_ char *all = names(&l);
  assert_string_equal(all, "l,t/,t/x,x");
  assert_string_equal(find(&l, "l")->symlink, "/real");
  unpack(f, tar, len);
  assert_content(f->dest, "x", "inside");
  assert_content(f->dest, "t/x", "inside");
}

static void test_empty_and_sockets(void **state)
{
  struct fx *f = *state;
  /* An empty layer: just the end-of-archive record. */
  {
    _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
    size_t len;
    _cleanup_free_ char *tar = finish(w, &len);
    assert_int_equal(len, 10240);
    for (size_t i = 0; i < len; i++)
      assert_int_equal(tar[i], 0);
  }
  /* A socket in a tree is skipped; named on its own it is an error. */
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  _cleanup_free_ char *sp = xasprintf("%s/src/sock", f->tmp);
  assert_true(strlen(sp) < sizeof(sa.sun_path));
  memcpy(sa.sun_path, sp, strlen(sp) + 1);
  assert_int_equal(bind(s, (struct sockaddr *) &sa, sizeof(sa)), 0);
  close(s);
  put(f->src, "f", "f", 0644, 0);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_tree(w, "t", f->src, ".", false, NULL, &err_));
  assert_int_equal(bothy_tarw_count(w), 1);
  assert_int_equal(bothy_tarw_add_path(w, "s", f->src, "sock", NULL, NULL), -EINVAL);
  assert_int_equal(bothy_tarw_add_path(w, "m", f->src, "missing", NULL, NULL), -ENOENT);
}

static void test_big_file(void **state)
{
  /* Bigger than the writer's blocks and its copy buffer, not a multiple
   * of either. */
  struct fx *f = *state;
  size_t size = 1000003;
  _cleanup_free_ char *data = xmalloc(size + 1);
  for (size_t i = 0; i < size; i++)
    data[i] = (char) ('a' + (i * 7) % 26);
  data[size] = '\0';
  put(f->src, "big", data, 0644, 0);
  set_xattr(f->src, "big", "user.empty", "", 0);
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  OK(bothy_tarw_add_path(w, "big", f->src, "big", NULL, &err_));
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  assert_true(len > size);
  unpack(f, tar, len);
  assert_content(f->dest, "big", data);
  ssize_t xlen = -1;
  _cleanup_free_ char *empty = get_xattr(f->dest, "big", "user.empty", &xlen);
  assert_non_null(empty);
  assert_int_equal(xlen, 0);
}

static size_t count_fds(void)
{
  _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  size_t n = 0;
  while (readdir(d))
    n++;
  return n;
}

static void test_caller_fds(void **state)
{
  /* Sources are read at finish, through the writer's own fds: the caller's
   * may be closed by then. Many paths relative to one directory hold one. */
  struct fx *f = *state;
  for (int i = 0; i < 50; i++) {
    _cleanup_free_ char *n = xasprintf("f%02d", i);
    put(f->src, n, n, 0644, 0);
  }
  _cleanup_tarw_ struct bothy_tarw *w = writer(-1);
  size_t before = count_fds();
  {
    _cleanup_close_ int dfd = open_dir(f->tmpfd, "src");
    for (int i = 0; i < 50; i++) {
      _cleanup_free_ char *n = xasprintf("f%02d", i);
      _cleanup_free_ char *dest = xasprintf("/dest/%s", n);
      OK(bothy_tarw_add_path(w, dest, dfd, n, NULL, &err_));
    }
  }
  assert_true(count_fds() <= before + 1);
  /* The process's working directory, kept too. */
  _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(cwd >= 0);
  assert_int_equal(fchdir(f->src), 0);
  OK(bothy_tarw_add_path(w, "cwd", AT_FDCWD, "f00", NULL, &err_));
  assert_int_equal(fchdir(cwd), 0);
  size_t len;
  _cleanup_free_ char *tar = finish(w, &len);
  unpack(f, tar, len);
  assert_content(f->dest, "dest/f49", "f49");
  assert_content(f->dest, "cwd", "f00");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
    cmocka_unit_test_setup_teardown(test_locale_independent, setup, teardown),
    cmocka_unit_test_setup_teardown(test_diff_whiteouts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_diff_metacopy_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_hardlinks_only_within_a_walk, setup, teardown),
    cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
    cmocka_unit_test_setup_teardown(test_vanished_source, setup, teardown),
    cmocka_unit_test_setup_teardown(test_paths_stay_inside, setup, teardown),
    cmocka_unit_test_setup_teardown(test_empty_and_sockets, setup, teardown),
    cmocka_unit_test_setup_teardown(test_big_file, setup, teardown),
    cmocka_unit_test_setup_teardown(test_caller_fds, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
