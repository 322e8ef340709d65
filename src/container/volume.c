/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/db.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/state.h"

#define TMP_PREFIX ".tmp-"

char *bothy_volume_path(const char *root, const char *name)
{
  return xasprintf("%s/volumes/%s/_data", root, name);
}

void bothy_volume_free(struct bothy_volume *v)
{
  if (!v)
    return;
  free(v->name);
  free(v->created);
  free(v->mountpoint);
  json_decref(v->labels);
  strv_free(v->users);
  free(v);
}

void bothy_volumes_free(struct bothy_volume **v, size_t n)
{
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    bothy_volume_free(v[i]);
  free(v);
}

/* docker's [a-zA-Z0-9][a-zA-Z0-9_.-]+; the name is a directory name too,
 * hence the length limit. No valid name starts with '.', so none can be
 * taken for a .tmp-* directory. */
static bool volume_name_valid(const char *name)
{
  size_t n = strlen(name);
  if (n < 2 || n > 255)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
      return false;
  }
  return true;
}

/* ".tmp-PID-START-RANDOM": the process that owns it, so that a cleaner can
 * tell a crash's leftover from a directory being filled right now. */
static char *tmp_name(void)
{
  /* Cached per pid: a forked child has its own start time. */
  static pid_t self;
  static unsigned long long self_start;
  pid_t pid = getpid();
  if (self != pid) {
    self_start = bothy_proc_start_time(pid);
    self = pid;
  }
  _cleanup_free_ char *rnd = bothy_random_hex(8);
  return xasprintf(TMP_PREFIX "%d-%llu-%s", (int) pid, self_start, rnd);
}

/* A .tmp-* directory whose process is gone. One that does not parse was not
 * made by this code: stale too. */
static bool tmp_is_stale(const char *name)
{
  if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
    return false;
  int pid = 0;
  unsigned long long start = 0;
  if (sscanf(name + strlen(TMP_PREFIX), "%d-%llu-", &pid, &start) != 2 || pid <= 0 || start == 0)
    return true;
  return bothy_proc_start_time(pid) != start;
}

/* Names in the directory (without . and ..), or NULL when it is empty. */
static char **list_dir(int dfd)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return NULL;
  }
  char **names = NULL;
  struct dirent *de;
  while ((de = readdir(d)))
    if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
      strv_push(&names, xstrdup(de->d_name));
  return names;
}

/* Removes what crashed creates and removes left. Best effort: what cannot
 * be removed now is tried again next time. */
static void remove_stale(int dfd)
{
  _cleanup_strv_free_ char **names = list_dir(dfd);
  for (size_t i = 0; names && names[i]; i++)
    if (tmp_is_stale(names[i]))
      bothy_rm_rf_at(dfd, names[i], NULL);
}

/* ROOT/volumes, created if missing, as an fd. */
static int open_volumes_dir(const char *root, bothy_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/volumes", root);
  if (bothy_mkdir_p(path, 0700, err) < 0)
    return -1;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", path);
  return fd;
}

static int record_exists(sqlite3 *db, const char *name, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT 1 FROM volumes WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  return bothy_db_error(db, err, "reading the volumes");
}

/* Moves dfd/name aside to a new .tmp-* name (*ret_tmp, caller frees).
 * Returns 1 when moved, 0 when there was nothing, negative on failure. */
static int move_aside(int dfd, const char *name, char **ret_tmp, bothy_error_t *err)
{
  _cleanup_free_ char *tmp = tmp_name();
  if (renameat(dfd, name, dfd, tmp) < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot move volume directory '%s' aside", name);
  }
  *ret_tmp = TAKE_PTR(tmp);
  return 1;
}

