/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build/ignore.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* docker turns each pattern into a regular expression; the same language,
 * compiled to tokens and run as an NFA, so that matching is linear in the
 * path whatever the pattern (no backtracking on "*a*a*a*..."). */
enum tok_type {
  TOK_LIT,         /* one character */
  TOK_ANY,         /* '?': [^/] */
  TOK_STAR,        /* '*': [^/]* */
  TOK_CLASS,       /* [...] */
  TOK_DSTAR_ENTER, /* "**" + '/' is (.*\/)?: enter the group or skip it */
  TOK_DSTAR_BODY,  /* inside the group: any character; leave after a '/' */
  TOK_DSTAR_END,   /* "**" at the end: .* */
};

struct tok {
  enum tok_type type;
  unsigned char c;
  uint8_t set[32]; /* TOK_CLASS: a bit per byte */
};

struct pattern {
  char *text;
  bool exception;
  struct tok *toks;
  size_t n;
};

struct bothy_ignore {
  struct pattern *pats;
  size_t n;
};

static struct tok *add_tok(struct pattern *p, enum tok_type t)
{
  p->toks = xrealloc(p->toks, (p->n + 1) * sizeof(struct tok));
  struct tok *k = &p->toks[p->n++];
  memset(k, 0, sizeof(*k));
  k->type = t;
  return k;
}

/* A class, as filepath.Match accepts it (docker checks every pattern with
 * it): '^' negates, "a-z" ranges, '\\' quotes; an empty class, or an
 * unquoted '-' or ']' where a character is expected, is malformed.
 * *pp points after '['; returns -1 when malformed. */
static int compile_class(const char **pp, struct tok *k)
{
  const char *p = *pp;
  bool negate = *p == '^';
  if (negate)
    p++;
  bool first = true;
  for (;;) {
    if (!*p)
      return -1;
    if (*p == ']' && !first)
      break;
    first = false;
    unsigned char lo = (unsigned char) *p++, hi;
    if (lo == '-' || lo == ']')
      return -1;
    if (lo == '\\') {
      if (!*p)
        return -1;
      lo = (unsigned char) *p++;
    }
    hi = lo;
    if (*p == '-') {
      p++;
      if (!*p || *p == '-' || *p == ']')
        return -1;
      hi = (unsigned char) *p++;
      if (hi == '\\') {
        if (!*p)
          return -1;
        hi = (unsigned char) *p++;
      }
      if (hi < lo)
        return -1;
    }
    for (unsigned c = lo; c <= hi; c++)
      k->set[c / 8] |= (uint8_t) (1u << (c % 8));
  }
  if (negate)
    for (size_t i = 0; i < sizeof(k->set); i++)
      k->set[i] = (uint8_t) ~k->set[i];
  *pp = p + 1;
  return 0;
}

static int compile(struct pattern *pat)
{
  const char *p = pat->text;
  while (*p) {
    char c = *p++;
    if (c == '*' && *p == '*') {
      p++;
      if (*p == '/')
        p++;
      if (!*p) {
        add_tok(pat, TOK_DSTAR_END);
      } else {
        add_tok(pat, TOK_DSTAR_ENTER);
        add_tok(pat, TOK_DSTAR_BODY);
      }
    } else if (c == '*') {
      add_tok(pat, TOK_STAR);
    } else if (c == '?') {
      add_tok(pat, TOK_ANY);
    } else if (c == '[') {
      if (compile_class(&p, add_tok(pat, TOK_CLASS)) < 0)
        return -1;
    } else if (c == '\\' && *p) {
      add_tok(pat, TOK_LIT)->c = (unsigned char) *p++;
    } else {
      add_tok(pat, TOK_LIT)->c = (unsigned char) c;
    }
  }
  return 0;
}

/* Follows the moves that consume nothing; they all go forwards, so one
 * ascending pass is enough. */
static void closure(const struct pattern *pat, bool *st)
{
  for (size_t i = 0; i < pat->n; i++) {
    if (!st[i])
      continue;
    switch (pat->toks[i].type) {
    case TOK_STAR:
    case TOK_DSTAR_END:
      st[i + 1] = true;
      break;
    case TOK_DSTAR_ENTER:
      st[i + 1] = true;
      st[i + 2] = true;
      break;
    default:
      break;
    }
  }
}

