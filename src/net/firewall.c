/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/firewall.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "net/dl-nft.h"

#define FW_TABLE "inet bothy"
#define FW_LOCK  "/run/bothy-firewall.lock"

/* The table and its base chains. `add` of what exists with the same
 * definition is a no-op, so every batch that adds rules starts with these. */
static const char fw_base[] =
    "add table " FW_TABLE "\n"
    "add chain " FW_TABLE " forward { type filter hook forward priority filter; policy accept; }\n"
    "add chain " FW_TABLE " prerouting { type nat hook prerouting priority dstnat; }\n"
    "add chain " FW_TABLE " output { type nat hook output priority -100; }\n"
    "add chain " FW_TABLE " postrouting { type nat hook postrouting priority srcnat; }\n"
    "add set " FW_TABLE " bridges { type ifname; }\n";

/* First in forward, so replies are never dropped by a network's rules. Its
 * comment is not an owner's: bothy_fw_owners() skips it. */
#define FW_BASE_COMMENT "base"
static const char fw_base_rule[] =
    "insert rule " FW_TABLE
    " forward ct state established,related accept comment \"" FW_BASE_COMMENT "\"\n";

/* ------------------------------------------------------------------ text */

static void appendf(char **buf, const char *fmt, ...) _printf_(2, 3);
static void appendf(char **buf, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *s = xvasprintf(fmt, ap);
  va_end(ap);
  size_t old = *buf ? strlen(*buf) : 0, add = strlen(s);
  *buf = xrealloc(*buf, old + add + 1);
  memcpy(*buf + old, s, add + 1);
}

/* Names end up inside nft's command language, in quotes: only characters
 * that cannot close a string or start another command. */
static bool valid_name(const char *s)
{
  if (!s || !*s)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char) *s) && !strchr("_.-", *s))
      return false;
  return true;
}

/* An address is checked here and not left to nft: nft takes what does not
 * parse as an address for a host name and resolves it with DNS. Returns the
 * family, or 0; *ret (optional) gets the canonical text. */
static int parse_addr(const char *s, char **ret)
{
  unsigned char a[sizeof(struct in6_addr)];
  char text[INET6_ADDRSTRLEN];
  int family = 0;
  if (s && inet_pton(AF_INET, s, a) == 1)
    family = AF_INET;
  else if (s && inet_pton(AF_INET6, s, a) == 1)
    family = AF_INET6;
  else
    return 0;
  if (ret) {
    if (!inet_ntop(family, a, text, sizeof(text)))
      return 0;
    *ret = xstrdup(text);
  }
  return family;
}

static bool addr_is_any(const char *s)
{
  unsigned char a[sizeof(struct in6_addr)] = { 0 };
  static const unsigned char zero[sizeof(struct in6_addr)];
  int family = parse_addr(s, NULL);
  if (!family)
    return false;
  inet_pton(family, s, a);
  return memcmp(a, zero, family == AF_INET ? 4 : 16) == 0;
}

/* "ADDR/LEN" of family. */
static bool valid_prefix(const char *s, int family)
{
  const char *slash = s ? strchr(s, '/') : NULL;
  if (!slash || !isdigit((unsigned char) slash[1]))
    return false;
  _cleanup_free_ char *addr = xstrndup(s, (size_t) (slash - s));
  if (parse_addr(addr, NULL) != family)
    return false;
  char *end;
  errno = 0;
  unsigned long len = strtoul(slash + 1, &end, 10);
  return errno == 0 && *end == '\0' && len <= (family == AF_INET ? 32u : 128u);
}

/* ----------------------------------------------------------- the context */

struct fw {
  struct nft_ctx *ctx;
  int lock_fd;
};

static void fw_close(struct fw *fw)
{
  if (fw->ctx)
    nft_ctx_free(fw->ctx);
  fw->ctx = NULL;
  fw->lock_fd = safe_close(fw->lock_fd);
}
#define _cleanup_fw_ _cleanup_(fw_close)

/* Two failures are found out here rather than by libnftables 1.0.6, which
 * prints "Operation not permitted (you must be root)" to stderr when it lacks
 * CAP_NET_ADMIN, and calls exit() when it cannot open its netlink socket. */
