/* SPDX-License-Identifier: GPL-2.0-or-later */
/* app/confrepo: the config history, checked from the outside with the real
 * git command line (what a user would run in /etc/bothy). */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/confrepo.h"
#include "base/fs.h"
#include "base/xalloc.h"

struct fixture {
  char tmp[64];
  char *dir; /* TMP/etc: does not exist before the test */
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  snprintf(f->tmp, sizeof(f->tmp), "/tmp/bothy-confrepo-XXXXXX");
  if (!mkdtemp(f->tmp))
    return -1;
  f->dir = xasprintf("%s/etc", f->tmp);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  (void) bothy_rm_rf_at(AT_FDCWD, f->tmp, &err);
  bothy_error_free(&err);
  free(f->dir);
  free(f);
  return 0;
}

/* Runs a shell command; returns its standard output, and its exit status in
 * *ret_status (or fails the test when it is not 0 and ret_status is NULL). */
_printf_(2, 3) static char *run_status(int *ret_status, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *cmd = xvasprintf(fmt, ap);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t cap = 4096, len = 0;
  char *out = xmalloc(cap);
  size_t got;
  while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
    len += got;
    if (cap - len < 2) {
      cap *= 2;
      out = xrealloc(out, cap);
    }
  }
  out[len] = '\0';
  int status = pclose(p);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (ret_status)
    *ret_status = code;
  else if (code != 0)
    fail_msg("'%s' exited with %d", cmd, code);
  return out;
}
#define run(...) run_status(NULL, __VA_ARGS__)

#define assert_output(want, ...)                                                                   \
  do {                                                                                             \
    _cleanup_free_ char *out_ = run(__VA_ARGS__);                                                  \
    if (strcmp(out_, (want)) != 0)                                                                 \
      fail_msg("got \"%s\", want \"%s\"", out_, (want));                                           \
  } while (0)

static struct bothy_confrepo *open_ok(const char *dir)
{
  struct bothy_confrepo *c = NULL;
  bothy_error_t err = NULL;
  if (bothy_confrepo_open(dir, &c, &err) < 0)
    fail_msg("open: %s", err->msg);
  return c;
}

/* Commits one path (content NULL: removal); returns the new commit or NULL. */
static char *commit1(struct bothy_confrepo *c, const char *path, const char *content,
                     const char *message)
{
  char *paths[] = { (char *) path };
  char *contents[] = { (char *) content };
  char *id = (char *) 0x1;
  bothy_error_t err = NULL;
  if (bothy_confrepo_commit(c, paths, contents, 1, message, &id, &err) < 0)
    fail_msg("commit: %s", err->msg);
  return id;
}

static void hand_write(const char *dir, const char *path, const char *content)
{
  _cleanup_free_ char *full = xasprintf("%s/%s", dir, path);
  FILE *fp = fopen(full, "w");
  assert_non_null(fp);
  fputs(content, fp);
  assert_int_equal(fclose(fp), 0);
}

static char *read_ok(struct bothy_confrepo *c, const char *path, bool *ret_modified)
{
  char *data = (char *) 0x1;
  bothy_error_t err = NULL;
  if (bothy_confrepo_read(c, path, &data, ret_modified, &err) < 0)
    fail_msg("read '%s': %s", path, err->msg);
  return data;
}

static char *read_at_ok(struct bothy_confrepo *c, const char *path, const char *rev)
{
  char *data = (char *) 0x1;
  bothy_error_t err = NULL;
  if (bothy_confrepo_read_at(c, path, rev, &data, &err) < 0)
    fail_msg("read '%s' at '%s': %s", path, rev, err->msg);
  return data;
}

static long count_commits(const char *dir)
{
  _cleanup_free_ char *out = run("git -C %s rev-list --count HEAD", dir);
  return strtol(out, NULL, 10);
}

/* A new directory becomes a repository on branch main with one commit by
 * bothy that holds .gitignore; opening it again changes nothing. */
