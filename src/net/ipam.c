/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/ipam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/db.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/state.h"

/* ---- schema ------------------------------------------------------------- */

static const char *const migrations[] = {
  /* 1: networks, their endpoints, published ports. The endpoints and ports
   * refer to containers by id without a foreign key: the container tables
   * belong to an upper layer, which removes a container's endpoints and
   * ports with it. */
  "CREATE TABLE networks ("
  "  name TEXT PRIMARY KEY,"
  "  id TEXT NOT NULL UNIQUE,"
  "  bridge TEXT NOT NULL UNIQUE,"
  "  subnet TEXT NOT NULL,"
  "  gateway TEXT NOT NULL,"
  "  subnet6 TEXT,"
  "  gateway6 TEXT,"
  "  internal INTEGER NOT NULL DEFAULT 0,"
  "  labels TEXT NOT NULL DEFAULT '{}',"
  "  created TEXT NOT NULL);"
  "CREATE TABLE endpoints ("
  "  network TEXT NOT NULL REFERENCES networks(name),"
  "  container TEXT NOT NULL,"
  "  ip TEXT NOT NULL,"
  "  mac TEXT NOT NULL,"
  "  aliases TEXT NOT NULL DEFAULT '[]',"
  "  PRIMARY KEY (network, container),"
  "  UNIQUE (network, ip));"
  "CREATE INDEX endpoints_by_container ON endpoints(container);"
  "CREATE TABLE ports ("
  "  container TEXT NOT NULL,"
  "  host_ip TEXT NOT NULL,"
  "  host_port INTEGER NOT NULL,"
  "  proto TEXT NOT NULL,"
  "  ctr_port INTEGER NOT NULL,"
  "  PRIMARY KEY (host_ip, host_port, proto));"
  "CREATE INDEX ports_by_container ON ports(container);",
};

int bothy_net_migrate(sqlite3 *db, bothy_error_t *err)
{
  return bothy_db_migrate(db, "net", migrations, ARRAY_SIZE(migrations), err);
}

int bothy_net_tx_begin(sqlite3 *db, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  return bothy_db_tx_begin(db, err);
}

/* ---- helpers ------------------------------------------------------------ */

static bool valid_name(const char *name)
{
  if (!name || !*name)
    return false;
  for (size_t i = 0; name[i]; i++) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
      return false;
  }
  return true;
}

static bool is_lower_hex(const char *s, size_t min, size_t max)
{
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
      return false;
  return n >= min && n <= max;
}

/* Dotted-quad IPv4 only (inet_pton's AF_INET: no shorthand, no leading
 * zeros taken as octal), in host byte order. */
static bool parse_ip4(const char *s, uint32_t *ret)
{
  struct in_addr a;
  if (!s || inet_pton(AF_INET, s, &a) != 1)
    return false;
  *ret = ntohl(a.s_addr);
  return true;
}

