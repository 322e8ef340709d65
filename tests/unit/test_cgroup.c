/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of runtime/cgroup: path rules, and the bytes written, on fake
 * cgroupfs trees in a temporary directory (a fake tree has no kernel: the
 * files a write goes to are created empty beforehand, and a file keeps only
 * the last value written); then one test on this machine's real hierarchy. */
#include <fcntl.h>
#include <linux/bpf.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/cgroup.h"
#include "runtime/mounts.h"

#define CGROUP2_SUPER_MAGIC_TEST 0x63677270

/* ---------------------------------------------------------------- helpers */

struct fixture {
  char root[64]; /* the temporary directory */
};

static int setup_tmp(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/bothy-cgroup-test.XXXXXX");
  if (!mkdtemp(f->root)) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

/* The sleeper a fake-tree test forked, killed by teardown if the test failed
 * before reaping it. */
static pid_t live_child = -1;

static void reap_live_child(void)
{
  if (live_child > 0) {
    kill(live_child, SIGKILL);
    waitpid(live_child, NULL, 0);
  }
  live_child = -1;
}

static int teardown_tmp(void **state)
{
  struct fixture *f = *state;
  reap_live_child();
  bothy_error_t err = NULL;
  int r = bothy_rm_rf_at(AT_FDCWD, f->root, &err);
  bothy_error_free(&err);
  free(f);
  return r;
}

static void mkdirs(const char *fmt, ...) _printf_(1, 2);
static void mkdirs(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *p = xvasprintf(fmt, ap);
  va_end(ap);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_mkdir_p(p, 0755, &err), 0);
}

/* Creates (with parents) a file holding content. */
static void put(const char *content, const char *fmt, ...) _printf_(2, 3);
static void put(const char *content, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *p = xvasprintf(fmt, ap);
  va_end(ap);
  _cleanup_free_ char *dir = xstrdup(p);
  *strrchr(dir, '/') = '\0';
  mkdirs("%s", dir);
  FILE *fp = fopen(p, "we");
  assert_non_null(fp);
  fputs(content, fp);
  assert_int_equal(fclose(fp), 0);
}

/* Creates empty files named in a NULL-terminated list inside dir. */
static void touch_all(const char *dir, const char *const *names)
{
  for (; *names; names++)
    put("", "%s/%s", dir, *names);
}

static char *get(const char *fmt, ...) _printf_(1, 2);
static char *get(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *p = xvasprintf(fmt, ap);
  va_end(ap);
  char *s = NULL;
  bothy_error_t err = NULL;
  if (bothy_read_file(AT_FDCWD, p, &s, NULL, &err) < 0) {
    bothy_error_free(&err);
    return xstrdup("<missing>");
  }
  return s;
}

#define assert_file(expected, ...)                                                                 \
  do {                                                                                             \
    _cleanup_free_ char *_got = get(__VA_ARGS__);                                                  \
    assert_string_equal(_got, (expected));                                                         \
  } while (0)

static void unlink_at(const char *dir, const char *name)
{
  _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
  assert_int_equal(unlink(p), 0);
}

static bool exists(const char *fmt, ...) _printf_(1, 2);
static bool exists(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *p = xvasprintf(fmt, ap);
  va_end(ap);
  return access(p, F_OK) == 0;
}

/* As spec.c leaves a resources object before parsing: nothing given. */
static void res_init(struct bothy_resources *r)
{
  memset(r, 0, sizeof(*r));
  r->memory_limit = r->memory_reservation = r->memory_swap = BOTHY_UNSET;
  r->memory_kernel = r->memory_kernel_tcp = r->memory_swappiness = BOTHY_UNSET;
  r->disable_oom_killer = r->use_hierarchy = r->check_before_update = -1;
  r->cpu_shares = r->cpu_quota = r->cpu_period = r->cpu_burst = BOTHY_UNSET;
  r->cpu_realtime_runtime = r->cpu_realtime_period = r->cpu_idle = BOTHY_UNSET;
  r->pids_limit = BOTHY_UNSET;
  r->blkio_weight = r->blkio_leaf_weight = BOTHY_UNSET;
  r->net_cls_classid = BOTHY_UNSET;
}

#define MiB (1024LL * 1024)

/* ---------------------------------------------------------------- systemd paths */

