/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/container.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/db.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/process.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "container/inventory.h"
#include "container/logs.h"
#include "container/monitor.h"
#include "container/network.h"
#include "net/ipam.h"
#include "net/ports.h"
#include "container/systemd.h"
#include "container/volume.h"
#include "image/images.h"
#include "image/overlay.h"
#include "runtime/container.h"
#include "runtime/state.h"

#define OVERLAYFS_MAGIC 0x794c7630

/* ---- small helpers ------------------------------------------------------ */

char *bothy_ctr_runtime_root(const struct bothy_ctx *ctx)
{
  return xasprintf("%s/runtime", ctx->root);
}

static char *ctr_dir(const struct bothy_ctx *ctx, const char *id)
{
  return xasprintf("%s/containers/%s", ctx->root, id);
}

/* A process that still is the one we recorded (pid reuse is told apart by
 * its start time). */
static bool proc_alive(pid_t pid, unsigned long long start)
{
  if (pid <= 0)
    return false;
  unsigned long long now = bothy_proc_start_time(pid);
  return now != 0 && (start == 0 || now == start);
}

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Waits up to timeout_ms for pid (with that start time) to be gone. */
static bool wait_gone(pid_t pid, unsigned long long start, long timeout_ms)
{
  int pfd = (int) syscall(SYS_pidfd_open, pid, 0);
  if (pfd >= 0) {
    if (!proc_alive(pid, start)) {
      close(pfd);
      return true;
    }
    struct pollfd p = { .fd = pfd, .events = POLLIN };
    int r;
    do
      r = poll(&p, 1, (int) timeout_ms);
    while (r < 0 && errno == EINTR);
    close(pfd);
    /* A zombie child of ours counts as gone. */
    return r > 0 || !proc_alive(pid, start);
  }
  for (long waited = 0; waited < timeout_ms; waited += 10) {
    if (!proc_alive(pid, start))
      return true;
    sleep_ms(10);
  }
  return !proc_alive(pid, start);
}

/* An exclusive lock on the container's directory: one command at a time
 * starts, stops or removes a given container. The monitor's helpers never
 * take it (the command holding it may be waiting for them). */
static int lock_dir(const char *dir, bool wait, bothy_error_t *err)
{
  /* The directory itself is locked: a lock file would cost an inode per
   * container, which a busy filesystem makes slow to allocate. */
  _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", dir);
  if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0)
    return bothy_error_errno(err, "cannot lock '%s'", dir);
  return TAKE_FD(fd);
}

static bool is_mounted(const char *path)
{
  struct statfs s;
  return statfs(path, &s) == 0 && s.f_type == OVERLAYFS_MAGIC;
}

/* Unmounts every mount of the container: its rootfs overlay, then the
 * idmapped layers and volumes of a --userns=auto container under lower/ and
 * idmap/. */
static void unmount_rootfs(const char *dir)
{
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
  while (is_mounted(rootfs))
    if (umount2(rootfs, MNT_DETACH) < 0)
      break;
  static const char *const subdirs[] = { "lower", "idmap" };
  for (size_t k = 0; k < ARRAY_SIZE(subdirs); k++) {
    _cleanup_free_ char *sub = xasprintf("%s/%s", dir, subdirs[k]);
    _cleanup_closedir_ DIR *d = opendir(sub);
    struct dirent *de;
    while (d && (de = readdir(d))) {
      if (de->d_name[0] == '.')
        continue;
      _cleanup_free_ char *p = xasprintf("%s/%s", sub, de->d_name);
      while (umount2(p, MNT_DETACH) == 0)
        ;
    }
  }
}

/* --userns=auto: a private range of 65536 ids per container, above 2^30
 * (far from the ids of the host's own users and of /etc/subuid's usual
 * ranges). */
#define USERNS_BASE  (1U << 30)
#define USERNS_SIZE  65536U
#define USERNS_LIMIT (1U << 31)

/* A user namespace mapping 0..size-1 to start.., as an fd: what
 * mount_setattr(MOUNT_ATTR_IDMAP) takes. */
static int userns_fd(uint32_t start, uint32_t size, bothy_error_t *err)
{
  int go[2];
  if (pipe2(go, O_CLOEXEC) < 0)
    return bothy_error_errno(err, "pipe");
  pid_t pid = fork();
  if (pid < 0) {
    close(go[0]);
    close(go[1]);
    return bothy_error_errno(err, "fork");
  }
  if (pid == 0) {
    close(go[1]);
    char c;
    /* Waits until the parent has what it needs, then goes. */
    if (unshare(CLONE_NEWUSER) < 0)
      _exit(1);
    while (read(go[0], &c, 1) < 0 && errno == EINTR)
      ;
    _exit(0);
  }
  close(go[0]);
  int ret = -1;
  _cleanup_free_ char *map = xasprintf("0 %u %u\n", start, size);
  /* The child has unshared once its namespace differs from ours. */
  _cleanup_free_ char *own = xasprintf("/proc/%d/ns/user", (int) pid);
  char a[64] = "", b[64] = "";
  for (int i = 0; i < 2000; i++) {
    ssize_t na = readlink("/proc/self/ns/user", a, sizeof(a) - 1);
    ssize_t nb = readlink(own, b, sizeof(b) - 1);
    if (na > 0 && nb > 0) {
      a[na] = b[nb] = '\0';
      if (strcmp(a, b))
        break;
    }
    if (bothy_waitpid(pid, WNOHANG) > 0) {
      pid = -1;
      break;
    }
    sleep_ms(1);
  }
  if (pid < 0) {
    bothy_error_set(err, 0, "cannot create a user namespace for --userns=auto");
    goto out;
  }
  {
    _cleanup_free_ char *um = xasprintf("/proc/%d/uid_map", (int) pid);
    _cleanup_free_ char *gm = xasprintf("/proc/%d/gid_map", (int) pid);
    if (bothy_write_string(AT_FDCWD, um, map, err) < 0 ||
        bothy_write_string(AT_FDCWD, gm, map, err) < 0)
      goto out;
    ret = open(own, O_RDONLY | O_CLOEXEC);
    if (ret < 0)
      bothy_error_errno(err, "cannot open '%s'", own);
  }
out:
  close(go[1]);
  if (pid > 0)
    bothy_waitpid(pid, 0);
  return ret;
}

/* Mounts src at target (made if missing) through an idmapped clone:
 * files owned by host id N there look owned by start+N. */
static int idmap_mount(const char *src, const char *target, int nsfd, bothy_error_t *err)
{
  if (bothy_mkdir_p(target, 0755, err) < 0)
    return -1;
  struct stat a, b;
  if (stat(src, &a) == 0 && stat(target, &b) == 0 && a.st_dev != b.st_dev)
    return 0; /* mounted already */
  _cleanup_close_ int fd = (int) syscall(SYS_open_tree, AT_FDCWD, src,
                                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0)
    return bothy_error_errno(err, "cannot clone the mount of '%s'", src);
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t) nsfd };
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
    return bothy_error_errno(err, "cannot make an idmapped mount of '%s'", src);
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return bothy_error_errno(err, "cannot mount '%s' on '%s'", src, target);
  return 0;
}

/* ---- status.json -------------------------------------------------------- */

struct status {
  char *status; /* as the file says; "" without a file */
  pid_t pid;
  unsigned long long pid_start;
  pid_t monitor_pid;
  unsigned long long monitor_start;
  char *started_at, *finished_at, *error;
  int exit_code;
  int restart_count;
  bool manual_stop;
  bool foreground;
  json_t *health; /* owned, may be NULL */
  json_t *doc;    /* owned */
};

static void status_done(struct status *s)
{
  free(s->status);
  free(s->started_at);
  free(s->finished_at);
  free(s->error);
  json_decref(s->health);
  json_decref(s->doc);
  memset(s, 0, sizeof(*s));
}

static char *jstr(json_t *o, const char *k)
{
  json_t *v = json_object_get(o, k);
  return xstrdup(json_is_string(v) ? json_string_value(v) : "");
}

static json_int_t jint(json_t *o, const char *k)
{
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void status_load(const char *dir, struct status *s)
{
  memset(s, 0, sizeof(*s));
  _cleanup_free_ char *p = xasprintf("%s/" MONITOR_STATUS_FILE, dir);
  json_t *doc = NULL;
  if (bothy_json_load_file(p, &doc, NULL) < 0 || !json_is_object(doc)) {
    json_decref(doc);
    doc = json_object();
  }
  s->doc = doc;
  s->status = jstr(doc, "status");
  s->pid = (pid_t) jint(doc, "pid");
  s->pid_start = (unsigned long long) jint(doc, "pid_start");
  s->monitor_pid = (pid_t) jint(doc, "monitor_pid");
  s->monitor_start = (unsigned long long) jint(doc, "monitor_start");
  s->started_at = jstr(doc, "started_at");
  s->finished_at = jstr(doc, "finished_at");
  s->error = jstr(doc, "error");
  s->exit_code = (int) jint(doc, "exit_code");
  s->restart_count = (int) jint(doc, "restart_count");
  s->manual_stop = json_is_true(json_object_get(doc, "manual_stop"));
  s->foreground = json_is_true(json_object_get(doc, "foreground"));
  s->health = json_incref(json_object_get(doc, "health"));
}

static int status_save(const char *dir, const struct status *s, bool durable, bothy_error_t *err)
{
  _cleanup_json_ json_t *o =
      json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:I, s:I, s:b, s:s, s:b}", "status", s->status,
                "pid", (json_int_t) s->pid, "pid_start", (json_int_t) s->pid_start, "monitor_pid",
                (json_int_t) s->monitor_pid, "monitor_start", (json_int_t) s->monitor_start,
                "started_at", s->started_at ? s->started_at : "", "finished_at",
                s->finished_at ? s->finished_at : "", "exit_code", (json_int_t) s->exit_code,
                "restart_count", (json_int_t) s->restart_count, "manual_stop", s->manual_stop,
                "error", s->error ? s->error : "", "foreground", s->foreground);
  json_object_set(
      o, "health",
      s->health ? s->health
                : json_pack("{s:s, s:i, s:[]}", "status", "none", "failing_streak", 0, "log"));
  if (!s->health)
    json_decref(json_object_get(o, "health"));
  _cleanup_free_ char *data = bothy_json_dump(o, false);
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", dir);
  return durable
             ? bothy_write_file_atomic(dfd, MONITOR_STATUS_FILE, data, strlen(data), 0644, err)
             : bothy_write_file_replace(dfd, MONITOR_STATUS_FILE, data, strlen(data), 0644, err);
}

