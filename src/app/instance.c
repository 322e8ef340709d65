/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Instances: see instance.h. */
#include "app/instance.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "app/confrepo.h"
#include "app/doctor.h"
#include "app/recipe.h"
#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/macros.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "build/builder.h"
#include "build/containerfile.h"
#include "container/inventory.h"
#include "container/logs.h"
#include "container/network.h"
#include "container/volume.h"
#include "image/bootstrap.h"
#include "image/images.h"
#include "image/reference.h"
#include "net/ipam.h"
#include "base/banned.h"

#define LOG_TAIL 15

static void say(const struct bothy_app_ctx *a, const char *fmt, ...) _printf_(2, 3);
static void say(const struct bothy_app_ctx *a, const char *fmt, ...)
{
  if (!a->out)
    return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(a->out, fmt, ap);
  va_end(ap);
  fflush(a->out);
}

static bool valid_name(const char *n)
{
  size_t l = strlen(n);
  return l > 0 && l <= 40 && n[0] >= 'a' && n[0] <= 'z' &&
         strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-") == l && n[l - 1] != '-';
}

/* ---- the instance file -------------------------------------------------------- */

struct inst {
  char *name;
  char *app, *catalog, *version;
  int web_port;
  char **settings; /* "KEY=VALUE", not the secrets */
  char *bad;       /* the first problem while parsing */
};

static void inst_done(struct inst *i)
{
  free(i->name);
  free(i->app);
  free(i->catalog);
  free(i->version);
  strv_free(i->settings);
  free(i->bad);
  *i = (struct inst){ 0 };
}

static int inst_handler(void *data, const char *section, const char *key, const char *value)
{
  struct inst *i = data;
  if (!key)
    return 1;
  if (streq(section, "Instance")) {
    if (streq(key, "App")) {
      free(i->app);
      i->app = xstrdup(value);
    } else if (streq(key, "Catalog")) {
      free(i->catalog);
      i->catalog = xstrdup(value);
    } else if (streq(key, "Version")) {
      free(i->version);
      i->version = xstrdup(value);
    } else if (streq(key, "WebPort")) {
      char *end;
      long p = strtol(value, &end, 10);
      if (*end || p < 0 || p > 65535) {
        if (!i->bad)
          i->bad = xasprintf("WebPort=%s is not a port number", value);
      } else {
        i->web_port = (int) p;
      }
    } else if (!i->bad) {
      i->bad = xasprintf("[Instance]: unknown key \"%s\"", key);
    }
  } else if (streq(section, "Settings")) {
    _cleanup_free_ char *kv = xasprintf("%s=%s", key, value);
    strv_env_set(&i->settings, kv);
  } else if (!i->bad) {
    i->bad = xasprintf("unknown section [%s]", section);
  }
  return 1;
}

static int inst_parse(const char *name, const char *text, struct inst *ret, bothy_error_t *err)
{
  struct inst i = { .name = xstrdup(name) };
  int r = ini_parse_string(text, inst_handler, &i);
  if (r != 0 || i.bad || !i.app) {
    bothy_error_set_code(err, EINVAL, "instances/%s.ini:%d: %s", name, r > 0 ? r : 0,
                         i.bad    ? i.bad
                         : !i.app ? "[Instance] has no App="
                                  : "syntax error");
    inst_done(&i);
    return -EINVAL;
  }
  *ret = i;
  return 0;
}

static char *inst_format(const struct inst *i)
{
  char *s = xasprintf("# bothy instance \"%s\": what bothy keeps running.\n"
                      "# Edit it, then `bothy apply %s`; `bothy history %s` shows its changes.\n"
                      "[Instance]\nApp=%s\nCatalog=%s\nVersion=%s\n",
                      i->name, i->name, i->name, i->app, i->catalog ? i->catalog : "",
                      i->version ? i->version : "");
  if (i->web_port) {
    char *n = xasprintf("%sWebPort=%d\n", s, i->web_port);
    free(s);
    s = n;
  }
  char *n = xasprintf("%s\n[Settings]\n", s);
  free(s);
  s = n;
  for (char **p = i->settings; p && *p; p++) {
    n = xasprintf("%s%s\n", s, *p);
    free(s);
    s = n;
  }
  return s;
}

static char *inst_path(const char *name)
{
  return xasprintf("instances/%s.ini", name);
}

static int inst_load(const struct bothy_app_ctx *a, struct bothy_confrepo *repo, const char *name,
                     struct inst *ret, bool *ret_modified, bothy_error_t *err)
{
  _cleanup_free_ char *path = inst_path(name);
  _cleanup_free_ char *text = NULL;
  bool modified = false;
  if (bothy_confrepo_read(repo, path, &text, &modified, err) < 0)
    return -1;
  if (!text)
    return bothy_error_set_code(err, ENOENT, "no instance called '%s' (bothy ls lists them)", name);
  if (ret_modified)
    *ret_modified = modified;
  (void) a;
  return inst_parse(name, text, ret, err);
}

bool bothy_instance_exists(const struct bothy_app_ctx *a, const char *name)
{
  if (!valid_name(name))
    return false;
  _cleanup_free_ char *p = xasprintf("%s/instances/%s.ini", a->config_dir, name);
  return bothy_path_exists(p);
}

/* ---- secrets ------------------------------------------------------------------ */

static char *secrets_dir(const struct bothy_app_ctx *a, const char *name)
{
  return xasprintf("%s/secrets/%s", a->config_dir, name);
}

/* "KEY=VALUE" of every secret file of the instance. */
static char **secrets_read(const struct bothy_app_ctx *a, const char *name)
{
  _cleanup_free_ char *d = secrets_dir(a, name);
  _cleanup_closedir_ DIR *dir = opendir(d);
  char **v = NULL;
  struct dirent *de;
  while (dir && (de = readdir(dir))) {
    if (de->d_name[0] == '.')
      continue;
    _cleanup_free_ char *val = NULL;
    if (bothy_read_file(dirfd(dir), de->d_name, &val, NULL, NULL) == 0)
      strv_push(&v, xasprintf("%s=%s", de->d_name, val));
  }
  strv_sort(v);
  return v;
}

static int secrets_write(const struct bothy_app_ctx *a, const char *name,
                         const struct bothy_recipe *r, char *const *values, bothy_error_t *err)
{
  _cleanup_free_ char *top = xasprintf("%s/secrets", a->config_dir);
  _cleanup_free_ char *d = secrets_dir(a, name);
  if (bothy_mkdir_p(top, 0700, err) < 0 || bothy_mkdir_p(d, 0700, err) < 0)
    return -1;
  chmod(d, 0700);
  _cleanup_close_ int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", d);
  for (size_t i = 0; i < r->n_settings; i++) {
    if (!r->settings[i].secret)
      continue;
    const char *v = strv_env_get(values, r->settings[i].name);
    if (!v)
      continue;
    _cleanup_free_ char *have = NULL;
    if (bothy_read_file(dfd, r->settings[i].name, &have, NULL, NULL) == 0 && streq(have, v))
      continue;
    if (bothy_write_file_atomic(dfd, r->settings[i].name, v, strlen(v), 0600, err) < 0)
      return -1;
  }
  return 0;
}

