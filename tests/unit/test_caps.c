/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for runtime/caps: parsing names, and applying the sets in forked
 * children (as root: setresuid needs it), read back from /proc/self/status —
 * before and after an execve(), which is where the sets matter. Children never
 * use cmocka (its longjmp would go on with the tests in the child): they
 * report through their exit status. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/caps.h"

#define BIT(n) (UINT64_C(1) << (n))
/* Numbers from linux/capability.h. */
#define CHOWN            BIT(0)
#define KILL             BIT(5)
#define NET_BIND_SERVICE BIT(10)
#define SYS_ADMIN        BIT(21)

#define LIST(...) ((char *[]){ __VA_ARGS__, NULL })

static char log_path[] = "/tmp/bothy-test-caps-XXXXXX";

struct status_caps {
  uint64_t inh, prm, eff, bnd, amb;
};

/* Reads the Cap* lines of a /proc/PID/status text; -1 if one is missing. */
static int parse_status(const char *text, struct status_caps *ret)
{
  static const char *keys[] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:" };
  uint64_t *fields[] = { &ret->inh, &ret->prm, &ret->eff, &ret->bnd, &ret->amb };
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
    const char *p = strstr(text, keys[i]);
    if (!p)
      return -1;
    char *end = NULL;
    *fields[i] = strtoull(p + strlen(keys[i]), &end, 16);
    if (end == p + strlen(keys[i]))
      return -1;
  }
  return 0;
}

static int read_self_status(struct status_caps *ret)
{
  _cleanup_free_ char *s = NULL;
  if (bothy_read_file(AT_FDCWD, "/proc/self/status", &s, NULL, NULL) < 0)
    return -1;
  return parse_status(s, ret);
}

static struct bothy_capset parse_ok(const struct bothy_caps_spec *spec)
{
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_capset c;
  if (bothy_caps_parse(spec, &c, &err) < 0)
    fail_msg("parse failed: %s", err->msg);
  return c;
}

/* ---- parsing ---- */

