/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bothy-monitor: the supervisor of one detached container. The contract with
 * bothy (arguments, helpers, files, signals) is written in monitor.h.
 *
 * It is a static executable that links only libc, because an idle monitor must
 * stay far below 0.5 MB resident (DESIGN.md §6): one per container, no daemon.
 * So: JSON written by hand, no heap in the steady state, the large buffers in
 * one anonymous mapping whose unused pages are handed back when the monitor
 * goes idle, and the clean pages of the executable dropped as well (they come
 * back from the page cache on the next fault).
 *
 * One event loop (epoll) over a signalfd, a timerfd, the read ends of the
 * container's stdout/stderr pipes (or the pty master with --tty), the start
 * helper's report pipe and the health helper's output. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/macros.h"
#include "container/monitor.h"

#define LOG_RECORD_MAX       MONITOR_LOG_LINE_MAX
#define WBUF_SIZE            8192 /* output buffer: log records, status.json, smaps */
#define HEALTH_OUTPUT_MAX    4096 /* monitor.h: the first 4 KiB of a check's output */
#define HEALTH_LOG_KEEP      5
#define MESSAGE_MAX          512
#define TIME_LEN             32
#define IDLE_TRIM_MS         1000 /* quiet this long: give memory back */
#define RESTART_DELAY_MIN_MS 100
#define RESTART_DELAY_MAX_MS 60000
#define RESTART_RESET_MS     10000
#define HEALTH_TIMEOUT_MS    30000 /* docker's defaults */
#define HEALTH_RETRIES       3
/* The health helper enforces the timeout itself; past it and this grace the
 * monitor kills a helper that hangs anyway. */
#define HEALTH_GRACE_MS    5000
#define REAPED_KEEP        8
#define DRAIN_READS_MAX    256 /* bounds the drain at exit against a writer that never stops */
#define READS_PER_EVENT    16  /* fairness between a chatty stream and the rest */
#define START_FAILED_EXIT  125 /* exit_code recorded when a start fails (docker's "cannot run") */
#define STATUS_TMP         MONITOR_STATUS_FILE ".tmp"
#define MAX_SMAPS_MAPPINGS 32

/* The anonymous arena: pages are resident only while they hold data. */
enum {
  ARENA_STREAM0 = 0,
  ARENA_STREAM1 = ARENA_STREAM0 + LOG_RECORD_MAX,
  ARENA_WBUF = ARENA_STREAM1 + LOG_RECORD_MAX,
  ARENA_HEALTH = ARENA_WBUF + WBUF_SIZE,
  ARENA_SIZE = ARENA_HEALTH + (HEALTH_LOG_KEEP + 1) * HEALTH_OUTPUT_MAX,
};

enum policy {
  POLICY_NO,
  POLICY_ALWAYS,
  POLICY_UNLESS_STOPPED,
  POLICY_ON_FAILURE,
  _POLICY_MAX,
  _POLICY_INVALID = -EINVAL,
};

static const char *const policy_names[_POLICY_MAX] = {
  [POLICY_NO] = "no",
  [POLICY_ALWAYS] = "always",
  [POLICY_UNLESS_STOPPED] = "unless-stopped",
  [POLICY_ON_FAILURE] = "on-failure",
};

enum state {
  STATE_STARTING, /* a __start helper runs */
  STATE_RUNNING,
  STATE_STOPPING, /* stop signal sent, waiting for the exit */
  STATE_BACKOFF,  /* waiting for the restart delay */
  STATE_EXITED,
};

enum health {
  HEALTH_NONE,
  HEALTH_STARTING,
  HEALTH_HEALTHY,
  HEALTH_UNHEALTHY,
  _HEALTH_MAX,
};

static const char *const health_names[_HEALTH_MAX] = {
  [HEALTH_NONE] = "none",
  [HEALTH_STARTING] = "starting",
  [HEALTH_HEALTHY] = "healthy",
  [HEALTH_UNHEALTHY] = "unhealthy",
};

/* epoll tags */
enum {
  TAG_SIGNAL = 1,
  TAG_TIMER,
  TAG_STDOUT,
  TAG_STDERR,
  TAG_REPORT,
  TAG_HEALTH,
  TAG_CONSOLE,
  TAG_CONSOLE_CONN,
};

struct config {
  const char *dir, *id, *bothy, *root;
  enum policy policy;
  long max_retries;
  long long log_max_size;
  long log_max_files;
  int stop_signal;
  long stop_timeout;
  bool tty, interactive;
  long hold_fds; /* fds 4 .. 4+hold_fds-1: held open for the container's life (its ports) */
  long long health_interval, health_timeout, health_start_period; /* ms */
  long health_retries;
};

struct stream {
  const char *name;
  int tag;
  int fd;    /* read end of the pipe, or the pty master; -1: none */
  char *buf; /* LOG_RECORD_MAX bytes in the arena: the line being assembled */
  size_t len;
};

struct health_entry {
  char start[TIME_LEN], end[TIME_LEN];
  int exit_code;
  char *output; /* HEALTH_OUTPUT_MAX bytes in the arena */
  size_t output_len;
};

struct reaped {
  pid_t pid;
  int status;
};

struct monitor {
  struct config cfg;
  int dir_fd, epoll_fd, signal_fd, timer_fd, devnull_fd;
  int report_fd; /* fd 3 to bothy until the one report line is written */
  int log_fd;
  uint64_t log_size;
  int out_w, err_w, in_r, in_w; /* kept for every (re)start */
  struct stream streams[2];
  char *arena, *wbuf;
  uintptr_t page_size;
  char *console_path;
  int console_fd, console_conn_fd;

  enum state state;
  bool reported;
  pid_t pid; /* the container's init; 0: none */
  unsigned long long pid_start;
  pid_t self_pid;
  unsigned long long self_start;
  char started_at[TIME_LEN], finished_at[TIME_LEN];
  int64_t started_mono;
  int exit_code;
  long restart_count;
  int64_t backoff_ms;
  bool manual_stop;  /* the user stopped or killed it */
  bool stop_final;   /* no restart after this exit (SIGUSR1, SIGTERM, SIGINT) */
  bool stop_pending; /* a stop asked for while a start was running */
  long stop_pending_timeout;
  int kill_pending; /* a signal asked for while a start was running */
  char error[MESSAGE_MAX];

  /* the __start helper */
  pid_t start_pid;
  int start_fd;
  char report[MESSAGE_MAX];
  size_t report_len;
  bool start_done;
  struct reaped reaped[REAPED_KEEP]; /* children reaped while the init's pid was unknown */
  unsigned n_reaped;

  /* deadlines, CLOCK_MONOTONIC in ms, 0: none */
  int64_t restart_at, kill_at, health_at, health_kill_at, timer_armed;

  bool health_on;
  enum health health;
  long failing_streak;
  bool unhealthy_stop;
  pid_t health_pid;
  int health_fd;
  int64_t health_started_mono;
  struct health_entry health_log[HEALTH_LOG_KEEP + 1]; /* the last one: the check running */
  unsigned n_health;
};

static const char *program_id = "";

/* ---- small helpers ---------------------------------------------------------- */

_printf_(1, 2) static void warnf(const char *fmt, ...)
{
  char buf[MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "bothy-monitor: %s%s%s\n", program_id, *program_id ? ": " : "", buf);
}

static int64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_digits(char *p, uint64_t v, int width)
{
  for (int i = width - 1; i >= 0; i--) {
    p[i] = (char) ('0' + v % 10);
    v /= 10;
  }
}

/* RFC3339 in UTC with nanoseconds. Computed by hand (Howard Hinnant's
 * civil_from_days): glibc's gmtime_r() initialises the time zone on its first
 * call, reading TZ and /etc/localtime into the heap, which the monitor never
 * needs. */