static void test_systemd_path(void **state)
{
  static const struct {
    const char *in, *id, *out;
  } ok[] = {
    { "machine.slice:libpod:abc", "x", "/machine.slice/libpod-abc.scope" },
    { ":runc:abc", "x", "/system.slice/runc-abc.scope" },
    { "a-b.slice:p:n", "x", "/a.slice/a-b.slice/p-n.scope" },
    { "a-b-c.slice:p:n", "x", "/a.slice/a-b.slice/a-b-c.slice/p-n.scope" },
    { "machine.slice:libpod:foo.slice", "x", "/machine.slice/foo.slice" },
    { "-.slice:p:n", "x", "/p-n.scope" },
    { "machine.slice::abc", "x", "/machine.slice/abc.scope" },
    { NULL, "myid", "/system.slice/runc-myid.scope" },
    { "", "myid", "/system.slice/runc-myid.scope" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
    _cleanup_free_ char *p = NULL;
    _cleanup_error_ bothy_error_t err = NULL;
    int r = bothy_cgroup_systemd_path(ok[i].in, ok[i].id, &p, &err);
    if (r < 0)
      fail_msg("'%s': %s", ok[i].in, err->msg);
    assert_string_equal(p, ok[i].out);
  }
  static const char *const bad[] = {
    "abc",
    "a:b",
    "a:b:c:d",
    "machine:p:n",
    "a--b.slice:p:n",
    "-a.slice:p:n",
    "a-.slice:p:n",
    ".slice:p:n",
    "x/y.slice:p:n",
    "machine.slice:p:",
    "machine.slice:p:a/b",
    "machine.slice:p:..",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    _cleanup_free_ char *p = NULL;
    _cleanup_error_ bothy_error_t err = NULL;
    if (bothy_cgroup_systemd_path(bad[i], "x", &p, &err) != -EINVAL)
      fail_msg("'%s' was accepted as '%s'", bad[i], p ? p : "");
    assert_null(p);
  }
}

static void test_mode_names(void **state)
{
  for (int m = 0; m < _BOTHY_CGROUP_MODE_MAX; m++)
    assert_int_equal(
        bothy_cgroup_mode_from_name(bothy_cgroup_mode_name((enum bothy_cgroup_mode) m)), m);
  assert_int_equal(bothy_cgroup_mode_from_name("v3"), _BOTHY_CGROUP_MODE_INVALID);
}

static void test_detect(void **state)
{
  struct fixture *f = *state;
  _cleanup_error_ bothy_error_t err = NULL;
  enum bothy_cgroup_mode m = BOTHY_CGROUP_AUTO;
  /* A plain directory is neither cgroup2 nor has a cgroup2 "unified". */
  assert_int_equal(bothy_cgroup_detect_mode(f->root, &m, &err), 0);
  assert_int_equal(m, BOTHY_CGROUP_V1);
  _cleanup_free_ char *missing = xasprintf("%s/nope", f->root);
  assert_int_equal(bothy_cgroup_detect_mode(missing, &m, &err), -ENOENT);

  /* The real one, checked against statfs done here. */
  struct statfs a, b;
  assert_int_equal(statfs("/sys/fs/cgroup", &a), 0);
  enum bothy_cgroup_mode want = BOTHY_CGROUP_V1;
  if (a.f_type == CGROUP2_SUPER_MAGIC_TEST)
    want = BOTHY_CGROUP_V2;
  else if (statfs("/sys/fs/cgroup/unified", &b) == 0 && b.f_type == CGROUP2_SUPER_MAGIC_TEST)
    want = BOTHY_CGROUP_HYBRID;
  assert_int_equal(bothy_cgroup_detect_mode(NULL, &m, &err), 0);
  assert_int_equal(m, want);
}

/* ---------------------------------------------------------------- v2 */

/* A pure v2 tree; we run in /user.slice/me. */
static void make_v2_tree(const char *root)
{
  put("cpuset cpu io memory hugetlb pids\n", "%s/cgroup.controllers", root);
  put("", "%s/cgroup.subtree_control", root);
  put("cpu memory pids\n", "%s/user.slice/cgroup.controllers", root);
  put("memory\n", "%s/user.slice/cgroup.subtree_control", root);
  mkdirs("%s/user.slice/me", root);
  put("0::/user.slice/me\n", "%s/self-cgroup", root);
  put("", "%s/mountinfo", root);
}

static struct bothy_cgroup *new_v2(const char *root, const char *path, const char *id)
{
  _cleanup_free_ char *self = xasprintf("%s/self-cgroup", root);
  _cleanup_free_ char *mi = xasprintf("%s/mountinfo", root);
  struct bothy_cgroup_config cfg = {
    .root = root,
    .mode = BOTHY_CGROUP_V2,
    .self_cgroup_file = self,
    .mountinfo_file = mi,
    .path = path,
    .id = id,
  };
  struct bothy_cgroup *cg = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  if (bothy_cgroup_new(&cfg, &cg, &err) < 0)
    fail_msg("bothy_cgroup_new('%s'): %s", path ? path : "(null)", err->msg);
  return cg;
}

static void test_v2_paths(void **state)
{
  struct fixture *f = *state;
  make_v2_tree(f->root);
  static const struct {
    const char *path, *id, *want;
  } cases[] = {
    { "/a/../b//c/", "x", "/b/c" },       /* absolute: from the root, cleaned */
    { "/../../etc", "x", "/etc" },        /* never above the root */
    { "ctr", "x", "/user.slice/me/ctr" }, /* relative: below our own cgroup */
    { "../../../x", "x", "/user.slice/me/x" },
    { "a/b", "x", "/user.slice/me/a/b" },
    { NULL, "myid", "/user.slice/me/myid" }, /* empty: relative "<id>" */
    { "", "myid", "/user.slice/me/myid" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    _cleanup_cgroup_ struct bothy_cgroup *cg = new_v2(f->root, cases[i].path, cases[i].id);
    assert_int_equal(cg->mode, BOTHY_CGROUP_V2);
    assert_int_equal(cg->n_hierarchies, 1);
    assert_true(cg->hierarchies[0].unified);
    assert_string_equal(cg->hierarchies[0].name, "");
    assert_string_equal(cg->hierarchies[0].path, cases[i].want);
    _cleanup_free_ char *dir = xasprintf("%s%s", f->root, cases[i].want);
    assert_string_equal(cg->hierarchies[0].dir, dir);
    assert_string_equal(bothy_cgroup_dir(cg, "memory"), dir);
    assert_null(bothy_cgroup_dir(cg, "freezer"));
  }

  /* The root, our own cgroup, and ids that are not names are refused. */
  _cleanup_free_ char *self = xasprintf("%s/self-cgroup", f->root);
  _cleanup_free_ char *mi = xasprintf("%s/mountinfo", f->root);
  static const struct {
    const char *path, *id;
  } bad[] = { { "/", "x" },    { "/a/..", "x" }, { ".", "x" },   { "a/..", "x" },
              { NULL, "a/b" }, { NULL, ".." },   { NULL, NULL }, { "", "" } };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    struct bothy_cgroup_config cfg = { .root = f->root,
                                       .mode = BOTHY_CGROUP_V2,
                                       .self_cgroup_file = self,
                                       .mountinfo_file = mi,
                                       .path = bad[i].path,
                                       .id = bad[i].id };
    _cleanup_cgroup_ struct bothy_cgroup *cg = NULL;
    _cleanup_error_ bothy_error_t err = NULL;
    if (bothy_cgroup_new(&cfg, &cg, &err) != -EINVAL)
      fail_msg("path '%s' id '%s' was accepted", bad[i].path ? bad[i].path : "(null)",
               bad[i].id ? bad[i].id : "(null)");
    assert_null(cg);
  }

  /* --systemd-cgroup: the path systemd would use, from the root. */
  struct bothy_cgroup_config cfg = { .root = f->root,
                                     .mode = BOTHY_CGROUP_V2,
                                     .self_cgroup_file = self,
                                     .mountinfo_file = mi,
                                     .path = "machine.slice:libpod:abc",
                                     .id = "x",
                                     .systemd = true };
  _cleanup_cgroup_ struct bothy_cgroup *cg = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_cgroup_new(&cfg, &cg, &err), 0);
  assert_string_equal(cg->hierarchies[0].path, "/machine.slice/libpod-abc.scope");

  /* A relative root is refused. */
  struct bothy_cgroup_config rel = { .root = "sys/fs/cgroup", .mode = BOTHY_CGROUP_V2, .id = "x" };
  _cleanup_cgroup_ struct bothy_cgroup *cg2 = NULL;
  assert_int_equal(bothy_cgroup_new(&rel, &cg2, &err), -EINVAL);
}

static const char *const v2_leaf_files[] = {
  "cgroup.procs",
  "memory.max",
  "memory.low",
  "memory.swap.max",
  "memory.high",
  "cpu.weight",
  "cpu.max",
  "cpu.max.burst",
  "cpu.idle",
  "cpuset.cpus",
  "cpuset.mems",
  "pids.max",
  "io.weight",
  "io.max",
  "hugetlb.2MB.max",
  "hugetlb.1GB.max",
  "hugetlb.1GB.rsvd.max",
  NULL,
};

