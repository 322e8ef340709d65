/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The registry client: Docker Registry HTTP API v2 / OCI distribution spec.
 *
 * Every request is a `struct xfer`: prepare() sets up its CURL handle, the
 * handle is run (curl_easy_perform here, or a multi handle for blob
 * downloads), and done() reads the outcome: success, an error, or "run again"
 * after a token fetch or a retryable failure. The blob transfer API is the
 * same object made public. */
#include "image/registry.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/digest.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/dl-curl.h" /* last: redirects the library calls */

const char *const bothy_registry_default_accept[] = {
  BOTHY_REGISTRY_MEDIA_OCI_INDEX,
  BOTHY_REGISTRY_MEDIA_OCI_MANIFEST,
  BOTHY_REGISTRY_MEDIA_DOCKER_LIST,
  BOTHY_REGISTRY_MEDIA_DOCKER_MANIFEST,
  NULL,
};

#define ERROR_BODY_MAX     (64u * 1024)
#define BACKOFF_FIRST_MS   250u
#define BACKOFF_MAX_MS     8000u
#define TOKEN_DEFAULT_TTL  60 /* seconds; distribution's token spec */
#define TOKEN_EXPIRY_SLACK 5

struct token {
  char *scope;
  char *value;
  time_t expires; /* CLOCK_MONOTONIC seconds */
};

struct bothy_registry {
  char *name;   /* as the caller named it, for messages */
  char *origin; /* "https://registry-1.docker.io" */
  bool insecure;
  bool skip_verify;
  char *ca_file;
  char *username;
  char *password;
  int retries;
  CURLSH *share; /* connection and DNS cache shared by all transfers */
  /* What the registry asked for when it said 401. */
  bool basic;
  char *realm;
  char *service;
  struct token *tokens;
  size_t n_tokens;
};

struct xfer {
  struct bothy_registry *reg;
  CURL *curl;
  struct curl_slist *hdrs;
  char errbuf[CURL_ERROR_SIZE];

  /* The request. */
  const char *method;
  char *url;
  char *scope;        /* space-separated token scopes; NULL: no registry auth */
  char *auth_name;    /* "HOST/REPO", for authentication messages */
  char *what;         /* "pulling manifest 'x:y' from 'h'" */
  char **headers;     /* extra request headers */
  bool follow;        /* follow redirects (GET, HEAD) */
  bool token_request; /* to a token realm: Basic credentials up front */
  long ok[3];         /* statuses that mean success */
  int max_retries;
  const char *mem; /* request body in memory, or */
  int fd;          /* from fd at fd_off (pread) */
  uint64_t fd_off;
  uint64_t body_len;
  uint64_t body_pos;

  /* Limits and checks on a 2xx response body. */
  uint64_t max_len;           /* 0: none */
  int64_t expected_size;      /* -1: unknown */
  char *expected_digest;      /* NULL: none */
  bothy_registry_sink_t sink; /* NULL: buffer the body in buf */
  void *sink_data;

  /* The response (of the last request in a redirect chain). */
  long status;
  char *reason;
  char *content_type;
  char *docker_digest;
  char *location;
  char *retry_after;
  char **www_auth;
  int64_t content_length;
  char *buf;
  size_t len, cap;
  char *ebuf; /* a non-2xx body, capped at ERROR_BODY_MAX */
  size_t elen, ecap;
  struct bothy_digester *digester;
  uint64_t received; /* 2xx body bytes */
  char digest[BOTHY_DIGEST_MAX];
  bothy_error_t cb_err; /* set by a callback that aborted the transfer */

  int attempt;
  bool fresh_token;
  bool basic_tried;
};

struct bothy_registry_transfer {
  struct xfer *x;
};

/* Replaces the code of the error just set (by a helper whose code is not the
 * one this module documents). */
static int recode(bothy_error_t *err, int code)
{
  if (err && *err)
    (*err)->code = code;
  return -code;
}

static time_t now_monotonic(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

static bool starts_with(const char *s, const char *prefix)
{
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* RFC 3986 unreserved characters stay; everything else is %XX. */
static char *url_escape(const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = xmalloc(n * 3 + 1), *p = out;
  for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        strchr("-._~", *c)) {
      *p++ = (char) *c;
    } else {
      *p++ = '%';
      *p++ = hex[*c >> 4];
      *p++ = hex[*c & 15];
    }
  }
  *p = '\0';
  return out;
}

/* Server-sent text that ends up in an error message: printable ASCII only,
 * and not too long. */
static char *sanitise(const char *s, size_t max)
{
  size_t n = strnlen(s, max);
  char *out = xstrndup(s, n);
  for (char *p = out; *p; p++)
    if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
      *p = '?';
  return out;
}

/* ---- validation ------------------------------------------------------- */

/* distribution's path grammar is stricter; this only keeps what goes into a
 * URL path to characters that cannot change its meaning. */