static void format_now(char out[TIME_LEN])
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t secs = ts.tv_sec;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  uint64_t doe = (uint64_t) (z - era * 146097);
  uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  uint64_t mp = (5 * doy + 2) / 153;
  uint64_t day = doy - (153 * mp + 2) / 5 + 1;
  uint64_t month = mp < 10 ? mp + 3 : mp - 9;
  int64_t year = (int64_t) yoe + era * 400 + (month <= 2);

  if (year < 0 || year > 9999)
    year = 0;
  put_digits(out, (uint64_t) year, 4);
  out[4] = '-';
  put_digits(out + 5, month, 2);
  out[7] = '-';
  put_digits(out + 8, day, 2);
  out[10] = 'T';
  put_digits(out + 11, (uint64_t) rem / 3600, 2);
  out[13] = ':';
  put_digits(out + 14, (uint64_t) rem / 60 % 60, 2);
  out[16] = ':';
  put_digits(out + 17, (uint64_t) rem % 60, 2);
  out[19] = '.';
  put_digits(out + 20, (uint64_t) ts.tv_nsec, 9);
  out[29] = 'Z';
  out[30] = '\0';
}

static int write_all(int fd, const void *p, size_t n)
{
  const char *c = p;
  while (n > 0) {
    ssize_t r = write(fd, c, n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    c += r;
    n -= (size_t) r;
  }
  return 0;
}

/* Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 when
 * the process is gone. The comm field may hold spaces and ')': parse after
 * the last ')'. */
static unsigned long long proc_starttime(pid_t pid)
{
  char path[32], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p)
    return 0;
  p++;
  for (int field = 3; *p; field++) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    if (field == 22)
      return strtoull(p, NULL, 10);
    while (*p && *p != ' ')
      p++;
  }
  return 0;
}

