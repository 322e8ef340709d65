/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src/image/registry: against a real docker-registry (distribution 2.8) on
 * 127.0.0.1, once without auth and once with token auth served by
 * registry_helpers/token_server.py.
 *
 * The helpers directory is found through $BOTHY_TEST_REGISTRY_HELPERS, else
 * next to this file (__FILE__, relative to the working directory). */
/* gcc 12 at -O3 reports a dangling pointer in subst() once it is inlined into
 * a loop of _cleanup_free_ strings: a false positive (each string outlives its
 * use). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "base/digest.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/process.h"
#include "base/xalloc.h"
#include "image/registry.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"
#define PYTHON_BIN   "/usr/bin/python3"
#define TOKEN_USER   "alice"
#define TOKEN_PASS   "s3cret"

struct server {
  char *dir;
  pid_t pid;       /* docker-registry */
  pid_t token_pid; /* token_server.py, or 0 */
  int port;
  int token_port;
  char host[64]; /* "127.0.0.1:PORT" */
};

static struct server plain, tokened;

/* ---- helpers ------------------------------------------------------------ */

static char *helpers_dir(void)
{
  const char *env = getenv("BOTHY_TEST_REGISTRY_HELPERS");
  if (env)
    return xstrdup(env);
  const char *slash = strrchr(__FILE__, '/');
  if (slash)
    return xasprintf("%.*s/registry_helpers", (int) (slash - __FILE__), __FILE__);
  return xstrdup("registry_helpers");
}

static int free_port(void)
{
  _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
  return ntohs(sa.sin_port);
}

/* fork + exec with output to log; the child dies with the test process
 * (PR_SET_PDEATHSIG), so a crashed test leaves no server behind. */
static pid_t spawn(char *const argv[], const char *log)
{
  pid_t parent = getpid();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(127);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

static void stop(pid_t *pid)
{
  if (*pid > 0) {
    kill(*pid, SIGKILL);
    bothy_waitpid(*pid, 0);
  }
  *pid = 0;
}

static void sleep_ms(long ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

static size_t discard(char *p, size_t s, size_t n, void *d)
{
  return s * n;
}

/* GET url; the HTTP status, or 0 when nothing answered. */
static long http_status(const char *url, char **ret_body)
{
  CURL *c = curl_easy_init();
  assert_non_null(c);
  char *body = NULL;
  size_t len = 0;
  FILE *f = ret_body ? open_memstream(&body, &len) : NULL;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
  if (f)
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
  else
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (f) {
    fclose(f);
    *ret_body = body;
  }
  return status;
}

static char *read_template(void)
{
  _cleanup_free_ char *dir = helpers_dir();
  _cleanup_free_ char *path = xasprintf("%s/config.yml.in", dir);
  char *data = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  if (bothy_read_file(AT_FDCWD, path, &data, NULL, &err) < 0)
    fail_msg("%s (set BOTHY_TEST_REGISTRY_HELPERS)", err->msg);
  return data;
}

static char *subst(const char *s, const char *key, const char *value)
{
  const char *at = strstr(s, key);
  if (!at)
    fail_msg("no '%s' in the template", key);
  size_t off = (size_t) (at - s);
  return xasprintf("%.*s%s%s", (int) off, s, value, s + off + strlen(key));
}

/* Starts docker-registry with auth (YAML, "" for none) on a free port, and
 * waits until /v2/ answers. */
static int start_registry(struct server *s, const char *auth)
{
  _cleanup_free_ char *tmpl = read_template();
  _cleanup_free_ char *root = xasprintf("%s/storage", s->dir);
  _cleanup_free_ char *config = xasprintf("%s/config.yml", s->dir);
  _cleanup_free_ char *log = xasprintf("%s/registry.log", s->dir);

  for (int attempt = 0; attempt < 5; attempt++) {
    s->port = free_port();
    snprintf(s->host, sizeof(s->host), "127.0.0.1:%d", s->port);
    _cleanup_free_ char *a = subst(tmpl, "@ROOT@", root);
    _cleanup_free_ char *b = subst(a, "@ADDR@", s->host);
    _cleanup_free_ char *c = subst(b, "@AUTH@", auth);
    _cleanup_close_ int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(bothy_write_file_replace(dfd, "config.yml", c, strlen(c), 0644, NULL), 0);

    char *argv[] = { (char *) REGISTRY_BIN, (char *) "serve", config, NULL };
    s->pid = spawn(argv, log);
    _cleanup_free_ char *url = xasprintf("http://%s/v2/", s->host);
    for (int i = 0; i < 200; i++) {
      long st = http_status(url, NULL);
      if (st == 200 || st == 401)
        return 0;
      if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
        s->pid = 0;
        break; /* the port was taken meanwhile? try another */
      }
      sleep_ms(50);
    }
    stop(&s->pid);
  }
  fprintf(stderr, "docker-registry did not start; see %s\n", log);
  return -1;
}

static int teardown_server(struct server *s);

static int setup_plain(void **state)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
  plain.dir = xstrdup("/tmp/bothy-registry.XXXXXX");
  if (!mkdtemp(plain.dir))
    return -1;
  /* cmocka does not run the group teardown when the setup fails. */
  if (start_registry(&plain, "") < 0)
    return teardown_server(&plain), -1;
  return 0;
}

