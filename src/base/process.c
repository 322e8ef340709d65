/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/xalloc.h"

int bothy_waitpid(pid_t pid, int flags)
{
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, flags);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r == 0)
      return -EAGAIN;
    return status;
  }
}

int bothy_exit_code(int st)
{
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return 255;
}

static long ms_since(const struct timespec *t0)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int bothy_cmd_run(const struct bothy_cmd *cmd, int *ret_status, bothy_error_t *err)
{
  int in[2] = { -1, -1 };
  if (pipe2(in, O_CLOEXEC) < 0)
    return bothy_error_errno(err, "cannot create a pipe");
  char *const default_argv[] = { (char *) cmd->path, NULL };
  char *const empty_env[] = { NULL };

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(in[0]);
    close(in[1]);
    return bothy_error_set(err, e, "cannot fork");
  }
  if (pid == 0) {
    /* Its own process group, so a timeout kills what it started too. */
    setpgid(0, 0);
    dup2(in[0], STDIN_FILENO);
    if (cmd->stdout_fd >= 0)
      dup2(cmd->stdout_fd, STDOUT_FILENO);
    if (cmd->stderr_fd >= 0)
      dup2(cmd->stderr_fd, STDERR_FILENO);
    bothy_close_fds_from(3);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    execve(cmd->path, cmd->argv ? cmd->argv : default_argv, cmd->env ? cmd->env : empty_env);
    _exit(127);
  }
  close(in[0]);
  if (cmd->input) {
    /* A hook that does not read its stdin must not make us fail: ignore EPIPE. */
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigaction(SIGPIPE, &ign, &old);
    (void) bothy_write_all(in[1], cmd->input, cmd->input_len);
    sigaction(SIGPIPE, &old, NULL);
  }
  close(in[1]);

  if (cmd->timeout_sec <= 0) {
    int st = bothy_waitpid(pid, 0);
    if (st < 0)
      return bothy_error_set(err, -st, "cannot wait for '%s'", cmd->path);
    *ret_status = st;
    return 0;
  }

  int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int st = bothy_waitpid(pid, WNOHANG);
    if (st >= 0) {
      safe_close(pidfd);
      *ret_status = st;
      return 0;
    }
    long left = (long) cmd->timeout_sec * 1000 - ms_since(&t0);
    if (left <= 0) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      bothy_waitpid(pid, 0);
      safe_close(pidfd);
      return bothy_error_set(err, ETIMEDOUT, "'%s' did not finish within %d s", cmd->path,
                             cmd->timeout_sec);
    }
    if (pidfd >= 0) {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      poll(&p, 1, (int) (left > 1000 ? 1000 : left));
    } else {
      usleep(1000);
    }
  }
}
