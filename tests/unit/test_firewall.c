/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of net/firewall, on this machine's nftables (as root; skipped
 * otherwise). The rules are checked from outside, in what `nft -j -a list
 * table inet bothy` prints, not through the module's own listing.
 *
 * The table is the real one, shared with any bothy on this machine and with
 * other tests running at the same time: every name here carries the pid
 * ("fwtest-PID-..."), the tests remove exactly their own owners, and the
 * table is deleted only by the reset test, and only when it holds nobody
 * else's rules. Real traffic is the integration tests' business. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "net/firewall.h"

/* ---------------------------------------------------------------- helpers */

static char net_a[64], net_b[64], net_c[64], ctr_1[64], ctr_2[64], ctr_3[64];
static char br_a[16], br_b[16], br_c[16];
static char subnet_a[32], subnet_b[32], subnet_c[32];
static char ip_a2[32], ip_a3[32];
static unsigned port_base;
static bool usable;

/* `nft -j -a list table inet bothy`, or NULL when there is no table. */
static json_t *listing(void)
{
  FILE *f = popen("nft -j -a list table inet bothy 2>/dev/null", "r");
  assert_non_null(f);
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[4096];
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      buf = xrealloc(buf, cap);
    }
    memcpy(buf + len, chunk, n);
    len += n;
  }
  int status = pclose(f);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    free(buf);
    return NULL;
  }
  json_t *root = json_loadb(buf ? buf : "", len, 0, NULL);
  free(buf);
  assert_non_null(root);
  return root;
}

/* Rules of chain with comment (NULL: any) whose expressions include every
 * expression of want (an array, consumed). */
static size_t count_rules(const char *chain, const char *comment, json_t *want)
{
  assert_non_null(want);
  _cleanup_json_ json_t *root = listing();
  size_t count = 0, i;
  json_t *item;
  json_array_foreach (json_object_get(root, "nftables"), i, item) {
    json_t *rule = json_object_get(item, "rule");
    if (!rule || !streq(json_string_value(json_object_get(rule, "chain")), chain))
      continue;
    if (comment && !streq(json_string_value(json_object_get(rule, "comment")), comment))
      continue;
    json_t *expr = json_object_get(rule, "expr");
    bool all = true;
    size_t j, k;
    json_t *w, *e;
    json_array_foreach (want, j, w) {
      bool found = false;
      json_array_foreach (expr, k, e)
        found = found || json_equal(e, w);
      all = all && found;
    }
    count += all;
  }
  json_decref(want);
  return count;
}

/* Every rule (with any expressions) of owner comment, in all chains. */
static size_t count_owner(const char *comment)
{
  size_t n = 0;
  static const char *const chains[] = { "forward", "prerouting", "output", "postrouting" };
  for (size_t i = 0; i < ARRAY_SIZE(chains); i++)
    n += count_rules(chains[i], comment, json_array());
  return n;
}

/* Elements of set bridges with comment. */
static size_t count_elements(const char *value, const char *comment)
{
  _cleanup_json_ json_t *root = listing();
  size_t count = 0, i, j;
  json_t *item, *e;
  json_array_foreach (json_object_get(root, "nftables"), i, item) {
    json_t *set = json_object_get(item, "set");
    if (!set || !streq(json_string_value(json_object_get(set, "name")), "bridges"))
      continue;
    json_array_foreach (json_object_get(set, "elem"), j, e) {
      json_t *el = json_object_get(e, "elem");
      count += el && streq(json_string_value(json_object_get(el, "val")), value) &&
               streq(json_string_value(json_object_get(el, "comment")), comment);
    }
  }
  return count;
}

static json_t *meta(const char *key, const char *op, const char *value)
{
  return json_pack("{s:{s:s,s:{s:{s:s}},s:s}}", "match", "op", op, "left", "meta", "key", key,
                   "right", value);
}

static json_t *payload(const char *proto, const char *field, json_t *right)
{
  return json_pack("{s:{s:s,s:{s:{s:s,s:s}},s:o}}", "match", "op", "==", "left", "payload",
                   "protocol", proto, "field", field, "right", right);
}

