/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/seccomp.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/strv.h"
#include "base/xalloc.h"

struct bothy_seccomp_filter {
  struct sock_filter *insns;
  size_t n_insns;
  unsigned flags; /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release)
#define _cleanup_scmp_ _cleanup_(seccomp_releasep)

/* The kernel clamps an SCMP_ACT_ERRNO value above MAX_ERRNO (include/linux/err.h). */
#define ERRNO_MAX 4095
#define TRACE_MAX 0xffff

const char *const bothy_seccomp_known_actions[] = {
  "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          NULL,
};

static const struct {
  const char *name;
  uint32_t action;
} simple_actions[] = {
  { "SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD },
  { "SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS },
  { "SCMP_ACT_TRAP", SCMP_ACT_TRAP },
  { "SCMP_ACT_ALLOW", SCMP_ACT_ALLOW },
  { "SCMP_ACT_LOG", SCMP_ACT_LOG },
};

const char *const bothy_seccomp_known_operators[] = {
  "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",        "SCMP_CMP_EQ",
  "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ", NULL,
};

static const enum scmp_compare operators[] = {
  SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ,
};

const char *const bothy_seccomp_known_flags[] = {
  "SECCOMP_FILTER_FLAG_TSYNC",
  "SECCOMP_FILTER_FLAG_LOG",
  "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  NULL,
};

static const struct {
  unsigned kernel_flag;
  enum scmp_filter_attr attr; /* setting it makes libseccomp check kernel support */
  unsigned min_api;           /* seccomp_api_get() level that supports it */
} flag_table[] = {
  { SECCOMP_FILTER_FLAG_TSYNC, SCMP_FLTATR_CTL_TSYNC, 2 },
  { SECCOMP_FILTER_FLAG_LOG, SCMP_FLTATR_CTL_LOG, 3 },
  { SECCOMP_FILTER_FLAG_SPEC_ALLOW, SCMP_FLTATR_CTL_SSB, 4 },
};

/* Every architecture the runtime spec names; libseccomp's name is the suffix
 * in lowercase. */
static const char *const spec_archs[] = {
  "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
  "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",    "SCMP_ARCH_SH",       "SCMP_ARCH_SHEB",
};

#define ARCH_PREFIX "SCMP_ARCH_"

static int flag_index(const char *name)
{
  for (size_t i = 0; bothy_seccomp_known_flags[i]; i++)
    if (streq(name, bothy_seccomp_known_flags[i]))
      return (int) i;
  return -1;
}

/* libseccomp's token for a spec architecture name: 0 if libseccomp does not
 * support it, -1 if the spec does not name it. */
static int64_t arch_token(const char *name)
{
  bool known = false;
  for (size_t i = 0; i < ARRAY_SIZE(spec_archs); i++)
    if (streq(name, spec_archs[i]))
      known = true;
  if (!known)
    return -1;
  _cleanup_free_ char *lower = xstrdup(name + strlen(ARCH_PREFIX));
  for (char *p = lower; *p; p++)
    *p = (char) tolower((unsigned char) *p);
  return seccomp_arch_resolve_name(lower);
}

/* errno_ret: BOTHY_UNSET or the value given in the spec. what/errno_what name
 * the fields for messages. */
static int parse_action(const char *name, int64_t errno_ret, const char *what,
                        const char *errno_what, uint32_t *ret, bothy_error_t *err)
{
  if (!name)
    return bothy_error_set(err, 0, "%s: missing action", what);
  if (streq(name, "SCMP_ACT_NOTIFY"))
    return bothy_error_set(err, EOPNOTSUPP,
                           "%s: SCMP_ACT_NOTIFY is not supported (bothy runs notify-free "
                           "seccomp profiles)",
                           what);
  bool is_errno = streq(name, "SCMP_ACT_ERRNO"), is_trace = streq(name, "SCMP_ACT_TRACE");
  if (is_errno || is_trace) {
    int64_t max = is_errno ? ERRNO_MAX : TRACE_MAX;
    int64_t v = errno_ret == BOTHY_UNSET ? EPERM : errno_ret;
    if (v < 0 || v > max)
      return bothy_error_set(err, 0, "%s: %" PRId64 " is out of range for %s (0 to %" PRId64 ")",
                             errno_what, v, name, max);
    *ret = is_errno ? SCMP_ACT_ERRNO((uint32_t) v) : SCMP_ACT_TRACE((uint32_t) v);
    return 0;
  }
  for (size_t i = 0; i < ARRAY_SIZE(simple_actions); i++) {
    if (!streq(name, simple_actions[i].name))
      continue;
    /* runc ignores it; crun refuses it. A value that cannot take effect is a
     * mistake in the profile, so say so before anything runs. */
    if (errno_ret != BOTHY_UNSET)
      return bothy_error_set(err, 0,
                             "%s: only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s",
                             errno_what, name);
    *ret = simple_actions[i].action;
    return 0;
  }
  return bothy_error_set(err, 0, "%s: unknown action '%s'", what, name);
}

static int parse_condition(const struct bothy_seccomp_arg *a, const char *what,
                           struct scmp_arg_cmp *ret, bothy_error_t *err)
{
  if (a->index > 5)
    return bothy_error_set(err, 0, "%s.index: %u is out of range (0 to 5)", what, a->index);
  for (size_t i = 0; bothy_seccomp_known_operators[i]; i++)
    if (streq(a->op, bothy_seccomp_known_operators[i])) {
      /* For SCMP_CMP_MASKED_EQ datum_a is the mask and datum_b the value it
       * must equal, which is the order of value and valueTwo in the spec. */
      *ret = (struct scmp_arg_cmp){
        .arg = a->index,
        .op = operators[i],
        .datum_a = a->value,
        .datum_b = a->value_two,
      };
      return 0;
    }
  return bothy_error_set(err, 0, "%s.op: unknown operator '%s'", what, a->op ? a->op : "");
}

static int add_syscall_rules(scmp_filter_ctx ctx, const struct bothy_seccomp_syscall *sc,
                             size_t idx, uint32_t default_action, bothy_error_t *err)
{
  _cleanup_free_ char *what = xasprintf("linux.seccomp.syscalls[%zu]", idx);
  _cleanup_free_ char *what_action = xasprintf("%s.action", what);
  _cleanup_free_ char *what_errno = xasprintf("%s.errnoRet", what);
  uint32_t action;
  if (parse_action(sc->action, sc->errno_ret, what_action, what_errno, &action, err) < 0)
    return -1;

  /* Conditions are checked even when the rule ends up skipped, so that a
   * mistake is found whatever the kernel and the default action are. */
  _cleanup_free_ struct scmp_arg_cmp *cmps = xcalloc(sc->n_args + 1, sizeof(*cmps));
  unsigned per_index[6] = { 0 };
  bool same_index = false;
  for (size_t k = 0; k < sc->n_args; k++) {
    _cleanup_free_ char *what_arg = xasprintf("%s.args[%zu]", what, k);
    if (parse_condition(&sc->args[k], what_arg, &cmps[k], err) < 0)
      return -1;
    if (++per_index[sc->args[k].index] > 1)
      same_index = true;
  }

  if (action == default_action) {
    log_debug("%s: action is the default action, skipping", what);
    return 0;
  }

  for (size_t j = 0; sc->names && sc->names[j]; j++) {
    const char *name = sc->names[j];
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
      log_debug("%s: unknown syscall '%s', skipping", what, name);
      continue;
    }
    int r = 0;
    if (!same_index) {
      r = seccomp_rule_add_array(ctx, action, nr, (unsigned) sc->n_args, sc->n_args ? cmps : NULL);
    } else {
      /* libseccomp refuses two comparisons of one argument in a rule (they
       * would have to be OR-ed); runc and crun then give each condition a
       * rule of its own, and profiles rely on that. */
      for (size_t k = 0; k < sc->n_args && r >= 0; k++)
        r = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[k]);
    }
    if (r < 0)
      return bothy_error_set(err, -r, "%s: cannot add a rule for '%s'", what, name);
  }
  return 0;
}