static void test_v2_create_apply(void **state)
{
  struct fixture *f = *state;
  make_v2_tree(f->root);
  _cleanup_cgroup_ struct bothy_cgroup *cg = new_v2(f->root, "ctr", "x");
  _cleanup_error_ bothy_error_t err = NULL;
  const char *dir = cg->hierarchies[0].dir;

  assert_int_equal(bothy_cgroup_create(cg, &err), 0);
  assert_true(exists("%s", dir));
  /* Every level above the leaf offers its controllers to its children; the
   * levels that are not cgroups (no cgroup.controllers) are skipped. */
  assert_file("+cpuset +cpu +io +memory +hugetlb +pids", "%s/cgroup.subtree_control", f->root);
  assert_file("+cpu +pids", "%s/user.slice/cgroup.subtree_control", f->root);
  assert_false(exists("%s/user.slice/me/cgroup.subtree_control", f->root));
  /* create is idempotent */
  assert_int_equal(bothy_cgroup_create(cg, &err), 0);

  touch_all(dir, v2_leaf_files);
  struct bothy_resources r;
  res_init(&r);
  r.memory_limit = 64 * MiB;
  r.memory_swap = 128 * MiB; /* v1 semantics: memory + swap */
  r.memory_reservation = 32 * MiB;
  r.memory_swappiness = 10; /* no v2 equivalent: ignored */
  r.disable_oom_killer = 1; /* idem */
  r.cpu_shares = 1024;
  r.cpu_quota = 50000;
  r.cpu_period = 100000;
  r.cpu_burst = 1000;
  r.cpu_idle = 0;
  r.cpu_cpus = "0-1";
  r.cpu_mems = "0";
  r.pids_limit = 10;
  r.blkio_weight = 500;
  struct bothy_throttle_device rbps = { 8, 0, 1048576 };
  r.throttle_read_bps = &rbps;
  r.n_throttle_read_bps = 1;
  struct bothy_hugepage_limit huge[] = { { "2MB", 4 * MiB }, { "1GB", 0 } };
  r.hugepage_limits = huge;
  r.n_hugepage_limits = 2;
  _cleanup_json_ json_t *unified = json_pack("{s:s}", "memory.high", "50000000");
  r.unified = unified;
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);

  assert_file("67108864", "%s/memory.max", dir);
  assert_file("67108864", "%s/memory.swap.max", dir); /* 128 MiB - 64 MiB */
  assert_file("33554432", "%s/memory.low", dir);
  assert_file("39", "%s/cpu.weight", dir); /* 1 + (1024 - 2) * 9999 / 262142 */
  assert_file("50000 100000", "%s/cpu.max", dir);
  assert_file("1000", "%s/cpu.max.burst", dir);
  assert_file("0", "%s/cpu.idle", dir);
  assert_file("0-1", "%s/cpuset.cpus", dir);
  assert_file("0", "%s/cpuset.mems", dir);
  assert_file("10", "%s/pids.max", dir);
  assert_file("4950", "%s/io.weight", dir); /* 1 + (500 - 10) * 9999 / 990 */
  assert_file("8:0 rbps=1048576", "%s/io.max", dir);
  assert_file("4194304", "%s/hugetlb.2MB.max", dir);
  assert_file("0", "%s/hugetlb.1GB.max", dir);
  assert_file("0", "%s/hugetlb.1GB.rsvd.max", dir); /* reservations too, when accounted */
  assert_file("50000000", "%s/memory.high", dir);
  assert_false(exists("%s/memory.swappiness", dir));
  assert_false(exists("%s/memory.oom_control", dir));

  /* Unlimited, and the other cpu.max and weight forms. */
  touch_all(dir, v2_leaf_files);
  res_init(&r);
  r.memory_limit = -1; /* swap not given: unlimited too */
  r.cpu_quota = -1;
  r.cpu_period = 100000;
  r.cpu_shares = 2;
  r.pids_limit = -1;
  struct bothy_throttle_device wiops[] = { { 8, 0, 100 }, { 8, 16, 200 } };
  r.throttle_write_iops = wiops;
  r.n_throttle_write_iops = 2;
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_file("max", "%s/memory.max", dir);
  assert_file("max", "%s/memory.swap.max", dir);
  assert_file("", "%s/memory.low", dir); /* not given: not written */
  assert_file("max 100000", "%s/cpu.max", dir);
  assert_file("1", "%s/cpu.weight", dir);
  assert_file("max", "%s/pids.max", dir);
  assert_file("8:16 wiops=200", "%s/io.max", dir); /* one line per write: the last stays */

  touch_all(dir, v2_leaf_files);
  res_init(&r);
  r.cpu_shares = 262144;
  r.cpu_quota = 20000; /* period not given: the kernel keeps its own */
  r.memory_limit = 100 * MiB;
  r.memory_swap = 100 * MiB; /* no swap at all */
  r.pids_limit = 0;
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_file("10000", "%s/cpu.weight", dir);
  assert_file("20000", "%s/cpu.max", dir);
  assert_file("0", "%s/memory.swap.max", dir);
  assert_file("104857600", "%s/memory.max", dir);
  assert_file("max", "%s/pids.max", dir);

  /* BFQ's weight keeps the blkio scale. */
  put("", "%s/io.bfq.weight", dir);
  res_init(&r);
  r.blkio_weight = 500;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), 0);
  assert_file("500", "%s/io.bfq.weight", dir);

  /* A write that fails comes back naming the file and the value. */
  unlink_at(dir, "memory.max");
  res_init(&r);
  r.memory_limit = 64 * MiB;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -ENOENT);
  _cleanup_free_ char *want = xasprintf("cannot write '67108864' to '%s/memory.max': "
                                        "No such file or directory",
                                        dir);
  assert_string_equal(err->msg, want);
}

static void test_v2_refusals(void **state)
{
  struct fixture *f = *state;
  make_v2_tree(f->root);
  _cleanup_cgroup_ struct bothy_cgroup *cg = new_v2(f->root, "ctr", "x");
  _cleanup_error_ bothy_error_t err = NULL;
  const char *dir = cg->hierarchies[0].dir;
  assert_int_equal(bothy_cgroup_create(cg, &err), 0);
  touch_all(dir, v2_leaf_files);
  put("", "%s/user.slice/me/x", f->root); /* what "../x" would reach */

  /* unified keys must be plain file names; checked before anything is written. */
  static const char *const bad_keys[] = { "../x", "a/b", ".", "..", "", "/memory.max" };
  for (size_t i = 0; i < ARRAY_SIZE(bad_keys); i++) {
    struct bothy_resources r;
    res_init(&r);
    r.memory_limit = 64 * MiB;
    _cleanup_json_ json_t *u = json_pack("{s:s}", bad_keys[i], "1");
    r.unified = u;
    if (bothy_cgroup_apply(cg, &r, &err) != -EINVAL)
      fail_msg("unified key '%s' was accepted", bad_keys[i]);
    assert_non_null(strstr(err->msg, "not a file name"));
    bothy_error_free(&err);
  }
  assert_file("", "%s/user.slice/me/x", f->root);
  assert_file("", "%s/memory.max", dir);

  struct bothy_resources r;
  {
    res_init(&r);
    _cleanup_json_ json_t *u = json_pack("{s:i}", "memory.high", 1);
    r.unified = u;
    assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
    bothy_error_free(&err);
  }
  /* Swap needs a memory limit, and mem+swap cannot be below memory. */
  res_init(&r);
  r.memory_swap = 64 * MiB;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
  bothy_error_free(&err);
  r.memory_limit = 128 * MiB;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
  bothy_error_free(&err);
  assert_file("", "%s/memory.swap.max", dir);
  /* No real-time groups on v2. */
  res_init(&r);
  r.cpu_realtime_runtime = 1000;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
  bothy_error_free(&err);
  /* A page size is not a path. */
  res_init(&r);
  struct bothy_hugepage_limit h = { "2MB/../../x", 1 };
  r.hugepage_limits = &h;
  r.n_hugepage_limits = 1;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
  bothy_error_free(&err);

  /* A controller the hierarchy does not offer: refused before any write. */
  put("cpu memory pids\n", "%s/cgroup.controllers", f->root);
  _cleanup_cgroup_ struct bothy_cgroup *cg2 = new_v2(f->root, "ctr", "x");
  res_init(&r);
  r.pids_limit = 5;
  struct bothy_hugepage_limit h2 = { "2MB", 1 };
  r.hugepage_limits = &h2;
  r.n_hugepage_limits = 1;
  assert_int_equal(bothy_cgroup_apply(cg2, &r, &err), -ENOTSUP);
  assert_non_null(strstr(err->msg, "hugetlb controller is not available"));
  bothy_error_free(&err);
  assert_file("", "%s/pids.max", dir);
  res_init(&r);
  r.blkio_weight = 100;
  assert_int_equal(bothy_cgroup_apply(cg2, &r, &err), -ENOTSUP);
}

static bool has_pid(const pid_t *v, size_t n, pid_t p)
{
  for (size_t i = 0; i < n; i++)
    if (v[i] == p)
      return true;
  return false;
}

static pid_t spawn_sleeper(void)
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (;;)
      pause();
  }
  live_child = pid;
  return pid;
}

static void wait_child(pid_t pid, int *status)
{
  assert_int_equal(waitpid(pid, status, 0), pid);
  if (pid == live_child)
    live_child = -1;
}

/* Pids above PID_MAX_LIMIT (4194304): no process can have them, so the
 * fake cgroup.procs never names a real process. */
#define FAKE_PID 5000001

