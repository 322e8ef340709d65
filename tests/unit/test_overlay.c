/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Overlay root filesystems from shared layers (needs root). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "image/overlay.h"

static char *top;

static int setup(void **state)
{
  top = xstrdup("/tmp/bothy-overlay.XXXXXX");
  return mkdtemp(top) ? 0 : -1;
}

static int teardown(void **state)
{
  /* Unmount whatever a failed test left, then remove the tree. */
  _cleanup_free_ char *m = xasprintf("%s/merged", top);
  while (umount2(m, MNT_DETACH) == 0)
    ;
  bothy_rm_rf_at(AT_FDCWD, top, NULL);
  free(top);
  return 0;
}

static void put(const char *dir, const char *name, const char *content)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static char *get(const char *dir, const char *name)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
  char *data = NULL;
  if (bothy_read_file(AT_FDCWD, p, &data, NULL, NULL) < 0)
    return NULL;
  return data;
}

/* top/sub, created. */
static char *mkd(const char *sub)
{
  char *p = xasprintf("%s/%s", top, sub);
  assert_int_equal(bothy_mkdir_p(p, 0755, NULL), 0);
  return p;
}

static void test_layers_and_whiteouts(void **state)
{
  _cleanup_free_ char *base = mkd("layers/base");
  _cleanup_free_ char *mid = mkd("layers/mid");
  _cleanup_free_ char *upper = mkd("c/upper");
  _cleanup_free_ char *work = mkd("c/work");
  _cleanup_free_ char *merged = mkd("merged");
  put(base, "a", "base-a");
  put(base, "b", "base-b");
  put(mid, "a", "mid-a");
  /* Whiteout in overlay's form hides base's b. */
  _cleanup_free_ char *wh = xasprintf("%s/b", mid);
  assert_int_equal(mknod(wh, S_IFCHR | 0000, makedev(0, 0)), 0);
  const char *lowers[] = { mid, base };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_overlay_mount(lowers, 2, upper, work, merged, &err), 0);
  _cleanup_free_ char *a = get(merged, "a");
  assert_string_equal(a, "mid-a");
  _cleanup_free_ char *b = get(merged, "b");
  assert_null(b);
  put(merged, "new", "written");
  /* Writes land in the container's upper dir, never in a shared layer. */
  _cleanup_free_ char *u = get(upper, "new");
  assert_string_equal(u, "written");
  _cleanup_free_ char *l = get(mid, "new");
  assert_null(l);
  assert_int_equal(umount2(merged, 0), 0);
}

static void test_long_chain(void **state)
{
  /* 150 layers with long paths: far more than one page of options. */
  enum { N = 150 };
  char *lowers_buf[N] = { 0 };
  const char *lowers[N];
  for (int i = 0; i < N; i++) {
    char sub[128];
    snprintf(sub, sizeof(sub), "layers/sha256-0123456789abcdef0123456789abcdef0123456789abcdef-%d",
             i);
    lowers_buf[i] = mkd(sub);
    lowers[i] = lowers_buf[i];
    char name[32], content[32];
    snprintf(name, sizeof(name), "f%d", i);
    snprintf(content, sizeof(content), "%d", i);
    put(lowers_buf[i], name, content);
  }
  _cleanup_free_ char *upper = mkd("c2/upper");
  _cleanup_free_ char *work = mkd("c2/work");
  _cleanup_free_ char *merged = mkd("merged");
  bothy_error_t err = NULL;
  int r = bothy_overlay_mount(lowers, N, upper, work, merged, &err);
  if (r < 0)
    fail_msg("%s", err->msg);
  _cleanup_free_ char *f0 = get(merged, "f0");
  _cleanup_free_ char *f149 = get(merged, "f149");
  assert_string_equal(f0, "0");
  assert_string_equal(f149, "149");
  assert_int_equal(umount2(merged, 0), 0);
  for (int i = 0; i < N; i++)
    free(lowers_buf[i]);
}

static void test_errors(void **state)
{
  bothy_error_t err = NULL;
  _cleanup_free_ char *merged = mkd("merged");
  const char *missing[] = { "/nonexistent/layer/a", "/nonexistent/layer/b" };
  assert_true(bothy_overlay_mount(missing, 2, NULL, NULL, merged, &err) < 0);
  assert_non_null(strstr(err->msg, "overlay"));
  bothy_error_free(&err);
  assert_true(bothy_overlay_mount(missing, 0, NULL, NULL, merged, &err) < 0);
  assert_non_null(strstr(err->msg, "': no layers"));
  bothy_error_free(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_layers_and_whiteouts, setup, teardown),
    cmocka_unit_test_setup_teardown(test_long_chain, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
