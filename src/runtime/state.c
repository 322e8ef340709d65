/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"

/* Removed containers' directories wait under these names for the next
 * container, with their state.json as SPARE_FILE: taking over an inode costs
 * nothing, while allocating one on a busy ext4 costs up to a millisecond,
 * and freeing a directory's block a discard the remover waits for. '~' is
 * not allowed in an id; the leading dot hides them from `list`. */
#define SPARE_DIRS 4
#define SPARE_DIR  ".~spare.%d"
#define SPARE_FILE "~spare"

static const char *status_names[_BOTHY_STATUS_MAX] = {
  [BOTHY_STATUS_CREATING] = "creating", [BOTHY_STATUS_CREATED] = "created",
  [BOTHY_STATUS_RUNNING] = "running",   [BOTHY_STATUS_PAUSED] = "paused",
  [BOTHY_STATUS_STOPPED] = "stopped",
};

const char *bothy_status_name(enum bothy_status s)
{
  return (s >= 0 && s < _BOTHY_STATUS_MAX) ? status_names[s] : "unknown";
}

int bothy_id_validate(const char *id, bothy_error_t *err)
{
  if (!id || !*id)
    return bothy_error_set(err, 0, "container id cannot be empty");
  if (streq(id, ".") || streq(id, ".."))
    return bothy_error_set(err, 0, "invalid container id format: %s", id);
  for (const char *p = id; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '+' || c == '-' || c == '.'))
      return bothy_error_set(err, 0, "invalid container id format: %s", id);
  }
  if (strlen(id) > 1024)
    return bothy_error_set(err, 0, "invalid container id format: %s", id);
  return 0;
}

int bothy_state_root_open(const char *root, bool create, bothy_error_t *err)
{
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT || !create) {
    if (fd < 0)
      return bothy_error_errno(err, "cannot open the state directory '%s'", root);
    return fd;
  }
  if (bothy_mkdir_p(root, 0700, err) < 0)
    return -1;
  fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open the state directory '%s'", root);
  return fd;
}

int bothy_state_dir_create(int rootfd, const char *id, bothy_error_t *err)
{
  int r = -1;
  for (int k = 0; k < SPARE_DIRS && r < 0; k++) {
    char spare[32];
    snprintf(spare, sizeof(spare), SPARE_DIR, k);
    r = renameat2(rootfd, spare, rootfd, id, RENAME_NOREPLACE);
    if (r < 0 && errno != ENOENT)
      break; /* EEXIST: the id is taken; anything else: make a new one */
  }
  if (r < 0 && errno != EEXIST)
    r = mkdirat(rootfd, id, 0711);
  if (r < 0) {
    if (errno == EEXIST)
      return bothy_error_set(err, 0, "container with id '%s' already exists", id);
    return bothy_error_errno(err, "cannot create the state directory of '%s'", id);
  }
  int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open the state directory of '%s'", id);
  return fd;
}

int bothy_state_dir_open(int rootfd, const char *id, bothy_error_t *err)
{
  if (bothy_id_validate(id, err) < 0)
    return -1;
  int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return bothy_error_set(err, 0, "container does not exist");
    return bothy_error_errno(err, "cannot open the state of '%s'", id);
  }
  return fd;
}

