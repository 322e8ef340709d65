/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Prints bothy_systemd_unit() for the options given, for
 * tests/integration/test_systemd_units.py (systemd-analyze verify).
 *   gen_unit --bothy PATH --name NAME [--root ROOT] [--restart POLICY]
 *            [--max-retries N] [--stop-timeout S] [--description TEXT] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/macros.h"
#include "container/systemd.h"

int main(int argc, char **argv)
{
  static const struct option longopts[] = {
    { "bothy", required_argument, NULL, 'b' },
    { "root", required_argument, NULL, 'r' },
    { "name", required_argument, NULL, 'n' },
    { "restart", required_argument, NULL, 'p' },
    { "max-retries", required_argument, NULL, 'm' },
    { "stop-timeout", required_argument, NULL, 't' },
    { "description", required_argument, NULL, 'd' },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_unit_opts o = { .restart = "no", .stop_timeout = 10 };
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'b':
      o.bothy = optarg;
      break;
    case 'r':
      o.root = optarg;
      break;
    case 'n':
      o.name = optarg;
      break;
    case 'p':
      o.restart = optarg;
      break;
    case 'm':
      o.max_retries = (int) strtol(optarg, NULL, 10);
      break;
    case 't':
      o.stop_timeout = (int) strtol(optarg, NULL, 10);
      break;
    case 'd':
      o.description = optarg;
      break;
    default:
      return 2;
    }
  }
  if (!o.bothy || !o.name || optind != argc) {
    fprintf(stderr, "usage: gen_unit --bothy PATH --name NAME [--root ROOT] [--restart POLICY] "
                    "[--max-retries N] [--stop-timeout S] [--description TEXT]\n");
    return 2;
  }
  _cleanup_free_ char *unit = bothy_systemd_unit(&o);
  fputs(unit, stdout);
  return fflush(stdout) == 0 ? 0 : 1;
}