static int check_repo(const char *repo, bothy_error_t *err)
{
  if (!repo || !*repo || repo[0] == '/' || repo[strlen(repo) - 1] == '/' || strstr(repo, "//") ||
      strstr(repo, "..") ||
      strspn(repo, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != strlen(repo))
    return bothy_error_set_code(err, EINVAL, "invalid repository name '%s'", repo ? repo : "");
  return 0;
}

static bool is_digest_ref(const char *reference)
{
  return strchr(reference, ':') != NULL;
}

static int check_reference(const char *reference, bothy_error_t *err)
{
  if (!reference || !*reference)
    return bothy_error_set_code(err, EINVAL, "missing tag or digest");
  if (is_digest_ref(reference)) {
    if (bothy_digest_validate(reference, err) < 0)
      return recode(err, EINVAL);
    return 0;
  }
  /* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
  size_t n = strlen(reference);
  if (n > 128 || reference[0] == '.' || reference[0] == '-' ||
      strspn(reference, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
    return bothy_error_set_code(err, EINVAL, "invalid tag '%s'", reference);
  return 0;
}

/* Digests bothy can check itself (digest.h computes sha256). */
static int check_verifiable_digest(const char *digest, bothy_error_t *err)
{
  if (bothy_digest_validate(digest, err) < 0)
    return recode(err, EINVAL);
  if (!starts_with(digest, "sha256:"))
    return bothy_error_set_code(err, EINVAL, "cannot verify digest '%s': only sha256 is supported",
                                digest);
  return 0;
}

/* ---- the client ------------------------------------------------------- */

int bothy_registry_new(const struct bothy_registry_opts *opts, struct bothy_registry **ret,
                       bothy_error_t *err)
{
  if (!opts || !opts->host || !*opts->host)
    return bothy_error_set_code(err, EINVAL, "creating a registry client: no registry host given");
  if (strpbrk(opts->host, "/?#@ \t\r\n"))
    return bothy_error_set_code(err, EINVAL, "invalid registry host '%s'", opts->host);

  if (bothy_dlopen_curl(err) < 0)
    return -1;
  /* curl_global_init() is reference-counted; no threads here, so calling it
   * per client is safe. */
  CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    return bothy_error_set_code(err, EIO, "initialising libcurl: %s", curl_easy_strerror(rc));

  struct bothy_registry *reg = xmalloc0(sizeof(*reg));
  reg->name = xstrdup(opts->host);
  const char *api = opts->host;
  /* Docker Hub's API is not served on its name (containers/image does the
   * same mapping). */
  if (streq(api, "docker.io") || streq(api, "index.docker.io"))
    api = "registry-1.docker.io";
  reg->origin = xasprintf("%s://%s", opts->insecure ? "http" : "https", api);
  reg->insecure = opts->insecure;
  reg->skip_verify = opts->tls_skip_verify;
  reg->ca_file = xstrdup(opts->ca_file);
  reg->username = xstrdup(opts->username);
  reg->password = xstrdup(opts->password ? opts->password : (opts->username ? "" : NULL));
  reg->retries = opts->retries > 0 ? opts->retries : 0;
  reg->share = curl_share_init();
  if (reg->share) {
    curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(reg->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  }
  *ret = reg;
  return 0;
}

struct bothy_registry *bothy_registry_free(struct bothy_registry *reg)
{
  if (!reg)
    return NULL;
  for (size_t i = 0; i < reg->n_tokens; i++) {
    free(reg->tokens[i].scope);
    if (reg->tokens[i].value)
      explicit_bzero(reg->tokens[i].value, strlen(reg->tokens[i].value));
    free(reg->tokens[i].value);
  }
  free(reg->tokens);
  if (reg->password)
    explicit_bzero(reg->password, strlen(reg->password));
  free(reg->password);
  free(reg->username);
  free(reg->ca_file);
  free(reg->realm);
  free(reg->service);
  free(reg->origin);
  free(reg->name);
  if (reg->share)
    curl_share_cleanup(reg->share);
  free(reg);
  curl_global_cleanup();
  return NULL;
}

static const char *token_lookup(struct bothy_registry *reg, const char *scope)
{
  time_t now = now_monotonic();
  for (size_t i = 0; i < reg->n_tokens; i++)
    if (streq(reg->tokens[i].scope, scope))
      return reg->tokens[i].expires > now ? reg->tokens[i].value : NULL;
  return NULL;
}

static void token_store(struct bothy_registry *reg, const char *scope, const char *value,
                        int64_t ttl)
{
  struct token *t = NULL;
  for (size_t i = 0; i < reg->n_tokens && !t; i++)
    if (streq(reg->tokens[i].scope, scope))
      t = &reg->tokens[i];
  if (!t) {
    reg->tokens = xrealloc(reg->tokens, (reg->n_tokens + 1) * sizeof(*reg->tokens));
    t = &reg->tokens[reg->n_tokens++];
    t->scope = xstrdup(scope);
    t->value = NULL;
  }
  free(t->value);
  t->value = xstrdup(value);
  t->expires = now_monotonic() + (time_t) ttl - TOKEN_EXPIRY_SLACK;
}

static void token_forget(struct bothy_registry *reg, const char *scope)
{
  for (size_t i = 0; i < reg->n_tokens; i++)
    if (streq(reg->tokens[i].scope, scope))
      reg->tokens[i].expires = 0;
}

/* ---- transfers -------------------------------------------------------- */

static struct xfer *xfer_free(struct xfer *x)
{
  if (!x)
    return NULL;
  if (x->curl)
    curl_easy_cleanup(x->curl);
  curl_slist_free_all(x->hdrs);
  free(x->url);
  free(x->scope);
  free(x->auth_name);
  free(x->what);
  strv_free(x->headers);
  free(x->expected_digest);
  free(x->reason);
  free(x->content_type);
  free(x->docker_digest);
  free(x->location);
  free(x->retry_after);
  strv_free(x->www_auth);
  free(x->buf);
  free(x->ebuf);
  bothy_digester_free(x->digester);
  bothy_error_free(&x->cb_err);
  free(x);
  return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct xfer *, xfer_free)
#define _cleanup_xfer_ _cleanup_(xfer_freep)

/* method: GET, HEAD, POST (without a body), PUT, PATCH, DELETE. url is taken. */
static struct xfer *xfer_new(struct bothy_registry *reg, const char *method, char *url,
                             const char *scope, const char *auth_name, const char *what)
{
  struct xfer *x = xmalloc0(sizeof(*x));
  x->reg = reg;
  x->method = method;
  x->url = url;
  x->scope = xstrdup(scope);
  x->auth_name = xstrdup(auth_name);
  x->what = xstrdup(what);
  x->follow = streq(method, "GET") || streq(method, "HEAD");
  x->ok[0] = 200;
  x->max_retries = reg->retries;
  x->fd = -1;
  x->expected_size = -1;
  x->content_length = -1;
  return x;
}

static void xfer_set_ok(struct xfer *x, long a, long b, long c)
{
  x->ok[0] = a;
  x->ok[1] = b;
  x->ok[2] = c;
}

static bool xfer_is_ok(const struct xfer *x)
{
  for (size_t i = 0; i < ARRAY_SIZE(x->ok); i++)
    if (x->ok[i] && x->ok[i] == x->status)
      return true;
  return false;
}

static bool status_2xx(long status)
{
  return status >= 200 && status < 300;
}

static void xfer_reset_response(struct xfer *x)
{
  x->status = 0;
  x->reason = (free(x->reason), NULL);
  x->content_type = (free(x->content_type), NULL);
  x->docker_digest = (free(x->docker_digest), NULL);
  x->location = (free(x->location), NULL);
  x->retry_after = (free(x->retry_after), NULL);
  x->www_auth = strv_free(x->www_auth);
  x->content_length = -1;
}

static char *trim(const char *s, size_t n)
{
  while (n > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    n--;
  }
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    n--;
  return xstrndup(s, n);
}

static void replace(char **field, char *value)
{
  free(*field);
  *field = value;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
  struct xfer *x = userdata;
  size_t n = size * nitems;

  /* A status line starts a new response: a redirect, or "100 Continue". */
  if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
    xfer_reset_response(x);
    _cleanup_free_ char *line = trim(buf, n);
    char *sp = strchr(line, ' ');
    if (sp) {
      char *end = NULL;
      errno = 0;
      long status = strtol(sp + 1, &end, 10);
      if (errno == 0 && end != sp + 1 && status >= 100 && status <= 999) {
        x->status = status;
        x->reason = trim(end, strlen(end));
      }
    }
    return n;
  }

  const char *colon = memchr(buf, ':', n);
  if (!colon)
    return n;
  size_t name_len = (size_t) (colon - buf);
  char *value = trim(colon + 1, n - name_len - 1);
#define IS(h) (name_len == strlen(h) && strncasecmp(buf, h, name_len) == 0)
  if (IS("Content-Type"))
    replace(&x->content_type, value);
  else if (IS("Docker-Content-Digest"))
    replace(&x->docker_digest, value);
  else if (IS("Location"))
    replace(&x->location, value);
  else if (IS("Retry-After"))
    replace(&x->retry_after, value);
  else if (IS("WWW-Authenticate"))
    strv_push(&x->www_auth, value);
  else {
    if (IS("Content-Length")) {
      char *end = NULL;
      errno = 0;
      long long len = strtoll(value, &end, 10);
      if (errno == 0 && end != value && *end == '\0' && len >= 0)
        x->content_length = len;
    }
    free(value);
  }
#undef IS

  /* Refuse an oversized body before it arrives. */
  if (status_2xx(x->status) && !streq(x->method, "HEAD") && x->content_length >= 0 &&
      ((x->max_len && (uint64_t) x->content_length > x->max_len) ||
       (x->expected_size >= 0 && x->content_length > x->expected_size))) {
    if (x->expected_size >= 0)
      bothy_error_set_code(&x->cb_err, EBADMSG,
                           "the server announced %" PRId64 " bytes, expected %" PRId64 " bytes",
                           x->content_length, x->expected_size);
    else
      bothy_error_set_code(&x->cb_err, EFBIG,
                           "the server announced %" PRId64 " bytes, more than the %" PRIu64
                           " allowed",
                           x->content_length, x->max_len);
    return 0;
  }
  return n;
}

static void append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
  if (*len + n + 1 > *cap) {
    size_t want = *cap ? *cap : 4096;
    while (want < *len + n + 1)
      want *= 2;
    *buf = xrealloc(*buf, want);
    *cap = want;
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct xfer *x = userdata;
  size_t n = size * nmemb;

  if (!status_2xx(x->status)) {
    /* An error document: keep the start of it for the message. */
    size_t room = x->elen < ERROR_BODY_MAX ? ERROR_BODY_MAX - x->elen : 0;
    if (room)
      append(&x->ebuf, &x->elen, &x->ecap, ptr, n < room ? n : room);
    return n;
  }

  if (x->expected_size >= 0 && x->received + n > (uint64_t) x->expected_size) {
    bothy_error_set_code(&x->cb_err, EBADMSG,
                         "the server sent more than the expected %" PRId64 " bytes",
                         x->expected_size);
    return 0;
  }
  if (x->max_len && x->received + n > x->max_len) {
    bothy_error_set_code(&x->cb_err, EFBIG,
                         "the response is larger than the %" PRIu64 " bytes allowed", x->max_len);
    return 0;
  }
  bothy_digester_update(x->digester, ptr, n);
  if (x->sink) {
    if (x->sink(x->sink_data, ptr, n, &x->cb_err) < 0) {
      if (!x->cb_err)
        bothy_error_set_code(&x->cb_err, EIO, "the sink failed");
      return 0;
    }
  } else {
    append(&x->buf, &x->len, &x->cap, ptr, n);
  }
  x->received += n;
  return n;
}

static size_t on_read(char *buffer, size_t size, size_t nitems, void *userdata)
{
  struct xfer *x = userdata;
  size_t want = size * nitems;
  uint64_t left = x->body_len - x->body_pos;
  if (want > left)
    want = (size_t) left;
  if (want == 0)
    return 0;
  if (x->mem) {
    memcpy(buffer, x->mem + x->body_pos, want);
  } else {
    ssize_t r;
    do
      r = pread(x->fd, buffer, want, (off_t) (x->fd_off + x->body_pos));
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
      if (r < 0)
        bothy_error_errno(&x->cb_err, "reading the blob at offset %" PRIu64,
                          x->fd_off + x->body_pos);
      else
        bothy_error_set_code(&x->cb_err, EIO,
                             "the blob file ended at offset %" PRIu64 ", before its size",
                             x->fd_off + x->body_pos);
      return CURL_READFUNC_ABORT;
    }
    want = (size_t) r;
  }
  x->body_pos += want;
  return want;
}

static int on_seek(void *userdata, curl_off_t offset, int origin)
{
  struct xfer *x = userdata;
  if (origin != SEEK_SET || offset < 0 || (uint64_t) offset > x->body_len)
    return CURL_SEEKFUNC_CANTSEEK;
  x->body_pos = (uint64_t) offset;
  return CURL_SEEKFUNC_OK;
}

static bool same_origin(const struct bothy_registry *reg, const char *url)
{
  size_t n = strlen(reg->origin);
  return strncmp(url, reg->origin, n) == 0 && (url[n] == '/' || url[n] == '\0');
}

static int fetch_token(struct bothy_registry *reg, const char *scope, const char *auth_name,
                       const char *what, bothy_error_t *err);

static int xfer_prepare(struct xfer *x, bothy_error_t *err)
{
  struct bothy_registry *reg = x->reg;

  if (!x->curl) {
    x->curl = curl_easy_init();
    if (!x->curl)
      return bothy_error_set_code(err, ENOMEM, "%s: cannot create a curl handle", x->what);
  } else {
    curl_easy_reset(x->curl);
  }
  CURL *c = x->curl;
  xfer_reset_response(x);
  x->len = 0;
  x->elen = 0;
  x->received = 0;
  x->body_pos = 0;
  bothy_error_free(&x->cb_err);
  bothy_digester_free(x->digester);
  x->digester = bothy_digester_new();
  curl_slist_free_all(x->hdrs);
  x->hdrs = NULL;

  /* Authorization for the registry (never for another origin, such as an
   * upload location elsewhere). A token is fetched ahead when the registry
   * has already told us where to get one. */
  const char *token = NULL;
  bool basic = false;
  if (x->token_request) {
    basic = reg->username != NULL;
  } else if (x->scope && same_origin(reg, x->url)) {
    token = token_lookup(reg, x->scope);
    if (!token && reg->realm && !x->fresh_token) {
      int r = fetch_token(reg, x->scope, x->auth_name, x->what, err);
      if (r < 0)
        return r;
      x->fresh_token = true;
      token = token_lookup(reg, x->scope);
    }
    if (!token && reg->basic && reg->username)
      basic = true;
  }

  curl_easy_setopt(c, CURLOPT_URL, x->url);
  if (reg->share)
    curl_easy_setopt(c, CURLOPT_SHARE, reg->share);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf);
  x->errbuf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "bothy");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, reg->insecure ? "http,https" : "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, x->follow ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  /* Security: credentials and the Authorization header must not follow a
   * redirect to another host (object storage behind a presigned URL). This
   * is curl's default since 7.58; said explicitly because it matters. */
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  /* A stalled transfer (less than 1 byte/s for a minute) fails and may be
   * retried; there is no overall timeout, blobs can be large. */
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, reg->skip_verify ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, reg->skip_verify ? 0L : 2L);
  if (reg->ca_file)
    curl_easy_setopt(c, CURLOPT_CAINFO, reg->ca_file);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  /* Blobs: the sink (a file write and a pipe write per call) gets up to
   * 512 KiB at a time instead of curl's default 16 KiB. */
  if (x->sink)
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);

  if (streq(x->method, "HEAD")) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (streq(x->method, "POST")) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
  } else if (streq(x->method, "PUT") || streq(x->method, "PATCH")) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->body_len);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, x);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
    if (streq(x->method, "PATCH"))
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
  } else if (streq(x->method, "DELETE")) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }

  for (char **h = x->headers; h && *h; h++)
    x->hdrs = curl_slist_append(x->hdrs, *h);
  /* No "Expect: 100-continue" round trip before uploads. */
  x->hdrs = curl_slist_append(x->hdrs, "Expect:");
  if (token) {
    _cleanup_free_ char *h = xasprintf("Authorization: Bearer %s", token);
    x->hdrs = curl_slist_append(x->hdrs, h);
    explicit_bzero(h, strlen(h));
  } else if (basic) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, reg->username);
    curl_easy_setopt(c, CURLOPT_PASSWORD, reg->password);
  }
  if (!x->hdrs)
    return bothy_error_set_code(err, ENOMEM, "%s: cannot build the request headers", x->what);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
  log_debug("registry: %s %s", x->method, x->url);
  return 0;
}

