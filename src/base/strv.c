/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/strv.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base/xalloc.h"

size_t strv_length(char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

char **strv_free(char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
  return NULL;
}

char **strv_copy(char *const *v)
{
  if (!v)
    return NULL;
  size_t n = strv_length(v);
  char **r = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup(v[i]);
  return r;
}

void strv_push(char ***v, char *s)
{
  size_t n = strv_length(*v);
  *v = xrealloc(*v, (n + 2) * sizeof(char *));
  (*v)[n] = s;
  (*v)[n + 1] = NULL;
}

ssize_t strv_env_find(char *const *env, const char *key, size_t keylen)
{
  for (size_t i = 0; env && env[i]; i++)
    if (strncmp(env[i], key, keylen) == 0 && env[i][keylen] == '=')
      return (ssize_t) i;
  return -1;
}

void strv_env_set(char ***env, const char *kv)
{
  const char *eq = strchr(kv, '=');
  size_t keylen = eq ? (size_t) (eq - kv) : strlen(kv);
  ssize_t i = strv_env_find(*env, kv, keylen);
  if (i >= 0) {
    free((*env)[i]);
    (*env)[i] = xstrdup(kv);
    return;
  }
  strv_push(env, xstrdup(kv));
}

const char *strv_env_get(char *const *env, const char *key)
{
  size_t keylen = strlen(key);
  ssize_t i = strv_env_find(env, key, keylen);
  return i >= 0 ? env[i] + keylen + 1 : NULL;
}

bool strv_contains(char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **v)
{
  if (v)
    qsort(v, strv_length(v), sizeof(char *), cmp_str);
}
