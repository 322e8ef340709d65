/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Recipes (app/recipe.h; the format's reference is docs/recipes.md).
 *
 * inih reads the key/value pairs. It is fed through a reader of our own
 * that hands it one line at a time, because Debian's inih (55) calls the
 * handler without a line number and never calls it for a section without
 * keys: the reader counts lines and sees every section header, so each
 * section and key knows its line and an empty or misspelt section is not
 * silently skipped. inih's own options are set for the time of the parse to
 * follow systemd's unit syntax (no inline comments, no continuation lines
 * by indentation) and to accept lines longer than its default 200 bytes. */
#include "app/recipe.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/fs.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/reference.h"

#define RECIPE_FILE_MAX    (1024 * 1024)
#define RECIPE_LINE_MAX    8192 /* characters, without the line's end */
#define RECIPE_NAME_MAX    63   /* a DNS label: names end up in host and container names */
#define SECRET_LENGTH      32
#define SECRET_LENGTH_MAX  4096
#define CHARSET_ALNUM      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define BOOL_WORDS         "yes/no, true/false, on/off, 1/0"
#define RECIPE_NAME_CHARS  "a-z, 0-9 and '-', starting with a letter"
#define SETTING_NAME_CHARS "a-z, 0-9 and '_', starting with a letter"

static void regfreep(regex_t **re)
{
  if (*re) {
    regfree(*re);
    free(*re);
  }
}
#define _cleanup_regex_ _cleanup_(regfreep)

/* ---------------------------------------------------------------- values */

static bool is_control(unsigned char c)
{
  return c < 0x20 || c == 0x7f;
}

static bool has_control(const char *s)
{
  for (; *s; s++)
    if (is_control((unsigned char) *s))
      return true;
  return false;
}

/* [a-z] followed by [a-z0-9] and the one extra character given. */
static bool valid_name(const char *s, size_t len, char extra)
{
  if (len == 0 || len > RECIPE_NAME_MAX || s[0] < 'a' || s[0] > 'z')
    return false;
  for (size_t i = 1; i < len; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == extra))
      return false;
  return true;
}

static bool valid_service_name(const char *s)
{
  return valid_name(s, strlen(s), '-');
}

static bool valid_setting_name(const char *s)
{
  return valid_name(s, strlen(s), '_');
}

static bool valid_env_name(const char *s, size_t len)
{
  if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  for (size_t i = 0; i < len; i++)
    if (!(isascii((unsigned char) s[i]) && (isalnum((unsigned char) s[i]) || s[i] == '_')))
      return false;
  return true;
}

static bool parse_bool(const char *v, bool *ret)
{
  static const char *const yes[] = { "yes", "true", "on", "1" };
  static const char *const no[] = { "no", "false", "off", "0" };
  for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
    if (strcasecmp(v, yes[i]) == 0) {
      *ret = true;
      return true;
    }
    if (strcasecmp(v, no[i]) == 0) {
      *ret = false;
      return true;
    }
  }
  return false;
}

static bool all_digits(const char *s)
{
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* Optional '-', then digits, in int64_t. */
static bool valid_int(const char *v)
{
  const char *d = v[0] == '-' ? v + 1 : v;
  if (!all_digits(d))
    return false;
  errno = 0;
  char *end = NULL;
  (void) strtoll(v, &end, 10);
  return errno == 0 && end && *end == '\0';
}

/* 1-65535, digits only, no leading zero. */
static bool parse_port(const char *v, int *ret)
{
  if (!all_digits(v) || v[0] == '0' || strlen(v) > 5)
    return false;
  long n = strtol(v, NULL, 10);
  if (n < 1 || n > 65535)
    return false;
  if (ret)
    *ret = (int) n;
  return true;
}

/* RFC 1123: dot-separated labels of 1-63 letters, digits and '-', not
 * starting or ending with '-'; 253 characters at most. */
static bool valid_hostname_n(const char *s, size_t len)
{
  if (len == 0 || len > 253)
    return false;
  size_t label = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (label == 0 || label > 63 || s[i - 1] == '-')
        return false;
      label = 0;
      continue;
    }
    if (!(isascii((unsigned char) s[i]) && (isalnum((unsigned char) s[i]) || s[i] == '-')))
      return false;
    if (label == 0 && s[i] == '-')
      return false;
    label++;
  }
  return true;
}

static bool valid_hostname(const char *s)
{
  return valid_hostname_n(s, strlen(s));
}

/* local@domain: one '@', something before it, a hostname with a dot after
 * it, no spaces or control characters. */
static bool valid_email(const char *v)
{
  const char *at = strchr(v, '@');
  if (!at || at == v || strchr(at + 1, '@') || !strchr(at + 1, '.'))
    return false;
  for (const char *c = v; c < at; c++)
    if (*c == ' ' || is_control((unsigned char) *c))
      return false;
  return valid_hostname(at + 1);
}

/* http:// or https://, a host (hostname, IPv4 or [IPv6]) with an optional
 * :port, then an optional path, query or fragment without spaces. User
 * information ("user:pass@") is refused: a URL in a setting is shown. */
static bool valid_url(const char *v)
{
  const char *h;
  if (strncmp(v, "http://", 7) == 0)
    h = v + 7;
  else if (strncmp(v, "https://", 8) == 0)
    h = v + 8;
  else
    return false;
  size_t alen = strcspn(h, "/?#");
  const char *port = NULL;
  if (h[0] == '[') {
    const char *close = memchr(h, ']', alen);
    if (!close || close == h + 1)
      return false;
    for (const char *c = h + 1; c < close; c++)
      if (!isxdigit((unsigned char) *c) && *c != ':' && *c != '.')
        return false;
    if (close + 1 < h + alen) {
      if (close[1] != ':')
        return false;
      port = close + 2;
    }
  } else {
    const char *colon = memchr(h, ':', alen);
    size_t hlen = colon ? (size_t) (colon - h) : alen;
    if (!valid_hostname_n(h, hlen))
      return false;
    if (colon)
      port = colon + 1;
  }
  if (port) {
    _cleanup_free_ char *p = xstrndup(port, (size_t) (h + alen - port));
    if (!parse_port(p, NULL))
      return false;
  }
  for (const char *c = h + alen; *c; c++)
    if (*c == ' ' || is_control((unsigned char) *c))
      return false;
  return true;
}

/* NULL when v is a value of type t, else what it should have been ("a port
 * number (1-65535)") for a message "'x' is not ...". */
static const char *check_type(enum bothy_setting_type t, const char *v)
{
  bool b;
  switch (t) {
  case BOTHY_SETTING_STRING:
    return NULL;
  case BOTHY_SETTING_INT:
    return valid_int(v) ? NULL : "an integer";
  case BOTHY_SETTING_BOOL:
    return parse_bool(v, &b) ? NULL : "a boolean (" BOOL_WORDS ")";
  case BOTHY_SETTING_PORT:
    return parse_port(v, NULL) ? NULL : "a port number (1-65535)";
  case BOTHY_SETTING_EMAIL:
    return valid_email(v) ? NULL : "an email address";
  case BOTHY_SETTING_URL:
    return valid_url(v) ? NULL : "an http:// or https:// URL";
  case BOTHY_SETTING_HOSTNAME:
    return valid_hostname(v) ? NULL : "a hostname";
  }
  return "a known type";
}

static const char *const type_names[] = {
  [BOTHY_SETTING_STRING] = "string",     [BOTHY_SETTING_INT] = "int",
  [BOTHY_SETTING_BOOL] = "bool",         [BOTHY_SETTING_PORT] = "port",
  [BOTHY_SETTING_EMAIL] = "email",       [BOTHY_SETTING_URL] = "url",
  [BOTHY_SETTING_HOSTNAME] = "hostname",
};

