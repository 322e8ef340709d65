/* SPDX-License-Identifier: GPL-2.0-or-later */
/* container/inventory and container/volume: the records in ROOT/bothy.db and
 * the volume directories beside them. Each test opens a fresh root in a
 * temporary directory. The forked children of the concurrency tests never
 * use cmocka (its longjmp would go on with the tests in the child): they
 * report through their exit status. */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/db.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "container/inventory.h"
#include "container/volume.h"
#include "runtime/state.h"

struct fixture {
  char *dir;  /* the mkdtemp directory */
  char *root; /* dir/root: bothy's root */
  struct bothy_inventory *inv;
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  f->dir = xstrdup("/tmp/bothy-inventory.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->root = xasprintf("%s/root", f->dir);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_inventory_open(f->root, &f->inv, &err), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  bothy_inventory_close(f->inv);
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->dir, NULL), 0);
  free(f->root);
  free(f->dir);
  free(f);
  return 0;
}

/* A 64-hex id that starts with prefix (zeros after it). */
static char *make_id(const char *prefix)
{
  return xasprintf("%s%0*d", prefix, (int) (64 - strlen(prefix)), 0);
}

/* Adds a container; returns what bothy_inventory_ctr_add returned, with the
 * error message in *ret_msg (optional, caller frees) when it failed. */
static int add_full(struct fixture *f, const char *id, const char *name, const char *created,
                    char **volumes, char **ret_msg)
{
  _cleanup_json_ json_t *cfg = json_pack("{s:s, s:i}", "restart", "no", "n", 7);
  struct bothy_ctr_record r = {
    .id = (char *) id,
    .name = (char *) name,
    .image = "busybox:latest",
    .image_id = "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    .created = (char *) created,
    .state = "creating",
    .creator_pid = getpid(),
    .creator_start = 1234567890123ULL,
    .config = cfg,
    .volumes = volumes,
  };
  bothy_error_t err = NULL;
  int ret = bothy_inventory_ctr_add(f->inv, &r, &err);
  if (ret < 0) {
    assert_non_null(err);
    assert_int_equal(ret, -err->code);
    if (ret_msg)
      *ret_msg = xstrdup(err->msg);
    bothy_error_free(&err);
  } else {
    assert_null(err);
    if (!name)
      free(r.name); /* generated, ours */
  }
  return ret;
}

static int add(struct fixture *f, const char *id, const char *name, char **ret_msg)
{
  return add_full(f, id, name, NULL, NULL, ret_msg);
}

static struct bothy_ctr_record *get(struct fixture *f, const char *ref)
{
  bothy_error_t err = NULL;
  struct bothy_ctr_record *r = NULL;
  assert_int_equal(bothy_inventory_ctr_get(f->inv, ref, &r, &err), 0);
  assert_null(err);
  return r;
}

/* Expects get(ref) to fail with code and message. */
static void get_fails(struct fixture *f, const char *ref, int code, const char *msg)
{
  bothy_error_t err = NULL;
  struct bothy_ctr_record *r = NULL;
  assert_int_equal(bothy_inventory_ctr_get(f->inv, ref, &r, &err), -code);
  assert_null(r);
  assert_string_equal(err->msg, msg);
  bothy_error_free(&err);
}

static size_t count_containers(struct fixture *f)
{
  struct bothy_ctr_record **v = NULL;
  size_t n = 0;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_inventory_ctr_list(f->inv, &v, &n, &err), 0);
  bothy_ctr_records_free(v, n);
  return n;
}

static void test_add_and_get(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *id = make_id("4a5b6c");
  assert_int_equal(add(f, id, "web", NULL), 0);

  _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
  assert_string_equal(r->id, id);
  assert_string_equal(r->name, "web");
  assert_string_equal(r->image, "busybox:latest");
  assert_string_equal(r->image_id,
                      "sha256:1111111111111111111111111111111111111111111111111111111111111111");
  assert_string_equal(r->state, "creating");
  assert_int_equal(r->creator_pid, getpid());
  assert_true(r->creator_start == 1234567890123ULL);
  assert_false(r->user_stopped);
  assert_null(r->volumes);
  assert_string_equal(json_string_value(json_object_get(r->config, "restart")), "no");
  assert_int_equal(json_integer_value(json_object_get(r->config, "n")), 7);
  /* created defaults to now: RFC 3339 with nanoseconds, UTC. */
  assert_int_equal(strlen(r->created), strlen("2026-01-01T00:00:00.123456789Z"));
  assert_int_equal(r->created[10], 'T');
  assert_int_equal(r->created[29], 'Z');

  /* By a prefix (one character is enough when unique), by name, by /name. */
  const char *refs[] = { "4", "4a5b6c", "web", "/web" };
  for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
    _cleanup_ctr_record_ struct bothy_ctr_record *o = get(f, refs[i]);
    assert_string_equal(o->id, id);
  }
  get_fails(f, "nope", ENOENT, "no such container: nope");
  get_fails(f, "4a5b6d", ENOENT, "no such container: 4a5b6d");
  get_fails(f, "", ENOENT, "no such container: ");
  /* A prefix is lowercase hex: "WEB" is neither a name nor a prefix. */
  get_fails(f, "WEB", ENOENT, "no such container: WEB");
}