static bool status_active(const char *st)
{
  return streq(st, "starting") || streq(st, "running") || streq(st, "restarting") ||
         streq(st, "stopping");
}

/* What really is: the file's word when its watcher lives; otherwise
 * "running" while the container's process lives, else "exited" ("created"
 * when it never ran). *stale: the file claims activity nobody backs. */
static const char *status_effective(const struct status *s, bool *stale)
{
  *stale = false;
  if (!*s->status)
    return "created";
  if (!status_active(s->status))
    return s->status;
  if (proc_alive(s->monitor_pid, s->monitor_start))
    return s->status;
  if (proc_alive(s->pid, s->pid_start))
    return "running";
  *stale = true;
  return "exited";
}

/* ---- the record's configuration ---------------------------------------- */

static const char *cfg_str(const struct bothy_ctr_record *r, const char *k, const char *def)
{
  json_t *v = json_object_get(r->config, k);
  return json_is_string(v) ? json_string_value(v) : def;
}

static json_int_t cfg_int(const struct bothy_ctr_record *r, const char *k, json_int_t def)
{
  json_t *v = json_object_get(r->config, k);
  return json_is_integer(v) ? json_integer_value(v) : def;
}

static bool cfg_bool(const struct bothy_ctr_record *r, const char *k)
{
  return json_is_true(json_object_get(r->config, k));
}

/* ---- loading and repairing --------------------------------------------- */

struct loaded {
  struct bothy_inventory *inv;
  struct bothy_ctr_record *rec;
  char *dir;
  struct status st;
  const char *state; /* effective */
};

static void loaded_done(struct loaded *l)
{
  status_done(&l->st);
  free(l->dir);
  bothy_ctr_record_free(l->rec);
  bothy_inventory_close(l->inv);
  memset(l, 0, sizeof(*l));
}

static void remove_anon_volumes(struct bothy_inventory *inv, const struct bothy_ctx *ctx,
                                const struct bothy_ctr_record *r)
{
  json_t *a = json_object_get(r->config, "anon_volumes");
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v) {
    if (json_is_string(v))
      bothy_volume_remove(inv, ctx->root, json_string_value(v), true, NULL);
  }
}

/* Frees what a container that no longer runs holds: the runtime's state
 * (and cgroup) and the root filesystem's mount. Idempotent. */
/* For the network layer: does the container with this id run now? */
static bool ctr_running(const char *id, void *userdata)
{
  const struct bothy_ctx *ctx = userdata;
  _cleanup_free_ char *dir = ctr_dir(ctx, id);
  struct status st;
  status_load(dir, &st);
  bool stale;
  const char *state = status_effective(&st, &stale);
  bool r = !stale && (streq(state, "running") || streq(state, "starting")) &&
           proc_alive(st.pid, st.pid_start);
  status_done(&st);
  return r;
}

static void release_runtime(const struct bothy_ctx *ctx, struct bothy_inventory *inv,
                            const struct bothy_ctr_record *r, const char *dir)
{
  const char *id = r->id;
  _cleanup_free_ char *rt_root = bothy_ctr_runtime_root(ctx);
  struct bothy_runtime rt = { .root = rt_root };
  _cleanup_free_ char *sp = xasprintf("%s/%s", rt_root, id);
  if (bothy_path_exists(sp))
    bothy_container_delete(&rt, id, true, NULL);
  unmount_rootfs(dir);
  bothy_ctr_net_down(bothy_inventory_db(inv), ctx->root, id, r->config, ctr_running, (void *) ctx);
}

/* Removes everything of a container that does not run. */
static int destroy(const struct bothy_ctx *ctx, struct bothy_inventory *inv,
                   const struct bothy_ctr_record *r, bool volumes, bothy_error_t *err)
{
  _cleanup_free_ char *dir = ctr_dir(ctx, r->id);
  release_runtime(ctx, inv, r, dir);
  _cleanup_free_ char *parent = xasprintf("%s/containers", ctx->root);
  _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd >= 0) {
    /* Renamed first, so a half-removed directory is never taken for the
     * container. */
    _cleanup_free_ char *gone = xasprintf(".gone-%s", r->id);
    if (renameat(pfd, r->id, pfd, gone) == 0 || errno == ENOENT)
      bothy_rm_rf_at(pfd, gone, NULL);
    else
      bothy_rm_rf_at(pfd, r->id, NULL);
  }
  bothy_ctr_net_release(bothy_inventory_db(inv), r->id);
  int ret = bothy_inventory_ctr_remove(inv, r->id, err);
  if (ret < 0 && ret != -ENOENT)
    return -1;
  if (ret == -ENOENT)
    bothy_error_free(err);
  if (volumes)
    remove_anon_volumes(inv, ctx, r);
  return 0;
}

/* Brings a stale container back to the truth; called with its lock held
 * or by whoever got it without waiting. */
static void repair(const struct bothy_ctx *ctx, struct loaded *l)
{
  struct status *s = &l->st;
  free(s->status);
  s->status = xstrdup("exited");
  free(s->finished_at);
  s->finished_at = bothy_time_now_rfc3339();
  if (!*s->error) {
    free(s->error);
    s->error = xstrdup("the container's monitor ended before it; its exit status is unknown");
    s->exit_code = 255;
  }
  s->pid = 0;
  s->monitor_pid = 0;
  release_runtime(ctx, l->inv, l->rec, l->dir);
  status_save(l->dir, s, true, NULL);
}

static int load(const struct bothy_ctx *ctx, const char *ref, struct loaded *l, bothy_error_t *err)
{
  memset(l, 0, sizeof(*l));
  if (bothy_inventory_open(ctx->root, &l->inv, err) < 0 ||
      bothy_inventory_ctr_get(l->inv, ref, &l->rec, err) < 0) {
    loaded_done(l);
    return bothy_error_ret(err);
  }
  l->dir = ctr_dir(ctx, l->rec->id);
  status_load(l->dir, &l->st);
  bool stale;
  l->state = status_effective(&l->st, &stale);
  if (stale) {
    int fd = lock_dir(l->dir, false, NULL);
    if (fd >= 0) {
      repair(ctx, l);
      close(fd);
    }
  }
  return 0;
}

/* A record a killed bothy left "creating" or "removing": finish it off. */
static bool abandoned(const struct bothy_ctr_record *r)
{
  if (streq(r->state, "created"))
    return false;
  return !proc_alive(r->creator_pid, r->creator_start);
}

/* ---- create ------------------------------------------------------------- */

static int write_etc(const char *dir, const char *hostname, bothy_error_t *err)
{
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", dir);
  _cleanup_free_ char *hn = xasprintf("%s\n", hostname);
  _cleanup_free_ char *hosts =
      xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "127.0.1.1\t%s\n",
                hostname);
  _cleanup_free_ char *resolv = NULL;
  /* The host's resolver configuration; with no network of its own a
   * container has nobody to ask, but programs read the file anyway. */
  if (bothy_read_file(AT_FDCWD, "/etc/resolv.conf", &resolv, NULL, NULL) < 0)
    resolv = xstrdup("");
  if (bothy_write_file_replace(dfd, "hostname", hn, strlen(hn), 0644, err) < 0 ||
      bothy_write_file_replace(dfd, "hosts", hosts, strlen(hosts), 0644, err) < 0 ||
      bothy_write_file_replace(dfd, "resolv.conf", resolv, strlen(resolv), 0644, err) < 0)
    return -1;
  return 0;
}

static int mount_rootfs(const char *dir, const struct bothy_ctr_record *r, bothy_error_t *err)
{
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
  if (is_mounted(rootfs))
    return 0;
  _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
  _cleanup_free_ char *work = xasprintf("%s/work", dir);
  json_t *a = json_object_get(r->config, "lowers");
  size_t n = json_array_size(a);
  if (n == 0)
    return bothy_error_set(err, EINVAL, "container %.12s has no image layers recorded", r->id);
  _cleanup_free_ const char **lowers = xcalloc(n + 1, sizeof(char *));
  _cleanup_strv_free_ char **mapped = NULL;
  json_t *uns = json_object_get(r->config, "userns");
  json_t *idm = json_object_get(r->config, "idmap_mounts");
  if (json_is_object(uns)) {
    /* The image's layers stay as they are, shared with every other
     * container: each is seen through an idmapped mount. */
    _cleanup_close_ int nsfd =
        userns_fd((uint32_t) jint(uns, "start"), (uint32_t) jint(uns, "size"), err);
    if (nsfd < 0)
      return -1;
    for (size_t i = 0; i < n; i++) {
      char *t = xasprintf("%s/lower/%zu", dir, i);
      strv_push(&mapped, t);
      if (idmap_mount(json_string_value(json_array_get(a, i)), t, nsfd, err) < 0)
        goto fail;
      lowers[i] = t;
    }
    size_t i;
    json_t *m;
    json_array_foreach (idm, i, m) {
      if (idmap_mount(json_string_value(json_object_get(m, "source")),
                      json_string_value(json_object_get(m, "target")), nsfd, err) < 0)
        goto fail;
    }
  } else {
    for (size_t i = 0; i < n; i++)
      lowers[i] = json_string_value(json_array_get(a, i));
  }
  /* A --rm container's upper layer goes with it: no sync of it is needed. */
  if ((cfg_bool(r, "rm") ? bothy_overlay_mount_volatile
                         : bothy_overlay_mount)(lowers, n, upper, work, rootfs, err) < 0)
    goto fail;
  return 0;
fail:
  unmount_rootfs(dir);
  return -1;
}

