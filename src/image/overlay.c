/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdbool.h>
#include "base/fs.h"
#include "base/macros.h"
#include "base/xalloc.h"

static int fsconfig_str(int fd, const char *key, const char *value)
{
  return (int) syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING, key, value, 0);
}

/* The new mount API: 1 on success, 0 when the kernel lacks "lowerdir+"
 * (the caller falls back), negative with *err otherwise. */
static int mount_new_api(const char *const *lowers, size_t n, const char *upper, const char *work,
                         bool volatile_upper, const char *target, bothy_error_t *err)
{
  _cleanup_close_ int fs = (int) syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fs < 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (fsconfig_str(fs, "lowerdir+", lowers[i]) < 0) {
      if (i == 0 && errno == EINVAL)
        return 0; /* no "lowerdir+" before Linux 6.8 */
      return bothy_error_errno(err, "overlay: cannot use the layer '%s'", lowers[i]);
    }
  }
  if (upper && (fsconfig_str(fs, "upperdir", upper) < 0 || fsconfig_str(fs, "workdir", work) < 0))
    return bothy_error_errno(err, "overlay: cannot use the upper directory '%s'", upper);
  /* A kernel without "volatile" (before 5.10) gets a usual mount. */
  if (upper && volatile_upper)
    (void) syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0);
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return bothy_error_errno(err, "cannot create the overlay for '%s'", target);
  _cleanup_close_ int mnt = (int) syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0)
    return bothy_error_errno(err, "cannot create the overlay mount for '%s'", target);
  if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return bothy_error_errno(err, "cannot mount the overlay on '%s'", target);
  return 1;
}

/* Common leading directory of every lower ("/var/lib/bothy/layers/"). */
static size_t common_dir_len(const char *const *lowers, size_t n)
{
  size_t len = strlen(lowers[0]);
  for (size_t i = 1; i < n; i++) {
    size_t k = 0;
    while (k < len && lowers[i][k] == lowers[0][k])
      k++;
    len = k;
  }
  while (len > 0 && lowers[0][len - 1] != '/')
    len--;
  return len;
}

static int overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                         bool volatile_upper, const char *target, bothy_error_t *err);

static int dedup_and_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                           bool volatile_upper, const char *target, bothy_error_t *err)
{
  /* One layer twice in the stack (two steps that made the same content)
   * is refused by overlayfs (ELOOP). Only its topmost place matters: the
   * lower copy shows nothing the upper one does not already show, or hide. */
  _cleanup_free_ const char **uniq = xcalloc(n + 1, sizeof(char *));
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    bool seen = false;
    for (size_t j = 0; j < k && !seen; j++)
      seen = streq(uniq[j], lowers[i]);
    if (!seen)
      uniq[k++] = lowers[i];
  }
  return overlay_mount(uniq, k, upper, work, volatile_upper, target, err);
}

int bothy_overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                        const char *target, bothy_error_t *err)
{
  return dedup_and_mount(lowers, n, upper, work, false, target, err);
}

int bothy_overlay_mount_volatile(const char *const *lowers, size_t n, const char *upper,
                                 const char *work, const char *target, bothy_error_t *err)
{
  _cleanup_free_ char *incompat = xasprintf("%s/work/incompat", work);
  if (bothy_rm_rf_at(AT_FDCWD, incompat, err) < 0)
    return -1;
  return dedup_and_mount(lowers, n, upper, work, true, target, err);
}

static int overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                         bool volatile_upper, const char *target, bothy_error_t *err)
{
  if (n == 0)
    return bothy_error_set(err, EINVAL, "overlay for '%s': no layers", target);
  if ((upper == NULL) != (work == NULL))
    return bothy_error_set(err, EINVAL, "overlay for '%s': upper and work go together", target);
  if (!upper && n == 1) {
    if (mount(lowers[0], target, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
      return bothy_error_errno(err, "cannot bind the layer '%s' on '%s'", lowers[0], target);
    return 0;
  }
  int r = mount_new_api(lowers, n, upper, work, volatile_upper, target, err);
  if (r != 0)
    return r < 0 ? r : 0;

  /* Older kernels: one option string, layers relative to their common
   * parent, resolved by mount(2) against our working directory. */
  size_t common = common_dir_len(lowers, n);
  _cleanup_free_ char *opts = xstrdup("lowerdir=");
  for (size_t i = 0; i < n; i++) {
    const char *rel = common ? lowers[i] + common : lowers[i];
    char *o = xasprintf("%s%s%s", opts, i ? ":" : "", rel);
    free(opts);
    opts = o;
  }
  if (upper) {
    char *o = xasprintf("%s,upperdir=%s,workdir=%s", opts, upper, work);
    free(opts);
    opts = o;
  }
  long page = sysconf(_SC_PAGESIZE);
  if ((long) strlen(opts) >= page)
    return bothy_error_set(err, E2BIG,
                           "overlay for '%s': %zu layers do not fit in the mount options of this "
                           "kernel (Linux 6.8 lifts the limit)",
                           target, n);
  _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  _cleanup_free_ char *dir = common ? xstrndup(lowers[0], common) : NULL;
  if (dir && chdir(dir) < 0)
    return bothy_error_errno(err, "cannot enter '%s'", dir);
  int m = mount("overlay", target, "overlay", 0, opts);
  int e = errno;
  if (cwd >= 0 && fchdir(cwd) < 0)
    return bothy_error_errno(err, "cannot return to the working directory");
  if (m < 0)
    return bothy_error_set(err, e, "cannot mount the overlay on '%s'", target);
  return 0;
}