static char *ip4_string(uint32_t ip)
{
  return xasprintf("%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

static uint32_t prefix_mask(unsigned prefix)
{
  return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

struct cidr {
  uint32_t net;
  unsigned prefix;
};

static uint32_t cidr_broadcast(struct cidr c)
{
  return c.net | ~prefix_mask(c.prefix);
}

static bool cidrs_overlap(struct cidr a, struct cidr b)
{
  uint32_t m = prefix_mask(a.prefix < b.prefix ? a.prefix : b.prefix);
  return (a.net & m) == (b.net & m);
}

static bool cidr_contains(struct cidr c, uint32_t ip)
{
  return (ip & prefix_mask(c.prefix)) == c.net;
}

static char *cidr_string(struct cidr c)
{
  _cleanup_free_ char *ip = ip4_string(c.net);
  return xasprintf("%s/%u", ip, c.prefix);
}

/* "10.89.3.0/24". On failure *ret_why (static) says why. */
static bool parse_cidr(const char *s, struct cidr *ret, const char **ret_why, char **ret_hint)
{
  const char *slash = strchr(s, '/');
  if (!slash || slash == s) {
    *ret_why = "not an IPv4 network in CIDR notation (such as 10.89.3.0/24)";
    return false;
  }
  _cleanup_free_ char *addr = xstrndup(s, (size_t) (slash - s));
  uint32_t ip = 0;
  if (!parse_ip4(addr, &ip)) {
    struct in6_addr a6;
    *ret_why = inet_pton(AF_INET6, addr, &a6) == 1
                   ? "only IPv4 subnets are supported"
                   : "not an IPv4 network in CIDR notation (such as 10.89.3.0/24)";
    return false;
  }
  const char *p = slash + 1;
  unsigned prefix = 0;
  size_t digits = 0;
  for (; *p >= '0' && *p <= '9' && digits < 3; p++, digits++)
    prefix = prefix * 10 + (unsigned) (*p - '0');
  if (digits == 0 || *p) {
    *ret_why = "not an IPv4 network in CIDR notation (such as 10.89.3.0/24)";
    return false;
  }
  if (prefix < 8 || prefix > 30) {
    *ret_why = "the prefix length must be between 8 and 30";
    return false;
  }
  struct cidr c = { ip & prefix_mask(prefix), prefix };
  if (c.net != ip) {
    *ret_why = "host bits are set";
    if (ret_hint)
      *ret_hint = cidr_string(c);
    return false;
  }
  *ret = c;
  return true;
}

/* For subnets read back from the database, which were checked when stored. */
static bool stored_cidr(const char *s, struct cidr *ret)
{
  const char *why;
  return s && parse_cidr(s, ret, &why, NULL);
}

static char *mac_of(uint32_t ip)
{
  return xasprintf("02:42:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                   ip & 0xff);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
  const unsigned char *s = sqlite3_column_text(st, i);
  return s ? xstrdup((const char *) s) : NULL;
}

/* ---- networks ----------------------------------------------------------- */

void bothy_network_free(struct bothy_network *n)
{
  if (!n)
    return;
  free(n->name);
  free(n->id);
  free(n->bridge);
  free(n->subnet);
  free(n->gateway);
  free(n->subnet6);
  free(n->gateway6);
  json_decref(n->labels);
  free(n->created);
  free(n);
}

void bothy_networks_free(struct bothy_network **v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    bothy_network_free(v[i]);
  free(v);
}

#define NETWORK_COLUMNS                                                                            \
  "name, id, bridge, subnet, gateway, subnet6, gateway6, internal, labels, created"

static struct bothy_network *network_from_row(sqlite3_stmt *st)
{
  struct bothy_network *n = xmalloc0(sizeof(*n));
  n->name = column_dup(st, 0);
  n->id = column_dup(st, 1);
  n->bridge = column_dup(st, 2);
  n->subnet = column_dup(st, 3);
  n->gateway = column_dup(st, 4);
  n->subnet6 = column_dup(st, 5);
  n->gateway6 = column_dup(st, 6);
  n->internal = sqlite3_column_int(st, 7) != 0;
  const char *labels = (const char *) sqlite3_column_text(st, 8);
  n->labels = labels ? json_loads(labels, 0, NULL) : NULL;
  if (!json_is_object(n->labels)) {
    json_decref(n->labels);
    n->labels = json_object();
  }
  n->created = column_dup(st, 9);
  return n;
}

/* One query of a lookup: 1 and *ret when one row matched, 0 when none, 2
 * when more than one did. */
static int network_query(sqlite3 *db, const char *sql, const char *ref, struct bothy_network **ret,
                         bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, sql, &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return bothy_db_error(db, err, "reading the networks");
  _cleanup_network_ struct bothy_network *n = network_from_row(st);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 2;
  if (rc != SQLITE_DONE)
    return bothy_db_error(db, err, "reading the networks");
  *ret = TAKE_PTR(n);
  return 1;
}

static int network_lookup(sqlite3 *db, const char *ref, struct bothy_network **ret,
                          bothy_error_t *err)
{
  if (!ref || !*ref)
    return bothy_error_set_code(err, ENOENT, "network \"%s\" not found", ref ? ref : "");
  static const char *const queries[] = {
    "SELECT " NETWORK_COLUMNS " FROM networks WHERE id = ?1",
    "SELECT " NETWORK_COLUMNS " FROM networks WHERE name = ?1",
    "SELECT " NETWORK_COLUMNS " FROM networks WHERE substr(id, 1, length(?1)) = ?1 LIMIT 2",
  };
  bool hex = is_lower_hex(ref, 1, 64);
  for (size_t i = 0; i < ARRAY_SIZE(queries); i++) {
    if (i != 1 && !hex)
      continue;
    int r = network_query(db, queries[i], ref, ret, err);
    if (r < 0)
      return r;
    if (r == 1)
      return 0;
    if (r == 2)
      return bothy_error_set_code(err, EINVAL, "multiple networks match \"%s\"", ref);
  }
  return bothy_error_set_code(err, ENOENT, "network \"%s\" not found", ref);
}

int bothy_network_get(sqlite3 *db, const char *name_or_id, struct bothy_network **ret,
                      bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  return network_lookup(db, name_or_id, ret, err);
}

int bothy_network_list(sqlite3 *db, struct bothy_network ***ret, size_t *ret_n, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT " NETWORK_COLUMNS " FROM networks ORDER BY name", &st, err) < 0)
    return -1;
  struct bothy_network **v = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    v = xrealloc(v, (n + 1) * sizeof(*v));
    v[n++] = network_from_row(st);
  }
  if (rc != SQLITE_DONE) {
    bothy_networks_free(v, n);
    return bothy_db_error(db, err, "reading the networks");
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

/* The subnets of every network, with their names. */
struct subnet_entry {
  char *name;
  struct cidr cidr;
};

static void subnets_free(struct subnet_entry *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i].name);
  free(v);
}

static int read_subnets(sqlite3 *db, struct subnet_entry **ret, size_t *ret_n, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT name, subnet FROM networks", &st, err) < 0)
    return -1;
  struct subnet_entry *v = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct cidr c = { 0, 0 };
    if (!stored_cidr((const char *) sqlite3_column_text(st, 1), &c))
      continue;
    v = xrealloc(v, (n + 1) * sizeof(*v));
    v[n].name = column_dup(st, 0);
    v[n].cidr = c;
    n++;
  }
  if (rc != SQLITE_DONE) {
    subnets_free(v, n);
    return bothy_db_error(db, err, "reading the networks");
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

static const char *overlapping_network(const struct subnet_entry *v, size_t n, struct cidr c)
{
  for (size_t i = 0; i < n; i++)
    if (cidrs_overlap(v[i].cidr, c))
      return v[i].name;
  return NULL;
}

static int host_overlaps(bothy_net_overlaps_fn overlaps, void *ud, const char *cidr,
                         bothy_error_t *err)
{
  if (!overlaps)
    return 0;
  int r = overlaps(cidr, ud);
  if (r < 0)
    return bothy_error_set(err, -r, "checking whether the host uses %s", cidr);
  return r > 0 ? 1 : 0;
}

/* The subnet of a new network, with the names of the others in v. */
static int choose_subnet(const struct bothy_network_req *req, const struct subnet_entry *v,
                         size_t n, bothy_net_overlaps_fn overlaps, void *ud, struct cidr *ret,
                         bothy_error_t *err)
{
  if (req->subnet) {
    struct cidr c = { 0, 0 };
    const char *why = NULL;
    _cleanup_free_ char *hint = NULL;
    if (!parse_cidr(req->subnet, &c, &why, &hint)) {
      if (hint)
        return bothy_error_set_code(err, EINVAL, "invalid subnet \"%s\": %s (did you mean %s?)",
                                    req->subnet, why, hint);
      return bothy_error_set_code(err, EINVAL, "invalid subnet \"%s\": %s", req->subnet, why);
    }
    _cleanup_free_ char *s = cidr_string(c);
    const char *other = overlapping_network(v, n, c);
    if (other)
      return bothy_error_set_code(err, EADDRINUSE, "subnet %s overlaps network \"%s\"", s, other);
    int r = host_overlaps(overlaps, ud, s, err);
    if (r < 0)
      return r;
    if (r > 0)
      return bothy_error_set_code(err, EADDRINUSE,
                                  "subnet %s overlaps an address range in use on the host", s);
    *ret = c;
    return 0;
  }
  /* 10.89.0.0/24 is the default network's, even before it exists, so that
   * it gets it when it is created later. */
  struct cidr pool;
  const char *why;
  if (!parse_cidr(BOTHY_NETWORK_POOL, &pool, &why, NULL))
    abort();
  unsigned first = streq(req->name, BOTHY_NETWORK_DEFAULT) ? 0 : 1;
  for (unsigned i = first; i < 256; i++) {
    struct cidr c = { pool.net | (i << 8), 24 };
    if (overlapping_network(v, n, c))
      continue;
    _cleanup_free_ char *s = cidr_string(c);
    int r = host_overlaps(overlaps, ud, s, err);
    if (r < 0)
      return r;
    if (r == 0) {
      *ret = c;
      return 0;
    }
  }
  return bothy_error_set_code(err, ENOSPC, "no free subnet left in %s", BOTHY_NETWORK_POOL);
}

static int choose_gateway(const struct bothy_network_req *req, struct cidr c, uint32_t *ret,
                          bothy_error_t *err)
{
  if (!req->gateway) {
    *ret = c.net + 1;
    return 0;
  }
  uint32_t gw = 0;
  if (!parse_ip4(req->gateway, &gw))
    return bothy_error_set_code(err, EINVAL, "invalid gateway \"%s\": not an IPv4 address",
                                req->gateway);
  _cleanup_free_ char *s = cidr_string(c);
  if (!cidr_contains(c, gw))
    return bothy_error_set_code(err, EINVAL, "invalid gateway \"%s\": not inside the subnet %s",
                                req->gateway, s);
  if (gw == c.net || gw == cidr_broadcast(c))
    return bothy_error_set_code(err, EINVAL,
                                "invalid gateway \"%s\": the %s address of the subnet %s",
                                req->gateway, gw == c.net ? "network" : "broadcast", s);
  *ret = gw;
  return 0;
}

static int network_exists(sqlite3 *db, const char *name, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT 1 FROM networks WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  return bothy_db_error(db, err, "reading the networks");
}

/* The part of create inside the transaction. */
static int network_insert(sqlite3 *db, const struct bothy_network_req *req,
                          bothy_net_overlaps_fn overlaps, void *ud, struct bothy_network **ret,
                          bothy_error_t *err)
{
  int r = network_exists(db, req->name, err);
  if (r < 0)
    return r;
  if (r > 0)
    return bothy_error_set_code(err, EEXIST, "network \"%s\" already exists", req->name);

  struct subnet_entry *subnets = NULL;
  size_t nsubnets = 0;
  if (read_subnets(db, &subnets, &nsubnets, err) < 0)
    return -1;
  struct cidr c = { 0, 0 };
  r = choose_subnet(req, subnets, nsubnets, overlaps, ud, &c, err);
  subnets_free(subnets, nsubnets);
  if (r < 0)
    return r;
  uint32_t gw = 0;
  if (choose_gateway(req, c, &gw, err) < 0)
    return bothy_error_ret(err);

  _cleanup_network_ struct bothy_network *n = xmalloc0(sizeof(*n));
  n->name = xstrdup(req->name);
  n->subnet = cidr_string(c);
  n->gateway = ip4_string(gw);
  n->internal = req->internal;
  n->labels = req->labels ? json_deep_copy(req->labels) : json_object();
  n->created = bothy_time_now_rfc3339();
  _cleanup_free_ char *labels = json_dumps(n->labels, JSON_SORT_KEYS | JSON_COMPACT);

  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "INSERT INTO networks (name, id, bridge, subnet, gateway, internal, "
                       "labels, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       &st, err) < 0)
    return -1;
  /* The name was checked under the write lock: a constraint failure is the
   * id or the bridge name (its first 8 hex digits) being taken, so draw
   * again. */
  for (int attempt = 0;; attempt++) {
    free(n->id);
    free(n->bridge);
    n->id = bothy_random_hex(32);
    n->bridge = streq(n->name, BOTHY_NETWORK_DEFAULT) ? xstrdup(BOTHY_NETWORK_DEFAULT_BRIDGE)
                                                      : xasprintf("bothy%.8s", n->id);
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, n->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->bridge, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, n->subnet, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, n->gateway, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, n->internal);
    sqlite3_bind_text(st, 7, labels ? labels : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, n->created, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
      break;
    if (rc != SQLITE_CONSTRAINT || attempt >= 16)
      return bothy_db_error(db, err, "recording the network");
  }
  if (ret)
    *ret = TAKE_PTR(n);
  return 0;
}

static int labels_valid(json_t *labels, bothy_error_t *err)
{
  if (!labels)
    return 0;
  if (!json_is_object(labels))
    return bothy_error_set_code(err, EINVAL,
                                "the labels of a network must be an object of strings");
  const char *key;
  json_t *value;
  json_object_foreach (labels, key, value) {
    if (!json_is_string(value))
      return bothy_error_set_code(err, EINVAL, "label \"%s\" of a network must be a string", key);
  }
  return 0;
}

int bothy_network_create(sqlite3 *db, const struct bothy_network_req *req,
                         bothy_net_overlaps_fn overlaps, void *ud, struct bothy_network **ret,
                         bothy_error_t *err)
{
  if (!valid_name(req->name))
    return bothy_error_set_code(
        err, EINVAL, "invalid network name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
        req->name ? req->name : "");
  if (req->gateway && !req->subnet)
    return bothy_error_set_code(err, EINVAL, "invalid gateway \"%s\": a gateway needs a subnet",
                                req->gateway);
  if (labels_valid(req->labels, err) < 0)
    return bothy_error_ret(err);
  int tx = bothy_net_tx_begin(db, err);
  if (tx < 0)
    return -1;
  _cleanup_network_ struct bothy_network *n = NULL;
  if (network_insert(db, req, overlaps, ud, &n, err) < 0) {
    bothy_db_tx_rollback(db, tx);
    return bothy_error_ret(err);
  }
  if (bothy_db_tx_commit(db, tx, err) < 0)
    return -1;
  if (ret)
    *ret = TAKE_PTR(n);
  return 0;
}

int bothy_network_default(sqlite3 *db, bothy_net_overlaps_fn overlaps, void *ud,
                          struct bothy_network **ret, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  /* The common case, without taking the write lock. */
  _cleanup_network_ struct bothy_network *n = NULL;
  int r = network_query(db, "SELECT " NETWORK_COLUMNS " FROM networks WHERE name = ?1",
                        BOTHY_NETWORK_DEFAULT, &n, err);
  if (r < 0)
    return r;
  if (r == 0) {
    /* Looked for again under the write lock: two commands creating it at
     * once make it once. */
    int tx = bothy_net_tx_begin(db, err);
    if (tx < 0)
      return -1;
    r = network_query(db, "SELECT " NETWORK_COLUMNS " FROM networks WHERE name = ?1",
                      BOTHY_NETWORK_DEFAULT, &n, err);
    if (r == 0) {
      struct bothy_network_req req = { .name = BOTHY_NETWORK_DEFAULT };
      r = network_insert(db, &req, overlaps, ud, &n, err);
    }
    if (r < 0) {
      bothy_db_tx_rollback(db, tx);
      return bothy_error_prefix(err, "creating the default network");
    }
    if (bothy_db_tx_commit(db, tx, err) < 0)
      return -1;
  }
  if (ret)
    *ret = TAKE_PTR(n);
  return 0;
}

static int count_endpoints(sqlite3 *db, const char *network, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT count(*) FROM endpoints WHERE network = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW)
    return bothy_db_error(db, err, "reading the endpoints");
  return sqlite3_column_int(st, 0);
}

static int network_delete(sqlite3 *db, const char *name, bothy_error_t *err)
{
  _cleanup_network_ struct bothy_network *n = NULL;
  if (network_lookup(db, name, &n, err) < 0)
    return bothy_error_ret(err);
  int count = count_endpoints(db, n->name, err);
  if (count < 0)
    return -1;
  if (count > 0)
    return bothy_error_set_code(err, EBUSY, "network \"%s\" has active endpoints", n->name);
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "DELETE FROM networks WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(db, err, "removing the network");
  return 0;
}

int bothy_network_remove(sqlite3 *db, const char *name, bothy_error_t *err)
{
  int tx = bothy_net_tx_begin(db, err);
  if (tx < 0)
    return -1;
  if (network_delete(db, name, err) < 0) {
    bothy_db_tx_rollback(db, tx);
    return bothy_error_ret(err);
  }
  return bothy_db_tx_commit(db, tx, err);
}

/* ---- endpoints ---------------------------------------------------------- */

void bothy_endpoint_free(struct bothy_endpoint *e)
{
  if (!e)
    return;
  free(e->network);
  free(e->container);
  free(e->ip);
  free(e->mac);
  strv_free(e->aliases);
  free(e);
}

void bothy_endpoints_free(struct bothy_endpoint **v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    bothy_endpoint_free(v[i]);
  free(v);
}

#define ENDPOINT_COLUMNS "network, container, ip, mac, aliases"

static struct bothy_endpoint *endpoint_from_row(sqlite3_stmt *st)
{
  struct bothy_endpoint *e = xmalloc0(sizeof(*e));
  e->network = column_dup(st, 0);
  e->container = column_dup(st, 1);
  e->ip = column_dup(st, 2);
  e->mac = column_dup(st, 3);
  const char *aliases = (const char *) sqlite3_column_text(st, 4);
  _cleanup_json_ json_t *a = aliases ? json_loads(aliases, 0, NULL) : NULL;
  size_t i;
  json_t *s;
  json_array_foreach (a, i, s) {
    if (json_is_string(s))
      strv_push(&e->aliases, xstrdup(json_string_value(s)));
  }
  return e;
}

static int read_endpoints(sqlite3 *db, sqlite3_stmt *st, struct bothy_endpoint ***ret,
                          size_t *ret_n, bothy_error_t *err)
{
  struct bothy_endpoint **v = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    v = xrealloc(v, (n + 1) * sizeof(*v));
    v[n++] = endpoint_from_row(st);
  }
  if (rc != SQLITE_DONE) {
    bothy_endpoints_free(v, n);
    return bothy_db_error(db, err, "reading the endpoints");
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

static int endpoint_query(sqlite3 *db, const char *network, const char *container,
                          struct bothy_endpoint **ret, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(
          db, "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE network = ? AND container = ?", &st,
          err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, container, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return bothy_db_error(db, err, "reading the endpoints");
  *ret = endpoint_from_row(st);
  return 1;
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return x < y ? -1 : x > y;
}

/* The lowest host address of c that is neither the gateway nor in use. */
static int lowest_free(sqlite3 *db, const struct bothy_network *n, struct cidr c, uint32_t gw,
                       uint32_t *ret, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT ip FROM endpoints WHERE network = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
  _cleanup_free_ uint32_t *used = xmalloc(sizeof(*used));
  size_t nused = 0;
  used[nused++] = gw;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    uint32_t ip = 0;
    if (!parse_ip4((const char *) sqlite3_column_text(st, 0), &ip))
      continue;
    used = xrealloc(used, (nused + 1) * sizeof(*used));
    used[nused++] = ip;
  }
  if (rc != SQLITE_DONE)
    return bothy_db_error(db, err, "reading the endpoints");
  qsort(used, nused, sizeof(*used), cmp_u32);
  uint32_t want = c.net + 1;
  for (size_t i = 0; i < nused; i++) {
    if (used[i] < want)
      continue;
    if (used[i] > want)
      break;
    want++;
  }
  if (want >= cidr_broadcast(c))
    return bothy_error_set_code(err, ENOSPC, "no free address left on network \"%s\" (%s)", n->name,
                                n->subnet);
  *ret = want;
  return 0;
}

static int address_in_use(sqlite3 *db, const char *network, const char *ip, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT 1 FROM endpoints WHERE network = ? AND ip = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, ip, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  return bothy_db_error(db, err, "reading the endpoints");
}

/* The part of endpoint_add inside the transaction. */
static int endpoint_insert(sqlite3 *db, const char *network, const char *container,
                           const char *want_ip, char *const *aliases, struct bothy_endpoint **ret,
                           bothy_error_t *err)
{
  _cleanup_network_ struct bothy_network *n = NULL;
  if (network_lookup(db, network, &n, err) < 0)
    return bothy_error_ret(err);
  int r = endpoint_query(db, n->name, container, ret, err);
  if (r != 0)
    return r < 0 ? r : 0;

  struct cidr c = { 0, 0 };
  uint32_t gw = 0;
  if (!stored_cidr(n->subnet, &c) || !parse_ip4(n->gateway, &gw))
    return bothy_error_set_code(err, EINVAL, "network \"%s\" has an invalid subnet or gateway",
                                n->name);
  uint32_t ip = 0;
  if (want_ip) {
    if (!parse_ip4(want_ip, &ip))
      return bothy_error_set_code(err, EINVAL, "invalid address \"%s\": not an IPv4 address",
                                  want_ip);
    if (!cidr_contains(c, ip))
      return bothy_error_set_code(err, EINVAL,
                                  "invalid address \"%s\": not inside the subnet %s of network "
                                  "\"%s\"",
                                  want_ip, n->subnet, n->name);
    if (ip == c.net || ip == cidr_broadcast(c) || ip == gw)
      return bothy_error_set_code(
          err, EINVAL, "invalid address \"%s\": the %s address of network \"%s\"", want_ip,
          ip == gw      ? "gateway"
          : ip == c.net ? "network"
                        : "broadcast",
          n->name);
  } else if (lowest_free(db, n, c, gw, &ip, err) < 0) {
    return bothy_error_ret(err);
  }

  _cleanup_endpoint_ struct bothy_endpoint *e = xmalloc0(sizeof(*e));
  e->network = xstrdup(n->name);
  e->container = xstrdup(container);
  e->ip = ip4_string(ip);
  e->mac = mac_of(ip);
  e->aliases = strv_copy(aliases);
  if (want_ip) {
    r = address_in_use(db, n->name, e->ip, err);
    if (r < 0)
      return r;
    if (r > 0)
      return bothy_error_set_code(err, EADDRINUSE, "address %s is in use on network \"%s\"", e->ip,
                                  n->name);
  }
  _cleanup_json_ json_t *a = json_array();
  for (size_t i = 0; aliases && aliases[i]; i++)
    json_array_append_new(a, json_string(aliases[i]));
  _cleanup_free_ char *aliases_json = json_dumps(a, JSON_COMPACT);

  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "INSERT INTO endpoints (network, container, ip, mac, aliases) "
                       "VALUES (?, ?, ?, ?, ?)",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, e->network, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, e->container, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, e->ip, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, e->mac, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, aliases_json ? aliases_json : "[]", -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(db, err, "recording the endpoint");
  *ret = TAKE_PTR(e);
  return 0;
}

int bothy_endpoint_add(sqlite3 *db, const char *network, const char *container, const char *ip,
                       char *const *aliases, struct bothy_endpoint **ret, bothy_error_t *err)
{
  if (!container || !is_lower_hex(container, 64, 64))
    return bothy_error_set_code(err, EINVAL, "invalid container id \"%s\"",
                                container ? container : "");
  int tx = bothy_net_tx_begin(db, err);
  if (tx < 0)
    return -1;
  _cleanup_endpoint_ struct bothy_endpoint *e = NULL;
  if (endpoint_insert(db, network, container, ip, aliases, &e, err) < 0) {
    bothy_db_tx_rollback(db, tx);
    return bothy_error_ret(err);
  }
  if (bothy_db_tx_commit(db, tx, err) < 0)
    return -1;
  if (ret)
    *ret = TAKE_PTR(e);
  return 0;
}

int bothy_endpoint_remove(sqlite3 *db, const char *network, const char *container,
                          bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "DELETE FROM endpoints WHERE container = ?2 AND network IN "
                       "(SELECT name FROM networks WHERE name = ?1 OR id = ?1)",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, container, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(db, err, "removing the endpoint");
  return 0;
}

int bothy_endpoints_of_container(sqlite3 *db, const char *container, struct bothy_endpoint ***ret,
                                 size_t *ret_n, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(
          db, "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE container = ? ORDER BY network",
          &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, container, -1, SQLITE_STATIC);
  return read_endpoints(db, st, ret, ret_n, err);
}

static int cmp_endpoint_ip(const void *a, const void *b)
{
  const struct bothy_endpoint *x = *(struct bothy_endpoint *const *) a;
  const struct bothy_endpoint *y = *(struct bothy_endpoint *const *) b;
  uint32_t ix = 0, iy = 0;
  parse_ip4(x->ip, &ix);
  parse_ip4(y->ip, &iy);
  return ix < iy ? -1 : ix > iy;
}

int bothy_endpoints_of_network(sqlite3 *db, const char *network, struct bothy_endpoint ***ret,
                               size_t *ret_n, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  _cleanup_network_ struct bothy_network *n = NULL;
  if (network_lookup(db, network, &n, err) < 0)
    return bothy_error_ret(err);
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE network = ?", &st,
                       err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
  struct bothy_endpoint **v = NULL;
  size_t count = 0;
  if (read_endpoints(db, st, &v, &count, err) < 0)
    return -1;
  if (count > 1)
    qsort(v, count, sizeof(*v), cmp_endpoint_ip);
  *ret = v;
  *ret_n = count;
  return 0;
}
