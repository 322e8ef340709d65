/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Containers made from images, through their whole life, without a daemon.
 *
 * What the user declared (name, image, flags) is a record in the inventory
 * (inventory.h). What happens to the container is in ROOT/containers/ID/:
 *   config.json   the OCI configuration (generated once, at create)
 *   rootfs/       the overlay (image layers + upper/), mounted while it runs
 *   etc/          its hostname, hosts and resolv.conf
 *   status.json   written by whoever watches the running container: its
 *                 monitor (monitor.h) when detached, the bothy process itself
 *                 in the foreground
 *   container.log its output when detached
 * The runtime's own state is under ROOT/runtime/ID.
 *
 * Status is derived, never trusted: a status.json that says "running" whose
 * watcher and process are both gone is stale, and the next command that
 * looks at the container repairs it (records the exit, frees the runtime
 * state, unmounts). A record left "creating" or "removing" by a bothy that
 * was killed midway is finished off (removed) the same way. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/error.h"
#include "container/mountspec.h"
#include "container/network.h"
#include "container/ocispec.h"

struct bothy_ctx {
  const char *root;            /* /var/lib/bothy */
  const char *exe;             /* the bothy binary on disk, for the monitor's helpers */
  const char *libexec;         /* directory of bothy-monitor and bothy-init */
  const char *registries_conf; /* for pulls; NULL: none */
};

struct bothy_ctr_create_req {
  const char *image;
  const char *name;               /* NULL: generated */
  struct bothy_run_opts opts;     /* opts.network is set from net */
  struct bothy_ctr_net_req net;   /* --network, -p, -P, --network-alias */
  struct bothy_mount_req *mounts; /* -v, --mount, --tmpfs */
  size_t n_mounts;
  const char *restart; /* NULL or "no", "always", "unless-stopped", "on-failure" */
  int max_retries;
  int stop_signal;   /* 0: the image's StopSignal, else SIGTERM */
  int stop_timeout;  /* < 0: 10 s */
  char **health_cmd; /* ["CMD", ...] / ["CMD-SHELL", "..."]; NULL: the image's */
  bool no_healthcheck;
  int64_t health_interval_ns, health_timeout_ns, health_start_period_ns; /* 0: image's/default */
  int health_retries;
  json_t *labels; /* borrowed, may be NULL */
  bool remove;    /* --rm */
  bool interactive;
  bool init;        /* --init */
  bool userns_auto; /* --userns=auto: a private uid/gid range, layers idmapped */
  int64_t log_max_size;
  int log_max_files;
  bool pull; /* pull the image when it is missing */
};

/* Creates the container (record, directory, configuration); nothing runs
 * yet. On failure nothing is left. *ret_id: its full id. */
int bothy_ctr_create(const struct bothy_ctx *ctx, const struct bothy_ctr_create_req *req,
                     char **ret_id, bothy_error_t *err);

/* create + start (detach) or create + run attached. With detach, *ret_exit
 * is not set. *ret_id (optional): the new container's id, also when the
 * start failed (docker keeps such a container, unless --rm). */
int bothy_ctr_run(const struct bothy_ctx *ctx, const struct bothy_ctr_create_req *req, bool detach,
                  char **ret_id, int *ret_exit, bothy_error_t *err);

/* Starts a created or exited container under a new monitor and returns once
 * it runs (or its start failed). Starting a running container does nothing. */
int bothy_ctr_start(const struct bothy_ctx *ctx, const char *ref, bothy_error_t *err);

/* Runs the container in this process with the terminal's stdio, until it
 * exits: `bothy run` without -d, `bothy start --attach`. With notify, tells
 * systemd (NOTIFY_SOCKET) READY=1 and MAINPID once it runs. Removes the
 * container afterwards when it was created with --rm. */
int bothy_ctr_run_attached(const struct bothy_ctx *ctx, const char *ref, bool notify, int *ret_exit,
                           bothy_error_t *err);

/* Stop signal, then SIGKILL after timeout seconds (< 0: the container's);
 * no restart follows. */
int bothy_ctr_stop(const struct bothy_ctx *ctx, const char *ref, int timeout, bothy_error_t *err);
int bothy_ctr_kill(const struct bothy_ctx *ctx, const char *ref, int sig, bothy_error_t *err);
/* A running container: EBUSY unless force (then killed). volumes: also its
 * anonymous volumes. */
int bothy_ctr_remove(const struct bothy_ctx *ctx, const char *ref, bool force, bool volumes,
                     bothy_error_t *err);
/* Waits until the container is not running any more; its exit code. */
int bothy_ctr_wait(const struct bothy_ctx *ctx, const char *ref, int *ret_exit, bothy_error_t *err);

/* docker-inspect-like documents: one container, or all of them (all=false:
 * only running ones), newest first. */
int bothy_ctr_inspect(const struct bothy_ctx *ctx, const char *ref, json_t **ret,
                      bothy_error_t *err);
int bothy_ctr_list(const struct bothy_ctx *ctx, bool all, json_t **ret, bothy_error_t *err);

/* The full id and the directory of a container. */
int bothy_ctr_resolve(const struct bothy_ctx *ctx, const char *ref, char **ret_id, char **ret_dir,
                      bothy_error_t *err);
/* The pid of its running init; ESRCH when it does not run. */
int bothy_ctr_pid(const struct bothy_ctx *ctx, const char *ref, pid_t *ret, bothy_error_t *err);

/* Restarts, after a reboot, every container whose policy says so
 * (always; unless-stopped unless the user stopped it; on-failure when it was
 * running). *ret_started: how many; errors of single containers go into
 * *ret_errors (one line each, caller frees) and do not stop the others. */
int bothy_ctr_boot(const struct bothy_ctx *ctx, size_t *ret_started, char ***ret_errors,
                   bothy_error_t *err);

/* The monitor's helpers (monitor.h): start in this process, printing nothing
 * (*ret_pid: the init, a child of this process); clean up after the last
 * exit; run the health command once (*ret_exit 0 healthy), its output (and
 * why it could not run) to out_fd, -1: nowhere. */
int bothy_ctr_helper_start(const struct bothy_ctx *ctx, const char *id, const char *console_socket,
                           pid_t *ret_pid, bothy_error_t *err);
int bothy_ctr_helper_cleanup(const struct bothy_ctx *ctx, const char *id, bothy_error_t *err);
int bothy_ctr_helper_health(const struct bothy_ctx *ctx, const char *id, int out_fd, int *ret_exit,
                            bothy_error_t *err);

/* `bothy network connect` (disconnect false) and `disconnect`. */
int bothy_ctr_connect(const struct bothy_ctx *ctx, const char *ref, const char *network,
                      char *const *aliases, bool disconnect, bothy_error_t *err);

/* The runtime's state root for bothy's containers: ROOT/runtime. */
char *bothy_ctr_runtime_root(const struct bothy_ctx *ctx);