static int teardown_server(struct server *s)
{
  stop(&s->pid);
  stop(&s->token_pid);
  if (s->dir)
    bothy_rm_rf_at(AT_FDCWD, s->dir, NULL);
  free(s->dir);
  s->dir = NULL;
  return 0;
}

static int teardown_plain(void **state)
{
  return teardown_server(&plain);
}

/* Starts registry_helpers/SCRIPT --dir DIR [args] and waits for the port it
 * writes to DIR/port; 0 if it did not start. */
static int start_helper(const char *dir, const char *script, const char *user, const char *password,
                        pid_t *ret_pid)
{
  _cleanup_free_ char *helpers = helpers_dir();
  _cleanup_free_ char *path = xasprintf("%s/%s", helpers, script);
  _cleanup_free_ char *log = xasprintf("%s/%s.log", dir, script);
  _cleanup_free_ char *portfile = xasprintf("%s/port", dir);
  char *argv[] = { (char *) PYTHON_BIN,
                   path,
                   (char *) "--dir",
                   (char *) dir,
                   user ? (char *) "--user" : NULL,
                   (char *) user,
                   (char *) "--password",
                   (char *) password,
                   NULL };
  *ret_pid = spawn(argv, log);
  int port = 0;
  for (int i = 0; i < 300 && !port; i++) {
    _cleanup_free_ char *data = NULL;
    if (bothy_read_file(AT_FDCWD, portfile, &data, NULL, NULL) == 0)
      port = (int) strtol(data, NULL, 10);
    else
      sleep_ms(50);
  }
  if (!port)
    fprintf(stderr, "%s did not start; see %s\n", script, log);
  return port;
}

static int setup_token(void **state)
{
  tokened.dir = xstrdup("/tmp/bothy-registry-auth.XXXXXX");
  if (!mkdtemp(tokened.dir))
    return -1;
  tokened.token_port =
      start_helper(tokened.dir, "token_server.py", TOKEN_USER, TOKEN_PASS, &tokened.token_pid);
  if (!tokened.token_port)
    return teardown_server(&tokened), -1;
  _cleanup_free_ char *auth = xasprintf("auth:\n"
                                        "  token:\n"
                                        "    realm: http://127.0.0.1:%d/token\n"
                                        "    service: test-registry\n"
                                        "    issuer: test-issuer\n"
                                        "    rootcertbundle: %s/cert.pem\n",
                                        tokened.token_port, tokened.dir);
  if (start_registry(&tokened, auth) < 0)
    return teardown_server(&tokened), -1;
  return 0;
}

static int teardown_token(void **state)
{
  return teardown_server(&tokened);
}

/* registry_helpers/fake_registry.py: the registry is the "token" server. */
static struct server fake;

static int setup_fake(void **state)
{
  fake.dir = xstrdup("/tmp/bothy-registry-fake.XXXXXX");
  if (!mkdtemp(fake.dir))
    return -1;
  fake.port = start_helper(fake.dir, "fake_registry.py", NULL, NULL, &fake.token_pid);
  if (!fake.port)
    return teardown_server(&fake), -1;
  snprintf(fake.host, sizeof(fake.host), "127.0.0.1:%d", fake.port);
  return 0;
}

static int teardown_fake(void **state)
{
  return teardown_server(&fake);
}

static struct bothy_registry *client(const struct server *s, const char *user, const char *pass,
                                     int retries)
{
  struct bothy_registry_opts opts = {
    .host = s->host,
    .insecure = true,
    .username = user,
    .password = pass,
    .retries = retries,
  };
  struct bothy_registry *reg = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  if (bothy_registry_new(&opts, &reg, &err) < 0)
    fail_msg("%s", err->msg);
  return reg;
}