static void test_name_conflicts(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = make_id("aaaa1111bbbb");
  _cleanup_free_ char *b = make_id("bbbb");
  _cleanup_free_ char *c = make_id("cccc");
  _cleanup_free_ char *msg = NULL;
  assert_int_equal(add(f, a, "web", NULL), 0);
  assert_int_equal(add(f, b, "web", &msg), -EEXIST);
  assert_string_equal(msg,
                      "the container name \"web\" is already in use by container aaaa1111bbbb");
  /* A leading '/' is the same name. */
  free(msg);
  msg = NULL;
  assert_int_equal(add(f, b, "/web", &msg), -EEXIST);
  assert_non_null(strstr(msg, "already in use by container aaaa1111bbbb"));
  /* The same id again. */
  free(msg);
  msg = NULL;
  assert_int_equal(add(f, a, "other", &msg), -EEXIST);
  assert_non_null(strstr(msg, a));
  /* A '/' given by the user is dropped. */
  assert_int_equal(add(f, c, "/db", NULL), 0);
  _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, "db");
  assert_string_equal(r->name, "db");
  assert_string_equal(r->id, c);
  /* Names are case-sensitive, as docker's. */
  assert_int_equal(add(f, b, "Web", NULL), 0);
  assert_int_equal(count_containers(f), 3);
}

static void test_invalid_names(void **state)
{
  struct fixture *f = *state;
  const char *bad[] = { "-web", "_web", ".web", "we b", "web/x", "wéb", "web!", "/", "//web" };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    _cleanup_free_ char *id = make_id("1");
    _cleanup_free_ char *msg = NULL;
    assert_int_equal(add(f, id, bad[i], &msg), -EINVAL);
    _cleanup_free_ char *want = xasprintf(
        "invalid container name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", bad[i]);
    assert_string_equal(msg, want);
  }
  assert_int_equal(count_containers(f), 0);
  /* Bad ids and states. */
  _cleanup_free_ char *msg = NULL;
  assert_int_equal(add(f, "abc", "x", &msg), -EINVAL);
  _cleanup_free_ char *upper = make_id("ABC");
  assert_int_equal(add(f, upper, "x", NULL), -EINVAL);
  /* The shortest and the other allowed characters. */
  _cleanup_free_ char *one = make_id("1");
  _cleanup_free_ char *two = make_id("2");
  assert_int_equal(add(f, one, "a", NULL), 0);
  assert_int_equal(add(f, two, "9Z_a.b-c", NULL), 0);
  assert_int_equal(count_containers(f), 2);
}

static bool generated_name_ok(const char *n)
{
  const char *u = strchr(n, '_');
  if (!u || u == n || strchr(u + 1, '_'))
    return false;
  for (const char *p = n; *p; p++)
    if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
      return false;
  return true;
}

static void test_generated_names(void **state)
{
  struct fixture *f = *state;
  _cleanup_strv_free_ char **names = NULL;
  for (int i = 0; i < 200; i++) {
    _cleanup_free_ char *id = xasprintf("%08x%056d", (unsigned) i, 0);
    struct bothy_ctr_record r = { .id = id, .created = "2026-01-01T00:00:00.000000000Z" };
    bothy_error_t err = NULL;
    assert_int_equal(bothy_inventory_ctr_add(f->inv, &r, &err), 0);
    assert_non_null(r.name);
    assert_true(generated_name_ok(r.name));
    for (size_t k = 0; names && names[k]; k++)
      assert_string_not_equal(names[k], r.name);
    _cleanup_ctr_record_ struct bothy_ctr_record *o = get(f, r.name);
    assert_string_equal(o->id, id);
    assert_string_equal(o->state, "creating"); /* the default */
    assert_null(o->config);
    strv_push(&names, r.name);
  }
  assert_int_equal(count_containers(f), 200);
}

static void test_ambiguous_and_precedence(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = make_id("abc1");
  _cleanup_free_ char *b = make_id("abc2");
  assert_int_equal(add(f, a, "one", NULL), 0);
  assert_int_equal(add(f, b, "two", NULL), 0);
  get_fails(f, "abc", EINVAL, "multiple containers match \"abc\"");
  get_fails(f, "a", EINVAL, "multiple containers match \"a\"");
  _cleanup_ctr_record_ struct bothy_ctr_record *r1 = get(f, "abc1");
  assert_string_equal(r1->id, a);
  /* An exact name wins over an id prefix. */
  _cleanup_free_ char *c = make_id("ffff");
  assert_int_equal(add(f, c, "abc", NULL), 0);
  _cleanup_ctr_record_ struct bothy_ctr_record *r2 = get(f, "abc");
  assert_string_equal(r2->id, c);
  /* An exact id wins over a name. */
  _cleanup_free_ char *d = make_id("dddd");
  assert_int_equal(add(f, d, a, NULL), 0);
  _cleanup_ctr_record_ struct bothy_ctr_record *r3 = get(f, a);
  assert_string_equal(r3->id, a);
  _cleanup_ctr_record_ struct bothy_ctr_record *r4 = get(f, "dd");
  assert_string_equal(r4->name, a);
}

