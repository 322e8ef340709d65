/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Containers: run, create, start, stop, restart, kill, rm, ps, logs, exec,
 * inspect, wait, top, stats, boot, systemd generate, with docker's flags.
 * Also the hidden helpers the container monitor runs (__start, __cleanup,
 * __health). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "container/container.h"
#include "container/logs.h"
#include "container/monitor.h"
#include "container/systemd.h"
#include "image/images.h"
#include "runtime/container.h"

/* ---- context -------------------------------------------------------------- */

static char *ctx_exe, *ctx_libexec, *ctx_conf;

struct bothy_ctx cli_ctx(void)
{
  if (!ctx_exe) {
    const char *e = getenv("BOTHY_EXE");
    char buf[PATH_MAX];
    ssize_t n;
    if (e && *e)
      ctx_exe = xstrdup(e);
    else if ((n = readlink("/proc/self/exe", buf, sizeof(buf) - 1)) > 0 && buf[0] == '/' &&
             (buf[n] = '\0', true))
      ctx_exe = xstrdup(buf);
    else
      ctx_exe = xstrdup("/usr/local/bin/bothy");
    const char *le = getenv("BOTHY_LIBEXEC");
    if (le && *le) {
      ctx_libexec = xstrdup(le);
    } else {
      _cleanup_free_ char *d = xstrdup(ctx_exe);
      char *slash = strrchr(d, '/');
      if (slash)
        *slash = '\0';
      _cleanup_free_ char *beside = xasprintf("%s/" MONITOR_BINARY, d);
      ctx_libexec = access(beside, X_OK) == 0 ? xstrdup(d) : xasprintf("%s/../libexec/bothy", d);
    }
    ctx_conf = cli_config_path("registries.conf");
  }
  return (struct bothy_ctx){
    .root = cli_root(), .exe = ctx_exe, .libexec = ctx_libexec, .registries_conf = ctx_conf
  };
}

/* ---- value parsers -------------------------------------------------------- */

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
  if (*end && end[1] && !((end[1] == 'b' || end[1] == 'B') && !end[2]))
    return -1;
  return (int64_t) (v * (double) mul);
}

/* Go's durations as docker takes them: "30s", "1m30s", "500ms", "2h". */
static int64_t parse_duration_ns(const char *s)
{
  if (!*s)
    return -1;
  double total = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (errno || end == p || v < 0)
      return -1;
    double mul;
    if (!strncmp(end, "ns", 2))
      mul = 1, end += 2;
    else if (!strncmp(end, "us", 2))
      mul = 1e3, end += 2;
    else if (!strncmp(end, "ms", 2))
      mul = 1e6, end += 2;
    else if (*end == 's')
      mul = 1e9, end += 1;
    else if (*end == 'm')
      mul = 60e9, end += 1;
    else if (*end == 'h')
      mul = 3600e9, end += 1;
    else
      return -1;
    total += v * mul;
    p = end;
  }
  return (int64_t) total;
}

static int parse_int(const char *s, long min, long max, long *ret)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return -1;
  *ret = v;
  return 0;
}

/* --env-file: KEY=VALUE lines, # comments, blank lines; KEY alone takes
 * this environment's value. */
static int read_env_file(const char *path, char ***env)
{
  _cleanup_free_ char *data = NULL;
  bothy_error_t err = NULL;
  if (bothy_read_file(AT_FDCWD, path, &data, NULL, &err) < 0)
    return cli_fail(&err), -1;
  char *save = NULL;
  for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    while (*line == ' ' || *line == '\t')
      line++;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r')
      line[--n] = '\0';
    if (!*line || *line == '#')
      continue;
    if (*line == '=') {
      cli_failf("invalid line in env file '%s': '%s' has no variable name", path, line);
      return -1;
    }
    strv_push(env, xstrdup(line));
  }
  return 0;
}

/* ---- run and create -------------------------------------------------------- */

enum {
  R_RM = 1,
  R_ENV,
  R_ENV_FILE,
  R_WORKDIR,
  R_USER,
  R_ENTRYPOINT,
  R_HOSTNAME,
  R_NETWORK,
  R_READ_ONLY,
  R_TTY,
  R_INTERACTIVE,
  R_DETACH,
  R_MEMORY,
  R_CPUS,
  R_PIDS,
  R_SECURITY,
  R_PULL,
  R_NAME,
  R_VOLUME,
  R_MOUNT,
  R_TMPFS,
  R_INIT,
  R_RESTART,
  R_CAP_ADD,
  R_CAP_DROP,
  R_USERNS,
  R_HEALTH_CMD,
  R_HEALTH_INTERVAL,
  R_HEALTH_TIMEOUT,
  R_HEALTH_RETRIES,
  R_HEALTH_START,
  R_NO_HEALTH,
  R_LABEL,
  R_STOP_SIGNAL,
  R_STOP_TIMEOUT,
  R_LOG_OPT,
  R_PUBLISH,
  R_PUBLISH_ALL,
  R_NETWORK_ALIAS,
};

static const struct option run_opts[] = {
  { "rm", no_argument, NULL, R_RM },
  { "env", required_argument, NULL, R_ENV },
  { "env-file", required_argument, NULL, R_ENV_FILE },
  { "workdir", required_argument, NULL, R_WORKDIR },
  { "user", required_argument, NULL, R_USER },
  { "entrypoint", required_argument, NULL, R_ENTRYPOINT },
  { "hostname", required_argument, NULL, R_HOSTNAME },
  { "network", required_argument, NULL, R_NETWORK },
  { "net", required_argument, NULL, R_NETWORK },
  { "read-only", no_argument, NULL, R_READ_ONLY },
  { "tty", no_argument, NULL, R_TTY },
  { "interactive", no_argument, NULL, R_INTERACTIVE },
  { "detach", no_argument, NULL, R_DETACH },
  { "memory", required_argument, NULL, R_MEMORY },
  { "cpus", required_argument, NULL, R_CPUS },
  { "pids-limit", required_argument, NULL, R_PIDS },
  { "security-opt", required_argument, NULL, R_SECURITY },
  { "pull", required_argument, NULL, R_PULL },
  { "name", required_argument, NULL, R_NAME },
  { "volume", required_argument, NULL, R_VOLUME },
  { "mount", required_argument, NULL, R_MOUNT },
  { "tmpfs", required_argument, NULL, R_TMPFS },
  { "init", no_argument, NULL, R_INIT },
  { "restart", required_argument, NULL, R_RESTART },
  { "cap-add", required_argument, NULL, R_CAP_ADD },
  { "cap-drop", required_argument, NULL, R_CAP_DROP },
  { "userns", required_argument, NULL, R_USERNS },
  { "health-cmd", required_argument, NULL, R_HEALTH_CMD },
  { "health-interval", required_argument, NULL, R_HEALTH_INTERVAL },
  { "health-timeout", required_argument, NULL, R_HEALTH_TIMEOUT },
  { "health-retries", required_argument, NULL, R_HEALTH_RETRIES },
  { "health-start-period", required_argument, NULL, R_HEALTH_START },
  { "no-healthcheck", no_argument, NULL, R_NO_HEALTH },
  { "label", required_argument, NULL, R_LABEL },
  { "stop-signal", required_argument, NULL, R_STOP_SIGNAL },
  { "stop-timeout", required_argument, NULL, R_STOP_TIMEOUT },
  { "log-opt", required_argument, NULL, R_LOG_OPT },
  { "publish", required_argument, NULL, R_PUBLISH },
  { "publish-all", no_argument, NULL, R_PUBLISH_ALL },
  { "network-alias", required_argument, NULL, R_NETWORK_ALIAS },
  { NULL, 0, NULL, 0 },
};

