/* SPDX-License-Identifier: GPL-2.0-or-later */
/* src/image/reference: docker's reference grammar and normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/xalloc.h"
#include "image/reference.h"

#define HEX    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DIGEST "sha256:" HEX
#define HEX63  "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct valid_case {
  const char *in;
  const char *full;     /* bothy_reference_string() */
  const char *familiar; /* bothy_reference_familiar() */
  const char *repository;
};

static const struct valid_case valid_cases[] = {
  { "busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io/library/busybox" },
  { "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io/library/busybox" },
  { "library/busybox", "docker.io/library/busybox:latest", "busybox:latest",
    "docker.io/library/busybox" },
  { "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
    "docker.io/library/busybox" },
  { "index.docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest",
    "docker.io/library/busybox" },
  { "index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest",
    "docker.io/library/busybox" },
  { "user/app", "docker.io/user/app:latest", "user/app:latest", "docker.io/user/app" },
  { "docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest",
    "docker.io/library/a/b" },
  { "localhost/app", "localhost/app:latest", "localhost/app:latest", "localhost/app" },
  { "localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app" },
  /* A lone "localhost:5000" is a docker.io name with a tag, as in docker. */
  { "localhost:5000", "docker.io/library/localhost:5000", "localhost:5000",
    "docker.io/library/localhost" },
  { "127.0.0.1:5000/a/b/c:v", "127.0.0.1:5000/a/b/c:v", "127.0.0.1:5000/a/b/c:v",
    "127.0.0.1:5000/a/b/c" },
  { "registry.example.org/team/app@" DIGEST, "registry.example.org/team/app@" DIGEST,
    "registry.example.org/team/app@" DIGEST, "registry.example.org/team/app" },
  { "app:tag@" DIGEST, "docker.io/library/app:tag@" DIGEST, "app:tag@" DIGEST,
    "docker.io/library/app" },
  { "app@" DIGEST, "docker.io/library/app@" DIGEST, "app@" DIGEST, "docker.io/library/app" },
  { "[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest", "[::1]:5000/app" },
  { "[::1]/app", "[::1]/app:latest", "[::1]/app:latest", "[::1]/app" },
  { "Quay.IO/team/app", "Quay.IO/team/app:latest", "Quay.IO/team/app:latest", "Quay.IO/team/app" },
  { "my-reg.example.com/x", "my-reg.example.com/x:latest", "my-reg.example.com/x:latest",
    "my-reg.example.com/x" },
  /* Every separator a path component allows. */
  { "a.b-c__d", "docker.io/library/a.b-c__d:latest", "a.b-c__d:latest",
    "docker.io/library/a.b-c__d" },
  /* The familiar form keeps docker.io when the first component would read as
   * a domain (docker drops it and does not parse back to the same name). */
  { "docker.io/a.b-c__d/x", "docker.io/a.b-c__d/x:latest", "docker.io/a.b-c__d/x:latest",
    "docker.io/a.b-c__d/x" },
  { "docker.io/localhost/app", "docker.io/localhost/app:latest", "docker.io/localhost/app:latest",
    "docker.io/localhost/app" },
  { "docker.io/localhost", "docker.io/library/localhost:latest", "localhost:latest",
    "docker.io/library/localhost" },
  { "user/a---b_c", "docker.io/user/a---b_c:latest", "user/a---b_c:latest",
    "docker.io/user/a---b_c" },
  { "app:V1.2_rc-3", "docker.io/library/app:V1.2_rc-3", "app:V1.2_rc-3", "docker.io/library/app" },
  { "app:_x", "docker.io/library/app:_x", "app:_x", "docker.io/library/app" },
  /* A 63-hex name is an ordinary name. */
  { HEX63, "docker.io/library/" HEX63 ":latest", HEX63 ":latest", "docker.io/library/" HEX63 },
};

struct invalid_case {
  const char *in;
  const char *msg; /* the whole message, or NULL to check only the quoted input */
};

