/* SPDX-License-Identifier: GPL-2.0-or-later */
/* image/auth: the saved registry credentials, ROOT/auth.json. Each test
 * uses a fresh temporary directory whose root/ does not exist yet, and
 * checks the bytes and modes on disk. (Logging in against a registry is
 * tested end to end in tests/integration/test_push.py.) */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "image/auth.h"

struct fixture {
  char *dir;  /* the mkdtemp directory */
  char *root; /* dir/root, not created */
  char *file; /* dir/root/auth.json */
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  f->dir = xstrdup("/tmp/bothy-auth.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->root = xasprintf("%s/root", f->dir);
  f->file = xasprintf("%s/auth.json", f->root);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->dir, NULL), 0);
  free(f->file);
  free(f->root);
  free(f->dir);
  free(f);
  return 0;
}

static char *read_all(const char *path)
{
  char *s = NULL;
  assert_int_equal(bothy_read_file(AT_FDCWD, path, &s, NULL, NULL), 0);
  return s;
}

static void write_raw(struct fixture *f, const char *data)
{
  assert_int_equal(bothy_mkdir_p(f->root, 0700, NULL), 0);
  _cleanup_close_ int fd = open(f->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(bothy_write_all(fd, data, strlen(data)), 0);
}

/* The "auth" field of host's entry, as written. */
static const char *auth_field(json_t *doc, const char *host)
{
  return json_string_value(
      json_object_get(json_object_get(json_object_get(doc, "auths"), host), "auth"));
}

static void test_round_trip(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "alice", "s3cret", &err), 0);
  /* A password may hold ':' and anything else: only the first ':' splits. */
  assert_int_equal(bothy_auth_save(f->root, "quay.io", "bob", "p:a:ss w\xc3\xb6rd", &err), 0);

  /* docker's format, byte for byte what docker and podman read. */
  _cleanup_json_ json_t *doc = NULL;
  assert_int_equal(bothy_json_load_file(f->file, &doc, NULL), 0);
  assert_string_equal(auth_field(doc, "127.0.0.1:5000"), "YWxpY2U6czNjcmV0"); /* alice:s3cret */
  assert_string_equal(auth_field(doc, "quay.io"), "Ym9iOnA6YTpzcyB3w7ZyZA==");
  assert_int_equal(json_object_size(json_object_get(doc, "auths")), 2);

  _cleanup_free_ char *user = NULL;
  _cleanup_secret_ char *pass = NULL;
  assert_int_equal(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err), 1);
  assert_string_equal(user, "alice");
  assert_string_equal(pass, "s3cret");
  free(user);
  bothy_auth_secret_freep(&pass);
  assert_int_equal(bothy_auth_lookup(f->root, "https://QUAY.io/v2/", &user, &pass, &err), 1);
  assert_string_equal(user, "bob");
  assert_string_equal(pass, "p:a:ss w\xc3\xb6rd");
  free(user);
  bothy_auth_secret_freep(&pass);

  /* Saving again replaces the entry. */
  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "alice", "new", &err), 0);
  assert_int_equal(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err), 1);
  assert_string_equal(pass, "new");
  assert_null(err);
}

static void test_lookup_missing(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  char *user = (char *) "x", *pass = (char *) "y";
  /* No file at all (and looking does not create one). */
  assert_int_equal(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err), 0);
  assert_null(user);
  assert_null(pass);
  assert_false(bothy_path_exists(f->root));
  /* A file without that host. */
  assert_int_equal(bothy_auth_save(f->root, "quay.io", "bob", "pw", &err), 0);
  user = (char *) "x";
  assert_int_equal(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err), 0);
  assert_null(user);
  assert_null(pass);
  assert_null(err);
}