/* glibc's regcomp() copies the tree of a repeated expression: "a+" is
 * "aa*", "a{3,5}" five copies of "a", so repetitions of repetitions
 * multiply ("a++++...", "((a{99}){99}){99}") and a 100-character Pattern=
 * can take gigabytes (found by fuzz_recipe). Before regcomp() sees a
 * pattern, this bounds the nodes it would make: a quantified atom counts
 * its size times the copies. Stacked quantifiers ("a**", undefined in
 * POSIX) are refused: glibc's epsilon closures over them take seconds.
 * Back-references (a glibc extension to EREs) are refused too: matching
 * them can take exponential time. */
#define PATTERN_MAX       1024
#define PATTERN_NODES_MAX 2000
#define PATTERN_DEPTH_MAX 32

struct pattern_scan {
  const char *p;
  const char *bad; /* why the pattern is refused, or NULL */
};

static uint64_t scan_alternation(struct pattern_scan *sc, unsigned depth);

static uint64_t scan_atom(struct pattern_scan *sc, unsigned depth)
{
  const char *p = sc->p;
  if (*p == '(') {
    if (depth >= PATTERN_DEPTH_MAX) {
      sc->bad = "groups nested too deep";
      return 0;
    }
    sc->p = p + 1;
    uint64_t n = scan_alternation(sc, depth + 1);
    if (*sc->p == ')')
      sc->p++;
    return n + 1;
  }
  if (*p == '[') { /* a bracket expression, one node */
    p++;
    if (*p == '^')
      p++;
    if (*p == ']')
      p++;
    while (*p && *p != ']') {
      if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
        char close = p[1];
        p += 2;
        while (*p && !(p[0] == close && p[1] == ']'))
          p++;
        if (*p)
          p += 2;
      } else {
        p++;
      }
    }
    sc->p = *p ? p + 1 : p;
    return 1;
  }
  if (*p == '\\') {
    if (p[1] >= '1' && p[1] <= '9')
      sc->bad = "back-references are not supported";
    sc->p = p[1] ? p + 2 : p + 1;
    return 1;
  }
  sc->p = p + 1;
  return 1;
}

/* The copies a quantifier at sc->p makes, 0 when there is none there. */
static uint64_t scan_quantifier(struct pattern_scan *sc)
{
  const char *p = sc->p;
  if (*p == '*' || *p == '?') {
    sc->p++;
    return 1;
  }
  if (*p == '+') {
    sc->p++;
    return 2;
  }
  if (*p != '{' || p[1] < '0' || p[1] > '9')
    return 0;
  uint64_t m = 0, n = 0;
  for (p++; *p >= '0' && *p <= '9'; p++)
    m = m < 100000 ? m * 10 + (uint64_t) (*p - '0') : m;
  n = m + 1;
  if (*p == ',') {
    p++;
    if (*p >= '0' && *p <= '9')
      for (n = 0; *p >= '0' && *p <= '9'; p++)
        n = n < 100000 ? n * 10 + (uint64_t) (*p - '0') : n;
  }
  if (*p != '}')
    return 0; /* not a bound: regcomp says what it is */
  sc->p = p + 1;
  return (m > n ? m : n) + 1;
}

static uint64_t scan_sequence(struct pattern_scan *sc, unsigned depth)
{
  uint64_t total = 0;
  while (*sc->p && *sc->p != '|' && *sc->p != ')' && !sc->bad) {
    uint64_t n = scan_atom(sc, depth);
    uint64_t copies = scan_quantifier(sc);
    if (copies)
      n = n * copies + 1;
    /* "a**", "a+{2}": POSIX leaves them undefined, and glibc takes
     * seconds over a few dozen stacked ones. */
    if (copies && scan_quantifier(sc)) {
      sc->bad = "a repetition of a repetition (use a group)";
      return total;
    }
    total += n;
    if (total > PATTERN_NODES_MAX) {
      sc->bad = "too complex (nested or large repetitions)";
      return total;
    }
  }
  return total;
}

static uint64_t scan_alternation(struct pattern_scan *sc, unsigned depth)
{
  uint64_t total = scan_sequence(sc, depth);
  while (*sc->p == '|' && !sc->bad) {
    sc->p++;
    total += scan_sequence(sc, depth) + 1;
    if (total > PATTERN_NODES_MAX)
      sc->bad = "too complex (nested or large repetitions)";
  }
  return total;
}

/* Compiles a Pattern=; on failure *ret_why says why ("not a POSIX extended
 * regular expression: Unmatched ( or \("). */
static int compile_pattern(const char *pattern, regex_t **ret, char **ret_why)
{
  struct pattern_scan sc = { .p = pattern };
  if (strlen(pattern) > PATTERN_MAX)
    sc.bad = "longer than 1024 characters";
  while (*sc.p && !sc.bad) {
    scan_alternation(&sc, 0);
    if (*sc.p == ')') /* unbalanced: regcomp's error */
      sc.p++;
  }
  if (sc.bad) {
    *ret_why = xstrdup(sc.bad);
    return -1;
  }
  _cleanup_free_ regex_t *re = xmalloc0(sizeof(*re));
  int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    size_t n = regerror(rc, re, NULL, 0);
    _cleanup_free_ char *why = xmalloc(n);
    regerror(rc, re, why, n);
    *ret_why = xasprintf("not a POSIX extended regular expression: %s", why);
    return -1;
  }
  *ret = TAKE_PTR(re);
  return 0;
}

/* docker's sizes: bytes, or a number with k, m, g or t (powers of 1024),
 * optionally followed by "b" or "ib" ("512m", "1g", "2GiB", "100000"). */
static bool parse_size(const char *v, int64_t *ret)
{
  const char *p = v;
  uint64_t n = 0;
  if (*p < '0' || *p > '9')
    return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (n > (uint64_t) INT64_MAX / 10)
      return false;
    n = n * 10 + (uint64_t) (*p - '0');
  }
  unsigned shift = 0;
  switch (tolower((unsigned char) *p)) {
  case '\0':
    break;
  case 'b':
    if (p[1])
      return false;
    break;
  case 'k':
  case 'm':
  case 'g':
  case 't': {
    shift = *p == 'k' || *p == 'K'   ? 10
            : *p == 'm' || *p == 'M' ? 20
            : *p == 'g' || *p == 'G' ? 30
                                     : 40;
    const char *rest = p + 1;
    if (!(*rest == '\0' || strcasecmp(rest, "b") == 0 || strcasecmp(rest, "ib") == 0))
      return false;
    break;
  }
  default:
    return false;
  }
  if (n == 0 || n > ((uint64_t) INT64_MAX >> shift))
    return false;
  *ret = (int64_t) (n << shift);
  return true;
}

/* An absolute path in a container: starts with '/', is not "/" itself, has
 * no empty, "." or ".." component, no trailing '/', no ':' (the separator
 * of Volume= and SecretFile=) and no control character. */
