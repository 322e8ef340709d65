/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "image/registry.h"
#include "base/dl-crypto.h" /* last: redirects the library calls */

/* ---- hosts ------------------------------------------------------------ */

int bothy_auth_host_normalize(const char *host, char **ret, bothy_error_t *err)
{
  const char *p = host ? host : "";
  if (strncasecmp(p, "https://", 8) == 0)
    p += 8;
  else if (strncasecmp(p, "http://", 7) == 0)
    p += 7;
  size_t n = strcspn(p, "/");
  if (n == 0 || n > 255)
    return bothy_error_set(err, EINVAL, "invalid registry host '%s'", host ? host : "");
  _cleanup_free_ char *h = xstrndup(p, n);
  for (char *c = h; *c; c++) {
    if (!isalnum((unsigned char) *c) && !strchr(".-:[]_", *c))
      return bothy_error_set(err, EINVAL, "invalid registry host '%s'", host);
    *c = (char) tolower((unsigned char) *c);
  }
  /* Docker Hub's names (docker writes "https://index.docker.io/v1/"). */
  if (streq(h, "index.docker.io") || streq(h, "registry-1.docker.io"))
    *ret = xstrdup("docker.io");
  else
    *ret = TAKE_PTR(h);
  return 0;
}

bool bothy_auth_host_is_loopback(const char *host)
{
  if (!host)
    return false;
  if (strncmp(host, "[::1]", 5) == 0)
    return host[5] == '\0' || host[5] == ':';
  _cleanup_free_ char *name = xstrndup(host, strcspn(host, ":"));
  if (streq(name, "localhost"))
    return true;
  struct in_addr a;
  return inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* ---- base64 ----------------------------------------------------------- */

static char *base64_encode(const char *s)
{
  bothy_dlopen_crypto_or_die();
  size_t n = strlen(s);
  char *out = xmalloc(4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *) out, (const unsigned char *) s, (int) n);
  return out;
}

/* Decodes into a NUL-terminated string; NULL when s is not base64 or decodes
 * to something with a NUL in it. */
static char *base64_decode(const char *s)
{
  bothy_dlopen_crypto_or_die();
  size_t n = strlen(s);
  if (n == 0 || n % 4 != 0 || n > 64 * 1024)
    return NULL;
  _cleanup_secret_ char *out = xmalloc0(n / 4 * 3 + 1);
  int len = EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) s, (int) n);
  if (len < 0)
    return NULL;
  /* EVP_DecodeBlock counts the bytes the padding stands for. */
  if (s[n - 1] == '=')
    len--;
  if (s[n - 2] == '=')
    len--;
  out[len] = '\0';
  if (strlen(out) != (size_t) len)
    return NULL;
  return TAKE_PTR(out);
}

/* ---- the file --------------------------------------------------------- */

static char *auth_path(const char *root)
{
  return xasprintf("%s/%s", root, BOTHY_AUTH_FILE);
}

/* The file's document; {"auths":{}} when there is no file. */
static int load(const char *root, json_t **ret, bothy_error_t *err)
{
  _cleanup_free_ char *path = auth_path(root);
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  _cleanup_error_ bothy_error_t rerr = NULL;
  int r = bothy_read_file(AT_FDCWD, path, &data, &len, &rerr);
  if (r == -ENOENT) {
    *ret = json_pack("{s:{}}", "auths");
    return 0;
  }
  if (r < 0)
    return bothy_error_set(err, -r, "cannot read credentials file '%s'", path);
  _cleanup_json_ json_t *doc = NULL;
  _cleanup_free_ char *what = xasprintf("credentials file '%s'", path);
  if ((r = bothy_json_load_data(data, len, what, &doc, err)) < 0)
    return r;
  if (!json_is_object(doc))
    return bothy_error_set(err, EINVAL, "credentials file '%s': not a JSON object", path);
  json_t *auths = json_object_get(doc, "auths");
  if (!auths) {
    json_object_set_new(doc, "auths", json_object());
  } else if (!json_is_object(auths)) {
    return bothy_error_set(err, EINVAL, "credentials file '%s': 'auths' must be an object", path);
  }
  *ret = TAKE_PTR(doc);
  return 0;
}