static void test_mode_0600(void **state)
{
  struct fixture *f = *state;
  mode_t old = umask(0);
  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "alice", "pw", NULL), 0);
  umask(old);
  struct stat st;
  assert_int_equal(stat(f->file, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(stat(f->root, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0700);

  /* A file someone made readable is made private again on the next write. */
  assert_int_equal(chmod(f->file, 0644), 0);
  assert_int_equal(bothy_auth_save(f->root, "quay.io", "bob", "pw", NULL), 0);
  assert_int_equal(stat(f->file, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(bothy_auth_remove(f->root, "quay.io", NULL), 1);
  assert_int_equal(stat(f->file, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  /* No temporary file is left beside it. */
  _cleanup_free_ char *tmp = xasprintf("%s/.auth.json.tmp.%d", f->root, (int) getpid());
  assert_false(bothy_path_exists(tmp));
}

static void test_logout(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  /* Nothing saved anywhere: nothing to remove, and no file appears. */
  assert_int_equal(bothy_auth_remove(f->root, "127.0.0.1:5000", &err), 0);
  assert_false(bothy_path_exists(f->file));
  assert_int_equal(bothy_auth_remove_all(f->root, &err), 0);

  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "alice", "pw", &err), 0);
  assert_int_equal(bothy_auth_save(f->root, "quay.io", "bob", "pw", &err), 0);
  _cleanup_free_ char *before = read_all(f->file);
  /* An unknown host: 0, and the file is untouched. */
  assert_int_equal(bothy_auth_remove(f->root, "example.com", &err), 0);
  _cleanup_free_ char *after = read_all(f->file);
  assert_string_equal(before, after);

  assert_int_equal(bothy_auth_remove(f->root, "127.0.0.1:5000", &err), 1);
  _cleanup_free_ char *user = NULL, *pass = NULL;
  assert_int_equal(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err), 0);
  assert_int_equal(bothy_auth_lookup(f->root, "quay.io", &user, &pass, &err), 1);
  assert_int_equal(bothy_auth_remove(f->root, "127.0.0.1:5000", &err), 0);

  assert_int_equal(bothy_auth_remove_all(f->root, &err), 1);
  _cleanup_json_ json_t *doc = NULL;
  assert_int_equal(bothy_json_load_file(f->file, &doc, NULL), 0);
  assert_int_equal(json_object_size(json_object_get(doc, "auths")), 0);
  assert_null(err);
}

/* A file bothy cannot read as a whole: every call fails naming the file,
 * and nothing rewrites it. */
static void expect_corrupt(struct fixture *f, const char *content, const char *needle)
{
  write_raw(f, content);
  _cleanup_free_ char *before = read_all(f->file);
  _cleanup_free_ char *user = NULL, *pass = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_true(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err) < 0);
  assert_non_null(err);
  /* The message names the file and says what is wrong with it. */
  assert_non_null(strstr(err->msg, f->file));
  if (!strstr(err->msg, needle))
    fail_msg("'%s' not in '%s'", needle, err->msg);
  bothy_error_free(&err);
  /* Writing refuses too, rather than replacing what it cannot read. */
  assert_true(bothy_auth_save(f->root, "quay.io", "bob", "pw", &err) < 0);
  assert_non_null(strstr(err->msg, f->file));
  bothy_error_free(&err);
  assert_true(bothy_auth_remove(f->root, "127.0.0.1:5000", &err) < 0);
  bothy_error_free(&err);
  assert_true(bothy_auth_remove_all(f->root, &err) < 0);
  bothy_error_free(&err);
  _cleanup_free_ char *after = read_all(f->file);
  assert_string_equal(before, after);
}

/* One bad entry: using it fails with a message naming the file and the
 * entry; other entries stay usable and the bad one is kept as it is until
 * a login or logout for its host replaces or removes it. */
static void expect_bad_entry(struct fixture *f, const char *entry, const char *needle)
{
  _cleanup_free_ char *content = xasprintf(
      "{\"auths\": {\"127.0.0.1:5000\": %s, \"quay.io\": {\"auth\": \"Ym9iOnB3\"}}}", entry);
  write_raw(f, content);
  _cleanup_free_ char *user = NULL, *pass = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_true(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err) < 0);
  assert_non_null(strstr(err->msg, f->file));
  if (!strstr(err->msg, needle))
    fail_msg("'%s' not in '%s'", needle, err->msg);
  bothy_error_free(&err);
  assert_int_equal(bothy_auth_lookup(f->root, "quay.io", &user, &pass, &err), 1);
  assert_string_equal(user, "bob");
  free(user);
  free(pass);
  user = pass = NULL;

  assert_int_equal(bothy_auth_save(f->root, "example.com", "carol", "pw", &err), 0);
  _cleanup_json_ json_t *doc = NULL;
  assert_int_equal(bothy_json_load_file(f->file, &doc, NULL), 0);
  _cleanup_json_ json_t *want = json_loads(entry, JSON_DECODE_ANY, NULL);
  assert_non_null(want);
  assert_true(json_equal(json_object_get(json_object_get(doc, "auths"), "127.0.0.1:5000"), want));

  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "alice", "pw", &err), 0);
  assert_int_equal(bothy_auth_lookup(f->root, "127.0.0.1:5000", &user, &pass, &err), 1);
  assert_string_equal(user, "alice");
  assert_null(err);
}

