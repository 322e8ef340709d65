/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "runtime/hooks.h"
#include "runtime/linux.h"
#include "runtime/seccomp.h"
#include "runtime/state.h"

/* ---- helpers ------------------------------------------------------------ */

static const struct {
  const char *name;
  int sig;
} signals[] = {
  { "HUP", SIGHUP },       { "INT", SIGINT },   { "QUIT", SIGQUIT },     { "ILL", SIGILL },
  { "TRAP", SIGTRAP },     { "ABRT", SIGABRT }, { "IOT", SIGIOT },       { "BUS", SIGBUS },
  { "FPE", SIGFPE },       { "KILL", SIGKILL }, { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },
  { "USR2", SIGUSR2 },     { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },     { "TERM", SIGTERM },
  { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },     { "STOP", SIGSTOP },
  { "TSTP", SIGTSTP },     { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },     { "URG", SIGURG },
  { "XCPU", SIGXCPU },     { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
  { "WINCH", SIGWINCH },   { "IO", SIGIO },     { "POLL", SIGPOLL },     { "PWR", SIGPWR },
  { "SYS", SIGSYS },
};

int bothy_signal_parse(const char *s)
{
  if (!s || !*s)
    return -1;
  char *end;
  long n = strtol(s, &end, 10);
  if (*end == '\0')
    return (n > 0 && n < NSIG) ? (int) n : -1;
  const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
  for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
    if (strcasecmp(signals[i].name, name) == 0)
      return signals[i].sig;
  if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
    int base = strncasecmp(name, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX;
    if (name[5] == '\0')
      return base;
    long off = strtol(name + 5, &end, 10);
    if (*end == '\0' && base + off >= SIGRTMIN && base + off <= SIGRTMAX)
      return (int) (base + off);
  }
  return -1;
}

static int open_root(const struct bothy_runtime *rt, bool create, bothy_error_t *err)
{
  return bothy_state_root_open(rt->root, create, err);
}

/* A loaded container: its state dir, state and cgroup. */
struct loaded {
  int rootfd;
  int dirfd;
  struct bothy_state *st;
  struct bothy_cgroup *cg;
  enum bothy_status status;
};

static void loaded_done(struct loaded *l)
{
  safe_close(l->dirfd);
  safe_close(l->rootfd);
  bothy_state_free(l->st);
  bothy_cgroup_free(l->cg);
}

static enum bothy_status current_status(struct loaded *l)
{
  enum bothy_status s = bothy_state_status(l->dirfd, l->st);
  bool frozen = false;
  if ((s == BOTHY_STATUS_RUNNING || s == BOTHY_STATUS_CREATED) && l->cg &&
      bothy_cgroup_is_frozen(l->cg, &frozen, NULL) == 0 && frozen)
    s = BOTHY_STATUS_PAUSED;
  return s;
}

static int load(const struct bothy_runtime *rt, const char *id, struct loaded *l,
                bothy_error_t *err)
{
  memset(l, 0, sizeof(*l));
  l->rootfd = l->dirfd = -1;
  l->rootfd = open_root(rt, false, err);
  if (l->rootfd < 0) {
    if (err && *err && (*err)->code == ENOENT) {
      bothy_error_free(err);
      return bothy_error_set(err, ENOENT, "container does not exist");
    }
    return -1;
  }
  l->dirfd = bothy_state_dir_open(l->rootfd, id, err);
  if (l->dirfd < 0)
    return -1;
  if (bothy_state_load(l->dirfd, &l->st, err) < 0)
    return -1;
  /* The directory may have gone to another container since it was opened
   * (state.c keeps removed ones for reuse). */
  if (!streq(l->st->id, id))
    return bothy_error_set(err, ENOENT, "container does not exist");
  if (l->st->cgroup && bothy_cgroup_from_json(l->st->cgroup, &l->cg, err) < 0)
    return -1;
  l->status = current_status(l);
  return 0;
}

/* The container's configuration as create saved it: in state.json, or in a
 * config.json beside it (state directories of bothy 0.1). */
static int load_saved_spec(const struct loaded *l, struct bothy_spec **ret, bothy_error_t *err)
{
  if (l->st->config)
    return bothy_spec_from_json(json_incref(l->st->config), ret, err);
  _cleanup_free_ char *data = NULL;
  size_t len;
  json_t *json = NULL;
  if (bothy_read_file(l->dirfd, "config.json", &data, &len, err) < 0 ||
      bothy_json_load_data(data, len, "config.json", &json, err) < 0)
    return -1;
  return bothy_spec_from_json(json, ret, err);
}

static char *state_json_string(const struct bothy_state *st, enum bothy_status status)
{
  _cleanup_json_ json_t *o = bothy_state_to_json(st, status);
  return bothy_json_dump(o, false);
}

static int write_pid_file(const char *path, pid_t pid, bothy_error_t *err)
{
  if (!path)
    return 0;
  _cleanup_free_ char *abs = NULL;
  if (path[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
      return bothy_error_errno(err, "getcwd");
    abs = xasprintf("%s/%s", cwd, path);
    path = abs;
  }
  _cleanup_free_ char *dir = xstrdup(path);
  char *slash = strrchr(dir, '/');
  const char *name = slash + 1;
  *slash = '\0';
  _cleanup_close_ int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open the directory of the pid file '%s'", path);
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%d", (int) pid);
  if (bothy_write_file_replace(dfd, name, buf, (size_t) n, 0644, err) < 0)
    return bothy_error_prefix(err, "pid file '%s'", path);
  return 0;
}

static int connect_console(const char *path, bothy_error_t *err)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  _cleanup_close_ int dirfd = -1;
  if (strlen(path) < sizeof(addr.sun_path)) {
    memcpy(addr.sun_path, path, strlen(path) + 1);
  } else {
    /* sun_path holds 108 bytes: a longer path is reached through its
     * directory's fd. */
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = slash ? xstrndup(path, (size_t) (slash - path)) : xstrdup(".");
    dirfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
      return bothy_error_errno(err, "cannot open the directory of the console socket '%s'", path);
    int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dirfd,
                     slash ? slash + 1 : path);
    if (n < 0 || (size_t) n >= sizeof(addr.sun_path))
      return bothy_error_set(err, ENAMETOOLONG, "console socket '%s'", path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create a socket");
  if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
    int e = errno;
    close(fd);
    return bothy_error_set(err, e, "cannot connect to the console socket '%s'", path);
  }
  return fd;
}

static int recv_fd(int sock)
{
  char dummy;
  struct iovec iov = { .iov_base = &dummy, .iov_len = 1 };
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
  };
  ssize_t r;
  do
    r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    return -EIO;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS)
    return -EBADMSG;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

