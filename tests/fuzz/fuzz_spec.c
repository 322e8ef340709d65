/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: config.json as the runtime reads it (bothy_spec_from_json),
 * and the mount option parser it calls. */
#include <stddef.h>
#include <stdint.h>

#include "base/json.h"
#include "runtime/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *j = NULL;
  bothy_error_t err = NULL;
  if (bothy_json_load_data((const char *) data, size, "fuzz", &j, &err) < 0) {
    bothy_error_free(&err);
    return 0;
  }
  struct bothy_spec *s = NULL;
  if (bothy_spec_from_json(j, &s, &err) < 0)
    bothy_error_free(&err);
  bothy_spec_free(s);
  return 0;
}