static void test_list_order(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = make_id("a");
  _cleanup_free_ char *b = make_id("b");
  _cleanup_free_ char *c = make_id("c");
  _cleanup_free_ char *d = make_id("d");
  assert_int_equal(add_full(f, b, "b", "2026-01-02T00:00:00.000000000Z", NULL, NULL), 0);
  assert_int_equal(add_full(f, c, "c", "2026-01-03T00:00:00.000000000Z", NULL, NULL), 0);
  assert_int_equal(add_full(f, a, "a", "2026-01-01T00:00:00.000000000Z", NULL, NULL), 0);
  /* Same time as c, added later: newer. */
  assert_int_equal(add_full(f, d, "d", "2026-01-03T00:00:00.000000000Z", NULL, NULL), 0);
  struct bothy_ctr_record **v = NULL;
  size_t n = 0;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_inventory_ctr_list(f->inv, &v, &n, &err), 0);
  assert_int_equal(n, 4);
  assert_string_equal(v[0]->name, "d");
  assert_string_equal(v[1]->name, "c");
  assert_string_equal(v[2]->name, "b");
  assert_string_equal(v[3]->name, "a");
  bothy_ctr_records_free(v, n);
}

static void test_setters(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *id = make_id("5e7");
  _cleanup_free_ char *missing = make_id("999");
  assert_int_equal(add(f, id, "web", NULL), 0);
  bothy_error_t err = NULL;

  assert_int_equal(bothy_inventory_ctr_set_state(f->inv, id, "created", 0, 0, &err), 0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
    assert_string_equal(r->state, "created");
    assert_int_equal(r->creator_pid, 0);
    assert_true(r->creator_start == 0);
  }
  /* A start time past 32 bits round-trips. */
  assert_int_equal(
      bothy_inventory_ctr_set_state(f->inv, id, "removing", 4321, 0xfedcba987654ULL, &err), 0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
    assert_string_equal(r->state, "removing");
    assert_int_equal(r->creator_pid, 4321);
    assert_true(r->creator_start == 0xfedcba987654ULL);
  }
  assert_int_equal(bothy_inventory_ctr_set_state(f->inv, id, "running", 0, 0, &err), -EINVAL);
  assert_string_equal(err->msg, "invalid container state \"running\"");
  bothy_error_free(&err);
  assert_int_equal(bothy_inventory_ctr_set_state(f->inv, missing, "created", 0, 0, &err), -ENOENT);
  bothy_error_free(&err);

  assert_int_equal(bothy_inventory_ctr_set_user_stopped(f->inv, id, true, &err), 0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
    assert_true(r->user_stopped);
  }
  assert_int_equal(bothy_inventory_ctr_set_user_stopped(f->inv, id, false, &err), 0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
    assert_false(r->user_stopped);
  }
  assert_int_equal(bothy_inventory_ctr_set_user_stopped(f->inv, missing, true, &err), -ENOENT);
  _cleanup_free_ char *want = xasprintf("no such container: %s", missing);
  assert_string_equal(err->msg, want);
  bothy_error_free(&err);

  _cleanup_json_ json_t *cfg =
      json_pack("{s:[s,s], s:{s:s}, s:s}", "args", "sh", "-c", "env", "K", "V", "u", "ünï");
  assert_int_equal(bothy_inventory_ctr_set_config(f->inv, id, cfg, &err), 0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
    assert_true(json_equal(r->config, cfg));
  }
  assert_int_equal(bothy_inventory_ctr_set_config(f->inv, id, NULL, &err), 0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, id);
    assert_null(r->config);
  }
  assert_int_equal(bothy_inventory_ctr_set_config(f->inv, missing, cfg, &err), -ENOENT);
  bothy_error_free(&err);
}

static void volume_create_ok(struct fixture *f, const char *name, json_t *labels, bool anon,
                             char **ret_name)
{
  bothy_error_t err = NULL;
  assert_int_equal(bothy_volume_create(f->inv, f->root, name, labels, anon, ret_name, &err), 0);
  assert_null(err);
}

