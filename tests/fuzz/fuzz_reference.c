/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: image references (bothy_reference_parse) and their
 * formatting. Besides not crashing, a parsed reference's normalised and
 * familiar forms must parse back to the same normalised form. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/xalloc.h"
#include "image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reparses(const char *s, const char *want)
{
  struct bothy_reference *again = NULL;
  if (bothy_reference_parse(s, &again, NULL) < 0)
    abort();
  char *got = bothy_reference_string(again);
  if (strcmp(got, want) != 0)
    abort();
  free(got);
  bothy_reference_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 4096)
    return 0;
  char *s = xstrndup((const char *) data, size);
  struct bothy_reference *ref = NULL;
  bothy_error_t err = NULL;
  if (bothy_reference_parse(s, &ref, &err) < 0) {
    bothy_error_free(&err);
    free(s);
    return 0;
  }
  char *full = bothy_reference_string(ref);
  char *familiar = bothy_reference_familiar(ref);
  char *repo = bothy_reference_repository(ref);
  check_reparses(full, full);
  check_reparses(familiar, full);

  struct bothy_reference *tagged = NULL;
  if (bothy_reference_with_tag(ref, "fuzz", &tagged, NULL) < 0)
    abort();
  bothy_reference_free(bothy_reference_copy(tagged));
  bothy_reference_free(tagged);

  free(repo);
  free(familiar);
  free(full);
  bothy_reference_free(ref);
  free(s);
  return 0;
}