static bool valid_container_path(const char *s)
{
  if (s[0] != '/' || s[1] == '\0' || strchr(s, ':') || has_control(s))
    return false;
  for (const char *c = s; *c;) {
    c++; /* the '/' */
    size_t n = strcspn(c, "/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return false;
    c += n;
  }
  return true;
}

/* Build=: a file below the recipe's directory, by its relative path
 * ("web/Containerfile", "./Containerfile"); no '..' component, so it
 * cannot name a file outside the directory (the recipe's directory is
 * trusted not to hold symlinks that lead out). */
static bool valid_build_path(const char *s)
{
  size_t len = strlen(s);
  if (len == 0 || s[0] == '/' || s[len - 1] == '/' || has_control(s))
    return false;
  for (const char *c = s; *c;) {
    size_t n = strcspn(c, "/");
    if (n == 2 && c[0] == '.' && c[1] == '.')
      return false;
    c += n;
    if (*c == '/')
      c++;
  }
  /* Only "." components: the directory itself, not a file. */
  for (const char *c = s; *c; c++)
    if (*c != '.' && *c != '/')
      return true;
  return false;
}

/* ------------------------------------------------------------- expansion */

struct buf {
  char *s;
  size_t len, cap;
};

static void buf_put(struct buf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

enum expand_result {
  EXPAND_OK = 0,
  EXPAND_UNKNOWN = -1,
  EXPAND_UNTERMINATED = -2,
};

/* Expands ${name} and $$ in s; another '$' is itself. ret may be NULL (a
 * check only). On EXPAND_UNKNOWN, *ret_bad and *ret_bad_len: the name. */
static enum expand_result expand(const char *s, char *const *values, char **ret,
                                 const char **ret_bad, size_t *ret_bad_len)
{
  struct buf b = { 0 };
  buf_put(&b, "", 0);
  const char *p = s;
  while (*p) {
    const char *dollar = strchr(p, '$');
    if (!dollar) {
      buf_put(&b, p, strlen(p));
      break;
    }
    buf_put(&b, p, (size_t) (dollar - p));
    if (dollar[1] == '$') {
      buf_put(&b, "$", 1);
      p = dollar + 2;
    } else if (dollar[1] == '{') {
      const char *name = dollar + 2;
      const char *close = strchr(name, '}');
      if (!close) {
        free(b.s);
        return EXPAND_UNTERMINATED;
      }
      size_t len = (size_t) (close - name);
      ssize_t i = -1;
      if (len > 0 && !memchr(name, '=', len))
        i = strv_env_find(values, name, len);
      if (i < 0) {
        free(b.s);
        *ret_bad = name;
        *ret_bad_len = len;
        return EXPAND_UNKNOWN;
      }
      const char *value = values[i] + len + 1;
      buf_put(&b, value, strlen(value));
      p = close + 1;
    } else {
      buf_put(&b, "$", 1);
      p = dollar + 1;
    }
  }
  if (ret)
    *ret = b.s;
  else
    free(b.s);
  return EXPAND_OK;
}

int bothy_recipe_expand(const char *s, char *const *values, char **ret, bothy_error_t *err)
{
  const char *bad = NULL;
  size_t bad_len = 0;
  char *out = NULL;
  switch (expand(s, values, &out, &bad, &bad_len)) {
  case EXPAND_OK:
    *ret = out;
    return 0;
  case EXPAND_UNKNOWN:
    return bothy_error_set_code(err, EINVAL, "unknown setting '%.*s' in '%s'", (int) bad_len, bad,
                                s);
  case EXPAND_UNTERMINATED:
    break;
  }
  return bothy_error_set_code(err, EINVAL, "unterminated '${' in '%s'", s);
}

/* ---------------------------------------------------------------- parsing */

enum section_kind {
  SECTION_NONE,
  SECTION_APP,
  SECTION_SETTING,
  SECTION_SERVICE,
  SECTION_BACKUP,
  SECTION_UPDATE,
};

enum { APP_NAME, APP_VERSION, APP_SUMMARY, APP_MAINTAINER, APP_UPSTREAM, APP_LICENSE, APP_SOURCE };
static const char *const app_keys[] = {
  "Name", "Version", "Summary", "Maintainer", "Upstream", "License", "Source", NULL,
};

enum {
  SET_DESCRIPTION,
  SET_DEFAULT,
  SET_TYPE,
  SET_REQUIRED,
  SET_PATTERN,
  SET_SECRET,
  SET_LENGTH,
  SET_CHARSET,
};
static const char *const setting_keys[] = {
  "Description", "Default", "Type", "Required", "Pattern", "Secret", "Length", "Charset", NULL,
};

enum {
  SVC_IMAGE,
  SVC_BUILD,
  SVC_ENVIRONMENT,
  SVC_SECRET_FILE,
  SVC_VOLUME,
  SVC_HEALTH,
  SVC_COMMAND,
  SVC_READ_ONLY,
  SVC_MEMORY,
  SVC_USER,
  SVC_DEPENDS_ON,
  SVC_WEB,
};
static const char *const service_keys[] = {
  "Image",    "Build",  "Environment", "SecretFile", "Volume", "Health", "Command",
  "ReadOnly", "Memory", "User",        "DependsOn",  "Web",    NULL,
};

enum { HOOK_BEFORE, HOOK_AFTER };
static const char *const hook_keys[] = { "Before", "After", NULL };

#define KEYS_MAX 16

struct setting_extra {
  unsigned key_line[KEYS_MAX];
};

struct service_extra {
  unsigned key_line[KEYS_MAX];
  unsigned *env_line;         /* per Environment= entry */
  unsigned *secret_file_line; /* per SecretFile= entry */
  unsigned *dep_line;         /* per DependsOn= name */
  size_t *dep_index;          /* per DependsOn= name, once checked */
};

struct hook_section {
  enum section_kind kind;
  char *service;
  unsigned line;
  unsigned key_line[KEYS_MAX];
  struct bothy_hooks hooks;
};

struct parse {
  const char *path;
  bothy_error_t *err;
  bool failed;
  struct bothy_recipe *r;

  /* The reader's position. */
  const char *text;
  size_t len, pos;
  unsigned line;

  /* The current section. */
  enum section_kind kind;
  char *section; /* as written between the brackets */
  size_t index;  /* into r->settings, r->services or hooks */

  unsigned app_line;
  unsigned app_key_line[KEYS_MAX];
  struct setting_extra *sx; /* beside r->settings */
  struct service_extra *vx; /* beside r->services (in the file's order) */
  size_t n_vx;
  struct hook_section *hooks;
  size_t n_hooks;
  size_t web_service; /* the service with Web=, when web_line */
  unsigned web_line;
};

static void parse_done(struct parse *p)
{
  free(p->section);
  free(p->sx);
  for (size_t i = 0; i < p->n_vx; i++) {
    free(p->vx[i].env_line);
    free(p->vx[i].secret_file_line);
    free(p->vx[i].dep_line);
    free(p->vx[i].dep_index);
  }
  free(p->vx);
  for (size_t i = 0; i < p->n_hooks; i++) {
    free(p->hooks[i].service);
    free(p->hooks[i].hooks.before);
    free(p->hooks[i].hooks.after);
  }
  free(p->hooks);
}

_printf_(4, 0) static int failv_at(struct parse *p, unsigned line, const char *section,
                                   const char *fmt, va_list ap)
{
  _cleanup_free_ char *msg = xvasprintf(fmt, ap);
  p->failed = true;
  if (section)
    return bothy_error_set_code(p->err, EINVAL, "%s:%u: [%s]: %s", p->path, line, section, msg);
  return bothy_error_set_code(p->err, EINVAL, "%s:%u: %s", p->path, line, msg);
}

/* An error at line in the section named as written ("Service db"), or
 * outside any section when section is NULL. */
_printf_(4, 5) static int fail_at(struct parse *p, unsigned line, const char *section,
                                  const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int r = failv_at(p, line, section, fmt, ap);
  va_end(ap);
  return r;
}

/* An error at the current line, in the current section. */
_printf_(2, 3) static int fail(struct parse *p, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int r = failv_at(p, p->line, p->section, fmt, ap);
  va_end(ap);
  return r;
}

static ssize_t find_setting(const struct bothy_recipe *r, const char *name)
{
  for (size_t i = 0; i < r->n_settings; i++)
    if (streq(r->settings[i].name, name))
      return (ssize_t) i;
  return -1;
}

static ssize_t find_service(const struct bothy_recipe *r, const char *name)
{
  for (size_t i = 0; i < r->n_services; i++)
    if (streq(r->services[i].name, name))
      return (ssize_t) i;
  return -1;
}

static int open_section(struct parse *p, const char *text)
{
  static const struct {
    const char *word;
    enum section_kind kind;
  } kinds[] = {
    { "App", SECTION_APP },       { "Setting", SECTION_SETTING }, { "Service", SECTION_SERVICE },
    { "Backup", SECTION_BACKUP }, { "Update", SECTION_UPDATE },
  };
  free(p->section);
  p->section = xstrdup(text);
  p->kind = SECTION_NONE;

  const char *space = strchr(text, ' ');
  size_t wlen = space ? (size_t) (space - text) : strlen(text);
  const char *arg = space ? space + 1 : NULL;
  enum section_kind kind = SECTION_NONE;
  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
    if (strlen(kinds[i].word) == wlen && strncmp(kinds[i].word, text, wlen) == 0)
      kind = kinds[i].kind;
  if (kind == SECTION_NONE || (kind == SECTION_APP && arg)) {
    free(p->section);
    p->section = NULL;
    return fail(p, "unknown section [%s]", text);
  }
  if (kind != SECTION_APP && (!arg || !*arg))
    return fail(p, "missing name: [%s NAME]", text);

  struct bothy_recipe *r = p->r;
  switch (kind) {
  case SECTION_NONE:
    break;
  case SECTION_APP:
    if (p->app_line)
      return fail(p, "duplicate section (first at line %u)", p->app_line);
    p->app_line = p->line;
    break;
  case SECTION_SETTING: {
    if (!valid_setting_name(arg))
      return fail(p, "invalid setting name '%s' (" SETTING_NAME_CHARS ")", arg);
    ssize_t i = find_setting(r, arg);
    if (i >= 0)
      return fail(p, "duplicate section (first at line %u)", r->settings[i].line);
    r->settings = xrealloc(r->settings, (r->n_settings + 1) * sizeof(*r->settings));
    p->sx = xrealloc(p->sx, (r->n_settings + 1) * sizeof(*p->sx));
    struct bothy_setting *s = &r->settings[r->n_settings];
    memset(s, 0, sizeof(*s));
    memset(&p->sx[r->n_settings], 0, sizeof(*p->sx));
    s->name = xstrdup(arg);
    s->type = BOTHY_SETTING_STRING;
    s->line = p->line;
    p->index = r->n_settings++;
    break;
  }
  case SECTION_SERVICE: {
    if (!valid_service_name(arg))
      return fail(p, "invalid service name '%s' (" RECIPE_NAME_CHARS ")", arg);
    ssize_t i = find_service(r, arg);
    if (i >= 0)
      return fail(p, "duplicate section (first at line %u)", r->services[i].line);
    r->services = xrealloc(r->services, (r->n_services + 1) * sizeof(*r->services));
    p->vx = xrealloc(p->vx, (r->n_services + 1) * sizeof(*p->vx));
    struct bothy_service *s = &r->services[r->n_services];
    memset(s, 0, sizeof(*s));
    memset(&p->vx[r->n_services], 0, sizeof(*p->vx));
    p->n_vx = r->n_services + 1;
    s->name = xstrdup(arg);
    s->environment = xcalloc(1, sizeof(char *));
    s->depends_on = xcalloc(1, sizeof(char *));
    s->line = p->line;
    p->index = r->n_services++;
    break;
  }
  case SECTION_BACKUP:
  case SECTION_UPDATE:
    for (size_t i = 0; i < p->n_hooks; i++)
      if (p->hooks[i].kind == kind && streq(p->hooks[i].service, arg))
        return fail(p, "duplicate section (first at line %u)", p->hooks[i].line);
    p->hooks = xrealloc(p->hooks, (p->n_hooks + 1) * sizeof(*p->hooks));
    memset(&p->hooks[p->n_hooks], 0, sizeof(*p->hooks));
    p->hooks[p->n_hooks].kind = kind;
    p->hooks[p->n_hooks].service = xstrdup(arg);
    p->hooks[p->n_hooks].line = p->line;
    p->index = p->n_hooks++;
    break;
  }
  p->kind = kind;
  return 0;
}

/* Looks at a line as inih will (same stripping, same comment characters)
 * before inih parses it: section headers open sections here, and what inih
 * would accept but systemd would not is refused. */
static int classify(struct parse *p, const char *line)
{
  const char *s = line;
  if (p->line == 1 && (unsigned char) s[0] == 0xEF && (unsigned char) s[1] == 0xBB &&
      (unsigned char) s[2] == 0xBF)
    s += 3; /* a UTF-8 byte-order mark, which inih skips too */
  while (*s && isspace((unsigned char) *s))
    s++;
  size_t len = strlen(s);
  while (len > 0 && isspace((unsigned char) s[len - 1]))
    len--;
  if (len == 0 || s[0] == '#' || s[0] == ';')
    return 0;
  if (s[len - 1] == '\\')
    return fail_at(p, p->line, NULL, "a line cannot end with '\\' (no continuation lines)");
  if (s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (!close || close != s + len - 1)
      return fail_at(p, p->line, NULL, "a section header is one '[Section]' on its line");
    _cleanup_free_ char *text = xstrndup(s + 1, len - 2);
    return open_section(p, text);
  }
  size_t k = strcspn(s, "=:");
  if (k >= len || s[k] != '=')
    return fail_at(p, p->line, NULL, "expected '[Section]', 'Key=value' or a comment");
  if (k == 0)
    return fail_at(p, p->line, NULL, "expected 'Key=value' with the key before the '='");
  if (!p->section)
    return fail_at(p, p->line, NULL, "'%.*s=' outside a section", (int) k, s);
  return 0;
}

static char *reader(char *buf, int size, void *stream)
{
  struct parse *p = stream;
  if (p->failed || p->pos >= p->len)
    return NULL;
  const char *s = p->text + p->pos;
  const char *nl = memchr(s, '\n', p->len - p->pos);
  size_t n = nl ? (size_t) (nl - s) + 1 : p->len - p->pos;
  p->pos += n;
  p->line++;
  size_t content = n;
  if (content > 0 && s[content - 1] == '\n')
    content--;
  if (content > 0 && s[content - 1] == '\r')
    content--;
  if (content > RECIPE_LINE_MAX || n + 1 > (size_t) size) {
    fail_at(p, p->line, NULL, "line longer than %d characters", RECIPE_LINE_MAX);
    return NULL;
  }
  for (size_t i = 0; i < content; i++)
    if (is_control((unsigned char) s[i]) && s[i] != '\t') {
      fail_at(p, p->line, NULL, "control character 0x%02x in the line", (unsigned char) s[i]);
      return NULL;
    }
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (classify(p, buf) < 0)
    return NULL;
  return buf;
}

static const char *named_charset(const char *v)
{
  if (streq(v, "alnum"))
    return CHARSET_ALNUM;
  if (streq(v, "hex"))
    return "0123456789abcdef";
  if (streq(v, "base64url"))
    return CHARSET_ALNUM "-_";
  if (streq(v, "digits"))
    return "0123456789";
  return NULL;
}

/* A Charset= value: a named set, or literal characters (printable ASCII
 * other than space, repeats dropped, at least 2 distinct). */
static int set_charset(struct parse *p, struct bothy_setting *s, const char *v)
{
  const char *named = named_charset(v);
  if (named) {
    free(s->charset);
    s->charset = xstrdup(named);
    return 0;
  }
  char set[96];
  size_t n = 0;
  for (const char *c = v; *c; c++) {
    if (*c <= ' ' || *c > '~')
      return fail(p,
                  "Charset=%s: alnum, hex, base64url, digits, or printable ASCII characters "
                  "other than space",
                  v);
    if (!memchr(set, *c, n))
      set[n++] = *c;
  }
  if (n < 2)
    return fail(p, "Charset=%s: at least 2 different characters", v);
  free(s->charset);
  s->charset = xstrndup(set, n);
  return 0;
}

static int setting_key(struct parse *p, int key, const char *v)
{
  struct bothy_setting *s = &p->r->settings[p->index];
  switch (key) {
  case SET_DESCRIPTION:
    s->description = xstrdup(v);
    break;
  case SET_DEFAULT:
    s->default_value = *v ? xstrdup(v) : NULL; /* empty: no default */
    break;
  case SET_TYPE: {
    size_t i;
    for (i = 0; i < ARRAY_SIZE(type_names); i++)
      if (streq(type_names[i], v))
        break;
    if (i == ARRAY_SIZE(type_names))
      return fail(p, "Type=%s: string, int, bool, port, email, url or hostname", v);
    s->type = (enum bothy_setting_type) i;
    break;
  }
  case SET_REQUIRED:
  case SET_SECRET:
    if (!parse_bool(v, key == SET_REQUIRED ? &s->required : &s->secret))
      return fail(p, "%s=%s: not a boolean (" BOOL_WORDS ")", setting_keys[key], v);
    break;
  case SET_PATTERN: {
    _cleanup_regex_ regex_t *re = NULL;
    _cleanup_free_ char *why = NULL;
    if (compile_pattern(v, &re, &why) < 0)
      return fail(p, "Pattern=%s: %s", v, why);
    s->pattern = xstrdup(v);
    break;
  }
  case SET_LENGTH:
    if (!all_digits(v) || strlen(v) > 4 || v[0] == '0' || strtol(v, NULL, 10) > SECRET_LENGTH_MAX)
      return fail(p, "Length=%s: not a length (1-%d)", v, SECRET_LENGTH_MAX);
    s->length = (unsigned) strtol(v, NULL, 10);
    break;
  case SET_CHARSET:
    return set_charset(p, s, v);
  }
  return 0;
}

/* Splits "NAME:REST" at its first ':'; false without one. */
static bool split_colon(const char *v, char **ret_name, const char **ret_rest)
{
  const char *colon = strchr(v, ':');
  if (!colon)
    return false;
  *ret_name = xstrndup(v, (size_t) (colon - v));
  *ret_rest = colon + 1;
  return true;
}

static bool path_mounted(const struct bothy_service *s, const char *path)
{
  for (size_t i = 0; i < s->n_volumes; i++)
    if (streq(s->volumes[i].path, path))
      return true;
  for (size_t i = 0; i < s->n_secret_files; i++)
    if (streq(s->secret_files[i].path, path))
      return true;
  return false;
}

static int service_volume(struct parse *p, struct bothy_service *s, const char *v)
{
  _cleanup_free_ char *name = NULL;
  const char *rest = NULL;
  if (!split_colon(v, &name, &rest) || !valid_service_name(name))
    return fail(p, "Volume=%s: expected NAME:/path[:ro], NAME of " RECIPE_NAME_CHARS, v);
  const char *opt = strchr(rest, ':');
  _cleanup_free_ char *path = opt ? xstrndup(rest, (size_t) (opt - rest)) : xstrdup(rest);
  bool readonly = false;
  if (opt && !streq(opt + 1, "ro") && !streq(opt + 1, "rw"))
    return fail(p, "Volume=%s: the option after the path is ro or rw", v);
  if (opt)
    readonly = streq(opt + 1, "ro");
  if (!valid_container_path(path))
    return fail(p, "Volume=%s: '%s' is not a normalised absolute path", v, path);
  if (path_mounted(s, path))
    return fail(p, "Volume=%s: '%s' is mounted twice", v, path);
  s->volumes = xrealloc(s->volumes, (s->n_volumes + 1) * sizeof(*s->volumes));
  s->volumes[s->n_volumes++] = (struct bothy_volume_decl){
    .name = TAKE_PTR(name),
    .path = TAKE_PTR(path),
    .readonly = readonly,
  };
  return 0;
}

static int service_secret_file(struct parse *p, struct bothy_service *s, struct service_extra *x,
                               const char *v)
{
  _cleanup_free_ char *name = NULL;
  const char *path = NULL;
  if (!split_colon(v, &name, &path) || !valid_setting_name(name))
    return fail(p, "SecretFile=%s: expected SETTING:/path", v);
  if (!valid_container_path(path))
    return fail(p, "SecretFile=%s: '%s' is not a normalised absolute path", v, path);
  if (path_mounted(s, path))
    return fail(p, "SecretFile=%s: '%s' is mounted twice", v, path);
  s->secret_files = xrealloc(s->secret_files, (s->n_secret_files + 1) * sizeof(*s->secret_files));
  x->secret_file_line =
      xrealloc(x->secret_file_line, (s->n_secret_files + 1) * sizeof(*x->secret_file_line));
  x->secret_file_line[s->n_secret_files] = p->line;
  s->secret_files[s->n_secret_files++] = (struct bothy_secret_file){
    .setting = TAKE_PTR(name),
    .path = xstrdup(path),
  };
  return 0;
}

static int service_environment(struct parse *p, struct bothy_service *s, struct service_extra *x,
                               const char *v)
{
  const char *eq = strchr(v, '=');
  if (!eq)
    return fail(p, "Environment=%s: expected NAME=VALUE", v);
  size_t klen = (size_t) (eq - v);
  if (!valid_env_name(v, klen))
    return fail(p,
                "Environment=%s: '%.*s' is not a variable name (A-Z, a-z, 0-9 and '_', not "
                "starting with a digit)",
                v, (int) klen, v);
  if (strv_env_find(s->environment, v, klen) >= 0)
    return fail(p, "Environment=%s: '%.*s' is set twice", v, (int) klen, v);
  size_t n = strv_length(s->environment);
  x->env_line = xrealloc(x->env_line, (n + 1) * sizeof(*x->env_line));
  x->env_line[n] = p->line;
  strv_push(&s->environment, xstrdup(v));
  return 0;
}

static int service_depends_on(struct parse *p, struct bothy_service *s, struct service_extra *x,
                              const char *v)
{
  for (const char *c = v; *c;) {
    c += strspn(c, " \t");
    size_t n = strcspn(c, " \t");
    if (n == 0)
      break;
    _cleanup_free_ char *name = xstrndup(c, n);
    c += n;
    if (strv_contains(s->depends_on, name))
      continue;
    size_t i = strv_length(s->depends_on);
    x->dep_line = xrealloc(x->dep_line, (i + 1) * sizeof(*x->dep_line));
    x->dep_line[i] = p->line;
    strv_push(&s->depends_on, TAKE_PTR(name));
  }
  return 0;
}

static int service_key(struct parse *p, int key, const char *v)
{
  struct bothy_service *s = &p->r->services[p->index];
  struct service_extra *x = &p->vx[p->index];
  switch (key) {
  case SVC_IMAGE:
  case SVC_BUILD: {
    if (x->key_line[key == SVC_IMAGE ? SVC_BUILD : SVC_IMAGE])
      return fail(p, "Image= and Build= both given (one or the other)");
    if (key == SVC_BUILD) {
      if (!valid_build_path(v))
        return fail(p, "Build=%s: not a relative path to a file inside the recipe's directory", v);
      s->build = xstrdup(v);
      break;
    }
    _cleanup_reference_ struct bothy_reference *ref = NULL;
    _cleanup_error_ bothy_error_t rerr = NULL;
    if (bothy_reference_parse(v, &ref, &rerr) < 0)
      return fail(p, "Image=%s: %s", v, rerr->msg);
    s->image = xstrdup(v);
    break;
  }
  case SVC_ENVIRONMENT:
    return service_environment(p, s, x, v);
  case SVC_SECRET_FILE:
    return service_secret_file(p, s, x, v);
  case SVC_VOLUME:
    return service_volume(p, s, v);
  case SVC_HEALTH:
    s->health = xstrdup(v);
    break;
  case SVC_COMMAND:
    s->command = xstrdup(v);
    break;
  case SVC_READ_ONLY:
    if (!parse_bool(v, &s->read_only))
      return fail(p, "ReadOnly=%s: not a boolean (" BOOL_WORDS ")", v);
    break;
  case SVC_MEMORY:
    if (!parse_size(v, &s->memory))
      return fail(p, "Memory=%s: not a size (bytes, or a number with k, m, g or t: 512m, 1g)", v);
    break;
  case SVC_USER:
    for (const char *c = v; *c; c++)
      if (isspace((unsigned char) *c))
        return fail(p, "User=%s: a user name or id (user[:group]), without spaces", v);
    s->user = xstrdup(v);
    break;
  case SVC_DEPENDS_ON:
    return service_depends_on(p, s, x, v);
  case SVC_WEB:
    if (!parse_port(v, &s->web_port))
      return fail(p, "Web=%s: not a port number (1-65535)", v);
    if (p->web_line)
      return fail(p, "Web= is already in [Service %s] (line %u): one service is published",
                  p->r->services[p->web_service].name, p->web_line);
    p->web_service = p->index;
    p->web_line = p->line;
    break;
  }
  return 0;
}

static int app_key(struct parse *p, int key, const char *v)
{
  struct bothy_recipe *r = p->r;
  switch (key) {
  case APP_NAME:
    if (!valid_service_name(v))
      return fail(p, "Name=%s: " RECIPE_NAME_CHARS, v);
    r->name = xstrdup(v);
    break;
  case APP_VERSION:
    for (const char *c = v; *c; c++)
      if (isspace((unsigned char) *c) || *c == '/')
        return fail(p, "Version=%s: no spaces or '/'", v);
    r->version = xstrdup(v);
    break;
  case APP_SUMMARY:
    r->summary = xstrdup(v);
    break;
  case APP_MAINTAINER:
    r->maintainer = xstrdup(v);
    break;
  case APP_LICENSE:
    r->license = xstrdup(v);
    break;
  case APP_UPSTREAM:
  case APP_SOURCE:
    if (!valid_url(v))
      return fail(p, "%s=%s: not an http:// or https:// URL", app_keys[key], v);
    if (key == APP_UPSTREAM)
      r->upstream = xstrdup(v);
    else
      r->source = xstrdup(v);
    break;
  }
  return 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
  struct parse *p = user;
  if (p->failed)
    return 0;
  /* The section is ours (classify()): inih cuts its copy at 49 bytes. */
  (void) section;
  const char *const *keys = NULL;
  unsigned *key_line = NULL;
  switch (p->kind) {
  case SECTION_NONE: /* the reader stops at a bad section header */
    fail(p, "internal error: a key outside a section");
    return 0;
  case SECTION_APP:
    keys = app_keys;
    key_line = p->app_key_line;
    break;
  case SECTION_SETTING:
    keys = setting_keys;
    key_line = p->sx[p->index].key_line;
    break;
  case SECTION_SERVICE:
    keys = service_keys;
    key_line = p->vx[p->index].key_line;
    break;
  case SECTION_BACKUP:
  case SECTION_UPDATE:
    keys = hook_keys;
    key_line = p->hooks[p->index].key_line;
    break;
  }
  int key = -1;
  for (int i = 0; keys[i]; i++)
    if (streq(keys[i], name))
      key = i;
  if (key < 0) {
    fail(p, "unknown key \"%s\"", name);
    return 0;
  }
  bool list = p->kind == SECTION_SERVICE && (key == SVC_ENVIRONMENT || key == SVC_SECRET_FILE ||
                                             key == SVC_VOLUME || key == SVC_DEPENDS_ON);
  if (key_line[key] && !list) {
    fail(p, "duplicate key \"%s\" (first at line %u)", name, key_line[key]);
    return 0;
  }
  if (!key_line[key])
    key_line[key] = p->line;
  if (!*value && !(p->kind == SECTION_SETTING && key == SET_DEFAULT)) {
    fail(p, "empty value for \"%s\"", name);
    return 0;
  }
  int r = 0;
  switch (p->kind) {
  case SECTION_NONE:
    break;
  case SECTION_APP:
    r = app_key(p, key, value);
    break;
  case SECTION_SETTING:
    r = setting_key(p, key, value);
    break;
  case SECTION_SERVICE:
    r = service_key(p, key, value);
    break;
  case SECTION_BACKUP:
  case SECTION_UPDATE: {
    struct bothy_hooks *h = &p->hooks[p->index].hooks;
    if (key == HOOK_BEFORE)
      h->before = xstrdup(value);
    else
      h->after = xstrdup(value);
    break;
  }
  }
  return r < 0 ? 0 : 1;
}

/* inih's options (Debian builds inih with INI_RUNTIME_OPTIONS, so they are
 * variables), set for one parse and put back after it. */
struct ini_options {
  bool multiline, bom, inline_comments, use_stack, stop_on_first_error, no_value;
  int max_line;
  char *start_comment_prefixes;
};

static struct ini_options ini_options_set(void)
{
  static char comment_prefixes[] = "#;";
  struct ini_options saved = {
    .multiline = ini_allow_multiline,
    .bom = ini_allow_bom,
    .inline_comments = ini_allow_inline_comments,
    .use_stack = ini_use_stack,
    .stop_on_first_error = ini_stop_on_first_error,
    .no_value = ini_allow_no_value,
    .max_line = ini_max_line,
    .start_comment_prefixes = ini_start_comment_prefixes,
  };
  /* systemd: an indented line is a line like any other, and '#' or ';'
   * starts a comment only at the start of a line ("Health=a ; b" keeps
   * its ';'). */
  ini_allow_multiline = false;
  ini_allow_inline_comments = false;
  ini_allow_bom = true;
  ini_allow_no_value = false;
  ini_start_comment_prefixes = comment_prefixes;
  ini_stop_on_first_error = true;
  /* The line buffer: our reader refuses longer lines before inih sees
   * them ('\r', '\n' and NUL on top of the characters). */
  ini_use_stack = true;
  ini_max_line = RECIPE_LINE_MAX + 3;
  return saved;
}

static void ini_options_restore(const struct ini_options *o)
{
  ini_allow_multiline = o->multiline;
  ini_allow_bom = o->bom;
  ini_allow_inline_comments = o->inline_comments;
  ini_use_stack = o->use_stack;
  ini_stop_on_first_error = o->stop_on_first_error;
  ini_allow_no_value = o->no_value;
  ini_max_line = o->max_line;
  ini_start_comment_prefixes = o->start_comment_prefixes;
}

/* ------------------------------------------------------- whole-file checks */

static int check_app(struct parse *p)
{
  struct bothy_recipe *r = p->r;
  if (!p->app_line)
    return fail_at(p, 1, NULL, "missing [App] section");
  const int required[] = { APP_NAME, APP_VERSION, APP_SUMMARY, APP_MAINTAINER };
  for (size_t i = 0; i < ARRAY_SIZE(required); i++)
    if (!p->app_key_line[required[i]])
      return fail_at(p, p->app_line, "App", "missing %s=", app_keys[required[i]]);
  if (r->n_services == 0)
    return fail_at(p, p->app_line, "App", "the recipe has no [Service NAME] section");
  return 0;
}

static int check_setting(struct parse *p, size_t i)
{
  struct bothy_setting *s = &p->r->settings[i];
  const unsigned *kl = p->sx[i].key_line;
  _cleanup_free_ char *sec = xasprintf("Setting %s", s->name);
  if (s->secret) {
    if (kl[SET_TYPE] && s->type != BOTHY_SETTING_STRING)
      return fail_at(p, kl[SET_TYPE], sec, "Type=%s: a Secret=yes setting is a string",
                     type_names[s->type]);
    if (kl[SET_DEFAULT])
      return fail_at(p, kl[SET_DEFAULT], sec,
                     "Default= and Secret=yes: a secret is given or generated, never a default");
    if (kl[SET_PATTERN])
      return fail_at(p, kl[SET_PATTERN], sec, "Pattern= does not apply to a Secret=yes setting");
  }
  bool generated = s->secret && !s->required;
  for (int k = SET_LENGTH; k <= SET_CHARSET; k++) {
    if (!kl[k] || generated)
      continue;
    if (!s->secret)
      return fail_at(p, kl[k], sec, "%s= applies only to a Secret=yes setting", setting_keys[k]);
    return fail_at(p, kl[k], sec, "%s= does not apply to a Required=yes secret (never generated)",
                   setting_keys[k]);
  }
  if (generated) {
    if (!s->length)
      s->length = SECRET_LENGTH;
    if (!s->charset)
      s->charset = xstrdup(CHARSET_ALNUM);
  }
  if (s->default_value) {
    const char *d = s->default_value;
    const char *want = check_type(s->type, d);
    if (want)
      return fail_at(p, kl[SET_DEFAULT], sec, "Default=%s: not %s", d, want);
    if (s->pattern) {
      _cleanup_regex_ regex_t *re = NULL;
      _cleanup_free_ char *why = NULL;
      if (compile_pattern(s->pattern, &re, &why) < 0 || regexec(re, d, 0, NULL, 0) != 0)
        return fail_at(p, kl[SET_DEFAULT], sec, "Default=%s: does not match Pattern=%s", d,
                       s->pattern);
    }
  }
  return 0;
}

static int check_service(struct parse *p, size_t i, char *const *setting_values)
{
  struct bothy_recipe *r = p->r;
  struct bothy_service *s = &r->services[i];
  struct service_extra *x = &p->vx[i];
  _cleanup_free_ char *sec = xasprintf("Service %s", s->name);
  if (!s->image && !s->build)
    return fail_at(p, s->line, sec, "missing Image= or Build=");
  for (size_t e = 0; s->environment[e]; e++) {
    const char *bad = NULL;
    size_t bad_len = 0;
    switch (expand(s->environment[e], setting_values, NULL, &bad, &bad_len)) {
    case EXPAND_OK:
      break;
    case EXPAND_UNKNOWN:
      return fail_at(p, x->env_line[e], sec, "Environment=%s: unknown setting '%.*s'",
                     s->environment[e], (int) bad_len, bad);
    case EXPAND_UNTERMINATED:
      return fail_at(p, x->env_line[e], sec, "Environment=%s: unterminated '${'",
                     s->environment[e]);
    }
  }
  for (size_t f = 0; f < s->n_secret_files; f++) {
    const char *name = s->secret_files[f].setting;
    ssize_t k = find_setting(r, name);
    if (k < 0)
      return fail_at(p, x->secret_file_line[f], sec, "SecretFile=%s:%s: unknown setting '%s'", name,
                     s->secret_files[f].path, name);
    if (!r->settings[k].secret)
      return fail_at(p, x->secret_file_line[f], sec,
                     "SecretFile=%s:%s: setting '%s' is not Secret=yes", name,
                     s->secret_files[f].path, name);
  }
  size_t n = strv_length(s->depends_on);
  x->dep_index = xcalloc(n + 1, sizeof(*x->dep_index));
  for (size_t d = 0; d < n; d++) {
    ssize_t k = find_service(r, s->depends_on[d]);
    if (k < 0)
      return fail_at(p, x->dep_line[d], sec, "DependsOn=%s: no [Service %s] in the recipe",
                     s->depends_on[d], s->depends_on[d]);
    if ((size_t) k == i)
      return fail_at(p, x->dep_line[d], sec, "DependsOn=%s: a service cannot depend on itself",
                     s->depends_on[d]);
    x->dep_index[d] = (size_t) k;
  }
  return 0;
}

static int attach_hooks(struct parse *p)
{
  struct bothy_recipe *r = p->r;
  for (size_t i = 0; i < p->n_hooks; i++) {
    struct hook_section *h = &p->hooks[i];
    ssize_t k = find_service(r, h->service);
    if (k < 0)
      return fail_at(p, h->line, NULL, "[%s %s]: no [Service %s] in the recipe",
                     h->kind == SECTION_BACKUP ? "Backup" : "Update", h->service, h->service);
    struct bothy_hooks *to =
        h->kind == SECTION_BACKUP ? &r->services[k].backup : &r->services[k].update;
    to->before = TAKE_PTR(h->hooks.before);
    to->after = TAKE_PTR(h->hooks.after);
  }
  return 0;
}

/* With no service left that has all its dependencies placed, every one left
 * depends on another one left: following first dependencies from the first
 * one left must come back to a service already seen. */
static int fail_cycle(struct parse *p, const bool *placed)
{
  struct bothy_recipe *r = p->r;
  size_t n = r->n_services;
  _cleanup_free_ size_t *seen_at = xcalloc(n, sizeof(*seen_at)); /* 1 + step, 0: not seen */
  _cleanup_free_ size_t *path = xcalloc(n + 1, sizeof(*path));
  _cleanup_free_ size_t *edge = xcalloc(n + 1, sizeof(*edge)); /* the DependsOn= index used */
  size_t u = 0;
  while (placed[u])
    u++;
  size_t steps = 0;
  while (!seen_at[u]) {
    seen_at[u] = ++steps;
    path[steps - 1] = u;
    const struct service_extra *x = &p->vx[u];
    size_t d = 0;
    while (placed[x->dep_index[d]])
      d++;
    edge[steps - 1] = d;
    u = x->dep_index[d];
  }
  /* The cycle is path[seen_at[u] - 1 .. steps - 1]; start it at its first
   * service in the file. */
  size_t from = seen_at[u] - 1, len = steps - from, start = from;
  for (size_t k = from; k < steps; k++)
    if (path[k] < path[start])
      start = k;
  struct buf b = { 0 };
  for (size_t k = 0; k < len; k++) {
    const char *name = r->services[path[from + (start - from + k) % len]].name;
    buf_put(&b, name, strlen(name));
    buf_put(&b, " -> ", 4);
  }
  buf_put(&b, r->services[path[start]].name, strlen(r->services[path[start]].name));
  _cleanup_free_ char *chain = b.s;
  _cleanup_free_ char *sec = xasprintf("Service %s", r->services[path[start]].name);
  return fail_at(p, p->vx[path[start]].dep_line[edge[start]], sec, "dependency cycle: %s", chain);
}

/* Each step places the first service (in file order) whose dependencies are
 * all placed: a topological order that keeps the file's order otherwise. */
static int sort_services(struct parse *p)
{
  struct bothy_recipe *r = p->r;
  size_t n = r->n_services;
  _cleanup_free_ bool *placed = xcalloc(n, sizeof(*placed));
  _cleanup_free_ size_t *order = xcalloc(n, sizeof(*order));
  for (size_t k = 0; k < n; k++) {
    size_t i;
    for (i = 0; i < n; i++) {
      if (placed[i])
        continue;
      bool ready = true;
      for (size_t d = 0; r->services[i].depends_on[d]; d++)
        if (!placed[p->vx[i].dep_index[d]])
          ready = false;
      if (ready)
        break;
    }
    if (i == n)
      return fail_cycle(p, placed);
    placed[i] = true;
    order[k] = i;
  }
  struct bothy_service *sorted = xcalloc(n, sizeof(*sorted));
  for (size_t k = 0; k < n; k++)
    sorted[k] = r->services[order[k]];
  free(r->services);
  r->services = sorted;
  return 0;
}

static int check_recipe(struct parse *p)
{
  struct bothy_recipe *r = p->r;
  if (check_app(p) < 0)
    return -1;
  for (size_t i = 0; i < r->n_settings; i++)
    if (check_setting(p, i) < 0)
      return -1;
  _cleanup_strv_free_ char **names = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < r->n_settings; i++)
    strv_push(&names, xasprintf("%s=", r->settings[i].name));
  for (size_t i = 0; i < r->n_services; i++)
    if (check_service(p, i, names) < 0)
      return -1;
  if (attach_hooks(p) < 0)
    return -1;
  return sort_services(p);
}

int bothy_recipe_load(const char *path, struct bothy_recipe **ret, bothy_error_t *err)
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;
  int rc = bothy_read_file(AT_FDCWD, path, &text, &len, err);
  if (rc < 0)
    return rc;
  if (len > RECIPE_FILE_MAX)
    return bothy_error_set_code(err, EINVAL, "%s: larger than %d bytes", path, RECIPE_FILE_MAX);

  _cleanup_recipe_ struct bothy_recipe *r = xmalloc0(sizeof(*r));
  r->path = xstrdup(path);
  const char *slash = strrchr(path, '/');
  r->dir = !slash          ? xstrdup(".")
           : slash == path ? xstrdup("/")
                           : xstrndup(path, (size_t) (slash - path));

  _cleanup_(parse_done) struct parse p = {
    .path = path,
    .err = err,
    .r = r,
    .text = text,
    .len = len,
  };
  struct ini_options saved = ini_options_set();
  rc = ini_parse_stream(reader, &p, handler, &p);
  ini_options_restore(&saved);
  if (p.failed)
    return -EINVAL;
  if (rc != 0) /* what classify() lets through, inih should accept */
    return fail_at(&p, rc > 0 ? (unsigned) rc : p.line, NULL, "syntax error");
  if (check_recipe(&p) < 0)
    return -EINVAL;
  *ret = TAKE_PTR(r);
  return 0;
}