static void test_remove_container(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *id = make_id("7");
  volume_create_ok(f, "data", NULL, false, NULL);
  volume_create_ok(f, "logs", NULL, false, NULL);
  assert_int_equal(add_full(f, id, "web", NULL, (char *[]){ "logs", "data", "logs", NULL }, NULL),
                   0);
  {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, "web");
    assert_int_equal(strv_length(r->volumes), 2);
    assert_string_equal(r->volumes[0], "data");
    assert_string_equal(r->volumes[1], "logs");
  }
  bothy_error_t err = NULL;
  assert_int_equal(bothy_inventory_ctr_remove(f->inv, id, &err), 0);
  get_fails(f, "web", ENOENT, "no such container: web");
  _cleanup_volume_ struct bothy_volume *v = NULL;
  assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &v, &err), 0);
  assert_null(v->users);
  assert_int_equal(bothy_inventory_ctr_remove(f->inv, id, &err), -ENOENT);
  _cleanup_free_ char *want = xasprintf("no such container: %s", id);
  assert_string_equal(err->msg, want);
  bothy_error_free(&err);
  /* The name is free again. */
  assert_int_equal(add(f, id, "web", NULL), 0);
}

static void test_add_with_missing_volume(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *id = make_id("8");
  _cleanup_free_ char *msg = NULL;
  volume_create_ok(f, "data", NULL, false, NULL);
  assert_int_equal(add_full(f, id, "web", NULL, (char *[]){ "data", "nope", NULL }, &msg), -ENOENT);
  assert_string_equal(msg, "no such volume: nope");
  /* One transaction: neither the record nor the link to "data" stayed. */
  assert_int_equal(count_containers(f), 0);
  _cleanup_volume_ struct bothy_volume *v = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &v, &err), 0);
  assert_null(v->users);
  assert_int_equal(add(f, id, "web", NULL), 0);
}

/* Inside a transaction the caller opened: the calls join it. */
static void test_caller_transaction(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = make_id("a");
  _cleanup_free_ char *b = make_id("b");
  sqlite3 *db = bothy_inventory_db(f->inv);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_db_begin(db, &err), 0);
  assert_int_equal(add(f, a, "one", NULL), 0);
  /* A failing call undoes only its own part. */
  assert_int_equal(add(f, b, "one", NULL), -EEXIST);
  assert_int_equal(add(f, b, "two", NULL), 0);
  bothy_db_rollback(db);
  assert_int_equal(count_containers(f), 0);

  assert_int_equal(bothy_db_begin(db, &err), 0);
  assert_int_equal(add(f, a, "one", NULL), 0);
  _cleanup_free_ char *anon = NULL;
  volume_create_ok(f, NULL, NULL, true, &anon);
  assert_int_equal(bothy_inventory_ctr_link_volume(f->inv, a, anon, &err), 0);
  assert_int_equal(bothy_db_commit(db, &err), 0);
  _cleanup_ctr_record_ struct bothy_ctr_record *r = get(f, "one");
  assert_int_equal(strv_length(r->volumes), 1);
  assert_string_equal(r->volumes[0], anon);
  assert_int_equal(bothy_inventory_ctr_link_volume(f->inv, a, "nope", &err), -ENOENT);
  assert_string_equal(err->msg, "no such volume: nope");
  bothy_error_free(&err);
  assert_int_equal(bothy_inventory_ctr_link_volume(f->inv, b, anon, &err), -ENOENT);
  bothy_error_free(&err);
}

/* ---- volumes ------------------------------------------------------------ */

static bool is_dir(const char *root, const char *rel)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
  struct stat st;
  return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Entries of ROOT/volumes, sorted, joined with ' '. */
static char *volumes_dir_listing(struct fixture *f)
{
  _cleanup_free_ char *cmd = xasprintf("ls -A %s/volumes | sort | tr '\\n' ' '", f->root);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char *out = NULL;
  assert_int_equal(bothy_read_fd(fileno(p), &out, NULL, NULL), 0);
  assert_int_equal(pclose(p), 0);
  return out;
}

static void write_bytes(const char *path, size_t n)
{
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  _cleanup_free_ char *buf = xmalloc0(n);
  assert_int_equal(bothy_write_all(fd, buf, n), 0);
}

