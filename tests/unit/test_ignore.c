/* SPDX-License-Identifier: GPL-2.0-or-later */
/* build/ignore: .containerignore / .dockerignore matching, checked against
 * the examples of the Dockerfile reference and moby/patternmatcher. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/ignore.h"

static struct bothy_ignore *load(const char *text)
{
  struct bothy_ignore *ig = NULL;
  bothy_error_t err = NULL;
  if (bothy_ignore_parse(text, strlen(text), ".dockerignore", &ig, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  return ig;
}

static void expect_err(const char *text, const char *want)
{
  struct bothy_ignore *ig = (struct bothy_ignore *) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_ignore_parse(text, strlen(text), NULL, &ig, &err), -EINVAL);
  assert_int_equal(err->code, EINVAL);
  if (strcmp(err->msg, want) != 0)
    fail_msg("got \"%s\", want \"%s\"", err->msg, want);
  assert_ptr_equal(ig, (struct bothy_ignore *) 0x1);
  bothy_error_free(&err);
}

#define IGNORED(ig, p)                                                                             \
  do {                                                                                             \
    if (!bothy_ignore_match((ig), (p)))                                                            \
      fail_msg("'%s' should be ignored", (p));                                                     \
  } while (0)
#define KEPT(ig, p)                                                                                \
  do {                                                                                             \
    if (bothy_ignore_match((ig), (p)))                                                             \
      fail_msg("'%s' should be kept", (p));                                                        \
  } while (0)

/* The Dockerfile reference's example file. */
static void test_reference_example(void **state)
{
  struct bothy_ignore *ig = load("# comment\n"
                                 "*/temp*\n"
                                 "*/*/temp*\n"
                                 "temp?\n");
  assert_int_equal(bothy_ignore_count(ig), 3);
  IGNORED(ig, "somedir/temporary.txt");
  IGNORED(ig, "somedir/temp");
  IGNORED(ig, "somedir/temp/inside.txt"); /* below a matching directory */
  IGNORED(ig, "somedir/subdir/temporary.txt");
  IGNORED(ig, "tempa");
  IGNORED(ig, "tempb");
  KEPT(ig, "temp");
  KEPT(ig, "tempab");
  KEPT(ig, "temporary.txt");
  KEPT(ig, "a/b/c/temporary.txt");
  KEPT(ig, "somedir/xtemp");
  KEPT(ig, "# comment");
  bothy_ignore_free(ig);
}

static void test_double_star(void **state)
{
  struct bothy_ignore *ig = load("**/*.go\n");
  IGNORED(ig, "main.go");
  IGNORED(ig, "cmd/x/main.go");
  KEPT(ig, "main.go.txt");
  KEPT(ig, "README.md");
  bothy_ignore_free(ig);

  ig = load("a/**/b\nlogs/**\n**\\/never\n");
  IGNORED(ig, "a/b");
  IGNORED(ig, "a/x/b");
  IGNORED(ig, "a/x/y/b");
  IGNORED(ig, "a/x/y/b/c");
  KEPT(ig, "a/xb");
  KEPT(ig, "ab");
  IGNORED(ig, "logs/x");
  IGNORED(ig, "logs/x/y.log");
  KEPT(ig, "logs");
  KEPT(ig, "logsx/y");
  bothy_ignore_free(ig);

  ig = load("**\n!keep\n");
  IGNORED(ig, "anything/at/all");
  KEPT(ig, "keep");
  KEPT(ig, "keep/below");
  bothy_ignore_free(ig);
}

static void test_exceptions(void **state)
{
  /* Every .md but README.md. */
  struct bothy_ignore *ig = load("*.md\n!README.md\n");
  IGNORED(ig, "CHANGES.md");
  KEPT(ig, "README.md");
  KEPT(ig, "docs/x.md"); /* '*' is one level: only the root's */
  bothy_ignore_free(ig);

  /* No markdown but the READMEs other than README-secret.md. */
  ig = load("*.md\n!README*.md\nREADME-secret.md\n");
  IGNORED(ig, "CHANGES.md");
  KEPT(ig, "README.md");
  KEPT(ig, "README-public.md");
  IGNORED(ig, "README-secret.md");
  bothy_ignore_free(ig);

  /* The last pattern wins: README-secret.md is kept. */
  ig = load("*.md\nREADME-secret.md\n!README*.md\n");
  KEPT(ig, "README-secret.md");
  IGNORED(ig, "CHANGES.md");
  bool exception = false;
  assert_string_equal(bothy_ignore_pattern(ig, 2, &exception), "README*.md");
  assert_true(exception);
  assert_null(bothy_ignore_pattern(ig, 3, &exception));
  bothy_ignore_free(ig);

  /* An exception under an excluded directory. */
  ig = load("node_modules\n!node_modules/keep.txt\n");
  IGNORED(ig, "node_modules/a.js");
  KEPT(ig, "node_modules/keep.txt");
  bothy_ignore_free(ig);
}

