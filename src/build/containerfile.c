/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "build/containerfile.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/strv.h"
#include "base/sbuf.h"
#include "base/xalloc.h"

/* ---- small helpers ---- */

/* Go's unicode.IsSpace on ASCII, which is what the Dockerfile parser uses. */
static bool is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const char *skip_space(const char *s)
{
  while (is_space(*s))
    s++;
  return s;
}

static char *ascii_lower(const char *s)
{
  char *r = xstrdup(s);
  for (char *p = r; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char) (*p - 'A' + 'a');
  return r;
}

/* EINVAL with the message as given (bothy_error_set would append
 * "Invalid argument"). */
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

static const char *const kind_names[_BOTHY_CF_KIND_MAX] = {
  [BOTHY_CF_FROM] = "FROM",
  [BOTHY_CF_RUN] = "RUN",
  [BOTHY_CF_COPY] = "COPY",
  [BOTHY_CF_ADD] = "ADD",
  [BOTHY_CF_ENV] = "ENV",
  [BOTHY_CF_ARG] = "ARG",
  [BOTHY_CF_WORKDIR] = "WORKDIR",
  [BOTHY_CF_USER] = "USER",
  [BOTHY_CF_CMD] = "CMD",
  [BOTHY_CF_ENTRYPOINT] = "ENTRYPOINT",
  [BOTHY_CF_LABEL] = "LABEL",
  [BOTHY_CF_EXPOSE] = "EXPOSE",
  [BOTHY_CF_VOLUME] = "VOLUME",
  [BOTHY_CF_STOPSIGNAL] = "STOPSIGNAL",
  [BOTHY_CF_HEALTHCHECK] = "HEALTHCHECK",
  [BOTHY_CF_SHELL] = "SHELL",
  [BOTHY_CF_ONBUILD] = "ONBUILD",
  [BOTHY_CF_MAINTAINER] = "MAINTAINER",
};

const char *bothy_cf_kind_to_string(enum bothy_cf_kind k)
{
  if (k < 0 || k >= _BOTHY_CF_KIND_MAX)
    return NULL;
  return kind_names[k];
}

static enum bothy_cf_kind kind_from_string(const char *s)
{
  for (size_t i = 0; i < _BOTHY_CF_KIND_MAX; i++)
    if (strcasecmp(kind_names[i], s) == 0)
      return (enum bothy_cf_kind) i;
  return _BOTHY_CF_KIND_INVALID;
}

/* Appends a zeroed element to a growable array; returns it. */
#define GROW(arr, n) ((__typeof__(&(arr)[0])) grow((void **) &(arr), &(n), sizeof((arr)[0])))
static void *grow(void **arr, size_t *n, size_t size)
{
  *arr = xrealloc(*arr, (*n + 1) * size);
  void *e = (char *) *arr + *n * size;
  memset(e, 0, size);
  (*n)++;
  return e;
}

/* ---- the shell lexer (BuildKit's frontend/dockerfile/shell/lex.go) ---- */

/* Word splitting for bothy_cf_expand_words: literal blanks outside quotes
 * and the blanks in an unquoted expansion end a word; empty words vanish. */
struct words {
  char **v;
  struct sbuf w;
  bool in_word;
};

static void words_raw_char(struct words *w, char c)
{
  sb_addc(&w->w, c);
  w->in_word = true;
}

static void words_char(struct words *w, char c)
{
  if (is_space(c)) {
    if (w->in_word && w->w.len) {
      strv_push(&w->v, sb_take(&w->w));
      w->in_word = false;
    }
  } else {
    words_raw_char(w, c);
  }
}

static void words_string(struct words *w, const char *s)
{
  for (; s && *s; s++)
    words_char(w, *s);
}

static void words_raw_string(struct words *w, const char *s)
{
  sb_adds(&w->w, s);
  w->in_word = true;
}

struct lex {
  const char *p;
  char escape;
  char *const *env;
  bothy_error_t *err;
};

static int lex_dollar(struct lex *lx, struct sbuf *out);

static int lex_single(struct lex *lx, struct sbuf *out)
{
  lx->p++;
  for (;;) {
    char c = *lx->p;
    if (!c)
      return invalid(lx->err,
                     "unexpected end of statement while looking for matching single-quote");
    lx->p++;
    if (c == '\'')
      return 0;
    sb_addc(out, c);
  }
}

static int lex_double(struct lex *lx, struct sbuf *out)
{
  lx->p++;
  for (;;) {
    char c = *lx->p;
    if (!c)
      return invalid(lx->err,
                     "unexpected end of statement while looking for matching double-quote");
    if (c == '"') {
      lx->p++;
      return 0;
    }
    if (c == '$') {
      int r = lex_dollar(lx, out);
      if (r < 0)
        return r;
      continue;
    }
    lx->p++;
    if (c == lx->escape) {
      char n = *lx->p;
      if (!n)
        continue; /* the loop reports the missing quote */
      /* Only these may be escaped in double quotes; other escapes stay. */
      if (n == '"' || n == '$' || n == lx->escape) {
        c = n;
        lx->p++;
      }
    }
    sb_addc(out, c);
  }
}

/* Reads a name after '$': digits, one special parameter character, or
 * [A-Za-z0-9_]+. May be empty. */
static char *lex_name(struct lex *lx)
{
  const char *s = lx->p;
  if (is_digit(*s)) {
    while (is_digit(*lx->p))
      lx->p++;
  } else if (*s && strchr("@*#?-$!", *s)) {
    lx->p++;
  } else {
    while (is_alpha(*lx->p) || is_digit(*lx->p) || *lx->p == '_')
      lx->p++;
  }
  return xstrndup(s, (size_t) (lx->p - s));
}

static int lex_until(struct lex *lx, char stop, struct sbuf *out, struct words *w)
{
  while (*lx->p) {
    char c = *lx->p;
    if (stop && c == stop) {
      lx->p++;
      return 0;
    }
    if (c == '\'' || c == '"' || c == '$') {
      _cleanup_sb_ struct sbuf tmp = { 0 };
      int r = c == '\''  ? lex_single(lx, &tmp)
              : c == '"' ? lex_double(lx, &tmp)
                         : lex_dollar(lx, &tmp);
      if (r < 0)
        return r;
      sb_addn(out, tmp.s, tmp.len);
      if (w && c == '$')
        words_string(w, tmp.s);
      else if (w)
        words_raw_string(w, tmp.s);
      continue;
    }
    lx->p++;
    if (c == lx->escape) {
      /* The escape character takes the next one as it is; at the end of the
       * word it is dropped. */
      if (!*lx->p)
        break;
      c = *lx->p++;
      if (w)
        words_raw_char(w, c);
    } else if (w) {
      words_char(w, c);
    }
    sb_addc(out, c);
  }
  if (stop)
    return invalid(lx->err, "unexpected end of statement while looking for matching %c", stop);
  return 0;
}

static int lex_dollar(struct lex *lx, struct sbuf *out)
{
  lx->p++;
  if (*lx->p != '{') {
    _cleanup_free_ char *name = lex_name(lx);
    if (!*name)
      sb_addc(out, '$');
    else
      sb_adds(out, strv_env_get(lx->env, name));
    return 0;
  }
  lx->p++;
  if (!*lx->p)
    return invalid(lx->err, "syntax error: missing '}'");
  if (*lx->p == '{' || *lx->p == '}' || *lx->p == ':')
    return invalid(lx->err, "syntax error: bad substitution");
  _cleanup_free_ char *name = lex_name(lx);
  char c = *lx->p;
  if (!c)
    return invalid(lx->err, "syntax error: missing '}'");
  lx->p++;
  const char *value = strv_env_get(lx->env, name);
  if (c == '}') {
    sb_adds(out, value);
    return 0;
  }
  bool colon = c == ':';
  if (colon) {
    c = *lx->p;
    if (!c)
      return invalid(lx->err, "syntax error: missing '}'");
    lx->p++;
  }
  if (c != '-' && c != '+' && c != '?')
    return invalid(lx->err, "unsupported modifier (%s%c) in substitution", colon ? ":" : "", c);
  _cleanup_sb_ struct sbuf word = { 0 };
  int r = lex_until(lx, '}', &word, NULL);
  if (r < 0)
    return invalid(lx->err, "syntax error: missing '}'");
  /* With ':' an empty value counts as unset. */
  bool set = colon ? value && *value : value != NULL;
  switch (c) {
  case '-':
    sb_adds(out, set ? value : word.s);
    break;
  case '+':
    if (set)
      sb_adds(out, word.s);
    break;
  default: /* '?' */
    if (!set)
      return invalid(lx->err, "%s: %s", name,
                     word.len ? word.s
                     : value  ? "is not allowed to be empty"
                              : "is not allowed to be unset");
    sb_adds(out, value);
  }
  return 0;
}