/* Where a mount's target goes in the host rootfs: does the image have
 * something there (a directory with content)? Anonymous and new named
 * volumes are filled from it, as docker does. */
static uint32_t shift_by;

static int shift_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  uid_t u = st->st_uid >= shift_by ? st->st_uid - shift_by : st->st_uid;
  gid_t g = st->st_gid >= shift_by ? st->st_gid - shift_by : st->st_gid;
  if (u != st->st_uid || g != st->st_gid)
    (void) !lchown(path, u, g);
  return 0;
}

static void copy_up(const char *rootfs, const char *target, const char *volpath, uint32_t shift)
{
  _cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return;
  _cleanup_close_ int src = bothy_open_in_root(root, target, O_RDONLY | O_DIRECTORY, 0);
  if (src < 0)
    return;
  _cleanup_closedir_ DIR *vd = opendir(volpath);
  if (!vd)
    return;
  struct dirent *de;
  while ((de = readdir(vd)))
    if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
      return; /* not empty: keep what is there */
  /* cp -a keeps owners, modes, links and xattrs; the source was resolved
   * inside the rootfs, so go through the fd. */
  _cleanup_free_ char *from = xasprintf("/proc/%d/fd/%d/.", (int) getpid(), src);
  char *argv[] = { "/bin/cp", "-a", "--", from, (char *) volpath, NULL };
  struct bothy_cmd cmd = { .path = "/bin/cp", .argv = argv, .stdout_fd = -1, .stderr_fd = -1 };
  int status;
  bothy_cmd_run(&cmd, &status, NULL);
  if (shift) {
    /* The rootfs shows the image's files with their ids in the private
     * range; on disk, a volume keeps the container's own ids (it is
     * mounted idmapped too). */
    shift_by = shift;
    nftw(volpath, shift_one, 16, FTW_PHYS);
  }
}

static json_t *health_json(const struct bothy_ctr_create_req *req,
                           const struct bothy_image_config *img)
{
  if (req->no_healthcheck)
    return json_null();
  char *const *test = req->health_cmd ? req->health_cmd : img->health.test;
  if (!test || !test[0] || streq(test[0], "NONE"))
    return json_null();
  json_t *t = json_array();
  for (size_t i = 0; test[i]; i++)
    json_array_append_new(t, json_string(test[i]));
#define PICK(a, b, d) ((a) > 0 ? (a) : (b) > 0 ? (b) : (d))
  return json_pack(
      "{s:o, s:I, s:I, s:I, s:I}", "test", t, "interval_ns",
      (json_int_t) PICK(req->health_interval_ns, img->health.interval_ns, 30000000000LL),
      "timeout_ns",
      (json_int_t) PICK(req->health_timeout_ns, img->health.timeout_ns, 30000000000LL),
      "start_period_ns",
      (json_int_t) PICK(req->health_start_period_ns, img->health.start_period_ns, 0), "retries",
      (json_int_t) PICK(req->health_retries, img->health.retries, 3));
#undef PICK
}

static int signal_of(const char *s)
{
  if (!s || !*s)
    return 0;
  int n = bothy_signal_parse(s);
  return n > 0 ? n : 0;
}

/* A --userns=auto container's root is a user id of its own: "others" to
 * every directory on the host. bothy gives others search permission on its
 * own directories (see do_create), but the ones above ROOT are not bothy's
 * to change: one that others cannot search would make the runtime fail
 * deep inside (EACCES on the root filesystem), so it is named here, before
 * anything is created. */
