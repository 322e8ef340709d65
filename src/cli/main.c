/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bothy: one binary. Called as "bothy-runtime" (or "runc", for tools that
 * insist on the name) it is the OCI runtime; as "bothy" it is the platform,
 * with the runtime under `bothy runtime`. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "container/inventory.h"
#include "runtime/cloned_binary.h"

char **cli_original_argv;
const char *cli_program = "bothy";
static const char *root_opt;

const char *cli_root(void)
{
  if (root_opt)
    return root_opt;
  const char *env = getenv("BOTHY_ROOT");
  return env && *env ? env : "/var/lib/bothy";
}

int cli_fail(bothy_error_t *err)
{
  const char *msg = (err && *err) ? (*err)->msg : "unknown error";
  if (bothy_log_fd() >= 0)
    log_error("%s", msg);
  fprintf(stderr, "%s: %s\n", cli_program, msg);
  bothy_error_free(err);
  return 1;
}

int cli_failf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  bothy_error_t err = NULL;
  bothy_error_setv(&err, 0, fmt, ap);
  va_end(ap);
  return cli_fail(&err);
}

char *cli_config_path(const char *file)
{
  const char *env = getenv("BOTHY_CONFIG");
  if (env && *env)
    return xasprintf("%s/%s", env, file);
  const char *root = cli_root();
  if (strcmp(root, "/var/lib/bothy") != 0)
    return xasprintf("%s/etc/%s", root, file);
  return xasprintf("/etc/bothy/%s", file);
}

static int cmd_version(int argc, char **argv)
{
  printf("bothy version %s\n", BOTHY_VERSION);
  printf("spec: 1.2.0\n");
  return 0;
}

static int cmd_help(int argc, char **argv);

static int cmd_runtime(int argc, char **argv)
{
  cli_program = "bothy runtime";
  return runtime_main(argc, argv);
}