static void test_v2_pids_freeze_kill_destroy(void **state)
{
  struct fixture *f = *state;
  make_v2_tree(f->root);
  _cleanup_cgroup_ struct bothy_cgroup *cg = new_v2(f->root, "ctr", "x");
  _cleanup_error_ bothy_error_t err = NULL;
  const char *dir = cg->hierarchies[0].dir;

  /* Nothing exists yet. */
  pid_t *pids = NULL;
  size_t n = 0;
  assert_int_equal(bothy_cgroup_pids(cg, true, &pids, &n, &err), -ENOENT);
  bothy_error_free(&err);
  bool frozen = true;
  assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
  assert_false(frozen);
  assert_int_equal(bothy_cgroup_kill(cg, SIGKILL, &err), 0);

  assert_int_equal(bothy_cgroup_create(cg, &err), 0);
  put("0\n", "%s/cgroup.freeze", dir);
  put("populated 1\nfrozen 1\n", "%s/cgroup.events", dir);
  put("5000001\n5000002\n", "%s/cgroup.procs", dir);
  put("5000003\n", "%s/sub/cgroup.procs", dir);
  put("", "%s/sub/deeper/cgroup.procs", dir);

  assert_int_equal(bothy_cgroup_pids(cg, false, &pids, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_true(has_pid(pids, n, FAKE_PID) && has_pid(pids, n, FAKE_PID + 1));
  free(pids);
  assert_int_equal(bothy_cgroup_pids(cg, true, &pids, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_true(has_pid(pids, n, FAKE_PID + 2));
  free(pids);

  assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
  assert_false(frozen);
  assert_int_equal(bothy_cgroup_freeze(cg, &err), 0);
  assert_file("1", "%s/cgroup.freeze", dir);
  assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
  assert_true(frozen);
  assert_int_equal(bothy_cgroup_thaw(cg, &err), 0);
  assert_file("0", "%s/cgroup.freeze", dir);
  assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
  assert_false(frozen);

  /* Without cgroup.kill: every listed process is signalled, with the cgroup
   * frozen meanwhile and thawed after. */
  pid_t child = spawn_sleeper();
  put("", "%s/sub/cgroup.procs", dir);
  {
    _cleanup_free_ char *s = xasprintf("%d\n", (int) child);
    put(s, "%s/cgroup.procs", dir);
  }
  int r = bothy_cgroup_kill(cg, SIGKILL, &err);
  int status = 0;
  if (r < 0)
    fail_msg("kill: %s", err->msg); /* teardown reaps the child */
  wait_child(child, &status);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_file("0", "%s/cgroup.freeze", dir);

  /* A cgroup frozen before stays frozen. */
  child = spawn_sleeper();
  {
    _cleanup_free_ char *s = xasprintf("%d\n", (int) child);
    put(s, "%s/cgroup.procs", dir);
  }
  put("1\n", "%s/cgroup.freeze", dir);
  r = bothy_cgroup_kill(cg, SIGTERM, &err);
  if (r < 0)
    fail_msg("kill: %s", err->msg); /* teardown reaps the child */
  wait_child(child, &status);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  assert_file("1\n", "%s/cgroup.freeze", dir); /* untouched */
  /* ... except by SIGKILL, since frozen v1 tasks cannot die. */
  child = spawn_sleeper();
  {
    _cleanup_free_ char *s = xasprintf("%d\n", (int) child);
    put(s, "%s/cgroup.procs", dir);
  }
  r = bothy_cgroup_kill(cg, SIGKILL, &err);
  if (r < 0)
    fail_msg("kill: %s", err->msg); /* teardown reaps the child */
  wait_child(child, &status);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_file("0", "%s/cgroup.freeze", dir);
  put("", "%s/cgroup.procs", dir);

  /* With cgroup.kill (5.14+), SIGKILL is one write. */
  put("", "%s/cgroup.kill", dir);
  assert_int_equal(bothy_cgroup_kill(cg, SIGKILL, &err), 0);
  assert_file("1", "%s/cgroup.kill", dir);

  /* destroy removes the leaf and what is below it, not its parents. */
  assert_int_equal(bothy_cgroup_destroy(cg, &err), 0);
  assert_false(exists("%s", dir));
  assert_true(exists("%s/user.slice/me", f->root));
  assert_int_equal(bothy_cgroup_destroy(cg, &err), 0); /* again: nothing to do */
}

/* ---------------------------------------------------------------- v1 */

static void make_v1_tree(const char *R)
{
  _cleanup_free_ char *mi = xasprintf(
      "21 1 0:20 / /sys rw,nosuid - sysfs sysfs rw\n"
      "31 21 0:28 / %1$s rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / %1$s/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n"
      "33 31 0:30 / %1$s/cpuset rw - cgroup cgroup rw,cpuset,clone_children\n"
      "34 31 0:31 / %1$s/memory rw - cgroup cgroup rw,memory\n"
      "35 31 0:32 / %1$s/devices rw - cgroup cgroup rw,devices\n"
      "36 31 0:33 / %1$s/freezer rw - cgroup cgroup rw,freezer\n"
      "37 31 0:34 / %1$s/blkio rw - cgroup cgroup rw,blkio\n"
      "38 31 0:35 / %1$s/pids rw - cgroup cgroup rw,pids\n"
      "39 31 0:36 / %1$s/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n"
      "40 31 0:37 / %1$s/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
      "41 31 0:38 / %1$s/perf\\040event rw shared:5 master:1 - cgroup cgroup rw,perf_event\n"
      "42 31 0:35 / %1$s/pids-again rw - cgroup cgroup rw,pids\n"
      "43 1 0:31 / /elsewhere/memory rw - cgroup cgroup rw,memory\n",
      R);
  put(mi, "%s/mountinfo", R);
  put("12:name=systemd:/\n11:perf_event:/\n10:net_cls,net_prio:/\n9:pids:/\n8:blkio:/\n"
      "7:freezer:/\n6:devices:/\n5:memory:/nested/a\n4:cpuset:/c\n3:cpu,cpuacct:/\n0::/\n",
      "%s/self-cgroup", R);
  put("0-3\n", "%s/cpuset/cpuset.cpus", R);
  put("0\n", "%s/cpuset/cpuset.mems", R);
  put("", "%s/cpuset/c/cpuset.cpus", R);
  put("0\n", "%s/cpuset/c/cpuset.mems", R);
  put("", "%s/cpuset/c/ctr/cpuset.cpus", R);
  put("", "%s/cpuset/c/ctr/cpuset.mems", R);
}

static struct bothy_cgroup *new_from(const char *root, enum bothy_cgroup_mode mode,
                                     const char *mountinfo, const char *path, bool systemd)
{
  _cleanup_free_ char *self = xasprintf("%s/self-cgroup", root);
  struct bothy_cgroup_config cfg = {
    .root = root,
    .mode = mode,
    .self_cgroup_file = self,
    .mountinfo_file = mountinfo,
    .path = path,
    .id = "x",
    .systemd = systemd,
  };
  struct bothy_cgroup *cg = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  if (bothy_cgroup_new(&cfg, &cg, &err) < 0)
    fail_msg("bothy_cgroup_new: %s", err->msg);
  return cg;
}

static const char *const v1_files[][12] = {
  { "memory", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
    "memory.swappiness", "memory.oom_control", "memory.kmem.tcp.limit_in_bytes",
    "memory.use_hierarchy", NULL },
  { "cpu,cpuacct", "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.rt_period_us",
    "cpu.rt_runtime_us", "cpu.cfs_burst_us", "cpu.idle", NULL },
  { "pids", "pids.max", NULL },
  { "blkio", "blkio.weight", "blkio.leaf_weight", "blkio.weight_device", "blkio.leaf_weight_device",
    "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device", NULL },
  { "devices", "devices.allow", "devices.deny", NULL },
  { "net_cls,net_prio", "net_cls.classid", "net_prio.ifpriomap", NULL },
  { "freezer", "freezer.state", NULL },
};

static void test_v1(void **state)
{
  struct fixture *f = *state;
  const char *R = f->root;
  make_v1_tree(R);
  _cleanup_free_ char *mi = xasprintf("%s/mountinfo", R);
  _cleanup_cgroup_ struct bothy_cgroup *cg = new_from(R, BOTHY_CGROUP_V1, mi, "ctr", false);
  _cleanup_error_ bothy_error_t err = NULL;

  /* Hierarchies from mountinfo: below root only, duplicates once, controller
   * options only, escapes decoded. */
  static const struct {
    const char *name, *options, *path;
  } want[] = {
    { "cpu,cpuacct", "cpu,cpuacct", "/ctr" },
    { "cpuset", "cpuset", "/c/ctr" },
    { "memory", "memory", "/nested/a/ctr" },
    { "devices", "devices", "/ctr" },
    { "freezer", "freezer", "/ctr" },
    { "blkio", "blkio", "/ctr" },
    { "pids", "pids", "/ctr" },
    { "net_cls,net_prio", "net_cls,net_prio", "/ctr" },
    { "systemd", "name=systemd", "/ctr" },
    { "perf event", "perf_event", "/ctr" },
  };
  assert_int_equal(cg->mode, BOTHY_CGROUP_V1);
  assert_int_equal(cg->n_hierarchies, ARRAY_SIZE(want));
  for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
    const struct bothy_cgroup_hierarchy *h = &cg->hierarchies[i];
    assert_false(h->unified);
    assert_string_equal(h->name, want[i].name);
    assert_string_equal(h->options, want[i].options);
    assert_string_equal(h->path, want[i].path);
    _cleanup_free_ char *dir = xasprintf("%s/%s%s", R, want[i].name, want[i].path);
    assert_string_equal(h->dir, dir);
  }
  _cleanup_free_ char *memdir = xasprintf("%s/memory/nested/a/ctr", R);
  assert_string_equal(bothy_cgroup_dir(cg, "memory"), memdir);
  _cleanup_free_ char *cpudir = xasprintf("%s/cpu,cpuacct/ctr", R);
  assert_string_equal(bothy_cgroup_dir(cg, "cpuacct"), cpudir);
  assert_null(bothy_cgroup_dir(cg, "hugetlb"));

  /* What mounts.c needs to show cgroupfs inside the container. */
  struct bothy_cgroup_mount *m = NULL;
  size_t nm = 0;
  bothy_cgroup_mounts(cg, &m, &nm);
  assert_int_equal(nm, ARRAY_SIZE(want));
  assert_string_equal(m[0].name, "cpu,cpuacct");
  assert_string_equal(m[0].options, "cpu,cpuacct");
  assert_string_equal(m[0].host_path, cpudir);
  assert_false(m[0].v2);
  assert_string_equal(m[8].name, "systemd");
  assert_string_equal(m[8].options, "name=systemd");
  bothy_cgroup_mounts_free(m, nm);

  /* create: every hierarchy; cpuset levels inherit cpus and mems when empty. */
  assert_int_equal(bothy_cgroup_create(cg, &err), 0);
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    assert_true(exists("%s", cg->hierarchies[i].dir));
  assert_file("0-3", "%s/cpuset/c/cpuset.cpus", R);
  assert_file("0\n", "%s/cpuset/c/cpuset.mems", R); /* was set: untouched */
  assert_file("0-3", "%s/cpuset/c/ctr/cpuset.cpus", R);
  assert_file("0", "%s/cpuset/c/ctr/cpuset.mems", R);

  for (size_t i = 0; i < ARRAY_SIZE(v1_files); i++) {
    const char *hdir = NULL;
    for (size_t j = 0; j < cg->n_hierarchies; j++)
      if (streq(cg->hierarchies[j].name, v1_files[i][0]))
        hdir = cg->hierarchies[j].dir;
    assert_non_null(hdir);
    touch_all(hdir, &v1_files[i][1]);
  }
  put("9223372036854771712\n", "%s/memory.limit_in_bytes", memdir);

  struct bothy_resources r;
  res_init(&r);
  r.memory_limit = 64 * MiB;
  r.memory_swap = 128 * MiB;
  r.memory_reservation = 32 * MiB;
  r.memory_kernel = 1024 * MiB; /* no memory.kmem.limit_in_bytes here: ignored */
  r.memory_kernel_tcp = 16 * MiB;
  r.memory_swappiness = 10;
  r.disable_oom_killer = 1;
  r.use_hierarchy = 1;
  r.cpu_shares = 512;
  r.cpu_quota = 25000;
  r.cpu_period = 50000;
  r.cpu_realtime_period = 1000000;
  r.cpu_realtime_runtime = 950000;
  r.cpu_burst = 0;
  r.cpu_idle = 1;
  r.cpu_cpus = "1";
  r.pids_limit = 20;
  r.blkio_weight = 300;
  r.blkio_leaf_weight = 400;
  struct bothy_weight_device wd = { 8, 0, 200, 250 };
  r.blkio_weight_device = &wd;
  r.n_blkio_weight_device = 1;
  struct bothy_throttle_device wbps = { 8, 16, 2048 };
  r.throttle_write_bps = &wbps;
  r.n_throttle_write_bps = 1;
  struct bothy_device_rule rules[] = {
    { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
    { .allow = true, .type = 'c', .major = -1, .minor = -1, .access = "m" },
    { .allow = false, .type = 'b', .major = 8, .minor = -1, .access = "w" },
  };
  r.devices = rules;
  r.n_devices = ARRAY_SIZE(rules);
  r.net_cls_classid = 0x100001;
  _cleanup_json_ json_t *prio = json_pack("[{s:s, s:i}]", "name", "eth0", "priority", 5);
  r.net_prio_ifpriomap = prio;
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);

  assert_file("67108864", "%s/memory.limit_in_bytes", memdir);
  assert_file("134217728", "%s/memory.memsw.limit_in_bytes", memdir); /* v1: memory + swap */
  assert_file("33554432", "%s/memory.soft_limit_in_bytes", memdir);
  assert_file("16777216", "%s/memory.kmem.tcp.limit_in_bytes", memdir);
  assert_file("10", "%s/memory.swappiness", memdir);
  assert_file("1", "%s/memory.oom_control", memdir);
  assert_file("1", "%s/memory.use_hierarchy", memdir);
  assert_false(exists("%s/memory.kmem.limit_in_bytes", memdir));
  assert_file("512", "%s/cpu.shares", cpudir);
  assert_file("25000", "%s/cpu.cfs_quota_us", cpudir);
  assert_file("50000", "%s/cpu.cfs_period_us", cpudir);
  assert_file("1000000", "%s/cpu.rt_period_us", cpudir);
  assert_file("950000", "%s/cpu.rt_runtime_us", cpudir);
  assert_file("0", "%s/cpu.cfs_burst_us", cpudir);
  assert_file("1", "%s/cpu.idle", cpudir);
  assert_file("1", "%s/cpuset/c/ctr/cpuset.cpus", R);
  assert_file("0", "%s/cpuset/c/ctr/cpuset.mems", R); /* not given: as created */
  assert_file("20", "%s/pids/ctr/pids.max", R);
  assert_file("300", "%s/blkio/ctr/blkio.weight", R);
  assert_file("400", "%s/blkio/ctr/blkio.leaf_weight", R);
  assert_file("8:0 200", "%s/blkio/ctr/blkio.weight_device", R);
  assert_file("8:0 250", "%s/blkio/ctr/blkio.leaf_weight_device", R);
  assert_file("8:16 2048", "%s/blkio/ctr/blkio.throttle.write_bps_device", R);
  assert_file("", "%s/blkio/ctr/blkio.throttle.read_bps_device", R);
  /* One rule per write, all through one fd per file: a test tree's file
   * holds the writes in order. The kernel's view of the sequence is
   * checked in test_real_hierarchy. */
  assert_file("ab 8:* w", "%s/devices/ctr/devices.deny", R);
  assert_file("c 1:3 rwmc *:* m", "%s/devices/ctr/devices.allow", R);
  assert_file("1048577", "%s/net_cls,net_prio/ctr/net_cls.classid", R);
  assert_file("eth0 5", "%s/net_cls,net_prio/ctr/net_prio.ifpriomap", R);

  /* Device rules: deny everything first, then the rules in order. */
  _cleanup_free_ char *devdir = xasprintf("%s/devices/ctr", R);
  touch_all(devdir, &v1_files[4][1]);
  res_init(&r);
  struct bothy_device_rule allow_all = { .allow = true, .type = 'a', .major = -1, .minor = -1 };
  r.devices = &allow_all;
  r.n_devices = 1;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), 0);
  assert_file("a", "%s/devices/ctr/devices.deny", R);
  assert_file("a *:* rwm", "%s/devices/ctr/devices.allow", R);
  touch_all(devdir, &v1_files[4][1]);
  struct bothy_device_rule only = {
    .allow = true, .type = 'c', .major = 136, .minor = -1, .access = "rw"
  };
  r.devices = &only;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), 0);
  assert_file("a", "%s/devices/ctr/devices.deny", R);
  assert_file("c 136:* rw", "%s/devices/ctr/devices.allow", R);

  /* Swap without swap accounting: -1 is fine, a limit is not. */
  unlink_at(memdir, "memory.memsw.limit_in_bytes");
  res_init(&r);
  r.memory_limit = 32 * MiB;
  r.memory_swap = -1;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), 0);
  assert_file("33554432", "%s/memory.limit_in_bytes", memdir);
  r.memory_swap = 64 * MiB;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -ENOTSUP);
  assert_non_null(strstr(err->msg, "swap accounting"));
  bothy_error_free(&err);

  /* No hugetlb hierarchy, no unified map on v1: refused before any write. */
  res_init(&r);
  r.memory_limit = 1 * MiB;
  struct bothy_hugepage_limit h = { "2MB", 1 };
  r.hugepage_limits = &h;
  r.n_hugepage_limits = 1;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -ENOTSUP);
  bothy_error_free(&err);
  res_init(&r);
  r.memory_limit = 1 * MiB;
  _cleanup_json_ json_t *u = json_pack("{s:s}", "memory.high", "1");
  r.unified = u;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
  bothy_error_free(&err);
  assert_file("33554432", "%s/memory.limit_in_bytes", memdir);

  /* Freezer v1. */
  put("THAWED\n", "%s/freezer/ctr/freezer.state", R);
  bool frozen = true;
  assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
  assert_false(frozen);
  assert_int_equal(bothy_cgroup_freeze(cg, &err), 0);
  assert_file("FROZEN", "%s/freezer/ctr/freezer.state", R);
  assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
  assert_true(frozen);
  assert_int_equal(bothy_cgroup_thaw(cg, &err), 0);
  assert_file("THAWED", "%s/freezer/ctr/freezer.state", R);

  /* enter writes the pid everywhere; pids come from the freezer's hierarchy. */
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    put("", "%s/cgroup.procs", cg->hierarchies[i].dir);
  assert_int_equal(bothy_cgroup_enter(cg, FAKE_PID, &err), 0);
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    assert_file("5000001", "%s/cgroup.procs", cg->hierarchies[i].dir);
  put("", "%s/freezer/ctr/cgroup.procs", R);
  put("5000002\n", "%s/freezer/ctr/sub/cgroup.procs", R);
  pid_t *pids = NULL;
  size_t n = 0;
  assert_int_equal(bothy_cgroup_pids(cg, true, &pids, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(pids[0], FAKE_PID + 1);
  free(pids);

  /* JSON round trip. */
  _cleanup_json_ json_t *j = bothy_cgroup_to_json(cg);
  _cleanup_free_ char *text = json_dumps(j, JSON_SORT_KEYS);
  _cleanup_json_ json_t *j2 = json_loads(text, 0, NULL);
  _cleanup_cgroup_ struct bothy_cgroup *back = NULL;
  if (bothy_cgroup_from_json(j2, &back, &err) < 0)
    fail_msg("from_json: %s", err->msg);
  assert_int_equal(back->mode, BOTHY_CGROUP_V1);
  assert_int_equal(back->n_hierarchies, cg->n_hierarchies);
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    assert_string_equal(back->hierarchies[i].dir, cg->hierarchies[i].dir);
    assert_string_equal(back->hierarchies[i].options, cg->hierarchies[i].options);
  }
  _cleanup_json_ json_t *j3 = bothy_cgroup_to_json(back);
  assert_true(json_equal(j, j3));

  /* destroy, through the restored object: leaves gone, parents kept. */
  assert_int_equal(bothy_cgroup_destroy(back, &err), 0);
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    assert_false(exists("%s", cg->hierarchies[i].dir));
  assert_true(exists("%s/memory/nested/a", R));
  assert_true(exists("%s/cpuset/c/cpuset.cpus", R));
}