int bothy_cf_expand(const char *word, char *const *env, char escape, char **ret, bothy_error_t *err)
{
  struct lex lx = { .p = word, .escape = escape, .env = env, .err = err };
  _cleanup_sb_ struct sbuf out = { 0 };
  int r = lex_until(&lx, 0, &out, NULL);
  if (r < 0)
    return r;
  *ret = sb_take(&out);
  return 0;
}

int bothy_cf_expand_words(const char *word, char *const *env, char escape, char ***ret,
                          bothy_error_t *err)
{
  struct lex lx = { .p = word, .escape = escape, .env = env, .err = err };
  _cleanup_sb_ struct sbuf out = { 0 };
  struct words w = { .v = xcalloc(1, sizeof(char *)) };
  int r = lex_until(&lx, 0, &out, &w);
  if (r < 0) {
    strv_free(w.v);
    sb_done(&w.w);
    return r;
  }
  if (w.w.len)
    strv_push(&w.v, sb_take(&w.w));
  sb_done(&w.w);
  *ret = w.v;
  return 0;
}

/* ---- the line parser (BuildKit's frontend/dockerfile/parser) ---- */

/* parseWords: splits at blanks outside quotes, keeping quotes and escapes
 * in the words (the lexer removes them later). */
static char **parse_words(const char *rest, char escape)
{
  enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
  char **v = xcalloc(1, sizeof(char *));
  _cleanup_sb_ struct sbuf w = { 0 };
  bool blank_ok = false;
  char quote = 0;
  size_t n = strlen(rest);
  for (size_t pos = 0; pos <= n; pos++) {
    char ch = pos < n ? rest[pos] : '\0';
    if (phase == IN_SPACES) {
      if (pos == n)
        break;
      if (is_space(ch))
        continue;
      phase = IN_WORD;
    }
    if (pos == n) {
      if (blank_ok || w.len)
        strv_push(&v, sb_take(&w));
      break;
    }
    if (phase == IN_WORD) {
      if (is_space(ch)) {
        phase = IN_SPACES;
        if (blank_ok || w.len)
          strv_push(&v, sb_take(&w));
        sb_done(&w);
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = IN_QUOTE;
      }
      if (ch == escape) {
        if (pos + 1 == n)
          continue; /* an escape at the end is dropped */
        sb_addc(&w, ch);
        ch = rest[++pos];
      }
      sb_addc(&w, ch);
      continue;
    }
    /* IN_QUOTE: nothing is escaped in single quotes. */
    if (ch == quote)
      phase = IN_WORD;
    if (ch == escape && quote != '\'') {
      if (pos + 1 == n) {
        phase = IN_WORD;
        continue;
      }
      sb_addc(&w, ch);
      ch = rest[++pos];
    }
    sb_addc(&w, ch);
  }
  return v;
}

/* parseStringsWhitespaceDelimited. */
static char **split_blanks(const char *s)
{
  char **v = xcalloc(1, sizeof(char *));
  for (;;) {
    s = skip_space(s);
    if (!*s)
      return v;
    const char *e = s;
    while (*e && !is_space(*e))
      e++;
    strv_push(&v, xstrndup(s, (size_t) (e - s)));
    s = e;
  }
}

/* extractBuilderFlags: the leading "--" words of an instruction's arguments,
 * with quotes and backslash escapes removed (always '\\', whatever the
 * escape directive says, as BuildKit does). *ret_rest points into line. */
static char **extract_flags(const char *line, const char **ret_rest)
{
  enum { IN_SPACES, IN_WORD, IN_QUOTE } phase = IN_SPACES;
  char **v = xcalloc(1, sizeof(char *));
  _cleanup_sb_ struct sbuf w = { 0 };
  bool blank_ok = false;
  char quote = 0;
  size_t n = strlen(line);
  for (size_t pos = 0; pos <= n; pos++) {
    char ch = pos < n ? line[pos] : '\0';
    if (phase == IN_SPACES) {
      if (pos == n)
        break;
      if (is_space(ch))
        continue;
      if (ch != '-' || pos + 1 == n || line[pos + 1] != '-') {
        *ret_rest = line + pos;
        return v;
      }
      phase = IN_WORD;
    }
    if (pos == n) {
      if (!streq(w.s, "--") && (blank_ok || w.len))
        strv_push(&v, sb_take(&w));
      break;
    }
    if (phase == IN_WORD) {
      if (is_space(ch)) {
        phase = IN_SPACES;
        if (streq(w.s, "--")) {
          /* "--" ends the flags. */
          *ret_rest = line + pos;
          return v;
        }
        if (blank_ok || w.len)
          strv_push(&v, sb_take(&w));
        sb_done(&w);
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = IN_QUOTE;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == n)
          continue;
        ch = line[++pos];
      }
      sb_addc(&w, ch);
      continue;
    }
    if (ch == quote) {
      phase = IN_WORD;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == n) {
        phase = IN_WORD;
        continue;
      }
      ch = line[++pos];
    }
    sb_addc(&w, ch);
  }
  *ret_rest = line + n;
  return v;
}

/* ParseHeredoc: "[fd]<<[-]WORD" as one word. Returns 1 and fills *ret when
 * word is one, 0 when not, < 0 when its delimiter does not lex. */
static int parse_heredoc(const char *word, char escape, struct bothy_cf_heredoc *ret,
                         bothy_error_t *err)
{
  const char *p = word;
  while (is_digit(*p))
    p++;
  const char *digits_end = p;
  if (p[0] != '<' || p[1] != '<')
    return 0;
  p += 2;
  bool chomp = *p == '-';
  if (chomp)
    p++;
  if (!*p || strchr(p, '<'))
    return 0;
  _cleanup_strv_free_ char **words = NULL;
  int r = bothy_cf_expand_words(p, NULL, escape, &words, err);
  if (r < 0)
    return r;
  if (strv_length(words) != 1)
    return 0;
  /* Quotes anywhere in the delimiter turn expansion off, as in sh. */
  size_t raw_quotes = 0, quotes = 0;
  for (const char *q = p; *q; q++)
    raw_quotes += *q == '\'' || *q == '"';
  for (const char *q = words[0]; *q; q++)
    quotes += *q == '\'' || *q == '"';
  unsigned long fd = 0;
  for (const char *q = word; q < digits_end; q++)
    fd = fd > UINT_MAX / 10 ? UINT_MAX : fd * 10 + (unsigned long) (*q - '0');
  *ret = (struct bothy_cf_heredoc){
    .name = TAKE_PTR(words[0]),
    .expand = raw_quotes == quotes,
    .chomp = chomp,
    .fd = fd > UINT_MAX ? UINT_MAX : (unsigned) fd,
    .arg = -1,
  };
  return 1;
}

static void heredoc_done(struct bothy_cf_heredoc *h)
{
  free(h->name);
  free(h->content);
}

/* One instruction as read, before it means anything. */
struct node {
  unsigned line;
  char *text; /* trimmed, continuations joined */
  char *name; /* the instruction, upper case */
  enum bothy_cf_kind kind;
  char **flags;
  char *rest; /* after the flags */
  struct bothy_cf_heredoc *heredocs;
  size_t n_heredocs;
};

static void node_done(struct node *n)
{
  free(n->text);
  free(n->name);
  strv_free(n->flags);
  free(n->rest);
  for (size_t i = 0; i < n->n_heredocs; i++)
    heredoc_done(&n->heredocs[i]);
  free(n->heredocs);
  *n = (struct node){ 0 };
}

/* splitCommand: the instruction word, its flags and the rest. */
static void node_init(struct node *n, const char *line, unsigned lineno)
{
  const char *s = skip_space(line);
  size_t len = strlen(s);
  while (len && is_space(s[len - 1]))
    len--;
  n->line = lineno;
  n->text = xstrndup(s, len);
  const char *e = n->text;
  while (*e && !is_space(*e))
    e++;
  _cleanup_free_ char *word = xstrndup(n->text, (size_t) (e - n->text));
  n->name = ascii_lower(word);
  for (char *p = n->name; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char) (*p - 'a' + 'A');
  n->kind = kind_from_string(n->name);
  const char *rest = "";
  n->flags = *e ? extract_flags(skip_space(e), &rest) : xcalloc(1, sizeof(char *));
  n->rest = xstrdup(rest);
}

/* Reads data line by line as Go's bufio.ScanLines does: "\n" ends a line, a
 * "\r" before it is dropped, a last line without "\n" counts. */
struct reader {
  const char *p, *end;
  unsigned lineno;
  struct sbuf line;
};

