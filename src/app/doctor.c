/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy doctor`: what lies below the instances (see doctor.h). */
#include "app/doctor.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/fs.h"
#include "base/json.h"
#include "base/macros.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "build/builder.h"
#include "container/volume.h"
#include "net/ipam.h"
#include "base/banned.h"

/* Names in root/sub that do not start with a dot (NULL when none or no
 * such directory). */
static char **entries(const char *root, const char *sub)
{
  _cleanup_free_ char *dir = xasprintf("%s/%s", root, sub);
  _cleanup_closedir_ DIR *d = opendir(dir);
  char **v = NULL;
  struct dirent *de;
  while (d && (de = readdir(d)))
    if (de->d_name[0] != '.')
      strv_push(&v, xstrdup(de->d_name));
  strv_sort(v);
  return v;
}

static const char *base_name(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Bytes below fd (not crossing mounts): how much a removal gives back. */
static unsigned long long du_at(int dfd, const char *name, dev_t dev)
{
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
    return 0;
  unsigned long long n = (unsigned long long) st.st_blocks * 512;
  if (!S_ISDIR(st.st_mode))
    return n;
  int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return n;
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return n;
  }
  struct dirent *de;
  while ((de = readdir(d)))
    if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
      n += du_at(dirfd(d), de->d_name, dev);
  return n;
}

/* Layers (ROOT/layers/HEX) that no image, container or build cache record
 * uses. */
static int check_layers(const struct bothy_app_ctx *a, struct bothy_inventory *inv,
                        struct bothy_images *imgs, bool fix, char ***found, bothy_error_t *err)
{
  _cleanup_strv_free_ char **used = NULL, **cache = NULL;
  _cleanup_json_ json_t *list = NULL;
  if (bothy_images_list(imgs, &list, err) < 0 ||
      bothy_build_cache_layers(a->ctr->root, &cache, err) < 0)
    return -1;
  for (char **c = cache; c && *c; c++)
    if (strncmp(*c, "sha256:", 7) == 0)
      strv_push(&used, xstrdup(*c + 7));
  size_t i;
  json_t *it;
  json_array_foreach (list, i, it) {
    struct bothy_image *img = NULL;
    if (bothy_images_get(imgs, json_string_value(json_object_get(it, "digest")), &img, NULL) < 0)
      return bothy_error_set_code(err, EIO,
                                  "image %s cannot be read; not judging which layers are unused",
                                  json_string_value(json_object_get(it, "digest")));
    for (char **l = img->layer_dirs; l && *l; l++)
      strv_push(&used, xstrdup(base_name(*l)));
    bothy_image_free(img);
  }
  struct bothy_ctr_record **recs = NULL;
  size_t n = 0;
  if (bothy_inventory_ctr_list(inv, &recs, &n, err) < 0)
    return -1;
  for (size_t k = 0; k < n; k++) {
    json_array_foreach (json_object_get(recs[k]->config, "lowers"), i, it)
      if (json_string_value(it))
        strv_push(&used, xstrdup(base_name(json_string_value(it))));
  }
  bothy_ctr_records_free(recs, n);
  _cleanup_strv_free_ char **present = entries(a->ctr->root, "layers");
  struct stat st;
  if (!present || fstat(imgs->layers_fd, &st) < 0)
    return 0;
  for (char **p = present; *p; p++) {
    if (strv_contains(used, *p))
      continue;
    unsigned long long bytes = du_at(imgs->layers_fd, *p, st.st_dev);
    bool gone = fix && bothy_rm_rf_at(imgs->layers_fd, *p, NULL) == 0;
    strv_push(found, xasprintf("layer sha256:%.12s (%.1f MiB) is used by no image, container or "
                               "build cache entry%s",
                               *p, (double) bytes / (1024.0 * 1024.0), gone ? ": removed" : ""));
  }
  return 0;
}

/* Endpoint and port rows of containers that have no row themselves: they
 * hold an address or a host port nothing uses. */
static int check_net_rows(struct bothy_inventory *inv, bool fix, char ***found, bothy_error_t *err)
{
  sqlite3 *db = bothy_inventory_db(inv);
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  static const struct {
    const char *select, *del, *what;
  } q[] = {
    { "SELECT container, network || ' ' || ip FROM endpoints "
      "WHERE container NOT IN (SELECT id FROM containers) ORDER BY container",
      "DELETE FROM endpoints WHERE container = ?1", "the address on network" },
    { "SELECT container, host_ip || ':' || host_port || '/' || proto FROM ports "
      "WHERE container NOT IN (SELECT id FROM containers) ORDER BY container",
      "DELETE FROM ports WHERE container = ?1", "the host port" },
  };
  for (size_t k = 0; k < ARRAY_SIZE(q); k++) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, q[k].select, -1, &st, NULL) != SQLITE_OK)
      return bothy_error_set_code(err, EIO, "inventory: %s", sqlite3_errmsg(db));
    char **ids = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const char *id = (const char *) sqlite3_column_text(st, 0);
      const char *what = (const char *) sqlite3_column_text(st, 1);
      strv_push(found,
                xasprintf("inventory: %s %s is held for container %.12s, which does not "
                          "exist%s",
                          q[k].what, what ? what : "?", id ? id : "?", fix ? ": released" : ""));
      if (id && !strv_contains(ids, id))
        strv_push(&ids, xstrdup(id));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
      strv_free(ids);
      return bothy_error_set_code(err, EIO, "inventory: %s", sqlite3_errmsg(db));
    }
    for (char **id = ids; fix && id && *id; id++) {
      if (sqlite3_prepare_v2(db, q[k].del, -1, &st, NULL) != SQLITE_OK)
        break;
      sqlite3_bind_text(st, 1, *id, -1, SQLITE_TRANSIENT);
      rc = sqlite3_step(st);
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) {
        strv_free(ids);
        return bothy_error_set_code(err, EIO, "inventory: %s", sqlite3_errmsg(db));
      }
    }
    strv_free(ids);
  }
  return 0;
}

/* The directories under ROOT/sub that are not in known: each a finding
 * ("WHAT NAME has no inventory row"), removed with fix (a container's
 * overlay, ROOT/sub/NAME/rootfs, is detached first if still mounted). */
static void stray_dirs(const char *root, const char *sub, char *const *known, const char *what,
                       int name_len, bool fix, char ***found)
{
  _cleanup_strv_free_ char **dirs = entries(root, sub);
  _cleanup_free_ char *parent = xasprintf("%s/%s", root, sub);
  for (char **d = dirs; d && *d; d++) {
    if (strv_contains(known, *d))
      continue;
    bool gone = false;
    if (fix) {
      _cleanup_free_ char *rootfs = xasprintf("%s/%s/rootfs", parent, *d);
      umount2(rootfs, MNT_DETACH);
      _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      gone = pfd >= 0 && bothy_rm_rf_at(pfd, *d, NULL) == 0;
    }
    strv_push(found, xasprintf("%s %.*s has no inventory row%s", what, name_len, *d,
                               gone ? ": removed" : ""));
  }
}

/* Directories under ROOT/containers and ROOT/volumes that the inventory
 * does not know. A container's row is written before its directory and
 * removed after it, a volume's directory is renamed into place after its
 * row: neither is ever legitimately without the other. */
static int check_dirs(const struct bothy_app_ctx *a, struct bothy_inventory *inv, bool fix,
                      char ***found, bothy_error_t *err)
{
  struct bothy_ctr_record **recs = NULL;
  size_t n = 0;
  if (bothy_inventory_ctr_list(inv, &recs, &n, err) < 0)
    return -1;
  _cleanup_strv_free_ char **known = NULL;
  for (size_t k = 0; k < n; k++)
    strv_push(&known, xstrdup(recs[k]->id));
  bothy_ctr_records_free(recs, n);
  stray_dirs(a->ctr->root, "containers", known, "container directory", 12, fix, found);
  struct bothy_volume **vols = NULL;
  size_t nv = 0;
  if (bothy_volume_list(inv, a->ctr->root, &vols, &nv, err) < 0)
    return -1;
  _cleanup_strv_free_ char **vnames = NULL;
  for (size_t k = 0; k < nv; k++)
    strv_push(&vnames, xstrdup(vols[k]->name));
  bothy_volumes_free(vols, nv);
  stray_dirs(a->ctr->root, "volumes", vnames, "volume directory", INT_MAX, fix, found);
  return 0;
}

int bothy_doctor_below(const struct bothy_app_ctx *a, struct bothy_inventory *inv,
                       struct bothy_images *imgs, bool fix, char ***found, bothy_error_t *err)
{
  if (check_dirs(a, inv, fix, found, err) < 0 || check_net_rows(inv, fix, found, err) < 0 ||
      check_layers(a, inv, imgs, fix, found, err) < 0)
    return -1;
  return 0;
}
