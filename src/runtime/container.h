/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The OCI runtime's operations, as runc offers them. Each works on the state
 * directory ROOT/ID (see state.h) and leaves nothing behind when it fails:
 * a failed create removes its state dir, cgroup and process. */
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>
#include "base/error.h"
#include "runtime/spec.h"

struct bothy_runtime {
  const char *root;    /* state root, e.g. /run/bothy-runtime */
  bool systemd_cgroup; /* cgroupsPath is slice:prefix:name */
};

struct bothy_create_opts {
  const char *id;
  const char *bundle; /* NULL: current directory */
  const char *pid_file;
  const char *console_socket;
  int preserve_fds;
  bool no_pivot;
  bool no_new_keyring;
  bool detach; /* run: do not wait */
  bool keep;   /* run: keep the container after it exits */
  /* run: called once the container's process runs (after the poststart
   * hooks), before waiting for it; NULL: none. */
  void (*on_start)(pid_t pid, void *userdata);
  /* create/run: called once the container's process has its namespaces,
   * before its root filesystem is ready (say, to plumb its network into
   * /proc/PID/ns/net); a failure fails the create. NULL: none. */
  int (*on_namespaces)(pid_t pid, void *userdata, bothy_error_t *err);
  void *userdata;
};

struct bothy_exec_opts {
  const char *id;
  const char *process_file; /* -p: a process.json; else args below */
  char **args;
  const char *cwd;
  char **env;       /* -e KEY=VALUE, added to the container's */
  const char *user; /* "uid[:gid]" */
  gid_t *additional_gids;
  size_t n_additional_gids;
  char **caps; /* --cap: added to every set */
  bool no_new_privs;
  bool tty;
  bool detach;
  const char *pid_file;
  const char *console_socket;
  int preserve_fds;
  const char *apparmor;
  const char *process_label;
};

int bothy_container_create(const struct bothy_runtime *rt, const struct bothy_create_opts *o,
                           bothy_error_t *err);
int bothy_container_start(const struct bothy_runtime *rt, const char *id, bothy_error_t *err);
/* create + start; without detach waits and sets *ret_exit to the exit code
 * (128+signal when killed) and deletes the container. */
int bothy_container_run(const struct bothy_runtime *rt, const struct bothy_create_opts *o,
                        int *ret_exit, bothy_error_t *err);
int bothy_container_state(const struct bothy_runtime *rt, const char *id, json_t **ret,
                          bothy_error_t *err);
int bothy_container_list(const struct bothy_runtime *rt, json_t **ret, bothy_error_t *err);
int bothy_container_kill(const struct bothy_runtime *rt, const char *id, int sig, bool all,
                         bothy_error_t *err);
int bothy_container_delete(const struct bothy_runtime *rt, const char *id, bool force,
                           bothy_error_t *err);
int bothy_container_pause(const struct bothy_runtime *rt, const char *id, bool pause,
                          bothy_error_t *err);
int bothy_container_pids(const struct bothy_runtime *rt, const char *id, pid_t **ret, size_t *ret_n,
                         bothy_error_t *err);
int bothy_container_exec(const struct bothy_runtime *rt, const struct bothy_exec_opts *o,
                         int *ret_exit, bothy_error_t *err);

/* Signal number from "KILL", "SIGKILL" or "9"; negative if unknown. */
int bothy_signal_parse(const char *s);

/* The `features` document (runtime-spec features.md). */
json_t *bothy_runtime_features(void);
