/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/images.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/auth.h"
#include "image/layer.h"
#include "image/reference.h"
#include "image/registry.h"
#include "image/regconf.h"

#define CONFIG_MAX   (8u * 1024 * 1024)
#define MANIFEST_MAX (4u * 1024 * 1024)

/* The layers are unrelated trees: FS_TOPDIR_FL (chattr +T) tells ext4's
 * Orlov allocator to spread the directories made in it over the disk, as it
 * does for those in the root of a filesystem, instead of packing each new
 * layer next to the ones before. This matters for pulls: ext4 without a
 * journal avoids reusing an inode freed less than 60 s ago (300 s more while
 * its inode table block is dirty, ialloc.c recently_deleted()), and it checks
 * every such inode of the group from its first one again for each new inode.
 * A layer unpacked where a removed one was (a re-pull, a prune and a pull)
 * paid that for each of its thousands of files: a Debian base layer pulled
 * right after removing the previous copy took 7 s instead of 1.4 s. Other
 * filesystems ignore the flag or refuse it (ENOTTY, EOPNOTSUPP): a hint
 * only, so failures are ignored. */
static void mark_topdir(int dfd)
{
  int flags = 0;
  if (ioctl(dfd, FS_IOC_GETFLAGS, &flags) < 0 || (flags & FS_TOPDIR_FL))
    return;
  flags |= FS_TOPDIR_FL;
  if (ioctl(dfd, FS_IOC_SETFLAGS, &flags) < 0)
    log_debug("images: cannot mark the layer store as a top directory: %s, ignoring",
              strerror(errno));
}