/* ---- what runs ------------------------------------------------------------------ */

struct app_env {
  struct bothy_inventory *inv;
  struct bothy_images *imgs;
  struct bothy_confrepo *repo;
};

static void app_env_done(struct app_env *e)
{
  bothy_inventory_close(e->inv);
  bothy_images_free(e->imgs);
  bothy_confrepo_free(e->repo);
  *e = (struct app_env){ 0 };
}

static int app_env_open(const struct bothy_app_ctx *a, struct app_env *e, bothy_error_t *err)
{
  *e = (struct app_env){ 0 };
  if (bothy_confrepo_open(a->config_dir, &e->repo, err) < 0 ||
      bothy_inventory_open(a->ctr->root, &e->inv, err) < 0 ||
      bothy_images_open(a->ctr->root, &e->imgs, err) < 0) {
    app_env_done(e);
    return -1;
  }
  return 0;
}

/* The containers of an instance: [{Id, Name, Service, Spec, State, Health}]. */
static int instance_containers(const struct bothy_app_ctx *a, const char *name, json_t **ret,
                               bothy_error_t *err)
{
  _cleanup_json_ json_t *all = NULL;
  if (bothy_ctr_list(a->ctr, true, &all, err) < 0)
    return -1;
  json_t *v = json_array();
  size_t i;
  json_t *c;
  json_array_foreach (all, i, c) {
    json_t *labels = json_object_get(json_object_get(c, "Config"), "Labels");
    const char *inst = json_string_value(json_object_get(labels, "bothy.instance"));
    if (!inst || !streq(inst, name))
      continue;
    json_t *st = json_object_get(c, "State");
    const char *n = json_string_value(json_object_get(c, "Name"));
    /* The host ports it publishes. */
    json_t *hp = json_array();
    const char *k;
    json_t *binds;
    json_object_foreach (json_object_get(json_object_get(c, "NetworkSettings"), "Ports"), k,
                         binds) {
      size_t bi;
      json_t *b;
      json_array_foreach (binds, bi, b) {
        const char *port = json_string_value(json_object_get(b, "HostPort"));
        if (port)
          json_array_append_new(hp, json_integer(strtol(port, NULL, 10)));
      }
    }
    json_array_append_new(
        v,
        json_pack("{s:O, s:s, s:O, s:O, s:O, s:s}", "Id", json_object_get(c, "Id"), "Name",
                  n && n[0] == '/' ? n + 1 : (n ? n : ""), "Service",
                  json_object_get(labels, "bothy.service"), "Spec",
                  json_object_get(labels, "bothy.spec"), "State", json_object_get(st, "Status"),
                  "Health",
                  json_object_get(json_object_get(st, "Health"), "Status")
                      ? json_string_value(json_object_get(json_object_get(st, "Health"), "Status"))
                      : ""));
    json_object_set_new(json_array_get(v, json_array_size(v) - 1), "HostPorts", hp);
  }
  *ret = v;
  return 0;
}

static json_t *find_service(json_t *ctrs, const char *service)
{
  size_t i;
  json_t *c;
  json_array_foreach (ctrs, i, c) {
    const char *s = json_string_value(json_object_get(c, "Service"));
    if (s && streq(s, service))
      return c;
  }
  return NULL;
}

static char *network_name(const char *inst)
{
  return xasprintf("app-%s", inst);
}

static int ensure_network(const struct bothy_app_ctx *a, struct app_env *e, const char *inst,
                          char ***made, bothy_error_t *err)
{
  _cleanup_free_ char *nn = network_name(inst);
  sqlite3 *db = bothy_inventory_db(e->inv);
  _cleanup_network_ struct bothy_network *n = NULL;
  bothy_error_t e2 = NULL;
  if (bothy_network_get(db, nn, &n, &e2) == 0) {
    bothy_error_free(&e2);
    return bothy_ctr_network_plumb(db, nn, err);
  }
  bothy_error_free(&e2);
  _cleanup_json_ json_t *labels = json_pack("{s:s}", "bothy.instance", inst);
  struct bothy_network_req req = { .name = nn, .labels = labels };
  if (bothy_network_create(db, &req, bothy_ctr_net_overlaps, NULL, &n, err) < 0)
    return -1;
  if (bothy_ctr_network_plumb(db, n->name, err) < 0) {
    bothy_ctr_network_unplumb(n->name, n->bridge, NULL);
    bothy_network_remove(db, n->id, NULL);
    return -1;
  }
  strv_push(made, xasprintf("network %s", nn));
  (void) a;
  return 0;
}

static void remove_network(struct app_env *e, const char *inst, char ***removed)
{
  _cleanup_free_ char *nn = network_name(inst);
  sqlite3 *db = bothy_inventory_db(e->inv);
  _cleanup_network_ struct bothy_network *n = NULL;
  if (bothy_network_get(db, nn, &n, NULL) < 0)
    return;
  struct bothy_endpoint **eps = NULL;
  size_t ne = 0;
  if (bothy_endpoints_of_network(db, n->name, &eps, &ne, NULL) == 0)
    for (size_t i = 0; i < ne; i++)
      bothy_endpoint_remove(db, n->name, eps[i]->container, NULL);
  bothy_endpoints_free(eps, ne);
  if (bothy_network_remove(db, n->id, NULL) == 0) {
    bothy_ctr_network_unplumb(n->name, n->bridge, NULL);
    if (removed)
      strv_push(removed, xasprintf("network %s", nn));
  }
}

static char *volume_name(const char *inst, const char *vol)
{
  return xasprintf("%s-%s", inst, vol);
}

/* An image tag for a service built from the recipe. */
static char *build_tag(const struct bothy_recipe *r, const struct bothy_service *s)
{
  _cleanup_free_ char *v = xstrdup(r->version);
  for (char *p = v; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '-' || *p == '_'))
      *p = '_';
  _cleanup_free_ char *tag = xasprintf("bothy-app/%s-%s:%s", r->name, s->name, v);
  /* As the store names it: the full reference. */
  _cleanup_reference_ struct bothy_reference *ref = NULL;
  if (bothy_reference_parse(tag, &ref, NULL) < 0)
    return TAKE_PTR(tag);
  return bothy_reference_string(ref);
}

/* A Containerfile whose base is the Debian image `bothy image bootstrap
 * debian` makes (the bundled catalog's are) gets that image made first
 * when it is not here: it is never pulled (bootstrap.h), so install makes
 * it, once, as the user would have had to. */
static int ensure_base(const struct bothy_app_ctx *a, struct app_env *e, const char *file,
                       bothy_error_t *err)
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  _cleanup_containerfile_ struct bothy_containerfile *cf = NULL;
  if (bothy_read_file(AT_FDCWD, file, &text, &len, NULL) < 0 ||
      bothy_containerfile_parse(text, len, NULL, &cf, NULL) < 0)
    return 0; /* the build names the problem */
  _cleanup_free_ char *want = bothy_bootstrap_default_ref(BOTHY_BOOTSTRAP_DEFAULT_SUITE);
  bool uses = false;
  for (size_t i = 0; i < cf->n_stages; i++)
    uses |= cf->stages[i].base_stage < 0 && streq(cf->stages[i].base, want);
  _cleanup_image_ struct bothy_image *img = NULL;
  if (!uses || bothy_images_get(e->imgs, want, &img, NULL) == 0)
    return 0;
  say(a,
      "making the base image %s with debootstrap from this machine's Debian mirror (once; "
      "about a minute)\n",
      want);
  struct bothy_bootstrap_opts o = { .output_fd = -1 };
  _cleanup_free_ char *digest = NULL;
  bool existed = false;
  if (bothy_bootstrap_debian(e->imgs, &o, &digest, &existed, err) < 0)
    return bothy_error_prefix(err, "making the base image %s", want);
  return 0;
}