static void test_parse_known(void **state)
{
  struct bothy_caps_spec spec = {
    .bounding = LIST("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
    .effective = LIST("CAP_KILL"),
    .permitted = LIST("CAP_KILL", "CAP_NET_BIND_SERVICE"),
    .inheritable = LIST("CAP_NET_BIND_SERVICE"),
    .ambient = LIST("CAP_NET_BIND_SERVICE"),
  };
  struct bothy_capset c = parse_ok(&spec);
  assert_int_equal(c.bounding, CHOWN | KILL | NET_BIND_SERVICE);
  assert_int_equal(c.effective, KILL);
  assert_int_equal(c.permitted, KILL | NET_BIND_SERVICE);
  assert_int_equal(c.inheritable, NET_BIND_SERVICE);
  assert_int_equal(c.ambient, NET_BIND_SERVICE);
  assert_int_equal(c.last_cap, bothy_caps_last_cap());

  /* Nothing given: everything dropped. */
  struct bothy_caps_spec none = { 0 };
  c = parse_ok(&none);
  assert_int_equal(c.bounding | c.effective | c.permitted | c.inheritable | c.ambient, 0);
}

static size_t count(const char *haystack, const char *needle)
{
  size_t n = 0;
  for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

static void test_parse_unknown_ignored(void **state)
{
  struct bothy_caps_spec spec = {
    .bounding = LIST("CAP_CHOWN", "CAP_FOO", "CAP_KILL"),
    .effective = LIST("CAP_FOO"),
    .permitted = LIST("CAP_FOO", "CAP_CHOWN"),
  };
  struct bothy_capset c = parse_ok(&spec);
  assert_int_equal(c.bounding, CHOWN | KILL);
  assert_int_equal(c.effective, 0);
  assert_int_equal(c.permitted, CHOWN);

  /* One warning however many sets name it. */
  _cleanup_free_ char *log = NULL;
  assert_int_equal(bothy_read_file(AT_FDCWD, log_path, &log, NULL, NULL), 0);
  assert_int_equal(count(log, "unknown capability 'CAP_FOO', ignoring"), 1);
}

static void test_parse_malformed(void **state)
{
  const struct {
    struct bothy_caps_spec spec;
    const char *message;
  } cases[] = {
    { { .bounding = LIST("CAP_CHOWN", "chown") },
      "process.capabilities.bounding[1]: malformed capability name 'chown'" },
    { { .effective = LIST("cap_chown") },
      "process.capabilities.effective[0]: malformed capability name 'cap_chown'" },
    { { .inheritable = LIST("CAP_") },
      "process.capabilities.inheritable[0]: malformed capability name 'CAP_'" },
    { { .permitted = LIST("CAP_KILL", "CAP_KILL", "CAP_Kill") },
      "process.capabilities.permitted[2]: malformed capability name 'CAP_Kill'" },
    { { .ambient = LIST("") }, "process.capabilities.ambient[0]: malformed capability name ''" },
    { { .ambient = LIST(" CAP_KILL") },
      "process.capabilities.ambient[0]: malformed capability name ' CAP_KILL'" },
    { { .effective = LIST("CAP_KILL"), .permitted = LIST("CAP_CHOWN") },
      "process.capabilities.effective: 'CAP_KILL' is not in the permitted set" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    _cleanup_error_ bothy_error_t err = NULL;
    struct bothy_capset c = { .bounding = 42 };
    assert_true(bothy_caps_parse(&cases[i].spec, &c, &err) < 0);
    assert_non_null(err);
    assert_string_equal(err->msg, cases[i].message);
    assert_int_equal(c.bounding, 42); /* ret untouched on failure */
  }
}

static void test_parse_lone_ambient_dropped(void **state)
{
  struct bothy_caps_spec spec = {
    .permitted = LIST("CAP_KILL", "CAP_CHOWN"),
    .inheritable = LIST("CAP_KILL"),
    .ambient = LIST("CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"),
  };
  struct bothy_capset c = parse_ok(&spec);
  assert_int_equal(c.ambient, KILL);
  _cleanup_free_ char *log = NULL;
  assert_int_equal(bothy_read_file(AT_FDCWD, log_path, &log, NULL, NULL), 0);
  assert_non_null(strstr(log, "ambient capability 'CAP_CHOWN' is not both permitted and "
                              "inheritable, ignoring"));
  assert_non_null(strstr(log, "ambient capability 'CAP_NET_BIND_SERVICE' is not both"));
}

static void test_names(void **state)
{
  assert_int_equal(bothy_caps_from_name("CAP_CHOWN"), 0);
  assert_int_equal(bothy_caps_from_name("CAP_SYS_ADMIN"), 21);
  assert_int_equal(bothy_caps_from_name("cap_chown"), -1);
  assert_int_equal(bothy_caps_from_name("CAP_CHOWN2"), -1);
  assert_int_equal(bothy_caps_from_name("0"), -1);

  _cleanup_strv_free_ char **some = bothy_caps_names(CHOWN | KILL | SYS_ADMIN);
  assert_int_equal(strv_length(some), 3);
  assert_string_equal(some[0], "CAP_CHOWN");
  assert_string_equal(some[1], "CAP_KILL");
  assert_string_equal(some[2], "CAP_SYS_ADMIN");

  _cleanup_free_ char *s = NULL;
  assert_int_equal(bothy_read_file(AT_FDCWD, "/proc/sys/kernel/cap_last_cap", &s, NULL, NULL), 0);
  assert_int_equal(bothy_caps_last_cap(), (unsigned) strtoul(s, NULL, 10));

  /* libcap 2.66 names every capability up to 40 (CAP_CHECKPOINT_RESTORE). */
  _cleanup_strv_free_ char **all = bothy_caps_all_names();
  unsigned last = bothy_caps_last_cap();
  assert_int_equal(strv_length(all), last < 40 ? last + 1 : 41);
  assert_string_equal(all[0], "CAP_CHOWN");
  for (size_t i = 0; all[i]; i++) {
    assert_int_equal(bothy_caps_from_name(all[i]), (int) i);
    assert_int_equal(strncmp(all[i], "CAP_", 4), 0);
  }
}

/* ---- applying, in children ---- */

static int run_child(void (*fn)(const void *), const void *data, int stdout_fd)
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
      signal(sigs[i], SIG_DFL);
    if (stdout_fd >= 0 && dup2(stdout_fd, STDOUT_FILENO) < 0)
      _exit(98);
    fn(data);
    _exit(99);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void assert_exit_ok(int status)
{
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child failed with status 0x%x", (unsigned) status);
}

/* The container init's sequence: bounding while root, keepcaps, uid 1000,
 * then the other sets. */
static void become_user(const struct bothy_capset *c)
{
  _cleanup_error_ bothy_error_t err = NULL;
  if (bothy_caps_apply_bounding(c, &err) < 0) {
    dprintf(2, "child: %s\n", err->msg);
    _exit(10);
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
      setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
    _exit(11);
  if (bothy_caps_apply(c, &err) < 0) {
    dprintf(2, "child: %s\n", err->msg);
    _exit(12);
  }
}

static void check_status(const struct status_caps *want)
{
  struct status_caps got;
  if (read_self_status(&got) < 0)
    _exit(20);
  if (memcmp(&got, want, sizeof(got)) != 0) {
    dprintf(2,
            "child: CapInh %016" PRIx64 " CapPrm %016" PRIx64 " CapEff %016" PRIx64
            " CapBnd %016" PRIx64 " CapAmb %016" PRIx64 "\n",
            got.inh, got.prm, got.eff, got.bnd, got.amb);
    _exit(21);
  }
}

static void child_user_kill_only(const void *data)
{
  const struct bothy_capset *c = data;
  become_user(c);
  check_status(
      &(struct status_caps){ .inh = 0, .prm = KILL, .eff = KILL, .bnd = CHOWN | KILL, .amb = 0 });
  if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0)
    _exit(30);
  /* Asking again for a capability the process no longer has: EPERM. */
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_capset more = *c;
  more.permitted = more.effective = CHOWN;
  if (bothy_caps_apply(&more, &err) >= 0 || err->code != EPERM ||
      !strstr(err->msg, "cannot set capabilities"))
    _exit(31);
  _exit(0);
}

static void test_apply_user(void **state)
{
  if (geteuid() != 0)
    skip();
  struct bothy_caps_spec spec = {
    .bounding = LIST("CAP_CHOWN", "CAP_KILL"),
    .effective = LIST("CAP_KILL"),
    .permitted = LIST("CAP_KILL"),
    .inheritable = NULL,
    .ambient = LIST("CAP_KILL"), /* not inheritable: dropped by the parser */
  };
  struct bothy_capset c = parse_ok(&spec);
  assert_int_equal(c.ambient, 0);
  assert_exit_ok(run_child(child_user_kill_only, &c, -1));
}

static void child_user_ambient_exec(const void *data)
{
  become_user(data);
  check_status(&(struct status_caps){ .inh = NET_BIND_SERVICE,
                                      .prm = KILL | NET_BIND_SERVICE,
                                      .eff = KILL,
                                      .bnd = CHOWN | KILL | NET_BIND_SERVICE,
                                      .amb = NET_BIND_SERVICE });
  execl("/bin/cat", "cat", "/proc/self/status", (char *) NULL);
  _exit(40);
}

static void test_apply_ambient_survives_exec(void **state)
{
  if (geteuid() != 0)
    skip();
  struct bothy_caps_spec spec = {
    .bounding = LIST("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"),
    .effective = LIST("CAP_KILL"),
    .permitted = LIST("CAP_KILL", "CAP_NET_BIND_SERVICE"),
    .inheritable = LIST("CAP_NET_BIND_SERVICE"),
    .ambient = LIST("CAP_NET_BIND_SERVICE"),
  };
  struct bothy_capset c = parse_ok(&spec);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  _cleanup_close_ int rd = p[0];
  int status;
  {
    _cleanup_close_ int wr = p[1];
    status = run_child(child_user_ambient_exec, &c, wr);
  }
  _cleanup_free_ char *out = NULL;
  assert_int_equal(bothy_read_fd(rd, &out, NULL, NULL), 0);
  assert_exit_ok(status);
  /* A non-root user execs a plain binary: only the ambient set is left, and
   * it is effective and permitted. */
  struct status_caps got;
  assert_int_equal(parse_status(out, &got), 0);
  assert_int_equal(got.amb, NET_BIND_SERVICE);
  assert_int_equal(got.eff, NET_BIND_SERVICE);
  assert_int_equal(got.prm, NET_BIND_SERVICE);
  assert_int_equal(got.inh, NET_BIND_SERVICE);
  assert_int_equal(got.bnd, CHOWN | KILL | NET_BIND_SERVICE);
}

static void child_ambient_not_inheritable(const void *data)
{
  _cleanup_error_ bothy_error_t err = NULL;
  /* Bypasses the parser's check: the kernel refuses, and the error says which. */
  struct bothy_capset c = { .permitted = KILL,
                            .effective = KILL,
                            .ambient = KILL,
                            .bounding = KILL,
                            .last_cap = bothy_caps_last_cap() };
  if (bothy_caps_apply(&c, &err) >= 0)
    _exit(50);
  if (err->code != EPERM || !strstr(err->msg, "cannot raise ambient capability 'CAP_KILL'")) {
    dprintf(2, "child: unexpected: %s\n", err->msg);
    _exit(51);
  }
  _exit(0);
}

static void test_apply_ambient_error(void **state)
{
  if (geteuid() != 0)
    skip();
  assert_exit_ok(run_child(child_ambient_not_inheritable, NULL, -1));
}

static void child_root_container(const void *data)
{
  /* A container running as root: no uid change, sets applied as given. */
  _cleanup_error_ bothy_error_t err = NULL;
  if (bothy_caps_apply_bounding(data, &err) < 0 || bothy_caps_apply(data, &err) < 0) {
    dprintf(2, "child: %s\n", err->msg);
    _exit(60);
  }
  check_status(&(struct status_caps){ .inh = 0,
                                      .prm = CHOWN | SYS_ADMIN,
                                      .eff = CHOWN,
                                      .bnd = CHOWN | KILL | SYS_ADMIN,
                                      .amb = 0 });
  _exit(0);
}

static void test_apply_root(void **state)
{
  if (geteuid() != 0)
    skip();
  struct bothy_caps_spec spec = {
    .bounding = LIST("CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"),
    .effective = LIST("CAP_CHOWN"),
    .permitted = LIST("CAP_CHOWN", "CAP_SYS_ADMIN"),
  };
  struct bothy_capset c = parse_ok(&spec);
  assert_exit_ok(run_child(child_root_container, &c, -1));
}

static int setup(void **state)
{
  int fd = mkstemp(log_path);
  if (fd < 0)
    return -1;
  close(fd);
  return bothy_log_init(log_path, BOTHY_LOG_TEXT, /* debug= */ true);
}

static int teardown(void **state)
{
  unlink(log_path);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_known),
    cmocka_unit_test(test_parse_unknown_ignored),
    cmocka_unit_test(test_parse_malformed),
    cmocka_unit_test(test_parse_lone_ambient_dropped),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_apply_user),
    cmocka_unit_test(test_apply_ambient_survives_exec),
    cmocka_unit_test(test_apply_ambient_error),
    cmocka_unit_test(test_apply_root),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
