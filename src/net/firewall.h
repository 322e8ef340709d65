/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* bothy's firewall, through libnftables (loaded on first use: net/dl-nft.h).
 *
 * bothy owns exactly one table, `table inet bothy`, created on demand, and
 * touches nothing else (another table's rules, iptables, sysctls are not ours).
 * The table holds:
 *
 *   chain forward     type filter hook forward priority filter; policy accept
 *   chain prerouting  type nat hook prerouting priority dstnat
 *   chain output      type nat hook output priority -100
 *   chain postrouting type nat hook postrouting priority srcnat
 *   set bridges       type ifname: every bothy bridge (element comment "net:NAME")
 *
 * forward starts with `ct state established,related accept` (comment "base"),
 * then, per network NAME with bridge BR (comment "net:NAME"):
 *   iifname BR oifname BR accept          a network talks to itself
 *   iifname BR ct status dnat accept      (not internal) published ports of other
 *                                         networks are reachable, as from anywhere
 *   iifname BR oifname @bridges drop      isolation: networks never reach each other
 *                                         (every network has this rule: both ways)
 *   iifname BR drop                       (internal only) no outbound traffic
 * and in postrouting:
 *   oifname BR ip saddr SUBNET ct status dnat masquerade
 *                                         hairpin: a container reaching a port its
 *                                         own network publishes gets replies back
 *                                         through the host
 *   ip saddr SUBNET oifname != BR masquerade   (not internal) outbound NAT
 * and the same with ip6 for subnet6 (best effort: IPv4 is what tests use).
 *
 * A published port of container OWNER (comment "ctr:OWNER") is a DNAT rule in
 * prerouting (traffic from elsewhere, other network namespaces included) and
 * one in output (traffic from the host itself):
 *   ip daddr HOSTIP tcp dport HOSTPORT dnat ip to CTRIP:CTRPORT
 * where a host_ip of 0.0.0.0 (::) matches `fib daddr type local` instead: any
 * of the host's addresses, and not traffic that only passes through the host
 * (without it a container's connection to some far server's port 80 would be
 * hijacked when port 80 is published). A port on 127.0.0.0/8 or 0.0.0.0 adds,
 * once per bridge, `ip saddr 127.0.0.0/8 oifname BR masquerade`: a DNATed
 * connection from 127.0.0.1 needs a source the container can answer. (The
 * kernel routes such a connection only when net.ipv4.conf.BR.route_localnet
 * is 1: setting it belongs to whoever creates the bridge.)
 *
 * Every call is one nft batch, one kernel transaction: all of it applies or
 * none does. Calls are serialised between processes by flock() on
 * /run/bothy-firewall.lock (the table is global, whatever --root says; the
 * same reason iptables has /run/xtables.lock), since a call reads the table
 * and then deletes rules by handle. (Without write access to /run the call
 * goes on unlocked, and nftables then refuses it anyway.)
 *
 * Errors: EINVAL for bad input (a name with characters other than
 * [A-Za-z0-9_.-], an address that does not parse, or what nft rejects, with
 * nft's own text: "string exceeds maximum length of 16"); EPERM without
 * CAP_NET_ADMIN (checked before libnftables is called: it would print to
 * stderr); any other failure of libnftables with its message and errno.
 *
 * Not done here: the sysctls (ip_forward, route_localnet), and other
 * firewalls: a `policy drop` forward chain elsewhere (docker's iptables
 * FORWARD) still drops what bothy's forward chain accepts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct bothy_fw_network {
  const char *name;    /* [A-Za-z0-9_.-]+ */
  const char *bridge;  /* the bridge's interface name */
  const char *subnet;  /* "10.89.3.0/24" */
  const char *subnet6; /* "fd00:89:3::/64", or NULL */
  bool internal;       /* no outbound traffic, no masquerade */
};

/* Idempotent: (re)writes this network's rules (all carry comment "net:NAME")
 * in one transaction that also removes the rules the network had; creates the
 * table and base chains if missing. */
int bothy_fw_network_add(const struct bothy_fw_network *n, bothy_error_t *err);

/* Removes every rule (and set element) with comment "net:NAME"; a network
 * that has none, or no table at all: 0. */
int bothy_fw_network_remove(const char *name, bothy_error_t *err);

struct bothy_fw_port {
  const char *host_ip; /* "127.0.0.1", "0.0.0.0" (any local address), "::" */
  uint16_t host_port;  /* not 0 */
  const char *proto;   /* "tcp" or "udp" */
  const char *ctr_ip;  /* the container's address, same family as host_ip */
  uint16_t ctr_port;   /* not 0 */
  const char *bridge;  /* the bridge ctr_ip is on */
};

/* Adds the DNAT rules of ports (and the loopback masquerade for each bridge,
 * once) for owner (a container id): comment "ctr:OWNER". All ports of one call
 * are added in one transaction: all or nothing. A port (or masquerade) that
 * owner already has is not added again, so calling twice adds no duplicates;
 * other rules of owner stay. Two owners publishing the same host port is not
 * detected here: the first rule wins. */
int bothy_fw_ports_add(const char *owner, const struct bothy_fw_port *ports, size_t n,
                       bothy_error_t *err);

/* Removes every rule with comment "ctr:OWNER"; none, or no table: 0. */
int bothy_fw_ports_remove(const char *owner, bothy_error_t *err);

/* The owners that have rules, as their comments ("ctr:ID", "net:NAME"),
 * deduplicated, in table order: for repairs. No table: an empty vector.
 * *ret is a strv the caller frees. */
int bothy_fw_owners(char ***ret, bothy_error_t *err);

/* Deletes the whole table (tests; `bothy network prune` when nothing is
 * left). No table: 0. */
int bothy_fw_reset(bothy_error_t *err);
