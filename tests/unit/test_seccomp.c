/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for runtime/seccomp: profile errors, and filters loaded in forked
 * children (a filter cannot be removed) whose syscalls are probed from the
 * outside: the errno a syscall returns, or the signal the child died of.
 *
 * Probes use syscalls that are harmless with any argument: fchdir() and
 * fchmod() on fds that are not open fail with EBADF unless the filter steps in
 * with errnoRet 38. Children never use cmocka (its longjmp would continue the
 * test run in the child): they report through their exit status. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/seccomp.h"

#define FILTER_ERRNO 38 /* errnoRet the profiles use; not an errno the probes meet otherwise */

/* ---- profiles from JSON (single quotes stand for double quotes) ---- */

static char **strv_from_json(json_t *a)
{
  char **v = xcalloc(1, sizeof(char *));
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
    strv_push(&v, xstrdup(json_string_value(e)));
  return v;
}

static int64_t int_or_unset(json_t *o, const char *key)
{
  json_t *v = json_object_get(o, key);
  return v ? json_integer_value(v) : BOTHY_UNSET;
}

static void profile_free(struct bothy_seccomp *s)
{
  if (!s)
    return;
  free(s->default_action);
  strv_free(s->architectures);
  strv_free(s->flags);
  free(s->listener_path);
  for (size_t i = 0; i < s->n_syscalls; i++) {
    strv_free(s->syscalls[i].names);
    free(s->syscalls[i].action);
    for (size_t j = 0; j < s->syscalls[i].n_args; j++)
      free(s->syscalls[i].args[j].op);
    free(s->syscalls[i].args);
  }
  free(s->syscalls);
  free(s);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_seccomp *, profile_free)
#define _cleanup_profile_ _cleanup_(profile_freep)

static struct bothy_seccomp *profile(const char *text)
{
  _cleanup_free_ char *t = xstrdup(text);
  for (char *p = t; *p; p++)
    if (*p == '\'')
      *p = '"';
  json_error_t jerr;
  json_t *o = json_loads(t, 0, &jerr);
  if (!o)
    fail_msg("bad test profile: %s: %s", jerr.text, t);
  struct bothy_seccomp *s = xmalloc0(sizeof(*s));
  s->default_action = xstrdup(json_string_value(json_object_get(o, "defaultAction")));
  s->default_errno_ret = int_or_unset(o, "defaultErrnoRet");
  if (json_object_get(o, "architectures"))
    s->architectures = strv_from_json(json_object_get(o, "architectures"));
  if (json_object_get(o, "flags"))
    s->flags = strv_from_json(json_object_get(o, "flags"));
  s->listener_path = xstrdup(json_string_value(json_object_get(o, "listenerPath")));
  json_t *calls = json_object_get(o, "syscalls");
  s->n_syscalls = json_array_size(calls);
  s->syscalls = xcalloc(s->n_syscalls + 1, sizeof(*s->syscalls));
  for (size_t i = 0; i < s->n_syscalls; i++) {
    json_t *c = json_array_get(calls, i);
    struct bothy_seccomp_syscall *sc = &s->syscalls[i];
    sc->names = strv_from_json(json_object_get(c, "names"));
    sc->action = xstrdup(json_string_value(json_object_get(c, "action")));
    sc->errno_ret = int_or_unset(c, "errnoRet");
    json_t *args = json_object_get(c, "args");
    sc->n_args = json_array_size(args);
    sc->args = xcalloc(sc->n_args + 1, sizeof(*sc->args));
    for (size_t j = 0; j < sc->n_args; j++) {
      json_t *a = json_array_get(args, j);
      sc->args[j].index = (unsigned) json_integer_value(json_object_get(a, "index"));
      sc->args[j].value = (uint64_t) json_integer_value(json_object_get(a, "value"));
      sc->args[j].value_two = (uint64_t) json_integer_value(json_object_get(a, "valueTwo"));
      sc->args[j].op = xstrdup(json_string_value(json_object_get(a, "op")));
    }
  }
  json_decref(o);
  return s;
}