int bothy_images_open(const char *root, struct bothy_images **ret, bothy_error_t *err)
{
  _cleanup_images_ struct bothy_images *i = xmalloc0(sizeof(*i));
  i->layers_fd = -1;
  i->root = xstrdup(root);
  if (bothy_mkdir_p(root, 0700, err) < 0)
    return -1;
  _cleanup_free_ char *store = xasprintf("%s/store", root);
  if (bothy_store_open(store, &i->store, err) < 0)
    return -1;
  i->layers_dir = xasprintf("%s/layers", root);
  if (bothy_mkdir_p(i->layers_dir, 0700, err) < 0)
    return -1;
  i->layers_fd = open(i->layers_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (i->layers_fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", i->layers_dir);
  mark_topdir(i->layers_fd);
  *ret = TAKE_PTR(i);
  return 0;
}

struct bothy_images *bothy_images_free(struct bothy_images *i)
{
  if (!i)
    return NULL;
  bothy_store_free(i->store);
  safe_close(i->layers_fd);
  free(i->layers_dir);
  free(i->root);
  free(i);
  return NULL;
}

char *bothy_images_layer_dir(struct bothy_images *imgs, const char *diff_id)
{
  const char *hex = bothy_digest_hex(diff_id);
  if (!hex)
    return NULL;
  struct stat st;
  if (fstatat(imgs->layers_fd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
    return NULL;
  return xasprintf("%s/%s", imgs->layers_dir, hex);
}

/* ---- pull ---------------------------------------------------------------- */

struct fetch {
  struct bothy_store_writer *w;
  int pipe_fd;     /* to the unpacker */
  int progress_fd; /* to the parent: struct progress_msg records, or -1 */
  uint32_t index;
  uint64_t done, reported;
};

/* A worker's progress, written whole (pipe writes this small are atomic). */
struct progress_msg {
  uint32_t index;
  uint64_t done;
};

static int fetch_sink(void *data, const void *buf, size_t len, bothy_error_t *err)
{
  struct fetch *f = data;
  if (bothy_store_writer_write(f->w, buf, len, err) < 0)
    return -1;
  int r = bothy_write_all(f->pipe_fd, buf, len);
  if (r < 0)
    return bothy_error_set(err, -r, "the layer unpacker stopped reading");
  f->done += len;
  if (f->progress_fd >= 0 && f->done - f->reported >= 256 * 1024) {
    struct progress_msg m = { f->index, f->done };
    (void) !write(f->progress_fd, &m, sizeof(m));
    f->reported = f->done;
  }
  return 0;
}

/* Unpacks what arrives on fd into ROOT/layers/.tmp-PID, checks its diff_id
 * (when expected) and renames it into place. */
static int unpack_layer(struct bothy_images *imgs, int fd, const char *diff_id, char *ret_diff_id,
                        bothy_error_t *err)
{
  _cleanup_free_ char *tmp = xasprintf(".tmp-%d", (int) getpid());
  bothy_rm_rf_at(imgs->layers_fd, tmp, NULL);
  if (mkdirat(imgs->layers_fd, tmp, 0755) < 0)
    return bothy_error_errno(err, "cannot create '%s/%s'", imgs->layers_dir, tmp);
  _cleanup_close_ int dfd = openat(imgs->layers_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  /* Image content is trusted no further than the policy says: no device
   * nodes, setuid bits kept (images rely on them: su, ping). */
  struct bothy_layer_policy pol = { .allow_devices = false, .allow_setuid = true };
  struct bothy_layer_result res;
  int r = dfd < 0 ? bothy_error_errno(err, "cannot open '%s'", tmp)
                  : bothy_layer_unpack(fd, dfd, &pol, &res, err);
  if (r == 0 && diff_id && !streq(res.diff_id, diff_id))
    r = bothy_error_set(err, EBADMSG, "layer content is %s, the image config says %s", res.diff_id,
                        diff_id);
  if (r == 0 &&
      renameat(imgs->layers_fd, tmp, imgs->layers_fd, bothy_digest_hex(res.diff_id)) < 0) {
    if (errno == EEXIST || errno == ENOTEMPTY)
      r = 0; /* unpacked meanwhile by another command: same content */
    else
      r = bothy_error_errno(err, "cannot move layer %s into place", res.diff_id);
  }
  bothy_rm_rf_at(imgs->layers_fd, tmp, NULL);
  if (r == 0 && ret_diff_id)
    memcpy(ret_diff_id, res.diff_id, BOTHY_DIGEST_MAX);
  return r;
}

int bothy_images_add_layer(struct bothy_images *imgs, int fd, const char *expected_diff_id,
                           char *ret_diff_id, bothy_error_t *err)
{
  if (expected_diff_id) {
    _cleanup_free_ char *have = bothy_images_layer_dir(imgs, expected_diff_id);
    if (have) {
      if (ret_diff_id)
        snprintf(ret_diff_id, BOTHY_DIGEST_MAX, "%s", expected_diff_id);
      return 0;
    }
  }
  return unpack_layer(imgs, fd, expected_diff_id, ret_diff_id, err);
}

struct layer_job {
  const struct bothy_descriptor *desc;
  const char *diff_id;
  bool had_blob, had_layer; /* before this pull */
  bool done;
  pid_t pid;    /* while it runs */
  pid_t worker; /* the worker that ran it, 0: none */
  int err_fd;   /* read end: the worker's error message */
};

/* A failed pull takes back what its workers added, so the stores are as
 * they were: also those stopped by SIGTERM when another layer failed, which
 * may have stored their blob already (it goes in before the unpacker ends)
 * and leave their temporary blob file. */
static void undo_layer_jobs(struct bothy_images *imgs, const struct layer_job *jobs, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (jobs[i].worker <= 0)
      continue; /* never started */
    if (!jobs[i].done)
      bothy_store_gc_tmp_of(imgs->store, jobs[i].worker, NULL);
    if (!jobs[i].had_blob)
      bothy_store_blob_delete(imgs->store, jobs[i].desc->digest, NULL);
    if (!jobs[i].had_layer)
      bothy_rm_rf_at(imgs->layers_fd, bothy_digest_hex(jobs[i].diff_id), NULL);
  }
}

/* After a failed download: stops the unpacker and removes what it leaves,
 * its temporary directory, or the layer it finished before the download was
 * found bad. True when the unpacker had failed on its own: its message is
 * the one to give (the download's is then "the layer unpacker stopped
 * reading"). */
static bool stop_unpacker(struct bothy_images *imgs, const struct layer_job *job, pid_t unpacker)
{
  kill(unpacker, SIGKILL);
  int st = bothy_waitpid(unpacker, 0);
  _cleanup_free_ char *tmp = xasprintf(".tmp-%d", (int) unpacker);
  bothy_rm_rf_at(imgs->layers_fd, tmp, NULL);
  if (!job->had_layer)
    bothy_rm_rf_at(imgs->layers_fd, bothy_digest_hex(job->diff_id), NULL);
  return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0;
}

/* One layer, in a child: the download streams into the content store and,
 * through a pipe, into an unpacker process, in one pass. */
_noreturn_ static void layer_worker(struct bothy_images *imgs, const struct bothy_registry_opts *ro,
                                    const char *repo, const struct layer_job *job, int err_fd,
                                    int progress_fd, uint32_t index)
{
  bothy_error_t err = NULL;
  int p[2];
  pid_t unpacker = -1;
  struct bothy_store_writer *w = NULL;
  /* A client of our own: connections inherited from the parent are shared
   * sockets, and two processes talking on one would mix their replies. */
  struct bothy_registry *reg = NULL;
  if (bothy_registry_new(ro, &reg, &err) < 0)
    goto fail;
  if (pipe2(p, O_CLOEXEC) < 0) {
    bothy_error_errno(&err, "cannot create a pipe");
    goto fail;
  }
  unpacker = fork();
  if (unpacker < 0) {
    bothy_error_errno(&err, "cannot fork");
    goto fail;
  }
  if (unpacker == 0) {
    close(p[1]);
    if (unpack_layer(imgs, p[0], job->diff_id, NULL, &err) < 0) {
      dprintf(err_fd, "%s", err->msg);
      _exit(1);
    }
    _exit(0);
  }
  close(p[0]);
  /* Fewer, larger hand-overs to the unpacker (the default is 64 KiB). */
  (void) fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024);
  /* Unhashed: the registry client hashes the very bytes the sink gets, and
   * get_blob fails unless they match the digest and the size. */
  if (bothy_store_writer_new_unhashed(imgs->store, &w, &err) < 0)
    goto fail;
  struct fetch f = { .w = w, .pipe_fd = p[1], .progress_fd = progress_fd, .index = index };
  signal(SIGPIPE, SIG_IGN);
  int r =
      bothy_registry_get_blob(reg, repo, job->desc->digest, job->desc->size, fetch_sink, &f, &err);
  /* The end of the stream only for an unpacker that is to finish: one that
   * got it after a bad download could report its own error instead. */
  if (r == 0)
    close(p[1]);
  /* The blob is whole and verified: into the store now, so that its fsync
   * runs while the unpacker finishes. */
  if (r == 0)
    r = bothy_store_writer_commit(w, job->desc->digest, job->desc->size, NULL, &err);
  if (r < 0) {
    if (stop_unpacker(imgs, job, unpacker)) {
      bothy_store_writer_abort(w);
      _exit(1); /* the unpacker wrote its message */
    }
    goto fail;
  }
  bothy_store_writer_abort(w); /* frees a committed writer */
  int st = bothy_waitpid(unpacker, 0);
  if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    if (!job->had_blob)
      bothy_store_blob_delete(imgs->store, job->desc->digest, NULL);
    _exit(1); /* the unpacker wrote its message */
  }
  _exit(0);
fail:
  bothy_store_writer_abort(w); /* removes the temporary file */
  dprintf(err_fd, "%s", err ? err->msg : "unknown error");
  _exit(1);
}

static int fetch_buffer_sink(void *data, const void *buf, size_t len, bothy_error_t *err)
{
  struct {
    char *buf;
    size_t len;
  } *b = data;
  if (b->len + len > CONFIG_MAX)
    return bothy_error_set(err, EFBIG, "more than %u bytes", CONFIG_MAX);
  b->buf = xrealloc(b->buf, b->len + len + 1);
  memcpy(b->buf + b->len, buf, len);
  b->len += len;
  b->buf[b->len] = '\0';
  return 0;
}

/* The config blob: from the store if present, else fetched (verified by the
 * client) into memory; the caller stores it once the layers are in. */
static int get_config(struct bothy_images *imgs, struct bothy_registry *reg, const char *repo,
                      const struct bothy_descriptor *d, char **ret, size_t *ret_len,
                      bothy_error_t *err)
{
  if (bothy_store_blob_exists(imgs->store, d->digest, NULL) == 1)
    return bothy_store_blob_read(imgs->store, d->digest, CONFIG_MAX, ret, ret_len, err);
  struct {
    char *buf;
    size_t len;
  } b = { NULL, 0 };
  if (bothy_registry_get_blob(reg, repo, d->digest, d->size, fetch_buffer_sink, &b, err) < 0) {
    free(b.buf);
    return -1;
  }
  *ret = b.buf ? b.buf : xstrdup("");
  *ret_len = b.len;
  return 0;
}

/* Reads the workers' progress records and tells the caller's callback. */
static void drain_progress(int fd, struct layer_job *jobs, size_t n,
                           const struct bothy_pull_opts *opts)
{
  struct progress_msg m;
  while (fd >= 0 && read(fd, &m, sizeof(m)) == (ssize_t) sizeof(m))
    if (m.index < n && opts->progress)
      opts->progress(opts->progress_data, jobs[m.index].desc->digest, m.done,
                     jobs[m.index].desc->size);
}

static int run_layer_jobs(struct bothy_images *imgs, const struct bothy_registry_opts *ro,
                          const char *repo, struct layer_job *jobs, size_t n, int parallel,
                          const struct bothy_pull_opts *opts, bothy_error_t *err)
{
  size_t next = 0, running = 0;
  int ret = 0;
  int prog[2] = { -1, -1 };
  if (opts->progress && pipe2(prog, O_CLOEXEC | O_NONBLOCK) < 0)
    prog[0] = prog[1] = -1;
  while (next < n || running > 0) {
    while (ret == 0 && next < n && running < (size_t) parallel) {
      struct layer_job *j = &jobs[next];
      int ep[2];
      if (pipe2(ep, O_CLOEXEC) < 0)
        return bothy_error_errno(err, "cannot create a pipe");
      fflush(NULL);
      j->pid = fork();
      if (j->pid < 0) {
        close(ep[0]);
        close(ep[1]);
        ret = bothy_error_errno(err, "cannot fork");
        break;
      }
      if (j->pid == 0) {
        close(ep[0]);
        safe_close(prog[0]);
        if (prog[1] >= 0)
          fcntl(prog[1], F_SETFL, 0); /* the worker blocks: records are never dropped */
        layer_worker(imgs, ro, repo, j, ep[1], prog[1], (uint32_t) next);
      }
      close(ep[1]);
      j->worker = j->pid;
      j->err_fd = ep[0];
      next++;
      running++;
    }
    if (running == 0)
      break;
    int st = 0;
    pid_t pid;
    if (prog[0] >= 0) {
      /* Progress while waiting: poll the records, look for an exit now and then. */
      pid = waitpid(-1, &st, WNOHANG);
      if (pid == 0) {
        struct pollfd pfd = { .fd = prog[0], .events = POLLIN };
        poll(&pfd, 1, 100);
        drain_progress(prog[0], jobs, n, opts);
        continue;
      }
    } else {
      pid = waitpid(-1, &st, 0);
    }
    if (pid < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (prog[0] >= 0)
      drain_progress(prog[0], jobs, n, opts);
    for (size_t i = 0; i < n; i++) {
      if (jobs[i].pid != pid)
        continue;
      running--;
      jobs[i].pid = 0;
      _cleanup_free_ char *msg = NULL;
      bothy_read_fd(jobs[i].err_fd, &msg, NULL, NULL);
      jobs[i].err_fd = safe_close(jobs[i].err_fd);
      jobs[i].done = WIFEXITED(st) && WEXITSTATUS(st) == 0;
      if (!jobs[i].done && ret == 0)
        ret = bothy_error_set(err, 0, "layer %s: %s", jobs[i].desc->digest,
                              msg && *msg ? msg : "the download failed");
    }
    /* A failure stops the others: they leave only temporary files. */
    if (ret < 0)
      for (size_t i = 0; i < n; i++)
        if (jobs[i].pid > 0)
          kill(jobs[i].pid, SIGTERM);
  }
  safe_close(prog[0]);
  safe_close(prog[1]);
  return ret;
}

int bothy_images_pull(struct bothy_images *imgs, const char *name,
                      const struct bothy_pull_opts *opts, char **ret_digest, bothy_error_t *err)
{
  _cleanup_reference_ struct bothy_reference *ref = NULL;
  if (bothy_reference_parse(name, &ref, err) < 0)
    return -1;
  _cleanup_free_ char *full = bothy_reference_string(ref);
  _cleanup_free_ char *saved_user = NULL;
  _cleanup_secret_ char *saved_pass = NULL;
  if (!opts->username &&
      bothy_auth_lookup(imgs->root, ref->domain, &saved_user, &saved_pass, err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);
  _cleanup_regconf_ struct bothy_regconf *conf = NULL;
  if (opts->registries_conf && bothy_regconf_load(opts->registries_conf, &conf, err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);

  /* The registry's mirrors first (for pulls only, as docker), then itself. */
  const struct bothy_regconf_entry *home = bothy_regconf_find(conf, ref->domain);
  _cleanup_strv_free_ char **hosts = strv_copy(home ? home->mirrors : NULL);
  strv_push(&hosts, xstrdup(ref->domain));
  struct bothy_registry_opts ro = { 0 };
  _cleanup_registry_ struct bothy_registry *reg = NULL;
  _cleanup_free_ char *body = NULL, *mt = NULL, *digest = NULL;
  size_t len = 0;
  const char *tag_or_digest = ref->digest ? ref->digest : ref->tag;
  for (size_t h = 0; hosts[h]; h++) {
    const struct bothy_regconf_entry *e = bothy_regconf_find(conf, hosts[h]);
    bool last = hosts[h + 1] == NULL;
    ro = (struct bothy_registry_opts){
      .host = hosts[h],
      .insecure =
          bothy_auth_host_is_loopback(hosts[h]) || opts->tls_verify_off || (e && e->insecure),
      .tls_skip_verify = opts->tls_verify_off || (e && e->insecure),
      .ca_file = opts->ca_file ? opts->ca_file : (e ? e->ca_file : NULL),
      /* Credentials belong to the registry they were given for. */
      .username = last ? (opts->username ? opts->username : saved_user) : NULL,
      .password = last ? (opts->username ? opts->password : saved_pass) : NULL,
      .retries = last ? 3 : 0,
    };
    reg = bothy_registry_free(reg);
    if (bothy_registry_new(&ro, &reg, err) < 0)
      return bothy_error_prefix(err, "pulling '%s'", full);
    if (bothy_registry_get_manifest(reg, ref->path, tag_or_digest, NULL, &body, &len, &mt, &digest,
                                    err) == 0)
      break;
    if (last)
      return bothy_error_prefix(err, "pulling '%s'", full);
    log_debug("mirror '%s' failed for '%s': %s; trying the next", hosts[h], full, (*err)->msg);
    bothy_error_free(err);
  }
  _cleanup_manifest_ struct bothy_manifest *m = NULL;
  if (bothy_manifest_parse(body, len, mt, "manifest", &m, err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);
  if (m->kind == BOTHY_MANIFEST_INDEX) {
    const char *os, *arch, *variant;
    bothy_platform_native(&os, &arch, &variant);
    const struct bothy_descriptor *d = NULL;
    if (bothy_manifest_select(m, os, arch, variant, &d, err) < 0)
      return bothy_error_prefix(err, "pulling '%s'", full);
    _cleanup_free_ char *sel = xstrdup(d->digest);
    free(body);
    free(mt);
    free(digest);
    body = mt = digest = NULL;
    if (bothy_registry_get_manifest(reg, ref->path, sel, NULL, &body, &len, &mt, &digest, err) < 0)
      return bothy_error_prefix(err, "pulling '%s'", full);
    bothy_manifest_free(TAKE_PTR(m));
    if (bothy_manifest_parse(body, len, mt, "manifest", &m, err) < 0)
      return bothy_error_prefix(err, "pulling '%s'", full);
    if (m->kind != BOTHY_MANIFEST_IMAGE)
      return bothy_error_set(err, 0, "pulling '%s': the index points at another index", full);
  }

  _cleanup_free_ char *cfg_data = NULL;
  size_t cfg_len = 0;
  if (get_config(imgs, reg, ref->path, &m->config, &cfg_data, &cfg_len, err) < 0)
    return bothy_error_prefix(err, "pulling '%s': config", full);
  _cleanup_image_config_ struct bothy_image_config *cfg = NULL;
  if (bothy_image_config_parse(cfg_data, cfg_len, "image config", &cfg, err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);
  if (cfg->n_diff_ids != m->n_layers)
    return bothy_error_set(err, 0, "pulling '%s': the manifest has %zu layers, the config %zu",
                           full, m->n_layers, cfg->n_diff_ids);

  _cleanup_free_ struct layer_job *jobs = xcalloc(m->n_layers + 1, sizeof(*jobs));
  size_t n = 0;
  for (size_t i = 0; i < m->n_layers; i++) {
    _cleanup_free_ char *have = bothy_images_layer_dir(imgs, cfg->diff_ids[i]);
    bool dup = false;
    for (size_t k = 0; k < n; k++)
      dup |= streq(jobs[k].diff_id, cfg->diff_ids[i]);
    bool had_blob = bothy_store_blob_exists(imgs->store, m->layers[i].digest, NULL) == 1;
    if ((have && had_blob) || dup)
      continue;
    jobs[n].desc = &m->layers[i];
    jobs[n].diff_id = cfg->diff_ids[i];
    jobs[n].had_blob = had_blob;
    jobs[n].had_layer = have != NULL;
    jobs[n].err_fd = -1;
    n++;
  }
  /* containers/image's default: on a local registry the layers then share
   * the CPUs, none waits for a slot. */
  int parallel = opts->parallel > 0 ? opts->parallel : 6;
  if (n && bothy_layer_preload(err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);
  if (n && run_layer_jobs(imgs, &ro, ref->path, jobs, n, parallel, opts, err) < 0) {
    undo_layer_jobs(imgs, jobs, n);
    return bothy_error_prefix(err, "pulling '%s'", full);
  }

  /* Everything the manifest names is here: now the config and the manifest,
   * then the name. */
  if (bothy_store_blob_ingest_buffer(imgs->store, cfg_data, cfg_len, m->config.digest, NULL, err) <
          0 ||
      bothy_store_blob_ingest_buffer(imgs->store, body, len, digest, NULL, err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);
  struct bothy_store_descriptor d = {
    .media_type = m->media_type,
    .digest = digest,
    .size = (int64_t) len,
  };
  /* A pull of what is here already leaves index.json as it is: rewriting it
   * (a new file, three fsyncs) was a third of that pull's time. */
  _cleanup_store_descriptor_ struct bothy_store_descriptor *cur = NULL;
  bool same = bothy_store_index_lookup(imgs->store, full, &cur, NULL) == 1 &&
              streq(cur->digest, digest) && cur->size == d.size &&
              streq(cur->media_type, d.media_type);
  if (!same && bothy_store_index_set(imgs->store, full, &d, err) < 0)
    return bothy_error_prefix(err, "pulling '%s'", full);
  if (ret_digest)
    *ret_digest = TAKE_PTR(digest);
  return 0;
}

/* ---- lookups --------------------------------------------------------------- */

static int find_descriptor(struct bothy_images *imgs, const char *name,
                           struct bothy_store_descriptor **ret, char **ret_ref, bothy_error_t *err)
{
  /* A digest or a hex prefix of one. */
  const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
  bool hexish = strlen(hex) >= 12 && strspn(hex, "0123456789abcdef") == strlen(hex);
  _cleanup_store_descriptors_ struct bothy_store_descriptor **all = NULL;
  size_t n = 0;
  if (bothy_store_index_list(imgs->store, &all, &n, err) < 0)
    return -1;
  if (!hexish || strchr(name, ':') != NULL) {
    _cleanup_reference_ struct bothy_reference *ref = NULL;
    if (!hexish || strncmp(name, "sha256:", 7) != 0) {
      if (bothy_reference_parse(name, &ref, err) < 0)
        return -1;
      _cleanup_free_ char *full = bothy_reference_string(ref);
      for (size_t i = 0; i < n; i++)
        if (streq(all[i]->ref_name, full)) {
          *ret_ref = TAKE_PTR(full);
          *ret = all[i];
          all[i] = all[n - 1];
          all[n - 1] = NULL;
          return 0;
        }
      return bothy_error_set(err, ENOENT, "image '%s' is not known here", name);
    }
  }
  struct bothy_store_descriptor *found = NULL;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    const char *h = bothy_digest_hex(all[i]->digest);
    if (h && strncmp(h, hex, strlen(hex)) == 0) {
      if (found && !streq(found->digest, all[i]->digest))
        return bothy_error_set(err, EINVAL, "'%s' matches more than one image", name);
      found = all[i];
      at = i;
    }
  }
  if (!found)
    return bothy_error_set(err, ENOENT, "image '%s' is not known here", name);
  *ret_ref = NULL;
  *ret = found;
  all[at] = all[n - 1];
  all[n - 1] = NULL;
  return 0;
}

/* The manifest an index entry names and, for an image manifest, its config
 * (*ret_config stays NULL for an index). */
static int read_manifest(struct bothy_images *imgs, const struct bothy_store_descriptor *d,
                         struct bothy_manifest **ret_manifest,
                         struct bothy_image_config **ret_config, bothy_error_t *err)
{
  _cleanup_free_ char *body = NULL, *cfg = NULL;
  size_t len = 0, cfg_len = 0;
  _cleanup_manifest_ struct bothy_manifest *m = NULL;
  _cleanup_image_config_ struct bothy_image_config *c = NULL;
  if (bothy_store_blob_read(imgs->store, d->digest, MANIFEST_MAX, &body, &len, err) < 0 ||
      bothy_manifest_parse(body, len, d->media_type, "manifest", &m, err) < 0)
    return -1;
  if (m->kind == BOTHY_MANIFEST_IMAGE &&
      (bothy_store_blob_read(imgs->store, m->config.digest, CONFIG_MAX, &cfg, &cfg_len, err) < 0 ||
       bothy_image_config_parse(cfg, cfg_len, "image config", &c, err) < 0))
    return -1;
  *ret_manifest = TAKE_PTR(m);
  *ret_config = TAKE_PTR(c);
  return 0;
}

int bothy_images_get(struct bothy_images *imgs, const char *name, struct bothy_image **ret,
                     bothy_error_t *err)
{
  _cleanup_store_descriptor_ struct bothy_store_descriptor *d = NULL;
  _cleanup_image_ struct bothy_image *img = xmalloc0(sizeof(*img));
  if (find_descriptor(imgs, name, &d, &img->ref, err) < 0)
    return -1;
  img->digest = xstrdup(d->digest);
  if (read_manifest(imgs, d, &img->manifest, &img->config, err) < 0)
    return bothy_error_prefix(err, "image '%s'", name);
  if (img->manifest->kind != BOTHY_MANIFEST_IMAGE)
    return bothy_error_set(err, 0, "image '%s': not an image manifest", name);
  img->layer_dirs = xcalloc(img->config->n_diff_ids + 1, sizeof(char *));
  for (size_t i = 0; i < img->config->n_diff_ids; i++) {
    img->layer_dirs[i] = bothy_images_layer_dir(imgs, img->config->diff_ids[i]);
    if (!img->layer_dirs[i])
      return bothy_error_set(err, ENOENT, "image '%s': layer %s is missing (pull it again)", name,
                             img->config->diff_ids[i]);
  }
  *ret = TAKE_PTR(img);
  return 0;
}

struct bothy_image *bothy_image_free(struct bothy_image *img)
{
  if (!img)
    return NULL;
  free(img->ref);
  free(img->digest);
  bothy_manifest_free(img->manifest);
  bothy_image_config_free(img->config);
  strv_free(img->layer_dirs);
  free(img);
  return NULL;
}

int bothy_images_tag(struct bothy_images *imgs, const char *name, const char *ref,
                     bothy_error_t *err)
{
  _cleanup_store_descriptor_ struct bothy_store_descriptor *d = NULL;
  _cleanup_free_ char *old = NULL;
  if (find_descriptor(imgs, name, &d, &old, err) < 0)
    return -1;
  _cleanup_reference_ struct bothy_reference *r = NULL;
  if (bothy_reference_parse(ref, &r, err) < 0)
    return -1;
  if (r->digest)
    return bothy_error_set(err, EINVAL, "cannot tag with a digest: '%s'", ref);
  _cleanup_free_ char *full = bothy_reference_string(r);
  struct bothy_store_descriptor nd = { .media_type = d->media_type,
                                       .digest = d->digest,
                                       .size = d->size };
  return bothy_store_index_set(imgs->store, full, &nd, err);
}

int bothy_images_untag(struct bothy_images *imgs, const char *ref, bothy_error_t *err)
{
  /* An image without a name is kept under its digest (load, import). */
  if (strncmp(ref, "sha256:", 7) == 0) {
    int k = bothy_store_index_remove(imgs->store, ref, err);
    if (k < 0)
      return -1;
    return k ? 0 : bothy_error_set(err, ENOENT, "image '%s' is not known here", ref);
  }
  _cleanup_reference_ struct bothy_reference *r = NULL;
  if (bothy_reference_parse(ref, &r, err) < 0)
    return -1;
  _cleanup_free_ char *full = bothy_reference_string(r);
  int k = bothy_store_index_remove(imgs->store, full, err);
  if (k < 0)
    return -1;
  if (k == 0)
    return bothy_error_set(err, ENOENT, "image '%s' is not known here", ref);
  return 0;
}

int bothy_images_list(struct bothy_images *imgs, json_t **ret, bothy_error_t *err)
{
  _cleanup_store_descriptors_ struct bothy_store_descriptor **all = NULL;
  size_t n = 0;
  if (bothy_store_index_list(imgs->store, &all, &n, err) < 0)
    return -1;
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    if (!all[i]->ref_name)
      continue;
    _cleanup_manifest_ struct bothy_manifest *m = NULL;
    _cleanup_image_config_ struct bothy_image_config *c = NULL;
    int64_t size = 0;
    if (read_manifest(imgs, all[i], &m, &c, NULL) == 0 && m->kind == BOTHY_MANIFEST_IMAGE) {
      size = m->config.size;
      for (size_t k = 0; k < m->n_layers; k++)
        size += m->layers[k].size;
    }
    /* Unnamed images are indexed under their digest: no name to show. */
    bool unnamed = strncmp(all[i]->ref_name, "sha256:", 7) == 0;
    json_array_append_new(arr,
                          json_pack("{s:s, s:s, s:I, s:s}", "ref", unnamed ? "" : all[i]->ref_name,
                                    "digest", all[i]->digest, "size", (json_int_t) size, "created",
                                    c && c->created ? c->created : ""));
  }
  *ret = arr;
  return 0;
}

/* ---- prune ----------------------------------------------------------------- */

static void mark(char ***set, const char *digest)
{
  for (size_t i = 0; *set && (*set)[i]; i++)
    if (streq((*set)[i], digest))
      return;
  strv_push(set, xstrdup(digest));
}

static bool marked(char **set, const char *digest)
{
  for (size_t i = 0; set && set[i]; i++)
    if (streq(set[i], digest))
      return true;
  return false;
}

int bothy_images_prune(struct bothy_images *imgs, char *const *in_use, char ***ret_removed,
                       bothy_error_t *err)
{
  _cleanup_store_descriptors_ struct bothy_store_descriptor **all = NULL;
  size_t n = 0;
  if (bothy_store_index_list(imgs->store, &all, &n, err) < 0)
    return -1;
  size_t n_index = n;
  /* Images containers were made from count as referenced, named or not. */
  for (size_t i = 0; in_use && in_use[i]; i++) {
    all = xrealloc(all, (n + 2) * sizeof(*all));
    all[n] = xmalloc0(sizeof(**all));
    all[n]->digest = xstrdup(in_use[i]);
    all[++n] = NULL;
  }
  _cleanup_strv_free_ char **blobs = NULL, **layers = NULL, **removed = NULL;
  for (size_t i = 0; i < n; i++) {
    /* A referenced manifest that cannot be read keeps everything: better to
     * prune nothing than what an image still needs. */
    _cleanup_manifest_ struct bothy_manifest *m = NULL;
    _cleanup_image_config_ struct bothy_image_config *c = NULL;
    if (i >= n_index && bothy_store_blob_exists(imgs->store, all[i]->digest, NULL) != 1)
      continue;
    mark(&blobs, all[i]->digest);
    if (read_manifest(imgs, all[i], &m, &c, err) < 0)
      return bothy_error_prefix(err, "pruning: image '%s'",
                                all[i]->ref_name ? all[i]->ref_name : all[i]->digest);
    for (size_t k = 0; k < m->n_manifests; k++)
      mark(&blobs, m->manifests[k].digest);
    if (m->kind != BOTHY_MANIFEST_IMAGE)
      continue;
    mark(&blobs, m->config.digest);
    for (size_t k = 0; k < m->n_layers; k++)
      mark(&blobs, m->layers[k].digest);
    for (size_t k = 0; k < c->n_diff_ids; k++)
      mark(&layers, c->diff_ids[k]);
  }
  _cleanup_strv_free_ char **present = NULL;
  if (bothy_store_blob_list(imgs->store, &present, err) < 0)
    return -1;
  for (size_t i = 0; present && present[i]; i++)
    if (!marked(blobs, present[i]) && bothy_store_blob_delete(imgs->store, present[i], err) >= 0)
      strv_push(&removed, xasprintf("blob %s", present[i]));
  _cleanup_closedir_ DIR *d = opendir(imgs->layers_dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.') {
      /* Leftovers of an interrupted unpack. */
      if (strncmp(de->d_name, ".tmp-", 5) == 0) {
        pid_t owner = (pid_t) strtol(de->d_name + 5, NULL, 10);
        if (owner > 0 && kill(owner, 0) < 0 && errno == ESRCH &&
            bothy_rm_rf_at(imgs->layers_fd, de->d_name, NULL) == 0)
          strv_push(&removed, xasprintf("unfinished layer %s", de->d_name));
      }
      continue;
    }
    _cleanup_free_ char *diff_id = xasprintf("sha256:%s", de->d_name);
    if (!marked(layers, diff_id) && bothy_rm_rf_at(imgs->layers_fd, de->d_name, err) == 0)
      strv_push(&removed, xasprintf("layer %s", diff_id));
  }
  bothy_store_gc_tmp(imgs->store, false, NULL);
  if (ret_removed)
    *ret_removed = TAKE_PTR(removed);
  return 0;
}