int bothy_volume_create(struct bothy_inventory *inv, const char *root, const char *name,
                        json_t *labels, bool anonymous, char **ret_name, bothy_error_t *err)
{
  _cleanup_free_ char *generated = NULL, *labels_s = NULL, *tmp = NULL, *tmp_data = NULL,
                      *now = NULL, *orphan = NULL;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  _cleanup_close_ int dfd = -1;
  sqlite3 *db = bothy_inventory_db(inv);
  int tx = -1, r;

  if (!name) {
    generated = bothy_random_hex(32);
    name = generated;
    anonymous = true;
  } else if (!volume_name_valid(name)) {
    return bothy_error_set_code(
        err, EINVAL,
        "invalid volume name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, "
        "2 to 255 characters",
        name);
  }
  if (labels && !json_is_object(labels))
    return bothy_error_set_code(err, EINVAL, "volume %s: labels must be an object", name);
  if (labels)
    labels_s = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
  else
    labels_s = xstrdup("{}");

  dfd = open_volumes_dir(root, err);
  if (dfd < 0)
    return -1;
  remove_stale(dfd);
  r = record_exists(db, name, err);
  if (r < 0)
    return -1;
  if (r > 0)
    goto exists;

  /* Made complete under a name nobody looks at, then renamed. */
  tmp = tmp_name();
  if (mkdirat(dfd, tmp, 0755) < 0)
    return bothy_error_errno(err, "cannot create a directory in '%s/volumes'", root);
  tmp_data = xasprintf("%s/_data", tmp);
  /* 0755 whatever the umask: a container's non-root user must reach its
   * data, as in docker. */
  if (mkdirat(dfd, tmp_data, 0755) < 0 || fchmodat(dfd, tmp_data, 0755, 0) < 0) {
    bothy_error_errno(err, "cannot create a directory in '%s/volumes'", root);
    goto fail_tmp;
  }
  if (bothy_db_prepare(db,
                       "INSERT INTO volumes (name, created, labels, anonymous) VALUES (?, ?, ?, ?)",
                       &st, err) < 0)
    goto fail_tmp;
  tx = bothy_db_tx_begin(bothy_inventory_db(inv), err);
  if (tx < 0)
    goto fail_tmp;
  /* Again under the write lock: someone may have made it meanwhile. */
  r = record_exists(db, name, err);
  if (r != 0) {
    bothy_db_tx_rollback(bothy_inventory_db(inv), tx);
    bothy_rm_rf_at(dfd, tmp, NULL);
    if (r < 0)
      return -1;
    goto exists;
  }
  now = bothy_time_now_rfc3339();
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, labels_s, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 4, anonymous);
  if (sqlite3_step(st) != SQLITE_DONE) {
    bothy_db_error(db, err, "adding the volume");
    goto fail_tx;
  }
  /* A directory with this name but no record is what a crash between
   * rename and commit leaves: nobody's data, replace it. */
  if (move_aside(dfd, name, &orphan, err) < 0)
    goto fail_tx;
  if (renameat(dfd, tmp, dfd, name) < 0) {
    bothy_error_errno(err, "cannot create volume directory '%s/volumes/%s'", root, name);
    goto fail_tx;
  }
  if (bothy_db_tx_commit(bothy_inventory_db(inv), tx, err) < 0) {
    /* The record is not there: neither may the directory be. */
    renameat(dfd, name, dfd, tmp);
    if (orphan)
      renameat(dfd, orphan, dfd, name);
    goto fail_tmp;
  }
  if (orphan)
    bothy_rm_rf_at(dfd, orphan, NULL);
exists:
  if (ret_name)
    *ret_name = xstrdup(name);
  return 0;

fail_tx:
  bothy_db_tx_rollback(bothy_inventory_db(inv), tx);
  if (orphan)
    renameat(dfd, orphan, dfd, name);
fail_tmp:
  bothy_rm_rf_at(dfd, tmp, NULL);
  return bothy_error_prefix(err, "creating volume %s", name);
}

/* Columns read_volume() expects. Container ids joined with '/'. */
#define VOLUME_COLUMNS                                                                             \
  "v.name, v.created, v.labels, v.anonymous, "                                                     \
  "(SELECT group_concat(container, '/') FROM container_volumes WHERE volume = v.name)"