static struct bothy_seccomp_filter *compile_ok(const char *text)
{
  _cleanup_profile_ struct bothy_seccomp *s = profile(text);
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_seccomp_filter *f = NULL;
  int r = bothy_seccomp_compile(s, &f, &err);
  if (r < 0)
    fail_msg("compile failed: %s", err->msg);
  assert_non_null(f);
  assert_true(bothy_seccomp_filter_size(f) > 0);
  return f;
}

/* ---- children ---- */

struct probe {
  long nr;
  long a0, a1;
  int expect; /* 0: the call succeeds; else the errno it fails with */
  const char *what;
};

#define PROBE(nr, a0, a1, expect)                                                                  \
  {                                                                                                \
    (nr), (long) (a0), (long) (a1), (expect), #nr "(" #a0 ", " #a1 ")"                             \
  }

static struct utsname uts;
static char cwd[4096];

/* The child: loads f, runs the probes, exits 0 if all matched. */
static _noreturn_ void child_probe(const struct bothy_seccomp_filter *f, const struct probe *p,
                                   size_t n)
{
  _cleanup_error_ bothy_error_t err = NULL;
  /* Unprivileged test runs: the kernel wants no_new_privs then. */
  if (geteuid() != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    _exit(102);
  if (bothy_seccomp_load(f, &err) < 0) {
    dprintf(2, "child: %s\n", err->msg);
    _exit(100);
  }
  for (size_t i = 0; i < n; i++) {
    errno = 0;
    long r = syscall(p[i].nr, p[i].a0, p[i].a1, 0L, 0L, 0L, 0L);
    int got = r < 0 ? errno : 0;
    if (got != p[i].expect) {
      dprintf(2, "child: probe %zu %s: expected %s, got %s\n", i, p[i].what,
              p[i].expect ? strerror(p[i].expect) : "success", got ? strerror(got) : "success");
      _exit(101);
    }
  }
  _exit(0);
}

/* Forks; the child never returns from fn. Returns the wait status. */
static int run_child(void (*fn)(const void *), const void *data)
{
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* No core file when a filter kills the child with SIGSYS, and no
     * cmocka handler catching SIGSYS (or a crash) to go on with the tests
     * in the child. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    const int sigs[] = { SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
      signal(sigs[i], SIG_DFL);
    fn(data);
    _exit(99);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

struct probe_job {
  const struct bothy_seccomp_filter *f;
  const struct probe *probes;
  size_t n;
};

static void probe_job_run(const void *data)
{
  const struct probe_job *j = data;
  child_probe(j->f, j->probes, j->n);
}

static void assert_probes(const char *text, const struct probe *probes, size_t n)
{
  struct bothy_seccomp_filter *f = compile_ok(text);
  struct probe_job j = { f, probes, n };
  int status = run_child(probe_job_run, &j);
  bothy_seccomp_filter_free(f);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child failed (status 0x%x) for profile %s", (unsigned) status, text);
}

#define ASSERT_PROBES(text, ...)                                                                   \
  do {                                                                                             \
    const struct probe probes_[] = { __VA_ARGS__ };                                                \
    assert_probes((text), probes_, ARRAY_SIZE(probes_));                                           \
  } while (0)

/* ---- compile errors ---- */

static void assert_compile_error(const char *text, const char *expected)
{
  _cleanup_profile_ struct bothy_seccomp *s = profile(text);
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_seccomp_filter *sentinel = (struct bothy_seccomp_filter *) (uintptr_t) 0x1;
  struct bothy_seccomp_filter *f = sentinel;
  assert_true(bothy_seccomp_compile(s, &f, &err) < 0);
  assert_non_null(err);
  assert_ptr_equal(f, sentinel); /* ret_* untouched on failure */
  if (!strstr(err->msg, expected))
    fail_msg("error '%s' does not contain '%s'", err->msg, expected);
}

static void test_compile_errors(void **state)
{
  assert_compile_error("{'defaultAction':'SCMP_ACT_FOO'}",
                       "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_FOO'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['getpid'],'action':'SCMP_ACT_ERRNO'},"
                       "{'names':['uname'],'action':'SCMP_ACT_FOO'}]}",
                       "linux.seccomp.syscalls[1].action: unknown action 'SCMP_ACT_FOO'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['fchdir'],'action':'SCMP_ACT_ERRNO','args':["
                       "{'index':0,'value':1,'op':'SCMP_CMP_EQ'},"
                       "{'index':1,'value':1,'op':'SCMP_CMP_FOO'}]}]}",
                       "linux.seccomp.syscalls[0].args[1].op: unknown operator 'SCMP_CMP_FOO'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['fchdir'],'action':'SCMP_ACT_ERRNO','args':["
                       "{'index':6,'value':1,'op':'SCMP_CMP_EQ'}]}]}",
                       "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0 to 5)");
  /* A skipped rule (action == default, or unknown syscall) is still checked. */
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['no_such_syscall'],'action':'SCMP_ACT_ALLOW','args':["
                       "{'index':0,'value':1,'op':'SCMP_CMP_BAD'}]}]}",
                       "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_BAD'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW',"
                       "'architectures':['SCMP_ARCH_X86_64','SCMP_ARCH_FOO']}",
                       "linux.seccomp.architectures[1]: unknown architecture 'SCMP_ARCH_FOO'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','architectures':['x86_64']}",
                       "unknown architecture 'x86_64'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','flags':['SECCOMP_FILTER_FLAG_FOO']}",
                       "linux.seccomp.flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_FOO'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW',"
                       "'flags':['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']}",
                       "linux.seccomp.flags[0]: 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['uname'],'action':'SCMP_ACT_NOTIFY'}]}",
                       "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is not supported");
  assert_compile_error("{'defaultAction':'SCMP_ACT_NOTIFY'}",
                       "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','listenerPath':'/run/agent.sock'}",
                       "linux.seccomp.listenerPath: seccomp notification is not supported");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['uname'],'action':'SCMP_ACT_KILL','errnoRet':1}]}",
                       "linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO "
                       "and SCMP_ACT_TRACE, not SCMP_ACT_KILL");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                       "{'names':['uname'],'action':'SCMP_ACT_ERRNO','errnoRet':4096}]}",
                       "linux.seccomp.syscalls[0].errnoRet: 4096 is out of range for "
                       "SCMP_ACT_ERRNO (0 to 4095)");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':-1}",
                       "linux.seccomp.defaultErrnoRet: -1 is out of range");
  assert_compile_error("{'defaultAction':'SCMP_ACT_ALLOW','defaultErrnoRet':1}",
                       "linux.seccomp.defaultErrnoRet: only valid with");
}

