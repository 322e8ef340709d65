/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/images.h"
#include "image/overlay.h"
#include "runtime/container.h"

static char *new_id(void)
{
  unsigned char raw[32];
  if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
    abort();
  char *id = xmalloc(65);
  for (int i = 0; i < 32; i++)
    snprintf(id + 2 * i, 3, "%02x", raw[i]);
  return id;
}

static int write_etc(const char *dir, const char *hostname, bothy_error_t *err)
{
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", dir);
  _cleanup_free_ char *hn = xasprintf("%s\n", hostname);
  _cleanup_free_ char *hosts =
      xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "127.0.1.1\t%s\n",
                hostname);
  _cleanup_free_ char *resolv = NULL;
  /* The host's resolver configuration; with no network of its own a
   * container has nobody to ask, but programs read the file anyway. */
  if (bothy_read_file(AT_FDCWD, "/etc/resolv.conf", &resolv, NULL, NULL) < 0)
    resolv = xstrdup("");
  if (bothy_write_file_replace(dfd, "hostname", hn, strlen(hn), 0644, err) < 0 ||
      bothy_write_file_replace(dfd, "hosts", hosts, strlen(hosts), 0644, err) < 0 ||
      bothy_write_file_replace(dfd, "resolv.conf", resolv, strlen(resolv), 0644, err) < 0)
    return -1;
  return 0;
}

int bothy_run(const struct bothy_run_request *req, int *ret_exit, char **ret_id, bothy_error_t *err)
{
  _cleanup_images_ struct bothy_images *imgs = NULL;
  if (bothy_images_open(req->root, &imgs, err) < 0)
    return -1;
  _cleanup_image_ struct bothy_image *img = NULL;
  if (bothy_images_get(imgs, req->image, &img, err) < 0) {
    if (!req->pull || !err || !*err || (*err)->code != ENOENT)
      return -1;
    bothy_error_free(err);
    struct bothy_pull_opts po = { .quiet = true, .registries_conf = req->registries_conf };
    if (bothy_images_pull(imgs, req->image, &po, NULL, err) < 0 ||
        bothy_images_get(imgs, req->image, &img, err) < 0)
      return -1;
  }

  _cleanup_free_ char *id = new_id();
  _cleanup_free_ char *dir = xasprintf("%s/containers/%s", req->root, id);
  _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
  _cleanup_free_ char *work = xasprintf("%s/work", dir);
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
  _cleanup_free_ char *etc = xasprintf("%s/etc", dir);
  _cleanup_free_ char *host = xstrndup(id, 12);
  _cleanup_free_ char *empty = NULL;
  _cleanup_free_ const char **lowers = NULL;
  _cleanup_free_ char *rt_root = xasprintf("%s/runtime", req->root);
  _cleanup_json_ json_t *spec = NULL;
  int ret = -1;
  bool mounted = false;
  if (bothy_mkdir_p(upper, 0755, err) < 0 || bothy_mkdir_p(work, 0700, err) < 0 ||
      bothy_mkdir_p(rootfs, 0755, err) < 0 || bothy_mkdir_p(etc, 0755, err) < 0)
    goto out;

  /* Overlay: the image's top layer first. */
  size_t n = strv_length(img->layer_dirs);
  lowers = xcalloc(n + 1, sizeof(char *));
  for (size_t i = 0; i < n; i++)
    lowers[i] = img->layer_dirs[n - 1 - i];
  if (n == 0) {
    /* An image without layers (FROM scratch, nothing added): an empty base. */
    empty = xasprintf("%s/empty", dir);
    if (bothy_mkdir_p(empty, 0755, err) < 0)
      goto out;
    lowers[0] = empty;
    n = 1;
  }
  if (bothy_overlay_mount(lowers, n, upper, work, rootfs, err) < 0)
    goto out;
  mounted = true;

  if (write_etc(etc, req->opts.hostname ? req->opts.hostname : host, err) < 0)
    goto out;
  if (bothy_container_oci_spec(img->config, &req->opts, id, rootfs, etc, &spec, err) < 0)
    goto out;
  {
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *s = bothy_json_dump(spec, false);
    if (dfd < 0 || bothy_write_file_replace(dfd, "config.json", s, strlen(s), 0600, err) < 0) {
      if (dfd < 0)
        bothy_error_errno(err, "cannot open '%s'", dir);
      goto out;
    }
  }

  struct bothy_runtime rt = { .root = rt_root };
  struct bothy_create_opts co = { .id = id, .bundle = dir };
  if (bothy_container_run(&rt, &co, ret_exit, err) < 0)
    goto out;
  ret = 0;
  if (ret_id)
    *ret_id = xstrdup(id);
out:
  if (mounted && umount2(rootfs, MNT_DETACH) < 0 && ret == 0)
    ret = bothy_error_errno(err, "cannot unmount '%s'", rootfs);
  if (req->remove || ret < 0) {
    _cleanup_free_ char *parent = xasprintf("%s/containers", req->root);
    _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd >= 0)
      bothy_rm_rf_at(pfd, id, NULL);
  }
  return ret;
}