static void test_from_json_rejects(void **state)
{
  static const char *const bad[] = {
    "[]",
    "{}",
    "{\"mode\": \"v9\", \"hierarchies\": [{}]}",
    "{\"mode\": \"v2\", \"hierarchies\": []}",
    "{\"mode\": \"v2\", \"hierarchies\": [1]}",
    "{\"mode\": \"v2\", \"hierarchies\": [{\"unified\": true, \"name\": \"\", "
    "\"mountpoint\": \"/sys/fs/cgroup\", \"mount_root\": \"/\"}]}",
    "{\"mode\": \"v2\", \"hierarchies\": [{\"unified\": true, \"name\": \"\", "
    "\"mountpoint\": \"/sys/fs/cgroup\", \"mount_root\": \"/\", \"path\": \"/a/../../b\"}]}",
    "{\"mode\": \"v2\", \"hierarchies\": [{\"unified\": 1, \"name\": \"\", "
    "\"mountpoint\": \"/sys/fs/cgroup\", \"mount_root\": \"/\", \"path\": \"/a\"}]}",
    "{\"mode\": \"v2\", \"hierarchies\": [{\"unified\": true, \"name\": \"\", "
    "\"mountpoint\": \"/sys/fs/cgroup\", \"mount_root\": \"/x\", \"path\": \"/a\"}]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    _cleanup_json_ json_t *j = json_loads(bad[i], 0, NULL);
    assert_non_null(j);
    _cleanup_cgroup_ struct bothy_cgroup *cg = NULL;
    _cleanup_error_ bothy_error_t err = NULL;
    if (bothy_cgroup_from_json(j, &cg, &err) >= 0)
      fail_msg("accepted: %s", bad[i]);
    assert_null(cg);
    assert_non_null(err);
  }
}

