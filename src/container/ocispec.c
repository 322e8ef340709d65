/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/ocispec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/caps.h"
#include "runtime/seccomp.h"

/* docker's default capability set. */
static const char *const default_caps[] = {
  "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
  "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
  "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
  "CAP_KILL",    "CAP_AUDIT_WRITE",
};

/* The default seccomp profile: docker's (moby profiles/seccomp/default.json),
 * an allow-list. Anything not allowed fails with EPERM; some syscalls are
 * allowed only with the capability that the kernel would ask for anyway, so
 * that --cap-add SYS_ADMIN also opens mount(2), as in docker. Written in
 * docker's own format (includes/excludes on capabilities, architectures and
 * kernel versions) and evaluated by the same code as a --security-opt
 * seccomp=FILE profile. Names this libseccomp does not know are skipped by
 * the runtime (src/runtime/seccomp.h). */
struct sc_arg {
  unsigned index;
  uint64_t value;
  uint64_t value_two;
  const char *op;
};

struct sc_cond {
  const char *const *caps;   /* all of them in the final set */
  const char *const *arches; /* docker's (GOARCH) names: "amd64", "arm64", ... */
  const char *min_kernel;    /* "4.8" */
};

struct sc_rule {
  const char *const *names;
  const char *action;
  int errno_ret; /* 0: none */
  size_t n_args;
  struct sc_arg arg;
  struct sc_cond includes, excludes;
};

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define ALLOW(...) .names = NAMES(__VA_ARGS__), .action = "SCMP_ACT_ALLOW"
#define IF_CAP(cap, ...)                                                                           \
  {                                                                                                \
    ALLOW(__VA_ARGS__), .includes = {.caps = NAMES(cap) }                                          \
  }
#define PERSONALITY(v)                                                                             \
  {                                                                                                \
    ALLOW("personality"), .n_args = 1, .arg = { 0, (v), 0, "SCMP_CMP_EQ" }                         \
  }
/* clone(2) with any CLONE_NEW* flag (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
 * CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP): creating
 * namespaces is CAP_SYS_ADMIN's business. */
#define CLONE_NS_FLAGS UINT64_C(0x7E020000)

