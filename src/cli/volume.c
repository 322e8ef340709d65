/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy volume create/ls/inspect/rm/prune`: named volumes. */
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
#include "container/inventory.h"
#include "container/volume.h"

static const char usage[] = "usage: bothy volume COMMAND\n"
                            "\n"
                            "commands:\n"
                            "  create [--label KEY=VALUE]... [NAME]  create a volume\n"
                            "  ls [--format table|json] [-q]         list volumes\n"
                            "  inspect NAME...                       show volumes in detail\n"
                            "  rm [-f] NAME...                       remove volumes\n"
                            "  prune [-a] [-f]                       remove unused volumes\n";

static int open_inventory(struct bothy_inventory **ret)
{
  bothy_error_t err = NULL;
  if (bothy_inventory_open(cli_root(), ret, &err) < 0)
    return cli_fail(&err);
  return 0;
}

/* getopt_long for a sub-command: argv[0] is the sub-command's name. Returns
 * the option, -1 at the end, or -2 after printing an error. */
static int next_opt(int argc, char **argv, const char *shortopts, const struct option *opts)
{
  int c = getopt_long(argc, argv, shortopts, opts, NULL);
  if (c == '?' || c == ':') {
    /* A long option is the word before optind; an unknown short one may sit
     * inside a cluster that optind still points at: name it by optopt. */
    const char *word = argv[optind - 1];
    if (strncmp(word, "--", 2) != 0 && optopt > 0 && optopt < 256)
      cli_failf("volume %s: unknown option or missing value: '-%c'", argv[0], optopt);
    else
      cli_failf("volume %s: unknown option or missing value: '%s'", argv[0], word);
    return -2;
  }
  return c;
}

static void reset_getopt(void)
{
  optind = 0;
  opterr = 0;
}

static void human_size(uint64_t n, char *buf, size_t len)
{
  const char *units[] = { "B", "kB", "MB", "GB", "TB" };
  double v = (double) n;
  size_t u = 0;
  while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
    v /= 1000;
    u++;
  }
  snprintf(buf, len, u ? "%.3g %s" : "%.0f %s", v, units[u]);
}

/* docker's `volume inspect` object, with UsedBy added. */
static json_t *volume_json(const struct bothy_volume *v)
{
  json_t *users = json_array();
  for (size_t i = 0; v->users && v->users[i]; i++)
    json_array_append_new(users, json_string(v->users[i]));
  return json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:o}", "CreatedAt", v->created, "Driver",
                   "local", "Labels", v->labels, "Mountpoint", v->mountpoint, "Name", v->name,
                   "Scope", "local", "UsedBy", users);
}

static void print_json(json_t *o)
{
  _cleanup_free_ char *s = bothy_json_dump(o, true);
  fputs(s, stdout);
}

static int volume_create(int argc, char **argv)
{
  static const struct option opts[] = {
    { "label", required_argument, NULL, 'l' },
    { "driver", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  _cleanup_json_ json_t *labels = json_object();
  int c;
  reset_getopt();
  while ((c = next_opt(argc, argv, "+d:", opts)) != -1) {
    if (c == -2)
      return 1;
    if (c == 'd') {
      if (strcmp(optarg, "local") != 0)
        return cli_failf("volume create: unknown driver '%s' (only 'local' is supported)", optarg);
      continue;
    }
    const char *eq = strchr(optarg, '=');
    _cleanup_free_ char *key = eq ? xstrndup(optarg, (size_t) (eq - optarg)) : xstrdup(optarg);
    if (!*key)
      return cli_failf("volume create: invalid label '%s': the key is empty", optarg);
    json_object_set_new(labels, key, json_string(eq ? eq + 1 : ""));
  }
  if (argc - optind > 1)
    return cli_failf("usage: bothy volume create [--label KEY=VALUE]... [NAME]");
  const char *name = argc - optind == 1 ? argv[optind] : NULL;
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_free_ char *created = NULL;
  if (bothy_volume_create(inv, cli_root(), name, labels, /* anonymous= */ false, &created, &err) <
      0)
    return cli_fail(&err);
  printf("%s\n", created);
  return 0;
}

static int volume_ls(int argc, char **argv)
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
    return cli_failf("volume ls: --format takes table or json, not '%s'", format);
  if (optind != argc)
    return cli_failf("usage: bothy volume ls [--format table|json] [-q]");
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  bothy_error_t err = NULL;
  struct bothy_volume **v = NULL;
  size_t n = 0;
  if (bothy_volume_list(inv, cli_root(), &v, &n, &err) < 0)
    return cli_fail(&err);
  if (!strcmp(format, "json")) {
    _cleanup_json_ json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(a, volume_json(v[i]));
    print_json(a);
  } else {
    if (!quiet)
      printf("%-10s %s\n", "DRIVER", "VOLUME NAME");
    for (size_t i = 0; i < n; i++) {
      if (quiet)
        printf("%s\n", v[i]->name);
      else
        printf("%-10s %s\n", "local", v[i]->name);
    }
  }
  bothy_volumes_free(v, n);
  return 0;
}

static int volume_inspect(int argc, char **argv)
{
  if (argc < 2)
    return cli_failf("usage: bothy volume inspect NAME...");
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  _cleanup_json_ json_t *a = json_array();
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    bothy_error_t err = NULL;
    _cleanup_volume_ struct bothy_volume *v = NULL;
    if (bothy_volume_get(inv, cli_root(), argv[i], &v, &err) < 0)
      rc = cli_fail(&err);
    else
      json_array_append_new(a, volume_json(v));
  }
  /* As docker: what was found, even when something was not. */
  print_json(a);
  return rc;
}

static int volume_rm(int argc, char **argv)
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
    return cli_failf("usage: bothy volume rm [-f] NAME...");
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  int rc = 0;
  for (int i = optind; i < argc; i++) {
    bothy_error_t err = NULL;
    if (bothy_volume_remove(inv, cli_root(), argv[i], force, &err) < 0)
      rc = cli_fail(&err);
    else
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

static int volume_prune(int argc, char **argv)
{
  static const struct option opts[] = {
    { "all", no_argument, NULL, 'a' },
    { "force", no_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  bool all = false, force = false;
  int c;
  reset_getopt();
  while ((c = next_opt(argc, argv, "+af", opts)) != -1) {
    if (c == -2)
      return 1;
    if (c == 'a')
      all = true;
    else
      force = true;
  }
  if (optind != argc)
    return cli_failf("usage: bothy volume prune [-a] [-f]");
  if (!force && !confirm(all ? "WARNING! This will remove all local volumes not used by at "
                               "least one container.\nAre you sure you want to continue?"
                             : "WARNING! This will remove anonymous local volumes not used by "
                               "at least one container.\nAre you sure you want to continue?"))
    return 0;
  _cleanup_inventory_ struct bothy_inventory *inv = NULL;
  if (open_inventory(&inv))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **removed = NULL;
  uint64_t bytes = 0;
  if (bothy_volume_prune(inv, cli_root(), all, &removed, &bytes, &err) < 0)
    return cli_fail(&err);
  if (removed) {
    printf("Deleted Volumes:\n");
    for (size_t i = 0; removed[i]; i++)
      printf("%s\n", removed[i]);
    printf("\n");
  }
  char size[32];
  human_size(bytes, size, sizeof(size));
  printf("Total reclaimed space: %s\n", size);
  return 0;
}

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} subcommands[] = {
  { "create", volume_create },   { "ls", volume_ls }, { "list", volume_ls },
  { "inspect", volume_inspect }, { "rm", volume_rm }, { "remove", volume_rm },
  { "prune", volume_prune },
};

int cmd_volume(int argc, char **argv)
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
  return cli_failf("unknown volume command '%s' (see 'bothy volume help')", argv[1]);
}