static json_t *prefix(const char *cidr)
{
  const char *slash = strchr(cidr, '/');
  _cleanup_free_ char *addr = xstrndup(cidr, (size_t) (slash - cidr));
  return json_pack("{s:{s:s,s:i}}", "prefix", "addr", addr, "len",
                   (int) strtol(slash + 1, NULL, 10));
}

static json_t *verdict(const char *name)
{
  return json_pack("{s:n}", name);
}

static json_t *ct(const char *key, const char *value)
{
  return json_pack("{s:{s:s,s:{s:{s:s}},s:s}}", "match", "op", "in", "left", "ct", "key", key,
                   "right", value);
}

static json_t *fib_local(void)
{
  return json_pack("{s:{s:s,s:{s:{s:s,s:[s]}},s:s}}", "match", "op", "==", "left", "fib", "result",
                   "type", "flags", "daddr", "right", "local");
}

static json_t *dnat(const char *addr, int port)
{
  return json_pack("{s:{s:s,s:s,s:i}}", "dnat", "family", "ip", "addr", addr, "port", port);
}

static json_t *dport(const char *proto, int port)
{
  return payload(proto, "dport", json_integer(port));
}

static bool has_owner(const char *owner)
{
  _cleanup_strv_free_ char **v = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_owners(&v, &err), 0);
  assert_non_null(v);
  return strv_contains(v, owner);
}

static void cleanup_ours(void)
{
  const char *nets[] = { net_a, net_b, net_c }, *ctrs[] = { ctr_1, ctr_2, ctr_3 };
  for (size_t i = 0; i < ARRAY_SIZE(nets); i++) {
    _cleanup_error_ bothy_error_t err = NULL;
    assert_int_equal(bothy_fw_network_remove(nets[i], &err), 0);
  }
  for (size_t i = 0; i < ARRAY_SIZE(ctrs); i++) {
    _cleanup_error_ bothy_error_t err = NULL;
    assert_int_equal(bothy_fw_ports_remove(ctrs[i], &err), 0);
  }
}

static int setup_group(void **state)
{
  unsigned pid = (unsigned) getpid();
  snprintf(net_a, sizeof(net_a), "fwtest-%u-a", pid);
  snprintf(net_b, sizeof(net_b), "fwtest-%u-b", pid);
  snprintf(net_c, sizeof(net_c), "fwtest-%u-c", pid);
  snprintf(ctr_1, sizeof(ctr_1), "fwtest-%u-1", pid);
  snprintf(ctr_2, sizeof(ctr_2), "fwtest-%u-2", pid);
  snprintf(ctr_3, sizeof(ctr_3), "fwtest-%u-3", pid);
  snprintf(br_a, sizeof(br_a), "fw%ua", pid % 10000000);
  snprintf(br_b, sizeof(br_b), "fw%ub", pid % 10000000);
  snprintf(br_c, sizeof(br_c), "fw%uc", pid % 10000000);
  /* 10.250-252.X.0/24: rules only, no interface has these addresses. */
  snprintf(subnet_a, sizeof(subnet_a), "10.250.%u.0/24", pid % 250);
  snprintf(subnet_b, sizeof(subnet_b), "10.251.%u.0/24", pid % 250);
  snprintf(subnet_c, sizeof(subnet_c), "10.252.%u.0/24", pid % 250);
  snprintf(ip_a2, sizeof(ip_a2), "10.250.%u.2", pid % 250);
  snprintf(ip_a3, sizeof(ip_a3), "10.250.%u.3", pid % 250);
  port_base = 20000 + pid % 20000;
  usable = geteuid() == 0 && system("nft list tables >/dev/null 2>&1") == 0;
  return 0;
}

static int teardown_group(void **state)
{
  if (usable)
    cleanup_ours();
  return 0;
}

static int teardown_test(void **state)
{
  if (usable)
    cleanup_ours();
  return 0;
}

#define REQUIRE_NFT()                                                                              \
  do {                                                                                             \
    if (!usable)                                                                                   \
      skip();                                                                                      \
  } while (0)

static void add_net(const char *name, const char *bridge, const char *subnet, bool internal)
{
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_fw_network n = {
    .name = name, .bridge = bridge, .subnet = subnet, .internal = internal
  };
  int r = bothy_fw_network_add(&n, &err);
  if (r < 0)
    fail_msg("%s", err->msg);
}

/* ------------------------------------------------------------------ tests */