static void test_init_idempotent(void **state)
{
  struct fixture *f = *state;
  /* Inside another repository: dir gets its own, the outer one is not used. */
  _cleanup_free_ char *outer = run("git init -q %s && echo ok", f->tmp);
  assert_non_null(outer);
  time_t before = time(NULL);
  struct bothy_confrepo *c = open_ok(f->dir);
  assert_string_equal(bothy_confrepo_dir(c), f->dir);
  assert_output("refs/heads/main\n", "git -C %s symbolic-ref HEAD", f->dir);
  assert_output("bothy: init\n", "git -C %s log --format=%%s", f->dir);
  assert_output("bothy <bothy@localhost>|bothy <bothy@localhost>\n",
                "git -C %s log --format='%%an <%%ae>|%%cn <%%ce>'", f->dir);
  assert_output(".gitignore\n", "git -C %s ls-files", f->dir);
  assert_output("", "git -C %s status --porcelain", f->dir);
  _cleanup_free_ char *top = xasprintf("%s\n", f->dir);
  assert_output(top, "git -C %s rev-parse --show-toplevel", f->dir);
  assert_output("", "git -C %s rev-list --all", f->tmp); /* the outer one has no commit */
  _cleanup_free_ char *ignore = read_ok(c, ".gitignore", NULL);
  assert_string_equal(ignore, "secrets/\n");

  struct bothy_confrepo_entry *e = NULL;
  size_t n = 0;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_log(c, NULL, &e, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(e[0].message, "bothy: init");
  assert_true(e[0].time >= before - 1 && e[0].time <= time(NULL) + 1);
  _cleanup_free_ char *head = run("git -C %s rev-parse HEAD", f->dir);
  assert_memory_equal(e[0].commit, head, 40);
  bothy_confrepo_entries_free(e, n);
  bothy_confrepo_free(c);

  c = open_ok(f->dir);
  assert_int_equal(count_commits(f->dir), 1);
  _cleanup_free_ char *head2 = run("git -C %s rev-parse HEAD", f->dir);
  assert_string_equal(head, head2);
  assert_output("", "git -C %s status --porcelain", f->dir);
  bothy_confrepo_free(c);
  assert_null(bothy_confrepo_free(NULL));
}

/* Files in subdirectories are written and committed; a removal deletes the
 * file and the directory it leaves empty, and is committed too. */
static void test_commit_and_remove(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  char *paths[] = { "top.ini", "instances/blog.ini", "routes/blog.conf" };
  char *contents[] = { "t\n", "[Instance]\nRecipe=wordpress\n", "r\n" };
  _cleanup_free_ char *id = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 3,
                                         "bothy install wordpress --name blog\n\nmore words", &id,
                                         &err),
                   0);
  assert_non_null(id);
  assert_int_equal(strlen(id), 40);
  _cleanup_free_ char *head = run("git -C %s rev-parse HEAD", f->dir);
  assert_memory_equal(id, head, 40);
  assert_output(".gitignore\ninstances/blog.ini\nroutes/blog.conf\ntop.ini\n", "git -C %s ls-files",
                f->dir);
  assert_output("[Instance]\nRecipe=wordpress\n", "git -C %s show HEAD:instances/blog.ini", f->dir);
  assert_output("bothy install wordpress --name blog\n", "git -C %s log -1 --format=%%s", f->dir);
  assert_output("", "git -C %s status --porcelain", f->dir);
  _cleanup_free_ char *blog_path = xasprintf("%s/instances/blog.ini", f->dir);
  struct stat st;
  assert_int_equal(stat(blog_path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0644);
  bool modified = true;
  _cleanup_free_ char *blog = read_ok(c, "instances/blog.ini", &modified);
  assert_string_equal(blog, "[Instance]\nRecipe=wordpress\n");
  assert_false(modified);

  char *paths2[] = { "instances/blog.ini", "top.ini" };
  char *contents2[] = { NULL, "t2\n" };
  _cleanup_free_ char *id2 = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths2, contents2, 2, "bothy rm blog", &id2, &err), 0);
  assert_non_null(id2);
  assert_false(bothy_path_exists(blog_path));
  _cleanup_free_ char *instances = xasprintf("%s/instances", f->dir);
  assert_false(bothy_path_exists(instances));
  assert_output(".gitignore\nroutes/blog.conf\ntop.ini\n", "git -C %s ls-files", f->dir);
  assert_output("D\tinstances/blog.ini\nM\ttop.ini\n",
                "git -C %s show --name-status --format= HEAD", f->dir);
  assert_output("", "git -C %s status --porcelain", f->dir);
  assert_int_equal(count_commits(f->dir), 3);
  _cleanup_free_ char *gone = read_ok(c, "instances/blog.ini", &modified);
  assert_null(gone);
  assert_false(modified);
}