#define assert_ok(expr)                                                                            \
  do {                                                                                             \
    _cleanup_error_ bothy_error_t err_ = NULL;                                                     \
    bothy_error_t *E = &err_; /* the expression's error argument */                                \
    int r_ = (expr);                                                                               \
    if (r_ < 0)                                                                                    \
      fail_msg("%s: %s", #expr, err_ ? err_->msg : "(no message)");                                \
  } while (0)

/* A blob's content: deterministic, not all one byte. */
static char *make_content(size_t len, unsigned seed)
{
  char *p = xmalloc(len ? len : 1);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (char) (x & 0xff);
  }
  return p;
}

/* Writes data to an unlinked temporary file; returns its fd. */
static int tmpfd_with(const void *data, size_t len)
{
  int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(bothy_write_all(fd, data, len), 0);
  return fd;
}

static void push_blob(struct bothy_registry *reg, const char *repo, const void *data, size_t len,
                      uint64_t chunk, char digest[static BOTHY_DIGEST_MAX])
{
  bothy_digest_buffer(data, len, digest);
  _cleanup_close_ int fd = tmpfd_with(data, len);
  /* The fd's position must not matter (pread). */
  lseek(fd, 0, SEEK_END);
  assert_ok(bothy_registry_upload_blob(reg, repo, fd, len, digest, chunk, E));
}

struct collect {
  char *buf;
  size_t len;
  size_t calls;
};

static int collect_sink(void *data, const void *buf, size_t len, bothy_error_t *err)
{
  struct collect *c = data;
  c->buf = xrealloc(c->buf, c->len + len + 1);
  memcpy(c->buf + c->len, buf, len);
  c->len += len;
  c->calls++;
  return 0;
}

static int failing_sink(void *data, const void *buf, size_t len, bothy_error_t *err)
{
  return bothy_error_set(err, ENOSPC, "writing to the store");
}

/* Pushes a config and two layers, and an OCI or Docker manifest of them. */
static char *make_manifest(struct bothy_registry *reg, const char *repo, bool oci,
                           char **ret_layer_digest)
{
  const char *config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":"
                       "{\"type\":\"layers\",\"diff_ids\":[]}}";
  char cdigest[BOTHY_DIGEST_MAX], l1[BOTHY_DIGEST_MAX], l2[BOTHY_DIGEST_MAX];
  push_blob(reg, repo, config, strlen(config), 0, cdigest);
  _cleanup_free_ char *a = make_content(5000, 11), *b = make_content(7000, 12);
  push_blob(reg, repo, a, 5000, 0, l1);
  push_blob(reg, repo, b, 7000, 4096, l2);
  const char *lt = oci ? "application/vnd.oci.image.layer.v1.tar+gzip"
                       : "application/vnd.docker.image.rootfs.diff.tar.gzip";
  const char *ct = oci ? "application/vnd.oci.image.config.v1+json"
                       : "application/vnd.docker.container.image.v1+json";
  const char *mt = oci ? BOTHY_REGISTRY_MEDIA_OCI_MANIFEST : BOTHY_REGISTRY_MEDIA_DOCKER_MANIFEST;
  if (ret_layer_digest)
    *ret_layer_digest = xstrdup(l1);
  return xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
                   "\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
                   "\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":5000},"
                   "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":7000}]}",
                   mt, ct, cdigest, strlen(config), lt, l1, lt, l2);
}

/* The file docker-registry's filesystem driver keeps a blob's bytes in. */
static char *blob_data_path(const struct server *s, const char *digest)
{
  const char *hex = bothy_digest_hex(digest);
  return xasprintf("%s/storage/docker/registry/v2/blobs/sha256/%.2s/%s/data", s->dir, hex, hex);
}

/* Overwrites one byte of a blob in the registry's storage. */
static void corrupt_blob(const struct server *s, const char *digest, off_t offset, char c)
{
  _cleanup_free_ char *path = blob_data_path(s, digest);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, &c, 1, offset), 1);
}

/* ---- without auth ------------------------------------------------------- */