static void test_compile_too_large(void **state)
{
  /* 6000 conditions on one argument become 6000 rules (see the header), at
   * least one instruction each: beyond the kernel's 4096. */
  _cleanup_profile_ struct bothy_seccomp *s =
      profile("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
              "{'names':['fchdir'],'action':'SCMP_ACT_ERRNO'}]}");
  struct bothy_seccomp_syscall *sc = &s->syscalls[0];
  sc->n_args = 6000;
  sc->args = xrealloc(sc->args, sc->n_args * sizeof(*sc->args));
  for (size_t i = 0; i < sc->n_args; i++)
    sc->args[i] = (struct bothy_seccomp_arg){ 0, 10000 + i, 0, xstrdup("SCMP_CMP_EQ") };
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *f = NULL;
  assert_true(bothy_seccomp_compile(s, &f, &err) < 0);
  assert_null(f);
  assert_non_null(strstr(err->msg, "more than the kernel's limit of 4096"));
}

static void test_compile_accepts(void **state)
{
  const char *ok[] = {
    /* every action; rules equal to the default are skipped, not refused */
    "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
    "{'names':['getpid'],'action':'SCMP_ACT_ALLOW'},"
    "{'names':['uname'],'action':'SCMP_ACT_KILL'},"
    "{'names':['getcwd'],'action':'SCMP_ACT_KILL_THREAD'},"
    "{'names':['getppid'],'action':'SCMP_ACT_KILL_PROCESS'},"
    "{'names':['fchdir'],'action':'SCMP_ACT_TRAP'},"
    "{'names':['fchmod'],'action':'SCMP_ACT_ERRNO'},"
    "{'names':['fsync'],'action':'SCMP_ACT_ERRNO','errnoRet':0},"
    "{'names':['fdatasync'],'action':'SCMP_ACT_TRACE','errnoRet':65535},"
    "{'names':['syncfs'],'action':'SCMP_ACT_LOG'}]}",
    "{'defaultAction':'SCMP_ACT_ERRNO','syscalls':["
    "{'names':['getpid'],'action':'SCMP_ACT_ERRNO','errnoRet':1}]}",
    "{'defaultAction':'SCMP_ACT_KILL_PROCESS'}",
    "{'defaultAction':'SCMP_ACT_TRACE','defaultErrnoRet':3}",
    /* unknown names are skipped; socketcall exists only on 32-bit x86 */
    "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
    "{'names':['no_such_syscall','socketcall','uname'],'action':'SCMP_ACT_ERRNO'}]}",
    /* the native architecture may be listed */
    "{'defaultAction':'SCMP_ACT_ALLOW','architectures':"
    "['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32','SCMP_ARCH_AARCH64','SCMP_ARCH_ARM']}",
    "{'defaultAction':'SCMP_ACT_ALLOW','flags':['SECCOMP_FILTER_FLAG_TSYNC',"
    "'SECCOMP_FILTER_FLAG_LOG','SECCOMP_FILTER_FLAG_SPEC_ALLOW']}",
    "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':[],'action':'SCMP_ACT_ERRNO'}]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
    bothy_seccomp_filter_free(compile_ok(ok[i]));

  /* No linux.seccomp: no filter, and loading none does nothing. */
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_seccomp_filter *f = (struct bothy_seccomp_filter *) (uintptr_t) 0x1;
  assert_int_equal(bothy_seccomp_compile(NULL, &f, &err), 0);
  assert_null(f);
  assert_int_equal(bothy_seccomp_load(NULL, &err), 0);
  assert_null(bothy_seccomp_filter_free(NULL));
}

static void test_more_archs_more_code(void **state)
{
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *one =
      compile_ok("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                 "{'names':['uname'],'action':'SCMP_ACT_ERRNO'}]}");
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *three =
      compile_ok("{'defaultAction':'SCMP_ACT_ALLOW','architectures':"
                 "['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32'],'syscalls':["
                 "{'names':['uname'],'action':'SCMP_ACT_ERRNO'}]}");
  assert_true(bothy_seccomp_filter_size(three) > bothy_seccomp_filter_size(one));
}

