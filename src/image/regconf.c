/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/regconf.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/strv.h"
#include "base/xalloc.h"

struct parse {
  struct bothy_regconf *c;
  const char *path;
  bothy_error_t *err;
};

static bool parse_bool(const char *v, bool *ret)
{
  if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
    *ret = true;
    return true;
  }
  if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
    *ret = false;
    return true;
  }
  return false;
}

/* inih reports the line of the first handler that returned 0 (Debian's
 * inih calls handlers without the line number). */
static int handler(void *data, const char *section, const char *key, const char *value)
{
  struct parse *p = data;
  if (!section || !*section) {
    bothy_error_set(p->err, 0, "'%s' outside a [registry] section", key);
    return 0;
  }
  struct bothy_regconf *c = p->c;
  struct bothy_regconf_entry *e = NULL;
  for (size_t i = 0; i < c->n; i++)
    if (streq(c->entries[i].host, section))
      e = &c->entries[i];
  if (!e) {
    c->entries = xrealloc(c->entries, (c->n + 1) * sizeof(*c->entries));
    e = &c->entries[c->n++];
    memset(e, 0, sizeof(*e));
    e->host = xstrdup(section);
  }
  if (!key) /* an empty section (inih calls with NULL key when asked to) */
    return 1;
  if (streq(key, "insecure")) {
    if (!parse_bool(value, &e->insecure)) {
      bothy_error_set(p->err, 0, "insecure must be true or false, not '%s'", value);
      return 0;
    }
  } else if (streq(key, "ca")) {
    if (value[0] != '/') {
      bothy_error_set(p->err, 0, "ca must be an absolute path, not '%s'", value);
      return 0;
    }
    free(e->ca_file);
    e->ca_file = xstrdup(value);
  } else if (streq(key, "mirror")) {
    if (!*value || strchr(value, '/')) {
      bothy_error_set(p->err, 0, "mirror must be a registry host, not '%s'", value);
      return 0;
    }
    strv_push(&e->mirrors, xstrdup(value));
  } else {
    bothy_error_set(p->err, 0, "unknown setting '%s' in [%s]", key, section);
    return 0;
  }
  return 1;
}

int bothy_regconf_load(const char *path, struct bothy_regconf **ret, bothy_error_t *err)
{
  _cleanup_regconf_ struct bothy_regconf *c = xmalloc0(sizeof(*c));
  FILE *f = fopen(path, "re");
  if (!f) {
    if (errno != ENOENT)
      return bothy_error_errno(err, "cannot read '%s'", path);
    *ret = TAKE_PTR(c);
    return 0;
  }
  struct parse p = { c, path, err };
  int r = ini_parse_file(f, handler, &p);
  fclose(f);
  if (r != 0) {
    if (err && *err)
      return bothy_error_prefix(err, "%s:%d", path, r);
    return bothy_error_set(err, 0, "%s:%d: syntax error", path, r);
  }
  *ret = TAKE_PTR(c);
  return 0;
}

struct bothy_regconf *bothy_regconf_free(struct bothy_regconf *c)
{
  if (!c)
    return NULL;
  for (size_t i = 0; i < c->n; i++) {
    free(c->entries[i].host);
    free(c->entries[i].ca_file);
    strv_free(c->entries[i].mirrors);
  }
  free(c->entries);
  free(c);
  return NULL;
}

const struct bothy_regconf_entry *bothy_regconf_find(const struct bothy_regconf *c,
                                                     const char *host)
{
  for (size_t i = 0; c && i < c->n; i++)
    if (streq(c->entries[i].host, host))
      return &c->entries[i];
  return NULL;
}
