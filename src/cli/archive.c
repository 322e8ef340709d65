/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy load/save/import`: image archives and rootfs tarballs. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "cli/cli.h"
#include "image/archive.h"
#include "image/images.h"

enum { O_FORMAT = 1 };

static int open_images(struct bothy_images **ret)
{
  bothy_error_t err = NULL;
  if (bothy_images_open(cli_root(), ret, &err) < 0)
    return cli_fail(&err);
  return 0;
}

/* getopt_long over the command's own argv (argv[0] is the command). Returns
 * the option, -1 at the end, or -2 after printing an error. */
static int next_opt(int argc, char **argv, const char *shortopts, const struct option *opts)
{
  int c = getopt_long(argc, argv, shortopts, opts, NULL);
  if (c == '?' || c == ':') {
    cli_failf("%s: unknown option or missing value: '%s'", argv[0], argv[optind - 1]);
    return -2;
  }
  return c;
}

/* An input file, or stdin for NULL and "-"; stdin must not be a terminal. */
static int open_input(const char *path, const char **ret_what)
{
  if (!path || strcmp(path, "-") == 0) {
    if (isatty(STDIN_FILENO))
      return cli_failf("nothing to read: give a file, or pipe one to stdin"), -1;
    *ret_what = "stdin";
    int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
      return cli_failf("cannot read stdin"), -1;
    return fd;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    bothy_error_t err = NULL;
    bothy_error_errno(&err, "cannot open '%s'", path);
    cli_fail(&err);
    return -1;
  }
  *ret_what = path;
  return fd;
}

int cmd_load(int argc, char **argv)
{
  static const struct option opts[] = {
    { "input", required_argument, NULL, 'i' },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  const char *input = NULL;
  bool quiet = false;
  int c;
  optind = 0;
  opterr = 0;
  while ((c = next_opt(argc, argv, "+i:q", opts)) != -1) {
    if (c == -2)
      return 1;
    if (c == 'i')
      input = optarg;
    else if (c == 'q')
      quiet = true;
  }
  if (optind != argc)
    return cli_failf("usage: bothy load [-i FILE] [--quiet]");
  const char *what = NULL;
  _cleanup_close_ int fd = open_input(input, &what);
  if (fd < 0)
    return 1;
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_loaded_ struct bothy_loaded *loaded = NULL;
  if (bothy_archive_load(imgs, fd, what, &loaded, &err) < 0)
    return cli_fail(&err);
  for (size_t i = 0; i < loaded->n && !quiet; i++) {
    if (loaded->images[i].ref)
      printf("Loaded image: %s\n", loaded->images[i].ref);
    else
      printf("Loaded image ID: %s\n", loaded->images[i].digest);
  }
  return 0;
}

int cmd_save(int argc, char **argv)
{
  static const struct option opts[] = {
    { "output", required_argument, NULL, 'o' },
    { "format", required_argument, NULL, O_FORMAT },
    { NULL, 0, NULL, 0 },
  };
  const char *output = NULL;
  enum bothy_archive_format format = BOTHY_ARCHIVE_DOCKER;
  int c;
  optind = 0;
  opterr = 0;
  while ((c = next_opt(argc, argv, "+o:", opts)) != -1) {
    if (c == -2)
      return 1;
    if (c == 'o') {
      output = optarg;
    } else if (c == O_FORMAT) {
      format = bothy_archive_format_from_string(optarg);
      if (format < 0)
        return cli_failf("--format takes docker-archive or oci-archive, not '%s'", optarg);
    }
  }
  if (optind >= argc)
    return cli_failf("usage: bothy save [-o FILE] [--format docker-archive|oci-archive] IMAGE...");
  if (output && strcmp(output, "-") == 0)
    output = NULL;
  /* docker's rule: an archive is not for a terminal. */
  if (!output && isatty(STDOUT_FILENO))
    return cli_failf("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  fflush(stdout);
  if (bothy_archive_save(imgs, argv + optind, format, output, STDOUT_FILENO, &err) < 0)
    return cli_fail(&err);
  return 0;
}

int cmd_import(int argc, char **argv)
{
  static const struct option opts[] = {
    { NULL, 0, NULL, 0 },
  };
  int c;
  optind = 0;
  opterr = 0;
  while ((c = next_opt(argc, argv, "+", opts)) != -1)
    if (c == -2)
      return 1;
  if (argc - optind < 1 || argc - optind > 2)
    return cli_failf("usage: bothy import FILE|- [REFERENCE]");
  const char *what = NULL;
  _cleanup_close_ int fd = open_input(argv[optind], &what);
  if (fd < 0)
    return 1;
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (open_images(&imgs))
    return 1;
  bothy_error_t err = NULL;
  _cleanup_free_ char *digest = NULL;
  if (bothy_archive_import(imgs, fd, what, argv[optind + 1], &digest, &err) < 0)
    return cli_fail(&err);
  printf("%s\n", digest);
  return 0;
}
