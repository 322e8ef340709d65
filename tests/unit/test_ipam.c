/* SPDX-License-Identifier: GPL-2.0-or-later */
/* net/ipam: network records and address allocation in a temporary
 * database. The forked children of the concurrency test never use cmocka
 * (its longjmp would go on with the tests in the child): they report
 * through their exit status. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/db.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "net/ipam.h"

struct fixture {
  char *dir;  /* the mkdtemp directory */
  char *path; /* dir/bothy.db */
  sqlite3 *db;
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  f->dir = xstrdup("/tmp/bothy-ipam.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->path = xasprintf("%s/bothy.db", f->dir);
  assert_int_equal(bothy_db_open(f->path, &f->db, NULL), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  sqlite3_close_v2(f->db);
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->dir, NULL), 0);
  free(f->path);
  free(f->dir);
  free(f);
  return 0;
}

/* A 64-hex container id from a small number. */
static char *ctr_id(unsigned i)
{
  return xasprintf("%064x", i);
}

/* Creates a network; returns what create returned, with the message in
 * *ret_msg (optional, caller frees) and the record in *ret (optional). */
static int create_full(struct fixture *f, const char *name, const char *subnet, const char *gateway,
                       bothy_net_overlaps_fn overlaps, void *ud, struct bothy_network **ret,
                       char **ret_msg)
{
  struct bothy_network_req req = { .name = name, .subnet = subnet, .gateway = gateway };
  bothy_error_t err = NULL;
  int r = bothy_network_create(f->db, &req, overlaps, ud, ret, &err);
  if (r < 0) {
    assert_non_null(err);
    assert_int_equal(r, -err->code);
    if (ret_msg)
      *ret_msg = xstrdup(err->msg);
    bothy_error_free(&err);
  } else {
    assert_null(err);
  }
  return r;
}

static char *create_subnet(struct fixture *f, const char *name)
{
  _cleanup_network_ struct bothy_network *n = NULL;
  assert_int_equal(create_full(f, name, NULL, NULL, NULL, NULL, &n, NULL), 0);
  return xstrdup(n->subnet);
}

/* msg is a pointer: the order in which a call's arguments are evaluated
 * is unspecified, and *msg is only set by the call in r. */
static void assert_fails(int r, int code, char **msg, const char *want)
{
  assert_int_equal(r, -code);
  const char *m = *msg ? *msg : "(no message)";
  if (!strstr(m, want))
    fail_msg("message '%s' does not contain '%s'", m, want);
  free(*msg);
  *msg = NULL;
}

static size_t count_networks(struct fixture *f)
{
  struct bothy_network **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_network_list(f->db, &v, &n, NULL), 0);
  bothy_networks_free(v, n);
  return n;
}

static bool is_hex(const char *s, size_t len)
{
  if (strlen(s) != len)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!strchr("0123456789abcdef", s[i]))
      return false;
  return true;
}

/* ---- networks ----------------------------------------------------------- */

static void test_create_fields(void **state)
{
  struct fixture *f = *state;
  _cleanup_json_ json_t *labels = json_pack("{s:s}", "app", "blog");
  struct bothy_network_req req = { .name = "front", .internal = true, .labels = labels };
  _cleanup_network_ struct bothy_network *n = NULL;
  assert_int_equal(bothy_network_create(f->db, &req, NULL, NULL, &n, NULL), 0);
  assert_string_equal(n->name, "front");
  assert_true(is_hex(n->id, 64));
  _cleanup_free_ char *bridge = xasprintf("bothy%.8s", n->id);
  assert_string_equal(n->bridge, bridge);
  assert_true(strlen(n->bridge) <= 15);
  assert_string_equal(n->subnet, "10.89.1.0/24");
  assert_string_equal(n->gateway, "10.89.1.1");
  assert_null(n->subnet6);
  assert_null(n->gateway6);
  assert_true(n->internal);
  assert_string_equal(json_string_value(json_object_get(n->labels, "app")), "blog");
  assert_non_null(n->created);
  assert_int_equal(strlen(n->created), strlen("2026-01-01T00:00:00.000000000Z"));

  /* Read back the same, by name, id and prefix. */
  const char *refs[] = { "front", n->id, bridge + strlen("bothy") };
  for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
    _cleanup_network_ struct bothy_network *g = NULL;
    assert_int_equal(bothy_network_get(f->db, refs[i], &g, NULL), 0);
    assert_string_equal(g->id, n->id);
    assert_string_equal(g->bridge, n->bridge);
    assert_string_equal(g->subnet, n->subnet);
    assert_string_equal(g->gateway, n->gateway);
    assert_string_equal(g->created, n->created);
    assert_true(g->internal);
    assert_true(json_equal(g->labels, labels));
  }
}