/* Waits up to timeout_ms for a process that may not be our child to die. */
static bool wait_dead(pid_t pid, unsigned long long start_time, int timeout_ms)
{
  int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    unsigned long long t = bothy_proc_start_time(pid);
    if (t == 0 || t != start_time) {
      safe_close(pidfd);
      return true;
    }
    if (pidfd >= 0) {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      poll(&p, 1, 10);
    } else {
      usleep(10000);
    }
  }
  safe_close(pidfd);
  return false;
}

static struct bothy_cgroup_config cgroup_config(const struct bothy_runtime *rt,
                                                const struct bothy_spec *spec, const char *id)
{
  struct bothy_cgroup_config c = {
    .root = NULL,
    .mode = BOTHY_CGROUP_AUTO,
    .path = spec->cgroups_path,
    .id = id,
    .systemd = rt->systemd_cgroup,
  };
  return c;
}

/* ---- create ------------------------------------------------------------- */

/* Devices every container may use whatever its rules say (runc's
 * AllowedDevices), appended after the spec's rules: mknod of any node, the
 * default /dev nodes, the pty master and slaves. */
static const struct bothy_device_rule default_allowed[] = {
  { true, 'c', -1, -1, (char *) "m" },    { true, 'b', -1, -1, (char *) "m" },
  { true, 'c', 1, 3, (char *) "rwm" },    { true, 'c', 1, 5, (char *) "rwm" },
  { true, 'c', 1, 7, (char *) "rwm" },    { true, 'c', 1, 8, (char *) "rwm" },
  { true, 'c', 1, 9, (char *) "rwm" },    { true, 'c', 5, 0, (char *) "rwm" },
  { true, 'c', 5, 1, (char *) "rwm" },    { true, 'c', 5, 2, (char *) "rwm" },
  { true, 'c', 136, -1, (char *) "rwm" },
};

static int apply_resources(struct bothy_cgroup *cg, const struct bothy_spec *s, bothy_error_t *err)
{
  if (!s->has_resources)
    return 0;
  struct bothy_resources r = s->resources;
  _cleanup_free_ struct bothy_device_rule *rules = NULL;
  if (r.n_devices) {
    size_t n = r.n_devices + ARRAY_SIZE(default_allowed) + s->n_devices;
    rules = xcalloc(n, sizeof(*rules));
    size_t k = 0;
    for (size_t i = 0; i < r.n_devices; i++)
      rules[k++] = r.devices[i];
    for (size_t i = 0; i < ARRAY_SIZE(default_allowed); i++)
      rules[k++] = default_allowed[i];
    for (size_t i = 0; i < s->n_devices; i++) {
      const struct bothy_device *d = &s->devices[i];
      if (d->type == 'c' || d->type == 'b' || d->type == 'u')
        rules[k++] = (struct bothy_device_rule){ true, d->type == 'b' ? 'b' : 'c', d->major,
                                                 d->minor, (char *) "rwm" };
    }
    r.devices = rules;
    r.n_devices = k;
  }
  return bothy_cgroup_apply(cg, &r, err);
}

struct creating {
  const struct bothy_runtime *rt;
  const struct bothy_create_opts *opts;
  struct bothy_spec *spec;
  struct bothy_cgroup *cg;
  struct bothy_state st;
  int rootfd;
  int dirfd;
  pid_t pid;
  struct bothy_linux_ctx lx;
  int console_peer; /* run with a terminal and no console socket: our end */
  bool late_cgroup; /* the v1 cgroups and the limits are made by on_created */
};

/* In the container's process, before it waits for SYNC_CGROUP. */
static int self_cgroup(void *data, bool unified_done, bothy_error_t *err)
{
  struct creating *c = data;
  return bothy_cgroup_enter_self(c->cg, unified_done, err);
}