/* ---- responses -------------------------------------------------------- */

static const char *status_text(long status)
{
  static const struct {
    long status;
    const char *text;
  } table[] = {
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 204, "No Content" },
    { 307, "Temporary Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 413, "Payload Too Large" },
    { 416, "Range Not Satisfiable" },
    { 429, "Too Many Requests" },
    { 500, "Internal Server Error" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(table); i++)
    if (table[i].status == status)
      return table[i].text;
  return NULL;
}

/* "404 Not Found (MANIFEST_UNKNOWN: manifest unknown)": the status and the
 * registry's errors document (spec: "errors": [{code, message, detail}]). */
static char *describe_status(const struct xfer *x)
{
  const char *text = status_text(x->status);
  _cleanup_free_ char *reason = NULL;
  if (!text && x->reason && *x->reason)
    text = reason = sanitise(x->reason, 80);
  char *s = text ? xasprintf("%ld %s", x->status, text) : xasprintf("%ld", x->status);

  _cleanup_json_ json_t *doc = x->ebuf ? json_loadb(x->ebuf, x->elen, 0, NULL) : NULL;
  json_t *errors = doc ? json_object_get(doc, "errors") : NULL;
  if (!json_is_array(errors) || json_array_size(errors) == 0)
    return s;
  _cleanup_free_ char *details = NULL;
  size_t i;
  json_t *e;
  json_array_foreach (errors, i, e) {
    if (i >= 5)
      break;
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!code && !msg)
      continue;
    _cleanup_free_ char *c = sanitise(code ? code : "?", 64);
    _cleanup_free_ char *m = msg ? sanitise(msg, 200) : NULL;
    char *one = m ? xasprintf("%s: %s", c, m) : xstrdup(c);
    char *joined = details ? xasprintf("%s; %s", details, one) : xstrdup(one);
    free(one);
    replace(&details, joined);
  }
  if (!details)
    return s;
  char *full = xasprintf("%s (%s)", s, details);
  free(s);
  return full;
}

