/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy build`: see builder.h. */
#include "build/builder.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/macros.h"
#include "base/process.h"
#include "base/sbuf.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "build/containerfile.h"
#include "build/context.h"
#include "build/tarw.h"
#include "container/ocispec.h"
#include "image/images.h"
#include "image/manifest.h"
#include "image/overlay.h"
#include "image/store.h"
#include "runtime/container.h"
#include <curl/curl.h>
#include "base/banned.h"
#include "image/dl-curl.h"

#define RUN_TAIL_LINES 20
#define HOSTNAME       "bothy-build"

/* ---- state ---------------------------------------------------------------- */

/* A stage as it is being built: the image it would be if it ended here. */
struct bstate {
  json_t *config;  /* the image configuration document */
  json_t *layers;  /* [{mediaType, digest, size}], base first */
  char key[65];    /* the cache key of the last step */
  int64_t created; /* the newest history time, seconds */
  bool cmd_set;    /* CMD given in this stage (ENTRYPOINT resets an inherited one) */
  bool built;
};

struct base_image {
  char *name;
  char *digest;
  json_t *config;
  json_t *layers;
};

struct builder {
  const struct bothy_build_opts *o;
  FILE *out;
  struct bothy_images *imgs;
  struct bothy_containerfile *cf;
  struct bothy_context *ctx;
  char *tmp; /* ROOT/build/<random> */
  int lockfd;
  char *cache_dir; /* ROOT/build-cache */
  char *rt_root;   /* ROOT/runtime */
  struct bstate *st;
  struct base_image *bases;
  size_t n_bases;
  char **mounts;  /* mounted under tmp, unmounted at the end (last first) */
  char **secrets; /* "id\tpath" */
  unsigned seq;
  unsigned step, n_steps;
  int64_t now;
};

static void out(struct builder *b, const char *fmt, ...) _printf_(2, 3);
static void out(struct builder *b, const char *fmt, ...)
{
  if (b->o->quiet)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(b->out, fmt, ap);
  va_end(ap);
  fflush(b->out);
}

static void format_time(int64_t t, char *buf, size_t n)
{
  time_t tt = (time_t) t;
  struct tm tm;
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

static int64_t parse_time(const char *s)
{
  struct tm tm = { 0 };
  if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
    return 0;
  return (int64_t) timegm(&tm);
}

/* The time steps of this build are stamped with. */
static int64_t step_time(struct builder *b)
{
  return b->o->timestamp >= 0 ? b->o->timestamp : b->now;
}

/* key = sha256(parent key, parts...) as hex. */
static void chain_key(char *key, const char *const *parts, size_t n)
{
  _cleanup_digester_ struct bothy_digester *d = bothy_digester_new();
  bothy_digester_update(d, key, strlen(key));
  for (size_t i = 0; i < n; i++) {
    const char *p = parts[i] ? parts[i] : "";
    bothy_digester_update(d, "\0", 1);
    bothy_digester_update(d, p, strlen(p) + 1);
  }
  char dg[BOTHY_DIGEST_MAX];
  bothy_digester_final(d, dg);
  memcpy(key, dg + strlen("sha256:"), 64);
  key[64] = '\0';
}

static void state_done(struct bstate *s)
{
  json_decref(s->config);
  json_decref(s->layers);
  *s = (struct bstate){ 0 };
}

static void state_copy(struct bstate *dst, const struct bstate *src)
{
  dst->config = json_deep_copy(src->config);
  dst->layers = json_deep_copy(src->layers);
  memcpy(dst->key, src->key, sizeof(dst->key));
  dst->created = src->created;
  dst->cmd_set = false;
}

static json_t *cfg_obj(struct bstate *s)
{
  json_t *c = json_object_get(s->config, "config");
  if (!json_is_object(c)) {
    c = json_object();
    json_object_set_new(s->config, "config", c);
  }
  return c;
}

static json_t *cfg_sub(struct bstate *s, const char *key)
{
  json_t *c = cfg_obj(s);
  json_t *o = json_object_get(c, key);
  if (!json_is_object(o)) {
    o = json_object();
    json_object_set_new(c, key, o);
  }
  return o;
}

static json_t *diff_ids(struct bstate *s)
{
  json_t *r = json_object_get(s->config, "rootfs");
  if (!json_is_object(r)) {
    r = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
    json_object_set_new(s->config, "rootfs", r);
  }
  json_t *a = json_object_get(r, "diff_ids");
  if (!json_is_array(a)) {
    a = json_array();
    json_object_set_new(r, "diff_ids", a);
  }
  return a;
}

static void add_history(struct bstate *s, const char *created_by, int64_t t, bool empty)
{
  json_t *h = json_object_get(s->config, "history");
  if (!json_is_array(h)) {
    h = json_array();
    json_object_set_new(s->config, "history", h);
  }
  char ts[64];
  format_time(t, ts, sizeof(ts));
  json_t *e = json_pack("{s:s, s:s, s:s}", "created", ts, "created_by", created_by, "comment",
                        "bothy build");
  if (empty)
    json_object_set_new(e, "empty_layer", json_true());
  json_array_append_new(h, e);
  if (t > s->created)
    s->created = t;
}

/* The strings of a JSON array as a strv (NULL when there are none). */
static char **json_strv(json_t *a)
{
  char **v = NULL;
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
    if (json_is_string(e))
      strv_push(&v, xstrdup(json_string_value(e)));
  return v;
}

/* The strv of config.KEY (NULL when absent). */
static char **cfg_strv(struct bstate *s, const char *key)
{
  return json_strv(json_object_get(cfg_obj(s), key));
}

static json_t *strv_json(char *const *v)
{
  json_t *a = json_array();
  for (; v && *v; v++)
    json_array_append_new(a, json_string(*v));
  return a;
}

/* The layer directories of a state, top first (overlay's lowerdir order). */
static int layer_dirs(struct builder *b, struct bstate *s, char ***ret, bothy_error_t *err)
{
  json_t *ids = diff_ids(s);
  size_t n = json_array_size(ids);
  char **v = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    const char *id = json_string_value(json_array_get(ids, i));
    char *d = id ? bothy_images_layer_dir(b->imgs, id) : NULL;
    if (!d) {
      strv_free(v);
      return bothy_error_set_code(err, ENOENT, "layer %s is missing from the layer store",
                                  id ? id : "(invalid)");
    }
    v[n - 1 - i] = d;
  }
  *ret = v;
  return 0;
}

/* ---- temporary directory, mounts ------------------------------------------ */

static char *tmp_path(struct builder *b, const char *what)
{
  return xasprintf("%s/%s-%u", b->tmp, what, b->seq++);
}

static void unmount_all(struct builder *b)
{
  for (size_t n = strv_length(b->mounts); n-- > 0;)
    if (umount2(b->mounts[n], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      log_debug("umount %s: %m", b->mounts[n]);
  b->mounts = strv_free(b->mounts);
}

static void forget_mount(struct builder *b, const char *path)
{
  for (size_t i = 0; b->mounts && b->mounts[i]; i++)
    if (streq(b->mounts[i], path)) {
      free(b->mounts[i]);
      for (size_t j = i; b->mounts[j]; j++)
        b->mounts[j] = b->mounts[j + 1];
      return;
    }
}

/* A read-only view of a state's files, mounted under tmp (an empty directory
 * for a state without layers). Unmounted at the end of the build. */
static int mount_view(struct builder *b, struct bstate *s, char **ret, bothy_error_t *err)
{
  _cleanup_strv_free_ char **lowers = NULL;
  if (layer_dirs(b, s, &lowers, err) < 0)
    return -1;
  _cleanup_free_ char *p = tmp_path(b, "view");
  if (mkdir(p, 0755) < 0)
    return bothy_error_errno(err, "cannot create '%s'", p);
  size_t n = strv_length(lowers);
  if (n > 0) {
    if (bothy_overlay_mount((const char *const *) lowers, n, NULL, NULL, p, err) < 0)
      return -1;
    strv_push(&b->mounts, xstrdup(p));
  }
  *ret = TAKE_PTR(p);
  return 0;
}

/* Removes build directories that builds which were killed left behind:
 * their lock is free. Their mounts go first, then their runtime state. */
static void clean_stale(const char *root)
{
  _cleanup_free_ char *dir = xasprintf("%s/build", root);
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
    _cleanup_free_ char *lock = xasprintf("%s/.lock", p);
    _cleanup_close_ int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
      continue; /* a build is running */
    /* Its mounts, deepest first. */
    _cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
    char **mps = NULL;
    char line[4096];
    size_t plen = strlen(p);
    while (mi && fgets(line, sizeof(line), mi)) {
      char mp[PATH_MAX];
      if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp(mp, p, plen) == 0 &&
          mp[plen] == '/')
        strv_push(&mps, xstrdup(mp));
    }
    for (size_t n = strv_length(mps); n-- > 0;)
      umount2(mps[n], MNT_DETACH);
    strv_free(mps);
    _cleanup_free_ char *rtid = NULL;
    _cleanup_free_ char *rtfile = xasprintf("%s/.runtime-id", p);
    if (bothy_read_file(AT_FDCWD, rtfile, &rtid, NULL, NULL) == 0 && *rtid) {
      _cleanup_free_ char *rt_root = xasprintf("%s/runtime", root);
      struct bothy_runtime rt = { .root = rt_root };
      bothy_container_delete(&rt, rtid, true, NULL);
    }
    bothy_rm_rf_at(AT_FDCWD, p, NULL);
  }
}

/* ---- base images ----------------------------------------------------------- */

static void base_done(struct base_image *bi)
{
  free(bi->name);
  free(bi->digest);
  json_decref(bi->config);
  json_decref(bi->layers);
}

static int get_base(struct builder *b, const char *name, struct base_image **ret,
                    bothy_error_t *err)
{
  for (size_t i = 0; i < b->n_bases; i++)
    if (streq(b->bases[i].name, name)) {
      *ret = &b->bases[i];
      return 0;
    }
  _cleanup_image_ struct bothy_image *img = NULL;
  bothy_error_t e2 = NULL;
  bool have = !b->o->pull && bothy_images_get(b->imgs, name, &img, &e2) == 0;
  bothy_error_free(&e2);
  if (!have) {
    struct bothy_pull_opts po = { .quiet = true, .registries_conf = b->o->registries_conf };
    if (!b->o->quiet)
      out(b, "Pulling %s\n", name);
    if (bothy_images_pull(b->imgs, name, &po, NULL, err) < 0 ||
        bothy_images_get(b->imgs, name, &img, err) < 0)
      return -1;
  }
  json_t *layers = json_array();
  for (size_t i = 0; i < img->manifest->n_layers; i++) {
    const struct bothy_descriptor *d = &img->manifest->layers[i];
    json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type, "digest",
                                            d->digest, "size", (json_int_t) d->size));
  }
  b->bases = xrealloc(b->bases, (b->n_bases + 1) * sizeof(*b->bases));
  b->bases[b->n_bases] = (struct base_image){
    .name = xstrdup(name),
    .digest = xstrdup(img->digest),
    .config = json_deep_copy(img->config->json),
    .layers = layers,
  };
  *ret = &b->bases[b->n_bases++];
  return 0;
}

static int base_env(const char *image, const char *platform, void *userdata, char ***ret_env,
                    bothy_error_t *err)
{
  (void) platform;
  struct builder *b = userdata;
  struct base_image *bi;
  if (get_base(b, image, &bi, err) < 0)
    return -1;
  *ret_env = json_strv(json_object_get(json_object_get(bi->config, "config"), "Env"));
  return 0;
}

static int base_onbuild(const char *image, void *userdata, char ***ret, bothy_error_t *err)
{
  struct builder *b = userdata;
  struct base_image *bi;
  if (get_base(b, image, &bi, err) < 0)
    return -1;
  *ret = json_strv(json_object_get(json_object_get(bi->config, "config"), "OnBuild"));
  return 0;
}

/* ---- the cache ------------------------------------------------------------ */

/* A cache record: the layer a step made, or that it made none. */
struct record {
  bool none;
  char *diff_id, *digest, *media_type;
  int64_t size;
  int64_t created;
};

static void record_done(struct record *r)
{
  free(r->diff_id);
  free(r->digest);
  free(r->media_type);
  *r = (struct record){ 0 };
}

/* 1 and *r when a usable record is there, 0 when not (a torn or stale
 * record, whose layer has gone, is a miss). */
static int record_load(struct builder *b, const char *key, struct record *r)
{
  if (b->o->no_cache)
    return 0;
  _cleanup_free_ char *p = xasprintf("%s/%s", b->cache_dir, key);
  _cleanup_json_ json_t *j = NULL;
  if (bothy_json_load_file(p, &j, NULL) < 0 || !json_is_object(j))
    return 0;
  *r = (struct record){ 0 };
  if (json_is_true(json_object_get(j, "none"))) {
    r->none = true;
    return 1;
  }
  const char *diff_id = json_string_value(json_object_get(j, "diff_id"));
  const char *digest = json_string_value(json_object_get(j, "digest"));
  const char *mt = json_string_value(json_object_get(j, "mediaType"));
  json_t *size = json_object_get(j, "size");
  if (!diff_id || !digest || !mt || !json_is_integer(size) ||
      bothy_digest_validate(diff_id, NULL) < 0 || bothy_digest_validate(digest, NULL) < 0)
    return 0;
  if (bothy_store_blob_exists(b->imgs->store, digest, NULL) != 1)
    return 0;
  _cleanup_free_ char *ld = bothy_images_layer_dir(b->imgs, diff_id);
  if (!ld)
    return 0;
  r->diff_id = xstrdup(diff_id);
  r->digest = xstrdup(digest);
  r->media_type = xstrdup(mt);
  r->size = json_integer_value(size);
  r->created = json_integer_value(json_object_get(j, "created"));
  return 1;
}

/* Not fsynced: a record lost in a crash is only a cache miss, and a torn one
 * (renamed into place before its data reached the disk) does not parse. */
static void record_save(struct builder *b, const char *key, const struct record *r)
{
  _cleanup_json_ json_t *j = NULL;
  if (r->none)
    j = json_pack("{s:b}", "none", true);
  else
    j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "diff_id", r->diff_id, "digest", r->digest,
                  "mediaType", r->media_type, "size", (json_int_t) r->size, "created",
                  (json_int_t) r->created);
  _cleanup_free_ char *body = bothy_json_dump(j, false);
  _cleanup_close_ int dfd = open(b->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bothy_error_t e = NULL;
  if (dfd < 0 || bothy_write_file_replace(dfd, key, body, strlen(body), 0644, &e) < 0)
    log_warning("cannot write build cache entry %s: %s", key, e ? e->msg : strerror(errno));
  bothy_error_free(&e);
}

static void apply_record(struct bstate *s, const struct record *r, const char *created_by,
                         int64_t t)
{
  json_array_append_new(diff_ids(s), json_string(r->diff_id));
  json_array_append_new(s->layers, json_pack("{s:s, s:s, s:I}", "mediaType", r->media_type,
                                             "digest", r->digest, "size", (json_int_t) r->size));
  add_history(s, created_by, t, false);
}

/* When s->key has a record: the step is taken from it (its layer, or
 * none) and 1 is returned; 0 when the step must run. */
static int cache_hit(struct builder *b, struct bstate *s, const struct bothy_cf_instr *in)
{
  struct record r;
  if (record_load(b, s->key, &r) != 1)
    return 0;
  out(b, "--> Using cache %.12s\n", s->key);
  if (r.none)
    add_history(s, in->text, s->created, true);
  else
    apply_record(s, &r, in->text, b->o->timestamp >= 0 ? b->o->timestamp : r.created);
  record_done(&r);
  return 1;
}

/* A finished tar (fd, at its start) into the content store and the layer
 * store; fills r. */
static int store_layer(struct builder *b, int fd, struct record *r, bothy_error_t *err)
{
  char digest[BOTHY_DIGEST_MAX];
  if (bothy_store_blob_ingest_fd(b->imgs->store, fd, NULL, -1, digest, err) < 0)
    return -1;
  struct stat sb;
  if (fstat(fd, &sb) < 0)
    return bothy_error_errno(err, "cannot stat a layer");
  _cleanup_free_ char *ld = bothy_images_layer_dir(b->imgs, digest);
  if (!ld) {
    if (lseek(fd, 0, SEEK_SET) < 0)
      return bothy_error_errno(err, "cannot rewind a layer");
    if (bothy_images_add_layer(b->imgs, fd, digest, NULL, err) < 0)
      return -1;
  }
  r->diff_id = xstrdup(digest);
  r->digest = xstrdup(digest);
  r->media_type = xstrdup(BOTHY_MT_OCI_LAYER);
  r->size = (int64_t) sb.st_size;
  return 0;
}

/* Writes w to a temporary file and stores it as a layer. */
static int commit_tar(struct builder *b, struct bothy_tarw *w, struct record *r, bothy_error_t *err)
{
  _cleanup_close_ int fd = open(b->tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create a temporary file in '%s'", b->tmp);
  char diff_id[BOTHY_DIGEST_MAX];
  uint64_t size;
  if (bothy_tarw_finish(w, fd, diff_id, &size, err) < 0)
    return -1;
  if (lseek(fd, 0, SEEK_SET) < 0)
    return bothy_error_errno(err, "cannot rewind a layer");
  return store_layer(b, fd, r, err);
}

/* ---- instructions that change the configuration ---------------------------- */

static char *clean_abs(const char *base, const char *p)
{
  _cleanup_free_ char *joined =
      p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", base && *base ? base : "/", p);
  /* Lexical cleaning: "//", "/./", "/../". */
  char **parts = NULL;
  char *save = NULL;
  for (char *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (streq(c, "."))
      continue;
    if (streq(c, "..")) {
      size_t n = strv_length(parts);
      if (n > 0) {
        free(parts[n - 1]);
        parts[n - 1] = NULL;
      }
      continue;
    }
    strv_push(&parts, xstrdup(c));
  }
  struct sbuf r = { 0 };
  for (char **q = parts; q && *q; q++) {
    sb_addc(&r, '/');
    sb_adds(&r, *q);
  }
  strv_free(parts);
  if (!r.len)
    sb_addc(&r, '/');
  return sb_take(&r);
}

static json_t *shell_or_json(struct bstate *s, const struct bothy_cf_instr *in)
{
  if (in->json)
    return strv_json(in->args);
  json_t *a = json_array();
  if (!in->args || !in->args[0])
    return a;
  _cleanup_strv_free_ char **sh = cfg_strv(s, "Shell");
  if (!sh) {
    strv_push(&sh, xstrdup("/bin/sh"));
    strv_push(&sh, xstrdup("-c"));
  }
  for (char **p = sh; *p; p++)
    json_array_append_new(a, json_string(*p));
  json_array_append_new(a, json_string(in->args[0]));
  return a;
}

static void env_set(struct bstate *s, const char *k, const char *v)
{
  _cleanup_strv_free_ char **env = cfg_strv(s, "Env");
  _cleanup_free_ char *kv = xasprintf("%s=%s", k, v ? v : "");
  strv_env_set(&env, kv);
  json_object_set_new(cfg_obj(s), "Env", strv_json(env));
}

static void apply_config(struct builder *b, struct bstate *s, const struct bothy_cf_instr *in)
{
  json_t *c = cfg_obj(s);
  switch (in->kind) {
  case BOTHY_CF_ENV:
    for (size_t i = 0; i < in->n_kv; i++)
      env_set(s, in->kv[i].key, in->kv[i].value);
    break;
  case BOTHY_CF_LABEL:
    for (size_t i = 0; i < in->n_kv; i++)
      json_object_set_new(cfg_sub(s, "Labels"), in->kv[i].key,
                          json_string(in->kv[i].value ? in->kv[i].value : ""));
    break;
  case BOTHY_CF_EXPOSE:
    for (char **p = in->args; p && *p; p++) {
      _cleanup_free_ char *port = strchr(*p, '/') ? xstrdup(*p) : xasprintf("%s/tcp", *p);
      for (char *q = port; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
          *q = (char) (*q - 'A' + 'a');
      json_object_set_new(cfg_sub(s, "ExposedPorts"), port, json_object());
    }
    break;
  case BOTHY_CF_VOLUME:
    for (char **p = in->args; p && *p; p++)
      if (**p)
        json_object_set_new(cfg_sub(s, "Volumes"), *p, json_object());
    break;
  case BOTHY_CF_USER:
    json_object_set_new(c, "User", json_string(in->args && in->args[0] ? in->args[0] : ""));
    break;
  case BOTHY_CF_CMD:
    json_object_set_new(c, "Cmd", shell_or_json(s, in));
    s->cmd_set = true;
    break;
  case BOTHY_CF_ENTRYPOINT:
    json_object_set_new(c, "Entrypoint", shell_or_json(s, in));
    /* An ENTRYPOINT resets the CMD the base image had, as docker does. */
    if (!s->cmd_set)
      json_object_del(c, "Cmd");
    break;
  case BOTHY_CF_STOPSIGNAL:
    json_object_set_new(c, "StopSignal", json_string(in->args[0]));
    break;
  case BOTHY_CF_SHELL:
    json_object_set_new(c, "Shell", strv_json(in->args));
    break;
  case BOTHY_CF_MAINTAINER:
    json_object_set_new(s->config, "author", json_string(in->args[0]));
    break;
  case BOTHY_CF_ONBUILD: {
    json_t *a = json_object_get(c, "OnBuild");
    if (!json_is_array(a)) {
      a = json_array();
      json_object_set_new(c, "OnBuild", a);
    }
    json_array_append_new(a, json_string(in->onbuild ? in->onbuild->text : ""));
    break;
  }
  case BOTHY_CF_HEALTHCHECK: {
    const struct bothy_cf_healthcheck *h = &in->health;
    json_t *hc = json_object();
    if (h->none) {
      json_object_set_new(hc, "Test", json_pack("[s]", "NONE"));
    } else {
      json_t *t = json_array();
      if (in->json) {
        json_array_append_new(t, json_string("CMD"));
        for (char **p = in->args; p && *p; p++)
          json_array_append_new(t, json_string(*p));
      } else {
        json_array_append_new(t, json_string("CMD-SHELL"));
        json_array_append_new(t, json_string(in->args && in->args[0] ? in->args[0] : ""));
      }
      json_object_set_new(hc, "Test", t);
      if (h->interval)
        json_object_set_new(hc, "Interval", json_integer(h->interval));
      if (h->timeout)
        json_object_set_new(hc, "Timeout", json_integer(h->timeout));
      if (h->start_period)
        json_object_set_new(hc, "StartPeriod", json_integer(h->start_period));
      if (h->start_interval)
        json_object_set_new(hc, "StartInterval", json_integer(h->start_interval));
      if (h->retries)
        json_object_set_new(hc, "Retries", json_integer(h->retries));
    }
    json_object_set_new(c, "Healthcheck", hc);
    break;
  }
  default:
    break;
  }
  (void) b;
}

/* The instruction as the cache sees it: its text, and what expansion made
 * of its words and pairs. */
static char *instr_canon(const struct bothy_cf_instr *in)
{
  json_t *j = json_pack("{s:s, s:s, s:b}", "kind", bothy_cf_kind_to_string(in->kind), "text",
                        in->text ? in->text : "", "json", in->json);
  json_object_set_new(j, "args", strv_json(in->args));
  json_t *kv = json_array();
  for (size_t i = 0; i < in->n_kv; i++)
    json_array_append_new(kv, json_pack("[s, s?]", in->kv[i].key, in->kv[i].value));
  json_object_set_new(j, "kv", kv);
  json_object_set_new(j, "run_args", strv_json(in->run_args));
  json_t *hd = json_array();
  for (size_t i = 0; i < in->n_heredocs; i++)
    json_array_append_new(hd, json_pack("[s, s]", in->heredocs[i].name, in->heredocs[i].content));
  json_object_set_new(j, "heredocs", hd);
  json_t *fl =
      json_pack("{s:s?, s:s?, s:s?, s:s?, s:b, s:b}", "from", in->from, "chown", in->chown, "chmod",
                in->chmod, "network", in->network, "link", in->link, "parents", in->parents);
  json_object_set_new(fl, "exclude", strv_json(in->exclude));
  json_object_set_new(j, "flags", fl);
  json_t *m = json_array();
  for (size_t i = 0; i < in->n_mounts; i++) {
    json_t *o = json_pack("{s:i}", "type", (int) in->mounts[i].type);
    for (size_t k = 0; k < in->mounts[i].n_opts; k++)
      json_object_set_new(
          o, in->mounts[i].opts[k].key,
          json_string(in->mounts[i].opts[k].value ? in->mounts[i].opts[k].value : ""));
    json_array_append_new(m, o);
  }
  json_object_set_new(j, "mounts", m);
  char *s = bothy_json_dump(j, false);
  json_decref(j);
  return s;
}

/* ---- WORKDIR ---------------------------------------------------------------- */

static int do_workdir(struct builder *b, struct bstate *s, const struct bothy_cf_instr *in,
                      bothy_error_t *err)
{
  const char *cur = json_string_value(json_object_get(cfg_obj(s), "WorkingDir"));
  _cleanup_free_ char *wd = clean_abs(cur, in->args[0]);
  json_object_set_new(cfg_obj(s), "WorkingDir", json_string(wd));
  _cleanup_free_ char *canon = instr_canon(in);
  const char *parts[] = { canon, wd };
  chain_key(s->key, parts, ARRAY_SIZE(parts));
  struct record r;
  if (cache_hit(b, s, in)) {
    return 0;
  }
  _cleanup_free_ char *view = NULL;
  if (mount_view(b, s, &view, err) < 0)
    return -1;
  _cleanup_close_ int vfd = open(view, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (vfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", view);
  _cleanup_close_ int have = bothy_open_in_root(vfd, wd, O_PATH | O_DIRECTORY, 0);
  if (have >= 0 || streq(wd, "/")) {
    r = (struct record){ .none = true };
    record_save(b, s->key, &r);
    add_history(s, in->text, s->created, true);
    return 0;
  }
  struct bothy_tarw_opts to = { .timestamp = b->o->timestamp };
  _cleanup_tarw_ struct bothy_tarw *w = NULL;
  if (bothy_tarw_new(&to, &w, err) < 0)
    return -1;
  /* The directory and those of its parents that are missing. */
  _cleanup_free_ char *path = xstrdup(wd);
  for (char *q = path + 1;; q++) {
    char c = *q;
    if (c == '/' || c == '\0') {
      *q = '\0';
      _cleanup_close_ int fd = bothy_open_in_root(vfd, path, O_PATH, 0);
      if (fd < 0 && bothy_tarw_add_dir(w, path, 0755, 0, 0, step_time(b), err) < 0)
        return -1;
      *q = c;
    }
    if (c == '\0')
      break;
  }
  r = (struct record){ 0 };
  if (commit_tar(b, w, &r, err) < 0)
    return -1;
  r.created = step_time(b);
  record_save(b, s->key, &r);
  apply_record(s, &r, in->text, r.created);
  record_done(&r);
  return 0;
}

/* ---- COPY and ADD ------------------------------------------------------------ */

static int stage_index(struct builder *b, const char *name)
{
  for (size_t i = 0; i < b->cf->n_stages; i++)
    if (b->cf->stages[i].name && strcasecmp(b->cf->stages[i].name, name) == 0)
      return (int) i;
  char *end;
  long v = strtol(name, &end, 10);
  if (*name && !*end && v >= 0 && (size_t) v < b->cf->n_stages)
    return (int) v;
  return -1;
}

/* --from=NAME: an earlier stage's state, or an image's (as a state). */
static int from_state(struct builder *b, const char *from, size_t cur, struct bstate *ret,
                      bothy_error_t *err)
{
  int si = stage_index(b, from);
  if (si >= 0) {
    if ((size_t) si >= cur || !b->st[si].built)
      return bothy_error_set_code(err, EINVAL, "stage \"%s\" is not an earlier stage", from);
    state_copy(ret, &b->st[si]);
    return 0;
  }
  struct base_image *bi;
  if (get_base(b, from, &bi, err) < 0)
    return -1;
  *ret =
      (struct bstate){ .config = json_deep_copy(bi->config), .layers = json_deep_copy(bi->layers) };
  const char *parts[] = { "image", bi->digest };
  ret->key[0] = '\0';
  chain_key(ret->key, parts, ARRAY_SIZE(parts));
  return 0;
}

/* --chown=user[:group]: names looked up in the image being built, as docker
 * does; a user alone gives its uid as gid too. */
static int resolve_chown(const char *spec, const char *view, struct bothy_tarw_meta *m,
                         bothy_error_t *err)
{
  uint32_t uid, gid;
  if (bothy_image_lookup_user(spec, view, &uid, &gid, err) < 0)
    return -1;
  m->set_owner = true;
  m->uid = uid;
  m->gid = strchr(spec, ':') ? gid : uid;
  return 0;
}

static bool is_url(const char *s)
{
  return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* ---- ADD URL ---- */

struct fetch {
  int fd;
  struct bothy_digester *d;
  int64_t mtime;
  bool failed;
};

static size_t fetch_write(char *p, size_t size, size_t n, void *userdata)
{
  struct fetch *f = userdata;
  if (bothy_write_all(f->fd, p, size * n) < 0) {
    f->failed = true;
    return 0;
  }
  bothy_digester_update(f->d, p, size * n);
  return size * n;
}

static size_t fetch_header(char *p, size_t size, size_t n, void *userdata)
{
  struct fetch *f = userdata;
  size_t len = size * n;
  const char *k = "last-modified:";
  if (len > strlen(k) && strncasecmp(p, k, strlen(k)) == 0) {
    _cleanup_free_ char *v = xstrndup(p + strlen(k), len - strlen(k));
    v[strcspn(v, "\r\n")] = '\0';
    time_t t = curl_getdate(v, NULL);
    if (t > 0)
      f->mtime = (int64_t) t;
  }
  return len;
}

/* Downloads url into the file path (new), checks --checksum, and sets the
 * file's mtime to the response's Last-Modified (else the step's time), as
 * docker does. ret_digest: the content's sha256. */
static int fetch_url(struct builder *b, const char *url, const char *path, const char *checksum,
                     char *ret_digest, bothy_error_t *err)
{
  if (bothy_dlopen_curl(err) < 0)
    return -1;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return bothy_error_set_code(err, EIO, "cannot initialise libcurl");
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create '%s'", path);
  _cleanup_digester_ struct bothy_digester *d = bothy_digester_new();
  struct fetch f = { .fd = fd, .d = d, .mtime = step_time(b) };
  CURL *c = curl_easy_init();
  if (!c)
    return bothy_error_set_code(err, ENOMEM, "cannot initialise libcurl");
  char errbuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &f);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    return bothy_error_set_code(err, f.failed ? EIO : ECONNREFUSED, "cannot fetch: %s",
                                *errbuf ? errbuf : curl_easy_strerror(rc));
  bothy_digester_final(d, ret_digest);
  if (checksum && !streq(checksum, ret_digest))
    return bothy_error_set_code(err, EBADMSG, "checksum mismatch: expected %s, got %s", checksum,
                                ret_digest);
  struct timespec ts[2] = { { .tv_sec = f.mtime }, { .tv_sec = f.mtime } };
  if (futimens(fd, ts) < 0)
    return bothy_error_errno(err, "cannot set the time of '%s'", path);
  return 0;
}

/* "https://h/a/b.tar.gz?x=1" -> "b.tar.gz"; docker's fallback for a URL
 * that ends in '/' is the host's name. */
static char *url_basename(const char *url)
{
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  _cleanup_free_ char *path = xstrndup(p, strcspn(p, "?#"));
  size_t len = strlen(path);
  while (len && path[len - 1] == '/')
    path[--len] = '\0';
  const char *slash = strrchr(path, '/');
  return xstrdup(slash && slash[1] ? slash + 1 : path);
}

static int do_copy(struct builder *b, size_t si, struct bstate *s, const struct bothy_cf_instr *in,
                   bothy_error_t *err)
{
  const char *what = in->kind == BOTHY_CF_ADD ? "ADD" : "COPY";
  size_t n = strv_length(in->args);
  if (n < 2)
    return bothy_error_set_code(err, EINVAL, "%s requires at least two arguments", what);
  const char *cur = json_string_value(json_object_get(cfg_obj(s), "WorkingDir"));
  const char *dest_arg = in->args[n - 1];
  bool dest_slash = dest_arg[strlen(dest_arg) - 1] == '/' || streq(dest_arg, ".");
  _cleanup_free_ char *dest_clean = clean_abs(cur, dest_arg);
  _cleanup_free_ char *dest =
      dest_slash && !streq(dest_clean, "/") ? xasprintf("%s/", dest_clean) : xstrdup(dest_clean);

  /* Sources: heredocs are files of their own; the rest comes from the
   * context or the --from stage or image. */
  _cleanup_strv_free_ char **srcs = NULL, **urls = NULL;
  bool *is_heredoc = xcalloc(n, sizeof(bool));
  for (size_t h = 0; h < in->n_heredocs; h++)
    if (in->heredocs[h].arg >= 0 && (size_t) in->heredocs[h].arg < n - 1)
      is_heredoc[in->heredocs[h].arg] = true;
  for (size_t i = 0; i + 1 < n; i++) {
    if (is_heredoc[i])
      continue;
    if (is_url(in->args[i])) {
      if (in->kind != BOTHY_CF_ADD || in->from) {
        free(is_heredoc);
        return bothy_error_set_code(err, EINVAL, "%s: a URL source needs ADD (without --from): %s",
                                    what, in->args[i]);
      }
      strv_push(&urls, xstrdup(in->args[i]));
      continue;
    }
    strv_push(&srcs, xstrdup(in->args[i]));
  }
  free(is_heredoc);
  /* URLs are fetched every time (as docker does): their content is part of
   * the key. */
  _cleanup_strv_free_ char **url_files = NULL;
  _cleanup_sb_ struct sbuf url_key = { 0 };
  for (size_t u = 0; urls && urls[u]; u++) {
    char *f = tmp_path(b, "url");
    strv_push(&url_files, f);
    char digest[BOTHY_DIGEST_MAX];
    if (fetch_url(b, urls[u], f, in->checksum, digest, err) < 0)
      return bothy_error_prefix(err, "ADD %s", urls[u]);
    sb_adds(&url_key, digest);
    sb_addc(&url_key, ',');
  }

  struct bstate from = { 0 };
  struct bothy_context *src_ctx = b->ctx;
  _cleanup_context_ struct bothy_context *from_ctx = NULL;
  char hash[65] = "";
  struct bothy_copy_req req = {
    .srcs = srcs,
    .dest = dest,
    .exclude = in->exclude,
    .add = in->kind == BOTHY_CF_ADD && !in->from,
    .what = what,
  };
  if (in->from) {
    if (from_state(b, in->from, si, &from, err) < 0)
      return -1;
    memcpy(hash, from.key, sizeof(hash));
  } else if (srcs) {
    if (bothy_context_hash(b->ctx, &req, hash, err) < 0)
      return -1;
  }
  _cleanup_free_ char *canon = instr_canon(in);
  const char *parts[] = { canon, hash, dest, url_key.s };
  chain_key(s->key, parts, ARRAY_SIZE(parts));
  struct record r;
  if (cache_hit(b, s, in)) {
    state_done(&from);
    return 0;
  }

  int ret = -1;
  _cleanup_free_ char *view = NULL, *from_view = NULL;
  _cleanup_tarw_ struct bothy_tarw *w = NULL;
  _cleanup_close_ int vfd = -1;
  if (mount_view(b, s, &view, err) < 0)
    goto out;
  vfd = open(view, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (vfd < 0) {
    bothy_error_errno(err, "cannot open '%s'", view);
    goto out;
  }
  if (in->from) {
    if (mount_view(b, &from, &from_view, err) < 0 ||
        bothy_context_open_rootfs(from_view, &from_ctx, err) < 0)
      goto out;
    src_ctx = from_ctx;
  }
  if (in->chown && resolve_chown(in->chown, view, &req.meta, err) < 0)
    goto out;
  if (in->chmod) {
    char *end;
    unsigned long m = strtoul(in->chmod, &end, 8);
    if (!*in->chmod || *end || m > 07777) {
      bothy_error_set_code(err, EINVAL, "%s: invalid --chmod \"%s\": an octal mode is expected",
                           what, in->chmod);
      goto out;
    }
    req.meta.set_mode = true;
    req.meta.mode = (mode_t) m;
  }
  {
    _cleanup_close_ int dfd = bothy_open_in_root(vfd, dest_clean, O_PATH | O_DIRECTORY, 0);
    req.dest_is_dir = dfd >= 0;
  }
  struct bothy_tarw_opts to = { .timestamp = b->o->timestamp };
  if (bothy_tarw_new(&to, &w, err) < 0)
    goto out;
  /* The destination directory and its parents: as they are in the image,
   * or new ones. */
  {
    bool dir_dest =
        dest_slash || req.dest_is_dir || strv_length(srcs) + strv_length(urls) + in->n_heredocs > 1;
    _cleanup_free_ char *dirpath = xstrdup(dest_clean);
    if (!dir_dest) {
      char *slash = strrchr(dirpath, '/');
      if (slash == dirpath)
        slash[1] = '\0';
      else
        *slash = '\0';
    }
    if (!streq(dirpath, "/")) {
      for (char *q = dirpath + 1;; q++) {
        char c = *q;
        if (c == '/' || c == '\0') {
          *q = '\0';
          _cleanup_close_ int fd = bothy_open_in_root(vfd, dirpath, O_PATH | O_NOFOLLOW, 0);
          bool last = c == '\0';
          int k;
          if (fd >= 0)
            k = bothy_tarw_add_path(w, dirpath, vfd, dirpath + 1, NULL, err);
          else if (last && req.meta.set_owner)
            k = bothy_tarw_add_dir(w, dirpath, 0755, req.meta.uid, req.meta.gid, step_time(b), err);
          else
            k = bothy_tarw_add_dir(w, dirpath, 0755, 0, 0, step_time(b), err);
          if (k < 0)
            goto out;
          *q = c;
        }
        if (c == '\0')
          break;
      }
    }
    if (srcs && bothy_context_copy(src_ctx, &req, w, err) < 0)
      goto out;
    for (size_t u = 0; urls && urls[u]; u++) {
      /* Named after the URL's last path segment; 0600 as docker, unless
       * --chmod. */
      _cleanup_free_ char *base = url_basename(urls[u]);
      _cleanup_free_ char *name =
          dir_dest ? xasprintf("%s/%s", dest_clean, base) : xstrdup(dest_clean);
      struct bothy_tarw_meta m = req.meta;
      if (!m.set_mode) {
        m.set_mode = true;
        m.mode = 0600;
      }
      if (bothy_tarw_add_path(w, name, AT_FDCWD, url_files[u], &m, err) < 0)
        goto out;
    }
    for (size_t h = 0; h < in->n_heredocs; h++) {
      const struct bothy_cf_heredoc *hd = &in->heredocs[h];
      _cleanup_free_ char *name =
          dir_dest ? xasprintf("%s/%s", dest_clean, hd->name) : xstrdup(dest_clean);
      mode_t mode = req.meta.set_mode ? req.meta.mode : 0644;
      if (bothy_tarw_add_data(w, name, hd->content, strlen(hd->content), mode,
                              req.meta.set_owner ? req.meta.uid : 0,
                              req.meta.set_owner ? req.meta.gid : 0, step_time(b), err) < 0)
        goto out;
    }
  }
  r = (struct record){ 0 };
  if (commit_tar(b, w, &r, err) < 0)
    goto out;
  r.created = step_time(b);
  record_save(b, s->key, &r);
  apply_record(s, &r, in->text, r.created);
  record_done(&r);
  ret = 0;
out:
  state_done(&from);
  return ret;
}

/* ---- RUN --------------------------------------------------------------------- */

/* The output of a RUN goes through a pipe to a small process of ours, forked
 * before the container (a process, not a thread: the runtime forks, and a
 * thread holding a lock at that moment would leave it locked in the child),
 * which copies it to the build's output and to a log file whose last lines
 * a failing RUN's error shows. */
struct pump {
  pid_t pid;
  int log_fd;
};

static _noreturn_ void pump_child(int in_fd, int out_fd, int log_fd)
{
  char buf[16384];
  for (;;) {
    ssize_t k = read(in_fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    if (out_fd >= 0)
      bothy_write_all(out_fd, buf, (size_t) k);
    bothy_write_all(log_fd, buf, (size_t) k);
  }
  _exit(0);
}

/* The last lines of the log, each indented, or "". */
static char *pump_tail(int log_fd)
{
  char buf[4096];
  off_t end = lseek(log_fd, 0, SEEK_END);
  if (end <= 0)
    return xstrdup("");
  off_t start = end > (off_t) sizeof(buf) - 1 ? end - (off_t) sizeof(buf) + 1 : 0;
  ssize_t k = pread(log_fd, buf, (size_t) (end - start), start);
  if (k <= 0)
    return xstrdup("");
  buf[k] = '\0';
  while (k > 0 && buf[k - 1] == '\n')
    buf[--k] = '\0';
  /* Back RUN_TAIL_LINES lines from the end. */
  char *p = buf + k;
  int lines = 0;
  while (p > buf && lines < RUN_TAIL_LINES) {
    p--;
    if (*p == '\n')
      lines++;
  }
  if (*p == '\n')
    p++;
  struct sbuf s = { 0 };
  char *save = NULL;
  for (char *l = strtok_r(p, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    sb_adds(&s, "\n  ");
    sb_adds(&s, l);
  }
  return sb_take(&s);
}

/* What RUN --mount entries become. */
struct run_mounts {
  struct bothy_oci_mount *m;
  size_t n;
  char **strings; /* owned strings the mounts point at */
  char ***opt_lists;
  int *lock_fds;
  size_t n_locks;
};

static void run_mounts_done(struct run_mounts *rm)
{
  for (size_t i = 0; i < rm->n_locks; i++)
    safe_close(rm->lock_fds[i]);
  free(rm->lock_fds);
  for (size_t i = 0; rm->opt_lists && rm->opt_lists[i]; i++)
    strv_free(rm->opt_lists[i]);
  free(rm->opt_lists);
  strv_free(rm->strings);
  free(rm->m);
}

static const char *keep(struct run_mounts *rm, char *s)
{
  strv_push(&rm->strings, s);
  return s;
}

static void add_mount(struct run_mounts *rm, const char *type, const char *src, const char *target,
                      bool ro, char **opts)
{
  rm->m = xrealloc(rm->m, (rm->n + 1) * sizeof(*rm->m));
  size_t nl = 0;
  while (rm->opt_lists && rm->opt_lists[nl])
    nl++;
  rm->opt_lists = xrealloc(rm->opt_lists, (nl + 2) * sizeof(char **));
  rm->opt_lists[nl] = opts;
  rm->opt_lists[nl + 1] = NULL;
  rm->m[rm->n++] = (struct bothy_oci_mount){
    .source = src,
    .target = target,
    .type = type,
    .options = opts,
    .readonly = ro,
  };
}

static bool opt_true(const char *v)
{
  return !v || !*v || streq(v, "true") || streq(v, "1");
}

static const char *secret_path(struct builder *b, const char *id)
{
  size_t l = strlen(id);
  for (char **p = b->secrets; p && *p; p++)
    if (strncmp(*p, id, l) == 0 && (*p)[l] == '\t')
      return *p + l + 1;
  return NULL;
}

/* Resolves RUN --mount into OCI mounts; keyparts gets what the cache must
 * see of them (the content of bound context directories). */
static int resolve_mounts(struct builder *b, size_t si, const struct bothy_cf_instr *in,
                          const char *cwd, struct run_mounts *rm, char ***keyparts,
                          bothy_error_t *err)
{
  for (size_t i = 0; i < in->n_mounts; i++) {
    const struct bothy_cf_mount *m = &in->mounts[i];
    const char *tgt = bothy_cf_mount_get(m, "target");
    _cleanup_free_ char *target = tgt ? clean_abs(cwd, tgt) : NULL;
    bool ro =
        bothy_cf_mount_get(m, "readonly") ? opt_true(bothy_cf_mount_get(m, "readonly")) : false;
    switch (m->type) {
    case BOTHY_CF_MOUNT_TMPFS: {
      char **opts = NULL;
      const char *size = bothy_cf_mount_get(m, "size");
      if (size)
        strv_push(&opts, xasprintf("size=%s", size));
      add_mount(rm, "tmpfs", NULL, keep(rm, TAKE_PTR(target)), false, opts);
      break;
    }
    case BOTHY_CF_MOUNT_CACHE: {
      const char *id = bothy_cf_mount_get(m, "id");
      _cleanup_free_ char *idk = xstrdup(id && *id ? id : target);
      char dg[BOTHY_DIGEST_MAX];
      bothy_digest_buffer(idk, strlen(idk), dg);
      _cleanup_free_ char *dir = xasprintf("%s/mounts/%s", b->cache_dir, bothy_digest_hex(dg));
      if (!bothy_path_exists(dir)) {
        const char *mode = bothy_cf_mount_get(m, "mode");
        const char *uid = bothy_cf_mount_get(m, "uid");
        const char *gid = bothy_cf_mount_get(m, "gid");
        if (bothy_mkdir_p(dir, 0755, err) < 0)
          return -1;
        if (mode)
          chmod(dir, (mode_t) strtoul(mode, NULL, 8));
        if (uid || gid)
          if (chown(dir, uid ? (uid_t) strtoul(uid, NULL, 10) : 0,
                    gid ? (gid_t) strtoul(gid, NULL, 10) : 0) < 0)
            return bothy_error_errno(err, "cannot chown cache mount '%s'", dir);
      }
      const char *sharing = bothy_cf_mount_get(m, "sharing");
      if (sharing && streq(sharing, "locked")) {
        _cleanup_free_ char *lk = xasprintf("%s.lock", dir);
        int fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
          return bothy_error_errno(err, "cannot lock cache mount '%s'", dir);
        rm->lock_fds = xrealloc(rm->lock_fds, (rm->n_locks + 1) * sizeof(int));
        rm->lock_fds[rm->n_locks++] = fd;
      }
      char **opts = NULL;
      strv_push(&opts, xstrdup("rbind"));
      add_mount(rm, "bind", keep(rm, TAKE_PTR(dir)), keep(rm, TAKE_PTR(target)), ro, opts);
      break;
    }
    case BOTHY_CF_MOUNT_SECRET: {
      const char *id = bothy_cf_mount_get(m, "id");
      if (!id || !*id)
        return bothy_error_set_code(err, EINVAL, "RUN --mount=type=secret needs an id");
      const char *src = secret_path(b, id);
      if (!src) {
        if (bothy_cf_mount_get(m, "required") && opt_true(bothy_cf_mount_get(m, "required")))
          return bothy_error_set_code(
              err, ENOENT, "secret \"%s\" is required but was not given (--secret id=%s,src=FILE)",
              id, id);
        break;
      }
      char *t = target ? TAKE_PTR(target) : xasprintf("/run/secrets/%s", id);
      char **opts = NULL;
      strv_push(&opts, xstrdup("bind"));
      add_mount(rm, "bind", src, keep(rm, t), true, opts);
      break;
    }
    case BOTHY_CF_MOUNT_BIND: {
      const char *from = bothy_cf_mount_get(m, "from");
      const char *source = bothy_cf_mount_get(m, "source");
      bool rw = bothy_cf_mount_get(m, "rw") && opt_true(bothy_cf_mount_get(m, "rw"));
      _cleanup_free_ char *rootdir = NULL;
      int rootfd_owned = -1;
      if (from) {
        struct bstate fs = { 0 };
        if (from_state(b, from, si, &fs, err) < 0)
          return -1;
        int k = mount_view(b, &fs, &rootdir, err);
        strv_push(keyparts, xstrdup(fs.key));
        state_done(&fs);
        if (k < 0)
          return -1;
      } else {
        rootdir = xasprintf("/proc/self/fd/%d", bothy_context_dirfd(b->ctx));
        char h[65];
        char *srcv[] = { (char *) (source ? source : "."), NULL };
        struct bothy_copy_req req = {
          .srcs = srcv, .dest = "/", .dest_is_dir = true, .what = "RUN --mount"
        };
        if (bothy_context_hash(b->ctx, &req, h, err) < 0)
          return -1;
        strv_push(keyparts, xstrdup(h));
      }
      _cleanup_close_ int rootfd = open(rootdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (rootfd < 0)
        return bothy_error_errno(err, "cannot open '%s'", rootdir);
      (void) rootfd_owned;
      _cleanup_close_ int sfd = bothy_open_in_root(rootfd, source ? source : "/", O_PATH, 0);
      if (sfd < 0)
        return bothy_error_set_code(err, -sfd, "RUN --mount: source \"%s\" not found",
                                    source ? source : ".");
      char lp[64];
      snprintf(lp, sizeof(lp), "/proc/self/fd/%d", sfd);
      char real[PATH_MAX];
      ssize_t k = readlink(lp, real, sizeof(real) - 1);
      if (k < 0)
        return bothy_error_errno(err, "cannot resolve '%s'", lp);
      real[k] = '\0';
      if (rw) {
        /* Writes are thrown away: an overlay with a throwaway upper. */
        struct stat sb;
        if (fstat(sfd, &sb) < 0 || !S_ISDIR(sb.st_mode))
          return bothy_error_set_code(err, EINVAL, "RUN --mount: rw needs a directory source");
        _cleanup_free_ char *base = tmp_path(b, "rw");
        _cleanup_free_ char *up = xasprintf("%s/upper", base), *wk = xasprintf("%s/work", base),
                            *mp = xasprintf("%s/m", base);
        const char *lowers[] = { real };
        if (bothy_mkdir_p(up, 0755, err) < 0 || bothy_mkdir_p(wk, 0755, err) < 0 ||
            bothy_mkdir_p(mp, 0755, err) < 0 || bothy_overlay_mount(lowers, 1, up, wk, mp, err) < 0)
          return -1;
        strv_push(&b->mounts, xstrdup(mp));
        char **opts = NULL;
        strv_push(&opts, xstrdup("rbind"));
        add_mount(rm, "bind", keep(rm, TAKE_PTR(mp)), keep(rm, TAKE_PTR(target)), false, opts);
      } else {
        char **opts = NULL;
        strv_push(&opts, xstrdup("rbind"));
        add_mount(rm, "bind", keep(rm, xstrdup(real)), keep(rm, TAKE_PTR(target)), true, opts);
      }
      break;
    }
    default:
      return bothy_error_set_code(err, EOPNOTSUPP, "RUN --mount: this mount type is not supported");
    }
  }
  return 0;
}

/* The runtime creates what it mounts on when the image lacks it: files and
 * directories that must not end up in the layer. Remembers which of the
 * mount targets (and their parents) are missing before the run. */
struct made {
  char **paths; /* absolute, deepest last */
};

static void note_missing(int rootfd, const char *target, struct made *md)
{
  _cleanup_free_ char *p = xstrdup(target);
  char **chain = NULL;
  for (;;) {
    if (streq(p, "/") || !*p)
      break;
    struct stat sb;
    _cleanup_close_ int fd = bothy_open_in_root(rootfd, p, O_PATH | O_NOFOLLOW, 0);
    if (fd >= 0 && fstat(fd, &sb) == 0)
      break;
    strv_push(&chain, xstrdup(p));
    char *slash = strrchr(p, '/');
    if (!slash)
      break;
    *slash = '\0';
  }
  /* chain is deepest first; md->paths wants parents first. */
  for (size_t n = strv_length(chain); n-- > 0;)
    if (!strv_contains(md->paths, chain[n]))
      strv_push(&md->paths, xstrdup(chain[n]));
  strv_free(chain);
}

static bool opaque_dir(int upperfd, const char *rel)
{
  char v[4];
  _cleanup_free_ char *p = xasprintf("/proc/self/fd/%d/%s", upperfd, rel);
  return getxattr(p, "trusted.overlay.opaque", v, sizeof(v)) > 0 ||
         getxattr(p, "user.overlay.opaque", v, sizeof(v)) > 0;
}

static void remove_made(int upperfd, struct made *md)
{
  for (size_t n = strv_length(md->paths); n-- > 0;) {
    const char *rel = md->paths[n] + 1;
    struct stat sb;
    if (fstatat(upperfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISDIR(sb.st_mode))
      unlinkat(upperfd, rel, AT_REMOVEDIR); /* only when empty */
    else if (S_ISREG(sb.st_mode) && sb.st_size == 0)
      unlinkat(upperfd, rel, 0);
    /* Making the mount point copied its directory up ("/etc" for
     * /etc/resolv.conf); left empty, that copy only records a new mtime.
     * An opaque directory is a deletion of what was below it: kept. */
    _cleanup_free_ char *parent = xstrdup(rel);
    for (char *slash = strrchr(parent, '/'); slash; slash = strrchr(parent, '/')) {
      *slash = '\0';
      if (opaque_dir(upperfd, parent) || unlinkat(upperfd, parent, AT_REMOVEDIR) < 0)
        break;
    }
  }
}

static int do_run(struct builder *b, size_t si, struct bstate *s, const struct bothy_cf_instr *in,
                  bothy_error_t *err)
{
  const char *cwd = json_string_value(json_object_get(cfg_obj(s), "WorkingDir"));
  const char *network = in->network ? in->network : (b->o->network ? b->o->network : "host");
  if (!streq(network, "host") && !streq(network, "none") && !streq(network, "default"))
    return bothy_error_set_code(err, EINVAL, "RUN --network=%s: only host and none are supported",
                                network);
  if (streq(network, "default"))
    network = b->o->network ? b->o->network : "host";

  struct run_mounts rm = { 0 };
  _cleanup_strv_free_ char **keyparts = NULL;
  int ret = -1;
  if (resolve_mounts(b, si, in, cwd, &rm, &keyparts, err) < 0) {
    run_mounts_done(&rm);
    return -1;
  }
  _cleanup_free_ char *canon = instr_canon(in);
  _cleanup_sb_ struct sbuf mkeys = { 0 };
  for (char **p = keyparts; p && *p; p++) {
    sb_adds(&mkeys, *p);
    sb_addc(&mkeys, ',');
  }
  const char *parts[] = { canon, network, mkeys.s };
  chain_key(s->key, parts, ARRAY_SIZE(parts));
  struct record r;
  if (cache_hit(b, s, in)) {
    run_mounts_done(&rm);
    return 0;
  }

  /* The command: exec form as it is; shell form through the stage's SHELL. */
  _cleanup_strv_free_ char **args = NULL;
  if (in->json) {
    args = strv_copy(in->args);
  } else {
    json_t *a = shell_or_json(s, in);
    size_t i;
    json_t *e;
    json_array_foreach (a, i, e)
      strv_push(&args, xstrdup(json_string_value(e)));
    json_decref(a);
    /* Heredocs: the shell reads them itself, so they follow the command
     * line as written; "RUN <<EOT" alone runs the heredoc as the script. */
    if (in->n_heredocs > 0 && args) {
      size_t na = strv_length(args);
      const struct bothy_cf_heredoc *h0 = &in->heredocs[0];
      _cleanup_free_ char *trimmed = xstrdup(in->args[0]);
      char *t = trimmed;
      while (*t == ' ' || *t == '\t')
        t++;
      bool alone = in->n_heredocs == 1 && strncmp(t, "<<", 2) == 0 && !strpbrk(t, " \t|;&>");
      char *script;
      if (alone) {
        script = xstrdup(h0->content);
      } else {
        struct sbuf sc = { 0 };
        sb_adds(&sc, args[na - 1]);
        sb_addc(&sc, '\n');
        for (size_t h = 0; h < in->n_heredocs; h++) {
          sb_adds(&sc, in->heredocs[h].content);
          sb_adds(&sc, in->heredocs[h].name);
          sb_addc(&sc, '\n');
        }
        script = sb_take(&sc);
      }
      free(args[na - 1]);
      args[na - 1] = script;
    }
  }
  if (!args || !args[0]) {
    run_mounts_done(&rm);
    return bothy_error_set_code(err, EINVAL, "RUN: no command");
  }

  _cleanup_free_ char *dir = tmp_path(b, "run");
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir), *upper = xasprintf("%s/upper", dir),
                      *work = xasprintf("%s/work", dir), *etc = xasprintf("%s/etc", dir),
                      *empty = xasprintf("%s/empty", dir);
  _cleanup_strv_free_ char **lowers = NULL;
  _cleanup_json_ json_t *spec = NULL;
  _cleanup_image_config_ struct bothy_image_config *ic = NULL;
  _cleanup_free_ char *id = NULL;
  struct made md = { 0 };
  struct pump pump = { .log_fd = -1 };
  bool mounted = false;
  if (bothy_mkdir_p(rootfs, 0755, err) < 0 || bothy_mkdir_p(upper, 0755, err) < 0 ||
      bothy_mkdir_p(work, 0755, err) < 0 || bothy_mkdir_p(etc, 0755, err) < 0 ||
      bothy_mkdir_p(empty, 0755, err) < 0)
    goto out;
  if (layer_dirs(b, s, &lowers, err) < 0)
    goto out;
  if (!lowers || !lowers[0])
    strv_push(&lowers, xstrdup(empty));
  if (bothy_overlay_mount((const char *const *) lowers, strv_length(lowers), upper, work, rootfs,
                          err) < 0)
    goto out;
  strv_push(&b->mounts, xstrdup(rootfs));
  mounted = true;
  {
    /* hostname, hosts and resolv.conf, bind-mounted by the spec. */
    _cleanup_close_ int efd = open(etc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                        "127.0.1.1\t" HOSTNAME "\n";
    _cleanup_free_ char *resolv = NULL;
    if (bothy_read_file(AT_FDCWD, "/etc/resolv.conf", &resolv, NULL, NULL) < 0)
      resolv = xstrdup("");
    if (efd < 0 ||
        bothy_write_file_replace(efd, "hostname", HOSTNAME "\n", strlen(HOSTNAME) + 1, 0644, err) <
            0 ||
        bothy_write_file_replace(efd, "hosts", hosts, strlen(hosts), 0644, err) < 0 ||
        bothy_write_file_replace(efd, "resolv.conf", resolv, strlen(resolv), 0644, err) < 0)
      goto out;
  }
  {
    _cleanup_free_ char *body = bothy_json_dump(s->config, false);
    if (bothy_image_config_parse(body, strlen(body), "the stage's configuration", &ic, err) < 0)
      goto out;
  }
  id = xasprintf("build-%s", b->tmp + strlen(b->tmp) - 12);
  {
    _cleanup_free_ char *idn = xasprintf("%s-%u", id, b->seq++);
    free(id);
    id = TAKE_PTR(idn);
  }
  struct bothy_run_opts ro = {
    .args = args,
    .entrypoint = "",
    .env = in->run_args,
    .workdir = cwd && *cwd ? cwd : "/",
    .hostname = HOSTNAME,
    .network = streq(network, "host") ? BOTHY_NET_HOST : BOTHY_NET_NONE,
    .mounts = rm.m,
    .n_mounts = rm.n,
    .no_new_privileges_off = true,
  };
  if (bothy_container_oci_spec(ic, &ro, id, rootfs, etc, &spec, err) < 0)
    goto out;
  {
    /* A RUN's files belong to the image: no cgroup limits beyond the
     * runtime's own, the default capabilities. What the runtime will mount
     * on and the image lacks is removed from the layer afterwards. */
    _cleanup_close_ int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    size_t i;
    json_t *m;
    json_array_foreach (json_object_get(spec, "mounts"), i, m) {
      const char *dst = json_string_value(json_object_get(m, "destination"));
      if (dst && rfd >= 0)
        note_missing(rfd, dst, &md);
    }
    if (rfd >= 0) {
      note_missing(rfd, ro.workdir, &md);
    }
  }
  {
    _cleanup_free_ char *body = bothy_json_dump(spec, true);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int tfd = open(b->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || tfd < 0) {
      bothy_error_errno(err, "cannot open '%s'", dir);
      goto out;
    }
    /* The runtime id first: a build killed while this runs leaves it for
     * the next build to delete. */
    if (bothy_write_file_replace(tfd, ".runtime-id", id, strlen(id), 0600, err) < 0 ||
        bothy_write_file_replace(dfd, "config.json", body, strlen(body), 0644, err) < 0)
      goto out;
  }

  /* Run it, its stdout and stderr into the pump. */
  {
    _cleanup_free_ char *logp = xasprintf("%s/output", dir);
    pump.log_fd = open(logp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int pfd[2];
    if (pump.log_fd < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
      bothy_error_errno(err, "cannot set up the output of RUN");
      goto out;
    }
    fflush(stdout);
    fflush(stderr);
    int out_fd = b->o->quiet ? -1 : fileno(b->out);
    pump.pid = fork();
    if (pump.pid < 0) {
      close(pfd[0]);
      close(pfd[1]);
      bothy_error_errno(err, "cannot fork");
      goto out;
    }
    if (pump.pid == 0) {
      /* Not the build's lock: a killed build must be seen as dead while
       * its orphaned pump still runs. */
      close(b->lockfd);
      close(pfd[1]);
      pump_child(pfd[0], out_fd, pump.log_fd);
    }
    close(pfd[0]);
    int saved[3] = { dup(0), dup(1), dup(2) };
    _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(devnull, 0);
    dup2(pfd[1], 1);
    dup2(pfd[1], 2);
    close(pfd[1]);
    struct bothy_runtime rt = { .root = b->rt_root };
    struct bothy_create_opts co = { .id = id, .bundle = dir };
    int code = 0;
    int k = bothy_container_run(&rt, &co, &code, err);
    for (int fd = 0; fd < 3; fd++) {
      dup2(saved[fd], fd);
      close(saved[fd]);
    }
    bothy_waitpid(pump.pid, 0);
    pump.pid = 0;
    if (k < 0)
      goto out;
    if (code != 0) {
      _cleanup_free_ char *tail = pump_tail(pump.log_fd);
      bothy_error_set_code(err, EIO, "RUN failed with exit code %d: %s%s%s", code, in->text,
                           *tail ? "\nlast output:" : "", tail);
      goto out;
    }
  }
  if (umount2(rootfs, MNT_DETACH) == 0)
    forget_mount(b, rootfs);
  mounted = false;
  {
    _cleanup_close_ int ufd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ufd < 0) {
      bothy_error_errno(err, "cannot open '%s'", upper);
      goto out;
    }
    remove_made(ufd, &md);
    struct bothy_tarw_opts to = { .timestamp = b->o->timestamp };
    _cleanup_tarw_ struct bothy_tarw *w = NULL;
    if (bothy_tarw_new(&to, &w, err) < 0 || bothy_tarw_add_diff(w, ufd, err) < 0)
      goto out;
    r = (struct record){ 0 };
    if (bothy_tarw_count(w) == 0) {
      /* Nothing changed: no layer, as BuildKit does. */
      r.none = true;
      record_save(b, s->key, &r);
      add_history(s, in->text, s->created, true);
      ret = 0;
      goto out;
    }
    if (commit_tar(b, w, &r, err) < 0)
      goto out;
  }
  r.created = step_time(b);
  record_save(b, s->key, &r);
  apply_record(s, &r, in->text, r.created);
  record_done(&r);
  ret = 0;
out:
  if (mounted && umount2(rootfs, MNT_DETACH) == 0)
    forget_mount(b, rootfs);
  if (pump.pid > 0)
    bothy_waitpid(pump.pid, 0);
  safe_close(pump.log_fd);
  strv_free(md.paths);
  run_mounts_done(&rm);
  bothy_rm_rf_at(AT_FDCWD, dir, NULL);
  (void) si;
  return ret;
}

/* ---- stages and the image ---------------------------------------------------- */

static int start_stage(struct builder *b, size_t si, struct bstate *s, bothy_error_t *err)
{
  const struct bothy_cf_stage *sg = &b->cf->stages[si];
  if (sg->base_stage >= 0) {
    state_copy(s, &b->st[sg->base_stage]);
    const char *parts[] = { "stage" };
    chain_key(s->key, parts, 1);
    return 0;
  }
  if (strcasecmp(sg->base, "scratch") == 0) {
    const char *os, *arch, *variant;
    bothy_platform_native(&os, &arch, &variant);
    s->config = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", arch, "os", os,
                          "config", "rootfs", "type", "layers", "diff_ids", "history");
    if (variant)
      json_object_set_new(s->config, "variant", json_string(variant));
    s->layers = json_array();
    const char *parts[] = { "scratch", arch };
    s->key[0] = '\0';
    chain_key(s->key, parts, ARRAY_SIZE(parts));
    s->created = b->o->timestamp >= 0 ? b->o->timestamp : 0;
    return 0;
  }
  struct base_image *bi;
  if (get_base(b, sg->base, &bi, err) < 0)
    return -1;
  s->config = json_deep_copy(bi->config);
  s->layers = json_deep_copy(bi->layers);
  /* What a builder records about its own run does not belong to the new
   * image. */
  json_object_del(s->config, "container");
  json_object_del(s->config, "container_config");
  json_object_del(s->config, "docker_version");
  json_object_del(json_object_get(s->config, "config"), "OnBuild");
  s->created = parse_time(json_string_value(json_object_get(s->config, "created")));
  if (b->o->timestamp >= 0)
    s->created = b->o->timestamp;
  const char *parts[] = { "image", bi->digest };
  s->key[0] = '\0';
  chain_key(s->key, parts, ARRAY_SIZE(parts));
  return 0;
}

static const char *layer_type(const char *mt, bool docker)
{
  bool gz = strstr(mt, "gzip") != NULL, zst = strstr(mt, "zstd") != NULL;
  if (docker) {
    if (zst)
      return NULL;
    return gz ? BOTHY_MT_DOCKER_LAYER : "application/vnd.docker.image.rootfs.diff.tar";
  }
  return gz ? BOTHY_MT_OCI_LAYER_GZIP : zst ? BOTHY_MT_OCI_LAYER_ZSTD : BOTHY_MT_OCI_LAYER;
}

static int commit_image(struct builder *b, struct bstate *s, char **ret_digest, bothy_error_t *err)
{
  bool docker = b->o->docker_format;
  for (char *const *l = b->o->labels; l && *l; l++) {
    const char *eq = strchr(*l, '=');
    _cleanup_free_ char *k = eq ? strndup(*l, (size_t) (eq - *l)) : xstrdup(*l);
    json_object_set_new(cfg_sub(s, "Labels"), k, json_string(eq ? eq + 1 : ""));
  }
  char ts[64];
  format_time(b->o->timestamp >= 0 ? b->o->timestamp : s->created, ts, sizeof(ts));
  json_object_set_new(s->config, "created", json_string(ts));
  _cleanup_free_ char *cfg_body = bothy_json_dump(s->config, false);
  char cfg_digest[BOTHY_DIGEST_MAX], digest[BOTHY_DIGEST_MAX];
  if (bothy_store_blob_ingest_buffer(b->imgs->store, cfg_body, strlen(cfg_body), NULL, cfg_digest,
                                     err) < 0)
    return -1;
  json_t *layers = json_array();
  size_t i;
  json_t *l;
  json_array_foreach (s->layers, i, l) {
    const char *mt = layer_type(json_string_value(json_object_get(l, "mediaType")), docker);
    if (!mt) {
      json_decref(layers);
      return bothy_error_set_code(err, EINVAL,
                                  "--format docker cannot hold zstd layers: use --format oci");
    }
    json_array_append_new(layers, json_pack("{s:s, s:O, s:O}", "mediaType", mt, "digest",
                                            json_object_get(l, "digest"), "size",
                                            json_object_get(l, "size")));
  }
  _cleanup_json_ json_t *m =
      json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                docker ? BOTHY_MT_DOCKER_MANIFEST : BOTHY_MT_OCI_MANIFEST, "config", "mediaType",
                docker ? BOTHY_MT_DOCKER_CONFIG : BOTHY_MT_OCI_CONFIG, "digest", cfg_digest, "size",
                (json_int_t) strlen(cfg_body), "layers", layers);
  _cleanup_free_ char *body = bothy_json_dump(m, false);
  if (bothy_store_blob_ingest_buffer(b->imgs->store, body, strlen(body), NULL, digest, err) < 0)
    return -1;
  for (char *const *t = b->o->tags; t && *t; t++) {
    _cleanup_store_descriptor_ struct bothy_store_descriptor *have = NULL;
    if (bothy_store_index_lookup(b->imgs->store, *t, &have, NULL) == 1 &&
        streq(have->digest, digest))
      continue;
    struct bothy_store_descriptor d = {
      .media_type = (char *) (docker ? BOTHY_MT_DOCKER_MANIFEST : BOTHY_MT_OCI_MANIFEST),
      .digest = digest,
      .size = (int64_t) strlen(body),
    };
    if (bothy_store_index_set(b->imgs->store, *t, &d, err) < 0)
      return -1;
  }
  *ret_digest = xstrdup(digest);
  return 0;
}

static int build_stage(struct builder *b, size_t si, bothy_error_t *err)
{
  const struct bothy_cf_stage *sg = &b->cf->stages[si];
  struct bstate *s = &b->st[si];
  out(b, "STEP %u/%u: %s\n", ++b->step, b->n_steps, sg->text);
  if (start_stage(b, si, s, err) < 0)
    return bothy_error_prefix(err, "%s:%u: %s", b->o->file ? b->o->file : "Containerfile", sg->line,
                              "FROM");
  for (size_t i = 0; i < sg->n_instrs; i++) {
    const struct bothy_cf_instr *in = &sg->instrs[i];
    out(b, "STEP %u/%u: %s\n", ++b->step, b->n_steps, in->text);
    int r = 0;
    switch (in->kind) {
    case BOTHY_CF_RUN:
      r = do_run(b, si, s, in, err);
      break;
    case BOTHY_CF_COPY:
    case BOTHY_CF_ADD:
      r = do_copy(b, si, s, in, err);
      break;
    case BOTHY_CF_WORKDIR:
      r = do_workdir(b, s, in, err);
      break;
    case BOTHY_CF_ARG: {
      /* Changes nothing in the image; the values reach RUN's key. */
      break;
    }
    default: {
      apply_config(b, s, in);
      _cleanup_free_ char *canon = instr_canon(in);
      const char *parts[] = { canon };
      chain_key(s->key, parts, 1);
      add_history(s, in->text, s->created, true);
      break;
    }
    }
    if (r < 0) {
      const char *f = b->o->file ? b->o->file : "Containerfile";
      const char *slash = strrchr(f, '/');
      return bothy_error_prefix(err, "%s:%u", slash ? slash + 1 : f, in->line);
    }
  }
  s->built = true;
  return 0;
}

/* ---- the whole build ---------------------------------------------------------- */

static int read_containerfile(const struct bothy_build_opts *o, char **ret, size_t *ret_len,
                              char **ret_name, bothy_error_t *err)
{
  if (o->file) {
    if (bothy_read_file(AT_FDCWD, o->file, ret, ret_len, err) < 0)
      return bothy_error_prefix(err, "cannot read the Containerfile");
    *ret_name = xstrdup(o->file);
    return 0;
  }
  const char *names[] = { "Containerfile", "Dockerfile" };
  for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
    _cleanup_free_ char *p = xasprintf("%s/%s", o->context_dir, names[i]);
    if (bothy_read_file(AT_FDCWD, p, ret, ret_len, NULL) == 0) {
      *ret_name = xstrdup(names[i]);
      return 0;
    }
  }
  return bothy_error_set_code(err, ENOENT, "no Containerfile or Dockerfile in '%s' (use -f FILE)",
                              o->context_dir);
}

static char **builtin_args(void)
{
  const char *os, *arch, *variant;
  bothy_platform_native(&os, &arch, &variant);
  _cleanup_free_ char *plat =
      variant ? xasprintf("%s/%s/%s", os, arch, variant) : xasprintf("%s/%s", os, arch);
  char **v = NULL;
  const char *pre[] = { "TARGET", "BUILD" };
  for (size_t i = 0; i < 2; i++) {
    strv_push(&v, xasprintf("%sPLATFORM=%s", pre[i], plat));
    strv_push(&v, xasprintf("%sOS=%s", pre[i], os));
    strv_push(&v, xasprintf("%sARCH=%s", pre[i], arch));
    strv_push(&v, xasprintf("%sVARIANT=%s", pre[i], variant ? variant : ""));
  }
  return v;
}

static int parse_secrets(struct builder *b, bothy_error_t *err)
{
  for (char *const *p = b->o->secrets; p && *p; p++) {
    _cleanup_free_ char *copy = xstrdup(*p);
    const char *id = NULL, *src = NULL, *env = NULL;
    char *save = NULL;
    for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
      if (strncmp(f, "id=", 3) == 0)
        id = f + 3;
      else if (strncmp(f, "src=", 4) == 0)
        src = f + 4;
      else if (strncmp(f, "source=", 7) == 0)
        src = f + 7;
      else if (strncmp(f, "env=", 4) == 0)
        env = f + 4;
      else if (strncmp(f, "type=", 5) != 0)
        return bothy_error_set_code(err, EINVAL, "--secret \"%s\": unknown field \"%s\"", *p, f);
    }
    if (!id || !*id)
      return bothy_error_set_code(err, EINVAL, "--secret \"%s\": id= is required", *p);
    if (env) {
      /* The variable's value goes into a private file for the mount. */
      const char *v = getenv(env);
      if (!v)
        return bothy_error_set_code(err, ENOENT, "--secret \"%s\": $%s is not set", *p, env);
      _cleanup_free_ char *f = tmp_path(b, "secret");
      _cleanup_close_ int fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
      if (fd < 0 || bothy_write_all(fd, v, strlen(v)) < 0)
        return bothy_error_errno(err, "cannot write '%s'", f);
      strv_push(&b->secrets, xasprintf("%s\t%s", id, f));
      continue;
    }
    if (!src)
      return bothy_error_set_code(err, EINVAL, "--secret \"%s\": src= or env= is required", *p);
    char real[PATH_MAX];
    if (!realpath(src, real))
      return bothy_error_errno(err, "--secret \"%s\": cannot use '%s'", *p, src);
    struct stat sb;
    if (stat(real, &sb) < 0 || !S_ISREG(sb.st_mode))
      return bothy_error_set_code(err, EINVAL, "--secret \"%s\": '%s' is not a regular file", *p,
                                  src);
    strv_push(&b->secrets, xasprintf("%s\t%s", id, real));
  }
  return 0;
}

int bothy_build(const struct bothy_build_opts *o, char **ret_digest, bothy_error_t *err)
{
  struct builder b = { .o = o, .out = o->out ? o->out : stdout, .lockfd = -1 };
  b.now = (int64_t) time(NULL);
  int ret = -1;
  _cleanup_free_ char *data = NULL, *fname = NULL;
  size_t len = 0;
  _cleanup_strv_free_ char **builtins = builtin_args();
  _cleanup_free_ bool *needed = NULL;
  int target;

  struct stat sb;
  if (stat(o->context_dir, &sb) < 0)
    return bothy_error_errno(err, "build context '%s'", o->context_dir);
  if (!S_ISDIR(sb.st_mode))
    return bothy_error_set_code(err, ENOTDIR, "build context '%s' is not a directory",
                                o->context_dir);
  if (o->network && !streq(o->network, "host") && !streq(o->network, "none"))
    return bothy_error_set_code(err, EINVAL, "--network %s: a build's RUN takes host or none",
                                o->network);
  for (char *const *t = o->tags; t && *t; t++)
    if (bothy_store_ref_name_validate(*t, err) < 0)
      return -1;
  if (read_containerfile(o, &data, &len, &fname, err) < 0)
    return -1;

  if (bothy_images_open(o->root, &b.imgs, err) < 0)
    return -1;
  b.cache_dir = xasprintf("%s/build-cache", o->root);
  b.rt_root = xasprintf("%s/runtime", o->root);
  _cleanup_free_ char *builds = xasprintf("%s/build", o->root);
  if (bothy_mkdir_p(b.cache_dir, 0700, err) < 0 || bothy_mkdir_p(builds, 0700, err) < 0)
    goto out;
  clean_stale(o->root);
  {
    _cleanup_free_ char *rnd = bothy_random_hex(8);
    b.tmp = xasprintf("%s/%s", builds, rnd);
    if (mkdir(b.tmp, 0700) < 0) {
      bothy_error_errno(err, "cannot create '%s'", b.tmp);
      goto out;
    }
    _cleanup_free_ char *lock = xasprintf("%s/.lock", b.tmp);
    b.lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b.lockfd < 0 || flock(b.lockfd, LOCK_EX) < 0) {
      bothy_error_errno(err, "cannot lock '%s'", lock);
      goto out;
    }
  }
  if (parse_secrets(&b, err) < 0)
    goto out;

  {
    const char *slash = strrchr(fname, '/');
    struct bothy_cf_options po = {
      .filename = slash ? slash + 1 : fname,
      .build_args = o->build_args,
      .builtin_args = builtins,
      .base_env = base_env,
      .base_onbuild = base_onbuild,
      .userdata = &b,
    };
    if (bothy_containerfile_parse(data, len, &po, &b.cf, err) < 0)
      goto out;
  }
  target = bothy_containerfile_target(b.cf, o->target, &needed, err);
  if (target < 0)
    goto out;
  for (char **u = b.cf->unused_build_args; u && *u; u++)
    if (!o->quiet)
      fprintf(stderr, "bothy: warning: build argument %s is not used by any ARG\n", *u);
  if (bothy_context_open(o->context_dir, NULL, &b.ctx, err) < 0)
    goto out;
  b.st = xcalloc(b.cf->n_stages, sizeof(*b.st));
  for (size_t i = 0; i <= (size_t) target; i++)
    if (needed[i])
      b.n_steps += 1 + (unsigned) b.cf->stages[i].n_instrs;
  for (size_t i = 0; i <= (size_t) target; i++)
    if (needed[i] && build_stage(&b, i, err) < 0)
      goto out;
  out(&b, "COMMIT%s%s\n", o->tags && o->tags[0] ? " " : "",
      o->tags && o->tags[0] ? o->tags[0] : "");
  if (commit_image(&b, &b.st[target], ret_digest, err) < 0)
    goto out;
  out(&b, "--> %.12s\n", bothy_digest_hex(*ret_digest));
  for (char *const *t = o->tags; t && *t; t++)
    out(&b, "Successfully tagged %s\n", *t);
  ret = 0;
out:
  unmount_all(&b);
  for (size_t i = 0; b.st && i < b.cf->n_stages; i++)
    state_done(&b.st[i]);
  free(b.st);
  for (size_t i = 0; i < b.n_bases; i++)
    base_done(&b.bases[i]);
  free(b.bases);
  bothy_context_free(b.ctx);
  bothy_containerfile_free(b.cf);
  if (b.tmp) {
    bothy_rm_rf_at(AT_FDCWD, b.tmp, NULL);
    free(b.tmp);
  }
  safe_close(b.lockfd);
  strv_free(b.secrets);
  free(b.cache_dir);
  free(b.rt_root);
  bothy_images_free(b.imgs);
  return ret;
}

int bothy_build_cache_layers(const char *root, char ***ret, bothy_error_t *err)
{
  _cleanup_free_ char *dir = xasprintf("%s/build-cache", root);
  _cleanup_closedir_ DIR *d = opendir(dir);
  char **v = NULL;
  if (!d && errno != ENOENT)
    return bothy_error_errno(err, "cannot open '%s'", dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.' || de->d_type == DT_DIR)
      continue;
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
    _cleanup_json_ json_t *j = NULL;
    if (bothy_json_load_file(p, &j, NULL) < 0)
      continue; /* a torn record is a miss, and names no layer */
    const char *diff_id = json_string_value(json_object_get(j, "diff_id"));
    if (diff_id && !strv_contains(v, diff_id))
      strv_push(&v, xstrdup(diff_id));
  }
  *ret = v;
  return 0;
}

int bothy_build_cache_prune(const char *root, size_t *ret_removed, bothy_error_t *err)
{
  _cleanup_free_ char *dir = xasprintf("%s/build-cache", root);
  _cleanup_closedir_ DIR *d = opendir(dir);
  size_t n = 0;
  if (!d) {
    if (errno == ENOENT) {
      if (ret_removed)
        *ret_removed = 0;
      return 0;
    }
    return bothy_error_errno(err, "cannot open '%s'", dir);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    if (bothy_rm_rf_at(dirfd(d), de->d_name, err) < 0)
      return -1;
    n++;
  }
  if (ret_removed)
    *ret_removed = n;
  return 0;
}
