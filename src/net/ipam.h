/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Networks and the addresses of containers on them: the records only, in the
 * inventory database (ROOT/bothy.db), under the migration name "net". No
 * bridge, veth or firewall rule is made here: the caller does that with what
 * these records say.
 *
 * Tables:
 *   networks   name (PK), id (64 hex, unique), bridge (unique), subnet,
 *              gateway, subnet6/gateway6 (NULL for now), internal, labels
 *              (JSON object), created (RFC 3339, UTC)
 *   endpoints  (network, container) PK, ip unique per network, mac, aliases
 *              (JSON array); a network with an endpoint cannot be removed
 *   ports      published ports (net/ports.h)
 *
 * Many bothy commands run at once: every change of more than one row is one
 * BEGIN IMMEDIATE transaction, so "the lowest free address" or "the first
 * free subnet" is chosen and taken under the write lock. Every function may
 * also be called inside a transaction the caller opened: it then uses a
 * SAVEPOINT, and its change becomes durable with the caller's COMMIT.
 *
 * Only IPv4 for now: subnet6 and gateway6 are always NULL.
 *
 * Errors are the error.h contract; the codes each function can return are
 * listed with it. A database failure is code 0 ("database: ..."). */
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

/* The default network: its name, its bridge and the /16 automatic subnets
 * are taken from (its first /24 is the default network's). */
#define BOTHY_NETWORK_DEFAULT        "bothy"
#define BOTHY_NETWORK_DEFAULT_BRIDGE "bothy0"
#define BOTHY_NETWORK_POOL           "10.89.0.0/16"

/* Creates the "net" tables if needed (every function below does it first;
 * cheap once done). */
int bothy_net_migrate(sqlite3 *db, bothy_error_t *err);

struct bothy_network {
  char *name;     /* [a-zA-Z0-9][a-zA-Z0-9_.-]* */
  char *id;       /* 64 lowercase hex */
  char *bridge;   /* "bothy" + the id's first 8 hex digits; "bothy0" for the default */
  char *subnet;   /* "10.89.3.0/24": an IPv4 network, prefix 8..30 */
  char *gateway;  /* "10.89.3.1": a host address of subnet (the bridge's address) */
  char *subnet6;  /* NULL */
  char *gateway6; /* NULL */
  bool internal;  /* no route out: the caller adds no masquerade or forward for it */
  json_t *labels; /* an object of strings, never NULL */
  char *created;  /* RFC 3339 with nanoseconds, UTC */
};

/* NULL-safe. */
void bothy_network_free(struct bothy_network *n);
void bothy_networks_free(struct bothy_network **v, size_t n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_network *, bothy_network_free)
#define _cleanup_network_ _cleanup_(bothy_network_freep)

struct bothy_network_req {
  const char *name;
  const char *subnet;  /* NULL: allocate */
  const char *gateway; /* NULL: the subnet's first host; given without a subnet: EINVAL */
  bool internal;
  json_t *labels; /* borrowed; NULL: none */
};

/* The host check: overlaps(cidr, ud) returns 1 if the host already uses an
 * address range that overlaps cidr ("10.89.3.0/24"; a route or an address of
 * one of its interfaces), 0 if not, a negative errno if it cannot tell (the
 * create then fails with that code). NULL: the host is not checked. */
typedef int (*bothy_net_overlaps_fn)(const char *cidr, void *ud);

/* Creates the network's record. Automatic subnets: the first /24 of
 * 10.89.0.0/16 that overlaps no other network's subnet and that the host
 * does not use (10.89.0.0/24 is kept for the default network "bothy").
 * *ret (optional) receives the new record.
 * Errors:
 *   EINVAL      invalid network name "x": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed
 *   EINVAL      invalid subnet "x": <why> (not an IPv4 CIDR, prefix outside
 *               8..30, host bits set)
 *   EINVAL      invalid gateway "x": <why> (not an IPv4 address, outside the
 *               subnet, its network or broadcast address)
 *   EEXIST      network "x" already exists
 *   EADDRINUSE  subnet 10.89.3.0/24 overlaps network "x" / is in use on the host
 *   ENOSPC      no free subnet left in 10.89.0.0/16 */
