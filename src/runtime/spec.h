/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The OCI runtime spec (config.json, runtime-spec 1.2, Linux) parsed into C.
 *
 * bothy_spec_load() reads and validates the whole document up front, so that
 * `create` fails before it changes anything on the host. Strings and arrays
 * are owned by the spec and freed by bothy_spec_free(). Optional integers use
 * BOTHY_UNSET (INT64_MIN) for "not given". The original JSON is kept in
 * spec->json (for the state directory and for `exec`). */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/error.h"

#define BOTHY_UNSET INT64_MIN

struct bothy_id_mapping {
  uint32_t container_id;
  uint32_t host_id;
  uint32_t size;
};

struct bothy_mount {
  char *destination;
  char *type;
  char *source;
  char **options; /* as given */
  /* Derived from options by the parser: */
  unsigned long flags;       /* MS_* to set */
  unsigned long clear_flags; /* MS_* cleared by "rw", "suid", "dev", "exec"... */
  unsigned long propagation; /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE (| MS_REC) or 0 */
  char *data;                /* unknown options, comma-joined, for mount(2)'s data */
  bool bind;                 /* bind or rbind */
  bool recursive_ro;         /* "rro": MOUNT_ATTR_RDONLY with AT_RECURSIVE */
  bool idmap;                /* "idmap"/"ridmap" or mappings given */
  struct bothy_id_mapping *uid_mappings;
  size_t n_uid_mappings;
  struct bothy_id_mapping *gid_mappings;
  size_t n_gid_mappings;
};

struct bothy_rlimit {
  int resource; /* RLIMIT_* */
  uint64_t soft;
  uint64_t hard;
};

struct bothy_caps_spec {
  char **bounding;
  char **effective;
  char **inheritable;
  char **permitted;
  char **ambient;
};

struct bothy_process {
  bool terminal;
  unsigned console_height, console_width;
  char *cwd;
  char **env;
  char **args;
  uid_t uid;
  gid_t gid;
  int64_t umask; /* BOTHY_UNSET or 0..0777 */
  gid_t *additional_gids;
  size_t n_additional_gids;
  bool has_caps;
  struct bothy_caps_spec caps;
  struct bothy_rlimit *rlimits;
  size_t n_rlimits;
  bool no_new_privileges;
  char *apparmor_profile;
  char *selinux_label;
  int64_t oom_score_adj; /* BOTHY_UNSET or -1000..1000 */
};

enum bothy_ns_type {
  BOTHY_NS_PID,
  BOTHY_NS_NETWORK,
  BOTHY_NS_MOUNT,
  BOTHY_NS_IPC,
  BOTHY_NS_UTS,
  BOTHY_NS_USER,
  BOTHY_NS_CGROUP,
  BOTHY_NS_TIME,
  _BOTHY_NS_MAX,
  _BOTHY_NS_INVALID = -22,
};

struct bothy_namespace {
  bool enabled; /* listed in linux.namespaces */
  char *path;   /* join this one instead of creating one */
};

struct bothy_device {
  char *path;
  char type; /* 'c', 'b', 'u', 'p' */
  int64_t major, minor;
  int64_t file_mode; /* BOTHY_UNSET: 0666 */
  int64_t uid, gid;  /* BOTHY_UNSET: 0 */
};

struct bothy_device_rule {
  bool allow;
  char type;     /* 'a', 'c', 'b' */
  int64_t major; /* -1: any */
  int64_t minor; /* -1: any */
  char *access;  /* subset of "rwm"; NULL: "rwm" */
};

struct bothy_weight_device {
  int64_t major, minor;
  int64_t weight;      /* BOTHY_UNSET if absent */
  int64_t leaf_weight; /* BOTHY_UNSET if absent */
};

struct bothy_throttle_device {
  int64_t major, minor;
  uint64_t rate;
};

struct bothy_hugepage_limit {
  char *page_size; /* "2MB", "1GB" */
  uint64_t limit;
};

struct bothy_resources {
  struct bothy_device_rule *devices;
  size_t n_devices;

  /* memory: bytes; -1 = unlimited */
  int64_t memory_limit, memory_reservation, memory_swap, memory_kernel, memory_kernel_tcp;
  int64_t memory_swappiness; /* BOTHY_UNSET or 0..100 */
  int disable_oom_killer;    /* -1 unset, 0, 1 */
  int use_hierarchy;         /* -1 unset, 0, 1 */
  int check_before_update;   /* -1 unset, 0, 1 */

  int64_t cpu_shares, cpu_quota, cpu_period, cpu_burst;
  int64_t cpu_realtime_runtime, cpu_realtime_period, cpu_idle;
  char *cpu_cpus, *cpu_mems;

  int64_t pids_limit;

  int64_t blkio_weight, blkio_leaf_weight;
  struct bothy_weight_device *blkio_weight_device;
  size_t n_blkio_weight_device;
  struct bothy_throttle_device *throttle_read_bps, *throttle_write_bps, *throttle_read_iops,
      *throttle_write_iops;
  size_t n_throttle_read_bps, n_throttle_write_bps, n_throttle_read_iops, n_throttle_write_iops;

