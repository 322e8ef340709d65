/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/logs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/json.h"
#include "base/xalloc.h"
#include "container/monitor.h"

#define BLOCK_SIZE (64 * 1024)
/* A record the monitor writes is at most 16 KiB of text, 6 bytes each when
 * escaped as \u00XX, plus ~80 bytes of keys: about 100 KiB. A "line" ten
 * times that is garbage; it is dropped without being held in memory, and it
 * ends the backward search of --tail (finding its start would mean reading
 * it all). */
#define LINE_MAX_BYTES (1024 * 1024)
/* How far --tail reads back, once it has its N lines, to find the first
 * records of a split line whose last record it has seen (the other stream
 * may sit between them). The monitor writes the parts of a split line as it
 * reads them, so they are close together; this bounds the cost when one
 * stream is rare (one stderr line at the end of 10 MB of stdout). */
#define RESOLVE_MAX_BYTES (1024 * 1024)
#define OUT_FLUSH_BYTES   (64 * 1024)
#define FOLLOW_TICK_MS    200
#define NSEC_PER_SEC      INT64_C(1000000000)

enum {
  STREAM_STDOUT,
  STREAM_STDERR,
  STREAM_MAX,
};

/* ---- time ----------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm(), no dependency on TZ. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
  static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 29;
  return days[m - 1];
}

/* Exactly n digits. */
static bool parse_digits(const char **p, int n, int *ret)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char) (*p)[i]))
      return false;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *ret = v;
  return true;
}

static bool accept_char(const char **p, char c)
{
  if (**p != c)
    return false;
  (*p)++;
  return true;
}

/* Seconds + nanoseconds to ns, or -ERANGE. */
static int to_ns(int64_t sec, int64_t nsec, int64_t *ret)
{
  int64_t v;
  if (__builtin_mul_overflow(sec, NSEC_PER_SEC, &v) || __builtin_add_overflow(v, nsec, &v))
    return -ERANGE;
  *ret = v;
  return 0;
}

/* YYYY-MM-DD[(T|t)HH[:MM[:SS[.frac]]]][Z|z|±hh:mm]. strict: RFC 3339, the
 * seconds and the zone are required. Without a zone the time is local (what
 * docker does with "2026-11-23"). */
static int parse_datetime(const char *s, bool strict, int64_t *ret_ns)
{
  const char *p = s;
  int Y, M, D, h = 0, m = 0, sec = 0, parts = 0;
  int64_t frac = 0;

  if (!parse_digits(&p, 4, &Y) || !accept_char(&p, '-') || !parse_digits(&p, 2, &M) ||
      !accept_char(&p, '-') || !parse_digits(&p, 2, &D))
    return -EINVAL;
  if (*p == 'T' || *p == 't' || (strict && *p == ' ')) {
    p++;
    if (!parse_digits(&p, 2, &h))
      return -EINVAL;
    parts = 1;
    if (accept_char(&p, ':')) {
      if (!parse_digits(&p, 2, &m))
        return -EINVAL;
      parts = 2;
      if (accept_char(&p, ':')) {
        if (!parse_digits(&p, 2, &sec))
          return -EINVAL;
        parts = 3;
        if (accept_char(&p, '.')) {
          int n = 0;
          for (; isdigit((unsigned char) *p); p++, n++)
            if (n < 9)
              frac = frac * 10 + (*p - '0');
          if (n == 0)
            return -EINVAL;
          for (; n < 9; n++)
            frac *= 10;
        }
      }
    }
  }

  bool zone = false;
  int zone_sec = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
    zone = true;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, zh, zm;
    if (!parse_digits(&p, 2, &zh) || !accept_char(&p, ':') || !parse_digits(&p, 2, &zm) ||
        zh > 23 || zm > 59)
      return -EINVAL;
    zone = true;
    zone_sec = sign * (zh * 3600 + zm * 60);
  }
  if (*p != '\0')
    return -EINVAL;
  if (strict && (parts != 3 || !zone))
    return -EINVAL;
  /* 60: a leap second, which RFC 3339 allows; it counts as the next second. */
  if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || m > 59 || sec > 60)
    return -EINVAL;

  int64_t secs;
  if (zone) {
    secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - zone_sec;
  } else {
    struct tm tm = {
      .tm_year = Y - 1900,
      .tm_mon = M - 1,
      .tm_mday = D,
      .tm_hour = h,
      .tm_min = m,
      .tm_sec = sec,
      .tm_isdst = -1,
    };
    errno = 0;
    time_t t = mktime(&tm);
    if (t == (time_t) -1 && errno != 0)
      return -EINVAL;
    secs = (int64_t) t;
  }
  return to_ns(secs, frac, ret_ns) < 0 ? -EINVAL : 0;
}

