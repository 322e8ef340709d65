/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `features`: what this runtime implements (runtime-spec features.md). */
#include "base/strv.h"
#include "runtime/caps.h"
#include "runtime/container.h"

static json_t *str_array(const char *const *v, size_t n)
{
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

#define ARR(v) str_array((v), ARRAY_SIZE(v))

json_t *bothy_runtime_features(void)
{
  static const char *const hooks[] = { "prestart",       "createRuntime", "createContainer",
                                       "startContainer", "poststart",     "poststop" };
  static const char *const mount_options[] = {
    "async",         "atime",       "bind",       "defaults", "dev",
    "diratime",      "dirsync",     "exec",       "iversion", "lazytime",
    "loud",          "mand",        "noatime",    "nodev",    "nodiratime",
    "noexec",        "noiversion",  "nolazytime", "nomand",   "norelatime",
    "nostrictatime", "nosuid",      "private",    "rbind",    "relatime",
    "remount",       "ro",          "rprivate",   "rro",      "rshared",
    "rslave",        "runbindable", "rw",         "shared",   "silent",
    "slave",         "strictatime", "suid",       "sync",     "unbindable",
  };
  static const char *const namespaces[] = { "cgroup", "ipc",  "mount", "network",
                                            "pid",    "time", "user",  "uts" };
  static const char *const actions[] = {
    "SCMP_ACT_ALLOW",       "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",   "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
  };
  static const char *const operators[] = { "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
                                           "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
                                           "SCMP_CMP_NE" };
  static const char *const archs[] = { "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64", "SCMP_ARCH_X32",
                                       "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",    "SCMP_ARCH_PPC64LE",
                                       "SCMP_ARCH_S390X",   "SCMP_ARCH_RISCV64" };
  static const char *const flags[] = { "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                       "SECCOMP_FILTER_FLAG_SPEC_ALLOW" };

  _cleanup_strv_free_ char **caps = bothy_caps_all_names();
  json_t *capa = json_array();
  for (size_t i = 0; caps && caps[i]; i++)
    json_array_append_new(capa, json_string(caps[i]));

  json_t *seccomp = json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "enabled", 1, "actions",
                              ARR(actions), "operators", ARR(operators), "archs", ARR(archs),
                              "knownFlags", ARR(flags), "supportedFlags", ARR(flags));
  json_t *lx = json_pack(
      "{s:o, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:o, s:{s:b}, s:{s:b}, s:{s:b}, s:{s:{s:b}}}",
      "namespaces", ARR(namespaces), "capabilities", capa, "cgroup", "v1", 1, "v2", 1, "systemd", 0,
      "systemdUser", 0, "rdma", 0, "seccomp", seccomp, "apparmor", "enabled", 0, "selinux",
      "enabled", 0, "intelRdt", "enabled", 0, "mountExtensions", "idmap", "enabled", 0);
  return json_pack("{s:s, s:s, s:o, s:o, s:o, s:{s:s}}", "ociVersionMin", "1.0.0", "ociVersionMax",
                   "1.2.0", "hooks", ARR(hooks), "mountOptions", ARR(mount_options), "linux", lx,
                   "annotations", "org.bothy.version", BOTHY_VERSION);
}