struct bothy_recipe *bothy_recipe_free(struct bothy_recipe *r)
{
  if (!r)
    return NULL;
  free(r->path);
  free(r->dir);
  free(r->name);
  free(r->version);
  free(r->summary);
  free(r->maintainer);
  free(r->upstream);
  free(r->license);
  free(r->source);
  for (size_t i = 0; i < r->n_settings; i++) {
    struct bothy_setting *s = &r->settings[i];
    free(s->name);
    free(s->description);
    free(s->default_value);
    free(s->pattern);
    free(s->charset);
  }
  free(r->settings);
  for (size_t i = 0; i < r->n_services; i++) {
    struct bothy_service *s = &r->services[i];
    free(s->name);
    free(s->image);
    free(s->build);
    strv_free(s->environment);
    for (size_t k = 0; k < s->n_volumes; k++) {
      free(s->volumes[k].name);
      free(s->volumes[k].path);
    }
    free(s->volumes);
    for (size_t k = 0; k < s->n_secret_files; k++) {
      free(s->secret_files[k].setting);
      free(s->secret_files[k].path);
    }
    free(s->secret_files);
    strv_free(s->depends_on);
    free(s->health);
    free(s->command);
    free(s->user);
    free(s->backup.before);
    free(s->backup.after);
    free(s->update.before);
    free(s->update.after);
  }
  free(r->services);
  free(r);
  return NULL;
}

