/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/xalloc.h"

#define FDPATH(buf, fd) snprintf((buf), sizeof(buf), "/proc/self/fd/%d", (fd))

/* Flags a bind remount must keep: in a user namespace the kernel refuses to
 * clear nosuid/nodev/noexec/atime flags that the source mount has (they are
 * "locked"), so a remount that does not repeat them fails with EPERM. */
static unsigned long locked_flags(const char *path)
{
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) < 0)
    return 0;
  if (sv.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME)
    f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME)
    f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME)
    f |= MS_RELATIME;
  if (sv.f_flag & ST_RDONLY)
    f |= MS_RDONLY;
  return f;
}

static int bind_remount(const char *target, unsigned long flags, const char *what,
                        bothy_error_t *err)
{
  unsigned long f = MS_BIND | MS_REMOUNT | (flags & ~(MS_BIND | MS_REC | MS_REMOUNT));
  if (mount(NULL, target, NULL, f, NULL) == 0)
    return 0;
  if (errno == EPERM &&
      mount(NULL, target, NULL, f | (locked_flags(target) & ~MS_RDONLY), NULL) == 0)
    return 0;
  return bothy_error_errno(err, "cannot remount '%s'", what);
}

static int mount_setattr_ro_recursive(const char *target, const char *what, bothy_error_t *err)
{
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
  if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
    return bothy_error_errno(err, "cannot make '%s' read-only recursively", what);
  return 0;
}

/* Opens (creating if needed) the mount point for m inside the rootfs. */
static int open_mountpoint(struct bothy_rootfs_ctx *ctx, const char *dest, bool dir,
                           bothy_error_t *err)
{
  int fd = dir ? bothy_mkdir_p_in_root(ctx->rootfd, dest, 0755, err)
               : bothy_touch_in_root(ctx->rootfd, dest, 0644, err);
  if (fd < 0)
    return bothy_error_prefix(err, "mount point '%s'", dest);
  return fd;
}

/* After mounting on /proc/self/fd/N, fd N still names the covered
 * directory: a remount or propagation change must go through a new fd that
 * names the root of the new mount. */
static int reopen(struct bothy_rootfs_ctx *ctx, const char *dest, int *fd, char *target,
                  size_t target_len, bothy_error_t *err)
{
  int nfd = bothy_open_in_root(ctx->rootfd, dest, O_PATH, 0);
  if (nfd < 0)
    return bothy_error_set(err, -nfd, "cannot open '%s'", dest);
  safe_close(*fd);
  *fd = nfd;
  snprintf(target, target_len, "/proc/self/fd/%d", nfd);
  return 0;
}