static int epoll_add(struct monitor *m, int fd, int tag)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t) tag };
  return epoll_ctl(m->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* Removes fd from the loop and closes it; returns -1 for `x = close_watched(m, x)`. */
static int close_watched(struct monitor *m, int fd)
{
  if (fd >= 0) {
    epoll_ctl(m->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
  }
  return -1;
}

/* ---- JSON output ------------------------------------------------------------ */

/* A buffered writer onto a file; with fd < 0 it only counts the bytes. */
struct writer {
  int fd;
  char *buf;
  size_t cap, len;
  uint64_t total;
  bool failed;
};

static void w_flush(struct writer *w)
{
  if (w->fd >= 0 && w->len > 0 && !w->failed && write_all(w->fd, w->buf, w->len) < 0)
    w->failed = true;
  w->len = 0;
}

static void w_put(struct writer *w, const void *p, size_t n)
{
  const char *c = p;
  w->total += n;
  if (w->fd < 0)
    return;
  while (n > 0) {
    if (w->len == w->cap)
      w_flush(w);
    size_t k = w->cap - w->len;
    if (k > n)
      k = n;
    memcpy(w->buf + w->len, c, k);
    w->len += k;
    c += k;
    n -= k;
  }
}

static void w_str(struct writer *w, const char *s)
{
  w_put(w, s, strlen(s));
}

static void w_int(struct writer *w, long long v)
{
  char b[24];
  char *end = b + sizeof b, *p = end;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long) v : (unsigned long long) v;
  do {
    *--p = (char) ('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--p = '-';
  w_put(w, p, (size_t) (end - p));
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
  unsigned char c = p[0], lo = 0x80, hi = 0xBF;
  size_t len;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if (n < len || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if ((p[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/* A JSON string: quotes, backslashes and control characters escaped, bytes
 * that are not well-formed UTF-8 replaced by U+FFFD (as docker's json-file
 * does), so the output is always valid JSON. */
static void w_json(struct writer *w, const char *s, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *) s;
  size_t i = 0, run = 0;

  w_put(w, "\"", 1);
  while (i < n) {
    unsigned char c = p[i];
    size_t k;

    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      continue;
    }
    if (c >= 0x80 && (k = utf8_sequence(p + i, n - i)) > 0) {
      i += k;
      continue;
    }
    w_put(w, p + run, i - run);
    switch (c) {
    case '"':
      w_put(w, "\\\"", 2);
      break;
    case '\\':
      w_put(w, "\\\\", 2);
      break;
    case '\n':
      w_put(w, "\\n", 2);
      break;
    case '\r':
      w_put(w, "\\r", 2);
      break;
    case '\t':
      w_put(w, "\\t", 2);
      break;
    case '\b':
      w_put(w, "\\b", 2);
      break;
    case '\f':
      w_put(w, "\\f", 2);
      break;
    default:
      if (c < 0x20) {
        char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
        w_put(w, e, sizeof e);
      } else
        w_put(w, "\\ufffd", 6);
    }
    i++;
    run = i;
  }
  w_put(w, p + run, i - run);
  w_put(w, "\"", 1);
}

static void w_json_str(struct writer *w, const char *s)
{
  w_json(w, s, strlen(s));
}

/* ---- status.json ------------------------------------------------------------ */

static const char *status_name(const struct monitor *m)
{
  switch (m->state) {
  case STATE_STARTING:
    return m->reported ? "restarting" : "starting";
  case STATE_RUNNING:
    return "running";
  case STATE_STOPPING:
    return "stopping";
  case STATE_BACKOFF:
    return "restarting";
  case STATE_EXITED:
    break;
  }
  return "exited";
}

/* Replaced atomically: readers see the old or the new file, never a part. */
static void status_write(struct monitor *m)
{
  _cleanup_close_ int fd =
      openat(m->dir_fd, STATUS_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    warnf("cannot write '%s/%s': %s", m->cfg.dir, STATUS_TMP, strerror(errno));
    return;
  }
  struct writer w = { .fd = fd, .buf = m->wbuf, .cap = WBUF_SIZE };

  w_str(&w, "{\"status\":\"");
  w_str(&w, status_name(m));
  w_str(&w, "\",\"pid\":");
  w_int(&w, m->pid);
  w_str(&w, ",\"pid_start\":");
  w_int(&w, (long long) m->pid_start);
  w_str(&w, ",\"monitor_pid\":");
  w_int(&w, m->self_pid);
  w_str(&w, ",\"monitor_start\":");
  w_int(&w, (long long) m->self_start);
  w_str(&w, ",\"started_at\":\"");
  w_str(&w, m->started_at);
  w_str(&w, "\",\"finished_at\":\"");
  w_str(&w, m->finished_at);
  w_str(&w, "\",\"exit_code\":");
  w_int(&w, m->exit_code);
  w_str(&w, ",\"restart_count\":");
  w_int(&w, m->restart_count);
  w_str(&w, ",\"manual_stop\":");
  w_str(&w, m->manual_stop ? "true" : "false");
  w_str(&w, ",\"error\":");
  w_json_str(&w, m->error);
  w_str(&w, ",\"health\":{\"status\":\"");
  w_str(&w, health_names[m->health]);
  w_str(&w, "\",\"failing_streak\":");
  w_int(&w, m->failing_streak);
  w_str(&w, ",\"log\":[");
  for (unsigned i = 0; i < m->n_health; i++) {
    const struct health_entry *e = &m->health_log[i];
    w_str(&w, i ? ",{\"start\":\"" : "{\"start\":\"");
    w_str(&w, e->start);
    w_str(&w, "\",\"end\":\"");
    w_str(&w, e->end);
    w_str(&w, "\",\"exit_code\":");
    w_int(&w, e->exit_code);
    w_str(&w, ",\"output\":");
    w_json(&w, e->output, e->output_len);
    w_str(&w, "}");
  }
  w_str(&w, "]}}\n");
  w_flush(&w);

  if (w.failed || fsync(fd) < 0) {
    warnf("cannot write '%s/%s': %s", m->cfg.dir, STATUS_TMP, strerror(errno));
    unlinkat(m->dir_fd, STATUS_TMP, 0);
    return;
  }
  if (renameat(m->dir_fd, STATUS_TMP, m->dir_fd, MONITOR_STATUS_FILE) < 0)
    warnf("cannot rename '%s/%s': %s", m->cfg.dir, STATUS_TMP, strerror(errno));
}

/* The one line on fd 3. */
_printf_(2, 3) static void report(struct monitor *m, const char *fmt, ...)
{
  char buf[MESSAGE_MAX + 16];
  va_list ap;

  m->reported = true;
  if (m->report_fd < 0)
    return;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t) n >= sizeof buf) {
    n = sizeof buf - 1;
    buf[n - 1] = '\n';
  }
  write_all(m->report_fd, buf, (size_t) n); /* bothy may be gone: nothing to do then */
  m->report_fd = safe_close(m->report_fd);
}

/* ---- container.log ---------------------------------------------------------- */

static int log_open(struct monitor *m)
{
  m->log_fd = openat(m->dir_fd, MONITOR_LOG_FILE,
                     O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (m->log_fd < 0)
    return -errno;
  struct stat st;
  m->log_size = fstat(m->log_fd, &st) == 0 ? (uint64_t) st.st_size : 0;
  return 0;
}

/* container.log.(N-2) -> .(N-1) ... container.log -> .1: the oldest is
 * replaced by the rename onto it. */
static void log_rotate(struct monitor *m)
{
  char from[64], to[64];

  if (m->cfg.log_max_files <= 1) {
    if (ftruncate(m->log_fd, 0) < 0)
      warnf("cannot truncate '%s/%s': %s", m->cfg.dir, MONITOR_LOG_FILE, strerror(errno));
    m->log_size = 0;
    return;
  }
  for (long i = m->cfg.log_max_files - 2; i >= 1; i--) {
    snprintf(from, sizeof from, "%s.%ld", MONITOR_LOG_FILE, i);
    snprintf(to, sizeof to, "%s.%ld", MONITOR_LOG_FILE, i + 1);
    if (renameat(m->dir_fd, from, m->dir_fd, to) < 0 && errno != ENOENT)
      warnf("cannot rename '%s/%s': %s", m->cfg.dir, from, strerror(errno));
  }
  snprintf(to, sizeof to, "%s.1", MONITOR_LOG_FILE);
  if (renameat(m->dir_fd, MONITOR_LOG_FILE, m->dir_fd, to) < 0)
    warnf("cannot rename '%s/%s': %s", m->cfg.dir, MONITOR_LOG_FILE, strerror(errno));
  m->log_fd = safe_close(m->log_fd);
  int r = log_open(m);
  if (r < 0)
    warnf("cannot open '%s/%s': %s, the log is lost", m->cfg.dir, MONITOR_LOG_FILE, strerror(-r));
}

static void emit_record(struct writer *w, const char *text, size_t n, const char *stream,
                        const char *time)
{
  w_str(w, "{\"log\":");
  w_json(w, text, n);
  w_str(w, ",\"stream\":\"");
  w_str(w, stream);
  w_str(w, "\",\"time\":\"");
  w_str(w, time);
  w_str(w, "\"}\n");
}

static void log_record(struct monitor *m, const char *stream, const char *text, size_t n)
{
  char now[TIME_LEN];

  if (m->log_fd < 0 || n == 0)
    return;
  format_now(now);
  /* Measure first: rotation happens before a record would pass the limit. */
  struct writer count = { .fd = -1 };
  emit_record(&count, text, n, stream, now);
  if (m->log_size > 0 && m->log_size + count.total > (uint64_t) m->cfg.log_max_size)
    log_rotate(m);
  if (m->log_fd < 0)
    return;
  struct writer w = { .fd = m->log_fd, .buf = m->wbuf, .cap = WBUF_SIZE };
  emit_record(&w, text, n, stream, now);
  w_flush(&w);
  m->log_size += w.total;
}

/* Where to cut a full record: not inside a multi-byte UTF-8 sequence, which
 * would turn both halves into U+FFFD. */
static size_t utf8_cut(const char *buf, size_t n)
{
  const unsigned char *p = (const unsigned char *) buf;
  for (size_t back = 1; back <= 3 && back < n; back++) {
    unsigned char c = p[n - back];
    if ((c & 0xC0) == 0x80)
      continue;
    if (c >= 0xC0) {
      size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (need > back)
        return n - back;
    }
    break;
  }
  return n;
}

/* Emits the complete lines in s->buf (the new bytes start at `from`), and a
 * 16 KiB record without "\n" when the buffer is full with no line end. */
static void stream_split(struct monitor *m, struct stream *s, size_t from)
{
  size_t start = 0;
  char *nl;

  while ((nl = memchr(s->buf + from, '\n', s->len - from))) {
    size_t end = (size_t) (nl - s->buf) + 1;
    log_record(m, s->name, s->buf + start, end - start);
    start = from = end;
  }
  if (start == 0 && s->len == LOG_RECORD_MAX) {
    start = utf8_cut(s->buf, s->len);
    log_record(m, s->name, s->buf, start);
  }
  if (start > 0) {
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
  }
}

static void stream_flush(struct monitor *m, struct stream *s)
{
  log_record(m, s->name, s->buf, s->len);
  s->len = 0;
}

/* Reads what is there. drain: until nothing is left (the container exited). */
static void stream_read(struct monitor *m, struct stream *s, bool drain)
{
  for (int round = 0; s->fd >= 0; round++) {
    if (round >= (drain ? DRAIN_READS_MAX : READS_PER_EVENT))
      break;
    ssize_t n = read(s->fd, s->buf + s->len, LOG_RECORD_MAX - s->len);
    if (n > 0) {
      size_t from = s->len;
      s->len += (size_t) n;
      stream_split(m, s, from);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    /* EOF, or EIO from a pty master once every slave fd is closed. */
    stream_flush(m, s);
    s->fd = close_watched(m, s->fd);
  }
}

/* ---- helpers: posix_spawn ----------------------------------------------------- */

/* Runs `bothy [--root ROOT] VERB ID [EXTRA...]` with fds[i] as its fd i
 * (-1: the monitor's own fd i, or nothing for fd 3). Everything else is
 * closed: every fd of the monitor is O_CLOEXEC, and closefrom makes sure. */
static pid_t spawn_helper(struct monitor *m, const char *verb, const char *extra1,
                          const char *extra2, const int fds[4])
{
  const char *argv[8];
  size_t n = 0;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t empty, dfl;
  pid_t pid;
  int r;

  argv[n++] = m->cfg.bothy;
  if (m->cfg.root) {
    argv[n++] = "--root";
    argv[n++] = m->cfg.root;
  }
  argv[n++] = verb;
  argv[n++] = m->cfg.id;
  if (extra1)
    argv[n++] = extra1;
  if (extra2)
    argv[n++] = extra2;
  argv[n] = NULL;

  posix_spawn_file_actions_init(&fa);
  for (int i = 0; i < 4; i++)
    if (fds[i] >= 0)
      posix_spawn_file_actions_adddup2(&fa, fds[i], i);
  posix_spawn_file_actions_addclosefrom_np(&fa, fds[3] >= 0 ? 4 : 3);
  posix_spawnattr_init(&attr);
  /* Nothing of the monitor's signal state reaches the container: not its
   * mask, not the SIGPIPE it ignores, not a SIGINT ignored by whatever
   * started bothy in the background. */
  sigemptyset(&empty);
  sigfillset(&dfl);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  r = posix_spawn(&pid, m->cfg.bothy, &fa, &attr, (char *const *) argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (r != 0) {
    errno = r;
    return -1;
  }
  return pid;
}

/* ---- the console socket (--tty) -------------------------------------------- */

static void console_close(struct monitor *m)
{
  m->console_conn_fd = close_watched(m, m->console_conn_fd);
  if (m->console_fd >= 0) {
    m->console_fd = close_watched(m, m->console_fd);
    unlinkat(m->dir_fd, MONITOR_CONSOLE_SOCKET, 0);
  }
}

static int console_listen(struct monitor *m)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };

  console_close(m);
  unlinkat(m->dir_fd, MONITOR_CONSOLE_SOCKET, 0);
  /* sun_path holds 108 bytes; a longer DIR is reached through the fd. */
  if (strlen(m->console_path) < sizeof sa.sun_path)
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", m->console_path);
  else
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", m->dir_fd,
             MONITOR_CONSOLE_SOCKET);
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen(fd, 1) < 0)
    return -errno;
  if (fchmodat(m->dir_fd, MONITOR_CONSOLE_SOCKET, 0600, 0) < 0 || epoll_add(m, fd, TAG_CONSOLE) < 0)
    return -errno;
  m->console_fd = TAKE_FD(fd);
  return 0;
}

/* Takes the pty master from the connection (runc's --console-socket protocol:
 * one message carrying the fd as SCM_RIGHTS). */
static void console_recv(struct monitor *m)
{
  char data[256];
  struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int) * 4)];
  } ctl;
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf
  };
  int master = -1;

  ssize_t n = recvmsg(m->console_conn_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfds; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (master < 0)
        master = fd;
      else
        close(fd);
    }
  }
  m->console_conn_fd = close_watched(m, m->console_conn_fd);
  if (master < 0) {
    warnf("no terminal received on the console socket");
    return;
  }
  struct stream *s = &m->streams[0];
  if (s->fd >= 0) {
    stream_read(m, s, true);
    s->fd = close_watched(m, s->fd);
  }
  if (fcntl(master, F_SETFL, O_NONBLOCK) < 0 || epoll_add(m, master, s->tag) < 0) {
    warnf("cannot watch the terminal: %s", strerror(errno));
    close(master);
    return;
  }
  s->fd = master;
}

