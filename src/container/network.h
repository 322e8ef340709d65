/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* A container's networking: the mode it was created with, its addresses on
 * bothy's networks, its published ports, the network namespace it runs in
 * and the /etc/hosts that names its peers.
 *
 * Modes: "none" (its own empty namespace), "host", "bridge" (bothy's default
 * network), a network's name, or "container:NAME" (another container's
 * namespace). Except for none and host, the container's namespace is kept at
 * ROOT/netns/ID (a bind mount, as `ip netns` does) so that its OCI
 * configuration names a stable path: made at each start, removed after the
 * last exit. Addresses and ports are allocated at create and kept until the
 * container is removed, so a restarted container keeps its address.
 *
 * Names: each container's /etc/hosts (ROOT/containers/ID/etc/hosts,
 * bind-mounted read-only) lists the running containers of its networks by
 * name and alias and is rewritten in place when one starts or stops: no
 * resolver process, nothing to keep running (docs/containers.md). */
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include "base/error.h"
#include "net/ports.h"

struct bothy_ctr_net_req {
  const char *mode; /* NULL: "bridge" */
  char **aliases;   /* --network-alias */
  struct bothy_port_spec *ports;
  size_t n_ports;
  bool publish_all; /* -P: the image's exposed ports */
};

/* Is the container with this id running now? (The container layer knows.) */
typedef bool (*bothy_ctr_running_fn)(const char *id, void *userdata);

/* At create, with the container's record in the inventory: resolves the
 * mode, allocates addresses on its network and reserves its ports. Writes
 * cfg["net"]; *ret_netns (NULL for none and host) is the namespace path for
 * the OCI configuration; *ret_fds and *ret_n: sockets holding the ports (the
 * caller keeps or closes them). On failure nothing is allocated. */
int bothy_ctr_net_create(sqlite3 *db, const char *root, const char *id,
                         const struct bothy_ctr_net_req *req, char *const *exposed, json_t *cfg,
                         char **ret_netns, int **ret_fds, size_t *ret_n, bothy_error_t *err);

/* Before each start, in the host's namespaces: the namespace, its veths on
 * each network's bridge, the port forwarding, /etc/hosts of it and of its
 * running peers. Idempotent. */
int bothy_ctr_net_up(sqlite3 *db, const char *root, const char *id, const char *name,
                     const char *hostname, json_t *cfg, bothy_ctr_running_fn running,
                     void *userdata, bothy_error_t *err);

/* The start's second half for a container whose network namespace the
 * runtime makes (created so by this bothy): called from the runtime with
 * the container's pid once it exists, plumbs as bothy_ctr_net_up does into
 * /proc/PID/ns/net. Nothing for other containers. */
int bothy_ctr_net_plumb_into(sqlite3 *db, const char *root, const char *id, json_t *cfg, pid_t pid,
                             bothy_ctr_running_fn running, void *userdata, bothy_error_t *err);

/* After the last exit: port forwarding and the namespace (its veths with it)
 * go; peers' /etc/hosts forget it. Idempotent, never fails. */
void bothy_ctr_net_down(sqlite3 *db, const char *root, const char *id, json_t *cfg,
                        bothy_ctr_running_fn running, void *userdata);

/* At each start: sockets bound to the container's published ports, held
 * for as long as it runs (by its monitor, or the attached bothy) so that
 * nothing else on the host takes them: a port is never silently shared.
 * EADDRINUSE naming the port when one is taken. */
int bothy_ctr_net_hold(sqlite3 *db, const char *id, int **ret_fds, size_t *ret_n,
                       bothy_error_t *err);

/* `bothy network connect/disconnect`: an address on another network (and,
 * when it runs, a veth into it at once), or the end of one. Only for
 * containers with a namespace on bothy's networks. */
int bothy_ctr_net_connect(sqlite3 *db, const char *root, const char *id, json_t *cfg,
                          const char *network, char *const *aliases, bool running_now, pid_t pid,
                          bothy_ctr_running_fn running, void *userdata, bothy_error_t *err);
int bothy_ctr_net_disconnect(sqlite3 *db, const char *root, const char *id, const char *network,
                             bothy_ctr_running_fn running, void *userdata, bothy_error_t *err);

/* At removal: its addresses and ports are released. */
void bothy_ctr_net_release(sqlite3 *db, const char *id);

/* The bridge and firewall rules of a network that has a record: after
 * `bothy network create`, at the default network's first use, and again at
 * each start (idempotent: a reboot loses bridges and rules). */
int bothy_ctr_network_plumb(sqlite3 *db, const char *name, bothy_error_t *err);
/* Removes them (`bothy network rm`, after the record). */
int bothy_ctr_network_unplumb(const char *name, const char *bridge, bothy_error_t *err);
/* The overlaps callback of bothy_network_create: the host's routes. */
int bothy_ctr_net_overlaps(const char *cidr, void *userdata);
