/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Catalogs: directories of recipes with an index.ini (catalog/README.md):
 *   [App NAME]
 *   Path=NAME/recipe.ini
 *   Version=1.0
 *   Summary=...
 * The bundled catalog comes with bothy; others are recorded in
 * CONFIG/catalogs.d/NAME.ini ([Catalog] Path=DIR). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "app/confrepo.h"
#include "app/instance.h"
#include "app/recipe.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/macros.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "base/banned.h"

void bothy_catalog_apps_free(struct bothy_catalog_app *v, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].version);
    free(v[i].summary);
    free(v[i].catalog);
    free(v[i].recipe_path);
  }
  free(v);
}

struct index_parse {
  const char *catalog, *dir;
  struct bothy_catalog_app *apps;
  size_t n;
  char *bad; /* first problem */
};

static int index_handler(void *data, const char *section, const char *key, const char *value)
{
  struct index_parse *p = data;
  if (strncmp(section, "App ", 4) != 0 || !section[4]) {
    if (!p->bad)
      p->bad = xasprintf("unknown section [%s]", section);
    return 1;
  }
  const char *name = section + 4;
  struct bothy_catalog_app *a = NULL;
  for (size_t i = 0; i < p->n; i++)
    if (streq(p->apps[i].name, name))
      a = &p->apps[i];
  if (!a) {
    p->apps = xrealloc(p->apps, (p->n + 1) * sizeof(*p->apps));
    a = &p->apps[p->n++];
    *a = (struct bothy_catalog_app){ .name = xstrdup(name), .catalog = xstrdup(p->catalog) };
  }
  if (!key)
    return 1;
  if (streq(key, "Path")) {
    free(a->recipe_path);
    a->recipe_path = value[0] == '/' ? xstrdup(value) : xasprintf("%s/%s", p->dir, value);
  } else if (streq(key, "Version")) {
    free(a->version);
    a->version = xstrdup(value);
  } else if (streq(key, "Summary")) {
    free(a->summary);
    a->summary = xstrdup(value);
  } else if (!p->bad) {
    p->bad = xasprintf("[%s]: unknown key \"%s\"", section, key);
  }
  return 1;
}

static int read_index(const char *catalog, const char *dir, struct bothy_catalog_app **apps,
                      size_t *n, bothy_error_t *err)
{
  _cleanup_free_ char *path = xasprintf("%s/index.ini", dir);
  struct index_parse p = { .catalog = catalog, .dir = dir, .apps = *apps, .n = *n };
  int r = ini_parse(path, index_handler, &p);
  *apps = p.apps;
  *n = p.n;
  if (r < 0)
    return bothy_error_set(err, ENOENT, "catalog '%s': cannot read '%s'", catalog, path);
  if (r > 0 || p.bad) {
    bothy_error_set_code(err, EINVAL, "%s:%d: %s", path, r > 0 ? r : 0,
                         p.bad ? p.bad : "syntax error");
    free(p.bad);
    return -EINVAL;
  }
  for (size_t i = 0; i < *n; i++)
    if (!(*apps)[i].recipe_path)
      return bothy_error_set_code(err, EINVAL, "%s: [App %s] has no Path=", path, (*apps)[i].name);
  return 0;
}

struct cat_conf {
  char *path;
};

static int conf_handler(void *data, const char *section, const char *key, const char *value)
{
  struct cat_conf *c = data;
  if (key && streq(section, "Catalog") && streq(key, "Path")) {
    free(c->path);
    c->path = xstrdup(value);
  }
  return 1;
}

/* The catalogs in search order: (name, dir) pairs. */
static int catalogs(const struct bothy_app_ctx *a, char ***ret, bothy_error_t *err)
{
  char **v = NULL;
  _cleanup_free_ char *d = xasprintf("%s/catalogs.d", a->config_dir);
  _cleanup_closedir_ DIR *dir = opendir(d);
  if (dir) {
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(dir))) {
      size_t l = strlen(de->d_name);
      if (l > 4 && streq(de->d_name + l - 4, ".ini"))
        strv_push(&names, xstrndup(de->d_name, l - 4));
    }
    strv_sort(names);
    for (size_t i = 0; names && names[i]; i++) {
      _cleanup_free_ char *f = xasprintf("%s/%s.ini", d, names[i]);
      struct cat_conf c = { 0 };
      if (ini_parse(f, conf_handler, &c) != 0 || !c.path) {
        free(c.path);
        strv_free(names);
        strv_free(v);
        return bothy_error_set_code(err, EINVAL, "%s: no [Catalog] Path=", f);
      }
      strv_push(&v, xstrdup(names[i]));
      strv_push(&v, c.path);
    }
    strv_free(names);
  }
  _cleanup_free_ char *bidx =
      a->bundled_catalog ? xasprintf("%s/index.ini", a->bundled_catalog) : NULL;
  if (bidx && access(bidx, R_OK) == 0) {
    strv_push(&v, xstrdup("bundled"));
    strv_push(&v, xstrdup(a->bundled_catalog));
  }
  *ret = v;
  return 0;
}