/* ---------------------------------------------------------------- hybrid */

static void make_hybrid_tree(const char *R)
{
  mkdirs("%s/cpu,cpuacct", R);
  mkdirs("%s/memory", R);
  mkdirs("%s/pids", R);
  mkdirs("%s/freezer", R);
  mkdirs("%s/systemd", R);
  put("hugetlb\n", "%s/unified/cgroup.controllers", R);
  put("", "%s/unified/cgroup.subtree_control", R);
  put("not a hierarchy\n", "%s/README", R);
  _cleanup_free_ char *link = xasprintf("%s/cpu", R);
  assert_int_equal(symlink("cpu,cpuacct", link), 0);
  put("5:name=systemd:/\n4:pids:/\n3:memory:/m\n2:cpu,cpuacct:/\n1:freezer:/\n0::/u\n",
      "%s/self-cgroup", R);
}

static void test_hybrid(void **state)
{
  struct fixture *f = *state;
  const char *R = f->root;
  make_hybrid_tree(R);
  _cleanup_error_ bothy_error_t err = NULL;

  /* Relative: each hierarchy's own cgroup, the unified one included. */
  {
    _cleanup_cgroup_ struct bothy_cgroup *cg = new_from(R, BOTHY_CGROUP_HYBRID, "", "ctr", false);
    _cleanup_free_ char *m = xasprintf("%s/memory/m/ctr", R);
    _cleanup_free_ char *u = xasprintf("%s/unified/u/ctr", R);
    assert_string_equal(bothy_cgroup_dir(cg, "memory"), m);
    assert_string_equal(bothy_cgroup_dir(cg, "hugetlb"), u);
  }
  /* --systemd-cgroup. */
  {
    _cleanup_cgroup_ struct bothy_cgroup *cg =
        new_from(R, BOTHY_CGROUP_HYBRID, "", "machine.slice:libpod:abc", true);
    _cleanup_free_ char *m = xasprintf("%s/memory/machine.slice/libpod-abc.scope", R);
    _cleanup_free_ char *u = xasprintf("%s/unified/machine.slice/libpod-abc.scope", R);
    assert_string_equal(bothy_cgroup_dir(cg, "memory"), m);
    assert_string_equal(bothy_cgroup_dir(cg, "hugetlb"), u);
  }

  _cleanup_cgroup_ struct bothy_cgroup *cg =
      new_from(R, BOTHY_CGROUP_HYBRID, "", "/bothy/ctr", false);
  static const char *const names[] = { "cpu,cpuacct", "freezer", "memory",
                                       "pids",        "systemd", "unified" };
  assert_int_equal(cg->mode, BOTHY_CGROUP_HYBRID);
  assert_int_equal(cg->n_hierarchies, ARRAY_SIZE(names));
  for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
    assert_string_equal(cg->hierarchies[i].name, names[i]);
    _cleanup_free_ char *dir = xasprintf("%s/%s/bothy/ctr", R, names[i]);
    assert_string_equal(cg->hierarchies[i].dir, dir);
  }
  assert_string_equal(cg->hierarchies[4].options, "name=systemd");
  assert_true(cg->hierarchies[5].unified);
  assert_null(cg->hierarchies[5].options);

  struct bothy_cgroup_mount *m = NULL;
  size_t nm = 0;
  bothy_cgroup_mounts(cg, &m, &nm);
  assert_int_equal(nm, ARRAY_SIZE(names));
  assert_string_equal(m[5].name, "unified");
  assert_null(m[5].options);
  assert_true(m[5].v2);
  assert_string_equal(m[5].host_path, cg->hierarchies[5].dir);
  bothy_cgroup_mounts_free(m, nm);

  assert_int_equal(bothy_cgroup_create(cg, &err), 0);
  assert_file("+hugetlb", "%s/unified/cgroup.subtree_control", R);
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    assert_true(exists("%s", cg->hierarchies[i].dir));

  put("", "%s/pids/bothy/ctr/pids.max", R);
  put("9223372036854771712\n", "%s/memory/bothy/ctr/memory.limit_in_bytes", R);
  put("", "%s/unified/bothy/ctr/hugetlb.2MB.max", R);
  put("", "%s/unified/bothy/ctr/hugetlb.1GB.max", R);
  struct bothy_resources r;
  res_init(&r);
  r.pids_limit = 10;
  r.memory_limit = 1 * MiB; /* no memsw file: swap is not touched */
  struct bothy_hugepage_limit h = { "2MB", 2 * MiB };
  r.hugepage_limits = &h;
  r.n_hugepage_limits = 1;
  _cleanup_json_ json_t *u = json_pack("{s:s}", "hugetlb.1GB.max", "0");
  r.unified = u;
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_file("10", "%s/pids/bothy/ctr/pids.max", R);
  assert_file("1048576", "%s/memory/bothy/ctr/memory.limit_in_bytes", R);
  assert_file("2097152", "%s/unified/bothy/ctr/hugetlb.2MB.max", R);
  assert_file("0", "%s/unified/bothy/ctr/hugetlb.1GB.max", R);

  /* A unified key for a controller v1 holds is not in the cgroup2 tree. */
  res_init(&r);
  _cleanup_json_ json_t *u2 = json_pack("{s:s}", "memory.max", "1");
  r.unified = u2;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -ENOENT);
  assert_non_null(strstr(err->msg, "unified/bothy/ctr/memory.max"));
  bothy_error_free(&err);
  /* Neither v1 nor the unified hierarchy has io. */
  res_init(&r);
  r.blkio_weight = 100;
  assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -ENOTSUP);
  bothy_error_free(&err);

  assert_int_equal(bothy_cgroup_destroy(cg, &err), 0);
  for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
    assert_false(exists("%s/%s/bothy/ctr", R, names[i]));
    assert_true(exists("%s/%s/bothy", R, names[i]));
  }
}

