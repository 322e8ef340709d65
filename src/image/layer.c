/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "image/gunzip.h"
#include "image/dl-archive.h" /* last two: redirect the library calls */
#include "image/dl-isal.h"

#define WHITEOUT_PREFIX      ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE      ".wh..wh..opq"

/* A directory whose mode and times are set once everything under it is
 * written (creating entries in it changes its mtime, and a read-only mode
 * must not stand in the way of its own contents). */
struct dir_meta {
  char *path; /* cleaned, relative to the root; "" is the root */
  mode_t mode;
  bool has_times;
  struct timespec times[2];
};

struct unpack {
  int src_fd;
  int root;
  const struct bothy_layer_policy *pol;

  /* src_fd -> decompressed bytes: gzip through ISA-L when it loads (gz),
   * anything else through libarchive's filters and its "raw" format (outer). */
  struct bothy_gunzip *gz;
  bool plain;            /* not compressed: src_fd is the decompressed stream */
  struct archive *outer; /* NULL when gz or plain */
  struct archive *inner; /* decompressed bytes -> tar entries */
  struct bothy_digester *diff;
  uint64_t blob_size;
  uint64_t diff_size;
  size_t sniffed;  /* bytes at the start of buf, read to see the format, not yet given out */
  bool src_eof;    /* read(src_fd) returned 0 */
  int read_errno;  /* read(src_fd) failed with this */
  char *outer_msg; /* the decompressor's error, when it failed under the tar reader */

  struct dir_meta *dirs;
  size_t n_dirs;
  size_t cap_dirs;

  /* The directory of the previous entry, kept open: a tar lists a
   * directory's files one after another, and resolving the same parent in
   * the root again for each of them was a third of the unpacking time. */
  char *parent_path;
  int parent_fd;

  char buf[128 * 1024];
};

static struct unpack *unpack_free(struct unpack *u)
{
  if (!u)
    return NULL;
  /* The inner reader pulls from the outer one: free it first. */
  if (u->inner)
    archive_read_free(u->inner);
  if (u->outer)
    archive_read_free(u->outer);
  bothy_gunzip_free(u->gz);
  bothy_digester_free(u->diff);
  free(u->outer_msg);
  free(u->parent_path);
  safe_close(u->parent_fd);
  for (size_t i = 0; i < u->n_dirs; i++)
    free(u->dirs[i].path);
  free(u->dirs);
  free(u);
  return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct unpack *, unpack_free)

/* Reads the next bytes of src_fd into buf at off: their number, 0 at the
 * end, -1 (read_errno set) on failure. */
static ssize_t read_src(struct unpack *u, size_t off)
{
  ssize_t n;
  do
    n = read(u->src_fd, u->buf + off, sizeof(u->buf) - off);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    u->read_errno = errno;
    return -1;
  }
  if (n == 0)
    u->src_eof = true;
  u->blob_size += (uint64_t) n;
  return n;
}

/* The next bytes of src_fd in buf: those read to see the format first. */
static ssize_t next_src(struct unpack *u)
{
  if (u->sniffed > 0) {
    ssize_t n = (ssize_t) u->sniffed;
    u->sniffed = 0;
    return n;
  }
  return read_src(u, 0);
}

/* Read callback of the outer reader: the compressed bytes. */
static la_ssize_t outer_read(struct archive *a, void *data, const void **ret_buf)
{
  struct unpack *u = data;
  *ret_buf = u->buf;
  ssize_t n = next_src(u);
  if (n < 0)
    archive_set_error(a, u->read_errno, "cannot read the layer");
  return n;
}

/* The gzip form of pull_decompressed(): the output of the blocks of src_fd
 * (gunzip.h on what is inflated and what is ignored). */
static la_ssize_t pull_gzip(struct unpack *u, const void **ret_buf)
{
  for (;;) {
    _cleanup_error_ bothy_error_t e = NULL;
    ssize_t n = bothy_gunzip_output(u->gz, ret_buf, &e);
    if (n == 0 && !bothy_gunzip_ended(u->gz)) {
      if (!u->src_eof) {
        n = read_src(u, 0);
        if (n < 0)
          return -1;
        bothy_gunzip_input(u->gz, u->buf, (size_t) n);
        continue;
      }
      n = bothy_gunzip_finish(u->gz, &e);
    }
    if (n < 0)
      u->outer_msg = xstrdup(e->msg);
    return n;
  }
}