int bothy_catalog_list(const struct bothy_app_ctx *a, struct bothy_catalog_app **ret, size_t *ret_n,
                       bothy_error_t *err)
{
  _cleanup_strv_free_ char **cats = NULL;
  if (catalogs(a, &cats, err) < 0)
    return -1;
  struct bothy_catalog_app *apps = NULL;
  size_t n = 0;
  for (size_t i = 0; cats && cats[i]; i += 2)
    if (read_index(cats[i], cats[i + 1], &apps, &n, err) < 0) {
      bothy_catalog_apps_free(apps, n);
      return -1;
    }
  *ret = apps;
  *ret_n = n;
  return 0;
}

int bothy_catalog_find(const struct bothy_app_ctx *a, const char *name,
                       struct bothy_catalog_app *ret, bothy_error_t *err)
{
  struct bothy_catalog_app *apps = NULL;
  size_t n = 0;
  if (bothy_catalog_list(a, &apps, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (streq(apps[i].name, name)) {
      *ret = apps[i];
      apps[i] = (struct bothy_catalog_app){ 0 };
      bothy_catalog_apps_free(apps, n);
      return 0;
    }
  bothy_catalog_apps_free(apps, n);
  return bothy_error_set_code(err, ENOENT, "unknown app '%s' (bothy search lists the apps)", name);
}

static int check_recipes(struct bothy_catalog_app *apps, size_t n, char ***problems)
{
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    _cleanup_recipe_ struct bothy_recipe *r = NULL;
    bothy_error_t e = NULL;
    if (bothy_recipe_load(apps[i].recipe_path, &r, &e) < 0) {
      strv_push(problems, xasprintf("%s: %s", apps[i].name, e->msg));
      bad++;
    } else if (!streq(r->name, apps[i].name)) {
      strv_push(problems, xasprintf("%s: the recipe's Name is '%s'", apps[i].name, r->name));
      bad++;
    }
    bothy_error_free(&e);
  }
  return bad;
}

int bothy_catalog_add(const struct bothy_app_ctx *a, const char *name, const char *dir,
                      bothy_error_t *err)
{
  if (!name[0] || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name) ||
      streq(name, "bundled"))
    return bothy_error_set_code(
        err, EINVAL, "invalid catalog name '%s': use a-z, 0-9 and '-' (not 'bundled')", name);
  char real[PATH_MAX];
  if (!realpath(dir, real))
    return bothy_error_errno(err, "catalog '%s'", dir);
  struct bothy_catalog_app *apps = NULL;
  size_t n = 0;
  if (read_index(name, real, &apps, &n, err) < 0) {
    bothy_catalog_apps_free(apps, n);
    return -1;
  }
  _cleanup_strv_free_ char **problems = NULL;
  int bad = check_recipes(apps, n, &problems);
  bothy_catalog_apps_free(apps, n);
  if (bad)
    return bothy_error_set_code(err, EINVAL, "catalog '%s' has recipes that do not load: %s", name,
                                problems[0]);
  _cleanup_confrepo_ struct bothy_confrepo *repo = NULL;
  if (bothy_confrepo_open(a->config_dir, &repo, err) < 0)
    return -1;
  _cleanup_free_ char *path = xasprintf("catalogs.d/%s.ini", name);
  _cleanup_free_ char *body = xasprintf("[Catalog]\nPath=%s\n", real);
  char *paths[] = { path };
  char *contents[] = { body };
  _cleanup_free_ char *msg =
      a->command ? xstrdup(a->command) : xasprintf("bothy catalog add %s %s", name, dir);
  return bothy_confrepo_commit(repo, paths, contents, 1, msg, NULL, err);
}

int bothy_catalog_catalogs(const struct bothy_app_ctx *a, json_t **ret, bothy_error_t *err)
{
  _cleanup_strv_free_ char **cats = NULL;
  if (catalogs(a, &cats, err) < 0)
    return -1;
  json_t *arr = json_array();
  for (size_t i = 0; cats && cats[i]; i += 2) {
    struct bothy_catalog_app *apps = NULL;
    size_t n = 0;
    bothy_error_t e = NULL;
    int r = read_index(cats[i], cats[i + 1], &apps, &n, &e);
    json_t *o =
        json_pack("{s:s, s:s, s:I}", "Name", cats[i], "Path", cats[i + 1], "Apps", (json_int_t) n);
    if (r < 0)
      json_object_set_new(o, "Error", json_string(e->msg));
    bothy_error_free(&e);
    bothy_catalog_apps_free(apps, n);
    json_array_append_new(arr, o);
  }
  *ret = arr;
  return 0;
}

int bothy_catalog_update(const struct bothy_app_ctx *a, char ***ret_problems, bothy_error_t *err)
{
  _cleanup_strv_free_ char **cats = NULL;
  if (catalogs(a, &cats, err) < 0)
    return -1;
  char **problems = NULL;
  for (size_t i = 0; cats && cats[i]; i += 2) {
    struct bothy_catalog_app *apps = NULL;
    size_t n = 0;
    bothy_error_t e = NULL;
    if (read_index(cats[i], cats[i + 1], &apps, &n, &e) < 0)
      strv_push(&problems, xasprintf("catalog %s: %s", cats[i], e->msg));
    else
      check_recipes(apps, n, &problems);
    bothy_error_free(&e);
    bothy_catalog_apps_free(apps, n);
  }
  *ret_problems = problems;
  return 0;
}