const struct bothy_setting *bothy_recipe_setting(const struct bothy_recipe *r, const char *name)
{
  ssize_t i = r && name ? find_setting(r, name) : -1;
  return i >= 0 ? &r->settings[i] : NULL;
}

const struct bothy_service *bothy_recipe_service(const struct bothy_recipe *r, const char *name)
{
  ssize_t i = r && name ? find_service(r, name) : -1;
  return i >= 0 ? &r->services[i] : NULL;
}

/* -------------------------------------------------------------- resolving */

/* length characters drawn uniformly from charset: a random byte b is used
 * only when b < 256 - 256 % n (rejection sampling), so that b % n has no
 * bias towards the first characters of the set. */
static int generate_secret(const char *charset, unsigned length, char **ret, bothy_error_t *err)
{
  size_t n = strlen(charset);
  if (n < 2 || n > 256 || length == 0)
    return bothy_error_set_code(err, EINVAL, "cannot generate a secret from '%s'", charset);
  unsigned limit = 256 - 256 % (unsigned) n;
  _cleanup_free_ char *out = xmalloc(length + 1);
  unsigned char bytes[128];
  size_t have = 0;
  while (have < length) {
    ssize_t got = getrandom(bytes, sizeof(bytes), 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      explicit_bzero(out, length);
      return bothy_error_errno(err, "cannot get random bytes");
    }
    for (ssize_t i = 0; i < got && have < length; i++)
      if (bytes[i] < limit)
        out[have++] = charset[bytes[i] % n];
  }
  explicit_bzero(bytes, sizeof(bytes));
  out[length] = '\0';
  *ret = TAKE_PTR(out);
  return 0;
}