int bothy_time_parse_rfc3339(const char *s, int64_t *ret_ns)
{
  if (!s)
    return -EINVAL;
  return parse_datetime(s, /* strict= */ true, ret_ns);
}

char *bothy_time_format_rfc3339(int64_t ns, char *buf)
{
  int64_t sec = ns / NSEC_PER_SEC, nsec = ns % NSEC_PER_SEC;
  if (nsec < 0) {
    nsec += NSEC_PER_SEC;
    sec--;
  }
  time_t t = (time_t) sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(buf, BOTHY_RFC3339_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, BOTHY_RFC3339_MAX - n, ".%09" PRId64 "Z", nsec);
  return buf;
}

/* Go's time.ParseDuration: [-+]?(number unit)+ with decimal fractions, units
 * ns us µs μs ms s m h; "0" alone is zero. */
static int parse_duration(const char *s, int64_t *ret_ns)
{
  static const struct {
    const char *name;
    uint64_t ns;
  } units[] = {
    { "ns", 1 },
    { "us", 1000 },
    { "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
    { "\xce\xbcs", 1000 }, /* U+03BC Greek mu */
    { "ms", 1000000 },
    { "s", 1000000000 },
    { "m", UINT64_C(60) * 1000000000 },
    { "h", UINT64_C(3600) * 1000000000 },
  };
  const char *p = s;
  bool neg = false;
  uint64_t total = 0;

  if (*p == '-' || *p == '+')
    neg = *p++ == '-';
  if (streq(p, "0")) {
    *ret_ns = 0;
    return 0;
  }
  if (*p == '\0')
    return -EINVAL;
  while (*p) {
    uint64_t whole = 0, frac = 0, scale = 1;
    bool digits = false;
    for (; isdigit((unsigned char) *p); p++) {
      if (__builtin_mul_overflow(whole, 10, &whole) ||
          __builtin_add_overflow(whole, (uint64_t) (*p - '0'), &whole))
        return -ERANGE;
      digits = true;
    }
    if (*p == '.') {
      p++;
      for (; isdigit((unsigned char) *p); p++) {
        if (scale < UINT64_C(1000000000000000000)) {
          frac = frac * 10 + (uint64_t) (*p - '0');
          scale *= 10;
        }
        digits = true;
      }
    }
    if (!digits)
      return -EINVAL;
    size_t u, len = 0;
    for (u = 0; u < ARRAY_SIZE(units); u++) {
      len = strlen(units[u].name);
      if (strncmp(p, units[u].name, len) == 0) /* "ms" is before "m" */
        break;
    }
    if (u == ARRAY_SIZE(units))
      return -EINVAL;
    p += len;
    uint64_t v;
    if (__builtin_mul_overflow(whole, units[u].ns, &v))
      return -ERANGE;
    v += (uint64_t) ((unsigned __int128) frac * units[u].ns / scale);
    if (__builtin_add_overflow(total, v, &total) || total > (uint64_t) INT64_MAX)
      return -ERANGE;
  }
  *ret_ns = neg ? -(int64_t) total : (int64_t) total;
  return 0;
}

/* Unix seconds with an optional fraction: "1700000000", "1700000000.5". */
static int parse_unix(const char *s, int64_t *ret_ns)
{
  const char *p = s;
  int64_t sec = 0, nsec = 0;
  if (!isdigit((unsigned char) *p))
    return -EINVAL;
  for (; isdigit((unsigned char) *p); p++)
    if (__builtin_mul_overflow(sec, 10, &sec) || __builtin_add_overflow(sec, *p - '0', &sec))
      return -ERANGE;
  if (*p == '.') {
    int n = 0;
    for (p++; isdigit((unsigned char) *p); p++, n++)
      if (n < 9)
        nsec = nsec * 10 + (*p - '0');
    if (n == 0)
      return -EINVAL;
    for (; n < 9; n++)
      nsec *= 10;
  }
  if (*p != '\0')
    return -EINVAL;
  return to_ns(sec, nsec, ret_ns);
}

int bothy_logs_parse_time(const char *s, const char *what, int64_t now_ns, int64_t *ret_ns,
                          bothy_error_t *err)
{
  int64_t v, d;
  if (s && *s) {
    /* docker's order: a duration first ("0" excepted: unix time 0), then
     * unix seconds, then a date. */
    if (!streq(s, "0") && parse_duration(s, &d) == 0) {
      if (!__builtin_sub_overflow(now_ns, d, &v)) {
        *ret_ns = v;
        return 0;
      }
    } else if (parse_unix(s, &v) == 0 || parse_datetime(s, /* strict= */ false, &v) == 0) {
      *ret_ns = v;
      return 0;
    }
  }
  bothy_error_set(err, 0, "invalid value for \"%s\": \"%s\"", what, s ? s : "");
  if (err && *err)
    (*err)->code = EINVAL;
  return -EINVAL;
}

/* ---- records ---------------------------------------------------------------- */

struct record {
  json_t *json; /* owns text */
  const char *text;
  size_t len;
  int stream;
  int64_t time_ns;
  bool ends_nl;
};

static void record_done(struct record *r)
{
  json_decref(r->json);
  r->json = NULL;
}

/* 0, or -EBADMSG for anything but a well-formed record. */
static int record_parse(const char *line, size_t len, struct record *ret)
{
  json_t *o = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
  if (!o)
    return -EBADMSG;
  json_t *log = json_object_get(o, "log");
  const char *stream = json_string_value(json_object_get(o, "stream"));
  const char *time = json_string_value(json_object_get(o, "time"));
  int64_t t;
  if (!json_is_string(log) || !stream || !time || bothy_time_parse_rfc3339(time, &t) < 0 ||
      (!streq(stream, "stdout") && !streq(stream, "stderr"))) {
    json_decref(o);
    return -EBADMSG;
  }
  *ret = (struct record){
    .json = o,
    .text = json_string_value(log),
    .len = json_string_length(log),
    .stream = streq(stream, "stdout") ? STREAM_STDOUT : STREAM_STDERR,
    .time_ns = t,
  };
  ret->ends_nl = ret->len > 0 && ret->text[ret->len - 1] == '\n';
  return 0;
}

/* Where a record starts: file is its place in reading order (rotated files
 * oldest first, then the ones that follow), off its byte offset. */
struct pos {
  long file;
  off_t off;
};

static int pos_cmp(struct pos a, struct pos b)
{
  if (a.file != b.file)
    return a.file < b.file ? -1 : 1;
  return a.off < b.off ? -1 : a.off > b.off;
}

/* ---- output ----------------------------------------------------------------- */

struct output {
  int fd[STREAM_MAX];
  int cur; /* the stream whose bytes are in buf */
  char *buf;
  size_t len, cap;
  bool closed; /* EPIPE: the reader went away, stop quietly */
};

static int out_flush(struct output *w, bothy_error_t *err)
{
  const char *p = w->buf;
  size_t n = w->len;
  w->len = 0;
  while (n > 0 && !w->closed) {
    ssize_t k = write(w->fd[w->cur], p, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = { .fd = w->fd[w->cur], .events = POLLOUT };
        (void) poll(&pfd, 1, -1);
        continue;
      }
      if (errno == EPIPE) {
        w->closed = true;
        break;
      }
      return bothy_error_errno(err, "cannot write the log to %s",
                               w->cur == STREAM_STDOUT ? "stdout" : "stderr");
    }
    p += k;
    n -= (size_t) k;
  }
  return 0;
}

