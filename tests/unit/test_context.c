/* SPDX-License-Identifier: GPL-2.0-or-later */
/* build/context: what COPY and ADD take from the build context or a stage's
 * root filesystem, checked from the outside: the layer tar the copy makes
 * (read back with libarchive), the error codes and messages, and the cache
 * hash. Runs as root (owners, device-free). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "build/context.h"

/* ---- building a context on disk ---- */

static char *new_dir(void)
{
  char tmpl[] = "/tmp/bothy-ctx-test-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  return xstrdup(tmpl);
}

static void rm_dir(char *dir)
{
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, dir, NULL), 0);
  free(dir);
}

/* dir/path with content, mode, owner (parents created 0755). */
static void put_owned(const char *dir, const char *path, const char *content, mode_t mode,
                      uid_t uid, gid_t gid)
{
  char *full = xasprintf("%s/%s", dir, path);
  char *slash = strrchr(full, '/');
  *slash = '\0';
  assert_int_equal(bothy_mkdir_p(full, 0755, NULL), 0);
  *slash = '/';
  int fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  assert_true(fd >= 0);
  assert_int_equal(bothy_write_all(fd, content, strlen(content)), 0);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(fchown(fd, uid, gid), 0);
  close(fd);
  free(full);
}

static void put(const char *dir, const char *path, const char *content)
{
  put_owned(dir, path, content, 0644, 1234, 1234);
}

static void put_dir(const char *dir, const char *path, mode_t mode)
{
  char *full = xasprintf("%s/%s", dir, path);
  assert_int_equal(bothy_mkdir_p(full, 0755, NULL), 0);
  assert_int_equal(chmod(full, mode), 0);
  assert_int_equal(chown(full, 1234, 1234), 0);
  free(full);
}

static void put_link(const char *dir, const char *path, const char *target)
{
  char *full = xasprintf("%s/%s", dir, path);
  assert_int_equal(symlink(target, full), 0);
  assert_int_equal(lchown(full, 1234, 1234), 0);
  free(full);
}

static void set_mtime(const char *dir, const char *path, time_t t)
{
  char *full = xasprintf("%s/%s", dir, path);
  struct timeval tv[2] = { { t, 0 }, { t, 0 } };
  assert_int_equal(utimes(full, tv), 0);
  free(full);
}

static struct bothy_context *open_ctx(const char *dir)
{
  struct bothy_context *c = NULL;
  bothy_error_t err = NULL;
  if (bothy_context_open(dir, NULL, &c, &err) < 0)
    fail_msg("unexpected error: %s", err->msg);
  return c;
}

/* ---- requests ---- */

struct req_opts {
  const char *dest;
  bool dest_is_dir;
  const char *exclude[4];
  bool add;
  struct bothy_tarw_meta meta;
};

static struct bothy_copy_req make_req(char *const *srcs, const struct req_opts *o)
{
  return (struct bothy_copy_req){
    .srcs = srcs,
    .dest = o->dest,
    .dest_is_dir = o->dest_is_dir,
    .exclude = o->exclude[0] ? (char *const *) o->exclude : NULL,
    .meta = o->meta,
    .add = o->add,
    .what = o->add ? "ADD" : "COPY",
  };
}

/* The tar of the copy, one line an entry, in the writer's order:
 * "name mode uid:gid" then " =content" for a file, " ->target" for a
 * symlink, " =>target" for a hard link. */
static char *copy_listing(struct bothy_context *c, const struct bothy_copy_req *req)
{
  struct bothy_tarw *w = NULL;
  bothy_error_t err = NULL;
  struct bothy_tarw_opts opts = { .timestamp = -1 };
  assert_int_equal(bothy_tarw_new(&opts, &w, &err), 0);
  if (bothy_context_copy(c, req, w, &err) < 0)
    fail_msg("copy failed: %s", err->msg);
  int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  char diff_id[BOTHY_DIGEST_MAX];
  uint64_t size;
  if (bothy_tarw_finish(w, fd, diff_id, &size, &err) < 0)
    fail_msg("finish failed: %s", err->msg);
  bothy_tarw_free(w);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  assert_int_equal(archive_read_open_fd(a, fd, 10240), ARCHIVE_OK);
  size_t cap = 4096, len = 0;
  char *out = xmalloc(cap);
  out[0] = '\0';
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s %04o %ld:%ld", archive_entry_pathname(e),
                     (unsigned) archive_entry_perm(e), (long) archive_entry_uid(e),
                     (long) archive_entry_gid(e));
    if (archive_entry_hardlink(e)) {
      n += snprintf(line + n, sizeof(line) - (size_t) n, " =>%s", archive_entry_hardlink(e));
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      n += snprintf(line + n, sizeof(line) - (size_t) n, " ->%s", archive_entry_symlink(e));
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      char data[256];
      la_ssize_t k = archive_read_data(a, data, sizeof(data) - 1);
      assert_true(k >= 0);
      data[k] = '\0';
      n += snprintf(line + n, sizeof(line) - (size_t) n, " =%s", data);
    }
    n += snprintf(line + n, sizeof(line) - (size_t) n, "\n");
    while (len + (size_t) n + 1 > cap)
      out = xrealloc(out, cap *= 2);
    memcpy(out + len, line, (size_t) n + 1);
    len += (size_t) n;
  }
  assert_int_equal(r, ARCHIVE_EOF);
  archive_read_free(a);
  close(fd);
  return out;
}