static void test_upload_monolithic_and_chunked(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  char d1[BOTHY_DIGEST_MAX], d2[BOTHY_DIGEST_MAX], d3[BOTHY_DIGEST_MAX], d4[BOTHY_DIGEST_MAX];
  _cleanup_free_ char *a = make_content(100000, 1), *b = make_content(300001, 2);
  push_blob(reg, "test/up", a, 100000, 0, d1);
  /* 64 KiB chunks: 4 full ones and a short last one. */
  push_blob(reg, "test/up", b, 300001, 65536, d2);
  /* A chunk larger than the blob, and an empty blob chunked (no PATCH). */
  _cleanup_free_ char *c = make_content(1000, 3);
  push_blob(reg, "test/up", c, 1000, 1 << 20, d3);
  push_blob(reg, "test/up", "", 0, 4096, d4);

  int64_t size = 0;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_registry_head_blob(reg, "test/up", d1, &size, &err), 1);
  assert_int_equal(size, 100000);
  assert_int_equal(bothy_registry_head_blob(reg, "test/up", d2, &size, &err), 1);
  assert_int_equal(size, 300001);
  assert_int_equal(bothy_registry_head_blob(reg, "test/up", d3, &size, &err), 1);
  assert_int_equal(size, 1000);
  assert_int_equal(bothy_registry_blob_exists(reg, "test/up", d4, &err), 1);
  /* The blob exists in the repository it was pushed to only. */
  assert_int_equal(bothy_registry_blob_exists(reg, "test/elsewhere", d1, &err), 0);
  char missing[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("missing", 7, missing);
  assert_int_equal(bothy_registry_head_blob(reg, "test/up", missing, &size, &err), 0);
  assert_null(err);
}