static int out_put(struct output *w, int stream, const char *data, size_t n, bothy_error_t *err)
{
  if (w->closed || n == 0)
    return 0;
  /* Keep the order of lines between two fds that may end in one place. */
  if (w->len > 0 && w->fd[w->cur] != w->fd[stream]) {
    int r = out_flush(w, err);
    if (r < 0)
      return r;
  }
  w->cur = stream;
  if (w->len + n > w->cap) {
    w->cap = MAX(w->cap * 2, w->len + n);
    w->buf = xrealloc(w->buf, w->cap);
  }
  memcpy(w->buf + w->len, data, n);
  w->len += n;
  return w->len >= OUT_FLUSH_BYTES ? out_flush(w, err) : 0;
}

/* ---- joining records into lines ------------------------------------------- */

/* The first records of a split line, until its last one arrives. */
struct pending {
  char *buf;
  size_t len, cap;
  int64_t time_ns; /* of its first record */
  struct pos end;  /* of its latest record */
  bool active;
};

struct ctx {
  const struct bothy_logs_opts *o;
  const char *dir;
  int dirfd;
  struct output out;
  struct pending pend[STREAM_MAX];
  /* --tail: a line whose last record is before this is not printed. */
  struct pos boundary;

  /* The file being read forward. */
  int cur_fd;
  struct stat cur_st;
  long cur_idx;
  char *lbuf; /* bytes read and not yet a complete line */
  size_t llen, lcap;
  off_t lbuf_off;  /* file offset of lbuf[0] */
  bool discarding; /* in a line past LINE_MAX_BYTES: drop to its end */
};