static int http_error(const struct xfer *x, bothy_error_t *err)
{
  _cleanup_free_ char *desc = describe_status(x);
  if (x->token_request) {
    _cleanup_free_ char *realm = xstrndup(x->url, strcspn(x->url, "?"));
    if (x->status == 401 || x->status == 403)
      return bothy_error_set_code(
          err, EACCES, "%s: authentication required for '%s': token server '%s' answered %s",
          x->what, x->auth_name, realm, desc);
    return bothy_error_set_code(err, status_2xx(x->status) ? EPROTO : EAGAIN,
                                "%s: fetching a token for '%s' from '%s': %s", x->what,
                                x->auth_name, realm, desc);
  }
  switch (x->status) {
  case 401:
    return bothy_error_set_code(err, EACCES, "%s: authentication required for '%s': %s", x->what,
                                x->auth_name, desc);
  case 403:
    return bothy_error_set_code(err, EPERM, "%s: access denied to '%s': %s", x->what, x->auth_name,
                                desc);
  case 404:
    return bothy_error_set_code(err, ENOENT, "%s: %s", x->what, desc);
  case 408:
  case 429:
    return bothy_error_set_code(err, EAGAIN, "%s: %s", x->what, desc);
  default:
    return bothy_error_set_code(err, x->status >= 500 ? EAGAIN : EPROTO, "%s: %s", x->what, desc);
  }
}

static bool curl_transient(CURLcode rc)
{
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
    return true;
  default:
    return false;
  }
}

static unsigned backoff_ms(int attempt)
{
  unsigned ms = BACKOFF_FIRST_MS;
  for (int i = 0; i < attempt && ms < BACKOFF_MAX_MS; i++)
    ms *= 2;
  return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3), capped. */
