/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src/base: errors, strv, atomic writes, in-root resolution, json getters. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/db.h"
#include "base/digest.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/process.h"
#include "base/strv.h"
#include "base/xalloc.h"

static char *make_tmpdir(void)
{
  char *d = xstrdup("/tmp/bothy-unit.XXXXXX");
  assert_non_null(mkdtemp(d));
  return d;
}

static void rm_tmpdir(char *d)
{
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, d, NULL), 0);
  free(d);
}

static void test_error_set_and_prefix(void **state)
{
  bothy_error_t err = NULL;
  int r = bothy_error_set(&err, ENOENT, "cannot open '%s'", "x");
  assert_int_equal(r, -ENOENT);
  assert_string_equal(err->msg, "cannot open 'x': No such file or directory");
  r = bothy_error_prefix(&err, "loading '%s'", "cfg");
  assert_int_equal(r, -ENOENT);
  assert_string_equal(err->msg, "loading 'cfg': cannot open 'x': No such file or directory");
  assert_int_equal(bothy_error_set(&err, 0, "plain"), -1);
  assert_string_equal(err->msg, "plain");
  bothy_error_free(&err);
  assert_null(err);
  /* A NULL error pointer is allowed everywhere. */
  assert_int_equal(bothy_error_set(NULL, EINVAL, "x"), -EINVAL);
}

static void test_strv_env(void **state)
{
  _cleanup_strv_free_ char **env = NULL;
  strv_env_set(&env, "A=1");
  strv_env_set(&env, "B=2");
  strv_env_set(&env, "A=3");
  assert_int_equal(strv_length(env), 2);
  assert_string_equal(strv_env_get(env, "A"), "3");
  assert_string_equal(strv_env_get(env, "B"), "2");
  assert_null(strv_env_get(env, "AB"));
  _cleanup_strv_free_ char **copy = strv_copy(env);
  assert_string_equal(copy[1], "B=2");
}

static void test_atomic_write(void **state)
{
  char *d = make_tmpdir();
  _cleanup_close_ int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(dfd >= 0);
  assert_int_equal(bothy_write_file_atomic(dfd, "f", "one", 3, 0600, NULL), 0);
  assert_int_equal(bothy_write_file_atomic(dfd, "f", "second", 6, 0640, NULL), 0);
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  assert_int_equal(bothy_read_file(dfd, "f", &data, &len, NULL), 0);
  assert_int_equal(len, 6);
  assert_string_equal(data, "second");
  struct stat st;
  assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  /* No temporary file is left beside it. */
  _cleanup_closedir_ DIR *dir = opendir(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(dir)))
    if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
      n++;
  assert_int_equal(n, 1);
  /* A write into a missing directory fails and names the file. */
  bothy_error_t err = NULL;
  _cleanup_close_ int bad = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(bothy_write_file_atomic(bad, "proc/nope/x", "a", 1, 0600, &err) < 0);
  assert_non_null(strstr(err->msg, "nope"));
  bothy_error_free(&err);
  rm_tmpdir(d);
}

static void test_in_root_resolution(void **state)
{
  char *d = make_tmpdir();
  _cleanup_close_ int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* A symlink pointing outside the root is resolved inside it. */
  assert_int_equal(symlinkat("/etc", dfd, "escape"), 0);
  assert_int_equal(symlinkat("../../../../tmp", dfd, "up"), 0);
  bothy_error_t err = NULL;
  int fd = bothy_mkdir_p_in_root(dfd, "/escape/sub/dir", 0755, &err);
  assert_true(fd >= 0);
  close(fd);
  struct stat st;
  assert_int_equal(fstatat(dfd, "etc/sub/dir", &st, 0), 0); /* created inside */
  assert_true(S_ISDIR(st.st_mode));
  assert_int_not_equal(stat("/etc/sub", &st), 0); /* not on the host */
  fd = bothy_touch_in_root(dfd, "up/file", 0644, &err);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(fstatat(dfd, "tmp/file", &st, 0), 0);
  rm_tmpdir(d);
}