static int emit_line(struct ctx *c, int stream, int64_t time_ns, const char *text, size_t len,
                     struct pos end, bothy_error_t *err)
{
  if (pos_cmp(end, c->boundary) < 0)
    return 0;
  if (c->o->timestamps) {
    char ts[BOTHY_RFC3339_MAX + 1];
    bothy_time_format_rfc3339(time_ns, ts);
    size_t n = strlen(ts);
    ts[n++] = ' ';
    int r = out_put(&c->out, stream, ts, n, err);
    if (r < 0)
      return r;
  }
  return out_put(&c->out, stream, text, len, err);
}

static int handle_record(struct ctx *c, const struct record *rec, struct pos p, bothy_error_t *err)
{
  const struct bothy_logs_opts *o = c->o;
  if ((o->since_ns != 0 && rec->time_ns < o->since_ns) ||
      (o->until_ns != 0 && rec->time_ns >= o->until_ns))
    return 0;
  struct pending *pd = &c->pend[rec->stream];
  if (!pd->active && rec->ends_nl)
    return emit_line(c, rec->stream, rec->time_ns, rec->text, rec->len, p, err);
  if (!pd->active) {
    pd->active = true;
    pd->time_ns = rec->time_ns;
    pd->len = 0;
  }
  if (pd->len + rec->len > pd->cap) {
    pd->cap = MAX(pd->cap * 2, pd->len + rec->len);
    pd->buf = xrealloc(pd->buf, pd->cap);
  }
  if (rec->len > 0)
    memcpy(pd->buf + pd->len, rec->text, rec->len);
  pd->len += rec->len;
  pd->end = p;
  if (!rec->ends_nl)
    return 0;
  pd->active = false;
  return emit_line(c, rec->stream, pd->time_ns, pd->buf, pd->len, p, err);
}

/* At the end: a line whose last record never came (the container ended
 * without a newline) is printed as it is. */
static int flush_pending(struct ctx *c, bothy_error_t *err)
{
  for (;;) {
    struct pending *first = NULL;
    int stream = 0;
    for (int s = 0; s < STREAM_MAX; s++)
      if (c->pend[s].active && (!first || pos_cmp(c->pend[s].end, first->end) < 0)) {
        first = &c->pend[s];
        stream = s;
      }
    if (!first)
      return 0;
    first->active = false;
    int r = emit_line(c, stream, first->time_ns, first->buf, first->len, first->end, err);
    if (r < 0)
      return r;
  }
}

/* ---- reading forward ---------------------------------------------------------- */

static int process_line(struct ctx *c, const char *line, size_t len, off_t off, bothy_error_t *err)
{
  struct record rec;
  if (record_parse(line, len, &rec) < 0)
    return 0; /* corrupt: skipped */
  int r = handle_record(c, &rec, (struct pos){ c->cur_idx, off }, err);
  record_done(&rec);
  return r;
}

/* The bytes after the last complete line of a file that is left for good: a
 * record the writer never finished. */
static void drop_partial(struct ctx *c)
{
  c->llen = 0;
  c->discarding = false;
}

static void set_current(struct ctx *c, int fd, const struct stat *st, off_t off)
{
  safe_close(c->cur_fd);
  c->cur_fd = fd;
  c->cur_st = *st;
  c->cur_idx++;
  c->lbuf_off = off;
  drop_partial(c);
}