/* The image of each service: built (the build cache makes an unchanged
 * recipe cost milliseconds) or pulled; *ret: manifest digests by service. */
static int ensure_images(const struct bothy_app_ctx *a, struct app_env *e,
                         const struct bothy_recipe *r, char ***ret, bothy_error_t *err)
{
  char **v = NULL;
  for (size_t i = 0; i < r->n_services; i++) {
    const struct bothy_service *s = &r->services[i];
    char *digest = NULL;
    if (s->build) {
      _cleanup_free_ char *tag = build_tag(r, s);
      _cleanup_free_ char *file = xasprintf("%s/%s", r->dir, s->build);
      _cleanup_free_ char *ctxdir = xstrdup(file);
      char *slash = strrchr(ctxdir, '/');
      *slash = '\0';
      char *tags[] = { tag, NULL };
      struct bothy_build_opts bo = {
        .root = a->ctr->root,
        .registries_conf = a->ctr->registries_conf,
        .context_dir = ctxdir,
        .file = file,
        .tags = tags,
        .network = "host",
        .timestamp = -1,
        .quiet = true,
      };
      if (ensure_base(a, e, file, err) < 0) {
        strv_free(v);
        return bothy_error_prefix(err, "service %s", s->name);
      }
      say(a, "building %s for %s\n", tag, s->name);
      if (bothy_build(&bo, &digest, err) < 0) {
        strv_free(v);
        return bothy_error_prefix(err, "service %s: building %s", s->name, s->build);
      }
    } else {
      _cleanup_image_ struct bothy_image *img = NULL;
      bothy_error_t e2 = NULL;
      if (bothy_images_get(e->imgs, s->image, &img, &e2) < 0) {
        bothy_error_free(&e2);
        say(a, "pulling %s for %s\n", s->image, s->name);
        struct bothy_pull_opts po = { .quiet = true, .registries_conf = a->ctr->registries_conf };
        if (bothy_images_pull(e->imgs, s->image, &po, &digest, err) < 0) {
          strv_free(v);
          return bothy_error_prefix(err, "service %s", s->name);
        }
      } else {
        digest = xstrdup(img->digest);
      }
    }
    strv_push(&v, digest);
  }
  *ret = v;
  return 0;
}

/* What a service's container is made of, as a request and its hash. */
struct plan {
  char *name;  /* container name */
  char *image; /* manifest digest */
  char **env;
  char **health;
  char **args;
  struct bothy_mount_req *mounts;
  size_t n_mounts;
  struct bothy_port_spec port;
  bool has_port;
  json_t *labels;
  char spec[65];
};

static void plan_done(struct plan *p)
{
  free(p->name);
  free(p->image);
  strv_free(p->env);
  strv_free(p->health);
  strv_free(p->args);
  for (size_t i = 0; i < p->n_mounts; i++)
    bothy_mount_req_done(&p->mounts[i]);
  free(p->mounts);
  free(p->port.host_ip);
  json_decref(p->labels);
  *p = (struct plan){ 0 };
}