static void test_features_lists(void **state)
{
  assert_string_equal(bothy_seccomp_known_actions[0], "SCMP_ACT_KILL");
  assert_int_equal(strv_length((char **) bothy_seccomp_known_operators), 7);
  for (size_t i = 0; bothy_seccomp_known_flags[i]; i++)
    assert_true(bothy_seccomp_flag_supported(bothy_seccomp_known_flags[i]));
  assert_false(bothy_seccomp_flag_supported("SECCOMP_FILTER_FLAG_FOO"));
  _cleanup_strv_free_ char **archs = bothy_seccomp_archs();
  bool x86_64 = false;
  for (size_t i = 0; archs[i]; i++)
    x86_64 |= streq(archs[i], "SCMP_ARCH_X86_64");
  assert_true(x86_64);
}

/* ---- filters at work ---- */

static void test_errno_rule(void **state)
{
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                "{'names':['no_such_syscall','uname'],'action':'SCMP_ACT_ERRNO','errnoRet':38}]}",
                PROBE(SYS_uname, &uts, 0, FILTER_ERRNO), PROBE(SYS_getpid, 0, 0, 0),
                PROBE(SYS_getcwd, cwd, sizeof(cwd), 0), PROBE(SYS_fchdir, 1000, 0, EBADF));
  /* errnoRet absent: EPERM, as runc. */
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                "{'names':['getcwd'],'action':'SCMP_ACT_ERRNO'}]}",
                PROBE(SYS_getcwd, cwd, sizeof(cwd), EPERM), PROBE(SYS_uname, &uts, 0, 0));
}