/* Whether pat matches s[0..len) entirely, or with partial set whether it
 * matches some path that starts with it. */
static bool pat_match(const struct pattern *pat, const char *s, size_t len, bool partial)
{
  size_t n = pat->n + 1;
  _cleanup_free_ bool *cur = xcalloc(n, sizeof(bool));
  _cleanup_free_ bool *nxt = xcalloc(n, sizeof(bool));
  cur[0] = true;
  closure(pat, cur);
  for (size_t k = 0; k < len; k++) {
    unsigned char c = (unsigned char) s[k];
    bool alive = false;
    memset(nxt, 0, n * sizeof(bool));
    for (size_t i = 0; i < pat->n; i++) {
      if (!cur[i])
        continue;
      const struct tok *t = &pat->toks[i];
      switch (t->type) {
      case TOK_LIT:
        nxt[i + 1] |= c == t->c;
        break;
      case TOK_ANY:
        nxt[i + 1] |= c != '/';
        break;
      case TOK_CLASS:
        nxt[i + 1] |= (t->set[c / 8] >> (c % 8)) & 1;
        break;
      case TOK_STAR:
        nxt[i] |= c != '/';
        break;
      case TOK_DSTAR_END:
        nxt[i] = true;
        break;
      case TOK_DSTAR_BODY:
        nxt[i] = true;
        nxt[i + 1] |= c == '/';
        break;
      case TOK_DSTAR_ENTER:
        break;
      }
    }
    closure(pat, nxt);
    for (size_t i = 0; i < n; i++)
      alive = alive || nxt[i];
    if (!alive)
      return false;
    bool *tmp = cur;
    cur = nxt;
    nxt = tmp;
  }
  /* Every token left can match some character, so a live state can always
   * be completed. */
  return partial || cur[pat->n];
}

/* Go's filepath.Clean, literally. */
static char *clean_path(const char *path)
{
  size_t n = strlen(path);
  if (!n)
    return xstrdup(".");
  bool rooted = path[0] == '/';
  char *out = xmalloc(n + 3);
  size_t w = 0, r = 0, dotdot = 0;
  if (rooted) {
    out[w++] = '/';
    r = dotdot = 1;
  }
  while (r < n) {
    if (path[r] == '/') {
      r++;
    } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
      r++;
    } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
      r += 2;
      if (w > dotdot) {
        w--;
        while (w > dotdot && out[w] != '/')
          w--;
      } else if (!rooted) {
        if (w > 0)
          out[w++] = '/';
        out[w++] = '.';
        out[w++] = '.';
        dotdot = w;
      }
    } else {
      if ((rooted && w != 1) || (!rooted && w != 0))
        out[w++] = '/';
      for (; r < n && path[r] != '/'; r++)
        out[w++] = path[r];
    }
  }
  if (w == 0)
    out[w++] = '.';
  out[w] = '\0';
  return out;
}

static bool is_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* strings.TrimSpace */
static char *trim(const char *s, size_t len)
{
  while (len && is_blank(*s))
    s++, len--;
  while (len && is_blank(s[len - 1]))
    len--;
  return xstrndup(s, len);
}

_printf_(2, 3) static int invalid(bothy_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  bothy_error_setv(err, 0, fmt, ap);
  va_end(ap);
  if (err && *err)
    (*err)->code = EINVAL;
  return -EINVAL;
}

