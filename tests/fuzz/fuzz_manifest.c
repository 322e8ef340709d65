/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: manifests, indexes (with platform selection) and image
 * configs, as registries and archives hand them to us. */
#include <stddef.h>
#include <stdint.h>

#include "image/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  bothy_error_t err = NULL;
  struct bothy_manifest *m = NULL;
  if (bothy_manifest_parse((const char *) data, size, NULL, "fuzz", &m, &err) == 0) {
    const struct bothy_descriptor *d = NULL;
    if (m->kind == BOTHY_MANIFEST_INDEX &&
        bothy_manifest_select(m, "linux", "amd64", NULL, &d, &err) < 0)
      bothy_error_free(&err);
    bothy_manifest_free(m);
  }
  bothy_error_free(&err);
  struct bothy_image_config *c = NULL;
  if (bothy_image_config_parse((const char *) data, size, "fuzz", &c, &err) == 0)
    bothy_image_config_free(c);
  bothy_error_free(&err);
  return 0;
}
