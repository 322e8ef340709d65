/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy build`. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/macros.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "build/builder.h"
#include "cli/cli.h"
#include "image/reference.h"
#include "base/banned.h"

enum {
  O_FILE = 'f',
  O_TAG = 't',
  O_QUIET = 'q',
  O_BUILD_ARG = 0x100,
  O_TARGET,
  O_NO_CACHE,
  O_PULL,
  O_NETWORK,
  O_TIMESTAMP,
  O_LABEL,
  O_FORMAT,
  O_SECRET,
};

#define USAGE                                                                                      \
  "usage: bothy build [-f FILE] [-t NAME:TAG]... [--build-arg K=V]... [--target STAGE]\n"          \
  "                   [--no-cache] [--pull] [--network host|none] [--timestamp SECONDS]\n"         \
  "                   [--label K=V]... [--format oci|docker] [--secret id=ID,src=FILE]... [-q]\n"  \
  "                   CONTEXT"

/* A time from --timestamp or SOURCE_DATE_EPOCH: whole seconds since 1970. */
static int parse_epoch(const char *s, const char *what, int64_t *ret)
{
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < 0)
    return cli_failf("%s: '%s' is not a number of seconds since 1970", what, s);
  *ret = v;
  return 0;
}

int cmd_build(int argc, char **argv)
{
  static const struct option opts[] = {
    { "file", required_argument, NULL, O_FILE },
    { "tag", required_argument, NULL, O_TAG },
    { "quiet", no_argument, NULL, O_QUIET },
    { "build-arg", required_argument, NULL, O_BUILD_ARG },
    { "target", required_argument, NULL, O_TARGET },
    { "no-cache", no_argument, NULL, O_NO_CACHE },
    { "pull", no_argument, NULL, O_PULL },
    { "network", required_argument, NULL, O_NETWORK },
    { "timestamp", required_argument, NULL, O_TIMESTAMP },
    { "label", required_argument, NULL, O_LABEL },
    { "format", required_argument, NULL, O_FORMAT },
    { "secret", required_argument, NULL, O_SECRET },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_build_opts o = { .root = cli_root(), .timestamp = -1 };
  _cleanup_strv_free_ char **tags = NULL, **args = NULL, **labels = NULL, **secrets = NULL;
  bothy_error_t err = NULL;
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  if (sde && *sde && parse_epoch(sde, "SOURCE_DATE_EPOCH", &o.timestamp))
    return 1;
  optind = 0;
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "f:t:q", opts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case O_FILE:
      o.file = optarg;
      break;
    case O_TAG: {
      _cleanup_reference_ struct bothy_reference *r = NULL;
      if (bothy_reference_parse(optarg, &r, &err) < 0)
        return cli_fail(&err);
      if (r->digest)
        return cli_failf("-t %s: an image is tagged with a name, not a digest", optarg);
      strv_push(&tags, bothy_reference_string(r));
      break;
    }
    case O_QUIET:
      o.quiet = true;
      break;
    case O_BUILD_ARG:
      if (strchr(optarg, '=')) {
        strv_push(&args, xstrdup(optarg));
      } else {
        /* --build-arg NAME: the value from this environment, as docker. */
        const char *v = getenv(optarg);
        if (v)
          strv_push(&args, xasprintf("%s=%s", optarg, v));
      }
      break;
    case O_TARGET:
      o.target = optarg;
      break;
    case O_NO_CACHE:
      o.no_cache = true;
      break;
    case O_PULL:
      o.pull = true;
      break;
    case O_NETWORK:
      if (strcmp(optarg, "host") && strcmp(optarg, "none"))
        return cli_failf("--network takes host or none, not '%s'", optarg);
      o.network = optarg;
      break;
    case O_TIMESTAMP:
      if (parse_epoch(optarg, "--timestamp", &o.timestamp))
        return 1;
      break;
    case O_LABEL:
      strv_push(&labels, xstrdup(optarg));
      break;
    case O_FORMAT:
      if (!strcmp(optarg, "docker"))
        o.docker_format = true;
      else if (strcmp(optarg, "oci"))
        return cli_failf("--format takes oci or docker, not '%s'", optarg);
      break;
    case O_SECRET:
      strv_push(&secrets, xstrdup(optarg));
      break;
    case ':':
      return cli_failf("option '%s' needs a value\n%s", argv[optind - 1], USAGE);
    default:
      return cli_failf("unknown option '%s'\n%s", argv[optind - 1], USAGE);
    }
  }
  if (argc - optind != 1)
    return cli_failf("%s", USAGE);
  o.context_dir = argv[optind];
  o.tags = tags;
  o.build_args = args;
  o.labels = labels;
  o.secrets = secrets;
  _cleanup_free_ char *conf = cli_config_path("registries.conf");
  o.registries_conf = conf;
  _cleanup_free_ char *digest = NULL;
  if (bothy_build(&o, &digest, &err) < 0)
    return cli_fail(&err);
  if (o.quiet)
    printf("%s\n", digest);
  return 0;
}