static int userns_can_reach(const char *root, bothy_error_t *err)
{
  char real[PATH_MAX];
  if (!realpath(root, real))
    return 0; /* not made yet: its parents are checked when it is */
  for (char *slash = strchr(real + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    struct stat sb;
    bool closed = stat(real, &sb) == 0 && S_ISDIR(sb.st_mode) && !(sb.st_mode & S_IXOTH);
    if (closed)
      return bothy_error_set_code(
          err, EACCES,
          "--userns=auto: the container's own user ids cannot reach its files under '%s': "
          "'%s' (mode %04o) is not searchable by others; allow it (chmod o+x '%s') or keep "
          "bothy's root elsewhere",
          root, real, (unsigned) (sb.st_mode & 07777), real);
    *slash = '/';
  }
  return 0;
}

static int do_create(const struct bothy_ctx *ctx, const struct bothy_ctr_create_req *req,
                     bool keep_mounted, char **ret_id, bothy_error_t *err)
{
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (bothy_images_open(ctx->root, &imgs, err) < 0)
    return -1;
  _cleanup_image_ struct bothy_image *img = NULL;
  if (bothy_images_get(imgs, req->image, &img, err) < 0) {
    if (!req->pull || !err || !*err || (*err)->code != ENOENT)
      return -1;
    bothy_error_free(err);
    struct bothy_pull_opts po = { .quiet = true, .registries_conf = ctx->registries_conf };
    if (bothy_images_pull(imgs, req->image, &po, NULL, err) < 0 ||
        bothy_images_get(imgs, req->image, &img, err) < 0)
      return -1;
  }
  if (req->userns_auto && userns_can_reach(ctx->root, err) < 0)
    return -1;
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0)
    return -1;

  /* Bind sources must exist (docker refuses them otherwise); named volumes
   * are created on first use. */
  _cleanup_strv_free_ char **named = NULL;
  for (size_t i = 0; i < req->n_mounts; i++) {
    const struct bothy_mount_req *m = &req->mounts[i];
    if (m->kind == BOTHY_MOUNT_BIND) {
      struct stat sb;
      if (stat(m->source, &sb) < 0)
        return bothy_error_set(err, ENOENT,
                               "invalid mount config for type \"bind\": bind source path does "
                               "not exist: %s",
                               m->source);
    } else if (m->kind == BOTHY_MOUNT_VOLUME && m->source) {
      _cleanup_free_ char *name = NULL;
      if (bothy_volume_create(inv, ctx->root, m->source, NULL, false, &name, err) < 0)
        return -1;
      if (!strv_contains(named, name))
        strv_push(&named, TAKE_PTR(name));
    }
  }

  _cleanup_free_ char *id = bothy_random_hex(32);
  _cleanup_free_ char *dir = ctr_dir(ctx, id);
  _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
  _cleanup_free_ char *work = xasprintf("%s/work", dir);
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
  _cleanup_free_ char *etc = xasprintf("%s/etc", dir);
  _cleanup_free_ char *host = xstrndup(id, 12);
  _cleanup_json_ json_t *spec = NULL;
  _cleanup_strv_free_ char **anon = NULL;
  json_t *cfg = json_object();
  struct bothy_ctr_record rec = {
    .id = id,
    .name = req->name ? xstrdup(req->name[0] == '/' ? req->name + 1 : req->name) : NULL,
    .image = (char *) req->image,
    .created = bothy_time_now_rfc3339(),
    .state = "creating",
    .creator_pid = getpid(),
    .creator_start = bothy_proc_start_time(getpid()),
    .config = cfg,
    .volumes = named,
  };
  _cleanup_free_ char *image_id = xstrdup(img->digest);
  rec.image_id = image_id;
  struct bothy_oci_mount *om = NULL;
  size_t n_om = 0;
  _cleanup_strv_free_ char **paths = NULL; /* owns the mount sources we make */
  _cleanup_free_ char *init_path = NULL;
  _cleanup_free_ char *netns = NULL;
  int ret = -1;
  bool added = false, made = false;

  /* The recipe for everything later: stored with the record. */
  json_t *lowers = json_array();
  size_t nl = strv_length(img->layer_dirs);
  for (size_t i = 0; i < nl; i++)
    json_array_append_new(lowers, json_string(img->layer_dirs[nl - 1 - i]));
  if (nl == 0) {
    /* An image without layers (FROM scratch, nothing added): an empty base. */
    _cleanup_free_ char *empty = xasprintf("%s/empty", dir);
    json_array_append_new(lowers, json_string(empty));
  }
  json_object_set_new(cfg, "lowers", lowers);
  int stop_signal = req->stop_signal > 0 ? req->stop_signal : signal_of(img->config->stop_signal);
  json_object_set_new(cfg, "stop_signal", json_integer(stop_signal > 0 ? stop_signal : SIGTERM));
  json_object_set_new(cfg, "stop_timeout",
                      json_integer(req->stop_timeout >= 0 ? req->stop_timeout : 10));
  json_object_set_new(cfg, "restart", json_string(req->restart ? req->restart : "no"));
  json_object_set_new(cfg, "max_retries", json_integer(req->max_retries));
  json_object_set_new(cfg, "health", health_json(req, img->config));
  json_object_set_new(cfg, "labels", req->labels ? json_deep_copy(req->labels) : json_object());
  json_object_set_new(cfg, "rm", json_boolean(req->remove));
  json_object_set_new(cfg, "tty", json_boolean(req->opts.tty));
  json_object_set_new(cfg, "interactive", json_boolean(req->interactive));
  json_object_set_new(cfg, "init", json_boolean(req->init));
  json_object_set_new(
      cfg, "log_max_size",
      json_integer(req->log_max_size > 0 ? req->log_max_size : MONITOR_LOG_MAX_SIZE));
  json_object_set_new(
      cfg, "log_max_files",
      json_integer(req->log_max_files > 0 ? req->log_max_files : MONITOR_LOG_MAX_FILES));
  json_object_set_new(cfg, "memory", json_integer(req->opts.memory));
  json_object_set_new(cfg, "nano_cpus", json_integer(req->opts.nano_cpus));
  json_object_set_new(cfg, "pids_limit", json_integer(req->opts.pids_limit));
  json_object_set_new(cfg, "read_only", json_boolean(req->opts.read_only));
  json_object_set_new(cfg, "network", json_string(req->net.mode ? req->net.mode : "bridge"));

  if (bothy_inventory_ctr_add(inv, &rec, err) < 0)
    goto out;
  added = true;
  uint32_t userns_start = 0;
  if (req->userns_auto) {
    if (req->net.mode && streq(req->net.mode, "host")) {
      bothy_error_set(err, EINVAL,
                      "--userns=auto needs the container's own network (not "
                      "--network host)");
      goto out;
    }
    if (bothy_inventory_userns_alloc(inv, id, USERNS_BASE, USERNS_SIZE, USERNS_LIMIT, &userns_start,
                                     err) < 0)
      goto out;
    json_object_set_new(cfg, "userns",
                        json_pack("{s:I, s:I}", "start", (json_int_t) userns_start, "size",
                                  (json_int_t) USERNS_SIZE));
  }
  /* Addresses and ports, for as long as the container exists. */
  {
    int *fds = NULL;
    size_t nfds = 0;
    if (bothy_ctr_net_create(bothy_inventory_db(inv), ctx->root, id, &req->net,
                             img->config->exposed_ports, cfg, &netns, &fds, &nfds, err) < 0)
      goto out;
    for (size_t i = 0; i < nfds; i++)
      close(fds[i]);
    free(fds);
  }
  {
    _cleanup_free_ char *parent = xasprintf("%s/containers", ctx->root);
    if (bothy_mkdir_p(parent, 0700, err) < 0)
      goto out;
    if (mkdir(dir, 0700) < 0) {
      bothy_error_errno(err, "cannot create '%s'", dir);
      goto out;
    }
    made = true;
  }
  if (bothy_mkdir_p(upper, 0755, err) < 0 || bothy_mkdir_p(work, 0700, err) < 0 ||
      bothy_mkdir_p(rootfs, 0755, err) < 0 || bothy_mkdir_p(etc, 0755, err) < 0)
    goto out;
  if (nl == 0) {
    _cleanup_free_ char *empty = xasprintf("%s/empty", dir);
    if (bothy_mkdir_p(empty, 0755, err) < 0)
      goto out;
  }
  /* The root directory inside is the upper layer's: root's own, which is
   * the start of the private range with --userns=auto. */
  if (userns_start && chown(upper, userns_start, userns_start) < 0) {
    bothy_error_errno(err, "cannot chown '%s'", upper);
    goto out;
  }
  if (userns_start) {
    /* The runtime sets the root filesystem up as the container's root,
     * which is nobody on the host: it must be able to walk to it (search
     * only, no listing; docker does the same with userns-remap). */
    _cleanup_free_ char *parent = xasprintf("%s/containers", ctx->root);
    const char *walk[] = { ctx->root, parent, dir };
    for (size_t i = 0; i < ARRAY_SIZE(walk); i++) {
      struct stat sb;
      if (stat(walk[i], &sb) == 0 && (sb.st_mode & 0011) != 0011 &&
          chmod(walk[i], (sb.st_mode & 07777) | 0011) < 0) {
        bothy_error_errno(err, "cannot chmod '%s'", walk[i]);
        goto out;
      }
    }
  }
  if (mount_rootfs(dir, &rec, err) < 0)
    goto out;

  /* Mounts: the user's, then the image's VOLUMEs nobody covered. */
  json_t *mounts_doc = json_array();
  json_object_set_new(cfg, "mounts", mounts_doc);
  size_t n_img_vol = strv_length(img->config->volumes);
  om = xcalloc(req->n_mounts + n_img_vol + 1, sizeof(*om));
  for (size_t i = 0; i < req->n_mounts + n_img_vol; i++) {
    struct bothy_mount_req img_m = { .kind = BOTHY_MOUNT_VOLUME };
    const struct bothy_mount_req *m;
    if (i < req->n_mounts) {
      m = &req->mounts[i];
    } else {
      img_m.target = img->config->volumes[i - req->n_mounts];
      bool covered = false;
      for (size_t k = 0; k < req->n_mounts; k++)
        if (streq(req->mounts[k].target, img_m.target))
          covered = true;
      if (covered)
        continue;
      m = &img_m;
    }
    struct bothy_oci_mount *o = &om[n_om++];
    o->target = m->target;
    o->readonly = m->readonly;
    o->options = m->options;
    const char *type = "bind";
    const char *vol_name = NULL;
    if (m->kind == BOTHY_MOUNT_TMPFS) {
      o->type = "tmpfs";
      o->source = "tmpfs";
      type = "tmpfs";
    } else if (m->kind == BOTHY_MOUNT_BIND) {
      o->type = "bind";
      o->source = m->source;
    } else {
      char *name = NULL;
      if (m->source) {
        name = xstrdup(m->source);
      } else {
        /* Made and linked in one transaction: a concurrent prune never
         * sees it unused. */
        int tx = bothy_db_tx_begin(bothy_inventory_db(inv), err);
        if (tx < 0)
          goto out;
        if (bothy_volume_create(inv, ctx->root, NULL, NULL, true, &name, err) < 0 ||
            bothy_inventory_ctr_link_volume(inv, id, name, err) < 0 ||
            bothy_db_tx_commit(bothy_inventory_db(inv), tx, err) < 0) {
          bothy_db_tx_rollback(bothy_inventory_db(inv), tx);
          if (name)
            bothy_volume_remove(inv, ctx->root, name, true, NULL);
          free(name);
          goto out;
        }
        strv_push(&anon, xstrdup(name));
      }
      char *path = bothy_volume_path(ctx->root, name);
      strv_push(&paths, path);
      strv_push(&paths, name);
      o->type = "bind";
      o->source = path;
      vol_name = name;
      type = "volume";
      bool nocopy = strv_contains(m->options, "nocopy");
      if (!nocopy)
        copy_up(rootfs, m->target, path, userns_start);
      if (userns_start) {
        /* Seen through an idmapped mount, as the layers are. */
        char *t = xasprintf("%s/idmap/%zu", dir, n_om - 1);
        strv_push(&paths, t);
        o->source = t;
        if (!json_object_get(cfg, "idmap_mounts"))
          json_object_set_new(cfg, "idmap_mounts", json_array());
        json_array_append_new(json_object_get(cfg, "idmap_mounts"),
                              json_pack("{s:s, s:s}", "source", path, "target", t));
      }
    }
    json_t *d = json_pack("{s:s, s:s, s:s, s:b}", "Type", type, "Source", o->source, "Destination",
                          o->target, "RW", !o->readonly);
    if (vol_name)
      json_object_set_new(d, "Name", json_string(vol_name));
    json_array_append_new(mounts_doc, d);
  }
  {
    json_t *a = json_array();
    for (size_t i = 0; anon && anon[i]; i++)
      json_array_append_new(a, json_string(anon[i]));
    json_object_set_new(cfg, "anon_volumes", a);
  }

  struct bothy_run_opts opts = req->opts;
  json_t *net = json_object_get(cfg, "net");
  if (netns && !userns_start && streq(json_string_value(json_object_get(net, "mode")), "bridge")) {
    /* The runtime makes the namespace, in the container's process, while
     * bothy goes on; the start plumbs it then (bothy_ctr_net_plumb_into).
     * Not with --userns=auto: that user namespace would own it, where the
     * host owns it otherwise. */
    json_object_set_new(net, "netns_by_runtime", json_true());
    opts.network = BOTHY_NET_NONE;
  } else if (netns) {
    opts.network = BOTHY_NET_PATH;
    opts.netns_path = netns;
  } else {
    opts.network = req->net.mode && streq(req->net.mode, "host") ? BOTHY_NET_HOST : BOTHY_NET_NONE;
  }
  if (userns_start) {
    opts.userns_start = userns_start;
    opts.userns_size = USERNS_SIZE;
  }
  opts.mounts = om;
  opts.n_mounts = n_om;
  if (req->init) {
    init_path = xasprintf("%s/" INIT_BINARY, ctx->libexec);
    if (access(init_path, X_OK) < 0) {
      bothy_error_errno(err, "--init: cannot use '%s'", init_path);
      goto out;
    }
    opts.init_path = init_path;
  }
  if (write_etc(etc, req->opts.hostname ? req->opts.hostname : host, err) < 0)
    goto out;
  if (bothy_container_oci_spec(img->config, &opts, id, rootfs, etc, &spec, err) < 0)
    goto out;
  {
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *s = bothy_json_dump(spec, false);
    if (dfd < 0) {
      bothy_error_errno(err, "cannot open '%s'", dir);
      goto out;
    }
    /* A --rm container's configuration need not survive a power cut. */
    int r = req->remove ? bothy_write_file_replace(dfd, "config.json", s, strlen(s), 0600, err)
                        : bothy_write_file_atomic(dfd, "config.json", s, strlen(s), 0600, err);
    if (r < 0)
      goto out;
  }
  /* What inspect shows of the process. */
  json_object_set(cfg, "process", json_object_get(spec, "process"));
  json_object_set_new(cfg, "hostname", json_string(req->opts.hostname ? req->opts.hostname : host));
  if (bothy_inventory_ctr_set_config(inv, id, cfg, err) < 0 ||
      bothy_inventory_ctr_set_state(inv, id, "created", 0, 0, err) < 0)
    goto out;
  /* run keeps the root filesystem it is about to start from: a second
   * overlay mount costs as much as the first, and an unmount an RCU grace
   * period. */
  if (!keep_mounted)
    unmount_rootfs(dir);
  *ret_id = TAKE_PTR(id);
  ret = 0;
out:
  if (ret < 0) {
    if (made) {
      unmount_rootfs(dir);
      _cleanup_free_ char *parent = xasprintf("%s/containers", ctx->root);
      _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (pfd >= 0 && id)
        bothy_rm_rf_at(pfd, id, NULL);
    }
    if (added && id) {
      bothy_ctr_net_release(bothy_inventory_db(inv), id);
      bothy_inventory_ctr_remove(inv, id, NULL);
    }
    for (size_t i = 0; anon && anon[i]; i++)
      bothy_volume_remove(inv, ctx->root, anon[i], true, NULL);
  }
  free(om);
  free(rec.name);
  free(rec.created);
  json_decref(cfg);
  return ret;
}