static void test_volume_create_get_list(void **state)
{
  struct fixture *f = *state;
  _cleanup_json_ json_t *labels = json_pack("{s:s, s:s}", "app", "blog", "tier", "db");
  _cleanup_free_ char *name = NULL;
  volume_create_ok(f, "data", labels, false, &name);
  assert_string_equal(name, "data");
  assert_true(is_dir(f->root, "volumes/data/_data"));
  _cleanup_free_ char *path = bothy_volume_path(f->root, "data");
  _cleanup_free_ char *want_path = xasprintf("%s/volumes/data/_data", f->root);
  assert_string_equal(path, want_path);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0755);

  bothy_error_t err = NULL;
  {
    _cleanup_volume_ struct bothy_volume *v = NULL;
    assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &v, &err), 0);
    assert_string_equal(v->name, "data");
    assert_string_equal(v->mountpoint, want_path);
    assert_true(json_equal(v->labels, labels));
    assert_false(v->anonymous);
    assert_null(v->users);
    assert_int_equal(v->created[29], 'Z');
  }
  /* Again: the existing one, unchanged (a file in it stays). */
  _cleanup_free_ char *file = xasprintf("%s/keep", path);
  write_bytes(file, 10);
  free(name);
  name = NULL;
  volume_create_ok(f, "data", NULL, false, &name);
  assert_string_equal(name, "data");
  assert_true(bothy_path_exists(file));
  {
    _cleanup_volume_ struct bothy_volume *v = NULL;
    assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &v, &err), 0);
    assert_true(json_equal(v->labels, labels));
  }
  /* Anonymous: a random 64-hex name. */
  _cleanup_free_ char *anon = NULL;
  volume_create_ok(f, NULL, NULL, false, &anon);
  assert_int_equal(strlen(anon), 64);
  assert_int_equal(strspn(anon, "0123456789abcdef"), 64);
  {
    _cleanup_volume_ struct bothy_volume *v = NULL;
    assert_int_equal(bothy_volume_get(f->inv, f->root, anon, &v, &err), 0);
    assert_true(v->anonymous);
    assert_int_equal(json_object_size(v->labels), 0);
  }
  volume_create_ok(f, "Ab", NULL, false, NULL);

  struct bothy_volume **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_volume_list(f->inv, f->root, &v, &n, &err), 0);
  assert_int_equal(n, 3);
  /* By name, in byte order. */
  const char *sorted[3] = { "Ab", anon, "data" };
  if (strcmp(anon, "Ab") < 0) {
    sorted[0] = anon;
    sorted[1] = "Ab";
  } else if (strcmp(anon, "data") > 0) {
    sorted[1] = "data";
    sorted[2] = anon;
  }
  for (size_t i = 0; i < 3; i++)
    assert_string_equal(v[i]->name, sorted[i]);
  bothy_volumes_free(v, n);

  _cleanup_volume_ struct bothy_volume *none = NULL;
  assert_int_equal(bothy_volume_get(f->inv, f->root, "nope", &none, &err), -ENOENT);
  assert_string_equal(err->msg, "no such volume: nope");
  bothy_error_free(&err);
  /* No temporary directory stays behind. */
  _cleanup_free_ char *listing = volumes_dir_listing(f);
  _cleanup_free_ char *want = xasprintf("%s %s %s ", sorted[0], sorted[1], sorted[2]);
  assert_string_equal(listing, want);
}

static void test_volume_invalid_names(void **state)
{
  struct fixture *f = *state;
  const char *bad[] = { "x", "-ab", "_ab", ".ab", "..", ".tmp-1-2-3", "a/b", "a b", "../etc", "" };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    bothy_error_t err = NULL;
    char *name = NULL;
    assert_int_equal(bothy_volume_create(f->inv, f->root, bad[i], NULL, false, &name, &err),
                     -EINVAL);
    assert_null(name);
    _cleanup_free_ char *want = xasprintf("invalid volume name \"%s\": ", bad[i]);
    assert_memory_equal(err->msg, want, strlen(want));
    bothy_error_free(&err);
  }
  char longname[257];
  memset(longname, 'a', 256);
  longname[256] = '\0';
  bothy_error_t err = NULL;
  assert_int_equal(bothy_volume_create(f->inv, f->root, longname, NULL, false, NULL, &err),
                   -EINVAL);
  bothy_error_free(&err);
  longname[255] = '\0';
  volume_create_ok(f, longname, NULL, false, NULL);
  struct bothy_volume **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_volume_list(f->inv, f->root, &v, &n, &err), 0);
  assert_int_equal(n, 1);
  bothy_volumes_free(v, n);
  /* A label set that is not an object. */
  _cleanup_json_ json_t *arr = json_array();
  assert_int_equal(bothy_volume_create(f->inv, f->root, "ok", arr, false, NULL, &err), -EINVAL);
  bothy_error_free(&err);
  _cleanup_free_ char *listing = volumes_dir_listing(f);
  _cleanup_free_ char *want = xasprintf("%s ", longname);
  assert_string_equal(listing, want);
}