static int mount_cgroups(struct bothy_rootfs_ctx *ctx, const struct bothy_mount *m,
                         bothy_error_t *err)
{
  char target[64];
  unsigned long flags = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
  bool ro = flags & MS_RDONLY;

  /* Pure v2: one cgroup2 mount, or a bind of the container's directory. */
  if (ctx->n_cgroups == 1 && ctx->cgroups[0].v2 && !*ctx->cgroups[0].name) {
    _cleanup_close_ int fd = open_mountpoint(ctx, m->destination, true, err);
    if (fd < 0)
      return -1;
    FDPATH(target, fd);
    if (ctx->cgroupns && mount("cgroup2", target, "cgroup2", flags, NULL) == 0)
      return 0;
    if (mount(ctx->cgroups[0].host_path, target, NULL, MS_BIND | MS_REC, NULL) < 0)
      return bothy_error_errno(err, "cannot bind the cgroup '%s'", ctx->cgroups[0].host_path);
    if (!ro)
      return 0;
    if (reopen(ctx, m->destination, &fd, target, sizeof(target), err) < 0)
      return -1;
    return bind_remount(target, flags, m->destination, err);
  }

  /* v1 and hybrid: a tmpfs with one directory per hierarchy. The tmpfs is
   * ours, just mounted, and nothing of the container runs yet: its
   * directories are reached from its root's fd (tfd), not by resolving the
   * path in the rootfs again for each. */
  _cleanup_close_ int tfd = -1;
  {
    _cleanup_close_ int fd = open_mountpoint(ctx, m->destination, true, err);
    if (fd < 0)
      return -1;
    FDPATH(target, fd);
    if (mount("tmpfs", target, "tmpfs", (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=755") < 0)
      return bothy_error_errno(err, "cannot mount a tmpfs on '%s'", m->destination);
    tfd = bothy_open_in_root(ctx->rootfd, m->destination, O_PATH | O_DIRECTORY, 0);
    if (tfd < 0)
      return bothy_error_set(err, -tfd, "cannot open '%s'", m->destination);
  }
  for (size_t i = 0; i < ctx->n_cgroups; i++) {
    const struct bothy_cgroup_mount *c = &ctx->cgroups[i];
    _cleanup_free_ char *dest = xasprintf("%s/%s", m->destination, c->name);
    if (!*c->name || strchr(c->name, '/'))
      return bothy_error_set(err, EINVAL, "cannot mount the cgroup hierarchy '%s'", c->name);
    if (mkdirat(tfd, c->name, 0755) < 0 && errno != EEXIST)
      return bothy_error_errno(err, "cannot create the mount point '%s'", dest);
    _cleanup_close_ int fd = openat(tfd, c->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return bothy_error_errno(err, "cannot open the mount point '%s'", dest);
    FDPATH(target, fd);
    int r = -1;
    if (ctx->cgroupns)
      r = c->v2 ? mount("cgroup2", target, "cgroup2", flags, NULL)
                : mount("cgroup", target, "cgroup", flags, c->options);
    if (r < 0) {
      /* No cgroup namespace, or v1 not mountable in a user namespace: show
       * the container's own cgroup from the host. */
      if (mount(c->host_path, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        return bothy_error_errno(err, "cannot bind the cgroup '%s'", c->host_path);
      if (flags) {
        /* The same name now leads to the root of the new mount. */
        safe_close(fd);
        fd = openat(tfd, c->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
          return bothy_error_errno(err, "cannot open '%s'", dest);
        FDPATH(target, fd);
        if (bind_remount(target, flags, dest, err) < 0)
          return -1;
      }
    }
    /* Co-mounted controllers are also reachable by each name (cpu -> cpu,cpuacct). */
    if (strchr(c->name, ',')) {
      _cleanup_free_ char *names = xstrdup(c->name);
      char *save = NULL;
      for (char *n = strtok_r(names, ",", &save); n; n = strtok_r(NULL, ",", &save))
        if (symlinkat(c->name, tfd, n) < 0 && errno != EEXIST)
          return bothy_error_errno(err, "cannot create the link '%s/%s'", m->destination, n);
    }
  }
  if (ro) {
    FDPATH(target, tfd);
    if (bind_remount(target, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, m->destination, err) < 0)
      return -1;
  }
  return 0;
}

static int call_enter_cgroup(struct bothy_rootfs_ctx *ctx, bothy_error_t *err)
{
  int (*fn)(void *, bothy_error_t *) = ctx->enter_cgroup;
  ctx->enter_cgroup = NULL;
  return fn ? fn(ctx->enter_cgroup_data, err) : 0;
}

static int mount_one(struct bothy_rootfs_ctx *ctx, const struct bothy_mount *m, bothy_error_t *err)
{
  char target[64];
  if (m->idmap)
    return bothy_error_set(err, EOPNOTSUPP, "mount '%s': idmapped mounts", m->destination);
  if (streq(m->type, "cgroup") || streq(m->type, "cgroup2")) {
    if (call_enter_cgroup(ctx, err) < 0)
      return -1;
    return mount_cgroups(ctx, m, err);
  }

  if (m->bind) {
    if (!m->source)
      return bothy_error_set(err, 0, "bind mount '%s' has no source", m->destination);
    struct stat st;
    if (stat(m->source, &st) < 0)
      return bothy_error_errno(err, "bind mount source '%s'", m->source);
    _cleanup_close_ int fd = open_mountpoint(ctx, m->destination, S_ISDIR(st.st_mode), err);
    if (fd < 0)
      return -1;
    FDPATH(target, fd);
    if (mount(m->source, target, NULL, MS_BIND | (m->flags & MS_REC), NULL) < 0)
      return bothy_error_errno(err, "cannot bind '%s' on '%s'", m->source, m->destination);
    unsigned long extra = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (extra || m->clear_flags || m->recursive_ro)
      if (reopen(ctx, m->destination, &fd, target, sizeof(target), err) < 0)
        return -1;
    if ((extra || m->clear_flags) && bind_remount(target, extra, m->destination, err) < 0)
      return -1;
    if (m->recursive_ro && mount_setattr_ro_recursive(target, m->destination, err) < 0)
      return -1;
  } else {
    _cleanup_close_ int fd = open_mountpoint(ctx, m->destination, true, err);
    if (fd < 0)
      return -1;
    FDPATH(target, fd);
    unsigned long flags = m->flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
    if (mount(m->source ? m->source : m->type, target, m->type, flags, m->data) < 0) {
      int e = errno;
      /* In a user namespace without its own network (sysfs) or IPC
       * (mqueue) namespace the kernel refuses these: show the host's
       * instead, read-only as asked, as runc does. */
      const char *fallback = streq(m->type, "sysfs")    ? "/sys"
                             : streq(m->type, "mqueue") ? "/dev/mqueue"
                                                        : NULL;
      if ((e == EPERM || e == EBUSY) && fallback && bothy_path_exists(fallback)) {
        if (mount(fallback, target, NULL, MS_BIND | MS_REC, NULL) < 0)
          return bothy_error_errno(err, "cannot bind '%s' on '%s'", fallback, m->destination);
        if (flags && (reopen(ctx, m->destination, &fd, target, sizeof(target), err) < 0 ||
                      bind_remount(target, flags, m->destination, err) < 0))
          return -1;
      } else {
        return bothy_error_set(err, e, "cannot mount %s on '%s'", m->type, m->destination);
      }
    }
    if (m->recursive_ro && (reopen(ctx, m->destination, &fd, target, sizeof(target), err) < 0 ||
                            mount_setattr_ro_recursive(target, m->destination, err) < 0))
      return -1;
  }
  if (m->propagation) {
    _cleanup_close_ int fd = bothy_open_in_root(ctx->rootfd, m->destination, O_PATH, 0);
    if (fd < 0)
      return bothy_error_set(err, -fd, "cannot open '%s'", m->destination);
    FDPATH(target, fd);
    if (mount(NULL, target, NULL, m->propagation, NULL) < 0)
      return bothy_error_errno(err, "cannot set the propagation of '%s'", m->destination);
  }
  return 0;
}

struct default_dev {
  const char *path;
  unsigned major, minor;
};

static const struct default_dev default_devs[] = {
  { "/dev/null", 1, 3 },   { "/dev/zero", 1, 5 },    { "/dev/full", 1, 7 },
  { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

/* devfd: the rootfs's /dev, used for the nodes directly in it. */
static int make_device(struct bothy_rootfs_ctx *ctx, int devfd, const char *path, char type,
                       unsigned maj, unsigned min, mode_t mode, uid_t uid, gid_t gid,
                       bothy_error_t *err)
{
  _cleanup_free_ char *dir = xstrdup(path);
  char *slash = strrchr(dir, '/');
  *slash = '\0';
  const char *base = path + (slash - dir) + 1;
  _cleanup_close_ int own_dfd = -1;
  int dfd = devfd;
  if (!streq(dir, "/dev")) {
    own_dfd = bothy_mkdir_p_in_root(ctx->rootfd, *dir ? dir : "/", 0755, err);
    if (own_dfd < 0)
      return -1;
    dfd = own_dfd;
  }
  if (ctx->userns) {
    /* mknod is not allowed in a user namespace: bind the host's node. */
    _cleanup_close_ int fd = openat(dfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
      return bothy_error_errno(err, "cannot create '%s'", path);
    safe_close(fd);
    fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return bothy_error_errno(err, "cannot open '%s'", path);
    char target[64];
    FDPATH(target, fd);
    if (mount(path, target, NULL, MS_BIND, NULL) < 0)
      return bothy_error_errno(err, "cannot bind the device '%s'", path);
    fd = safe_close(fd);
    return 0;
  }
  mode_t kind = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  unlinkat(dfd, base, 0);
  /* mknod's mode is filtered by the umask: none for this one. */
  mode_t old_umask = umask(0);
  int r = mknodat(dfd, base, kind | (mode & 07777), makedev(maj, min));
  umask(old_umask);
  if (r < 0)
    return bothy_error_errno(err, "cannot create the device '%s'", path);
  if (fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return bothy_error_errno(err, "cannot chown the device '%s'", path);
  /* chown drops the set-id bits: give them back. */
  if (!(mode & 07000))
    return 0;
  _cleanup_close_ int fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  char p[64];
  FDPATH(p, fd);
  if (fd < 0 || chmod(p, mode & 07777) < 0)
    return bothy_error_errno(err, "cannot chmod the device '%s'", path);
  return 0;
}

static int setup_dev(struct bothy_rootfs_ctx *ctx, bothy_error_t *err)
{
  const struct bothy_spec *s = ctx->spec;
  _cleanup_close_ int dfd = bothy_mkdir_p_in_root(ctx->rootfd, "/dev", 0755, err);
  if (dfd < 0)
    return -1;
  for (size_t i = 0; i < ARRAY_SIZE(default_devs); i++) {
    bool in_spec = false;
    for (size_t j = 0; j < s->n_devices; j++)
      in_spec |= streq(s->devices[j].path, default_devs[i].path);
    if (in_spec)
      continue;
    if (make_device(ctx, dfd, default_devs[i].path, 'c', default_devs[i].major,
                    default_devs[i].minor, 0666, 0, 0, err) < 0)
      return -1;
  }
  for (size_t j = 0; j < s->n_devices; j++) {
    const struct bothy_device *d = &s->devices[j];
    if (make_device(ctx, dfd, d->path, d->type, (unsigned) d->major, (unsigned) d->minor,
                    d->file_mode == BOTHY_UNSET ? 0666 : (mode_t) d->file_mode,
                    d->uid == BOTHY_UNSET ? 0 : (uid_t) d->uid,
                    d->gid == BOTHY_UNSET ? 0 : (gid_t) d->gid, err) < 0)
      return -1;
  }
  static const struct {
    const char *target, *name;
  } links[] = {
    { "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
    { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
    { "pts/ptmx", "ptmx" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
    if (streq(links[i].name, "ptmx"))
      unlinkat(dfd, "ptmx", 0); /* a tmpfs /dev is empty; an image's /dev may have a node */
    if (symlinkat(links[i].target, dfd, links[i].name) < 0 && errno != EEXIST)
      return bothy_error_errno(err, "cannot create '/dev/%s'", links[i].name);
  }
  if (bothy_path_exists("/proc/kcore") && symlinkat("/proc/kcore", dfd, "core") < 0 &&
      errno != EEXIST)
    return bothy_error_errno(err, "cannot create '/dev/core'");
  return 0;
}

int bothy_rootfs_prepare(struct bothy_rootfs_ctx *ctx, bothy_error_t *err)
{
  const struct bothy_spec *s = ctx->spec;
  unsigned long prop = s->rootfs_propagation ? s->rootfs_propagation : (MS_SLAVE | MS_REC);
  /* Nothing we mount may propagate back to the host. */
  if (mount(NULL, "/", NULL, prop, NULL) < 0)
    return bothy_error_errno(err, "cannot set the propagation of '/'");
  if (mount(ctx->rootfs, ctx->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return bothy_error_errno(err, "cannot bind the rootfs '%s'", ctx->rootfs);
  ctx->rootfd = open(ctx->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ctx->rootfd < 0)
    return bothy_error_errno(err, "cannot open the rootfs '%s'", ctx->rootfs);

  bool dev_bound = false;
  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct bothy_mount *m = &s->mounts[i];
    if (mount_one(ctx, m, err) < 0)
      return -1;
    if (streq(m->destination, "/dev") && m->bind)
      dev_bound = true;
  }
  if (!dev_bound && setup_dev(ctx, err) < 0)
    return -1;
  return call_enter_cgroup(ctx, err);
}

int bothy_rootfs_pivot(struct bothy_rootfs_ctx *ctx, bool no_pivot, bothy_error_t *err)
{
  if (fchdir(ctx->rootfd) < 0)
    return bothy_error_errno(err, "cannot enter the rootfs");
  if (no_pivot) {
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
      return bothy_error_errno(err, "cannot move the rootfs to '/'");
    if (chroot(".") < 0)
      return bothy_error_errno(err, "cannot chroot to the rootfs");
  } else {
    /* pivot_root(".", ".") stacks the old root on the new one; detaching it
     * afterwards needs no directory for it in the rootfs (runc does this). */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
      return bothy_error_errno(err, "pivot_root");
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
      return bothy_error_errno(err, "cannot make the old root a slave");
    if (umount2(".", MNT_DETACH) < 0)
      return bothy_error_errno(err, "cannot detach the old root");
  }
  if (chdir("/") < 0)
    return bothy_error_errno(err, "chdir /");
  return 0;
}

static int mask_path(struct bothy_rootfs_ctx *ctx, const char *path, bothy_error_t *err)
{
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    return bothy_error_errno(err, "cannot mask '%s'", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
      return bothy_error_errno(err, "cannot mask '%s'", path);
    return 0;
  }
  /* The container's own /dev/null: a host fd would name a mount outside
   * this namespace once the old root is detached, which bind refuses. */
  if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "cannot mask '%s'", path);
  return 0;
}

static int readonly_path(const char *path, bothy_error_t *err)
{
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot make '%s' read-only", path);
  }
  return bind_remount(path, MS_RDONLY | (locked_flags(path) & ~MS_RDONLY), path, err);
}

int bothy_rootfs_finalize(struct bothy_rootfs_ctx *ctx, bothy_error_t *err)
{
  const struct bothy_spec *s = ctx->spec;
  /* Detaching the old root made every mount a slave: set the propagation
   * each mount asked for again, now that we are inside the rootfs. */
  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct bothy_mount *m = &s->mounts[i];
    if (m->propagation && mount(NULL, m->destination, NULL, m->propagation, NULL) < 0)
      return bothy_error_errno(err, "cannot set the propagation of '%s'", m->destination);
  }
  for (size_t i = 0; s->readonly_paths && s->readonly_paths[i]; i++)
    if (readonly_path(s->readonly_paths[i], err) < 0)
      return -1;
  for (size_t i = 0; s->masked_paths && s->masked_paths[i]; i++)
    if (mask_path(ctx, s->masked_paths[i], err) < 0)
      return -1;
  if (s->root_readonly &&
      bind_remount("/", MS_RDONLY | (locked_flags("/") & ~MS_RDONLY), "/", err) < 0)
    return -1;
  if (s->rootfs_propagation & MS_SHARED && mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
    return bothy_error_errno(err, "cannot make '/' shared");
  ctx->rootfd = safe_close(ctx->rootfd);
  return 0;
}

int bothy_rootfs_console(const char *slave_path, bothy_error_t *err)
{
  int fd = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST && errno != EROFS)
    return bothy_error_errno(err, "cannot create /dev/console");
  safe_close(fd);
  if (mount(slave_path, "/dev/console", NULL, MS_BIND, NULL) < 0)
    return bothy_error_errno(err, "cannot bind '%s' on /dev/console", slave_path);
  return 0;
}