/* Next block of the decompressed stream, hashed. 0 at its end. The block
 * stays valid until the next call (libarchive's data_block contract), which
 * is what a read callback must guarantee too: no copy. */
static la_ssize_t pull_decompressed(struct unpack *u, const void **ret_buf)
{
  if (u->gz || u->plain) {
    la_ssize_t n;
    if (u->gz) {
      n = pull_gzip(u, ret_buf);
    } else {
      n = next_src(u);
      *ret_buf = u->buf;
    }
    if (n > 0) {
      bothy_digester_update(u->diff, *ret_buf, (size_t) n);
      u->diff_size += (uint64_t) n;
    } else if (n < 0 && !u->outer_msg) {
      u->outer_msg = xstrdup("cannot read the layer");
    }
    return n;
  }
  for (;;) {
    const void *buf;
    size_t size;
    la_int64_t off;
    int r = archive_read_data_block(u->outer, &buf, &size, &off);
    if (r == ARCHIVE_EOF)
      return 0;
    if (r < ARCHIVE_WARN) {
      if (!u->outer_msg) {
        const char *m = archive_error_string(u->outer);
        u->outer_msg = xstrdup(m && *m ? m : "the stream is truncated or corrupt");
      }
      return -1;
    }
    if (size == 0)
      continue;
    bothy_digester_update(u->diff, buf, size);
    u->diff_size += size;
    *ret_buf = buf;
    return (la_ssize_t) size;
  }
}

/* Read callback of the inner (tar) reader. */
static la_ssize_t inner_read(struct archive *a, void *data, const void **ret_buf)
{
  struct unpack *u = data;
  la_ssize_t n = pull_decompressed(u, ret_buf);
  if (n < 0)
    archive_set_error(a, EIO, "%s", u->outer_msg);
  return n;
}

/* The error of a failed libarchive call. A read error or the decompressor's
 * message comes first: the tar reader's own message about it would only say
 * "truncated". */
static int archive_fail(struct unpack *u, struct archive *a, const char *entry, bothy_error_t *err)
{
  if (u->read_errno)
    return bothy_error_set(err, u->read_errno, "cannot read the layer");
  const char *m = u->outer_msg ? u->outer_msg : a ? archive_error_string(a) : NULL;
  if (!m || !*m)
    m = "the stream is truncated or corrupt"; /* e.g. gzip's trailer cut off: no message */
  if (entry)
    return bothy_error_set(err, 0, "cannot read layer entry '%s': %s", entry, m);
  return bothy_error_set(err, 0, "cannot read the layer: %s", m);
}

/* The entry name cleaned lexically: no leading '/', no "." or empty
 * components, ".." removes the previous component and stops at the root (the
 * kernel would do the same under RESOLVE_IN_ROOT, but symlinks in between
 * must not change what ".." means). "" is the root. */
static char *clean_path(const char *name)
{
  size_t len = strlen(name);
  char *out = xmalloc(len + 1);
  size_t o = 0;
  const char *p = name;
  while (*p) {
    while (*p == '/')
      p++;
    const char *c = p;
    while (*p && *p != '/')
      p++;
    size_t n = (size_t) (p - c);
    if (n == 0 || (n == 1 && c[0] == '.'))
      continue;
    if (n == 2 && c[0] == '.' && c[1] == '.') {
      while (o > 0 && out[o - 1] != '/')
        o--;
      if (o > 0)
        o--; /* the '/' */
      continue;
    }
    if (o > 0)
      out[o++] = '/';
    memcpy(out + o, c, n);
    o += n;
  }
  out[o] = '\0';
  return out;
}

/* Opens (creating it if missing) the parent directory of a cleaned path,
 * resolved inside the root; *ret_base points into path. */
static void forget_parent(struct unpack *u)
{
  u->parent_fd = safe_close(u->parent_fd);
  free(u->parent_path);
  u->parent_path = NULL;
}

/* An entry at path replaces whatever was there: if that is the cached
 * directory or one above it, the cache would name a removed directory. */
static void forget_parent_under(struct unpack *u, const char *path)
{
  size_t n = strlen(path);
  if (u->parent_path && strncmp(u->parent_path, path, n) == 0 &&
      (u->parent_path[n] == '\0' || u->parent_path[n] == '/'))
    forget_parent(u);
}