static void test_json_getters(void **state)
{
  json_t *o = NULL;
  bothy_error_t err = NULL;
  const char *doc = "{\"s\": \"x\", \"n\": 5, \"neg\": -1, \"a\": [\"p\", \"q\"], \"bad\": [1]}";
  assert_int_equal(bothy_json_load_data(doc, strlen(doc), "doc", &o, &err), 0);
  const char *s = NULL;
  assert_int_equal(bothy_json_string(o, "s", "ctx", &s, &err), 1);
  assert_string_equal(s, "x");
  assert_int_equal(bothy_json_string(o, "missing", "ctx", &s, &err), 0);
  uint64_t u = 0;
  assert_int_equal(bothy_json_uint64(o, "n", "ctx", &u, &err), 1);
  assert_int_equal(u, 5);
  assert_true(bothy_json_uint64(o, "neg", "ctx", &u, &err) < 0);
  assert_string_equal(err->msg, "'ctx.neg' must be a non-negative integer");
  char **v = NULL;
  assert_int_equal(bothy_json_strv(o, "a", NULL, &v, &err), 1);
  assert_int_equal(strv_length(v), 2);
  strv_free(v);
  v = NULL;
  assert_true(bothy_json_strv(o, "bad", NULL, &v, &err) < 0);
  assert_string_equal(err->msg, "'bad' must be an array of strings");
  bothy_error_free(&err);
  json_decref(o);
  assert_true(bothy_json_load_data("{", 1, "broken", &o, &err) < 0);
  assert_non_null(strstr(err->msg, "broken: invalid JSON at line 1"));
  bothy_error_free(&err);
}

static void test_cmd_timeout_and_stdin(void **state)
{
  char *const argv[] = { (char *) "sh", (char *) "-c", (char *) "read x; exit $x", NULL };
  struct bothy_cmd cmd = { .path = "/bin/sh",
                           .argv = argv,
                           .input = "7\n",
                           .input_len = 2,
                           .stdout_fd = -1,
                           .stderr_fd = -1 };
  int st = 0;
  assert_int_equal(bothy_cmd_run(&cmd, &st, NULL), 0);
  assert_int_equal(bothy_exit_code(st), 7);
  char *const sleeper[] = { (char *) "sh", (char *) "-c", (char *) "exec sleep 30", NULL };
  struct bothy_cmd slow = {
    .path = "/bin/sh", .argv = sleeper, .timeout_sec = 1, .stdout_fd = -1, .stderr_fd = -1
  };
  bothy_error_t err = NULL;
  assert_true(bothy_cmd_run(&slow, &st, &err) < 0);
  assert_int_equal(err->code, ETIMEDOUT);
  bothy_error_free(&err);
}

static void test_digest(void **state)
{
  char d[BOTHY_DIGEST_MAX];
  bothy_digest_buffer("abc", 3, d);
  assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* Streaming in pieces gives the same. */
  _cleanup_digester_ struct bothy_digester *g = bothy_digester_new();
  bothy_digester_update(g, "a", 1);
  bothy_digester_update(g, "bc", 2);
  char d2[BOTHY_DIGEST_MAX];
  bothy_digester_final(g, d2);
  assert_string_equal(d, d2);
  assert_int_equal(bothy_digest_validate(d, NULL), 0);
  assert_string_equal(bothy_digest_hex(d), d + 7);
  bothy_error_t err = NULL;
  assert_true(bothy_digest_validate("sha256:ABC", &err) < 0);
  assert_string_equal(err->msg, "invalid digest 'sha256:ABC': want 64 lowercase hex digits");
  assert_true(bothy_digest_validate("md5:00", &err) < 0);
  assert_true(bothy_digest_validate("nocolon", &err) < 0);
  assert_true(bothy_digest_validate("sha256:../../etc/passwd", &err) < 0);
  bothy_error_free(&err);
}

