/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: .containerignore matching (build/ignore.h). The input
 * is parsed as an ignore file, and its lines are then used as paths too.
 * Besides not crashing: a failure is EINVAL with a message, and a directory
 * that may be skipped is ignored with everything below it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/xalloc.h"
#include "build/ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 4096)
    return 0;
  struct bothy_ignore *ig = NULL;
  bothy_error_t err = NULL;
  if (bothy_ignore_parse((const char *) data, size, NULL, &ig, &err) < 0) {
    if (!err || err->code != EINVAL || !err->msg[0] || ig)
      abort();
    bothy_error_free(&err);
    return 0;
  }
  if (err)
    abort();
  for (size_t i = 0; i < bothy_ignore_count(ig); i++)
    if (!bothy_ignore_pattern(ig, i, NULL))
      abort();
  char *text = xstrndup((const char *) data, size);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    const char *path = line[0] == '!' ? line + 1 : line;
    bool m = bothy_ignore_match(ig, path);
    if (bothy_ignore_can_skip_dir(ig, path)) {
      if (!m)
        abort();
      /* Nothing below a skippable directory may be kept. */
      static const char *const below[] = { "x", "keep", "a/b.go", "README.md", ".git/x" };
      for (size_t i = 0; i < sizeof(below) / sizeof(below[0]); i++) {
        char *sub = xasprintf("%s/%s", path, below[i]);
        if (!bothy_ignore_match(ig, sub))
          abort();
        free(sub);
      }
    }
  }
  free(text);
  bothy_ignore_free(ig);
  return 0;
}
