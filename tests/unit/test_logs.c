/* SPDX-License-Identifier: GPL-2.0-or-later */
/* container/logs: what `bothy logs` prints. Each test writes log files by
 * hand in a fresh temporary directory, in the monitor's format
 * (container/monitor.h), and checks the bytes that come out on the two fds
 * (memfds, read back afterwards). The follow tests fork a writer that never
 * uses cmocka (its longjmp would go on with the tests in the child): it
 * reports through its exit status. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "container/logs.h"
#include "container/monitor.h"

#define SEC INT64_C(1000000000)
#define T0  (INT64_C(1700000000) * SEC) /* 2023-11-14T22:13:20Z */

struct fixture {
  char *dir;
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  f->dir = xstrdup("/tmp/bothy-logs.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->dir, NULL), 0);
  free(f->dir);
  free(f);
  return 0;
}

/* One record, as the monitor writes it (with its "\n"). */
static char *rec_n(const char *stream, int64_t t, const char *text, size_t len)
{
  char ts[BOTHY_RFC3339_MAX];
  json_t *o = json_object();
  json_object_set_new(o, "log", json_stringn(text, len));
  json_object_set_new(o, "stream", json_string(stream));
  json_object_set_new(o, "time", json_string(bothy_time_format_rfc3339(t, ts)));
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  char *line = xasprintf("%s\n", s);
  free(s);
  return line;
}

static char *rec(const char *stream, int64_t t, const char *text)
{
  return rec_n(stream, t, text, strlen(text));
}

/* Appends records (NULL-terminated, freed) to dir/name. */
static void append(const char *dir, const char *name, ...)
{
  _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  va_list ap;
  va_start(ap, name);
  char *s;
  while ((s = va_arg(ap, char *))) {
    assert_int_equal(bothy_write_all(fd, s, strlen(s)), 0);
    free(s);
  }
  va_end(ap);
}

static void append_raw(const char *dir, const char *name, const char *data)
{
  _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(bothy_write_all(fd, data, strlen(data)), 0);
}

static char *slurp_fd(int fd)
{
  char *data = NULL;
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  assert_int_equal(bothy_read_fd(fd, &data, NULL, NULL), 0);
  return data;
}

struct result {
  int r;
  char *out, *err;
};

static void result_free(struct result *res)
{
  free(res->out);
  free(res->err);
}

#define _cleanup_result_ _cleanup_(result_free)

static struct result run_full(const char *dir, const struct bothy_logs_opts *o, bool same_fd,
                              bothy_logs_alive_fn alive, void *userdata)
{
  int out = memfd_create("out", MFD_CLOEXEC);
  int errfd = same_fd ? out : memfd_create("err", MFD_CLOEXEC);
  assert_true(out >= 0 && errfd >= 0);
  bothy_error_t err = NULL;
  struct result res = { 0 };
  res.r = bothy_logs_read(dir, o, out, errfd, alive, userdata, &err);
  if (res.r < 0)
    fail_msg("bothy_logs_read: %s", err->msg);
  res.out = slurp_fd(out);
  res.err = same_fd ? xstrdup("") : slurp_fd(errfd);
  close(out);
  if (!same_fd)
    close(errfd);
  return res;
}

static struct result run(const char *dir, const struct bothy_logs_opts *o)
{
  return run_full(dir, o, false, NULL, NULL);
}

static const struct bothy_logs_opts all = { .tail = -1 };

static void test_order_across_files(void **state)
{
  struct fixture *f = *state;
  append(f->dir, "container.log.2", rec("stdout", T0 + 1, "a\n"), rec("stdout", T0 + 2, "b\n"),
         NULL);
  append(f->dir, "container.log.1", rec("stdout", T0 + 3, "c\n"), NULL);
  append(f->dir, "container.log", rec("stdout", T0 + 4, "d\n"), rec("stdout", T0 + 5, "e\n"), NULL);
  /* Not log files. */
  append(f->dir, "container.log.tmp", rec("stdout", T0, "tmp\n"), NULL);
  append(f->dir, "container.log.01", rec("stdout", T0, "zero-one\n"), NULL);
  _cleanup_result_ struct result res = run(f->dir, &all);
  assert_int_equal(res.r, 0);
  assert_string_equal(res.out, "a\nb\nc\nd\ne\n");
  assert_string_equal(res.err, "");
}

static void test_streams(void **state)
{
  struct fixture *f = *state;
  append(f->dir, "container.log", rec("stdout", T0 + 1, "out 1\n"),
         rec("stderr", T0 + 2, "err 1\n"), rec("stdout", T0 + 3, "out 2\n"),
         rec("stderr", T0 + 4, "err 2\n"), NULL);
  _cleanup_result_ struct result res = run(f->dir, &all);
  assert_string_equal(res.out, "out 1\nout 2\n");
  assert_string_equal(res.err, "err 1\nerr 2\n");
  /* One fd for both (2>&1): the order of the records. */
  _cleanup_result_ struct result same = run_full(f->dir, &all, true, NULL, NULL);
  assert_string_equal(same.out, "out 1\nerr 1\nout 2\nerr 2\n");
}

static void test_timestamps(void **state)
{
  struct fixture *f = *state;
  append(f->dir, "container.log", rec("stdout", T0 + 123456789, "a\n"),
         rec("stderr", T0 + 5 * SEC, "b\n"), NULL);
  /* Times written with fewer digits or another offset still come out in
   * docker's fixed format, in UTC. */
  append_raw(f->dir, "container.log",
             "{\"log\":\"c\\n\",\"stream\":\"stdout\",\"time\":\"2023-11-15T00:13:21.5+01:00\"}\n");
  struct bothy_logs_opts o = { .tail = -1, .timestamps = true };
  _cleanup_result_ struct result res = run(f->dir, &o);
  assert_string_equal(res.out, "2023-11-14T22:13:20.123456789Z a\n"
                               "2023-11-14T23:13:21.500000000Z c\n");
  assert_string_equal(res.err, "2023-11-14T22:13:25.000000000Z b\n");
}

static void test_since_until(void **state)
{
  struct fixture *f = *state;
  append(f->dir, "container.log.1", rec("stdout", T0 + 1 * SEC, "1\n"),
         rec("stdout", T0 + 2 * SEC, "2\n"), NULL);
  append(f->dir, "container.log", rec("stderr", T0 + 3 * SEC, "3\n"),
         rec("stdout", T0 + 4 * SEC, "4\n"), rec("stdout", T0 + 5 * SEC, "5\n"), NULL);

  struct bothy_logs_opts o = { .tail = -1, .since_ns = T0 + 2 * SEC, .until_ns = T0 + 4 * SEC };
  _cleanup_result_ struct result res = run(f->dir, &o);
  assert_string_equal(res.out, "2\n"); /* since: at or after; until: before */
  assert_string_equal(res.err, "3\n");

  struct bothy_logs_opts since = { .tail = -1, .since_ns = T0 + 4 * SEC };
  _cleanup_result_ struct result s = run(f->dir, &since);
  assert_string_equal(s.out, "4\n5\n");

  struct bothy_logs_opts until = { .tail = -1, .until_ns = T0 + 2 * SEC };
  _cleanup_result_ struct result u = run(f->dir, &until);
  assert_string_equal(u.out, "1\n");

  /* With tail: the last N of the window. */
  struct bothy_logs_opts tail = { .tail = 2, .until_ns = T0 + 5 * SEC };
  _cleanup_result_ struct result t = run_full(f->dir, &tail, true, NULL, NULL);
  assert_string_equal(t.out, "3\n4\n");
  struct bothy_logs_opts tail_since = { .tail = 10, .since_ns = T0 + 2 * SEC };
  _cleanup_result_ struct result ts = run_full(f->dir, &tail_since, true, NULL, NULL);
  assert_string_equal(ts.out, "2\n3\n4\n5\n");
}

static void write_abcd(const char *dir)
{
  append(dir, "container.log.2", rec("stdout", T0 + 1, "a\n"), NULL);
  append(dir, "container.log.1", rec("stdout", T0 + 2, "b\n"), rec("stderr", T0 + 3, "c\n"), NULL);
  append(dir, "container.log", rec("stdout", T0 + 4, "d\n"), rec("stdout", T0 + 5, "e\n"), NULL);
}

static char *tail_of(const char *dir, long n)
{
  struct bothy_logs_opts o = { .tail = n };
  struct result res = run_full(dir, &o, true, NULL, NULL);
  free(res.err);
  return res.out;
}

static void test_tail(void **state)
{
  struct fixture *f = *state;
  write_abcd(f->dir);
  const char *want[] = { "", "e\n", "d\ne\n", "c\nd\ne\n", "b\nc\nd\ne\n", "a\nb\nc\nd\ne\n" };
  for (long n = 0; n < (long) ARRAY_SIZE(want); n++) {
    _cleanup_free_ char *out = tail_of(f->dir, n);
    assert_string_equal(out, want[n]);
  }
  _cleanup_free_ char *more = tail_of(f->dir, 1000);
  assert_string_equal(more, "a\nb\nc\nd\ne\n");
  _cleanup_free_ char *everything = tail_of(f->dir, -1);
  assert_string_equal(everything, "a\nb\nc\nd\ne\n");
}

static void test_tail_empty_files(void **state)
{
  struct fixture *f = *state;
  append(f->dir, "container.log.1", rec("stdout", T0 + 1, "a\n"), NULL);
  append(f->dir, "container.log", NULL); /* just rotated, nothing yet */
  _cleanup_free_ char *out = tail_of(f->dir, 1);
  assert_string_equal(out, "a\n");
}

static void test_split_lines(void **state)
{
  struct fixture *f = *state;
  size_t n = MONITOR_LOG_LINE_MAX;
  _cleanup_free_ char *x = xmalloc(n), *y = xmalloc(n);
  memset(x, 'x', n);
  memset(y, 'y', n);
  append(f->dir, "container.log", rec("stdout", T0 + 1, "before\n"), rec_n("stdout", T0 + 2, x, n),
         rec("stderr", T0 + 3, "between\n"), /* the other stream may come in between */
         rec_n("stdout", T0 + 4, y, n), rec("stdout", T0 + 5, "z\n"),
         rec("stdout", T0 + 6, "after\n"), NULL);
  _cleanup_free_ char *joined = xasprintf("%.*s%.*sz\n", (int) n, x, (int) n, y);

  _cleanup_result_ struct result res = run(f->dir, &all);
  _cleanup_free_ char *want = xasprintf("before\n%safter\n", joined);
  assert_string_equal(res.out, want);
  assert_string_equal(res.err, "between\n");

  /* One timestamp, the first record's, for the joined line. */
  struct bothy_logs_opts ts = { .tail = -1, .timestamps = true };
  _cleanup_result_ struct result tres = run(f->dir, &ts);
  _cleanup_free_ char *twant = xasprintf("2023-11-14T22:13:20.000000001Z before\n"
                                         "2023-11-14T22:13:20.000000002Z %s"
                                         "2023-11-14T22:13:20.000000006Z after\n",
                                         joined);
  assert_string_equal(tres.out, twant);

  /* A line counts once for --tail, whole, with its first parts found back. */
  _cleanup_free_ char *t2 = tail_of(f->dir, 2);
  _cleanup_free_ char *t2want = xasprintf("%safter\n", joined);
  assert_string_equal(t2, t2want);
  _cleanup_free_ char *t3 = tail_of(f->dir, 3);
  _cleanup_free_ char *t3want = xasprintf("between\n%safter\n", joined);
  assert_string_equal(t3, t3want);
}

static void test_unterminated_last_line(void **state)
{
  struct fixture *f = *state;
  /* The container ended without a newline: printed as it is. */
  append(f->dir, "container.log", rec("stdout", T0 + 1, "a\n"), rec("stdout", T0 + 2, "prompt> "),
         rec("stderr", T0 + 3, "e\n"), NULL);
  _cleanup_result_ struct result res = run_full(f->dir, &all, true, NULL, NULL);
  assert_string_equal(res.out, "a\ne\nprompt> ");
  _cleanup_free_ char *t1 = tail_of(f->dir, 1);
  assert_string_equal(t1, "e\n");
  _cleanup_free_ char *t2 = tail_of(f->dir, 2);
  assert_string_equal(t2, "e\nprompt> ");
}

static void test_corrupt_lines(void **state)
{
  struct fixture *f = *state;
  append(f->dir, "container.log", xstrdup("garbage\n"), rec("stdout", T0 + 1, "a\n"), xstrdup("\n"),
         xstrdup("{\"log\":1,\"stream\":\"stdout\",\"time\":\"2023-11-14T22:13:20Z\"}\n"),
         xstrdup("{\"log\":\"x\\n\",\"stream\":\"stdin\",\"time\":\"2023-11-14T22:13:20Z\"}\n"),
         xstrdup("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"yesterday\"}\n"),
         xstrdup("{\"log\":\"x\\n\",\"stream\":\"stdout\"}\n"), xstrdup("[1,2]\n"),
         xstrdup("{\"log\":\"half"), /* a record cut short, then more records */
         xstrdup("\n"), rec("stdout", T0 + 2, "b\n"), xstrdup("\xff\xfe\n"),
         rec("stdout", T0 + 3, "c\n"), NULL);
  _cleanup_result_ struct result res = run(f->dir, &all);
  assert_string_equal(res.out, "a\nb\nc\n");
  _cleanup_free_ char *t2 = tail_of(f->dir, 2);
  assert_string_equal(t2, "b\nc\n");
}

static void test_overlong_garbage(void **state)
{
  struct fixture *f = *state;
  /* 3 MiB without a newline (never a record), then records. */
  size_t n = 3 * 1024 * 1024;
  _cleanup_free_ char *junk = xmalloc(n + 2);
  memset(junk, '{', n);
  junk[n] = '\n';
  junk[n + 1] = '\0';
  append(f->dir, "container.log", rec("stdout", T0 + 1, "a\n"), xstrdup(junk),
         rec("stdout", T0 + 2, "b\n"), NULL);
  _cleanup_result_ struct result res = run(f->dir, &all);
  assert_string_equal(res.out, "a\nb\n");
  _cleanup_free_ char *t1 = tail_of(f->dir, 1);
  assert_string_equal(t1, "b\n");
}

static void test_truncated_last_record(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *last = rec("stdout", T0 + 3, "c\n");
  size_t half = strlen(last) / 2;
  append(f->dir, "container.log", rec("stdout", T0 + 1, "a\n"), rec("stdout", T0 + 2, "b\n"),
         xstrndup(last, half), NULL);
  _cleanup_result_ struct result res = run(f->dir, &all);
  assert_string_equal(res.out, "a\nb\n");
  _cleanup_free_ char *t1 = tail_of(f->dir, 1);
  assert_string_equal(t1, "b\n");
  /* The writer finishes it: now it is there. */
  append_raw(f->dir, "container.log", last + half);
  _cleanup_result_ struct result res2 = run(f->dir, &all);
  assert_string_equal(res2.out, "a\nb\nc\n");
}

static void test_no_log(void **state)
{
  struct fixture *f = *state;
  _cleanup_result_ struct result res = run(f->dir, &all);
  assert_int_equal(res.r, 0);
  assert_string_equal(res.out, "");
  _cleanup_free_ char *missing = xasprintf("%s/nothing-here", f->dir);
  _cleanup_result_ struct result res2 = run(missing, &all);
  assert_int_equal(res2.r, 0);
  assert_string_equal(res2.out, "");
  _cleanup_free_ char *t = tail_of(missing, 3);
  assert_string_equal(t, "");
}

static void test_epipe(void **state)
{
  struct fixture *f = *state;
  for (int i = 0; i < 2000; i++)
    append(f->dir, "container.log", rec("stdout", T0 + i, "a line of the log that fills a pipe\n"),
           NULL);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  close(p[0]);
  /* SIGPIPE's default action would kill the test: the reader must not get it. */
  struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
  sigaction(SIGPIPE, &dfl, &old);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_logs_read(f->dir, &all, p[1], p[1], NULL, NULL, &err), 0);
  assert_null(err);
  sigset_t pending;
  sigpending(&pending);
  assert_false(sigismember(&pending, SIGPIPE));
  sigaction(SIGPIPE, &old, NULL);
  close(p[1]);
}