static void test_upload_wrong_digest_fails(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  char wrong[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("something else", 14, wrong);
  _cleanup_close_ int fd = tmpfd_with("content", 7);
  _cleanup_error_ bothy_error_t err = NULL;
  assert_true(bothy_registry_upload_blob(reg, "test/up", fd, 7, wrong, 0, &err) < 0);
  assert_non_null(strstr(err->msg, "pushing blob 'test/up@sha256:"));
  assert_non_null(strstr(err->msg, "DIGEST_INVALID"));
  bothy_error_free(&err);
  assert_true(bothy_registry_upload_blob(reg, "test/up", fd, 7, wrong, 3, &err) < 0);
  assert_non_null(strstr(err->msg, "DIGEST_INVALID"));
}

static void test_mount(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  char d[BOTHY_DIGEST_MAX];
  _cleanup_free_ char *a = make_content(20000, 4);
  push_blob(reg, "test/src", a, 20000, 0, d);
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_registry_blob_exists(reg, "test/dst", d, &err), 0);
  assert_int_equal(bothy_registry_mount_blob(reg, "test/dst", d, "test/src", &err), 1);
  assert_int_equal(bothy_registry_blob_exists(reg, "test/dst", d, &err), 1);
  /* A blob the source does not have: the registry opens an upload instead. */
  char missing[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("not there", 9, missing);
  assert_int_equal(bothy_registry_mount_blob(reg, "test/dst", missing, "test/src", &err), 0);
  assert_null(err);
}

static void check_manifest_roundtrip(bool oci)
{
  const char *repo = oci ? "test/oci" : "test/docker";
  const char *mt = oci ? BOTHY_REGISTRY_MEDIA_OCI_MANIFEST : BOTHY_REGISTRY_MEDIA_DOCKER_MANIFEST;
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  _cleanup_free_ char *manifest = make_manifest(reg, repo, oci, NULL);
  _cleanup_free_ char *pushed = NULL;
  assert_ok(
      bothy_registry_put_manifest(reg, repo, "v1", manifest, strlen(manifest), mt, &pushed, E));
  char want[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(manifest, strlen(manifest), want);
  assert_string_equal(pushed, want);

  const char *refs[] = { "v1", want };
  for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
    _cleanup_free_ char *body = NULL, *media_type = NULL, *digest = NULL;
    size_t len = 0;
    assert_ok(bothy_registry_get_manifest(reg, repo, refs[i], NULL, &body, &len, &media_type,
                                          &digest, E));
    assert_int_equal(len, strlen(manifest));
    assert_memory_equal(body, manifest, len);
    assert_string_equal(media_type, mt);
    assert_string_equal(digest, want);
  }

  _cleanup_free_ char *media_type = NULL, *digest = NULL;
  int64_t size = 0;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(
      bothy_registry_head_manifest(reg, repo, "v1", NULL, &media_type, &digest, &size, &err), 1);
  assert_string_equal(media_type, mt);
  assert_string_equal(digest, want);
  assert_int_equal(size, (int64_t) strlen(manifest));
  assert_int_equal(bothy_registry_head_manifest(reg, repo, "nope", NULL, NULL, NULL, NULL, &err),
                   0);
}

static void test_manifest_oci(void **state)
{
  check_manifest_roundtrip(true);
}

static void test_manifest_docker_schema2(void **state)
{
  check_manifest_roundtrip(false);
}

static void test_manifest_missing(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_free_ char *body = NULL;
  int r =
      bothy_registry_get_manifest(reg, "test/oci", "missing", NULL, &body, NULL, NULL, NULL, &err);
  assert_int_equal(r, -ENOENT);
  assert_null(body);
  _cleanup_free_ char *want = xasprintf("pulling manifest 'test/oci:missing' from '%s': 404 Not "
                                        "Found (MANIFEST_UNKNOWN: manifest unknown)",
                                        plain.host);
  assert_string_equal(err->msg, want);
  bothy_error_free(&err);
  /* A repository nothing was pushed to. */
  r = bothy_registry_get_manifest(reg, "never/pushed", "latest", NULL, NULL, NULL, NULL, NULL,
                                  &err);
  assert_int_equal(r, -ENOENT);
  assert_non_null(strstr(err->msg, "404 Not Found"));
}

static void test_manifest_by_digest_is_verified(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  _cleanup_free_ char *manifest = make_manifest(reg, "test/verify", true, NULL);
  _cleanup_free_ char *digest = NULL;
  assert_ok(bothy_registry_put_manifest(reg, "test/verify", "v1", manifest, strlen(manifest),
                                        BOTHY_REGISTRY_MEDIA_OCI_MANIFEST, &digest, E));
  /* The registry keeps manifests as blobs; change one byte on disk, in the
   * "size" of the last layer so that the JSON stays valid (the registry
   * parses what it serves) while the digest no longer matches. */
  const char *at = strstr(manifest, "\"size\":7000");
  assert_non_null(at);
  corrupt_blob(&plain, digest, (off_t) (at - manifest) + 7, '8');
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_free_ char *body = NULL;
  int r =
      bothy_registry_get_manifest(reg, "test/verify", digest, NULL, &body, NULL, NULL, NULL, &err);
  assert_int_equal(r, -EBADMSG);
  assert_null(body);
  assert_non_null(strstr(err->msg, "digest mismatch"));
}

static void test_get_blob(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  char d[BOTHY_DIGEST_MAX];
  const size_t len = 1 << 20;
  _cleanup_free_ char *a = make_content(len, 5);
  push_blob(reg, "test/get", a, len, 0, d);

  struct collect c = { 0 };
  assert_ok(bothy_registry_get_blob(reg, "test/get", d, (int64_t) len, collect_sink, &c, E));
  assert_int_equal(c.len, len);
  assert_memory_equal(c.buf, a, len);
  /* Streamed: more than one piece for a MiB. */
  assert_true(c.calls > 1);
  free(c.buf);

  /* Unknown size is fine too. */
  c = (struct collect){ 0 };
  assert_ok(bothy_registry_get_blob(reg, "test/get", d, -1, collect_sink, &c, E));
  assert_int_equal(c.len, len);
  free(c.buf);

  /* A descriptor size smaller than what the server sends. */
  _cleanup_error_ bothy_error_t err = NULL;
  c = (struct collect){ 0 };
  int r = bothy_registry_get_blob(reg, "test/get", d, 1000, collect_sink, &c, &err);
  assert_int_equal(r, -EBADMSG);
  assert_non_null(strstr(err->msg, "expected 1000 bytes"));
  assert_true(c.len <= 1000);
  free(c.buf);
  bothy_error_free(&err);

  /* The sink's error comes back with context. */
  r = bothy_registry_get_blob(reg, "test/get", d, (int64_t) len, failing_sink, NULL, &err);
  assert_int_equal(r, -ENOSPC);
  _cleanup_free_ char *want = xasprintf("pulling blob 'test/get@%s' from '%s': writing to the "
                                        "store: No space left on device",
                                        d, plain.host);
  assert_string_equal(err->msg, want);
  bothy_error_free(&err);

  /* Missing. */
  char missing[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("missing", 7, missing);
  r = bothy_registry_get_blob(reg, "test/get", missing, -1, collect_sink, &c, &err);
  assert_int_equal(r, -ENOENT);
  assert_non_null(strstr(err->msg, "BLOB_UNKNOWN"));
}

static void test_get_blob_digest_mismatch(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  char d[BOTHY_DIGEST_MAX];
  _cleanup_free_ char *a = make_content(3000, 6);
  push_blob(reg, "test/bad", a, 3000, 0, d);
  corrupt_blob(&plain, d, 0, (char) ~a[0]);

  struct collect c = { 0 };
  _cleanup_error_ bothy_error_t err = NULL;
  int r = bothy_registry_get_blob(reg, "test/bad", d, 3000, collect_sink, &c, &err);
  assert_int_equal(r, -EBADMSG);
  assert_non_null(strstr(err->msg, "digest mismatch"));
  assert_non_null(strstr(err->msg, "test/bad@sha256:"));
  free(c.buf);
}

/* Two downloads driven by one curl_multi handle through the transfer API. */
static void test_blob_transfers_on_a_multi_handle(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  char d[2][BOTHY_DIGEST_MAX];
  _cleanup_free_ char *a = make_content(200000, 7), *b = make_content(300000, 8);
  push_blob(reg, "test/multi", a, 200000, 0, d[0]);
  push_blob(reg, "test/multi", b, 300000, 0, d[1]);

  struct collect c[2] = { { 0 }, { 0 } };
  struct bothy_registry_transfer *t[2] = { NULL, NULL };
  CURLM *multi = curl_multi_init();
  for (int i = 0; i < 2; i++) {
    assert_ok(bothy_registry_blob_transfer_new(reg, "test/multi", d[i], i ? 300000 : 200000,
                                               collect_sink, &c[i], &t[i], E));
    curl_multi_add_handle(multi, bothy_registry_transfer_curl(t[i]));
  }
  int running = 2, done = 0;
  while (done < 2) {
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      int i = msg->easy_handle == bothy_registry_transfer_curl(t[0]) ? 0 : 1;
      curl_multi_remove_handle(multi, msg->easy_handle);
      unsigned delay = 0;
      _cleanup_error_ bothy_error_t err = NULL;
      int r = bothy_registry_transfer_done(t[i], msg->data.result, &delay, &err);
      if (r < 0)
        fail_msg("%s", err->msg);
      if (r == 1)
        curl_multi_add_handle(multi, bothy_registry_transfer_curl(t[i]));
      else
        done++;
    }
    if (done < 2)
      curl_multi_poll(multi, NULL, 0, 100, NULL);
  }
  curl_multi_cleanup(multi);
  assert_int_equal(c[0].len, 200000);
  assert_memory_equal(c[0].buf, a, 200000);
  assert_int_equal(c[1].len, 300000);
  assert_memory_equal(c[1].buf, b, 300000);
  for (int i = 0; i < 2; i++) {
    bothy_registry_transfer_free(t[i]);
    free(c[i].buf);
  }
}

static void test_bad_arguments(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&plain, NULL, NULL, 0);
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(
      bothy_registry_get_manifest(reg, "Upper/case", "v1", NULL, NULL, NULL, NULL, NULL, &err),
      -EINVAL);
  assert_string_equal(err->msg, "invalid repository name 'Upper/case'");
  assert_int_equal(
      bothy_registry_get_manifest(reg, "a/b", "v1/../x", NULL, NULL, NULL, NULL, NULL, &err),
      -EINVAL);
  assert_int_equal(bothy_registry_head_blob(reg, "a/b", "sha256:abc", NULL, &err), -EINVAL);
  struct bothy_registry_opts none = { 0 };
  struct bothy_registry *r2 = NULL;
  assert_int_equal(bothy_registry_new(&none, &r2, &err), -EINVAL);
  assert_null(r2);
}

