/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy run`: a container from an image, with docker's flags. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strv.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "container/run.h"

/* "64m", "1g", "512k", "1048576": bytes; -1 if malformed. */
static int64_t parse_bytes(const char *s)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0)
    return -1;
  int64_t mul = 1;
  switch (*end) {
  case 'b':
  case 'B':
  case '\0':
    break;
  case 'k':
  case 'K':
    mul = 1024;
    break;
  case 'm':
  case 'M':
    mul = 1024 * 1024;
    break;
  case 'g':
  case 'G':
    mul = 1024LL * 1024 * 1024;
    break;
  default:
    return -1;
  }
  if (*end && end[1] && !(end[1] == 'b' || end[1] == 'B'))
    return -1;
  return (int64_t) (v * (double) mul);
}

enum {
  R_RM = 1,
  R_ENV,
  R_WORKDIR,
  R_USER,
  R_ENTRYPOINT,
  R_HOSTNAME,
  R_NETWORK,
  R_READ_ONLY,
  R_TTY,
  R_INTERACTIVE,
  R_MEMORY,
  R_PIDS,
  R_SECURITY,
  R_PULL,
};

int cmd_container_run(int argc, char **argv)
{
  static const struct option opts[] = {
    { "rm", no_argument, NULL, R_RM },
    { "env", required_argument, NULL, R_ENV },
    { "workdir", required_argument, NULL, R_WORKDIR },
    { "user", required_argument, NULL, R_USER },
    { "entrypoint", required_argument, NULL, R_ENTRYPOINT },
    { "hostname", required_argument, NULL, R_HOSTNAME },
    { "network", required_argument, NULL, R_NETWORK },
    { "net", required_argument, NULL, R_NETWORK },
    { "read-only", no_argument, NULL, R_READ_ONLY },
    { "tty", no_argument, NULL, R_TTY },
    { "interactive", no_argument, NULL, R_INTERACTIVE },
    { "memory", required_argument, NULL, R_MEMORY },
    { "pids-limit", required_argument, NULL, R_PIDS },
    { "security-opt", required_argument, NULL, R_SECURITY },
    { "pull", required_argument, NULL, R_PULL },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_run_request req = { .root = cli_root(), .pull = true };
  _cleanup_strv_free_ char **env = NULL;
  optind = 0;
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "+e:w:u:h:m:tid", opts, NULL);
    if (c == -1)
      break;
    switch (c) {
    case R_RM:
      req.remove = true;
      break;
    case 'e':
    case R_ENV:
      strv_push(&env, xstrdup(optarg));
      break;
    case 'w':
    case R_WORKDIR:
      req.opts.workdir = optarg;
      break;
    case 'u':
    case R_USER:
      req.opts.user = optarg;
      break;
    case R_ENTRYPOINT:
      req.opts.entrypoint = optarg;
      break;
    case 'h':
    case R_HOSTNAME:
      req.opts.hostname = optarg;
      break;
    case R_NETWORK:
      if (!strcmp(optarg, "none"))
        req.opts.network = BOTHY_NET_NONE;
      else if (!strcmp(optarg, "host"))
        req.opts.network = BOTHY_NET_HOST;
      else
        return cli_failf("--network: '%s' is not supported yet (none, host)", optarg), 125;
      break;
    case R_READ_ONLY:
      req.opts.read_only = true;
      break;
    case 't':
    case R_TTY:
      req.opts.tty = true;
      break;
    case 'i':
    case R_INTERACTIVE:
      break; /* stdin is always the container's in the foreground */
    case 'd':
      return cli_failf("run: --detach needs the container monitor, which is not built yet"), 125;
    case 'm':
    case R_MEMORY:
      req.opts.memory = parse_bytes(optarg);
      if (req.opts.memory <= 0)
        return cli_failf("invalid memory limit '%s'", optarg), 125;
      if (req.opts.memory < 6 * 1024 * 1024)
        return cli_failf("minimum memory limit allowed is 6MB (got '%s')", optarg), 125;
      break;
    case R_PIDS: {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || end == optarg)
        return cli_failf("invalid --pids-limit '%s'", optarg), 125;
      req.opts.pids_limit = v;
      break;
    }
    case R_SECURITY:
      if (!strcmp(optarg, "seccomp=unconfined") || !strcmp(optarg, "seccomp:unconfined"))
        req.opts.privileged_seccomp_off = true;
      else if (!strcmp(optarg, "no-new-privileges") || !strcmp(optarg, "no-new-privileges:true") ||
               !strcmp(optarg, "no-new-privileges=true"))
        req.opts.no_new_privileges_off = false;
      else if (!strcmp(optarg, "no-new-privileges:false") ||
               !strcmp(optarg, "no-new-privileges=false"))
        req.opts.no_new_privileges_off = true;
      else
        return cli_failf("--security-opt: '%s' is not supported", optarg), 125;
      break;
    case R_PULL:
      if (!strcmp(optarg, "never"))
        req.pull = false;
      else if (strcmp(optarg, "missing"))
        return cli_failf("--pull: '%s' is not supported (missing, never)", optarg), 125;
      break;
    default:
      return cli_failf("run: unknown flag or missing value: '%s'", argv[optind - 1]), 125;
    }
  }
  if (optind >= argc)
    return cli_failf("usage: bothy run [OPTIONS] IMAGE [COMMAND [ARG...]]"), 125;
  req.image = argv[optind];
  req.opts.args = argv + optind + 1;
  req.opts.env = env;
  _cleanup_free_ char *conf = cli_config_path("registries.conf");
  req.registries_conf = conf;
  bothy_error_t err = NULL;
  int code = 0;
  if (bothy_run(&req, &code, NULL, &err) < 0) {
    /* docker: 125 for its own errors, 126 when the command cannot be
     * executed, 127 when it is not found. */
    int c = err && err->code == ENOENT && strstr(err->msg, "exec:")   ? 127
            : err && err->code == EACCES && strstr(err->msg, "exec:") ? 126
                                                                      : 125;
    cli_fail(&err);
    return c;
  }
  return code;
}