static size_t count_names(const struct bothy_seccomp *s)
{
  size_t n = 0;
  for (size_t i = 0; i < s->n_syscalls; i++)
    n += strv_length(s->syscalls[i].names);
  return n;
}

static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **ret, size_t *ret_n,
                      bothy_error_t *err)
{
  _cleanup_close_ int fd = memfd_create("bothy-seccomp", MFD_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create a memfd for the seccomp filter");
  int r = seccomp_export_bpf(ctx, fd);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot generate the seccomp filter");
  if (lseek(fd, 0, SEEK_SET) < 0)
    return bothy_error_errno(err, "cannot rewind the seccomp filter memfd");
  _cleanup_free_ char *buf = NULL;
  size_t len = 0;
  if (bothy_read_fd(fd, &buf, &len, err) < 0)
    return bothy_error_prefix(err, "reading the seccomp filter");
  if (len == 0 || len % sizeof(struct sock_filter) != 0)
    return bothy_error_set(err, 0, "libseccomp exported a seccomp filter of %zu bytes", len);
  size_t n = len / sizeof(struct sock_filter);
  /* The kernel refuses longer programs (EINVAL at load time); say it now. */
  if (n > BPF_MAXINSNS)
    return bothy_error_set(err, E2BIG,
                           "the seccomp filter has %zu instructions, more than the kernel's "
                           "limit of %d",
                           n, BPF_MAXINSNS);
  /* malloc's alignment suits struct sock_filter. */
  *ret = (struct sock_filter *) (void *) TAKE_PTR(buf);
  *ret_n = n;
  return 0;
}

int bothy_seccomp_compile(const struct bothy_seccomp *s, struct bothy_seccomp_filter **ret,
                          bothy_error_t *err)
{
  if (!s) {
    *ret = NULL;
    return 0;
  }
  if (s->listener_path)
    return bothy_error_set(err, EOPNOTSUPP,
                           "linux.seccomp.listenerPath: seccomp notification is not supported "
                           "(bothy runs notify-free seccomp profiles)");

  uint32_t default_action;
  if (parse_action(s->default_action, s->default_errno_ret, "linux.seccomp.defaultAction",
                   "linux.seccomp.defaultErrnoRet", &default_action, err) < 0)
    return -1;

  _cleanup_scmp_ scmp_filter_ctx ctx = seccomp_init(default_action);
  if (!ctx)
    return bothy_error_set(err, 0,
                           "linux.seccomp.defaultAction: cannot create a seccomp filter with "
                           "action '%s' (not supported by the kernel?)",
                           s->default_action);
  /* Negative errno values from libseccomp instead of a generic -ECANCELED
   * (libseccomp >= 2.5); messages are better for it, nothing depends on it. */
  (void) seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
  /* The program is exported and loaded with seccomp(2) by
   * bothy_seccomp_load(), so libseccomp never sets no_new_privs; clear the
   * attribute all the same, in case the context is ever loaded directly:
   * no_new_privs is process.noNewPrivileges' business, not seccomp's. */
  int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot clear the seccomp filter's no_new_privs attribute");

  for (size_t i = 0; s->architectures && s->architectures[i]; i++) {
    const char *name = s->architectures[i];
    int64_t token = arch_token(name);
    if (token < 0)
      return bothy_error_set(err, 0, "linux.seccomp.architectures[%zu]: unknown architecture '%s'",
                             i, name);
    if (token == 0) {
      log_warning("linux.seccomp.architectures[%zu]: architecture '%s' is not supported by "
                  "libseccomp %u.%u.%u, ignoring",
                  i, name, seccomp_version()->major, seccomp_version()->minor,
                  seccomp_version()->micro);
      continue;
    }
    r = seccomp_arch_add(ctx, (uint32_t) token);
    /* The native architecture is in every new filter already. */
    if (r < 0 && r != -EEXIST)
      return bothy_error_set(err, -r, "linux.seccomp.architectures[%zu]: cannot add '%s'", i, name);
  }

  unsigned kernel_flags = 0;
  for (size_t i = 0; s->flags && s->flags[i]; i++) {
    const char *name = s->flags[i];
    if (streq(name, "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"))
      return bothy_error_set(err, EOPNOTSUPP,
                             "linux.seccomp.flags[%zu]: '%s' applies to seccomp notification, "
                             "which bothy does not support",
                             i, name);
    int f = flag_index(name);
    if (f < 0)
      return bothy_error_set(err, 0, "linux.seccomp.flags[%zu]: unknown flag '%s'", i, name);
    r = seccomp_attr_set(ctx, flag_table[f].attr, 1);
    if (r < 0)
      return bothy_error_set(err, -r,
                             "linux.seccomp.flags[%zu]: flag '%s' is not supported by the "
                             "kernel or libseccomp",
                             i, name);
    kernel_flags |= flag_table[f].kernel_flag;
  }

  /* Binary search over the syscall numbers instead of a linear list for
   * longer profiles (docker's has ~350 names), as runc does. libseccomp
   * <= 2.5.4 mishandles the tree with no rules at all, hence the threshold. */
  if (count_names(s) > 32) {
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (r < 0)
      log_debug("seccomp binary tree optimization not available: %s", strerror(-r));
  }

  for (size_t i = 0; i < s->n_syscalls; i++)
    if (add_syscall_rules(ctx, &s->syscalls[i], i, default_action, err) < 0)
      return -1;

  _cleanup_free_ struct sock_filter *insns = NULL;
  size_t n = 0;
  if (export_bpf(ctx, &insns, &n, err) < 0)
    return -1;
  struct bothy_seccomp_filter *f = xmalloc0(sizeof(*f));
  f->insns = TAKE_PTR(insns);
  f->n_insns = n;
  f->flags = kernel_flags;
  log_debug("seccomp filter compiled: %zu instructions, flags 0x%x", n, kernel_flags);
  *ret = f;
  return 0;
}

int bothy_seccomp_load(const struct bothy_seccomp_filter *f, bothy_error_t *err)
{
  if (!f)
    return 0;
  struct sock_fprog prog = {
    .len = (unsigned short) f->n_insns,
    .filter = f->insns,
  };
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags, &prog);
  /* seccomp(2) appeared in Linux 3.17; prctl() does the same without flags. */
  if (r < 0 && errno == ENOSYS && f->flags == 0)
    r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  if (r < 0) {
    if (errno == EACCES)
      return bothy_error_errno(err, "cannot load the seccomp filter: the process has neither "
                                    "no_new_privileges set nor CAP_SYS_ADMIN");
    return bothy_error_errno(err, "cannot load the seccomp filter");
  }
  /* With TSYNC a positive value is the id of a thread that could not be
   * synchronised; the filter was not installed. */
  if (r > 0)
    return bothy_error_set(err, 0,
                           "cannot load the seccomp filter: thread %ld could not be "
                           "synchronised",
                           r);
  return 0;
}