static void test_connection_refused_is_retried_then_fails(void **state)
{
  struct server closed = { .port = free_port() };
  snprintf(closed.host, sizeof(closed.host), "127.0.0.1:%d", closed.port);
  _cleanup_registry_ struct bothy_registry *reg = client(&closed, NULL, NULL, 2);
  _cleanup_error_ bothy_error_t err = NULL;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int r = bothy_registry_get_manifest(reg, "x/y", "latest", NULL, NULL, NULL, NULL, NULL, &err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(r, -EAGAIN);
  _cleanup_free_ char *want = xasprintf("pulling manifest 'x/y:latest' from '%s': ", closed.host);
  assert_true(strncmp(err->msg, want, strlen(want)) == 0);
  /* Two retries: 250 ms + 500 ms of backoff. */
  long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  assert_true(ms >= 700);
}

/* ---- token auth --------------------------------------------------------- */

static long token_count(void)
{
  _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/count", tokened.token_port);
  _cleanup_free_ char *body = NULL;
  assert_int_equal(http_status(url, &body), 200);
  _cleanup_json_ json_t *doc = json_loads(body, 0, NULL);
  assert_non_null(doc);
  return (long) json_integer_value(json_object_get(doc, "count"));
}

static void test_token_push_then_anonymous_pull(void **state)
{
  /* Push with credentials: the registry challenges, the client fetches a
   * pull,push token with Basic credentials. */
  _cleanup_registry_ struct bothy_registry *alice = client(&tokened, TOKEN_USER, TOKEN_PASS, 0);
  long before = token_count();
  _cleanup_free_ char *layer = NULL;
  _cleanup_free_ char *manifest = make_manifest(alice, "team/app", true, &layer);
  /* One token served every push request of the repository. */
  assert_int_equal(token_count(), before + 1);
  assert_ok(bothy_registry_put_manifest(alice, "team/app", "v1", manifest, strlen(manifest),
                                        BOTHY_REGISTRY_MEDIA_OCI_MANIFEST, NULL, E));
  assert_int_equal(token_count(), before + 1);

  /* Anonymous pull: challenged, then a pull token, then success. */
  _cleanup_registry_ struct bothy_registry *anon = client(&tokened, NULL, NULL, 0);
  before = token_count();
  _cleanup_free_ char *body = NULL, *media_type = NULL;
  assert_ok(
      bothy_registry_get_manifest(anon, "team/app", "v1", NULL, &body, NULL, &media_type, NULL, E));
  assert_string_equal(body, manifest);
  assert_string_equal(media_type, BOTHY_REGISTRY_MEDIA_OCI_MANIFEST);
  assert_int_equal(token_count(), before + 1);

  /* The same scope again: the cached token, no new fetch. */
  _cleanup_free_ char *body2 = NULL;
  assert_ok(bothy_registry_get_manifest(anon, "team/app", "v1", NULL, &body2, NULL, NULL, NULL, E));
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(
      bothy_registry_head_manifest(anon, "team/app", "v1", NULL, NULL, NULL, NULL, &err), 1);
  struct collect c = { 0 };
  assert_ok(bothy_registry_get_blob(anon, "team/app", layer, 5000, collect_sink, &c, E));
  assert_int_equal(c.len, 5000);
  free(c.buf);
  assert_int_equal(token_count(), before + 1);

  /* Another repository is another scope. */
  int r = bothy_registry_get_manifest(anon, "team/other", "v1", NULL, NULL, NULL, NULL, NULL, &err);
  assert_int_equal(r, -ENOENT);
  assert_int_equal(token_count(), before + 2);
}

static void test_token_wrong_password(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&tokened, TOKEN_USER, "wrong", 0);
  _cleanup_error_ bothy_error_t err = NULL;
  int r = bothy_registry_get_manifest(reg, "team/app", "v1", NULL, NULL, NULL, NULL, NULL, &err);
  assert_int_equal(r, -EACCES);
  _cleanup_free_ char *want = xasprintf("pulling manifest 'team/app:v1' from '%s': authentication "
                                        "required for '%s/team/app': token server "
                                        "'http://127.0.0.1:%d/token' answered 401 Unauthorized",
                                        tokened.host, tokened.host, tokened.token_port);
  assert_true(strncmp(err->msg, want, strlen(want)) == 0);
}