  struct bothy_hugepage_limit *hugepage_limits;
  size_t n_hugepage_limits;

  int64_t net_cls_classid;
  json_t *net_prio_ifpriomap; /* borrowed from spec->json; array or NULL */

  json_t *unified; /* borrowed from spec->json: object of "file": "value", or NULL */
};

struct bothy_seccomp_arg {
  unsigned index;
  uint64_t value;
  uint64_t value_two;
  char *op; /* "SCMP_CMP_EQ", ... */
};

struct bothy_seccomp_syscall {
  char **names;
  char *action;      /* "SCMP_ACT_ERRNO", ... */
  int64_t errno_ret; /* BOTHY_UNSET: EPERM for ERRNO/TRACE */
  struct bothy_seccomp_arg *args;
  size_t n_args;
};

struct bothy_seccomp {
  char *default_action;
  int64_t default_errno_ret;
  char **architectures;
  char **flags;
  char *listener_path;
  char *listener_metadata;
  struct bothy_seccomp_syscall *syscalls;
  size_t n_syscalls;
};

struct bothy_hook {
  char *path;
  char **args;
  char **env;
  int timeout; /* seconds; 0: none */
};

enum bothy_hook_kind {
  BOTHY_HOOK_PRESTART,
  BOTHY_HOOK_CREATE_RUNTIME,
  BOTHY_HOOK_CREATE_CONTAINER,
  BOTHY_HOOK_START_CONTAINER,
  BOTHY_HOOK_POSTSTART,
  BOTHY_HOOK_POSTSTOP,
  _BOTHY_HOOK_MAX,
};

struct bothy_sysctl {
  char *key;
  char *value;
};

struct bothy_spec {
  json_t *json; /* the whole document, owned */
  char *oci_version;
  char *root_path; /* as given (may be relative to the bundle) */
  bool root_readonly;
  char *hostname;
  char *domainname;
  bool has_process;
  struct bothy_process process;
  struct bothy_mount *mounts;
  size_t n_mounts;
  struct bothy_hook *hooks[_BOTHY_HOOK_MAX];
  size_t n_hooks[_BOTHY_HOOK_MAX];
  json_t *annotations; /* borrowed from json, or NULL */

  /* linux */
  struct bothy_namespace namespaces[_BOTHY_NS_MAX];
  struct bothy_id_mapping *uid_mappings;
  size_t n_uid_mappings;
  struct bothy_id_mapping *gid_mappings;
  size_t n_gid_mappings;
  struct bothy_device *devices;
  size_t n_devices;
  char *cgroups_path;
  bool has_resources;
  struct bothy_resources resources;
  struct bothy_sysctl *sysctl;
  size_t n_sysctl;
  struct bothy_seccomp *seccomp;    /* NULL if absent */
  unsigned long rootfs_propagation; /* MS_* | MS_REC, 0: default (rslave, as runc) */
  char **masked_paths;
  char **readonly_paths;
  char *mount_label;
  char *personality_domain; /* "LINUX" / "LINUX32" or NULL */
};

/* Parses and validates config.json at path. */
int bothy_spec_load(const char *path, struct bothy_spec **ret, bothy_error_t *err);
/* Same from a parsed document (ownership of json is taken, even on failure). */
int bothy_spec_from_json(json_t *json, struct bothy_spec **ret, bothy_error_t *err);
/* Parses a process object (config.json's "process", or `exec -p` file). */
int bothy_process_from_json(json_t *o, const char *ctx, struct bothy_process *ret,
                            bothy_error_t *err);
void bothy_process_done(struct bothy_process *p);
struct bothy_spec *bothy_spec_free(struct bothy_spec *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_spec *, bothy_spec_free)
#define _cleanup_spec_ _cleanup_(bothy_spec_freep)

/* Namespace names as in the spec ("pid", "network", ...) and CLONE_NEW* flags. */
const char *bothy_ns_name(enum bothy_ns_type t);
const char *bothy_ns_proc_name(enum bothy_ns_type t); /* name under /proc/PID/ns/ */
int bothy_ns_clone_flag(enum bothy_ns_type t);
enum bothy_ns_type bothy_ns_from_name(const char *name);

/* Parses mount options into m's derived fields (used for spec mounts and for
 * the runtime's own mounts). Unknown options go to m->data. */
int bothy_mount_parse_options(struct bothy_mount *m, bothy_error_t *err);

/* The spec's name of a hook kind ("createRuntime"). */
const char *bothy_hook_kind_name(enum bothy_hook_kind k);

/* RLIMIT_* from "RLIMIT_NOFILE"; -1 if unknown. */
int bothy_rlimit_from_name(const char *name);

/* The spec `bothy runtime spec` writes (runc's defaults); rootless variant
 * with a user namespace mapping the caller. Caller frees. */
json_t *bothy_spec_default(bool rootless);