size_t bothy_seccomp_filter_size(const struct bothy_seccomp_filter *f)
{
  return f ? f->n_insns : 0;
}

struct bothy_seccomp_filter *bothy_seccomp_filter_free(struct bothy_seccomp_filter *f)
{
  if (!f)
    return NULL;
  free(f->insns);
  free(f);
  return NULL;
}

bool bothy_seccomp_flag_supported(const char *flag)
{
  int f = flag_index(flag);
  return f >= 0 && seccomp_api_get() >= flag_table[f].min_api;
}

char **bothy_seccomp_archs(void)
{
  char **v = xcalloc(1, sizeof(char *));
  for (size_t i = 0; i < ARRAY_SIZE(spec_archs); i++)
    if (arch_token(spec_archs[i]) > 0)
      strv_push(&v, xstrdup(spec_archs[i]));
  return v;
}

/* ---- the cache of compiled filters ------------------------------------- */

#define CACHE_MAGIC "bothy-seccomp-1\n"

struct keybuf {
  char *buf;
  size_t len, cap;
};

static void key_add(struct keybuf *k, const char *tag, const char *v)
{
  char head[64];
  size_t vl = v ? strlen(v) : 0;
  int hn = snprintf(head, sizeof(head), "%s=%zu:", tag, vl);
  size_t need = k->len + (size_t) hn + vl + 2;
  if (need > k->cap) {
    k->cap = need * 2;
    k->buf = xrealloc(k->buf, k->cap);
  }
  memcpy(k->buf + k->len, head, (size_t) hn);
  k->len += (size_t) hn;
  if (vl)
    memcpy(k->buf + k->len, v, vl);
  k->len += vl;
  k->buf[k->len++] = '\n';
  k->buf[k->len] = '\0';
}