static void test_volume_remove(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *id = make_id("123456789abcdef");
  volume_create_ok(f, "data", NULL, false, NULL);
  assert_int_equal(add_full(f, id, "web", NULL, (char *[]){ "data", NULL }, NULL), 0);
  {
    _cleanup_volume_ struct bothy_volume *v = NULL;
    bothy_error_t err = NULL;
    assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &v, &err), 0);
    assert_int_equal(strv_length(v->users), 1);
    assert_string_equal(v->users[0], id);
  }
  for (int force = 0; force < 2; force++) {
    bothy_error_t err = NULL;
    assert_int_equal(bothy_volume_remove(f->inv, f->root, "data", force, &err), -EBUSY);
    assert_string_equal(err->msg, "volume data is in use by container 123456789abc");
    bothy_error_free(&err);
  }
  /* Refused: record and directory both stay. */
  assert_true(is_dir(f->root, "volumes/data/_data"));
  _cleanup_volume_ struct bothy_volume *still = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &still, &err), 0);
  /* The database refuses too, whatever the code above it checks. */
  assert_true(bothy_db_exec(bothy_inventory_db(f->inv), "DELETE FROM volumes WHERE name = 'data'",
                            &err) < 0);
  bothy_error_free(&err);

  assert_int_equal(bothy_inventory_ctr_remove(f->inv, id, &err), 0);
  _cleanup_free_ char *file = xasprintf("%s/volumes/data/_data/f", f->root);
  write_bytes(file, 100);
  assert_int_equal(bothy_volume_remove(f->inv, f->root, "data", false, &err), 0);
  assert_false(bothy_path_exists(file));
  _cleanup_free_ char *listing = volumes_dir_listing(f);
  assert_string_equal(listing, "");
  _cleanup_volume_ struct bothy_volume *gone = NULL;
  assert_int_equal(bothy_volume_get(f->inv, f->root, "data", &gone, &err), -ENOENT);
  bothy_error_free(&err);
  assert_int_equal(bothy_volume_remove(f->inv, f->root, "data", false, &err), -ENOENT);
  assert_string_equal(err->msg, "no such volume: data");
  bothy_error_free(&err);
  /* -f: a missing volume is fine, an invalid name too. */
  assert_int_equal(bothy_volume_remove(f->inv, f->root, "data", true, &err), 0);
  assert_int_equal(bothy_volume_remove(f->inv, f->root, "../x", true, &err), 0);
  assert_int_equal(bothy_volume_remove(f->inv, f->root, "../x", false, &err), -ENOENT);
  bothy_error_free(&err);
  /* A record whose directory vanished is still removed. */
  volume_create_ok(f, "lost", NULL, false, NULL);
  _cleanup_free_ char *lost = xasprintf("%s/volumes/lost", f->root);
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, lost, NULL), 0);
  assert_int_equal(bothy_volume_remove(f->inv, f->root, "lost", false, &err), 0);
}

static bool has(char **v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (streq(v[i], s))
      return true;
  return false;
}

static void test_volume_prune(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *anon_free = NULL, *anon_used = NULL;
  volume_create_ok(f, NULL, NULL, true, &anon_free);
  volume_create_ok(f, NULL, NULL, true, &anon_used);
  volume_create_ok(f, "named-free", NULL, false, NULL);
  volume_create_ok(f, "named-used", NULL, false, NULL);
  volume_create_ok(f, "anon-named", NULL, true, NULL);
  _cleanup_free_ char *id = make_id("c0ffee");
  assert_int_equal(add_full(f, id, "web", NULL, (char *[]){ anon_used, "named-used", NULL }, NULL),
                   0);
  _cleanup_free_ char *d = xasprintf("%s/volumes/%s/_data", f->root, anon_free);
  _cleanup_free_ char *f1 = xasprintf("%s/a", d);
  _cleanup_free_ char *sub = xasprintf("%s/sub", d);
  _cleanup_free_ char *f2 = xasprintf("%s/sub/b", d);
  write_bytes(f1, 1000);
  assert_int_equal(mkdir(sub, 0755), 0);
  write_bytes(f2, 234);

  /* Anonymous ones only. */
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **removed = NULL;
  uint64_t bytes = 0;
  assert_int_equal(bothy_volume_prune(f->inv, f->root, false, &removed, &bytes, &err), 0);
  assert_int_equal(strv_length(removed), 2);
  assert_true(has(removed, anon_free));
  assert_true(has(removed, "anon-named"));
  assert_true(bytes >= 1234);
  assert_false(is_dir(f->root, "volumes/anon-named"));
  _cleanup_free_ char *gone = xasprintf("volumes/%s", anon_free);
  assert_false(is_dir(f->root, gone));

  /* Every unused one. */
  removed = strv_free(removed);
  assert_int_equal(bothy_volume_prune(f->inv, f->root, true, &removed, &bytes, &err), 0);
  assert_int_equal(strv_length(removed), 1);
  assert_string_equal(removed[0], "named-free");
  assert_false(is_dir(f->root, "volumes/named-free"));

  /* Nothing left to do: the used ones stay, with their directories. */
  removed = strv_free(removed);
  assert_int_equal(bothy_volume_prune(f->inv, f->root, true, &removed, &bytes, &err), 0);
  assert_null(removed);
  assert_true(bytes == 0);
  struct bothy_volume **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_volume_list(f->inv, f->root, &v, &n, &err), 0);
  assert_int_equal(n, 2);
  bothy_volumes_free(v, n);
  _cleanup_free_ char *used = xasprintf("volumes/%s/_data", anon_used);
  assert_true(is_dir(f->root, used));
  assert_true(is_dir(f->root, "volumes/named-used/_data"));
}

/* What crashes leave: .tmp-* directories of dead processes (removed), one of
 * a live process (kept: it is being made now), directories without a record
 * (replaced by a create of that name, removed by prune). */