/* A commit that changes nothing is not made. */
static void test_noop_commit(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  _cleanup_free_ char *id = commit1(c, "a.ini", "a\n", "bothy set a");
  assert_non_null(id);
  assert_int_equal(count_commits(f->dir), 2);
  assert_null(commit1(c, "a.ini", "a\n", "bothy set a again"));
  assert_null(commit1(c, "never.ini", NULL, "bothy rm never"));
  char *id3 = (char *) 0x1;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, NULL, NULL, 0, "bothy nothing", &id3, &err), 0);
  assert_null(id3);
  assert_int_equal(count_commits(f->dir), 2);
  assert_output("", "git -C %s status --porcelain", f->dir);
  /* A hand edit put back by a commit of the committed content: no commit,
   * and the file is clean again. */
  hand_write(f->dir, "a.ini", "edited\n");
  assert_null(commit1(c, "a.ini", "a\n", "bothy set a back"));
  assert_int_equal(count_commits(f->dir), 2);
  assert_output("", "git -C %s status --porcelain", f->dir);
}

/* Hand edits, removals and additions are seen as modified, as git sees them. */
static void test_hand_edit(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  free(commit1(c, "instances/x.ini", "v=1\n", "bothy install x"));
  bool modified = true;
  _cleanup_free_ char *a = read_ok(c, "instances/x.ini", &modified);
  assert_string_equal(a, "v=1\n");
  assert_false(modified);

  hand_write(f->dir, "instances/x.ini", "v=2\n");
  _cleanup_free_ char *b = read_ok(c, "instances/x.ini", &modified);
  assert_string_equal(b, "v=2\n");
  assert_true(modified);
  assert_output(" M instances/x.ini\n", "git -C %s status --porcelain", f->dir);

  hand_write(f->dir, "instances/x.ini", "v=1\n");
  _cleanup_free_ char *c1 = read_ok(c, "instances/x.ini", &modified);
  assert_non_null(c1);
  assert_false(modified);
  assert_output("", "git -C %s status --porcelain", f->dir);

  _cleanup_free_ char *x = xasprintf("%s/instances/x.ini", f->dir);
  assert_int_equal(unlink(x), 0);
  _cleanup_free_ char *d = read_ok(c, "instances/x.ini", &modified);
  assert_null(d);
  assert_true(modified);
  assert_output(" D instances/x.ini\n", "git -C %s status --porcelain", f->dir);
  hand_write(f->dir, "instances/x.ini", "v=1\n");

  hand_write(f->dir, "new.ini", "n\n");
  _cleanup_free_ char *e = read_ok(c, "new.ini", &modified);
  assert_string_equal(e, "n\n");
  assert_true(modified);
  assert_output("?? new.ini\n", "git -C %s status --porcelain", f->dir);

  _cleanup_free_ char *none = read_ok(c, "no/such.ini", &modified);
  assert_null(none);
  assert_false(modified);
}

/* A commit takes exactly its paths: a hand edit of another file stays a
 * hand edit, and what a user staged with git stays staged. */
static void test_other_file_not_swept(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  char *paths[] = { "a.ini", "b.ini", "c.ini" };
  char *contents[] = { "a1\n", "b1\n", "c1\n" };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 3, "bothy set", NULL, &err), 0);

  hand_write(f->dir, "b.ini", "b-hand\n");
  hand_write(f->dir, "c.ini", "c-staged\n");
  _cleanup_free_ char *added = run("git -C %s add c.ini && echo ok", f->dir);
  assert_non_null(added);
  hand_write(f->dir, "d.ini", "untracked\n");
  _cleanup_free_ char *id = commit1(c, "a.ini", "a2\n", "bothy set a");
  assert_non_null(id);
  assert_output("a.ini\n", "git -C %s show --name-only --format= HEAD", f->dir);
  assert_output("b1\n", "git -C %s show HEAD:b.ini", f->dir);
  assert_output("c1\n", "git -C %s show HEAD:c.ini", f->dir);
  assert_output(" M b.ini\nM  c.ini\n?? d.ini\n", "git -C %s status --porcelain", f->dir);
  bool modified = false;
  _cleanup_free_ char *b = read_ok(c, "b.ini", &modified);
  assert_string_equal(b, "b-hand\n");
  assert_true(modified);
}

/* Old contents by "HEAD~N", by full and by short id; unknown revisions are
 * ENOENT. */