static bool reader_next(struct reader *rd)
{
  if (rd->p >= rd->end)
    return false;
  const char *nl = memchr(rd->p, '\n', (size_t) (rd->end - rd->p));
  const char *e = nl ? nl : rd->end;
  size_t len = (size_t) (e - rd->p);
  if (len && rd->p[len - 1] == '\r')
    len--;
  sb_done(&rd->line);
  sb_addn(&rd->line, rd->p, len);
  rd->p = nl ? nl + 1 : rd->end;
  rd->lineno++;
  return true;
}

struct parser {
  const char *filename;
  char escape;
  const struct bothy_cf_options *opts;
  bothy_error_t *err;
  struct bothy_containerfile *cf;
  bool directives_done;
  bool seen_escape, seen_syntax, seen_check;
  /* The global scope: global ARGs with a value and the builtin arguments. */
  char **global_env;
  char **declared; /* every name an ARG declared */
  /* The current stage's scope. */
  char **stage_env;   /* base image, inherited and ENV */
  char **stage_args;  /* ARGs with a value, "K=V" */
  char ***final_args; /* per ended stage: its stage_args, for FROM stage */
  size_t n_final_args;
};

_printf_(3, 4) static int fail(struct parser *ps, unsigned line, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *msg = xvasprintf(fmt, ap);
  va_end(ap);
  if (line)
    return invalid(ps->err, "%s:%u: %s", ps->filename, line, msg);
  return invalid(ps->err, "%s: %s", ps->filename, msg);
}

/* possibleParserDirective: "# name = value" at the top of the file. */
static int end_directives(struct parser *ps)
{
  ps->directives_done = true;
  return 0;
}

static int parse_directive(struct parser *ps, const char *line, unsigned lineno)
{
  if (ps->directives_done)
    return 0;
  const char *p = line;
  if (*p++ != '#')
    return end_directives(ps);
  while (*p == ' ' || *p == '\t')
    p++;
  const char *name = p;
  if (!is_alpha(*p))
    return end_directives(ps);
  while (is_alpha(*p) || is_digit(*p))
    p++;
  size_t name_len = (size_t) (p - name);
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p++ != '=')
    return end_directives(ps);
  while (*p == ' ' || *p == '\t')
    p++;
  size_t vlen = strlen(p);
  while (vlen && (p[vlen - 1] == ' ' || p[vlen - 1] == '\t'))
    vlen--;
  if (!vlen)
    return end_directives(ps);
  _cleanup_free_ char *key = xstrndup(name, name_len);
  _cleanup_free_ char *lkey = ascii_lower(key);
  _cleanup_free_ char *value = xstrndup(p, vlen);
  bool *seen = streq(lkey, "escape")   ? &ps->seen_escape
               : streq(lkey, "syntax") ? &ps->seen_syntax
               : streq(lkey, "check")  ? &ps->seen_check
                                       : NULL;
  if (!seen)
    return end_directives(ps); /* an unknown directive is a comment, and ends directives */
  if (*seen)
    return fail(ps, lineno, "only one %s parser directive can be used", lkey);
  *seen = true;
  if (streq(lkey, "escape")) {
    if (!streq(value, "\\") && !streq(value, "`"))
      return fail(ps, lineno, "invalid escape token '%s' does not match ` or \\", value);
    ps->escape = value[0];
  } else if (streq(lkey, "syntax")) {
    ps->cf->syntax = TAKE_PTR(value);
  }
  return 0;
}

static bool is_comment(const char *line)
{
  return *skip_space(line) == '#';
}

/* Drops a trailing escape character (and blanks after it); false when the
 * line goes on. */
static bool trim_continuation(struct sbuf *b, char escape)
{
  size_t len = b->len;
  while (len && (b->s[len - 1] == ' ' || b->s[len - 1] == '\t'))
    len--;
  if (!len || b->s[len - 1] != escape)
    return true;
  b->len = len - 1;
  b->s[b->len] = '\0';
  return false;
}

static int read_heredocs(struct parser *ps, struct reader *rd, struct node *n)
{
  if (n->kind != BOTHY_CF_RUN && n->kind != BOTHY_CF_COPY && n->kind != BOTHY_CF_ADD)
    return 0;
  if (!strstr(n->rest, "<<"))
    return 0;
  _cleanup_strv_free_ char **words = parse_words(n->rest, ps->escape);
  for (size_t i = 0; words[i]; i++) {
    struct bothy_cf_heredoc h;
    _cleanup_error_ bothy_error_t e = NULL;
    int r = parse_heredoc(words[i], ps->escape, &h, &e);
    if (r < 0)
      return fail(ps, n->line, "%s: %s", n->name, e->msg);
    if (r == 0)
      continue;
    struct bothy_cf_heredoc *slot = GROW(n->heredocs, n->n_heredocs);
    *slot = h;
    _cleanup_sb_ struct sbuf content = { 0 };
    bool terminated = false;
    while (reader_next(rd)) {
      const char *cand = rd->line.s;
      if (h.chomp)
        while (*cand == '\t')
          cand++;
      if (streq(cand, h.name)) {
        terminated = true;
        break;
      }
      sb_addn(&content, rd->line.s, rd->line.len);
      sb_addc(&content, '\n');
    }
    if (!terminated)
      return fail(ps, n->line, "%s: unterminated heredoc \"%s\"", n->name, h.name);
    slot->content = sb_take(&content);
    if (h.chomp) {
      /* <<- strips leading tabs from every line. */
      char *out = slot->content;
      bool bol = true;
      for (const char *q = slot->content; *q; q++) {
        if (bol && *q == '\t')
          continue;
        bol = *q == '\n';
        *out++ = *q;
      }
      *out = '\0';
    }
  }
  return 0;
}

/* Reads every instruction into nodes. */
static int read_nodes(struct parser *ps, const char *data, size_t size, struct node **ret,
                      size_t *ret_n)
{
  struct reader rd = { .p = data, .end = data + size };
  struct node *nodes = NULL;
  size_t n_nodes = 0;
  int r = 0;
  while (reader_next(&rd)) {
    const char *raw = rd.line.s;
    if (rd.lineno == 1 && strncmp(raw, "\xef\xbb\xbf", 3) == 0)
      raw += 3;
    raw = skip_space(raw);
    r = parse_directive(ps, raw, rd.lineno);
    if (r < 0)
      goto fail;
    unsigned start = rd.lineno;
    _cleanup_sb_ struct sbuf line = { 0 };
    if (*raw != '#')
      sb_adds(&line, raw);
    bool eol = trim_continuation(&line, ps->escape);
    if (eol && !line.len)
      continue;
    while (!eol && reader_next(&rd)) {
      /* Comment and blank lines inside a continuation are skipped. */
      if (is_comment(rd.line.s) || !*skip_space(rd.line.s))
        continue;
      _cleanup_sb_ struct sbuf piece = { 0 };
      sb_addn(&piece, rd.line.s, rd.line.len);
      eol = trim_continuation(&piece, ps->escape);
      sb_addn(&line, piece.s, piece.len);
    }
    if (!*skip_space(line.s ? line.s : ""))
      continue; /* a lone continuation */
    struct node *n = GROW(nodes, n_nodes);
    node_init(n, line.s, start);
    if (n->kind < 0) {
      r = fail(ps, start, "unknown instruction: %s", n->name);
      goto fail;
    }
    r = read_heredocs(ps, &rd, n);
    if (r < 0)
      goto fail;
  }
  sb_done(&rd.line);
  *ret = nodes;
  *ret_n = n_nodes;
  return 0;
fail:
  sb_done(&rd.line);
  for (size_t i = 0; i < n_nodes; i++)
    node_done(&nodes[i]);
  free(nodes);
  return r;
}

/* ---- instructions ---- */

struct flagvals {
  char *platform, *from, *chown, *chmod, *network, *security, *checksum;
  char *interval, *timeout, *start_period, *start_interval, *retries;
  bool link, parents, keep_git_dir;
  char **mount, **exclude;
};

static void flagvals_done(struct flagvals *f)
{
  free(f->platform);
  free(f->from);
  free(f->chown);
  free(f->chmod);
  free(f->network);
  free(f->security);
  free(f->checksum);
  free(f->interval);
  free(f->timeout);
  free(f->start_period);
  free(f->start_interval);
  free(f->retries);
  strv_free(f->mount);
  strv_free(f->exclude);
}