static int read_volume(sqlite3_stmt *st, const char *root, struct bothy_volume **ret,
                       bothy_error_t *err)
{
  _cleanup_volume_ struct bothy_volume *v = xmalloc0(sizeof(*v));
  v->name = xstrdup((const char *) sqlite3_column_text(st, 0));
  v->created = xstrdup((const char *) sqlite3_column_text(st, 1));
  v->mountpoint = bothy_volume_path(root, v->name);
  const char *labels = (const char *) sqlite3_column_text(st, 2);
  json_error_t je;
  v->labels = labels ? json_loads(labels, 0, &je) : json_object();
  if (!v->labels || !json_is_object(v->labels))
    return bothy_error_set(err, 0, "volume %s: the stored labels are not a JSON object", v->name);
  v->anonymous = sqlite3_column_int(st, 3) != 0;
  const char *users = (const char *) sqlite3_column_text(st, 4);
  for (const char *p = users; p && *p;) {
    const char *slash = strchr(p, '/');
    strv_push(&v->users, slash ? xstrndup(p, (size_t) (slash - p)) : xstrdup(p));
    p = slash ? slash + 1 : p + strlen(p);
  }
  *ret = TAKE_PTR(v);
  return 0;
}

int bothy_volume_get(struct bothy_inventory *inv, const char *root, const char *name,
                     struct bothy_volume **ret, bothy_error_t *err)
{
  sqlite3 *db = bothy_inventory_db(inv);
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT " VOLUME_COLUMNS " FROM volumes v WHERE v.name = ?", &st, err) <
      0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    return bothy_error_set_code(err, ENOENT, "no such volume: %s", name);
  if (rc != SQLITE_ROW)
    return bothy_db_error(db, err, "reading the volumes");
  return read_volume(st, root, ret, err);
}

int bothy_volume_list(struct bothy_inventory *inv, const char *root, struct bothy_volume ***ret,
                      size_t *ret_n, bothy_error_t *err)
{
  sqlite3 *db = bothy_inventory_db(inv);
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT " VOLUME_COLUMNS " FROM volumes v ORDER BY v.name", &st, err) <
      0)
    return -1;
  struct bothy_volume **v = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct bothy_volume *one = NULL;
    if (read_volume(st, root, &one, err) < 0) {
      bothy_volumes_free(v, n);
      return -1;
    }
    v = xrealloc(v, (n + 1) * sizeof(*v));
    v[n++] = one;
  }
  if (rc != SQLITE_DONE) {
    bothy_volumes_free(v, n);
    return bothy_db_error(db, err, "reading the volumes");
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

/* Some container using the volume (its full id, caller frees), or NULL. */
static int volume_user(sqlite3 *db, const char *name, char **ret, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT container FROM container_volumes WHERE volume = ? LIMIT 1", &st,
                       err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *ret = xstrdup((const char *) sqlite3_column_text(st, 0));
  else if (rc == SQLITE_DONE)
    *ret = NULL;
  else
    return bothy_db_error(db, err, "reading the volume's users");
  return 0;
}

static int delete_record(sqlite3 *db, const char *name, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "DELETE FROM volumes WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(db, err, "removing the volume");
  return 0;
}

int bothy_volume_remove(struct bothy_inventory *inv, const char *root, const char *name, bool force,
                        bothy_error_t *err)
{
  /* An invalid name cannot have a record; never build a path from it. */
  if (!volume_name_valid(name))
    return force ? 0 : bothy_error_set_code(err, ENOENT, "no such volume: %s", name);
  sqlite3 *db = bothy_inventory_db(inv);
  _cleanup_close_ int dfd = open_volumes_dir(root, err);
  if (dfd < 0)
    return -1;
  int tx = bothy_db_tx_begin(bothy_inventory_db(inv), err);
  if (tx < 0)
    return -1;
  _cleanup_free_ char *user = NULL, *tmp = NULL;
  int r = record_exists(db, name, err);
  if (r == 0) {
    bothy_db_tx_rollback(bothy_inventory_db(inv), tx);
    return force ? 0 : bothy_error_set_code(err, ENOENT, "no such volume: %s", name);
  }
  if (r < 0 || volume_user(db, name, &user, err) < 0)
    goto fail;
  if (user) {
    bothy_error_set_code(err, EBUSY, "volume %s is in use by container %.12s", name, user);
    goto fail;
  }
  if (delete_record(db, name, err) < 0)
    goto fail;
  /* Out of sight first: a half-deleted volume is never visible as NAME. */
  if (move_aside(dfd, name, &tmp, err) < 0)
    goto fail;
  if (bothy_db_tx_commit(bothy_inventory_db(inv), tx, err) < 0) {
    if (tmp)
      renameat(dfd, tmp, dfd, name);
    return bothy_error_prefix(err, "removing volume %s", name);
  }
  /* The volume is gone; if the data cannot be deleted now, the .tmp-*
   * directory is a leftover the next create or prune deletes. */
  if (tmp)
    bothy_rm_rf_at(dfd, tmp, NULL);
  return 0;

fail:
  bothy_db_tx_rollback(bothy_inventory_db(inv), tx);
  return bothy_error_ret(err);
}

/* Bytes of the files below dfd/name (apparent sizes), without following
 * symlinks or crossing mounts. */
static uint64_t disk_usage(int dfd, const char *name, dev_t dev)
{
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  if (!S_ISDIR(st.st_mode))
    return (uint64_t) st.st_size;
  if (dev && st.st_dev != dev)
    return 0;
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return 0;
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return 0;
  }
  uint64_t total = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
      total += disk_usage(dirfd(d), de->d_name, st.st_dev);
  return total;
}