static const struct cli_command commands[] = {
  { "search", cmd_search, 0, 0, 1, "[TERM]", "list the apps of the catalogs" },
  { "info", cmd_info, 0, 1, 1, "APP", "show an app's recipe: services, settings, maintainer" },
  { "install", cmd_install, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, -1,
    "APP [--name N] [--set K=V]... [--keep-failed] [--timeout S]",
    "install an application from the catalog" },
  { "ls", cmd_ls, CMD_NEEDS_ROOT, 0, 0, "[--format json]", "list the installed instances" },
  { "status", cmd_status, CMD_NEEDS_ROOT, 1, 1, "NAME [--format json]",
    "an instance's services, health, address and settings" },
  { "config", cmd_config, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, -1, "NAME [K=V...]",
    "show an instance's settings, or change them (recreating only what changes)" },
  { "apply", cmd_apply, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, 1, "NAME",
    "apply a hand edit of an instance's file" },
  { "diff", cmd_diff, CMD_NEEDS_ROOT, 1, 2, "NAME [REV]",
    "how an instance's file differs from a revision (default: the last commit)" },
  { "revert", cmd_revert, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 2, 2, "NAME REV",
    "bring an instance back to a revision of its file" },
  { "remove", cmd_remove, CMD_NEEDS_ROOT, 1, 2, "NAME [--keep-data]",
    "remove an instance and everything it owns" },
  { "doctor", cmd_doctor, CMD_NEEDS_ROOT, 0, 1, "[--fix]",
    "find (and repair) what instances left behind or lost" },
  { "catalog", cmd_catalog, CMD_NEEDS_ROOT, 1, 3, "add NAME DIR | ls | update",
    "manage the catalogs of recipes" },
  { "runtime", cmd_runtime, 0, 0, -1, "COMMAND ...",
    "the OCI runtime (also installed as bothy-runtime)" },
  { "run", cmd_container_run, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, -1,
    "[OPTIONS] IMAGE [COMMAND [ARG...]]", "run a command in a new container" },
  { "create", cmd_container_create, CMD_NEEDS_ROOT, 1, -1, "[OPTIONS] IMAGE [COMMAND [ARG...]]",
    "create a container without starting it" },
  { "start", cmd_any_start, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, -1,
    "[-a] CONTAINER... | INSTANCE", "start containers (under their monitor, or attached with -a)" },
  { "stop", cmd_any_stop, CMD_NEEDS_ROOT, 1, -1, "[-t SECONDS] CONTAINER... | INSTANCE",
    "stop containers, or an instance's" },
  { "restart", cmd_any_restart, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, -1,
    "[-t SECONDS] CONTAINER... | INSTANCE", "restart containers, or an instance's" },
  { "kill", cmd_container_kill, CMD_NEEDS_ROOT, 1, -1, "[-s SIGNAL] CONTAINER...",
    "send a signal to containers" },
  { "rm", cmd_container_rm, CMD_NEEDS_ROOT, 1, -1, "[-f] [-v] CONTAINER...", "remove containers" },
  { "ps", cmd_container_ps, CMD_NEEDS_ROOT, 0, 0, "[-a] [-q] [--format json]", "list containers" },
  { "logs", cmd_any_logs, CMD_NEEDS_ROOT, 1, 2,
    "[-f] [-t] [--tail N] [--since T] [--until T] CONTAINER | INSTANCE [SERVICE]",
    "show a container's output, or an instance's" },
  { "exec", cmd_container_exec, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 2, -1,
    "[-d] [-i] [-t] [-e K=V] [-u USER] [-w DIR] CONTAINER COMMAND [ARG...]",
    "run a command in a running container" },
  { "wait", cmd_container_wait, CMD_NEEDS_ROOT, 1, -1, "CONTAINER...",
    "wait for containers to stop; print their exit codes" },
  { "top", cmd_container_top, CMD_NEEDS_ROOT, 1, -1, "CONTAINER [ps OPTIONS]",
    "show a container's processes" },
  { "stats", cmd_container_stats, CMD_NEEDS_ROOT, 0, -1,
    "[--no-stream] [--format json] [CONTAINER...]", "show containers' resource use" },
  { "boot", cmd_container_boot, CMD_NEEDS_ROOT, 0, 0, "",
    "start the containers whose restart policy says so (after a reboot)" },
  { "systemd", cmd_systemd, CMD_NEEDS_ROOT, 2, 2, "generate [--files] CONTAINER",
    "write a systemd unit that runs a container" },
  { "__start", cmd_helper_start, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, 3, "", "" },
  { "__cleanup", cmd_helper_cleanup, CMD_NEEDS_ROOT, 1, 1, "", "" },
  { "__health", cmd_helper_health, CMD_NEEDS_ROOT | CMD_CLONED_BINARY, 1, 1, "", "" },
  { "pull", cmd_pull, CMD_NEEDS_ROOT, 1, 1, "[--quiet] [--tls-verify=false] IMAGE",
    "pull an image from a registry" },
  { "push", cmd_push, CMD_NEEDS_ROOT, 1, 2,
    "[--quiet] [--tls-verify=false] [--creds U:P] [--chunk-size N] IMAGE [DESTINATION]",
    "push an image to a registry" },
  { "login", cmd_login, CMD_NEEDS_ROOT, 1, 1,
    "[--username U] [--password-stdin | --password P] [--tls-verify=false] REGISTRY",
    "save credentials for a registry (in ROOT/auth.json)" },
  { "logout", cmd_logout, CMD_NEEDS_ROOT, 0, 1, "REGISTRY | --all",
    "remove saved credentials for a registry" },
  { "load", cmd_load, CMD_NEEDS_ROOT, 0, 0, "[-i FILE] [--quiet]",
    "load images from a docker-archive or oci-archive (FILE or stdin)" },
  { "save", cmd_save, 0, 1, -1, "[-o FILE] [--format docker-archive|oci-archive] IMAGE...",
    "write images to an archive (FILE or stdout)" },
  { "import", cmd_import, CMD_NEEDS_ROOT, 1, 2, "FILE|- [REFERENCE]",
    "make a one-layer image of a rootfs tarball" },
  { "build", cmd_build, CMD_NEEDS_ROOT, 1, -1,
    "[-f FILE] [-t NAME:TAG]... [--build-arg K=V]... [--target STAGE] [--no-cache] [--pull] "
    "[--network host|none] [--timestamp S] [--label K=V]... [--format oci|docker] "
    "[--secret id=ID,src=FILE]... [-q] CONTEXT",
    "build an image from a Containerfile" },
  { "image", cmd_image, CMD_NEEDS_ROOT, 1, -1, "bootstrap debian [--suite S] [-t NAME]",
    "make a base image (Debian, with debootstrap from the configured mirror)" },
  { "images", cmd_images, 0, 0, 0, "[--format json] [--quiet]", "list images" },
  { "tag", cmd_tag, CMD_NEEDS_ROOT, 2, 2, "IMAGE NEW-REFERENCE", "give an image another name" },
  { "rmi", cmd_rmi, CMD_NEEDS_ROOT, 1, -1, "[-f] IMAGE...", "remove image names" },
  { "inspect", cmd_container_inspect, 0, 1, -1, "[--type container|image] NAME...",
    "show a container's or an image's configuration" },
  { "history", cmd_any_history, 0, 1, 1, "IMAGE | INSTANCE",
    "show how an image was made, or an instance's configuration changes" },
  { "prune", cmd_prune, CMD_NEEDS_ROOT, 0, 0, "",
    "remove the build cache, and blobs and layers no image needs" },
  { "volume", cmd_volume, CMD_NEEDS_ROOT, 1, -1, "COMMAND ...", "manage named volumes" },
  { "network", cmd_network, CMD_NEEDS_ROOT, 1, -1, "COMMAND ...", "manage networks" },
  { "version", cmd_version, 0, 0, 0, "", "print the version" },
  { "help", cmd_help, 0, 0, -1, "", "show this help" },
};