enum flag_type { FLAG_STRING, FLAG_BOOL, FLAG_LIST };
#define K(x) (1u << BOTHY_CF_##x)
static const struct flag_def {
  const char *name;
  enum flag_type type;
  unsigned kinds;
  size_t off;
} flag_defs[] = {
  { "platform", FLAG_STRING, K(FROM), offsetof(struct flagvals, platform) },
  { "mount", FLAG_LIST, K(RUN), offsetof(struct flagvals, mount) },
  { "network", FLAG_STRING, K(RUN), offsetof(struct flagvals, network) },
  { "security", FLAG_STRING, K(RUN), offsetof(struct flagvals, security) },
  { "from", FLAG_STRING, K(COPY), offsetof(struct flagvals, from) },
  { "chown", FLAG_STRING, K(COPY) | K(ADD), offsetof(struct flagvals, chown) },
  { "chmod", FLAG_STRING, K(COPY) | K(ADD), offsetof(struct flagvals, chmod) },
  { "link", FLAG_BOOL, K(COPY) | K(ADD), offsetof(struct flagvals, link) },
  { "parents", FLAG_BOOL, K(COPY), offsetof(struct flagvals, parents) },
  { "exclude", FLAG_LIST, K(COPY) | K(ADD), offsetof(struct flagvals, exclude) },
  { "checksum", FLAG_STRING, K(ADD), offsetof(struct flagvals, checksum) },
  { "keep-git-dir", FLAG_BOOL, K(ADD), offsetof(struct flagvals, keep_git_dir) },
  { "interval", FLAG_STRING, K(HEALTHCHECK), offsetof(struct flagvals, interval) },
  { "timeout", FLAG_STRING, K(HEALTHCHECK), offsetof(struct flagvals, timeout) },
  { "start-period", FLAG_STRING, K(HEALTHCHECK), offsetof(struct flagvals, start_period) },
  { "start-interval", FLAG_STRING, K(HEALTHCHECK), offsetof(struct flagvals, start_interval) },
  { "retries", FLAG_STRING, K(HEALTHCHECK), offsetof(struct flagvals, retries) },
};

static int parse_flags(struct parser *ps, const struct node *n, struct flagvals *f)
{
  bool seen[ARRAY_SIZE(flag_defs)] = { false };
  for (size_t i = 0; n->flags[i]; i++) {
    const char *word = n->flags[i] + 2; /* after "--" */
    const char *eq = strchr(word, '=');
    _cleanup_free_ char *name = xstrndup(word, eq ? (size_t) (eq - word) : strlen(word));
    const struct flag_def *d = NULL;
    for (size_t j = 0; j < ARRAY_SIZE(flag_defs); j++)
      if (streq(flag_defs[j].name, name) && (flag_defs[j].kinds & (1u << n->kind))) {
        d = &flag_defs[j];
        break;
      }
    if (!d)
      return fail(ps, n->line, "%s: unknown flag: --%s", n->name, name);
    size_t idx = (size_t) (d - flag_defs);
    if (seen[idx] && d->type != FLAG_LIST)
      return fail(ps, n->line, "%s: duplicate flag specified: --%s", n->name, name);
    seen[idx] = true;
    void *slot = (char *) f + d->off;
    switch (d->type) {
    case FLAG_BOOL:
      if (!eq || strcasecmp(eq + 1, "true") == 0)
        *(bool *) slot = true;
      else if (strcasecmp(eq + 1, "false") == 0)
        *(bool *) slot = false;
      else
        return fail(ps, n->line, "%s: expecting boolean value for flag --%s, not: %s", n->name,
                    name, eq + 1);
      break;
    case FLAG_STRING:
      if (!eq)
        return fail(ps, n->line, "%s: missing a value on flag: --%s", n->name, name);
      *(char **) slot = xstrdup(eq + 1);
      break;
    case FLAG_LIST:
      if (!eq)
        return fail(ps, n->line, "%s: missing a value on flag: --%s", n->name, name);
      strv_push((char ***) slot, xstrdup(eq + 1));
      break;
    }
  }
  return 0;
}

/* The expansion scope of the current stage: ARGs, with ENV over them. */
static char **scope_env(struct parser *ps)
{
  char **env = strv_copy(ps->stage_args);
  for (size_t i = 0; ps->stage_env && ps->stage_env[i]; i++)
    strv_env_set(&env, ps->stage_env[i]);
  return env;
}

static int expand(struct parser *ps, const struct node *n, char *const *env, const char *word,
                  char **ret)
{
  _cleanup_error_ bothy_error_t e = NULL;
  if (bothy_cf_expand(word, env, ps->escape, ret, &e) < 0)
    return fail(ps, n->line, "%s: %s", n->name, e->msg);
  return 0;
}

/* Expands *s in place (NULL stays NULL); a no-op for ONBUILD's trigger. */
static int expand_inplace(struct parser *ps, const struct node *n, char *const *env, bool raw,
                          char **s)
{
  if (!*s || raw)
    return 0;
  char *x = NULL;
  int r = expand(ps, n, env, *s, &x);
  if (r < 0)
    return r;
  free(*s);
  *s = x;
  return 0;
}

/* parseJSON: 1 and a strv for a JSON array of strings, 0 when rest is not
 * JSON (the shell form), < 0 for an array with something else in it. */
static int parse_json(struct parser *ps, const struct node *n, const char *rest, char ***ret)
{
  if (rest[0] != '[')
    return 0;
  json_t *j = json_loads(rest, 0, NULL);
  if (!j)
    return 0;
  if (!json_is_array(j)) {
    json_decref(j);
    return 0;
  }
  char **v = xcalloc(1, sizeof(char *));
  size_t i;
  json_t *e;
  json_array_foreach (j, i, e) {
    if (!json_is_string(e)) {
      json_decref(j);
      strv_free(v);
      return fail(ps, n->line,
                  "%s: when using JSON array syntax, arrays must be comprised of strings only",
                  n->name);
    }
    strv_push(&v, xstrdup(json_string_value(e)));
  }
  json_decref(j);
  *ret = v;
  return 1;
}

/* ENV and LABEL: "KEY VALUE" (the old form) or "K=V K2=V2 ...". */
static int parse_name_val(struct parser *ps, const struct node *n, struct bothy_cf_instr *in)
{
  _cleanup_strv_free_ char **words = parse_words(n->rest, ps->escape);
  if (!words[0])
    return fail(ps, n->line, "%s requires at least one argument", n->name);
  if (!strchr(words[0], '=')) {
    const char *e = n->rest;
    while (*e && !is_space(*e))
      e++;
    const char *value = skip_space(e);
    if (!*value)
      return fail(ps, n->line, "%s must have two arguments", n->name);
    struct bothy_cf_kv *kv = GROW(in->kv, in->n_kv);
    kv->key = xstrndup(n->rest, (size_t) (e - n->rest));
    kv->value = xstrdup(value);
    return 0;
  }
  for (size_t i = 0; words[i]; i++) {
    const char *eq = strchr(words[i], '=');
    if (!eq)
      return fail(ps, n->line,
                  "%s: syntax error - can't find = in \"%s\". Must be of the form: name=value",
                  n->name, words[i]);
    if (eq == words[i])
      return fail(ps, n->line, "%s names can not be blank", n->name);
    struct bothy_cf_kv *kv = GROW(in->kv, in->n_kv);
    kv->key = xstrndup(words[i], (size_t) (eq - words[i]));
    kv->value = xstrdup(eq + 1);
  }
  return 0;
}

/* Go's time.ParseDuration, in nanoseconds. */
static int parse_duration(const char *s, int64_t *ret)
{
  static const struct {
    const char *unit;
    int64_t ns;
  } units[] = {
    { "ns", 1 },
    { "us", 1000 },
    { "\xc2\xb5s", 1000 },
    { "\xce\xbcs", 1000 },
    { "ms", 1000000 },
    { "s", 1000000000 },
    { "m", 60LL * 1000000000 },
    { "h", 3600LL * 1000000000 },
  };
  bool neg = false;
  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (streq(s, "0")) {
    *ret = 0;
    return 0;
  }
  if (!*s)
    return -1;
  int64_t total = 0;
  while (*s) {
    if (!is_digit(*s) && *s != '.')
      return -1;
    int64_t whole = 0;
    bool any = false;
    while (is_digit(*s)) {
      if (__builtin_mul_overflow(whole, 10, &whole) ||
          __builtin_add_overflow(whole, *s - '0', &whole))
        return -1;
      s++;
      any = true;
    }
    int64_t frac = 0, scale = 1;
    if (*s == '.') {
      s++;
      while (is_digit(*s)) {
        if (scale < INT64_MAX / 100) {
          frac = frac * 10 + (*s - '0');
          scale *= 10;
        }
        s++;
        any = true;
      }
    }
    if (!any)
      return -1;
    int64_t unit = 0;
    size_t ulen = 0;
    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
      size_t l = strlen(units[i].unit);
      if (strncmp(s, units[i].unit, l) == 0 && l > ulen) {
        unit = units[i].ns;
        ulen = l;
      }
    }
    if (!unit)
      return -1;
    s += ulen;
    int64_t v;
    if (__builtin_mul_overflow(whole, unit, &v))
      return -1;
    v += (int64_t) ((double) frac * ((double) unit / (double) scale));
    if (v < 0 || __builtin_add_overflow(total, v, &total))
      return -1;
  }
  *ret = neg ? -total : total;
  return 0;
}

