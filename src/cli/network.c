/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy network create/ls/inspect/rm/prune`: the network records.
 *
 * For now only the records (net/ipam.h) are made and removed here: the
 * bridges and their firewall rules are added by the net layer's link and
 * firewall modules, at the two places marked "plumbing" below. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "container/container.h"
#include "container/network.h"
#include "container/inventory.h"
#include "net/ipam.h"

static const char usage[] =
    "usage: bothy network COMMAND\n"
    "\n"
    "commands:\n"
    "  create [--subnet CIDR] [--gateway IP] [--internal] [--label KEY=VALUE]... NAME\n"
    "                                         create a network\n"
    "  ls [--format table|json] [-q]         list networks\n"
    "  inspect NAME...                       show networks in detail\n"
    "  rm [-f] NAME...                       remove networks\n"
    "  prune [-f]                            remove networks no container uses\n"
    "  connect [--alias A]... NETWORK CONTAINER   put a container on a network too\n"
    "  disconnect NETWORK CONTAINER          take a container off a network\n";

static int open_inventory(struct bothy_inventory **ret)
{
  bothy_error_t err = NULL;
  if (bothy_inventory_open(cli_root(), ret, &err) < 0)
    return cli_fail(&err);
  return 0;
}

/* The default network is created on first use; the commands that show
 * networks show it too, as docker shows "bridge". A failure only means it
 * is not shown. */
static void ensure_default(sqlite3 *db)
{
  bothy_error_t err = NULL;
  if (bothy_network_default(db, bothy_ctr_net_overlaps, NULL, NULL, &err) < 0) {
    fprintf(stderr, "%s: warning: %s, ignoring\n", cli_program, err->msg);
    bothy_error_free(&err);
  }
}

/* getopt_long for a sub-command: argv[0] is the sub-command's name. Returns
 * the option, -1 at the end, or -2 after printing an error. */
static int next_opt(int argc, char **argv, const char *shortopts, const struct option *opts)
{
  int c = getopt_long(argc, argv, shortopts, opts, NULL);
  if (c == '?' || c == ':') {
    const char *word = argv[optind - 1];
    if (strncmp(word, "--", 2) != 0 && optopt > 0 && optopt < 256)
      cli_failf("network %s: unknown option or missing value: '-%c'", argv[0], optopt);
    else
      cli_failf("network %s: unknown option or missing value: '%s'", argv[0], word);
    return -2;
  }
  return c;
}

static void reset_getopt(void)
{
  optind = 0;
  opterr = 0;
}

static void print_json(json_t *o)
{
  _cleanup_free_ char *s = bothy_json_dump(o, true);
  fputs(s, stdout);
}

/* The prefix length of "10.89.3.0/24", for "10.89.3.2/24". */
static const char *prefix_of(const char *subnet)
{
  const char *slash = subnet ? strchr(subnet, '/') : NULL;
  return slash ? slash + 1 : "32";
}

/* docker's `network inspect` object. */
static json_t *network_json(struct bothy_inventory *inv, const struct bothy_network *n)
{
  sqlite3 *db = bothy_inventory_db(inv);
  json_t *containers = json_object();
  struct bothy_endpoint **eps = NULL;
  size_t neps = 0;
  bothy_error_t err = NULL;
  if (bothy_endpoints_of_network(db, n->name, &eps, &neps, &err) < 0)
    bothy_error_free(&err);
  for (size_t i = 0; i < neps; i++) {
    _cleanup_free_ char *addr = xasprintf("%s/%s", eps[i]->ip, prefix_of(n->subnet));
    json_t *aliases = json_array();
    for (size_t j = 0; eps[i]->aliases && eps[i]->aliases[j]; j++)
      json_array_append_new(aliases, json_string(eps[i]->aliases[j]));
    json_t *c = json_pack("{s:s, s:s, s:s, s:o}", "IPv4Address", addr, "MacAddress", eps[i]->mac,
                          "IPv6Address", "", "Aliases", aliases);
    _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
    if (bothy_inventory_ctr_get(inv, eps[i]->container, &r, &err) == 0)
      json_object_set_new(c, "Name", json_string(r->name));
    else
      bothy_error_free(&err);
    json_object_set_new(containers, eps[i]->container, c);
  }
  bothy_endpoints_free(eps, neps);

  json_t *config = json_pack("[{s:s, s:s}]", "Subnet", n->subnet, "Gateway", n->gateway);
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:{}, s:o}, s:b, s:b, s:o, "
                   "s:{s:s}, s:O}",
                   "Name", n->name, "Id", n->id, "Created", n->created, "Scope", "local", "Driver",
                   "bridge", "EnableIPv6", 0, "IPAM", "Driver", "default", "Options", "Config",
                   config, "Internal", n->internal, "Attachable", 0, "Containers", containers,
                   "Options", "bridge", n->bridge, "Labels", n->labels);
}

static int network_create(int argc, char **argv)
{
  static const struct option opts[] = {
    { "subnet", required_argument, NULL, 's' }, { "gateway", required_argument, NULL, 'g' },
    { "internal", no_argument, NULL, 'i' },     { "label", required_argument, NULL, 'l' },
    { "driver", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 },
  };
  _cleanup_json_ json_t *labels = json_object();
  struct bothy_network_req req = { .labels = labels };
  int c;
  reset_getopt();
  while ((c = next_opt(argc, argv, "+d:", opts)) != -1) {
    switch (c) {
    case -2:
      return 1;
    case 's':
      req.subnet = optarg;
      break;
    case 'g':
      req.gateway = optarg;
      break;
    case 'i':
      req.internal = true;
      break;
    case 'd':
      if (strcmp(optarg, "bridge") != 0)
        return cli_failf("network create: unknown driver '%s' (only 'bridge' is supported)",
                         optarg);
      break;
    default: {
      const char *eq = strchr(optarg, '=');
      _cleanup_free_ char *key = eq ? xstrndup(optarg, (size_t) (eq - optarg)) : xstrdup(optarg);
      if (!*key)
        return cli_failf("network create: invalid label '%s': the key is empty", optarg);
      json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
    }
    }
  }
  if (argc - optind != 1)
    return cli_failf("usage: bothy network create [--subnet CIDR] [--gateway IP] [--internal] "
                     "[--label KEY=VALUE]... NAME");
  req.name = argv[optind];
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  sqlite3 *db = bothy_inventory_db(inv);
  /* First, so that the default network keeps 10.89.0.0/24. */
  ensure_default(db);
  bothy_error_t err = NULL;
  _cleanup_network_ struct bothy_network *n = NULL;
  if (bothy_network_create(db, &req, bothy_ctr_net_overlaps, NULL, &n, &err) < 0)
    return cli_fail(&err);
  /* Its bridge and firewall rules; nothing of it stays when they fail. */
  if (bothy_ctr_network_plumb(db, n->name, &err) < 0) {
    bothy_ctr_network_unplumb(n->name, n->bridge, NULL);
    bothy_network_remove(db, n->id, NULL);
    return cli_fail(&err);
  }
  printf("%s\n", n->id);
  return 0;
}

static int network_ls(int argc, char **argv)
{
  static const struct option opts[] = {
    { "quiet", no_argument, NULL, 'q' },
    { "format", required_argument, NULL, 'F' },
    { NULL, 0, NULL, 0 },
  };
  bool quiet = false;
  const char *format = "table";
  int c;
  reset_getopt();
  while ((c = next_opt(argc, argv, "+q", opts)) != -1) {
    if (c == -2)
      return 1;
    if (c == 'q')
      quiet = true;
    else
      format = optarg;
  }
  if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)
    return cli_failf("network ls: --format takes table or json, not '%s'", format);
  if (optind != argc)
    return cli_failf("usage: bothy network ls [--format table|json] [-q]");
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  sqlite3 *db = bothy_inventory_db(inv);
  ensure_default(db);
  bothy_error_t err = NULL;
  struct bothy_network **v = NULL;
  size_t n = 0;
  if (bothy_network_list(db, &v, &n, &err) < 0)
    return cli_fail(&err);
  if (!strcmp(format, "json")) {
    _cleanup_json_ json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(a, network_json(inv, v[i]));
    print_json(a);
  } else {
    if (!quiet)
      printf("%-12s   %-20s %-8s %-18s %s\n", "NETWORK ID", "NAME", "DRIVER", "SUBNET", "SCOPE");
    for (size_t i = 0; i < n; i++) {
      if (quiet)
        printf("%.12s\n", v[i]->id);
      else
        printf("%-12.12s   %-20s %-8s %-18s %s\n", v[i]->id, v[i]->name, "bridge", v[i]->subnet,
               "local");
    }
  }
  bothy_networks_free(v, n);
  return 0;
}

static int network_inspect(int argc, char **argv)
{
  if (argc < 2)
    return cli_failf("usage: bothy network inspect NAME...");
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  sqlite3 *db = bothy_inventory_db(inv);
  ensure_default(db);
  _cleanup_json_ json_t *a = json_array();
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    bothy_error_t err = NULL;
    _cleanup_network_ struct bothy_network *n = NULL;
    if (bothy_network_get(db, argv[i], &n, &err) < 0)
      rc = cli_fail(&err);
    else
      json_array_append_new(a, network_json(inv, n));
  }
  /* As docker: what was found, even when something was not. */
  print_json(a);
  return rc;
}

/* Removes one network's record. */
static void drop_stale_endpoints(sqlite3 *db, const char *network)
{
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  struct bothy_endpoint **eps = NULL;
  size_t n = 0;
  if (bothy_inventory_open(cli_root(), &inv, NULL) < 0 ||
      bothy_endpoints_of_network(db, network, &eps, &n, NULL) < 0)
    return;
  for (size_t i = 0; i < n; i++) {
    _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
    bothy_error_t e = NULL;
    if (bothy_inventory_ctr_get(inv, eps[i]->container, &r, &e) < 0 && e && e->code == ENOENT)
      bothy_endpoint_remove(db, network, eps[i]->container, NULL);
    bothy_error_free(&e);
  }
  bothy_endpoints_free(eps, n);
}

static int remove_one(sqlite3 *db, const char *ref, bothy_error_t *err)
{
  _cleanup_network_ struct bothy_network *n = NULL;
  if (bothy_network_get(db, ref, &n, err) < 0)
    return -1;
  /* Endpoints of containers that no longer exist (a crash between the two
   * removals) do not keep the network. The default network goes too when
   * nothing uses it; the next container without --network makes it again. */
  drop_stale_endpoints(db, n->name);
  if (bothy_network_remove(db, n->id, err) < 0)
    return -1;
  return bothy_ctr_network_unplumb(n->name, n->bridge, err);
}

static int network_rm(int argc, char **argv)
{
  static const struct option opts[] = {
    { "force", no_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  bool force = false;
  int c;
  reset_getopt();
  while ((c = next_opt(argc, argv, "+f", opts)) != -1) {
    if (c == -2)
      return 1;
    force = true;
  }
  if (optind == argc)
    return cli_failf("usage: bothy network rm [-f] NAME...");
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  sqlite3 *db = bothy_inventory_db(inv);
  int rc = 0;
  for (int i = optind; i < argc; i++) {
    bothy_error_t err = NULL;
    if (remove_one(db, argv[i], &err) < 0) {
      /* -f: a network that is not there is not an error (docker). */
      if (force && err->code == ENOENT)
        bothy_error_free(&err);
      else
        rc = cli_fail(&err);
    } else
      printf("%s\n", argv[i]);
  }
  return rc;
}

/* Asks on the terminal (or whatever stdin is); only "y" or "yes" agrees. */
static bool confirm(const char *question)
{
  fprintf(stderr, "%s [y/N] ", question);
  fflush(stderr);
  char line[16];
  if (!fgets(line, sizeof(line), stdin))
    return false;
  line[strcspn(line, "\r\n")] = '\0';
  return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

static int network_prune(int argc, char **argv)
{
  static const struct option opts[] = {
    { "force", no_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  bool force = false;
  int c;
  reset_getopt();
  while ((c = next_opt(argc, argv, "+f", opts)) != -1) {
    if (c == -2)
      return 1;
    force = true;
  }
  if (optind != argc)
    return cli_failf("usage: bothy network prune [-f]");
  if (!force && !confirm("WARNING! This will remove all custom networks not used by at least one "
                         "container.\nAre you sure you want to continue?"))
    return 0;
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  sqlite3 *db = bothy_inventory_db(inv);
  bothy_error_t err = NULL;
  struct bothy_network **v = NULL;
  size_t n = 0;
  if (bothy_network_list(db, &v, &n, &err) < 0)
    return cli_fail(&err);
  int rc = 0;
  bool header = false;
  for (size_t i = 0; i < n; i++) {
    if (streq(v[i]->name, BOTHY_NETWORK_DEFAULT))
      continue;
    /* The check for endpoints is the removal's own, in its transaction: a
     * container joining meanwhile keeps its network. */
    if (bothy_network_remove(db, v[i]->id, &err) < 0) {
      if (err->code == EBUSY || err->code == ENOENT)
        bothy_error_free(&err);
      else
        rc = cli_fail(&err);
      continue;
    }
    bothy_ctr_network_unplumb(v[i]->name, v[i]->bridge, NULL);
    if (!header)
      printf("Deleted Networks:\n");
    header = true;
    printf("%s\n", v[i]->name);
  }
  bothy_networks_free(v, n);
  return rc;
}

static int network_connect_common(int argc, char **argv, bool disconnect)
{
  static const struct option opts[] = {
    { "alias", required_argument, NULL, 'a' },
    { NULL, 0, NULL, 0 },
  };
  _cleanup_strv_free_ char **aliases = NULL;
  reset_getopt();
  int c;
  while ((c = next_opt(argc, argv, "+", opts)) != -1) {
    if (c == -2)
      return 1;
    if (c == 'a' && !disconnect)
      strv_push(&aliases, xstrdup(optarg));
    else
      return cli_failf("network %s: unknown option '%s'", argv[0], argv[optind - 1]);
  }
  if (argc - optind != 2)
    return cli_failf("usage: bothy network %s NETWORK CONTAINER", argv[0]);
  struct bothy_ctx ctx = { .root = cli_root() };
  bothy_error_t err = NULL;
  if (bothy_ctr_connect(&ctx, argv[optind + 1], argv[optind], aliases, disconnect, &err) < 0)
    return cli_fail(&err);
  return 0;
}

static int network_connect(int argc, char **argv)
{
  return network_connect_common(argc, argv, false);
}

static int network_disconnect(int argc, char **argv)
{
  return network_connect_common(argc, argv, true);
}

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} subcommands[] = {
  { "connect", network_connect }, { "disconnect", network_disconnect },
  { "create", network_create },   { "ls", network_ls },
  { "list", network_ls },         { "inspect", network_inspect },
  { "rm", network_rm },           { "remove", network_rm },
  { "prune", network_prune },
};

int cmd_network(int argc, char **argv)
{
  if (argc < 2) {
    fputs(usage, stderr);
    return 1;
  }
  if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage, stdout);
    return 0;
  }
  for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
    if (!strcmp(subcommands[i].name, argv[1]))
      return subcommands[i].fn(argc - 1, argv + 1);
  return cli_failf("unknown network command '%s' (see 'bothy network help')", argv[1]);
}