int bothy_ctr_create(const struct bothy_ctx *ctx, const struct bothy_ctr_create_req *req,
                     char **ret_id, bothy_error_t *err)
{
  return do_create(ctx, req, false, ret_id, err);
}

/* ---- start under a monitor --------------------------------------------- */

static char *itoa_dup(long long v)
{
  return xasprintf("%lld", v);
}

static char **monitor_argv(const struct bothy_ctx *ctx, const struct bothy_ctr_record *r,
                           const char *dir, const char *monitor)
{
  char **a = NULL;
  strv_push(&a, xstrdup(monitor));
#define ARG(k, v)                                                                                  \
  do {                                                                                             \
    strv_push(&a, xstrdup(k));                                                                     \
    strv_push(&a, (v));                                                                            \
  } while (0)
  ARG("--dir", xstrdup(dir));
  ARG("--id", xstrdup(r->id));
  ARG("--bothy", xstrdup(ctx->exe));
  ARG("--root", xstrdup(ctx->root));
  ARG("--restart", xstrdup(cfg_str(r, "restart", "no")));
  ARG("--max-retries", itoa_dup(cfg_int(r, "max_retries", 0)));
  ARG("--log-max-size", itoa_dup(cfg_int(r, "log_max_size", MONITOR_LOG_MAX_SIZE)));
  ARG("--log-max-files", itoa_dup(cfg_int(r, "log_max_files", MONITOR_LOG_MAX_FILES)));
  ARG("--stop-signal", itoa_dup(cfg_int(r, "stop_signal", SIGTERM)));
  ARG("--stop-timeout", itoa_dup(cfg_int(r, "stop_timeout", 10)));
  if (cfg_bool(r, "tty"))
    strv_push(&a, xstrdup("--tty"));
  if (cfg_bool(r, "interactive"))
    strv_push(&a, xstrdup("--interactive"));
  json_t *h = json_object_get(r->config, "health");
  if (json_is_object(h)) {
    ARG("--health-interval", itoa_dup(jint(h, "interval_ns") / 1000000));
    ARG("--health-timeout", itoa_dup(jint(h, "timeout_ns") / 1000000));
    ARG("--health-retries", itoa_dup(jint(h, "retries")));
    ARG("--health-start-period", itoa_dup(jint(h, "start_period_ns") / 1000000));
  }
#undef ARG
  return a;
}

/* Forks the monitor (detached: its own session, reparented away from us)
 * and waits for its report. */
static int spawn_monitor(const struct bothy_ctx *ctx, const struct bothy_ctr_record *r,
                         const char *dir, bothy_error_t *err)
{
  _cleanup_free_ char *monitor = xasprintf("%s/" MONITOR_BINARY, ctx->libexec);
  if (access(monitor, X_OK) < 0)
    return bothy_error_errno(err, "cannot run the container monitor '%s'", monitor);
  _cleanup_strv_free_ char **argv = monitor_argv(ctx, r, dir, monitor);
  /* Its published ports, held by the monitor while the container lives. */
  _cleanup_free_ int *hold = NULL;
  size_t n_hold = 0;
  {
    _cleanup_inventory_ struct bothy_inventory *inv = NULL;
    if (bothy_inventory_open(ctx->root, &inv, err) < 0 ||
        bothy_ctr_net_hold(bothy_inventory_db(inv), r->id, &hold, &n_hold, err) < 0)
      return -1;
  }
  if (n_hold) {
    strv_push(&argv, xstrdup("--hold-fds"));
    strv_push(&argv, itoa_dup((long long) n_hold));
  }
  _cleanup_free_ char *mlog = xasprintf("%s/monitor.log", dir);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return bothy_error_errno(err, "pipe");
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    for (size_t i = 0; i < n_hold; i++)
      close(hold[i]);
    return bothy_error_errno(err, "fork");
  }
  if (pid == 0) {
    /* The intermediate child: the monitor is its child, and it exits at
     * once, so the monitor belongs to init (or the nearest subreaper), not
     * to this command. */
    setsid();
    pid_t m = fork();
    if (m != 0)
      _exit(m < 0 ? 1 : 0);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int logfd = open(mlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    /* The held ports out of the way first, then to 4.. */
    for (size_t i = 0; i < n_hold; i++)
      hold[i] = fcntl(hold[i], F_DUPFD_CLOEXEC, 256);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 ||
        dup2(logfd >= 0 ? logfd : devnull, 2) < 0 || dup2(p[1], 3) < 0)
      _exit(127);
    for (size_t i = 0; i < n_hold; i++)
      if (hold[i] < 0 || dup2(hold[i], 4 + (int) i) < 0)
        _exit(127);
    bothy_close_fds_from(4 + (int) n_hold);
    extern char **environ;
    execve(monitor, argv, environ);
    _exit(127);
  }
  close(p[1]);
  for (size_t i = 0; i < n_hold; i++)
    close(hold[i]);
  bothy_waitpid(pid, 0);
  /* The report: "ok PID" or "error MESSAGE". The monitor has at most the
   * time of a container start; a monitor that dies closes the pipe. */
  char buf[4096];
  size_t len = 0;
  for (;;) {
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    int n = poll(&pf, 1, 120000);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    ssize_t k = read(p[0], buf + len, sizeof(buf) - 1 - len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    len += (size_t) k;
    if (len == sizeof(buf) - 1)
      break;
  }
  close(p[0]);
  buf[len] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl)
    *nl = '\0';
  if (strncmp(buf, "ok ", 3) == 0)
    return 0;
  if (strncmp(buf, "error ", 6) == 0)
    return bothy_error_set(err, 0, "%s", buf + 6);
  return bothy_error_set(err, 0, "the container monitor ended without a report (see '%s')", mlog);
}

int bothy_ctr_start(const struct bothy_ctx *ctx, const char *ref, bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  int ret = -1;
  _cleanup_close_ int lock = -1;
  if (abandoned(l.rec)) {
    ret = bothy_error_set(err, ENOENT, "no such container: %s", ref);
    goto out;
  }
  lock = lock_dir(l.dir, true, err);
  if (lock < 0)
    goto out;
  /* Look again under the lock: another start may have won. */
  status_done(&l.st);
  status_load(l.dir, &l.st);
  bool stale;
  l.state = status_effective(&l.st, &stale);
  if (stale)
    repair(ctx, &l);
  if (streq(l.state, "running") || streq(l.state, "restarting") || streq(l.state, "starting")) {
    ret = 0;
    goto out;
  }
  release_runtime(ctx, l.inv, l.rec, l.dir);
  if (l.rec->user_stopped && bothy_inventory_ctr_set_user_stopped(l.inv, l.rec->id, false, err) < 0)
    goto out;
  ret = spawn_monitor(ctx, l.rec, l.dir, err);
out:
  loaded_done(&l);
  return ret;
}

/* ---- attached ----------------------------------------------------------- */

/* What the runtime's on_namespaces needs to plumb a container's network. */
struct plumbing {
  const struct bothy_ctx *ctx;
  sqlite3 *db;
  const struct bothy_ctr_record *r;
};

static int plumb_namespaces(pid_t pid, const struct plumbing *p, bothy_error_t *err)
{
  return bothy_ctr_net_plumb_into(p->db, p->ctx->root, p->r->id, p->r->config, pid, ctr_running,
                                  (void *) p->ctx, err);
}

struct attached {
  const char *dir;
  struct status *st;
  bool notify;
  struct plumbing plumbing;
};

static int on_attached_namespaces(pid_t pid, void *userdata, bothy_error_t *err)
{
  return plumb_namespaces(pid, &((struct attached *) userdata)->plumbing, err);
}

static void on_attached_start(pid_t pid, void *userdata)
{
  struct attached *a = userdata;
  a->st->pid = pid;
  a->st->pid_start = bothy_proc_start_time(pid);
  status_save(a->dir, a->st, false, NULL);
  if (a->notify) {
    _cleanup_free_ char *msg = xasprintf("READY=1\nMAINPID=%d", (int) getpid());
    bothy_sd_notify(msg, NULL);
  }
}