static int health_duration(struct parser *ps, const struct node *n, const char *flag,
                           const char *value, int64_t *ret)
{
  if (!value)
    return 0;
  int64_t d;
  if (parse_duration(value, &d) < 0)
    return fail(ps, n->line, "HEALTHCHECK: invalid duration for --%s: \"%s\"", flag, value);
  if (d < 0)
    return fail(ps, n->line, "HEALTHCHECK: --%s cannot be negative", flag);
  if (d != 0 && d < 1000000)
    return fail(ps, n->line, "HEALTHCHECK: --%s cannot be less than 1ms", flag);
  *ret = d;
  return 0;
}

/* RUN --mount: CSV fields, "type=" first or anywhere. */
static int parse_mount(struct parser *ps, const struct node *n, char *const *env, bool raw,
                       const char *spec, struct bothy_cf_mount *m)
{
  static const char *const types[] = { "bind", "cache", "tmpfs", "secret", "ssh" };
  static const char *const keys[] = {
    "target",  "source", "from", "readonly", "readwrite", "rw",   "id",
    "sharing", "mode",   "uid",  "gid",      "required",  "size", "env",
  };
  m->type = BOTHY_CF_MOUNT_BIND;
  const char *p = spec;
  for (;;) {
    _cleanup_sb_ struct sbuf field = { 0 };
    if (*p == '"') {
      p++;
      for (;;) {
        if (!*p)
          return fail(ps, n->line, "RUN: --mount: unterminated quote in \"%s\"", spec);
        if (*p == '"' && p[1] == '"') {
          sb_addc(&field, '"');
          p += 2;
        } else if (*p == '"') {
          p++;
          break;
        } else {
          sb_addc(&field, *p++);
        }
      }
      if (*p && *p != ',')
        return fail(ps, n->line, "RUN: --mount: extraneous text after a quoted field in \"%s\"",
                    spec);
    } else {
      const char *e = strchrnul(p, ',');
      sb_addn(&field, p, (size_t) (e - p));
      p = e;
    }
    const char *f = field.s ? field.s : "";
    const char *eq = strchr(f, '=');
    _cleanup_free_ char *raw_key = xstrndup(f, eq ? (size_t) (eq - f) : strlen(f));
    _cleanup_free_ char *key = ascii_lower(raw_key);
    /* BuildKit's aliases. */
    const char *alias = streq(key, "dst") || streq(key, "destination") ? "target"
                        : streq(key, "src")                            ? "source"
                        : streq(key, "ro")                             ? "readonly"
                                                                       : NULL;
    if (alias) {
      free(key);
      key = xstrdup(alias);
    }
    if (streq(key, "type")) {
      size_t t;
      for (t = 0; t < ARRAY_SIZE(types); t++)
        if (eq && streq(types[t], eq + 1))
          break;
      if (t == ARRAY_SIZE(types))
        return fail(ps, n->line, "RUN: --mount: unsupported mount type \"%s\"", eq ? eq + 1 : "");
      m->type = (enum bothy_cf_mount_type) t;
    } else if (*f) {
      bool known = false;
      for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
        known = known || streq(keys[k], key);
      if (!known)
        return fail(ps, n->line, "RUN: --mount: unexpected key '%s' in '%s'", raw_key, f);
      struct bothy_cf_kv *kv = GROW(m->opts, m->n_opts);
      kv->key = TAKE_PTR(key);
      kv->value = eq ? xstrdup(eq + 1) : NULL;
      int r = expand_inplace(ps, n, env, raw, &kv->value);
      if (r < 0)
        return r;
    }
    if (!*p)
      break;
    p++; /* ',' */
  }
  if ((m->type == BOTHY_CF_MOUNT_BIND || m->type == BOTHY_CF_MOUNT_CACHE ||
       m->type == BOTHY_CF_MOUNT_TMPFS) &&
      !bothy_cf_mount_get(m, "target"))
    return fail(ps, n->line, "RUN: --mount=%s: %s mount needs a target", spec, types[m->type]);
  return 0;
}

const char *bothy_cf_mount_get(const struct bothy_cf_mount *m, const char *key)
{
  for (size_t i = 0; i < m->n_opts; i++)
    if (streq(m->opts[i].key, key))
      return m->opts[i].value ? m->opts[i].value : "";
  return NULL;
}

static void instr_done(struct bothy_cf_instr *in);

static int build_instr(struct parser *ps, struct node *n, bool trigger, struct bothy_cf_instr *in);