static void test_token_anonymous_push_denied(void **state)
{
  _cleanup_registry_ struct bothy_registry *anon = client(&tokened, NULL, NULL, 0);
  char d[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("x", 1, d);
  _cleanup_close_ int fd = tmpfd_with("x", 1);
  _cleanup_error_ bothy_error_t err = NULL;
  /* The token server grants anonymous users pull only: the registry refuses
   * the token for a push, and a fresh token is not retried again. */
  int r = bothy_registry_upload_blob(anon, "team/app", fd, 1, d, 0, &err);
  assert_int_equal(r, -EACCES);
  _cleanup_free_ char *want = xasprintf("authentication required for '%s/team/app'", tokened.host);
  assert_non_null(strstr(err->msg, want));
  assert_non_null(strstr(err->msg, "401 Unauthorized"));
}

/* ---- redirects, retries, Basic (fake_registry.py) ----------------------- */

static json_t *fake_seen(void)
{
  _cleanup_free_ char *url = xasprintf("http://%s/seen", fake.host);
  _cleanup_free_ char *body = NULL;
  assert_int_equal(http_status(url, &body), 200);
  json_t *doc = json_loads(body, 0, NULL);
  assert_non_null(doc);
  return doc;
}

static void test_redirect_drops_authorization(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&fake, NULL, NULL, 0);
  char d[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("hello blob", 10, d);
  struct collect c = { 0 };
  assert_ok(bothy_registry_get_blob(reg, "redir", d, 10, collect_sink, &c, E));
  assert_int_equal(c.len, 10);
  assert_memory_equal(c.buf, "hello blob", 10);
  free(c.buf);
  _cleanup_json_ json_t *seen = fake_seen();
  assert_int_equal(json_integer_value(json_object_get(seen, "tokens")), 1);
  assert_int_equal(json_integer_value(json_object_get(seen, "storage_hits")), 1);
  /* The storage host ("localhost", not "127.0.0.1") got no token. */
  assert_true(json_is_null(json_object_get(seen, "storage_auth")));
}

static void test_retry_429_then_503(void **state)
{
  _cleanup_registry_ struct bothy_registry *reg = client(&fake, NULL, NULL, 2);
  _cleanup_free_ char *media_type = NULL;
  assert_ok(bothy_registry_get_manifest(reg, "flaky", "x", NULL, NULL, NULL, &media_type, NULL, E));
  assert_string_equal(media_type, BOTHY_REGISTRY_MEDIA_OCI_MANIFEST);
  _cleanup_json_ json_t *seen = fake_seen();
  assert_int_equal(json_integer_value(json_object_get(seen, "flaky_hits")), 3);
}

static void test_basic_auth(void **state)
{
  _cleanup_registry_ struct bothy_registry *alice = client(&fake, TOKEN_USER, TOKEN_PASS, 0);
  assert_ok(bothy_registry_get_manifest(alice, "basic", "x", NULL, NULL, NULL, NULL, NULL, E));

  /* Without credentials, and with wrong ones; 401 is not retried. */
  _cleanup_registry_ struct bothy_registry *anon = client(&fake, NULL, NULL, 3);
  _cleanup_registry_ struct bothy_registry *bad = client(&fake, TOKEN_USER, "wrong", 3);
  struct bothy_registry *regs[] = { anon, bad };
  for (size_t i = 0; i < ARRAY_SIZE(regs); i++) {
    _cleanup_error_ bothy_error_t err = NULL;
    int r = bothy_registry_get_manifest(regs[i], "basic", "x", NULL, NULL, NULL, NULL, NULL, &err);
    assert_int_equal(r, -EACCES);
    _cleanup_free_ char *want = xasprintf("pulling manifest 'basic:x' from '%s': authentication "
                                          "required for '%s/basic': 401 Unauthorized "
                                          "(UNAUTHORIZED: login)",
                                          fake.host, fake.host);
    assert_string_equal(err->msg, want);
  }
}

/* One cmocka group (one TAP plan for meson): the three servers start together. */
static int teardown_all(void **state)
{
  teardown_fake(state);
  teardown_token(state);
  return teardown_plain(state);
}

static int setup_all(void **state)
{
  if (setup_plain(state) < 0)
    return -1;
  if (setup_token(state) < 0) {
    teardown_plain(state);
    return -1;
  }
  if (setup_fake(state) < 0) {
    teardown_token(state);
    teardown_plain(state);
    return -1;
  }
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_upload_monolithic_and_chunked),
    cmocka_unit_test(test_upload_wrong_digest_fails),
    cmocka_unit_test(test_mount),
    cmocka_unit_test(test_manifest_oci),
    cmocka_unit_test(test_manifest_docker_schema2),
    cmocka_unit_test(test_manifest_missing),
    cmocka_unit_test(test_manifest_by_digest_is_verified),
    cmocka_unit_test(test_get_blob),
    cmocka_unit_test(test_get_blob_digest_mismatch),
    cmocka_unit_test(test_blob_transfers_on_a_multi_handle),
    cmocka_unit_test(test_bad_arguments),
    cmocka_unit_test(test_connection_refused_is_retried_then_fails),
    cmocka_unit_test(test_token_push_then_anonymous_pull),
    cmocka_unit_test(test_token_wrong_password),
    cmocka_unit_test(test_token_anonymous_push_denied),
    cmocka_unit_test(test_redirect_drops_authorization),
    cmocka_unit_test(test_retry_429_then_503),
    cmocka_unit_test(test_basic_auth),
  };
  return cmocka_run_group_tests_name("registry", tests, setup_all, teardown_all);
}