static void test_read_at(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  _cleanup_free_ char *id1 = commit1(c, "x.ini", "v1\n", "bothy set x 1");
  _cleanup_free_ char *id2 = commit1(c, "x.ini", "v2\n", "bothy set x 2");
  char *paths[] = { "x.ini", "y.ini" };
  char *contents[] = { "v3\n", "y\n" };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 2, "bothy set x 3", NULL, &err), 0);

  _cleanup_free_ char *a = read_at_ok(c, "x.ini", "HEAD");
  assert_string_equal(a, "v3\n");
  _cleanup_free_ char *b = read_at_ok(c, "x.ini", "HEAD~1");
  assert_string_equal(b, "v2\n");
  _cleanup_free_ char *short1 = xstrndup(id1, 7);
  _cleanup_free_ char *d = read_at_ok(c, "x.ini", short1);
  assert_string_equal(d, "v1\n");
  _cleanup_free_ char *e = read_at_ok(c, "x.ini", id2);
  assert_string_equal(e, "v2\n");
  _cleanup_free_ char *y_old = read_at_ok(c, "y.ini", "HEAD~1");
  assert_null(y_old);
  _cleanup_free_ char *y_new = read_at_ok(c, "y.ini", "HEAD");
  assert_string_equal(y_new, "y\n");

  const char *unknown[] = { "HEAD~50", "0123456789abcdef0123", "no-such-branch", "" };
  for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
    char *out = (char *) 0x1;
    if (bothy_confrepo_read_at(c, "x.ini", unknown[i], &out, &err) != -ENOENT)
      fail_msg("'%s' should be unknown", unknown[i]);
    assert_int_equal(err->code, ENOENT);
    assert_ptr_equal(out, (char *) 0x1);
    bothy_error_free(&err);
  }
  char *out = NULL;
  assert_int_equal(bothy_confrepo_read_at(c, "x.ini", NULL, &out, &err), 0);
  assert_string_equal(out, "v3\n");
  free(out);
}

static void expect_log(struct bothy_confrepo *c, const char *dir, const char *path,
                       const char *const *messages, size_t want)
{
  struct bothy_confrepo_entry *e = NULL;
  size_t n = 99;
  bothy_error_t err = NULL;
  if (bothy_confrepo_log(c, path, &e, &n, &err) < 0)
    fail_msg("log: %s", err->msg);
  assert_int_equal(n, want);
  _cleanup_free_ char *git =
      run("git -C %s log --format=%%H%s%s", dir, path ? " -- " : "", path ? path : "");
  const char *line = git;
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(e[i].message, messages[i]);
    assert_memory_equal(e[i].commit, line, 40);
    assert_int_equal(line[40], '\n');
    line += 41;
  }
  assert_string_equal(line, "");
  bothy_confrepo_entries_free(e, n);
}

/* The commits of one path, newest first, as `git log -- PATH` lists them. */
static void test_log(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  free(commit1(c, "a.ini", "1\n", "c1"));
  free(commit1(c, "sub/b.ini", "1\n", "c2"));
  char *paths[] = { "a.ini", "sub/b.ini" };
  char *contents[] = { "2\n", "2\n" };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 2, "c3\nbody", NULL, &err), 0);
  free(commit1(c, "a.ini", NULL, "c4"));
  free(commit1(c, "a.ini", "back\n", "c5"));

  const char *a[] = { "c5", "c4", "c3", "c1" };
  expect_log(c, f->dir, "a.ini", a, 4);
  const char *b[] = { "c3", "c2" };
  expect_log(c, f->dir, "sub/b.ini", b, 2);
  expect_log(c, f->dir, "sub", b, 2);
  const char *all[] = { "c5", "c4", "c3", "c2", "c1", "bothy: init" };
  expect_log(c, f->dir, NULL, all, 6);
  expect_log(c, f->dir, "none.ini", NULL, 0);
}

