/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The command line. Only this layer prints to the user or chooses an exit
 * code; every command returns its exit code to main(). */
#include "base/error.h"
#include "container/container.h"

/* Flags in the command tables: shared set-up main() does once. */
enum {
  CMD_NEEDS_ROOT = 1 << 0,    /* refuse to run unless euid 0 */
  CMD_CLONED_BINARY = 1 << 1, /* re-exec from a sealed memfd first (enters a container) */
};

struct cli_command {
  const char *name;
  int (*fn)(int argc, char **argv);
  unsigned flags;
  int min_args, max_args; /* positional arguments after options; -1: any */
  const char *usage;      /* "ID [SIGNAL]" */
  const char *summary;
};

/* The original argv, for re-executing ourselves. */
extern char **cli_original_argv;
/* How the program was called, for messages ("bothy-runtime", "bothy"). */
extern const char *cli_program;

/* Prints "PROGRAM: MESSAGE" to stderr (and to the log when one is set) and
 * returns exit code 1. Frees the error. */
int cli_fail(bothy_error_t *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Where bothy keeps its state: --root, else $BOTHY_ROOT, else /var/lib/bothy. */
const char *cli_root(void);
/* bothy's configuration directory: $BOTHY_CONFIG, else ROOT/etc when the
 * root was moved, else /etc/bothy. Caller frees. */
char *cli_config_path(const char *file);

/* Entry point of `bothy runtime ...` and `bothy-runtime ...`. */
int runtime_main(int argc, char **argv);

/* Images (image.c). */
int cmd_pull(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_history(int argc, char **argv);

/* Containers (container.c). */
int cmd_container_run(int argc, char **argv);
int cmd_container_create(int argc, char **argv);
int cmd_container_start(int argc, char **argv);
int cmd_container_stop(int argc, char **argv);
int cmd_container_restart(int argc, char **argv);
int cmd_container_kill(int argc, char **argv);
int cmd_container_rm(int argc, char **argv);
int cmd_container_wait(int argc, char **argv);
int cmd_container_ps(int argc, char **argv);
int cmd_container_inspect(int argc, char **argv);
int cmd_container_logs(int argc, char **argv);
int cmd_container_exec(int argc, char **argv);
int cmd_container_top(int argc, char **argv);
int cmd_container_stats(int argc, char **argv);
int cmd_container_boot(int argc, char **argv);
int cmd_systemd(int argc, char **argv);
int cmd_helper_start(int argc, char **argv);
int cmd_helper_cleanup(int argc, char **argv);
int cmd_helper_health(int argc, char **argv);

/* The container layer's context for this command line (container.c). */
struct bothy_ctx cli_ctx(void);

/* Applications (app.c). */
int cmd_search(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_catalog(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_any_start(int argc, char **argv);
int cmd_any_stop(int argc, char **argv);
int cmd_any_restart(int argc, char **argv);
int cmd_any_logs(int argc, char **argv);
int cmd_any_history(int argc, char **argv);

/* Named volumes (volume.c). */
int cmd_volume(int argc, char **argv);

/* Networks (network.c). */
int cmd_network(int argc, char **argv);

/* Pushing and registry credentials (push.c). */
int cmd_push(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);

/* Building images (build.c), base images (bootstrap.c). */
int cmd_build(int argc, char **argv);
int cmd_image(int argc, char **argv);

/* Image archives and rootfs tarballs (archive.c). */
int cmd_load(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_import(int argc, char **argv);