struct run_args {
  struct bothy_ctr_create_req req;
  bool detach;
  char **env;
  char **health_cmd;
  json_t *labels;
  json_t *seccomp;
  char **cap_add, **cap_drop;
  char **aliases;
  struct bothy_mount_req *mounts;
  size_t n_mounts;
};

static void run_args_done(struct run_args *a)
{
  strv_free(a->env);
  strv_free(a->health_cmd);
  strv_free(a->cap_add);
  strv_free(a->cap_drop);
  strv_free(a->aliases);
  bothy_port_specs_free(a->req.net.ports, a->req.net.n_ports);
  json_decref(a->labels);
  json_decref(a->seccomp);
  for (size_t i = 0; i < a->n_mounts; i++)
    bothy_mount_req_done(&a->mounts[i]);
  free(a->mounts);
}

static int add_mount(struct run_args *a,
                     int (*parse)(const char *, struct bothy_mount_req *, bothy_error_t *),
                     const char *spec)
{
  struct bothy_mount_req m;
  bothy_error_t err = NULL;
  if (parse(spec, &m, &err) < 0)
    return cli_fail(&err), -1;
  a->mounts = xrealloc(a->mounts, (a->n_mounts + 1) * sizeof(*a->mounts));
  a->mounts[a->n_mounts++] = m;
  return 0;
}

/* Parses run/create's flags; returns the index of IMAGE, or -1 after
 * printing the error (exit 125). */
