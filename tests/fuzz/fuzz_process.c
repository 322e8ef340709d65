/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: the process.json of `exec -p`. */
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
  struct bothy_process p;
  if (bothy_process_from_json(j, "process", &p, &err) < 0)
    bothy_error_free(&err);
  bothy_process_done(&p);
  json_decref(j);
  return 0;
}