static void console_accept(struct monitor *m)
{
  while (m->console_fd >= 0) {
    int c = accept4(m->console_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0)
      return;
    m->console_conn_fd = close_watched(m, m->console_conn_fd);
    if (epoll_add(m, c, TAG_CONSOLE_CONN) < 0) {
      close(c);
      continue;
    }
    m->console_conn_fd = c;
    console_recv(m);
  }
}

/* ---- life cycle -------------------------------------------------------------- */

static void container_start(struct monitor *m);
static void container_exited(struct monitor *m, int status);

static bool should_restart(const struct monitor *m)
{
  if (m->stop_final || m->manual_stop)
    return false;
  switch (m->cfg.policy) {
  case POLICY_ALWAYS:
  case POLICY_UNLESS_STOPPED:
    return true;
  case POLICY_ON_FAILURE:
    return m->exit_code != 0 && (m->cfg.max_retries == 0 || m->restart_count < m->cfg.max_retries);
  default:
    return false;
  }
}

static void run_cleanup(struct monitor *m)
{
  const int fds[4] = { m->devnull_fd, -1, -1, -1 };
  pid_t pid = spawn_helper(m, "__cleanup", NULL, NULL, fds);
  if (pid < 0) {
    warnf("cannot run '%s': %s", m->cfg.bothy, strerror(errno));
    return;
  }
  /* Reap whatever else is left while waiting; signals wait in the signalfd. */
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p == pid) {
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        warnf("the cleanup helper failed (wait status %d)", st);
      return;
    }
    if (p < 0 && errno != EINTR)
      return;
  }
}

/* The last exit: final status, cleanup, and the monitor's own exit. */
_noreturn_ static void finish(struct monitor *m, int code)
{
  m->state = STATE_EXITED;
  m->restart_at = m->kill_at = m->health_at = 0;
  if (m->start_pid > 0) { /* reported, but not gone yet: let it finish first */
    waitpid(m->start_pid, NULL, 0);
    m->start_pid = 0;
  }
  m->start_fd = close_watched(m, m->start_fd);
  if (m->health_pid > 0) {
    kill(m->health_pid, SIGKILL);
    waitpid(m->health_pid, NULL, 0);
    m->health_pid = 0;
  }
  console_close(m);
  status_write(m);
  run_cleanup(m);
  exit(code);
}

static void schedule_restart(struct monitor *m, int64_t ran_ms)
{
  if (ran_ms >= RESTART_RESET_MS)
    m->backoff_ms = RESTART_DELAY_MIN_MS;
  m->restart_at = now_ms() + m->backoff_ms;
  m->backoff_ms =
      m->backoff_ms * 2 > RESTART_DELAY_MAX_MS ? RESTART_DELAY_MAX_MS : m->backoff_ms * 2;
  m->state = STATE_BACKOFF;
  status_write(m);
}

