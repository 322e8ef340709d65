/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Creating a container process: namespaces (new or joined), the parent/child
 * synchronisation, and everything the child does before execve (rootfs,
 * hostname, sysctl, terminal, rlimits, user, capabilities, seccomp).
 *
 * The parent is the runtime. The child is cloned into its new pid, user and
 * time namespaces and makes the others itself (unshare, and setns for a
 * joined network, IPC or UTS namespace) while the runtime makes its cgroups;
 * when other namespaces must be joined by path (or `exec` joins a running
 * container) an intermediate process setns()es first and clones the child
 * with CLONE_PARENT, so the child is always the runtime's own child.
 * The runtime is single-threaded: no threads may exist when this runs. */
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include "base/error.h"
#include "runtime/caps.h"
#include "runtime/mounts.h"
#include "runtime/seccomp.h"
#include "runtime/spec.h"

struct bothy_linux_ctx {
  const struct bothy_spec *spec;
  const struct bothy_process *process; /* what to execute */
  const char *id;
  const char *rootfs; /* absolute; create only */
  const char *bundle; /* for the state given to in-container hooks */
  int state_dirfd;    /* exec.fifo is here (create); -1: no fifo (run, exec) */
  bool wait_start;    /* run: once ready, wait for bothy_linux_start() */
  int console_socket; /* connected unix socket for the pty master, or -1 */
  int preserve_fds;   /* fds 3 .. 3+n-1 pass into the container */
  bool no_pivot;
  bool no_new_keyring;
  bool init;                            /* the container's init (create/run), not exec */
  pid_t join_pid;                       /* exec: join every namespace of this process */
  struct bothy_seccomp_filter *seccomp; /* NULL: none */
  const struct bothy_capset *caps;      /* NULL: unchanged */
  const struct bothy_cgroup_mount *cgroups;
  size_t n_cgroups;
  sigset_t child_sigmask; /* restored in the child before execve */

  /* The child joins its cgroups itself (see bothy_cgroup_enter_self), and
   * then the parent's on_created must not move it; NULL: the parent does. */
  int (*self_cgroup)(void *data, bool unified_done, bothy_error_t *err);
  /* A cgroup2 directory to create the child in (CLONE_INTO_CGROUP), or -1.
   * Set back to -1 by spawn when the kernel refuses it. */
  int cgroup_fd;

  /* Parent-side steps, called in the runtime while the child waits. */
  int (*on_created)(void *data, pid_t pid, bothy_error_t *err);        /* cgroup, oom */
  int (*on_create_runtime)(void *data, pid_t pid, bothy_error_t *err); /* hooks */
  /* Once the child has made its new namespaces, while it goes on with its
   * root filesystem (init only; NULL: none). */
  int (*on_namespaces)(void *data, pid_t pid, bothy_error_t *err);
  void *data;

  /* Set by spawn: the new namespaces the child creates itself, first thing
   * after clone, rather than clone() creating them while the runtime waits. */
  int unshare_flags;
  /* Set by spawn: namespaces (by type) the child joins itself, or NULL. */
  int *child_join_fds;

  /* Out: the parent's end of the sync socket after spawn, open until the
   * container process execs (CLOEXEC) or reports an error. */
  int sync_fd;
};

/* Creates the process and waits until it is ready: for create, blocked on
 * exec.fifo; for exec, about to execve. On failure the child is killed and
 * reaped and *err says what went wrong inside it. */
int bothy_linux_spawn(struct bothy_linux_ctx *ctx, pid_t *ret_pid, bothy_error_t *err);

/* run (wait_start): lets the ready container process go on to execve. */
int bothy_linux_start(struct bothy_linux_ctx *ctx, bothy_error_t *err);

/* After spawn, waits until the container process has called execve (the
 * sync socket closes) or reports that execve failed. */
int bothy_linux_wait_exec(struct bothy_linux_ctx *ctx, bothy_error_t *err);