static unsigned retry_after_ms(const struct xfer *x, int attempt)
{
  if (!x->retry_after || !*x->retry_after)
    return backoff_ms(attempt);
  long long secs;
  char *end = NULL;
  errno = 0;
  secs = strtoll(x->retry_after, &end, 10);
  if (errno != 0 || end == x->retry_after || *end != '\0') {
    time_t when = curl_getdate(x->retry_after, NULL);
    if (when < 0)
      return backoff_ms(attempt);
    secs = (long long) (when - time(NULL));
  }
  if (secs < 0)
    secs = 0;
  if (secs > BOTHY_REGISTRY_RETRY_AFTER_MAX)
    secs = BOTHY_REGISTRY_RETRY_AFTER_MAX;
  return (unsigned) secs * 1000u;
}

/* A WWW-Authenticate challenge (RFC 9110 11.6.1, auth-param list). Fills the
 * realm/service of a Bearer challenge; returns the scheme seen: 'B' Bearer,
 * 'b' Basic, 0 other. */
static char parse_challenge(const char *h, char **ret_realm, char **ret_service)
{
  const char *p = h + strspn(h, " \t");
  size_t n = strcspn(p, " \t");
  char scheme = 0;
  if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
    scheme = 'B';
  else if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
    return 'b';
  else
    return 0;
  p += n;
  _cleanup_free_ char *realm = NULL, *service = NULL;
  while (*p) {
    p += strspn(p, " \t,");
    if (!*p)
      break;
    size_t klen = strcspn(p, "= \t,");
    const char *key = p;
    p += klen;
    p += strspn(p, " \t");
    if (*p != '=')
      break; /* not an auth-param: the start of another challenge */
    p++;
    p += strspn(p, " \t");
    _cleanup_free_ char *val = NULL;
    if (*p == '"') {
      p++;
      size_t cap = strlen(p) + 1, len = 0;
      val = xmalloc(cap);
      while (*p && *p != '"') {
        if (*p == '\\' && p[1])
          p++;
        val[len++] = *p++;
      }
      val[len] = '\0';
      if (*p == '"')
        p++;
    } else {
      size_t vlen = strcspn(p, " \t,");
      val = xstrndup(p, vlen);
      p += vlen;
    }
    if (klen == 5 && strncasecmp(key, "realm", 5) == 0)
      replace(&realm, TAKE_PTR(val));
    else if (klen == 7 && strncasecmp(key, "service", 7) == 0)
      replace(&service, TAKE_PTR(val));
  }
  if (!realm || !*realm)
    return 0;
  *ret_realm = TAKE_PTR(realm);
  *ret_service = TAKE_PTR(service);
  return scheme;
}

/* After a 401 from the registry: fetch a token or switch to Basic, as the
 * challenge asks. Returns 1 when the request should be made again, 0 when
 * nothing more can be done, negative with *err when the token fetch failed. */
static int xfer_answer_challenge(struct xfer *x, bothy_error_t *err)
{
  struct bothy_registry *reg = x->reg;
  bool basic = false;
  for (char **h = x->www_auth; h && *h; h++) {
    char *realm = NULL, *service = NULL;
    char scheme = parse_challenge(*h, &realm, &service);
    if (scheme == 'B') {
      replace(&reg->realm, realm);
      replace(&reg->service, service);
      if (x->fresh_token)
        return 0;
      token_forget(reg, x->scope);
      int r = fetch_token(reg, x->scope, x->auth_name, x->what, err);
      if (r < 0)
        return r;
      x->fresh_token = true;
      return 1;
    }
    if (scheme == 'b')
      basic = true;
  }
  if (basic && reg->username && !x->basic_tried) {
    reg->basic = true;
    x->basic_tried = true;
    return 1;
  }
  return 0;
}