/* A value must go into an instance file unchanged: one line, and no space
 * at either end (inih and systemd trim values). */
static const char *check_value_text(const char *v)
{
  if (has_control(v))
    return "contains a control character (a newline?)";
  size_t len = strlen(v);
  if (len && (isspace((unsigned char) v[0]) || isspace((unsigned char) v[len - 1])))
    return "starts or ends with a space";
  return NULL;
}

static int check_given(const struct bothy_setting *s, const char *v, bothy_error_t *err)
{
  const char *why = check_value_text(v);
  if (why && s->secret)
    return bothy_error_set_code(err, EINVAL, "setting '%s': the value %s", s->name, why);
  if (why)
    return bothy_error_set_code(err, EINVAL, "setting '%s': '%s' %s", s->name, v, why);
  const char *want = check_type(s->type, v);
  if (want)
    return bothy_error_set_code(err, EINVAL, "setting '%s': '%s' is not %s", s->name, v, want);
  if (s->pattern) {
    _cleanup_regex_ regex_t *re = NULL;
    _cleanup_free_ char *re_why = NULL;
    if (compile_pattern(s->pattern, &re, &re_why) < 0)
      return bothy_error_set_code(err, EINVAL, "setting '%s': Pattern=%s: %s", s->name, s->pattern,
                                  re_why);
    if (regexec(re, v, 0, NULL, 0) != 0)
      return bothy_error_set_code(err, EINVAL, "setting '%s': '%s' does not match '%s'", s->name, v,
                                  s->pattern);
  }
  return 0;
}