static int open_parent(struct unpack *u, char *path, const char **ret_base, const char *name,
                       bothy_error_t *err)
{
  char *slash = strrchr(path, '/');
  const char *dir = slash ? path : "";
  if (slash)
    *slash = '\0';
  *ret_base = slash ? slash + 1 : path;
  int fd;
  if (u->parent_path && streq(u->parent_path, dir)) {
    fd = fcntl(u->parent_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
      bothy_error_errno(err, "cannot duplicate a directory fd");
  } else if (slash) {
    fd = bothy_mkdir_p_in_root(u->root, path, 0755, err);
  } else {
    fd = bothy_open_in_root(u->root, ".", O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
      bothy_error_set(err, -fd, "cannot open the layer's directory");
  }
  if (fd >= 0 && !(u->parent_path && streq(u->parent_path, dir))) {
    forget_parent(u);
    u->parent_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (u->parent_fd >= 0)
      u->parent_path = xstrdup(dir);
  }
  if (slash)
    *slash = '/';
  if (fd < 0)
    return bothy_error_prefix(err, "layer entry '%s'", name);
  return fd;
}

/* Makes room for a new entry at parentfd/base. Returns 1 when keep_dir and
 * a directory is already there (it stays), 0 when the name is free. The old
 * entry is never followed: a symlink is removed, not its target. */
static int remove_existing(int parentfd, const char *base, bool keep_dir, const char *name,
                           bothy_error_t *err)
{
  struct stat st;
  if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "layer entry '%s': cannot stat it", name);
  }
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir)
      return 1;
    if (bothy_rm_rf_at(parentfd, base, err) < 0)
      return bothy_error_prefix(err, "layer entry '%s'", name);
    return 0;
  }
  if (unlinkat(parentfd, base, 0) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "layer entry '%s': cannot replace it", name);
  return 0;
}

static bool xattr_wanted(const char *key)
{
  /* security.* is for the host's LSMs (selinux labels, IMA/EVM): an image
   * must not choose them. File capabilities are the exception: images rely
   * on them (ping) and they are the image's to give. */
  if (strncmp(key, "security.", 9) == 0)
    return streq(key, "security.capability");
  /* overlayfs reads these from lower layers (opaque, redirect, metacopy,
   * origin...); a layer says "opaque" only with a whiteout entry. */
  if (strncmp(key, "trusted.overlay.", 16) == 0 || strncmp(key, "user.overlay.", 13) == 0)
    return false;
  return true;
}

static int entry_owner(struct archive_entry *e, uid_t *ret_uid, gid_t *ret_gid, const char *name,
                       bothy_error_t *err)
{
  la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  /* (uid_t) -1 means "leave unchanged" to chown: not an owner. */
  if (uid < 0 || uid >= (la_int64_t) UINT32_MAX || gid < 0 || gid >= (la_int64_t) UINT32_MAX)
    return bothy_error_set(err, 0, "layer entry '%s': owner %lld:%lld is out of range", name,
                           (long long) uid, (long long) gid);
  *ret_uid = (uid_t) uid;
  *ret_gid = (gid_t) gid;
  return 0;
}