static int make_plan(const struct bothy_app_ctx *a, const struct inst *in,
                     const struct bothy_recipe *r, const struct bothy_service *s, const char *image,
                     char *const *values, struct plan *p, bothy_error_t *err)
{
  *p = (struct plan){ .name = xasprintf("%s-%s", in->name, s->name), .image = xstrdup(image) };
  for (char **e = s->environment; e && *e; e++) {
    char *x = NULL;
    if (bothy_recipe_expand(*e, values, &x, err) < 0)
      return bothy_error_prefix(err, "service %s", s->name);
    strv_push(&p->env, x);
  }
  if (s->health) {
    strv_push(&p->health, xstrdup("CMD-SHELL"));
    strv_push(&p->health, xstrdup(s->health));
  }
  if (s->command) {
    strv_push(&p->args, xstrdup("/bin/sh"));
    strv_push(&p->args, xstrdup("-c"));
    strv_push(&p->args, xasprintf("exec %s", s->command));
  }
  p->mounts = xcalloc(s->n_volumes + 1, sizeof(*p->mounts));
  for (size_t i = 0; i < s->n_volumes; i++)
    p->mounts[p->n_mounts++] = (struct bothy_mount_req){
      .kind = BOTHY_MOUNT_VOLUME,
      .source = volume_name(in->name, s->volumes[i].name),
      .target = xstrdup(s->volumes[i].path),
      .readonly = s->volumes[i].readonly,
    };
  _cleanup_json_ json_t *secrets = json_array();
  if (s->n_secret_files) {
    /* The instance's secrets volume, read-only at /run/secrets: volumes are
     * seen through an idmapped mount under --userns=auto, so a root-owned
     * 0400 file there is root's inside the container too. */
    p->mounts[p->n_mounts++] = (struct bothy_mount_req){
      .kind = BOTHY_MOUNT_VOLUME,
      .source = volume_name(in->name, "secrets"),
      .target = xstrdup("/run/secrets"),
      .readonly = true,
      .options = NULL,
    };
    for (size_t i = 0; i < s->n_secret_files; i++) {
      const char *v = strv_env_get(values, s->secret_files[i].setting);
      char dg[BOTHY_DIGEST_MAX];
      bothy_digest_buffer(v ? v : "", v ? strlen(v) : 0, dg);
      json_array_append_new(
          secrets, json_pack("[s, s, s]", s->secret_files[i].setting, s->secret_files[i].path, dg));
    }
  }
  if (s->web_port) {
    p->has_port = true;
    p->port = (struct bothy_port_spec){
      .host_ip = xstrdup("127.0.0.1"),
      .host_port = (uint16_t) in->web_port,
      .ctr_port = (uint16_t) s->web_port,
      .proto = "tcp",
    };
  }
  /* The hash of everything the container is made of: when it changes, the
   * container is made again; when not, it is left alone. */
  _cleanup_json_ json_t *spec =
      json_pack("{s:s, s:o, s:o, s:o, s:s?, s:b, s:I, s:i, s:o}", "image", image, "env",
                json_array(), "health", json_array(), "args", json_array(), "user", s->user,
                "read_only", s->read_only, "memory", (json_int_t) s->memory, "port",
                p->has_port ? in->web_port : 0, "secrets", json_incref(secrets));
  for (char **e = p->env; e && *e; e++)
    json_array_append_new(json_object_get(spec, "env"), json_string(*e));
  for (char **e = p->health; e && *e; e++)
    json_array_append_new(json_object_get(spec, "health"), json_string(*e));
  for (char **e = p->args; e && *e; e++)
    json_array_append_new(json_object_get(spec, "args"), json_string(*e));
  json_t *vols = json_array();
  for (size_t i = 0; i < p->n_mounts; i++)
    json_array_append_new(vols, json_pack("[s, s, b]", p->mounts[i].source, p->mounts[i].target,
                                          p->mounts[i].readonly));
  json_object_set_new(spec, "volumes", vols);
  _cleanup_free_ char *body = bothy_json_dump(spec, false);
  char dg[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(body, strlen(body), dg);
  memcpy(p->spec, bothy_digest_hex(dg), 64);
  p->spec[64] = '\0';
  p->labels = json_pack("{s:s, s:s, s:s, s:s}", "bothy.instance", in->name, "bothy.app", r->name,
                        "bothy.service", s->name, "bothy.spec", p->spec);
  (void) a;
  return 0;
}

/* The last lines of a container's log, indented, for an error message. */
static char *log_tail(const struct bothy_app_ctx *a, const char *ctr)
{
  _cleanup_free_ char *dir = NULL;
  if (bothy_ctr_resolve(a->ctr, ctr, NULL, &dir, NULL) < 0)
    return xstrdup("");
  _cleanup_close_ int fd = memfd_create("log", MFD_CLOEXEC);
  struct bothy_logs_opts o = { .tail = LOG_TAIL };
  if (fd < 0 || bothy_logs_read(dir, &o, fd, fd, NULL, NULL, NULL) < 0)
    return xstrdup("");
  lseek(fd, 0, SEEK_SET);
  _cleanup_free_ char *text = NULL;
  if (bothy_read_fd(fd, &text, NULL, NULL) < 0 || !*text)
    return xstrdup("");
  char *s = xstrdup("\nits last output:");
  char *save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    char *n = xasprintf("%s\n  %s", s, l);
    free(s);
    s = n;
  }
  return s;
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the service's container runs and its health command passes. */
static int wait_healthy(const struct bothy_app_ctx *a, const char *ctr, const char *service,
                        bool has_health, int timeout_sec, bothy_error_t *err)
{
  int64_t end = now_ms() + (int64_t) (timeout_sec > 0 ? timeout_sec : 300) * 1000;
  long delay_ms = 20;
  for (;;) {
    _cleanup_json_ json_t *doc = NULL;
    if (bothy_ctr_inspect(a->ctr, ctr, &doc, err) < 0)
      return -1;
    json_t *st = json_object_get(doc, "State");
    const char *status = json_string_value(json_object_get(st, "Status"));
    /* A service that exits (and is being restarted) while it is installed
     * has failed: waiting longer only repeats that. */
    if ((status && !streq(status, "running") && !streq(status, "created")) ||
        json_integer_value(json_object_get(doc, "RestartCount")) > 0) {
      _cleanup_free_ char *tail = log_tail(a, ctr);
      return bothy_error_set_code(err, EIO, "service %s stopped (exit code %lld)%s", service,
                                  (long long) json_integer_value(json_object_get(st, "ExitCode")),
                                  tail);
    }
    if (status && streq(status, "running")) {
      if (!has_health)
        return 0;
      _cleanup_free_ char *id = NULL;
      int code = 1;
      bothy_error_t e2 = NULL;
      if (bothy_ctr_resolve(a->ctr, ctr, &id, NULL, &e2) == 0) {
        /* The check's own output ("not yet") is not the user's business
         * while installing: it goes nowhere. */
        int k = bothy_ctr_helper_health(a->ctr, id, -1, &code, &e2);
        if (k == 0 && code == 0)
          return 0;
      }
      bothy_error_free(&e2);
    }
    if (now_ms() > end) {
      _cleanup_free_ char *tail = log_tail(a, ctr);
      return bothy_error_set_code(err, ETIMEDOUT, "service %s did not become healthy in %d s%s",
                                  service, timeout_sec > 0 ? timeout_sec : 300, tail);
    }
    struct timespec ts = { .tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    if (delay_ms < 500)
      delay_ms *= 2;
  }
}

static int run_plan(const struct bothy_app_ctx *a, struct app_env *e, const struct bothy_service *s,
                    struct plan *p, int timeout_sec, bothy_error_t *err)
{
  char *aliases[] = { (char *) s->name, NULL };
  struct bothy_ctr_create_req req = {
    .image = p->image,
    .name = p->name,
    .opts = {
      .args = p->args,
      .entrypoint = p->args ? "" : NULL,
      .env = p->env,
      .user = s->user,
      .read_only = s->read_only,
      .memory = s->memory,
    },
    .mounts = p->mounts,
    .n_mounts = p->n_mounts,
    .restart = "unless-stopped",
    .stop_timeout = -1,
    .health_cmd = p->health,
    .labels = p->labels,
    .userns_auto = true,
    .log_max_size = 10 << 20,
    .log_max_files = 3,
  };
  _cleanup_free_ char *nn =
      xasprintf("app-%s", json_string_value(json_object_get(p->labels, "bothy.instance")));
  req.net.mode = nn;
  req.net.aliases = aliases;
  if (p->has_port) {
    req.net.ports = &p->port;
    req.net.n_ports = 1;
  }
  (void) e;
  say(a, "starting %s\n", p->name);
  _cleanup_free_ char *id = NULL;
  if (bothy_ctr_run(a->ctr, &req, true, &id, NULL, err) < 0)
    return bothy_error_prefix(err, "service %s", s->name);
  return wait_healthy(a, p->name, s->name, p->health != NULL, timeout_sec, err);
}

/* Whether something listens on 127.0.0.1:port already. */
static bool port_taken(int port)
{
  _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons((uint16_t) port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  return fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
}

/* The web port: a free one on 127.0.0.1, chosen once and kept in the file. */
static int free_port(bothy_error_t *err)
{
  _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t l = sizeof(sa);
  if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
      getsockname(fd, (struct sockaddr *) &sa, &l) < 0)
    return bothy_error_errno(err, "cannot find a free port on 127.0.0.1");
  return ntohs(sa.sin_port);
}

static int write_secret_files(const struct bothy_app_ctx *a, struct app_env *e, const char *inst,
                              const struct bothy_recipe *r, char *const *values, char ***made,
                              bothy_error_t *err)
{
  bool need = false;
  for (size_t i = 0; i < r->n_services; i++)
    need |= r->services[i].n_secret_files > 0;
  if (!need)
    return 0;
  _cleanup_free_ char *vn = volume_name(inst, "secrets");
  _cleanup_json_ json_t *labels = json_pack("{s:s}", "bothy.instance", inst);
  _cleanup_free_ char *got = NULL;
  if (bothy_volume_create(e->inv, a->ctr->root, vn, labels, false, &got, err) < 0)
    return -1;
  if (made && !strv_contains(*made, vn))
    strv_push(made, xasprintf("volume %s", vn));
  _cleanup_free_ char *path = bothy_volume_path(a->ctr->root, vn);
  _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", path);
  for (size_t i = 0; i < r->n_services; i++)
    for (size_t k = 0; k < r->services[i].n_secret_files; k++) {
      const struct bothy_secret_file *sf = &r->services[i].secret_files[k];
      const char *v = strv_env_get(values, sf->setting);
      const char *base = strrchr(sf->path, '/') + 1;
      if (bothy_write_file_atomic(dfd, base, v ? v : "", v ? strlen(v) : 0, 0400, err) < 0)
        return -1;
    }
  return 0;
}

/* Makes what runs match (in, recipe): containers whose spec changed are
 * made again, missing ones made, those of services no longer in the recipe
 * removed. made/recreated: what was done (for undo and for the user). */
static int realize(const struct bothy_app_ctx *a, struct app_env *e, const struct inst *in,
                   const struct bothy_recipe *r, char *const *values, int timeout_sec, char ***made,
                   char ***recreated, bothy_error_t *err)
{
  for (size_t i = 0; i < r->n_services; i++)
    for (size_t k = 0; k < r->services[i].n_secret_files; k++)
      if (strncmp(r->services[i].secret_files[k].path, "/run/secrets/", 13) != 0 ||
          strchr(r->services[i].secret_files[k].path + 13, '/'))
        return bothy_error_set_code(err, EINVAL,
                                    "service %s: SecretFile= paths go in /run/secrets/ (not %s)",
                                    r->services[i].name, r->services[i].secret_files[k].path);
  _cleanup_strv_free_ char **images = NULL;
  if (ensure_images(a, e, r, &images, err) < 0 || ensure_network(a, e, in->name, made, err) < 0 ||
      write_secret_files(a, e, in->name, r, values, made, err) < 0)
    return -1;
  for (size_t i = 0; i < r->n_services; i++)
    for (size_t k = 0; k < r->services[i].n_volumes; k++) {
      _cleanup_free_ char *vn = volume_name(in->name, r->services[i].volumes[k].name);
      _cleanup_json_ json_t *labels = json_pack("{s:s}", "bothy.instance", in->name);
      _cleanup_volume_ struct bothy_volume *have = NULL;
      if (bothy_volume_get(e->inv, a->ctr->root, vn, &have, NULL) == 0)
        continue;
      if (bothy_volume_create(e->inv, a->ctr->root, vn, labels, false, NULL, err) < 0)
        return -1;
      strv_push(made, xasprintf("volume %s", vn));
    }
  _cleanup_json_ json_t *ctrs = NULL;
  if (instance_containers(a, in->name, &ctrs, err) < 0)
    return -1;
  /* The web port, when its container is to be made (again): checked before
   * anything is taken down, so a port another program holds changes
   * nothing. */
  for (size_t i = 0; i < r->n_services; i++) {
    if (!r->services[i].web_port || !in->web_port)
      continue;
    json_t *have = find_service(ctrs, r->services[i].name);
    const char *st = have ? json_string_value(json_object_get(have, "State")) : NULL;
    bool holds = false;
    size_t pi;
    json_t *pv;
    json_array_foreach (json_object_get(have, "HostPorts"), pi, pv)
      holds |= json_integer_value(pv) == in->web_port;
    if (holds && st && streq(st, "running"))
      continue; /* it holds the port itself */
    if (port_taken(in->web_port))
      return bothy_error_set_code(err, EADDRINUSE,
                                  "service %s: port 127.0.0.1:%d is in use by another program "
                                  "(WebPort= in instances/%s.ini)",
                                  r->services[i].name, in->web_port, in->name);
  }
  /* Containers of services the recipe no longer has. */
  size_t ci;
  json_t *c;
  json_array_foreach (ctrs, ci, c) {
    const char *svc = json_string_value(json_object_get(c, "Service"));
    if (svc && !bothy_recipe_service(r, svc)) {
      if (bothy_ctr_remove(a->ctr, json_string_value(json_object_get(c, "Id")), true, false, err) <
          0)
        return -1;
      if (recreated)
        strv_push(recreated, xasprintf("%s (removed)", svc));
    }
  }
  for (size_t i = 0; i < r->n_services; i++) {
    const struct bothy_service *s = &r->services[i];
    struct plan p;
    if (make_plan(a, in, r, s, images[i], values, &p, err) < 0) {
      plan_done(&p);
      return -1;
    }
    json_t *have = find_service(ctrs, s->name);
    const char *spec = have ? json_string_value(json_object_get(have, "Spec")) : NULL;
    int k = 0;
    if (have && spec && streq(spec, p.spec)) {
      const char *st = json_string_value(json_object_get(have, "State"));
      if (st && !streq(st, "running") && !streq(st, "restarting"))
        k = bothy_ctr_start(a->ctr, p.name, err);
    } else {
      if (have && bothy_ctr_remove(a->ctr, json_string_value(json_object_get(have, "Id")), true,
                                   false, err) < 0)
        k = -1;
      if (k == 0)
        k = run_plan(a, e, s, &p, timeout_sec, err);
      if (k == 0 || have) {
        if (made && !have)
          strv_push(made, xasprintf("container %s", p.name));
        if (recreated)
          strv_push(recreated, xstrdup(s->name));
      }
    }
    plan_done(&p);
    if (k < 0)
      return -1;
  }
  return 0;
}

/* Takes away everything an instance owns at runtime. */
static void teardown(const struct bothy_app_ctx *a, struct app_env *e, const char *name,
                     bool keep_data, char ***removed)
{
  _cleanup_json_ json_t *ctrs = NULL;
  if (instance_containers(a, name, &ctrs, NULL) == 0) {
    size_t i;
    json_t *c;
    json_array_foreach (ctrs, i, c) {
      if (bothy_ctr_remove(a->ctr, json_string_value(json_object_get(c, "Id")), true, true, NULL) ==
              0 &&
          removed)
        strv_push(removed,
                  xasprintf("container %s", json_string_value(json_object_get(c, "Name"))));
    }
  }
  remove_network(e, name, removed);
  struct bothy_volume **vols = NULL;
  size_t nv = 0;
  if (bothy_volume_list(e->inv, a->ctr->root, &vols, &nv, NULL) == 0) {
    for (size_t i = 0; i < nv; i++) {
      const char *inst = json_string_value(json_object_get(vols[i]->labels, "bothy.instance"));
      if (!inst || !streq(inst, name))
        continue;
      bool is_secrets = streq(vols[i]->name + strlen(name), "-secrets");
      if (keep_data && !is_secrets)
        continue;
      if (bothy_volume_remove(e->inv, a->ctr->root, vols[i]->name, true, NULL) == 0 && removed)
        strv_push(removed, xasprintf("volume %s", vols[i]->name));
    }
    bothy_volumes_free(vols, nv);
  }
}

/* Loads the recipe of an instance and resolves its settings (file +
 * secrets + extra, later wins). */
static int resolve(const struct bothy_app_ctx *a, const struct inst *in, char *const *extra,
                   struct bothy_recipe **ret_recipe, char ***ret_values, bothy_error_t *err)
{
  struct bothy_catalog_app app = { 0 };
  if (bothy_catalog_find(a, in->app, &app, err) < 0)
    return -1;
  _cleanup_free_ char *rp = app.recipe_path;
  free(app.name);
  free(app.version);
  free(app.summary);
  free(app.catalog);
  _cleanup_recipe_ struct bothy_recipe *r = NULL;
  if (bothy_recipe_load(rp, &r, err) < 0)
    return -1;
  /* Secrets of settings the recipe no longer has are left out; a setting in
   * the file or given now that it does not have is an error (resolve says). */
  _cleanup_strv_free_ char **secrets = secrets_read(a, in->name);
  _cleanup_strv_free_ char **given = NULL;
  for (char **p = secrets; p && *p; p++) {
    _cleanup_free_ char *k = xstrndup(*p, (size_t) (strchr(*p, '=') - *p));
    if (bothy_recipe_setting(r, k))
      strv_env_set(&given, *p);
  }
  for (char **p = in->settings; p && *p; p++)
    strv_env_set(&given, *p);
  for (char *const *p = extra; p && *p; p++) {
    if (!strchr(*p, '='))
      return bothy_error_set_code(err, EINVAL, "'%s': settings are given as KEY=VALUE", *p);
    strv_env_set(&given, *p);
  }
  char **values = NULL;
  if (bothy_recipe_resolve(r, given, &values, NULL, err) < 0)
    return -1;
  *ret_recipe = TAKE_PTR(r);
  *ret_values = values;
  return 0;
}

/* The non-secret values, for the instance file. */
static char **public_settings(const struct bothy_recipe *r, char *const *values)
{
  char **v = NULL;
  for (size_t i = 0; i < r->n_settings; i++) {
    if (r->settings[i].secret)
      continue;
    const char *val = strv_env_get(values, r->settings[i].name);
    if (val)
      strv_push(&v, xasprintf("%s=%s", r->settings[i].name, val));
  }
  return v;
}

static int commit_instance(const struct bothy_app_ctx *a, struct app_env *e, const struct inst *in,
                           const char *msg, bothy_error_t *err)
{
  _cleanup_free_ char *path = inst_path(in->name);
  _cleanup_free_ char *body = inst_format(in);
  char *paths[] = { path };
  char *contents[] = { body };
  return bothy_confrepo_commit(e->repo, paths, contents, 1, msg, NULL, err);
}

int bothy_instance_install(const struct bothy_app_ctx *a, const struct bothy_install_req *req,
                           char **ret_address, bothy_error_t *err)
{
  const char *name = req->name ? req->name : req->app;
  if (!valid_name(name))
    return bothy_error_set_code(
        err, EINVAL,
        "invalid instance name '%s': a-z, 0-9 and '-', starting with a letter, at most 40", name);
  struct app_env e;
  if (app_env_open(a, &e, err) < 0)
    return -1;
  int ret = -1;
  struct inst in = { .name = xstrdup(name), .app = xstrdup(req->app) };
  _cleanup_recipe_ struct bothy_recipe *r = NULL;
  _cleanup_strv_free_ char **values = NULL, **made = NULL;
  bool secrets_made = false;
  {
    _cleanup_free_ char *path = inst_path(name);
    _cleanup_free_ char *have = NULL;
    if (bothy_confrepo_read(e.repo, path, &have, NULL, err) < 0)
      goto out;
    if (have) {
      bothy_error_set_code(err, EEXIST, "an instance called '%s' exists already", name);
      goto out;
    }
  }
  {
    struct bothy_catalog_app app = { 0 };
    if (bothy_catalog_find(a, req->app, &app, err) < 0)
      goto out;
    in.catalog = app.catalog;
    free(app.name);
    free(app.version);
    free(app.summary);
    free(app.recipe_path);
  }
  if (resolve(a, &in, req->settings, &r, &values, err) < 0)
    goto out;
  in.version = xstrdup(r->version);
  for (size_t i = 0; i < r->n_services; i++)
    if (r->services[i].web_port) {
      int p = free_port(err);
      if (p < 0)
        goto out;
      in.web_port = p;
    }
  in.settings = public_settings(r, values);
  if (secrets_write(a, name, r, values, err) < 0)
    goto out;
  secrets_made = true;
  say(a, "installing %s %s as %s\n", r->name, r->version, name);
  if (realize(a, &e, &in, r, values, req->timeout_sec, &made, NULL, err) < 0)
    goto out;
  {
    _cleanup_free_ char *msg =
        a->command ? xstrdup(a->command) : xasprintf("bothy install %s --name %s", req->app, name);
    if (commit_instance(a, &e, &in, msg, err) < 0)
      goto out;
  }
  if (ret_address)
    *ret_address = in.web_port ? xasprintf("http://127.0.0.1:%d/", in.web_port) : NULL;
  ret = 0;
out:
  if (ret < 0 && !req->keep_failed) {
    teardown(a, &e, name, false, NULL);
    if (secrets_made) {
      _cleanup_free_ char *d = secrets_dir(a, name);
      bothy_rm_rf_at(AT_FDCWD, d, NULL);
    }
  }
  inst_done(&in);
  app_env_done(&e);
  return ret;
}

int bothy_instance_remove(const struct bothy_app_ctx *a, const char *name, bool keep_data,
                          char ***ret_removed, bothy_error_t *err)
{
  struct app_env e;
  if (app_env_open(a, &e, err) < 0)
    return -1;
  struct inst in = { 0 };
  char **removed = NULL;
  int ret = -1;
  if (inst_load(a, e.repo, name, &in, NULL, err) < 0)
    goto out;
  teardown(a, &e, name, keep_data, &removed);
  {
    _cleanup_free_ char *d = secrets_dir(a, name);
    if (bothy_path_exists(d)) {
      bothy_rm_rf_at(AT_FDCWD, d, NULL);
      strv_push(&removed, xasprintf("secrets %s", d));
    }
  }
  /* The images built for it, unless another instance of the app uses them. */
  {
    bool other = false;
    _cleanup_free_ char *idir = xasprintf("%s/instances", a->config_dir);
    _cleanup_closedir_ DIR *d = opendir(idir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
      size_t l = strlen(de->d_name);
      if (l < 5 || !streq(de->d_name + l - 4, ".ini"))
        continue;
      _cleanup_free_ char *n = xstrndup(de->d_name, l - 4);
      if (streq(n, name))
        continue;
      struct inst o = { 0 };
      if (inst_load(a, e.repo, n, &o, NULL, NULL) == 0 && streq(o.app, in.app))
        other = true;
      inst_done(&o);
    }
    struct bothy_catalog_app app = { 0 };
    _cleanup_recipe_ struct bothy_recipe *r = NULL;
    if (!other && bothy_catalog_find(a, in.app, &app, NULL) == 0 &&
        bothy_recipe_load(app.recipe_path, &r, NULL) == 0) {
      for (size_t i = 0; i < r->n_services; i++) {
        if (!r->services[i].build)
          continue;
        _cleanup_free_ char *tag = build_tag(r, &r->services[i]);
        if (bothy_images_untag(e.imgs, tag, NULL) == 0)
          strv_push(&removed, xasprintf("image %s", tag));
      }
    }
    free(app.name);
    free(app.version);
    free(app.summary);
    free(app.catalog);
    free(app.recipe_path);
  }
  {
    _cleanup_free_ char *path = inst_path(name);
    char *paths[] = { path };
    char *contents[] = { NULL };
    _cleanup_free_ char *msg =
        a->command ? xstrdup(a->command) : xasprintf("bothy remove %s", name);
    if (bothy_confrepo_commit(e.repo, paths, contents, 1, msg, NULL, err) < 0)
      goto out;
    strv_push(&removed, xasprintf("config %s/%s", a->config_dir, path));
  }
  ret = 0;
out:
  if (ret == 0 && ret_removed)
    *ret_removed = removed;
  else
    strv_free(removed);
  inst_done(&in);
  app_env_done(&e);
  return ret;
}

static json_t *summary(const struct bothy_app_ctx *a, const struct inst *in, json_t *ctrs)
{
  size_t running = 0, healthy = 0, unhealthy = 0, n = json_array_size(ctrs);
  size_t i;
  json_t *c;
  json_array_foreach (ctrs, i, c) {
    const char *st = json_string_value(json_object_get(c, "State"));
    const char *h = json_string_value(json_object_get(c, "Health"));
    if (st && streq(st, "running"))
      running++;
    if (h && streq(h, "healthy"))
      healthy++;
    if (h && streq(h, "unhealthy"))
      unhealthy++;
  }
  const char *state = n == 0         ? "missing"
                      : running == n ? "running"
                      : running      ? "degraded"
                                     : "stopped";
  const char *health = unhealthy ? "unhealthy" : healthy ? "healthy" : running ? "starting" : "-";
  _cleanup_free_ char *addr =
      in->web_port ? xasprintf("http://127.0.0.1:%d/", in->web_port) : xstrdup("");
  (void) a;
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "Name", in->name, "App", in->app, "Version",
                   in->version ? in->version : "", "State", state, "Health", health, "Address",
                   addr);
}

int bothy_instance_list(const struct bothy_app_ctx *a, json_t **ret, bothy_error_t *err)
{
  _cleanup_confrepo_ struct bothy_confrepo *repo = NULL;
  if (bothy_confrepo_open(a->config_dir, &repo, err) < 0)
    return -1;
  _cleanup_free_ char *idir = xasprintf("%s/instances", a->config_dir);
  _cleanup_closedir_ DIR *d = opendir(idir);
  _cleanup_strv_free_ char **names = NULL;
  struct dirent *de;
  while (d && (de = readdir(d))) {
    size_t l = strlen(de->d_name);
    if (l > 4 && streq(de->d_name + l - 4, ".ini"))
      strv_push(&names, xstrndup(de->d_name, l - 4));
  }
  strv_sort(names);
  json_t *v = json_array();
  for (char **n = names; n && *n; n++) {
    struct inst in = { 0 };
    bothy_error_t e2 = NULL;
    _cleanup_json_ json_t *ctrs = NULL;
    if (inst_load(a, repo, *n, &in, NULL, &e2) < 0) {
      json_array_append_new(v, json_pack("{s:s, s:s}", "Name", *n, "Error", e2->msg));
      bothy_error_free(&e2);
      continue;
    }
    if (instance_containers(a, *n, &ctrs, NULL) < 0)
      ctrs = json_array();
    json_array_append_new(v, summary(a, &in, ctrs));
    inst_done(&in);
  }
  *ret = v;
  return 0;
}

int bothy_instance_status(const struct bothy_app_ctx *a, const char *name, json_t **ret,
                          bothy_error_t *err)
{
  _cleanup_confrepo_ struct bothy_confrepo *repo = NULL;
  if (bothy_confrepo_open(a->config_dir, &repo, err) < 0)
    return -1;
  struct inst in = { 0 };
  bool modified = false;
  if (inst_load(a, repo, name, &in, &modified, err) < 0)
    return -1;
  _cleanup_json_ json_t *ctrs = NULL;
  if (instance_containers(a, name, &ctrs, err) < 0) {
    inst_done(&in);
    return -1;
  }
  json_t *doc = summary(a, &in, ctrs);
  json_object_set(doc, "Services", ctrs);
  json_t *settings = json_object();
  for (char **p = in.settings; p && *p; p++) {
    _cleanup_free_ char *k = xstrndup(*p, (size_t) (strchr(*p, '=') - *p));
    json_object_set_new(settings, k, json_string(strchr(*p, '=') + 1));
  }
  _cleanup_strv_free_ char **secrets = secrets_read(a, name);
  for (char **p = secrets; p && *p; p++) {
    _cleanup_free_ char *k = xstrndup(*p, (size_t) (strchr(*p, '=') - *p));
    json_object_set_new(settings, k, json_string("********"));
  }
  json_object_set_new(doc, "Settings", settings);
  json_object_set_new(doc, "Modified", json_boolean(modified));
  inst_done(&in);
  *ret = doc;
  return 0;
}

int bothy_instance_containers(const struct bothy_app_ctx *a, const char *name, char ***ret_names,
                              char ***ret_services, bothy_error_t *err)
{
  if (!bothy_instance_exists(a, name))
    return bothy_error_set_code(err, ENOENT, "no instance called '%s'", name);
  _cleanup_json_ json_t *ctrs = NULL;
  if (instance_containers(a, name, &ctrs, err) < 0)
    return -1;
  char **n = NULL, **s = NULL;
  size_t i;
  json_t *c;
  json_array_foreach (ctrs, i, c) {
    strv_push(&n, xstrdup(json_string_value(json_object_get(c, "Name"))));
    const char *svc = json_string_value(json_object_get(c, "Service"));
    strv_push(&s, xstrdup(svc ? svc : ""));
  }
  *ret_names = n;
  *ret_services = s;
  return 0;
}

int bothy_instance_act(const struct bothy_app_ctx *a, const char *name,
                       enum bothy_instance_action what, bothy_error_t *err)
{
  _cleanup_confrepo_ struct bothy_confrepo *repo = NULL;
  if (bothy_confrepo_open(a->config_dir, &repo, err) < 0)
    return -1;
  struct inst in = { 0 };
  if (inst_load(a, repo, name, &in, NULL, err) < 0)
    return -1;
  _cleanup_json_ json_t *ctrs = NULL;
  int ret = instance_containers(a, name, &ctrs, err);
  /* Stop in reverse order (dependents first), start in order. */
  size_t n = ret < 0 ? 0 : json_array_size(ctrs);
  if (what != BOTHY_INSTANCE_START)
    for (size_t i = n; ret >= 0 && i-- > 0;)
      ret = bothy_ctr_stop(
          a->ctr, json_string_value(json_object_get(json_array_get(ctrs, i), "Id")), -1, err);
  if (what != BOTHY_INSTANCE_STOP)
    for (size_t i = 0; ret >= 0 && i < n; i++)
      ret = bothy_ctr_start(a->ctr,
                            json_string_value(json_object_get(json_array_get(ctrs, i), "Id")), err);
  inst_done(&in);
  return ret < 0 ? -1 : 0;
}

/* Applies inst (already parsed: what the file says, or will say) and
 * commits it with msg. */
static int apply_inst(const struct bothy_app_ctx *a, struct app_env *e, struct inst *in,
                      char *const *extra, const char *msg, char ***ret_recreated,
                      bothy_error_t *err)
{
  _cleanup_recipe_ struct bothy_recipe *r = NULL;
  _cleanup_strv_free_ char **values = NULL, **recreated = NULL;
  if (resolve(a, in, extra, &r, &values, err) < 0)
    return -1;
  strv_free(in->settings);
  in->settings = public_settings(r, values);
  if (!in->web_port)
    for (size_t i = 0; i < r->n_services; i++)
      if (r->services[i].web_port) {
        int p = free_port(err);
        if (p < 0)
          return -1;
        in->web_port = p;
      }
  if (secrets_write(a, in->name, r, values, err) < 0 ||
      realize(a, e, in, r, values, 0, NULL, &recreated, err) < 0 ||
      commit_instance(a, e, in, msg, err) < 0)
    return -1;
  if (ret_recreated)
    *ret_recreated = TAKE_PTR(recreated);
  return 0;
}

int bothy_instance_configure(const struct bothy_app_ctx *a, const char *name, char *const *kv,
                             char ***ret_recreated, bothy_error_t *err)
{
  struct app_env e;
  if (app_env_open(a, &e, err) < 0)
    return -1;
  struct inst in = { 0 };
  int ret = -1;
  if (inst_load(a, e.repo, name, &in, NULL, err) == 0) {
    _cleanup_free_ char *msg =
        a->command ? xstrdup(a->command) : xasprintf("bothy config %s", name);
    ret = apply_inst(a, &e, &in, kv, msg, ret_recreated, err);
  }
  inst_done(&in);
  app_env_done(&e);
  return ret;
}

int bothy_instance_apply(const struct bothy_app_ctx *a, const char *name, char ***ret_recreated,
                         bothy_error_t *err)
{
  return bothy_instance_configure(a, name, NULL, ret_recreated, err);
}

int bothy_instance_revert(const struct bothy_app_ctx *a, const char *name, const char *rev,
                          char ***ret_recreated, bothy_error_t *err)
{
  struct app_env e;
  if (app_env_open(a, &e, err) < 0)
    return -1;
  int ret = -1;
  struct inst in = { 0 };
  _cleanup_free_ char *path = inst_path(name);
  _cleanup_free_ char *text = NULL;
  if (bothy_confrepo_read_at(e.repo, path, rev, &text, err) < 0)
    goto out;
  if (!text) {
    bothy_error_set_code(err, ENOENT, "instance '%s' did not exist at %s", name, rev);
    goto out;
  }
  if (inst_parse(name, text, &in, err) < 0)
    goto out;
  {
    _cleanup_free_ char *msg =
        a->command ? xstrdup(a->command) : xasprintf("bothy revert %s %s", name, rev);
    ret = apply_inst(a, &e, &in, NULL, msg, ret_recreated, err);
  }
out:
  inst_done(&in);
  app_env_done(&e);
  return ret;
}

int bothy_instance_history(const struct bothy_app_ctx *a, const char *name, json_t **ret,
                           bothy_error_t *err)
{
  _cleanup_confrepo_ struct bothy_confrepo *repo = NULL;
  if (bothy_confrepo_open(a->config_dir, &repo, err) < 0)
    return -1;
  _cleanup_free_ char *path = inst_path(name);
  struct bothy_confrepo_entry *v = NULL;
  size_t n = 0;
  if (bothy_confrepo_log(repo, path, &v, &n, err) < 0)
    return -1;
  if (n == 0)
    return bothy_error_set_code(err, ENOENT, "no instance called '%s' has a history", name);
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "Commit", v[i].commit, "Time",
                                         (json_int_t) v[i].time, "Message", v[i].message));
  bothy_confrepo_entries_free(v, n);
  *ret = arr;
  return 0;
}