int bothy_state_save(int dirfd, const struct bothy_state *st, bothy_error_t *err)
{
  _cleanup_json_ json_t *o = json_pack(
      "{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:b}", "id", st->id, "pid", (json_int_t) st->pid,
      "start_time", (json_int_t) st->start_time, "bundle", st->bundle ? st->bundle : "", "rootfs",
      st->rootfs ? st->rootfs : "", "created", st->created ? st->created : "", "owner",
      st->owner ? st->owner : "", "own_pidns", st->own_pidns);
  if (st->annotations)
    json_object_set(o, "annotations", st->annotations);
  if (st->cgroup)
    json_object_set(o, "cgroup", st->cgroup);
  if (st->config)
    json_object_set(o, "config", st->config);
  _cleanup_free_ char *s = bothy_json_dump(o, false);
  size_t len = strlen(s);
  /* Under /run: gone at reboot anyway, so atomic without fsync. A spare
   * file is rewritten in place (not truncated first: that would free its
   * block, another discard) and then renamed, atomically as a new one. */
  _cleanup_close_ int fd = openat(dirfd, SPARE_FILE, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    size_t off = 0;
    while (off < len) {
      ssize_t w = pwrite(fd, s + off, len - off, (off_t) off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break;
      off += (size_t) w;
    }
    if (off == len && ftruncate(fd, (off_t) len) == 0 && fchmod(fd, 0600) == 0 &&
        renameat(dirfd, SPARE_FILE, dirfd, "state.json") == 0)
      return 0;
    unlinkat(dirfd, SPARE_FILE, 0);
  }
  return bothy_write_file_replace(dirfd, "state.json", s, len, 0600, err);
}

int bothy_state_load(int dirfd, struct bothy_state **ret, bothy_error_t *err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (bothy_read_file(dirfd, "state.json", &data, &len, err) < 0) {
    if ((*err)->code == ENOENT) {
      /* The directory exists but create has not written the state yet. */
      bothy_error_free(err);
      return bothy_error_set(err, ENOENT, "container is being created");
    }
    return -1;
  }
  _cleanup_json_ json_t *o = NULL;
  if (bothy_json_load_data(data, len, "state.json", &o, err) < 0)
    return -1;
  struct bothy_state *st = xmalloc0(sizeof(*st));
  json_int_t pid = 0, start = 0;
  int own = 0;
  const char *id = NULL, *bundle = NULL, *rootfs = NULL, *created = NULL, *owner = NULL;
  if (json_unpack(o, "{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s?b}", "id", &id, "pid", &pid,
                  "start_time", &start, "bundle", &bundle, "rootfs", &rootfs, "created", &created,
                  "owner", &owner, "own_pidns", &own) < 0) {
    free(st);
    return bothy_error_set(err, 0, "state.json is malformed");
  }
  st->id = xstrdup(id);
  st->pid = (pid_t) pid;
  st->start_time = (unsigned long long) start;
  st->bundle = xstrdup(bundle);
  st->rootfs = xstrdup(rootfs);
  st->created = xstrdup(created);
  st->owner = xstrdup(owner);
  st->own_pidns = own;
  st->annotations = json_incref(json_object_get(o, "annotations"));
  st->cgroup = json_incref(json_object_get(o, "cgroup"));
  st->config = json_incref(json_object_get(o, "config"));
  *ret = st;
  return 0;
}

void bothy_state_free(struct bothy_state *st)
{
  if (!st)
    return;
  free(st->id);
  free(st->bundle);
  free(st->rootfs);
  free(st->created);
  free(st->owner);
  json_decref(st->annotations);
  json_decref(st->cgroup);
  json_decref(st->config);
  free(st);
}

unsigned long long bothy_proc_start_time(pid_t pid)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
  _cleanup_free_ char *data = NULL;
  if (pid <= 0 || bothy_read_file(AT_FDCWD, path, &data, NULL, NULL) < 0)
    return 0;
  /* The command name may hold spaces and parentheses: parse after the last ')'. */
  char *p = strrchr(data, ')');
  if (!p || p[1] != ' ')
    return 0;
  p += 2;
  char state = *p;
  if (state == 'Z' || state == 'X')
    return 0;
  /* p is at field 3; the start time is field 22. */
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p)
      p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

enum bothy_status bothy_state_status(int dirfd, const struct bothy_state *st)
{
  if (st->pid <= 0)
    return BOTHY_STATUS_STOPPED;
  unsigned long long t = bothy_proc_start_time(st->pid);
  if (t == 0 || t != st->start_time)
    return BOTHY_STATUS_STOPPED;
  if (faccessat(dirfd, "exec.fifo", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    return BOTHY_STATUS_CREATED;
  return BOTHY_STATUS_RUNNING;
}

json_t *bothy_state_to_json(const struct bothy_state *st, enum bothy_status status)
{
  json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "ociVersion", "1.2.0", "id",
                        st->id, "pid", (json_int_t) (status == BOTHY_STATUS_STOPPED ? 0 : st->pid),
                        "status", bothy_status_name(status), "bundle", st->bundle, "rootfs",
                        st->rootfs, "created", st->created, "owner", st->owner ? st->owner : "");
  if (st->annotations && json_object_size(st->annotations))
    json_object_set(o, "annotations", st->annotations);
  return o;
}

int bothy_state_dir_remove(int rootfd, const char *id, bool reuse, bothy_error_t *err)
{
  if (!reuse)
    return bothy_rm_rf_at(rootfd, id, err);
  /* Emptied, and kept for the next container if there is room (see
   * SPARE_DIR); its state.json stays as the spare file. Removing it is
   * the fallback for anything unusual. */
  _cleanup_close_ int dfd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_rm_rf_at(rootfd, id, err);
  }
  bool clean = renameat(dfd, "state.json", dfd, SPARE_FILE) == 0 || errno == ENOENT;
  {
    int d2 = dup(dfd);
    _cleanup_closedir_ DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
    if (!d) {
      safe_close(d2);
      clean = false;
    }
    struct dirent *de;
    while (clean && (de = readdir(d))) {
      if (streq(de->d_name, ".") || streq(de->d_name, "..") || streq(de->d_name, SPARE_FILE))
        continue;
      if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN)
        clean = false; /* ours has none: leave the odd one to rm -rf */
      else if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT)
        clean = false;
    }
  }
  for (int k = 0; clean && k < SPARE_DIRS; k++) {
    char spare[32];
    snprintf(spare, sizeof(spare), SPARE_DIR, k);
    if (renameat2(rootfd, id, rootfd, spare, RENAME_NOREPLACE) == 0)
      return 0;
    if (errno != EEXIST)
      break;
  }
  return bothy_rm_rf_at(rootfd, id, err);
}

char *bothy_time_now_rfc3339(void)
{
  struct timespec ts;
  struct tm tm;
  char buf[64];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
  return xstrdup(buf);
}