/* ---------------------------------------------------------------- the real hierarchy */

struct real {
  struct bothy_cgroup *cg;
  pid_t child;
  char *path;
  char *subtree_before; /* the unified root's cgroup.subtree_control, or NULL */
};

static int setup_real(void **state)
{
  struct real *t = xmalloc0(sizeof(*t));
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t->path = xasprintf("/bothy-unit-%d-%ld", (int) getpid(), (long) ts.tv_nsec);
  t->child = -1;
  *state = t;
  return 0;
}

/* Runs even when an assertion failed: nothing of the test stays behind. */
static int teardown_real(void **state)
{
  struct real *t = *state;
  /* Thawed first: a frozen v1 task cannot die, and waiting for it would hang. */
  if (t->cg)
    bothy_cgroup_thaw(t->cg, NULL);
  if (t->child > 0) {
    kill(t->child, SIGKILL);
    waitpid(t->child, NULL, 0);
    if (t->child == live_child)
      live_child = -1;
  }
  if (t->cg) {
    bothy_error_t err = NULL;
    bothy_cgroup_destroy(t->cg, &err);
    bothy_error_free(&err);
    for (size_t i = 0; i < t->cg->n_hierarchies; i++)
      rmdir(t->cg->hierarchies[i].dir);
    /* Turn hugetlb off again in the unified root if it was off and no other
     * cgroup there could be using it. */
    if (t->subtree_before && !strstr(t->subtree_before, "hugetlb")) {
      _cleanup_closedir_ DIR *d = opendir("/sys/fs/cgroup/unified");
      bool others = false;
      struct dirent *de;
      while (d && (de = readdir(d)))
        if (de->d_type == DT_DIR && de->d_name[0] != '.')
          others = true;
      if (!others) {
        FILE *fp = fopen("/sys/fs/cgroup/unified/cgroup.subtree_control", "we");
        if (fp) {
          fputs("-hugetlb", fp);
          fclose(fp);
        }
      }
    }
    bothy_cgroup_free(t->cg);
  }
  free(t->subtree_before);
  free(t->path);
  free(t);
  return 0;
}