static int cmd_help(int argc, char **argv)
{
  printf("usage: bothy COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (commands[i].name[0] != '_') /* the monitor's helpers */
      printf("  %-10s %s\n", commands[i].name, commands[i].summary);
  return 0;
}

int main(int argc, char **argv)
{
  cli_original_argv = argv;
  /* Commands are short and never open the inventory from a forked child. */
  bothy_inventory_reuse_connection(true);
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  if (strcmp(base, "bothy-runtime") == 0 || strcmp(base, "runc") == 0) {
    cli_program = "bothy-runtime";
    return runtime_main(argc, argv);
  }
  /* Global options before the command: --root DIR. */
  while (argc >= 2 && strncmp(argv[1], "--root", 6) == 0) {
    if (argv[1][6] == '=') {
      root_opt = argv[1] + 7;
      argv++;
      argc--;
    } else if (argv[1][6] == '\0' && argc >= 3) {
      root_opt = argv[2];
      argv += 2;
      argc -= 2;
    } else {
      break;
    }
  }
  if (argc < 2)
    return cmd_help(argc, argv), 1;
  const char *name = argv[1];
  if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0)
    return cmd_version(argc, argv);
  if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
    return cmd_help(argc, argv);
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
    const struct cli_command *c = &commands[i];
    if (strcmp(c->name, name) != 0)
      continue;
    if ((c->flags & CMD_NEEDS_ROOT) && geteuid() != 0)
      return cli_failf("'%s' must be run as root", name);
    if (c->flags & CMD_CLONED_BINARY) {
      /* The binary on disk, for the container monitor's helpers: once we
       * run from the sealed copy, /proc/self/exe no longer names it. */
      char self[4096];
      ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
      if (n > 0 && self[0] == '/' && !getenv("BOTHY_EXE")) {
        self[n] = '\0';
        setenv("BOTHY_EXE", self, 1);
      }
      bothy_error_t err = NULL;
      if (bothy_ensure_cloned_binary(cli_original_argv, &err) < 0)
        return cli_fail(&err);
    }
    return c->fn(argc - 1, argv + 1);
  }
  return cli_failf("unknown command '%s' (see 'bothy help')", name);
}