/* The username and password of one entry. 0 when the entry has no "auth"
 * (another tool's identity token: not something bothy can use). */
static int entry_creds(const char *root, const char *key, json_t *entry, char **ret_user,
                       char **ret_pass, bothy_error_t *err)
{
  _cleanup_free_ char *path = auth_path(root);
  if (!json_is_object(entry))
    return bothy_error_set(err, EINVAL, "credentials file '%s': entry '%s' must be an object", path,
                           key);
  json_t *a = json_object_get(entry, "auth");
  if (!a || (json_is_string(a) && !*json_string_value(a)))
    return 0;
  if (!json_is_string(a))
    return bothy_error_set(err, EINVAL, "credentials file '%s': '%s.auth' must be a string", path,
                           key);
  _cleanup_secret_ char *plain = base64_decode(json_string_value(a));
  char *colon = plain ? strchr(plain, ':') : NULL;
  if (!colon || colon == plain)
    return bothy_error_set(err, EINVAL,
                           "credentials file '%s': '%s.auth' is not base64 of "
                           "'username:password'",
                           path, key);
  *ret_user = xstrndup(plain, (size_t) (colon - plain));
  *ret_pass = xstrdup(colon + 1);
  return 1;
}

/* The key in auths that is host, exactly or once normalised; NULL if none. */
static const char *find_key(json_t *auths, const char *host)
{
  if (json_object_get(auths, host))
    return host;
  const char *key;
  json_t *v;
  json_object_foreach (auths, key, v) {
    _cleanup_free_ char *k = NULL;
    if (bothy_auth_host_normalize(key, &k, NULL) == 0 && streq(k, host))
      return key;
  }
  return NULL;
}

int bothy_auth_lookup(const char *root, const char *host, char **ret_user, char **ret_pass,
                      bothy_error_t *err)
{
  _cleanup_free_ char *h = NULL;
  int r = bothy_auth_host_normalize(host, &h, err);
  if (r < 0)
    return r;
  _cleanup_json_ json_t *doc = NULL;
  if ((r = load(root, &doc, err)) < 0)
    return r;
  json_t *auths = json_object_get(doc, "auths");
  const char *key = find_key(auths, h);
  _cleanup_free_ char *user = NULL;
  _cleanup_secret_ char *pass = NULL;
  r = key ? entry_creds(root, key, json_object_get(auths, key), &user, &pass, err) : 0;
  if (r < 0)
    return r;
  *ret_user = TAKE_PTR(user);
  *ret_pass = TAKE_PTR(pass);
  return r;
}

