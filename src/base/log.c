/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/xalloc.h"

static int log_fd = -1;
static enum bothy_log_format log_format = BOTHY_LOG_TEXT;
static bool log_debug_on;
static bool log_stderr_copy;

int bothy_log_init(const char *path, enum bothy_log_format format, bool debug)
{
  log_format = format;
  log_debug_on = debug;
  if (path && *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
      return -errno;
    if (log_fd >= 0)
      close(log_fd);
    log_fd = fd;
  }
  return 0;
}

void bothy_log_set_stderr_copy(bool on)
{
  log_stderr_copy = on;
}

bool bothy_log_debug_enabled(void)
{
  return log_debug_on;
}

int bothy_log_fd(void)
{
  return log_fd;
}

static const char *level_name(enum bothy_log_level level)
{
  switch (level) {
  case BOTHY_LOG_ERROR:
    return "error";
  case BOTHY_LOG_WARNING:
    return "warning";
  case BOTHY_LOG_INFO:
    return "info";
  case BOTHY_LOG_DEBUG:
    return "debug";
  }
  return "info";
}

static void write_all(int fd, const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    s += w;
    n -= (size_t) w;
  }
}

void bothy_log(enum bothy_log_level level, const char *fmt, ...)
{
  if (level == BOTHY_LOG_DEBUG && !log_debug_on)
    return;
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *msg = xvasprintf(fmt, ap);
  va_end(ap);

  char ts[64];
  struct timespec now;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);

  int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;
  _cleanup_free_ char *line = NULL;
  if (log_format == BOTHY_LOG_JSON && log_fd >= 0) {
    json_t *o = json_pack("{s:s, s:s, s:s}", "level", level_name(level), "msg", msg, "time", ts);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    line = xasprintf("%s\n", s ? s : "{}");
    free(s);
  } else if (log_fd >= 0) {
    /* logfmt quoting, as runc's logrus text formatter. */
    json_t *q = json_string(msg);
    char *s = q ? json_dumps(q, JSON_ENCODE_ANY) : NULL;
    json_decref(q);
    line = xasprintf("time=\"%s\" level=%s msg=%s\n", ts, level_name(level), s ? s : "\"\"");
    free(s);
  } else {
    line = xasprintf("%s\n", msg);
  }
  write_all(fd, line, strlen(line));
  if (log_fd >= 0 && log_stderr_copy && level == BOTHY_LOG_ERROR) {
    _cleanup_free_ char *plain = xasprintf("%s\n", msg);
    write_all(STDERR_FILENO, plain, strlen(plain));
  }
  errno = saved;
}