static void test_network_rules(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("net:%s", net_a);
  add_net(net_a, br_a, subnet_a, false);

  assert_int_equal(
      count_rules("forward", "base",
                  json_pack("[{s:{s:s,s:{s:{s:s}},s:[s,s]}},o]", "match", "op", "in", "left", "ct",
                            "key", "state", "right", "established", "related", verdict("accept"))),
      1);
  assert_int_equal(count_rules("forward", tag,
                               json_pack("[o,o,o]", meta("iifname", "==", br_a),
                                         meta("oifname", "==", br_a), verdict("accept"))),
                   1);
  assert_int_equal(count_rules("forward", tag,
                               json_pack("[o,o,o]", meta("iifname", "==", br_a),
                                         meta("oifname", "==", "@bridges"), verdict("drop"))),
                   1);
  assert_int_equal(count_rules("forward", tag,
                               json_pack("[o,o,o]", meta("iifname", "==", br_a),
                                         ct("status", "dnat"), verdict("accept"))),
                   1);
  assert_int_equal(count_rules("postrouting", tag,
                               json_pack("[o,o,o]", payload("ip", "saddr", prefix(subnet_a)),
                                         meta("oifname", "!=", br_a), verdict("masquerade"))),
                   1);
  /* Hairpin. */
  assert_int_equal(count_rules("postrouting", tag,
                               json_pack("[o,o,o]", payload("ip", "saddr", prefix(subnet_a)),
                                         meta("oifname", "==", br_a), ct("status", "dnat"))),
                   1);
  assert_int_equal(count_elements(br_a, tag), 1);
  /* No "iifname BR drop" for a network that is not internal. */
  assert_int_equal(count_rules("forward", tag, json_pack("[o]", verdict("drop"))), 1);
  assert_true(has_owner(tag));
}

static void test_network_add_twice(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("net:%s", net_a);
  add_net(net_a, br_a, subnet_a, false);
  size_t n = count_owner(tag), base = count_rules("forward", "base", json_array());
  assert_int_equal(n, 5);
  add_net(net_a, br_a, subnet_a, false);
  assert_int_equal(count_owner(tag), n);
  assert_int_equal(count_elements(br_a, tag), 1);
  assert_int_equal(count_rules("forward", "base", json_array()), base);

  /* Rewritten with other settings: the old rules go. */
  add_net(net_a, br_c, subnet_c, true);
  assert_int_equal(count_rules("forward", tag, json_pack("[o]", meta("iifname", "==", br_a))), 0);
  assert_int_equal(count_elements(br_a, tag), 0);
  assert_int_equal(count_elements(br_c, tag), 1);
  assert_int_equal(count_rules("postrouting", tag, json_pack("[o]", verdict("masquerade"))), 1);
}

static void test_network_internal(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("net:%s", net_b);
  add_net(net_b, br_b, subnet_b, true);
  /* No outbound: anything from the bridge that is not for itself is dropped. */
  assert_int_equal(
      count_rules("forward", tag, json_pack("[o,o]", meta("iifname", "==", br_b), verdict("drop"))),
      2);
  assert_int_equal(count_rules("forward", tag,
                               json_pack("[o,o,o]", meta("iifname", "==", br_b),
                                         meta("oifname", "==", "@bridges"), verdict("drop"))),
                   1);
  assert_int_equal(count_rules("forward", tag, json_pack("[o]", ct("status", "dnat"))), 0);
  /* No masquerade out of the network; the hairpin one only. */
  assert_int_equal(count_rules("postrouting", tag, json_pack("[o]", meta("oifname", "!=", br_b))),
                   0);
  assert_int_equal(count_rules("postrouting", tag, json_pack("[o]", verdict("masquerade"))), 1);
}

static void test_network_remove_leaves_others(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag_a = xasprintf("net:%s", net_a);
  _cleanup_free_ char *tag_b = xasprintf("net:%s", net_b);
  add_net(net_a, br_a, subnet_a, false);
  add_net(net_b, br_b, subnet_b, false);
  size_t nb = count_owner(tag_b);
  assert_true(nb > 0);

  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_network_remove(net_a, &err), 0);
  assert_int_equal(count_owner(tag_a), 0);
  assert_int_equal(count_elements(br_a, tag_a), 0);
  assert_false(has_owner(tag_a));
  assert_int_equal(count_owner(tag_b), nb);
  assert_int_equal(count_elements(br_b, tag_b), 1);
  assert_true(has_owner(tag_b));

  /* Missing: 0. */
  assert_int_equal(bothy_fw_network_remove(net_a, &err), 0);
  assert_int_equal(bothy_fw_network_remove(net_c, &err), 0);
}