static void test_default_errno_allow_list(void **state)
{
  /* More than 32 names: libseccomp builds a binary tree, which this checks too. */
  const char *allow = "'read','write','close','fstat','newfstatat','lseek','mmap','mprotect',"
                      "'munmap','brk','rt_sigaction','rt_sigprocmask','rt_sigreturn','ioctl',"
                      "'pread64','pwrite64','readv','writev','access','pipe','sched_yield',"
                      "'mremap','msync','mincore','madvise','dup','dup2','nanosleep','getpid',"
                      "'exit','exit_group','futex','gettid','tgkill','sigaltstack','fchdir',"
                      "'clock_gettime','getrandom'";
  _cleanup_free_ char *p =
      xasprintf("{'defaultAction':'SCMP_ACT_ERRNO','defaultErrnoRet':38,'syscalls':["
                "{'names':[%s],'action':'SCMP_ACT_ALLOW'}]}",
                allow);
  ASSERT_PROBES(p, PROBE(SYS_getpid, 0, 0, 0), PROBE(SYS_fchdir, 1000, 0, EBADF),
                PROBE(SYS_getppid, 0, 0, FILTER_ERRNO), PROBE(SYS_uname, &uts, 0, FILTER_ERRNO),
                PROBE(SYS_fchmod, 1000, 0644, FILTER_ERRNO));
  /* defaultErrnoRet absent: EPERM. Fewer names: a linear filter. (What the
   * sanitizers' runtime needs is allowed too.) */
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ERRNO','syscalls':["
                "{'names':['getpid','read','write','mmap','munmap','madvise','rt_sigaction',"
                "'rt_sigprocmask','rt_sigreturn','sigaltstack','futex','gettid','tgkill',"
                "'exit','exit_group'],'action':'SCMP_ACT_ALLOW'}]}",
                PROBE(SYS_getpid, 0, 0, 0), PROBE(SYS_getppid, 0, 0, EPERM),
                PROBE(SYS_fchdir, 1000, 0, EPERM));
}