static const struct invalid_case invalid_cases[] = {
  { "", "invalid reference '': invalid reference format" },
  { ":", "invalid reference ':': invalid tag format" },
  { "Busybox",
    "invalid reference 'Busybox': invalid reference format: repository name must be lowercase" },
  { "UPPER/lower", "invalid reference 'UPPER/lower': invalid reference format: repository name "
                   "must be lowercase" },
  { "quay.io/Team/app", "invalid reference 'quay.io/Team/app': invalid reference format: "
                        "repository name must be lowercase" },
  { "app:", "invalid reference 'app:': invalid tag format" },
  { "app@sha256:short", NULL },
  { "app@", NULL },
  { "app@md5:00", NULL },
  { "app:tag with space", "invalid reference 'app:tag with space': invalid tag format" },
  { "a b", "invalid reference 'a b': invalid reference format" },
  { "-app", "invalid reference '-app': invalid reference format" },
  { "app-", NULL },
  { "a___b", NULL },
  { "a..b", NULL },
  { "app/", "invalid reference 'app/': invalid reference format" },
  { "/app", NULL },
  { "a//b", "invalid reference 'a//b': invalid reference format" },
  { ":tag", NULL },
  { "app:.tag", NULL },
  { "app:-tag", NULL },
  { "localhost/", NULL },
  { "localhost:port/app", "invalid reference 'localhost:port/app': invalid reference format: "
                          "invalid registry 'localhost:port'" },
  { "localhost:/app", NULL },
  { "-reg.io/app", NULL },
  { "reg-.io/app", NULL },
  { "reg..io/app", NULL },
  { "[]:5000/app", NULL },
  { "[::1]x/app", NULL },
  { "[::g]/app", NULL },
  /* Looks like a domain but is not a host name: refused (see reference.h). */
  { "a.b-c__d/x", "invalid reference 'a.b-c__d/x': invalid reference format: invalid registry "
                  "'a.b-c__d'" },
  { HEX, "invalid reference '" HEX "': invalid repository name, cannot specify 64-byte "
         "hexadecimal strings" },
  { "app:tag@" DIGEST "@" DIGEST, NULL },
  { "app\n", NULL },
};

static void test_valid(void **state)
{
  for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
    const struct valid_case *c = &valid_cases[i];
    bothy_error_t err = NULL;
    _cleanup_reference_ struct bothy_reference *ref = NULL;
    int r = bothy_reference_parse(c->in, &ref, &err);
    if (r < 0)
      fail_msg("'%s': %s", c->in, err->msg);
    assert_null(err);
    _cleanup_free_ char *full = bothy_reference_string(ref);
    _cleanup_free_ char *familiar = bothy_reference_familiar(ref);
    _cleanup_free_ char *repo = bothy_reference_repository(ref);
    assert_string_equal(full, c->full);
    assert_string_equal(familiar, c->familiar);
    assert_string_equal(repo, c->repository);

    /* The normalised and the familiar forms parse back to the same reference. */
    const char *again_in[] = { full, familiar };
    for (size_t j = 0; j < ARRAY_SIZE(again_in); j++) {
      _cleanup_reference_ struct bothy_reference *again = NULL;
      if (bothy_reference_parse(again_in[j], &again, NULL) < 0)
        fail_msg("'%s' does not parse back", again_in[j]);
      _cleanup_free_ char *s = bothy_reference_string(again);
      assert_string_equal(s, c->full);
    }
  }
}

static void test_fields(void **state)
{
  _cleanup_reference_ struct bothy_reference *ref = NULL;
  assert_int_equal(bothy_reference_parse("localhost:5000/a/b:v1", &ref, NULL), 0);
  assert_string_equal(ref->domain, "localhost:5000");
  assert_string_equal(ref->path, "a/b");
  assert_string_equal(ref->tag, "v1");
  assert_null(ref->digest);

  _cleanup_reference_ struct bothy_reference *d = NULL;
  assert_int_equal(bothy_reference_parse("busybox@" DIGEST, &d, NULL), 0);
  assert_string_equal(d->domain, "docker.io");
  assert_string_equal(d->path, "library/busybox");
  assert_null(d->tag); /* a digest and no tag: no "latest" */
  assert_string_equal(d->digest, DIGEST);
}