static int unused_volumes(sqlite3 *db, bool all, char ***ret, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "SELECT name FROM volumes v WHERE (?1 OR anonymous) AND NOT EXISTS "
                       "(SELECT 1 FROM container_volumes WHERE volume = v.name) ORDER BY name",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_int(st, 1, all);
  _cleanup_strv_free_ char **names = NULL;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    strv_push(&names, xstrdup((const char *) sqlite3_column_text(st, 0)));
  if (rc != SQLITE_DONE)
    return bothy_db_error(db, err, "reading the volumes");
  *ret = TAKE_PTR(names);
  return 0;
}

int bothy_volume_prune(struct bothy_inventory *inv, const char *root, bool all, char ***ret_removed,
                       uint64_t *ret_bytes, bothy_error_t *err)
{
  sqlite3 *db = bothy_inventory_db(inv);
  _cleanup_close_ int dfd = open_volumes_dir(root, err);
  if (dfd < 0)
    return -1;
  remove_stale(dfd);

  _cleanup_strv_free_ char **removed = NULL;
  /* Pairs: the name a directory had, the .tmp-* name it has now. */
  _cleanup_strv_free_ char **moved = NULL;
  int tx = bothy_db_tx_begin(bothy_inventory_db(inv), err);
  if (tx < 0)
    return -1;
  if (unused_volumes(db, all, &removed, err) < 0)
    goto fail;
  for (size_t i = 0; removed && removed[i]; i++) {
    char *tmp = NULL;
    if (delete_record(db, removed[i], err) < 0)
      goto fail;
    int r = move_aside(dfd, removed[i], &tmp, err);
    if (r < 0)
      goto fail;
    if (r > 0) {
      strv_push(&moved, xstrdup(removed[i]));
      strv_push(&moved, tmp);
    }
  }
  /* Directories without a record: left by a create that crashed between
   * its rename and its commit (every change of a volume's directory is made
   * under the write lock we hold, so none of them is in progress). */
  {
    _cleanup_strv_free_ char **names = list_dir(dfd);
    for (size_t i = 0; names && names[i]; i++) {
      if (!volume_name_valid(names[i]))
        continue;
      int r = record_exists(db, names[i], err);
      if (r < 0)
        goto fail;
      char *tmp = NULL;
      if (r == 0 && move_aside(dfd, names[i], &tmp, NULL) > 0) {
        strv_push(&moved, xstrdup(names[i]));
        strv_push(&moved, tmp);
      }
    }
  }
  if (bothy_db_tx_commit(bothy_inventory_db(inv), tx, err) < 0)
    goto undo;

  uint64_t bytes = 0;
  for (size_t i = 0; moved && moved[i]; i += 2) {
    bytes += disk_usage(dfd, moved[i + 1], 0);
    bothy_rm_rf_at(dfd, moved[i + 1], NULL);
  }
  if (ret_removed)
    *ret_removed = TAKE_PTR(removed);
  if (ret_bytes)
    *ret_bytes = bytes;
  return 0;

fail:
  bothy_db_tx_rollback(bothy_inventory_db(inv), tx);
undo:
  for (size_t i = 0; moved && moved[i]; i += 2)
    renameat(dfd, moved[i + 1], dfd, moved[i]);
  return bothy_error_prefix(err, "pruning volumes");
}
