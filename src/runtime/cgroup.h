/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Control groups through cgroupfs (no systemd: these machines have no
 * systemd as PID 1, so `--systemd-cgroup` paths are only translated to the
 * directory systemd would have used).
 *
 * Three layouts are handled:
 *   v1      one cgroupfs per controller set (/sys/fs/cgroup/memory,
 *           /sys/fs/cgroup/cpu,cpuacct, /sys/fs/cgroup/systemd, ...);
 *   v2      one cgroup2 mount at /sys/fs/cgroup;
 *   hybrid  the v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified
 *           holding whatever controllers v1 does not (often only hugetlb).
 *
 * A struct bothy_cgroup is the container's cgroup: one directory in every
 * hierarchy. bothy_cgroup_new() only computes the directories (it changes
 * nothing on the host); bothy_cgroup_create() makes them; the other calls
 * act on them. Its JSON form (bothy_cgroup_to_json) goes to the state
 * directory so that later commands (`kill`, `pause`, `delete`, `ps`) act on
 * the same directories without resolving the path again.
 *
 * Path rules (as runc's cgroupfs driver):
 *   - an absolute cgroupsPath is relative to the root of every hierarchy;
 *   - a relative one is relative to the runtime's own cgroup in each
 *     hierarchy (read from /proc/self/cgroup);
 *   - NULL or "" means the relative path "<id>";
 *   - "..", "." and repeated slashes are cleaned lexically and can never go
 *     above a hierarchy's root (runc's CleanPath), and a path that ends up
 *     naming a hierarchy's root or the runtime's own cgroup is refused
 *     (destroying or killing it would hit the host or the runtime itself);
 *   - with systemd set, cgroupsPath is "slice:prefix:name"; see
 *     bothy_cgroup_systemd_path().
 *
 * Device rules: on v1 and hybrid they go to the devices controller
 * (devices.deny/devices.allow). On pure v2 there are no devices files: the
 * rules become a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
 * container's cgroup (BPF_F_ALLOW_MULTI, so the parents' programs still
 * apply), with v1's meaning: everything denied but what the rules allow, the
 * last matching rule winning. A later apply attaches the new program before
 * detaching the old one, so the cgroup is never left unfiltered. This needs
 * CAP_BPF or CAP_SYS_ADMIN and a kernel with CONFIG_CGROUP_BPF (4.15+).
 *
 * Nothing here prints; errors come back through bothy_error_t. Functions
 * that write a cgroup file report the file and the value the kernel refused:
 * "cannot write '4096' to '/sys/fs/cgroup/memory/x/memory.limit_in_bytes':
 * Device or resource busy". */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>
#include "base/error.h"
#include "runtime/spec.h"

enum bothy_cgroup_mode {
  BOTHY_CGROUP_AUTO, /* config only: detect */
  BOTHY_CGROUP_V1,
  BOTHY_CGROUP_V2,
  BOTHY_CGROUP_HYBRID,
  _BOTHY_CGROUP_MODE_MAX,
  _BOTHY_CGROUP_MODE_INVALID = -EINVAL,
};

/* "auto", "v1", "v2", "hybrid"; and back (_BOTHY_CGROUP_MODE_INVALID if unknown). */
const char *bothy_cgroup_mode_name(enum bothy_cgroup_mode m);
enum bothy_cgroup_mode bothy_cgroup_mode_from_name(const char *name);

/* Detects the layout under root (NULL: "/sys/fs/cgroup") by filesystem
 * magic: cgroup2 on root is v2; else cgroup2 on root/unified is hybrid;
 * else v1. Fails (ENOENT) if root cannot be examined. */
int bothy_cgroup_detect_mode(const char *root, enum bothy_cgroup_mode *ret, bothy_error_t *err);