#define EXPECT_LISTING(c, req, want)                                                               \
  do {                                                                                             \
    char *got_ = copy_listing((c), (req));                                                         \
    if (strcmp(got_, (want)) != 0)                                                                 \
      fail_msg("got:\n%s\nwant:\n%s", got_, (want));                                               \
    free(got_);                                                                                    \
  } while (0)

/* Both the hash and the copy fail, the same way. */
static void expect_fail(struct bothy_context *c, const struct bothy_copy_req *req, int code,
                        const char *msg)
{
  bothy_error_t err = NULL;
  char hex[65];
  int r = bothy_context_hash(c, req, hex, &err);
  if (r != -code || !err || err->code != code || strcmp(err->msg, msg) != 0)
    fail_msg("hash: got %d \"%s\", want %d \"%s\"", r, err ? err->msg : "(none)", -code, msg);
  bothy_error_free(&err);

  struct bothy_tarw *w = NULL;
  struct bothy_tarw_opts opts = { .timestamp = -1 };
  assert_int_equal(bothy_tarw_new(&opts, &w, NULL), 0);
  r = bothy_context_copy(c, req, w, &err);
  if (r != -code || !err || err->code != code || strcmp(err->msg, msg) != 0)
    fail_msg("copy: got %d \"%s\", want %d \"%s\"", r, err ? err->msg : "(none)", -code, msg);
  bothy_error_free(&err);
  bothy_tarw_free(w);
}

static void hash(struct bothy_context *c, const struct bothy_copy_req *req, char *hex)
{
  bothy_error_t err = NULL;
  if (bothy_context_hash(c, req, hex, &err) < 0)
    fail_msg("hash failed: %s", err->msg);
  assert_int_equal(strlen(hex), 64);
  assert_int_equal(strspn(hex, "0123456789abcdef"), 64);
}

#define SRCS(...) ((char *const[]){ __VA_ARGS__, NULL })

/* ---- tests ---- */

static void test_open(void **state)
{
  struct bothy_context *c = (struct bothy_context *) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_context_open("/nonexistent-bothy", NULL, &c, &err), -ENOENT);
  assert_string_equal(err->msg,
                      "cannot open build context '/nonexistent-bothy': No such file or directory");
  assert_ptr_equal(c, (struct bothy_context *) 0x1);
  bothy_error_free(&err);

  char *dir = new_dir();
  put(dir, "file", "x");
  char *file = xasprintf("%s/file", dir);
  assert_int_equal(bothy_context_open(file, NULL, &c, &err), -ENOTDIR);
  bothy_error_free(&err);
  assert_int_equal(bothy_context_open_rootfs(file, &c, &err), -ENOTDIR);
  bothy_error_free(&err);

  /* A given ignore file must be there. */
  char *missing = xasprintf("%s/nope.ignore", dir);
  assert_int_equal(bothy_context_open(dir, missing, &c, &err), -ENOENT);
  bothy_error_free(&err);

  /* A malformed ignore file is an error with its file and line. */
  put(dir, ".dockerignore", "ok\n[a-\n");
  assert_int_equal(bothy_context_open(dir, NULL, &c, &err), -EINVAL);
  assert_string_equal(err->msg, ".dockerignore:2: bad pattern \"[a-\"");
  bothy_error_free(&err);

  /* .containerignore wins over .dockerignore. */
  put(dir, ".containerignore", "file\n");
  c = open_ctx(dir);
  assert_true(bothy_context_dirfd(c) >= 0);
  struct req_opts o = { .dest = "/d" };
  struct bothy_copy_req req = make_req(SRCS("file"), &o);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"file\"");
  bothy_context_free(c);

  /* An ignore file given by path: .containerignore is not read then. */
  char *given = xasprintf("%s/given.ignore", dir);
  put(dir, "given.ignore", "other\n");
  assert_int_equal(bothy_context_open(dir, given, &c, &err), 0);
  EXPECT_LISTING(c, &req, "d 0644 0:0 =x\n");
  assert_null(bothy_context_free(c));
  assert_null(bothy_context_free(NULL));

  free(given);
  free(missing);
  free(file);
  rm_dir(dir);
}

