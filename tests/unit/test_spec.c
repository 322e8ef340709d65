/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The config.json parser: what it accepts, and the errors it gives. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "base/json.h"
#include "runtime/spec.h"
#include "runtime/state.h"

static struct bothy_spec *parse_ok(const char *doc)
{
  json_t *j = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_json_load_data(doc, strlen(doc), "test", &j, &err), 0);
  struct bothy_spec *s = NULL;
  int r = bothy_spec_from_json(j, &s, &err);
  if (r < 0)
    fail_msg("unexpected error: %s", err->msg);
  return s;
}

/* Returns the error message (caller frees) of a document that must fail. */
static char *parse_err(const char *doc)
{
  json_t *j = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_json_load_data(doc, strlen(doc), "test", &j, &err), 0);
  struct bothy_spec *s = NULL;
  assert_true(bothy_spec_from_json(j, &s, &err) < 0);
  assert_null(s);
  char *m = strdup(err->msg);
  bothy_error_free(&err);
  return m;
}

static void test_default_spec_parses(void **state)
{
  json_t *d = bothy_spec_default(false);
  bothy_error_t err = NULL;
  struct bothy_spec *s = NULL;
  assert_int_equal(bothy_spec_from_json(d, &s, &err), 0);
  assert_true(s->process.terminal);
  assert_string_equal(s->process.args[0], "sh");
  assert_true(s->namespaces[BOTHY_NS_PID].enabled);
  assert_true(s->namespaces[BOTHY_NS_CGROUP].enabled);
  assert_false(s->namespaces[BOTHY_NS_USER].enabled);
  assert_int_equal(s->n_mounts, 7);
  assert_int_equal(s->process.n_rlimits, 1);
  assert_int_equal(s->process.rlimits[0].resource, RLIMIT_NOFILE);
  assert_true(s->root_readonly);
  bothy_spec_free(s);

  json_t *r = bothy_spec_default(true);
  assert_int_equal(bothy_spec_from_json(r, &s, &err), 0);
  assert_true(s->namespaces[BOTHY_NS_USER].enabled);
  assert_false(s->namespaces[BOTHY_NS_NETWORK].enabled);
  assert_int_equal(s->n_uid_mappings, 1);
  assert_int_equal(s->n_mounts, 6);
  bothy_spec_free(s);
}

static void test_mount_options(void **state)
{
  struct bothy_spec *s = parse_ok(
      "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"r\"},\"mounts\":["
      "{\"destination\":\"/a\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
      "\"options\":[\"nosuid\",\"ro\",\"rw\",\"size=10k\",\"mode=700\",\"rslave\"]},"
      "{\"destination\":\"/b\",\"source\":\"/x\",\"options\":[\"rbind\",\"ro\",\"nodev\"]},"
      "{\"destination\":\"/c\",\"type\":\"bind\",\"source\":\"/y\"}]}");
  struct bothy_mount *a = &s->mounts[0], *b = &s->mounts[1], *c = &s->mounts[2];
  assert_int_equal(a->flags, MS_NOSUID); /* rw after ro clears it */
  assert_string_equal(a->data, "size=10k,mode=700");
  assert_int_equal(a->propagation, MS_SLAVE | MS_REC);
  assert_false(a->bind);
  assert_true(b->bind);
  assert_int_equal(b->flags, MS_BIND | MS_REC | MS_RDONLY | MS_NODEV);
  assert_true(c->bind);
  bothy_spec_free(s);
}