static void test_corrupt(void **state)
{
  struct fixture *f = *state;
  expect_corrupt(f, "{\"auths\": {\"127.0.0.1:5000\": ", "invalid JSON at line 1");
  expect_corrupt(f, "", "invalid JSON");
  expect_corrupt(f, "[1, 2]", "not a JSON object");
  expect_corrupt(f, "{\"auths\": []}", "'auths' must be an object");
  expect_bad_entry(f, "\"x\"", "entry '127.0.0.1:5000' must be an object");
  expect_bad_entry(f, "{\"auth\": \"not base64!\"}",
                   "'127.0.0.1:5000.auth' is not base64 of 'username:password'");
  /* base64 of "nocolon" */
  expect_bad_entry(f, "{\"auth\": \"bm9jb2xvbg==\"}", "is not base64 of 'username:password'");
  expect_bad_entry(f, "{\"auth\": 42}", "must be a string");
}

/* Files written by docker or podman: their key spellings are found, and
 * what bothy does not use is kept. */
static void test_foreign_file(void **state)
{
  struct fixture *f = *state;
  write_raw(f, "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"YWxpY2U6czNjcmV0\"},"
               " \"ghcr.io\": {\"identitytoken\": \"tok\"}},"
               " \"credHelpers\": {\"gcr.io\": \"gcloud\"}}");
  bothy_error_t err = NULL;
  _cleanup_free_ char *user = NULL;
  _cleanup_secret_ char *pass = NULL;
  assert_int_equal(bothy_auth_lookup(f->root, "docker.io", &user, &pass, &err), 1);
  assert_string_equal(user, "alice");
  assert_string_equal(pass, "s3cret");
  /* An entry without "auth" is not one bothy can use. */
  free(user);
  bothy_auth_secret_freep(&pass);
  assert_int_equal(bothy_auth_lookup(f->root, "ghcr.io", &user, &pass, &err), 0);

  /* Saving Docker Hub replaces docker's spelling with one entry. */
  assert_int_equal(bothy_auth_save(f->root, "index.docker.io", "carol", "pw", &err), 0);
  _cleanup_json_ json_t *doc = NULL;
  assert_int_equal(bothy_json_load_file(f->file, &doc, NULL), 0);
  json_t *auths = json_object_get(doc, "auths");
  assert_null(json_object_get(auths, "https://index.docker.io/v1/"));
  assert_string_equal(auth_field(doc, "docker.io"), "Y2Fyb2w6cHc="); /* carol:pw */
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(auths, "ghcr.io"), "identitytoken")),
      "tok");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(doc, "credHelpers"), "gcr.io")), "gcloud");
  assert_null(err);
}

static void test_bad_input(void **state)
{
  struct fixture *f = *state;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "al:ice", "pw", &err), -EINVAL);
  assert_non_null(strstr(err->msg, "'al:ice'"));
  bothy_error_free(&err);
  assert_int_equal(bothy_auth_save(f->root, "127.0.0.1:5000", "", "pw", &err), -EINVAL);
  bothy_error_free(&err);
  assert_int_equal(bothy_auth_save(f->root, "bad host", "alice", "pw", &err), -EINVAL);
  assert_non_null(strstr(err->msg, "invalid registry host 'bad host'"));
  bothy_error_free(&err);
  assert_int_equal(bothy_auth_save(f->root, "https:///", "alice", "pw", &err), -EINVAL);
  assert_false(bothy_path_exists(f->file));
}

static void test_hosts(void **state)
{
  static const struct {
    const char *in, *out;
  } norm[] = {
    { "127.0.0.1:5000", "127.0.0.1:5000" },        { "https://Quay.IO/v2/", "quay.io" },
    { "http://localhost:5000", "localhost:5000" }, { "https://index.docker.io/v1/", "docker.io" },
    { "registry-1.docker.io", "docker.io" },       { "[::1]:5000", "[::1]:5000" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(norm); i++) {
    _cleanup_free_ char *h = NULL;
    assert_int_equal(bothy_auth_host_normalize(norm[i].in, &h, NULL), 0);
    assert_string_equal(h, norm[i].out);
  }
  assert_true(bothy_auth_host_is_loopback("127.0.0.1:5000"));
  assert_true(bothy_auth_host_is_loopback("127.1.2.3"));
  assert_true(bothy_auth_host_is_loopback("localhost"));
  assert_true(bothy_auth_host_is_loopback("localhost:5000"));
  assert_true(bothy_auth_host_is_loopback("[::1]:5000"));
  assert_false(bothy_auth_host_is_loopback("127.example.com"));
  assert_false(bothy_auth_host_is_loopback("localhost.example.com:5000"));
  assert_false(bothy_auth_host_is_loopback("[::1]evil.com"));
  assert_false(bothy_auth_host_is_loopback("10.0.0.1:5000"));
  assert_false(bothy_auth_host_is_loopback("quay.io"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lookup_missing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_mode_0600, setup, teardown),
    cmocka_unit_test_setup_teardown(test_logout, setup, teardown),
    cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
    cmocka_unit_test_setup_teardown(test_foreign_file, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    cmocka_unit_test(test_hosts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