static void test_network_bad_input(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("net:%s", net_c);
  static const char *const subnets[] = { "10.89.300.0/24", "10.89.3.0", "10.89.3.0/33",
                                         "10.89.3.0/",     "fd00::/64", "example.com/24" };
  for (size_t i = 0; i < ARRAY_SIZE(subnets); i++) {
    _cleanup_error_ bothy_error_t err = NULL;
    struct bothy_fw_network n = { .name = net_c, .bridge = br_c, .subnet = subnets[i] };
    assert_int_equal(bothy_fw_network_add(&n, &err), -EINVAL);
    assert_non_null(strstr(err->msg, subnets[i]));
  }
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_fw_network quote = { .name = "x\" ; flush ruleset",
                                    .bridge = br_c,
                                    .subnet = subnet_c };
  assert_int_equal(bothy_fw_network_add(&quote, &err), -EINVAL);
  struct bothy_fw_network quote_br = { .name = net_c, .bridge = "a\"b", .subnet = subnet_c };
  assert_int_equal(bothy_fw_network_add(&quote_br, &err), -EINVAL);
  struct bothy_fw_network bad6 = {
    .name = net_c, .bridge = br_c, .subnet = subnet_c, .subnet6 = "10.0.0.0/8"
  };
  assert_int_equal(bothy_fw_network_add(&bad6, &err), -EINVAL);
  assert_int_equal(bothy_fw_network_remove("a b", &err), -EINVAL);
  assert_int_equal(count_owner(tag), 0);
}

/* What nft itself rejects comes back as EINVAL with nft's words, and the
 * transaction is all or nothing: the deletion of the network's old rules at
 * its start is undone too. */
static void test_network_nft_error_atomic(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("net:%s", net_c);
  add_net(net_c, br_c, subnet_c, false);
  size_t n = count_owner(tag);

  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_fw_network n2 = { .name = net_c,
                                 .bridge = "abcdefghijklmnopqrstuvwxyz", /* > IFNAMSIZ */
                                 .subnet = subnet_c };
  assert_int_equal(bothy_fw_network_add(&n2, &err), -EINVAL);
  assert_non_null(strstr(err->msg, "exceeds maximum length"));
  assert_non_null(strstr(err->msg, net_c));
  assert_int_equal(count_owner(tag), n);
  assert_int_equal(count_elements(br_c, tag), 1);
}

static void test_network_ipv6(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("net:%s", net_a);
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_fw_network n = {
    .name = net_a, .bridge = br_a, .subnet = subnet_a, .subnet6 = "fd00:fa:1::/64"
  };
  assert_int_equal(bothy_fw_network_add(&n, &err), 0);
  assert_int_equal(
      count_rules("postrouting", tag,
                  json_pack("[o,o,o]", payload("ip6", "saddr", prefix("fd00:fa:1::/64")),
                            meta("oifname", "!=", br_a), verdict("masquerade"))),
      1);
  assert_int_equal(count_rules("postrouting", tag,
                               json_pack("[o,o,o]", payload("ip", "saddr", prefix(subnet_a)),
                                         meta("oifname", "!=", br_a), verdict("masquerade"))),
                   1);
}