static void test_automatic_order(void **state)
{
  struct fixture *f = *state;
  /* 10.89.0.0/24 is kept for the default network, even before it exists. */
  _cleanup_free_ char *a = create_subnet(f, "a");
  _cleanup_free_ char *b = create_subnet(f, "b");
  _cleanup_free_ char *c = create_subnet(f, "c");
  assert_string_equal(a, "10.89.1.0/24");
  assert_string_equal(b, "10.89.2.0/24");
  assert_string_equal(c, "10.89.3.0/24");

  _cleanup_network_ struct bothy_network *d = NULL;
  assert_int_equal(bothy_network_default(f->db, NULL, NULL, &d, NULL), 0);
  assert_string_equal(d->name, "bothy");
  assert_string_equal(d->bridge, "bothy0");
  assert_string_equal(d->subnet, "10.89.0.0/24");
  assert_string_equal(d->gateway, "10.89.0.1");
  /* Once made, the same one. */
  _cleanup_network_ struct bothy_network *d2 = NULL;
  assert_int_equal(bothy_network_default(f->db, NULL, NULL, &d2, NULL), 0);
  assert_string_equal(d2->id, d->id);

  /* A freed subnet is the first free one again. */
  assert_int_equal(bothy_network_remove(f->db, "b", NULL), 0);
  _cleanup_free_ char *e = create_subnet(f, "e");
  assert_string_equal(e, "10.89.2.0/24");
  _cleanup_free_ char *g = create_subnet(f, "g");
  assert_string_equal(g, "10.89.4.0/24");

  /* An explicit subnet elsewhere in the pool is skipped by the next. */
  assert_int_equal(create_full(f, "h", "10.89.5.0/25", NULL, NULL, NULL, NULL, NULL), 0);
  _cleanup_free_ char *i = create_subnet(f, "i");
  assert_string_equal(i, "10.89.6.0/24");

  /* Listed by name. */
  struct bothy_network **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_network_list(f->db, &v, &n, NULL), 0);
  const char *want[] = { "a", "bothy", "c", "e", "g", "h", "i" };
  assert_int_equal(n, ARRAY_SIZE(want));
  for (size_t k = 0; k < n; k++)
    assert_string_equal(v[k]->name, want[k]);
  bothy_networks_free(v, n);
}

static void test_default_when_taken(void **state)
{
  struct fixture *f = *state;
  /* Someone took 10.89.0.0/24 explicitly: the default gets the first free
   * /24 instead. */
  assert_int_equal(create_full(f, "mine", "10.89.0.0/24", NULL, NULL, NULL, NULL, NULL), 0);
  _cleanup_free_ char *a = create_subnet(f, "a");
  assert_string_equal(a, "10.89.1.0/24");
  _cleanup_network_ struct bothy_network *d = NULL;
  assert_int_equal(bothy_network_default(f->db, NULL, NULL, &d, NULL), 0);
  assert_string_equal(d->subnet, "10.89.2.0/24");
  assert_string_equal(d->bridge, "bothy0");
}

/* The fake host: it uses the ranges in the NULL-terminated list ud. */
static int fake_host(const char *cidr, void *ud)
{
  static const char *const calls_fail = "fail";
  char **used = ud;
  if (used && used[0] && !strcmp(used[0], calls_fail))
    return -EIO;
  for (size_t i = 0; used && used[i]; i++)
    if (!strcmp(used[i], cidr))
      return 1;
  return 0;
}

