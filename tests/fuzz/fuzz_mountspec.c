/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: docker's mount flags (container/mountspec.h). Every
 * input goes through the three parsers. Besides not crashing: a failure is
 * EINVAL with a message, and a success has a normalised absolute target and
 * the source its kind promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/xalloc.h"
#include "container/mountspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_target(const char *t)
{
  if (!t || t[0] != '/' || t[1] == '\0')
    abort();
  for (const char *p = t; *p; p++) {
    if (*p != '/')
      continue;
    /* No empty, "." or ".." component, no trailing '/'. */
    const char *c = p + 1;
    size_t n = strcspn(c, "/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      abort();
  }
}

static void check(int (*parse)(const char *, struct bothy_mount_req *, bothy_error_t *),
                  const char *s)
{
  struct bothy_mount_req m = { 0 };
  bothy_error_t err = NULL;
  if (parse(s, &m, &err) < 0) {
    if (!err || err->code != EINVAL || !err->msg[0] || m.target)
      abort();
    bothy_error_free(&err);
    return;
  }
  if (err)
    abort();
  check_target(m.target);
  if (m.kind == BOTHY_MOUNT_TMPFS && m.source)
    abort();
  if (m.kind == BOTHY_MOUNT_BIND && (!m.source || m.source[0] != '/'))
    abort();
  if (m.kind == BOTHY_MOUNT_VOLUME && m.source && m.source[0] == '/')
    abort();
  for (size_t i = 0; m.options && m.options[i]; i++)
    if (!strcmp(m.options[i], "ro") || !strcmp(m.options[i], "rw") || !m.options[i][0])
      abort();
  bothy_mount_req_done(&m);
  bothy_mount_req_done(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 4096)
    return 0;
  char *s = xstrndup((const char *) data, size);
  check(bothy_mount_parse_volume, s);
  check(bothy_mount_parse_mount, s);
  check(bothy_mount_parse_tmpfs, s);
  free(s);
  return 0;
}
