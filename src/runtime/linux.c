/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/linux.h"

#include <errno.h>
#include <linux/sched.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/hooks.h"
#include "runtime/state.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

enum sync_type {
  SYNC_GO = 1,
  SYNC_CGROUP,     /* parent -> child: you are in your cgroup */
  SYNC_HOOKS,      /* child -> parent: run prestart/createRuntime now */
  SYNC_HOOKS_DONE, /* parent -> child */
  SYNC_READY,      /* child -> parent: set up, waiting on exec.fifo or about to exec */
  SYNC_ERROR,      /* child -> parent: value = errno, payload = message */
  SYNC_PID,        /* intermediate -> parent: value = the child's pid */
  SYNC_START,      /* parent -> child (run): execute the process now */
  SYNC_NAMESPACES, /* child -> parent: the new namespaces exist (on_namespaces) */
};

struct sync_hdr {
  uint32_t type;
  int32_t value;
};

#define SYNC_MAX 8192

static int sync_send(int fd, enum sync_type type, int32_t value, const char *payload)
{
  size_t plen = payload ? strlen(payload) : 0;
  if (plen > SYNC_MAX - sizeof(struct sync_hdr))
    plen = SYNC_MAX - sizeof(struct sync_hdr);
  _cleanup_free_ char *buf = xmalloc(sizeof(struct sync_hdr) + plen);
  struct sync_hdr h = { type, value };
  memcpy(buf, &h, sizeof(h));
  if (plen)
    memcpy(buf + sizeof(h), payload, plen);
  ssize_t r;
  do
    r = send(fd, buf, sizeof(h) + plen, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

/* Returns 1 with a message, 0 on EOF, negative errno on failure. */
static int sync_recv(int fd, struct sync_hdr *h, char **payload)
{
  _cleanup_free_ char *buf = xmalloc(SYNC_MAX + 1);
  ssize_t r;
  do
    r = recv(fd, buf, SYNC_MAX, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  if (r == 0)
    return 0;
  if ((size_t) r < sizeof(*h))
    return -EBADMSG;
  memcpy(h, buf, sizeof(*h));
  buf[r] = '\0';
  if (payload)
    *payload = xstrdup(buf + sizeof(*h));
  return 1;
}

/* The child's message already says why: keep its errno without repeating it. */
static int error_from_child(bothy_error_t *err, int code, const char *msg)
{
  int r = bothy_error_set(err, 0, "%s", msg);
  if (err && *err && code > 0) {
    (*err)->code = code;
    r = -code;
  }
  return r;
}

/* Waits for a message of type want; an error message or EOF fails. */
static int sync_expect(int fd, enum sync_type want, int32_t *ret_value, const char *what,
                       bothy_error_t *err)
{
  struct sync_hdr h;
  _cleanup_free_ char *payload = NULL;
  int r = sync_recv(fd, &h, &payload);
  if (r < 0)
    return bothy_error_set(err, -r, "%s: cannot read from the sync socket", what);
  if (r == 0)
    return bothy_error_set(err, 0, "%s: the container process exited unexpectedly", what);
  if (h.type == SYNC_ERROR)
    return error_from_child(err, h.value, payload);
  if (h.type != (uint32_t) want)
    return bothy_error_set(err, 0, "%s: unexpected message %u", what, h.type);
  if (ret_value)
    *ret_value = h.value;
  return 0;
}

/* ---- the child ---------------------------------------------------------- */

_noreturn_ static void child_fail(int sync_fd, bothy_error_t *err)
{
  const char *msg = (err && *err) ? (*err)->msg : "unknown error";
  int code = (err && *err) ? (*err)->code : 0;
  if (sync_fd < 0 || sync_send(sync_fd, SYNC_ERROR, code, msg) < 0) {
    /* Nobody listens any more (after `create` returned): tell the
     * container's stderr, as runc does. */
    dprintf(STDERR_FILENO, "bothy-runtime: %s\n", msg);
  }
  _exit(code == ENOENT ? 127 : code == EACCES ? 126 : 1);
}

static int write_id_map(pid_t pid, const char *file, const struct bothy_id_mapping *m, size_t n,
                        bothy_error_t *err)
{
  _cleanup_free_ char *buf = xstrdup("");
  for (size_t i = 0; i < n; i++) {
    char *nb = xasprintf("%s%u %u %u\n", buf, m[i].container_id, m[i].host_id, m[i].size);
    free(buf);
    buf = nb;
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
  if (bothy_write_string(AT_FDCWD, path, buf, err) < 0)
    return bothy_error_prefix(err, "writing the %s", file);
  return 0;
}

static const char *env_path(char *const *env)
{
  const char *p = strv_env_get(env, "PATH");
  return p ? p : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
}

/* Finds the executable as execvp would, in the container (after pivot). */
static int lookpath(const char *name, char *const *env, char **ret, bothy_error_t *err)
{
  struct stat st;
  if (strchr(name, '/')) {
    if (stat(name, &st) < 0)
      return bothy_error_set(err, errno, "exec: \"%s\"", name);
    if (S_ISDIR(st.st_mode))
      return bothy_error_set(err, EACCES, "exec: \"%s\": is a directory", name);
    *ret = xstrdup(name);
    return 0;
  }
  _cleanup_free_ char *path = xstrdup(env_path(env));
  char *save = NULL;
  for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    _cleanup_free_ char *cand = xasprintf("%s/%s", *dir ? dir : ".", name);
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
      *ret = TAKE_PTR(cand);
      return 0;
    }
  }
  /* The errno says "not found" to callers (exit 127); the message says it once. */
  int r = bothy_error_set(err, 0, "exec: \"%s\": executable file not found in $PATH", name);
  if (err && *err)
    (*err)->code = ENOENT;
  return r < 0 ? -ENOENT : r;
}

static int apply_sysctl(const struct bothy_spec *s, bothy_error_t *err)
{
  for (size_t i = 0; i < s->n_sysctl; i++) {
    _cleanup_free_ char *path = xasprintf("/proc/sys/%s", s->sysctl[i].key);
    for (char *p = path + strlen("/proc/sys/"); *p; p++)
      if (*p == '.')
        *p = '/';
    if (bothy_write_string(AT_FDCWD, path, s->sysctl[i].value, err) < 0)
      return bothy_error_prefix(err, "sysctl '%s'", s->sysctl[i].key);
  }
  return 0;
}

static int send_fd(int sock, int fd)
{
  char dummy = '0';
  struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof(u));
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
  };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t r;
  do
    r = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

static int setup_terminal(struct bothy_linux_ctx *ctx, bothy_error_t *err)
{
  _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return bothy_error_errno(err, "cannot open /dev/ptmx");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
    return bothy_error_errno(err, "cannot unlock the pty");
  /* TIOCGPTPEER opens the peer through the master: no path lookup that a
   * container could redirect. */
  _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    return bothy_error_errno(err, "cannot open the pty's peer");
  if (ctx->process->console_height || ctx->process->console_width) {
    struct winsize ws = { .ws_row = (unsigned short) ctx->process->console_height,
                          .ws_col = (unsigned short) ctx->process->console_width };
    ioctl(slave, TIOCSWINSZ, &ws);
  }
  if (ctx->init) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", slave);
    if (bothy_rootfs_console(path, err) < 0)
      return -1;
  }
  int r = send_fd(ctx->console_socket, master);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot send the pty master to the console socket");
  ctx->console_socket = safe_close(ctx->console_socket);
  if (ioctl(slave, TIOCSCTTY, 0) < 0)
    return bothy_error_errno(err, "cannot make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0)
      return bothy_error_errno(err, "cannot dup the pty");
  return 0;
}

static int apply_rlimits(const struct bothy_process *p, bothy_error_t *err)
{
  for (size_t i = 0; i < p->n_rlimits; i++) {
    struct rlimit rl = { .rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard };
    if (setrlimit(p->rlimits[i].resource, &rl) < 0)
      return bothy_error_errno(err, "cannot set rlimit %d to %llu/%llu", p->rlimits[i].resource,
                               (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max);
  }
  return 0;
}

static int change_user(struct bothy_linux_ctx *ctx, bothy_error_t *err)
{
  const struct bothy_process *p = ctx->process;
  if (ctx->caps && bothy_caps_apply_bounding(ctx->caps, err) < 0)
    return -1;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return bothy_error_errno(err, "PR_SET_KEEPCAPS");
  if (setgroups(p->n_additional_gids, p->additional_gids) < 0) {
    /* setgroups is denied in a user namespace whose /proc/PID/setgroups is
     * "deny"; that is only an error when groups were asked for. */
    if (!(errno == EPERM && p->n_additional_gids == 0))
      return bothy_error_errno(err, "cannot set the additional groups");
  }
  if (setresgid(p->gid, p->gid, p->gid) < 0)
    return bothy_error_errno(err, "cannot set gid %u", (unsigned) p->gid);
  if (setresuid(p->uid, p->uid, p->uid) < 0)
    return bothy_error_errno(err, "cannot set uid %u", (unsigned) p->uid);
  if (ctx->caps && bothy_caps_apply(ctx->caps, err) < 0)
    return -1;
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
    return bothy_error_errno(err, "PR_SET_KEEPCAPS");
  return 0;
}

struct enter_cgroup_data {
  struct bothy_linux_ctx *ctx;
  int sync_fd;
};

/* The runtime makes our cgroups and writes their limits while we set up
 * the rootfs: wait for that where it starts to matter (before cgroupfs is
 * mounted, or at the end), join them, then create the cgroup namespace,
 * whose root is the cgroup we are in. */
static int enter_cgroup(void *data, bothy_error_t *err)
{
  struct enter_cgroup_data *d = data;
  const struct bothy_spec *s = d->ctx->spec;
  if (sync_expect(d->sync_fd, SYNC_CGROUP, NULL, "joining the cgroup", err) < 0)
    return -1;
  if (d->ctx->self_cgroup && d->ctx->self_cgroup(d->ctx->data, d->ctx->cgroup_fd >= 0, err) < 0)
    return -1;
  if (d->ctx->init && s->namespaces[BOTHY_NS_CGROUP].enabled &&
      !s->namespaces[BOTHY_NS_CGROUP].path && unshare(CLONE_NEWCGROUP) < 0)
    return bothy_error_errno(err, "cannot create the cgroup namespace");
  return 0;
}

_noreturn_ static void child_main(struct bothy_linux_ctx *ctx, int sync_fd)
{
  bothy_error_t err = NULL;
  const struct bothy_spec *s = ctx->spec;
  const struct bothy_process *p = ctx->process;
  bool userns_new =
      ctx->init && s->namespaces[BOTHY_NS_USER].enabled && !s->namespaces[BOTHY_NS_USER].path;

  /* A runtime killed while we set up must not leave us behind. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* Nothing in the container may open our /proc/PID/exe or fds. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  if (sync_expect(sync_fd, SYNC_GO, NULL, "waiting for the runtime", &err) < 0)
    _exit(1);

  if (userns_new) {
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
      bothy_error_errno(&err, "cannot become root in the user namespace");
      child_fail(sync_fd, &err);
    }
  }
  /* Made here, in the child, while the runtime goes on with the cgroups:
   * a network namespace and the copy of the mount table take a good part
   * of a millisecond. They belong to the same user namespace as clone()
   * would have given them: ours, new or joined. */
  for (int t = 0; ctx->child_join_fds && t < _BOTHY_NS_MAX; t++) {
    if (ctx->child_join_fds[t] < 0)
      continue;
    if (setns(ctx->child_join_fds[t], bothy_ns_clone_flag((enum bothy_ns_type) t)) < 0) {
      bothy_error_errno(&err, "cannot join the %s namespace",
                        bothy_ns_name((enum bothy_ns_type) t));
      child_fail(sync_fd, &err);
    }
    ctx->child_join_fds[t] = safe_close(ctx->child_join_fds[t]);
  }
  if (ctx->unshare_flags && unshare(ctx->unshare_flags) < 0) {
    bothy_error_errno(&err, "cannot create the container's namespaces");
    child_fail(sync_fd, &err);
  }
  if (ctx->init && ctx->on_namespaces && sync_send(sync_fd, SYNC_NAMESPACES, 0, NULL) < 0)
    _exit(1);
  struct enter_cgroup_data ecd = { ctx, sync_fd };
  if (!ctx->init && enter_cgroup(&ecd, &err) < 0)
    child_fail(sync_fd, &err);
  if (ctx->init || p->terminal)
    setsid();

  if (ctx->init) {
    struct bothy_rootfs_ctx rc = {
      .spec = s,
      .rootfs = ctx->rootfs,
      .userns = s->namespaces[BOTHY_NS_USER].enabled,
      .cgroupns = s->namespaces[BOTHY_NS_CGROUP].enabled,
      .cgroups = ctx->cgroups,
      .n_cgroups = ctx->n_cgroups,
      .rootfd = -1,
      .enter_cgroup = enter_cgroup,
      .enter_cgroup_data = &ecd,
    };
    if (bothy_rootfs_prepare(&rc, &err) < 0)
      child_fail(sync_fd, &err);
    /* runc creates a missing cwd. */
    int cfd = bothy_mkdir_p_in_root(rc.rootfd, p->cwd, 0755, &err);
    if (cfd < 0)
      child_fail(sync_fd, &err);
    close(cfd);
    if (sync_send(sync_fd, SYNC_HOOKS, 0, NULL) < 0 ||
        sync_expect(sync_fd, SYNC_HOOKS_DONE, NULL, "createRuntime hooks", &err) < 0)
      _exit(1);
    if (s->n_hooks[BOTHY_HOOK_CREATE_CONTAINER]) {
      _cleanup_json_ json_t *st =
          json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.2.0", "id", ctx->id, "status",
                    "creating", "pid", (int) getpid(), "bundle", ctx->bundle ? ctx->bundle : "");
      _cleanup_free_ char *sj = bothy_json_dump(st, false);
      if (bothy_hooks_run(s, BOTHY_HOOK_CREATE_CONTAINER, sj, &err) < 0)
        child_fail(sync_fd, &err);
    }
    if (bothy_rootfs_pivot(&rc, ctx->no_pivot, &err) < 0)
      child_fail(sync_fd, &err);
    if (s->hostname && *s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) {
      bothy_error_errno(&err, "cannot set the hostname");
      child_fail(sync_fd, &err);
    }
    if (s->domainname && *s->domainname &&
        setdomainname(s->domainname, strlen(s->domainname)) < 0) {
      bothy_error_errno(&err, "cannot set the domain name");
      child_fail(sync_fd, &err);
    }
    if (apply_sysctl(s, &err) < 0 || bothy_rootfs_finalize(&rc, &err) < 0)
      child_fail(sync_fd, &err);
    if (s->personality_domain && streq(s->personality_domain, "LINUX32") &&
        personality(PER_LINUX32) < 0) {
      bothy_error_errno(&err, "cannot set the personality");
      child_fail(sync_fd, &err);
    }
  }

  if (chdir(p->cwd) < 0) {
    bothy_error_errno(&err, "cannot change to the working directory '%s'", p->cwd);
    child_fail(sync_fd, &err);
  }
  if (p->terminal && ctx->console_socket >= 0 && setup_terminal(ctx, &err) < 0)
    child_fail(sync_fd, &err);
  ctx->console_socket = safe_close(ctx->console_socket);

  _cleanup_free_ char *exe = NULL;
  if (lookpath(p->args[0], p->env, &exe, &err) < 0)
    child_fail(sync_fd, &err);
  if (apply_rlimits(p, &err) < 0)
    child_fail(sync_fd, &err);

  if (ctx->state_dirfd >= 0 || ctx->wait_start) {
    /* Ready: the runtime may now exit (create, run --detach) and nobody
     * must kill us. */
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if (sync_send(sync_fd, SYNC_READY, 0, NULL) < 0)
      _exit(1);
    /* The runtime that listens on the sync socket until execve hears of
     * what fails from here on: run's does, create's has gone. */
    int report_fd = -1;
    if (ctx->wait_start) {
      /* run: the runtime itself starts us, through the sync socket; no
       * fifo for a `start` of another process. */
      if (sync_expect(sync_fd, SYNC_START, NULL, "waiting for the start", &err) < 0)
        _exit(1);
      report_fd = sync_fd;
    } else {
      /* Blocks until `start` opens the fifo for reading. The state dir fd
       * is the host's: it is closed (CLOEXEC) before execve. */
      int fifo = openat(ctx->state_dirfd, "exec.fifo", O_WRONLY | O_CLOEXEC);
      if (fifo < 0) {
        bothy_error_errno(&err, "cannot open exec.fifo");
        child_fail(-1, &err);
      }
      if (bothy_write_all(fifo, "0", 1) < 0)
        _exit(1);
      /* The fifo stays open until execve closes it (O_CLOEXEC): `start`
       * waits for that EOF, so poststart hooks run after the process
       * started. */
      (void) fifo;
      ctx->state_dirfd = safe_close(ctx->state_dirfd);
    }
    if (s->n_hooks[BOTHY_HOOK_START_CONTAINER]) {
      _cleanup_json_ json_t *st =
          json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.2.0", "id", ctx->id, "status",
                    "created", "pid", (int) getpid(), "bundle", ctx->bundle ? ctx->bundle : "");
      _cleanup_free_ char *sj = bothy_json_dump(st, false);
      if (bothy_hooks_run(s, BOTHY_HOOK_START_CONTAINER, sj, &err) < 0)
        child_fail(report_fd, &err);
    }
  } else {
    /* exec --detach: the runtime exits right after this. */
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    if (sync_send(sync_fd, SYNC_READY, 0, NULL) < 0)
      _exit(1);
  }

  if (ctx->init && !ctx->no_new_keyring) {
    /* A fresh session keyring, so the container cannot read the host's keys. */
    _cleanup_free_ char *name = xasprintf("_ses.%s", ctx->id);
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) < 0 && errno != ENOSYS &&
        errno != EACCES && errno != EPERM)
      log_debug("cannot join a new session keyring: %s", strerror(errno));
  }

  /* Without no_new_privileges, loading a filter needs CAP_SYS_ADMIN: load
   * it while we still have it. With it, load it as late as possible so the
   * filter does not constrain our own setup. */
  if (ctx->seccomp && !p->no_new_privileges && bothy_seccomp_load(ctx->seccomp, &err) < 0)
    child_fail(sync_fd, &err);
  if (change_user(ctx, &err) < 0)
    child_fail(sync_fd, &err);
  umask(p->umask == BOTHY_UNSET ? 0022 : (mode_t) p->umask);
  if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    bothy_error_errno(&err, "cannot set no_new_privileges");
    child_fail(sync_fd, &err);
  }
  if (ctx->seccomp && p->no_new_privileges && bothy_seccomp_load(ctx->seccomp, &err) < 0)
    child_fail(sync_fd, &err);

  /* Only stdio and the preserved fds cross into the container. */
  if (syscall(SYS_close_range, 3 + ctx->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = 3 + ctx->preserve_fds; fd < 65536; fd++)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  sigprocmask(SIG_SETMASK, &ctx->child_sigmask, NULL);
  execve(exe, p->args, p->env ? p->env : (char *[]){ NULL });
  bothy_error_errno(&err, "exec: \"%s\"", p->args[0]);
  child_fail(sync_fd, &err);
}