static void test_errors(void **state)
{
  char *dir = new_dir();
  char *outside = new_dir();
  put(outside, "secret", "s");
  put(dir, "a.txt", "a");
  put(dir, "b.txt", "b");
  put(dir, "sub/c.txt", "c");
  put_link(dir, "link", "/etc/passwd");
  put_link(dir, "up", "../../../../x");
  put_link(dir, "etc", "/etc");
  put_link(dir, "loop1", "loop2");
  put_link(dir, "loop2", "loop1");
  char *out_rel = xasprintf("../%s/secret", strrchr(outside, '/') + 1);
  put_link(dir, "sibling", out_rel);
  struct bothy_context *c = open_ctx(dir);
  struct req_opts o = { .dest = "/d/" };
  struct bothy_copy_req req;

  req = make_req(SRCS("missing.txt"), &o);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"missing.txt\"");
  req = make_req(SRCS("a.txt/x"), &o);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"a.txt/x\"");
  req = make_req(SRCS("../etc/passwd"), &o);
  expect_fail(c, &req, EPERM, "COPY failed: \"../etc/passwd\" is outside the build context");
  req = make_req(SRCS("sub/../../x"), &o);
  expect_fail(c, &req, EPERM, "COPY failed: \"sub/../../x\" is outside the build context");
  req = make_req(SRCS("link"), &o);
  expect_fail(c, &req, EPERM,
              "COPY failed: \"link\" points outside the build context (to \"/etc/passwd\")");
  req = make_req(SRCS("./up"), &o);
  expect_fail(c, &req, EPERM,
              "COPY failed: \"./up\" points outside the build context (to \"../../../../x\")");
  req = make_req(SRCS("etc/passwd"), &o);
  expect_fail(c, &req, EPERM,
              "COPY failed: \"etc/passwd\" points outside the build context (\"etc\" links to "
              "\"/etc\")");
  req = make_req(SRCS("sibling"), &o);
  char *msg =
      xasprintf("COPY failed: \"sibling\" points outside the build context (to \"%s\")", out_rel);
  expect_fail(c, &req, EPERM, msg);
  free(msg);
  req = make_req(SRCS("loop1"), &o);
  expect_fail(c, &req, ELOOP, "COPY failed: \"loop1\": too many levels of symbolic links");

  /* A glob that reaches an escaping symlink says so too. */
  req = make_req(SRCS("lin?"), &o);
  expect_fail(c, &req, EPERM,
              "COPY failed: \"link\" points outside the build context (to \"/etc/passwd\")");

  /* Several sources need a directory destination. */
  struct req_opts file_dest = { .dest = "/d" };
  req = make_req(SRCS("a.txt", "b.txt"), &file_dest);
  expect_fail(c, &req, EINVAL,
              "COPY with more than one source file requires the destination to end with \"/\"");
  req = make_req(SRCS("*.txt"), &file_dest);
  expect_fail(c, &req, EINVAL,
              "COPY with more than one source file requires the destination to end with \"/\"");
  struct req_opts is_dir = { .dest = "/d", .dest_is_dir = true };
  req = make_req(SRCS("a.txt", "b.txt"), &is_dir);
  EXPECT_LISTING(c, &req, "d/a.txt 0644 0:0 =a\nd/b.txt 0644 0:0 =b\n");

  /* Globs: nothing matched, a bad pattern. */
  req = make_req(SRCS("*.md"), &o);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"*.md\"");
  req = make_req(SRCS("nodir/*.txt"), &o);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"nodir/*.txt\"");
  req = make_req(SRCS("[a-.txt"), &o);
  expect_fail(c, &req, EINVAL, "COPY failed: bad pattern \"[a-.txt\"");

  /* A bad --exclude pattern. */
  struct req_opts bad_ex = { .dest = "/d/", .exclude = { "ok", "[" } };
  req = make_req(SRCS("a.txt"), &bad_ex);
  expect_fail(c, &req, EINVAL, "COPY failed: --exclude:2: bad pattern \"[\"");

  /* ADD says ADD. */
  struct req_opts add = { .dest = "/d/", .add = true };
  req = make_req(SRCS("nope"), &add);
  expect_fail(c, &req, ENOENT, "ADD failed: file not found in build context: \"nope\"");

  bothy_context_free(c);
  free(out_rel);
  rm_dir(outside);
  rm_dir(dir);
}