struct bothy_cgroup_config {
  const char *root;             /* NULL: "/sys/fs/cgroup"; must be absolute */
  enum bothy_cgroup_mode mode;  /* BOTHY_CGROUP_AUTO: bothy_cgroup_detect_mode(root) */
  const char *self_cgroup_file; /* NULL: "/proc/self/cgroup" */
  /* NULL: "/proc/self/mountinfo". v1 hierarchies are the "cgroup" mounts
   * below root listed there. "" (for test trees that nothing mounted): every
   * directory under root is a v1 hierarchy named after its controllers
   * ("cpu,cpuacct", "memory"; "systemd" stands for name=systemd), except
   * "unified" in hybrid mode. */
  const char *mountinfo_file;
  const char *path; /* linux.cgroupsPath; may be NULL */
  const char *id;   /* the container id, for an empty path */
  bool systemd;     /* --systemd-cgroup: path is "slice:prefix:name" */
};

/* One hierarchy and the container's directory in it. All strings owned. */
struct bothy_cgroup_hierarchy {
  bool unified; /* cgroup2 (the v2 mount, or hybrid's "unified") */
  /* The directory under /sys/fs/cgroup it is mounted on, on the host and
   * inside the container: "cpu,cpuacct", "memory", "systemd", "unified";
   * "" for the single hierarchy of pure v2. */
  char *name;
  /* v1: the mount options that select the hierarchy ("cpu,cpuacct",
   * "name=systemd"); NULL for cgroup2. */
  char *options;
  /* v1: the controllers of the hierarchy ("cpu", "cpuacct", "name=systemd").
   * cgroup2: the controllers its root offers (cgroup.controllers when the
   * object was made). NULL-terminated, never NULL. */
  char **controllers;
  char *mountpoint; /* host mount point: "/sys/fs/cgroup/memory" */
  char *mount_root; /* the mount's root within the hierarchy, usually "/" */
  char *path;       /* the container's cgroup in the hierarchy: "/machine.slice/x.scope" */
  char *dir;        /* the container's directory on the host */
};

/* The container's cgroup. Read-only for callers. */
struct bothy_cgroup {
  enum bothy_cgroup_mode mode; /* never AUTO */
  struct bothy_cgroup_hierarchy *hierarchies;
  size_t n_hierarchies;
};

/* Converts a systemd cgroupsPath "slice:prefix:name" into the path systemd
 * would give the unit, relative to each hierarchy's root (as runc does):
 *   "machine.slice:libpod:abc" -> "/machine.slice/libpod-abc.scope"
 *   ":runc:abc"                -> "/system.slice/runc-abc.scope"
 *   "a-b.slice:p:n"            -> "/a.slice/a-b.slice/p-n.scope"
 *   "machine.slice:p:x.slice"  -> "/machine.slice/x.slice"  (a slice, as is)
 *   "-.slice:p:n"              -> "/p-n.scope"
 *   "machine.slice::abc"       -> "/machine.slice/abc.scope"
 * NULL or "" means ":runc:<id>". Fails with EINVAL on anything else (not
 * three fields, a slice not ending in ".slice", "a--b.slice", a '/'). *ret is
 * allocated; the caller frees it. */
int bothy_cgroup_systemd_path(const char *cgroups_path, const char *id, char **ret,
                              bothy_error_t *err);

/* Finds the hierarchies and computes the container's directory in each,
 * following the path rules above. Changes nothing on the host. Fails with
 * EINVAL for a bad path or id, ENOENT when no hierarchy is found or a file
 * cannot be read. *ret is owned by the caller (bothy_cgroup_free). */
int bothy_cgroup_new(const struct bothy_cgroup_config *cfg, struct bothy_cgroup **ret,
                     bothy_error_t *err);

struct bothy_cgroup *bothy_cgroup_free(struct bothy_cgroup *cg); /* NULL-safe; returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_cgroup *, bothy_cgroup_free)
#define _cleanup_cgroup_ _cleanup_(bothy_cgroup_freep)

/* Creates the directory in every hierarchy (mkdir -p; existing ones are
 * fine). v1 cpuset: every new level gets its parent's cpuset.cpus and
 * cpuset.mems when its own are empty, since no task can join a cpuset cgroup
 * without them. cgroup2: each level from the mount root to the leaf's parent
 * gets "+ctl" in cgroup.subtree_control for each of cpuset, cpu, io, memory,
 * hugetlb, pids, rdma and misc it offers in cgroup.controllers; as in runc, a
 * controller the kernel refuses to enable there is skipped (the write of its
 * limits fails later if one is asked for). */