/* The diff against the last commit or an older one, as git prints it. */
static void test_diff(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  free(commit1(c, "instances/x.ini", "one\ntwo\nthree\n", "bothy set x"));
  bothy_error_t err = NULL;
  char *d = NULL;
  assert_int_equal(bothy_confrepo_diff(c, "instances/x.ini", NULL, &d, &err), 0);
  assert_string_equal(d, "");
  free(d);

  hand_write(f->dir, "instances/x.ini", "one\nTWO\nthree\n");
  hand_write(f->dir, "other.ini", "o\n");
  hand_write(f->dir, "instances/x.ini.orig", "one\n"); /* a literal path, not a prefix */
  assert_int_equal(bothy_confrepo_diff(c, "instances/x.ini", NULL, &d, &err), 0);
  _cleanup_free_ char *git = run("git -C %s diff --no-color HEAD -- instances/x.ini", f->dir);
  assert_string_equal(d, git);
  assert_non_null(strstr(d, "diff --git a/instances/x.ini b/instances/x.ini\n"));
  assert_non_null(strstr(d, "-two\n+TWO\n"));
  free(d);

  /* Against a revision where the file did not exist: all of it is added. */
  free(commit1(c, "y.ini", "y\n", "bothy set y"));
  assert_int_equal(bothy_confrepo_diff(c, "y.ini", "HEAD~1", &d, &err), 0);
  assert_non_null(strstr(d, "new file mode 100644\n"));
  assert_non_null(strstr(d, "+y\n"));
  free(d);
  assert_int_equal(bothy_confrepo_diff(c, "y.ini", "HEAD", &d, &err), 0);
  assert_string_equal(d, "");
  free(d);

  /* Removed by hand. */
  _cleanup_free_ char *y = xasprintf("%s/y.ini", f->dir);
  assert_int_equal(unlink(y), 0);
  assert_int_equal(bothy_confrepo_diff(c, "y.ini", NULL, &d, &err), 0);
  _cleanup_free_ char *git2 = run("git -C %s diff --no-color HEAD -- y.ini", f->dir);
  assert_string_equal(d, git2);
  assert_non_null(strstr(d, "deleted file mode 100644\n"));
  free(d);

  assert_int_equal(bothy_confrepo_diff(c, "y.ini", "no-such-rev", &d, &err), -ENOENT);
  bothy_error_free(&err);
}

#define CONCURRENT_COMMITS 12

static int child_commits(const char *dir, int who)
{
  bothy_error_t err = NULL;
  struct bothy_confrepo *c = NULL;
  if (bothy_confrepo_open(dir, &c, &err) < 0)
    return 1;
  for (int i = 0; i < CONCURRENT_COMMITS; i++) {
    _cleanup_free_ char *path = xasprintf("p%d/f.ini", who);
    _cleanup_free_ char *content = xasprintf("%d\n", i);
    _cleanup_free_ char *msg = xasprintf("bothy set p%d %d", who, i);
    char *paths[] = { path };
    char *contents[] = { content };
    char *id = NULL;
    if (bothy_confrepo_commit(c, paths, contents, 1, msg, &id, &err) < 0 || !id) {
      dprintf(STDERR_FILENO, "child %d: %s\n", who, err ? err->msg : "no commit");
      return 1;
    }
    free(id);
  }
  bothy_confrepo_free(c);
  return 0;
}

/* Two processes committing at once: every commit lands, one after the
 * other, and the repository is sound. */
static void test_concurrent(void **state)
{
  struct fixture *f = *state;
  /* The first open races too: neither child finds a repository. */
  pid_t pids[2];
  for (int who = 0; who < 2; who++) {
    pids[who] = fork();
    assert_true(pids[who] >= 0);
    if (pids[who] == 0)
      _exit(child_commits(f->dir, who));
  }
  for (int who = 0; who < 2; who++) {
    int status;
    assert_int_equal(waitpid(pids[who], &status, 0), pids[who]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(count_commits(f->dir), 1 + 2 * CONCURRENT_COMMITS);
  assert_output("", "git -C %s rev-list --min-parents=2 HEAD", f->dir);
  assert_output("1\n", "git -C %s log --format=%%s | grep -c '^bothy: init$'", f->dir);
  assert_output("", "git -C %s status --porcelain", f->dir);
  _cleanup_free_ char *fsck = run("git -C %s fsck --no-progress --strict 2>&1", f->dir);
  assert_non_null(fsck);
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  _cleanup_free_ char *want = xasprintf("%d\n", CONCURRENT_COMMITS - 1);
  for (int who = 0; who < 2; who++) {
    _cleanup_free_ char *path = xasprintf("p%d/f.ini", who);
    bool modified = true;
    _cleanup_free_ char *data = read_ok(c, path, &modified);
    assert_string_equal(data, want);
    assert_false(modified);
    struct bothy_confrepo_entry *e = NULL;
    size_t n = 0;
    bothy_error_t err = NULL;
    assert_int_equal(bothy_confrepo_log(c, path, &e, &n, &err), 0);
    assert_int_equal(n, CONCURRENT_COMMITS);
    bothy_confrepo_entries_free(e, n);
  }
}

/* secrets/ is ignored: never shown, never committed. */
static void test_secrets_ignored(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  _cleanup_free_ char *secrets = xasprintf("%s/secrets", f->dir);
  assert_int_equal(mkdir(secrets, 0700), 0);
  hand_write(f->dir, "secrets/db.pw", "hunter2\n");
  free(commit1(c, "instances/a.ini", "a\n", "bothy install a"));
  assert_output("", "git -C %s status --porcelain", f->dir);
  assert_output(".gitignore\ninstances/a.ini\n", "git -C %s ls-files", f->dir);
  assert_output("secrets/db.pw\n", "git -C %s check-ignore secrets/db.pw", f->dir);
  bool modified = true;
  _cleanup_free_ char *pw = read_ok(c, "secrets/db.pw", &modified);
  assert_string_equal(pw, "hunter2\n");
  assert_false(modified);

  char *paths[] = { "secrets/new.pw" };
  char *contents[] = { "x\n" };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 1, "bothy leak", NULL, &err), -EINVAL);
  bothy_error_free(&err);
  _cleanup_free_ char *leaked = xasprintf("%s/secrets/new.pw", f->dir);
  assert_false(bothy_path_exists(leaked));
  assert_int_equal(count_commits(f->dir), 2);
}