int bothy_recipe_resolve(const struct bothy_recipe *r, char *const *given, char ***ret,
                         char ***ret_generated, bothy_error_t *err)
{
  size_t n_given = strv_length(given);
  for (size_t i = 0; i < n_given; i++) {
    const char *eq = strchr(given[i], '=');
    if (!eq)
      return bothy_error_set_code(err, EINVAL, "setting '%s': expected NAME=VALUE", given[i]);
    _cleanup_free_ char *name = xstrndup(given[i], (size_t) (eq - given[i]));
    if (find_setting(r, name) < 0)
      return bothy_error_set_code(err, EINVAL, "setting '%s': recipe '%s' has no such setting",
                                  name, r->name);
  }

  _cleanup_strv_free_ char **out = xcalloc(1, sizeof(char *));
  _cleanup_strv_free_ char **generated = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < r->n_settings; i++) {
    const struct bothy_setting *s = &r->settings[i];
    size_t nlen = strlen(s->name);
    const char *v = NULL;
    for (size_t k = n_given; k-- > 0 && !v;) /* the last one given wins */
      if (strncmp(given[k], s->name, nlen) == 0 && given[k][nlen] == '=')
        v = given[k] + nlen + 1;
    /* An empty value is no value: the default, a new secret, or "". */
    if (v && !*v)
      v = NULL;
    _cleanup_free_ char *secret = NULL;
    if (v) {
      if (check_given(s, v, err) < 0)
        return -EINVAL;
    } else if (s->secret && !s->required) {
      if (generate_secret(s->charset ? s->charset : CHARSET_ALNUM,
                          s->length ? s->length : SECRET_LENGTH, &secret, err) < 0)
        return bothy_error_prefix(err, "setting '%s'", s->name);
      v = secret;
      strv_push(&generated, xstrdup(s->name));
    } else if (s->default_value) {
      v = s->default_value;
    } else if (s->required) {
      return bothy_error_set_code(err, EINVAL, "setting '%s': required, and no value given",
                                  s->name);
    } else {
      v = "";
    }
    strv_push(&out, xasprintf("%s=%s", s->name, v));
    if (secret)
      explicit_bzero(secret, strlen(secret));
  }
  *ret = TAKE_PTR(out);
  if (ret_generated)
    *ret_generated = TAKE_PTR(generated);
  return 0;
}