static void test_operators(void **state)
{
  static const struct {
    const char *op;
    long value, value_two;
    int expect[3]; /* for fchdir(1000), fchdir(1001), fchdir(1002) */
  } cases[] = {
    { "SCMP_CMP_EQ", 1001, 0, { EBADF, FILTER_ERRNO, EBADF } },
    { "SCMP_CMP_NE", 1001, 0, { FILTER_ERRNO, EBADF, FILTER_ERRNO } },
    { "SCMP_CMP_LT", 1001, 0, { FILTER_ERRNO, EBADF, EBADF } },
    { "SCMP_CMP_LE", 1001, 0, { FILTER_ERRNO, FILTER_ERRNO, EBADF } },
    { "SCMP_CMP_GT", 1001, 0, { EBADF, EBADF, FILTER_ERRNO } },
    { "SCMP_CMP_GE", 1001, 0, { EBADF, FILTER_ERRNO, FILTER_ERRNO } },
    /* (arg & value) == valueTwo: value is the mask. Even fds here. */
    { "SCMP_CMP_MASKED_EQ", 1, 0, { FILTER_ERRNO, EBADF, FILTER_ERRNO } },
    /* 1001 = 0b1111101001: bits 0 and 3 set, bit 1 clear */
    { "SCMP_CMP_MASKED_EQ", 0xb, 0x9, { EBADF, FILTER_ERRNO, EBADF } },
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    _cleanup_free_ char *p =
        xasprintf("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['fchdir'],"
                  "'action':'SCMP_ACT_ERRNO','errnoRet':38,'args':[{'index':0,'value':%ld,"
                  "'valueTwo':%ld,'op':'%s'}]}]}",
                  cases[i].value, cases[i].value_two, cases[i].op);
    ASSERT_PROBES(p, PROBE(SYS_fchdir, 1000, 0, cases[i].expect[0]),
                  PROBE(SYS_fchdir, 1001, 0, cases[i].expect[1]),
                  PROBE(SYS_fchdir, 1002, 0, cases[i].expect[2]), PROBE(SYS_getpid, 0, 0, 0));
  }
}

static void test_conditions_on_different_args_all_match(void **state)
{
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['fchmod'],"
                "'action':'SCMP_ACT_ERRNO','errnoRet':38,'args':["
                "{'index':0,'value':1000,'op':'SCMP_CMP_EQ'},"
                "{'index':1,'value':420,'op':'SCMP_CMP_EQ'}]}]}",
                PROBE(SYS_fchmod, 1000, 0644, FILTER_ERRNO), PROBE(SYS_fchmod, 1000, 0600, EBADF),
                PROBE(SYS_fchmod, 1001, 0644, EBADF));
}

static void test_conditions_on_same_arg_any_matches(void **state)
{
  /* runc and crun: two conditions on arg 0 become two rules. */
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['fchdir'],"
                "'action':'SCMP_ACT_ERRNO','errnoRet':38,'args':["
                "{'index':0,'value':1000,'op':'SCMP_CMP_EQ'},"
                "{'index':0,'value':1002,'op':'SCMP_CMP_EQ'}]}]}",
                PROBE(SYS_fchdir, 1000, 0, FILTER_ERRNO), PROBE(SYS_fchdir, 1001, 0, EBADF),
                PROBE(SYS_fchdir, 1002, 0, FILTER_ERRNO), PROBE(SYS_fchdir, 1003, 0, EBADF));
  /* Once one index repeats, every condition of the entry is a rule of its
   * own, the one on arg 1 included (runc's exact behaviour). */
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['fchmod'],"
                "'action':'SCMP_ACT_ERRNO','errnoRet':38,'args':["
                "{'index':0,'value':1000,'op':'SCMP_CMP_EQ'},"
                "{'index':0,'value':1001,'op':'SCMP_CMP_EQ'},"
                "{'index':1,'value':384,'op':'SCMP_CMP_EQ'}]}]}",
                PROBE(SYS_fchmod, 1000, 0, FILTER_ERRNO), PROBE(SYS_fchmod, 1001, 0, FILTER_ERRNO),
                PROBE(SYS_fchmod, 1002, 0600, FILTER_ERRNO), PROBE(SYS_fchmod, 1002, 0644, EBADF));
}

static void test_log_and_trace(void **state)
{
  /* LOG lets the call through; TRACE without a tracer fails it with ENOSYS. */
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                "{'names':['uname'],'action':'SCMP_ACT_LOG'},"
                "{'names':['getppid'],'action':'SCMP_ACT_TRACE','errnoRet':7}]}",
                PROBE(SYS_uname, &uts, 0, 0), PROBE(SYS_getppid, 0, 0, ENOSYS));
}