int bothy_ignore_parse(const char *data, size_t size, const char *filename,
                       struct bothy_ignore **ret, bothy_error_t *err)
{
  if (!filename)
    filename = ".containerignore";
  struct bothy_ignore *ig = xcalloc(1, sizeof(*ig));
  const char *p = data, *end = data + size;
  unsigned lineno = 0;
  int r = 0;
  if (size >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
    p += 3;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t) (end - p));
    const char *e = nl ? nl : end;
    lineno++;
    if (memchr(p, '\0', (size_t) (e - p))) {
      r = invalid(err, "%s:%u: contains a NUL byte", filename, lineno);
      goto fail;
    }
    _cleanup_free_ char *line = trim(p, (size_t) (e - p));
    p = nl ? nl + 1 : end;
    if (!line[0] || line[0] == '#')
      continue;
    bool exception = line[0] == '!';
    _cleanup_free_ char *pat = exception ? trim(line + 1, strlen(line + 1)) : xstrdup(line);
    if (exception && !pat[0]) {
      r = invalid(err, "%s:%u: illegal exclusion pattern: \"!\"", filename, lineno);
      goto fail;
    }
    char *cleaned = clean_path(pat);
    if (cleaned[0] == '/' && cleaned[1]) {
      char *c = xstrdup(cleaned + 1);
      free(cleaned);
      cleaned = c;
    }
    ig->pats = xrealloc(ig->pats, (ig->n + 1) * sizeof(struct pattern));
    struct pattern *pt = &ig->pats[ig->n++];
    *pt = (struct pattern){ .text = cleaned, .exception = exception };
    if (compile(pt) < 0) {
      r = invalid(err, "%s:%u: bad pattern \"%s\"", filename, lineno, line);
      goto fail;
    }
  }
  *ret = ig;
  return 0;
fail:
  bothy_ignore_free(ig);
  return r;
}

struct bothy_ignore *bothy_ignore_free(struct bothy_ignore *ig)
{
  if (!ig)
    return NULL;
  for (size_t i = 0; i < ig->n; i++) {
    free(ig->pats[i].text);
    free(ig->pats[i].toks);
  }
  free(ig->pats);
  free(ig);
  return NULL;
}

/* MatchesOrParentMatches: a pattern matches a path when it matches the path
 * or one of its parent directories; the last one that matches decides. */
static bool match_clean(const struct bothy_ignore *ig, const char *path)
{
  size_t len = strlen(path);
  bool matched = false;
  for (size_t i = 0; i < ig->n; i++) {
    const struct pattern *pt = &ig->pats[i];
    /* An exclusion cannot change a path not left out yet, nor an inclusion
     * one already left out. */
    if (pt->exception != matched)
      continue;
    bool m = pat_match(pt, path, len, false);
    for (const char *s = strchr(path, '/'); !m && s; s = strchr(s + 1, '/'))
      m = pat_match(pt, path, (size_t) (s - path), false);
    if (m)
      matched = !pt->exception;
  }
  return matched;
}

static char *clean_rel(const char *relpath)
{
  char *c = clean_path(relpath);
  if (c[0] == '/') {
    char *d = xstrdup(c[1] ? c + 1 : ".");
    free(c);
    c = d;
  }
  return c;
}

bool bothy_ignore_match(const struct bothy_ignore *ig, const char *relpath)
{
  if (!ig || !ig->n)
    return false;
  _cleanup_free_ char *path = clean_rel(relpath);
  return match_clean(ig, path);
}

bool bothy_ignore_can_skip_dir(const struct bothy_ignore *ig, const char *reldir)
{
  if (!ig || !ig->n)
    return false;
  _cleanup_free_ char *dir = clean_rel(reldir);
  if (streq(dir, ".") || !match_clean(ig, dir))
    return false;
  /* Below dir, only an exception that can match a path starting with
   * "dir/" can take something back: patterns that match dir or one of its
   * parents match everything below it the same way. */
  _cleanup_free_ char *prefix = xasprintf("%s/", dir);
  size_t plen = strlen(prefix);
  for (size_t i = 0; i < ig->n; i++)
    if (ig->pats[i].exception && pat_match(&ig->pats[i], prefix, plen, /* partial= */ true))
      return false;
  return true;
}

size_t bothy_ignore_count(const struct bothy_ignore *ig)
{
  return ig ? ig->n : 0;
}

const char *bothy_ignore_pattern(const struct bothy_ignore *ig, size_t i, bool *ret_exception)
{
  if (!ig || i >= ig->n)
    return NULL;
  if (ret_exception)
    *ret_exception = ig->pats[i].exception;
  return ig->pats[i].text;
}
