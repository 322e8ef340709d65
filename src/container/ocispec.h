/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The OCI runtime configuration of a container made from an image: the
 * image's config (Entrypoint, Cmd, Env, WorkingDir, User) with what the
 * command line changes, and the defaults every bothy container gets: the
 * docker-default capabilities, no_new_privileges, docker's default seccomp
 * allow-list, masked /proc paths, read-only /proc/sys, a private /dev. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "image/manifest.h"

enum bothy_network_mode {
  BOTHY_NET_NONE, /* its own network namespace, nothing in it */
  BOTHY_NET_HOST, /* the host's network */
  BOTHY_NET_PATH, /* the namespace bind-mounted at netns_path */
};

/* A mount the caller has resolved: a -v/--mount/--tmpfs request whose named
 * volume is now a bind mount of the volume's directory. */
struct bothy_oci_mount {
  const char *source;   /* "bind": absolute host path; "tmpfs": ignored (NULL) */
  const char *target;   /* absolute, normalised (as bothy_mount_parse_*() give it) */
  const char *type;     /* "bind" or "tmpfs" */
  char *const *options; /* extra options (bothy_mount_req.options); may be NULL */
  bool readonly;
};

/* All zero is "docker run IMAGE" with no flag. */
struct bothy_run_opts {
  char **args;            /* command after the image; NULL: the image's Cmd */
  const char *entrypoint; /* NULL: the image's; "": none */
  char **env;             /* KEY=VALUE, over the image's */
  const char *workdir;
  const char *user; /* "uid[:gid]" or names looked up in the image */
  const char *hostname;
  enum bothy_network_mode network;
  const char *netns_path; /* BOTHY_NET_PATH */
  bool read_only;
  bool tty;
  int64_t memory;              /* bytes; 0: none */
  int64_t pids_limit;          /* 0: none */
  bool privileged_seccomp_off; /* --security-opt seccomp=unconfined (wins over seccomp_json) */
  bool no_new_privileges_off;

  /* -v, --mount, --tmpfs, resolved by the caller. Added after the default
   * mounts, parents before children; one on a default mount's destination
   * (/etc/hosts, /etc/hostname, /etc/resolv.conf, /dev/shm...) replaces it.
   * Two on the same target are an error. */
  const struct bothy_oci_mount *mounts;
  size_t n_mounts;
  /* --cap-add/--cap-drop: "NET_ADMIN", "cap_net_admin", "ALL"; docker's
   * rules: add ALL = every capability but the dropped ones; drop ALL =
   * only the added ones; else the default set minus drops plus adds. */
  char **cap_add;
  char **cap_drop;
  int64_t nano_cpus;     /* --cpus x 1e9; 0: no limit */
  const char *init_path; /* --init: absolute host path of the init (tini/catatonit); NULL: none */
  /* --security-opt seccomp=FILE, loaded: a docker-format or OCI-format
   * profile (borrowed). NULL: bothy's default, docker's allow-list. */
  json_t *seccomp_json;
  /* --userns=auto: a user namespace mapping ids 0..userns_size-1 to
   * userns_start..; 0: the host's ids. */
  uint32_t userns_start, userns_size;
};

/* Builds config.json for a container whose root filesystem is at rootfs
 * (absolute; the image's files, used to resolve user names and groups) and
 * whose generated /etc files (hostname, hosts, resolv.conf) are in etc_dir.
 *
 * The user is resolved as runc does for docker: a name must be in the
 * image's /etc/passwd (ENOENT otherwise); a uid found there takes the
 * entry's group, one that is not gets gid 0; without an explicit group, the
 * groups of /etc/group that list the matched user become
 * process.user.additionalGids.
 *
 * Errors: EINVAL for a bad option (unknown capability, --cpus out of range,
 * a mount that is not absolute or twice on one target, a seccomp profile
 * that is not one), ENOENT for a user or group the image does not have. */
int bothy_container_oci_spec(const struct bothy_image_config *img, const struct bothy_run_opts *o,
                             const char *id, const char *rootfs, const char *etc_dir, json_t **ret,
                             bothy_error_t *err);

/* A user ("name", "uid", "name:group", "uid:gid") looked up in the image
 * whose files are at rootfs, with the rules above (COPY --chown, USER). */
int bothy_image_lookup_user(const char *spec, const char *rootfs, uint32_t *ret_uid,
                            uint32_t *ret_gid, bothy_error_t *err);