static int run_attached(const struct bothy_ctx *ctx, struct loaded *l, bool notify, int *ret_exit,
                        bothy_error_t *err)
{
  const struct bothy_ctr_record *r = l->rec;
  if (mount_rootfs(l->dir, r, err) < 0)
    return -1;
  /* Its published ports are held by this process while it runs. */
  _cleanup_free_ int *hold = NULL;
  size_t n_hold = 0;
  if (bothy_ctr_net_hold(bothy_inventory_db(l->inv), r->id, &hold, &n_hold, err) < 0 ||
      bothy_ctr_net_up(bothy_inventory_db(l->inv), ctx->root, r->id, r->name,
                       json_string_value(json_object_get(r->config, "hostname")), r->config,
                       ctr_running, (void *) ctx, err) < 0) {
    for (size_t i = 0; i < n_hold; i++)
      close(hold[i]);
    unmount_rootfs(l->dir);
    return -1;
  }
  _cleanup_free_ char *rt_root = bothy_ctr_runtime_root(ctx);
  struct bothy_runtime rt = { .root = rt_root };
  {
    _cleanup_free_ char *sp = xasprintf("%s/%s", rt_root, r->id);
    if (bothy_path_exists(sp))
      bothy_container_delete(&rt, r->id, true, NULL);
  }
  struct status *s = &l->st;
  status_done(s);
  s->doc = json_object();
  s->status = xstrdup("running");
  s->monitor_pid = getpid();
  s->monitor_start = bothy_proc_start_time(getpid());
  s->started_at = bothy_time_now_rfc3339();
  s->finished_at = xstrdup("");
  s->error = xstrdup("");
  s->foreground = true;
  bool remove = cfg_bool(r, "rm");
  if (!remove && status_save(l->dir, s, false, err) < 0)
    return -1;
  struct attached a = {
    .dir = l->dir,
    .st = s,
    .notify = notify,
    .plumbing = { .ctx = ctx, .db = bothy_inventory_db(l->inv), .r = r },
  };
  struct bothy_create_opts co = {
    .id = r->id,
    .bundle = l->dir,
    .on_start = remove && !notify ? NULL : on_attached_start,
    .on_namespaces = on_attached_namespaces,
    .userdata = &a,
  };
  int code = 0;
  int ret = bothy_container_run(&rt, &co, &code, err);
  free(s->status);
  s->status = xstrdup("exited");
  free(s->finished_at);
  s->finished_at = bothy_time_now_rfc3339();
  s->exit_code = ret < 0 ? 127 : code;
  s->pid = 0;
  if (ret < 0) {
    free(s->error);
    s->error = xstrdup(err && *err ? (*err)->msg : "start failed");
  }
  for (size_t i = 0; i < n_hold; i++)
    close(hold[i]);
  if (remove) {
    bothy_error_t e2 = NULL;
    destroy(ctx, l->inv, r, true, &e2);
    bothy_error_free(&e2);
  } else {
    release_runtime(ctx, l->inv, r, l->dir);
    status_save(l->dir, s, true, NULL);
  }
  if (ret < 0)
    return -1;
  *ret_exit = code;
  return 0;
}

int bothy_ctr_run_attached(const struct bothy_ctx *ctx, const char *ref, bool notify, int *ret_exit,
                           bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  int ret = -1;
  _cleanup_close_ int lock = lock_dir(l.dir, true, err);
  if (lock < 0)
    goto out;
  if (streq(l.state, "running") || streq(l.state, "restarting")) {
    ret = bothy_error_set(err, EBUSY, "container %s is already running", ref);
    goto out;
  }
  if (l.rec->user_stopped)
    bothy_inventory_ctr_set_user_stopped(l.inv, l.rec->id, false, NULL);
  /* Not held while it runs: stop and kill must get in. */
  safe_close(TAKE_FD(lock));
  ret = run_attached(ctx, &l, notify, ret_exit, err);
out:
  loaded_done(&l);
  return ret;
}

int bothy_ctr_run(const struct bothy_ctx *ctx, const struct bothy_ctr_create_req *req, bool detach,
                  char **ret_id, int *ret_exit, bothy_error_t *err)
{
  _cleanup_free_ char *id = NULL;
  if (do_create(ctx, req, !detach, &id, err) < 0)
    return -1;
  int ret;
  if (detach) {
    ret = bothy_ctr_start(ctx, id, err);
    if (ret < 0 && req->remove) {
      /* docker keeps a container whose start failed, but not with --rm.
       * The monitor's cleanup removes it too; whoever comes second finds
       * nothing to do. */
      bothy_ctr_remove(ctx, id, true, true, NULL);
    }
  } else {
    ret = bothy_ctr_run_attached(ctx, id, false, ret_exit, err);
  }
  if (ret_id)
    *ret_id = TAKE_PTR(id);
  return ret;
}

/* ---- stop, kill, remove, wait ------------------------------------------- */

static bool running_state(const char *st)
{
  return streq(st, "running") || streq(st, "restarting") || streq(st, "starting") ||
         streq(st, "stopping");
}

static bool monitor_alive(const struct status *s)
{
  return !s->foreground && proc_alive(s->monitor_pid, s->monitor_start);
}

/* Stops the container of l (whoever watches it); waits until it is gone. */
static int stop_loaded(const struct bothy_ctx *ctx, struct loaded *l, int timeout,
                       bothy_error_t *err)
{
  int stop_timeout = (int) cfg_int(l->rec, "stop_timeout", 10);
  if (timeout < 0)
    timeout = stop_timeout;
  struct status *s = &l->st;
  if (monitor_alive(s)) {
    union sigval v = { .sival_int = timeout };
    if (sigqueue(s->monitor_pid, SIGUSR1, v) < 0 && errno != ESRCH)
      return bothy_error_errno(err, "cannot signal the monitor of container %.12s", l->rec->id);
    /* The monitor signals, waits, kills, cleans up and exits. */
    if (!wait_gone(s->monitor_pid, s->monitor_start, (long) timeout * 1000 + 30000))
      return bothy_error_set(err, ETIMEDOUT, "container %.12s did not stop", l->rec->id);
  } else if (proc_alive(s->pid, s->pid_start)) {
    int sig = (int) cfg_int(l->rec, "stop_signal", SIGTERM);
    kill(s->pid, sig);
    if (!wait_gone(s->pid, s->pid_start, (long) timeout * 1000)) {
      kill(s->pid, SIGKILL);
      if (!wait_gone(s->pid, s->pid_start, 10000))
        return bothy_error_set(err, ETIMEDOUT, "container %.12s did not die after SIGKILL",
                               l->rec->id);
    }
    /* Its watcher (an attached bothy) records the exit; without one,
     * repair here. */
    if (proc_alive(s->monitor_pid, s->monitor_start))
      wait_gone(s->monitor_pid, s->monitor_start, 10000);
  }
  status_done(s);
  status_load(l->dir, s);
  bool stale;
  l->state = status_effective(s, &stale);
  if (stale)
    repair(ctx, l);
  return 0;
}

int bothy_ctr_stop(const struct bothy_ctx *ctx, const char *ref, int timeout, bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  int ret = bothy_inventory_ctr_set_user_stopped(l.inv, l.rec->id, true, err);
  if (ret >= 0)
    ret = stop_loaded(ctx, &l, timeout, err);
  loaded_done(&l);
  return ret;
}

int bothy_ctr_kill(const struct bothy_ctx *ctx, const char *ref, int sig, bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  int ret = 0;
  struct status *s = &l.st;
  if (!running_state(l.state) || !proc_alive(s->pid, s->pid_start)) {
    ret = bothy_error_set(err, EINVAL, "cannot kill container %s: container %.12s is not running",
                          ref, l.rec->id);
  } else if (monitor_alive(s)) {
    union sigval v = { .sival_int = sig };
    if (sigqueue(s->monitor_pid, SIGUSR2, v) < 0)
      ret = bothy_error_errno(err, "cannot signal the monitor of container %.12s", l.rec->id);
  } else if (kill(s->pid, sig) < 0) {
    ret = bothy_error_errno(err, "cannot kill container %.12s", l.rec->id);
  }
  if (ret >= 0)
    bothy_inventory_ctr_set_user_stopped(l.inv, l.rec->id, true, NULL);
  loaded_done(&l);
  return ret;
}

int bothy_ctr_remove(const struct bothy_ctx *ctx, const char *ref, bool force, bool volumes,
                     bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  int ret = -1;
  _cleanup_close_ int lock = lock_dir(l.dir, true, err);
  if (lock < 0 && !abandoned(l.rec))
    goto out;
  if (running_state(l.state)) {
    if (!force) {
      ret = bothy_error_set(err, EBUSY,
                            "cannot remove container \"%s\": container is running: stop the "
                            "container before removing or force remove",
                            l.rec->name);
      goto out;
    }
    if (stop_loaded(ctx, &l, 0, err) < 0)
      goto out;
  }
  if (bothy_inventory_ctr_set_state(l.inv, l.rec->id, "removing", getpid(),
                                    bothy_proc_start_time(getpid()), err) < 0) {
    if (bothy_error_ret(err) == -ENOENT) {
      /* Its monitor removed it (--rm) meanwhile. */
      bothy_error_free(err);
      ret = 0;
    }
    goto out;
  }
  ret = destroy(ctx, l.inv, l.rec, volumes || cfg_bool(l.rec, "rm"), err);
out:
  loaded_done(&l);
  return ret;
}

int bothy_ctr_wait(const struct bothy_ctx *ctx, const char *ref, int *ret_exit, bothy_error_t *err)
{
  _cleanup_free_ char *id = NULL;
  _cleanup_free_ char *dir = NULL;
  if (bothy_ctr_resolve(ctx, ref, &id, &dir, err) < 0)
    return -1;
  for (long ms = 10;; ms = ms < 200 ? ms * 2 : 200) {
    struct status s;
    status_load(dir, &s);
    bool stale;
    const char *st = status_effective(&s, &stale);
    bool done = !running_state(st) || streq(st, "restarting");
    if (done && !stale && !*s.status && !bothy_path_exists(dir)) {
      status_done(&s);
      return bothy_error_set(err, ENOENT, "no such container: %s", ref);
    }
    if (done) {
      if (stale) {
        struct loaded l;
        if (load(ctx, id, &l, NULL) == 0) {
          *ret_exit = l.st.exit_code;
          loaded_done(&l);
          status_done(&s);
          return 0;
        }
      }
      *ret_exit = s.exit_code;
      status_done(&s);
      return 0;
    }
    /* The fast path: wait on the process itself. */
    pid_t watch = s.pid;
    unsigned long long watch_start = s.pid_start;
    status_done(&s);
    if (proc_alive(watch, watch_start))
      wait_gone(watch, watch_start, 1000);
    else
      sleep_ms(ms);
    if (!bothy_path_exists(dir)) {
      /* Removed after it ended (--rm): its last status went with it. */
      *ret_exit = 0;
      return 0;
    }
  }
}

/* ---- inspect and list ---------------------------------------------------- */

int bothy_ctr_resolve(const struct bothy_ctx *ctx, const char *ref, char **ret_id, char **ret_dir,
                      bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0 ||
      bothy_inventory_ctr_get(inv, ref, &r, err) < 0)
    return -1;
  if (ret_dir)
    *ret_dir = ctr_dir(ctx, r->id);
  if (ret_id)
    *ret_id = xstrdup(r->id);
  return 0;
}