/* Everything the compiled program depends on, spelled out: the profile, the
 * library and the kernel (compile checks what the kernel supports). */
static char *cache_key(const struct bothy_seccomp *s, size_t *ret_len)
{
  struct keybuf kb = { 0 };
  char num[64];
  struct utsname u;
  const struct scmp_version *v = seccomp_version();
  snprintf(num, sizeof(num), "%u.%u.%u", v->major, v->minor, v->micro);
  key_add(&kb, "libseccomp", num);
  if (uname(&u) == 0) {
    key_add(&kb, "kernel", u.release);
    key_add(&kb, "machine", u.machine);
  }
  key_add(&kb, "default", s->default_action);
  snprintf(num, sizeof(num), "%" PRId64, s->default_errno_ret);
  key_add(&kb, "errno", num);
  for (size_t i = 0; s->architectures && s->architectures[i]; i++)
    key_add(&kb, "arch", s->architectures[i]);
  for (size_t i = 0; s->flags && s->flags[i]; i++)
    key_add(&kb, "flag", s->flags[i]);
  for (size_t i = 0; i < s->n_syscalls; i++) {
    const struct bothy_seccomp_syscall *sc = &s->syscalls[i];
    key_add(&kb, "rule", sc->action);
    snprintf(num, sizeof(num), "%" PRId64, sc->errno_ret);
    key_add(&kb, "errno", num);
    for (size_t j = 0; sc->names && sc->names[j]; j++)
      key_add(&kb, "name", sc->names[j]);
    for (size_t j = 0; j < sc->n_args; j++) {
      snprintf(num, sizeof(num), "%u,%" PRIu64 ",%" PRIu64, sc->args[j].index, sc->args[j].value,
               sc->args[j].value_two);
      key_add(&kb, "arg", num);
      key_add(&kb, "op", sc->args[j].op);
    }
  }
  *ret_len = kb.len;
  return kb.buf;
}

