/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime/cloned_binary.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/macros.h"

#define REQUIRED_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

int bothy_ensure_cloned_binary(char **argv, bothy_error_t *err)
{
  _cleanup_close_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return bothy_error_errno(err, "cannot open /proc/self/exe");
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & REQUIRED_SEALS) == REQUIRED_SEALS)
    return 0;

  struct stat st;
  if (fstat(self, &st) < 0)
    return bothy_error_errno(err, "cannot stat /proc/self/exe");
  _cleanup_close_ int mfd = memfd_create("bothy-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return bothy_error_errno(err, "memfd_create");
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(mfd, self, NULL, (size_t) left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return bothy_error_errno(err, "cannot copy the runtime binary");
    left -= n;
  }
  /* F_SEAL_WRITE fails with EBUSY while something still holds a reference to
   * a page of the file: sendfile() splices through a pipe whose buffers may
   * let go a moment later. Seen once in about a thousand starts; retry. */
  int r;
  for (int tries = 0;
       (r = fcntl(mfd, F_ADD_SEALS, REQUIRED_SEALS)) < 0 && errno == EBUSY && tries < 200;
       tries++) {
    struct timespec ts = { 0, 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  if (r < 0)
    return bothy_error_errno(err, "cannot seal the runtime copy");
  fexecve(mfd, argv, environ);
  return bothy_error_errno(err, "cannot execute the sealed runtime copy");
}