static int xfer_done(struct xfer *x, CURLcode rc, unsigned *ret_delay_ms, bothy_error_t *err)
{
  int r;
  *ret_delay_ms = 0;

  if (x->cb_err) {
    int code = x->cb_err->code;
    if (!err)
      return code > 0 ? -code : -1;
    bothy_error_free(err);
    *err = TAKE_PTR(x->cb_err);
    return bothy_error_prefix(err, "%s", x->what);
  }

  if (rc != CURLE_OK) {
    bool transient = curl_transient(rc);
    if (transient && x->received == 0 && x->attempt < x->max_retries) {
      *ret_delay_ms = backoff_ms(x->attempt++);
      r = xfer_prepare(x, err);
      return r < 0 ? r : 1;
    }
    return bothy_error_set_code(err, transient ? EAGAIN : EIO, "%s: %s", x->what,
                                x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
  }

  if (x->status == 401 && x->scope && !x->token_request) {
    r = xfer_answer_challenge(x, err);
    if (r < 0)
      return r;
    if (r > 0) {
      r = xfer_prepare(x, err);
      return r < 0 ? r : 1;
    }
    return http_error(x, err);
  }

  if (xfer_is_ok(x)) {
    if (!status_2xx(x->status))
      return 0; /* e.g. a HEAD's 404, which the caller reads */
    if (x->expected_size >= 0 && x->received != (uint64_t) x->expected_size)
      return bothy_error_set_code(err, EBADMSG, "%s: received %" PRIu64 " bytes, expected %" PRId64,
                                  x->what, x->received, x->expected_size);
    bothy_digester_final(x->digester, x->digest);
    if (x->expected_digest && !streq(x->digest, x->expected_digest))
      return bothy_error_set_code(err, EBADMSG,
                                  "%s: digest mismatch: the content received has digest '%s'",
                                  x->what, x->digest);
    return 0;
  }

  if ((x->status == 408 || x->status == 429 || x->status >= 500) && x->attempt < x->max_retries) {
    *ret_delay_ms = retry_after_ms(x, x->attempt);
    x->attempt++;
    r = xfer_prepare(x, err);
    return r < 0 ? r : 1;
  }
  return http_error(x, err);
}

static int xfer_run(struct xfer *x, bothy_error_t *err)
{
  int r = xfer_prepare(x, err);
  if (r < 0)
    return r;
  for (;;) {
    CURLcode rc = curl_easy_perform(x->curl);
    unsigned delay = 0;
    r = xfer_done(x, rc, &delay, err);
    if (r != 1)
      return r;
    if (delay)
      sleep_ms(delay);
  }
}

static int fetch_token(struct bothy_registry *reg, const char *scope, const char *auth_name,
                       const char *what, bothy_error_t *err)
{
  if (!starts_with(reg->realm, "https://") && !starts_with(reg->realm, "http://"))
    return bothy_error_set_code(
        err, EPROTO, "%s: the registry's token realm '%s' is not an http(s) URL", what, reg->realm);
  /* Credentials go in clear over http: only when the registry itself is. */
  if (reg->username && !reg->insecure && !starts_with(reg->realm, "https://"))
    return bothy_error_set_code(err, EACCES,
                                "%s: refusing to send credentials for '%s' to token server '%s' "
                                "over plain http",
                                what, auth_name, reg->realm);

  _cleanup_free_ char *url = xasprintf("%s%c", reg->realm, strchr(reg->realm, '?') ? '&' : '?');
  bool first = true;
  if (reg->service) {
    _cleanup_free_ char *s = url_escape(reg->service);
    replace(&url, xasprintf("%sservice=%s", url, s));
    first = false;
  }
  /* One scope= per scope (a mount needs two repositories). */
  _cleanup_free_ char *scopes = xstrdup(scope);
  char *save = NULL;
  for (char *sc = strtok_r(scopes, " ", &save); sc; sc = strtok_r(NULL, " ", &save)) {
    _cleanup_free_ char *e = url_escape(sc);
    replace(&url, xasprintf("%s%sscope=%s", url, first ? "" : "&", e));
    first = false;
  }

  _cleanup_xfer_ struct xfer *t = xfer_new(reg, "GET", TAKE_PTR(url), NULL, auth_name, what);
  t->token_request = true;
  t->max_len = BOTHY_REGISTRY_MANIFEST_MAX;
  int r = xfer_run(t, err);
  if (r < 0)
    return r;

  _cleanup_json_ json_t *doc = json_loadb(t->buf ? t->buf : "", t->len, 0, NULL);
  const char *value = NULL;
  if (json_is_object(doc)) {
    value = json_string_value(json_object_get(doc, "token"));
    if (!value || !*value)
      value = json_string_value(json_object_get(doc, "access_token"));
  }
  if (!value || !*value)
    return bothy_error_set_code(err, EPROTO, "%s: the token server for '%s' sent no token", what,
                                auth_name);
  if (strpbrk(value, "\r\n"))
    return bothy_error_set_code(err, EPROTO, "%s: the token server for '%s' sent an invalid token",
                                what, auth_name);
  json_t *e = doc ? json_object_get(doc, "expires_in") : NULL;
  int64_t ttl = json_is_integer(e) ? json_integer_value(e) : TOKEN_DEFAULT_TTL;
  /* The token spec: less than 60 s means 60 s. */
  if (ttl < TOKEN_DEFAULT_TTL)
    ttl = TOKEN_DEFAULT_TTL;
  if (ttl > 24 * 3600)
    ttl = 24 * 3600;
  token_store(reg, scope, value, ttl);
  log_debug("registry: got a token for '%s'", scope);
  return 0;
}

/* ---- requests --------------------------------------------------------- */

static char *repo_url(const struct bothy_registry *reg, const char *repo, const char *kind,
                      const char *rest)
{
  return xasprintf("%s/v2/%s/%s/%s", reg->origin, repo, kind, rest);
}

static char *pull_scope(const char *repo)
{
  return xasprintf("repository:%s:pull", repo);
}

static char *push_scope(const char *repo)
{
  return xasprintf("repository:%s:pull,push", repo);
}

static char *auth_name_of(const struct bothy_registry *reg, const char *repo)
{
  return xasprintf("%s/%s", reg->name, repo);
}

static void push_accept(struct xfer *x, const char *const *accept)
{
  if (!accept)
    accept = bothy_registry_default_accept;
  _cleanup_free_ char *h = xstrdup("Accept: ");
  for (size_t i = 0; accept[i]; i++)
    replace(&h, xasprintf("%s%s%s", h, i ? ", " : "", accept[i]));
  strv_push(&x->headers, TAKE_PTR(h));
}

/* Content-Type without parameters. */
static char *media_type_of(const char *content_type)
{
  if (!content_type)
    return xstrdup("");
  return trim(content_type, strcspn(content_type, ";"));
}

int bothy_registry_get_manifest(struct bothy_registry *reg, const char *repo, const char *reference,
                                const char *const *accept, char **ret_body, size_t *ret_len,
                                char **ret_media_type, char **ret_digest, bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  if ((r = check_reference(reference, err)) < 0)
    return r;
  bool by_digest = is_digest_ref(reference);
  _cleanup_free_ char *what = xasprintf("pulling manifest '%s%c%s' from '%s'", repo,
                                        by_digest ? '@' : ':', reference, reg->name);
  if (by_digest && (r = check_verifiable_digest(reference, err)) < 0) {
    bothy_error_prefix(err, "%s", what);
    return r;
  }

  _cleanup_free_ char *scope = pull_scope(repo), *auth = auth_name_of(reg, repo);
  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "GET", repo_url(reg, repo, "manifests", reference), scope, auth, what);
  push_accept(x, accept);
  x->max_len = BOTHY_REGISTRY_MANIFEST_MAX;
  if (by_digest)
    x->expected_digest = xstrdup(reference);
  if ((r = xfer_run(x, err)) < 0)
    return r;

  /* The registry's own digest, when it is one we can check, must agree: a
   * tag's content is otherwise trusted as served. */
  if (x->docker_digest && starts_with(x->docker_digest, "sha256:") &&
      !streq(x->docker_digest, x->digest))
    return bothy_error_set_code(err, EBADMSG,
                                "%s: digest mismatch: the registry says '%s', the content is '%s'",
                                what, x->docker_digest, x->digest);

  _cleanup_free_ char *media_type = media_type_of(x->content_type);
  if (!*media_type || streq(media_type, "application/json") || streq(media_type, "text/plain")) {
    _cleanup_json_ json_t *doc = json_loadb(x->buf ? x->buf : "", x->len, 0, NULL);
    const char *mt = doc ? json_string_value(json_object_get(doc, "mediaType")) : NULL;
    if (mt)
      replace(&media_type, xstrdup(mt));
  }

  if (ret_len)
    *ret_len = x->len;
  if (ret_body)
    *ret_body = x->buf ? TAKE_PTR(x->buf) : xstrdup("");
  if (ret_media_type)
    *ret_media_type = TAKE_PTR(media_type);
  if (ret_digest)
    *ret_digest = xstrdup(x->digest);
  return 0;
}