/* ---- a large log: --tail reads its end only ------------------------------ */

static uint64_t rchar(void)
{
  _cleanup_free_ char *io = NULL;
  assert_int_equal(bothy_read_file(AT_FDCWD, "/proc/self/io", &io, NULL, NULL), 0);
  const char *p = strstr(io, "rchar: ");
  assert_non_null(p);
  return strtoull(p + 7, NULL, 10);
}

static void test_tail_large(void **state)
{
  struct fixture *f = *state;
  /* ~10 MB: 100000 records of ~100 bytes. */
  _cleanup_free_ char *path = xasprintf("%s/container.log", f->dir);
  _cleanup_fclose_ FILE *fp = fopen(path, "we");
  assert_non_null(fp);
  for (int i = 0; i < 100000; i++) {
    char text[64];
    snprintf(text, sizeof(text), "line %06d of a long log, padded to a hundred bytes\n", i);
    _cleanup_free_ char *r = rec(i % 10 == 9 ? "stderr" : "stdout", T0 + i * SEC, text);
    fputs(r, fp);
  }
  assert_int_equal(fflush(fp), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(st.st_size > 10 * 1000 * 1000);

  int out = memfd_create("out", MFD_CLOEXEC);
  assert_true(out >= 0);
  struct bothy_logs_opts o = { .tail = 10 };
  bothy_error_t err = NULL;
  uint64_t before = rchar();
  assert_int_equal(bothy_logs_read(f->dir, &o, out, out, NULL, NULL, &err), 0);
  uint64_t tail_read = rchar() - before;
  _cleanup_free_ char *got = slurp_fd(out);
  close(out);

  /* The counter counts: the whole log costs its size. */
  out = memfd_create("out", MFD_CLOEXEC);
  before = rchar();
  assert_int_equal(bothy_logs_read(f->dir, &all, out, out, NULL, NULL, &err), 0);
  uint64_t full_read = rchar() - before;
  close(out);
  assert_true(full_read >= (uint64_t) st.st_size);
  if (tail_read > 256 * 1024)
    fail_msg("--tail 10 read %" PRIu64 " bytes of a %lld byte log", tail_read,
             (long long) st.st_size);

  _cleanup_free_ char *want = xstrdup("");
  for (int i = 99990; i < 100000; i++) {
    char *w = xasprintf("%sline %06d of a long log, padded to a hundred bytes\n", want, i);
    free(want);
    want = w;
  }
  assert_string_equal(got, want);
}

/* ---- follow ---------------------------------------------------------------- */

static void child_write(int fd, const char *s, size_t n)
{
  if (bothy_write_all(fd, s, n) < 0)
    _exit(10);
}

/* container.log.(max-2) -> .(max-1) ... container.log -> .1, as the monitor. */
static void child_rotate(int dirfd, int max)
{
  char from[64], to[64];
  for (int i = max - 2; i >= 1; i--) {
    snprintf(from, sizeof(from), "container.log.%d", i);
    snprintf(to, sizeof(to), "container.log.%d", i + 1);
    if (renameat(dirfd, from, dirfd, to) < 0 && errno != ENOENT)
      _exit(11);
  }
  if (renameat(dirfd, "container.log", dirfd, "container.log.1") < 0)
    _exit(12);
}

static int child_open(int dirfd)
{
  int fd = openat(dirfd, "container.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    _exit(13);
  return fd;
}

static void child_sleep_ms(int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

struct writer {
  pid_t pid;
  int status;
  bool done;
};

static bool writer_alive(void *userdata)
{
  struct writer *w = userdata;
  if (!w->done && waitpid(w->pid, &w->status, WNOHANG) == w->pid)
    w->done = true;
  return !w->done;
}

static void writer_wait(struct writer *w)
{
  if (!w->done)
    assert_int_equal(waitpid(w->pid, &w->status, 0), w->pid);
  w->done = true;
  assert_true(WIFEXITED(w->status));
  assert_int_equal(WEXITSTATUS(w->status), 0);
}

#define FOLLOW_RECORDS 300

/* Writes FOLLOW_RECORDS records, rotating every 50 (the reader's file is
 * renamed away under it), some in two writes with a pause between (the
 * reader sees half a record), stderr every 7th. container.log does not
 * exist when it starts. */
static void follow_writer(const char *dir, int max_files)
{
  int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    _exit(14);
  child_sleep_ms(50);
  int fd = child_open(dirfd);
  for (int i = 0; i < FOLLOW_RECORDS; i++) {
    if (i > 0 && i % 50 == 0) {
      child_rotate(dirfd, max_files);
      /* The monitor writes its next record to the new file at once; here a
       * pause first, or none, in turn. */
      if (i % 100 == 0)
        child_sleep_ms(30);
      close(fd);
      fd = child_open(dirfd);
    }
    char text[32];
    snprintf(text, sizeof(text), "line %03d\n", i);
    char *r = rec(i % 7 == 3 ? "stderr" : "stdout", T0 + i, text);
    size_t n = strlen(r);
    if (i % 13 == 0) {
      child_write(fd, r, n / 2);
      child_sleep_ms(30);
      child_write(fd, r + n / 2, n - n / 2);
    } else {
      child_write(fd, r, n);
    }
    free(r);
    if (i % 10 == 0)
      child_sleep_ms(5);
  }
  close(fd);
  _exit(0);
}

static char *follow_expected(int from, bool with_stderr)
{
  char *s = xstrdup("");
  for (int i = from; i < FOLLOW_RECORDS; i++) {
    if (!with_stderr && i % 7 == 3)
      continue;
    char *n = xasprintf("%sline %03d\n", s, i);
    free(s);
    s = n;
  }
  return s;
}

static void test_follow_rotation(void **state)
{
  struct fixture *f = *state;
  struct writer w = { 0 };
  w.pid = fork();
  assert_true(w.pid >= 0);
  if (w.pid == 0)
    follow_writer(f->dir, 10);
  struct bothy_logs_opts o = { .tail = -1, .follow = true };
  _cleanup_result_ struct result res = run_full(f->dir, &o, true, writer_alive, &w);
  writer_wait(&w);
  _cleanup_free_ char *want = follow_expected(0, true);
  assert_string_equal(res.out, want);
}

static void test_follow_rotation_separate_fds(void **state)
{
  struct fixture *f = *state;
  struct writer w = { 0 };
  w.pid = fork();
  assert_true(w.pid >= 0);
  if (w.pid == 0)
    follow_writer(f->dir, 3); /* the oldest file goes while being read */
  struct bothy_logs_opts o = { .tail = -1, .follow = true };
  _cleanup_result_ struct result res = run_full(f->dir, &o, false, writer_alive, &w);
  writer_wait(&w);
  _cleanup_free_ char *want = follow_expected(0, false);
  assert_string_equal(res.out, want);
  _cleanup_free_ char *errs = xstrdup("");
  for (int i = 3; i < FOLLOW_RECORDS; i += 7) {
    char *n = xasprintf("%sline %03d\n", errs, i);
    free(errs);
    errs = n;
  }
  assert_string_equal(res.err, errs);
}

static void test_follow_tail(void **state)
{
  struct fixture *f = *state;
  write_abcd(f->dir);
  /* A record cut short at the end: the writer finishes it while followed. */
  _cleanup_free_ char *pending = rec("stdout", T0 + 6, "f\n");
  size_t half = strlen(pending) / 2;
  _cleanup_free_ char *head = xstrndup(pending, half);
  append_raw(f->dir, "container.log", head);
  struct writer w = { 0 };
  w.pid = fork();
  assert_true(w.pid >= 0);
  if (w.pid == 0) {
    int dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = child_open(dirfd);
    child_sleep_ms(300);
    child_write(fd, pending + half, strlen(pending) - half);
    child_sleep_ms(100);
    char *r = rec("stdout", T0 + 7, "g\n");
    child_write(fd, r, strlen(r));
    _exit(0);
  }
  struct bothy_logs_opts o = { .tail = 2, .follow = true };
  _cleanup_result_ struct result res = run_full(f->dir, &o, true, writer_alive, &w);
  writer_wait(&w);
  assert_string_equal(res.out, "d\ne\nf\ng\n");
}

static void test_follow_truncated_in_place(void **state)
{
  struct fixture *f = *state;
  /* --log-max-files 1: the monitor truncates container.log. */
  append(f->dir, "container.log",
         rec("stdout", T0 + 1, "a long first line, longer than what follows\n"), NULL);
  struct writer w = { 0 };
  w.pid = fork();
  assert_true(w.pid >= 0);
  if (w.pid == 0) {
    int dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = child_open(dirfd);
    child_sleep_ms(300);
    if (ftruncate(fd, 0) < 0)
      _exit(15);
    char *r = rec("stdout", T0 + 2, "b\n");
    child_write(fd, r, strlen(r));
    _exit(0);
  }
  struct bothy_logs_opts o = { .tail = -1, .follow = true };
  _cleanup_result_ struct result res = run_full(f->dir, &o, true, writer_alive, &w);
  writer_wait(&w);
  assert_string_equal(res.out, "a long first line, longer than what follows\nb\n");
}

static bool not_alive(void *userdata)
{
  int *calls = userdata;
  (*calls)++;
  return false;
}

static void test_follow_gone(void **state)
{
  struct fixture *f = *state;
  /* Gone already: what is there, then the end; a partial line is printed. */
  append(f->dir, "container.log", rec("stdout", T0 + 1, "a\n"), rec("stdout", T0 + 2, "b"), NULL);
  int calls = 0;
  struct bothy_logs_opts o = { .tail = -1, .follow = true };
  _cleanup_result_ struct result res = run_full(f->dir, &o, true, not_alive, &calls);
  assert_string_equal(res.out, "a\nb");
  assert_true(calls >= 1);
  /* A container without its directory yet: nothing, until it is gone. */
  _cleanup_free_ char *missing = xasprintf("%s/not-yet", f->dir);
  calls = 0;
  _cleanup_result_ struct result none = run_full(missing, &o, true, not_alive, &calls);
  assert_string_equal(none.out, "");
  assert_int_equal(calls, 1);
  /* until in the past ends following too. */
  struct bothy_logs_opts u = { .tail = -1, .follow = true, .until_ns = T0 + 2 };
  _cleanup_result_ struct result res2 = run_full(f->dir, &u, true, NULL, NULL);
  assert_string_equal(res2.out, "a\n");
}

/* ---- times ---------------------------------------------------------------- */

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
  struct tm tm = {
    .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s
  };
  return (int64_t) timegm(&tm) * SEC;
}

static int64_t parse_ok(const char *s)
{
  int64_t v = 42;
  bothy_error_t err = NULL;
  int r = bothy_logs_parse_time(s, "since", T0, &v, &err);
  if (r < 0)
    fail_msg("'%s': %s", s, err->msg);
  return v;
}

static void parse_bad(const char *s, const char *what)
{
  int64_t v = 42;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_logs_parse_time(s, what, T0, &v, &err), -EINVAL);
  assert_int_equal(v, 42);
  assert_non_null(err);
  assert_int_equal(err->code, EINVAL);
  _cleanup_free_ char *want = xasprintf("invalid value for \"%s\": \"%s\"", what, s);
  assert_string_equal(err->msg, want);
  bothy_error_free(&err);
}

static void test_parse_time(void **state)
{
  const char *tz = getenv("TZ");
  _cleanup_free_ char *old_tz = tz ? xstrdup(tz) : NULL;
  setenv("TZ", "UTC0", 1);
  tzset();

  int64_t base = utc(2026, 11, 23, 13, 55, 0);
  /* RFC 3339 */
  assert_int_equal(parse_ok("2026-11-23T13:55:00Z"), base);
  assert_int_equal(parse_ok("2026-11-23T13:55:00.123456789Z"), base + 123456789);
  assert_int_equal(parse_ok("2026-11-23T13:55:00.5Z"), base + 500000000);
  assert_int_equal(parse_ok("2026-11-23t13:55:00.000000001z"), base + 1);
  assert_int_equal(parse_ok("2026-11-23T13:55:00.1234567891Z"), base + 123456789);
  assert_int_equal(parse_ok("2026-11-23T14:55:00+01:00"), base);
  assert_int_equal(parse_ok("2026-11-23T11:25:00.25-02:30"), base + 250000000);
  /* shorter forms, and local time without a zone (TZ=UTC0 here) */
  assert_int_equal(parse_ok("2026-11-23"), utc(2026, 11, 23, 0, 0, 0));
  assert_int_equal(parse_ok("2026-11-23Z"), utc(2026, 11, 23, 0, 0, 0));
  assert_int_equal(parse_ok("2026-11-23+02:00"), utc(2026, 11, 22, 22, 0, 0));
  assert_int_equal(parse_ok("2026-11-23T13"), utc(2026, 11, 23, 13, 0, 0));
  assert_int_equal(parse_ok("2026-11-23T13:55"), base);
  assert_int_equal(parse_ok("2026-11-23T13:55:00"), base);
  assert_int_equal(parse_ok("2026-11-23T13:55:00.75"), base + 750000000);
  assert_int_equal(parse_ok("2024-02-29"), utc(2024, 2, 29, 0, 0, 0));
  assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -SEC);
  /* Local time is local. */
  setenv("TZ", "CET-1", 1);
  tzset();
  assert_int_equal(parse_ok("2026-11-23"), utc(2026, 11, 22, 23, 0, 0));
  assert_int_equal(parse_ok("2026-11-23T13:55:00"), base - 3600 * SEC);
  assert_int_equal(parse_ok("2026-11-23T13:55:00Z"), base);
  setenv("TZ", "UTC0", 1);
  tzset();
  /* unix seconds */
  assert_int_equal(parse_ok("1700000000"), T0);
  assert_int_equal(parse_ok("1700000000.5"), T0 + 500000000);
  assert_int_equal(parse_ok("1700000000.000000001"), T0 + 1);
  assert_int_equal(parse_ok("1700000000.1234567899"), T0 + 123456789);
  assert_int_equal(parse_ok("0"), 0);
  assert_int_equal(parse_ok("10"), 10 * SEC);
  /* durations before now (now = T0) */
  assert_int_equal(parse_ok("10m"), T0 - 600 * SEC);
  assert_int_equal(parse_ok("1h30m"), T0 - 5400 * SEC);
  assert_int_equal(parse_ok("45s"), T0 - 45 * SEC);
  assert_int_equal(parse_ok("2h"), T0 - 7200 * SEC);
  assert_int_equal(parse_ok("1.5h"), T0 - 5400 * SEC);
  assert_int_equal(parse_ok("300ms"), T0 - 300000000);
  assert_int_equal(parse_ok("1m30.5s"), T0 - 90500000000);
  assert_int_equal(parse_ok("2us"), T0 - 2000);
  assert_int_equal(parse_ok("2\xc2\xb5s"), T0 - 2000);
  assert_int_equal(parse_ok("7ns"), T0 - 7);
  assert_int_equal(parse_ok("-10m"), T0 + 600 * SEC);
  assert_int_equal(parse_ok("0s"), T0);

  const char *bad[] = {
    "",
    "x",
    "yesterday",
    "10x",
    "1h30",
    "h",
    "1.h.",
    "1d",
    "-5",
    "1700000000.",
    "1700000000.5.5",
    "99999999999999999999",
    "2026-13-01",
    "2026-02-30",
    "2025-02-29",
    "2026-11-23T25:00:00Z",
    "2026-11-23T13:60:00Z",
    "2026-11-23T13:55:61Z",
    "2026-11-23T13:55:00.Z",
    "2026-11-23T13:55:00+0100",
    "2026-11-23T13:55:00+24:00",
    "2026-11-23T",
    "2026-11-23T1",
    "2026-11-23 13:55:00Z",
    "26-11-23",
    "2026-11-23Zjunk",
    "3000-01-01T00:00:00Z", /* past int64 nanoseconds */
    "9999999999999h",
  };
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
    parse_bad(bad[i], i % 2 ? "until" : "since");

  if (old_tz)
    setenv("TZ", old_tz, 1);
  else
    unsetenv("TZ");
  tzset();
}

