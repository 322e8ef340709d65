/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Running a helper program (hooks, `ps`). Not for container processes: those
 * are created by the runtime with clone(). */
#include <sys/types.h>
#include "base/error.h"

struct bothy_cmd {
  const char *path;  /* executable, absolute */
  char *const *argv; /* argv[0] included; NULL means { path, NULL } */
  char *const *env;  /* NULL means an empty environment */
  const char *input; /* written to stdin, then closed; NULL: /dev/null */
  size_t input_len;
  int timeout_sec; /* 0: none; on expiry the process is killed */
  int stdout_fd;   /* -1: inherit */
  int stderr_fd;   /* -1: inherit */
};

/* Runs cmd and waits. *ret_status is the wait status. A timeout kills the
 * process (SIGKILL) and fails with ETIMEDOUT. */
int bothy_cmd_run(const struct bothy_cmd *cmd, int *ret_status, bothy_error_t *err);

/* waitpid() that retries on EINTR; returns the wait status or -errno. */
int bothy_waitpid(pid_t pid, int flags);

/* Exit code in shell convention: status, or 128 + signal. */
int bothy_exit_code(int wait_status);