int bothy_registry_head_manifest(struct bothy_registry *reg, const char *repo,
                                 const char *reference, const char *const *accept,
                                 char **ret_media_type, char **ret_digest, int64_t *ret_size,
                                 bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  if ((r = check_reference(reference, err)) < 0)
    return r;
  bool by_digest = is_digest_ref(reference);
  _cleanup_free_ char *what = xasprintf("checking manifest '%s%c%s' on '%s'", repo,
                                        by_digest ? '@' : ':', reference, reg->name);
  _cleanup_free_ char *scope = pull_scope(repo), *auth = auth_name_of(reg, repo);
  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "HEAD", repo_url(reg, repo, "manifests", reference), scope, auth, what);
  push_accept(x, accept);
  xfer_set_ok(x, 200, 404, 0);
  if ((r = xfer_run(x, err)) < 0)
    return r;
  if (x->status == 404)
    return 0;
  if (ret_media_type)
    *ret_media_type = media_type_of(x->content_type);
  if (ret_digest)
    *ret_digest = xstrdup(x->docker_digest ? x->docker_digest : "");
  if (ret_size)
    *ret_size = x->content_length;
  return 1;
}

int bothy_registry_put_manifest(struct bothy_registry *reg, const char *repo, const char *reference,
                                const void *body, size_t len, const char *media_type,
                                char **ret_digest, bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  if ((r = check_reference(reference, err)) < 0)
    return r;
  bool by_digest = is_digest_ref(reference);
  _cleanup_free_ char *what = xasprintf("pushing manifest '%s%c%s' to '%s'", repo,
                                        by_digest ? '@' : ':', reference, reg->name);
  if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
    return bothy_error_set_code(err, EINVAL, "%s: invalid media type", what);
  if (len > BOTHY_REGISTRY_MANIFEST_MAX)
    return bothy_error_set_code(err, EFBIG, "%s: the manifest is larger than %u bytes", what,
                                BOTHY_REGISTRY_MANIFEST_MAX);
  char digest[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(body, len, digest);
  if (by_digest && !streq(reference, digest))
    return bothy_error_set_code(err, EINVAL, "%s: the manifest's digest is '%s'", what, digest);

  _cleanup_free_ char *scope = push_scope(repo), *auth = auth_name_of(reg, repo);
  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "PUT", repo_url(reg, repo, "manifests", reference), scope, auth, what);
  strv_push(&x->headers, xasprintf("Content-Type: %s", media_type));
  x->mem = body;
  x->body_len = len;
  xfer_set_ok(x, 201, 200, 0);
  if ((r = xfer_run(x, err)) < 0)
    return r;
  if (x->docker_digest && starts_with(x->docker_digest, "sha256:") &&
      !streq(x->docker_digest, digest))
    return bothy_error_set_code(err, EBADMSG, "%s: the registry stored digest '%s', expected '%s'",
                                what, x->docker_digest, digest);
  if (ret_digest)
    *ret_digest = xstrdup(digest);
  return 0;
}

int bothy_registry_head_blob(struct bothy_registry *reg, const char *repo, const char *digest,
                             int64_t *ret_size, bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  if (bothy_digest_validate(digest, err) < 0)
    return recode(err, EINVAL);
  _cleanup_free_ char *what = xasprintf("checking blob '%s@%s' on '%s'", repo, digest, reg->name);
  _cleanup_free_ char *scope = pull_scope(repo), *auth = auth_name_of(reg, repo);
  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "HEAD", repo_url(reg, repo, "blobs", digest), scope, auth, what);
  xfer_set_ok(x, 200, 404, 0);
  if ((r = xfer_run(x, err)) < 0)
    return r;
  if (x->status == 404)
    return 0;
  if (ret_size)
    *ret_size = x->content_length;
  return 1;
}

int bothy_registry_blob_exists(struct bothy_registry *reg, const char *repo, const char *digest,
                               bothy_error_t *err)
{
  return bothy_registry_head_blob(reg, repo, digest, NULL, err);
}

int bothy_registry_blob_transfer_new(struct bothy_registry *reg, const char *repo,
                                     const char *digest, int64_t expected_size,
                                     bothy_registry_sink_t sink, void *data,
                                     struct bothy_registry_transfer **ret, bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *what =
      xasprintf("pulling blob '%s@%s' from '%s'", repo, digest ? digest : "", reg->name);
  if ((r = check_verifiable_digest(digest, err)) < 0) {
    bothy_error_prefix(err, "%s", what);
    return r;
  }
  if (!sink)
    return bothy_error_set_code(err, EINVAL, "%s: no sink given", what);

  _cleanup_free_ char *scope = pull_scope(repo), *auth = auth_name_of(reg, repo);
  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "GET", repo_url(reg, repo, "blobs", digest), scope, auth, what);
  x->expected_digest = xstrdup(digest);
  x->expected_size = expected_size >= 0 ? expected_size : -1;
  x->sink = sink;
  x->sink_data = data;
  if ((r = xfer_prepare(x, err)) < 0)
    return r;
  struct bothy_registry_transfer *t = xmalloc0(sizeof(*t));
  t->x = TAKE_PTR(x);
  *ret = t;
  return 0;
}

CURL *bothy_registry_transfer_curl(struct bothy_registry_transfer *t)
{
  return t->x->curl;
}

int bothy_registry_transfer_done(struct bothy_registry_transfer *t, CURLcode result,
                                 unsigned *ret_delay_ms, bothy_error_t *err)
{
  unsigned delay = 0;
  int r = xfer_done(t->x, result, &delay, err);
  if (ret_delay_ms)
    *ret_delay_ms = delay;
  return r;
}

struct bothy_registry_transfer *bothy_registry_transfer_free(struct bothy_registry_transfer *t)
{
  if (!t)
    return NULL;
  xfer_free(t->x);
  free(t);
  return NULL;
}

int bothy_registry_get_blob(struct bothy_registry *reg, const char *repo, const char *digest,
                            int64_t expected_size, bothy_registry_sink_t sink, void *data,
                            bothy_error_t *err)
{
  _cleanup_registry_transfer_ struct bothy_registry_transfer *t = NULL;
  int r = bothy_registry_blob_transfer_new(reg, repo, digest, expected_size, sink, data, &t, err);
  if (r < 0)
    return r;
  for (;;) {
    CURLcode rc = curl_easy_perform(bothy_registry_transfer_curl(t));
    unsigned delay = 0;
    r = bothy_registry_transfer_done(t, rc, &delay, err);
    if (r != 1)
      return r;
    if (delay)
      sleep_ms(delay);
  }
}