static void test_killing_actions(void **state)
{
  const char *actions[] = { "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_TRAP" };
  for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
    _cleanup_free_ char *p = xasprintf("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                                       "{'names':['uname'],'action':'%s'}]}",
                                       actions[i]);
    struct bothy_seccomp_filter *f = compile_ok(p);
    const struct probe pr[] = { PROBE(SYS_uname, &uts, 0, 0) };
    struct probe_job j = { f, pr, 1 };
    int status = run_child(probe_job_run, &j);
    bothy_seccomp_filter_free(f);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
      fail_msg("%s: child status 0x%x, expected death by SIGSYS", actions[i], (unsigned) status);
  }
}

static void test_flags_load(void **state)
{
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','flags':['SECCOMP_FILTER_FLAG_TSYNC',"
                "'SECCOMP_FILTER_FLAG_LOG','SECCOMP_FILTER_FLAG_SPEC_ALLOW'],'syscalls':["
                "{'names':['uname'],'action':'SCMP_ACT_ERRNO','errnoRet':38}]}",
                PROBE(SYS_uname, &uts, 0, FILTER_ERRNO), PROBE(SYS_getpid, 0, 0, 0));
}

static void test_multi_arch_load(void **state)
{
  ASSERT_PROBES("{'defaultAction':'SCMP_ACT_ALLOW','architectures':"
                "['SCMP_ARCH_X86_64','SCMP_ARCH_X86','SCMP_ARCH_X32'],'syscalls':["
                "{'names':['uname','socketcall'],'action':'SCMP_ACT_ERRNO','errnoRet':38}]}",
                PROBE(SYS_uname, &uts, 0, FILTER_ERRNO), PROBE(SYS_getpid, 0, 0, 0));
}

/* As root without no_new_privs (the runtime leaves it alone): the filter
 * loads thanks to CAP_SYS_ADMIN, and no_new_privs stays unset. */
static void child_root_no_nnp(const void *data)
{
  _cleanup_error_ bothy_error_t err = NULL;
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
    _exit(10);
  if (bothy_seccomp_load(data, &err) < 0) {
    dprintf(2, "child: %s\n", err->msg);
    _exit(11);
  }
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
    _exit(12);
  if (syscall(SYS_uname, &uts) != -1 || errno != FILTER_ERRNO)
    _exit(13);
  _exit(0);
}

/* As an unprivileged user: refused without no_new_privs, loaded with it. */
static void child_user_nnp(const void *data)
{
  _cleanup_error_ bothy_error_t err = NULL;
  if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
    _exit(20);
  if (bothy_seccomp_load(data, &err) >= 0)
    _exit(21);
  if (err->code != EACCES || !strstr(err->msg, "neither no_new_privileges set nor CAP_SYS_ADMIN")) {
    dprintf(2, "child: unexpected error: %s\n", err->msg);
    _exit(22);
  }
  if (syscall(SYS_uname, &uts) != 0)
    _exit(23);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    _exit(24);
  bothy_error_free(&err);
  if (bothy_seccomp_load(data, &err) < 0) {
    dprintf(2, "child: %s\n", err->msg);
    _exit(25);
  }
  if (syscall(SYS_uname, &uts) != -1 || errno != FILTER_ERRNO)
    _exit(26);
  _exit(0);
}

static void test_load_privileges(void **state)
{
  if (geteuid() != 0)
    skip();
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *f =
      compile_ok("{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                 "{'names':['uname'],'action':'SCMP_ACT_ERRNO','errnoRet':38}]}");
  int status = run_child(child_root_no_nnp, f);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  status = run_child(child_user_nnp, f);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the cache of compiled filters ---- */

static size_t count_files(const char *dir)
{
  size_t n = 0;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)))
    if (de->d_name[0] != '.')
      n++;
  if (d)
    closedir(d);
  return n;
}

static struct bothy_seccomp_filter *compile_cached_ok(const char *text, const char *dir)
{
  _cleanup_profile_ struct bothy_seccomp *s = profile(text);
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_seccomp_filter *f = NULL;
  if (bothy_seccomp_compile_cached(s, dir, &f, &err) < 0)
    fail_msg("compile failed: %s", err->msg);
  return f;
}

