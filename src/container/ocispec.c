/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/ocispec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/spec.h"

/* docker's default capability set. */
static const char *const default_caps[] = {
  "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
  "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
  "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
  "CAP_KILL",    "CAP_AUDIT_WRITE",
};

/* Syscalls a container has no business making: they reach the host kernel's
 * global state (modules, kexec, swap, the clock, keyrings, accounting) or
 * are the usual tools of escapes (bpf, userfaultfd, perf, open_by_handle).
 * Denied with EPERM whatever the capabilities; everything else is allowed.
 * (docker's profile is an allow-list of ~350 names; this deny-list covers
 * what that list leaves out and matters on a host.) */
static const char *const denied_syscalls[] = {
  "acct",
  "add_key",
  "bpf",
  "clock_adjtime",
  "clock_settime",
  "create_module",
  "delete_module",
  "finit_module",
  "get_kernel_syms",
  "get_mempolicy",
  "init_module",
  "ioperm",
  "iopl",
  "kcmp",
  "kexec_file_load",
  "kexec_load",
  "keyctl",
  "lookup_dcookie",
  "mbind",
  "move_pages",
  "name_to_handle_at",
  "nfsservctl",
  "open_by_handle_at",
  "perf_event_open",
  "personality",
  "pivot_root",
  "process_vm_readv",
  "process_vm_writev",
  "ptrace",
  "query_module",
  "quotactl",
  "reboot",
  "request_key",
  "set_mempolicy",
  "setns",
  "settimeofday",
  "stime",
  "swapoff",
  "swapon",
  "sysfs",
  "_sysctl",
  "umount",
  "umount2",
  "unshare",
  "uselib",
  "userfaultfd",
  "ustat",
  "vm86",
  "vm86old",
  "mount",
  "fsopen",
  "fsmount",
  "fsconfig",
  "move_mount",
  "open_tree",
  "mount_setattr",
  "fspick",
};

static json_t *strv_json(char *const *v)
{
  json_t *a = json_array();
  for (size_t i = 0; v && v[i]; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

static json_t *caps_json(void)
{
  json_t *a = json_array();
  for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++)
    json_array_append_new(a, json_string(default_caps[i]));
  return a;
}

/* Looks NAME up in the image's /etc/passwd or /etc/group: the id, or -1. */
static long lookup_id(const char *rootfs, const char *file, const char *name)
{
  _cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return -1;
  _cleanup_close_ int fd = bothy_open_in_root(root, file, O_RDONLY, 0);
  if (fd < 0)
    return -1;
  _cleanup_free_ char *data = NULL;
  if (bothy_read_fd(fd, &data, NULL, NULL) < 0)
    return -1;
  char *save = NULL;
  for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *f[4] = { 0 };
    char *s2 = line;
    for (int k = 0; k < 4 && s2; k++) {
      f[k] = s2;
      s2 = strchr(s2, ':');
      if (s2)
        *s2++ = '\0';
    }
    if (f[0] && f[2] && streq(f[0], name))
      return strtol(f[2], NULL, 10);
  }
  return -1;
}

