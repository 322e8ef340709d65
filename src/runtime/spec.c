/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/spec.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
  const char *name;
  const char *proc_name;
  int flag;
} ns_table[_BOTHY_NS_MAX] = {
  [BOTHY_NS_PID] = { "pid", "pid", CLONE_NEWPID },
  [BOTHY_NS_NETWORK] = { "network", "net", CLONE_NEWNET },
  [BOTHY_NS_MOUNT] = { "mount", "mnt", CLONE_NEWNS },
  [BOTHY_NS_IPC] = { "ipc", "ipc", CLONE_NEWIPC },
  [BOTHY_NS_UTS] = { "uts", "uts", CLONE_NEWUTS },
  [BOTHY_NS_USER] = { "user", "user", CLONE_NEWUSER },
  [BOTHY_NS_CGROUP] = { "cgroup", "cgroup", CLONE_NEWCGROUP },
  [BOTHY_NS_TIME] = { "time", "time", CLONE_NEWTIME },
};

const char *bothy_ns_name(enum bothy_ns_type t)
{
  return (t >= 0 && t < _BOTHY_NS_MAX) ? ns_table[t].name : NULL;
}

const char *bothy_ns_proc_name(enum bothy_ns_type t)
{
  return (t >= 0 && t < _BOTHY_NS_MAX) ? ns_table[t].proc_name : NULL;
}

int bothy_ns_clone_flag(enum bothy_ns_type t)
{
  return (t >= 0 && t < _BOTHY_NS_MAX) ? ns_table[t].flag : 0;
}

enum bothy_ns_type bothy_ns_from_name(const char *name)
{
  for (int i = 0; i < _BOTHY_NS_MAX; i++)
    if (streq(ns_table[i].name, name))
      return (enum bothy_ns_type) i;
  return _BOTHY_NS_INVALID;
}