static int fw_check(bothy_error_t *err)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };
  if (syscall(SYS_capget, &hdr, data) == 0 &&
      !(data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN)))
    return bothy_error_set(err, EPERM, "nftables needs CAP_NET_ADMIN");
  _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open a netfilter netlink socket");
  return 0;
}

static int fw_open(struct fw *fw, bothy_error_t *err)
{
  int r = fw_check(err);
  if (r < 0)
    return r;
  r = bothy_dlopen_nft(err);
  if (r < 0)
    return r;
  /* Without /run or write access to it (no root), go on unlocked: nft then
   * fails with the reason that matters (EPERM). */
  fw->lock_fd = open(FW_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fw->lock_fd >= 0)
    while (flock(fw->lock_fd, LOCK_EX) < 0)
      if (errno != EINTR)
        return bothy_error_errno(err, "cannot lock '%s'", FW_LOCK);
  fw->ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!fw->ctx)
    return bothy_error_set(err, ENOMEM, "cannot create an nftables context");
  /* Buffered: libnftables would print to stdout and stderr otherwise. */
  if (nft_ctx_buffer_output(fw->ctx) < 0 || nft_ctx_buffer_error(fw->ctx) < 0)
    return bothy_error_set(err, ENOMEM, "cannot buffer the output of nftables");
  return 0;
}

/* nft's error text is "Error: MESSAGE\nCOMMAND\n    ^^^^^\n", or for a kernel
 * error "Error: Could not process rule: STRERROR". Keeps the first MESSAGE,
 * with the errno its STRERROR names, or EINVAL for what nft itself rejected.
 * The COMMAND line is dropped: with a buffer of several commands,
 * libnftables 1.0.6 prints the buffer's first line there, whichever command
 * failed, under carets placed for the right one. */
static int fw_error(struct fw *fw, bothy_error_t *err)
{
  const char *text = nft_ctx_get_error_buffer(fw->ctx);
  const char *line = text ? strstr(text, "Error: ") : NULL;
  if (!line)
    return bothy_error_set(err, EIO, "nftables failed without a message");
  line += strlen("Error: ");
  const char *eol = strchrnul(line, '\n');
  _cleanup_free_ char *msg = xstrndup(line, (size_t) (eol - line));

  int code = EINVAL;
  for (int e = 1; e < 134; e++) {
    const char *s = strerror(e);
    size_t ls = strlen(s), lm = strlen(msg);
    if (lm == ls && streq(msg, s)) {
      free(msg);
      msg = xstrdup("nftables failed");
      code = e;
      break;
    }
    if (lm > ls + 2 && memcmp(msg + lm - ls - 2, ": ", 2) == 0 && streq(msg + lm - ls, s)) {
      msg[lm - ls - 2] = '\0';
      code = e;
      break;
    }
  }
  if (isupper((unsigned char) msg[0]) && islower((unsigned char) msg[1]))
    msg[0] = (char) tolower((unsigned char) msg[0]);
  return bothy_error_set(err, code, "%s", msg);
}

static int fw_run(struct fw *fw, const char *cmds, bothy_error_t *err)
{
  if (nft_run_cmd_from_buffer(fw->ctx, cmds) != 0)
    return fw_error(fw, err);
  return 0;
}

/* Whether `table inet bothy` exists, for telling "no table" from a failure. */
static int fw_table_exists(struct fw *fw, bothy_error_t *err)
{
  nft_ctx_output_set_flags(fw->ctx, NFT_CTX_OUTPUT_JSON);
  int r = fw_run(fw, "list tables inet", err);
  nft_ctx_output_set_flags(fw->ctx, 0);
  if (r < 0)
    return r;
  const char *out = nft_ctx_get_output_buffer(fw->ctx);
  _cleanup_json_ json_t *root = NULL;
  r = bothy_json_load_data(out, strlen(out), "the list of nftables tables", &root, err);
  if (r < 0)
    return r;
  size_t i;
  json_t *item;
  json_array_foreach (json_object_get(root, "nftables"), i, item) {
    json_t *t = json_object_get(item, "table");
    if (t && streq(json_string_value(json_object_get(t, "name")), "bothy"))
      return 1;
  }
  return 0;
}

/* The table as nft's JSON, with handles (`nft -j -a list table inet bothy`);
 * *ret is NULL when there is no table. */