static int on_created(void *data, pid_t pid, bothy_error_t *err)
{
  struct creating *c = data;
  if (c->late_cgroup && (bothy_cgroup_create_part(c->cg, /* unified= */ false, err) < 0 ||
                         apply_resources(c->cg, c->spec, err) < 0))
    return -1;
  if (c->cg && !c->lx.self_cgroup && bothy_cgroup_enter(c->cg, pid, err) < 0)
    return -1;
  if (c->spec->process.oom_score_adj != BOTHY_UNSET) {
    char path[64], val[32];
    snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int) pid);
    snprintf(val, sizeof(val), "%lld", (long long) c->spec->process.oom_score_adj);
    if (bothy_write_string(AT_FDCWD, path, val, err) < 0)
      return bothy_error_prefix(err, "setting oomScoreAdj");
  }
  c->pid = pid;
  c->st.pid = pid;
  c->st.start_time = bothy_proc_start_time(pid);
  /* Saved now so that hooks can ask `state` about the container. */
  const struct bothy_spec *s = c->spec;
  if (s->n_hooks[BOTHY_HOOK_PRESTART] || s->n_hooks[BOTHY_HOOK_CREATE_RUNTIME] ||
      s->n_hooks[BOTHY_HOOK_CREATE_CONTAINER])
    return bothy_state_save(c->dirfd, &c->st, err);
  return 0;
}

static int on_create_runtime(void *data, pid_t pid, bothy_error_t *err)
{
  struct creating *c = data;
  if (!c->spec->n_hooks[BOTHY_HOOK_PRESTART] && !c->spec->n_hooks[BOTHY_HOOK_CREATE_RUNTIME])
    return 0;
  _cleanup_free_ char *sj = state_json_string(&c->st, BOTHY_STATUS_CREATING);
  if (bothy_hooks_run(c->spec, BOTHY_HOOK_PRESTART, sj, err) < 0 ||
      bothy_hooks_run(c->spec, BOTHY_HOOK_CREATE_RUNTIME, sj, err) < 0)
    return -1;
  return 0;
}

static int on_namespaces(void *data, pid_t pid, bothy_error_t *err)
{
  struct creating *c = data;
  return c->opts->on_namespaces(pid, c->opts->userdata, err);
}

static void creating_cleanup(struct creating *c, bool remove)
{
  if (remove) {
    if (c->cg) {
      bothy_cgroup_kill(c->cg, SIGKILL, NULL);
      bothy_cgroup_destroy(c->cg, NULL);
    }
    if (c->rootfd >= 0 && c->dirfd >= 0)
      bothy_state_dir_remove(c->rootfd, c->opts->id, /* reuse= */ false, NULL);
  }
  safe_close(c->dirfd);
  safe_close(c->rootfd);
  safe_close(c->lx.console_socket);
  safe_close(c->lx.sync_fd);
  safe_close(c->console_peer);
  bothy_cgroup_free(c->cg);
  bothy_seccomp_filter_free(c->lx.seccomp);
  free((void *) c->lx.caps);
  free(c->st.bundle);
  free(c->st.rootfs);
  free(c->st.created);
  json_decref(c->st.cgroup);
  bothy_spec_free(c->spec);
}