/* Holds ROOT/auth.json.lock for a read-modify-write of the file. */
static int lock_file(const char *root, bothy_error_t *err)
{
  int r = bothy_mkdir_p(root, 0700, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = xasprintf("%s/%s.lock", root, BOTHY_AUTH_FILE);
  _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", path);
  while (flock(fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return bothy_error_errno(err, "cannot lock '%s'", path);
  return TAKE_FD(fd);
}

static int store(const char *root, json_t *doc, bothy_error_t *err)
{
  _cleanup_close_ int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", root);
  _cleanup_free_ char *data = bothy_json_dump(doc, true);
  int r = bothy_write_file_atomic(dfd, BOTHY_AUTH_FILE, data, strlen(data), 0600, err);
  explicit_bzero(data, strlen(data));
  if (r < 0)
    return bothy_error_prefix(err, "saving credentials in '%s'", root);
  return 0;
}

int bothy_auth_save(const char *root, const char *host, const char *user, const char *pass,
                    bothy_error_t *err)
{
  _cleanup_free_ char *h = NULL;
  int r = bothy_auth_host_normalize(host, &h, err);
  if (r < 0)
    return r;
  if (!user || !*user || strchr(user, ':'))
    return bothy_error_set(err, EINVAL,
                           "invalid username '%s': it must not be empty or contain ':'",
                           user ? user : "");
  _cleanup_close_ int lock = lock_file(root, err);
  if (lock < 0)
    return lock;
  _cleanup_json_ json_t *doc = NULL;
  if ((r = load(root, &doc, err)) < 0)
    return r;
  json_t *auths = json_object_get(doc, "auths");
  /* One entry per registry: drop other spellings of the same host. */
  const char *key;
  while ((key = find_key(auths, h)))
    json_object_del(auths, key);
  _cleanup_secret_ char *plain = xasprintf("%s:%s", user, pass ? pass : "");
  _cleanup_secret_ char *b64 = base64_encode(plain);
  json_object_set_new(auths, h, json_pack("{s:s}", "auth", b64));
  return store(root, doc, err);
}

int bothy_auth_remove(const char *root, const char *host, bothy_error_t *err)
{
  _cleanup_free_ char *h = NULL;
  int r = bothy_auth_host_normalize(host, &h, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = auth_path(root);
  if (!bothy_path_exists(path))
    return 0;
  _cleanup_close_ int lock = lock_file(root, err);
  if (lock < 0)
    return lock;
  _cleanup_json_ json_t *doc = NULL;
  if ((r = load(root, &doc, err)) < 0)
    return r;
  json_t *auths = json_object_get(doc, "auths");
  int n = 0;
  const char *key;
  while ((key = find_key(auths, h))) {
    json_object_del(auths, key);
    n++;
  }
  if (n == 0)
    return 0;
  if ((r = store(root, doc, err)) < 0)
    return r;
  return 1;
}

int bothy_auth_remove_all(const char *root, bothy_error_t *err)
{
  _cleanup_free_ char *path = auth_path(root);
  if (!bothy_path_exists(path))
    return 0;
  _cleanup_close_ int lock = lock_file(root, err);
  if (lock < 0)
    return lock;
  _cleanup_json_ json_t *doc = NULL;
  int r = load(root, &doc, err);
  if (r < 0)
    return r;
  int n = (int) json_object_size(json_object_get(doc, "auths"));
  if (n == 0)
    return 0;
  json_object_set_new(doc, "auths", json_object());
  if ((r = store(root, doc, err)) < 0)
    return r;
  return n;
}

/* ---- login ------------------------------------------------------------ */

/* A repository that almost certainly does not exist, in the user's own
 * namespace when the username can be one (Docker Hub lets users read what
 * is theirs, even what is not there yet, and answers 404). */
static char *probe_repo(const char *user)
{
  size_t n = strlen(user);
  bool ok =
      n > 0 && n <= 64 && isalnum((unsigned char) user[0]) && isalnum((unsigned char) user[n - 1]);
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char) user[i]) || user[i] == '-' || user[i] == '_';
  char *repo = xasprintf("%s/bothy-login-check", ok ? user : "bothy");
  for (char *c = repo; *c; c++)
    *c = (char) tolower((unsigned char) *c);
  return repo;
}

int bothy_auth_login(const char *root, const char *host, const char *user, const char *pass,
                     const struct bothy_login_opts *opts, bothy_error_t *err)
{
  static const struct bothy_login_opts defaults = { 0 };
  if (!opts)
    opts = &defaults;
  _cleanup_free_ char *h = NULL;
  int r = bothy_auth_host_normalize(host, &h, err);
  if (r < 0)
    return r;
  if (!user || !*user || strchr(user, ':'))
    return bothy_error_set(err, EINVAL,
                           "invalid username '%s': it must not be empty or contain ':'",
                           user ? user : "");
  struct bothy_registry_opts ro = {
    .host = h,
    .insecure = bothy_auth_host_is_loopback(h) || opts->tls_verify_off,
    .tls_skip_verify = opts->tls_verify_off,
    .ca_file = opts->ca_file,
    .username = user,
    .password = pass ? pass : "",
    .retries = 2,
  };
  _cleanup_registry_ struct bothy_registry *reg = NULL;
  if ((r = bothy_registry_new(&ro, &reg, err)) < 0)
    return bothy_error_prefix(err, "logging in to '%s'", h);
  _cleanup_free_ char *repo = probe_repo(user);
  r = bothy_registry_head_manifest(reg, repo, "latest", NULL, NULL, NULL, NULL, err);
  if (r == -EACCES)
    return bothy_error_prefix(err, "logging in to '%s' as '%s': wrong username or password", h,
                              user);
  if (r < 0)
    return bothy_error_prefix(err, "logging in to '%s'", h);
  if (bothy_auth_save(root, h, user, pass ? pass : "", err) < 0)
    return bothy_error_prefix(err, "logging in to '%s'", h);
  return 0;
}
