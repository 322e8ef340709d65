/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy-runtime`: runc's command line. Options may be written -opt, --opt,
 * --opt=value or --opt value (runc's flag parser accepts them all), and come
 * before the positional arguments. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "runtime/cloned_binary.h"
#include "runtime/container.h"

#define DEFAULT_ROOT "/run/bothy/runtime"

static struct bothy_runtime rt = { .root = DEFAULT_ROOT };

static int parse_int(const char *s, const char *what, int *ret)
{
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < 0 || v > INT_MAX)
    return cli_failf("invalid value '%s' for %s", s, what), -1;
  *ret = (int) v;
  return 0;
}

static void print_json(json_t *o)
{
  _cleanup_free_ char *s = bothy_json_dump(o, true);
  fputs(s, stdout);
}

/* A command's next option: getopt_long_only with runc's conventions (-opt,
 * --opt, --opt=value, --opt value; options before arguments). Returns the
 * option's code, 0 at the end, or OPT_ERROR after printing why. */
#define OPT_ERROR (-2)

static int next_opt(int argc, char **argv, const struct option *longopts)
{
  static bool started;
  if (!started) {
    optind = 0;
    opterr = 0;
    started = true;
  }
  int idx = 0;
  int c = getopt_long_only(argc, argv, "+", longopts, &idx);
  if (c == -1)
    return 0;
  if (c == '?' || c == ':') {
    cli_failf("%s: flag provided but not defined or missing its value: '%s'", argv[0],
              argv[optind - 1]);
    return OPT_ERROR;
  }
  return c;
}

/* The command being run: its table entry gives the argument counts. */
static const struct cli_command *current;

static int check_args(int argc, char **argv)
{
  int min = current->min_args, max = current->max_args;
  const char *usage = current->usage;
  int n = argc - optind;
  if (n < min || (max >= 0 && n > max)) {
    fprintf(stderr, "%s: '%s' requires %s%d argument%s\nusage: %s %s\n", cli_program, argv[0],
            min == max ? "exactly " : (n < min ? "at least " : "at most "), n < min ? min : max,
            (n < min ? min : max) == 1 ? "" : "s", argv[0], usage);
    return -1;
  }
  return 0;
}

enum {
  OPT_BUNDLE = 1000,
  OPT_PID_FILE,
  OPT_CONSOLE_SOCKET,
  OPT_DETACH,
  OPT_NO_PIVOT,
  OPT_NO_NEW_KEYRING,
  OPT_PRESERVE_FDS,
  OPT_KEEP,
  OPT_NO_SUBREAPER,
  OPT_FORCE,
  OPT_ALL,
  OPT_FORMAT,
  OPT_QUIET,
  OPT_ROOTLESS,
  OPT_PROCESS,
  OPT_CWD,
  OPT_ENV,
  OPT_TTY,
  OPT_USER,
  OPT_GIDS,
  OPT_CAP,
  OPT_NNP,
  OPT_LABEL,
  OPT_APPARMOR,
  OPT_CGROUP,
  OPT_IGNORE_PAUSED,
};

static const struct option create_opts[] = {
  { "bundle", required_argument, NULL, OPT_BUNDLE },
  { "pid-file", required_argument, NULL, OPT_PID_FILE },
  { "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
  { "detach", no_argument, NULL, OPT_DETACH },
  { "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
  { "no-new-keyring", no_argument, NULL, OPT_NO_NEW_KEYRING },
  { "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
  { "keep", no_argument, NULL, OPT_KEEP },
  { "no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER },
  { "b", required_argument, NULL, OPT_BUNDLE },
  { "d", no_argument, NULL, OPT_DETACH },
  { NULL, 0, NULL, 0 },
};

static int parse_create(int argc, char **argv, struct bothy_create_opts *o, bool run)
{
  int opt;
  while ((opt = next_opt(argc, argv, create_opts)) > 0) {
    switch (opt) {
    case OPT_BUNDLE:
      o->bundle = optarg;
      break;
    case OPT_PID_FILE:
      o->pid_file = optarg;
      break;
    case OPT_CONSOLE_SOCKET:
      o->console_socket = optarg;
      break;
    case OPT_DETACH:
      if (!run)
        return cli_failf("create: flag provided but not defined: -detach");
      o->detach = true;
      break;
    case OPT_NO_PIVOT:
      o->no_pivot = true;
      break;
    case OPT_NO_NEW_KEYRING:
      o->no_new_keyring = true;
      break;
    case OPT_PRESERVE_FDS:
      if (parse_int(optarg, "--preserve-fds", &o->preserve_fds) < 0)
        return 1;
      break;
    case OPT_KEEP:
      o->keep = true;
      break;
    case OPT_NO_SUBREAPER:
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  o->id = argv[optind];
  /* runc: LISTEN_FDS passed by systemd socket activation count as preserved. */
  const char *lf = getenv("LISTEN_FDS");
  if (lf) {
    int n = 0;
    if (parse_int(lf, "LISTEN_FDS", &n) == 0)
      o->preserve_fds += n;
  }
  return 0;
}

static int cmd_create(int argc, char **argv)
{
  struct bothy_create_opts o = { 0 };
  int r = parse_create(argc, argv, &o, false);
  if (r)
    return r;
  bothy_error_t err = NULL;
  if (bothy_container_create(&rt, &o, &err) < 0)
    return cli_fail(&err);
  return 0;
}

static int cmd_run(int argc, char **argv)
{
  struct bothy_create_opts o = { 0 };
  int r = parse_create(argc, argv, &o, true);
  if (r)
    return r;
  bothy_error_t err = NULL;
  int code = 0;
  if (bothy_container_run(&rt, &o, &code, &err) < 0)
    return cli_fail(&err);
  return code;
}

static const struct option no_opts[] = { { NULL, 0, NULL, 0 } };

static int cmd_start(int argc, char **argv)
{
  int opt;
  while ((opt = next_opt(argc, argv, no_opts)) > 0) {
    switch (opt) {
    default:
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  bothy_error_t err = NULL;
  if (bothy_container_start(&rt, argv[optind], &err) < 0)
    return cli_fail(&err);
  return 0;
}

static int cmd_state(int argc, char **argv)
{
  int opt;
  while ((opt = next_opt(argc, argv, no_opts)) > 0) {
    switch (opt) {
    default:
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *o = NULL;
  if (bothy_container_state(&rt, argv[optind], &o, &err) < 0)
    return cli_fail(&err);
  print_json(o);
  return 0;
}

static const struct option kill_opts[] = {
  { "all", no_argument, NULL, OPT_ALL },
  { "a", no_argument, NULL, OPT_ALL },
  { NULL, 0, NULL, 0 },
};

static int cmd_kill(int argc, char **argv)
{
  bool all = false;
  int opt;
  while ((opt = next_opt(argc, argv, kill_opts)) > 0) {
    switch (opt) {
    case OPT_ALL:
      all = true;
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  const char *sigs = argc - optind == 2 ? argv[optind + 1] : "SIGTERM";
  int sig = bothy_signal_parse(sigs);
  if (sig < 0)
    return cli_failf("unknown signal \"%s\"", sigs);
  bothy_error_t err = NULL;
  if (bothy_container_kill(&rt, argv[optind], sig, all, &err) < 0)
    return cli_fail(&err);
  return 0;
}

static const struct option delete_opts[] = {
  { "force", no_argument, NULL, OPT_FORCE },
  { "f", no_argument, NULL, OPT_FORCE },
  { NULL, 0, NULL, 0 },
};

static int cmd_delete(int argc, char **argv)
{
  bool force = false;
  int opt;
  while ((opt = next_opt(argc, argv, delete_opts)) > 0) {
    switch (opt) {
    case OPT_FORCE:
      force = true;
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  bothy_error_t err = NULL;
  if (bothy_container_delete(&rt, argv[optind], force, &err) < 0)
    return cli_fail(&err);
  return 0;
}

static const struct option list_opts[] = {
  { "format", required_argument, NULL, OPT_FORMAT },
  { "f", required_argument, NULL, OPT_FORMAT },
  { "quiet", no_argument, NULL, OPT_QUIET },
  { "q", no_argument, NULL, OPT_QUIET },
  { NULL, 0, NULL, 0 },
};

static int cmd_list(int argc, char **argv)
{
  const char *format = "table";
  bool quiet = false;
  int opt;
  while ((opt = next_opt(argc, argv, list_opts)) > 0) {
    switch (opt) {
    case OPT_FORMAT:
      format = optarg;
      break;
    case OPT_QUIET:
      quiet = true;
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  if (!streq(format, "table") && !streq(format, "json"))
    return cli_failf("invalid format option");
  bothy_error_t err = NULL;
  _cleanup_json_ json_t *arr = NULL;
  if (bothy_container_list(&rt, &arr, &err) < 0)
    return cli_fail(&err);
  size_t i;
  json_t *c;
  if (quiet) {
    json_array_foreach (arr, i, c)
      printf("%s\n", json_string_value(json_object_get(c, "id")));
    return 0;
  }
  if (streq(format, "json")) {
    _cleanup_free_ char *s = bothy_json_dump(arr, false);
    fputs(s, stdout);
    return 0;
  }
  /* runc's tabwriter: each column as wide as its widest cell plus 3, at
   * least 12. */
  static const char *const cols[] = { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" };
  size_t ncols = ARRAY_SIZE(cols), nrows = json_array_size(arr) + 1;
  _cleanup_free_ char **cells = xcalloc(ncols * nrows, sizeof(char *));
  size_t width[ARRAY_SIZE(cols)] = { 0 };
  for (size_t k = 0; k < ncols; k++)
    cells[k] = xstrdup(cols[k]);
  json_array_foreach (arr, i, c) {
    char **row = cells + (i + 1) * ncols;
    row[0] = xstrdup(json_string_value(json_object_get(c, "id")));
    row[1] = xasprintf("%lld", (long long) json_integer_value(json_object_get(c, "pid")));
    row[2] = xstrdup(json_string_value(json_object_get(c, "status")));
    row[3] = xstrdup(json_string_value(json_object_get(c, "bundle")));
    row[4] = xstrdup(json_string_value(json_object_get(c, "created")));
    row[5] = xstrdup(json_string_value(json_object_get(c, "owner")));
  }
  for (size_t r = 0; r < nrows; r++)
    for (size_t k = 0; k < ncols; k++) {
      size_t w = strlen(cells[r * ncols + k] ? cells[r * ncols + k] : "") + 3;
      width[k] = w > width[k] ? w : width[k];
    }
  for (size_t r = 0; r < nrows; r++) {
    for (size_t k = 0; k < ncols; k++) {
      const char *cell = cells[r * ncols + k] ? cells[r * ncols + k] : "";
      if (k + 1 == ncols)
        printf("%s\n", cell);
      else
        printf("%-*s", (int) (width[k] < 12 ? 12 : width[k]), cell);
      free(cells[r * ncols + k]);
    }
  }
  return 0;
}

static const struct option ps_opts[] = {
  { "format", required_argument, NULL, OPT_FORMAT },
  { "f", required_argument, NULL, OPT_FORMAT },
  { NULL, 0, NULL, 0 },
};

static int cmd_ps(int argc, char **argv)
{
  const char *format = "table";
  int opt;
  while ((opt = next_opt(argc, argv, ps_opts)) > 0) {
    switch (opt) {
    case OPT_FORMAT:
      format = optarg;
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  if (!streq(format, "table") && !streq(format, "json"))
    return cli_failf("invalid format option");
  bothy_error_t err = NULL;
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (bothy_container_pids(&rt, argv[optind], &pids, &n, &err) < 0)
    return cli_fail(&err);
  if (streq(format, "json")) {
    printf("[");
    for (size_t i = 0; i < n; i++)
      printf("%s%d", i ? "," : "", (int) pids[i]);
    printf("]\n");
    return 0;
  }
  /* Table: `ps` with the given options (default -ef), keeping its header
   * and the lines of the container's processes, as runc does. */
  _cleanup_strv_free_ char **args = NULL;
  strv_push(&args, xstrdup("ps"));
  if (argc - optind > 1)
    for (int i = optind + 1; i < argc; i++)
      strv_push(&args, xstrdup(argv[i]));
  else
    strv_push(&args, xstrdup("-ef"));
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0)
    return cli_failf("cannot create a pipe: %s", strerror(errno));
  const char *ps = access("/usr/bin/ps", X_OK) == 0 ? "/usr/bin/ps" : "/bin/ps";
  char **env = strv_copy((char *[]){ (char *) "PATH=/usr/bin:/bin", NULL });
  struct bothy_cmd cmd = {
    .path = ps, .argv = args, .env = env, .timeout_sec = 30, .stdout_fd = pipefd[1], .stderr_fd = -1
  };
  int st = 0;
  fflush(stdout);
  /* Read the output after the run: ps output is small. */
  int r = bothy_cmd_run(&cmd, &st, &err);
  strv_free(env);
  close(pipefd[1]);
  _cleanup_free_ char *out = NULL;
  bothy_error_t rerr = NULL;
  if (r == 0 && bothy_read_fd(pipefd[0], &out, NULL, &rerr) < 0)
    r = -1;
  close(pipefd[0]);
  bothy_error_free(&rerr);
  if (r < 0)
    return cli_fail(&err);
  char *save = NULL;
  int pid_col = -1;
  bool header = true;
  for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (header) {
      _cleanup_free_ char *h = xstrdup(line);
      char *s2 = NULL;
      int col = 0;
      for (char *f = strtok_r(h, " \t", &s2); f; f = strtok_r(NULL, " \t", &s2), col++)
        if (streq(f, "PID"))
          pid_col = col;
      if (pid_col < 0)
        return cli_failf("couldn't find PID field in ps output");
      printf("%s\n", line);
      header = false;
      continue;
    }
    _cleanup_free_ char *l2 = xstrdup(line);
    char *s2 = NULL;
    char *f = strtok_r(l2, " \t", &s2);
    for (int col = 0; f && col < pid_col; col++)
      f = strtok_r(NULL, " \t", &s2);
    long p = f ? strtol(f, NULL, 10) : -1;
    for (size_t i = 0; i < n; i++)
      if (pids[i] == p)
        printf("%s\n", line);
  }
  return 0;
}

static int cmd_pause_resume(int argc, char **argv, bool pause)
{
  int opt;
  while ((opt = next_opt(argc, argv, no_opts)) > 0) {
    switch (opt) {
    default:
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  bothy_error_t err = NULL;
  if (bothy_container_pause(&rt, argv[optind], pause, &err) < 0)
    return cli_fail(&err);
  return 0;
}

static int cmd_pause(int argc, char **argv)
{
  return cmd_pause_resume(argc, argv, true);
}

static int cmd_resume(int argc, char **argv)
{
  return cmd_pause_resume(argc, argv, false);
}

static int cmd_features(int argc, char **argv)
{
  _cleanup_json_ json_t *o = bothy_runtime_features();
  print_json(o);
  return 0;
}

static const struct option spec_opts[] = {
  { "bundle", required_argument, NULL, OPT_BUNDLE },
  { "b", required_argument, NULL, OPT_BUNDLE },
  { "rootless", no_argument, NULL, OPT_ROOTLESS },
  { NULL, 0, NULL, 0 },
};

static int cmd_spec(int argc, char **argv)
{
  const char *bundle = ".";
  bool rootless = false;
  int opt;
  while ((opt = next_opt(argc, argv, spec_opts)) > 0) {
    switch (opt) {
    case OPT_BUNDLE:
      bundle = optarg;
      break;
    case OPT_ROOTLESS:
      rootless = true;
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  _cleanup_close_ int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return cli_failf("cannot open the bundle '%s': %s", bundle, strerror(errno));
  if (faccessat(dfd, "config.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    return cli_failf("File config.json exists. Remove it first");
  _cleanup_json_ json_t *spec = bothy_spec_default(rootless);
  _cleanup_free_ char *s = bothy_json_dump(spec, true);
  bothy_error_t err = NULL;
  if (bothy_write_file_atomic(dfd, "config.json", s, strlen(s), 0666 & ~0022, &err) < 0)
    return cli_fail(&err);
  return 0;
}

static const struct option exec_opts[] = {
  { "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
  { "cwd", required_argument, NULL, OPT_CWD },
  { "env", required_argument, NULL, OPT_ENV },
  { "e", required_argument, NULL, OPT_ENV },
  { "tty", no_argument, NULL, OPT_TTY },
  { "t", no_argument, NULL, OPT_TTY },
  { "user", required_argument, NULL, OPT_USER },
  { "u", required_argument, NULL, OPT_USER },
  { "additional-gids", required_argument, NULL, OPT_GIDS },
  { "g", required_argument, NULL, OPT_GIDS },
  { "process", required_argument, NULL, OPT_PROCESS },
  { "p", required_argument, NULL, OPT_PROCESS },
  { "detach", no_argument, NULL, OPT_DETACH },
  { "d", no_argument, NULL, OPT_DETACH },
  { "pid-file", required_argument, NULL, OPT_PID_FILE },
  { "process-label", required_argument, NULL, OPT_LABEL },
  { "apparmor", required_argument, NULL, OPT_APPARMOR },
  { "no-new-privs", no_argument, NULL, OPT_NNP },
  { "cap", required_argument, NULL, OPT_CAP },
  { "c", required_argument, NULL, OPT_CAP },
  { "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
  { "cgroup", required_argument, NULL, OPT_CGROUP },
  { "ignore-paused", no_argument, NULL, OPT_IGNORE_PAUSED },
  { NULL, 0, NULL, 0 },
};

static int cmd_exec(int argc, char **argv)
{
  struct bothy_exec_opts o = { 0 };
  _cleanup_strv_free_ char **env = NULL, **caps = NULL;
  _cleanup_free_ gid_t *gids = NULL;
  int opt;
  while ((opt = next_opt(argc, argv, exec_opts)) > 0) {
    switch (opt) {
    case OPT_CONSOLE_SOCKET:
      o.console_socket = optarg;
      break;
    case OPT_CWD:
      o.cwd = optarg;
      break;
    case OPT_ENV:
      strv_push(&env, xstrdup(optarg));
      break;
    case OPT_TTY:
      o.tty = true;
      break;
    case OPT_USER:
      o.user = optarg;
      break;
    case OPT_GIDS: {
      int g;
      if (parse_int(optarg, "--additional-gids", &g) < 0)
        return 1;
      gids = xrealloc(gids, (o.n_additional_gids + 1) * sizeof(gid_t));
      gids[o.n_additional_gids++] = (gid_t) g;
      break;
    }
    case OPT_PROCESS:
      o.process_file = optarg;
      break;
    case OPT_DETACH:
      o.detach = true;
      break;
    case OPT_PID_FILE:
      o.pid_file = optarg;
      break;
    case OPT_LABEL:
      o.process_label = optarg;
      break;
    case OPT_APPARMOR:
      o.apparmor = optarg;
      break;
    case OPT_NNP:
      o.no_new_privs = true;
      break;
    case OPT_CAP:
      strv_push(&caps, xstrdup(optarg));
      break;
    case OPT_PRESERVE_FDS:
      if (parse_int(optarg, "--preserve-fds", &o.preserve_fds) < 0)
        return 1;
      break;
    case OPT_CGROUP:
    case OPT_IGNORE_PAUSED:
      break;
    }
  }
  if (opt == OPT_ERROR)
    return 1;
  if (check_args(argc, argv) < 0)
    return 1;
  o.id = argv[optind];
  o.args = argv + optind + 1;
  o.env = env;
  o.caps = caps;
  o.additional_gids = gids;
  bothy_error_t err = NULL;
  int code = 0;
  /* runc: every exec failure exits 255, so callers can tell it from the
   * process's own exit status. */
  if (bothy_container_exec(&rt, &o, &code, &err) < 0)
    return cli_fail(&err), 255;
  return code;
}

static int cmd_version(int argc, char **argv)
{
  printf("bothy-runtime version %s\nspec: 1.2.0\n", BOTHY_VERSION);
  return 0;
}

static const struct cli_command commands[] = {
  { "create", cmd_create, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, 1, "[OPTIONS] ID",
    "create a container" },
  { "start", cmd_start, 0, 1, 1, "ID", "start a created container" },
  { "run", cmd_run, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, 1, "[OPTIONS] ID",
    "create and start a container" },
  { "state", cmd_state, 0, 1, 1, "ID", "output the state of a container" },
  { "kill", cmd_kill, 0, 1, 2, "ID [SIGNAL]", "send a signal to the container's init" },
  { "delete", cmd_delete, 0, 1, 1, "[--force] ID", "delete a container" },
  { "list", cmd_list, 0, 0, 0, "[--format json]", "list containers" },
  { "ps", cmd_ps, 0, 1, -1, "ID [ps options]", "show the processes of a container" },
  { "exec", cmd_exec, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, -1, "[OPTIONS] ID COMMAND...",
    "run a process in a container" },
  { "pause", cmd_pause, 0, 1, 1, "ID", "freeze every process of a container" },
  { "resume", cmd_resume, 0, 1, 1, "ID", "thaw a paused container" },
  { "features", cmd_features, 0, 0, 0, "", "show what this runtime implements" },
  { "spec", cmd_spec, 0, 0, 0, "[--rootless] [--bundle DIR]", "write a default config.json" },
  { "version", cmd_version, 0, 0, 0, "", "print the version" },
};

static void usage(FILE *f)
{
  fprintf(f, "usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n\ncommands:\n", cli_program);
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nglobal options:\n"
             "  --root DIR            state directory (default " DEFAULT_ROOT ")\n"
             "  --log FILE            log file\n"
             "  --log-format FORMAT   text or json\n"
             "  --debug               log debug messages\n"
             "  --systemd-cgroup      cgroupsPath is slice:prefix:name\n");
}

enum {
  G_ROOT = 1,
  G_LOG,
  G_LOG_FORMAT,
  G_DEBUG,
  G_SYSTEMD,
  G_ROOTLESS,
  G_CRIU,
  G_HELP,
  G_VERSION,
};

static const struct option global_opts[] = {
  { "root", required_argument, NULL, G_ROOT },
  { "log", required_argument, NULL, G_LOG },
  { "log-format", required_argument, NULL, G_LOG_FORMAT },
  { "debug", no_argument, NULL, G_DEBUG },
  { "systemd-cgroup", no_argument, NULL, G_SYSTEMD },
  { "rootless", required_argument, NULL, G_ROOTLESS },
  { "criu", required_argument, NULL, G_CRIU },
  { "help", no_argument, NULL, G_HELP },
  { "h", no_argument, NULL, G_HELP },
  { "version", no_argument, NULL, G_VERSION },
  { "v", no_argument, NULL, G_VERSION },
  { NULL, 0, NULL, 0 },
};

int runtime_main(int argc, char **argv)
{
  const char *log_path = NULL, *log_format = "text";
  bool debug = false;
  const char *env_root = getenv("BOTHY_RUNTIME_ROOT");
  if (env_root && *env_root)
    rt.root = env_root;
  optind = 0;
  opterr = 0;
  for (;;) {
    int idx = 0;
    int c = getopt_long_only(argc, argv, "+", global_opts, &idx);
    if (c == -1)
      break;
    switch (c) {
    case G_ROOT:
      rt.root = optarg;
      break;
    case G_LOG:
      log_path = optarg;
      break;
    case G_LOG_FORMAT:
      log_format = optarg;
      break;
    case G_DEBUG:
      debug = true;
      break;
    case G_SYSTEMD:
      rt.systemd_cgroup = true;
      break;
    case G_ROOTLESS:
    case G_CRIU:
      break;
    case G_HELP:
      usage(stdout);
      return 0;
    case G_VERSION:
      return cmd_version(argc, argv);
    default:
      return cli_failf("flag provided but not defined: '%s'", argv[optind - 1]);
    }
  }
  if (!streq(log_format, "text") && !streq(log_format, "json"))
    return cli_failf("unknown log-format '%s'", log_format);
  int r =
      bothy_log_init(log_path, streq(log_format, "json") ? BOTHY_LOG_JSON : BOTHY_LOG_TEXT, debug);
  if (r < 0)
    return cli_failf("cannot open the log file '%s': %s", log_path, strerror(-r));
  if (rt.root[0] != '/') {
    /* Make the state root absolute: hooks and children see another cwd. */
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)))
      rt.root = xasprintf("%s/%s", cwd, rt.root);
  }
  if (optind >= argc) {
    usage(stderr);
    return 1;
  }
  const char *name = argv[optind];
  for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
    const struct cli_command *c = &commands[i];
    if (!streq(c->name, name))
      continue;
    if ((c->flags & CMD_NEEDS_ROOT) && geteuid() != 0)
      return cli_failf("'%s' needs root", name);
    if (c->flags & CMD_CLONED_BINARY) {
      bothy_error_t err = NULL;
      if (bothy_ensure_cloned_binary(cli_original_argv, &err) < 0)
        return cli_fail(&err);
    }
    log_debug("%s %s", cli_program, name);
    current = c;
    return c->fn(argc - optind, argv + optind);
  }
  return cli_failf("No help topic for '%s'", name);
}
