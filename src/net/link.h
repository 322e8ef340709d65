/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Network plumbing over rtnetlink (libnl-route-3, loaded on first use):
 * network namespaces kept alive by a bind mount, bridges, veth pairs from a
 * bridge into a namespace, and two questions about the host's routing.
 *
 * Nothing here runs `ip`, `brctl` or `sysctl`: links, addresses and routes
 * are made with netlink, sysctls are written to /proc/sys directly.
 *
 * Every function acts in the network namespace of the calling thread, except
 * where a netns_path says otherwise. Functions that can fail return 0 or a
 * negative value with *err set (err may be NULL); the message names the
 * interface or path and what failed. The errno-like code is the kernel's
 * where netlink reported one (EEXIST, ENODEV, EPERM, EINVAL...); a failure to
 * load libnl has code 0.
 *
 * Interface names are at most 15 characters (IFNAMSIZ - 1), without '/' or
 * white space; a longer or invalid one fails with EINVAL. */
#include <stdbool.h>
#include "base/error.h"

/* ------------------------------------------------------------ namespaces */

/* A network namespace kept alive by a bind mount at path (like `ip netns
 * add`): a forked child unshare(CLONE_NEWNET)s, the parent bind-mounts
 * /proc/CHILD/ns/net onto path (created as an empty file 0644; the parent
 * directory must exist) and the child exits. The new namespace has lo up.
 * Errors: EEXIST if path already holds a namespace (an nsfs mount); a plain
 * leftover file is reused. On failure nothing is left mounted.
 *
 * The mount is made in the caller's mount namespace only: a mount namespace
 * cloned afterwards holds a copy that keeps the network namespace alive until
 * that mount namespace lets go of it (a container's pivot_root does). */
int bothy_netns_create(const char *path, bothy_error_t *err);

/* true if path is a bind-mounted network namespace (statfs: NSFS_MAGIC). */
bool bothy_netns_exists(const char *path);

/* Unmounts path (MNT_DETACH) and unlinks it; a missing path is not an error.
 * The namespace itself dies when its last user goes (asynchronously, in the
 * kernel's cleanup work): with it go the veth ends inside and their host
 * peers. */
int bothy_netns_delete(const char *path, bothy_error_t *err);

/* The loopback of the network namespace at path up, and any port bindable
 * by its users (as bothy_netns_create does). */
int bothy_netns_lo_up(const char *path, bothy_error_t *err);

/* Runs fn(arg, err) inside the namespace at path, in THIS thread: setns()
 * there, fn, setns() back to the original, also when fn fails. Returns fn's
 * value, or a negative value if entering or leaving fails (if leaving fails
 * the thread is left in the namespace at path and the error says so).
 * Sockets fn opens belong to the namespace at path and stay there after the
 * return. For the library's own use and tests. */
int bothy_netns_run(const char *path, int (*fn)(void *arg, bothy_error_t *err), void *arg,
                    bothy_error_t *err);

/* --------------------------------------------------------------- links */

/* A bridge named name with the IPv4 address gateway_cidr ("10.89.3.1/24";
 * NULL: none) and mtu (0: the kernel's default, or as it is on an existing
 * bridge), up. An existing bridge is made as asked (idempotent): its mtu is
 * set, gateway_cidr added, and every other IPv4 address of it removed (IPv6
 * addresses are left alone). Also sets the bridge's route_localnet to 1
 * (/proc/sys/net/ipv4/conf/NAME/route_localnet: published ports on 127.0.0.1
 * are DNATed to it) and net.ipv4.ip_forward to 1.
 * Errors: EEXIST if name is a link that is not a bridge; EINVAL for a bad
 * name or gateway_cidr; the kernel's otherwise. A bridge this call created is
 * deleted again if a later step fails. */
int bothy_net_bridge_ensure(const char *name, const char *gateway_cidr, unsigned mtu,
                            bothy_error_t *err);

/* Deletes the link name (a veth takes its peer with it); missing: 0. */
int bothy_net_link_delete(const char *name, bothy_error_t *err);

/* true if a link name exists in the caller's namespace. */
bool bothy_net_link_exists(const char *name);

struct bothy_veth_opts {
  const char *bridge;     /* host side joins this bridge */
  const char *host_name;  /* host-side name, <= 15 chars, e.g. "veth" + 8 hex */
  const char *netns_path; /* the container's namespace (bothy_netns_create) */
  const char *ifname;     /* name inside, e.g. "eth0" */
  const char *addr_cidr;  /* "10.89.3.7/24" inside */
  const char *gateway;    /* "10.89.3.1": default route inside; NULL: no default route (internal
                             network) */
  const char *mac;        /* "02:42:..." or NULL: random locally administered (the kernel's) */
  unsigned mtu;           /* 0: the bridge's */
};

/* Creates the veth pair with its host end host_name on the bridge and up, and
 * its other end created directly inside the namespace as ifname with mac and
 * mtu (both ends get mtu); then, inside, brings ifname up, adds addr_cidr and
 * the default route via gateway. Undoes everything on failure: no pair, half
 * made or whole, is left.
 * Errors: EEXIST if host_name exists (or ifname exists in the namespace);
 * ENODEV if the bridge does not exist; EINVAL for a bad name, address or mac;
 * ENOENT/EINVAL if netns_path is not a namespace. */
int bothy_net_veth_attach(const struct bothy_veth_opts *o, bothy_error_t *err);

/* Removes the interface ifname from the namespace at netns_path (its host
 * peer goes with it). A missing interface, or a missing namespace (which took
 * its interfaces with it), is success. */
int bothy_net_veth_detach(const char *netns_path, const char *ifname, bothy_error_t *err);

/* ------------------------------------------------------------- routing */

/* Does cidr ("10.89.3.0/24", IPv4 or IPv6) overlap an address of the host or
 * a route of its main routing table (default routes excepted), so that a new
 * network there would collide? 1 yes, 0 no, negative with *err on error
 * (EINVAL: not a CIDR). */
int bothy_net_route_overlaps(const char *cidr, bothy_error_t *err);

/* The host's IPv6 availability: 1 if /proc/net/if_inet6 lists a global
 * address (scope 0), else 0 (also when IPv6 is disabled). */
int bothy_net_host_has_ipv6(void);