static int fw_list(struct fw *fw, json_t **ret, bothy_error_t *err)
{
  nft_ctx_output_set_flags(fw->ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  int r = nft_run_cmd_from_buffer(fw->ctx, "list table " FW_TABLE);
  nft_ctx_output_set_flags(fw->ctx, 0);
  if (r != 0) {
    _cleanup_error_ bothy_error_t list_err = NULL;
    r = fw_error(fw, &list_err);
    _cleanup_error_ bothy_error_t exists_err = NULL;
    int exists = fw_table_exists(fw, &exists_err);
    if (exists == 0) {
      *ret = NULL;
      return 0;
    }
    if (err) {
      bothy_error_free(err);
      *err = TAKE_PTR(list_err);
    }
    return r;
  }
  const char *out = nft_ctx_get_output_buffer(fw->ctx);
  return bothy_json_load_data(out, strlen(out), "the listing of table " FW_TABLE, ret, err);
}

/* ---------------------------------------------------------- the listing */

static const char *jstr(json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

static json_t *listing_items(json_t *root)
{
  return json_object_get(root, "nftables");
}

static bool has_base_rule(json_t *root)
{
  size_t i;
  json_t *item;
  json_array_foreach (listing_items(root), i, item) {
    json_t *rule = json_object_get(item, "rule");
    if (rule && streq(jstr(rule, "chain"), "forward") &&
        streq(jstr(rule, "comment"), FW_BASE_COMMENT))
      return true;
  }
  return false;
}

/* Appends to *batch the deletion of every rule with comment tag and of every
 * bridges element with comment tag or value also_bridge (may be NULL). */
static size_t append_deletes(char **batch, json_t *root, const char *tag, const char *also_bridge)
{
  size_t n = 0, i;
  json_t *item;
  json_array_foreach (listing_items(root), i, item) {
    json_t *rule = json_object_get(item, "rule");
    json_t *set = json_object_get(item, "set");
    if (rule && streq(jstr(rule, "comment"), tag)) {
      const char *chain = jstr(rule, "chain");
      json_t *handle = json_object_get(rule, "handle");
      if (!valid_name(chain) || !json_is_integer(handle))
        continue;
      appendf(batch, "delete rule " FW_TABLE " %s handle %" JSON_INTEGER_FORMAT "\n", chain,
              json_integer_value(handle));
      n++;
    } else if (set && streq(jstr(set, "name"), "bridges")) {
      size_t j;
      json_t *e;
      json_array_foreach (json_object_get(set, "elem"), j, e) {
        /* An element with a comment is {"elem": {"val": ..., "comment": ...}}. */
        json_t *el = json_object_get(e, "elem");
        const char *val = el ? jstr(el, "val") : json_string_value(e);
        const char *comment = el ? jstr(el, "comment") : NULL;
        if (!valid_name(val) || !(streq(comment, tag) || streq(val, also_bridge)))
          continue;
        appendf(batch, "delete element " FW_TABLE " bridges { \"%s\" }\n", val);
        n++;
      }
    }
  }
  return n;
}

/* What a published-port rule does, as a string to compare: "CHAIN PROTO
 * HOSTPORT HOSTIP|* CTRIP CTRPORT", or "postrouting lo BRIDGE" for the loopback
 * masquerade. */
static char *port_key(const char *chain, const char *proto, long long hport, const char *hip,
                      const char *cip, long long cport)
{
  return xasprintf("%s %s %lld %s %s %lld", chain, proto, hport, hip ? hip : "*", cip, cport);
}

static char *rule_key(json_t *rule)
{
  const char *chain = jstr(rule, "chain");
  const char *daddr = NULL, *proto = NULL, *caddr = NULL, *oif = NULL;
  long long hport = -1, cport = 0;
  size_t i;
  json_t *e;
  json_array_foreach (json_object_get(rule, "expr"), i, e) {
    json_t *m = json_object_get(e, "match"), *d = json_object_get(e, "dnat");
    if (m && streq(jstr(m, "op"), "==")) {
      json_t *left = json_object_get(m, "left"), *right = json_object_get(m, "right");
      json_t *payload = json_object_get(left, "payload"), *meta = json_object_get(left, "meta");
      const char *p = jstr(payload, "protocol"), *f = jstr(payload, "field");
      if ((streq(p, "ip") || streq(p, "ip6")) && streq(f, "daddr") && json_is_string(right))
        daddr = json_string_value(right);
      else if ((streq(p, "tcp") || streq(p, "udp")) && streq(f, "dport") &&
               json_is_integer(right)) {
        proto = p;
        hport = json_integer_value(right);
      } else if (streq(jstr(meta, "key"), "oifname") && json_is_string(right))
        oif = json_string_value(right);
    } else if (d) {
      caddr = jstr(d, "addr");
      cport = json_integer_value(json_object_get(d, "port"));
    }
  }
  if (streq(chain, "postrouting") && oif)
    return xasprintf("postrouting lo %s", oif);
  if (!chain || !proto || !caddr)
    return NULL;
  return port_key(chain, proto, hport, daddr, caddr, cport);
}

/* ------------------------------------------------------------- the calls */

static int remove_tag(const char *tag, bothy_error_t *err)
{
  _cleanup_fw_ struct fw fw = { .lock_fd = -1 };
  int r = fw_open(&fw, err);
  if (r < 0)
    return r;
  _cleanup_json_ json_t *root = NULL;
  r = fw_list(&fw, &root, err);
  if (r < 0 || !root)
    return r;
  _cleanup_free_ char *batch = NULL;
  if (append_deletes(&batch, root, tag, NULL) == 0)
    return 0;
  return fw_run(&fw, batch, err);
}

int bothy_fw_network_add(const struct bothy_fw_network *n, bothy_error_t *err)
{
  const char *name = n->name ? n->name : "";
  int r;
  if (!valid_name(n->name))
    r = bothy_error_set(err, EINVAL, "invalid network name");
  else if (!valid_name(n->bridge))
    r = bothy_error_set(err, EINVAL, "invalid bridge name '%s'", n->bridge ? n->bridge : "");
  else if (!valid_prefix(n->subnet, AF_INET))
    r = bothy_error_set(err, EINVAL, "invalid IPv4 subnet '%s'", n->subnet ? n->subnet : "");
  else if (n->subnet6 && !valid_prefix(n->subnet6, AF_INET6))
    r = bothy_error_set(err, EINVAL, "invalid IPv6 subnet '%s'", n->subnet6);
  else
    r = 0;
  if (r < 0) {
    bothy_error_prefix(err, "cannot add firewall rules of network '%s'", name);
    return r;
  }

  _cleanup_fw_ struct fw fw = { .lock_fd = -1 };
  _cleanup_json_ json_t *root = NULL;
  r = fw_open(&fw, err);
  if (r >= 0)
    r = fw_list(&fw, &root, err);
  if (r < 0) {
    bothy_error_prefix(err, "cannot add firewall rules of network '%s'", name);
    return r;
  }

  _cleanup_free_ char *tag = xasprintf("net:%s", name);
  _cleanup_free_ char *batch = xstrdup(fw_base);
  if (!root || !has_base_rule(root))
    appendf(&batch, "%s", fw_base_rule);
  /* The old rules go in the same transaction: no moment without rules, and
   * no duplicates. */
  if (root)
    append_deletes(&batch, root, tag, n->bridge);

  const char *br = n->bridge;
  appendf(&batch, "add element " FW_TABLE " bridges { \"%s\" comment \"%s\" }\n", br, tag);
  appendf(&batch,
          "add rule " FW_TABLE " forward iifname \"%s\" oifname \"%s\" accept comment \"%s\"\n", br,
          br, tag);
  if (!n->internal)
    appendf(&batch,
            "add rule " FW_TABLE " forward iifname \"%s\" ct status dnat accept comment \"%s\"\n",
            br, tag);
  appendf(&batch,
          "add rule " FW_TABLE " forward iifname \"%s\" oifname @bridges drop comment \"%s\"\n", br,
          tag);
  if (n->internal)
    appendf(&batch, "add rule " FW_TABLE " forward iifname \"%s\" drop comment \"%s\"\n", br, tag);

  const char *subnets[] = { n->subnet, n->subnet6 }, *families[] = { "ip", "ip6" };
  for (size_t i = 0; i < ARRAY_SIZE(subnets); i++) {
    if (!subnets[i])
      continue;
    appendf(&batch,
            "add rule " FW_TABLE
            " postrouting oifname \"%s\" %s saddr %s ct status dnat masquerade "
            "comment \"%s\"\n",
            br, families[i], subnets[i], tag);
    if (!n->internal)
      appendf(&batch,
              "add rule " FW_TABLE " postrouting %s saddr %s oifname != \"%s\" masquerade "
              "comment \"%s\"\n",
              families[i], subnets[i], br, tag);
  }

  r = fw_run(&fw, batch, err);
  if (r < 0)
    bothy_error_prefix(err, "cannot add firewall rules of network '%s'", name);
  return r;
}

int bothy_fw_network_remove(const char *name, bothy_error_t *err)
{
  int r;
  if (!valid_name(name))
    r = bothy_error_set(err, EINVAL, "invalid network name");
  else {
    _cleanup_free_ char *tag = xasprintf("net:%s", name);
    r = remove_tag(tag, err);
  }
  if (r < 0)
    bothy_error_prefix(err, "cannot remove firewall rules of network '%s'", name ? name : "");
  return r;
}

static int check_port(const struct bothy_fw_port *p, bothy_error_t *err)
{
  int hf = parse_addr(p->host_ip, NULL), cf = parse_addr(p->ctr_ip, NULL);
  if (!hf)
    return bothy_error_set(err, EINVAL, "invalid host address '%s'", p->host_ip ? p->host_ip : "");
  if (!cf)
    return bothy_error_set(err, EINVAL, "invalid container address '%s'",
                           p->ctr_ip ? p->ctr_ip : "");
  if (hf != cf)
    return bothy_error_set(err, EINVAL,
                           "host address '%s' and container address '%s' differ in family",
                           p->host_ip, p->ctr_ip);
  if (!streq(p->proto, "tcp") && !streq(p->proto, "udp"))
    return bothy_error_set(err, EINVAL, "invalid protocol '%s'", p->proto ? p->proto : "");
  if (p->host_port == 0 || p->ctr_port == 0)
    return bothy_error_set(err, EINVAL, "port 0");
  if (!valid_name(p->bridge))
    return bothy_error_set(err, EINVAL, "invalid bridge name '%s'", p->bridge ? p->bridge : "");
  return 0;
}

int bothy_fw_ports_add(const char *owner, const struct bothy_fw_port *ports, size_t n,
                       bothy_error_t *err)
{
  int r = 0;
  if (!valid_name(owner))
    r = bothy_error_set(err, EINVAL, "invalid owner name");
  for (size_t i = 0; r >= 0 && i < n; i++) {
    r = check_port(&ports[i], err);
    if (r < 0)
      bothy_error_prefix(err, "port %s:%u/%s", ports[i].host_ip ? ports[i].host_ip : "",
                         ports[i].host_port, ports[i].proto ? ports[i].proto : "");
  }
  _cleanup_fw_ struct fw fw = { .lock_fd = -1 };
  _cleanup_json_ json_t *root = NULL;
  if (r >= 0 && n > 0)
    r = fw_open(&fw, err);
  if (r >= 0 && n > 0)
    r = fw_list(&fw, &root, err);
  if (r < 0) {
    bothy_error_prefix(err, "cannot publish ports of '%s'", owner ? owner : "");
    return r;
  }
  if (n == 0)
    return 0;

  _cleanup_free_ char *tag = xasprintf("ctr:%s", owner);
  /* What owner has already, so that a second call adds nothing twice. */
  _cleanup_strv_free_ char **have = xcalloc(1, sizeof(char *));
  size_t i;
  json_t *item;
  json_array_foreach (listing_items(root), i, item) {
    json_t *rule = json_object_get(item, "rule");
    char *key = rule && streq(jstr(rule, "comment"), tag) ? rule_key(rule) : NULL;
    if (key)
      strv_push(&have, key);
  }

  _cleanup_free_ char *batch = xstrdup(fw_base);
  if (!root || !has_base_rule(root))
    appendf(&batch, "%s", fw_base_rule);
  size_t added = 0;
  for (size_t k = 0; k < n; k++) {
    const struct bothy_fw_port *p = &ports[k];
    _cleanup_free_ char *hip = NULL, *cip = NULL;
    int family = parse_addr(p->ctr_ip, &cip);
    bool any = addr_is_any(p->host_ip);
    if (!any)
      parse_addr(p->host_ip, &hip);
    const char *fam = family == AF_INET ? "ip" : "ip6";
    _cleanup_free_ char *match =
        any ? xasprintf("meta nfproto %s fib daddr type local", family == AF_INET ? "ipv4" : "ipv6")
            : xasprintf("%s daddr %s", fam, hip);
    _cleanup_free_ char *to = family == AF_INET ? xasprintf("%s:%u", cip, p->ctr_port)
                                                : xasprintf("[%s]:%u", cip, p->ctr_port);

    static const char *const chains[] = { "prerouting", "output" };
    for (size_t c = 0; c < ARRAY_SIZE(chains); c++) {
      char *key = port_key(chains[c], p->proto, p->host_port, hip, cip, p->ctr_port);
      if (strv_contains(have, key)) {
        free(key);
        continue;
      }
      strv_push(&have, key);
      appendf(&batch, "add rule " FW_TABLE " %s %s %s dport %u dnat %s to %s comment \"%s\"\n",
              chains[c], match, p->proto, p->host_port, fam, to, tag);
      added++;
    }

    /* IPv6 has no route_localnet: ::1 is never DNATed to another host, so
     * only IPv4 needs the loopback masquerade. */
    unsigned char a[4];
    bool loopback =
        family == AF_INET && (any || (inet_pton(AF_INET, p->host_ip, a) == 1 && a[0] == 127));
    char *key = loopback ? xasprintf("postrouting lo %s", p->bridge) : NULL;
    if (key && strv_contains(have, key))
      free(key);
    else if (key) {
      strv_push(&have, key);
      appendf(&batch,
              "add rule " FW_TABLE " postrouting ip saddr 127.0.0.0/8 oifname \"%s\" masquerade "
              "comment \"%s\"\n",
              p->bridge, tag);
      added++;
    }
  }
  if (added == 0)
    return 0;
  r = fw_run(&fw, batch, err);
  if (r < 0)
    bothy_error_prefix(err, "cannot publish ports of '%s'", owner);
  return r;
}

int bothy_fw_ports_remove(const char *owner, bothy_error_t *err)
{
  int r;
  if (!valid_name(owner))
    r = bothy_error_set(err, EINVAL, "invalid owner name");
  else {
    _cleanup_free_ char *tag = xasprintf("ctr:%s", owner);
    r = remove_tag(tag, err);
  }
  if (r < 0)
    bothy_error_prefix(err, "cannot remove published ports of '%s'", owner ? owner : "");
  return r;
}

static void push_owner(char ***v, const char *comment)
{
  if (comment && (strncmp(comment, "ctr:", 4) == 0 || strncmp(comment, "net:", 4) == 0) &&
      !strv_contains(*v, comment))
    strv_push(v, xstrdup(comment));
}

int bothy_fw_owners(char ***ret, bothy_error_t *err)
{
  _cleanup_fw_ struct fw fw = { .lock_fd = -1 };
  _cleanup_json_ json_t *root = NULL;
  int r = fw_open(&fw, err);
  if (r >= 0)
    r = fw_list(&fw, &root, err);
  if (r < 0) {
    bothy_error_prefix(err, "cannot list the owners of firewall rules");
    return r;
  }
  _cleanup_strv_free_ char **v = xcalloc(1, sizeof(char *));
  size_t i;
  json_t *item;
  json_array_foreach (listing_items(root), i, item) {
    json_t *rule = json_object_get(item, "rule"), *set = json_object_get(item, "set");
    if (rule)
      push_owner(&v, jstr(rule, "comment"));
    size_t j;
    json_t *e;
    json_array_foreach (json_object_get(set, "elem"), j, e)
      push_owner(&v, jstr(json_object_get(e, "elem"), "comment"));
  }
  *ret = TAKE_PTR(v);
  return 0;
}

int bothy_fw_reset(bothy_error_t *err)
{
  _cleanup_fw_ struct fw fw = { .lock_fd = -1 };
  int r = fw_open(&fw, err);
  /* `add` first makes the delete succeed when there is no table, in the
   * same transaction. */
  if (r >= 0)
    r = fw_run(&fw, "add table " FW_TABLE "\ndelete table " FW_TABLE "\n", err);
  if (r < 0)
    bothy_error_prefix(err, "cannot delete table " FW_TABLE);
  return r;
}