/* Paths outside the tree or inside .git are refused before anything is
 * written. */
static void test_invalid_paths(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  const char *bad[] = { "",         "/etc/passwd", "../x",  "a/../../x", ".git/config",
                        "a/.GIT/x", "a//b",        "a/./b", "a/" };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *paths[] = { "ok.ini", (char *) bad[i] };
    char *contents[] = { "ok\n", "x\n" };
    bothy_error_t err = NULL;
    if (bothy_confrepo_commit(c, paths, contents, 2, "bothy bad", NULL, &err) != -EINVAL)
      fail_msg("commit of '%s' should fail", bad[i]);
    bothy_error_free(&err);
    char *data = NULL;
    if (bothy_confrepo_read(c, bad[i], &data, NULL, &err) != -EINVAL)
      fail_msg("read of '%s' should fail", bad[i]);
    bothy_error_free(&err);
  }
  char *paths[] = { "a.ini", "a.ini" };
  char *contents[] = { "1\n", "2\n" };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 2, "bothy twice", NULL, &err),
                   -EINVAL);
  bothy_error_free(&err);
  assert_int_equal(bothy_confrepo_commit(c, paths, contents, 1, "", NULL, &err), -EINVAL);
  bothy_error_free(&err);
  _cleanup_free_ char *ok = xasprintf("%s/ok.ini", f->dir);
  assert_false(bothy_path_exists(ok));
  assert_int_equal(count_commits(f->dir), 1);
}

/* A user's own git commits and bothy's share one linear history. */
static void test_git_cli_interop(void **state)
{
  struct fixture *f = *state;
  _cleanup_confrepo_ struct bothy_confrepo *c = open_ok(f->dir);
  free(commit1(c, "a.ini", "a\n", "bothy set a"));
  hand_write(f->dir, "a.ini", "a by hand\n");
  _cleanup_free_ char *out = run("git -C %s -c user.name=u -c user.email=u@x commit -qam 'by hand' "
                                 "&& echo ok",
                                 f->dir);
  assert_non_null(out);
  free(commit1(c, "b.ini", "b\n", "bothy set b"));
  const char *all[] = { "bothy set b", "by hand", "bothy set a", "bothy: init" };
  expect_log(c, f->dir, NULL, all, 4);
  bool modified = true;
  _cleanup_free_ char *a = read_ok(c, "a.ini", &modified);
  assert_string_equal(a, "a by hand\n");
  assert_false(modified);
  assert_output("", "git -C %s status --porcelain", f->dir);
  assert_output("", "git -C %s rev-list --min-parents=2 HEAD", f->dir);
}

#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
    T(test_init_idempotent),
    T(test_commit_and_remove),
    T(test_noop_commit),
    T(test_hand_edit),
    T(test_other_file_not_swept),
    T(test_read_at),
    T(test_log),
    T(test_diff),
    T(test_concurrent),
    T(test_secrets_ignored),
    T(test_invalid_paths),
    T(test_git_cli_interop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