static void test_ports_rules(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("ctr:%s", ctr_1);
  int p1 = (int) port_base, p2 = (int) port_base + 1;
  struct bothy_fw_port ports[] = {
    { "127.0.0.1", (uint16_t) p1, "tcp", ip_a2, 80, br_a },
    { "0.0.0.0", (uint16_t) p2, "udp", ip_a2, 53, br_a },
  };
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_ports_add(ctr_1, ports, ARRAY_SIZE(ports), &err), 0);

  static const char *const chains[] = { "prerouting", "output" };
  for (size_t c = 0; c < ARRAY_SIZE(chains); c++) {
    assert_int_equal(
        count_rules(chains[c], tag,
                    json_pack("[o,o,o]", payload("ip", "daddr", json_string("127.0.0.1")),
                              dport("tcp", p1), dnat(ip_a2, 80))),
        1);
    /* 0.0.0.0: any local address, not a daddr match. */
    assert_int_equal(
        count_rules(chains[c], tag,
                    json_pack("[o,o,o]", fib_local(), dport("udp", p2), dnat(ip_a2, 53))),
        1);
    assert_int_equal(count_rules(chains[c], tag, json_pack("[o]", dport("udp", p2))), 1);
  }
  /* One loopback masquerade for the bridge, though two ports need it. */
  assert_int_equal(count_rules("postrouting", tag,
                               json_pack("[o,o,o]", payload("ip", "saddr", prefix("127.0.0.0/8")),
                                         meta("oifname", "==", br_a), verdict("masquerade"))),
                   1);
  assert_int_equal(count_owner(tag), 5);
  assert_true(has_owner(tag));

  /* Twice: no duplicates. */
  assert_int_equal(bothy_fw_ports_add(ctr_1, ports, ARRAY_SIZE(ports), &err), 0);
  assert_int_equal(count_owner(tag), 5);
  /* One more port: added beside the others. */
  struct bothy_fw_port more = { "10.0.0.1", (uint16_t) (p1 + 2), "tcp", ip_a2, 8080, br_a };
  assert_int_equal(bothy_fw_ports_add(ctr_1, &more, 1, &err), 0);
  assert_int_equal(count_owner(tag), 7);
  assert_int_equal(count_rules("prerouting", tag,
                               json_pack("[o,o]", payload("ip", "daddr", json_string("10.0.0.1")),
                                         dnat(ip_a2, 8080))),
                   1);

  assert_int_equal(bothy_fw_ports_remove(ctr_1, &err), 0);
  assert_int_equal(count_owner(tag), 0);
  assert_false(has_owner(tag));
  assert_int_equal(bothy_fw_ports_remove(ctr_1, &err), 0);
}

static void test_ports_all_or_nothing(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("ctr:%s", ctr_2);
  uint16_t p = (uint16_t) (port_base + 10);
  /* Rejected here. */
  struct bothy_fw_port bad_proto[] = {
    { "127.0.0.1", p, "tcp", ip_a2, 80, br_a },
    { "127.0.0.1", p, "sctp", ip_a2, 80, br_a },
  };
  struct bothy_fw_port bad_ip[] = {
    { "127.0.0.1", p, "tcp", ip_a2, 80, br_a },
    { "127.0.0.1", p, "udp", "10.250.1.300", 80, br_a },
  };
  struct bothy_fw_port mixed_family[] = {
    { "127.0.0.1", p, "tcp", "fd00::2", 80, br_a },
  };
  /* Rejected by nft, after the first port's rules in the same batch. */
  struct bothy_fw_port bad_bridge[] = {
    { "10.0.0.1", p, "tcp", ip_a2, 80, br_a },
    { "127.0.0.1", p, "udp", ip_a3, 80, "abcdefghijklmnopqrstuvwxyz" },
  };
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_ports_add(ctr_2, bad_proto, 2, &err), -EINVAL);
  assert_non_null(strstr(err->msg, "sctp"));
  assert_int_equal(bothy_fw_ports_add(ctr_2, bad_ip, 2, &err), -EINVAL);
  assert_int_equal(bothy_fw_ports_add(ctr_2, mixed_family, 1, &err), -EINVAL);
  assert_int_equal(bothy_fw_ports_add(ctr_2, bad_bridge, 2, &err), -EINVAL);
  assert_non_null(strstr(err->msg, "exceeds maximum length"));
  assert_int_equal(count_owner(tag), 0);
  assert_int_equal(bothy_fw_ports_add("x\"y", bad_bridge, 1, &err), -EINVAL);
}