static void test_db_migrate_concurrently(void **state)
{
  char *d = make_tmpdir();
  _cleanup_free_ char *path = xasprintf("%s/inv.db", d);
  static const char *const migrations[] = {
    "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)",
    "ALTER TABLE t ADD COLUMN w TEXT",
  };
  /* Four processes open and migrate at once, then each inserts 25 rows. */
  pid_t kids[4];
  for (int i = 0; i < 4; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) {
      sqlite3 *db = NULL;
      if (bothy_db_open(path, &db, NULL) < 0 || bothy_db_migrate(db, "t", migrations, 2, NULL) < 0)
        _exit(1);
      for (int j = 0; j < 25; j++) {
        _cleanup_free_ char *sql =
            xasprintf("INSERT INTO t (k, v, w) VALUES ('%d-%d', %d, 'x')", i, j, j);
        if (bothy_db_exec(db, sql, NULL) < 0)
          _exit(2);
      }
      sqlite3_close_v2(db);
      _exit(0);
    }
  }
  for (int i = 0; i < 4; i++) {
    int st = 0;
    assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  sqlite3 *db = NULL;
  assert_int_equal(bothy_db_open(path, &db, NULL), 0);
  sqlite3_stmt *st = NULL;
  assert_int_equal(bothy_db_prepare(db, "SELECT COUNT(*) FROM t", &st, NULL), 0);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 100);
  sqlite3_finalize(st);
  assert_int_equal(bothy_db_prepare(db, "SELECT version FROM schema WHERE name='t'", &st, NULL), 0);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);
  bothy_error_t err = NULL;
  assert_true(bothy_db_exec(db, "SELECT * FROM nope", &err) < 0);
  assert_non_null(strstr(err->msg, "no such table: nope"));
  bothy_error_free(&err);
  sqlite3_close_v2(db);
  rm_tmpdir(d);
}

/* The plain SHA-256 against FIPS 180-4's examples and against libcrypto's
 * (the streaming digester) at every length around the block boundaries and
 * past the 1 MiB where bothy_digest_buffer switches to libcrypto. */
static void test_sha256_plain(void **state)
{
  static const struct {
    const char *in;
    const char *hex;
  } vec[] = {
    { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(vec); i++) {
    char d[BOTHY_DIGEST_MAX];
    bothy_digest_buffer(vec[i].in, strlen(vec[i].in), d);
    assert_string_equal(d + 7, vec[i].hex);
  }
  size_t big = 2 * 1024 * 1024 + 17;
  unsigned char *buf = xmalloc(big);
  for (size_t i = 0; i < big; i++)
    buf[i] = (unsigned char) (i * 2654435761U >> 13);
  size_t lens[200];
  size_t n = 0;
  for (size_t l = 0; l < 160; l++)
    lens[n++] = l;
  lens[n++] = 1000;
  lens[n++] = 4096;
  lens[n++] = 1024 * 1024 - 1;
  lens[n++] = 1024 * 1024;
  lens[n++] = 1024 * 1024 + 1;
  lens[n++] = big;
  for (size_t i = 0; i < n; i++) {
    char a[BOTHY_DIGEST_MAX], b[BOTHY_DIGEST_MAX];
    bothy_digest_buffer(buf, lens[i], a);
    _cleanup_digester_ struct bothy_digester *g = bothy_digester_new();
    bothy_digester_update(g, buf, lens[i]);
    bothy_digester_final(g, b);
    assert_string_equal(a, b);
  }
  free(buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_error_set_and_prefix),
    cmocka_unit_test(test_sha256_plain),
    cmocka_unit_test(test_strv_env),
    cmocka_unit_test(test_atomic_write),
    cmocka_unit_test(test_in_root_resolution),
    cmocka_unit_test(test_json_getters),
    cmocka_unit_test(test_cmd_timeout_and_stdin),
    cmocka_unit_test(test_digest),
    cmocka_unit_test(test_db_migrate_concurrently),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