static void test_rfc3339(void **state)
{
  int64_t v = 42;
  assert_int_equal(bothy_time_parse_rfc3339("2023-11-14T22:13:20Z", &v), 0);
  assert_int_equal(v, T0);
  assert_int_equal(bothy_time_parse_rfc3339("2023-11-14T22:13:20.123456789Z", &v), 0);
  assert_int_equal(v, T0 + 123456789);
  assert_int_equal(bothy_time_parse_rfc3339("2023-11-14T23:13:20.1+01:00", &v), 0);
  assert_int_equal(v, T0 + 100000000);
  v = 42;
  /* RFC 3339 proper: seconds and a zone. */
  assert_int_equal(bothy_time_parse_rfc3339("2023-11-14", &v), -EINVAL);
  assert_int_equal(bothy_time_parse_rfc3339("2023-11-14T22:13:20", &v), -EINVAL);
  assert_int_equal(bothy_time_parse_rfc3339("2023-11-14T22:13Z", &v), -EINVAL);
  assert_int_equal(bothy_time_parse_rfc3339("1700000000", &v), -EINVAL);
  assert_int_equal(bothy_time_parse_rfc3339("2263-01-01T00:00:00Z", &v), -EINVAL);
  assert_int_equal(bothy_time_parse_rfc3339(NULL, &v), -EINVAL);
  assert_int_equal(v, 42);

  /* Round trips through the formatter, before 1970 included. */
  const int64_t times[] = { T0,
                            T0 + 1,
                            T0 + 999999999,
                            0,
                            -1,
                            -SEC - 5,
                            INT64_C(9223372036) * SEC,
                            utc(2026, 11, 23, 13, 55, 0) + 7 };
  for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
    char buf[BOTHY_RFC3339_MAX];
    bothy_time_format_rfc3339(times[i], buf);
    assert_int_equal(strlen(buf), 30);
    assert_int_equal(bothy_time_parse_rfc3339(buf, &v), 0);
    assert_int_equal(v, times[i]);
  }
  char buf[BOTHY_RFC3339_MAX];
  assert_string_equal(bothy_time_format_rfc3339(-1, buf), "1969-12-31T23:59:59.999999999Z");
  assert_string_equal(bothy_time_format_rfc3339(T0 + 5, buf), "2023-11-14T22:13:20.000000005Z");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
    T(test_order_across_files),
    T(test_streams),
    T(test_timestamps),
    T(test_since_until),
    T(test_tail),
    T(test_tail_empty_files),
    T(test_split_lines),
    T(test_unterminated_last_line),
    T(test_corrupt_lines),
    T(test_overlong_garbage),
    T(test_truncated_last_record),
    T(test_no_log),
    T(test_epipe),
    T(test_tail_large),
    T(test_follow_rotation),
    T(test_follow_rotation_separate_fds),
    T(test_follow_tail),
    T(test_follow_truncated_in_place),
    T(test_follow_gone),
    cmocka_unit_test(test_parse_time),
    cmocka_unit_test(test_rfc3339),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