static int parse_run(int argc, char **argv, bool allow_detach, struct run_args *a)
{
  struct bothy_ctr_create_req *r = &a->req;
  memset(a, 0, sizeof(*a));
  r->pull = true;
  r->stop_timeout = -1;
  optind = 0;
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "+e:w:u:h:m:v:l:p:Ptid", run_opts, NULL);
    if (c == -1)
      break;
    long v;
    switch (c) {
    case R_RM:
      r->remove = true;
      break;
    case 'e':
    case R_ENV:
      strv_push(&a->env, xstrdup(optarg));
      break;
    case R_ENV_FILE:
      if (read_env_file(optarg, &a->env) < 0)
        return -1;
      break;
    case 'w':
    case R_WORKDIR:
      r->opts.workdir = optarg;
      break;
    case 'u':
    case R_USER:
      r->opts.user = optarg;
      break;
    case R_ENTRYPOINT:
      r->opts.entrypoint = optarg;
      break;
    case 'h':
    case R_HOSTNAME:
      r->opts.hostname = optarg;
      break;
    case R_NETWORK:
      if (!*optarg)
        return cli_failf("--network: a network name, bridge, host, none or container:NAME"), -1;
      r->net.mode = optarg;
      break;
    case 'p':
    case R_PUBLISH: {
      bothy_error_t err = NULL;
      if (bothy_port_parse(optarg, &r->net.ports, &r->net.n_ports, &err) < 0)
        return cli_fail(&err), -1;
      break;
    }
    case 'P':
    case R_PUBLISH_ALL:
      r->net.publish_all = true;
      break;
    case R_NETWORK_ALIAS:
      strv_push(&a->aliases, xstrdup(optarg));
      break;
    case R_READ_ONLY:
      r->opts.read_only = true;
      break;
    case 't':
    case R_TTY:
      r->opts.tty = true;
      break;
    case 'i':
    case R_INTERACTIVE:
      r->interactive = true;
      break;
    case 'd':
    case R_DETACH:
      if (!allow_detach)
        return cli_failf("unknown flag: --detach"), -1;
      a->detach = true;
      break;
    case 'm':
    case R_MEMORY:
      r->opts.memory = parse_bytes(optarg);
      if (r->opts.memory <= 0)
        return cli_failf("invalid memory limit '%s'", optarg), -1;
      if (r->opts.memory < 6 * 1024 * 1024)
        return cli_failf("minimum memory limit allowed is 6MB (got '%s')", optarg), -1;
      break;
    case R_CPUS: {
      char *end;
      errno = 0;
      double d = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(d > 0) || d > 1024)
        return cli_failf("invalid --cpus '%s': a positive number of CPUs", optarg), -1;
      r->opts.nano_cpus = (int64_t) (d * 1e9 + 0.5);
      break;
    }
    case R_PIDS:
      if (parse_int(optarg, -1, INT_MAX, &v) < 0)
        return cli_failf("invalid --pids-limit '%s'", optarg), -1;
      r->opts.pids_limit = v;
      break;
    case R_SECURITY:
      if (!strcmp(optarg, "seccomp=unconfined") || !strcmp(optarg, "seccomp:unconfined")) {
        r->opts.privileged_seccomp_off = true;
      } else if (!strncmp(optarg, "seccomp=", 8) || !strncmp(optarg, "seccomp:", 8)) {
        bothy_error_t err = NULL;
        json_decref(a->seccomp);
        a->seccomp = NULL;
        if (bothy_json_load_file(optarg + 8, &a->seccomp, &err) < 0) {
          bothy_error_prefix(&err, "--security-opt seccomp");
          return cli_fail(&err), -1;
        }
      } else if (!strcmp(optarg, "no-new-privileges") ||
                 !strcmp(optarg, "no-new-privileges:true") ||
                 !strcmp(optarg, "no-new-privileges=true")) {
        r->opts.no_new_privileges_off = false;
      } else if (!strcmp(optarg, "no-new-privileges:false") ||
                 !strcmp(optarg, "no-new-privileges=false")) {
        r->opts.no_new_privileges_off = true;
      } else {
        return cli_failf("--security-opt: '%s' is not supported", optarg), -1;
      }
      break;
    case R_PULL:
      if (!strcmp(optarg, "never"))
        r->pull = false;
      else if (strcmp(optarg, "missing"))
        return cli_failf("--pull: '%s' is not supported (missing, never)", optarg), -1;
      break;
    case R_NAME:
      r->name = optarg;
      break;
    case 'v':
    case R_VOLUME:
      if (add_mount(a, bothy_mount_parse_volume, optarg) < 0)
        return -1;
      break;
    case R_MOUNT:
      if (add_mount(a, bothy_mount_parse_mount, optarg) < 0)
        return -1;
      break;
    case R_TMPFS:
      if (add_mount(a, bothy_mount_parse_tmpfs, optarg) < 0)
        return -1;
      break;
    case R_INIT:
      r->init = true;
      break;
    case R_RESTART: {
      _cleanup_free_ char *p = xstrdup(optarg);
      char *colon = strchr(p, ':');
      if (colon)
        *colon++ = '\0';
      if (strcmp(p, "no") && strcmp(p, "always") && strcmp(p, "unless-stopped") &&
          strcmp(p, "on-failure"))
        return cli_failf("invalid restart policy '%s': no, always, unless-stopped or "
                         "on-failure[:N]",
                         optarg),
               -1;
      if (colon) {
        if (strcmp(p, "on-failure") || parse_int(colon, 0, INT_MAX, &v) < 0)
          return cli_failf("invalid restart policy '%s': only on-failure takes a maximum "
                           "retry count",
                           optarg),
                 -1;
        r->max_retries = (int) v;
      }
      r->restart = !strcmp(p, "no")               ? "no"
                   : !strcmp(p, "always")         ? "always"
                   : !strcmp(p, "unless-stopped") ? "unless-stopped"
                                                  : "on-failure";
      break;
    }
    case R_CAP_ADD:
      strv_push(&a->cap_add, xstrdup(optarg));
      break;
    case R_CAP_DROP:
      strv_push(&a->cap_drop, xstrdup(optarg));
      break;
    case R_USERNS:
      if (!strcmp(optarg, "auto"))
        r->userns_auto = true;
      else if (!strcmp(optarg, "host") || !strcmp(optarg, ""))
        r->userns_auto = false;
      else
        return cli_failf("--userns: '%s' is not supported (auto, host)", optarg), -1;
      break;
    case R_HEALTH_CMD:
      strv_free(a->health_cmd);
      a->health_cmd = NULL;
      strv_push(&a->health_cmd, xstrdup("CMD-SHELL"));
      strv_push(&a->health_cmd, xstrdup(optarg));
      break;
    case R_HEALTH_INTERVAL:
    case R_HEALTH_TIMEOUT:
    case R_HEALTH_START: {
      int64_t ns = parse_duration_ns(optarg);
      if (ns < 0 || (c != R_HEALTH_START && ns < 1000000))
        return cli_failf("invalid duration '%s' (e.g. 30s, 1m30s, 500ms)", optarg), -1;
      if (c == R_HEALTH_INTERVAL)
        r->health_interval_ns = ns;
      else if (c == R_HEALTH_TIMEOUT)
        r->health_timeout_ns = ns;
      else
        r->health_start_period_ns = ns;
      break;
    }
    case R_HEALTH_RETRIES:
      if (parse_int(optarg, 1, INT_MAX, &v) < 0)
        return cli_failf("invalid --health-retries '%s': a positive integer", optarg), -1;
      r->health_retries = (int) v;
      break;
    case R_NO_HEALTH:
      r->no_healthcheck = true;
      break;
    case 'l':
    case R_LABEL: {
      if (!a->labels)
        a->labels = json_object();
      _cleanup_free_ char *kv = xstrdup(optarg);
      char *eq = strchr(kv, '=');
      if (eq)
        *eq++ = '\0';
      if (!*kv)
        return cli_failf("invalid label '%s': empty key", optarg), -1;
      json_object_set_new(a->labels, kv, json_string(eq ? eq : ""));
      break;
    }
    case R_STOP_SIGNAL: {
      int sig = bothy_signal_parse(optarg);
      if (sig <= 0)
        return cli_failf("invalid --stop-signal '%s'", optarg), -1;
      r->stop_signal = sig;
      break;
    }
    case R_STOP_TIMEOUT:
      if (parse_int(optarg, 0, INT_MAX, &v) < 0)
        return cli_failf("invalid --stop-timeout '%s': seconds", optarg), -1;
      r->stop_timeout = (int) v;
      break;
    case R_LOG_OPT: {
      if (!strncmp(optarg, "max-size=", 9)) {
        r->log_max_size = parse_bytes(optarg + 9);
        if (r->log_max_size <= 0)
          return cli_failf("invalid --log-opt '%s'", optarg), -1;
      } else if (!strncmp(optarg, "max-file=", 9)) {
        if (parse_int(optarg + 9, 1, 100, &v) < 0)
          return cli_failf("invalid --log-opt '%s'", optarg), -1;
        r->log_max_files = (int) v;
      } else {
        return cli_failf("--log-opt: '%s' is not supported (max-size, max-file)", optarg), -1;
      }
      break;
    }
    default:
      return cli_failf("unknown flag or missing value: '%s'", argv[optind - 1]), -1;
    }
  }
  if (optind >= argc)
    return cli_failf("usage: bothy %s [OPTIONS] IMAGE [COMMAND [ARG...]]", argv[0]), -1;
  if (a->detach && r->remove && r->restart && strcmp(r->restart, "no"))
    return cli_failf("conflicting options: --restart and --rm"), -1;
  r->image = argv[optind];
  r->opts.args = argv + optind + 1;
  r->opts.env = a->env;
  r->opts.cap_add = a->cap_add;
  r->opts.cap_drop = a->cap_drop;
  r->opts.seccomp_json = a->seccomp;
  r->health_cmd = a->health_cmd;
  r->labels = a->labels;
  r->mounts = a->mounts;
  r->n_mounts = a->n_mounts;
  r->net.aliases = a->aliases;
  return optind;
}

/* docker: 125 for its own errors, 126 when the command cannot be executed,
 * 127 when it is not found. */
static int run_error_code(const bothy_error_t err)
{
  if (!err || !strstr(err->msg, "exec"))
    return 125;
  if (err->code == ENOENT || strstr(err->msg, "No such file") || strstr(err->msg, "not found"))
    return 127;
  if (err->code == EACCES || strstr(err->msg, "ermission denied"))
    return 126;
  return 125;
}

int cmd_container_run(int argc, char **argv)
{
  struct run_args a;
  if (parse_run(argc, argv, true, &a) < 0) {
    run_args_done(&a);
    return 125;
  }
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_free_ char *id = NULL;
  int code = 0;
  int r = bothy_ctr_run(&ctx, &a.req, a.detach, &id, &code, &err);
  run_args_done(&a);
  if (r < 0) {
    int c = run_error_code(err);
    cli_fail(&err);
    return c;
  }
  if (a.detach) {
    printf("%s\n", id);
    return 0;
  }
  return code;
}