int bothy_ctr_pid(const struct bothy_ctx *ctx, const char *ref, pid_t *ret, bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  int r = 0;
  if (!running_state(l.state) || !proc_alive(l.st.pid, l.st.pid_start))
    r = bothy_error_set(err, ESRCH, "container %s is not running", ref);
  else
    *ret = l.st.pid;
  loaded_done(&l);
  return r;
}

static json_t *inspect_doc(const struct bothy_ctx *ctx, const struct bothy_ctr_record *r,
                           const char *dir, const struct status *s, const char *state)
{
  json_t *proc = json_object_get(r->config, "process");
  json_t *args = json_object_get(proc, "args");
  bool running = running_state(state) && proc_alive(s->pid, s->pid_start);
  json_t *health = s->health ? json_deep_copy(s->health) : NULL;
  json_t *hc = json_object_get(r->config, "health");
  json_t *st = json_pack(
      "{s:s, s:b, s:b, s:b, s:b, s:b, s:I, s:I, s:s, s:s, s:s}", "Status", state, "Running",
      running, "Paused", false, "Restarting", streq(state, "restarting"), "OOMKilled", false,
      "Dead", false, "Pid", (json_int_t) (running ? s->pid : 0), "ExitCode",
      (json_int_t) s->exit_code, "Error", s->error ? s->error : "", "StartedAt",
      s->started_at && *s->started_at ? s->started_at : "0001-01-01T00:00:00Z", "FinishedAt",
      s->finished_at && *s->finished_at ? s->finished_at : "0001-01-01T00:00:00Z");
  if (json_is_object(hc) && health) {
    /* docker's names for the monitor's record. */
    json_t *log = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(health, "log"), i, e) {
      json_array_append_new(
          log, json_pack("{s:O, s:O, s:O, s:O}", "Start", json_object_get(e, "start"), "End",
                         json_object_get(e, "end"), "ExitCode", json_object_get(e, "exit_code"),
                         "Output", json_object_get(e, "output")));
    }
    json_t *h = json_pack("{s:O, s:O, s:o}", "Status", json_object_get(health, "status"),
                          "FailingStreak", json_object_get(health, "failing_streak"), "Log", log);
    json_object_set_new(st, "Health", h);
  }
  json_decref(health);
  const char *name = r->name;
  _cleanup_free_ char *slash_name = xasprintf("/%s", name);
  _cleanup_free_ char *logpath = xasprintf("%s/" MONITOR_LOG_FILE, dir);
  json_t *rest_args = json_array();
  for (size_t i = 1; i < json_array_size(args); i++)
    json_array_append(rest_args, json_array_get(args, i));
  json_t *cfgd = json_pack(
      "{s:O, s:O, s:O, s:s, s:O, s:O, s:b, s:b, s:I, s:I}", "Hostname",
      json_object_get(r->config, "hostname") ? json_object_get(r->config, "hostname")
                                             : json_string(""),
      "Env", json_object_get(proc, "env") ? json_object_get(proc, "env") : json_array(), "Cmd",
      args ? args : json_array(), "Image", r->image, "WorkingDir",
      json_object_get(proc, "cwd") ? json_object_get(proc, "cwd") : json_string("/"), "Labels",
      json_object_get(r->config, "labels") ? json_object_get(r->config, "labels") : json_object(),
      "Tty", cfg_bool(r, "tty"), "OpenStdin", cfg_bool(r, "interactive"), "StopSignal",
      (json_int_t) cfg_int(r, "stop_signal", SIGTERM), "StopTimeout",
      (json_int_t) cfg_int(r, "stop_timeout", 10));
  if (json_is_object(hc))
    json_object_set(cfgd, "Healthcheck", hc);
  json_t *user = json_object_get(proc, "user");
  _cleanup_free_ char *ustr =
      xasprintf("%lld:%lld", (long long) jint(user, "uid"), (long long) jint(user, "gid"));
  json_object_set_new(cfgd, "User", json_string(ustr));
  json_t *host = json_pack(
      "{s:{s:s, s:I}, s:b, s:I, s:I, s:I, s:b, s:s, s:b}", "RestartPolicy", "Name",
      cfg_str(r, "restart", "no"), "MaximumRetryCount", (json_int_t) cfg_int(r, "max_retries", 0),
      "AutoRemove", cfg_bool(r, "rm"), "Memory", (json_int_t) cfg_int(r, "memory", 0), "NanoCpus",
      (json_int_t) cfg_int(r, "nano_cpus", 0), "PidsLimit",
      (json_int_t) cfg_int(r, "pids_limit", 0), "ReadonlyRootfs", cfg_bool(r, "read_only"),
      "NetworkMode", cfg_str(r, "network", "none"), "Init", cfg_bool(r, "init"));
  json_t *doc = json_pack(
      "{s:s, s:s, s:O, s:o, s:o, s:s, s:s, s:I, s:o, s:o, s:O, s:s, s:I}", "Id", r->id, "Created",
      r->created, "Path", json_array_size(args) ? json_array_get(args, 0) : json_string(""), "Args",
      rest_args, "State", st, "Image", r->image_id ? r->image_id : "", "Name", slash_name,
      "RestartCount", (json_int_t) s->restart_count, "HostConfig", host, "Config", cfgd, "Mounts",
      json_object_get(r->config, "mounts") ? json_object_get(r->config, "mounts") : json_array(),
      "LogPath", logpath, "MonitorPid",
      (json_int_t) (proc_alive(s->monitor_pid, s->monitor_start) ? s->monitor_pid : 0));
  /* docker's NetworkSettings: addresses by network, published ports. */
  json_t *nets = json_object();
  json_t *ports = json_object();
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (bothy_inventory_open(ctx->root, &inv, NULL) == 0) {
    sqlite3 *db = bothy_inventory_db(inv);
    struct bothy_endpoint **eps = NULL;
    size_t ne = 0;
    if (bothy_endpoints_of_container(db, r->id, &eps, &ne, NULL) == 0) {
      for (size_t i = 0; i < ne; i++) {
        json_t *al = json_array();
        for (size_t k = 0; eps[i]->aliases && eps[i]->aliases[k]; k++)
          json_array_append_new(al, json_string(eps[i]->aliases[k]));
        json_object_set_new(nets, eps[i]->network,
                            json_pack("{s:s, s:s, s:o}", "IPAddress", eps[i]->ip, "MacAddress",
                                      eps[i]->mac, "Aliases", al));
      }
      bothy_endpoints_free(eps, ne);
    }
    struct bothy_port_spec *ps = NULL;
    size_t np = 0;
    if (bothy_ports_of_container(db, r->id, &ps, &np, NULL) == 0) {
      for (size_t i = 0; i < np; i++) {
        _cleanup_free_ char *key = xasprintf("%u/%s", (unsigned) ps[i].ctr_port, ps[i].proto);
        _cleanup_free_ char *hp = xasprintf("%u", (unsigned) ps[i].host_port);
        json_t *arr = json_object_get(ports, key);
        if (!arr) {
          arr = json_array();
          json_object_set_new(ports, key, arr);
        }
        json_array_append_new(arr,
                              json_pack("{s:s, s:s}", "HostIp", ps[i].host_ip, "HostPort", hp));
      }
      bothy_port_specs_free(ps, np);
    }
  }
  json_object_set_new(doc, "NetworkSettings",
                      json_pack("{s:o, s:o}", "Networks", nets, "Ports", ports));
  return doc;
}

int bothy_ctr_inspect(const struct bothy_ctx *ctx, const char *ref, json_t **ret,
                      bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  *ret = inspect_doc(ctx, l.rec, l.dir, &l.st, abandoned(l.rec) ? "removing" : l.state);
  loaded_done(&l);
  return 0;
}

static char *ago(const char *rfc3339, int64_t now)
{
  int64_t t = 0;
  if (!rfc3339 || bothy_time_parse_rfc3339(rfc3339, &t) < 0)
    return xstrdup("");
  int64_t s = (now - t) / 1000000000LL;
  if (s < 1)
    return xstrdup("Less than a second");
  if (s < 60)
    return xasprintf("%lld second%s", (long long) s, s == 1 ? "" : "s");
  if (s < 3600)
    return xasprintf("%lld minute%s", (long long) (s / 60), s / 60 == 1 ? "" : "s");
  if (s < 86400 * 2)
    return xasprintf("%lld hour%s", (long long) (s / 3600), s / 3600 == 1 ? "" : "s");
  return xasprintf("%lld days", (long long) (s / 86400));
}

