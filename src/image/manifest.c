/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/manifest.h"

#include <string.h>

#include "base/digest.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"

static void descriptor_done(struct bothy_descriptor *d)
{
  free(d->media_type);
  free(d->digest);
  free(d->os);
  free(d->architecture);
  free(d->variant);
  json_decref(d->annotations);
}

static int parse_descriptor(json_t *o, const char *ctx, struct bothy_descriptor *d,
                            bothy_error_t *err)
{
  json_t *platform = NULL, *ann = NULL;
  if (!json_is_object(o))
    return bothy_error_set(err, 0, "'%s' must be an object", ctx);
  if (bothy_json_strdup(o, "mediaType", ctx, &d->media_type, err) < 0 ||
      bothy_json_strdup(o, "digest", ctx, &d->digest, err) < 0 ||
      bothy_json_int64(o, "size", ctx, &d->size, err) < 0 ||
      bothy_json_object(o, "platform", ctx, &platform, err) < 0 ||
      bothy_json_object(o, "annotations", ctx, &ann, err) < 0)
    return -1;
  if (!d->digest)
    return bothy_error_set(err, 0, "'%s.digest' is required", ctx);
  if (bothy_digest_validate(d->digest, err) < 0)
    return bothy_error_prefix(err, "'%s'", ctx);
  if (!json_object_get(o, "size") || d->size < 0)
    return bothy_error_set(err, 0, "'%s.size' must be a non-negative integer", ctx);
  if (platform) {
    _cleanup_free_ char *pctx = xasprintf("%s.platform", ctx);
    if (bothy_json_strdup(platform, "os", pctx, &d->os, err) < 0 ||
        bothy_json_strdup(platform, "architecture", pctx, &d->architecture, err) < 0 ||
        bothy_json_strdup(platform, "variant", pctx, &d->variant, err) < 0)
      return -1;
  }
  d->annotations = json_incref(ann);
  return 0;
}

static int parse_descriptors(json_t *arr, const char *ctx, struct bothy_descriptor **ret,
                             size_t *ret_n, bothy_error_t *err)
{
  size_t n = json_array_size(arr);
  *ret = xcalloc(n + 1, sizeof(**ret));
  *ret_n = n;
  for (size_t i = 0; i < n; i++) {
    _cleanup_free_ char *c = xasprintf("%s[%zu]", ctx, i);
    if (parse_descriptor(json_array_get(arr, i), c, &(*ret)[i], err) < 0)
      return -1;
  }
  return 0;
}

