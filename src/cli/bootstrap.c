/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy image bootstrap debian`: a Debian base image made here with
 * debootstrap (src/image/bootstrap.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cli/cli.h"
#include "image/bootstrap.h"
#include "image/images.h"

#define USAGE                                                                                      \
  "usage: bothy image bootstrap debian [--suite SUITE] [--variant VARIANT] [-t NAME] "             \
  "[--mirror URI] [--force] [-q]"

enum { O_SUITE = 1, O_VARIANT, O_MIRROR, O_FORCE };

static int cmd_bootstrap(int argc, char **argv)
{
  static const struct option opts[] = {
    { "suite", required_argument, NULL, O_SUITE },
    { "variant", required_argument, NULL, O_VARIANT },
    { "tag", required_argument, NULL, 't' },
    { "mirror", required_argument, NULL, O_MIRROR },
    { "force", no_argument, NULL, O_FORCE },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_bootstrap_opts o = { .output_fd = STDERR_FILENO };
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "t:qh", opts, NULL)) != -1) {
    switch (c) {
    case O_SUITE:
      o.suite = optarg;
      break;
    case O_VARIANT:
      o.variant = optarg;
      break;
    case 't':
      o.ref = optarg;
      break;
    case O_MIRROR:
      o.mirror = optarg;
      break;
    case O_FORCE:
      o.force = true;
      break;
    case 'q':
      o.output_fd = -1;
      break;
    case 'h':
      printf("%s\n", USAGE);
      return 0;
    default:
      return cli_failf("image bootstrap: unknown option or missing value: '%s'\n%s",
                       argv[optind - 1], USAGE);
    }
  }
  if (argc - optind != 1)
    return cli_failf("%s", USAGE);
  if (!streq(argv[optind], "debian"))
    return cli_failf("image bootstrap: unknown distribution '%s' (bothy knows 'debian')",
                     argv[optind]);

  bothy_error_t err = NULL;
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (bothy_images_open(cli_root(), &imgs, &err) < 0)
    return cli_fail(&err);
  _cleanup_free_ char *digest = NULL;
  bool existed = false;
  fflush(stdout);
  if (bothy_bootstrap_debian(imgs, &o, &digest, &existed, &err) < 0)
    return cli_fail(&err);
  if (existed && o.output_fd >= 0) {
    _cleanup_free_ char *name = o.ref ? xstrdup(o.ref) : bothy_bootstrap_default_ref(o.suite);
    fprintf(stderr, "%s is there already (--force makes it again)\n", name);
  }
  printf("%s\n", digest);
  return 0;
}

int cmd_image(int argc, char **argv)
{
  if (argc >= 2 && streq(argv[1], "bootstrap"))
    return cmd_bootstrap(argc - 1, argv + 1);
  if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help"))) {
    printf("usage: bothy image COMMAND\n\ncommands:\n"
           "  bootstrap  make a Debian base image with debootstrap from the configured mirror\n");
    return 0;
  }
  return cli_failf("image: unknown command '%s' (bothy image knows 'bootstrap')",
                   argc >= 2 ? argv[1] : "");
}