int bothy_ctr_list(const struct bothy_ctx *ctx, bool all, json_t **ret, bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  struct bothy_ctr_record **recs = NULL;
  size_t n = 0;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0 ||
      bothy_inventory_ctr_list(inv, &recs, &n, err) < 0)
    return -1;
  json_t *arr = json_array();
  int64_t now = now_ns();
  for (size_t i = 0; i < n; i++) {
    struct bothy_ctr_record *r = recs[i];
    if (abandoned(r)) {
      /* A bothy killed while creating or removing it: finish the job. */
      _cleanup_free_ char *dir = ctr_dir(ctx, r->id);
      int fd = lock_dir(dir, false, NULL);
      if (fd >= 0 || errno == ENOENT || !bothy_path_exists(dir)) {
        if (bothy_inventory_ctr_set_state(inv, r->id, "removing", getpid(),
                                          bothy_proc_start_time(getpid()), NULL) == 0)
          destroy(ctx, inv, r, true, NULL);
      }
      safe_close(fd);
      continue;
    }
    struct loaded l = { .inv = NULL, .rec = r, .dir = ctr_dir(ctx, r->id) };
    status_load(l.dir, &l.st);
    bool stale;
    l.state = status_effective(&l.st, &stale);
    if (stale) {
      int fd = lock_dir(l.dir, false, NULL);
      if (fd >= 0) {
        repair(ctx, &l);
        close(fd);
      }
    }
    if (!streq(r->state, "created"))
      l.state = "created";
    if (all || running_state(l.state)) {
      json_t *doc = inspect_doc(ctx, r, l.dir, &l.st, l.state);
      _cleanup_free_ char *human = NULL;
      if (streq(l.state, "running")) {
        _cleanup_free_ char *a = ago(l.st.started_at, now);
        json_t *h = json_object_get(json_object_get(doc, "State"), "Health");
        const char *hs = json_string_value(json_object_get(h, "Status"));
        human = hs && !streq(hs, "none")
                    ? xasprintf("Up %s (%s)", a, streq(hs, "starting") ? "health: starting" : hs)
                    : xasprintf("Up %s", a);
      } else if (streq(l.state, "exited")) {
        _cleanup_free_ char *a = ago(l.st.finished_at, now);
        human = xasprintf("Exited (%d) %s ago", l.st.exit_code, a);
      } else if (streq(l.state, "restarting")) {
        _cleanup_free_ char *a = ago(l.st.finished_at, now);
        human = xasprintf("Restarting (%d) %s ago", l.st.exit_code, a);
      } else {
        human = xstrdup(streq(l.state, "created") ? "Created" : l.state);
      }
      json_object_set_new(doc, "StatusText", json_string(human));
      json_array_append_new(arr, doc);
    }
    status_done(&l.st);
    free(l.dir);
  }
  bothy_ctr_records_free(recs, n);
  *ret = arr;
  return 0;
}

/* ---- boot ---------------------------------------------------------------- */

int bothy_ctr_boot(const struct bothy_ctx *ctx, size_t *ret_started, char ***ret_errors,
                   bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  struct bothy_ctr_record **recs = NULL;
  size_t n = 0;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0 ||
      bothy_inventory_ctr_list(inv, &recs, &n, err) < 0)
    return -1;
  size_t started = 0;
  char **errors = NULL;
  /* Oldest first: the order they were made in. */
  for (size_t k = n; k > 0; k--) {
    struct bothy_ctr_record *r = recs[k - 1];
    if (!streq(r->state, "created"))
      continue;
    _cleanup_free_ char *dir = ctr_dir(ctx, r->id);
    struct status s;
    status_load(dir, &s);
    bool stale;
    const char *state = status_effective(&s, &stale);
    /* Was it running when the machine went down? */
    bool was_running = stale || (streq(state, "exited") && !s.manual_stop && *s.status &&
                                 !streq(s.status, "exited"));
    bool runs = running_state(state) && !stale;
    status_done(&s); /* state points into s */
    if (runs)
      continue;
    const char *policy = cfg_str(r, "restart", "no");
    bool want = streq(policy, "always") || (streq(policy, "unless-stopped") && !r->user_stopped) ||
                (streq(policy, "on-failure") && was_running && !r->user_stopped);
    if (!want)
      continue;
    bothy_error_t e = NULL;
    if (bothy_ctr_start(ctx, r->id, &e) < 0) {
      strv_push(&errors, xasprintf("%s: %s", r->name, e ? e->msg : "start failed"));
      bothy_error_free(&e);
    } else {
      started++;
    }
  }
  bothy_ctr_records_free(recs, n);
  *ret_started = started;
  *ret_errors = errors;
  return 0;
}

/* ---- the monitor's helpers ---------------------------------------------- */

struct pid_capture {
  pid_t pid;
  struct plumbing plumbing;
};

static int on_helper_namespaces(pid_t pid, void *userdata, bothy_error_t *err)
{
  return plumb_namespaces(pid, &((struct pid_capture *) userdata)->plumbing, err);
}

static void capture_pid(pid_t pid, void *userdata)
{
  ((struct pid_capture *) userdata)->pid = pid;
}

int bothy_ctr_helper_start(const struct bothy_ctx *ctx, const char *id, const char *console_socket,
                           pid_t *ret_pid, bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0 ||
      bothy_inventory_ctr_get(inv, id, &r, err) < 0)
    return -1;
  _cleanup_free_ char *dir = ctr_dir(ctx, r->id);
  if (mount_rootfs(dir, r, err) < 0)
    return -1;
  if (bothy_ctr_net_up(bothy_inventory_db(inv), ctx->root, r->id, r->name,
                       json_string_value(json_object_get(r->config, "hostname")), r->config,
                       ctr_running, (void *) ctx, err) < 0)
    return -1;
  _cleanup_free_ char *rt_root = bothy_ctr_runtime_root(ctx);
  struct bothy_runtime rt = { .root = rt_root };
  _cleanup_free_ char *sp = xasprintf("%s/%s", rt_root, r->id);
  if (bothy_path_exists(sp))
    bothy_container_delete(&rt, r->id, true, NULL);
  struct pid_capture pc = {
    .plumbing = { .ctx = ctx, .db = bothy_inventory_db(inv), .r = r },
  };
  struct bothy_create_opts co = {
    .id = r->id,
    .bundle = dir,
    .console_socket = console_socket,
    .detach = true,
    .on_start = capture_pid,
    .on_namespaces = on_helper_namespaces,
    .userdata = &pc,
  };
  int code;
  if (bothy_container_run(&rt, &co, &code, err) < 0)
    return -1;
  *ret_pid = pc.pid;
  return 0;
}

int bothy_ctr_helper_cleanup(const struct bothy_ctx *ctx, const char *id, bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0)
    return -1;
  if (bothy_inventory_ctr_get(inv, id, &r, err) < 0) {
    if (bothy_error_ret(err) != -ENOENT)
      return -1;
    bothy_error_free(err);
    return 0; /* removed already */
  }
  _cleanup_free_ char *dir = ctr_dir(ctx, r->id);
  if (cfg_bool(r, "rm"))
    return destroy(ctx, inv, r, true, err);
  release_runtime(ctx, inv, r, dir);
  return 0;
}

int bothy_ctr_helper_health(const struct bothy_ctx *ctx, const char *id, int out_fd, int *ret_exit,
                            bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
  if (bothy_inventory_open(ctx->root, &inv, err) < 0 ||
      bothy_inventory_ctr_get(inv, id, &r, err) < 0)
    return -1;
  json_t *h = json_object_get(r->config, "health");
  json_t *test = json_object_get(h, "test");
  if (!json_is_array(test) || json_array_size(test) < 2)
    return bothy_error_set(err, EINVAL, "container %.12s has no health check", r->id);
  _cleanup_strv_free_ char **args = NULL;
  const char *kind = json_string_value(json_array_get(test, 0));
  if (kind && streq(kind, "CMD-SHELL")) {
    strv_push(&args, xstrdup("/bin/sh"));
    strv_push(&args, xstrdup("-c"));
    strv_push(&args, xstrdup(json_string_value(json_array_get(test, 1))));
  } else {
    for (size_t i = 1; i < json_array_size(test); i++)
      strv_push(&args, xstrdup(json_string_value(json_array_get(test, i))));
  }
  long timeout_ms = (long) (jint(h, "timeout_ns") / 1000000);
  if (timeout_ms <= 0)
    timeout_ms = 30000;
  _cleanup_free_ char *rt_root = bothy_ctr_runtime_root(ctx);
  _cleanup_free_ char *pidfile = xasprintf("%s/containers/%s/health.pid", ctx->root, r->id);
  unlink(pidfile);
  pid_t child = fork();
  if (child < 0)
    return bothy_error_errno(err, "fork");
  if (child == 0) {
    int out = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (out >= 0 && out != STDOUT_FILENO)
      dup2(out, STDOUT_FILENO);
    if (out >= 0 && out != STDERR_FILENO)
      dup2(out, STDERR_FILENO);
    struct bothy_runtime rt = { .root = rt_root };
    struct bothy_exec_opts eo = { .id = r->id, .args = args, .pid_file = pidfile };
    int code = 0;
    bothy_error_t e = NULL;
    if (bothy_container_exec(&rt, &eo, &code, &e) < 0) {
      dprintf(STDOUT_FILENO, "%s\n", e ? e->msg : "exec failed");
      _exit(125);
    }
    _exit(code);
  }
  for (long waited = 0;; waited += 20) {
    int st = bothy_waitpid(child, WNOHANG);
    if (st >= 0) {
      int code = bothy_exit_code(st);
      *ret_exit = code == 125 ? 125 : code == 0 ? 0 : 1;
      return 0;
    }
    if (waited >= timeout_ms) {
      /* The check's process inside the container, then our exec. */
      _cleanup_free_ char *p = NULL;
      if (bothy_read_file(AT_FDCWD, pidfile, &p, NULL, NULL) == 0) {
        long pid = strtol(p, NULL, 10);
        if (pid > 1)
          kill((pid_t) pid, SIGKILL);
      }
      kill(child, SIGKILL);
      bothy_waitpid(child, 0);
      if (out_fd >= 0)
        dprintf(out_fd, "health check exceeded timeout (%ldms)\n", timeout_ms);
      *ret_exit = 1;
      return 0;
    }
    sleep_ms(20);
  }
}

/* ---- network connect / disconnect ---------------------------------------- */

int bothy_ctr_connect(const struct bothy_ctx *ctx, const char *ref, const char *network,
                      char *const *aliases, bool disconnect, bothy_error_t *err)
{
  struct loaded l;
  if (load(ctx, ref, &l, err) < 0)
    return -1;
  sqlite3 *db = bothy_inventory_db(l.inv);
  bool runs = ctr_running(l.rec->id, (void *) ctx);
  int r = disconnect
              ? bothy_ctr_net_disconnect(db, ctx->root, l.rec->id, network, ctr_running,
                                         (void *) ctx, err)
              : bothy_ctr_net_connect(db, ctx->root, l.rec->id, l.rec->config, network, aliases,
                                      runs, l.st.pid, ctr_running, (void *) ctx, err);
  loaded_done(&l);
  return r;
}