bool bothy_layer_media_type_ok(const char *mt)
{
  static const char *const ok[] = {
    BOTHY_MT_OCI_LAYER,
    BOTHY_MT_OCI_LAYER_GZIP,
    BOTHY_MT_OCI_LAYER_ZSTD,
    BOTHY_MT_DOCKER_LAYER,
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  for (size_t i = 0; mt && i < ARRAY_SIZE(ok); i++)
    if (streq(ok[i], mt))
      return true;
  return false;
}

int bothy_manifest_parse(const char *data, size_t len, const char *media_type, const char *what,
                         struct bothy_manifest **ret, bothy_error_t *err)
{
  _cleanup_json_ json_t *o = NULL;
  if (bothy_json_load_data(data, len, what, &o, err) < 0)
    return -1;
  _cleanup_manifest_ struct bothy_manifest *m = xmalloc0(sizeof(*m));
  int64_t schema = 0;
  json_t *config = NULL, *layers = NULL, *manifests = NULL, *ann = NULL;
  if (!json_is_object(o))
    return bothy_error_set(err, 0, "%s: not a JSON object", what);
  if (bothy_json_int64(o, "schemaVersion", what, &schema, err) < 0 ||
      bothy_json_strdup(o, "mediaType", what, &m->media_type, err) < 0 ||
      bothy_json_object(o, "config", what, &config, err) < 0 ||
      bothy_json_array(o, "layers", what, &layers, err) < 0 ||
      bothy_json_array(o, "manifests", what, &manifests, err) < 0 ||
      bothy_json_object(o, "annotations", what, &ann, err) < 0)
    return -1;
  if (schema != 2)
    return bothy_error_set(err, 0, "%s: unsupported schemaVersion %lld (want 2)", what,
                           (long long) schema);
  const char *mt = m->media_type ? m->media_type : media_type;
  if (m->media_type && media_type && *media_type && !streq(m->media_type, media_type) &&
      !streq(media_type, "application/json") && !streq(media_type, "text/plain"))
    return bothy_error_set(err, 0, "%s: media type '%s' does not match the document's '%s'", what,
                           media_type, m->media_type);
  bool is_index = manifests && !config;
  if (mt) {
    if (streq(mt, BOTHY_MT_OCI_INDEX) || streq(mt, BOTHY_MT_DOCKER_LIST))
      is_index = true;
    else if (streq(mt, BOTHY_MT_OCI_MANIFEST) || streq(mt, BOTHY_MT_DOCKER_MANIFEST))
      is_index = false;
    else if (!streq(mt, "application/json"))
      return bothy_error_set(err, 0, "%s: unsupported media type '%s'", what, mt);
  }
  if (!m->media_type)
    m->media_type = xstrdup(is_index ? BOTHY_MT_OCI_INDEX : BOTHY_MT_OCI_MANIFEST);
  m->annotations = json_incref(ann);
  if (is_index) {
    m->kind = BOTHY_MANIFEST_INDEX;
    if (!manifests)
      return bothy_error_set(err, 0, "%s: an index needs 'manifests'", what);
    _cleanup_free_ char *c = xasprintf("%s: manifests", what);
    if (parse_descriptors(manifests, c, &m->manifests, &m->n_manifests, err) < 0)
      return -1;
  } else {
    m->kind = BOTHY_MANIFEST_IMAGE;
    if (!config || !layers)
      return bothy_error_set(err, 0, "%s: a manifest needs 'config' and 'layers'", what);
    _cleanup_free_ char *c = xasprintf("%s: config", what);
    if (parse_descriptor(config, c, &m->config, err) < 0)
      return -1;
    _cleanup_free_ char *l = xasprintf("%s: layers", what);
    if (parse_descriptors(layers, l, &m->layers, &m->n_layers, err) < 0)
      return -1;
    for (size_t i = 0; i < m->n_layers; i++)
      if (m->layers[i].media_type && !bothy_layer_media_type_ok(m->layers[i].media_type))
        return bothy_error_set(err, 0, "%s: layer %zu has unsupported media type '%s'", what, i,
                               m->layers[i].media_type);
  }
  *ret = TAKE_PTR(m);
  return 0;
}

struct bothy_manifest *bothy_manifest_free(struct bothy_manifest *m)
{
  if (!m)
    return NULL;
  free(m->media_type);
  descriptor_done(&m->config);
  for (size_t i = 0; i < m->n_layers; i++)
    descriptor_done(&m->layers[i]);
  free(m->layers);
  for (size_t i = 0; i < m->n_manifests; i++)
    descriptor_done(&m->manifests[i]);
  free(m->manifests);
  json_decref(m->annotations);
  free(m);
  return NULL;
}

void bothy_platform_native(const char **os, const char **architecture, const char **variant)
{
  *os = "linux";
  *variant = NULL;
#if defined(__x86_64__)
  *architecture = "amd64";
#elif defined(__aarch64__)
  *architecture = "arm64";
  *variant = "v8";
#elif defined(__i386__)
  *architecture = "386";
#elif defined(__arm__)
  *architecture = "arm";
  *variant = "v7";
#elif defined(__powerpc64__)
  *architecture = "ppc64le";
#elif defined(__s390x__)
  *architecture = "s390x";
#elif defined(__riscv)
  *architecture = "riscv64";
#else
  *architecture = "unknown";
#endif
}

int bothy_manifest_select(const struct bothy_manifest *index, const char *os,
                          const char *architecture, const char *variant,
                          const struct bothy_descriptor **ret, bothy_error_t *err)
{
  const struct bothy_descriptor *best = NULL;
  for (size_t i = 0; i < index->n_manifests; i++) {
    const struct bothy_descriptor *d = &index->manifests[i];
    if (!streq(d->os, os) || !streq(d->architecture, architecture))
      continue;
    if (variant && d->variant && !streq(variant, d->variant))
      continue;
    /* An exact variant match wins over an entry without one. */
    if (!best || (variant && streq(d->variant, variant)))
      best = d;
  }
  if (best) {
    *ret = best;
    return 0;
  }
  _cleanup_free_ char *offer = xstrdup("");
  for (size_t i = 0; i < index->n_manifests; i++) {
    const struct bothy_descriptor *d = &index->manifests[i];
    char *n = xasprintf("%s%s%s/%s%s%s", offer, *offer ? ", " : "", d->os ? d->os : "?",
                        d->architecture ? d->architecture : "?", d->variant ? "/" : "",
                        d->variant ? d->variant : "");
    free(offer);
    offer = n;
  }
  return bothy_error_set(err, 0, "no image for %s/%s%s%s (the index offers: %s)", os, architecture,
                         variant ? "/" : "", variant ? variant : "", *offer ? offer : "nothing");
}

static int keys_of(json_t *o, const char *key, const char *ctx, char ***ret, bothy_error_t *err)
{
  json_t *obj = NULL;
  if (bothy_json_object(o, key, ctx, &obj, err) < 0)
    return -1;
  const char *k;
  json_t *v;
  json_object_foreach (obj, k, v)
    strv_push(ret, xstrdup(k));
  return 0;
}

int bothy_image_config_parse(const char *data, size_t len, const char *what,
                             struct bothy_image_config **ret, bothy_error_t *err)
{
  _cleanup_image_config_ struct bothy_image_config *c = xmalloc0(sizeof(*c));
  if (bothy_json_load_data(data, len, what, &c->json, err) < 0)
    return -1;
  json_t *o = c->json, *cfg = NULL, *rootfs = NULL, *labels = NULL, *hist = NULL, *hc = NULL;
  if (!json_is_object(o))
    return bothy_error_set(err, 0, "%s: not a JSON object", what);
  if (bothy_json_strdup(o, "architecture", what, &c->architecture, err) < 0 ||
      bothy_json_strdup(o, "os", what, &c->os, err) < 0 ||
      bothy_json_strdup(o, "variant", what, &c->variant, err) < 0 ||
      bothy_json_strdup(o, "created", what, &c->created, err) < 0 ||
      bothy_json_strdup(o, "author", what, &c->author, err) < 0 ||
      bothy_json_object(o, "config", what, &cfg, err) < 0 ||
      bothy_json_object(o, "rootfs", what, &rootfs, err) < 0 ||
      bothy_json_array(o, "history", what, &hist, err) < 0)
    return -1;
  c->history = json_incref(hist);
  if (cfg) {
    _cleanup_free_ char *x = xasprintf("%s: config", what);
    if (bothy_json_strdup(cfg, "User", x, &c->user, err) < 0 ||
        bothy_json_strv(cfg, "Env", x, &c->env, err) < 0 ||
        bothy_json_strv(cfg, "Entrypoint", x, &c->entrypoint, err) < 0 ||
        bothy_json_strv(cfg, "Cmd", x, &c->cmd, err) < 0 ||
        bothy_json_strdup(cfg, "WorkingDir", x, &c->working_dir, err) < 0 ||
        bothy_json_strdup(cfg, "StopSignal", x, &c->stop_signal, err) < 0 ||
        bothy_json_object(cfg, "Labels", x, &labels, err) < 0 ||
        bothy_json_object(cfg, "Healthcheck", x, &hc, err) < 0 ||
        keys_of(cfg, "Volumes", x, &c->volumes, err) < 0 ||
        keys_of(cfg, "ExposedPorts", x, &c->exposed_ports, err) < 0)
      return -1;
    c->labels = json_incref(labels);
    if (hc) {
      _cleanup_free_ char *h = xasprintf("%s: config.Healthcheck", what);
      if (bothy_json_strv(hc, "Test", h, &c->health.test, err) < 0 ||
          bothy_json_int64(hc, "Interval", h, &c->health.interval_ns, err) < 0 ||
          bothy_json_int64(hc, "Timeout", h, &c->health.timeout_ns, err) < 0 ||
          bothy_json_int64(hc, "StartPeriod", h, &c->health.start_period_ns, err) < 0 ||
          bothy_json_int64(hc, "Retries", h, &c->health.retries, err) < 0)
        return -1;
    }
  }
  if (!rootfs)
    return bothy_error_set(err, 0, "%s: 'rootfs' is required", what);
  _cleanup_free_ char *r = xasprintf("%s: rootfs", what);
  const char *type = NULL;
  if (bothy_json_string(rootfs, "type", r, &type, err) < 0 ||
      bothy_json_strv(rootfs, "diff_ids", r, &c->diff_ids, err) < 0)
    return -1;
  if (!streq(type, "layers"))
    return bothy_error_set(err, 0, "%s: rootfs.type must be 'layers'", what);
  c->n_diff_ids = strv_length(c->diff_ids);
  for (size_t i = 0; i < c->n_diff_ids; i++)
    if (bothy_digest_validate(c->diff_ids[i], err) < 0)
      return bothy_error_prefix(err, "%s: rootfs.diff_ids[%zu]", what, i);
  *ret = TAKE_PTR(c);
  return 0;
}

struct bothy_image_config *bothy_image_config_free(struct bothy_image_config *c)
{
  if (!c)
    return NULL;
  free(c->architecture);
  free(c->os);
  free(c->variant);
  free(c->created);
  free(c->author);
  free(c->user);
  strv_free(c->env);
  strv_free(c->entrypoint);
  strv_free(c->cmd);
  free(c->working_dir);
  strv_free(c->volumes);
  strv_free(c->exposed_ports);
  free(c->stop_signal);
  json_decref(c->labels);
  strv_free(c->health.test);
  strv_free(c->diff_ids);
  json_decref(c->history);
  json_decref(c->json);
  free(c);
  return NULL;
}