int bothy_cgroup_create(struct bothy_cgroup *cg, bothy_error_t *err);
/* The same in part: the cgroup2 hierarchy's directory (unified), which
 * CLONE_INTO_CGROUP needs before the process exists, or the v1 ones. */
int bothy_cgroup_create_part(struct bothy_cgroup *cg, bool unified, bothy_error_t *err);

/* Moves pid into the container's cgroup in every hierarchy (cgroup.procs). */
int bothy_cgroup_enter(struct bothy_cgroup *cg, pid_t pid, bothy_error_t *err);
/* The same, called by the process itself (single-threaded): on cgroup v1 it
 * writes "0" to each hierarchy's "tasks", which spares the kernel's global
 * threadgroup lock and the RCU grace period (7-16 ms here) that moving
 * another process costs. skip_unified: the cgroup2 hierarchy was joined at
 * clone (CLONE_INTO_CGROUP), the other way to spare it. */
int bothy_cgroup_enter_self(struct bothy_cgroup *cg, bool skip_unified, bothy_error_t *err);
/* An fd of the cgroup2 directory (for CLONE_INTO_CGROUP), or -1 if none. */
int bothy_cgroup_unified_fd(struct bothy_cgroup *cg);

/* Writes the resource limits (for `create` and for `update`). The values
 * follow runc: BOTHY_UNSET, and 0 for the byte counts, shares, quota, period,
 * real-time settings and blkio weights, mean "leave as is"; -1 in memory
 * fields means unlimited; pids.limit <= 0 means "max".
 *   v1: memory.{limit,soft_limit,memsw.limit}_in_bytes (memory and mem+swap
 *       written in the order the kernel accepts when both change; a swap
 *       limit other than -1 with no swap accounting fails with ENOTSUP),
 *       memory.kmem.limit_in_bytes (failure ignored: deprecated, most kernels
 *       refuse it), memory.kmem.tcp.limit_in_bytes, memory.swappiness,
 *       memory.oom_control, memory.use_hierarchy; cpu.shares,
 *       cpu.cfs_{period,quota,burst}_us, cpu.rt_{period,runtime}_us,
 *       cpu.idle; cpuset.{cpus,mems}; pids.max; blkio.{weight,leaf_weight,
 *       weight_device,leaf_weight_device} (blkio.bfq.* when only those
 *       exist), blkio.throttle.*; devices: "a" to devices.deny first, then
 *       each rule in order to devices.allow or devices.deny ("c 1:3 rwm",
 *       '*' for -1); no rules leaves the devices cgroup alone.
 *       hugetlb.<size>.limit_in_bytes; net_cls.classid and
 *       net_prio.ifpriomap when mounted (silently skipped otherwise).
 *   v2: memory.swap.max (runc's conversion: mem+swap minus memory),
 *       memory.max, memory.low ("max" for -1; check_before_update compares
 *       with memory.current); cpu.weight (1 + (shares-2)*9999/262142),
 *       cpu.max ("QUOTA PERIOD", "max PERIOD", or "QUOTA"), cpu.max.burst,
 *       cpu.idle; real-time settings fail (EINVAL, as in runc); cpuset.*;
 *       pids.max; io.bfq.weight when it exists (else io.weight converted
 *       1 + (w-10)*9999/990), io.max "MAJ:MIN rbps=N" etc.;
 *       hugetlb.<size>.max (and .rsvd.max if present); device rules as a
 *       BPF program (above; no rules: no program); swappiness, oom_control,
 *       kernel memory and net_cls/net_prio are ignored.
 *   hybrid: v1 for what v1 holds, v2 rules for controllers of the unified
 *       hierarchy (hugetlb).
 *   The unified map (v2 and hybrid; EINVAL on pure v1) is written last and
 *       verbatim into the cgroup2 directory; a key must be a plain file name
 *       (no '/', not "." or ".."; EINVAL otherwise, checked before anything
 *       is written).
 * Device rules are used as given: the caller passes the complete list (the
 * spec's rules and the runtime's default devices, runc's AllowedDevices).
 * A limit whose controller no hierarchy offers (device rules included, on v1
 * and hybrid) fails with ENOTSUP before anything is written. */
