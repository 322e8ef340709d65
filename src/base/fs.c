/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/xalloc.h"

int bothy_write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    len -= (size_t) w;
  }
  return 0;
}

ssize_t bothy_read_all(int fd, void *buf, size_t len)
{
  char *p = buf;
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, p + got, len - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      break;
    got += (size_t) r;
  }
  return (ssize_t) got;
}

static int write_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                         bool durable, bothy_error_t *err)
{
  _cleanup_free_ char *tmp = xasprintf(".%s.tmp.%d", name, (int) getpid());
  _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create '%s'", tmp);
  int r = bothy_write_all(fd, data, len);
  if (r == 0 && fchmod(fd, mode) < 0)
    r = -errno;
  if (r == 0 && durable && fsync(fd) < 0)
    r = -errno;
  if (r < 0) {
    unlinkat(dirfd, tmp, 0);
    return bothy_error_set(err, -r, "cannot write '%s'", name);
  }
  if (renameat(dirfd, tmp, dirfd, name) < 0) {
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    return bothy_error_set(err, e, "cannot rename '%s' to '%s'", tmp, name);
  }
  /* Make the rename itself durable. */
  if (durable)
    (void) fsync(dirfd);
  return 0;
}

int bothy_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                            bothy_error_t *err)
{
  return write_replace(dirfd, name, data, len, mode, true, err);
}

int bothy_write_file_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
                             bothy_error_t *err)
{
  return write_replace(dirfd, name, data, len, mode, false, err);
}

int bothy_write_file(int dirfd, const char *path, const char *data, size_t len, bothy_error_t *err)
{
  _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", path);
  ssize_t w;
  do
    w = write(fd, data, len);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return bothy_error_errno(err, "cannot write '%.*s' to '%s'", (int) (len > 64 ? 64 : len), data,
                             path);
  return 0;
}

int bothy_write_string(int dirfd, const char *path, const char *s, bothy_error_t *err)
{
  return bothy_write_file(dirfd, path, s, strlen(s), err);
}

int bothy_read_fd(int fd, char **ret, size_t *ret_len, bothy_error_t *err)
{
  size_t cap = 4096, len = 0;
  _cleanup_free_ char *buf = xmalloc(cap);
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      buf = xrealloc(buf, cap);
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return bothy_error_errno(err, "cannot read");
    }
    if (r == 0)
      break;
    len += (size_t) r;
  }
  buf[len] = '\0';
  if (ret_len)
    *ret_len = len;
  *ret = TAKE_PTR(buf);
  return 0;
}

int bothy_read_file(int dirfd, const char *path, char **ret, size_t *ret_len, bothy_error_t *err)
{
  _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", path);
  int r = bothy_read_fd(fd, ret, ret_len, err);
  if (r < 0)
    return bothy_error_prefix(err, "'%s'", path);
  return 0;
}

int bothy_mkdir_p(const char *path, mode_t mode, bothy_error_t *err)
{
  /* The common case first: the parent exists (or the whole path does). */
  if (mkdir(path, mode) == 0 || errno == EEXIST)
    return 0;
  if (errno != ENOENT)
    return bothy_error_errno(err, "cannot create directory '%s'", path);
  _cleanup_free_ char *p = xstrdup(path);
  char *slash = strrchr(p, '/');
  while (slash && slash > p && slash[1] == '\0') {
    *slash = '\0';
    slash = strrchr(p, '/');
  }
  if (slash && slash > p) {
    *slash = '\0';
    if (bothy_mkdir_p(p, mode, err) < 0)
      return -1;
  }
  if (mkdir(path, mode) < 0 && errno != EEXIST)
    return bothy_error_errno(err, "cannot create directory '%s'", path);
  return 0;
}

static int rm_rf_children(int dfd, dev_t dev, bothy_error_t *err)
{
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return bothy_error_errno(err, "cannot read directory");
  }
  _cleanup_closedir_ DIR *dir = d;
  struct dirent *de;
  int ret = 0;
  while ((de = readdir(dir))) {
    if (streq(de->d_name, ".") || streq(de->d_name, ".."))
      continue;
    struct stat st;
    if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != dev)
        continue; /* never cross into a mount */
      int cfd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd >= 0 && rm_rf_children(cfd, dev, err) < 0)
        ret = -1;
      if (unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        ret = bothy_error_errno(err, "cannot remove '%s'", de->d_name);
      }
    } else if (unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno != ENOENT) {
      ret = bothy_error_errno(err, "cannot remove '%s'", de->d_name);
    }
  }
  return ret;
}