static void test_real_hierarchy(void **state)
{
  struct real *t = *state;
  _cleanup_error_ bothy_error_t err = NULL;
  enum bothy_cgroup_mode mode;
  if (geteuid() != 0 || bothy_cgroup_detect_mode(NULL, &mode, &err) < 0 ||
      mode != BOTHY_CGROUP_HYBRID || !exists("/sys/fs/cgroup/pids") ||
      !exists("/sys/fs/cgroup/memory")) {
    print_message("not root on a hybrid host with pids and memory: skipped\n");
    skip();
  }

  struct bothy_cgroup_config cfg = { .path = t->path, .id = "unused" };
  if (bothy_cgroup_new(&cfg, &t->cg, &err) < 0)
    fail_msg("new: %s", err->msg);
  struct bothy_cgroup *cg = t->cg;
  assert_int_equal(cg->mode, BOTHY_CGROUP_HYBRID);
  _cleanup_free_ char *pids_dir = xasprintf("/sys/fs/cgroup/pids%s", t->path);
  _cleanup_free_ char *mem_dir = xasprintf("/sys/fs/cgroup/memory%s", t->path);
  _cleanup_free_ char *uni_dir = xasprintf("/sys/fs/cgroup/unified%s", t->path);
  assert_string_equal(bothy_cgroup_dir(cg, "pids"), pids_dir);
  assert_string_equal(bothy_cgroup_dir(cg, "memory"), mem_dir);
  bool systemd_seen = false, unified_seen = false;
  for (size_t i = 0; i < cg->n_hierarchies; i++) {
    systemd_seen |= streq(cg->hierarchies[i].options, "name=systemd");
    unified_seen |= cg->hierarchies[i].unified && streq(cg->hierarchies[i].dir, uni_dir);
  }
  assert_true(systemd_seen && unified_seen);

  {
    _cleanup_free_ char *s = get("/sys/fs/cgroup/unified/cgroup.subtree_control");
    t->subtree_before = TAKE_PTR(s);
  }
  if (bothy_cgroup_create(cg, &err) < 0)
    fail_msg("create: %s", err->msg);
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    assert_true(exists("%s", cg->hierarchies[i].dir));

  struct bothy_resources r;
  res_init(&r);
  r.pids_limit = 10;
  r.memory_limit = 64 * MiB;
  struct bothy_device_rule rules[] = {
    { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
    { .allow = true, .type = 'c', .major = -1, .minor = -1, .access = "m" },
  };
  r.devices = rules;
  r.n_devices = ARRAY_SIZE(rules);
  bool hugetlb = bothy_cgroup_dir(cg, "hugetlb") && exists("%s/hugetlb.2MB.max", uni_dir);
  struct bothy_hugepage_limit h = { "2MB", 4 * MiB };
  if (hugetlb) {
    r.hugepage_limits = &h;
    r.n_hugepage_limits = 1;
  }
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_file("10\n", "%s/pids.max", pids_dir);
  assert_file("67108864\n", "%s/memory.limit_in_bytes", mem_dir);
  /* The kernel's view of the whole rule sequence. */
  _cleanup_free_ char *dev_dir = xasprintf("/sys/fs/cgroup/devices%s", t->path);
  if (exists("%s", dev_dir))
    assert_file("c 1:3 rwm\nc *:* m\n", "%s/devices.list", dev_dir);
  if (hugetlb)
    assert_file("4194304\n", "%s/hugetlb.2MB.max", uni_dir);
  else
    print_message("hugetlb not offered by the unified hierarchy: not checked\n");

  /* A value the kernel refuses: mem+swap below memory. */
  if (exists("%s/memory.memsw.limit_in_bytes", mem_dir)) {
    res_init(&r);
    r.memory_limit = 64 * MiB;
    r.memory_swap = 32 * MiB;
    assert_int_equal(bothy_cgroup_apply(cg, &r, &err), -EINVAL);
    _cleanup_free_ char *want = xasprintf(
        "cannot write '33554432' to '%s/memory.memsw.limit_in_bytes': Invalid argument", mem_dir);
    assert_string_equal(err->msg, want);
    bothy_error_free(&err);
  }

  /* A process in it: listed, frozen, thawed, killed. */
  t->child = spawn_sleeper();
  if (bothy_cgroup_enter(cg, t->child, &err) < 0)
    fail_msg("enter: %s", err->msg);
  {
    _cleanup_free_ char *procs = get("%s/cgroup.procs", pids_dir);
    _cleanup_free_ char *want = xasprintf("%d\n", (int) t->child);
    assert_string_equal(procs, want);
  }
  pid_t *pids = NULL;
  size_t n = 0;
  assert_int_equal(bothy_cgroup_pids(cg, true, &pids, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_int_equal(pids[0], t->child);
  free(pids);
  if (bothy_cgroup_dir(cg, "freezer")) {
    if (bothy_cgroup_freeze(cg, &err) < 0)
      fail_msg("freeze: %s", err->msg);
    assert_file("FROZEN\n", "%s/freezer.state", bothy_cgroup_dir(cg, "freezer"));
    bool frozen = false;
    assert_int_equal(bothy_cgroup_is_frozen(cg, &frozen, &err), 0);
    assert_true(frozen);
    assert_int_equal(bothy_cgroup_thaw(cg, &err), 0);
    assert_file("THAWED\n", "%s/freezer.state", bothy_cgroup_dir(cg, "freezer"));
  }
  if (bothy_cgroup_kill(cg, SIGKILL, &err) < 0)
    fail_msg("kill: %s", err->msg);
  int status = 0;
  wait_child(t->child, &status);
  t->child = -1;
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  if (bothy_cgroup_destroy(cg, &err) < 0)
    fail_msg("destroy: %s", err->msg);
  for (size_t i = 0; i < cg->n_hierarchies; i++)
    if (exists("%s", cg->hierarchies[i].dir))
      fail_msg("'%s' is still there", cg->hierarchies[i].dir);
}

/* What a process in the cgroup may open: bit 0 /dev/null read-write, bit 1
 * /dev/zero read-only, bit 2 /dev/zero write-only. */
static int probe_devices_in(struct bothy_cgroup *cg, struct real *t)
{
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  t->child = fork();
  assert_true(t->child >= 0);
  if (t->child == 0) {
    char c;
    close(p[1]);
    if (read(p[0], &c, 1) != 1)
      _exit(100);
    int bits = 0, fd;
    if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0)
      bits |= 1;
    if ((fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)) >= 0)
      bits |= 2;
    if ((fd = open("/dev/zero", O_WRONLY | O_CLOEXEC)) >= 0)
      bits |= 4;
    _exit(bits);
  }
  close(p[0]);
  _cleanup_error_ bothy_error_t err = NULL;
  int r = bothy_cgroup_enter(cg, t->child, &err);
  assert_int_equal(write(p[1], "x", 1), 1);
  close(p[1]);
  int status = 0;
  assert_int_equal(waitpid(t->child, &status, 0), t->child);
  t->child = -1;
  if (r < 0)
    fail_msg("enter: %s", err->msg);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static int attached_device_programs(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.query.target_fd = (uint32_t) fd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  long r = syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr));
  close(fd);
  assert_true(r == 0);
  return (int) attr.query.prog_cnt;
}

/* Pure v2's device rules (a BPF program), on the cgroup2 hierarchy this
 * host has: the unified one of hybrid, or /sys/fs/cgroup itself. */
static void test_real_v2_devices(void **state)
{
  struct real *t = *state;
  _cleanup_error_ bothy_error_t err = NULL;
  enum bothy_cgroup_mode mode;
  const char *root = NULL;
  if (geteuid() == 0 && bothy_cgroup_detect_mode(NULL, &mode, &err) == 0)
    root = mode == BOTHY_CGROUP_V2       ? "/sys/fs/cgroup"
           : mode == BOTHY_CGROUP_HYBRID ? "/sys/fs/cgroup/unified"
                                         : NULL;
  if (!root) {
    print_message("not root, or no cgroup2 hierarchy: skipped\n");
    skip();
  }
  struct bothy_cgroup_config cfg = { .root = root, .mode = BOTHY_CGROUP_V2, .path = t->path };
  if (bothy_cgroup_new(&cfg, &t->cg, &err) < 0)
    fail_msg("new: %s", err->msg);
  struct bothy_cgroup *cg = t->cg;
  const char *dir = cg->hierarchies[0].dir;
  if (streq(root, "/sys/fs/cgroup/unified"))
    t->subtree_before = get("/sys/fs/cgroup/unified/cgroup.subtree_control");
  if (bothy_cgroup_create(cg, &err) < 0)
    fail_msg("create: %s", err->msg);
  assert_int_equal(attached_device_programs(dir), 0);
  assert_int_equal(probe_devices_in(cg, t), 1 | 2 | 4); /* no rules: no filter */

  struct bothy_resources r;
  res_init(&r);
  struct bothy_device_rule rules1[] = {
    { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
    { .allow = true, .type = 'b', .major = -1, .minor = -1, .access = "m" },
  };
  r.devices = rules1;
  r.n_devices = ARRAY_SIZE(rules1);
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_int_equal(attached_device_programs(dir), 1);
  assert_int_equal(probe_devices_in(cg, t), 1);

  /* An access subset: /dev/zero readable only. The old program is replaced. */
  struct bothy_device_rule rules2[] = {
    { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
    { .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "r" },
  };
  r.devices = rules2;
  r.n_devices = ARRAY_SIZE(rules2);
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_int_equal(attached_device_programs(dir), 1);
  assert_int_equal(probe_devices_in(cg, t), 1 | 2);

  /* Allow everything, then deny one device: the later rule wins. */
  struct bothy_device_rule rules3[] = {
    { .allow = true, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = false, .type = 'c', .major = 1, .minor = 3 },
  };
  r.devices = rules3;
  r.n_devices = ARRAY_SIZE(rules3);
  if (bothy_cgroup_apply(cg, &r, &err) < 0)
    fail_msg("apply: %s", err->msg);
  assert_int_equal(probe_devices_in(cg, t), 2 | 4);

  if (bothy_cgroup_destroy(cg, &err) < 0)
    fail_msg("destroy: %s", err->msg);
  assert_false(exists("%s", dir));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_systemd_path),
    cmocka_unit_test(test_mode_names),
    cmocka_unit_test_setup_teardown(test_detect, setup_tmp, teardown_tmp),
    cmocka_unit_test_setup_teardown(test_v2_paths, setup_tmp, teardown_tmp),
    cmocka_unit_test_setup_teardown(test_v2_create_apply, setup_tmp, teardown_tmp),
    cmocka_unit_test_setup_teardown(test_v2_refusals, setup_tmp, teardown_tmp),
    cmocka_unit_test_setup_teardown(test_v2_pids_freeze_kill_destroy, setup_tmp, teardown_tmp),
    cmocka_unit_test_setup_teardown(test_v1, setup_tmp, teardown_tmp),
    cmocka_unit_test(test_from_json_rejects),
    cmocka_unit_test_setup_teardown(test_hybrid, setup_tmp, teardown_tmp),
    cmocka_unit_test_setup_teardown(test_real_hierarchy, setup_real, teardown_real),
    cmocka_unit_test_setup_teardown(test_real_v2_devices, setup_real, teardown_real),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
