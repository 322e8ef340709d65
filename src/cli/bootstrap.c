/* SPDX-License-Identifier: GPL-2.0-or-later */
/* placeholder, being written: `bothy image bootstrap debian` */
#include "cli/cli.h"

int cmd_image(int argc, char **argv)
{
  (void) argc;
  (void) argv;
  return cli_failf("bothy image: not built yet");
}