static void test_resources(void **state)
{
  struct bothy_spec *s = parse_ok(
      "{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"resources\":{"
      "\"memory\":{\"limit\":67108864,\"swap\":-1},\"cpu\":{\"shares\":512,\"quota\":50000,"
      "\"period\":100000,\"cpus\":\"0\"},\"pids\":{\"limit\":10},"
      "\"devices\":[{\"allow\":false,\"access\":\"rwm\"},{\"allow\":true,\"type\":\"c\","
      "\"major\":1,\"minor\":3,\"access\":\"rw\"}],"
      "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":0}],"
      "\"unified\":{\"memory.high\":\"1G\"}}}}");
  struct bothy_resources *r = &s->resources;
  assert_true(s->has_resources);
  assert_int_equal(r->memory_limit, 67108864);
  assert_int_equal(r->memory_swap, -1);
  assert_true(r->memory_reservation == BOTHY_UNSET);
  assert_int_equal(r->cpu_shares, 512);
  assert_int_equal(r->cpu_quota, 50000);
  assert_string_equal(r->cpu_cpus, "0");
  assert_int_equal(r->pids_limit, 10);
  assert_int_equal(r->n_devices, 2);
  assert_false(r->devices[0].allow);
  assert_int_equal(r->devices[0].type, 'a');
  assert_int_equal(r->devices[0].major, -1);
  assert_int_equal(r->devices[1].minor, 3);
  assert_string_equal(r->hugepage_limits[0].page_size, "2MB");
  assert_string_equal(json_string_value(json_object_get(r->unified, "memory.high")), "1G");
  bothy_spec_free(s);
}

static void test_errors_name_the_field(void **state)
{
  static const struct {
    const char *doc, *want;
  } cases[] = {
    { "[]", "the configuration must be a JSON object" },
    { "{\"root\":{\"path\":\"r\"}}", "'ociVersion' is required" },
    { "{\"ociVersion\":\"2.0\",\"root\":{\"path\":\"r\"}}", "unsupported 'ociVersion' '2.0'" },
    { "{\"ociVersion\":\"1.0\"}", "'root' is required" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\"}}",
      "'process.args' must not be empty" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"x\","
      "\"args\":[\"a\"]}}",
      "'process.cwd' must be an absolute path, not 'x'" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"process\":{\"cwd\":\"/\","
      "\"args\":[\"a\"],\"rlimits\":[{\"type\":\"RLIMIT_FOO\",\"soft\":1,\"hard\":1}]}}",
      "'process.rlimits[0]': unknown rlimit type 'RLIMIT_FOO'" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":"
      "[{\"type\":\"pidd\"}]}}",
      "'linux.namespaces[0].type': unknown namespace type 'pidd'" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":"
      "[{\"type\":\"user\"}]}}",
      "a new user namespace needs 'linux.uidMappings' and 'linux.gidMappings'" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"rel\","
      "\"type\":\"tmpfs\"}]}",
      "'mounts[0].destination' must be an absolute path, not 'rel'" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"resources\":{\"memory\":"
      "{\"limit\":\"1G\"}}}}",
      "'linux.resources.memory.limit' must be an integer" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"hooks\":{\"prestart\":"
      "[{\"path\":\"rel\"}]}}",
      "'hooks.prestart[0].path' must be an absolute path" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"seccomp\":"
      "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
      "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}}}",
      "'linux.seccomp.syscalls[0].args[0].index' must be between 0 and 5" },
    { "{\"ociVersion\":\"1.0\",\"root\":{\"path\":\"r\"},\"hostname\":\"h\"}",
      "'hostname' needs a new UTS namespace" },
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *m = parse_err(cases[i].doc);
    if (strcmp(m, cases[i].want) != 0)
      fail_msg("case %zu: got \"%s\", want \"%s\"", i, m, cases[i].want);
    free(m);
  }
}

static void test_ids(void **state)
{
  assert_int_equal(bothy_id_validate("abc_1.2-x+y", NULL), 0);
  assert_true(bothy_id_validate("", NULL) < 0);
  assert_true(bothy_id_validate("..", NULL) < 0);
  assert_true(bothy_id_validate("a/b", NULL) < 0);
  assert_true(bothy_id_validate("a b", NULL) < 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_default_spec_parses),
    cmocka_unit_test(test_mount_options),
    cmocka_unit_test(test_resources),
    cmocka_unit_test(test_errors_name_the_field),
    cmocka_unit_test(test_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