int cmd_container_create(int argc, char **argv)
{
  struct run_args a;
  if (parse_run(argc, argv, false, &a) < 0) {
    run_args_done(&a);
    return 125;
  }
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_free_ char *id = NULL;
  int r = bothy_ctr_create(&ctx, &a.req, &id, &err);
  run_args_done(&a);
  if (r < 0)
    return cli_fail(&err), 125;
  printf("%s\n", id);
  return 0;
}

/* ---- start, stop, restart, kill, rm, wait ------------------------------- */

/* Runs fn on each name; prints the name on success, as docker does. */
#define EACH_NAME(first, argc, argv, call)                                                         \
  ({                                                                                               \
    int _rc = 0;                                                                                   \
    for (int _i = (first); _i < (argc); _i++) {                                                    \
      const char *name = (argv)[_i];                                                               \
      bothy_error_t err = NULL;                                                                    \
      if ((call) < 0) {                                                                            \
        cli_fail(&err);                                                                            \
        _rc = 1;                                                                                   \
      } else {                                                                                     \
        printf("%s\n", name);                                                                      \
      }                                                                                            \
    }                                                                                              \
    _rc;                                                                                           \
  })

static int need_names(int argc, int first, const char *usage)
{
  if (first >= argc)
    return cli_failf("usage: bothy %s", usage);
  return 0;
}

int cmd_container_start(int argc, char **argv)
{
  static const struct option opts[] = {
    { "attach", no_argument, NULL, 'a' },
    { "interactive", no_argument, NULL, 'i' },
    { NULL, 0, NULL, 0 },
  };
  bool attach = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+ai", opts, NULL)) != -1;) {
    if (c == 'a')
      attach = true;
    else if (c != 'i')
      return cli_failf("start: unknown flag '%s'", argv[optind - 1]);
  }
  if (need_names(argc, optind, "start [-a] CONTAINER..."))
    return 1;
  struct bothy_ctx ctx = cli_ctx();
  if (attach) {
    if (argc - optind != 1)
      return cli_failf("start --attach takes one container");
    bothy_error_t err = NULL;
    int code = 0;
    if (bothy_ctr_run_attached(&ctx, argv[optind], true, &code, &err) < 0) {
      int c = run_error_code(err);
      cli_fail(&err);
      return c;
    }
    return code;
  }
  return EACH_NAME(optind, argc, argv, bothy_ctr_start(&ctx, name, &err));
}

static int parse_time_opt(int argc, char **argv, const char *what, int *ret_timeout)
{
  static const struct option opts[] = {
    { "time", required_argument, NULL, 't' },
    { "timeout", required_argument, NULL, 't' },
    { NULL, 0, NULL, 0 },
  };
  *ret_timeout = -1;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+t:", opts, NULL)) != -1;) {
    long v;
    if (c != 't')
      return cli_failf("%s: unknown flag or missing value '%s'", what, argv[optind - 1]), -1;
    if (parse_int(optarg, -1, INT_MAX, &v) < 0)
      return cli_failf("%s: invalid --time '%s': seconds", what, optarg), -1;
    *ret_timeout = (int) v;
  }
  return 0;
}

int cmd_container_stop(int argc, char **argv)
{
  int timeout;
  if (parse_time_opt(argc, argv, "stop", &timeout) < 0 ||
      need_names(argc, optind, "stop [-t SECONDS] CONTAINER..."))
    return 1;
  struct bothy_ctx ctx = cli_ctx();
  return EACH_NAME(optind, argc, argv, bothy_ctr_stop(&ctx, name, timeout, &err));
}

int cmd_container_restart(int argc, char **argv)
{
  int timeout;
  if (parse_time_opt(argc, argv, "restart", &timeout) < 0 ||
      need_names(argc, optind, "restart [-t SECONDS] CONTAINER..."))
    return 1;
  struct bothy_ctx ctx = cli_ctx();
  return EACH_NAME(
      optind, argc, argv,
      bothy_ctr_stop(&ctx, name, timeout, &err) < 0 ? -1 : bothy_ctr_start(&ctx, name, &err));
}

int cmd_container_kill(int argc, char **argv)
{
  static const struct option opts[] = {
    { "signal", required_argument, NULL, 's' },
    { NULL, 0, NULL, 0 },
  };
  int sig = SIGKILL;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+s:", opts, NULL)) != -1;) {
    if (c != 's')
      return cli_failf("kill: unknown flag or missing value '%s'", argv[optind - 1]);
    sig = bothy_signal_parse(optarg);
    if (sig <= 0)
      return cli_failf("invalid signal: %s", optarg);
  }
  if (need_names(argc, optind, "kill [-s SIGNAL] CONTAINER..."))
    return 1;
  struct bothy_ctx ctx = cli_ctx();
  return EACH_NAME(optind, argc, argv, bothy_ctr_kill(&ctx, name, sig, &err));
}

int cmd_container_rm(int argc, char **argv)
{
  static const struct option opts[] = {
    { "force", no_argument, NULL, 'f' },
    { "volumes", no_argument, NULL, 'v' },
    { NULL, 0, NULL, 0 },
  };
  bool force = false, volumes = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+fv", opts, NULL)) != -1;) {
    if (c == 'f')
      force = true;
    else if (c == 'v')
      volumes = true;
    else
      return cli_failf("rm: unknown flag '%s'", argv[optind - 1]);
  }
  if (need_names(argc, optind, "rm [-f] [-v] CONTAINER..."))
    return 1;
  struct bothy_ctx ctx = cli_ctx();
  return EACH_NAME(optind, argc, argv, bothy_ctr_remove(&ctx, name, force, volumes, &err));
}

int cmd_container_wait(int argc, char **argv)
{
  if (need_names(argc, 1, "wait CONTAINER..."))
    return 1;
  struct bothy_ctx ctx = cli_ctx();
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    bothy_error_t err = NULL;
    int code;
    if (bothy_ctr_wait(&ctx, argv[i], &code, &err) < 0) {
      cli_fail(&err);
      rc = 1;
    } else {
      printf("%d\n", code);
      fflush(stdout);
    }
  }
  return rc;
}

/* ---- ps, inspect ---------------------------------------------------------- */

static char *command_of(json_t *doc)
{
  json_t *path = json_object_get(doc, "Path");
  json_t *args = json_object_get(doc, "Args");
  char *s = xstrdup(json_string_value(path) ? json_string_value(path) : "");
  size_t i;
  json_t *v;
  json_array_foreach (args, i, v) {
    char *n = xasprintf("%s %s", s, json_string_value(v) ? json_string_value(v) : "");
    free(s);
    s = n;
  }
  return s;
}