static bool entry_times(struct archive_entry *e, struct timespec ret[2])
{
  if (!archive_entry_mtime_is_set(e))
    return false;
  ret[1].tv_sec = archive_entry_mtime(e);
  ret[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (archive_entry_atime_is_set(e)) {
    ret[0].tv_sec = archive_entry_atime(e);
    ret[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    ret[0] = ret[1];
  }
  for (int i = 0; i < 2; i++)
    if (ret[i].tv_nsec < 0 || ret[i].tv_nsec >= 1000000000L)
      ret[i].tv_nsec = 0;
  return true;
}

/* The entry's mode bits as they will be set: setuid/setgid only by policy.
 * A directory keeps setgid: there it only makes new files inherit the
 * group, it gives no privilege. */
static mode_t entry_mode(struct unpack *u, struct archive_entry *e)
{
  mode_t mode = archive_entry_perm(e) & 07777;
  if (!u->pol->allow_setuid) {
    if (archive_entry_filetype(e) == AE_IFDIR)
      mode &= ~(mode_t) S_ISUID;
    else
      mode &= ~(mode_t) (S_ISUID | S_ISGID);
  }
  return mode;
}

/* Owner, mode, xattrs and times of what was just created at parentfd/base.
 * Through an O_PATH fd of it, so nothing is opened for reading (a device
 * node) and nothing is followed (a symlink). Order matters: chown clears
 * setuid bits and security.capability, so mode and xattrs come after it.
 * Directories get mode and times later (dir_meta). */
static int apply_meta(struct unpack *u, int parentfd, const char *base, struct archive_entry *e,
                      const char *name, bothy_error_t *err)
{
  mode_t type = archive_entry_filetype(e);
  _cleanup_close_ int fd = openat(parentfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot open it", name);
  char proc[64];
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);

  uid_t uid = 0;
  gid_t gid = 0;
  if (entry_owner(e, &uid, &gid, name, err) < 0)
    return -1;
  if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot change its owner", name);

  /* Symlinks have no mode of their own. chmod() follows the magic link to
   * the inode of the O_PATH fd. */
  if (type != AE_IFLNK && type != AE_IFDIR && chmod(proc, entry_mode(u, e)) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot change its mode", name);

  const char *key;
  const void *value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
    if (!key || !xattr_wanted(key))
      continue;
    /* setxattr, not lsetxattr: the magic link resolves to the O_PATH fd's
     * own inode, a symlink included. */
    if (setxattr(proc, key, value, size, 0) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot set xattr '%s'", name, key);
  }

  struct timespec ts[2];
  if (type != AE_IFDIR && entry_times(e, ts) &&
      utimensat(parentfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot set its times", name);
  return 0;
}

static void defer_dir(struct unpack *u, const char *path, struct archive_entry *e)
{
  if (u->n_dirs == u->cap_dirs) {
    u->cap_dirs = u->cap_dirs ? u->cap_dirs * 2 : 64;
    u->dirs = xrealloc(u->dirs, u->cap_dirs * sizeof(*u->dirs));
  }
  struct dir_meta *d = &u->dirs[u->n_dirs++];
  *d = (struct dir_meta){ .path = xstrdup(path), .mode = entry_mode(u, e) };
  d->has_times = entry_times(e, d->times);
}

static int apply_dirs(struct unpack *u, bothy_error_t *err)
{
  for (size_t i = 0; i < u->n_dirs; i++) {
    struct dir_meta *d = &u->dirs[i];
    const char *p = *d->path ? d->path : ".";
    _cleanup_close_ int fd = bothy_open_in_root(u->root, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
    if (fd == -ENOTDIR || fd == -ELOOP || fd == -ENOENT)
      continue; /* a later entry replaced or removed it */
    if (fd < 0)
      return bothy_error_set(err, -fd, "layer directory '%s': cannot open it", p);
    if (fchmod(fd, d->mode) < 0)
      return bothy_error_errno(err, "layer directory '%s': cannot change its mode", p);
    if (d->has_times && futimens(fd, d->times) < 0)
      return bothy_error_errno(err, "layer directory '%s': cannot set its times", p);
  }
  return 0;
}

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t w = pwrite(fd, p, len, off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    len -= (size_t) w;
    off += w;
  }
  return 0;
}

static int write_file(struct unpack *u, int parentfd, const char *base, struct archive_entry *e,
                      const char *name, bothy_error_t *err)
{
  _cleanup_close_ int fd =
      openat(parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot create it", name);
  for (;;) {
    const void *buf;
    size_t size;
    la_int64_t off;
    int r = archive_read_data_block(u->inner, &buf, &size, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return archive_fail(u, u->inner, name, err);
    if (off < 0)
      return bothy_error_set(err, 0, "layer entry '%s': bad data offset", name);
    r = pwrite_all(fd, buf, size, (off_t) off);
    if (r < 0)
      return bothy_error_set(err, -r, "layer entry '%s': cannot write it", name);
  }
  /* A sparse file may end in a hole. */
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot stat it", name);
  la_int64_t size = archive_entry_size(e);
  if (archive_entry_size_is_set(e) && size > st.st_size && ftruncate(fd, (off_t) size) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot extend it", name);
  /* Owner, mode, xattrs and times through the fd we hold: no second lookup. */
  uid_t uid = 0;
  gid_t gid = 0;
  if (entry_owner(e, &uid, &gid, name, err) < 0)
    return -1;
  if (fchown(fd, uid, gid) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot change its owner", name);
  if (fchmod(fd, entry_mode(u, e)) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot change its mode", name);
  const char *key;
  const void *value;
  size_t xsize;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &key, &value, &xsize) == ARCHIVE_OK)
    if (key && xattr_wanted(key) && fsetxattr(fd, key, value, xsize, 0) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot set xattr '%s'", name, key);
  struct timespec ts[2];
  if (entry_times(e, ts) && futimens(fd, ts) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot set its times", name);
  if (close(TAKE_FD(fd)) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot write it", name);
  return 0;
}

/* A hard link to a regular file an earlier entry created. The target is
 * resolved in the root with no symlink allowed anywhere on its path, so it
 * can be neither outside the layer nor reached through a link. */
static int make_hardlink(struct unpack *u, int parentfd, const char *base, const char *target,
                         const char *name, bothy_error_t *err)
{
  _cleanup_free_ char *tpath = clean_path(target);
  if (!*tpath)
    return bothy_error_set(err, 0, "layer entry '%s': hard link to the layer's root", name);
  struct open_how how = {
    .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  long tfd_l;
  do
    tfd_l = syscall(SYS_openat2, u->root, tpath, &how, sizeof(how));
  while (tfd_l < 0 && errno == EAGAIN);
  if (tfd_l < 0)
    return bothy_error_errno(err, "layer entry '%s': hard link target '%s' is not in the layer",
                             name, target);
  _cleanup_close_ int tfd = (int) tfd_l;
  struct stat tst, st;
  if (fstat(tfd, &tst) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot stat '%s'", name, target);
  if (!S_ISREG(tst.st_mode))
    return bothy_error_set(err, 0, "layer entry '%s': hard link target '%s' is not a regular file",
                           name, target);
  if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == tst.st_dev &&
      st.st_ino == tst.st_ino)
    return 0; /* already that file */
  if (remove_existing(parentfd, base, /* keep_dir= */ false, name, err) < 0)
    return -1;
  if (linkat(tfd, "", parentfd, base, AT_EMPTY_PATH) < 0) {
    /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH in the initial namespace;
     * the procfs form works with only write access to the directory. */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
    if (linkat(AT_FDCWD, proc, parentfd, base, AT_SYMLINK_FOLLOW) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot link it to '%s'", name, target);
  }
  return 0;
}

static int make_whiteout(struct unpack *u, int parentfd, const char *base, const char *name,
                         bothy_error_t *err)
{
  if (streq(base, WHITEOUT_OPAQUE)) {
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", parentfd);
    if (setxattr(proc, "trusted.overlay.opaque", "y", 1, 0) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot mark the directory opaque", name);
    return 0;
  }
  if (strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0)
    return 0; /* aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not for overlayfs */
  const char *victim = base + strlen(WHITEOUT_PREFIX);
  if (!*victim || streq(victim, ".") || streq(victim, ".."))
    return bothy_error_set(err, 0, "layer entry '%s': invalid whiteout", name);
  if (remove_existing(parentfd, victim, /* keep_dir= */ false, name, err) < 0)
    return -1;
  /* overlayfs's whiteout: a character device 0:0 (Documentation/filesystems/overlayfs.rst). */
  if (mknodat(parentfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0)
    return bothy_error_errno(err, "layer entry '%s': cannot create the whiteout", name);
  return 0;
}

/* Whether a directory on the way to the entry is named like a whiteout: 1
 * for aufs's metadata directories (.wh..wh.plnk/...), -1 for any other
 * ".wh." name, 0 when none is. */
static int whiteout_in_parents(const char *path)
{
  for (const char *c = path;;) {
    const char *slash = strchr(c, '/');
    if (!slash)
      return 0; /* c is the last component */
    if (strncmp(c, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0)
      return 1;
    if (strncmp(c, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
      return -1;
    c = slash + 1;
  }
}

static int unpack_entry(struct unpack *u, struct archive_entry *e, bothy_error_t *err)
{
  const char *name = archive_entry_pathname(e);
  if (!name)
    return bothy_error_set(err, 0, "layer entry without a name");
  _cleanup_free_ char *path = clean_path(name);
  mode_t type = archive_entry_filetype(e);
  const char *hardlink = archive_entry_hardlink(e);

  if (!*path) {
    if (type != AE_IFDIR || hardlink)
      return bothy_error_set(
          err, 0, "layer entry '%s': names the layer's root but is not a directory", name);
    /* The root itself ("./"): its owner and xattrs now, mode and times at the end. */
    if (apply_meta(u, u->root, ".", e, name, err) < 0)
      return -1;
    defer_dir(u, path, e);
    return 0;
  }

  /* A ".wh." name never lands on disk as such. */
  int w = whiteout_in_parents(path);
  if (w > 0)
    return 0;
  if (w < 0)
    return bothy_error_set(err, 0, "layer entry '%s': a whiteout cannot have contents", name);

  forget_parent_under(u, path);
  const char *base;
  _cleanup_close_ int parentfd = open_parent(u, path, &base, name, err);
  if (parentfd < 0)
    return parentfd;

  if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
    return make_whiteout(u, parentfd, base, name, err);

  if (hardlink)
    return make_hardlink(u, parentfd, base, hardlink, name, err);

  int r;
  switch (type) {
  case AE_IFDIR:
    r = remove_existing(parentfd, base, /* keep_dir= */ true, name, err);
    if (r < 0)
      return r;
    /* 0700 until apply_dirs() sets the real mode. */
    if (r == 0 && mkdirat(parentfd, base, 0700) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot create the directory", name);
    if (apply_meta(u, parentfd, base, e, name, err) < 0)
      return -1;
    defer_dir(u, path, e);
    return 0;

  case AE_IFREG:
    if (remove_existing(parentfd, base, false, name, err) < 0)
      return -1;
    return write_file(u, parentfd, base, e, name, err);

  case AE_IFLNK: {
    const char *target = archive_entry_symlink(e);
    if (!target)
      return bothy_error_set(err, 0, "layer entry '%s': symlink without a target", name);
    if (remove_existing(parentfd, base, false, name, err) < 0)
      return -1;
    /* Created as it is: it is never followed while unpacking (parents are
     * resolved in the root, last components are not followed). */
    if (symlinkat(target, parentfd, base) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot create the symlink", name);
    return apply_meta(u, parentfd, base, e, name, err);
  }

  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO: {
    dev_t dev = 0;
    if (type != AE_IFIFO) {
      if (!u->pol->allow_devices)
        return bothy_error_set(err, 0, "layer entry '%s': device nodes are not allowed", name);
      dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    }
    if (remove_existing(parentfd, base, false, name, err) < 0)
      return -1;
    if (mknodat(parentfd, base, (mode_t) type | 0600, dev) < 0)
      return bothy_error_errno(err, "layer entry '%s': cannot create the node", name);
    return apply_meta(u, parentfd, base, e, name, err);
  }

  default:
    return bothy_error_set(err, 0, "layer entry '%s': unsupported file type 0%o", name,
                           (unsigned) type);
  }
}

/* What libarchive's zstd filter takes: a frame, or a skippable frame
 * (RFC 8878 3.1.1, 3.1.2), by their magic numbers (little-endian). */
static bool is_zstd(const unsigned char *b, size_t n)
{
  if (n < 4)
    return false;
  uint32_t magic =
      (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
  return magic == 0xFD2FB528u || (magic & 0xFFFFFFF0u) == 0x184D2A50u;
}

/* Reads the first bytes of src_fd (into buf, given out first later) and
 * sets up what decompresses them. */
static int open_decompressor(struct unpack *u, bothy_error_t *err)
{
  while (u->sniffed < 4 && !u->src_eof) {
    ssize_t n = read_src(u, u->sniffed);
    if (n < 0)
      return bothy_error_set(err, u->read_errno, "cannot read the layer");
    u->sniffed += (size_t) n;
  }
  const unsigned char *b = (const unsigned char *) u->buf;
  _cleanup_error_ bothy_error_t isal_err = NULL;
  bool gzip = u->sniffed >= 2 && b[0] == 0x1f && b[1] == 0x8b;
  if (gzip) {
    if (bothy_gunzip_new(&u->gz, &isal_err) == 0) {
      bothy_gunzip_input(u->gz, u->buf, u->sniffed);
      u->sniffed = 0;
      return 0;
    }
    /* libarchive's gzip filter (zlib) does the same job, slower. */
    log_debug("layer: %s; inflating with libarchive", isal_err->msg);
  } else if (!is_zstd(b, u->sniffed)) {
    /* A plain tar: read as it is, not through libarchive's "raw" format
     * (which copies it once more). */
    u->plain = true;
    return 0;
  }

  /* The compressions the OCI image spec allows for layers (none, gzip,
   * zstd), and the "raw" format, which hands the decompressed stream out as
   * the data of a single entry. */
  u->outer = archive_read_new();
  if (!u->outer)
    return bothy_error_set(err, ENOMEM, "cannot create an archive reader");
  if (archive_read_support_filter_gzip(u->outer) < ARCHIVE_WARN ||
      archive_read_support_filter_zstd(u->outer) < ARCHIVE_WARN ||
      archive_read_support_format_raw(u->outer) != ARCHIVE_OK)
    return archive_fail(u, u->outer, NULL, err);
  if (archive_read_open(u->outer, u, NULL, outer_read, NULL) != ARCHIVE_OK)
    return archive_fail(u, u->outer, NULL, err);
  struct archive_entry *e;
  if (archive_read_next_header(u->outer, &e) < ARCHIVE_WARN)
    return archive_fail(u, u->outer, NULL, err);
  return 0;
}

int bothy_layer_preload(bothy_error_t *err)
{
  if (bothy_dlopen_archive(err) < 0)
    return -1;
  (void) bothy_dlopen_isal(NULL); /* optional: open_decompressor() says so in the debug log */
  return 0;
}

int bothy_layer_unpack(int src_fd, int dest_dirfd, const struct bothy_layer_policy *pol,
                       struct bothy_layer_result *ret, bothy_error_t *err)
{
  if (bothy_dlopen_archive(err) < 0)
    return -1;
  static const struct bothy_layer_policy strict = { 0 };
  _cleanup_(unpack_freep) struct unpack *u = xmalloc0(sizeof(*u));
  u->src_fd = src_fd;
  u->root = dest_dirfd;
  u->parent_fd = -1;
  u->pol = pol ? pol : &strict;
  u->diff = bothy_digester_new();

  if (open_decompressor(u, err) < 0)
    return -1;

  /* Inner reader: tar (ustar, pax, gnu) only, no filter: a layer is not a
   * compressed tar inside a compressed stream. */
  u->inner = archive_read_new();
  if (!u->inner)
    return bothy_error_set(err, ENOMEM, "cannot create an archive reader");
  if (archive_read_support_format_tar(u->inner) != ARCHIVE_OK)
    return archive_fail(u, u->inner, NULL, err);
  if (archive_read_open(u->inner, u, NULL, inner_read, NULL) != ARCHIVE_OK)
    return archive_fail(u, u->inner, NULL, err);

  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(u->inner, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return archive_fail(u, u->inner, NULL, err);
    r = unpack_entry(u, e, err);
    if (r < 0)
      return r;
  }
  if (u->outer_msg || u->read_errno)
    return archive_fail(u, u->inner, NULL, err);
  /* libarchive's tar reader takes a stream that stops at an entry boundary
   * for a complete archive (some writers omit the end-of-archive blocks).
   * A layer cut short must not pass for a smaller one: the end-of-archive
   * block was seen only if the reader consumed something at the position
   * where it looked for the next header. */
  if (archive_filter_bytes(u->inner, 0) <= archive_read_header_position(u->inner))
    return bothy_error_set(err, 0, "cannot read the layer: layer ends early");

  if (apply_dirs(u, err) < 0)
    return -1;

  /* The rest of the decompressed stream is hashed too (the tar's record
   * padding after its end blocks), and the compressed stream is read to its
   * end (where a gzip CRC error would also show). */
  archive_read_free(TAKE_PTR(u->inner));
  for (;;) {
    const void *buf;
    la_ssize_t n = pull_decompressed(u, &buf);
    if (n == 0)
      break;
    if (n < 0)
      return archive_fail(u, u->outer, NULL, err);
  }
  if (u->outer)
    archive_read_free(TAKE_PTR(u->outer));
  while (!u->src_eof)
    if (read_src(u, 0) < 0)
      return bothy_error_set(err, u->read_errno, "cannot read the layer");

  bothy_digester_final(u->diff, ret->diff_id);
  ret->compressed_size = u->blob_size;
  ret->size = u->diff_size;
  return 0;
}

int bothy_layer_unpack_buffer(const void *data, size_t len, int dest_dirfd,
                              const struct bothy_layer_policy *pol, struct bothy_layer_result *ret,
                              bothy_error_t *err)
{
  if (bothy_dlopen_archive(err) < 0)
    return -1;
  _cleanup_close_ int fd = memfd_create("bothy-layer", MFD_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create a memfd");
  int r = bothy_write_all(fd, data, len);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot write the layer to a memfd");
  if (lseek(fd, 0, SEEK_SET) < 0)
    return bothy_error_errno(err, "cannot rewind the memfd");
  return bothy_layer_unpack(fd, dest_dirfd, pol, ret, err);
}