/* ---- pushing blobs ---------------------------------------------------- */

/* An upload Location may be absolute or a path on the registry. */
static char *resolve_location(const struct bothy_registry *reg, const char *location)
{
  if (starts_with(location, "http://") || starts_with(location, "https://"))
    return xstrdup(location);
  return xasprintf("%s%s%s", reg->origin, location[0] == '/' ? "" : "/", location);
}

static int take_location(const struct xfer *x, char **location, bothy_error_t *err)
{
  if (!x->location || !*x->location)
    return bothy_error_set_code(err, EPROTO, "%s: the registry sent %ld without an upload location",
                                x->what, x->status);
  if (strpbrk(x->location, " \t\r\n"))
    return bothy_error_set_code(err, EPROTO, "%s: invalid upload location from the registry",
                                x->what);
  replace(location, resolve_location(x->reg, x->location));
  return 0;
}

int bothy_registry_mount_blob(struct bothy_registry *reg, const char *repo, const char *digest,
                              const char *from_repo, bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  if ((r = check_repo(from_repo, err)) < 0)
    return r;
  if (bothy_digest_validate(digest, err) < 0)
    return recode(err, EINVAL);
  _cleanup_free_ char *what = xasprintf("mounting blob '%s' from '%s' into '%s' on '%s'", digest,
                                        from_repo, repo, reg->name);
  _cleanup_free_ char *d = url_escape(digest), *f = url_escape(from_repo);
  _cleanup_free_ char *rest = xasprintf("?mount=%s&from=%s", d, f);
  _cleanup_free_ char *scope =
      xasprintf("repository:%s:pull,push repository:%s:pull", repo, from_repo);
  _cleanup_free_ char *auth = auth_name_of(reg, repo);
  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "POST", repo_url(reg, repo, "blobs/uploads", rest), scope, auth, what);
  xfer_set_ok(x, 201, 202, 0);
  if ((r = xfer_run(x, err)) < 0)
    return r;
  if (x->status == 201)
    return 1;

  /* 202: the registry opened an upload session instead; cancel it (the
   * registry would expire it anyway, so a failure is ignored). */
  _cleanup_free_ char *location = NULL;
  _cleanup_error_ bothy_error_t ignored = NULL;
  if (take_location(x, &location, &ignored) == 0) {
    _cleanup_xfer_ struct xfer *del =
        xfer_new(reg, "DELETE", TAKE_PTR(location), scope, auth, what);
    xfer_set_ok(del, 204, 200, 202);
    del->max_retries = 0;
    if (xfer_run(del, &ignored) < 0)
      log_debug("registry: %s: cancelling the upload session failed, ignoring", what);
  }
  return 0;
}

static char *with_digest(const char *location, const char *digest)
{
  _cleanup_free_ char *d = url_escape(digest);
  return xasprintf("%s%cdigest=%s", location, strchr(location, '?') ? '&' : '?', d);
}

static int upload_once(struct bothy_registry *reg, const char *repo, int fd, uint64_t size,
                       const char *digest, uint64_t chunk_size, const char *what,
                       bothy_error_t *err)
{
  _cleanup_free_ char *scope = push_scope(repo), *auth = auth_name_of(reg, repo);
  _cleanup_free_ char *location = NULL;
  int r;

  {
    _cleanup_xfer_ struct xfer *x =
        xfer_new(reg, "POST", repo_url(reg, repo, "blobs/uploads", ""), scope, auth, what);
    xfer_set_ok(x, 202, 0, 0);
    x->max_retries = 0;
    if ((r = xfer_run(x, err)) < 0)
      return r;
    if ((r = take_location(x, &location, err)) < 0)
      return r;
  }

  uint64_t off = 0;
  if (chunk_size > 0) {
    /* The spec's chunked upload: each PATCH carries Content-Range
     * "<start>-<end>" (inclusive, no unit) and answers with the Location for
     * the next one. */
    while (off < size) {
      uint64_t n = size - off < chunk_size ? size - off : chunk_size;
      _cleanup_xfer_ struct xfer *x = xfer_new(reg, "PATCH", xstrdup(location), scope, auth, what);
      strv_push(&x->headers, xstrdup("Content-Type: application/octet-stream"));
      strv_push(&x->headers, xasprintf("Content-Range: %" PRIu64 "-%" PRIu64, off, off + n - 1));
      x->fd = fd;
      x->fd_off = off;
      x->body_len = n;
      xfer_set_ok(x, 202, 0, 0);
      x->max_retries = 0;
      if ((r = xfer_run(x, err)) < 0)
        return r;
      if ((r = take_location(x, &location, err)) < 0)
        return r;
      off += n;
    }
  }

  _cleanup_xfer_ struct xfer *x =
      xfer_new(reg, "PUT", with_digest(location, digest), scope, auth, what);
  strv_push(&x->headers, xstrdup("Content-Type: application/octet-stream"));
  x->fd = fd;
  x->fd_off = 0;
  x->body_len = chunk_size > 0 ? 0 : size;
  xfer_set_ok(x, 201, 0, 0);
  x->max_retries = 0;
  if ((r = xfer_run(x, err)) < 0)
    return r;
  if (x->docker_digest && starts_with(x->docker_digest, "sha256:") &&
      !streq(x->docker_digest, digest))
    return bothy_error_set_code(err, EBADMSG, "%s: the registry stored digest '%s'", what,
                                x->docker_digest);
  return 0;
}

int bothy_registry_upload_blob(struct bothy_registry *reg, const char *repo, int fd, uint64_t size,
                               const char *digest, uint64_t chunk_size, bothy_error_t *err)
{
  int r = check_repo(repo, err);
  if (r < 0)
    return r;
  if (bothy_digest_validate(digest, err) < 0)
    return recode(err, EINVAL);
  _cleanup_free_ char *what = xasprintf("pushing blob '%s@%s' to '%s'", repo, digest, reg->name);
  if (fd < 0)
    return bothy_error_set_code(err, EINVAL, "%s: no file given", what);
  /* An upload session is not resumable here: a transient failure anywhere
   * restarts the whole upload. */
  for (int attempt = 0;; attempt++) {
    r = upload_once(reg, repo, fd, size, digest, chunk_size, what, err);
    if (r != -EAGAIN || attempt >= reg->retries)
      return r;
    log_debug("registry: %s: transient failure, retrying", what);
    bothy_error_free(err);
    sleep_ms(backoff_ms(attempt));
  }
}