static char *created_ago(const char *created)
{
  int64_t t;
  if (bothy_time_parse_rfc3339(created, &t) < 0)
    return xstrdup("");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t s = ts.tv_sec - t / 1000000000LL;
  if (s < 60)
    return xasprintf("%lld seconds ago", (long long) s);
  if (s < 3600)
    return xasprintf("%lld minutes ago", (long long) (s / 60));
  if (s < 86400 * 2)
    return xasprintf("%lld hours ago", (long long) (s / 3600));
  return xasprintf("%lld days ago", (long long) (s / 86400));
}

/* docker's PORTS column: "127.0.0.1:8080->80/tcp, ...". */
static char *ports_of(json_t *doc)
{
  json_t *ports = json_object_get(json_object_get(doc, "NetworkSettings"), "Ports");
  char *s = xstrdup("");
  const char *key;
  json_t *binds;
  json_object_foreach (ports, key, binds) {
    size_t i;
    json_t *b;
    json_array_foreach (binds, i, b) {
      char *n = xasprintf("%s%s%s:%s->%s", s, *s ? ", " : "",
                          json_string_value(json_object_get(b, "HostIp")),
                          json_string_value(json_object_get(b, "HostPort")), key);
      free(s);
      s = n;
    }
  }
  return s;
}

int cmd_container_ps(int argc, char **argv)
{
  static const struct option opts[] = {
    { "all", no_argument, NULL, 'a' },
    { "quiet", no_argument, NULL, 'q' },
    { "no-trunc", no_argument, NULL, 'n' },
    { "format", required_argument, NULL, 'F' },
    { NULL, 0, NULL, 0 },
  };
  bool all = false, quiet = false, notrunc = false;
  const char *format = "table";
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+aq", opts, NULL)) != -1;) {
    switch (c) {
    case 'a':
      all = true;
      break;
    case 'q':
      quiet = true;
      break;
    case 'n':
      notrunc = true;
      break;
    case 'F':
      format = optarg;
      break;
    default:
      return cli_failf("ps: unknown flag or missing value '%s'", argv[optind - 1]);
    }
  }
  if (strcmp(format, "table") && strcmp(format, "json"))
    return cli_failf("--format takes table or json, not '%s'", format);
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *list = NULL;
  if (bothy_ctr_list(&ctx, all, &list, &err) < 0)
    return cli_fail(&err);
  size_t i;
  json_t *d;
  if (!strcmp(format, "json")) {
    json_t *out = json_array();
    json_array_foreach (list, i, d) {
      _cleanup_free_ char *cmd = command_of(d);
      json_t *st = json_object_get(d, "State");
      const char *name = json_string_value(json_object_get(d, "Name"));
      _cleanup_free_ char *ports = ports_of(d);
      json_array_append_new(
          out, json_pack("{s:O, s:[s], s:O, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:s}", "Id",
                         json_object_get(d, "Id"), "Names", name && *name == '/' ? name + 1 : "",
                         "Image", json_object_get(json_object_get(d, "Config"), "Image"), "Command",
                         cmd, "Created", json_object_get(d, "Created"), "State",
                         json_object_get(st, "Status"), "Status", json_object_get(d, "StatusText"),
                         "ExitCode", json_object_get(st, "ExitCode"), "Pid",
                         json_object_get(st, "Pid"), "Labels",
                         json_object_get(json_object_get(d, "Config"), "Labels"), "Ports", ports));
    }
    _cleanup_free_ char *s = bothy_json_dump(out, true);
    json_decref(out);
    printf("%s\n", s);
    return 0;
  }
  if (!quiet)
    printf("%-12s   %-20s   %-22s   %-15s   %-28s   %-24s   %s\n", "CONTAINER ID", "IMAGE",
           "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES");
  json_array_foreach (list, i, d) {
    const char *id = json_string_value(json_object_get(d, "Id"));
    if (quiet) {
      printf("%.*s\n", notrunc ? 64 : 12, id);
      continue;
    }
    _cleanup_free_ char *cmd = command_of(d);
    _cleanup_free_ char *quoted =
        notrunc || strlen(cmd) <= 20 ? xasprintf("\"%s\"", cmd) : xasprintf("\"%.19s…\"", cmd);
    _cleanup_free_ char *created = created_ago(json_string_value(json_object_get(d, "Created")));
    const char *name = json_string_value(json_object_get(d, "Name"));
    _cleanup_free_ char *ports = ports_of(d);
    printf("%-12.*s   %-20s   %-22s   %-15s   %-28s   %-24s   %s\n", notrunc ? 64 : 12, id,
           json_string_value(json_object_get(json_object_get(d, "Config"), "Image")), quoted,
           created, json_string_value(json_object_get(d, "StatusText")), ports,
           name && *name == '/' ? name + 1 : "");
  }
  return 0;
}

