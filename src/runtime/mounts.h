/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The container's filesystem, set up by its init process inside its new
 * mount namespace: mounts from the spec, /dev, pivot_root, masked and
 * read-only paths. Every destination is resolved inside the rootfs with
 * openat2(RESOLVE_IN_ROOT) and mounted on through /proc/self/fd/N, so a
 * symlink planted in an image cannot send a mount outside the container. */
#include <stdbool.h>
#include "base/error.h"
#include "runtime/spec.h"

/* One cgroup hierarchy to show at /sys/fs/cgroup inside the container. */
struct bothy_cgroup_mount {
  char *name;      /* dir under /sys/fs/cgroup ("memory", "cpu,cpuacct", "unified"); "" for v2 */
  char *options;   /* mount data for cgroup v1 ("memory", "name=systemd"); NULL for cgroup2 */
  char *host_path; /* the container's cgroup directory on the host */
  bool v2;
};

struct bothy_rootfs_ctx {
  const struct bothy_spec *spec;
  const char *rootfs; /* absolute host path */
  bool userns;        /* in a new user namespace: bind devices, fall back on EPERM */
  bool cgroupns;      /* in a new cgroup namespace: mount cgroupfs, else bind */
  const struct bothy_cgroup_mount *cgroups;
  size_t n_cgroups;
  int rootfd; /* set by bothy_rootfs_prepare */
  /* Called once, before the first cgroup mount (or after all mounts when
   * there is none): the process must be in its cgroup, and in its cgroup
   * namespace, before cgroupfs is mounted. NULL: nothing to wait for. */
  int (*enter_cgroup)(void *data, bothy_error_t *err);
  void *enter_cgroup_data;
};

/* Makes the mount tree private/slave, binds the rootfs on itself, performs
 * the spec's mounts and creates /dev's devices and symlinks. */
int bothy_rootfs_prepare(struct bothy_rootfs_ctx *ctx, bothy_error_t *err);
/* pivot_root into the rootfs (or move + chroot with no_pivot). */
int bothy_rootfs_pivot(struct bothy_rootfs_ctx *ctx, bool no_pivot, bothy_error_t *err);
/* After pivot: read-only paths, masked paths, read-only root. */
int bothy_rootfs_finalize(struct bothy_rootfs_ctx *ctx, bothy_error_t *err);
/* Bind mounts the pty slave at /dev/console (after pivot). */
int bothy_rootfs_console(const char *slave_path, bothy_error_t *err);