/* uname() in a child that loaded f: the errno it fails with, or 0. */
static int uname_errno_under(const struct bothy_seccomp_filter *f)
{
  pid_t pid = fork();
  if (pid == 0) {
    struct utsname u;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (bothy_seccomp_load(f, NULL) < 0)
      _exit(200);
    _exit(syscall(SYS_uname, &u) < 0 ? errno : 0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cache(void **state)
{
  char tmp[] = "/tmp/bothy-seccomp-cache-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  char dir[64];
  snprintf(dir, sizeof(dir), "%s/c", tmp);
  const char *a = "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                  "{'names':['uname'],'action':'SCMP_ACT_ERRNO','errnoRet':38}]}";
  const char *b = "{'defaultAction':'SCMP_ACT_ALLOW','syscalls':["
                  "{'names':['uname'],'action':'SCMP_ACT_ERRNO','errnoRet':39}]}";
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *fresh = compile_ok(a);
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *f1 = compile_cached_ok(a, dir);
  assert_non_null(f1);
  assert_int_equal(count_files(dir), 1);
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *f2 = compile_cached_ok(a, dir);
  assert_int_equal(bothy_seccomp_filter_size(f2), bothy_seccomp_filter_size(fresh));
  assert_int_equal(uname_errno_under(f2), 38);
  /* Another profile is another entry, never the first one's program. */
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *g = compile_cached_ok(b, dir);
  assert_int_equal(count_files(dir), 2);
  assert_int_equal(uname_errno_under(g), 39);
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *g2 = compile_cached_ok(b, dir);
  assert_int_equal(uname_errno_under(g2), 39);
  /* A damaged entry is a miss: a flipped byte in the program is noticed. */
  DIR *d = opendir(dir);
  struct dirent *de;
  char path[512] = "";
  while ((de = readdir(d)))
    if (de->d_name[0] != '.') {
      snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
      FILE *fp = fopen(path, "r+b");
      assert_non_null(fp);
      fseek(fp, -3, SEEK_END);
      int c = fgetc(fp);
      fseek(fp, -3, SEEK_END);
      fputc(c ^ 0x5a, fp);
      fclose(fp);
    }
  closedir(d);
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *h = compile_cached_ok(a, dir);
  assert_int_equal(uname_errno_under(h), 38);
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *h2 = compile_cached_ok(b, dir);
  assert_int_equal(uname_errno_under(h2), 39);
  /* A directory others can write to is not trusted: nothing is read or written. */
  char open_dir[80];
  snprintf(open_dir, sizeof(open_dir), "%s/open", tmp);
  assert_int_equal(mkdir(open_dir, 0777), 0);
  chmod(open_dir, 0777);
  _cleanup_seccomp_filter_ struct bothy_seccomp_filter *o = compile_cached_ok(a, open_dir);
  assert_non_null(o);
  assert_int_equal(count_files(open_dir), 0);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_compile_errors),
    cmocka_unit_test(test_compile_too_large),
    cmocka_unit_test(test_compile_accepts),
    cmocka_unit_test(test_more_archs_more_code),
    cmocka_unit_test(test_features_lists),
    cmocka_unit_test(test_errno_rule),
    cmocka_unit_test(test_default_errno_allow_list),
    cmocka_unit_test(test_operators),
    cmocka_unit_test(test_conditions_on_different_args_all_match),
    cmocka_unit_test(test_conditions_on_same_arg_any_matches),
    cmocka_unit_test(test_log_and_trace),
    cmocka_unit_test(test_killing_actions),
    cmocka_unit_test(test_flags_load),
    cmocka_unit_test(test_multi_arch_load),
    cmocka_unit_test(test_load_privileges),
    cmocka_unit_test(test_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