static void start_failed(struct monitor *m, const char *why)
{
  snprintf(m->error, sizeof m->error, "%s", why);
  for (char *p = m->error; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  m->exit_code = START_FAILED_EXIT;
  m->pid = 0;
  m->pid_start = 0;
  format_now(m->finished_at);
  if (!m->reported) {
    report(m, "error %s\n", m->error);
    finish(m, 1);
  }
  if (should_restart(m))
    schedule_restart(m, 0);
  else
    finish(m, 0);
}

/* Sends the stop signal; SIGKILL follows after timeout_s. */
static void container_stop(struct monitor *m, long timeout_s)
{
  int64_t deadline = now_ms() + (int64_t) timeout_s * 1000;

  switch (m->state) {
  case STATE_STARTING:
    if (!m->stop_pending || timeout_s < m->stop_pending_timeout)
      m->stop_pending_timeout = timeout_s;
    m->stop_pending = true;
    break;
  case STATE_BACKOFF:
    if (m->stop_final || m->manual_stop)
      finish(m, 0);
    break;
  case STATE_RUNNING:
    if (kill(m->pid, m->cfg.stop_signal) < 0 && errno != ESRCH)
      warnf("cannot signal %d: %s", (int) m->pid, strerror(errno));
    m->state = STATE_STOPPING;
    m->kill_at = deadline;
    break;
  case STATE_STOPPING:
    if (deadline < m->kill_at)
      m->kill_at = deadline;
    break;
  case STATE_EXITED:
    break;
  }
  status_write(m);
}

static void health_reset(struct monitor *m)
{
  m->unhealthy_stop = false;
  m->failing_streak = 0;
  m->health = m->health_on ? HEALTH_STARTING : HEALTH_NONE;
  m->health_at = m->health_on ? now_ms() + m->cfg.health_interval : 0;
}

static void container_started(struct monitor *m, pid_t pid)
{
  m->start_done = true;
  m->pid = pid;
  m->pid_start = proc_starttime(pid);
  format_now(m->started_at);
  m->started_mono = now_ms();
  m->error[0] = '\0';
  m->state = STATE_RUNNING;
  health_reset(m);
  status_write(m);
  if (!m->reported)
    report(m, "ok %d\n", (int) pid);

  /* Reaped already (its pid was not known yet): it must not be signalled,
   * the pid may be reused. */
  unsigned n = m->n_reaped < REAPED_KEEP ? m->n_reaped : REAPED_KEEP;
  for (unsigned i = 0; i < n; i++)
    if (m->reaped[i].pid == pid) {
      container_exited(m, m->reaped[i].status);
      return;
    }
  if (m->kill_pending) {
    kill(pid, m->kill_pending);
    m->kill_pending = 0;
  }
  if (m->stop_pending) {
    m->stop_pending = false;
    container_stop(m, m->stop_pending_timeout);
  }
}

/* "PID\n" or "error MESSAGE\n" on the helper's fd 3. */
static bool report_parse(struct monitor *m, bool helper_exited, int helper_status)
{
  char *nl = memchr(m->report, '\n', m->report_len);
  char why[MESSAGE_MAX];

  if (!nl && !helper_exited)
    return false;
  if (nl)
    *nl = '\0';
  else
    m->report[m->report_len] = '\0';

  char *end;
  errno = 0;
  long pid = strtol(m->report, &end, 10);
  if (m->report[0] >= '0' && m->report[0] <= '9' && errno == 0 && *end == '\0' && pid > 0 &&
      pid <= INT_MAX) {
    container_started(m, (pid_t) pid);
    return true;
  }
  if (!helper_exited)
    return false; /* wait for the helper to exit before acting on its failure */
  if (strncmp(m->report, "error ", 6) == 0)
    snprintf(why, sizeof why, "%s", m->report + 6);
  else if (m->report[0])
    snprintf(why, sizeof why, "the start helper reported '%.400s'", m->report);
  else if (WIFSIGNALED(helper_status))
    snprintf(why, sizeof why, "the start helper was killed by signal %d", WTERMSIG(helper_status));
  else
    snprintf(why, sizeof why, "the start helper exited with status %d without reporting",
             WEXITSTATUS(helper_status));
  start_failed(m, why);
  return true;
}

static void report_read(struct monitor *m)
{
  while (m->start_fd >= 0) {
    ssize_t n = read(m->start_fd, m->report + m->report_len, sizeof m->report - 1 - m->report_len);
    if (n > 0) {
      m->report_len += (size_t) n;
      if (m->report_len < sizeof m->report - 1)
        continue;
    } else if (n < 0 && errno == EINTR)
      continue;
    else if (n < 0 && errno == EAGAIN)
      break;
    /* EOF, an error, or a full buffer: nothing more to read. */
    m->start_fd = close_watched(m, m->start_fd);
  }
  if (!m->start_done && memchr(m->report, '\n', m->report_len))
    report_parse(m, false, 0);
}

static void start_helper_exited(struct monitor *m, int status)
{
  m->start_pid = 0;
  report_read(m);
  m->start_fd = close_watched(m, m->start_fd);
  if (m->cfg.tty) {
    console_accept(m); /* a master sent just before the helper exited */
    if (m->console_conn_fd >= 0)
      console_recv(m);
    console_close(m);
  }
  if (!m->start_done) {
    report_parse(m, true, status);
    return;
  }
  /* The init should now be our child (we are its subreaper). If another
   * process reaped it, its exit status is lost. */
  if (m->pid > 0 && (m->state == STATE_RUNNING || m->state == STATE_STOPPING)) {
    siginfo_t si = { 0 };
    if (waitid(P_PID, (id_t) m->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD) {
      if (kill(m->pid, 0) < 0 && errno == ESRCH) {
        warnf("container process %d is gone and was not our child", (int) m->pid);
        container_exited(m, W_EXITCODE(255, 0));
      } else
        warnf("container process %d is not a child of the monitor", (int) m->pid);
    }
  }
}

static void container_start(struct monitor *m)
{
  char why[MESSAGE_MAX];
  int rp[2];

  m->n_reaped = 0;
  m->start_fd = close_watched(m, m->start_fd);
  m->report_len = 0;
  m->start_done = false;
  m->state = STATE_STARTING;
  if (m->cfg.tty) {
    int r = console_listen(m);
    if (r < 0) {
      snprintf(why, sizeof why, "cannot create '%s': %s", m->console_path, strerror(-r));
      start_failed(m, why);
      return;
    }
  }
  if (pipe2(rp, O_CLOEXEC) < 0) {
    snprintf(why, sizeof why, "cannot create a pipe: %s", strerror(errno));
    start_failed(m, why);
    return;
  }
  fcntl(rp[0], F_SETFL, O_NONBLOCK);
  const int fds[4] = {
    m->cfg.interactive ? m->in_r : m->devnull_fd,
    m->cfg.tty ? -1 : m->out_w,
    m->cfg.tty ? -1 : m->err_w,
    rp[1],
  };
  pid_t pid = spawn_helper(m, "__start", m->cfg.tty ? "--console-socket" : NULL,
                           m->cfg.tty ? m->console_path : NULL, fds);
  int saved = errno;
  close(rp[1]);
  if (pid < 0) {
    close(rp[0]);
    console_close(m);
    snprintf(why, sizeof why, "cannot run '%s': %s", m->cfg.bothy, strerror(saved));
    start_failed(m, why);
    return;
  }
  m->start_pid = pid;
  m->start_fd = rp[0];
  if (epoll_add(m, m->start_fd, TAG_REPORT) < 0)
    warnf("cannot watch the start helper: %s", strerror(errno)); /* read when it exits */
  status_write(m);
}

static void container_exited(struct monitor *m, int status)
{
  for (size_t i = 0; i < ARRAY_SIZE(m->streams); i++) {
    struct stream *s = &m->streams[i];
    stream_read(m, s, true);
    stream_flush(m, s);
    if (m->cfg.tty) /* a new pty comes with the next start */
      s->fd = close_watched(m, s->fd);
  }
  m->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  format_now(m->finished_at);
  m->pid = 0;
  m->pid_start = 0;
  m->kill_at = 0;
  m->health_at = 0;
  if (should_restart(m))
    schedule_restart(m, now_ms() - m->started_mono);
  else
    finish(m, 0);
}

/* ---- health checks -------------------------------------------------------------- */

static void health_finish(struct monitor *m, int code)
{
  struct health_entry *e = &m->health_log[m->n_health];
  bool current = m->state == STATE_RUNNING && m->health_started_mono >= m->started_mono;

  format_now(e->end);
  e->exit_code = code;
  if (++m->n_health > HEALTH_LOG_KEEP) {
    /* Drop the oldest; its output buffer becomes the spare one. */
    struct health_entry old = m->health_log[0];
    memmove(&m->health_log[0], &m->health_log[1], HEALTH_LOG_KEEP * sizeof old);
    m->health_log[HEALTH_LOG_KEEP] = old;
    m->n_health = HEALTH_LOG_KEEP;
  }
  if (current) {
    bool in_start_period = m->health_started_mono - m->started_mono < m->cfg.health_start_period;
    if (code == 0) {
      m->health = HEALTH_HEALTHY;
      m->failing_streak = 0;
    } else if (!in_start_period && ++m->failing_streak >= m->cfg.health_retries)
      m->health = HEALTH_UNHEALTHY;
  }
  status_write(m);
  if (current && m->health == HEALTH_UNHEALTHY && m->cfg.policy != POLICY_NO &&
      !m->unhealthy_stop) {
    /* Stopped like SIGTERM but not final: the policy restarts it. */
    m->unhealthy_stop = true;
    container_stop(m, m->cfg.stop_timeout);
  }
}

static void health_read(struct monitor *m)
{
  struct health_entry *e = &m->health_log[m->n_health];

  while (m->health_fd >= 0) {
    char *dst = e->output + e->output_len;
    size_t room = HEALTH_OUTPUT_MAX - e->output_len;
    if (room == 0) { /* past the first 4 KiB: read and forget */
      dst = m->wbuf;
      room = WBUF_SIZE;
    }
    ssize_t n = read(m->health_fd, dst, room);
    if (n > 0) {
      if (dst != m->wbuf)
        e->output_len += (size_t) n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    m->health_fd = close_watched(m, m->health_fd);
  }
}

static void health_start(struct monitor *m)
{
  struct health_entry *e = &m->health_log[m->n_health];
  int p[2];

  e->output_len = 0;
  format_now(e->start);
  m->health_started_mono = now_ms();
  if (pipe2(p, O_CLOEXEC) < 0) {
    e->output_len = (size_t) snprintf(e->output, HEALTH_OUTPUT_MAX, "cannot create a pipe: %s",
                                      strerror(errno));
    health_finish(m, -1);
    return;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  const int fds[4] = { m->devnull_fd, p[1], p[1], -1 };
  pid_t pid = spawn_helper(m, "__health", NULL, NULL, fds);
  int saved = errno;
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    e->output_len = (size_t) snprintf(e->output, HEALTH_OUTPUT_MAX, "cannot run '%s': %s",
                                      m->cfg.bothy, strerror(saved));
    health_finish(m, -1);
    return;
  }
  m->health_pid = pid;
  m->health_fd = p[0];
  if (epoll_add(m, p[0], TAG_HEALTH) < 0)
    warnf("cannot watch the health helper: %s", strerror(errno));
  m->health_kill_at = m->health_started_mono + m->cfg.health_timeout + HEALTH_GRACE_MS;
}

static void health_helper_exited(struct monitor *m, int status)
{
  m->health_pid = 0;
  m->health_kill_at = 0;
  health_read(m);
  m->health_fd = close_watched(m, m->health_fd);
  health_finish(m, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- events ---------------------------------------------------------------------- */

static void reap(struct monitor *m)
{
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, WNOHANG);
    if (p <= 0)
      return;
    if (p == m->start_pid)
      start_helper_exited(m, st);
    else if (p == m->health_pid)
      health_helper_exited(m, st);
    else if (m->pid > 0 && p == m->pid)
      container_exited(m, st);
    else if (m->state == STATE_STARTING)
      m->reaped[m->n_reaped++ % REAPED_KEEP] = (struct reaped){ .pid = p, .status = st };
    /* else: an orphan that was reparented to us; only the init's exit counts */
  }
}

static void signal_read(struct monitor *m)
{
  struct signalfd_siginfo si;

  while (read(m->signal_fd, &si, sizeof si) == (ssize_t) sizeof si) {
    /* bothy sends a value with sigqueue(); a plain kill() carries none. */
    bool queued = si.ssi_code == SI_QUEUE;
    switch (si.ssi_signo) {
    case SIGCHLD:
      reap(m);
      break;
    case SIGUSR1: {
      long timeout = queued ? (long) si.ssi_int : -1;
      m->manual_stop = true;
      m->stop_final = true;
      container_stop(m, timeout < 0 ? m->cfg.stop_timeout : timeout);
      break;
    }
    case SIGUSR2: {
      int sig = queued ? si.ssi_int : SIGKILL;
      if (sig <= 0 || sig >= NSIG) {
        warnf("ignoring SIGUSR2 with signal number %d", sig);
        break;
      }
      m->manual_stop = true;
      if (m->state == STATE_RUNNING || m->state == STATE_STOPPING) {
        if (kill(m->pid, sig) < 0 && errno != ESRCH)
          warnf("cannot signal %d: %s", (int) m->pid, strerror(errno));
      } else if (m->state == STATE_STARTING)
        m->kill_pending = sig;
      else if (m->state == STATE_BACKOFF)
        finish(m, 0); /* killed while waiting to restart: it stays down */
      status_write(m);
      break;
    }
    case SIGTERM:
    case SIGINT:
      m->stop_final = true;
      container_stop(m, m->cfg.stop_timeout);
      break;
    }
  }
}

static void timer_fired(struct monitor *m)
{
  uint64_t ticks;
  if (read(m->timer_fd, &ticks, sizeof ticks) < 0 && errno == EAGAIN)
    return;
  m->timer_armed = 0;
  int64_t now = now_ms();

  if (m->kill_at && now >= m->kill_at) {
    m->kill_at = 0;
    if (m->pid > 0 && kill(m->pid, SIGKILL) < 0 && errno != ESRCH)
      warnf("cannot kill %d: %s", (int) m->pid, strerror(errno));
  }
  if (m->health_kill_at && now >= m->health_kill_at) {
    m->health_kill_at = 0;
    if (m->health_pid > 0)
      kill(m->health_pid, SIGKILL);
  }
  if (m->health_at && now >= m->health_at) {
    m->health_at = m->state == STATE_RUNNING ? now + m->cfg.health_interval : 0;
    if (m->state == STATE_RUNNING && m->health_pid <= 0)
      health_start(m);
  }
  if (m->restart_at && now >= m->restart_at && m->state == STATE_BACKOFF) {
    if (m->start_pid > 0) /* the previous start helper has not exited yet */
      m->restart_at = now + RESTART_DELAY_MIN_MS;
    else {
      m->restart_at = 0;
      m->restart_count++;
      container_start(m);
    }
  }
}

static void timer_arm(struct monitor *m)
{
  const int64_t deadlines[] = { m->restart_at, m->kill_at, m->health_at, m->health_kill_at };
  int64_t next = 0;

  for (size_t i = 0; i < ARRAY_SIZE(deadlines); i++)
    if (deadlines[i] > 0 && (next == 0 || deadlines[i] < next))
      next = deadlines[i];
  if (next == m->timer_armed)
    return;
  struct itimerspec its = { 0 };
  if (next > 0) {
    its.it_value.tv_sec = next / 1000;
    its.it_value.tv_nsec = (next % 1000) * 1000000;
  }
  if (timerfd_settime(m->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
    warnf("cannot arm the timer: %s", strerror(errno));
  m->timer_armed = next;
}

/* ---- memory --------------------------------------------------------------------- */

static void drop_pages(struct monitor *m, char *start, char *end)
{
  uintptr_t s = ((uintptr_t) start + m->page_size - 1) & ~(m->page_size - 1);
  uintptr_t e = (uintptr_t) end & ~(m->page_size - 1);
  if (e > s)
    madvise((void *) s, e - s, MADV_DONTNEED);
}

struct smaps_state {
  uintptr_t start[MAX_SMAPS_MAPPINGS], end[MAX_SMAPS_MAPPINGS];
  size_t n;
  uintptr_t cur_start, cur_end;
  bool candidate, clean;
};

static void smaps_commit(struct smaps_state *st)
{
  if (st->candidate && st->clean && st->n < MAX_SMAPS_MAPPINGS) {
    st->start[st->n] = st->cur_start;
    st->end[st->n] = st->cur_end;
    st->n++;
  }
  st->candidate = st->clean = false;
}

static void smaps_line(struct smaps_state *st, const char *line)
{
  char *e;

  if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f')) {
    /* "start-end perms offset dev inode path" */
    smaps_commit(st);
    uintptr_t s = strtoull(line, &e, 16);
    if (*e != '-')
      return;
    uintptr_t en = strtoull(e + 1, &e, 16);
    if (*e != ' ' || strlen(e) < 5)
      return;
    const char *perms = e + 1;
    strtoull(perms + 4, &e, 16); /* offset */
    while (*e == ' ')
      e++;
    while (*e && *e != ' ') /* device */
      e++;
    unsigned long long inode = strtoull(e, &e, 10);
    while (*e == ' ')
      e++;
    st->cur_start = s;
    st->cur_end = en;
    st->candidate = perms[1] != 'w' && inode != 0 && *e == '/';
  } else if (strncmp(line, "Anonymous:", 10) == 0)
    st->clean = strtoull(line + 10, NULL, 10) == 0;
}

/* Drops the resident pages of file mappings that hold only clean page-cache
 * pages: not writable and no anonymous (copied-on-write) page. The kernel
 * reads them back from the page cache on the next fault. A mapping with an
 * anonymous page is left alone: dropping it would lose the relocated data it
 * holds (e.g. RELRO after relocation). */
static void drop_clean_file_pages(struct monitor *m)
{
  _cleanup_close_ int fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  struct smaps_state st = { 0 };
  char *buf = m->wbuf;
  size_t len = 0;
  bool skip = false; /* the rest of a line longer than the buffer */

  for (;;) {
    ssize_t n = read(fd, buf + len, WBUF_SIZE - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t) n;
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', (size_t) (buf + len - line)))) {
      *nl = '\0';
      if (!skip)
        smaps_line(&st, line);
      skip = false;
      line = nl + 1;
    }
    len = (size_t) (buf + len - line);
    memmove(buf, line, len);
    if (len == WBUF_SIZE - 1) {
      buf[len] = '\0';
      if (!skip)
        smaps_line(&st, buf);
      skip = true;
      len = 0;
    }
  }
  smaps_commit(&st);
  for (size_t i = 0; i < st.n; i++)
    madvise((void *) st.start[i], st.end[i] - st.start[i], MADV_DONTNEED);
}

static void trim_memory(struct monitor *m)
{
  drop_clean_file_pages(m);
  drop_pages(m, m->wbuf, m->wbuf + WBUF_SIZE);
  for (size_t i = 0; i < ARRAY_SIZE(m->streams); i++) {
    struct stream *s = &m->streams[i];
    drop_pages(m, s->buf + s->len, s->buf + LOG_RECORD_MAX);
  }
  for (unsigned i = 0; i <= HEALTH_LOG_KEEP; i++) {
    struct health_entry *e = &m->health_log[i];
    bool live = i < m->n_health || (i == m->n_health && m->health_pid > 0);
    drop_pages(m, e->output + (live ? e->output_len : 0), e->output + HEALTH_OUTPUT_MAX);
  }
}

/* ---- set-up -------------------------------------------------------------------- */

_noreturn_ _printf_(1, 2) static void usage_error(const char *fmt, ...)
{
  char buf[MESSAGE_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  dprintf(STDERR_FILENO, "bothy-monitor: %s\n", buf);
  dprintf(STDERR_FILENO, "usage: bothy-monitor --dir DIR --id ID --bothy PATH [--root ROOT] "
                         "[--restart POLICY] [--max-retries N] [--log-max-size BYTES] "
                         "[--log-max-files N] [--stop-signal N] [--stop-timeout S] [--tty] "
                         "[--interactive] [--health-interval MS] [--health-timeout MS] "
                         "[--health-retries N] [--health-start-period MS]\n");
  if (fcntl(3, F_GETFD) >= 0)
    dprintf(3, "error bothy-monitor: %s\n", buf);
  exit(2);
}

static long long parse_number(const char *opt, const char *s, long long min, long long max)
{
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    usage_error("invalid value for --%s: '%s' (a number from %lld to %lld)", opt, s, min, max);
  return v;
}

static void parse_args(struct config *c, int argc, char **argv)
{
  enum {
    OPT_DIR = 256,
    OPT_ID,
    OPT_BOTHY,
    OPT_ROOT,
    OPT_RESTART,
    OPT_MAX_RETRIES,
    OPT_LOG_MAX_SIZE,
    OPT_LOG_MAX_FILES,
    OPT_STOP_SIGNAL,
    OPT_STOP_TIMEOUT,
    OPT_TTY,
    OPT_INTERACTIVE,
    OPT_HEALTH_INTERVAL,
    OPT_HEALTH_TIMEOUT,
    OPT_HEALTH_RETRIES,
    OPT_HEALTH_START_PERIOD,
    OPT_HOLD_FDS,
  };
  static const struct option options[] = {
    { "dir", required_argument, NULL, OPT_DIR },
    { "id", required_argument, NULL, OPT_ID },
    { "bothy", required_argument, NULL, OPT_BOTHY },
    { "root", required_argument, NULL, OPT_ROOT },
    { "restart", required_argument, NULL, OPT_RESTART },
    { "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
    { "log-max-size", required_argument, NULL, OPT_LOG_MAX_SIZE },
    { "log-max-files", required_argument, NULL, OPT_LOG_MAX_FILES },
    { "stop-signal", required_argument, NULL, OPT_STOP_SIGNAL },
    { "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
    { "tty", no_argument, NULL, OPT_TTY },
    { "interactive", no_argument, NULL, OPT_INTERACTIVE },
    { "health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL },
    { "health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT },
    { "health-retries", required_argument, NULL, OPT_HEALTH_RETRIES },
    { "health-start-period", required_argument, NULL, OPT_HEALTH_START_PERIOD },
    { "hold-fds", required_argument, NULL, OPT_HOLD_FDS },
    {},
  };
  const long long day_ms = 24LL * 3600 * 1000;
  int o;

  *c = (struct config){
    .policy = POLICY_NO,
    .log_max_size = MONITOR_LOG_MAX_SIZE,
    .log_max_files = MONITOR_LOG_MAX_FILES,
    .stop_signal = SIGTERM,
    .stop_timeout = 10,
    .health_timeout = HEALTH_TIMEOUT_MS,
    .health_retries = HEALTH_RETRIES,
  };
  opterr = 0;
  while ((o = getopt_long(argc, argv, ":", options, NULL)) != -1) {
    switch (o) {
    case OPT_DIR:
      c->dir = optarg;
      break;
    case OPT_ID:
      c->id = optarg;
      break;
    case OPT_BOTHY:
      c->bothy = optarg;
      break;
    case OPT_ROOT:
      c->root = optarg;
      break;
    case OPT_RESTART: {
      /* docker's on-failure:N is accepted as well */
      const char *colon = strchr(optarg, ':');
      size_t len = colon ? (size_t) (colon - optarg) : strlen(optarg);
      c->policy = _POLICY_INVALID;
      for (int i = 0; i < _POLICY_MAX; i++)
        if (strlen(policy_names[i]) == len && strncmp(optarg, policy_names[i], len) == 0)
          c->policy = (enum policy) i;
      if (c->policy < 0 || (colon && c->policy != POLICY_ON_FAILURE))
        usage_error("invalid restart policy '%s' (no, always, unless-stopped, on-failure)", optarg);
      if (colon)
        c->max_retries = (long) parse_number("restart", colon + 1, 0, INT_MAX);
      break;
    }
    case OPT_MAX_RETRIES:
      c->max_retries = (long) parse_number("max-retries", optarg, 0, INT_MAX);
      break;
    case OPT_LOG_MAX_SIZE:
      c->log_max_size = parse_number("log-max-size", optarg, 1, LLONG_MAX / 2);
      break;
    case OPT_LOG_MAX_FILES:
      c->log_max_files = (long) parse_number("log-max-files", optarg, 1, 1000);
      break;
    case OPT_STOP_SIGNAL:
      c->stop_signal = (int) parse_number("stop-signal", optarg, 1, NSIG - 1);
      break;
    case OPT_STOP_TIMEOUT:
      c->stop_timeout = (long) parse_number("stop-timeout", optarg, 0, INT_MAX / 1000);
      break;
    case OPT_TTY:
      c->tty = true;
      break;
    case OPT_INTERACTIVE:
      c->interactive = true;
      break;
    case OPT_HOLD_FDS:
      c->hold_fds = (long) parse_number("hold-fds", optarg, 0, 4096);
      break;
    case OPT_HEALTH_INTERVAL:
      c->health_interval = parse_number("health-interval", optarg, 0, day_ms);
      break;
    case OPT_HEALTH_TIMEOUT: /* 0: the default, as docker */
      c->health_timeout = parse_number("health-timeout", optarg, 0, day_ms);
      if (c->health_timeout == 0)
        c->health_timeout = HEALTH_TIMEOUT_MS;
      break;
    case OPT_HEALTH_RETRIES:
      c->health_retries = (long) parse_number("health-retries", optarg, 0, INT_MAX);
      if (c->health_retries == 0)
        c->health_retries = HEALTH_RETRIES;
      break;
    case OPT_HEALTH_START_PERIOD:
      c->health_start_period = parse_number("health-start-period", optarg, 0, day_ms);
      break;
    case ':':
      usage_error("option '%s' needs a value", argv[optind - 1]);
    default:
      usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    usage_error("unexpected argument '%s'", argv[optind]);
  if (!c->dir || c->dir[0] != '/')
    usage_error(c->dir ? "--dir must be an absolute path, not '%s'" : "--dir is required%s",
                c->dir ? c->dir : "");
  if (!c->id || !c->id[0] || strchr(c->id, '/'))
    usage_error("--id is required (a container id%s)", " without '/'");
  if (!c->bothy || !c->bothy[0])
    usage_error("--bothy is required%s", "");
}

/* fds 0-2 stay (the monitor's own stdio); fd 3 is the report pipe. Any other
 * inherited fd is closed: the container must not get it. */
static int setup_fds(struct monitor *m)
{
  m->report_fd = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
  for (int fd = 0; fd <= 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0)
      continue;
    /* Keep the numbers taken, so that no later fd lands on 0-3. */
    if (open("/dev/null", O_RDWR) != fd)
      return -EBADF;
  }
  fcntl(3, F_SETFD, FD_CLOEXEC);
  /* --hold-fds: sockets bound to the container's published ports, kept so
   * that nothing else on the host takes them; never passed on. */
  long held = m->cfg.hold_fds;
  for (long fd = 4; fd < 4 + held; fd++)
    fcntl((int) fd, F_SETFD, FD_CLOEXEC);
  close_range((unsigned) (4 + held), ~0U, 0);
  return 0;
}

static int make_pipe(int *ret_r, int *ret_w, bool nonblock_read)
{
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return -errno;
  if (nonblock_read)
    fcntl(p[0], F_SETFL, O_NONBLOCK);
  *ret_r = p[0];
  *ret_w = p[1];
  return 0;
}

static int monitor_init(struct monitor *m, const struct config *cfg, const char **ret_what)
{
  sigset_t mask;
  int r;

  *m = (struct monitor){
    .cfg = *cfg,
    .dir_fd = -1,
    .epoll_fd = -1,
    .signal_fd = -1,
    .timer_fd = -1,
    .devnull_fd = -1,
    .report_fd = -1,
    .log_fd = -1,
    .out_w = -1,
    .err_w = -1,
    .in_r = -1,
    .in_w = -1,
    .console_fd = -1,
    .console_conn_fd = -1,
    .start_fd = -1,
    .health_fd = -1,
    .backoff_ms = RESTART_DELAY_MIN_MS,
  };
  *ret_what = "the file descriptors";
  if ((r = setup_fds(m)) < 0)
    return r;

  if (chdir("/") < 0) { /* hold no directory busy */
    *ret_what = "/";
    return -errno;
  }
  /* The init is the helper's child; when the helper exits it is re-parented
   * to us, so its exit status reaches this process. */
  *ret_what = "PR_SET_CHILD_SUBREAPER";
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    return -errno;

  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGUSR1);
  sigaddset(&mask, SIGUSR2);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  *ret_what = "the event loop";
  m->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  m->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (m->signal_fd < 0 || m->timer_fd < 0 || m->epoll_fd < 0 ||
      epoll_add(m, m->signal_fd, TAG_SIGNAL) < 0 || epoll_add(m, m->timer_fd, TAG_TIMER) < 0)
    return -errno;

  *ret_what = m->cfg.dir;
  m->dir_fd = open(m->cfg.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (m->dir_fd < 0)
    return -errno;
  *ret_what = "/dev/null";
  m->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (m->devnull_fd < 0)
    return -errno;

  *ret_what = "the buffers";
  long ps = sysconf(_SC_PAGESIZE);
  m->page_size = ps > 0 ? (uintptr_t) ps : 4096;
  m->arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m->arena == MAP_FAILED)
    return -errno;
  m->wbuf = m->arena + ARENA_WBUF;
  m->streams[0] = (struct stream){
    .name = "stdout", .tag = TAG_STDOUT, .fd = -1, .buf = m->arena + ARENA_STREAM0
  };
  m->streams[1] = (struct stream){
    .name = "stderr", .tag = TAG_STDERR, .fd = -1, .buf = m->arena + ARENA_STREAM1
  };
  for (unsigned i = 0; i <= HEALTH_LOG_KEEP; i++)
    m->health_log[i].output = m->arena + ARENA_HEALTH + i * HEALTH_OUTPUT_MAX;

  /* The monitor keeps both ends: every restart gets the same pipes. */
  *ret_what = "the container's pipes";
  if (!m->cfg.tty) {
    if ((r = make_pipe(&m->streams[0].fd, &m->out_w, true)) < 0 ||
        (r = make_pipe(&m->streams[1].fd, &m->err_w, true)) < 0)
      return r;
    if (epoll_add(m, m->streams[0].fd, TAG_STDOUT) < 0 ||
        epoll_add(m, m->streams[1].fd, TAG_STDERR) < 0)
      return -errno;
  }
  /* The write end stays open and unused: the container's reads block
   * instead of seeing end of file. */
  if (m->cfg.interactive && (r = make_pipe(&m->in_r, &m->in_w, false)) < 0)
    return r;

  if (m->cfg.tty) {
    size_t n = strlen(m->cfg.dir) + sizeof(MONITOR_CONSOLE_SOCKET) + 1;
    m->console_path = malloc(n);
    if (!m->console_path)
      return -ENOMEM;
    snprintf(m->console_path, n, "%s/%s", m->cfg.dir, MONITOR_CONSOLE_SOCKET);
  }

  *ret_what = MONITOR_LOG_FILE;
  if ((r = log_open(m)) < 0)
    return r;

  m->self_pid = getpid();
  m->self_start = proc_starttime(m->self_pid);
  m->health_on = m->cfg.health_interval > 0;
  m->health = m->health_on ? HEALTH_STARTING : HEALTH_NONE;
  return 0;
}

static void event_loop(struct monitor *m)
{
  bool trimmed = false;

  for (;;) {
    struct epoll_event ev[8];

    timer_arm(m);
    int n = epoll_wait(m->epoll_fd, ev, ARRAY_SIZE(ev), trimmed ? -1 : IDLE_TRIM_MS);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      warnf("epoll_wait: %s", strerror(errno));
      exit(1);
    }
    if (n == 0) { /* quiet for a while: give the memory back */
      trim_memory(m);
      trimmed = true;
      continue;
    }
    trimmed = false;
    for (int i = 0; i < n; i++) {
      switch (ev[i].data.u32) {
      case TAG_SIGNAL:
        signal_read(m);
        break;
      case TAG_TIMER:
        timer_fired(m);
        break;
      case TAG_STDOUT:
        stream_read(m, &m->streams[0], false);
        break;
      case TAG_STDERR:
        stream_read(m, &m->streams[1], false);
        break;
      case TAG_REPORT:
        report_read(m);
        break;
      case TAG_HEALTH:
        health_read(m);
        break;
      case TAG_CONSOLE:
        console_accept(m);
        break;
      case TAG_CONSOLE_CONN:
        if (m->console_conn_fd >= 0)
          console_recv(m);
        break;
      }
    }
  }
}

int main(int argc, char **argv)
{
  static struct monitor monitor; /* not on the stack: its pages would stay resident */
  struct config cfg;
  const char *what;

  parse_args(&cfg, argc, argv);
  program_id = cfg.id;
  int r = monitor_init(&monitor, &cfg, &what);
  if (r < 0) {
    warnf("cannot set up %s: %s", what, strerror(-r));
    report(&monitor, "error cannot set up %s: %s\n", what, strerror(-r));
    return 1;
  }
  container_start(&monitor);
  event_loop(&monitor);
  return 1;
}