/* Reads the current file to its end, handling every complete line. */
static int drain_current(struct ctx *c, bothy_error_t *err)
{
  if (c->cur_fd < 0)
    return 0;
  for (;;) {
    if (c->out.closed)
      return 0;
    if (c->lcap - c->llen < BLOCK_SIZE) {
      c->lcap = MAX(c->lcap * 2, c->llen + BLOCK_SIZE);
      c->lbuf = xrealloc(c->lbuf, c->lcap);
    }
    ssize_t n = read(c->cur_fd, c->lbuf + c->llen, BLOCK_SIZE);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return bothy_error_errno(err, "cannot read the log in '%s'", c->dir);
    }
    if (n == 0) {
      /* --log-max-files 1: the monitor truncates container.log in place.
       * What follows is new: read it from the start, as a new file. */
      struct stat st;
      if (fstat(c->cur_fd, &st) == 0 && st.st_size < c->lbuf_off + (off_t) c->llen &&
          lseek(c->cur_fd, 0, SEEK_SET) == 0) {
        set_current(c, TAKE_FD(c->cur_fd), &st, 0);
        continue;
      }
      return 0;
    }
    size_t from = c->llen, start = 0;
    c->llen += (size_t) n;
    char *nl;
    while ((nl = memchr(c->lbuf + from, '\n', c->llen - from))) {
      size_t end = (size_t) (nl - c->lbuf);
      if (c->discarding)
        c->discarding = false;
      else {
        int r = process_line(c, c->lbuf + start, end - start, c->lbuf_off + (off_t) start, err);
        if (r < 0)
          return r;
      }
      start = from = end + 1;
    }
    if (c->llen - start > LINE_MAX_BYTES) {
      c->discarding = true;
      start = c->llen;
    }
    if (start > 0) {
      memmove(c->lbuf, c->lbuf + start, c->llen - start);
      c->llen -= start;
      c->lbuf_off += (off_t) start;
    }
  }
}

/* ---- the files ------------------------------------------------------------------ */

struct rotated {
  long index; /* container.log.INDEX */
  dev_t dev;
  ino_t ino;
};

static int rotated_cmp(const void *a, const void *b)
{
  long x = ((const struct rotated *) a)->index, y = ((const struct rotated *) b)->index;
  return x < y ? 1 : x > y ? -1 : 0; /* oldest (highest index) first */
}

static void rotated_name(long index, char *buf, size_t size)
{
  if (index == 0)
    snprintf(buf, size, "%s", MONITOR_LOG_FILE);
  else
    snprintf(buf, size, "%s.%ld", MONITOR_LOG_FILE, index);
}

/* The rotated files there are now, oldest first. */
static int list_rotated(struct ctx *c, struct rotated **ret, size_t *ret_n, bothy_error_t *err)
{
  int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s'", c->dir);
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return bothy_error_errno(err, "cannot open '%s'", c->dir);
  }
  _cleanup_free_ struct rotated *v = NULL;
  size_t n = 0, cap = 0;
  const size_t prefix = strlen(MONITOR_LOG_FILE ".");
  struct dirent *de;
  while ((errno = 0, de = readdir(d))) {
    const char *s = de->d_name;
    if (strncmp(s, MONITOR_LOG_FILE ".", prefix) != 0)
      continue;
    s += prefix;
    if (*s < '1' || *s > '9' || strlen(s) > 6 || s[strspn(s, "0123456789")] != '\0')
      continue;
    struct stat st;
    if (fstatat(c->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      v = xrealloc(v, cap * sizeof(*v));
    }
    v[n++] = (struct rotated){ strtol(s, NULL, 10), st.st_dev, st.st_ino };
  }
  if (errno != 0)
    return bothy_error_errno(err, "cannot read '%s'", c->dir);
  if (n > 0)
    qsort(v, n, sizeof(*v), rotated_cmp);
  *ret = TAKE_PTR(v);
  *ret_n = n;
  return 0;
}

static bool same_file(const struct stat *a, dev_t dev, ino_t ino)
{
  return a->st_dev == dev && a->st_ino == ino;
}

static int open_log(struct ctx *c, long index, struct stat *ret_st, bothy_error_t *err)
{
  char name[64];
  rotated_name(index, name, sizeof(name));
  int fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT)
      return -ENOENT;
    return bothy_error_errno(err, "cannot open '%s/%s'", c->dir, name);
  }
  if (fstat(fd, ret_st) < 0) {
    int r = bothy_error_errno(err, "cannot stat '%s/%s'", c->dir, name);
    safe_close(fd);
    return r;
  }
  return fd;
}

struct logfile {
  int fd;
  struct stat st;
  long index;
};

static void logfiles_free(struct logfile *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    safe_close(v[i].fd);
  free(v);
}

/* Opens container.log and the rotated files, oldest first. container.log is
 * opened first and each file is checked by inode, so a rotation in between
 * neither shows a file twice nor puts two out of order (then it starts
 * over). */