static void test_globs(void **state)
{
  char *dir = new_dir();
  put(dir, "a.txt", "a");
  put(dir, "b.txt", "b");
  put(dir, "c.md", "c");
  put(dir, "sub/d.txt", "d");
  put(dir, "sub/e.md", "e");
  put(dir, "sub2/f.txt", "f");
  put(dir, "x*y", "star");
  put(dir, "x1y", "one");
  put(dir, "\xc3\xa9.txt", "e-acute");
  put_link(dir, "sub-link", "sub");
  struct bothy_context *c = open_ctx(dir);
  struct req_opts o = { .dest = "/d/" };
  struct bothy_copy_req req;

  req = make_req(SRCS("*.txt"), &o);
  EXPECT_LISTING(c, &req,
                 "d/a.txt 0644 0:0 =a\nd/b.txt 0644 0:0 =b\nd/\xc3\xa9.txt 0644 0:0 =e-acute\n");
  /* '?' is one character, UTF-8 included. */
  req = make_req(SRCS("?.txt"), &o);
  EXPECT_LISTING(c, &req,
                 "d/a.txt 0644 0:0 =a\nd/b.txt 0644 0:0 =b\nd/\xc3\xa9.txt 0644 0:0 =e-acute\n");
  req = make_req(SRCS("[^a].txt"), &o);
  EXPECT_LISTING(c, &req, "d/b.txt 0644 0:0 =b\nd/\xc3\xa9.txt 0644 0:0 =e-acute\n");
  req = make_req(SRCS("[a-b].*"), &o);
  EXPECT_LISTING(c, &req, "d/a.txt 0644 0:0 =a\nd/b.txt 0644 0:0 =b\n");
  /* '*' does not cross '/'; a symlink to a directory is not searched. */
  req = make_req(SRCS("*/*.txt"), &o);
  EXPECT_LISTING(c, &req, "d/d.txt 0644 0:0 =d\nd/f.txt 0644 0:0 =f\n");
  req = make_req(SRCS("sub*/e.md"), &o);
  EXPECT_LISTING(c, &req, "d/e.md 0644 0:0 =e\n");
  /* A glob matching a directory copies its contents. */
  req = make_req(SRCS("sub2*"), &o);
  EXPECT_LISTING(c, &req, "d/f.txt 0644 0:0 =f\n");
  /* A quoted '*' is a '*', in a name as in a pattern. */
  req = make_req(SRCS("x\\*y"), &o);
  EXPECT_LISTING(c, &req, "d/x*y 0644 0:0 =star\n");
  req = make_req(SRCS("x\\*?"), &o);
  EXPECT_LISTING(c, &req, "d/x*y 0644 0:0 =star\n");
  req = make_req(SRCS("\\.\\./x"), &o);
  expect_fail(c, &req, EPERM, "COPY failed: \"\\.\\./x\" is outside the build context");
  req = make_req(SRCS("x?y"), &o);
  EXPECT_LISTING(c, &req, "d/x*y 0644 0:0 =star\nd/x1y 0644 0:0 =one\n");
  /* The fixed part goes through symlinks. */
  req = make_req(SRCS("sub-link/*.md"), &o);
  EXPECT_LISTING(c, &req, "d/e.md 0644 0:0 =e\n");
  /* A glob with one match into a file destination. */
  struct req_opts file_dest = { .dest = "/only" };
  req = make_req(SRCS("*.md"), &file_dest);
  EXPECT_LISTING(c, &req, "only 0644 0:0 =c\n");
  /* "/x", "./x" and "x" are the same source. */
  req = make_req(SRCS("/sub/./d.txt", "./c.md", "sub/../b.txt"), &o);
  EXPECT_LISTING(c, &req, "d/b.txt 0644 0:0 =b\nd/c.md 0644 0:0 =c\nd/d.txt 0644 0:0 =d\n");

  bothy_context_free(c);
  rm_dir(dir);
}