/* ---- the parent --------------------------------------------------------- */

static pid_t clone_child(struct bothy_linux_ctx *ctx, int flags)
{
  if (ctx->cgroup_fd >= 0) {
    /* Born in its cgroup2 cgroup: no migration, no global lock. */
    struct clone_args a = {
      .flags = (uint64_t) flags | CLONE_INTO_CGROUP,
      .exit_signal = SIGCHLD,
      .cgroup = (uint64_t) ctx->cgroup_fd,
    };
    pid_t pid = (pid_t) syscall(SYS_clone3, &a, sizeof(a));
    if (pid >= 0)
      return pid;
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EOPNOTSUPP &&
        errno != EBUSY)
      return -1;
    ctx->cgroup_fd = -1; /* the child joins it as the others */
  }
  return (pid_t) syscall(SYS_clone, (unsigned long) flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/* Namespaces to join by fd, in the order they must be joined: user first
 * (it grants the rights for the rest), mount last (paths change after it). */
static const enum bothy_ns_type join_order[] = {
  BOTHY_NS_USER, BOTHY_NS_IPC,    BOTHY_NS_UTS,  BOTHY_NS_NETWORK,
  BOTHY_NS_PID,  BOTHY_NS_CGROUP, BOTHY_NS_TIME, BOTHY_NS_MOUNT,
};

static bool same_ns(pid_t pid, enum bothy_ns_type t)
{
  char a[64], b[64];
  struct stat sa, sb;
  snprintf(a, sizeof(a), "/proc/self/ns/%s", bothy_ns_proc_name(t));
  snprintf(b, sizeof(b), "/proc/%d/ns/%s", (int) pid, bothy_ns_proc_name(t));
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

int bothy_linux_spawn(struct bothy_linux_ctx *ctx, pid_t *ret_pid, bothy_error_t *err)
{
  const struct bothy_spec *s = ctx->spec;
  int join_fds[_BOTHY_NS_MAX];
  int new_flags = 0;
  bool any_join = false;
  for (int t = 0; t < _BOTHY_NS_MAX; t++)
    join_fds[t] = -1;
  int ret = -1;
  pid_t pid = -1;
  int sv[2] = { -1, -1 };

  for (int t = 0; t < _BOTHY_NS_MAX; t++) {
    const char *path = NULL;
    _cleanup_free_ char *proc_path = NULL;
    if (ctx->join_pid > 0) {
      if (t == BOTHY_NS_TIME || same_ns(ctx->join_pid, (enum bothy_ns_type) t))
        continue;
      proc_path = xasprintf("/proc/%d/ns/%s", (int) ctx->join_pid,
                            bothy_ns_proc_name((enum bothy_ns_type) t));
      if (!bothy_path_exists(proc_path))
        continue;
      path = proc_path;
    } else if (s->namespaces[t].enabled) {
      path = s->namespaces[t].path;
      if (!path && t != BOTHY_NS_CGROUP)
        new_flags |= bothy_ns_clone_flag((enum bothy_ns_type) t);
    }
    if (!path)
      continue;
    join_fds[t] = open(path, O_RDONLY | O_CLOEXEC);
    if (join_fds[t] < 0) {
      bothy_error_errno(err, "cannot open the %s namespace '%s'",
                        bothy_ns_name((enum bothy_ns_type) t), path);
      goto out;
    }
    any_join = true;
  }

  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    bothy_error_errno(err, "cannot create the sync socket");
    goto out;
  }
  /* Only what unshare() cannot give the child itself goes to clone(): a
   * pid namespace (unshare would give it to the child's children only), a
   * user namespace (the others must belong to it), a time namespace
   * (idem). The rest the child makes (child_main). */
  ctx->unshare_flags = new_flags & ~(CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWTIME);
  new_flags &= CLONE_NEWPID | CLONE_NEWUSER | CLONE_NEWTIME;
  /* Joining a network, IPC or UTS namespace (bothy's bridge networks) the
   * child can do itself, as it makes the new ones: an intermediate process
   * is only needed for what setns() gives to children only (pid, time), and
   * around user namespaces, whose order matters. */
  ctx->child_join_fds = NULL;
  if (any_join && ctx->join_pid <= 0 && !(new_flags & CLONE_NEWUSER)) {
    bool child_can = true;
    for (int t = 0; t < _BOTHY_NS_MAX; t++)
      if (join_fds[t] >= 0 && t != BOTHY_NS_NETWORK && t != BOTHY_NS_IPC && t != BOTHY_NS_UTS)
        child_can = false;
    if (child_can) {
      ctx->child_join_fds = join_fds;
      any_join = false;
    }
  }

  if (!any_join) {
    pid = clone_child(ctx, new_flags);
    if (pid < 0) {
      bothy_error_errno(err, "cannot clone the container process");
      goto out;
    }
    if (pid == 0) {
      close(sv[0]);
      child_main(ctx, sv[1]);
    }
  } else {
    pid_t mid = fork();
    if (mid < 0) {
      bothy_error_errno(err, "cannot fork");
      goto out;
    }
    if (mid == 0) {
      bothy_error_t cerr = NULL;
      close(sv[0]);
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      /* A namespace that the user namespace does not own (a network
       * namespace made by the caller, bind-mounted for the container) can
       * only be joined before the user namespace, while we still have our
       * capabilities over its owner; one that it owns, after it, if our
       * own capabilities do not reach (as runc does it: each is tried
       * first, and what is refused is tried again from inside). */
      bool later[_BOTHY_NS_MAX] = { false };
      bool user = join_fds[BOTHY_NS_USER] >= 0;
      for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < ARRAY_SIZE(join_order); i++) {
          int t = join_order[i];
          if (join_fds[t] < 0 || (pass == 1) != (t == BOTHY_NS_USER) || (pass == 2 && !later[t]))
            continue;
          if (setns(join_fds[t], bothy_ns_clone_flag((enum bothy_ns_type) t)) < 0) {
            if (pass == 0 && user && errno == EPERM) {
              later[t] = true;
              continue;
            }
            bothy_error_errno(&cerr, "cannot join the %s namespace",
                              bothy_ns_name((enum bothy_ns_type) t));
            child_fail(sv[1], &cerr);
          }
          join_fds[t] = safe_close(join_fds[t]);
        }
      }
      pid_t child = (pid_t) syscall(SYS_clone, (unsigned long) new_flags | CLONE_PARENT | SIGCHLD,
                                    NULL, NULL, NULL, NULL);
      if (child < 0) {
        bothy_error_errno(&cerr, "cannot clone the container process");
        child_fail(sv[1], &cerr);
      }
      if (child == 0)
        child_main(ctx, sv[1]);
      sync_send(sv[1], SYNC_PID, child, NULL);
      _exit(0);
    }
    int32_t cpid = 0;
    int r = sync_expect(sv[0], SYNC_PID, &cpid, "joining namespaces", err);
    bothy_waitpid(mid, 0);
    if (r < 0)
      goto out;
    pid = cpid;
  }
  sv[1] = safe_close(sv[1]);

  if (ctx->init && s->namespaces[BOTHY_NS_USER].enabled && !s->namespaces[BOTHY_NS_USER].path) {
    if (write_id_map(pid, "uid_map", s->uid_mappings, s->n_uid_mappings, err) < 0 ||
        write_id_map(pid, "gid_map", s->gid_mappings, s->n_gid_mappings, err) < 0)
      goto fail;
  }
  if (sync_send(sv[0], SYNC_GO, 0, NULL) < 0) {
    bothy_error_errno(err, "cannot signal the container process");
    goto fail;
  }
  if (ctx->on_created && ctx->on_created(ctx->data, pid, err) < 0)
    goto fail;
  if (sync_send(sv[0], SYNC_CGROUP, 0, NULL) < 0) {
    bothy_error_errno(err, "cannot signal the container process");
    goto fail;
  }
  if (ctx->init && ctx->on_namespaces &&
      (sync_expect(sv[0], SYNC_NAMESPACES, NULL, "creating the namespaces", err) < 0 ||
       ctx->on_namespaces(ctx->data, pid, err) < 0))
    goto fail;
  if (ctx->init) {
    if (sync_expect(sv[0], SYNC_HOOKS, NULL, "creating the container", err) < 0)
      goto fail;
    if (ctx->on_create_runtime && ctx->on_create_runtime(ctx->data, pid, err) < 0)
      goto fail;
    if (sync_send(sv[0], SYNC_HOOKS_DONE, 0, NULL) < 0) {
      bothy_error_errno(err, "cannot signal the container process");
      goto fail;
    }
  }
  if (sync_expect(sv[0], SYNC_READY, NULL, "starting the container", err) < 0)
    goto fail;
  ctx->sync_fd = TAKE_FD(sv[0]);
  *ret_pid = pid;
  ret = 0;
  goto out;

fail:
  kill(pid, SIGKILL);
  bothy_waitpid(pid, 0);
out:
  for (int t = 0; t < _BOTHY_NS_MAX; t++)
    safe_close(join_fds[t]);
  safe_close(sv[0]);
  safe_close(sv[1]);
  return ret;
}

int bothy_linux_start(struct bothy_linux_ctx *ctx, bothy_error_t *err)
{
  int r = sync_send(ctx->sync_fd, SYNC_START, 0, NULL);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot start the container process");
  return 0;
}

int bothy_linux_wait_exec(struct bothy_linux_ctx *ctx, bothy_error_t *err)
{
  struct sync_hdr h;
  _cleanup_free_ char *payload = NULL;
  int r = sync_recv(ctx->sync_fd, &h, &payload);
  ctx->sync_fd = safe_close(ctx->sync_fd);
  if (r > 0 && h.type == SYNC_ERROR)
    return error_from_child(err, h.value, payload);
  return 0;
}