int bothy_instance_diff(const struct bothy_app_ctx *a, const char *name, const char *rev,
                        char **ret, bothy_error_t *err)
{
  _cleanup_confrepo_ struct bothy_confrepo *repo = NULL;
  if (bothy_confrepo_open(a->config_dir, &repo, err) < 0)
    return -1;
  _cleanup_free_ char *path = inst_path(name);
  return bothy_confrepo_diff(repo, path, rev, ret, err);
}

int bothy_doctor(const struct bothy_app_ctx *a, bool fix, char ***ret_findings, bothy_error_t *err)
{
  struct app_env e;
  if (app_env_open(a, &e, err) < 0)
    return -1;
  char **found = NULL;
  /* Containers and volumes that name an instance which does not exist. */
  _cleanup_json_ json_t *all = NULL;
  if (bothy_ctr_list(a->ctr, true, &all, err) < 0) {
    app_env_done(&e);
    return -1;
  }
  char **orphans = NULL;
  size_t i;
  json_t *c;
  json_array_foreach (all, i, c) {
    json_t *labels = json_object_get(json_object_get(c, "Config"), "Labels");
    const char *inst = json_string_value(json_object_get(labels, "bothy.instance"));
    if (inst && !bothy_instance_exists(a, inst) && !strv_contains(orphans, inst))
      strv_push(&orphans, xstrdup(inst));
  }
  struct bothy_volume **vols = NULL;
  size_t nv = 0;
  if (bothy_volume_list(e.inv, a->ctr->root, &vols, &nv, NULL) == 0) {
    for (size_t k = 0; k < nv; k++) {
      const char *inst = json_string_value(json_object_get(vols[k]->labels, "bothy.instance"));
      if (inst && !bothy_instance_exists(a, inst) && !strv_contains(orphans, inst))
        strv_push(&orphans, xstrdup(inst));
    }
    bothy_volumes_free(vols, nv);
  }
  struct bothy_network **nets = NULL;
  size_t nn = 0;
  if (bothy_network_list(bothy_inventory_db(e.inv), &nets, &nn, NULL) == 0) {
    for (size_t k = 0; k < nn; k++)
      if (strncmp(nets[k]->name, "app-", 4) == 0 && !bothy_instance_exists(a, nets[k]->name + 4) &&
          !strv_contains(orphans, nets[k]->name + 4))
        strv_push(&orphans, xstrdup(nets[k]->name + 4));
    bothy_networks_free(nets, nn);
  }
  for (char **o = orphans; o && *o; o++) {
    strv_push(&found, xasprintf("instance %s is gone, but its containers, volumes or network "
                                "remain%s",
                                *o, fix ? ": removed" : ""));
    if (fix)
      teardown(a, &e, *o, false, NULL);
  }
  strv_free(orphans);
  /* Below the instances: stray directories and rows, unused layers. */
  if (bothy_doctor_below(a, e.inv, e.imgs, fix, &found, err) < 0) {
    strv_free(found);
    app_env_done(&e);
    return -1;
  }
  /* Instances whose containers are missing. */
  _cleanup_json_ json_t *list = NULL;
  if (bothy_instance_list(a, &list, NULL) == 0) {
    json_array_foreach (list, i, c) {
      const char *st = json_string_value(json_object_get(c, "State"));
      const char *name = json_string_value(json_object_get(c, "Name"));
      if (!st || !streq(st, "missing"))
        continue;
      strv_push(&found, xasprintf("instance %s has no containers%s", name,
                                  fix ? ": made again (bothy apply)" : ""));
      if (fix) {
        bothy_error_t e2 = NULL;
        if (bothy_instance_apply(a, name, NULL, &e2) < 0)
          strv_push(&found, xasprintf("  apply %s failed: %s", name, e2->msg));
        bothy_error_free(&e2);
      }
    }
  }
  app_env_done(&e);
  *ret_findings = found;
  return 0;
}