static void test_copy_tree(void **state)
{
  char *dir = new_dir();
  put_dir(dir, "app", 0750);
  put_owned(dir, "app/run.sh", "#!/bin/sh\n", 0755, 1000, 1000);
  put(dir, "app/conf/app.ini", "k=v");
  put_dir(dir, "app/conf", 0700);
  char *run = xasprintf("%s/app/run.sh", dir), *run2 = xasprintf("%s/app/run2.sh", dir);
  assert_int_equal(link(run, run2), 0);
  free(run);
  free(run2);
  put_link(dir, "app/latest", "run.sh");
  put_link(dir, "app/abs", "/etc/passwd"); /* copied as a symlink, not followed */
  put_link(dir, "applink", "app");
  put(dir, "top.txt", "top");
  struct bothy_context *c = open_ctx(dir);

  /* A directory's contents go into dest; owners are 0:0; modes are kept. */
  struct req_opts o = { .dest = "/srv/app" };
  struct bothy_copy_req req = make_req(SRCS("app"), &o);
  const char *want = "srv/app/abs 0777 0:0 ->/etc/passwd\n"
                     "srv/app/conf/ 0700 0:0\n"
                     "srv/app/conf/app.ini 0644 0:0 =k=v\n"
                     "srv/app/latest 0777 0:0 ->run.sh\n"
                     "srv/app/run.sh 0755 0:0 =#!/bin/sh\n\n"
                     "srv/app/run2.sh 0755 0:0 =>srv/app/run.sh\n"; /* a hard link stays one */
  EXPECT_LISTING(c, &req, want);
  /* The source itself may be a symlink: it is followed. */
  req = make_req(SRCS("applink/"), &o);
  EXPECT_LISTING(c, &req, want);

  /* A file: to dest itself, or into it. */
  struct req_opts to_file = { .dest = "/etc/app.conf" };
  req = make_req(SRCS("app/conf/app.ini"), &to_file);
  EXPECT_LISTING(c, &req, "etc/app.conf 0644 0:0 =k=v\n");
  struct req_opts into = { .dest = "/etc/" };
  req = make_req(SRCS("app/conf/app.ini"), &into);
  EXPECT_LISTING(c, &req, "etc/app.ini 0644 0:0 =k=v\n");
  struct req_opts into_dir = { .dest = "/etc", .dest_is_dir = true };
  req = make_req(SRCS("app/conf/app.ini"), &into_dir);
  EXPECT_LISTING(c, &req, "etc/app.ini 0644 0:0 =k=v\n");
  /* A symlink source is followed and keeps its own name. */
  req = make_req(SRCS("app/latest"), &into);
  EXPECT_LISTING(c, &req, "etc/latest 0755 0:0 =#!/bin/sh\n\n");

  /* --chown and --chmod. */
  struct req_opts meta = {
    .dest = "/x/",
    .meta = { .set_owner = true, .uid = 1000, .gid = 50, .set_mode = true, .mode = 0640 },
  };
  req = make_req(SRCS("app/conf", "top.txt"), &meta);
  EXPECT_LISTING(c, &req, "x/app.ini 0640 1000:50 =k=v\nx/top.txt 0640 1000:50 =top\n");

  /* The whole context. */
  struct req_opts root = { .dest = "/" };
  req = make_req(SRCS("."), &root);
  char *got = copy_listing(c, &req);
  assert_non_null(strstr(got, "app/ 0750 0:0\n"));
  assert_non_null(strstr(got, "applink 0777 0:0 ->app\n"));
  assert_non_null(strstr(got, "top.txt 0644 0:0 =top\n"));
  free(got);

  bothy_context_free(c);
  rm_dir(dir);
}