static int open_all(struct ctx *c, struct logfile **ret, size_t *ret_n, bothy_error_t *err)
{
  struct logfile *v = NULL;
  size_t n = 0;
  for (int attempt = 0;; attempt++) {
    logfiles_free(v, n);
    v = NULL;
    n = 0;

    struct stat st;
    int fd = open_log(c, 0, &st, err);
    if (fd < 0 && fd != -ENOENT)
      return fd;
    struct logfile current = { fd, st, 0 };
    _cleanup_free_ struct rotated *rot = NULL;
    size_t nrot = 0;
    int r = list_rotated(c, &rot, &nrot, err);
    if (r < 0) {
      safe_close(fd);
      return r;
    }
    v = xcalloc(nrot + 1, sizeof(*v));
    for (size_t i = 0; i < nrot; i++) {
      int rfd = open_log(c, rot[i].index, &st, err);
      if (rfd == -ENOENT)
        continue;
      if (rfd < 0) {
        safe_close(fd);
        logfiles_free(v, n);
        return rfd;
      }
      if (current.fd >= 0 && same_file(&st, current.st.st_dev, current.st.st_ino)) {
        safe_close(rfd);
        continue;
      }
      v[n++] = (struct logfile){ rfd, st, rot[i].index };
    }
    if (current.fd >= 0)
      v[n++] = current;

    /* Still where they were? */
    bool stable = true;
    for (size_t i = 0; i < n && stable; i++) {
      char name[64];
      rotated_name(v[i].index, name, sizeof(name));
      stable = fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               same_file(&st, v[i].st.st_dev, v[i].st.st_ino);
    }
    if (current.fd < 0)
      stable = stable && fstatat(c->dirfd, MONITOR_LOG_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0;
    if (stable || attempt >= 5)
      break;
  }
  *ret = v;
  *ret_n = n;
  return 0;
}

/* ---- --tail: reading backwards ------------------------------------------------ */

struct bscan {
  int fd;
  off_t lo;  /* file offset of buf[0] */
  char *buf; /* buf[0, len): the part of [lo, end) not returned yet */
  size_t len;
};

/* Puts the block before lo in front of buf. */
static int bscan_more(struct bscan *s)
{
  size_t block = (size_t) MIN(s->lo, (off_t) BLOCK_SIZE);
  char *nb = xmalloc(block + s->len);
  size_t got = 0;
  while (got < block) {
    ssize_t k = pread(s->fd, nb + got, block - got, s->lo - (off_t) block + (off_t) got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      int r = k < 0 ? -errno : -EIO; /* the file shrank under us */
      free(nb);
      return r;
    }
    got += (size_t) k;
  }
  if (s->len > 0)
    memcpy(nb + block, s->buf, s->len);
  free(s->buf);
  s->buf = nb;
  s->len += block;
  s->lo -= (off_t) block;
  return 0;
}

/* Positions the scan after the last complete line of a file of size bytes. */
static int bscan_init(struct bscan *s, int fd, off_t size)
{
  *s = (struct bscan){ .fd = fd, .lo = size };
  for (;;) {
    char *nl = s->len > 0 ? memrchr(s->buf, '\n', s->len) : NULL;
    if (nl) {
      s->len = (size_t) (nl - s->buf) + 1;
      return 0;
    }
    if (s->lo == 0 || s->len > LINE_MAX_BYTES) {
      s->lo = 0;
      s->len = 0;
      return 0;
    }
    int r = bscan_more(s);
    if (r < 0)
      return r;
  }
}

/* The line before the last one returned (without its "\n"): 1, 0 at the
 * start of the file, -E2BIG for a line past LINE_MAX_BYTES, or -errno. The
 * line is valid until the next call. */
static int bscan_prev(struct bscan *s, const char **ret_line, size_t *ret_len, off_t *ret_off)
{
  for (;;) {
    if (s->len == 0 && s->lo == 0)
      return 0;
    if (s->len > 0) { /* buf[len - 1] is the line's "\n" */
      char *nl = s->len > 1 ? memrchr(s->buf, '\n', s->len - 1) : NULL;
      if (nl || s->lo == 0) {
        size_t start = nl ? (size_t) (nl - s->buf) + 1 : 0;
        *ret_line = s->buf + start;
        *ret_len = s->len - 1 - start;
        *ret_off = s->lo + (off_t) start;
        s->len = start;
        return 1;
      }
      if (s->len > LINE_MAX_BYTES)
        return -E2BIG;
    }
    int r = bscan_more(s);
    if (r < 0)
      return r;
  }
}

/* Finds where to start reading so that the last o->tail lines are printed,
 * and sets c->boundary. Lines are counted by their last record: one with a
 * "\n", or the last record of its stream. */
static void tail_scan(struct ctx *c, const struct logfile *files, size_t n, struct pos *ret_start)
{
  const struct bothy_logs_opts *o = c->o;
  long count = 0;
  bool seen[STREAM_MAX] = { false }, open[STREAM_MAX] = { false };
  size_t extra = 0;
  struct pos start = { 0, 0 };
  struct bscan s = { .fd = -1 };

  c->boundary = (struct pos){ LONG_MIN, 0 };
  if (n == 0) {
    *ret_start = start;
    return;
  }
  for (size_t f = n; f-- > 0;) {
    free(s.buf);
    if (bscan_init(&s, files[f].fd, files[f].st.st_size) < 0)
      break;
    if (f == n - 1) {
      /* Nothing yet: the end of the last complete line. */
      start = (struct pos){ (long) f, s.lo + (off_t) s.len };
      if (o->tail == 0) {
        c->boundary = start;
        goto done;
      }
    }
    const char *line;
    size_t len;
    off_t off;
    int r;
    while ((r = bscan_prev(&s, &line, &len, &off)) > 0) {
      if (count >= o->tail) {
        if (!open[STREAM_STDOUT] && !open[STREAM_STDERR])
          goto done;
        extra += len + 1;
        if (extra > RESOLVE_MAX_BYTES)
          goto done;
      }
      struct record rec;
      if (record_parse(line, len, &rec) < 0)
        continue;
      int st = rec.stream;
      int64_t t = rec.time_ns;
      bool is_end = rec.ends_nl || !seen[st];
      record_done(&rec);
      /* The monitor writes records in time order: nothing before this one
       * is in the window either. */
      if (o->since_ns != 0 && t < o->since_ns)
        goto done;
      if (o->until_ns != 0 && t >= o->until_ns)
        continue;
      seen[st] = true;
      struct pos p = { (long) f, off };
      if (is_end) {
        if (count < o->tail) {
          count++;
          open[st] = true;
          start = p;
          if (count == o->tail)
            c->boundary = p;
        } else {
          open[st] = false; /* the end of a line before the ones printed */
        }
      } else if (open[st]) {
        start = p; /* an earlier part of a line that is printed */
      }
    }
    if (r < 0)
      break;
  }
done:
  free(s.buf);
  *ret_start = start;
}

/* ---- following ---------------------------------------------------------------- */

/* The file that comes after the current one (the current one is not
 * container.log any more): 1 with its fd, 0 when there is none yet. */
static int next_file(struct ctx *c, int *ret_fd, struct stat *ret_st, bothy_error_t *err)
{
  for (int attempt = 0; attempt < 10; attempt++) {
    struct stat st;
    bool have_log = fstatat(c->dirfd, MONITOR_LOG_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (c->cur_fd >= 0 && have_log && same_file(&st, c->cur_st.st_dev, c->cur_st.st_ino))
      return 0;

    _cleanup_free_ struct rotated *rot = NULL;
    size_t nrot = 0;
    int r = list_rotated(c, &rot, &nrot, err);
    if (r < 0)
      return r;
    /* Where the current file is now; the next one is the rotated file just
     * newer, or container.log. When it is gone (rotated away, or no file
     * was there yet), every file there is newer: the oldest is next. */
    ssize_t at = -1;
    for (size_t i = 0; c->cur_fd >= 0 && i < nrot; i++)
      if (rot[i].dev == c->cur_st.st_dev && rot[i].ino == c->cur_st.st_ino)
        at = (ssize_t) i;
    size_t want = at >= 0 ? (size_t) at + 1 : 0;
    long index = want < nrot ? rot[want].index : 0;
    if (index == 0 && !have_log)
      return 0;

    int fd = open_log(c, index, ret_st, err);
    if (fd == -ENOENT)
      continue;
    if (fd < 0)
      return fd;
    /* Nothing moved between the listing and the open? */
    char name[64];
    bool stable = c->cur_fd < 0 || !same_file(ret_st, c->cur_st.st_dev, c->cur_st.st_ino);
    if (stable && at >= 0) {
      rotated_name(rot[at].index, name, sizeof(name));
      stable = fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               same_file(&st, c->cur_st.st_dev, c->cur_st.st_ino);
    }
    if (stable) {
      rotated_name(index, name, sizeof(name));
      stable = fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               same_file(&st, ret_st->st_dev, ret_st->st_ino);
    }
    if (stable) {
      *ret_fd = fd;
      return 1;
    }
    safe_close(fd);
  }
  return 0; /* rotating right now: the next tick sees it settled */
}

/* Reads what is written, following rotations. */
static int follow_advance(struct ctx *c, bothy_error_t *err)
{
  for (;;) {
    int r = drain_current(c, err);
    if (r < 0 || c->out.closed)
      return r;
    int fd = -1;
    struct stat st;
    r = next_file(c, &fd, &st, err);
    if (r <= 0)
      return r;
    /* The writer has moved on: what it wrote before is there now. */
    r = drain_current(c, err);
    if (r < 0) {
      safe_close(fd);
      return r;
    }
    set_current(c, fd, &st, 0);
  }
}

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void wait_tick(int ino)
{
  struct pollfd pfd = { .fd = ino, .events = POLLIN };
  int r = poll(&pfd, ino >= 0 ? 1 : 0, FOLLOW_TICK_MS);
  if (r > 0) {
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (read(ino, buf, sizeof(buf)) > 0)
      ;
  }
}

static bool keep_following(struct ctx *c, bothy_logs_alive_fn alive, void *userdata)
{
  if (c->o->until_ns != 0 && now_ns() >= c->o->until_ns)
    return false;
  return !alive || alive(userdata);
}

static int logs_read(struct ctx *c, bothy_logs_alive_fn alive, void *userdata, bothy_error_t *err)
{
  const struct bothy_logs_opts *o = c->o;
  _cleanup_close_ int ino = -1;
  int r;

  if (o->follow)
    ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK); /* without it: 200 ms polling */
  for (;;) {
    c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dirfd >= 0)
      break;
    if (errno != ENOENT)
      return bothy_error_errno(err, "cannot open '%s'", c->dir);
    if (!o->follow || !keep_following(c, alive, userdata))
      return 0;
    wait_tick(-1);
  }
  /* Before the files are opened, so that no change is missed. */
  if (ino >= 0)
    (void) inotify_add_watch(ino, c->dir,
                             IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                 IN_CLOSE_WRITE | IN_ATTRIB);

  struct logfile *files = NULL;
  size_t n = 0;
  r = open_all(c, &files, &n, err);
  if (r < 0)
    return r;
  struct pos start = { 0, 0 };
  c->boundary = (struct pos){ LONG_MIN, 0 };
  if (o->tail >= 0)
    tail_scan(c, files, n, &start);

  /* Reading order: file i has index i; later files count on from there. */
  c->cur_idx = -1;
  for (size_t i = 0; i < n; i++) {
    off_t off = 0;
    if ((long) i < start.file) {
      c->cur_idx++;
      continue;
    }
    if ((long) i == start.file) {
      off = start.off;
      if (lseek(files[i].fd, off, SEEK_SET) < 0) {
        r = bothy_error_errno(err, "cannot seek in the log in '%s'", c->dir);
        break;
      }
    }
    set_current(c, TAKE_FD(files[i].fd), &files[i].st, off);
    r = drain_current(c, err);
    if (r < 0 || c->out.closed)
      break;
    if (i + 1 < n || !o->follow) {
      c->cur_fd = safe_close(c->cur_fd);
      drop_partial(c);
    }
  }
  logfiles_free(files, n);
  if (r < 0 || c->out.closed)
    return r;

  while (o->follow) {
    r = out_flush(&c->out, err);
    if (r < 0 || c->out.closed)
      return r;
    if (!keep_following(c, alive, userdata)) {
      /* Gone for good: what was written before is all there is. */
      r = follow_advance(c, err);
      if (r < 0 || c->out.closed)
        return r;
      drop_partial(c);
      break;
    }
    wait_tick(ino);
    r = follow_advance(c, err);
    if (r < 0 || c->out.closed)
      return r;
  }
  r = flush_pending(c, err);
  if (r < 0)
    return r;
  return out_flush(&c->out, err);
}

int bothy_logs_read(const char *dir, const struct bothy_logs_opts *o, int out_fd, int err_fd,
                    bothy_logs_alive_fn alive, void *userdata, bothy_error_t *err)
{
  struct ctx c = {
    .o = o,
    .dir = dir,
    .dirfd = -1,
    .out = { .fd = { out_fd, err_fd } },
    .cur_fd = -1,
  };
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  /* A closed reader shows as EPIPE, not as a SIGPIPE that kills the caller. */
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe_set, &old_mask);

  int r = logs_read(&c, alive, userdata, err);

  if (!was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
    struct timespec zero = { 0, 0 };
    (void) sigtimedwait(&pipe_set, NULL, &zero);
  }
  sigprocmask(SIG_SETMASK, &old_mask, NULL);

  safe_close(c.dirfd);
  safe_close(c.cur_fd);
  free(c.lbuf);
  free(c.out.buf);
  for (int s = 0; s < STREAM_MAX; s++)
    free(c.pend[s].buf);
  return r;
}