int bothy_network_create(sqlite3 *db, const struct bothy_network_req *req,
                         bothy_net_overlaps_fn overlaps, void *ud, struct bothy_network **ret,
                         bothy_error_t *err);

/* The default network "bothy", created on first use with 10.89.0.0/24 if
 * that is free, else with the first free /24 (errors as create). */
int bothy_network_default(sqlite3 *db, bothy_net_overlaps_fn overlaps, void *ud,
                          struct bothy_network **ret, bothy_error_t *err);

/* name_or_id: a name, a full id or a unique prefix of an id (as docker: an
 * exact id wins, then a name, then a prefix).
 * Errors: ENOENT network "x" not found; EINVAL multiple networks match "x". */
int bothy_network_get(sqlite3 *db, const char *name_or_id, struct bothy_network **ret,
                      bothy_error_t *err);

/* Every network, by name. *ret is an array of *ret_n records (NULL when
 * there are none); free it with bothy_networks_free(). */
int bothy_network_list(sqlite3 *db, struct bothy_network ***ret, size_t *ret_n, bothy_error_t *err);

/* Removes the record of the network name (or id, as get). Not the bridge:
 * the caller does that. The caller decides before whether endpoints left are
 * stale (their container is gone) and removes those.
 * Errors: ENOENT network "x" not found; EBUSY network "x" has active endpoints. */
int bothy_network_remove(sqlite3 *db, const char *name, bothy_error_t *err);

struct bothy_endpoint {
  char *network;   /* the network's name */
  char *container; /* the container's id, 64 lowercase hex */
  char *ip;        /* "10.89.3.2" */
  char *mac;       /* "02:42:0a:59:03:02": 02:42 and the ip's four bytes, as docker */
  char **aliases;  /* NULL-terminated; NULL when there are none */
};

void bothy_endpoint_free(struct bothy_endpoint *e); /* NULL-safe */
void bothy_endpoints_free(struct bothy_endpoint **v, size_t n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_endpoint *, bothy_endpoint_free)
#define _cleanup_endpoint_ _cleanup_(bothy_endpoint_freep)

/* Gives container an address on network (a name or id, as get): ip NULL is
 * the lowest free host address other than the gateway, else ip itself.
 * Idempotent per (network, container): when the container already has an
 * endpoint there, that one is returned unchanged (ip and aliases are not
 * compared). *ret is optional.
 * Errors:
 *   ENOENT      network "x" not found
 *   EINVAL      invalid container id "x" (not 64 lowercase hex)
 *   EINVAL      invalid address "x": <why> (not IPv4, outside the subnet, its
 *               network, broadcast or gateway address)
 *   EADDRINUSE  address x is in use on network "y"
 *   ENOSPC      no free address left on network "y" (subnet) */
int bothy_endpoint_add(sqlite3 *db, const char *network, const char *container, const char *ip,
                       char *const *aliases, struct bothy_endpoint **ret, bothy_error_t *err);

/* Removes the endpoint; none there (or no such network) is success. */
int bothy_endpoint_remove(sqlite3 *db, const char *network, const char *container,
                          bothy_error_t *err);

/* The endpoints of a container (by network name) or of a network (name or
 * id; ENOENT if unknown, by address). *ret (NULL when none) is freed with
 * bothy_endpoints_free(). */
int bothy_endpoints_of_container(sqlite3 *db, const char *container, struct bothy_endpoint ***ret,
                                 size_t *ret_n, bothy_error_t *err);
int bothy_endpoints_of_network(sqlite3 *db, const char *network, struct bothy_endpoint ***ret,
                               size_t *ret_n, bothy_error_t *err);

/* For net/ports.c: the "net" tables migrated, then bothy_db_tx_begin();
 * end it with bothy_db_tx_commit/rollback (base/db.h). */
int bothy_net_tx_begin(sqlite3 *db, bothy_error_t *err);
