/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: image layers as bothy_layer_unpack reads them (gzip,
 * zstd or plain tar). Each input unpacks into a fresh temporary directory,
 * removed afterwards. Run as root (chown, mknod, trusted.* xattrs). The
 * first byte, when there is one, picks the policy, so both the refusing and
 * the permissive paths are reached. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/fs.h"
#include "image/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct bothy_layer_policy pol = { 0 };
  if (size > 0) {
    pol.allow_devices = data[0] & 1;
    pol.allow_setuid = data[0] & 2;
    data++;
    size--;
  }
  char dir[] = "/tmp/bothy-fuzz-layer.XXXXXX";
  if (!mkdtemp(dir))
    abort();
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    abort();
  struct bothy_layer_result res;
  bothy_error_t err = NULL;
  if (bothy_layer_unpack_buffer(data, size, dfd, &pol, &res, &err) < 0)
    bothy_error_free(&err);
  close(dfd);
  /* A leftover directory would fill /tmp over a long run: failing to remove
   * it is a finding too. */
  if (bothy_rm_rf_at(AT_FDCWD, dir, &err) < 0)
    abort();
  return 0;
}
