/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy pull/images/tag/rmi/inspect`: images on this host. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "build/builder.h"
#include "cli/cli.h"
#include "container/inventory.h"
#include "image/images.h"
#include "image/reference.h"

static int open_images(struct bothy_images **ret)
{
  bothy_error_t err = NULL;
  if (bothy_images_open(cli_root(), ret, &err) < 0)
    return cli_fail(&err);
  return 0;
}

/* getopt_long with the usual GNU conventions for bothy's own commands. */
static int parse(int argc, char **argv, const struct option *opts, int *ret_opt)
{
  int c = getopt_long(argc, argv, "+", opts, NULL);
  if (c == '?' || c == ':')
    return cli_failf("%s: unknown option or missing value: '%s'", argv[0], argv[optind - 1]), -1;
  *ret_opt = c;
  return 0;
}

enum { O_QUIET = 1, O_TLS, O_CREDS, O_FORMAT, O_FORCE, O_PARALLEL };

static void human_size(int64_t n, char *buf, size_t len);

/* A progress line on a terminal, rewritten in place: the layers being
 * fetched and the bytes so far. */
struct progress {
  char **digests;
  uint64_t *done;
  int64_t *total;
  size_t n;
  bool shown;
  struct timespec last;
};

static void show_progress(void *data, const char *digest, uint64_t done, int64_t total)
{
  struct progress *p = data;
  size_t i = 0;
  while (i < p->n && strcmp(p->digests[i], digest))
    i++;
  if (i == p->n) {
    p->digests = xrealloc(p->digests, (p->n + 1) * sizeof(char *));
    p->done = xrealloc(p->done, (p->n + 1) * sizeof(uint64_t));
    p->total = xrealloc(p->total, (p->n + 1) * sizeof(int64_t));
    p->digests[p->n] = xstrdup(digest);
    p->n++;
  }
  p->done[i] = done;
  p->total[i] = total;
  /* Ten redraws a second are plenty. */
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
  if (p->shown && ms < 100)
    return;
  p->last = now;
  uint64_t d = 0;
  int64_t t = 0;
  for (size_t k = 0; k < p->n; k++) {
    d += p->done[k];
    t += p->total[k] > 0 ? p->total[k] : 0;
  }
  char a[32], b[32];
  human_size((int64_t) d, a, sizeof(a));
  human_size(t, b, sizeof(b));
  int width = 30, fill = t > 0 ? (int) ((double) d / (double) t * width) : 0;
  if (fill > width)
    fill = width;
  printf("\r\033[Kfetching %zu layer%s [%.*s%*s] %s / %s", p->n, p->n == 1 ? "" : "s", fill,
         "==============================", width - fill, "", a, b);
  fflush(stdout);
  p->shown = true;
}

static void progress_done(struct progress *p)
{
  if (p->shown)
    printf("\r\033[K");
  for (size_t i = 0; i < p->n; i++)
    free(p->digests[i]);
  free(p->digests);
  free(p->done);
  free(p->total);
}

int cmd_pull(int argc, char **argv)
{
  static const struct option opts[] = {
    { "quiet", no_argument, NULL, O_QUIET },
    { "tls-verify", required_argument, NULL, O_TLS },
    { "creds", required_argument, NULL, O_CREDS },
    { "parallel", required_argument, NULL, O_PARALLEL },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_pull_opts po = { 0 };
  _cleanup_free_ char *user = NULL;
  int c;
  optind = 0;
  opterr = 0;
  for (;;) {
    if (parse(argc, argv, opts, &c) < 0)
      return 1;
    if (c == -1)
      break;
    switch (c) {
    case O_QUIET:
      po.quiet = true;
      break;
    case O_TLS:
      if (!strcmp(optarg, "false"))
        po.tls_verify_off = true;
      else if (strcmp(optarg, "true"))
        return cli_failf("--tls-verify takes true or false, not '%s'", optarg);
      break;
    case O_CREDS: {
      const char *colon = strchr(optarg, ':');
      if (!colon)
        return cli_failf("--creds takes USER:PASSWORD");
      user = xstrndup(optarg, (size_t) (colon - optarg));
      po.username = user;
      po.password = colon + 1;
      break;
    }
    case O_PARALLEL:
      po.parallel = (int) strtol(optarg, NULL, 10);
      break;
    }
  }
  if (argc - optind != 1)
    return cli_failf("usage: bothy pull [--quiet] [--tls-verify=false] [--creds U:P] IMAGE");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_free_ char *digest = NULL;
  _cleanup_free_ char *conf = cli_config_path("registries.conf");
  po.registries_conf = conf;
  struct progress prog = { 0 };
  if (!po.quiet && isatty(STDOUT_FILENO)) {
    po.progress = show_progress;
    po.progress_data = &prog;
  }
  int r = bothy_images_pull(imgs, argv[optind], &po, &digest, &err);
  progress_done(&prog);
  if (r < 0)
    return cli_fail(&err);
  if (po.quiet) {
    printf("%s\n", digest);
  } else {
    _cleanup_reference_ struct bothy_reference *ref = NULL;
    bothy_reference_parse(argv[optind], &ref, NULL);
    _cleanup_free_ char *full = ref ? bothy_reference_string(ref) : xstrdup(argv[optind]);
    printf("%s\nDigest: %s\n", full, digest);
  }
  return 0;
}

static void human_size(int64_t n, char *buf, size_t len)
{
  const char *units[] = { "B", "kB", "MB", "GB", "TB" };
  double v = (double) n;
  size_t u = 0;
  while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
    v /= 1000;
    u++;
  }
  snprintf(buf, len, u ? "%.3g %s" : "%.0f %s", v, units[u]);
}

int cmd_images(int argc, char **argv)
{
  static const struct option opts[] = {
    { "quiet", no_argument, NULL, O_QUIET },
    { "format", required_argument, NULL, O_FORMAT },
    { NULL, 0, NULL, 0 },
  };
  bool quiet = false;
  const char *format = "table";
  int c;
  optind = 0;
  opterr = 0;
  for (;;) {
    if (parse(argc, argv, opts, &c) < 0)
      return 1;
    if (c == -1)
      break;
    if (c == O_QUIET)
      quiet = true;
    else if (c == O_FORMAT)
      format = optarg;
  }
  if (strcmp(format, "table") && strcmp(format, "json"))
    return cli_failf("--format takes table or json, not '%s'", format);
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *list = NULL;
  if (bothy_images_list(imgs, &list, &err) < 0)
    return cli_fail(&err);
  if (!strcmp(format, "json")) {
    _cleanup_free_ char *s = bothy_json_dump(list, true);
    fputs(s, stdout);
    return 0;
  }
  if (!quiet)
    printf("%-50s %-20s %-14s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "SIZE");
  size_t i;
  json_t *e;
  json_array_foreach (list, i, e) {
    const char *ref = json_string_value(json_object_get(e, "ref"));
    const char *digest = json_string_value(json_object_get(e, "digest"));
    const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
    if (quiet) {
      printf("%.12s\n", hex);
      continue;
    }
    _cleanup_reference_ struct bothy_reference *r = NULL;
    if (*ref)
      bothy_reference_parse(ref, &r, NULL);
    _cleanup_free_ char *repo = r ? bothy_reference_repository(r) : xstrdup("<none>");
    char size[32];
    human_size(json_integer_value(json_object_get(e, "size")), size, sizeof(size));
    printf("%-50s %-20s %-14.12s %s\n", repo, r && r->tag ? r->tag : "<none>", hex, size);
  }
  return 0;
}

int cmd_tag(int argc, char **argv)
{
  if (argc != 3)
    return cli_failf("usage: bothy tag IMAGE NEW-REFERENCE");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  if (bothy_images_tag(imgs, argv[1], argv[2], &err) < 0)
    return cli_fail(&err);
  return 0;
}

/* The images containers were made from (manifest digests). */
static int images_in_use(char ***ret, bothy_error_t *err);

int cmd_rmi(int argc, char **argv)
{
  bool force = false;
  int first = 1;
  for (; first < argc && argv[first][0] == '-'; first++) {
    if (!strcmp(argv[first], "-f") || !strcmp(argv[first], "--force"))
      force = true;
    else
      return cli_failf("rmi: unknown flag '%s'", argv[first]);
  }
  if (first >= argc)
    return cli_failf("usage: bothy rmi [-f] IMAGE...");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **in_use = NULL;
  if (!force && images_in_use(&in_use, &err) < 0)
    return cli_fail(&err);
  int rc = 0;
  for (int i = first; i < argc; i++) {
    /* An image a container was made from keeps its name unless forced:
     * docker's rule. (Forced, prune still keeps what the container needs.) */
    _cleanup_image_ struct bothy_image *img = NULL;
    if (in_use && bothy_images_get(imgs, argv[i], &img, NULL) == 0 &&
        strv_contains(in_use, img->digest)) {
      rc = cli_failf("conflict: unable to remove repository reference \"%s\" (must force) - "
                     "a container is using its referenced image %.19s",
                     argv[i], img->digest);
      continue;
    }
    if (bothy_images_untag(imgs, argv[i], &err) < 0)
      rc = cli_fail(&err);
    else
      printf("Untagged: %s\n", argv[i]);
  }
  return rc;
}

int cmd_inspect(int argc, char **argv)
{
  if (argc != 2)
    return cli_failf("usage: bothy inspect IMAGE");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_image_ struct bothy_image *img = NULL;
  if (bothy_images_get(imgs, argv[1], &img, &err) < 0)
    return cli_fail(&err);
  json_t *layers = json_array();
  for (size_t i = 0; i < img->config->n_diff_ids; i++)
    json_array_append_new(layers, json_string(img->config->diff_ids[i]));
  _cleanup_json_ json_t *o = json_pack(
      "{s:s, s:s?, s:s, s:s, s:O, s:{s:s, s:o}}", "Digest", img->digest, "Reference", img->ref,
      "Architecture", img->config->architecture ? img->config->architecture : "", "Os",
      img->config->os ? img->config->os : "", "Config", img->config->json, "RootFS", "Type",
      "layers", "Layers", layers);
  _cleanup_free_ char *s = bothy_json_dump(o, true);
  fputs(s, stdout);
  return 0;
}

static int images_in_use(char ***ret, bothy_error_t *err)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  struct bothy_ctr_record **recs = NULL;
  size_t n = 0;
  if (bothy_inventory_open(cli_root(), &inv, err) < 0 ||
      bothy_inventory_ctr_list(inv, &recs, &n, err) < 0)
    return -1;
  char **v = NULL;
  for (size_t i = 0; i < n; i++)
    if (recs[i]->image_id && !strv_contains(v, recs[i]->image_id))
      strv_push(&v, xstrdup(recs[i]->image_id));
  bothy_ctr_records_free(recs, n);
  *ret = v;
  return 0;
}

int cmd_prune(int argc, char **argv)
{
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **removed = NULL, **in_use = NULL;
  /* The build cache goes first: its layers are then what no image needs. */
  size_t n_cache = 0;
  if (bothy_build_cache_prune(cli_root(), &n_cache, &err) < 0 || images_in_use(&in_use, &err) < 0 ||
      bothy_images_prune(imgs, in_use, &removed, &err) < 0)
    return cli_fail(&err);
  if (n_cache)
    printf("removed %zu build cache entries\n", n_cache);
  for (size_t i = 0; removed && removed[i]; i++)
    printf("removed %s\n", removed[i]);
  printf("%zu removed\n", strv_length(removed));
  return 0;
}

int cmd_history(int argc, char **argv)
{
  if (argc != 2)
    return cli_failf("usage: bothy history IMAGE");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_image_ struct bothy_image *img = NULL;
  if (bothy_images_get(imgs, argv[1], &img, &err) < 0)
    return cli_fail(&err);
  printf("%-32s %-60s %s\n", "CREATED", "CREATED BY", "SIZE");
  /* Newest first, as docker; empty_layer entries have no layer of their own. */
  size_t n = json_array_size(img->config->history), layer = img->manifest->n_layers;
  for (size_t i = n; i-- > 0;) {
    json_t *h = json_array_get(img->config->history, i);
    const char *created = json_string_value(json_object_get(h, "created"));
    const char *by = json_string_value(json_object_get(h, "created_by"));
    bool empty = json_is_true(json_object_get(h, "empty_layer"));
    char size[32] = "0 B";
    if (!empty && layer > 0)
      human_size(img->manifest->layers[--layer].size, size, sizeof(size));
    printf("%-32s %-60.60s %s\n", created ? created : "", by ? by : "", size);
  }
  return 0;
}
