/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: recipes (app/recipe.h). The input is read as a recipe
 * file (a memfd, by its /proc/self/fd path); a recipe that loads is then
 * resolved and its environment expanded. Besides not crashing: a failure is
 * EINVAL with a message "FILE:LINE: ..."; a loaded recipe keeps the header's
 * promises (one of Image=/Build=, dependency order, one Web=, secrets
 * generated from their charset at their length), and once resolved every
 * Environment= expands. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "app/recipe.h"
#include "base/error.h"
#include "base/strv.h"
#include "base/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A value of each type, for required settings without a default. */
static const char *sample(enum bothy_setting_type t)
{
  switch (t) {
  case BOTHY_SETTING_INT:
    return "42";
  case BOTHY_SETTING_BOOL:
    return "yes";
  case BOTHY_SETTING_PORT:
    return "8080";
  case BOTHY_SETTING_EMAIL:
    return "me@example.org";
  case BOTHY_SETTING_URL:
    return "https://example.org/";
  case BOTHY_SETTING_HOSTNAME:
    return "example.org";
  case BOTHY_SETTING_STRING:
    break;
  }
  return "x";
}

static void check(const struct bothy_recipe *r, char *const *lines)
{
  if (!r->name || !r->version || !r->summary || !r->maintainer || !r->n_services || !r->dir)
    abort();
  size_t webs = 0;
  for (size_t i = 0; i < r->n_services; i++) {
    const struct bothy_service *s = &r->services[i];
    if (!s->image == !s->build || !s->environment || !s->depends_on)
      abort();
    if (bothy_recipe_service(r, s->name) != s)
      abort();
    webs += s->web_port != 0;
    for (char **d = s->depends_on; *d; d++) {
      const struct bothy_service *dep = bothy_recipe_service(r, *d);
      if (!dep || dep >= s) /* a service comes after what it depends on */
        abort();
    }
    for (size_t k = 0; k < s->n_secret_files; k++) {
      const struct bothy_setting *st = bothy_recipe_setting(r, s->secret_files[k].setting);
      if (!st || !st->secret)
        abort();
    }
  }
  if (webs > 1)
    abort();

  char **given = NULL;
  for (size_t i = 0; i < r->n_settings; i++) {
    const struct bothy_setting *s = &r->settings[i];
    if (bothy_recipe_setting(r, s->name) != s)
      abort();
    if (s->required && !s->default_value)
      strv_push(&given, xasprintf("%s=%s", s->name, sample(s->type)));
  }
  char **values = NULL, **generated = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_resolve(r, given, &values, &generated, &err) < 0) {
    /* A sample that does not match a Pattern=. */
    if (!err || err->code != EINVAL || strncmp(err->msg, "setting '", 9) != 0)
      abort();
    bothy_error_free(&err);
  } else {
    if (err || strv_length(values) != r->n_settings)
      abort();
    for (char **g = generated; *g; g++) {
      const struct bothy_setting *s = bothy_recipe_setting(r, *g);
      const char *v = strv_env_get(values, *g);
      if (!s || !s->secret || s->required || !v || strlen(v) != s->length ||
          strspn(v, s->charset) != s->length)
        abort();
    }
    for (size_t i = 0; i < r->n_services; i++)
      for (char **e = r->services[i].environment; *e; e++) {
        char *out = NULL;
        if (bothy_recipe_expand(*e, values, &out, &err) < 0)
          abort();
        free(out);
      }
  }
  strv_free(values);
  strv_free(generated);
  strv_free(given);

  /* The input's lines as given values: anything but a crash. */
  if (bothy_recipe_resolve(r, lines, &values, NULL, &err) < 0) {
    if (!err || err->code != EINVAL)
      abort();
    bothy_error_free(&err);
  } else {
    strv_free(values);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 16384)
    return 0;
  int fd = memfd_create("recipe", MFD_CLOEXEC);
  if (fd < 0 || write(fd, data, size) != (ssize_t) size)
    abort();
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  char prefix[80];
  int plen = snprintf(prefix, sizeof(prefix), "%s:", path);

  struct bothy_recipe *r = NULL;
  bothy_error_t err = NULL;
  if (bothy_recipe_load(path, &r, &err) < 0) {
    if (!err || err->code != EINVAL || r || strncmp(err->msg, prefix, (size_t) plen) != 0)
      abort();
    /* "FILE:LINE: ", LINE from 1. */
    char *end = NULL;
    unsigned long line = strtoul(err->msg + plen, &end, 10);
    if (line == 0 || !end || strncmp(end, ": ", 2) != 0)
      abort();
    bothy_error_free(&err);
  } else {
    if (err || !r)
      abort();
    char *text = xstrndup((const char *) data, size);
    char **lines = NULL;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
      strv_push(&lines, xstrdup(l));
    check(r, lines);
    strv_free(lines);
    free(text);
    bothy_recipe_free(r);
  }
  close(fd);
  return 0;
}
