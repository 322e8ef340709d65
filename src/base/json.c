/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/json.h"

#include <errno.h>
#include <string.h>

#include "base/strv.h"
#include "base/xalloc.h"

int bothy_json_load_file(const char *path, json_t **ret, bothy_error_t *err)
{
  json_error_t je;
  json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!o) {
    if (je.line <= 0 && je.position == 0)
      return bothy_error_set(err, ENOENT, "cannot read '%s'", path);
    return bothy_error_set(err, 0, "'%s': invalid JSON at line %d, column %d: %s", path, je.line,
                           je.column, je.text);
  }
  *ret = o;
  return 0;
}

int bothy_json_load_data(const char *data, size_t len, const char *what, json_t **ret,
                         bothy_error_t *err)
{
  json_error_t je;
  json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
  if (!o)
    return bothy_error_set(err, 0, "%s: invalid JSON at line %d, column %d: %s", what, je.line,
                           je.column, je.text);
  *ret = o;
  return 0;
}

#define GET(o, key)                                                                                \
  json_t *v = json_object_get((o), (key));                                                         \
  if (!v || json_is_null(v))                                                                       \
    return 0;

#define WANT(cond, what)                                                                           \
  if (!(cond))                                                                                     \
    return bothy_error_set(err, 0, "'%s%s%s' must be %s", ctx ? ctx : "", ctx ? "." : "", key,     \
                           what);

int bothy_json_string(json_t *o, const char *key, const char *ctx, const char **ret,
                      bothy_error_t *err)
{
  GET(o, key);
  WANT(json_is_string(v), "a string");
  *ret = json_string_value(v);
  return 1;
}

int bothy_json_strdup(json_t *o, const char *key, const char *ctx, char **ret, bothy_error_t *err)
{
  const char *s = NULL;
  int r = bothy_json_string(o, key, ctx, &s, err);
  if (r > 0) {
    free(*ret);
    *ret = xstrdup(s);
  }
  return r;
}

int bothy_json_bool(json_t *o, const char *key, const char *ctx, bool *ret, bothy_error_t *err)
{
  GET(o, key);
  WANT(json_is_boolean(v), "a boolean");
  *ret = json_is_true(v);
  return 1;
}

int bothy_json_int64(json_t *o, const char *key, const char *ctx, int64_t *ret, bothy_error_t *err)
{
  GET(o, key);
  WANT(json_is_integer(v), "an integer");
  *ret = (int64_t) json_integer_value(v);
  return 1;
}

int bothy_json_uint64(json_t *o, const char *key, const char *ctx, uint64_t *ret,
                      bothy_error_t *err)
{
  GET(o, key);
  /* jansson's integers are signed 64-bit: values above INT64_MAX are read as
   * reals by the parser, so accept an integral real too. */
  if (json_is_real(v)) {
    double d = json_real_value(v);
    WANT(d >= 0 && d <= 18446744073709551615.0 && d == (double) (uint64_t) d,
         "a non-negative integer");
    *ret = (uint64_t) d;
    return 1;
  }
  WANT(json_is_integer(v) && json_integer_value(v) >= 0, "a non-negative integer");
  *ret = (uint64_t) json_integer_value(v);
  return 1;
}

int bothy_json_object(json_t *o, const char *key, const char *ctx, json_t **ret, bothy_error_t *err)
{
  GET(o, key);
  WANT(json_is_object(v), "an object");
  *ret = v;
  return 1;
}

int bothy_json_array(json_t *o, const char *key, const char *ctx, json_t **ret, bothy_error_t *err)
{
  GET(o, key);
  WANT(json_is_array(v), "an array");
  *ret = v;
  return 1;
}

int bothy_json_strv(json_t *o, const char *key, const char *ctx, char ***ret, bothy_error_t *err)
{
  GET(o, key);
  WANT(json_is_array(v), "an array of strings");
  size_t n = json_array_size(v);
  _cleanup_strv_free_ char **out = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(v, i);
    WANT(json_is_string(e), "an array of strings");
    out[i] = xstrdup(json_string_value(e));
  }
  strv_free(*ret);
  *ret = TAKE_PTR(out);
  return 1;
}

char *bothy_json_dump(json_t *o, bool pretty)
{
  char *s = json_dumps(o, JSON_SORT_KEYS | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
  if (!s)
    return xstrdup("null\n");
  char *r = xasprintf("%s\n", s);
  free(s);
  return r;
}