static int do_create(const struct bothy_runtime *rt, const struct bothy_create_opts *o,
                     bool for_run, const sigset_t *child_mask, struct creating *c,
                     bothy_error_t *err)
{
  memset(c, 0, sizeof(*c));
  c->rt = rt;
  c->opts = o;
  c->rootfd = c->dirfd = c->console_peer = -1;
  c->lx.console_socket = c->lx.sync_fd = -1;
  c->lx.state_dirfd = -1;
  c->lx.cgroup_fd = -1;

  if (bothy_id_validate(o->id, err) < 0)
    return -1;
  char bundle[PATH_MAX];
  if (!realpath(o->bundle ? o->bundle : ".", bundle))
    return bothy_error_errno(err, "bundle '%s'", o->bundle ? o->bundle : ".");
  _cleanup_free_ char *config = xasprintf("%s/config.json", bundle);
  if (bothy_spec_load(config, &c->spec, err) < 0)
    return -1;
  struct bothy_spec *s = c->spec;
  if (!s->has_process)
    return bothy_error_set(err, 0, "'%s': 'process' is required", config);
  if (!s->namespaces[BOTHY_NS_MOUNT].enabled)
    return bothy_error_set(err, 0, "'%s': a mount namespace is required", config);
  _cleanup_free_ char *root =
      s->root_path[0] == '/' ? xstrdup(s->root_path) : xasprintf("%s/%s", bundle, s->root_path);
  char rootfs[PATH_MAX];
  if (!realpath(root, rootfs))
    return bothy_error_errno(err, "rootfs '%s'", root);
  if (s->process.terminal && !o->console_socket && (!for_run || o->detach))
    return bothy_error_set(err, 0,
                           "cannot allocate tty if bothy-runtime will detach without "
                           "setting console socket");
  if (!s->process.terminal && o->console_socket)
    return bothy_error_set(err, 0,
                           "cannot use console socket if bothy-runtime will not detach or "
                           "allocate tty");

  if (s->seccomp) {
    _cleanup_free_ char *cache = xasprintf("%s/.seccomp", rt->root);
    if (bothy_seccomp_compile_cached(s->seccomp, cache, &c->lx.seccomp, err) < 0)
      return -1;
  }
  if (s->process.has_caps) {
    struct bothy_capset *cs = xmalloc0(sizeof(*cs));
    c->lx.caps = cs;
    if (bothy_caps_parse(&s->process.caps, cs, err) < 0)
      return -1;
  }
  if (o->console_socket) {
    c->lx.console_socket = connect_console(o->console_socket, err);
    if (c->lx.console_socket < 0)
      return -1;
  } else if (s->process.terminal) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
      return bothy_error_errno(err, "cannot create a socket pair");
    c->lx.console_socket = sv[0];
    c->console_peer = sv[1];
  }

  c->rootfd = open_root(rt, true, err);
  if (c->rootfd < 0)
    return -1;
  c->dirfd = bothy_state_dir_create(c->rootfd, o->id, err);
  if (c->dirfd < 0) {
    c->dirfd = -1;
    return -1;
  }
  /* From here on, a failure must remove what was created. `run` starts
   * the process itself, through the sync socket: only `create` leaves it
   * waiting for a `start` from another process, on exec.fifo. 0622
   * whatever the umask: the init process may run as another uid (a user
   * namespace) and opens it for writing through the state dir fd. */
  if (!for_run &&
      (mkfifoat(c->dirfd, "exec.fifo", 0622) < 0 || fchmodat(c->dirfd, "exec.fifo", 0622, 0) < 0)) {
    bothy_error_errno(err, "cannot create exec.fifo");
    goto fail;
  }

  struct bothy_cgroup_config cc = cgroup_config(rt, s, o->id);
  if (bothy_cgroup_new(&cc, &c->cg, err) < 0)
    goto fail;
  /* On cgroup v2 the process is born in its cgroup (CLONE_INTO_CGROUP): the
   * cgroup and its limits must be there before. On v1 and hybrid it joins
   * its v1 cgroups only once on_created has made them and written the
   * limits (the child waits for SYNC_CGROUP): the runtime does that while
   * the child makes its namespaces. Only a hybrid's cgroup2 directory,
   * which the child is born in, comes first. */
  c->late_cgroup = c->cg->mode != BOTHY_CGROUP_V2;
  if (c->late_cgroup ? bothy_cgroup_create_part(c->cg, /* unified= */ true, err) < 0
                     : bothy_cgroup_create(c->cg, err) < 0 || apply_resources(c->cg, s, err) < 0)
    goto fail;

  c->st.id = (char *) o->id;
  c->st.bundle = xstrdup(bundle);
  c->st.rootfs = xstrdup(rootfs);
  c->st.created = bothy_time_now_rfc3339();
  c->st.owner = (char *) "";
  c->st.annotations = s->annotations;
  c->st.config = s->json;
  c->st.cgroup = bothy_cgroup_to_json(c->cg);
  c->st.own_pidns = s->namespaces[BOTHY_NS_PID].enabled;

  struct bothy_cgroup_mount *mounts = NULL;
  size_t n_mounts = 0;
  bothy_cgroup_mounts(c->cg, &mounts, &n_mounts);

  c->lx.spec = s;
  c->lx.process = &s->process;
  c->lx.id = o->id;
  c->lx.rootfs = c->st.rootfs;
  c->lx.bundle = c->st.bundle;
  c->lx.state_dirfd = for_run ? -1 : c->dirfd;
  c->lx.wait_start = for_run;
  c->lx.preserve_fds = o->preserve_fds;
  c->lx.no_pivot = o->no_pivot;
  c->lx.no_new_keyring = o->no_new_keyring;
  c->lx.init = true;
  c->lx.cgroups = mounts;
  c->lx.n_cgroups = n_mounts;
  c->lx.on_created = on_created;
  c->lx.on_create_runtime = on_create_runtime;
  c->lx.on_namespaces = o->on_namespaces ? on_namespaces : NULL;
  c->lx.data = c;
  /* The process joins its cgroups itself, unless it is in a new user
   * namespace, whose root may not write the host's cgroup files. */
  c->lx.cgroup_fd = -1;
  int cgfd = -1;
  bool userns_new =
      c->spec->namespaces[BOTHY_NS_USER].enabled && !c->spec->namespaces[BOTHY_NS_USER].path;
  if (c->cg && !userns_new) {
    c->lx.self_cgroup = self_cgroup;
    c->lx.cgroup_fd = cgfd = bothy_cgroup_unified_fd(c->cg);
  }
  /* run forwards signals: they are blocked here and read from a signalfd;
   * the container gets the mask we had before. */
  c->lx.child_sigmask = *child_mask;
  int r = bothy_linux_spawn(&c->lx, &c->pid, err);
  safe_close(cgfd);
  c->lx.cgroup_fd = -1;
  bothy_cgroup_mounts_free(mounts, n_mounts);
  if (r < 0)
    goto fail;
  c->lx.console_socket = safe_close(c->lx.console_socket);
  /* run: the process goes on to execve at once, the state is written
   * meanwhile (the caller waits for the execve before anything else); with
   * a pty of ours, once run holds its master. */
  if (for_run && c->console_peer < 0 && bothy_linux_start(&c->lx, err) < 0) {
    kill(c->pid, SIGKILL);
    bothy_waitpid(c->pid, 0);
    goto fail;
  }
  if (bothy_state_save(c->dirfd, &c->st, err) < 0 || write_pid_file(o->pid_file, c->pid, err) < 0) {
    kill(c->pid, SIGKILL);
    bothy_waitpid(c->pid, 0);
    goto fail;
  }
  return 0;

fail:
  creating_cleanup(c, true);
  memset(c, 0, sizeof(*c));
  c->rootfd = c->dirfd = c->console_peer = -1;
  c->lx.console_socket = c->lx.sync_fd = -1;
  return -1;
}

int bothy_container_create(const struct bothy_runtime *rt, const struct bothy_create_opts *o,
                           bothy_error_t *err)
{
  struct creating c;
  sigset_t mask;
  sigprocmask(SIG_SETMASK, NULL, &mask);
  if (do_create(rt, o, false, &mask, &c, err) < 0)
    return -1;
  creating_cleanup(&c, false);
  return 0;
}

/* ---- start -------------------------------------------------------------- */

/* As runc: a failing poststart hook fails start (or run); the caller then
 * tears the container down. */
