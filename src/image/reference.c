/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/reference.h"

#include <string.h>

#include "base/digest.h"
#include "base/xalloc.h"

/* distribution/reference: tags are at most 128 characters. */
#define TAG_MAX 128

#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX  "library/"

static bool is_lower_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*, on [p, end). */
static bool path_component_valid(const char *p, const char *end)
{
  for (;;) {
    if (p >= end || !is_lower_alnum(*p))
      return false;
    while (p < end && is_lower_alnum(*p))
      p++;
    if (p == end)
      return true;
    if (*p == '.')
      p++;
    else if (*p == '_')
      p += (p + 1 < end && p[1] == '_') ? 2 : 1;
    else if (*p == '-')
      while (p < end && *p == '-')
        p++;
    else
      return false;
  }
}

/* Path components separated by '/'. */
static bool path_valid(const char *path)
{
  for (;;) {
    const char *slash = strchr(path, '/');
    const char *end = slash ? slash : path + strlen(path);
    if (!path_component_valid(path, end))
      return false;
    if (!slash)
      return true;
    path = slash + 1;
  }
}

/* Host name component: [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?, on [p, end). */
static bool domain_component_valid(const char *p, const char *end)
{
  if (p >= end || !is_alnum(*p) || !is_alnum(end[-1]))
    return false;
  for (; p < end; p++)
    if (!is_alnum(*p) && *p != '-')
      return false;
  return true;
}

/* host [":" port]; host is a dotted host name or "[" IPv6 "]" (distribution's
 * grammar checks only the characters of the address, and so do we). */
static bool domain_valid(const char *d)
{
  const char *p = d, *port = NULL;
  if (*p == '[') {
    const char *close = strchr(p, ']');
    if (!close || close == p + 1)
      return false;
    for (const char *q = p + 1; q < close; q++)
      if (!is_hex(*q) && *q != ':')
        return false;
    if (close[1] != '\0' && close[1] != ':')
      return false;
    port = close[1] == ':' ? close + 2 : NULL;
  } else {
    const char *colon = strchr(p, ':');
    const char *hend = colon ? colon : p + strlen(p);
    for (;;) {
      const char *dot = memchr(p, '.', (size_t) (hend - p));
      if (!domain_component_valid(p, dot ? dot : hend))
        return false;
      if (!dot)
        break;
      p = dot + 1;
    }
    port = colon ? colon + 1 : NULL;
  }
  if (port && (*port == '\0' || strspn(port, "0123456789") != strlen(port)))
    return false;
  return true;
}

/* [\w][\w.-]{0,127} */
static bool tag_valid(const char *tag)
{
  size_t n = strlen(tag);
  if (n == 0 || n > TAG_MAX || !(is_alnum(tag[0]) || tag[0] == '_'))
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_alnum(tag[i]) && !strchr("_.-", tag[i]))
      return false;
  return true;
}

