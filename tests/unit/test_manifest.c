/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Manifests, indexes and image configs: what is accepted and what is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/xalloc.h"
#include "image/manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char oci_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" BOTHY_MT_OCI_MANIFEST "\","
    "\"config\":{\"mediaType\":\"" BOTHY_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
    "\"layers\":[{\"mediaType\":\"" BOTHY_MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2 "\",\"size\":10},"
    "{\"mediaType\":\"" BOTHY_MT_OCI_LAYER_ZSTD "\",\"digest\":\"" D3 "\",\"size\":0}]}";

static const char docker_list[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" BOTHY_MT_DOCKER_LIST "\",\"manifests\":["
    "{\"mediaType\":\"" BOTHY_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"" BOTHY_MT_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"" BOTHY_MT_DOCKER_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";

static void test_oci_manifest(void **state)
{
  struct bothy_manifest *m = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_manifest_parse(oci_manifest, strlen(oci_manifest), NULL, "m", &m, &err),
                   0);
  assert_int_equal(m->kind, BOTHY_MANIFEST_IMAGE);
  assert_string_equal(m->config.digest, D1);
  assert_int_equal(m->config.size, 7);
  assert_int_equal(m->n_layers, 2);
  assert_string_equal(m->layers[1].media_type, BOTHY_MT_OCI_LAYER_ZSTD);
  bothy_manifest_free(m);
  /* The registry's Content-Type must agree with the document. */
  assert_true(bothy_manifest_parse(oci_manifest, strlen(oci_manifest), BOTHY_MT_DOCKER_MANIFEST,
                                   "m", &m, &err) < 0);
  assert_non_null(strstr(err->msg, "does not match"));
  bothy_error_free(&err);
}

static void test_index_select(void **state)
{
  struct bothy_manifest *m = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_manifest_parse(docker_list, strlen(docker_list), BOTHY_MT_DOCKER_LIST,
                                        "list", &m, &err),
                   0);
  assert_int_equal(m->kind, BOTHY_MANIFEST_INDEX);
  assert_int_equal(m->n_manifests, 3);
  const struct bothy_descriptor *d = NULL;
  assert_int_equal(bothy_manifest_select(m, "linux", "amd64", NULL, &d, &err), 0);
  assert_string_equal(d->digest, D3);
  assert_int_equal(bothy_manifest_select(m, "linux", "arm64", "v8", &d, &err), 0);
  assert_string_equal(d->digest, D2);
  assert_int_equal(bothy_manifest_select(m, "linux", "arm", "v7", &d, &err), 0);
  assert_string_equal(d->digest, D1);
  assert_true(bothy_manifest_select(m, "linux", "s390x", NULL, &d, &err) < 0);
  assert_string_equal(err->msg, "no image for linux/s390x (the index offers: linux/arm/v7, "
                                "linux/arm64/v8, linux/amd64)");
  bothy_error_free(&err);
  bothy_manifest_free(m);
}

static void test_manifest_errors(void **state)
{
  static const struct {
    const char *doc, *want;
  } cases[] = {
    { "[]", "m: not a JSON object" },
    { "{\"schemaVersion\":1}", "m: unsupported schemaVersion 1 (want 2)" },
    { "{\"schemaVersion\":2,\"mediaType\":\"application/x-foo\"}",
      "m: unsupported media type 'application/x-foo'" },
    { "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:zz\",\"size\":1},\"layers\":[]}",
      "'m: config': invalid digest 'sha256:zz': want 64 lowercase hex digits" },
    { "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
      "'m: config.size' must be a non-negative integer" },
    { "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":["
      "{\"mediaType\":\"application/x-evil\",\"digest\":\"" D1 "\",\"size\":1}]}",
      "m: layer 0 has unsupported media type 'application/x-evil'" },
    { "{\"schemaVersion\":2,\"mediaType\":\"" BOTHY_MT_OCI_MANIFEST "\"}",
      "m: a manifest needs 'config' and 'layers'" },
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct bothy_manifest *m = NULL;
    bothy_error_t err = NULL;
    assert_true(bothy_manifest_parse(cases[i].doc, strlen(cases[i].doc), NULL, "m", &m, &err) < 0);
    assert_null(m);
    if (strcmp(err->msg, cases[i].want) != 0)
      fail_msg("case %zu: got \"%s\", want \"%s\"", i, err->msg, cases[i].want);
    bothy_error_free(&err);
  }
}

static void test_image_config(void **state)
{
  static const char cfg[] =
      "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000:1000\","
      "\"Env\":[\"PATH=/bin\",\"A=b\"],\"Entrypoint\":[\"/init\"],\"Cmd\":[\"serve\"],"
      "\"WorkingDir\":\"/srv\",\"Volumes\":{\"/data\":{}},\"ExposedPorts\":{\"80/tcp\":{}},"
      "\"StopSignal\":\"SIGQUIT\",\"Labels\":{\"a\":\"b\"},\"Healthcheck\":{\"Test\":"
      "[\"CMD-SHELL\",\"true\"],\"Interval\":30000000000,\"Retries\":3}},"
      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},"
      "\"history\":[{\"created_by\":\"x\"}]}";
  struct bothy_image_config *c = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_image_config_parse(cfg, strlen(cfg), "config", &c, &err), 0);
  assert_string_equal(c->user, "1000:1000");
  assert_string_equal(c->env[1], "A=b");
  assert_string_equal(c->entrypoint[0], "/init");
  assert_string_equal(c->cmd[0], "serve");
  assert_string_equal(c->working_dir, "/srv");
  assert_string_equal(c->volumes[0], "/data");
  assert_string_equal(c->exposed_ports[0], "80/tcp");
  assert_string_equal(c->stop_signal, "SIGQUIT");
  assert_string_equal(c->health.test[0], "CMD-SHELL");
  assert_int_equal(c->health.interval_ns, 30000000000LL);
  assert_int_equal(c->health.retries, 3);
  assert_int_equal(c->n_diff_ids, 2);
  assert_string_equal(c->diff_ids[1], D2);
  bothy_image_config_free(c);
  static const char bad[] = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:00\"]}}";
  assert_true(bothy_image_config_parse(bad, strlen(bad), "config", &c, &err) < 0);
  assert_non_null(strstr(err->msg, "rootfs.diff_ids[0]"));
  bothy_error_free(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_oci_manifest),
    cmocka_unit_test(test_index_select),
    cmocka_unit_test(test_manifest_errors),
    cmocka_unit_test(test_image_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
