/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bothy-init: a tiny init for `bothy run --init` (the role of tini and
 * docker-init). bothy bind-mounts it read-only at /dev/init and the command
 * becomes `/dev/init -- CMD ARGS...`.
 *
 * As pid 1 of the container it must do what the command usually does not:
 * reap the orphans re-parented to it, and pass on the signals sent to the
 * container (the kernel drops a signal sent to a namespace's pid 1 from inside
 * when pid 1 has no handler for it; blocked signals are still queued, so they
 * are waited for with sigwaitinfo() instead, as tini does). It exits with the
 * command's status, 128+N when a signal killed it.
 *
 * Static, libc only. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/macros.h"

/* Raised by the process's own faults: blocking them would hide a crash. */
static const int synchronous_signals[] = {
  SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT,
};

/* Not passed on: init gets SIGTTIN/SIGTTOU from its own use of the terminal
 * and a SIGTSTP from the keyboard goes to the foreground group (the child's)
 * anyway. Passed on, they would stop the command for nothing. */
static const int job_control_signals[] = { SIGTSTP, SIGTTIN, SIGTTOU };

_noreturn_ static void exec_child(char **argv, const sigset_t *orig_mask)
{
  /* Own process group, and the terminal's foreground when there is one
   * (SIGTTOU is still ignored here, so tcsetpgrp() from the background is
   * allowed). No controlling terminal: nothing to do. */
  setpgid(0, 0);
  if (isatty(STDIN_FILENO))
    tcsetpgrp(STDIN_FILENO, getpgrp());
  for (size_t i = 0; i < ARRAY_SIZE(job_control_signals); i++)
    signal(job_control_signals[i], SIG_DFL);
  sigprocmask(SIG_SETMASK, orig_mask, NULL);

  execvp(argv[0], argv);
  int e = errno;
  dprintf(STDERR_FILENO, "bothy-init: cannot exec '%s': %s\n", argv[0], strerror(e));
  /* the shell's convention, and docker's */
  _exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

static int exit_code(int status)
{
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
  sigset_t waited, orig;
  int first = 1;

  if (argc > 1 && streq(argv[1], "--"))
    first = 2;
  if (first >= argc) {
    dprintf(STDERR_FILENO, "usage: bothy-init [--] COMMAND [ARG...]\n");
    return 2;
  }

  sigfillset(&waited);
  for (size_t i = 0; i < ARRAY_SIZE(synchronous_signals); i++)
    sigdelset(&waited, synchronous_signals[i]);
  for (size_t i = 0; i < ARRAY_SIZE(job_control_signals); i++) {
    sigdelset(&waited, job_control_signals[i]);
    signal(job_control_signals[i], SIG_IGN);
  }
  sigprocmask(SIG_BLOCK, &waited, &orig);

  /* Outside a pid namespace (bothy-init run by hand) orphans still come here. */
  if (getpid() != 1)
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  pid_t child = fork();
  if (child < 0) {
    dprintf(STDERR_FILENO, "bothy-init: cannot fork: %s\n", strerror(errno));
    return 1;
  }
  if (child == 0)
    exec_child(argv + first, &orig);
  setpgid(child, child); /* either side may win the race; after exec it fails, harmlessly */

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&waited, &si);
    if (sig < 0)
      continue; /* EINTR */
    if (sig != SIGCHLD) {
      if (kill(child, sig) < 0 && errno != ESRCH)
        dprintf(STDERR_FILENO, "bothy-init: cannot forward signal %d: %s\n", sig, strerror(errno));
      continue;
    }
    /* SIGCHLD: reap every zombie, ours or re-parented. */
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0)
        break;
      if (p == child)
        return exit_code(status);
    }
  }
}