static void test_cleaning_and_syntax(void **state)
{
  struct bothy_ignore *ig = load("\xef\xbb\xbf/root-only\r\n"
                                 "  ./build/  \n"
                                 "\t\n"
                                 "a//b/../c\n"
                                 "file[0-9].txt\n"
                                 "x[^a-c]\n"
                                 "lit\\*star\n"
                                 "q\\?\n"
                                 "! spaced  \n"
                                 "  # indented comment\n");
  const char *want[] = { "root-only", "build",      "a/c",  "file[0-9].txt",
                         "x[^a-c]",   "lit\\*star", "q\\?", "spaced" };
  assert_int_equal(bothy_ignore_count(ig), 8);
  for (size_t i = 0; i < 8; i++)
    assert_string_equal(bothy_ignore_pattern(ig, i, NULL), want[i]);
  IGNORED(ig, "root-only");
  IGNORED(ig, "/root-only");
  IGNORED(ig, "./root-only");
  KEPT(ig, "sub/root-only");
  IGNORED(ig, "build/out.o");
  IGNORED(ig, "./build//out.o");
  IGNORED(ig, "a/c");
  KEPT(ig, "a/b/c");
  IGNORED(ig, "file7.txt");
  KEPT(ig, "filex.txt");
  IGNORED(ig, "xd");
  KEPT(ig, "xb");
  IGNORED(ig, "lit*star");
  KEPT(ig, "litxstar");
  IGNORED(ig, "q?");
  KEPT(ig, "qx");
  KEPT(ig, "# indented comment");
  bothy_ignore_free(ig);

  /* Nothing to ignore. */
  ig = load("");
  assert_int_equal(bothy_ignore_count(ig), 0);
  KEPT(ig, "x");
  assert_false(bothy_ignore_can_skip_dir(ig, "x"));
  bothy_ignore_free(ig);
  KEPT(NULL, "x");
  assert_null(bothy_ignore_free(NULL));

  expect_err("ok\n!\n", ".containerignore:2: illegal exclusion pattern: \"!\"");
  expect_err("a\n\nfile[a-\n", ".containerignore:3: bad pattern \"file[a-\"");
  expect_err("x[]\n", ".containerignore:1: bad pattern \"x[]\"");
  expect_err("[z-a]\n", ".containerignore:1: bad pattern \"[z-a]\"");
  expect_err("[-a]\n", ".containerignore:1: bad pattern \"[-a]\"");
}

static void test_skip_dir(void **state)
{
  struct bothy_ignore *ig = load("node_modules\n.git\n*.log\n");
  assert_true(bothy_ignore_can_skip_dir(ig, "node_modules"));
  assert_true(bothy_ignore_can_skip_dir(ig, "./.git/"));
  assert_false(bothy_ignore_can_skip_dir(ig, "src"));
  assert_false(bothy_ignore_can_skip_dir(ig, "."));
  bothy_ignore_free(ig);

  ig = load("node_modules\nvendor\n!node_modules/keep.txt\n!README.md\n");
  assert_false(bothy_ignore_can_skip_dir(ig, "node_modules"));
  assert_true(bothy_ignore_can_skip_dir(ig, "vendor"));
  bothy_ignore_free(ig);

  /* A wildcard exception may reach into any directory (docker's classic
   * builder gets this one wrong and skips). */
  ig = load("build\n!**/*.keep\n");
  assert_false(bothy_ignore_can_skip_dir(ig, "build"));
  KEPT(ig, "build/a/x.keep");
  IGNORED(ig, "build/a/x.o");
  bothy_ignore_free(ig);

  ig = load("docs\nother\n!docs/*/keep\n");
  assert_false(bothy_ignore_can_skip_dir(ig, "docs"));
  assert_true(bothy_ignore_can_skip_dir(ig, "other"));
  KEPT(ig, "docs/a/keep");
  IGNORED(ig, "docs/a/other");
  bothy_ignore_free(ig);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_reference_example), cmocka_unit_test(test_double_star),
    cmocka_unit_test(test_exceptions),        cmocka_unit_test(test_cleaning_and_syntax),
    cmocka_unit_test(test_skip_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