int bothy_rm_rf_at(int dirfd, const char *name, bothy_error_t *err)
{
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot stat '%s'", name);
  }
  if (S_ISDIR(st.st_mode)) {
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return bothy_error_errno(err, "cannot open '%s'", name);
    if (rm_rf_children(fd, st.st_dev, err) < 0)
      return bothy_error_prefix(err, "removing '%s'", name);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      return bothy_error_errno(err, "cannot remove '%s'", name);
    return 0;
  }
  if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "cannot remove '%s'", name);
  return 0;
}

int bothy_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = {
    .flags = (unsigned long long) (flags | O_CLOEXEC),
    .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  while (*path == '/')
    path++;
  if (*path == '\0')
    path = ".";
  long fd;
  do
    fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
  while (fd < 0 && errno == EAGAIN);
  return fd < 0 ? -errno : (int) fd;
}

static int mkdir_p_in_root(int rootfd, const char *path, mode_t mode, int depth, bothy_error_t *err)
{
  int fd = bothy_open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0);
  if (fd >= 0)
    return fd;
  if (depth > 40)
    return bothy_error_set(err, ELOOP, "cannot create directory '%s'", path);
  _cleanup_close_ int cur = bothy_open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
  if (cur < 0)
    return bothy_error_set(err, -cur, "cannot open the root");
  _cleanup_free_ char *p = xstrdup(path);
  char *save = NULL;
  for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (streq(c, "."))
      continue;
    /* Each step is resolved again from rootfd so ".." and symlinks stay
     * inside. p is a copy of path: the offsets are the same. */
    size_t off = (size_t) (c - p) + strlen(c);
    _cleanup_free_ char *prefix = xstrndup(path, off);
    int nfd = bothy_open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
    if (nfd == -ENOENT) {
      if (mkdirat(cur, c, mode) < 0 && errno != EEXIST)
        return bothy_error_errno(err, "cannot create directory '%s'", prefix);
      nfd = bothy_open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
      if (nfd == -ENOENT) {
        /* A dangling symlink: create its target, inside the root. */
        char target[4096];
        ssize_t n = readlinkat(cur, c, target, sizeof(target) - 1);
        if (n < 0)
          return bothy_error_errno(err, "cannot create directory '%s'", prefix);
        target[n] = '\0';
        _cleanup_free_ char *dir = xstrndup(path, (size_t) (c - p));
        _cleanup_free_ char *next = target[0] == '/'
                                        ? xasprintf("%s%s", target, path + off)
                                        : xasprintf("%s/%s%s", dir, target, path + off);
        return mkdir_p_in_root(rootfd, next, mode, depth + 1, err);
      }
    }
    if (nfd < 0)
      return bothy_error_set(err, -nfd, "cannot open directory '%s'", prefix);
    close(cur);
    cur = nfd;
  }
  return TAKE_FD(cur);
}

int bothy_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, bothy_error_t *err)
{
  return mkdir_p_in_root(rootfd, path, mode, 0, err);
}

int bothy_touch_in_root(int rootfd, const char *path, mode_t mode, bothy_error_t *err)
{
  int fd = bothy_open_in_root(rootfd, path, O_PATH, 0);
  if (fd >= 0)
    return fd;
  _cleanup_free_ char *dir = xstrdup(path);
  char *slash = strrchr(dir, '/');
  const char *base = path;
  if (slash) {
    *slash = '\0';
    base = path + (slash - dir) + 1;
  } else {
    dir[0] = '\0';
  }
  _cleanup_close_ int dfd = bothy_mkdir_p_in_root(rootfd, *dir ? dir : "/", 0755, err);
  if (dfd < 0)
    return dfd;
  /* O_PATH dirfds can be used with openat. */
  _cleanup_close_ int nfd = openat(dfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
  if (nfd < 0 && errno != EEXIST)
    return bothy_error_errno(err, "cannot create '%s'", path);
  fd = bothy_open_in_root(rootfd, path, O_PATH, 0);
  if (fd < 0)
    return bothy_error_set(err, -fd, "cannot open '%s'", path);
  return fd;
}

void bothy_close_fds_from(int from)
{
  if (syscall(SYS_close_range, (unsigned) from, ~0U, 0) == 0)
    return;
  _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d))) {
    char *end;
    long fd = strtol(de->d_name, &end, 10);
    if (*end || fd < from || fd == dirfd(d))
      continue;
    close((int) fd);
  }
}

bool bothy_path_exists(const char *path)
{
  return access(path, F_OK) == 0;
}