/* `inspect`: containers first, then images (as docker). */
int cmd_container_inspect(int argc, char **argv)
{
  static const struct option opts[] = {
    { "type", required_argument, NULL, 'T' },
    { "format", required_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  const char *type = NULL;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+f:", opts, NULL)) != -1;) {
    if (c == 'T') {
      type = optarg;
      if (strcmp(type, "container") && strcmp(type, "image"))
        return cli_failf("--type takes container or image, not '%s'", type);
    } else if (c == 'f') {
      if (strcmp(optarg, "json"))
        return cli_failf("--format: only json is supported, not '%s'", optarg);
    } else {
      return cli_failf("inspect: unknown flag or missing value '%s'", argv[optind - 1]);
    }
  }
  if (need_names(argc, optind, "inspect [--type container|image] NAME..."))
    return 1;
  if (type && !strcmp(type, "image")) {
    int rc = 0;
    for (int i = optind; i < argc; i++) {
      char *iargv[] = { "inspect", argv[i], NULL };
      if (cmd_inspect(2, iargv) != 0)
        rc = 1;
    }
    return rc;
  }
  struct bothy_ctx ctx = cli_ctx();
  json_t *out = json_array();
  int rc = 0;
  for (int i = optind; i < argc; i++) {
    bothy_error_t err = NULL;
    json_t *doc = NULL;
    if (bothy_ctr_inspect(&ctx, argv[i], &doc, &err) == 0) {
      json_array_append_new(out, doc);
      continue;
    }
    if (!type && err && err->code == ENOENT) {
      bothy_error_free(&err);
      /* An image: its inspect prints its own document. */
      char *iargv[] = { "inspect", argv[i], NULL };
      if (cmd_inspect(2, iargv) != 0)
        rc = 1;
      continue;
    }
    cli_fail(&err);
    rc = 1;
  }
  if (json_array_size(out) > 0) {
    _cleanup_free_ char *s = bothy_json_dump(out, true);
    printf("%s\n", s);
  }
  json_decref(out);
  return rc;
}

/* ---- logs ----------------------------------------------------------------- */

struct logs_watch {
  const struct bothy_ctx *ctx;
  const char *id;
};

static bool logs_alive(void *userdata)
{
  struct logs_watch *w = userdata;
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *doc = NULL;
  if (bothy_ctr_inspect(w->ctx, w->id, &doc, &err) < 0) {
    bothy_error_free(&err);
    return false;
  }
  json_t *st = json_object_get(doc, "State");
  return json_is_true(json_object_get(st, "Running")) ||
         json_is_true(json_object_get(st, "Restarting")) ||
         json_integer_value(json_object_get(doc, "MonitorPid")) > 0;
}

int cmd_container_logs(int argc, char **argv)
{
  static const struct option opts[] = {
    { "follow", no_argument, NULL, 'f' },      { "timestamps", no_argument, NULL, 't' },
    { "tail", required_argument, NULL, 'n' },  { "since", required_argument, NULL, 'S' },
    { "until", required_argument, NULL, 'U' }, { NULL, 0, NULL, 0 },
  };
  struct bothy_logs_opts o = { .tail = -1 };
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+ftn:", opts, NULL)) != -1;) {
    bothy_error_t err = NULL;
    long v;
    switch (c) {
    case 'f':
      o.follow = true;
      break;
    case 't':
      o.timestamps = true;
      break;
    case 'n':
      if (!strcmp(optarg, "all"))
        o.tail = -1;
      else if (parse_int(optarg, 0, LONG_MAX, &v) < 0)
        return cli_failf("invalid --tail '%s': a number of lines or all", optarg);
      else
        o.tail = v;
      break;
    case 'S':
      if (bothy_logs_parse_time(optarg, "since", now, &o.since_ns, &err) < 0)
        return cli_fail(&err);
      break;
    case 'U':
      if (bothy_logs_parse_time(optarg, "until", now, &o.until_ns, &err) < 0)
        return cli_fail(&err);
      break;
    default:
      return cli_failf("logs: unknown flag or missing value '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind != 1)
    return cli_failf("usage: bothy logs [-f] [-t] [--tail N] [--since T] [--until T] CONTAINER");
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_free_ char *id = NULL, *dir = NULL;
  if (bothy_ctr_resolve(&ctx, argv[optind], &id, &dir, &err) < 0)
    return cli_fail(&err);
  struct logs_watch w = { .ctx = &ctx, .id = id };
  signal(SIGPIPE, SIG_IGN);
  if (bothy_logs_read(dir, &o, STDOUT_FILENO, STDERR_FILENO, logs_alive, &w, &err) < 0)
    return cli_fail(&err);
  return 0;
}

/* ---- exec, top, stats ----------------------------------------------------- */

int cmd_container_exec(int argc, char **argv)
{
  static const struct option opts[] = {
    { "detach", no_argument, NULL, 'd' },     { "interactive", no_argument, NULL, 'i' },
    { "tty", no_argument, NULL, 't' },        { "env", required_argument, NULL, 'e' },
    { "user", required_argument, NULL, 'u' }, { "workdir", required_argument, NULL, 'w' },
    { "privileged", no_argument, NULL, 'P' }, { NULL, 0, NULL, 0 },
  };
  struct bothy_exec_opts eo = { 0 };
  _cleanup_strv_free_ char **env = NULL;
  const char *user = NULL;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+dite:u:w:", opts, NULL)) != -1;) {
    switch (c) {
    case 'd':
      eo.detach = true;
      break;
    case 'i':
      break;
    case 't':
      eo.tty = isatty(STDIN_FILENO);
      break;
    case 'e':
      strv_push(&env, xstrdup(optarg));
      break;
    case 'u':
      user = optarg;
      break;
    case 'w':
      eo.cwd = optarg;
      break;
    case 'P':
      return cli_failf("exec --privileged is not supported"), 125;
    default:
      return cli_failf("exec: unknown flag or missing value '%s'", argv[optind - 1]), 125;
    }
  }
  if (argc - optind < 2)
    return cli_failf("usage: bothy exec [-d] [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER "
                     "COMMAND [ARG...]"),
           125;
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  pid_t pid;
  if (bothy_ctr_pid(&ctx, argv[optind], &pid, &err) < 0)
    return cli_fail(&err), 125;
  _cleanup_free_ char *id = NULL;
  if (bothy_ctr_resolve(&ctx, argv[optind], &id, NULL, &err) < 0)
    return cli_fail(&err), 125;
  /* A user by name: the container's own /etc/passwd. */
  _cleanup_free_ char *uspec = NULL;
  if (user) {
    _cleanup_free_ char *u = xstrdup(user);
    char *g = strchr(u, ':');
    if (g)
      *g++ = '\0';
    char *end;
    strtol(u, &end, 10);
    if (*u && *end) {
      _cleanup_free_ char *pw = NULL;
      _cleanup_free_ char *path = xasprintf("/proc/%d/root/etc/passwd", (int) pid);
      long uid = -1, gid = -1;
      if (bothy_read_file(AT_FDCWD, path, &pw, NULL, NULL) == 0) {
        char *save = NULL;
        for (char *l = strtok_r(pw, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
          size_t n = strlen(u);
          if (!strncmp(l, u, n) && l[n] == ':') {
            char *f = strchr(l + n + 1, ':');
            if (f) {
              uid = strtol(f + 1, &f, 10);
              if (*f == ':')
                gid = strtol(f + 1, NULL, 10);
            }
          }
        }
      }
      if (uid < 0)
        return cli_failf("unable to find user %s: no matching entries in passwd file", u), 126;
      uspec = g ? xasprintf("%ld:%s", uid, g) : xasprintf("%ld:%ld", uid, gid);
    } else {
      uspec = xstrdup(user);
    }
  }
  _cleanup_free_ char *rt_root = bothy_ctr_runtime_root(&ctx);
  struct bothy_runtime rt = { .root = rt_root };
  eo.id = id;
  eo.args = argv + optind + 1;
  eo.env = env;
  eo.user = uspec;
  int code = 0;
  if (bothy_container_exec(&rt, &eo, &code, &err) < 0) {
    int c = run_error_code(err);
    cli_fail(&err);
    return c == 125 ? 126 : c;
  }
  return code;
}

int cmd_container_top(int argc, char **argv)
{
  if (argc < 2)
    return cli_failf("usage: bothy top CONTAINER [ps OPTIONS]");
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_free_ char *id = NULL;
  pid_t pid;
  if (bothy_ctr_pid(&ctx, argv[1], &pid, &err) < 0 ||
      bothy_ctr_resolve(&ctx, argv[1], &id, NULL, &err) < 0)
    return cli_fail(&err);
  _cleanup_free_ char *rt_root = bothy_ctr_runtime_root(&ctx);
  struct bothy_runtime rt = { .root = rt_root };
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (bothy_container_pids(&rt, id, &pids, &n, &err) < 0)
    return cli_fail(&err);
  _cleanup_free_ char *list = xstrdup("");
  for (size_t i = 0; i < n; i++) {
    char *l = xasprintf("%s%s%d", list, i ? "," : "", (int) pids[i]);
    free(list);
    list = l;
  }
  /* ps prints the processes, as docker top does; its options are the
   * user's (default -f). */
  char **args = NULL;
  strv_push(&args, xstrdup("ps"));
  if (argc > 2)
    for (int i = 2; i < argc; i++)
      strv_push(&args, xstrdup(argv[i]));
  else
    strv_push(&args, xstrdup("-f"));
  strv_push(&args, xstrdup("-p"));
  strv_push(&args, xstrdup(n ? list : "0"));
  fflush(stdout);
  execvp("ps", args);
  strv_free(args);
  return cli_failf("cannot run ps: %s", strerror(errno));
}

/* A cgroup file of the process's controller (v1) or the unified tree. */
static char *cgroup_file(pid_t pid, const char *controller, const char *file)
{
  _cleanup_free_ char *cg = NULL, *mi = NULL;
  _cleanup_free_ char *path = xasprintf("/proc/%d/cgroup", (int) pid);
  if (bothy_read_file(AT_FDCWD, path, &cg, NULL, NULL) < 0 ||
      bothy_read_file(AT_FDCWD, "/proc/self/mountinfo", &mi, NULL, NULL) < 0)
    return NULL;
  char *rel = NULL;
  bool v2 = false;
  char *save = NULL;
  for (char *l = strtok_r(cg, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    char *c1 = strchr(l, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    *c2 = '\0';
    const char *ctrls = c1 + 1;
    if (controller && *ctrls) {
      _cleanup_free_ char *copy = xstrdup(ctrls);
      char *s2 = NULL;
      for (char *t = strtok_r(copy, ",", &s2); t; t = strtok_r(NULL, ",", &s2))
        if (!strcmp(t, controller))
          rel = c2 + 1;
    } else if (!*ctrls && !controller) {
      rel = c2 + 1;
      v2 = true;
    }
  }
  if (!rel)
    return NULL;
  /* The mount point of that hierarchy. */
  save = NULL;
  for (char *l = strtok_r(mi, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    char *sep = strstr(l, " - ");
    if (!sep)
      continue;
    char *f[6] = { 0 };
    char *p = l;
    for (int k = 0; k < 5 && p; k++) {
      f[k] = p;
      p = strchr(p, ' ');
      if (p)
        *p++ = '\0';
    }
    const char *fstype = sep + 3;
    if (v2 ? strncmp(fstype, "cgroup2 ", 8) == 0
           : (strncmp(fstype, "cgroup ", 7) == 0 && controller && ({
                bool has = false;
                const char *opts = strrchr(fstype, ' ');
                _cleanup_free_ char *copy = xstrdup(opts ? opts + 1 : "");
                char *s2 = NULL;
                for (char *t = strtok_r(copy, ",", &s2); t; t = strtok_r(NULL, ",", &s2))
                  if (!strcmp(t, controller))
                    has = true;
                has;
              })))
      return xasprintf("%s%s/%s", f[4], rel, file);
  }
  return NULL;
}

static long long read_ll(char *path)
{
  _cleanup_free_ char *p = path;
  _cleanup_free_ char *s = NULL;
  if (!p || bothy_read_file(AT_FDCWD, p, &s, NULL, NULL) < 0)
    return -1;
  if (!strncmp(s, "max", 3))
    return LLONG_MAX;
  return strtoll(s, NULL, 10);
}

static long long cpu_ns(pid_t pid)
{
  long long v = read_ll(cgroup_file(pid, "cpuacct", "cpuacct.usage"));
  if (v >= 0)
    return v;
  _cleanup_free_ char *p = cgroup_file(pid, NULL, "cpu.stat");
  _cleanup_free_ char *s = NULL;
  if (!p || bothy_read_file(AT_FDCWD, p, &s, NULL, NULL) < 0)
    return -1;
  char *u = strstr(s, "usage_usec ");
  return u ? strtoll(u + 11, NULL, 10) * 1000 : -1;
}

static char *human_bytes(long long b)
{
  const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double v = (double) b;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  return xasprintf("%.4g%s", v, units[u]);
}

int cmd_container_stats(int argc, char **argv)
{
  static const struct option opts[] = {
    { "no-stream", no_argument, NULL, 'n' },
    { "format", required_argument, NULL, 'F' },
    { "all", no_argument, NULL, 'a' },
    { NULL, 0, NULL, 0 },
  };
  bool json = false;
  optind = 0;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "+a", opts, NULL)) != -1;) {
    if (c == 'F') {
      if (strcmp(optarg, "json") && strcmp(optarg, "table"))
        return cli_failf("--format takes table or json, not '%s'", optarg);
      json = !strcmp(optarg, "json");
    } else if (c != 'n' && c != 'a') {
      return cli_failf("stats: unknown flag '%s'", argv[optind - 1]);
    }
  }
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_strv_free_ char **names = NULL;
  if (optind < argc) {
    for (int i = optind; i < argc; i++)
      strv_push(&names, xstrdup(argv[i]));
  } else {
    _cleanup_json_ json_t *list = NULL;
    if (bothy_ctr_list(&ctx, false, &list, &err) < 0)
      return cli_fail(&err);
    size_t i;
    json_t *d;
    json_array_foreach (list, i, d)
      strv_push(&names, xstrdup(json_string_value(json_object_get(d, "Id"))));
  }
  size_t n = strv_length(names);
  _cleanup_free_ pid_t *pids = xcalloc(n + 1, sizeof(pid_t));
  _cleanup_free_ long long *cpu0 = xcalloc(n + 1, sizeof(long long));
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (bothy_ctr_pid(&ctx, names[i], &pids[i], &err) < 0) {
      cli_fail(&err);
      rc = 1;
      pids[i] = 0;
      continue;
    }
    cpu0[i] = cpu_ns(pids[i]);
  }
  /* CPU use over a short window, as docker's --no-stream does. */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  struct timespec nap = { 0, 250000000L };
  nanosleep(&nap, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double) (t1.tv_sec - t0.tv_sec) * 1e9 + (double) (t1.tv_nsec - t0.tv_nsec);
  json_t *out = json_array();
  if (!json)
    printf("%-12s   %-20s   %-7s   %-22s   %-7s   %s\n", "CONTAINER ID", "NAME", "CPU %",
           "MEM USAGE / LIMIT", "MEM %", "PIDS");
  for (size_t i = 0; i < n; i++) {
    if (!pids[i])
      continue;
    long long c1 = cpu_ns(pids[i]);
    double cpu = cpu0[i] >= 0 && c1 >= 0 ? (double) (c1 - cpu0[i]) * 100.0 / wall : 0;
    long long mem = read_ll(cgroup_file(pids[i], "memory", "memory.usage_in_bytes"));
    long long lim = read_ll(cgroup_file(pids[i], "memory", "memory.limit_in_bytes"));
    if (mem < 0) {
      mem = read_ll(cgroup_file(pids[i], NULL, "memory.current"));
      lim = read_ll(cgroup_file(pids[i], NULL, "memory.max"));
    }
    long long np = read_ll(cgroup_file(pids[i], "pids", "pids.current"));
    if (np < 0)
      np = read_ll(cgroup_file(pids[i], NULL, "pids.current"));
    long long host = (long long) sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    if (lim < 0 || lim > host)
      lim = host;
    _cleanup_json_ json_t *doc = NULL;
    bothy_ctr_inspect(&ctx, names[i], &doc, NULL);
    const char *id = json_string_value(json_object_get(doc, "Id"));
    const char *name = json_string_value(json_object_get(doc, "Name"));
    name = name && *name == '/' ? name + 1 : (name ? name : "");
    double mp = lim > 0 && mem >= 0 ? (double) mem * 100.0 / (double) lim : 0;
    if (json) {
      json_array_append_new(out, json_pack("{s:s, s:s, s:f, s:I, s:I, s:f, s:I}", "ID",
                                           id ? id : "", "Name", name, "CPUPerc", cpu, "MemUsage",
                                           (json_int_t) mem, "MemLimit", (json_int_t) lim,
                                           "MemPerc", mp, "PIDs", (json_int_t) np));
    } else {
      _cleanup_free_ char *mu = human_bytes(mem < 0 ? 0 : mem);
      _cleanup_free_ char *ml = human_bytes(lim);
      _cleanup_free_ char *usage = xasprintf("%s / %s", mu, ml);
      printf("%-12.12s   %-20s   %6.2f%%   %-22s   %6.2f%%   %lld\n", id ? id : "", name, cpu,
             usage, mp, np < 0 ? 0 : np);
    }
  }
  if (json) {
    _cleanup_free_ char *s = bothy_json_dump(out, true);
    printf("%s\n", s);
  }
  json_decref(out);
  return rc;
}

/* ---- boot, systemd ------------------------------------------------------- */

int cmd_container_boot(int argc, char **argv)
{
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  size_t started = 0;
  _cleanup_strv_free_ char **errors = NULL;
  if (bothy_ctr_boot(&ctx, &started, &errors, &err) < 0)
    return cli_fail(&err);
  for (size_t i = 0; errors && errors[i]; i++)
    fprintf(stderr, "%s: %s\n", cli_program, errors[i]);
  printf("started %zu container%s\n", started, started == 1 ? "" : "s");
  return errors ? 1 : 0;
}

int cmd_systemd(int argc, char **argv)
{
  static const struct option opts[] = {
    { "files", no_argument, NULL, 'f' },
    { NULL, 0, NULL, 0 },
  };
  bool files = false;
  optind = 0;
  opterr = 0;
  if (argc < 2 || strcmp(argv[1], "generate"))
    return cli_failf("usage: bothy systemd generate [--files] CONTAINER");
  argc--;
  argv++;
  for (int c; (c = getopt_long(argc, argv, "+", opts, NULL)) != -1;) {
    if (c == 'f')
      files = true;
    else
      return cli_failf("systemd generate: unknown flag '%s'", argv[optind - 1]);
  }
  if (argc - optind != 1)
    return cli_failf("usage: bothy systemd generate [--files] CONTAINER");
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *doc = NULL;
  if (bothy_ctr_inspect(&ctx, argv[optind], &doc, &err) < 0)
    return cli_fail(&err);
  const char *name = json_string_value(json_object_get(doc, "Name")) + 1;
  json_t *host = json_object_get(doc, "HostConfig");
  json_t *rp = json_object_get(host, "RestartPolicy");
  const char *root = cli_root();
  struct bothy_unit_opts uo = {
    .bothy = ctx.exe,
    .root = strcmp(root, "/var/lib/bothy") ? root : NULL,
    .name = name,
    .restart = json_string_value(json_object_get(rp, "Name")),
    .max_retries = (int) json_integer_value(json_object_get(rp, "MaximumRetryCount")),
    .stop_timeout =
        (int) json_integer_value(json_object_get(json_object_get(doc, "Config"), "StopTimeout")),
  };
  _cleanup_free_ char *unit = bothy_systemd_unit(&uo);
  if (!files) {
    fputs(unit, stdout);
    return 0;
  }
  _cleanup_free_ char *fname = xasprintf("bothy-%s.service", name);
  if (bothy_write_file_atomic(AT_FDCWD, fname, unit, strlen(unit), 0644, &err) < 0)
    return cli_fail(&err);
  printf("%s\n", fname);
  return 0;
}

/* ---- the monitor's helpers ----------------------------------------------- */

int cmd_helper_start(int argc, char **argv)
{
  const char *console = NULL;
  if (argc == 4 && !strcmp(argv[2], "--console-socket"))
    console = argv[3];
  else if (argc != 2)
    return cli_failf("usage: bothy __start ID [--console-socket PATH]");
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  pid_t pid = 0;
  if (bothy_ctr_helper_start(&ctx, argv[1], console, &pid, &err) < 0) {
    dprintf(3, "error %s\n", err ? err->msg : "start failed");
    bothy_error_free(&err);
    return 1;
  }
  dprintf(3, "%d\n", (int) pid);
  return 0;
}

int cmd_helper_cleanup(int argc, char **argv)
{
  if (argc != 2)
    return cli_failf("usage: bothy __cleanup ID");
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  if (bothy_ctr_helper_cleanup(&ctx, argv[1], &err) < 0)
    return cli_fail(&err);
  return 0;
}

int cmd_helper_health(int argc, char **argv)
{
  if (argc != 2)
    return cli_failf("usage: bothy __health ID");
  struct bothy_ctx ctx = cli_ctx();
  bothy_error_t err = NULL;
  int code = 0;
  if (bothy_ctr_helper_health(&ctx, argv[1], STDOUT_FILENO, &code, &err) < 0) {
    printf("%s\n", err ? err->msg : "health check failed");
    bothy_error_free(&err);
    return 125;
  }
  return code;
}