static const struct sc_rule default_profile[] = {
  { ALLOW(
      "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
      "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
      "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
      "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
      "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
      "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
      "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
      "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2",
      "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
      "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
      "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
      "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
      "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
      "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
      "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
      "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
      "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
      "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
      "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
      "ioprio_set", "io_setup", "io_submit", "io_uring_enter", "io_uring_register",
      "io_uring_setup", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
      "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
      "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat",
      "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret",
      "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
      "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
      "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
      "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
      "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
      "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
      "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
      "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
      "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
      "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
      "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
      "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
      "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
      "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
      "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
      "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
      "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64",
      "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
      "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
      "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
      "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
      "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget",
      "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall",
      "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
      "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
      "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
      "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
      "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
      "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
      "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
      "writev") },
  { ALLOW("process_vm_readv", "process_vm_writev", "ptrace"), .includes = { .min_kernel = "4.8" } },
  /* Not AF_VSOCK (40): reaches the host. */
  { ALLOW("socket"), .n_args = 1, .arg = { 0, 40, 0, "SCMP_CMP_NE" } },
  /* PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query. */
  PERSONALITY(0),
  PERSONALITY(8),
  PERSONALITY(131072),
  PERSONALITY(131080),
  PERSONALITY(4294967295),
  { ALLOW("sync_file_range2", "swapcontext"), .includes = { .arches = NAMES("ppc64le") } },
  { ALLOW("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
          "set_tls"),
    .includes = { .arches = NAMES("arm", "arm64") } },
  { ALLOW("arch_prctl"), .includes = { .arches = NAMES("amd64", "x32") } },
  { ALLOW("modify_ldt"), .includes = { .arches = NAMES("amd64", "x32", "x86") } },
  { ALLOW("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
    .includes = { .arches = NAMES("s390", "s390x") } },
  { ALLOW("riscv_flush_icache"), .includes = { .arches = NAMES("riscv64") } },
  IF_CAP("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
  IF_CAP("CAP_SYS_ADMIN", "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
         "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
         "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
         "syslog", "umount", "umount2", "unshare"),
  { ALLOW("clone"), .n_args = 1, .arg = { 0, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ" },
    .excludes = { .caps = NAMES("CAP_SYS_ADMIN"), .arches = NAMES("s390", "s390x") } },
  /* s390 has clone's first two arguments the other way round. */
  { ALLOW("clone"), .n_args = 1, .arg = { 1, CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ" },
    .includes = { .arches = NAMES("s390", "s390x") },
    .excludes = { .caps = NAMES("CAP_SYS_ADMIN") } },
  /* clone3's flags are behind a pointer, out of seccomp's reach: ENOSYS makes
   * the C library fall back to clone(2), whose flags the rule above checks. */
  { .names = NAMES("clone3"),
    .action = "SCMP_ACT_ERRNO",
    .errno_ret = ENOSYS,
    .excludes = { .caps = NAMES("CAP_SYS_ADMIN") } },
  IF_CAP("CAP_SYS_BOOT", "reboot"),
  IF_CAP("CAP_SYS_CHROOT", "chroot"),
  IF_CAP("CAP_SYS_MODULE", "delete_module", "init_module", "finit_module"),
  IF_CAP("CAP_SYS_PACCT", "acct"),
  IF_CAP("CAP_SYS_PTRACE", "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
         "process_vm_writev", "ptrace"),
  IF_CAP("CAP_SYS_RAWIO", "iopl", "ioperm"),
  IF_CAP("CAP_SYS_TIME", "settimeofday", "stime", "clock_settime", "clock_settime64"),
  IF_CAP("CAP_SYS_TTY_CONFIG", "vhangup"),
  IF_CAP("CAP_SYS_NICE", "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
  IF_CAP("CAP_SYSLOG", "syslog"),
  IF_CAP("CAP_BPF", "bpf"),
  IF_CAP("CAP_PERFMON", "perf_event_open"),
};

/* This machine's architecture under docker's names (Go's GOARCH; the
 * kernel's too, for profiles written by hand), and the seccomp
 * architectures a filter covers here: the native one and those whose
 * binaries it can run (docker's archMap). */
#if defined(__x86_64__)
#define NATIVE_SCMP_ARCH "SCMP_ARCH_X86_64"
static const char *const native_arches[] = { "amd64", "x86_64", NULL };
static const char *const default_scmp_arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                   "SCMP_ARCH_X32", NULL };
#elif defined(__aarch64__)
#define NATIVE_SCMP_ARCH "SCMP_ARCH_AARCH64"
static const char *const native_arches[] = { "arm64", "aarch64", NULL };
static const char *const default_scmp_arches[] = { "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL };
#elif defined(__i386__)
#define NATIVE_SCMP_ARCH "SCMP_ARCH_X86"
static const char *const native_arches[] = { "386", "x86", NULL };
static const char *const default_scmp_arches[] = { "SCMP_ARCH_X86", NULL };
#else
#define NATIVE_SCMP_ARCH NULL
static const char *const native_arches[] = { NULL };
static const char *const default_scmp_arches[] = { NULL };
#endif

/* EINVAL with a message that already says what is wrong (bothy_error_set
 * would append "Invalid argument"). */
_printf_(2, 3) static int invalid(bothy_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  bothy_error_setv(err, 0, fmt, ap);
  va_end(ap);
  if (err && *err)
    (*err)->code = EINVAL;
  return -EINVAL;
}

static json_t *strv_json(char *const *v)
{
  json_t *a = json_array();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

static bool strv_has(const char *const *v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (streq(v[i], s))
      return true;
  return false;
}

/* ---- capabilities ---- */

static uint64_t cap_bit(int v)
{
  return v >= 0 && v < 64 ? UINT64_C(1) << v : 0;
}

static bool cap_in(uint64_t caps, const char *name)
{
  return (caps & cap_bit(bothy_caps_from_name(name))) != 0;
}

/* --cap-add/--cap-drop names as docker takes them: any case, "CAP_" or not,
 * or "ALL". A capability libcap or the running kernel does not know is an
 * error, as in docker. */
static int parse_caps(char *const *names, uint64_t *ret_mask, bool *ret_all, bothy_error_t *err)
{
  uint64_t mask = 0;
  bool all = false;
  unsigned last = bothy_caps_last_cap();
  for (size_t i = 0; names && names[i]; i++) {
    _cleanup_free_ char *up = xstrdup(names[i]);
    for (char *p = up; *p; p++)
      if (*p >= 'a' && *p <= 'z')
        *p = (char) (*p - 'a' + 'A');
    if (streq(up, "ALL")) {
      all = true;
      continue;
    }
    _cleanup_free_ char *full = strncmp(up, "CAP_", 4) == 0 ? xstrdup(up) : xasprintf("CAP_%s", up);
    int v = bothy_caps_from_name(full);
    if (v < 0 || v > 63 || (unsigned) v > last)
      return invalid(err, "unknown capability: \"%s\"", full);
    mask |= cap_bit(v);
  }
  *ret_mask = mask;
  *ret_all = all;
  return 0;
}

/* The container's capabilities: docker's TweakCapabilities(). */
static int final_caps(const struct bothy_run_opts *o, uint64_t *ret, bothy_error_t *err)
{
  uint64_t add, drop;
  bool add_all, drop_all;
  if (parse_caps(o->cap_add, &add, &add_all, err) < 0 ||
      parse_caps(o->cap_drop, &drop, &drop_all, err) < 0)
    return -EINVAL;
  unsigned last = bothy_caps_last_cap();
  uint64_t all = last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
  uint64_t caps;
  if (add_all) {
    caps = all & ~drop;
  } else if (drop_all) {
    caps = add;
  } else {
    caps = 0;
    for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++)
      caps |= cap_bit(bothy_caps_from_name(default_caps[i]));
    caps = (caps & ~drop) | add;
  }
  *ret = caps & all;
  return 0;
}

/* ---- seccomp ---- */

struct sc_env {
  uint64_t caps;      /* the container's final capabilities */
  unsigned kernel[3]; /* the running kernel's version; 0.0.0 if unknown */
};

/* "4.8", "5.10.12-foo": major.minor and an optional patch level. */
static int parse_kernel_version(const char *s, unsigned v[3])
{
  int n = 0;
  v[0] = v[1] = v[2] = 0;
  if (!(s[0] >= '0' && s[0] <= '9') || sscanf(s, "%u.%u%n", &v[0], &v[1], &n) != 2)
    return -1;
  if (s[n] == '.' && s[n + 1] >= '0' && s[n + 1] <= '9')
    (void) sscanf(s + n + 1, "%u", &v[2]);
  return 0;
}

static void sc_env_init(struct sc_env *env, uint64_t caps)
{
  struct utsname u;
  *env = (struct sc_env){ .caps = caps };
  if (uname(&u) == 0 && parse_kernel_version(u.release, env->kernel) < 0)
    env->kernel[0] = env->kernel[1] = env->kernel[2] = 0;
}

/* ctx and which ("includes", "excludes") name the field in messages. */
static int kernel_at_least(const struct sc_env *env, const char *min, const char *ctx,
                           const char *which, bool *ret, bothy_error_t *err)
{
  unsigned want[3];
  if (parse_kernel_version(min, want) < 0)
    return invalid(err,
                   "invalid seccomp profile: %s.%s.minKernel: invalid kernel version \"%s\" "
                   "(expected \"<major>.<minor>\")",
                   ctx, which, min);
  int c = 0;
  for (int i = 0; i < 3 && c == 0; i++)
    c = env->kernel[i] < want[i] ? -1 : env->kernel[i] > want[i];
  *ret = c >= 0;
  return 0;
}

/* docker's rules for an entry's conditions: excluded if this architecture,
 * any of the capabilities or a kernel at least minKernel is excluded;
 * included only if the architecture is listed, all the capabilities are in
 * the set and the kernel is at least minKernel. */
static int rule_applies(const struct sc_cond *inc, const struct sc_cond *exc,
                        const struct sc_env *env, const char *ctx, bool *ret, bothy_error_t *err)
{
  bool at_least = false;
  *ret = false;
  for (size_t i = 0; exc->arches && exc->arches[i]; i++)
    if (strv_has(native_arches, exc->arches[i]))
      return 0;
  for (size_t i = 0; exc->caps && exc->caps[i]; i++)
    if (cap_in(env->caps, exc->caps[i]))
      return 0;
  if (exc->min_kernel) {
    if (kernel_at_least(env, exc->min_kernel, ctx, "excludes", &at_least, err) < 0)
      return -EINVAL;
    if (at_least)
      return 0;
  }
  if (inc->arches && inc->arches[0]) {
    bool found = false;
    for (size_t i = 0; inc->arches[i]; i++)
      found = found || strv_has(native_arches, inc->arches[i]);
    if (!found)
      return 0;
  }
  for (size_t i = 0; inc->caps && inc->caps[i]; i++)
    if (!cap_in(env->caps, inc->caps[i]))
      return 0;
  if (inc->min_kernel) {
    if (kernel_at_least(env, inc->min_kernel, ctx, "includes", &at_least, err) < 0)
      return -EINVAL;
    if (!at_least)
      return 0;
  }
  *ret = true;
  return 0;
}

static json_t *arg_json(const struct sc_arg *a)
{
  return json_pack("{s:i, s:I, s:I, s:s}", "index", (int) a->index, "value", (json_int_t) a->value,
                   "valueTwo", (json_int_t) a->value_two, "op", a->op);
}

static json_t *default_seccomp(const struct sc_env *env)
{
  json_t *syscalls = json_array();
  for (size_t i = 0; i < ARRAY_SIZE(default_profile); i++) {
    const struct sc_rule *r = &default_profile[i];
    bool ok = false;
    /* The table's minKernel values parse: no error to handle. */
    (void) rule_applies(&r->includes, &r->excludes, env, "default", &ok, NULL);
    if (!ok)
      continue;
    json_t *names = json_array();
    for (size_t k = 0; r->names[k]; k++)
      json_array_append_new(names, json_string(r->names[k]));
    json_t *e = json_pack("{s:o, s:s}", "names", names, "action", r->action);
    if (r->errno_ret)
      json_object_set_new(e, "errnoRet", json_integer(r->errno_ret));
    if (r->n_args)
      json_object_set_new(e, "args", json_pack("[o]", arg_json(&r->arg)));
    json_array_append_new(syscalls, e);
  }
  return json_pack("{s:s, s:i, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet",
                   EPERM, "architectures", strv_json((char *const *) default_scmp_arches),
                   "syscalls", syscalls);
}

/* A field of a docker profile; Go's JSON treats null as absent. */
static json_t *field(json_t *o, const char *key)
{
  json_t *v = json_object_get(o, key);
  return json_is_null(v) ? NULL : v;
}

static int profile_strv(json_t *o, const char *key, const char *ctx, char ***ret,
                        bothy_error_t *err)
{
  json_t *a = field(o, key);
  *ret = NULL;
  if (!a)
    return 0;
  if (!json_is_array(a))
    return invalid(err, "invalid seccomp profile: %s%s%s must be an array of strings", ctx,
                   *ctx ? "." : "", key);
  char **v = xcalloc(json_array_size(a) + 1, sizeof(char *));
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *s = json_array_get(a, i);
    if (!json_is_string(s)) {
      strv_free(v);
      return invalid(err, "invalid seccomp profile: %s%s%s must be an array of strings", ctx,
                     *ctx ? "." : "", key);
    }
    v[i] = xstrdup(json_string_value(s));
  }
  *ret = v;
  return 0;
}

static int profile_string(json_t *o, const char *key, const char *ctx, const char **ret,
                          bothy_error_t *err)
{
  json_t *s = field(o, key);
  *ret = NULL;
  if (!s)
    return 0;
  if (!json_is_string(s))
    return invalid(err, "invalid seccomp profile: %s%s%s must be a string", ctx, *ctx ? "." : "",
                   key);
  *ret = json_string_value(s);
  return 0;
}

/* An integer field copied into out (nothing when absent). */
static int profile_int(json_t *o, const char *key, const char *ctx, int64_t min, int64_t max,
                       json_t *out, bothy_error_t *err)
{
  json_t *v = field(o, key);
  if (!v)
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
    return invalid(
        err, "invalid seccomp profile: %s%s%s must be an integer from %" PRId64 " to %" PRId64, ctx,
        *ctx ? "." : "", key, min, max);
  json_object_set_new(out, key, json_integer(json_integer_value(v)));
  return 0;
}

static int check_action(const char *a, const char *ctx, bothy_error_t *err)
{
  if (streq(a, "SCMP_ACT_NOTIFY"))
    return invalid(err, "invalid seccomp profile: %s: SCMP_ACT_NOTIFY is not supported", ctx);
  if (!strv_has(bothy_seccomp_known_actions, a))
    return invalid(err, "invalid seccomp profile: %s: unknown action \"%s\"", ctx, a);
  return 0;
}

struct profile_cond {
  char **caps, **arches;
  const char *min_kernel;
};

static void profile_cond_done(struct profile_cond *c)
{
  strv_free(c->caps);
  strv_free(c->arches);
}

static int parse_cond(json_t *e, const char *key, const char *ctx, struct profile_cond *c,
                      bothy_error_t *err)
{
  json_t *o = field(e, key);
  *c = (struct profile_cond){ 0 };
  if (!o)
    return 0;
  _cleanup_free_ char *sub = xasprintf("%s.%s", ctx, key);
  if (!json_is_object(o))
    return invalid(err, "invalid seccomp profile: %s must be an object", sub);
  if (profile_strv(o, "caps", sub, &c->caps, err) < 0 ||
      profile_strv(o, "arches", sub, &c->arches, err) < 0 ||
      profile_string(o, "minKernel", sub, &c->min_kernel, err) < 0) {
    profile_cond_done(c);
    return -EINVAL;
  }
  return 0;
}

static int convert_args(json_t *e, const char *ctx, json_t **ret, bothy_error_t *err)
{
  json_t *args = field(e, "args");
  *ret = NULL;
  if (!args)
    return 0;
  if (!json_is_array(args))
    return invalid(err, "invalid seccomp profile: %s.args must be an array", ctx);
  _cleanup_json_ json_t *out = json_array();
  for (size_t k = 0; k < json_array_size(args); k++) {
    json_t *a = json_array_get(args, k);
    _cleanup_free_ char *actx = xasprintf("%s.args[%zu]", ctx, k);
    if (!json_is_object(a))
      return invalid(err, "invalid seccomp profile: %s must be an object", actx);
    const char *op = NULL;
    json_t *na = json_object();
    json_array_append_new(out, na);
    if (profile_int(a, "index", actx, 0, 5, na, err) < 0 ||
        profile_int(a, "value", actx, 0, INT64_MAX, na, err) < 0 ||
        profile_int(a, "valueTwo", actx, 0, INT64_MAX, na, err) < 0 ||
        profile_string(a, "op", actx, &op, err) < 0)
      return -EINVAL;
    if (!json_object_get(na, "index"))
      return invalid(err, "invalid seccomp profile: %s.index is missing", actx);
    if (!op)
      return invalid(err, "invalid seccomp profile: %s.op is missing", actx);
    if (!strv_has(bothy_seccomp_known_operators, op))
      return invalid(err, "invalid seccomp profile: %s.op: unknown operator \"%s\"", actx, op);
    json_object_set_new(na, "op", json_string(op));
    if (!json_object_get(na, "value"))
      json_object_set_new(na, "value", json_integer(0));
  }
  *ret = TAKE_PTR(out);
  return 0;
}

/* One entry of a profile's syscalls, appended to out when its conditions
 * hold for this container. */
static int convert_syscall(json_t *e, const char *ctx, const struct sc_env *env, json_t *out,
                           bothy_error_t *err)
{
  if (!json_is_object(e))
    return invalid(err, "invalid seccomp profile: %s must be an object", ctx);
  const char *name = NULL, *action = NULL;
  _cleanup_strv_free_ char **names = NULL;
  if (profile_string(e, "name", ctx, &name, err) < 0 ||
      profile_strv(e, "names", ctx, &names, err) < 0 ||
      profile_string(e, "action", ctx, &action, err) < 0)
    return -EINVAL;
  if (name && names && names[0])
    return invalid(err, "invalid seccomp profile: %s: both \"name\" and \"names\" are given", ctx);
  if (name)
    strv_push(&names, xstrdup(name));
  if (!names || !names[0])
    return invalid(err, "invalid seccomp profile: %s: no syscall names", ctx);
  if (!action)
    return invalid(err, "invalid seccomp profile: %s.action is missing", ctx);
  _cleanup_free_ char *actx = xasprintf("%s.action", ctx);
  if (check_action(action, actx, err) < 0)
    return -EINVAL;

  _cleanup_json_ json_t *n = json_pack("{s:o, s:s}", "names", strv_json(names), "action", action);
  if (profile_int(e, "errnoRet", ctx, 0, UINT32_MAX, n, err) < 0)
    return -EINVAL;
  json_t *args = NULL;
  if (convert_args(e, ctx, &args, err) < 0)
    return -EINVAL;
  if (args)
    json_object_set_new(n, "args", args);

  struct profile_cond inc, exc;
  if (parse_cond(e, "includes", ctx, &inc, err) < 0)
    return -EINVAL;
  if (parse_cond(e, "excludes", ctx, &exc, err) < 0) {
    profile_cond_done(&inc);
    return -EINVAL;
  }
  struct sc_cond ci = { (const char *const *) inc.caps, (const char *const *) inc.arches,
                        inc.min_kernel };
  struct sc_cond ce = { (const char *const *) exc.caps, (const char *const *) exc.arches,
                        exc.min_kernel };
  bool ok = false;
  int r = rule_applies(&ci, &ce, env, ctx, &ok, err);
  profile_cond_done(&inc);
  profile_cond_done(&exc);
  if (r < 0)
    return r;
  if (ok)
    json_array_append_new(out, TAKE_PTR(n));
  return 0;
}

/* A --security-opt seccomp=FILE profile, in docker's format (archMap,
 * includes/excludes) or the runtime spec's, as linux.seccomp: docker's
 * setupSeccomp(). */
static int convert_profile(json_t *p, const struct sc_env *env, json_t **ret, bothy_error_t *err)
{
  if (!json_is_object(p))
    return invalid(err, "invalid seccomp profile: not a JSON object");
  _cleanup_json_ json_t *out = json_object();
  const char *def = NULL;
  if (profile_string(p, "defaultAction", "", &def, err) < 0)
    return -EINVAL;
  if (!def)
    return invalid(err, "invalid seccomp profile: defaultAction is missing");
  if (check_action(def, "defaultAction", err) < 0)
    return -EINVAL;
  json_object_set_new(out, "defaultAction", json_string(def));
  if (profile_int(p, "defaultErrnoRet", "", 0, UINT32_MAX, out, err) < 0)
    return -EINVAL;

  _cleanup_strv_free_ char **archs = NULL, **flags = NULL;
  if (profile_strv(p, "architectures", "", &archs, err) < 0 ||
      profile_strv(p, "flags", "", &flags, err) < 0)
    return -EINVAL;
  json_t *map = field(p, "archMap");
  if (map && archs && archs[0])
    return invalid(err, "invalid seccomp profile: both \"architectures\" and \"archMap\" are "
                        "given; use one");
  if (map) {
    if (!json_is_array(map))
      return invalid(err, "invalid seccomp profile: archMap must be an array");
    for (size_t i = 0; i < json_array_size(map); i++) {
      json_t *m = json_array_get(map, i);
      _cleanup_free_ char *mctx = xasprintf("archMap[%zu]", i);
      const char *arch = NULL;
      _cleanup_strv_free_ char **sub = NULL;
      if (!json_is_object(m))
        return invalid(err, "invalid seccomp profile: %s must be an object", mctx);
      if (profile_string(m, "architecture", mctx, &arch, err) < 0 ||
          profile_strv(m, "subArchitectures", mctx, &sub, err) < 0)
        return -EINVAL;
      if (!arch)
        return invalid(err, "invalid seccomp profile: %s.architecture is missing", mctx);
      /* Only this machine's entry: the filter is for its processes. */
      if (!streq(arch, NATIVE_SCMP_ARCH) || (archs && archs[0]))
        continue;
      strv_push(&archs, xstrdup(arch));
      for (size_t k = 0; sub && sub[k]; k++)
        strv_push(&archs, xstrdup(sub[k]));
    }
  }
  for (size_t i = 0; archs && archs[i]; i++)
    if (strncmp(archs[i], "SCMP_ARCH_", 10) != 0)
      return invalid(err, "invalid seccomp profile: unknown architecture \"%s\"", archs[i]);
  if (archs && archs[0])
    json_object_set_new(out, "architectures", strv_json(archs));
  if (flags && flags[0])
    json_object_set_new(out, "flags", strv_json(flags));
  const char *lp = NULL, *lm = NULL;
  if (profile_string(p, "listenerPath", "", &lp, err) < 0 ||
      profile_string(p, "listenerMetadata", "", &lm, err) < 0)
    return -EINVAL;
  if (lp && *lp)
    return invalid(err, "invalid seccomp profile: listenerPath: seccomp notification is not "
                        "supported");

  json_t *in = field(p, "syscalls");
  if (in && !json_is_array(in))
    return invalid(err, "invalid seccomp profile: syscalls must be an array");
  json_t *syscalls = json_array();
  json_object_set_new(out, "syscalls", syscalls);
  for (size_t i = 0; in && i < json_array_size(in); i++) {
    _cleanup_free_ char *ctx = xasprintf("syscalls[%zu]", i);
    if (convert_syscall(json_array_get(in, i), ctx, env, syscalls, err) < 0)
      return -EINVAL;
  }
  *ret = TAKE_PTR(out);
  return 0;
}

/* ---- users and groups ---- */

/* A file of the image, read inside its root (symlinks cannot lead out);
 * NULL when absent or unreadable. */
static char *read_image_file(int rootfd, const char *path)
{
  if (rootfd < 0)
    return NULL;
  _cleanup_close_ int fd = bothy_open_in_root(rootfd, path, O_RDONLY, 0);
  if (fd < 0)
    return NULL;
  char *data = NULL;
  if (bothy_read_fd(fd, &data, NULL, NULL) < 0)
    return NULL;
  return data;
}

/* Splits a passwd/group line at ':' into at most n fields (the last keeps
 * the rest), in place; returns how many. */
static size_t split_fields(char *line, char **f, size_t n)
{
  size_t k = 0;
  while (k < n) {
    f[k++] = line;
    if (k == n)
      break;
    line = strchr(line, ':');
    if (!line)
      break;
    *line++ = '\0';
  }
  return k;
}

static bool parse_id(const char *s, uint32_t *ret)
{
  if (!s || !*s || strspn(s, "0123456789") != strlen(s))
    return false;
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno || v > UINT32_MAX)
    return false;
  *ret = (uint32_t) v;
  return true;
}

/* process.user from --user or the image's User, as runc's GetExecUser()
 * does it for docker: "" is root; a number is a uid, taken from passwd if
 * there (with its group), else with gid 0; a name must be in passwd. An
 * explicit group is a gid or a name in /etc/group. Without one, the groups
 * that list the matched user are its supplementary groups. */
static int resolve_user(const char *spec, const char *rootfs, uint32_t *ret_uid, uint32_t *ret_gid,
                        json_t **ret_gids, bothy_error_t *err)
{
  _cleanup_free_ char *u = xstrdup(spec ? spec : "");
  char *g = strchr(u, ':');
  if (g)
    *g++ = '\0';
  uint32_t uid = 0, gid = 0;
  bool numeric = !*u || parse_id(u, &uid);
  _cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  _cleanup_free_ char *passwd = read_image_file(root, "/etc/passwd");
  _cleanup_free_ char *matched = NULL;
  char *save = NULL;
  for (char *line = passwd ? strtok_r(passwd, "\n", &save) : NULL; line;
       line = strtok_r(NULL, "\n", &save)) {
    char *f[7] = { 0 };
    uint32_t id, pgid;
    if (split_fields(line, f, 7) < 4 || !parse_id(f[2], &id))
      continue;
    if (numeric ? id != uid : !streq(f[0], u))
      continue;
    uid = id;
    gid = parse_id(f[3], &pgid) ? pgid : 0;
    matched = xstrdup(f[0]);
    break;
  }
  if (!matched && !numeric)
    return bothy_error_set(err, ENOENT,
                           "unable to find user %s: no matching entries in passwd file", u);

  _cleanup_json_ json_t *gids = json_array();
  if ((g && *g) || matched) {
    bool by_name = g && *g && !parse_id(g, &gid);
    bool found = false;
    _cleanup_free_ char *group = read_image_file(root, "/etc/group");
    save = NULL;
    for (char *line = group && (by_name || !g || !*g) ? strtok_r(group, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
      char *f[4] = { 0 };
      uint32_t id;
      if (split_fields(line, f, 4) < 3 || !parse_id(f[2], &id))
        continue;
      if (by_name) {
        if (streq(f[0], g)) {
          gid = id;
          found = true;
          break;
        }
        continue;
      }
      if (!f[3])
        continue;
      char *msave = NULL;
      for (char *m = strtok_r(f[3], ",", &msave); m; m = strtok_r(NULL, ",", &msave))
        if (streq(m, matched)) {
          json_array_append_new(gids, json_integer(id));
          break;
        }
    }
    if (by_name && !found)
      return bothy_error_set(err, ENOENT,
                             "unable to find group %s: no matching entries in group file", g);
  }
  *ret_uid = uid;
  *ret_gid = gid;
  *ret_gids = TAKE_PTR(gids);
  return 0;
}

int bothy_image_lookup_user(const char *spec, const char *rootfs, uint32_t *ret_uid,
                            uint32_t *ret_gid, bothy_error_t *err)
{
  _cleanup_json_ json_t *gids = NULL;
  return resolve_user(spec, rootfs, ret_uid, ret_gid, &gids, err);
}

/* ---- mounts ---- */

static const struct {
  const char *destination, *type, *source;
  const char *const *options;
} default_mounts[] = {
  { "/proc", "proc", "proc", NAMES("nosuid", "noexec", "nodev") },
  { "/dev", "tmpfs", "tmpfs", NAMES("nosuid", "strictatime", "mode=755", "size=65536k") },
  { "/dev/pts", "devpts", "devpts",
    NAMES("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5") },
  { "/dev/shm", "tmpfs", "shm", NAMES("nosuid", "noexec", "nodev", "mode=1777", "size=65536k") },
  { "/dev/mqueue", "mqueue", "mqueue", NAMES("nosuid", "noexec", "nodev") },
  { "/sys", "sysfs", "sysfs", NAMES("nosuid", "noexec", "nodev", "ro") },
  { "/sys/fs/cgroup", "cgroup", "cgroup", NAMES("nosuid", "noexec", "nodev", "relatime", "ro") },
};

/* The files bothy generates, bind-mounted from etc_dir. */
static const char *const etc_files[] = { "/etc/hostname", "/etc/hosts", "/etc/resolv.conf" };

static const char *const propagations[] = {
  "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable", NULL,
};

/* Options that set and clear the same flag: the later one wins. */
static const char *const flag_pairs[][2] = {
  { "ro", "rw" },
  { "suid", "nosuid" },
  { "dev", "nodev" },
  { "exec", "noexec" },
  { "sync", "async" },
  { "mand", "nomand" },
  { "atime", "noatime" },
  { "diratime", "nodiratime" },
  { "relatime", "norelatime" },
  { "strictatime", "nostrictatime" },
};

static char *option_kind(const char *o)
{
  for (size_t i = 0; i < ARRAY_SIZE(flag_pairs); i++)
    if (streq(o, flag_pairs[i][0]) || streq(o, flag_pairs[i][1]))
      return xstrdup(flag_pairs[i][0]);
  if (strv_has(propagations, o))
    return xstrdup("propagation");
  const char *eq = strchr(o, '=');
  return eq ? xstrndup(o, (size_t) (eq - o + 1)) : xstrdup(o);
}

/* docker's MergeTmpfsOptions(), for every mount: of the options that set the
 * same thing ("exec" after the default "noexec", a second "size="), the
 * last one stays. */
static char **merge_options(char *const *opts)
{
  size_t n = strv_length(opts);
  _cleanup_free_ bool *keep = xcalloc(n + 1, sizeof(bool));
  _cleanup_strv_free_ char **seen = NULL;
  for (size_t i = n; i-- > 0;) {
    char *k = option_kind(opts[i]);
    if (strv_has((const char *const *) seen, k)) {
      free(k);
      continue;
    }
    strv_push(&seen, k);
    keep[i] = true;
  }
  char **out = xcalloc(n + 1, sizeof(char *));
  size_t o = 0;
  for (size_t i = 0; i < n; i++)
    if (keep[i])
      out[o++] = xstrdup(opts[i]);
  return out;
}

static size_t path_depth(const char *p)
{
  size_t n = 0;
  for (size_t i = 0; p[i]; i++)
    if (p[i] != '/' && (i == 0 || p[i - 1] == '/'))
      n++;
  return n;
}

struct pending_mount {
  json_t *obj; /* owned until appended */
  size_t depth;
  size_t seq; /* keeps the sort stable */
};

static int cmp_pending(const void *a, const void *b)
{
  const struct pending_mount *x = a, *y = b;
  if (x->depth != y->depth)
    return x->depth < y->depth ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool user_mounts_on(const struct bothy_run_opts *o, const char *target)
{
  for (size_t i = 0; i < o->n_mounts; i++)
    if (streq(o->mounts[i].target, target))
      return true;
  return false;
}

/* A -v/--mount/--tmpfs mount as docker sets it up: binds recursive and
 * rprivate unless told otherwise; tmpfs noexec, nosuid, nodev unless told
 * otherwise. */
static int user_mount_json(const struct bothy_oci_mount *m, json_t **ret, bothy_error_t *err)
{
  const char *target = m->target ? m->target : "";
  if (target[0] != '/')
    return invalid(err, "invalid mount target \"%s\": must be absolute", target);
  _cleanup_strv_free_ char **opts = NULL;
  const char *source;
  if (streq(m->type, "bind")) {
    if (!m->source || m->source[0] != '/')
      return invalid(err, "bind mount on \"%s\": the source \"%s\" is not an absolute path", target,
                     m->source ? m->source : "");
    source = m->source;
    strv_push(&opts, xstrdup("rbind"));
    strv_push(&opts, xstrdup("rprivate"));
  } else if (streq(m->type, "tmpfs")) {
    source = "tmpfs";
    strv_push(&opts, xstrdup("noexec"));
    strv_push(&opts, xstrdup("nosuid"));
    strv_push(&opts, xstrdup("nodev"));
    strv_push(&opts, xstrdup("rprivate"));
  } else {
    return invalid(err, "mount on \"%s\": unsupported type \"%s\"", target, m->type ? m->type : "");
  }
  for (size_t i = 0; m->options && m->options[i]; i++) {
    const char *opt = m->options[i];
    /* "nocopy" is about filling a new volume (the caller's business); z/Z
     * are SELinux relabelling, which bothy does not do. */
    if (!*opt || streq(opt, "nocopy") || streq(opt, "z") || streq(opt, "Z"))
      continue;
    strv_push(&opts, xstrdup(opt));
  }
  if (m->readonly)
    strv_push(&opts, xstrdup("ro"));
  _cleanup_strv_free_ char **merged = merge_options(opts);
  *ret = json_pack("{s:s, s:s, s:s, s:o}", "destination", target, "type", m->type, "source", source,
                   "options", strv_json(merged));
  return 0;
}

static json_t *mount_json(const char *dst, const char *type, const char *src,
                          const char *const *options)
{
  return json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src,
                   "options", strv_json((char *const *) options));
}

static int build_mounts(const struct bothy_run_opts *o, const char *etc_dir, json_t **ret,
                        bothy_error_t *err)
{
  for (size_t i = 0; i < o->n_mounts; i++)
    for (size_t k = 0; k < i; k++)
      if (streq(o->mounts[i].target, o->mounts[k].target))
        return invalid(err, "duplicate mount point \"%s\"", o->mounts[i].target);

  _cleanup_json_ json_t *mounts = json_array();
  for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++)
    if (!user_mounts_on(o, default_mounts[i].destination))
      json_array_append_new(mounts,
                            mount_json(default_mounts[i].destination, default_mounts[i].type,
                                       default_mounts[i].source, default_mounts[i].options));
  if (o->init_path) {
    if (o->init_path[0] != '/')
      return invalid(err, "the init \"%s\" is not an absolute path", o->init_path);
    json_array_append_new(mounts, mount_json("/dev/init", "bind", o->init_path,
                                             NAMES("bind", "ro", "nosuid", "nodev")));
  }

  /* Then bothy's /etc files and the user's mounts, parents first: docker
   * sorts by the number of path components, so a mount on /data comes
   * before one on /data/cache whatever the order on the command line. */
  size_t n = 0;
  _cleanup_free_ struct pending_mount *p =
      xcalloc(ARRAY_SIZE(etc_files) + o->n_mounts + 1, sizeof(*p));
  int r = 0;
  for (size_t i = 0; i < ARRAY_SIZE(etc_files); i++) {
    if (user_mounts_on(o, etc_files[i]))
      continue;
    _cleanup_free_ char *src = xasprintf("%s/%s", etc_dir, strrchr(etc_files[i], '/') + 1);
    p[n] = (struct pending_mount){ mount_json(etc_files[i], "bind", src,
                                              NAMES("rbind", "rprivate", "ro")),
                                   path_depth(etc_files[i]), n };
    n++;
  }
  for (size_t i = 0; i < o->n_mounts && r == 0; i++) {
    json_t *m = NULL;
    r = user_mount_json(&o->mounts[i], &m, err);
    if (r == 0) {
      p[n] = (struct pending_mount){ m, path_depth(o->mounts[i].target), n };
      n++;
    }
  }
  if (r == 0)
    qsort(p, n, sizeof(*p), cmp_pending);
  for (size_t i = 0; i < n; i++) {
    if (r == 0)
      json_array_append(mounts, p[i].obj);
    json_decref(p[i].obj);
  }
  if (r < 0)
    return r;
  *ret = TAKE_PTR(mounts);
  return 0;
}

/* ---- the whole configuration ---- */

/* docker's --cpus: a CFS quota over a 100 ms period. */
#define CPU_PERIOD_US 100000

int bothy_container_oci_spec(const struct bothy_image_config *img, const struct bothy_run_opts *o,
                             const char *id, const char *rootfs, const char *etc_dir, json_t **ret,
                             bothy_error_t *err)
{
  /* The process: entrypoint + command, docker's rules. */
  _cleanup_strv_free_ char **args = NULL;
  if (o->entrypoint) {
    if (*o->entrypoint)
      strv_push(&args, xstrdup(o->entrypoint));
  } else {
    for (size_t i = 0; img->entrypoint && img->entrypoint[i]; i++)
      strv_push(&args, xstrdup(img->entrypoint[i]));
  }
  /* An --entrypoint resets the image's Cmd, as docker. */
  char *const *cmd = o->args && o->args[0] ? o->args : (o->entrypoint ? NULL : img->cmd);
  for (size_t i = 0; cmd && cmd[i]; i++)
    strv_push(&args, xstrdup(cmd[i]));
  if (!args)
    return bothy_error_set(err, EINVAL, "no command given and the image has none");
  if (o->init_path) {
    /* --init: the init reaps zombies and forwards signals to the command. */
    _cleanup_strv_free_ char **with_init = NULL;
    strv_push(&with_init, xstrdup("/dev/init"));
    strv_push(&with_init, xstrdup("--"));
    for (size_t i = 0; args[i]; i++)
      strv_push(&with_init, xstrdup(args[i]));
    strv_free(args);
    args = TAKE_PTR(with_init);
  }

  _cleanup_strv_free_ char **env = NULL;
  strv_env_set(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (size_t i = 0; img->env && img->env[i]; i++)
    strv_env_set(&env, img->env[i]);
  if (o->tty)
    strv_env_set(&env, "TERM=xterm");
  for (size_t i = 0; o->env && o->env[i]; i++) {
    if (!strchr(o->env[i], '=')) {
      /* -e KEY: the value of KEY here, as docker. */
      const char *v = getenv(o->env[i]);
      if (!v)
        continue;
      _cleanup_free_ char *kv = xasprintf("%s=%s", o->env[i], v);
      strv_env_set(&env, kv);
    } else {
      strv_env_set(&env, o->env[i]);
    }
  }
  _cleanup_free_ char *host = xstrndup(id, 12);
  const char *hostname = o->hostname ? o->hostname : host;
  _cleanup_free_ char *hostenv = xasprintf("HOSTNAME=%s", hostname);
  strv_env_set(&env, hostenv);

  uint32_t uid = 0, gid = 0;
  _cleanup_json_ json_t *gids = NULL;
  if (resolve_user(o->user ? o->user : img->user, rootfs, &uid, &gid, &gids, err) < 0)
    return -1;
  const char *cwd =
      o->workdir ? o->workdir : (img->working_dir && *img->working_dir ? img->working_dir : "/");
  if (cwd[0] != '/')
    return bothy_error_set(err, EINVAL, "the working directory '%s' is not absolute", cwd);

  uint64_t capmask;
  if (final_caps(o, &capmask, err) < 0)
    return -EINVAL;
  _cleanup_strv_free_ char **caps = bothy_caps_names(capmask);

  json_int_t cpu_quota = 0;
  if (o->nano_cpus) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
      ncpu = 1;
    /* The kernel's smallest quota is 1 ms, 0.01 of the period. */
    if (o->nano_cpus < 10000000 || o->nano_cpus > (int64_t) ncpu * 1000000000)
      return invalid(err,
                     "range of CPUs is from 0.01 to %ld.00, as there are only %ld CPUs "
                     "available",
                     ncpu, ncpu);
    cpu_quota = (json_int_t) (o->nano_cpus / (1000000000 / CPU_PERIOD_US));
  }

  _cleanup_json_ json_t *seccomp = NULL;
  if (!o->privileged_seccomp_off) {
    struct sc_env env_sc;
    sc_env_init(&env_sc, capmask);
    if (o->seccomp_json) {
      if (convert_profile(o->seccomp_json, &env_sc, &seccomp, err) < 0)
        return -EINVAL;
    } else {
      seccomp = default_seccomp(&env_sc);
    }
  }

  _cleanup_json_ json_t *mounts = NULL;
  if (build_mounts(o, etc_dir, &mounts, err) < 0)
    return -EINVAL;

  json_t *user = json_pack("{s:I, s:I}", "uid", (json_int_t) uid, "gid", (json_int_t) gid);
  if (json_array_size(gids) > 0)
    json_object_set(user, "additionalGids", gids);
  json_t *proc =
      json_pack("{s:b, s:o, s:o, s:o, s:s, s:b, s:{s:o, s:o, s:o}}", "terminal", o->tty, "user",
                user, "args", strv_json(args), "env", strv_json(env), "cwd", cwd, "noNewPrivileges",
                !o->no_new_privileges_off, "capabilities", "bounding", strv_json(caps), "effective",
                strv_json(caps), "permitted", strv_json(caps));
  json_object_set_new(
      proc, "rlimits",
      json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE", "soft", 1024, "hard", 1024));

  json_t *nss = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc",
                          "type", "uts", "type", "mount", "type", "cgroup");
  if (o->network == BOTHY_NET_NONE)
    json_array_append_new(nss, json_pack("{s:s}", "type", "network"));
  else if (o->network == BOTHY_NET_PATH && o->netns_path)
    json_array_append_new(nss, json_pack("{s:s, s:s}", "type", "network", "path", o->netns_path));
  if (o->userns_size > 0)
    json_array_append_new(nss, json_pack("{s:s}", "type", "user"));

  json_t *resources = json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm");
  if (o->memory > 0)
    json_object_set_new(resources, "memory", json_pack("{s:I}", "limit", (json_int_t) o->memory));
  if (o->pids_limit > 0)
    json_object_set_new(resources, "pids", json_pack("{s:I}", "limit", (json_int_t) o->pids_limit));
  if (cpu_quota > 0)
    json_object_set_new(
        resources, "cpu",
        json_pack("{s:I, s:I}", "quota", cpu_quota, "period", (json_int_t) CPU_PERIOD_US));

  _cleanup_free_ char *cgpath = xasprintf("/bothy/%s", id);
  json_t *lx = json_pack(
      "{s:o, s:o, s:s, s:[s,s,s,s,s,s,s,s,s,s,s], s:[s,s,s,s,s]}", "namespaces", nss, "resources",
      resources, "cgroupsPath", cgpath, "maskedPaths", "/proc/acpi", "/proc/asound", "/proc/kcore",
      "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
      "readonlyPaths", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");
  if (seccomp)
    json_object_set_new(lx, "seccomp", TAKE_PTR(seccomp));
  if (o->userns_size > 0) {
    /* --userns=auto: root inside is an unprivileged id outside. */
    json_object_set_new(lx, "uidMappings",
                        json_pack("[{s:i, s:I, s:I}]", "containerID", 0, "hostID",
                                  (json_int_t) o->userns_start, "size",
                                  (json_int_t) o->userns_size));
    json_object_set_new(lx, "gidMappings",
                        json_pack("[{s:i, s:I, s:I}]", "containerID", 0, "hostID",
                                  (json_int_t) o->userns_start, "size",
                                  (json_int_t) o->userns_size));
  }

  *ret = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.2.0", "process",
                   proc, "root", "path", rootfs, "readonly", o->read_only, "hostname", hostname,
                   "mounts", TAKE_PTR(mounts), "linux", lx);
  return 0;
}