static bool is_identifier(const char *s)
{
  return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

struct bothy_reference *bothy_reference_free(struct bothy_reference *ref)
{
  if (!ref)
    return NULL;
  free(ref->domain);
  free(ref->path);
  free(ref->tag);
  free(ref->digest);
  free(ref);
  return NULL;
}

int bothy_reference_parse(const char *s, struct bothy_reference **ret, bothy_error_t *err)
{
  if (!s)
    s = "";
  /* An image id; docker refuses it so that it is never pulled as a name. */
  if (is_identifier(s))
    return bothy_error_set(err, 0,
                           "invalid reference '%s': invalid repository name, cannot specify "
                           "64-byte hexadecimal strings",
                           s);

  _cleanup_reference_ struct bothy_reference *ref = xmalloc0(sizeof(*ref));
  _cleanup_free_ char *name = NULL;

  /* Names and tags never contain '@', so the digest is after the first one. */
  const char *at = strchr(s, '@');
  if (at) {
    ref->digest = xstrdup(at + 1);
    name = xstrndup(s, (size_t) (at - s));
    if (bothy_digest_validate(ref->digest, err) < 0)
      return bothy_error_prefix(err, "invalid reference '%s': invalid digest format", s);
  } else
    name = xstrdup(s);

  /* The tag is after the last ':' that follows the last '/' (a ':' before a
   * '/' belongs to a domain's port). */
  char *slash = strrchr(name, '/');
  char *colon = strrchr(slash ? slash : name, ':');
  if (colon) {
    *colon = '\0';
    ref->tag = xstrdup(colon + 1);
    if (!tag_valid(ref->tag))
      return bothy_error_set(err, 0, "invalid reference '%s': invalid tag format", s);
  }

  /* normalize.go's splitDockerDomain(). */
  const char *remainder = name;
  slash = strchr(name, '/');
  if (slash) {
    *slash = '\0';
    if (strpbrk(name, ".:") || streq(name, "localhost")) {
      if (!domain_valid(name))
        return bothy_error_set(err, 0,
                               "invalid reference '%s': invalid reference format: invalid "
                               "registry '%s'",
                               s, name);
      ref->domain = xstrdup(name);
      remainder = slash + 1;
    } else
      *slash = '/';
  }
  if (!ref->domain || streq(ref->domain, LEGACY_DEFAULT_DOMAIN)) {
    free(ref->domain);
    ref->domain = xstrdup(BOTHY_REFERENCE_DEFAULT_DOMAIN);
  }
  if (streq(ref->domain, BOTHY_REFERENCE_DEFAULT_DOMAIN) && !strchr(remainder, '/'))
    ref->path = xasprintf(OFFICIAL_REPO_PREFIX "%s", remainder);
  else
    ref->path = xstrdup(remainder);

  /* docker checks case first, so "Busybox" gets the helpful message. */
  for (const char *p = remainder; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      return bothy_error_set(err, 0,
                             "invalid reference '%s': invalid reference format: repository "
                             "name must be lowercase",
                             s);
  if (!path_valid(remainder))
    return bothy_error_set(err, 0, "invalid reference '%s': invalid reference format", s);
  if (strlen(ref->domain) + 1 + strlen(ref->path) > BOTHY_REFERENCE_NAME_MAX)
    return bothy_error_set(err, 0,
                           "invalid reference '%s': repository name must not be more than %d "
                           "characters",
                           s, BOTHY_REFERENCE_NAME_MAX);

  if (!ref->tag && !ref->digest)
    ref->tag = xstrdup(BOTHY_REFERENCE_DEFAULT_TAG);
  *ret = TAKE_PTR(ref);
  return 0;
}

struct bothy_reference *bothy_reference_copy(const struct bothy_reference *ref)
{
  if (!ref)
    return NULL;
  struct bothy_reference *c = xmalloc0(sizeof(*c));
  c->domain = xstrdup(ref->domain);
  c->path = xstrdup(ref->path);
  c->tag = xstrdup(ref->tag);
  c->digest = xstrdup(ref->digest);
  return c;
}

int bothy_reference_with_tag(const struct bothy_reference *ref, const char *tag,
                             struct bothy_reference **ret, bothy_error_t *err)
{
  if (!tag || !tag_valid(tag))
    return bothy_error_set(err, 0, "invalid tag '%s': invalid tag format", tag ? tag : "");
  struct bothy_reference *c = bothy_reference_copy(ref);
  free(c->tag);
  c->tag = xstrdup(tag);
  *ret = c;
  return 0;
}

static char *format(const char *domain, const char *path, const struct bothy_reference *ref)
{
  return xasprintf("%s%s%s%s%s%s%s", domain ? domain : "", domain ? "/" : "", path,
                   ref->tag ? ":" : "", ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                   ref->digest ? ref->digest : "");
}

char *bothy_reference_string(const struct bothy_reference *ref)
{
  return format(ref->domain, ref->path, ref);
}

char *bothy_reference_familiar(const struct bothy_reference *ref)
{
  /* normalize.go's familiarizeName(). */
  if (!streq(ref->domain, BOTHY_REFERENCE_DEFAULT_DOMAIN))
    return format(ref->domain, ref->path, ref);
  const char *path = ref->path;
  size_t plen = strlen(OFFICIAL_REPO_PREFIX);
  if (strncmp(path, OFFICIAL_REPO_PREFIX, plen) == 0 && !strchr(path + plen, '/'))
    path += plen;
  /* Unlike docker, keep the domain when dropping it would make the first
   * component read as one ("docker.io/localhost/app", "docker.io/a.b/c"), so
   * that the familiar form parses back to the same reference. */
  const char *slash = strchr(path, '/');
  if (slash) {
    _cleanup_free_ char *first = xstrndup(path, (size_t) (slash - path));
    if (strpbrk(first, ".:") || streq(first, "localhost"))
      return format(ref->domain, ref->path, ref);
  }
  return format(/* domain= */ NULL, path, ref);
}

char *bothy_reference_repository(const struct bothy_reference *ref)
{
  return xasprintf("%s/%s", ref->domain, ref->path);
}