static void test_ignore_rules(void **state)
{
  char *dir = new_dir();
  put(dir, ".dockerignore", "*.log\nbuild\nnode_modules\n!node_modules/keep.txt\nsecret\n");
  put(dir, "main.c", "int main;");
  put(dir, "debug.log", "log");
  put(dir, "build/out.o", "o");
  put(dir, "node_modules/keep.txt", "keep");
  put(dir, "node_modules/pkg/index.js", "js");
  put(dir, "src/x.log", "log");
  put(dir, "src/x.c", "x");
  put(dir, "secret", "s");
  put_link(dir, "to-secret", "secret");
  put_link(dir, "to-build", "build");
  struct bothy_context *c = open_ctx(dir);
  struct req_opts o = { .dest = "/" };
  struct bothy_copy_req req = make_req(SRCS("."), &o);
  EXPECT_LISTING(c, &req,
                 ".dockerignore 0644 0:0 =*.log\nbuild\nnode_modules\n!node_modules/keep.txt\n"
                 "secret\n\n"
                 "main.c 0644 0:0 =int main;\n"
                 "node_modules/ 0755 0:0\n"
                 "node_modules/keep.txt 0644 0:0 =keep\n"
                 "src/ 0755 0:0\n"
                 "src/x.c 0644 0:0 =x\n"
                 "src/x.log 0644 0:0 =log\n" /* patterns are anchored at the root */
                 "to-build 0777 0:0 ->build\n"
                 "to-secret 0777 0:0 ->secret\n");

  /* Ignored sources are not there; nor is what a symlink to them leads to. */
  struct req_opts d = { .dest = "/d/" };
  req = make_req(SRCS("debug.log"), &d);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"debug.log\"");
  req = make_req(SRCS("build/out.o"), &d);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"build/out.o\"");
  req = make_req(SRCS("to-secret"), &d);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"to-secret\"");
  req = make_req(SRCS("to-build/out.o"), &d);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"to-build/out.o\"");
  req = make_req(SRCS("*.log"), &d);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found in build context: \"*.log\"");
  /* An exception inside an ignored directory. */
  req = make_req(SRCS("node_modules"), &d);
  EXPECT_LISTING(c, &req, "d/keep.txt 0644 0:0 =keep\n");
  req = make_req(SRCS("node_modules/keep.txt"), &d);
  EXPECT_LISTING(c, &req, "d/keep.txt 0644 0:0 =keep\n");
  req = make_req(SRCS("node_modules/pkg"), &d);
  expect_fail(c, &req, ENOENT,
              "COPY failed: file not found in build context: \"node_modules/pkg\"");
  req = make_req(SRCS("s*"), &d);
  EXPECT_LISTING(c, &req, "d/x.c 0644 0:0 =x\nd/x.log 0644 0:0 =log\n");

  /* Ignored files do not count in the hash. */
  char h1[65], h2[65];
  req = make_req(SRCS("."), &o);
  hash(c, &req, h1);
  put(dir, "debug.log", "changed");
  put(dir, "node_modules/pkg/index.js", "changed");
  put(dir, "build/new.o", "new");
  hash(c, &req, h2);
  assert_string_equal(h1, h2);
  put(dir, "node_modules/keep.txt", "changed");
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);

  bothy_context_free(c);
  rm_dir(dir);
}

static void test_exclude(void **state)
{
  char *dir = new_dir();
  put(dir, "app/a.txt", "a");
  put(dir, "app/b.md", "b");
  put(dir, "app/docs/c.md", "c");
  put(dir, "app/docs/keep.md", "k");
  put(dir, "home.txt", "h");
  put(dir, "homer.md", "m");
  put(dir, "homes/x.txt", "x");
  put(dir, "homes/y.c", "y");
  struct bothy_context *c = open_ctx(dir);

  /* Relative to the source's root. */
  struct req_opts o = { .dest = "/d/", .exclude = { "*.md", "docs" } };
  struct bothy_copy_req req = make_req(SRCS("app"), &o);
  EXPECT_LISTING(c, &req, "d/a.txt 0644 0:0 =a\n");
  struct req_opts o2 = { .dest = "/d/", .exclude = { "**/*.md", "!docs/keep.md" } };
  req = make_req(SRCS("app"), &o2);
  EXPECT_LISTING(c, &req, "d/a.txt 0644 0:0 =a\nd/docs/ 0755 0:0\nd/docs/keep.md 0644 0:0 =k\n");
  /* Docker's example: COPY --exclude=*.txt hom* /mydir/ */
  struct req_opts o3 = { .dest = "/mydir/", .exclude = { "*.txt" } };
  req = make_req(SRCS("hom*"), &o3);
  EXPECT_LISTING(c, &req, "mydir/homer.md 0644 0:0 =m\nmydir/y.c 0644 0:0 =y\n");

  /* Excludes count in the hash: they change what is copied. */
  char h1[65], h2[65];
  req = make_req(SRCS("app"), &o);
  hash(c, &req, h1);
  put(dir, "app/b.md", "changed");
  hash(c, &req, h2);
  assert_string_equal(h1, h2);
  struct req_opts none = { .dest = "/d/" };
  req = make_req(SRCS("app"), &none);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);

  bothy_context_free(c);
  rm_dir(dir);
}