/* FNV-1a: only names the file; the whole key inside is what is compared. */
static uint64_t fnv1a(const char *s, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char) s[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

struct cache_header {
  char magic[16];
  uint32_t key_len;
  uint32_t flags;
  uint32_t n_insns;
  uint32_t pad;
  uint64_t sum; /* FNV-1a of the program: a damaged file is a miss */
};

static struct bothy_seccomp_filter *cache_read(int dfd, const char *name, const char *key,
                                               size_t key_len)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (bothy_read_file(dfd, name, &data, &len, NULL) < 0 || len < sizeof(struct cache_header))
    return NULL;
  struct cache_header h;
  memcpy(&h, data, sizeof(h));
  if (memcmp(h.magic, CACHE_MAGIC, sizeof(h.magic)) != 0 || h.key_len != key_len ||
      h.n_insns == 0 || h.n_insns > BPF_MAXINSNS ||
      len != sizeof(h) + key_len + (size_t) h.n_insns * sizeof(struct sock_filter) ||
      memcmp(data + sizeof(h), key, key_len) != 0 ||
      fnv1a(data + sizeof(h) + key_len, (size_t) h.n_insns * sizeof(struct sock_filter)) != h.sum)
    return NULL;
  struct bothy_seccomp_filter *f = xmalloc0(sizeof(*f));
  f->n_insns = h.n_insns;
  f->flags = h.flags;
  f->insns = xmalloc(f->n_insns * sizeof(struct sock_filter));
  memcpy(f->insns, data + sizeof(h) + key_len, f->n_insns * sizeof(struct sock_filter));
  return f;
}

static void cache_write(int dfd, const char *name, const char *key, size_t key_len,
                        const struct bothy_seccomp_filter *f)
{
  struct cache_header h = { .key_len = (uint32_t) key_len,
                            .flags = f->flags,
                            .n_insns = (uint32_t) f->n_insns };
  memcpy(h.magic, CACHE_MAGIC, sizeof(h.magic));
  size_t body = f->n_insns * sizeof(struct sock_filter);
  size_t len = sizeof(h) + key_len + body;
  _cleanup_free_ char *data = xmalloc(len);
  memcpy(data, &h, sizeof(h));
  memcpy(data + sizeof(h), key, key_len);
  memcpy(data + sizeof(h) + key_len, f->insns, body);
  h.sum = fnv1a(data + sizeof(h) + key_len, body);
  memcpy(data, &h, sizeof(h));
  /* Replaced by rename: a reader sees the old file or the new one. */
  bothy_write_file_replace(dfd, name, data, len, 0600, NULL);
}

int bothy_seccomp_compile_cached(const struct bothy_seccomp *s, const char *cache_dir,
                                 struct bothy_seccomp_filter **ret, bothy_error_t *err)
{
  if (!s || !cache_dir || s->listener_path)
    return bothy_seccomp_compile(s, ret, err);
  size_t key_len = 0;
  _cleanup_free_ char *key = cache_key(s, &key_len);
  char name[32];
  snprintf(name, sizeof(name), "%016" PRIx64, fnv1a(key, key_len));
  if (mkdir(cache_dir, 0700) < 0 && errno != EEXIST)
    return bothy_seccomp_compile(s, ret, err);
  _cleanup_close_ int dfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  /* Only a directory that is root's own and private is trusted. */
  if (dfd < 0 || fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0077))
    return bothy_seccomp_compile(s, ret, err);
  struct bothy_seccomp_filter *f = cache_read(dfd, name, key, key_len);
  if (f) {
    log_debug("seccomp filter from the cache: %zu instructions", f->n_insns);
    *ret = f;
    return 0;
  }
  if (bothy_seccomp_compile(s, &f, err) < 0)
    return -1;
  cache_write(dfd, name, key, key_len, f);
  *ret = f;
  return 0;
}