int bothy_cgroup_apply(struct bothy_cgroup *cg, const struct bothy_resources *res,
                       bothy_error_t *err);

/* The pids in the container's cgroup (cgroup.procs of the freezer's
 * hierarchy in v1, the cgroup2 one in v2), with those of nested cgroups when
 * recursive. *ret (possibly NULL when *ret_n is 0) is freed by the caller.
 * ENOENT if the cgroup does not exist. */
int bothy_cgroup_pids(struct bothy_cgroup *cg, bool recursive, pid_t **ret, size_t *ret_n,
                      bothy_error_t *err);

/* Freezes the cgroup and waits until the kernel reports it frozen (v1
 * freezer.state reads FROZEN; v2 cgroup.events has "frozen 1"). On timeout
 * (a few seconds) it thaws again and fails with ETIMEDOUT. ENOTSUP when no
 * freezer exists (v1 without the freezer controller, v2 before Linux 5.2). */
int bothy_cgroup_freeze(struct bothy_cgroup *cg, bothy_error_t *err);
int bothy_cgroup_thaw(struct bothy_cgroup *cg, bothy_error_t *err);
/* *ret: the cgroup has been frozen (v1 freezer.state FROZEN, v2
 * cgroup.freeze 1). A missing cgroup or no freezer: false. */
int bothy_cgroup_is_frozen(struct bothy_cgroup *cg, bool *ret, bothy_error_t *err);

/* Sends sig to every process in the cgroup and its nested cgroups (`kill
 * --all`, `delete --force`). SIGKILL on v2 uses cgroup.kill when the kernel
 * has it (5.14+). Otherwise the cgroup is frozen while the signals are sent
 * (so nothing forks past the list) and thawed again unless it was already
 * frozen; after SIGKILL it is thawed in any case, since frozen v1 tasks
 * cannot die. A missing cgroup has no processes: success. */
int bothy_cgroup_kill(struct bothy_cgroup *cg, int sig, bothy_error_t *err);

/* Kills what is left (SIGKILL) and removes the container's directory, and
 * the nested cgroups in it, in every hierarchy, retrying for about a second
 * while the kernel says EBUSY. Directories above it are left. Missing
 * directories are fine, so destroy may be called again. On a test tree (not
 * a cgroup filesystem) the regular files in the directories are removed too. */
int bothy_cgroup_destroy(struct bothy_cgroup *cg, bothy_error_t *err);

/* The host directory of the hierarchy that holds controller (a v1 name such
 * as "memory", "name=systemd", or a v2 name served by the cgroup2
 * hierarchy), or NULL. Borrowed from cg. */
const char *bothy_cgroup_dir(const struct bothy_cgroup *cg, const char *controller);

/* {"mode": "hybrid", "hierarchies": [{"unified": false, "name": "memory",
 * "options": "memory", "controllers": ["memory"], "mountpoint": ...,
 * "mount_root": "/", "path": "/x"}, ...]}. The caller owns the result. */
json_t *bothy_cgroup_to_json(const struct bothy_cgroup *cg);
/* Restores what bothy_cgroup_to_json wrote; fails (negative, message naming
 * the field) on a malformed document. */
int bothy_cgroup_from_json(json_t *o, struct bothy_cgroup **ret, bothy_error_t *err);

/* For mounting cgroupfs inside the container (runtime/mounts.h): one entry
 * per hierarchy with its name, v1 mount options, the container's host
 * directory, and whether it is cgroup2. The array and its strings are owned
 * by the caller: bothy_cgroup_mounts_free(). Never fails. */
struct bothy_cgroup_mount;
void bothy_cgroup_mounts(const struct bothy_cgroup *cg, struct bothy_cgroup_mount **ret,
                         size_t *ret_n);
void bothy_cgroup_mounts_free(struct bothy_cgroup_mount *m, size_t n);