static void test_stale_leftovers(void **state)
{
  struct fixture *f = *state;
  volume_create_ok(f, "first", NULL, false, NULL);
  pid_t kid = fork();
  assert_true(kid >= 0);
  if (kid == 0) {
    pause();
    _exit(0);
  }
  unsigned long long kid_start = 0;
  for (int i = 0; i < 1000 && !kid_start; i++)
    kid_start = bothy_proc_start_time(kid);
  assert_true(kid_start > 0);
  kill(kid, SIGKILL);
  assert_int_equal(waitpid(kid, NULL, 0), kid);

  unsigned long long self_start = bothy_proc_start_time(getpid());
  _cleanup_free_ char *dead = xasprintf(".tmp-%d-%llu-00ff", (int) kid, kid_start);
  _cleanup_free_ char *alive = xasprintf(".tmp-%d-%llu-00ff", (int) getpid(), self_start);
  const char *dirs[] = { ".tmp-stale/_data", dead, alive, "ghost/_data", "again/_data" };
  for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
    _cleanup_free_ char *p = xasprintf("%s/volumes/%s", f->root, dirs[i]);
    assert_int_equal(bothy_mkdir_p(p, 0755, NULL), 0);
  }
  _cleanup_free_ char *junk = xasprintf("%s/volumes/.tmp-stale/_data/junk", f->root);
  _cleanup_free_ char *old = xasprintf("%s/volumes/again/_data/old", f->root);
  write_bytes(junk, 10);
  write_bytes(old, 10);

  /* A create removes dead processes' leftovers and replaces a directory
   * that has no record. */
  volume_create_ok(f, "again", NULL, false, NULL);
  assert_false(bothy_path_exists(old));
  assert_true(is_dir(f->root, "volumes/again/_data"));
  {
    _cleanup_free_ char *listing = volumes_dir_listing(f);
    _cleanup_free_ char *want = xasprintf("%s again first ghost ", alive);
    assert_string_equal(listing, want);
  }
  /* A prune removes the directory without a record (not reported as a
   * volume: it was none). */
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **removed = NULL;
  assert_int_equal(bothy_volume_prune(f->inv, f->root, false, &removed, NULL, &err), 0);
  assert_null(removed);
  _cleanup_free_ char *listing = volumes_dir_listing(f);
  _cleanup_free_ char *want = xasprintf("%s again first ", alive);
  assert_string_equal(listing, want);
}

/* ---- concurrency --------------------------------------------------------- */

enum { KIDS = 20 };

/* Forks KIDS children that wait on a pipe, then run fn(f, i) and exit with
 * its value; releases them at once and collects the exit codes. */
static void run_kids(struct fixture *f, int (*fn)(struct fixture *, int), int *codes)
{
  /* SQLite's locks do not survive fork(): a child must not inherit an open
   * connection to the database it opens again (SQLite's "how to corrupt"
   * notes). Real bothy commands are separate processes anyway. */
  f->inv = bothy_inventory_close(f->inv);
  int gate[2];
  assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
  pid_t kids[KIDS];
  for (int i = 0; i < KIDS; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) {
      close(gate[1]);
      char c;
      if (read(gate[0], &c, 1) != 0)
        _exit(100);
      _exit(fn(f, i));
    }
  }
  close(gate[0]);
  close(gate[1]);
  for (int i = 0; i < KIDS; i++) {
    int st = 0;
    assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
    assert_true(WIFEXITED(st));
    codes[i] = WEXITSTATUS(st);
  }
  assert_int_equal(bothy_inventory_open(f->root, &f->inv, NULL), 0);
}

/* In a child: its own connection, as a separate bothy command would have. */
static int kid_add(struct fixture *f, int i, const char *name, char *const *volumes)
{
  struct bothy_inventory *inv = NULL;
  if (bothy_inventory_open(f->root, &inv, NULL) < 0)
    return 99; /* the parent's open worked: should not happen */
  _cleanup_free_ char *id = xasprintf("%08x%08x%048d", (unsigned) getpid(), (unsigned) i, 0);
  struct bothy_ctr_record r = { .id = id, .name = (char *) name, .volumes = (char **) volumes };
  bothy_error_t err = NULL;
  int ret = bothy_inventory_ctr_add(inv, &r, &err);
  if (ret < 0 && ret != -EEXIST)
    fprintf(stderr, "child %d: %s\n", i, err->msg);
  bothy_error_free(&err);
  if (!name)
    free(r.name);
  bothy_inventory_close(inv);
  return ret == 0 ? 0 : ret == -EEXIST ? 17 : 1;
}

static int kid_same_name(struct fixture *f, int i)
{
  return kid_add(f, i, "same", NULL);
}

static int kid_distinct(struct fixture *f, int i)
{
  /* Half with names of their own, half with generated ones; a new volume
   * each, and all share one. */
  _cleanup_free_ char *name = i % 2 ? xasprintf("kid-%d", i) : NULL;
  _cleanup_free_ char *vol = xasprintf("vol-%d", i);
  struct bothy_inventory *inv = NULL;
  bothy_error_t err = NULL;
  if (bothy_inventory_open(f->root, &inv, &err) < 0 ||
      bothy_volume_create(inv, f->root, vol, NULL, false, NULL, &err) < 0 ||
      bothy_volume_create(inv, f->root, "shared", NULL, false, NULL, &err) < 0) {
    fprintf(stderr, "child %d: %s\n", i, err->msg);
    return 98;
  }
  bothy_inventory_close(inv);
  return kid_add(f, i, name, (char *[]){ vol, "shared", NULL });
}