static void test_ports_remove_leaves_others(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag1 = xasprintf("ctr:%s", ctr_1);
  _cleanup_free_ char *tag3 = xasprintf("ctr:%s", ctr_3);
  _cleanup_free_ char *tag_net = xasprintf("net:%s", net_a);
  add_net(net_a, br_a, subnet_a, false);
  struct bothy_fw_port p1 = { "127.0.0.1", (uint16_t) (port_base + 20), "tcp", ip_a2, 80, br_a };
  struct bothy_fw_port p3 = { "127.0.0.1", (uint16_t) (port_base + 21), "tcp", ip_a3, 80, br_a };
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_ports_add(ctr_1, &p1, 1, &err), 0);
  assert_int_equal(bothy_fw_ports_add(ctr_3, &p3, 1, &err), 0);
  size_t n3 = count_owner(tag3), nn = count_owner(tag_net);
  assert_int_equal(n3, 3);

  assert_int_equal(bothy_fw_ports_remove(ctr_1, &err), 0);
  assert_int_equal(count_owner(tag1), 0);
  assert_int_equal(count_owner(tag3), n3);
  assert_int_equal(count_owner(tag_net), nn);
  /* Each owner has its own loopback masquerade: ctr_3's stays. */
  assert_int_equal(count_rules("postrouting", tag3,
                               json_pack("[o]", payload("ip", "saddr", prefix("127.0.0.0/8")))),
                   1);

  /* Removing the network leaves the container's ports. */
  assert_int_equal(bothy_fw_network_remove(net_a, &err), 0);
  assert_int_equal(count_owner(tag3), n3);
}

static void test_ports_ipv6(void **state)
{
  REQUIRE_NFT();
  _cleanup_free_ char *tag = xasprintf("ctr:%s", ctr_3);
  struct bothy_fw_port p[] = {
    { "::", (uint16_t) (port_base + 30), "tcp", "fd00:fa:1::2", 80, br_a },
    { "::1", (uint16_t) (port_base + 31), "tcp", "fd00:fa:1::2", 81, br_a },
  };
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_ports_add(ctr_3, p, ARRAY_SIZE(p), &err), 0);
  /* Two DNAT rules per port, no loopback masquerade (IPv6 has no route_localnet). */
  assert_int_equal(count_owner(tag), 4);
  assert_int_equal(count_rules("prerouting", tag,
                               json_pack("[o,o]", payload("ip6", "daddr", json_string("::1")),
                                         json_pack("{s:{s:s,s:s,s:i}}", "dnat", "family", "ip6",
                                                   "addr", "fd00:fa:1::2", "port", 81))),
                   1);
}

static void test_owners_no_table_and_reset(void **state)
{
  REQUIRE_NFT();
  _cleanup_strv_free_ char **before = NULL;
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_fw_owners(&before, &err), 0);
  /* Someone else's rules are in the table: not ours to delete, so the
   * reset cannot be tried here (and a skipped test counts as failed). */
  if (strv_length(before) > 0)
    return;

  add_net(net_a, br_a, subnet_a, false);
  assert_int_equal(bothy_fw_reset(&err), 0);
  json_t *root = listing();
  assert_null(root);
  /* No table: nothing to list or remove, and reset again is fine. */
  _cleanup_strv_free_ char **after = NULL;
  assert_int_equal(bothy_fw_owners(&after, &err), 0);
  assert_non_null(after);
  assert_int_equal(strv_length(after), 0);
  assert_int_equal(bothy_fw_network_remove(net_a, &err), 0);
  assert_int_equal(bothy_fw_ports_remove(ctr_1, &err), 0);
  assert_int_equal(bothy_fw_reset(&err), 0);
  assert_null(listing());
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_network_rules, teardown_test),
    cmocka_unit_test_teardown(test_network_add_twice, teardown_test),
    cmocka_unit_test_teardown(test_network_internal, teardown_test),
    cmocka_unit_test_teardown(test_network_remove_leaves_others, teardown_test),
    cmocka_unit_test_teardown(test_network_bad_input, teardown_test),
    cmocka_unit_test_teardown(test_network_nft_error_atomic, teardown_test),
    cmocka_unit_test_teardown(test_network_ipv6, teardown_test),
    cmocka_unit_test_teardown(test_ports_rules, teardown_test),
    cmocka_unit_test_teardown(test_ports_all_or_nothing, teardown_test),
    cmocka_unit_test_teardown(test_ports_remove_leaves_others, teardown_test),
    cmocka_unit_test_teardown(test_ports_ipv6, teardown_test),
    cmocka_unit_test_teardown(test_owners_no_table_and_reset, teardown_test),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
