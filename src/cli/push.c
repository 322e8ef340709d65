/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `bothy push/login/logout`: images to registries, and the credentials for
 * them (saved in ROOT/auth.json, see image/auth.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "image/auth.h"
#include "image/images.h"
#include "image/push.h"

enum { O_QUIET = 1, O_TLS, O_CREDS, O_CHUNK, O_USER, O_PASS, O_PASS_STDIN, O_ALL };

/* getopt_long with the usual GNU conventions, as in image.c. */
static int parse(int argc, char **argv, const char *shortopts, const struct option *opts,
                 int *ret_opt)
{
  int c = getopt_long(argc, argv, shortopts, opts, NULL);
  if (c == '?' || c == ':')
    return cli_failf("%s: unknown option or missing value: '%s'", argv[0], argv[optind - 1]), -1;
  *ret_opt = c;
  return 0;
}

static int parse_tls(const char *arg, bool *ret_off)
{
  if (streq(arg, "false"))
    *ret_off = true;
  else if (streq(arg, "true"))
    *ret_off = false;
  else
    return cli_failf("--tls-verify takes true or false, not '%s'", arg), -1;
  return 0;
}

static void print_progress(void *data, const char *digest, bool is_config,
                           enum bothy_push_blob_state state, const char *from)
{
  const char *kind = is_config ? "config" : "blob";
  switch (state) {
  case BOTHY_PUSH_BLOB_EXISTS:
    printf("Copying %s %s skipped: already exists\n", kind, digest);
    break;
  case BOTHY_PUSH_BLOB_MOUNTED:
    printf("Copying %s %s done (mounted from %s)\n", kind, digest, from);
    break;
  default:
    printf("Copying %s %s done\n", kind, digest);
    break;
  }
  fflush(stdout);
}

int cmd_push(int argc, char **argv)
{
  static const struct option opts[] = {
    { "quiet", no_argument, NULL, O_QUIET },
    { "tls-verify", required_argument, NULL, O_TLS },
    { "creds", required_argument, NULL, O_CREDS },
    { "chunk-size", required_argument, NULL, O_CHUNK },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_push_opts po = { .progress = print_progress };
  _cleanup_free_ char *user = NULL;
  bool quiet = false;
  int c;
  optind = 0;
  opterr = 0;
  for (;;) {
    if (parse(argc, argv, "+q", opts, &c) < 0)
      return 1;
    if (c == -1)
      break;
    switch (c) {
    case 'q':
    case O_QUIET:
      quiet = true;
      po.progress = NULL;
      break;
    case O_TLS:
      if (parse_tls(optarg, &po.tls_verify_off) < 0)
        return 1;
      break;
    case O_CREDS: {
      const char *colon = strchr(optarg, ':');
      if (!colon || colon == optarg)
        return cli_failf("--creds takes USER:PASSWORD");
      free(user);
      user = xstrndup(optarg, (size_t) (colon - optarg));
      po.username = user;
      po.password = colon + 1;
      break;
    }
    case O_CHUNK: {
      char *end = NULL;
      errno = 0;
      unsigned long long n = strtoull(optarg, &end, 10);
      if (errno || end == optarg || *end || n == 0 || optarg[0] == '-')
        return cli_failf("--chunk-size takes a number of bytes, not '%s'", optarg);
      po.chunk_size = n;
      break;
    }
    }
  }
  int n = argc - optind;
  if (n < 1 || n > 2)
    return cli_failf("usage: bothy push [--quiet] [--tls-verify=false] [--creds U:P] "
                     "[--chunk-size N] IMAGE [DESTINATION]");
  _cleanup_images_ struct bothy_images *imgs = NULL;
  bothy_error_t err = NULL;
  if (bothy_images_open(cli_root(), &imgs, &err) < 0)
    return cli_fail(&err);
  _cleanup_free_ char *digest = NULL;
  if (bothy_image_push(imgs, argv[optind], n == 2 ? argv[optind + 1] : NULL, &po, &digest, &err) <
      0)
    return cli_fail(&err);
  if (quiet)
    printf("%s\n", digest);
  else
    printf("Writing manifest to image destination\nDigest: %s\n", digest);
  return 0;
}

/* A line from the terminal, without echo when secret. NULL on EOF. */
static char *prompt(const char *what, bool secret)
{
  _cleanup_fclose_ FILE *tty = fopen("/dev/tty", "r+e");
  if (!tty)
    return NULL;
  fprintf(tty, "%s: ", what);
  fflush(tty);
  struct termios old, noecho;
  bool restore = false;
  if (secret && tcgetattr(fileno(tty), &old) == 0) {
    noecho = old;
    noecho.c_lflag &= (tcflag_t) ~ECHO;
    restore = tcsetattr(fileno(tty), TCSAFLUSH, &noecho) == 0;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len = getline(&line, &cap, tty);
  if (restore) {
    tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fputc('\n', tty);
  }
  if (len < 0) {
    free(line);
    return NULL;
  }
  line[strcspn(line, "\r\n")] = '\0';
  return line;
}

/* All of stdin, without the line end a shell's echo or a file adds. */
static int read_password_stdin(char **ret)
{
  bothy_error_t err = NULL;
  _cleanup_secret_ char *s = NULL;
  size_t len = 0;
  if (bothy_read_fd(STDIN_FILENO, &s, &len, &err) < 0) {
    bothy_error_prefix(&err, "reading the password from stdin");
    cli_fail(&err);
    return -1;
  }
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
    s[--len] = '\0';
  *ret = TAKE_PTR(s);
  return 0;
}

int cmd_login(int argc, char **argv)
{
  static const struct option opts[] = {
    { "username", required_argument, NULL, 'u' },
    { "password", required_argument, NULL, 'p' },
    { "password-stdin", no_argument, NULL, O_PASS_STDIN },
    { "tls-verify", required_argument, NULL, O_TLS },
    { NULL, 0, NULL, 0 },
  };
  struct bothy_login_opts lo = { 0 };
  _cleanup_free_ char *user = NULL;
  _cleanup_secret_ char *pass = NULL;
  bool pass_stdin = false;
  int c;
  optind = 0;
  opterr = 0;
  for (;;) {
    if (parse(argc, argv, "+u:p:", opts, &c) < 0)
      return 1;
    if (c == -1)
      break;
    switch (c) {
    case 'u':
      free(user);
      user = xstrdup(optarg);
      break;
    case 'p':
      bothy_auth_secret_freep(&pass);
      pass = xstrdup(optarg);
      break;
    case O_PASS_STDIN:
      pass_stdin = true;
      break;
    case O_TLS:
      if (parse_tls(optarg, &lo.tls_verify_off) < 0)
        return 1;
      break;
    }
  }
  if (argc - optind != 1)
    return cli_failf("usage: bothy login [--tls-verify=false] [--username USER] "
                     "[--password-stdin | --password PASSWORD] REGISTRY");
  const char *host = argv[optind];
  if (pass_stdin && pass)
    return cli_failf("--password and --password-stdin cannot be used together");
  if (!user && isatty(STDIN_FILENO))
    user = prompt("Username", false);
  if (!user || !*user)
    return cli_failf("logging in to '%s': no username given (--username)", host);
  if (pass_stdin) {
    if (read_password_stdin(&pass) < 0)
      return 1;
  } else if (!pass && isatty(STDIN_FILENO)) {
    pass = prompt("Password", true);
  }
  if (!pass)
    return cli_failf("logging in to '%s': no password given (--password-stdin or --password)",
                     host);

  bothy_error_t err = NULL;
  if (bothy_auth_login(cli_root(), host, user, pass, &lo, &err) < 0)
    return cli_fail(&err);
  printf("Login Succeeded!\n");
  return 0;
}

int cmd_logout(int argc, char **argv)
{
  static const struct option opts[] = {
    { "all", no_argument, NULL, O_ALL },
    { NULL, 0, NULL, 0 },
  };
  bool all = false;
  int c;
  optind = 0;
  opterr = 0;
  for (;;) {
    if (parse(argc, argv, "+a", opts, &c) < 0)
      return 1;
    if (c == -1)
      break;
    if (c == 'a' || c == O_ALL)
      all = true;
  }
  int n = argc - optind;
  if ((all && n != 0) || (!all && n != 1))
    return cli_failf("usage: bothy logout REGISTRY | --all");
  bothy_error_t err = NULL;
  if (all) {
    if (bothy_auth_remove_all(cli_root(), &err) < 0)
      return cli_fail(&err);
    printf("Removed login credentials for all registries\n");
    return 0;
  }
  int r = bothy_auth_remove(cli_root(), argv[optind], &err);
  if (r < 0)
    return cli_fail(&err);
  if (r == 0)
    return cli_failf("not logged in to '%s'", argv[optind]);
  printf("Removed login credentials for %s\n", argv[optind]);
  return 0;
}