static void test_concurrent_same_name(void **state)
{
  struct fixture *f = *state;
  int codes[KIDS];
  run_kids(f, kid_same_name, codes);
  int ok = 0, exists = 0;
  for (int i = 0; i < KIDS; i++) {
    if (codes[i] == 0)
      ok++;
    else if (codes[i] == 17)
      exists++;
    else
      fail_msg("child %d exited %d", i, codes[i]);
  }
  assert_int_equal(ok, 1);
  assert_int_equal(exists, KIDS - 1);
  assert_int_equal(count_containers(f), 1);
}

static void test_concurrent_distinct(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = make_id("a");
  _cleanup_free_ char *b = make_id("b");
  assert_int_equal(add(f, a, "before-1", NULL), 0);
  assert_int_equal(add(f, b, "before-2", NULL), 0);
  int codes[KIDS];
  run_kids(f, kid_distinct, codes);
  for (int i = 0; i < KIDS; i++)
    if (codes[i] != 0)
      fail_msg("child %d exited %d", i, codes[i]);
  assert_int_equal(count_containers(f), 2 + KIDS);
  _cleanup_volume_ struct bothy_volume *shared = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_volume_get(f->inv, f->root, "shared", &shared, &err), 0);
  assert_int_equal(strv_length(shared->users), KIDS);
  struct bothy_volume **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_volume_list(f->inv, f->root, &v, &n, &err), 0);
  assert_int_equal(n, KIDS + 1);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(strv_length(v[i]->users), streq(v[i]->name, "shared") ? KIDS : 1);
    assert_true(bothy_path_exists(v[i]->mountpoint));
  }
  bothy_volumes_free(v, n);
  /* Exactly the volumes' directories: no temporary one stayed. */
  _cleanup_free_ char *listing = volumes_dir_listing(f);
  assert_null(strstr(listing, ".tmp-"));
}

static void test_userns_ranges(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = make_id("a1");
  _cleanup_free_ char *b = make_id("b2");
  _cleanup_free_ char *c = make_id("c3");
  _cleanup_free_ char *d = make_id("d4");
  assert_int_equal(add(f, a, "ua", NULL), 0);
  assert_int_equal(add(f, b, "ub", NULL), 0);
  assert_int_equal(add(f, c, "uc", NULL), 0);
  assert_int_equal(add(f, d, "ud", NULL), 0);
  bothy_error_t err = NULL;
  uint32_t s1, s2, s3;
  const uint32_t base = 1U << 30, size = 65536, limit = base + 3 * size;
  assert_int_equal(bothy_inventory_userns_alloc(f->inv, a, base, size, limit, &s1, &err), 0);
  assert_int_equal(bothy_inventory_userns_alloc(f->inv, b, base, size, limit, &s2, &err), 0);
  assert_int_equal(bothy_inventory_userns_alloc(f->inv, c, base, size, limit, &s3, &err), 0);
  assert_int_equal(s1, base);
  assert_int_equal(s2, base + size);
  assert_int_equal(s3, base + 2 * size);
  /* Full: a clear error, nothing recorded. */
  uint32_t s4 = 0;
  assert_int_equal(bothy_inventory_userns_alloc(f->inv, d, base, size, limit, &s4, &err), -ENOSPC);
  assert_non_null(strstr(err->msg, "no free uid/gid range"));
  bothy_error_free(&err);
  /* A removed container's range is the next one handed out. */
  assert_int_equal(bothy_inventory_ctr_remove(f->inv, b, &err), 0);
  assert_int_equal(bothy_inventory_userns_alloc(f->inv, d, base, size, limit, &s4, &err), 0);
  assert_int_equal(s4, base + size);
  /* One range per container. */
  assert_true(bothy_inventory_userns_alloc(f->inv, d, base, size, limit + size, &s4, &err) < 0);
  bothy_error_free(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_add_and_get, setup, teardown),
    cmocka_unit_test_setup_teardown(test_name_conflicts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_generated_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ambiguous_and_precedence, setup, teardown),
    cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_setters, setup, teardown),
    cmocka_unit_test_setup_teardown(test_remove_container, setup, teardown),
    cmocka_unit_test_setup_teardown(test_add_with_missing_volume, setup, teardown),
    cmocka_unit_test_setup_teardown(test_caller_transaction, setup, teardown),
    cmocka_unit_test_setup_teardown(test_volume_create_get_list, setup, teardown),
    cmocka_unit_test_setup_teardown(test_volume_invalid_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_volume_remove, setup, teardown),
    cmocka_unit_test_setup_teardown(test_volume_prune, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stale_leftovers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_same_name, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_distinct, setup, teardown),
    cmocka_unit_test_setup_teardown(test_userns_ranges, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