static void test_hash(void **state)
{
  char *dir = new_dir();
  put(dir, "app/main.py", "print(1)");
  put(dir, "app/lib/util.py", "x = 1");
  put_link(dir, "app/link", "main.py");
  struct bothy_context *c = open_ctx(dir);
  struct req_opts o = { .dest = "/app" };
  struct bothy_copy_req req = make_req(SRCS("app"), &o);
  char h1[65], h2[65];
  hash(c, &req, h1);
  hash(c, &req, h2);
  assert_string_equal(h1, h2);

  /* The same content elsewhere, another context: the same hash. */
  char *dir2 = new_dir();
  put_owned(dir2, "app/main.py", "print(1)", 0644, 0, 0);
  put(dir2, "app/lib/util.py", "x = 1");
  put_link(dir2, "app/link", "main.py");
  struct bothy_context *c2 = open_ctx(dir2);
  hash(c2, &req, h2);
  assert_string_equal(h1, h2);
  bothy_context_free(c2);
  rm_dir(dir2);

  /* mtimes and the context's owners do not count. */
  set_mtime(dir, "app/main.py", 1000000);
  set_mtime(dir, "app/lib", 2000000);
  char *p = xasprintf("%s/app/main.py", dir);
  assert_int_equal(chown(p, 42, 42), 0);
  hash(c, &req, h2);
  assert_string_equal(h1, h2);

  /* Content, modes, names, symlink targets and the request do. */
  put(dir, "app/main.py", "print(2)");
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  put(dir, "app/main.py", "print(1)");
  hash(c, &req, h2);
  assert_string_equal(h1, h2);
  assert_int_equal(chmod(p, 0755), 0);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  assert_int_equal(chmod(p, 0644), 0);
  char *l = xasprintf("%s/app/link", dir);
  unlink(l);
  put_link(dir, "app/link", "lib");
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  unlink(l);
  put_link(dir, "app/link", "main.py");
  hash(c, &req, h2);
  assert_string_equal(h1, h2);
  put(dir, "app/new", "");
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  char *n = xasprintf("%s/app/new", dir);
  unlink(n);

  struct req_opts other_dest = { .dest = "/app2" };
  req = make_req(SRCS("app"), &other_dest);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  struct req_opts owned = { .dest = "/app", .meta = { .set_owner = true, .uid = 1 } };
  req = make_req(SRCS("app"), &owned);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  struct req_opts add = { .dest = "/app", .add = true };
  req = make_req(SRCS("app"), &add);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);

  /* A big file (past the plain SHA-256's buffer) hashes too, by content. */
  size_t big = 3 * 1024 * 1024 + 17;
  char *data = xmalloc(big + 1);
  memset(data, 'z', big);
  data[big] = '\0';
  put(dir, "big", data);
  req = make_req(SRCS("big"), &o);
  hash(c, &req, h1);
  data[big / 2] = 'y';
  put(dir, "big", data);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  free(data);

  free(n);
  free(l);
  free(p);
  bothy_context_free(c);
  rm_dir(dir);
}

static void test_rootfs(void **state)
{
  char *dir = new_dir();
  put_owned(dir, "etc/real.conf", "conf", 0600, 33, 44);
  put_link(dir, "etc/abs", "/etc/real.conf"); /* inside the root, not the host's */
  put_link(dir, "etc/climb", "../../../etc/real.conf");
  put_link(dir, "usr", "/etc");
  put(dir, "node_modules/x", "x"); /* a rootfs has no ignore file */
  put(dir, ".dockerignore", "node_modules\n");
  struct bothy_context *c = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_context_open_rootfs(dir, &c, &err), 0);
  struct req_opts o = { .dest = "/d/" };
  struct bothy_copy_req req;

  req = make_req(SRCS("/etc/abs"), &o);
  EXPECT_LISTING(c, &req, "d/abs 0600 33:44 =conf\n");
  req = make_req(SRCS("etc/climb"), &o);
  EXPECT_LISTING(c, &req, "d/climb 0600 33:44 =conf\n");
  req = make_req(SRCS("/usr/real.conf"), &o);
  EXPECT_LISTING(c, &req, "d/real.conf 0600 33:44 =conf\n");
  req = make_req(SRCS("/../../etc/real.conf"), &o);
  EXPECT_LISTING(c, &req, "d/real.conf 0600 33:44 =conf\n");
  req = make_req(SRCS("node_modules"), &o);
  EXPECT_LISTING(c, &req, "d/x 0644 1234:1234 =x\n");
  req = make_req(SRCS("usr/*.conf"), &o);
  EXPECT_LISTING(c, &req, "d/real.conf 0600 33:44 =conf\n");
  struct req_opts owned = { .dest = "/d/", .meta = { .set_owner = true, .uid = 0, .gid = 0 } };
  req = make_req(SRCS("etc/abs"), &owned);
  EXPECT_LISTING(c, &req, "d/abs 0600 0:0 =conf\n");
  req = make_req(SRCS("missing"), &o);
  expect_fail(c, &req, ENOENT, "COPY failed: file not found: \"missing\"");

  /* A rootfs's owners count in the hash. */
  char h1[65], h2[65];
  req = make_req(SRCS("etc"), &o);
  hash(c, &req, h1);
  char *p = xasprintf("%s/etc/real.conf", dir);
  assert_int_equal(chown(p, 33, 45), 0);
  hash(c, &req, h2);
  assert_string_not_equal(h1, h2);
  free(p);

  bothy_context_free(c);
  rm_dir(dir);
}

