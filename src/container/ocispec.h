/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The OCI runtime configuration of a container made from an image: the
 * image's config (Entrypoint, Cmd, Env, WorkingDir, User) with what the
 * command line changes, and the defaults every bothy container gets: the
 * docker-default capabilities, no_new_privileges, a seccomp filter, masked
 * /proc paths, read-only /proc/sys, a private /dev. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"
#include "image/manifest.h"

enum bothy_network_mode {
  BOTHY_NET_NONE, /* its own network namespace, nothing in it */
  BOTHY_NET_HOST, /* the host's network */
};

struct bothy_run_opts {
  char **args;            /* command after the image; NULL: the image's Cmd */
  const char *entrypoint; /* NULL: the image's; "": none */
  char **env;             /* KEY=VALUE, over the image's */
  const char *workdir;
  const char *user; /* "uid[:gid]" or names looked up in the image */
  const char *hostname;
  enum bothy_network_mode network;
  bool read_only;
  bool tty;
  int64_t memory;              /* bytes; 0: none */
  int64_t pids_limit;          /* 0: none */
  bool privileged_seccomp_off; /* --security-opt seccomp=unconfined */
  bool no_new_privileges_off;
};

/* Builds config.json for a container whose root filesystem is at rootfs
 * (absolute; the image's files, used to resolve user names) and whose
 * generated /etc files (hostname, hosts, resolv.conf) are in etc_dir. */
int bothy_container_oci_spec(const struct bothy_image_config *img, const struct bothy_run_opts *o,
                             const char *id, const char *rootfs, const char *etc_dir, json_t **ret,
                             bothy_error_t *err);