/* ONBUILD's trigger: its own line parser run on the rest. */
static int build_onbuild(struct parser *ps, const struct node *n, struct bothy_cf_instr *in)
{
  if (!*n->rest)
    return fail(ps, n->line, "ONBUILD requires at least one argument");
  struct node inner = { 0 };
  node_init(&inner, n->rest, n->line);
  int r;
  if (inner.kind < 0)
    r = fail(ps, n->line, "ONBUILD: unknown instruction: %s", inner.name);
  else if (inner.kind == BOTHY_CF_ONBUILD)
    r = fail(ps, n->line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  else if (inner.kind == BOTHY_CF_FROM || inner.kind == BOTHY_CF_MAINTAINER)
    r = fail(ps, n->line, "%s isn't allowed as an ONBUILD trigger", inner.name);
  else {
    in->onbuild = xcalloc(1, sizeof(*in->onbuild));
    r = build_instr(ps, &inner, /* trigger= */ true, in->onbuild);
  }
  node_done(&inner);
  return r;
}

/* Fills in from n. trigger: ONBUILD's instruction, which is neither expanded
 * nor allowed to change the stage's scope. */
static int build_instr(struct parser *ps, struct node *n, bool trigger, struct bothy_cf_instr *in)
{
  _cleanup_(flagvals_done) struct flagvals f = { 0 };
  _cleanup_strv_free_ char **env = trigger ? NULL : scope_env(ps);
  int r;

  in->kind = n->kind;
  in->line = n->line;
  in->text = xstrdup(n->text);
  r = parse_flags(ps, n, &f);
  if (r < 0)
    return r;

  switch (n->kind) {
  case BOTHY_CF_RUN:
  case BOTHY_CF_CMD:
  case BOTHY_CF_ENTRYPOINT:
  case BOTHY_CF_SHELL: {
    r = parse_json(ps, n, n->rest, &in->args);
    if (r < 0)
      return r;
    in->json = r > 0;
    if (!in->json) {
      in->args = xcalloc(1, sizeof(char *));
      if (*n->rest)
        strv_push(&in->args, xstrdup(n->rest));
    }
    if (n->kind == BOTHY_CF_SHELL && !in->json)
      return fail(ps, n->line, "SHELL requires the arguments to be in JSON form");
    if ((n->kind == BOTHY_CF_SHELL || n->kind == BOTHY_CF_RUN) && !in->args[0])
      return fail(ps, n->line, "%s requires at least one argument", n->name);
    if (n->kind != BOTHY_CF_RUN)
      break;
    for (size_t i = 0; f.mount && f.mount[i]; i++) {
      struct bothy_cf_mount *m = GROW(in->mounts, in->n_mounts);
      r = parse_mount(ps, n, env, trigger, f.mount[i], m);
      if (r < 0)
        return r;
    }
    if (f.network && !streq(f.network, "default") && !streq(f.network, "none") &&
        !streq(f.network, "host"))
      return fail(ps, n->line, "RUN: unsupported network mode \"%s\"", f.network);
    if (f.security && !streq(f.security, "sandbox") && !streq(f.security, "insecure"))
      return fail(ps, n->line, "RUN: unsupported security mode \"%s\"", f.security);
    in->network = TAKE_PTR(f.network);
    in->security = TAKE_PTR(f.security);
    in->run_args = xcalloc(1, sizeof(char *));
    for (size_t i = 0; !trigger && ps->stage_args && ps->stage_args[i]; i++) {
      const char *a = ps->stage_args[i];
      if (strv_env_find(ps->stage_env, a, strcspn(a, "=")) < 0)
        strv_push(&in->run_args, xstrdup(a));
    }
    /* A heredoc word stays in the command, for the builder to run. */
    in->heredocs = TAKE_PTR(n->heredocs);
    in->n_heredocs = n->n_heredocs;
    n->n_heredocs = 0;
    break;
  }
  case BOTHY_CF_COPY:
  case BOTHY_CF_ADD: {
    r = parse_json(ps, n, n->rest, &in->args);
    if (r < 0)
      return r;
    in->json = r > 0;
    if (!in->json)
      in->args = split_blanks(n->rest);
    size_t nargs = strv_length(in->args);
    if (nargs < 2)
      return fail(ps, n->line, "%s requires at least two arguments", n->name);
    in->heredocs = TAKE_PTR(n->heredocs);
    in->n_heredocs = n->n_heredocs;
    n->n_heredocs = 0;
    size_t next_heredoc = 0;
    for (size_t i = 0; i < nargs; i++) {
      struct bothy_cf_heredoc h;
      _cleanup_error_ bothy_error_t e = NULL;
      if (i + 1 < nargs && !in->json && next_heredoc < in->n_heredocs &&
          parse_heredoc(in->args[i], ps->escape, &h, &e) > 0) {
        bool same = streq(h.name, in->heredocs[next_heredoc].name);
        heredoc_done(&h);
        if (same) {
          in->heredocs[next_heredoc++].arg = (ssize_t) i;
          continue;
        }
      }
      r = expand_inplace(ps, n, env, trigger, &in->args[i]);
      if (r < 0)
        return r;
    }
    for (size_t i = 0; i < in->n_heredocs; i++)
      if (in->heredocs[i].expand) {
        r = expand_inplace(ps, n, env, trigger, &in->heredocs[i].content);
        if (r < 0)
          return r;
      }
    if ((r = expand_inplace(ps, n, env, trigger, &f.from)) < 0 ||
        (r = expand_inplace(ps, n, env, trigger, &f.chown)) < 0 ||
        (r = expand_inplace(ps, n, env, trigger, &f.chmod)) < 0)
      return r;
    if (f.from && !*f.from)
      return fail(ps, n->line, "COPY: --from must not be empty");
    in->from = TAKE_PTR(f.from);
    in->chown = TAKE_PTR(f.chown);
    in->chmod = TAKE_PTR(f.chmod);
    in->checksum = TAKE_PTR(f.checksum);
    in->link = f.link;
    in->parents = f.parents;
    in->keep_git_dir = f.keep_git_dir;
    in->exclude = TAKE_PTR(f.exclude);
    break;
  }
  case BOTHY_CF_ENV:
  case BOTHY_CF_LABEL: {
    r = parse_name_val(ps, n, in);
    if (r < 0)
      return r;
    /* Every pair sees the scope from before the instruction: in
     * "ENV a=1 b=$a", b gets the old a. */
    for (size_t i = 0; i < in->n_kv; i++)
      if ((r = expand_inplace(ps, n, env, trigger, &in->kv[i].key)) < 0 ||
          (r = expand_inplace(ps, n, env, trigger, &in->kv[i].value)) < 0)
        return r;
    if (n->kind == BOTHY_CF_ENV && !trigger)
      for (size_t i = 0; i < in->n_kv; i++) {
        _cleanup_free_ char *kv = xasprintf("%s=%s", in->kv[i].key, in->kv[i].value);
        strv_env_set(&ps->stage_env, kv);
      }
    break;
  }
  case BOTHY_CF_ARG: {
    _cleanup_strv_free_ char **words = parse_words(n->rest, ps->escape);
    if (!words[0])
      return fail(ps, n->line, "ARG requires at least one argument");
    for (size_t i = 0; words[i]; i++) {
      const char *eq = strchr(words[i], '=');
      if (eq == words[i])
        return fail(ps, n->line, "ARG names can not be blank");
      struct bothy_cf_kv *kv = GROW(in->kv, in->n_kv);
      kv->key = xstrndup(words[i], eq ? (size_t) (eq - words[i]) : strlen(words[i]));
      kv->value = eq ? xstrdup(eq + 1) : NULL;
      if (trigger)
        continue;
      if (!strv_contains(ps->declared, kv->key))
        strv_push(&ps->declared, xstrdup(kv->key));
      const char *given = ps->opts ? strv_env_get(ps->opts->build_args, kv->key) : NULL;
      if (given) {
        free(kv->value);
        kv->value = xstrdup(given);
      } else if (kv->value) {
        _cleanup_strv_free_ char **now = scope_env(ps);
        r = expand_inplace(ps, n, now, false, &kv->value);
        if (r < 0)
          return r;
      } else {
        /* A bare ARG in a stage takes the global ARG's value, or the
         * builtin one. */
        const char *g = strv_env_get(ps->cf->n_stages ? ps->global_env : ps->stage_args, kv->key);
        kv->value = xstrdup(g);
      }
      if (kv->value) {
        _cleanup_free_ char *s = xasprintf("%s=%s", kv->key, kv->value);
        strv_env_set(&ps->stage_args, s);
      }
    }
    break;
  }
  case BOTHY_CF_WORKDIR:
  case BOTHY_CF_USER:
  case BOTHY_CF_STOPSIGNAL:
  case BOTHY_CF_MAINTAINER:
    if (!*n->rest)
      return fail(ps, n->line, "%s requires exactly one argument", n->name);
    in->args = xcalloc(1, sizeof(char *));
    strv_push(&in->args, xstrdup(n->rest));
    if (n->kind != BOTHY_CF_MAINTAINER) {
      r = expand_inplace(ps, n, env, trigger, &in->args[0]);
      if (r < 0)
        return r;
      if (!trigger && !*in->args[0])
        return fail(ps, n->line, "%s requires exactly one argument", n->name);
    }
    break;
  case BOTHY_CF_EXPOSE: {
    _cleanup_strv_free_ char **words = split_blanks(n->rest);
    if (!words[0])
      return fail(ps, n->line, "EXPOSE requires at least one argument");
    in->args = xcalloc(1, sizeof(char *));
    for (size_t i = 0; words[i]; i++) {
      if (trigger) {
        strv_push(&in->args, xstrdup(words[i]));
        continue;
      }
      _cleanup_error_ bothy_error_t e = NULL;
      _cleanup_strv_free_ char **ports = NULL;
      if (bothy_cf_expand_words(words[i], env, ps->escape, &ports, &e) < 0)
        return fail(ps, n->line, "EXPOSE: %s", e->msg);
      for (size_t j = 0; ports[j]; j++)
        strv_push(&in->args, TAKE_PTR(ports[j]));
    }
    break;
  }
  case BOTHY_CF_VOLUME: {
    r = parse_json(ps, n, n->rest, &in->args);
    if (r < 0)
      return r;
    in->json = r > 0;
    if (!in->json)
      in->args = split_blanks(n->rest);
    if (!in->args[0])
      return fail(ps, n->line, "VOLUME requires at least one argument");
    for (size_t i = 0; in->args[i]; i++) {
      r = expand_inplace(ps, n, env, trigger, &in->args[i]);
      if (r < 0)
        return r;
      if (!trigger && !*skip_space(in->args[i]))
        return fail(ps, n->line, "VOLUME specified can not be an empty string");
    }
    break;
  }
  case BOTHY_CF_HEALTHCHECK: {
    const char *e = n->rest;
    while (*e && !is_space(*e))
      e++;
    if (e == n->rest)
      return fail(ps, n->line, "HEALTHCHECK requires at least one argument");
    _cleanup_free_ char *type = xstrndup(n->rest, (size_t) (e - n->rest));
    const char *cmd = skip_space(e);
    if (strcasecmp(type, "NONE") == 0) {
      if (*cmd)
        return fail(ps, n->line, "HEALTHCHECK NONE takes no arguments");
      if (n->flags[0])
        return fail(ps, n->line, "HEALTHCHECK NONE takes no flags");
      in->health.none = true;
      break;
    }
    if (strcasecmp(type, "CMD") != 0)
      return fail(ps, n->line, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", type);
    r = parse_json(ps, n, cmd, &in->args);
    if (r < 0)
      return r;
    in->json = r > 0;
    if (!in->json) {
      in->args = xcalloc(1, sizeof(char *));
      if (*cmd)
        strv_push(&in->args, xstrdup(cmd));
    }
    if (!in->args[0])
      return fail(ps, n->line, "Missing command after HEALTHCHECK CMD");
    if ((r = health_duration(ps, n, "interval", f.interval, &in->health.interval)) < 0 ||
        (r = health_duration(ps, n, "timeout", f.timeout, &in->health.timeout)) < 0 ||
        (r = health_duration(ps, n, "start-period", f.start_period, &in->health.start_period)) <
            0 ||
        (r = health_duration(ps, n, "start-interval", f.start_interval,
                             &in->health.start_interval)) < 0)
      return r;
    if (f.retries) {
      char *end;
      errno = 0;
      long long v = strtoll(f.retries, &end, 10);
      if (errno || end == f.retries || *end)
        return fail(ps, n->line, "HEALTHCHECK: invalid --retries: \"%s\"", f.retries);
      if (v < 0)
        return fail(ps, n->line, "HEALTHCHECK: --retries cannot be negative (%lld)", v);
      in->health.retries = v;
    }
    break;
  }
  case BOTHY_CF_ONBUILD:
    return build_onbuild(ps, n, in);
  case BOTHY_CF_FROM:
  default:
    /* FROM is the stage's, handled by the caller. */
    break;
  }
  return 0;
}

static void instr_done(struct bothy_cf_instr *in)
{
  free(in->text);
  free(in->from);
  free(in->chown);
  free(in->chmod);
  free(in->network);
  free(in->security);
  free(in->checksum);
  strv_free(in->exclude);
  for (size_t i = 0; i < in->n_mounts; i++) {
    for (size_t j = 0; j < in->mounts[i].n_opts; j++) {
      free(in->mounts[i].opts[j].key);
      free(in->mounts[i].opts[j].value);
    }
    free(in->mounts[i].opts);
  }
  free(in->mounts);
  strv_free(in->args);
  for (size_t i = 0; i < in->n_kv; i++) {
    free(in->kv[i].key);
    free(in->kv[i].value);
  }
  free(in->kv);
  for (size_t i = 0; i < in->n_heredocs; i++)
    heredoc_done(&in->heredocs[i]);
  free(in->heredocs);
  strv_free(in->run_args);
  if (in->onbuild) {
    instr_done(in->onbuild);
    free(in->onbuild);
  }
  *in = (struct bothy_cf_instr){ 0 };
}

/* ---- stages ---- */

static bool valid_stage_name(const char *s)
{
  if (!(*s >= 'a' && *s <= 'z'))
    return false;
  for (s++; *s; s++)
    if (!(*s >= 'a' && *s <= 'z') && !is_digit(*s) && !strchr("-_.", *s))
      return false;
  return true;
}

static ssize_t find_stage(const struct bothy_containerfile *cf, size_t before, const char *name)
{
  for (size_t i = 0; i < before && i < cf->n_stages; i++)
    if (cf->stages[i].name && strcasecmp(cf->stages[i].name, name) == 0)
      return (ssize_t) i;
  return -1;
}

static void end_stage(struct parser *ps)
{
  if (!ps->cf->n_stages)
    return;
  struct bothy_cf_stage *st = &ps->cf->stages[ps->cf->n_stages - 1];
  st->env = TAKE_PTR(ps->stage_env);
  if (!st->env)
    st->env = xcalloc(1, sizeof(char *));
  ps->final_args = xrealloc(ps->final_args, ps->cf->n_stages * sizeof(char **));
  ps->final_args[ps->cf->n_stages - 1] = TAKE_PTR(ps->stage_args);
  ps->n_final_args = ps->cf->n_stages;
}

/* The base image's ONBUILD triggers, run first in the stage that starts
 * FROM it, as docker does; they are reported at the FROM's line. */
static int onbuild_triggers(struct parser *ps, const struct node *from, const char *base)
{
  _cleanup_strv_free_ char **trig = NULL;
  if (ps->opts->base_onbuild(base, ps->opts->userdata, &trig, ps->err) < 0)
    return bothy_error_prefix(ps->err, "%s:%u: FROM", ps->filename, from->line);
  for (size_t t = 0; trig && trig[t]; t++) {
    struct node *nodes = NULL;
    size_t n_nodes = 0;
    int r = read_nodes(ps, trig[t], strlen(trig[t]), &nodes, &n_nodes);
    for (size_t k = 0; r >= 0 && k < n_nodes; k++) {
      struct node *tn = &nodes[k];
      tn->line = from->line;
      if (tn->kind == BOTHY_CF_FROM || tn->kind == BOTHY_CF_ONBUILD ||
          tn->kind == BOTHY_CF_MAINTAINER) {
        r = fail(ps, from->line, "ONBUILD trigger of %s: %s is not allowed", base, tn->name);
        break;
      }
      struct bothy_cf_stage *st = &ps->cf->stages[ps->cf->n_stages - 1];
      struct bothy_cf_instr *in = GROW(st->instrs, st->n_instrs);
      r = build_instr(ps, tn, false, in);
    }
    for (size_t k = 0; k < n_nodes; k++)
      node_done(&nodes[k]);
    free(nodes);
    if (r < 0)
      return r;
  }
  return 0;
}

static int start_stage(struct parser *ps, const struct node *n)
{
  _cleanup_(flagvals_done) struct flagvals f = { 0 };
  int r = parse_flags(ps, n, &f);
  if (r < 0)
    return r;
  _cleanup_strv_free_ char **args = split_blanks(n->rest);
  size_t nargs = strv_length(args);
  if (nargs != 1 && nargs != 3)
    return fail(ps, n->line, "FROM requires either one or three arguments");
  if (nargs == 3 && strcasecmp(args[1], "AS") != 0)
    return fail(ps, n->line, "FROM: expected \"AS name\", got \"%s %s\"", args[1], args[2]);
  _cleanup_free_ char *name = nargs == 3 ? ascii_lower(args[2]) : NULL;
  if (name && !valid_stage_name(name))
    return fail(ps, n->line,
                "FROM: invalid name for build stage: \"%s\", name can't start with a number "
                "or contain symbols",
                args[2]);
  if (name && find_stage(ps->cf, ps->cf->n_stages, name) >= 0)
    return fail(ps, n->line, "FROM: duplicate stage name \"%s\"", name);
  _cleanup_free_ char *base = NULL;
  r = expand(ps, n, ps->global_env, args[0], &base);
  if (r < 0)
    return r;
  if (!*base)
    return fail(ps, n->line, "FROM: base name (%s) should not be blank", args[0]);
  r = expand_inplace(ps, n, ps->global_env, false, &f.platform);
  if (r < 0)
    return r;

  end_stage(ps);
  ssize_t base_stage = find_stage(ps->cf, ps->cf->n_stages, base);
  char **env = NULL;
  if (base_stage >= 0) {
    env = strv_copy(ps->cf->stages[base_stage].env);
    ps->stage_args = strv_copy(ps->final_args[base_stage]);
  } else if (!streq(base, "scratch") && ps->opts && ps->opts->base_env) {
    r = ps->opts->base_env(base, f.platform, ps->opts->userdata, &env, ps->err);
    if (r < 0)
      return bothy_error_prefix(ps->err, "%s:%u: FROM", ps->filename, n->line);
  }
  ps->stage_env = env;
  struct bothy_cf_stage *st = GROW(ps->cf->stages, ps->cf->n_stages);
  st->name = TAKE_PTR(name);
  st->base = TAKE_PTR(base);
  st->base_stage = base_stage;
  st->platform = TAKE_PTR(f.platform);
  st->line = n->line;
  st->text = xstrdup(n->text);
  if (base_stage < 0 && !streq(st->base, "scratch") && ps->opts && ps->opts->base_onbuild)
    return onbuild_triggers(ps, n, st->base);
  return 0;
}

/* COPY --from and RUN --mount from=: an index or a stage's name; -1 for an
 * image. */
static int resolve_from(struct parser *ps, const struct bothy_cf_instr *in, const char *from,
                        ssize_t *ret)
{
  bool digits = *from != '\0';
  for (const char *p = from; *p; p++)
    digits = digits && is_digit(*p);
  if (digits) {
    char *end;
    unsigned long i = strtoul(from, &end, 10);
    if (i >= ps->cf->n_stages || strlen(from) > 9)
      return fail(ps, in->line, "%s: invalid stage index \"%s\"", kind_names[in->kind], from);
    *ret = (ssize_t) i;
    return 0;
  }
  *ret = find_stage(ps->cf, ps->cf->n_stages, from);
  return 0;
}

/* The stages each stage depends on (FROM, COPY --from, RUN --mount from=). */
static void stage_deps(const struct bothy_containerfile *cf, size_t s, bool *deps)
{
  const struct bothy_cf_stage *st = &cf->stages[s];
  memset(deps, 0, cf->n_stages * sizeof(bool));
  if (st->base_stage >= 0)
    deps[st->base_stage] = true;
  for (size_t i = 0; i < st->n_instrs; i++) {
    const struct bothy_cf_instr *in = &st->instrs[i];
    if (in->from) {
      ssize_t d = -1;
      bool digits = true;
      for (const char *p = in->from; *p; p++)
        digits = digits && is_digit(*p);
      d = digits ? (ssize_t) strtoul(in->from, NULL, 10) : find_stage(cf, cf->n_stages, in->from);
      if (d >= 0 && (size_t) d < cf->n_stages)
        deps[d] = true;
    }
    for (size_t m = 0; m < in->n_mounts; m++) {
      const char *from = bothy_cf_mount_get(&in->mounts[m], "from");
      if (!from || !*from)
        continue;
      bool digits = true;
      for (const char *p = from; *p; p++)
        digits = digits && is_digit(*p);
      ssize_t d = digits ? (ssize_t) strtoul(from, NULL, 10) : find_stage(cf, cf->n_stages, from);
      if (d >= 0 && (size_t) d < cf->n_stages)
        deps[d] = true;
    }
  }
}

/* Depth-first walk; color 0 unseen, 1 on the path, 2 done. A stage met on
 * its own path is a cycle: returns its index. */
static ssize_t walk(const struct bothy_containerfile *cf, size_t s, unsigned char *color)
{
  if (color[s] == 2)
    return -1;
  if (color[s] == 1)
    return (ssize_t) s;
  color[s] = 1;
  _cleanup_free_ bool *deps = xcalloc(cf->n_stages, sizeof(bool));
  stage_deps(cf, s, deps);
  for (size_t d = 0; d < cf->n_stages; d++)
    if (deps[d]) {
      ssize_t c = walk(cf, d, color);
      if (c >= 0)
        return c;
    }
  color[s] = 2;
  return -1;
}

static int finish(struct parser *ps)
{
  struct bothy_containerfile *cf = ps->cf;
  /* --from names: checked now that every stage is known. */
  for (size_t s = 0; s < cf->n_stages; s++)
    for (size_t i = 0; i < cf->stages[s].n_instrs; i++) {
      const struct bothy_cf_instr *in = &cf->stages[s].instrs[i];
      ssize_t d;
      int r;
      if (in->from && (r = resolve_from(ps, in, in->from, &d)) < 0)
        return r;
      for (size_t m = 0; m < in->n_mounts; m++) {
        const char *from = bothy_cf_mount_get(&in->mounts[m], "from");
        if (from && *from && (r = resolve_from(ps, in, from, &d)) < 0)
          return r;
      }
    }
  _cleanup_free_ unsigned char *color = xcalloc(cf->n_stages, 1);
  for (size_t s = 0; s < cf->n_stages; s++) {
    ssize_t c = walk(cf, s, color);
    if (c >= 0)
      return fail(ps, cf->stages[c].line, "circular dependency detected on stage: %s",
                  cf->stages[c].name ? cf->stages[c].name : "(unnamed)");
  }
  cf->unused_build_args = xcalloc(1, sizeof(char *));
  for (size_t i = 0; ps->opts && ps->opts->build_args && ps->opts->build_args[i]; i++) {
    const char *a = ps->opts->build_args[i];
    const char *eq = strchr(a, '=');
    if (!eq)
      continue;
    _cleanup_free_ char *key = xstrndup(a, (size_t) (eq - a));
    if (!strv_contains(ps->declared, key) && !strv_contains(cf->unused_build_args, key))
      strv_push(&cf->unused_build_args, TAKE_PTR(key));
  }
  return 0;
}

int bothy_containerfile_parse(const char *data, size_t size, const struct bothy_cf_options *opts,
                              struct bothy_containerfile **ret_cf, bothy_error_t *err)
{
  struct parser ps = {
    .filename = opts && opts->filename ? opts->filename : "Containerfile",
    .escape = '\\',
    .opts = opts,
    .err = err,
  };
  bothy_error_t local = NULL;
  if (!err)
    ps.err = &local; /* messages are built from the error set below */
  struct node *nodes = NULL;
  size_t n_nodes = 0;
  int r;

  ps.cf = xcalloc(1, sizeof(*ps.cf));
  if (memchr(data, '\0', size)) {
    r = fail(&ps, 0, "contains a NUL byte");
    goto out;
  }
  r = read_nodes(&ps, data, size, &nodes, &n_nodes);
  if (r < 0)
    goto out;
  ps.cf->escape = ps.escape;
  if (!n_nodes) {
    r = fail(&ps, 0, "file with no instructions");
    goto out;
  }
  for (size_t i = 0; opts && opts->builtin_args && opts->builtin_args[i]; i++)
    if (strchr(opts->builtin_args[i], '='))
      strv_env_set(&ps.global_env, opts->builtin_args[i]);

  for (size_t i = 0; i < n_nodes; i++) {
    struct node *n = &nodes[i];
    if (n->kind == BOTHY_CF_FROM) {
      r = start_stage(&ps, n);
      if (r < 0)
        goto out;
      continue;
    }
    if (ps.cf->n_stages == 0 && n->kind != BOTHY_CF_ARG) {
      r = fail(&ps, n->line, "%s: no build stage in current context (only ARG may come first)",
               n->name);
      goto out;
    }
    if (ps.cf->n_stages == 0) {
      /* A global ARG: its scope is the FROM lines (and bare ARGs in stages). */
      struct bothy_cf_instr in = { 0 };
      ps.stage_args = TAKE_PTR(ps.global_env);
      r = build_instr(&ps, n, false, &in);
      ps.global_env = TAKE_PTR(ps.stage_args);
      for (size_t k = 0; r >= 0 && k < in.n_kv; k++) {
        struct bothy_cf_kv *kv = GROW(ps.cf->global_args, ps.cf->n_global_args);
        kv->key = TAKE_PTR(in.kv[k].key);
        kv->value = TAKE_PTR(in.kv[k].value);
      }
      instr_done(&in);
      if (r < 0)
        goto out;
      continue;
    }
    struct bothy_cf_stage *st = &ps.cf->stages[ps.cf->n_stages - 1];
    struct bothy_cf_instr *in = GROW(st->instrs, st->n_instrs);
    r = build_instr(&ps, n, false, in);
    if (r < 0)
      goto out;
  }
  if (!ps.cf->n_stages) {
    r = fail(&ps, 0, "dockerfile contains no stages to build");
    goto out;
  }
  end_stage(&ps);
  r = finish(&ps);
  if (r < 0)
    goto out;
  *ret_cf = TAKE_PTR(ps.cf);
  r = 0;
out:
  for (size_t i = 0; i < n_nodes; i++)
    node_done(&nodes[i]);
  free(nodes);
  for (size_t i = 0; ps.final_args && i < ps.n_final_args; i++)
    strv_free(ps.final_args[i]);
  free(ps.final_args);
  strv_free(ps.global_env);
  strv_free(ps.declared);
  strv_free(ps.stage_env);
  strv_free(ps.stage_args);
  bothy_containerfile_free(ps.cf);
  bothy_error_free(&local);
  return r;
}

struct bothy_containerfile *bothy_containerfile_free(struct bothy_containerfile *cf)
{
  if (!cf)
    return NULL;
  free(cf->syntax);
  for (size_t i = 0; i < cf->n_global_args; i++) {
    free(cf->global_args[i].key);
    free(cf->global_args[i].value);
  }
  free(cf->global_args);
  for (size_t s = 0; s < cf->n_stages; s++) {
    struct bothy_cf_stage *st = &cf->stages[s];
    free(st->name);
    free(st->base);
    free(st->platform);
    free(st->text);
    for (size_t i = 0; i < st->n_instrs; i++)
      instr_done(&st->instrs[i]);
    free(st->instrs);
    strv_free(st->env);
  }
  free(cf->stages);
  strv_free(cf->unused_build_args);
  free(cf);
  return NULL;
}

int bothy_containerfile_target(const struct bothy_containerfile *cf, const char *target,
                               bool **ret_needed, bothy_error_t *err)
{
  ssize_t t = (ssize_t) cf->n_stages - 1;
  if (target) {
    t = find_stage(cf, cf->n_stages, target);
    if (t < 0)
      return invalid(err, "target stage \"%s\" could not be found", target);
  }
  bool *needed = xcalloc(cf->n_stages ? cf->n_stages : 1, sizeof(bool));
  _cleanup_free_ bool *deps = xcalloc(cf->n_stages ? cf->n_stages : 1, sizeof(bool));
  needed[t] = true;
  /* Dependencies may point forwards (COPY --from a later stage), so iterate
   * to a fixed point; the parser has ruled out cycles. */
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t s = 0; s < cf->n_stages; s++) {
      if (!needed[s])
        continue;
      stage_deps(cf, s, deps);
      for (size_t d = 0; d < cf->n_stages; d++)
        if (deps[d] && !needed[d])
          needed[d] = changed = true;
    }
  }
  *ret_needed = needed;
  return (int) t;
}