static int run_poststart(const struct bothy_spec *spec, const struct bothy_state *st,
                         bothy_error_t *err)
{
  if (!spec->n_hooks[BOTHY_HOOK_POSTSTART])
    return 0;
  _cleanup_free_ char *sj = state_json_string(st, BOTHY_STATUS_RUNNING);
  return bothy_hooks_run(spec, BOTHY_HOOK_POSTSTART, sj, err);
}

static int destroy(struct loaded *l, const char *id, bothy_error_t *err);

/* Opens exec.fifo, lets the init process through, waits until it has
 * called execve (its end of the fifo is close-on-exec) and removes the fifo. */
static int release_init(int dirfd, const struct bothy_state *st, bothy_error_t *err)
{
  _cleanup_close_ int fifo = openat(dirfd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fifo < 0)
    return bothy_error_errno(err, "cannot open exec.fifo");
  bool released = false;
  for (;;) {
    struct pollfd p = { .fd = fifo, .events = POLLIN };
    int r = poll(&p, 1, 50);
    if (r > 0 && (p.revents & (POLLIN | POLLHUP))) {
      char c;
      ssize_t n = read(fifo, &c, 1);
      if (n == 1) {
        released = true;
        continue;
      }
      if (n == 0 && released)
        break; /* execve closed the other end */
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return bothy_error_errno(err, "cannot read exec.fifo");
    }
    unsigned long long t = bothy_proc_start_time(st->pid);
    if (t == 0 || t != st->start_time) {
      if (released)
        break; /* it started and already exited */
      return bothy_error_set(err, 0, "the container's init process exited before start");
    }
  }
  if (unlinkat(dirfd, "exec.fifo", 0) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "cannot remove exec.fifo");
  return 0;
}