static const struct {
  const char *name;
  int resource;
} rlimit_table[] = {
  { "RLIMIT_AS", RLIMIT_AS },
  { "RLIMIT_CORE", RLIMIT_CORE },
  { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_DATA", RLIMIT_DATA },
  { "RLIMIT_FSIZE", RLIMIT_FSIZE },
  { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
  { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE },
  { "RLIMIT_NOFILE", RLIMIT_NOFILE },
  { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_RSS", RLIMIT_RSS },
  { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
  { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
  { "RLIMIT_STACK", RLIMIT_STACK },
};

int bothy_rlimit_from_name(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(rlimit_table); i++)
    if (streq(rlimit_table[i].name, name))
      return rlimit_table[i].resource;
  return -1;
}

/* Mount options, as runc's parseMountOptions. */
static const struct {
  const char *name;
  bool clear;
  unsigned long flag;
} mount_flags[] = {
  { "async", true, MS_SYNCHRONOUS },
  { "atime", true, MS_NOATIME },
  { "bind", false, MS_BIND },
  { "defaults", false, 0 },
  { "dev", true, MS_NODEV },
  { "diratime", true, MS_NODIRATIME },
  { "dirsync", false, MS_DIRSYNC },
  { "exec", true, MS_NOEXEC },
  { "iversion", false, MS_I_VERSION },
  { "lazytime", false, MS_LAZYTIME },
  { "loud", true, MS_SILENT },
  { "mand", false, MS_MANDLOCK },
  { "noatime", false, MS_NOATIME },
  { "nodev", false, MS_NODEV },
  { "nodiratime", false, MS_NODIRATIME },
  { "noexec", false, MS_NOEXEC },
  { "noiversion", true, MS_I_VERSION },
  { "nolazytime", true, MS_LAZYTIME },
  { "nomand", true, MS_MANDLOCK },
  { "norelatime", true, MS_RELATIME },
  { "nostrictatime", true, MS_STRICTATIME },
  { "nosuid", false, MS_NOSUID },
  { "rbind", false, MS_BIND | MS_REC },
  { "relatime", false, MS_RELATIME },
  { "remount", false, MS_REMOUNT },
  { "ro", false, MS_RDONLY },
  { "rw", true, MS_RDONLY },
  { "silent", false, MS_SILENT },
  { "strictatime", false, MS_STRICTATIME },
  { "suid", true, MS_NOSUID },
  { "sync", false, MS_SYNCHRONOUS },
};

static const struct {
  const char *name;
  unsigned long flag;
} propagation_flags[] = {
  { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
  { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
  { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
  { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

static unsigned long propagation_from_name(const char *name)
{
  for (size_t i = 0; i < ARRAY_SIZE(propagation_flags); i++)
    if (streq(propagation_flags[i].name, name))
      return propagation_flags[i].flag;
  return 0;
}

int bothy_mount_parse_options(struct bothy_mount *m, bothy_error_t *err)
{
  _cleanup_free_ char *data = NULL;
  m->flags = m->clear_flags = m->propagation = 0;
  for (size_t i = 0; m->options && m->options[i]; i++) {
    const char *o = m->options[i];
    bool known = false;
    for (size_t k = 0; k < ARRAY_SIZE(mount_flags); k++) {
      if (!streq(mount_flags[k].name, o))
        continue;
      known = true;
      if (mount_flags[k].clear) {
        m->flags &= ~mount_flags[k].flag;
        m->clear_flags |= mount_flags[k].flag;
      } else {
        m->flags |= mount_flags[k].flag;
        m->clear_flags &= ~mount_flags[k].flag;
      }
    }
    if (known)
      continue;
    unsigned long p = propagation_from_name(o);
    if (p) {
      m->propagation = p;
      continue;
    }
    if (streq(o, "rro")) {
      m->recursive_ro = true;
      m->flags |= MS_RDONLY;
      continue;
    }
    if (streq(o, "idmap") || streq(o, "ridmap")) {
      m->idmap = true;
      continue;
    }
    if (streq(o, "tmpcopyup") || streq(o, "copy-symlink") || streq(o, "notmpcopyup") ||
        streq(o, "rrw") || streq(o, "rnosuid") || streq(o, "rnodev") || streq(o, "rnoexec") ||
        streq(o, "rsuid") || streq(o, "rdev") || streq(o, "rexec") || streq(o, "rnoatime") ||
        streq(o, "ratime") || streq(o, "rrelatime") || streq(o, "rnorelatime") ||
        streq(o, "rstrictatime") || streq(o, "rnostrictatime") || streq(o, "rnodiratime") ||
        streq(o, "rdiratime") || streq(o, "nosymfollow") || streq(o, "rnosymfollow")) {
      /* Recursive attribute variants are applied like their plain forms on
       * the top mount; the rest are runtime extensions we accept. */
      if (o[0] == 'r' && o[1] == 'n' && o[2] == 'o') {
        for (size_t k = 0; k < ARRAY_SIZE(mount_flags); k++)
          if (streq(mount_flags[k].name, o + 1) && !mount_flags[k].clear)
            m->flags |= mount_flags[k].flag;
      }
      continue;
    }
    if (*o == '\0')
      continue;
    if (strchr(o, ',') && !streq(m->type, "tmpfs"))
      return bothy_error_set(err, 0, "mount '%s': invalid option '%s'", m->destination, o);
    char *nd = data ? xasprintf("%s,%s", data, o) : xstrdup(o);
    free(data);
    data = nd;
  }
  m->bind = (m->flags & MS_BIND) != 0;
  if (streq(m->type, "bind")) {
    m->bind = true;
    m->flags |= MS_BIND;
  }
  free(m->data);
  m->data = TAKE_PTR(data);
  return 0;
}

static int parse_id_mappings(json_t *arr, const char *ctx, struct bothy_id_mapping **ret,
                             size_t *ret_n, bothy_error_t *err)
{
  if (!arr)
    return 0;
  size_t n = json_array_size(arr);
  _cleanup_free_ struct bothy_id_mapping *m = xcalloc(n ? n : 1, sizeof(*m));
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    uint64_t c = 0, h = 0, s = 0;
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s[%zu]' must be an object", ctx, i);
    _cleanup_free_ char *c2 = xasprintf("%s[%zu]", ctx, i);
    if (bothy_json_uint64(e, "containerID", c2, &c, err) < 0 ||
        bothy_json_uint64(e, "hostID", c2, &h, err) < 0 ||
        bothy_json_uint64(e, "size", c2, &s, err) < 0)
      return -1;
    if (c > UINT32_MAX || h > UINT32_MAX || s > UINT32_MAX || s == 0)
      return bothy_error_set(err, 0, "'%s': invalid id mapping", c2);
    m[i] = (struct bothy_id_mapping){ (uint32_t) c, (uint32_t) h, (uint32_t) s };
  }
  *ret = TAKE_PTR(m);
  *ret_n = n;
  return 0;
}

static int parse_mounts(struct bothy_spec *s, bothy_error_t *err)
{
  json_t *arr = NULL;
  int k = bothy_json_array(s->json, "mounts", NULL, &arr, err);
  if (k <= 0)
    return k;
  s->n_mounts = json_array_size(arr);
  s->mounts = xcalloc(s->n_mounts + 1, sizeof(*s->mounts));
  for (size_t i = 0; i < s->n_mounts; i++) {
    json_t *e = json_array_get(arr, i);
    struct bothy_mount *m = &s->mounts[i];
    _cleanup_free_ char *ctx = xasprintf("mounts[%zu]", i);
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s' must be an object", ctx);
    if (bothy_json_strdup(e, "destination", ctx, &m->destination, err) < 0 ||
        bothy_json_strdup(e, "type", ctx, &m->type, err) < 0 ||
        bothy_json_strdup(e, "source", ctx, &m->source, err) < 0 ||
        bothy_json_strv(e, "options", ctx, &m->options, err) < 0)
      return -1;
    if (!m->destination || !*m->destination)
      return bothy_error_set(err, 0, "'%s.destination' is required", ctx);
    if (m->destination[0] != '/')
      return bothy_error_set(err, 0, "'%s.destination' must be an absolute path, not '%s'", ctx,
                             m->destination);
    json_t *um = NULL, *gm = NULL;
    _cleanup_free_ char *uctx = xasprintf("%s.uidMappings", ctx);
    _cleanup_free_ char *gctx = xasprintf("%s.gidMappings", ctx);
    if (bothy_json_array(e, "uidMappings", ctx, &um, err) < 0 ||
        bothy_json_array(e, "gidMappings", ctx, &gm, err) < 0 ||
        parse_id_mappings(um, uctx, &m->uid_mappings, &m->n_uid_mappings, err) < 0 ||
        parse_id_mappings(gm, gctx, &m->gid_mappings, &m->n_gid_mappings, err) < 0)
      return -1;
    if (bothy_mount_parse_options(m, err) < 0)
      return -1;
    if (m->n_uid_mappings || m->n_gid_mappings)
      m->idmap = true;
    if (!m->type && !m->bind)
      return bothy_error_set(err, 0, "'%s': mount of '%s' has neither a type nor a bind option",
                             ctx, m->destination);
  }
  return 0;
}

static int parse_rlimits(json_t *p, struct bothy_process *proc, bothy_error_t *err)
{
  json_t *arr = NULL;
  int r = bothy_json_array(p, "rlimits", "process", &arr, err);
  if (r <= 0)
    return r;
  proc->n_rlimits = json_array_size(arr);
  proc->rlimits = xcalloc(proc->n_rlimits + 1, sizeof(*proc->rlimits));
  for (size_t i = 0; i < proc->n_rlimits; i++) {
    json_t *e = json_array_get(arr, i);
    _cleanup_free_ char *ctx = xasprintf("process.rlimits[%zu]", i);
    const char *type = NULL;
    uint64_t soft = 0, hard = 0;
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s' must be an object", ctx);
    if (bothy_json_string(e, "type", ctx, &type, err) < 0 ||
        bothy_json_uint64(e, "soft", ctx, &soft, err) < 0 ||
        bothy_json_uint64(e, "hard", ctx, &hard, err) < 0)
      return -1;
    int res = type ? bothy_rlimit_from_name(type) : -1;
    if (res < 0)
      return bothy_error_set(err, 0, "'%s': unknown rlimit type '%s'", ctx, type ? type : "");
    for (size_t j = 0; j < i; j++)
      if (proc->rlimits[j].resource == res)
        return bothy_error_set(err, 0, "'%s': duplicate rlimit '%s'", ctx, type);
    if (soft > hard)
      return bothy_error_set(err, 0, "'%s': soft limit %llu is above hard limit %llu", ctx,
                             (unsigned long long) soft, (unsigned long long) hard);
    proc->rlimits[i] = (struct bothy_rlimit){ res, soft, hard };
  }
  return 0;
}

int bothy_process_from_json(json_t *p, const char *ctx, struct bothy_process *proc,
                            bothy_error_t *err)
{
  memset(proc, 0, sizeof(*proc));
  proc->umask = BOTHY_UNSET;
  proc->oom_score_adj = BOTHY_UNSET;
  if (!json_is_object(p))
    return bothy_error_set(err, 0, "'%s' must be an object", ctx);
  json_t *cs = NULL, *user = NULL, *caps = NULL;
  if (bothy_json_bool(p, "terminal", ctx, &proc->terminal, err) < 0 ||
      bothy_json_strdup(p, "cwd", ctx, &proc->cwd, err) < 0 ||
      bothy_json_strv(p, "env", ctx, &proc->env, err) < 0 ||
      bothy_json_strv(p, "args", ctx, &proc->args, err) < 0 ||
      bothy_json_bool(p, "noNewPrivileges", ctx, &proc->no_new_privileges, err) < 0 ||
      bothy_json_strdup(p, "apparmorProfile", ctx, &proc->apparmor_profile, err) < 0 ||
      bothy_json_strdup(p, "selinuxLabel", ctx, &proc->selinux_label, err) < 0 ||
      bothy_json_int64(p, "oomScoreAdj", ctx, &proc->oom_score_adj, err) < 0 ||
      bothy_json_object(p, "consoleSize", ctx, &cs, err) < 0 ||
      bothy_json_object(p, "user", ctx, &user, err) < 0 ||
      bothy_json_object(p, "capabilities", ctx, &caps, err) < 0)
    return -1;
  if (!proc->cwd)
    return bothy_error_set(err, 0, "'%s.cwd' is required", ctx);
  if (proc->cwd[0] != '/')
    return bothy_error_set(err, 0, "'%s.cwd' must be an absolute path, not '%s'", ctx, proc->cwd);
  if (!proc->args || !proc->args[0])
    return bothy_error_set(err, 0, "'%s.args' must not be empty", ctx);
  if (proc->oom_score_adj != BOTHY_UNSET &&
      (proc->oom_score_adj < -1000 || proc->oom_score_adj > 1000))
    return bothy_error_set(err, 0, "'%s.oomScoreAdj' must be between -1000 and 1000", ctx);
  if (cs) {
    uint64_t h = 0, w = 0;
    if (bothy_json_uint64(cs, "height", "process.consoleSize", &h, err) < 0 ||
        bothy_json_uint64(cs, "width", "process.consoleSize", &w, err) < 0)
      return -1;
    proc->console_height = (unsigned) h;
    proc->console_width = (unsigned) w;
  }
  if (user) {
    uint64_t uid = 0, gid = 0;
    int64_t um = BOTHY_UNSET;
    json_t *ag = NULL;
    if (bothy_json_uint64(user, "uid", "process.user", &uid, err) < 0 ||
        bothy_json_uint64(user, "gid", "process.user", &gid, err) < 0 ||
        bothy_json_int64(user, "umask", "process.user", &um, err) < 0 ||
        bothy_json_array(user, "additionalGids", "process.user", &ag, err) < 0)
      return -1;
    if (uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1)
      return bothy_error_set(err, 0, "'process.user': uid or gid out of range");
    proc->uid = (uid_t) uid;
    proc->gid = (gid_t) gid;
    if (um != BOTHY_UNSET && (um < 0 || um > 07777))
      return bothy_error_set(err, 0, "'process.user.umask' out of range");
    proc->umask = um;
    if (ag) {
      proc->n_additional_gids = json_array_size(ag);
      proc->additional_gids = xcalloc(proc->n_additional_gids + 1, sizeof(gid_t));
      for (size_t i = 0; i < proc->n_additional_gids; i++) {
        json_t *g = json_array_get(ag, i);
        if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) >= UINT32_MAX)
          return bothy_error_set(err, 0, "'process.user.additionalGids[%zu]' must be a gid", i);
        proc->additional_gids[i] = (gid_t) json_integer_value(g);
      }
    }
  }
  if (caps) {
    proc->has_caps = true;
    const char *c = "process.capabilities";
    if (bothy_json_strv(caps, "bounding", c, &proc->caps.bounding, err) < 0 ||
        bothy_json_strv(caps, "effective", c, &proc->caps.effective, err) < 0 ||
        bothy_json_strv(caps, "inheritable", c, &proc->caps.inheritable, err) < 0 ||
        bothy_json_strv(caps, "permitted", c, &proc->caps.permitted, err) < 0 ||
        bothy_json_strv(caps, "ambient", c, &proc->caps.ambient, err) < 0)
      return -1;
  }
  return parse_rlimits(p, proc, err);
}

void bothy_process_done(struct bothy_process *p)
{
  free(p->cwd);
  strv_free(p->env);
  strv_free(p->args);
  free(p->additional_gids);
  strv_free(p->caps.bounding);
  strv_free(p->caps.effective);
  strv_free(p->caps.inheritable);
  strv_free(p->caps.permitted);
  strv_free(p->caps.ambient);
  free(p->rlimits);
  free(p->apparmor_profile);
  free(p->selinux_label);
  memset(p, 0, sizeof(*p));
}

static const char *hook_keys[_BOTHY_HOOK_MAX] = {
  [BOTHY_HOOK_PRESTART] = "prestart",
  [BOTHY_HOOK_CREATE_RUNTIME] = "createRuntime",
  [BOTHY_HOOK_CREATE_CONTAINER] = "createContainer",
  [BOTHY_HOOK_START_CONTAINER] = "startContainer",
  [BOTHY_HOOK_POSTSTART] = "poststart",
  [BOTHY_HOOK_POSTSTOP] = "poststop",
};

const char *bothy_hook_kind_name(enum bothy_hook_kind k)
{
  return (k >= 0 && k < _BOTHY_HOOK_MAX) ? hook_keys[k] : "unknown";
}

static int parse_hooks(struct bothy_spec *s, bothy_error_t *err)
{
  json_t *hooks = NULL;
  int r = bothy_json_object(s->json, "hooks", NULL, &hooks, err);
  if (r <= 0)
    return r;
  for (int k = 0; k < _BOTHY_HOOK_MAX; k++) {
    json_t *arr = NULL;
    if (bothy_json_array(hooks, hook_keys[k], "hooks", &arr, err) < 0)
      return -1;
    if (!arr)
      continue;
    size_t n = json_array_size(arr);
    s->hooks[k] = xcalloc(n + 1, sizeof(struct bothy_hook));
    s->n_hooks[k] = n;
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(arr, i);
      struct bothy_hook *h = &s->hooks[k][i];
      _cleanup_free_ char *ctx = xasprintf("hooks.%s[%zu]", hook_keys[k], i);
      int64_t timeout = 0;
      if (!json_is_object(e))
        return bothy_error_set(err, 0, "'%s' must be an object", ctx);
      if (bothy_json_strdup(e, "path", ctx, &h->path, err) < 0 ||
          bothy_json_strv(e, "args", ctx, &h->args, err) < 0 ||
          bothy_json_strv(e, "env", ctx, &h->env, err) < 0 ||
          bothy_json_int64(e, "timeout", ctx, &timeout, err) < 0)
        return -1;
      if (!h->path || h->path[0] != '/')
        return bothy_error_set(err, 0, "'%s.path' must be an absolute path", ctx);
      if (timeout < 0 || timeout > INT32_MAX)
        return bothy_error_set(err, 0, "'%s.timeout' must be a positive number of seconds", ctx);
      if (json_object_get(e, "timeout") && timeout == 0)
        return bothy_error_set(err, 0, "'%s.timeout' must be a positive number of seconds", ctx);
      h->timeout = (int) timeout;
    }
  }
  return 0;
}

static int parse_device_rules(json_t *res, struct bothy_resources *r, bothy_error_t *err)
{
  json_t *arr = NULL;
  int k = bothy_json_array(res, "devices", "linux.resources", &arr, err);
  if (k <= 0)
    return k;
  r->n_devices = json_array_size(arr);
  r->devices = xcalloc(r->n_devices + 1, sizeof(*r->devices));
  for (size_t i = 0; i < r->n_devices; i++) {
    json_t *e = json_array_get(arr, i);
    struct bothy_device_rule *d = &r->devices[i];
    _cleanup_free_ char *ctx = xasprintf("linux.resources.devices[%zu]", i);
    const char *type = NULL;
    d->major = d->minor = -1;
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s' must be an object", ctx);
    if (bothy_json_bool(e, "allow", ctx, &d->allow, err) < 0 ||
        bothy_json_string(e, "type", ctx, &type, err) < 0 ||
        bothy_json_int64(e, "major", ctx, &d->major, err) < 0 ||
        bothy_json_int64(e, "minor", ctx, &d->minor, err) < 0 ||
        bothy_json_strdup(e, "access", ctx, &d->access, err) < 0)
      return -1;
    d->type = type ? type[0] : 'a';
    if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
      return bothy_error_set(err, 0, "'%s.type' must be 'a', 'c' or 'b', not '%s'", ctx, type);
    if (d->access && (strspn(d->access, "rwm") != strlen(d->access)))
      return bothy_error_set(err, 0, "'%s.access' must be made of 'r', 'w', 'm', not '%s'", ctx,
                             d->access);
  }
  return 0;
}

static int parse_throttle(json_t *blkio, const char *key, struct bothy_throttle_device **ret,
                          size_t *ret_n, bothy_error_t *err)
{
  json_t *arr = NULL;
  int k = bothy_json_array(blkio, key, "linux.resources.blockIO", &arr, err);
  if (k <= 0)
    return k;
  size_t n = json_array_size(arr);
  struct bothy_throttle_device *t = xcalloc(n + 1, sizeof(*t));
  *ret = t;
  *ret_n = n;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    _cleanup_free_ char *ctx = xasprintf("linux.resources.blockIO.%s[%zu]", key, i);
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s' must be an object", ctx);
    if (bothy_json_int64(e, "major", ctx, &t[i].major, err) < 0 ||
        bothy_json_int64(e, "minor", ctx, &t[i].minor, err) < 0 ||
        bothy_json_uint64(e, "rate", ctx, &t[i].rate, err) < 0)
      return -1;
  }
  return 0;
}

static int parse_resources(json_t *res, struct bothy_resources *r, bothy_error_t *err)
{
  json_t *mem = NULL, *cpu = NULL, *pids = NULL, *blkio = NULL, *huge = NULL, *netcls = NULL,
         *netprio = NULL;
  const char *c = "linux.resources";
  if (parse_device_rules(res, r, err) < 0 || bothy_json_object(res, "memory", c, &mem, err) < 0 ||
      bothy_json_object(res, "cpu", c, &cpu, err) < 0 ||
      bothy_json_object(res, "pids", c, &pids, err) < 0 ||
      bothy_json_object(res, "blockIO", c, &blkio, err) < 0 ||
      bothy_json_array(res, "hugepageLimits", c, &huge, err) < 0 ||
      bothy_json_object(res, "network", c, &netcls, err) < 0 ||
      bothy_json_object(res, "unified", c, &r->unified, err) < 0)
    return -1;
  if (mem) {
    const char *m = "linux.resources.memory";
    bool b;
    int k;
    if (bothy_json_int64(mem, "limit", m, &r->memory_limit, err) < 0 ||
        bothy_json_int64(mem, "reservation", m, &r->memory_reservation, err) < 0 ||
        bothy_json_int64(mem, "swap", m, &r->memory_swap, err) < 0 ||
        bothy_json_int64(mem, "kernel", m, &r->memory_kernel, err) < 0 ||
        bothy_json_int64(mem, "kernelTCP", m, &r->memory_kernel_tcp, err) < 0)
      return -1;
    uint64_t sw;
    k = bothy_json_uint64(mem, "swappiness", m, &sw, err);
    if (k < 0)
      return -1;
    if (k > 0) {
      if (sw > 100)
        return bothy_error_set(err, 0, "'%s.swappiness' must be between 0 and 100", m);
      r->memory_swappiness = (int64_t) sw;
    }
    if ((k = bothy_json_bool(mem, "disableOOMKiller", m, &b, err)) < 0)
      return -1;
    if (k > 0)
      r->disable_oom_killer = b;
    if ((k = bothy_json_bool(mem, "useHierarchy", m, &b, err)) < 0)
      return -1;
    if (k > 0)
      r->use_hierarchy = b;
    if ((k = bothy_json_bool(mem, "checkBeforeUpdate", m, &b, err)) < 0)
      return -1;
    if (k > 0)
      r->check_before_update = b;
    if (r->memory_limit != BOTHY_UNSET && r->memory_limit < -1)
      return bothy_error_set(err, 0, "'%s.limit' must be -1 or a number of bytes", m);
    if (r->memory_swap != BOTHY_UNSET && r->memory_limit != BOTHY_UNSET && r->memory_swap > 0 &&
        r->memory_limit > 0 && r->memory_swap < r->memory_limit)
      return bothy_error_set(err, 0, "'%s.swap' (memory+swap) must not be below '%s.limit'", m, m);
  }
  if (cpu) {
    const char *m = "linux.resources.cpu";
    uint64_t u;
    int k;
    if ((k = bothy_json_uint64(cpu, "shares", m, &u, err)) < 0)
      return -1;
    if (k > 0)
      r->cpu_shares = (int64_t) u;
    if ((k = bothy_json_uint64(cpu, "period", m, &u, err)) < 0)
      return -1;
    if (k > 0)
      r->cpu_period = (int64_t) u;
    if ((k = bothy_json_uint64(cpu, "realtimePeriod", m, &u, err)) < 0)
      return -1;
    if (k > 0)
      r->cpu_realtime_period = (int64_t) u;
    if ((k = bothy_json_uint64(cpu, "burst", m, &u, err)) < 0)
      return -1;
    if (k > 0)
      r->cpu_burst = (int64_t) u;
    if (bothy_json_int64(cpu, "quota", m, &r->cpu_quota, err) < 0 ||
        bothy_json_int64(cpu, "realtimeRuntime", m, &r->cpu_realtime_runtime, err) < 0 ||
        bothy_json_int64(cpu, "idle", m, &r->cpu_idle, err) < 0 ||
        bothy_json_strdup(cpu, "cpus", m, &r->cpu_cpus, err) < 0 ||
        bothy_json_strdup(cpu, "mems", m, &r->cpu_mems, err) < 0)
      return -1;
  }
  if (pids && bothy_json_int64(pids, "limit", "linux.resources.pids", &r->pids_limit, err) < 0)
    return -1;
  if (blkio) {
    const char *m = "linux.resources.blockIO";
    uint64_t u;
    int k;
    json_t *wd = NULL;
    if ((k = bothy_json_uint64(blkio, "weight", m, &u, err)) < 0)
      return -1;
    if (k > 0)
      r->blkio_weight = (int64_t) u;
    if ((k = bothy_json_uint64(blkio, "leafWeight", m, &u, err)) < 0)
      return -1;
    if (k > 0)
      r->blkio_leaf_weight = (int64_t) u;
    if (bothy_json_array(blkio, "weightDevice", m, &wd, err) < 0)
      return -1;
    if (wd) {
      size_t n = json_array_size(wd);
      r->blkio_weight_device = xcalloc(n + 1, sizeof(*r->blkio_weight_device));
      r->n_blkio_weight_device = n;
      for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(wd, i);
        struct bothy_weight_device *d = &r->blkio_weight_device[i];
        _cleanup_free_ char *ctx = xasprintf("%s.weightDevice[%zu]", m, i);
        d->weight = d->leaf_weight = BOTHY_UNSET;
        if (!json_is_object(e))
          return bothy_error_set(err, 0, "'%s' must be an object", ctx);
        if (bothy_json_int64(e, "major", ctx, &d->major, err) < 0 ||
            bothy_json_int64(e, "minor", ctx, &d->minor, err) < 0 ||
            bothy_json_int64(e, "weight", ctx, &d->weight, err) < 0 ||
            bothy_json_int64(e, "leafWeight", ctx, &d->leaf_weight, err) < 0)
          return -1;
      }
    }
    if (parse_throttle(blkio, "throttleReadBpsDevice", &r->throttle_read_bps,
                       &r->n_throttle_read_bps, err) < 0 ||
        parse_throttle(blkio, "throttleWriteBpsDevice", &r->throttle_write_bps,
                       &r->n_throttle_write_bps, err) < 0 ||
        parse_throttle(blkio, "throttleReadIOPSDevice", &r->throttle_read_iops,
                       &r->n_throttle_read_iops, err) < 0 ||
        parse_throttle(blkio, "throttleWriteIOPSDevice", &r->throttle_write_iops,
                       &r->n_throttle_write_iops, err) < 0)
      return -1;
  }
  if (huge) {
    size_t n = json_array_size(huge);
    r->hugepage_limits = xcalloc(n + 1, sizeof(*r->hugepage_limits));
    r->n_hugepage_limits = n;
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(huge, i);
      _cleanup_free_ char *ctx = xasprintf("linux.resources.hugepageLimits[%zu]", i);
      if (!json_is_object(e))
        return bothy_error_set(err, 0, "'%s' must be an object", ctx);
      if (bothy_json_strdup(e, "pageSize", ctx, &r->hugepage_limits[i].page_size, err) < 0 ||
          bothy_json_uint64(e, "limit", ctx, &r->hugepage_limits[i].limit, err) < 0)
        return -1;
      if (!r->hugepage_limits[i].page_size)
        return bothy_error_set(err, 0, "'%s.pageSize' is required", ctx);
    }
  }
  if (netcls) {
    uint64_t u;
    int k = bothy_json_uint64(netcls, "classID", "linux.resources.network", &u, err);
    if (k < 0 ||
        bothy_json_array(netcls, "priorities", "linux.resources.network", &netprio, err) < 0)
      return -1;
    if (k > 0)
      r->net_cls_classid = (int64_t) u;
    r->net_prio_ifpriomap = netprio;
  }
  if (r->unified) {
    const char *key;
    json_t *v;
    json_object_foreach (r->unified, key, v)
      if (!json_is_string(v))
        return bothy_error_set(err, 0, "'linux.resources.unified.%s' must be a string", key);
  }
  return 0;
}

static int parse_seccomp(json_t *o, struct bothy_seccomp **ret, bothy_error_t *err)
{
  struct bothy_seccomp *sc = xmalloc0(sizeof(*sc));
  *ret = sc;
  const char *c = "linux.seccomp";
  json_t *arr = NULL;
  sc->default_errno_ret = BOTHY_UNSET;
  if (bothy_json_strdup(o, "defaultAction", c, &sc->default_action, err) < 0 ||
      bothy_json_int64(o, "defaultErrnoRet", c, &sc->default_errno_ret, err) < 0 ||
      bothy_json_strv(o, "architectures", c, &sc->architectures, err) < 0 ||
      bothy_json_strv(o, "flags", c, &sc->flags, err) < 0 ||
      bothy_json_strdup(o, "listenerPath", c, &sc->listener_path, err) < 0 ||
      bothy_json_strdup(o, "listenerMetadata", c, &sc->listener_metadata, err) < 0 ||
      bothy_json_array(o, "syscalls", c, &arr, err) < 0)
    return -1;
  if (!sc->default_action)
    return bothy_error_set(err, 0, "'linux.seccomp.defaultAction' is required");
  size_t n = arr ? json_array_size(arr) : 0;
  sc->syscalls = xcalloc(n + 1, sizeof(*sc->syscalls));
  sc->n_syscalls = n;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(arr, i);
    struct bothy_seccomp_syscall *s = &sc->syscalls[i];
    _cleanup_free_ char *ctx = xasprintf("linux.seccomp.syscalls[%zu]", i);
    json_t *args = NULL;
    s->errno_ret = BOTHY_UNSET;
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s' must be an object", ctx);
    if (bothy_json_strv(e, "names", ctx, &s->names, err) < 0 ||
        bothy_json_strdup(e, "action", ctx, &s->action, err) < 0 ||
        bothy_json_int64(e, "errnoRet", ctx, &s->errno_ret, err) < 0 ||
        bothy_json_array(e, "args", ctx, &args, err) < 0)
      return -1;
    if (!s->action)
      return bothy_error_set(err, 0, "'%s.action' is required", ctx);
    size_t na = args ? json_array_size(args) : 0;
    s->args = xcalloc(na + 1, sizeof(*s->args));
    s->n_args = na;
    for (size_t j = 0; j < na; j++) {
      json_t *a = json_array_get(args, j);
      _cleanup_free_ char *actx = xasprintf("%s.args[%zu]", ctx, j);
      uint64_t idx = 0;
      if (!json_is_object(a))
        return bothy_error_set(err, 0, "'%s' must be an object", actx);
      if (bothy_json_uint64(a, "index", actx, &idx, err) < 0 ||
          bothy_json_uint64(a, "value", actx, &s->args[j].value, err) < 0 ||
          bothy_json_uint64(a, "valueTwo", actx, &s->args[j].value_two, err) < 0 ||
          bothy_json_strdup(a, "op", actx, &s->args[j].op, err) < 0)
        return -1;
      if (idx > 5)
        return bothy_error_set(err, 0, "'%s.index' must be between 0 and 5", actx);
      if (!s->args[j].op)
        return bothy_error_set(err, 0, "'%s.op' is required", actx);
      s->args[j].index = (unsigned) idx;
    }
  }
  return 0;
}

static void seccomp_free(struct bothy_seccomp *sc)
{
  if (!sc)
    return;
  free(sc->default_action);
  strv_free(sc->architectures);
  strv_free(sc->flags);
  free(sc->listener_path);
  free(sc->listener_metadata);
  for (size_t i = 0; i < sc->n_syscalls; i++) {
    strv_free(sc->syscalls[i].names);
    free(sc->syscalls[i].action);
    for (size_t j = 0; j < sc->syscalls[i].n_args; j++)
      free(sc->syscalls[i].args[j].op);
    free(sc->syscalls[i].args);
  }
  free(sc->syscalls);
  free(sc);
}

/* Only namespaced sysctls, and only with their namespace (runc's rules):
 * setting one that is not would change the host. */
static int check_sysctl(const struct bothy_spec *s, const char *key, bothy_error_t *err)
{
  static const char *const ipc[] = { "kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                     "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                     "kernel.shmmni", "kernel.shm_rmid_forced" };
  for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
    if (streq(key, ipc[i])) {
      if (!s->namespaces[BOTHY_NS_IPC].enabled)
        return bothy_error_set(err, 0, "sysctl '%s' is not allowed in the host's IPC namespace",
                               key);
      return 0;
    }
  if (strncmp(key, "fs.mqueue.", 10) == 0) {
    if (!s->namespaces[BOTHY_NS_IPC].enabled)
      return bothy_error_set(err, 0, "sysctl '%s' is not allowed in the host's IPC namespace", key);
    return 0;
  }
  if (strncmp(key, "net.", 4) == 0) {
    if (!s->namespaces[BOTHY_NS_NETWORK].enabled)
      return bothy_error_set(err, 0, "sysctl '%s' is not allowed in the host's network namespace",
                             key);
    return 0;
  }
  if (streq(key, "kernel.hostname") || streq(key, "kernel.domainname")) {
    if (!s->namespaces[BOTHY_NS_UTS].enabled)
      return bothy_error_set(err, 0, "sysctl '%s' is not allowed in the host's UTS namespace", key);
    return 0;
  }
  return bothy_error_set(err, 0, "sysctl '%s' is not in a separate kernel namespace", key);
}

static int parse_linux(struct bothy_spec *s, json_t *lx, bothy_error_t *err)
{
  const char *c = "linux";
  json_t *nss = NULL, *um = NULL, *gm = NULL, *devs = NULL, *res = NULL, *sysctl = NULL,
         *seccomp = NULL, *pers = NULL;
  const char *prop = NULL;
  if (bothy_json_array(lx, "namespaces", c, &nss, err) < 0 ||
      bothy_json_array(lx, "uidMappings", c, &um, err) < 0 ||
      bothy_json_array(lx, "gidMappings", c, &gm, err) < 0 ||
      bothy_json_array(lx, "devices", c, &devs, err) < 0 ||
      bothy_json_strdup(lx, "cgroupsPath", c, &s->cgroups_path, err) < 0 ||
      bothy_json_object(lx, "resources", c, &res, err) < 0 ||
      bothy_json_object(lx, "sysctl", c, &sysctl, err) < 0 ||
      bothy_json_object(lx, "seccomp", c, &seccomp, err) < 0 ||
      bothy_json_string(lx, "rootfsPropagation", c, &prop, err) < 0 ||
      bothy_json_strv(lx, "maskedPaths", c, &s->masked_paths, err) < 0 ||
      bothy_json_strv(lx, "readonlyPaths", c, &s->readonly_paths, err) < 0 ||
      bothy_json_strdup(lx, "mountLabel", c, &s->mount_label, err) < 0 ||
      bothy_json_object(lx, "personality", c, &pers, err) < 0)
    return -1;
  for (size_t i = 0; nss && i < json_array_size(nss); i++) {
    json_t *e = json_array_get(nss, i);
    _cleanup_free_ char *ctx = xasprintf("linux.namespaces[%zu]", i);
    const char *type = NULL, *path = NULL;
    if (!json_is_object(e))
      return bothy_error_set(err, 0, "'%s' must be an object", ctx);
    if (bothy_json_string(e, "type", ctx, &type, err) < 0 ||
        bothy_json_string(e, "path", ctx, &path, err) < 0)
      return -1;
    enum bothy_ns_type t = type ? bothy_ns_from_name(type) : _BOTHY_NS_INVALID;
    if (t < 0)
      return bothy_error_set(err, 0, "'%s.type': unknown namespace type '%s'", ctx,
                             type ? type : "");
    if (s->namespaces[t].enabled)
      return bothy_error_set(err, 0, "'%s': namespace '%s' listed twice", ctx, type);
    s->namespaces[t].enabled = true;
    if (path && *path) {
      if (path[0] != '/')
        return bothy_error_set(err, 0, "'%s.path' must be an absolute path, not '%s'", ctx, path);
      s->namespaces[t].path = xstrdup(path);
    }
  }
  if (parse_id_mappings(um, "linux.uidMappings", &s->uid_mappings, &s->n_uid_mappings, err) < 0 ||
      parse_id_mappings(gm, "linux.gidMappings", &s->gid_mappings, &s->n_gid_mappings, err) < 0)
    return -1;
  if (s->namespaces[BOTHY_NS_USER].enabled && !s->namespaces[BOTHY_NS_USER].path &&
      (!s->n_uid_mappings || !s->n_gid_mappings))
    return bothy_error_set(err, 0,
                           "a new user namespace needs 'linux.uidMappings' and "
                           "'linux.gidMappings'");
  if ((s->n_uid_mappings || s->n_gid_mappings) && !s->namespaces[BOTHY_NS_USER].enabled)
    return bothy_error_set(err, 0, "'linux.uidMappings' is set but there is no user namespace");
  if (devs) {
    s->n_devices = json_array_size(devs);
    s->devices = xcalloc(s->n_devices + 1, sizeof(*s->devices));
    for (size_t i = 0; i < s->n_devices; i++) {
      json_t *e = json_array_get(devs, i);
      struct bothy_device *d = &s->devices[i];
      _cleanup_free_ char *ctx = xasprintf("linux.devices[%zu]", i);
      const char *type = NULL;
      d->file_mode = d->uid = d->gid = BOTHY_UNSET;
      if (!json_is_object(e))
        return bothy_error_set(err, 0, "'%s' must be an object", ctx);
      if (bothy_json_strdup(e, "path", ctx, &d->path, err) < 0 ||
          bothy_json_string(e, "type", ctx, &type, err) < 0 ||
          bothy_json_int64(e, "major", ctx, &d->major, err) < 0 ||
          bothy_json_int64(e, "minor", ctx, &d->minor, err) < 0 ||
          bothy_json_int64(e, "fileMode", ctx, &d->file_mode, err) < 0 ||
          bothy_json_int64(e, "uid", ctx, &d->uid, err) < 0 ||
          bothy_json_int64(e, "gid", ctx, &d->gid, err) < 0)
        return -1;
      if (!d->path || d->path[0] != '/')
        return bothy_error_set(err, 0, "'%s.path' must be an absolute path", ctx);
      if (!type || strlen(type) != 1 || !strchr("cbup", type[0]))
        return bothy_error_set(err, 0, "'%s.type' must be one of c, b, u, p", ctx);
      d->type = type[0];
    }
  }
  if (res) {
    s->has_resources = true;
    if (parse_resources(res, &s->resources, err) < 0)
      return -1;
  }
  if (sysctl) {
    const char *key;
    json_t *v;
    s->sysctl = xcalloc(json_object_size(sysctl) + 1, sizeof(*s->sysctl));
    json_object_foreach (sysctl, key, v) {
      if (!json_is_string(v))
        return bothy_error_set(err, 0, "'linux.sysctl.%s' must be a string", key);
      if (strstr(key, "..") || key[0] == '/' || key[0] == '.')
        return bothy_error_set(err, 0, "'linux.sysctl': invalid key '%s'", key);
      s->sysctl[s->n_sysctl].key = xstrdup(key);
      s->sysctl[s->n_sysctl].value = xstrdup(json_string_value(v));
      s->n_sysctl++;
    }
  }
  for (size_t i = 0; i < s->n_sysctl; i++)
    if (check_sysctl(s, s->sysctl[i].key, err) < 0)
      return -1;
  if (seccomp && parse_seccomp(seccomp, &s->seccomp, err) < 0)
    return -1;
  if (prop && *prop) {
    s->rootfs_propagation = propagation_from_name(prop);
    if (!s->rootfs_propagation)
      return bothy_error_set(err, 0, "'linux.rootfsPropagation': unknown value '%s'", prop);
  }
  if (pers &&
      bothy_json_strdup(pers, "domain", "linux.personality", &s->personality_domain, err) < 0)
    return -1;
  return 0;
}

static void resources_init(struct bothy_resources *r)
{
  r->memory_limit = r->memory_reservation = r->memory_swap = BOTHY_UNSET;
  r->memory_kernel = r->memory_kernel_tcp = r->memory_swappiness = BOTHY_UNSET;
  r->disable_oom_killer = r->use_hierarchy = r->check_before_update = -1;
  r->cpu_shares = r->cpu_quota = r->cpu_period = r->cpu_burst = BOTHY_UNSET;
  r->cpu_realtime_runtime = r->cpu_realtime_period = r->cpu_idle = BOTHY_UNSET;
  r->pids_limit = BOTHY_UNSET;
  r->blkio_weight = r->blkio_leaf_weight = BOTHY_UNSET;
  r->net_cls_classid = BOTHY_UNSET;
}

int bothy_spec_from_json(json_t *json, struct bothy_spec **ret, bothy_error_t *err)
{
  _cleanup_spec_ struct bothy_spec *s = xmalloc0(sizeof(*s));
  s->json = json;
  resources_init(&s->resources);
  if (!json_is_object(json))
    return bothy_error_set(err, 0, "the configuration must be a JSON object");
  json_t *root = NULL, *process = NULL, *lx = NULL;
  if (bothy_json_strdup(json, "ociVersion", NULL, &s->oci_version, err) < 0 ||
      bothy_json_object(json, "root", NULL, &root, err) < 0 ||
      bothy_json_object(json, "process", NULL, &process, err) < 0 ||
      bothy_json_strdup(json, "hostname", NULL, &s->hostname, err) < 0 ||
      bothy_json_strdup(json, "domainname", NULL, &s->domainname, err) < 0 ||
      bothy_json_object(json, "annotations", NULL, &s->annotations, err) < 0 ||
      bothy_json_object(json, "linux", NULL, &lx, err) < 0)
    return -1;
  if (!s->oci_version)
    return bothy_error_set(err, 0, "'ociVersion' is required");
  if (strncmp(s->oci_version, "1.", 2) != 0)
    return bothy_error_set(err, 0, "unsupported 'ociVersion' '%s'", s->oci_version);
  if (!root)
    return bothy_error_set(err, 0, "'root' is required");
  if (bothy_json_strdup(root, "path", "root", &s->root_path, err) < 0 ||
      bothy_json_bool(root, "readonly", "root", &s->root_readonly, err) < 0)
    return -1;
  if (!s->root_path || !*s->root_path)
    return bothy_error_set(err, 0, "'root.path' is required");
  if (process) {
    s->has_process = true;
    if (bothy_process_from_json(process, "process", &s->process, err) < 0)
      return -1;
  }
  if (parse_mounts(s, err) < 0 || parse_hooks(s, err) < 0)
    return -1;
  if (lx && parse_linux(s, lx, err) < 0)
    return -1;
  if (s->hostname && *s->hostname && !s->namespaces[BOTHY_NS_UTS].enabled)
    return bothy_error_set(err, 0, "'hostname' needs a new UTS namespace");
  *ret = TAKE_PTR(s);
  return 0;
}

int bothy_spec_load(const char *path, struct bothy_spec **ret, bothy_error_t *err)
{
  json_t *json = NULL;
  if (bothy_json_load_file(path, &json, err) < 0)
    return -1;
  return bothy_spec_from_json(json, ret, err);
}

static void hook_free(struct bothy_hook *h)
{
  free(h->path);
  strv_free(h->args);
  strv_free(h->env);
}

struct bothy_spec *bothy_spec_free(struct bothy_spec *s)
{
  if (!s)
    return NULL;
  json_decref(s->json);
  free(s->oci_version);
  free(s->root_path);
  free(s->hostname);
  free(s->domainname);
  bothy_process_done(&s->process);
  for (size_t i = 0; i < s->n_mounts; i++) {
    struct bothy_mount *m = &s->mounts[i];
    free(m->destination);
    free(m->type);
    free(m->source);
    strv_free(m->options);
    free(m->data);
    free(m->uid_mappings);
    free(m->gid_mappings);
  }
  free(s->mounts);
  for (int k = 0; k < _BOTHY_HOOK_MAX; k++) {
    for (size_t i = 0; i < s->n_hooks[k]; i++)
      hook_free(&s->hooks[k][i]);
    free(s->hooks[k]);
  }
  for (int t = 0; t < _BOTHY_NS_MAX; t++)
    free(s->namespaces[t].path);
  free(s->uid_mappings);
  free(s->gid_mappings);
  for (size_t i = 0; i < s->n_devices; i++)
    free(s->devices[i].path);
  free(s->devices);
  free(s->cgroups_path);
  struct bothy_resources *r = &s->resources;
  for (size_t i = 0; i < r->n_devices; i++)
    free(r->devices[i].access);
  free(r->devices);
  free(r->cpu_cpus);
  free(r->cpu_mems);
  free(r->blkio_weight_device);
  free(r->throttle_read_bps);
  free(r->throttle_write_bps);
  free(r->throttle_read_iops);
  free(r->throttle_write_iops);
  for (size_t i = 0; i < r->n_hugepage_limits; i++)
    free(r->hugepage_limits[i].page_size);
  free(r->hugepage_limits);
  for (size_t i = 0; i < s->n_sysctl; i++) {
    free(s->sysctl[i].key);
    free(s->sysctl[i].value);
  }
  free(s->sysctl);
  seccomp_free(s->seccomp);
  strv_free(s->masked_paths);
  strv_free(s->readonly_paths);
  free(s->mount_label);
  free(s->personality_domain);
  free(s);
  return NULL;
}