static int resolve_user(const char *spec, const char *rootfs, uint32_t *uid, uint32_t *gid,
                        bothy_error_t *err)
{
  *uid = 0;
  *gid = 0;
  if (!spec || !*spec)
    return 0;
  _cleanup_free_ char *u = xstrdup(spec);
  char *g = strchr(u, ':');
  if (g)
    *g++ = '\0';
  char *end;
  long v = strtol(u, &end, 10);
  if (*u && !*end) {
    *uid = (uint32_t) v;
    /* A numeric user's group: its passwd entry's, else the same number is
     * docker's choice of 0; use 0. */
  } else {
    long id = lookup_id(rootfs, "/etc/passwd", u);
    if (id < 0)
      return bothy_error_set(err, ENOENT,
                             "unable to find user %s: no matching entries in passwd "
                             "file",
                             u);
    *uid = (uint32_t) id;
    /* The user's primary group, from the same line. */
    _cleanup_close_ int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int fd = root >= 0 ? bothy_open_in_root(root, "/etc/passwd", O_RDONLY, 0) : -1;
    _cleanup_free_ char *data = NULL;
    if (fd >= 0 && bothy_read_fd(fd, &data, NULL, NULL) == 0) {
      char *save = NULL;
      for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(u);
        if (strncmp(line, u, n) == 0 && line[n] == ':') {
          char *p = line;
          for (int k = 0; k < 3 && p; k++) {
            p = strchr(p, ':');
            if (p)
              p++;
          }
          if (p)
            *gid = (uint32_t) strtol(p, NULL, 10);
        }
      }
    }
  }
  if (g) {
    v = strtol(g, &end, 10);
    if (*g && !*end) {
      *gid = (uint32_t) v;
    } else {
      long id = lookup_id(rootfs, "/etc/group", g);
      if (id < 0)
        return bothy_error_set(err, ENOENT,
                               "unable to find group %s: no matching entries in "
                               "group file",
                               g);
      *gid = (uint32_t) id;
    }
  }
  return 0;
}

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
  char *const *cmd = o->args && o->args[0] ? o->args : (o->entrypoint ? NULL : img->cmd);
  if (o->args && o->args[0])
    cmd = o->args;
  for (size_t i = 0; cmd && cmd[i]; i++)
    strv_push(&args, xstrdup(cmd[i]));
  if (!args)
    return bothy_error_set(err, EINVAL, "no command given and the image has none");

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
  if (resolve_user(o->user ? o->user : img->user, rootfs, &uid, &gid, err) < 0)
    return -1;
  const char *cwd =
      o->workdir ? o->workdir : (img->working_dir && *img->working_dir ? img->working_dir : "/");
  if (cwd[0] != '/')
    return bothy_error_set(err, EINVAL, "the working directory '%s' is not absolute", cwd);

  json_t *proc = json_pack("{s:b, s:{s:i, s:i}, s:o, s:o, s:s, s:b, s:{s:o, s:o, s:o}}", "terminal",
                           o->tty, "user", "uid", (json_int_t) uid, "gid", (json_int_t) gid, "args",
                           strv_json(args), "env", strv_json(env), "cwd", cwd, "noNewPrivileges",
                           !o->no_new_privileges_off, "capabilities", "bounding", caps_json(),
                           "effective", caps_json(), "permitted", caps_json());
  json_object_set_new(
      proc, "rlimits",
      json_pack("[{s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE", "soft", 1024, "hard", 1024));

  json_t *mounts = json_array();
#define MOUNT(dst, type, src, ...)                                                                 \
  json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type",      \
                                          type, "source", src, "options",                          \
                                          strv_json((char *const[]){ __VA_ARGS__, NULL })))
  MOUNT("/proc", "proc", "proc", "nosuid", "noexec", "nodev");
  MOUNT("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k");
  MOUNT("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
        "mode=0620", "gid=5");
  MOUNT("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k");
  MOUNT("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev");
  MOUNT("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro");
  MOUNT("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro");
  _cleanup_free_ char *hn = xasprintf("%s/hostname", etc_dir);
  _cleanup_free_ char *hs = xasprintf("%s/hosts", etc_dir);
  _cleanup_free_ char *rc = xasprintf("%s/resolv.conf", etc_dir);
  MOUNT("/etc/hostname", "bind", hn, "rbind", "rprivate", "ro");
  MOUNT("/etc/hosts", "bind", hs, "rbind", "rprivate", "ro");
  MOUNT("/etc/resolv.conf", "bind", rc, "rbind", "rprivate", "ro");
#undef MOUNT

  json_t *nss = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc",
                          "type", "uts", "type", "mount", "type", "cgroup");
  if (o->network == BOTHY_NET_NONE)
    json_array_append_new(nss, json_pack("{s:s}", "type", "network"));

  json_t *resources = json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm");
  if (o->memory > 0)
    json_object_set_new(resources, "memory", json_pack("{s:I}", "limit", (json_int_t) o->memory));
  if (o->pids_limit > 0)
    json_object_set_new(resources, "pids", json_pack("{s:I}", "limit", (json_int_t) o->pids_limit));

  _cleanup_free_ char *cgpath = xasprintf("/bothy/%s", id);
  json_t *lx = json_pack(
      "{s:o, s:o, s:s, s:[s,s,s,s,s,s,s,s,s,s,s], s:[s,s,s,s,s]}", "namespaces", nss, "resources",
      resources, "cgroupsPath", cgpath, "maskedPaths", "/proc/acpi", "/proc/asound", "/proc/kcore",
      "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
      "readonlyPaths", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");
  if (!o->privileged_seccomp_off) {
    json_t *sc = json_array();
    json_t *names = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(denied_syscalls); i++)
      json_array_append_new(names, json_string(denied_syscalls[i]));
    json_array_append_new(sc, json_pack("{s:o, s:s, s:i}", "names", names, "action",
                                        "SCMP_ACT_ERRNO", "errnoRet", EPERM));
    json_object_set_new(lx, "seccomp",
                        json_pack("{s:s, s:o}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls", sc));
  }

  *ret = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.2.0", "process",
                   proc, "root", "path", rootfs, "readonly", o->read_only, "hostname", hostname,
                   "mounts", mounts, "linux", lx);
  return 0;
}