int bothy_container_start(const struct bothy_runtime *rt, const char *id, bothy_error_t *err)
{
  struct loaded l;
  _cleanup_spec_ struct bothy_spec *spec = NULL;
  int r = load(rt, id, &l, err);
  if (r < 0)
    goto out;
  switch (l.status) {
  case BOTHY_STATUS_CREATED:
    break;
  case BOTHY_STATUS_STOPPED:
    r = bothy_error_set(err, 0, "cannot start a container that has stopped");
    goto out;
  default:
    r = bothy_error_set(err, 0, "cannot start an already %s container",
                        bothy_status_name(l.status));
    goto out;
  }
  if ((r = load_saved_spec(&l, &spec, err)) < 0)
    goto out;
  if ((r = release_init(l.dirfd, l.st, err)) < 0)
    goto out;
  if ((r = run_poststart(spec, l.st, err)) < 0) {
    kill(l.st->pid, SIGKILL);
    wait_dead(l.st->pid, l.st->start_time, 5000);
    destroy(&l, id, NULL);
  }
out:
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

/* ---- delete ------------------------------------------------------------- */

static int destroy(struct loaded *l, const char *id, bothy_error_t *err)
{
  _cleanup_spec_ struct bothy_spec *spec = NULL;
  (void) load_saved_spec(l, &spec, NULL);
  /* destroy kills whatever is left first. */
  if (l->cg && bothy_cgroup_destroy(l->cg, err) < 0)
    return -1;
  if (spec && spec->n_hooks[BOTHY_HOOK_POSTSTOP]) {
    bothy_error_t e = NULL;
    _cleanup_free_ char *sj = state_json_string(l->st, BOTHY_STATUS_STOPPED);
    if (bothy_hooks_run(spec, BOTHY_HOOK_POSTSTOP, sj, &e) < 0) {
      log_warning("%s", e->msg);
      bothy_error_free(&e);
    }
  }
  return bothy_state_dir_remove(l->rootfd, id, /* reuse= */ true, err);
}

int bothy_container_delete(const struct bothy_runtime *rt, const char *id, bool force,
                           bothy_error_t *err)
{
  struct loaded l;
  int r = load(rt, id, &l, err);
  if (r < 0) {
    /* A state dir without state.json is a create that died midway. */
    if (l.rootfd >= 0 && l.dirfd >= 0 && !l.st) {
      bothy_error_free(err);
      r = bothy_state_dir_remove(l.rootfd, id, /* reuse= */ false, err);
    } else if (force && err && *err && (*err)->code != EACCES) {
      /* runc: delete --force of a container that does not exist succeeds. */
      bothy_error_free(err);
      r = 0;
    }
    goto out;
  }
  switch (l.status) {
  case BOTHY_STATUS_STOPPED:
    break;
  case BOTHY_STATUS_CREATED:
    kill(l.st->pid, SIGKILL);
    wait_dead(l.st->pid, l.st->start_time, 5000);
    break;
  default:
    if (!force) {
      r = bothy_error_set(err, 0, "cannot delete container %s that is not stopped: %s", id,
                          bothy_status_name(l.status));
      goto out;
    }
    if (l.cg)
      bothy_cgroup_kill(l.cg, SIGKILL, NULL);
    kill(l.st->pid, SIGKILL);
    if (l.status == BOTHY_STATUS_PAUSED && l.cg)
      bothy_cgroup_thaw(l.cg, NULL);
    if (!wait_dead(l.st->pid, l.st->start_time, 10000)) {
      r = bothy_error_set(err, 0, "container %s did not stop after SIGKILL", id);
      goto out;
    }
  }
  r = destroy(&l, id, err);
out:
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

/* ---- run ---------------------------------------------------------------- */

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
  if (tio_saved)
    tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void copy_fd(int from, int to, bool *open_)
{
  char buf[8192];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n <= 0) {
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
      *open_ = false;
    return;
  }
  (void) bothy_write_all(to, buf, (size_t) n);
}

/* Waits for pid, forwarding signals and (with a pty) copying I/O. */
static int supervise(pid_t pid, int master, const sigset_t *blocked, int *ret_exit)
{
  int sfd = signalfd(-1, blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  bool in_open = master >= 0, out_open = master >= 0;
  if (master >= 0 && isatty(STDIN_FILENO)) {
    struct termios raw;
    if (tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
      tio_saved = true;
      raw = saved_tio;
      cfmakeraw(&raw);
      tcsetattr(STDIN_FILENO, TCSANOW, &raw);
      atexit(restore_tty);
    }
    struct winsize ws;
    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
      ioctl(master, TIOCSWINSZ, &ws);
  }
  for (;;) {
    int st = bothy_waitpid(pid, WNOHANG);
    if (st >= 0) {
      while (out_open) {
        struct pollfd p = { .fd = master, .events = POLLIN };
        if (poll(&p, 1, 0) <= 0)
          break;
        copy_fd(master, STDOUT_FILENO, &out_open);
      }
      restore_tty();
      safe_close(sfd);
      *ret_exit = bothy_exit_code(st);
      return 0;
    }
    struct pollfd p[3] = {
      { .fd = sfd, .events = POLLIN },
      { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
      { .fd = out_open ? master : -1, .events = POLLIN },
    };
    int n = poll(p, 3, 1000);
    if (n <= 0)
      continue;
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
          continue;
        if (si.ssi_signo == SIGWINCH && master >= 0) {
          struct winsize ws;
          if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
            ioctl(master, TIOCSWINSZ, &ws);
          continue;
        }
        kill(pid, (int) si.ssi_signo);
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP))
      copy_fd(STDIN_FILENO, master, &in_open);
    if (p[2].revents & (POLLIN | POLLHUP))
      copy_fd(master, STDOUT_FILENO, &out_open);
  }
}

static void block_signals(sigset_t *ret_blocked)
{
  sigfillset(ret_blocked);
  sigdelset(ret_blocked, SIGSEGV);
  sigdelset(ret_blocked, SIGBUS);
  sigdelset(ret_blocked, SIGILL);
  sigdelset(ret_blocked, SIGFPE);
  sigdelset(ret_blocked, SIGABRT);
  sigdelset(ret_blocked, SIGTRAP);
  sigdelset(ret_blocked, SIGSYS);
  sigdelset(ret_blocked, SIGTTIN);
  sigdelset(ret_blocked, SIGTTOU);
  sigdelset(ret_blocked, SIGTSTP);
  sigprocmask(SIG_BLOCK, ret_blocked, NULL);
}

int bothy_container_run(const struct bothy_runtime *rt, const struct bothy_create_opts *o,
                        int *ret_exit, bothy_error_t *err)
{
  sigset_t blocked, old;
  sigprocmask(SIG_SETMASK, NULL, &old);
  if (!o->detach)
    block_signals(&blocked);
  struct creating c;
  if (do_create(rt, o, true, &old, &c, err) < 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    return -1;
  }
  int master = -1;
  if (c.console_peer >= 0) {
    master = recv_fd(c.console_peer);
    if (master < 0) {
      bothy_error_set(err, -master, "cannot receive the pty master");
      kill(c.pid, SIGKILL);
      bothy_waitpid(c.pid, 0);
      creating_cleanup(&c, true);
      return -1;
    }
    if (bothy_linux_start(&c.lx, err) < 0) {
      kill(c.pid, SIGKILL);
      bothy_waitpid(c.pid, 0);
      safe_close(master);
      creating_cleanup(&c, true);
      return -1;
    }
  }
  /* Started: the init process closes the sync socket when it execs, or
   * reports why it could not. */
  if (bothy_linux_wait_exec(&c.lx, err) < 0) {
    bothy_waitpid(c.pid, 0);
    safe_close(master);
    creating_cleanup(&c, true);
    return -1;
  }
  if (run_poststart(c.spec, &c.st, err) < 0) {
    kill(c.pid, SIGKILL);
    bothy_waitpid(c.pid, 0);
    safe_close(master);
    sigprocmask(SIG_SETMASK, &old, NULL);
    creating_cleanup(&c, true);
    return -1;
  }
  if (o->on_start)
    o->on_start(c.pid, o->userdata);
  if (o->detach) {
    safe_close(master);
    creating_cleanup(&c, false);
    *ret_exit = 0;
    return 0;
  }
  supervise(c.pid, master, &blocked, ret_exit);
  safe_close(master);
  sigprocmask(SIG_SETMASK, &old, NULL);
  creating_cleanup(&c, false);
  if (o->keep)
    return 0;
  struct loaded l;
  int r = load(rt, o->id, &l, err);
  if (r == 0)
    r = destroy(&l, o->id, err);
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

/* ---- state, list, kill, pause, ps --------------------------------------- */

int bothy_container_state(const struct bothy_runtime *rt, const char *id, json_t **ret,
                          bothy_error_t *err)
{
  struct loaded l;
  int r = load(rt, id, &l, err);
  if (r == 0)
    *ret = bothy_state_to_json(l.st, l.status);
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

int bothy_container_list(const struct bothy_runtime *rt, json_t **ret, bothy_error_t *err)
{
  json_t *arr = json_array();
  _cleanup_closedir_ DIR *d = opendir(rt->root);
  if (!d) {
    if (errno == ENOENT) {
      *ret = arr;
      return 0;
    }
    json_decref(arr);
    return bothy_error_errno(err, "cannot read the state directory '%s'", rt->root);
  }
  _cleanup_strv_free_ char **ids = NULL;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.' && de->d_type == DT_DIR)
      strv_push(&ids, xstrdup(de->d_name));
  if (ids)
    qsort(ids, strv_length(ids), sizeof(char *), cmp_str);
  for (size_t i = 0; ids && ids[i]; i++) {
    struct loaded l;
    bothy_error_t e = NULL;
    if (load(rt, ids[i], &l, &e) == 0) {
      json_t *o = bothy_state_to_json(l.st, l.status);
      /* runc's list shows the owner of the state directory by name. */
      struct stat st;
      struct passwd *pw = fstat(l.dirfd, &st) == 0 ? getpwuid(st.st_uid) : NULL;
      if (pw)
        json_object_set_new(o, "owner", json_string(pw->pw_name));
      json_array_append_new(arr, o);
    }
    bothy_error_free(&e);
    loaded_done(&l);
  }
  *ret = arr;
  return 0;
}

int bothy_container_kill(const struct bothy_runtime *rt, const char *id, int sig, bool all,
                         bothy_error_t *err)
{
  struct loaded l;
  int r = load(rt, id, &l, err);
  if (r < 0)
    goto out;
  if (l.status == BOTHY_STATUS_STOPPED && !(all && l.cg)) {
    r = bothy_error_set(err, 0, "container not running");
    goto out;
  }
  if (all && l.cg) {
    r = bothy_cgroup_kill(l.cg, sig, err);
    goto out;
  }
  if (kill(l.st->pid, sig) < 0)
    r = bothy_error_errno(err, "cannot send signal %d to the container", sig);
out:
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

int bothy_container_pause(const struct bothy_runtime *rt, const char *id, bool pause,
                          bothy_error_t *err)
{
  struct loaded l;
  int r = load(rt, id, &l, err);
  if (r < 0)
    goto out;
  if (pause && l.status != BOTHY_STATUS_RUNNING && l.status != BOTHY_STATUS_CREATED) {
    r = bothy_error_set(err, 0, "container not running");
    goto out;
  }
  if (!pause && l.status != BOTHY_STATUS_PAUSED) {
    r = bothy_error_set(err, 0, "container not paused");
    goto out;
  }
  if (!l.cg) {
    r = bothy_error_set(err, 0, "the container has no cgroup to freeze");
    goto out;
  }
  r = pause ? bothy_cgroup_freeze(l.cg, err) : bothy_cgroup_thaw(l.cg, err);
out:
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

int bothy_container_pids(const struct bothy_runtime *rt, const char *id, pid_t **ret, size_t *ret_n,
                         bothy_error_t *err)
{
  struct loaded l;
  int r = load(rt, id, &l, err);
  if (r == 0) {
    if (l.cg) {
      r = bothy_cgroup_pids(l.cg, true, ret, ret_n, err);
    } else {
      *ret = xmalloc(sizeof(pid_t));
      **ret = l.st->pid;
      *ret_n = l.status == BOTHY_STATUS_STOPPED ? 0 : 1;
    }
  }
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}

/* ---- exec --------------------------------------------------------------- */

struct execing {
  struct bothy_cgroup *cg;
};

static int exec_on_created(void *data, pid_t pid, bothy_error_t *err)
{
  struct execing *x = data;
  return x->cg ? bothy_cgroup_enter(x->cg, pid, err) : 0;
}

static int parse_user(const char *s, uid_t *uid, gid_t *gid, bothy_error_t *err)
{
  char *end;
  unsigned long u = strtoul(s, &end, 10);
  if (end == s || (*end && *end != ':'))
    return bothy_error_set(err, 0, "invalid user '%s': want UID[:GID]", s);
  *uid = (uid_t) u;
  if (*end == ':') {
    const char *g = end + 1;
    unsigned long gv = strtoul(g, &end, 10);
    if (end == g || *end)
      return bothy_error_set(err, 0, "invalid user '%s': want UID[:GID]", s);
    *gid = (gid_t) gv;
  }
  return 0;
}

static void strv_add_unique(char ***v, const char *s)
{
  for (size_t i = 0; *v && (*v)[i]; i++)
    if (streq((*v)[i], s))
      return;
  strv_push(v, xstrdup(s));
}

int bothy_container_exec(const struct bothy_runtime *rt, const struct bothy_exec_opts *o,
                         int *ret_exit, bothy_error_t *err)
{
  struct loaded l;
  struct bothy_process proc = { 0 };
  struct bothy_capset caps;
  struct bothy_linux_ctx lx = {
    .console_socket = -1, .sync_fd = -1, .state_dirfd = -1, .cgroup_fd = -1
  };
  struct execing x = { 0 };
  _cleanup_spec_ struct bothy_spec *spec = NULL;
  int master = -1, console_peer = -1;
  pid_t pid = -1;
  sigset_t blocked, old;
  bool blocked_set = false;
  int r = load(rt, o->id, &l, err);
  if (r < 0)
    goto out;
  if (l.status == BOTHY_STATUS_STOPPED) {
    r = bothy_error_set(err, 0, "cannot exec in a stopped container");
    goto out;
  }
  if (l.status == BOTHY_STATUS_PAUSED) {
    r = bothy_error_set(err, 0, "cannot exec in a paused container");
    goto out;
  }
  if ((r = load_saved_spec(&l, &spec, err)) < 0)
    goto out;
  if (o->process_file) {
    _cleanup_json_ json_t *pj = NULL;
    if ((r = bothy_json_load_file(o->process_file, &pj, err)) < 0 ||
        (r = bothy_process_from_json(pj, "process", &proc, err)) < 0)
      goto out;
  } else {
    if (!o->args || !o->args[0]) {
      r = bothy_error_set(err, 0, "exec: no command given");
      goto out;
    }
    /* The container's process, with what the command line changes. */
    const struct bothy_process *base = &spec->process;
    proc.cwd = xstrdup(o->cwd ? o->cwd : (base->cwd ? base->cwd : "/"));
    proc.args = strv_copy(o->args);
    proc.env = strv_copy(base->env);
    proc.uid = base->uid;
    proc.gid = base->gid;
    proc.umask = base->umask;
    proc.oom_score_adj = BOTHY_UNSET;
    proc.no_new_privileges = base->no_new_privileges;
    proc.terminal = o->tty;
    if (base->n_additional_gids) {
      proc.additional_gids = xcalloc(base->n_additional_gids, sizeof(gid_t));
      memcpy(proc.additional_gids, base->additional_gids, base->n_additional_gids * sizeof(gid_t));
      proc.n_additional_gids = base->n_additional_gids;
    }
    proc.has_caps = base->has_caps;
    proc.caps.bounding = strv_copy(base->caps.bounding);
    proc.caps.effective = strv_copy(base->caps.effective);
    proc.caps.inheritable = strv_copy(base->caps.inheritable);
    proc.caps.permitted = strv_copy(base->caps.permitted);
    proc.caps.ambient = strv_copy(base->caps.ambient);
  }
  for (size_t i = 0; o->env && o->env[i]; i++)
    strv_env_set(&proc.env, o->env[i]);
  if (o->cwd) {
    free(proc.cwd);
    proc.cwd = xstrdup(o->cwd);
  }
  if (o->user && (r = parse_user(o->user, &proc.uid, &proc.gid, err)) < 0)
    goto out;
  if (o->n_additional_gids) {
    free(proc.additional_gids);
    proc.additional_gids = xcalloc(o->n_additional_gids, sizeof(gid_t));
    memcpy(proc.additional_gids, o->additional_gids, o->n_additional_gids * sizeof(gid_t));
    proc.n_additional_gids = o->n_additional_gids;
  }
  if (o->no_new_privs)
    proc.no_new_privileges = true;
  if (o->tty)
    proc.terminal = true;
  for (size_t i = 0; o->caps && o->caps[i]; i++) {
    proc.has_caps = true;
    strv_add_unique(&proc.caps.bounding, o->caps[i]);
    strv_add_unique(&proc.caps.effective, o->caps[i]);
    strv_add_unique(&proc.caps.inheritable, o->caps[i]);
    strv_add_unique(&proc.caps.permitted, o->caps[i]);
    strv_add_unique(&proc.caps.ambient, o->caps[i]);
  }
  if (proc.terminal && !o->console_socket && o->detach) {
    r = bothy_error_set(err, 0,
                        "cannot allocate tty if bothy-runtime will detach without "
                        "setting console socket");
    goto out;
  }
  if (proc.has_caps && (r = bothy_caps_parse(&proc.caps, &caps, err)) < 0)
    goto out;
  if (spec->seccomp) {
    _cleanup_free_ char *cache = xasprintf("%s/.seccomp", rt->root);
    if ((r = bothy_seccomp_compile_cached(spec->seccomp, cache, &lx.seccomp, err)) < 0)
      goto out;
  }
  if (o->console_socket && proc.terminal) {
    lx.console_socket = connect_console(o->console_socket, err);
    if (lx.console_socket < 0) {
      r = -1;
      goto out;
    }
  } else if (proc.terminal) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
      r = bothy_error_errno(err, "cannot create a socket pair");
      goto out;
    }
    lx.console_socket = sv[0];
    console_peer = sv[1];
  }

  x.cg = l.cg;
  lx.spec = spec;
  lx.process = &proc;
  lx.id = o->id;
  lx.preserve_fds = o->preserve_fds;
  lx.init = false;
  lx.join_pid = l.st->pid;
  lx.caps = proc.has_caps ? &caps : NULL;
  lx.on_created = exec_on_created;
  lx.data = &x;
  sigprocmask(SIG_SETMASK, NULL, &old);
  lx.child_sigmask = old;
  if (!o->detach) {
    block_signals(&blocked);
    blocked_set = true;
  }
  if ((r = bothy_linux_spawn(&lx, &pid, err)) < 0)
    goto out;
  lx.console_socket = safe_close(lx.console_socket);
  if (console_peer >= 0) {
    master = recv_fd(console_peer);
    if (master < 0) {
      kill(pid, SIGKILL);
      bothy_waitpid(pid, 0);
      r = bothy_error_set(err, -master, "cannot receive the pty master");
      goto out;
    }
  }
  if ((r = bothy_linux_wait_exec(&lx, err)) < 0) {
    bothy_waitpid(pid, 0);
    goto out;
  }
  if ((r = write_pid_file(o->pid_file, pid, err)) < 0)
    goto out;
  if (o->detach) {
    *ret_exit = 0;
    goto out;
  }
  supervise(pid, master, &blocked, ret_exit);
  r = 0;
out:
  if (blocked_set)
    sigprocmask(SIG_SETMASK, &old, NULL);
  safe_close(master);
  safe_close(console_peer);
  safe_close(lx.console_socket);
  safe_close(lx.sync_fd);
  bothy_seccomp_filter_free(lx.seccomp);
  bothy_process_done(&proc);
  loaded_done(&l);
  return r < 0 ? -1 : 0;
}
