/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: a container's log as the monitor writes it (JSON lines,
 * split records, rotation) read back by bothy_logs_read() with and without
 * --tail and --since, and the time values `logs --since/--until` take. The
 * input is the log file; its first line also serves as a time value. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/xalloc.h"
#include "container/logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/bothy-fuzz-logs-XXXXXX";
static int devnull = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 1 << 16)
    return 0;
  if (devnull < 0) {
    if (!mkdtemp(dir))
      abort();
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  /* The first line as a --since value. */
  const uint8_t *nl = memchr(data, '\n', size);
  size_t n = nl ? (size_t) (nl - data) : size;
  char *s = xstrndup((const char *) data, n < 256 ? n : 256);
  int64_t ns = 0;
  bothy_error_t err = NULL;
  if (bothy_logs_parse_time(s, "since", 1700000000000000000LL, &ns, &err) < 0 && !err)
    abort();
  bothy_error_free(&err);
  int64_t t = 0;
  (void) bothy_time_parse_rfc3339(s, &t);
  free(s);

  char path[128];
  snprintf(path, sizeof(path), "%s/container.log", dir);
  FILE *f = fopen(path, "w");
  if (!f)
    abort();
  fwrite(data, 1, size, f);
  fclose(f);
  struct bothy_logs_opts all = { .tail = -1 };
  struct bothy_logs_opts tail = { .tail = 3, .timestamps = true, .since_ns = ns };
  if (bothy_logs_read(dir, &all, devnull, devnull, NULL, NULL, &err) < 0)
    bothy_error_free(&err);
  if (bothy_logs_read(dir, &tail, devnull, devnull, NULL, NULL, &err) < 0)
    bothy_error_free(&err);
  return 0;
}