static void test_invalid(void **state)
{
  for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
    const struct invalid_case *c = &invalid_cases[i];
    bothy_error_t err = NULL;
    struct bothy_reference *ref = (struct bothy_reference *) 0x1; /* written only on success */
    int r = bothy_reference_parse(c->in, &ref, &err);
    if (r >= 0)
      fail_msg("'%s' was accepted", c->in);
    assert_int_equal(r, -1);
    assert_ptr_equal(ref, (struct bothy_reference *) 0x1);
    assert_non_null(err);
    _cleanup_free_ char *quoted = xasprintf("invalid reference '%s'", c->in);
    assert_true(strncmp(err->msg, quoted, strlen(quoted)) == 0);
    if (c->msg)
      assert_string_equal(err->msg, c->msg);
    bothy_error_free(&err);
    assert_null(err);
    /* A NULL error pointer is allowed. */
    assert_int_equal(bothy_reference_parse(c->in, &ref, NULL), -1);
  }
}

static void test_digest_message(void **state)
{
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_reference *ref = NULL;
  assert_int_equal(bothy_reference_parse("app@sha256:short", &ref, &err), -1);
  assert_string_equal(err->msg, "invalid reference 'app@sha256:short': invalid digest format: "
                                "invalid digest 'sha256:short': want 64 lowercase hex digits");
}

static void test_lengths(void **state)
{
  /* "docker.io/library/" is 18 characters; the limit applies to the whole
   * normalised name, as in distribution/reference. */
  char name[301];
  memset(name, 'a', sizeof(name) - 1);
  name[sizeof(name) - 1] = '\0';
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_reference *ref = NULL;
  assert_int_equal(bothy_reference_parse(name, &ref, &err), -1);
  assert_non_null(strstr(err->msg, "repository name must not be more than 255 characters"));
  assert_null(ref);

  name[255 - 18] = '\0';
  _cleanup_reference_ struct bothy_reference *ok = NULL;
  assert_int_equal(bothy_reference_parse(name, &ok, NULL), 0);
  name[255 - 18] = 'a';
  name[256 - 18] = '\0';
  assert_int_equal(bothy_reference_parse(name, &ref, NULL), -1);

  /* Tags: at most 128 characters. */
  char tagged[4 + 129 + 1] = "app:";
  memset(tagged + 4, 't', 129);
  tagged[4 + 129] = '\0';
  assert_int_equal(bothy_reference_parse(tagged, &ref, NULL), -1);
  tagged[4 + 128] = '\0';
  _cleanup_reference_ struct bothy_reference *t = NULL;
  assert_int_equal(bothy_reference_parse(tagged, &t, NULL), 0);
  assert_int_equal(strlen(t->tag), 128);
}

static void test_with_tag_and_copy(void **state)
{
  _cleanup_reference_ struct bothy_reference *ref = NULL;
  assert_int_equal(bothy_reference_parse("quay.io/a/b@" DIGEST, &ref, NULL), 0);

  _cleanup_reference_ struct bothy_reference *tagged = NULL;
  assert_int_equal(bothy_reference_with_tag(ref, "v2", &tagged, NULL), 0);
  _cleanup_free_ char *s = bothy_reference_string(tagged);
  assert_string_equal(s, "quay.io/a/b:v2@" DIGEST);
  assert_null(ref->tag); /* the original is untouched */

  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_reference *bad = NULL;
  assert_int_equal(bothy_reference_with_tag(ref, "no good", &bad, &err), -1);
  assert_null(bad);
  assert_string_equal(err->msg, "invalid tag 'no good': invalid tag format");

  _cleanup_reference_ struct bothy_reference *c = bothy_reference_copy(tagged);
  assert_ptr_not_equal(c->path, tagged->path);
  _cleanup_free_ char *cs = bothy_reference_string(c);
  assert_string_equal(cs, s);
  assert_null(bothy_reference_copy(NULL));
}

static void test_free_and_null(void **state)
{
  assert_null(bothy_reference_free(NULL));
  struct bothy_reference *ref = NULL;
  assert_int_equal(bothy_reference_parse("busybox", &ref, NULL), 0);
  assert_null(bothy_reference_free(ref));
  /* NULL input behaves as "". */
  assert_int_equal(bothy_reference_parse(NULL, &ref, NULL), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid),         cmocka_unit_test(test_fields),
    cmocka_unit_test(test_invalid),       cmocka_unit_test(test_digest_message),
    cmocka_unit_test(test_lengths),       cmocka_unit_test(test_with_tag_and_copy),
    cmocka_unit_test(test_free_and_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