static void test_overlaps(void **state)
{
  struct fixture *f = *state;
  char *msg = NULL;
  assert_int_equal(create_full(f, "a", "10.89.3.0/24", NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(create_full(f, "b", "172.30.0.0/16", NULL, NULL, NULL, NULL, NULL), 0);

  /* Same, larger, smaller, and containing subnets all overlap. */
  assert_fails(create_full(f, "x", "10.89.3.0/24", NULL, NULL, NULL, NULL, &msg), EADDRINUSE, &msg,
               "subnet 10.89.3.0/24 overlaps network \"a\"");
  assert_fails(create_full(f, "x", "10.89.0.0/16", NULL, NULL, NULL, NULL, &msg), EADDRINUSE, &msg,
               "subnet 10.89.0.0/16 overlaps network \"a\"");
  assert_fails(create_full(f, "x", "10.89.3.128/25", NULL, NULL, NULL, NULL, &msg), EADDRINUSE,
               &msg, "subnet 10.89.3.128/25 overlaps network \"a\"");
  assert_fails(create_full(f, "x", "10.0.0.0/8", NULL, NULL, NULL, NULL, &msg), EADDRINUSE, &msg,
               "overlaps network \"a\"");
  assert_fails(create_full(f, "x", "172.30.200.0/24", NULL, NULL, NULL, NULL, &msg), EADDRINUSE,
               &msg, "overlaps network \"b\"");
  /* Neighbours do not. */
  assert_int_equal(create_full(f, "c", "10.89.2.0/24", NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(create_full(f, "d", "10.89.4.0/23", NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(count_networks(f), 4);

  /* The host check: automatic subnets skip what the host uses. */
  char *host[] = { "10.89.1.0/24", "10.89.6.0/24", "192.168.1.0/24", NULL };
  _cleanup_network_ struct bothy_network *e = NULL;
  assert_int_equal(create_full(f, "e", NULL, NULL, fake_host, host, &e, NULL), 0);
  /* 1: host, 2: c, 3: a, 4-5: d, 6: host. */
  assert_string_equal(e->subnet, "10.89.7.0/24");
  /* A given subnet the host uses is refused. */
  assert_fails(create_full(f, "x", "192.168.1.0/24", NULL, fake_host, host, NULL, &msg), EADDRINUSE,
               &msg, "subnet 192.168.1.0/24 overlaps an address range in use on the host");
  /* The default takes 10.89.0.0/24 if the host does not use it... */
  char *host0[] = { "10.89.0.0/24", NULL };
  _cleanup_network_ struct bothy_network *def = NULL;
  assert_int_equal(bothy_network_default(f->db, fake_host, host0, &def, NULL), 0);
  /* ...else the first free one: 1 (c and a and d and e are at 2-7). */
  assert_string_equal(def->subnet, "10.89.1.0/24");
  /* A failing check fails the create, with its code. */
  char *failing[] = { "fail", NULL };
  assert_fails(create_full(f, "x", NULL, NULL, fake_host, failing, NULL, &msg), EIO, &msg,
               "checking whether the host uses 10.89.6.0/24");
  assert_int_equal(count_networks(f), 6);
}

static void test_pool_full(void **state)
{
  struct fixture *f = *state;
  /* The whole pool but the default's /24 in one network: nothing left. */
  assert_int_equal(create_full(f, "d", "10.89.128.0/17", NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(create_full(f, "c", "10.89.64.0/18", NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(create_full(f, "b", "10.89.32.0/19", NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(create_full(f, "a", "10.89.1.0/24", NULL, NULL, NULL, NULL, NULL), 0);
  for (unsigned i = 2; i < 32; i++) {
    _cleanup_free_ char *name = xasprintf("n%u", i);
    _cleanup_free_ char *s = create_subnet(f, name);
    _cleanup_free_ char *want = xasprintf("10.89.%u.0/24", i);
    assert_string_equal(s, want);
  }
  char *msg = NULL;
  assert_fails(create_full(f, "full", NULL, NULL, NULL, NULL, NULL, &msg), ENOSPC, &msg,
               "no free subnet left in 10.89.0.0/16");
  /* The default still gets its own. */
  _cleanup_network_ struct bothy_network *def = NULL;
  assert_int_equal(bothy_network_default(f->db, NULL, NULL, &def, NULL), 0);
  assert_string_equal(def->subnet, "10.89.0.0/24");
}

static void test_invalid_subnets(void **state)
{
  struct fixture *f = *state;
  static const struct {
    const char *subnet, *msg;
  } bad[] = {
    { "10.89.3.1/24", "invalid subnet \"10.89.3.1/24\": host bits are set (did you mean "
                      "10.89.3.0/24?)" },
    { "10.89.3.0", "invalid subnet \"10.89.3.0\": not an IPv4 network in CIDR notation" },
    { "10.89.3.0/", "invalid subnet \"10.89.3.0/\": not an IPv4 network" },
    { "/24", "invalid subnet \"/24\": not an IPv4 network" },
    { "10.89.3.0/24x", "invalid subnet \"10.89.3.0/24x\": not an IPv4 network" },
    { "10.89.3.0/-1", "invalid subnet \"10.89.3.0/-1\": not an IPv4 network" },
    { "10.89.3.0/0024", "invalid subnet \"10.89.3.0/0024\": not an IPv4 network" },
    { "10.89.300.0/24", "invalid subnet \"10.89.300.0/24\": not an IPv4 network" },
    { "10.89/16", "invalid subnet \"10.89/16\": not an IPv4 network" },
    { "bogus", "invalid subnet \"bogus\": not an IPv4 network" },
    { "", "invalid subnet \"\": not an IPv4 network" },
    { "10.89.3.0/31",
      "invalid subnet \"10.89.3.0/31\": the prefix length must be between 8 and 30" },
    { "10.89.3.0/32", "the prefix length must be between 8 and 30" },
    { "10.0.0.0/7", "the prefix length must be between 8 and 30" },
    { "0.0.0.0/0", "the prefix length must be between 8 and 30" },
    { "fd00:1::/64", "invalid subnet \"fd00:1::/64\": only IPv4 subnets are supported" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    char *msg = NULL;
    assert_fails(create_full(f, "x", bad[i].subnet, NULL, NULL, NULL, NULL, &msg), EINVAL, &msg,
                 bad[i].msg);
  }
  assert_int_equal(count_networks(f), 0);
  /* The edges that are fine. */
  assert_int_equal(create_full(f, "p8", "11.0.0.0/8", NULL, NULL, NULL, NULL, NULL), 0);
  _cleanup_network_ struct bothy_network *p30 = NULL;
  assert_int_equal(create_full(f, "p30", "192.168.7.4/30", NULL, NULL, NULL, &p30, NULL), 0);
  assert_string_equal(p30->gateway, "192.168.7.5");
}

static void test_gateways(void **state)
{
  struct fixture *f = *state;
  char *msg = NULL;
  _cleanup_network_ struct bothy_network *n = NULL;
  assert_int_equal(create_full(f, "g", "10.20.0.0/16", "10.20.255.254", NULL, NULL, &n, NULL), 0);
  assert_string_equal(n->gateway, "10.20.255.254");
  assert_fails(create_full(f, "x", "10.21.0.0/24", "10.21.1.1", NULL, NULL, NULL, &msg), EINVAL,
               &msg, "invalid gateway \"10.21.1.1\": not inside the subnet 10.21.0.0/24");
  assert_fails(create_full(f, "x", "10.21.0.0/24", "10.21.0.0", NULL, NULL, NULL, &msg), EINVAL,
               &msg,
               "invalid gateway \"10.21.0.0\": the network address of the subnet 10.21.0.0/24");
  assert_fails(create_full(f, "x", "10.21.0.0/24", "10.21.0.255", NULL, NULL, NULL, &msg), EINVAL,
               &msg, "invalid gateway \"10.21.0.255\": the broadcast address");
  assert_fails(create_full(f, "x", "10.21.0.0/24", "gw", NULL, NULL, NULL, &msg), EINVAL, &msg,
               "invalid gateway \"gw\": not an IPv4 address");
  assert_fails(create_full(f, "x", NULL, "10.89.9.1", NULL, NULL, NULL, &msg), EINVAL, &msg,
               "invalid gateway \"10.89.9.1\": a gateway needs a subnet");
  assert_int_equal(count_networks(f), 1);
}

static void test_names(void **state)
{
  struct fixture *f = *state;
  char *msg = NULL;
  const char *bad[] = { "", "-net", ".net", "_net", "a b", "a/b", "ä", "a:b" };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    _cleanup_free_ char *want = xasprintf("invalid network name \"%s\"", bad[i]);
    assert_fails(create_full(f, bad[i], NULL, NULL, NULL, NULL, NULL, &msg), EINVAL, &msg, want);
  }
  assert_int_equal(create_full(f, "Web_1.a-b", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  assert_fails(create_full(f, "Web_1.a-b", NULL, NULL, NULL, NULL, NULL, &msg), EEXIST, &msg,
               "network \"Web_1.a-b\" already exists");
  /* Even with a subnet that is free. */
  assert_fails(create_full(f, "Web_1.a-b", "10.50.0.0/24", NULL, NULL, NULL, NULL, &msg), EEXIST,
               &msg, "already exists");
  assert_int_equal(count_networks(f), 1);
}

static void insert_raw(struct fixture *f, const char *name, const char *id, const char *subnet)
{
  _cleanup_free_ char *sql =
      xasprintf("INSERT INTO networks (name, id, bridge, subnet, gateway, created) VALUES "
                "('%s', '%s', 'bothy%.8s', '%s', '%s', '2026-01-01T00:00:00.000000000Z')",
                name, id, id, subnet, "10.0.0.1");
  assert_int_equal(bothy_db_exec(f->db, sql, NULL), 0);
}

static void test_get(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(bothy_net_migrate(f->db, NULL), 0);
  _cleanup_free_ char *id1 = xasprintf("abc1%060d", 0);
  _cleanup_free_ char *id2 = xasprintf("abc2%060d", 0);
  /* A network named like another's id: the exact id wins over the name. */
  insert_raw(f, "one", id1, "10.1.0.0/24");
  insert_raw(f, id1, id2, "10.2.0.0/24");
  _cleanup_network_ struct bothy_network *n = NULL;
  assert_int_equal(bothy_network_get(f->db, id1, &n, NULL), 0);
  assert_string_equal(n->name, "one");
  bothy_network_free(TAKE_PTR(n));
  assert_int_equal(bothy_network_get(f->db, "abc2", &n, NULL), 0);
  assert_string_equal(n->id, id2);
  bothy_network_free(TAKE_PTR(n));

  bothy_error_t err = NULL;
  assert_int_equal(bothy_network_get(f->db, "abc", &n, &err), -EINVAL);
  assert_string_equal(err->msg, "multiple networks match \"abc\"");
  bothy_error_free(&err);
  assert_int_equal(bothy_network_get(f->db, "nope", &n, &err), -ENOENT);
  assert_string_equal(err->msg, "network \"nope\" not found");
  bothy_error_free(&err);
  assert_int_equal(bothy_network_get(f->db, "abc3", &n, &err), -ENOENT);
  bothy_error_free(&err);
  assert_int_equal(bothy_network_get(f->db, "", &n, &err), -ENOENT);
  bothy_error_free(&err);
  assert_null(n);
}

/* ---- endpoints ---------------------------------------------------------- */

static int add(struct fixture *f, const char *net, unsigned ctr, const char *ip,
               struct bothy_endpoint **ret, char **ret_msg)
{
  _cleanup_free_ char *id = ctr_id(ctr);
  bothy_error_t err = NULL;
  int r = bothy_endpoint_add(f->db, net, id, ip, NULL, ret, &err);
  if (r < 0) {
    assert_int_equal(r, -err->code);
    if (ret_msg)
      *ret_msg = xstrdup(err->msg);
    bothy_error_free(&err);
  }
  return r;
}

static char *add_ip(struct fixture *f, const char *net, unsigned ctr)
{
  _cleanup_endpoint_ struct bothy_endpoint *e = NULL;
  char *msg = NULL;
  if (add(f, net, ctr, NULL, &e, &msg) < 0)
    fail_msg("adding container %u to %s: %s", ctr, net, msg);
  return xstrdup(e->ip);
}

static void test_endpoint_allocation(void **state)
{
  struct fixture *f = *state;
  char *msg = NULL;
  /* A /29: .8 the network, .9 the gateway, .15 the broadcast address:
   * five left. */
  assert_int_equal(create_full(f, "small", "10.30.0.8/29", NULL, NULL, NULL, NULL, NULL), 0);
  for (unsigned i = 1; i <= 5; i++) {
    _cleanup_endpoint_ struct bothy_endpoint *e = NULL;
    assert_int_equal(add(f, "small", i, NULL, &e, NULL), 0);
    _cleanup_free_ char *ip = xasprintf("10.30.0.%u", 9 + i);
    _cleanup_free_ char *mac = xasprintf("02:42:0a:1e:00:%02x", 9 + i);
    _cleanup_free_ char *id = ctr_id(i);
    assert_string_equal(e->ip, ip);
    assert_string_equal(e->mac, mac);
    assert_string_equal(e->network, "small");
    assert_string_equal(e->container, id);
    assert_null(e->aliases);
  }
  assert_fails(add(f, "small", 6, NULL, NULL, &msg), ENOSPC, &msg,
               "no free address left on network \"small\" (10.30.0.8/29)");

  /* Idempotent: the same container gets its address again, even when the
   * network is full, and asking for another ip changes nothing. */
  _cleanup_free_ char *again = add_ip(f, "small", 3);
  assert_string_equal(again, "10.30.0.12");
  _cleanup_endpoint_ struct bothy_endpoint *same = NULL;
  assert_int_equal(add(f, "small", 3, "10.30.0.14", &same, NULL), 0);
  assert_string_equal(same->ip, "10.30.0.12");

  /* A freed address is the lowest free one again. */
  _cleanup_free_ char *id3 = ctr_id(3);
  assert_int_equal(bothy_endpoint_remove(f->db, "small", id3, NULL), 0);
  _cleanup_free_ char *reused = add_ip(f, "small", 7);
  assert_string_equal(reused, "10.30.0.12");

  /* Missing endpoints and networks are fine to remove. */
  assert_int_equal(bothy_endpoint_remove(f->db, "small", id3, NULL), 0);
  assert_int_equal(bothy_endpoint_remove(f->db, "nope", id3, NULL), 0);

  /* Unknown networks and invalid ids. */
  assert_fails(add(f, "nope", 1, NULL, NULL, &msg), ENOENT, &msg, "network \"nope\" not found");
  bothy_error_t err = NULL;
  assert_int_equal(bothy_endpoint_add(f->db, "small", "ABC", NULL, NULL, NULL, &err), -EINVAL);
  assert_string_equal(err->msg, "invalid container id \"ABC\"");
  bothy_error_free(&err);
}

static void test_endpoint_given_ip(void **state)
{
  struct fixture *f = *state;
  char *msg = NULL;
  assert_int_equal(create_full(f, "n", "10.40.0.0/24", "10.40.0.254", NULL, NULL, NULL, NULL), 0);
  _cleanup_endpoint_ struct bothy_endpoint *e = NULL;
  assert_int_equal(add(f, "n", 1, "10.40.0.100", &e, NULL), 0);
  assert_string_equal(e->ip, "10.40.0.100");
  assert_string_equal(e->mac, "02:42:0a:28:00:64");
  assert_fails(add(f, "n", 2, "10.40.0.100", NULL, &msg), EADDRINUSE, &msg,
               "address 10.40.0.100 is in use on network \"n\"");
  assert_fails(add(f, "n", 2, "10.40.1.5", NULL, &msg), EINVAL, &msg,
               "invalid address \"10.40.1.5\": not inside the subnet 10.40.0.0/24");
  assert_fails(add(f, "n", 2, "10.40.0.254", NULL, &msg), EINVAL, &msg,
               "the gateway address of network \"n\"");
  assert_fails(add(f, "n", 2, "10.40.0.0", NULL, &msg), EINVAL, &msg, "the network address");
  assert_fails(add(f, "n", 2, "10.40.0.255", NULL, &msg), EINVAL, &msg, "the broadcast address");
  assert_fails(add(f, "n", 2, "fe80::1", NULL, &msg), EINVAL, &msg,
               "invalid address \"fe80::1\": not an IPv4 address");
  /* The gateway is not .1 here: automatic addresses start at .1 and skip
   * the given one. */
  _cleanup_free_ char *a = add_ip(f, "n", 3);
  assert_string_equal(a, "10.40.0.1");
  _cleanup_endpoint_ struct bothy_endpoint *b = NULL;
  assert_int_equal(add(f, "n", 4, "10.40.0.2", &b, NULL), 0);
  _cleanup_free_ char *c = add_ip(f, "n", 5);
  assert_string_equal(c, "10.40.0.3");

  /* By address, with the network's name also by id. */
  _cleanup_network_ struct bothy_network *n = NULL;
  assert_int_equal(bothy_network_get(f->db, "n", &n, NULL), 0);
  struct bothy_endpoint **v = NULL;
  size_t count = 0;
  assert_int_equal(bothy_endpoints_of_network(f->db, n->id, &v, &count, NULL), 0);
  const char *want[] = { "10.40.0.1", "10.40.0.2", "10.40.0.3", "10.40.0.100" };
  assert_int_equal(count, ARRAY_SIZE(want));
  for (size_t i = 0; i < count; i++)
    assert_string_equal(v[i]->ip, want[i]);
  bothy_endpoints_free(v, count);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_endpoints_of_network(f->db, "nope", &v, &count, &err), -ENOENT);
  bothy_error_free(&err);
}

static void test_endpoints_of_container(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(create_full(f, "b", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  assert_int_equal(create_full(f, "a", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  _cleanup_free_ char *id = ctr_id(42);
  char *aliases[] = { "web", "web.local", NULL };
  _cleanup_endpoint_ struct bothy_endpoint *e = NULL;
  assert_int_equal(bothy_endpoint_add(f->db, "b", id, NULL, aliases, &e, NULL), 0);
  assert_int_equal(strv_length(e->aliases), 2);
  assert_int_equal(bothy_endpoint_add(f->db, "a", id, NULL, NULL, NULL, NULL), 0);
  free(add_ip(f, "a", 43));

  struct bothy_endpoint **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_endpoints_of_container(f->db, id, &v, &n, NULL), 0);
  assert_int_equal(n, 2);
  assert_string_equal(v[0]->network, "a");
  assert_string_equal(v[0]->ip, "10.89.2.2");
  assert_null(v[0]->aliases);
  assert_string_equal(v[1]->network, "b");
  assert_string_equal(v[1]->ip, "10.89.1.2");
  assert_int_equal(strv_length(v[1]->aliases), 2);
  assert_string_equal(v[1]->aliases[0], "web");
  assert_string_equal(v[1]->aliases[1], "web.local");
  bothy_endpoints_free(v, n);

  _cleanup_free_ char *none = ctr_id(99);
  assert_int_equal(bothy_endpoints_of_container(f->db, none, &v, &n, NULL), 0);
  assert_int_equal(n, 0);
  assert_null(v);
}

static void test_remove_rules(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  assert_int_equal(create_full(f, "busy", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  free(add_ip(f, "busy", 1));
  assert_int_equal(bothy_network_remove(f->db, "busy", &err), -EBUSY);
  assert_string_equal(err->msg, "network \"busy\" has active endpoints");
  bothy_error_free(&err);
  assert_int_equal(count_networks(f), 1);

  _cleanup_free_ char *id = ctr_id(1);
  assert_int_equal(bothy_endpoint_remove(f->db, "busy", id, NULL), 0);
  assert_int_equal(bothy_network_remove(f->db, "busy", NULL), 0);
  assert_int_equal(count_networks(f), 0);
  assert_int_equal(bothy_network_remove(f->db, "busy", &err), -ENOENT);
  assert_string_equal(err->msg, "network \"busy\" not found");
  bothy_error_free(&err);

  /* By id too. */
  _cleanup_network_ struct bothy_network *n = NULL;
  assert_int_equal(create_full(f, "byid", NULL, NULL, NULL, NULL, &n, NULL), 0);
  assert_int_equal(bothy_network_remove(f->db, n->id, NULL), 0);
  assert_int_equal(count_networks(f), 0);
}

/* The caller's transaction: the functions use a savepoint and their change
 * goes with the caller's COMMIT or ROLLBACK. */
static void test_callers_transaction(void **state)
{
  struct fixture *f = *state;
  /* Even the migration, on a database that has no tables yet. */
  assert_int_equal(bothy_db_begin(f->db, NULL), 0);
  assert_int_equal(create_full(f, "gone", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  free(add_ip(f, "gone", 1));
  bothy_db_rollback(f->db);
  assert_int_equal(count_networks(f), 0);

  assert_int_equal(bothy_db_begin(f->db, NULL), 0);
  assert_int_equal(create_full(f, "kept", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  /* A failure inside undoes only its own part. */
  char *msg = NULL;
  assert_fails(create_full(f, "kept", NULL, NULL, NULL, NULL, NULL, &msg), EEXIST, &msg,
               "already exists");
  assert_false(sqlite3_get_autocommit(f->db));
  assert_int_equal(bothy_db_commit(f->db, NULL), 0);
  assert_int_equal(count_networks(f), 1);
}

/* ---- concurrency -------------------------------------------------------- */

enum { KIDS = 10 };

static void test_concurrent_allocation(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(create_full(f, "shared", NULL, NULL, NULL, NULL, NULL, NULL), 0);
  /* SQLite's locks do not survive fork(): no child may inherit an open
   * connection to the database it opens again. */
  sqlite3_close_v2(TAKE_PTR(f->db));
  int gate[2];
  assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
  pid_t kids[KIDS];
  for (int i = 0; i < KIDS; i++) {
    kids[i] = fork();
    assert_true(kids[i] >= 0);
    if (kids[i] == 0) {
      close(gate[1]);
      char c;
      if (read(gate[0], &c, 1) != 0)
        _exit(100);
      sqlite3 *db = NULL;
      bothy_error_t err = NULL;
      _cleanup_free_ char *id = ctr_id(1000 + (unsigned) i);
      if (bothy_db_open(f->path, &db, &err) < 0 ||
          bothy_endpoint_add(db, "shared", id, NULL, NULL, NULL, &err) < 0) {
        fprintf(stderr, "child %d: %s\n", i, err->msg);
        _exit(1);
      }
      sqlite3_close_v2(db);
      _exit(0);
    }
  }
  close(gate[0]);
  close(gate[1]);
  for (int i = 0; i < KIDS; i++) {
    int st = 0;
    assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  assert_int_equal(bothy_db_open(f->path, &f->db, NULL), 0);
  struct bothy_endpoint **v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_endpoints_of_network(f->db, "shared", &v, &n, NULL), 0);
  assert_int_equal(n, KIDS);
  /* Distinct, and the lowest ten: .2 to .11. */
  for (size_t i = 0; i < n; i++) {
    _cleanup_free_ char *want = xasprintf("10.89.1.%zu", i + 2);
    assert_string_equal(v[i]->ip, want);
  }
  bothy_endpoints_free(v, n);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_create_fields, setup, teardown),
    cmocka_unit_test_setup_teardown(test_automatic_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_default_when_taken, setup, teardown),
    cmocka_unit_test_setup_teardown(test_overlaps, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pool_full, setup, teardown),
    cmocka_unit_test_setup_teardown(test_invalid_subnets, setup, teardown),
    cmocka_unit_test_setup_teardown(test_gateways, setup, teardown),
    cmocka_unit_test_setup_teardown(test_names, setup, teardown),
    cmocka_unit_test_setup_teardown(test_get, setup, teardown),
    cmocka_unit_test_setup_teardown(test_endpoint_allocation, setup, teardown),
    cmocka_unit_test_setup_teardown(test_endpoint_given_ip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_endpoints_of_container, setup, teardown),
    cmocka_unit_test_setup_teardown(test_remove_rules, setup, teardown),
    cmocka_unit_test_setup_teardown(test_callers_transaction, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_allocation, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