/* A tar (compressed with filter, an ARCHIVE_FILTER_* code) at dir/name:
 * "top/" 0755 7:8 and "top/f" 0640 7:8 "inside". */
static void make_tar(const char *dir, const char *name, int filter)
{
  char *path = xasprintf("%s/%s", dir, name);
  struct archive *a = archive_write_new();
  assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
  assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, "top/");
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_entry_set_perm(e, 0755);
  archive_entry_set_uid(e, 7);
  archive_entry_set_gid(e, 8);
  archive_entry_set_mtime(e, 1700000000, 0);
  assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
  archive_entry_clear(e);
  archive_entry_set_pathname(e, "top/f");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0640);
  archive_entry_set_uid(e, 7);
  archive_entry_set_gid(e, 8);
  archive_entry_set_size(e, 6);
  archive_entry_set_mtime(e, 1700000000, 0);
  assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
  assert_int_equal(archive_write_data(a, "inside", 6), 6);
  archive_entry_free(e);
  assert_int_equal(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  assert_int_equal(chown(path, 1234, 1234), 0);
  free(path);
}

static size_t count_add_dirs(void)
{
  DIR *d = opendir("/var/tmp");
  assert_non_null(d);
  size_t n = 0;
  for (struct dirent *de; (de = readdir(d));)
    n += strncmp(de->d_name, "bothy-add-", 10) == 0;
  closedir(d);
  return n;
}

static void test_add(void **state)
{
  char *dir = new_dir();
  make_tar(dir, "plain.tar", ARCHIVE_FILTER_NONE);
  make_tar(dir, "a.tar.gz", ARCHIVE_FILTER_GZIP);
  make_tar(dir, "a.tar.bz2", ARCHIVE_FILTER_BZIP2);
  make_tar(dir, "a.tar.xz", ARCHIVE_FILTER_XZ);
  make_tar(dir, "a.tar.zst", ARCHIVE_FILTER_ZSTD);
  put(dir, "notes.gz", "\x1f\x8b\x08 but not really gzip");
  put(dir, "notes.tar", "just text, not a tar");
  size_t before = count_add_dirs();
  struct bothy_context *c = open_ctx(dir);
  const char *unpacked = "opt/top/ 0755 7:8\n"
                         "opt/top/f 0640 7:8 =inside\n";
  struct req_opts add = { .dest = "/opt", .add = true };
  struct bothy_copy_req req;
  const char *archives[] = { "plain.tar", "a.tar.gz", "a.tar.bz2", "a.tar.xz", "a.tar.zst" };
  for (size_t i = 0; i < sizeof(archives) / sizeof(archives[0]); i++) {
    char *const srcs[] = { (char *) archives[i], NULL };
    req = make_req(srcs, &add);
    EXPECT_LISTING(c, &req, unpacked);
  }
  assert_int_equal(count_add_dirs(), before + 1);

  /* --chown applies to what the archive holds. */
  struct req_opts owned = { .dest = "/opt/", .add = true, .meta = { .set_owner = true } };
  req = make_req(SRCS("a.tar.gz"), &owned);
  EXPECT_LISTING(c, &req, "opt/top/ 0755 0:0\nopt/top/f 0640 0:0 =inside\n");

  /* What is not a tar is copied as a file. */
  struct req_opts into = { .dest = "/opt/", .add = true };
  req = make_req(SRCS("notes.gz", "notes.tar"), &into);
  EXPECT_LISTING(c, &req,
                 "opt/notes.gz 0644 0:0 =\x1f\x8b\x08 but not really gzip\n"
                 "opt/notes.tar 0644 0:0 =just text, not a tar\n");
  /* COPY does not unpack. */
  struct req_opts copy = { .dest = "/opt/" };
  req = make_req(SRCS("a.tar.gz"), &copy);
  char *got = copy_listing(c, &req);
  assert_int_equal(strncmp(got, "opt/a.tar.gz 0644 0:0 =\x1f\x8b", 25), 0);
  free(got);

  /* The temporary directory goes with the context. */
  bothy_context_free(c);
  assert_int_equal(count_add_dirs(), before);
  rm_dir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_open),         cmocka_unit_test(test_errors),
    cmocka_unit_test(test_globs),        cmocka_unit_test(test_copy_tree),
    cmocka_unit_test(test_ignore_rules), cmocka_unit_test(test_exclude),
    cmocka_unit_test(test_hash),         cmocka_unit_test(test_rootfs),
    cmocka_unit_test(test_add),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
