/* SPDX-License-Identifier: GPL-2.0-or-later */
/* image/store: the OCI image layout on disk. Each test opens a store in a
 * fresh temporary directory and checks the bytes and files that end up there.
 * The forked child of the concurrency test never uses cmocka (its longjmp
 * would go on with the tests in the child): it reports through its exit
 * status. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "base/digest.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/store.h"

struct fixture {
  char *dir;  /* the mkdtemp directory */
  char *path; /* dir/store */
  struct bothy_store *store;
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  f->dir = xstrdup("/tmp/bothy-store.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->path = xasprintf("%s/store", f->dir);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_store_open(f->path, &f->store, &err), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  bothy_store_free(f->store);
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->dir, NULL), 0);
  free(f->path);
  free(f->dir);
  free(f);
  return 0;
}

static char *digest_of(const char *data, size_t len)
{
  char *d = xmalloc(BOTHY_DIGEST_MAX);
  bothy_digest_buffer(data, len, d);
  return d;
}

static char *blob_file(const struct fixture *f, const char *digest)
{
  return xasprintf("%s/blobs/sha256/%s", f->path, bothy_digest_hex(digest));
}

static char *slurp(const char *path)
{
  char *data = NULL;
  bothy_error_t err = NULL;
  assert_int_equal(bothy_read_file(AT_FDCWD, path, &data, NULL, &err), 0);
  return data;
}

static void spit(const char *path, const char *data)
{
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(bothy_write_all(fd, data, strlen(data)), 0);
}

/* Every non-directory under <store>/blobs, relative to it, sorted. */
static char **walk_files;
static size_t walk_prefix;
static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  if (type != FTW_D && type != FTW_DP)
    strv_push(&walk_files, xstrdup(path + walk_prefix));
  return 0;
}
static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}
static char **blob_tree(const struct fixture *f)
{
  _cleanup_free_ char *root = xasprintf("%s/blobs/", f->path);
  walk_files = xmalloc0(sizeof(char *));
  walk_prefix = strlen(root);
  assert_int_equal(nftw(root, walk_one, 16, FTW_PHYS), 0);
  qsort(walk_files, strv_length(walk_files), sizeof(char *), cmp_str);
  return TAKE_PTR(walk_files);
}

static void assert_tree(const struct fixture *f, const char *const *want)
{
  _cleanup_strv_free_ char **got = blob_tree(f);
  size_t n = 0;
  while (want[n])
    n++;
  assert_int_equal(strv_length(got), n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(got[i], want[i]);
}

static char *ingest(struct fixture *f, const char *data)
{
  char *d = xmalloc(BOTHY_DIGEST_MAX);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_store_blob_ingest_buffer(f->store, data, strlen(data), NULL, d, &err), 0);
  return d;
}

static void test_create_layout(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *layout_path = xasprintf("%s/oci-layout", f->path);
  _cleanup_free_ char *index_path = xasprintf("%s/index.json", f->path);
  _cleanup_free_ char *layout = slurp(layout_path);
  _cleanup_free_ char *index = slurp(index_path);
  assert_string_equal(layout, "{\"imageLayoutVersion\":\"1.0.0\"}");
  assert_string_equal(index, "{\"manifests\":[],\"mediaType\":\"application/vnd.oci.image.index."
                             "v1+json\",\"schemaVersion\":2}\n");
  _cleanup_free_ char *sha = xasprintf("%s/blobs/sha256", f->path);
  struct stat st;
  assert_int_equal(stat(sha, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_tree(f, (const char *const[]){ NULL });

  /* Opening again changes nothing. */
  bothy_error_t err = NULL;
  _cleanup_store_ struct bothy_store *again = NULL;
  assert_int_equal(bothy_store_open(f->path, &again, &err), 0);
  _cleanup_free_ char *index2 = slurp(index_path);
  assert_string_equal(index, index2);
  assert_string_equal(bothy_store_path(again), f->path);
}

static void test_refuse_other_version(void **state)
{
  struct fixture *f = *state;
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_free_ char *other = xasprintf("%s/other", f->dir);
  assert_int_equal(mkdir(other, 0755), 0);
  _cleanup_free_ char *layout = xasprintf("%s/oci-layout", other);
  spit(layout, "{\"imageLayoutVersion\":\"2.0.0\"}");
  struct bothy_store *s = NULL;
  assert_int_equal(bothy_store_open(other, &s, &err), -EINVAL);
  assert_null(s);
  assert_non_null(strstr(err->msg, "'2.0.0'"));
  /* Nothing was added to it. */
  _cleanup_free_ char *index = xasprintf("%s/index.json", other);
  assert_false(bothy_path_exists(index));

  spit(layout, "not json");
  assert_true(bothy_store_open(other, &s, &err) < 0);
  assert_non_null(strstr(err->msg, "invalid JSON"));
}

static void test_ingest_good(void **state)
{
  struct fixture *f = *state;
  static const char data[] = "hello, bothy store\n";
  _cleanup_free_ char *digest = digest_of(data, strlen(data));
  mode_t old = umask(077); /* the blob's mode must not follow the umask */
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, 5, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data + 5, 0, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data + 5, strlen(data) - 5, &err), 0);
  assert_int_equal(bothy_store_writer_size(w), strlen(data));
  char got[BOTHY_DIGEST_MAX];
  assert_int_equal(bothy_store_writer_commit(w, digest, (int64_t) strlen(data), got, &err), 0);
  umask(old);
  assert_string_equal(got, digest);

  _cleanup_free_ char *file = blob_file(f, digest);
  struct stat st;
  assert_int_equal(lstat(file, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0644);
  _cleanup_free_ char *content = slurp(file);
  assert_string_equal(content, data);
  _cleanup_free_ char *rel = xasprintf("sha256/%s", bothy_digest_hex(digest));
  assert_tree(f, (const char *const[]){ rel, NULL });

  /* The read side. */
  assert_int_equal(bothy_store_blob_exists(f->store, digest, &err), 1);
  uint64_t size = 0;
  assert_int_equal(bothy_store_blob_stat(f->store, digest, &size, &err), 0);
  assert_int_equal(size, strlen(data));
  _cleanup_close_ int fd = bothy_store_blob_open(f->store, digest, &err);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  _cleanup_free_ char *read_back = NULL;
  size_t len = 0;
  assert_int_equal(bothy_store_blob_read(f->store, digest, 1024, &read_back, &len, &err), 0);
  assert_int_equal(len, strlen(data));
  assert_string_equal(read_back, data);
  assert_int_equal(bothy_store_blob_verify(f->store, digest, &err), 0);

  /* A size cap smaller than the blob. */
  char *none = NULL;
  assert_int_equal(bothy_store_blob_read(f->store, digest, 4, &none, NULL, &err), -EFBIG);
  assert_null(none);

  /* A digest not in the store. */
  _cleanup_free_ char *missing = digest_of("missing", 7);
  assert_int_equal(bothy_store_blob_exists(f->store, missing, &err), 0);
  assert_int_equal(bothy_store_blob_stat(f->store, missing, &size, &err), -ENOENT);
  assert_int_equal(bothy_store_blob_open(f->store, missing, &err), -ENOENT);
  assert_non_null(strstr(err->msg, missing));
}

static void test_ingest_wrong_digest(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *existing = ingest(f, "already here");
  _cleanup_free_ char *existing_rel = xasprintf("sha256/%s", bothy_digest_hex(existing));
  static const char data[] = "the real content";
  _cleanup_free_ char *actual = digest_of(data, strlen(data));
  _cleanup_free_ char *claimed = digest_of("something else", 14);

  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, strlen(data), &err), 0);
  char got[BOTHY_DIGEST_MAX] = "untouched";
  assert_int_equal(bothy_store_writer_commit(w, claimed, (int64_t) strlen(data), got, &err),
                   -EBADMSG);
  assert_string_equal(got, "untouched");
  assert_non_null(strstr(err->msg, claimed));
  assert_non_null(strstr(err->msg, actual));
  /* Nothing left, before or after freeing the writer. */
  assert_tree(f, (const char *const[]){ existing_rel, NULL });
  w = bothy_store_writer_abort(w);
  assert_tree(f, (const char *const[]){ existing_rel, NULL });
  assert_int_equal(bothy_store_blob_exists(f->store, claimed, &err), 0);
  assert_int_equal(bothy_store_blob_exists(f->store, actual, &err), 0);

  /* The buffer and fd conveniences say the same. */
  assert_int_equal(
      bothy_store_blob_ingest_buffer(f->store, data, strlen(data), claimed, NULL, &err), -EBADMSG);
  assert_non_null(strstr(err->msg, claimed));
  assert_non_null(strstr(err->msg, actual));
  assert_tree(f, (const char *const[]){ existing_rel, NULL });
}

static void test_ingest_wrong_size(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *existing = ingest(f, "already here");
  _cleanup_free_ char *existing_rel = xasprintf("sha256/%s", bothy_digest_hex(existing));
  static const char data[] = "twelve bytes";
  _cleanup_free_ char *digest = digest_of(data, strlen(data));
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, strlen(data), &err), 0);
  assert_int_equal(bothy_store_writer_commit(w, digest, 13, NULL, &err), -EBADMSG);
  assert_non_null(strstr(err->msg, "expected 13 bytes, got 12"));
  assert_tree(f, (const char *const[]){ existing_rel, NULL });
  /* A finished writer takes no more. */
  assert_int_equal(bothy_store_writer_write(w, data, 1, &err), -EINVAL);
  assert_int_equal(bothy_store_writer_commit(w, digest, 12, NULL, &err), -EINVAL);
  assert_tree(f, (const char *const[]){ existing_rel, NULL });
}

static void test_ingest_truncated_stream(void **state)
{
  struct fixture *f = *state;
  static const char data[] = "a stream that will be cut in the middle";
  _cleanup_free_ char *digest = digest_of(data, strlen(data));
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_int_equal(bothy_write_all(p[1], data, 10), 0);
  close(p[1]);
  _cleanup_close_ int rfd = p[0];
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(
      bothy_store_blob_ingest_fd(f->store, rfd, digest, (int64_t) strlen(data), NULL, &err),
      -EBADMSG);
  _cleanup_free_ char *want = xasprintf("expected %zu bytes, got 10", strlen(data));
  assert_non_null(strstr(err->msg, want));
  assert_tree(f, (const char *const[]){ NULL });

  /* The whole stream goes in. */
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_int_equal(bothy_write_all(p[1], data, strlen(data)), 0);
  close(p[1]);
  char got[BOTHY_DIGEST_MAX];
  assert_int_equal(
      bothy_store_blob_ingest_fd(f->store, p[0], digest, (int64_t) strlen(data), got, &err), 0);
  close(p[0]);
  assert_string_equal(got, digest);
  assert_int_equal(bothy_store_blob_verify(f->store, digest, &err), 0);
}

static void test_ingest_twice_and_abort(void **state)
{
  struct fixture *f = *state;
  static const char data[] = "same content, twice";
  _cleanup_free_ char *digest = digest_of(data, strlen(data));
  _cleanup_free_ char *rel = xasprintf("sha256/%s", bothy_digest_hex(digest));
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_store_blob_ingest_buffer(f->store, data, strlen(data), digest, NULL, &err),
                   0);
  assert_int_equal(bothy_store_blob_ingest_buffer(f->store, data, strlen(data), digest, NULL, &err),
                   0);
  /* Through a writer, too: the rename finds the blob there. */
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, strlen(data), &err), 0);
  assert_int_equal(bothy_store_writer_commit(w, digest, (int64_t) strlen(data), NULL, &err), 0);
  w = bothy_store_writer_abort(w);
  assert_tree(f, (const char *const[]){ rel, NULL });
  _cleanup_free_ char *file = blob_file(f, digest);
  _cleanup_free_ char *content = slurp(file);
  assert_string_equal(content, data);

  /* An aborted writer leaves nothing. */
  assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, "partial", 7, &err), 0);
  _cleanup_strv_free_ char **during = blob_tree(f);
  assert_int_equal(strv_length(during), 2); /* the blob and the temporary file */
  assert_non_null(strstr(during[0], ".tmp/ingest-"));
  w = bothy_store_writer_abort(w);
  assert_tree(f, (const char *const[]){ rel, NULL });
}

/* Blobs larger than the writer's O_DIRECT chunk (1 MiB), written in odd
 * pieces: whole chunks and the tail must land in order, for a blob that
 * ends on a chunk boundary too. */
static void test_large_blobs(void **state)
{
  struct fixture *f = *state;
  const size_t sizes[] = { 3 * 1024 * 1024 + 12345, 2 * 1024 * 1024, 1024 * 1024 - 1 };
  for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
    size_t len = sizes[k];
    _cleanup_free_ unsigned char *data = xmalloc(len);
    uint32_t x = 2463534242u + (uint32_t) k;
    for (size_t i = 0; i < len; i++) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      data[i] = (unsigned char) x;
    }
    _cleanup_free_ char *digest = digest_of((const char *) data, len);
    _cleanup_error_ bothy_error_t err = NULL;
    _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
    assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
    for (size_t off = 0; off < len; off += 7777) {
      size_t n = len - off < 7777 ? len - off : 7777;
      assert_int_equal(bothy_store_writer_write(w, data + off, n, &err), 0);
    }
    char got[BOTHY_DIGEST_MAX];
    assert_int_equal(bothy_store_writer_commit(w, digest, (int64_t) len, got, &err), 0);
    assert_string_equal(got, digest);
    assert_int_equal(bothy_store_blob_verify(f->store, digest, &err), 0);
    uint64_t size = 0;
    assert_int_equal(bothy_store_blob_stat(f->store, digest, &size, &err), 0);
    assert_int_equal(size, len);
  }
}

static void test_unhashed_writer(void **state)
{
  struct fixture *f = *state;
  size_t len = 1024 * 1024 + 100;
  _cleanup_free_ char *data = xmalloc(len);
  memset(data, 'u', len);
  _cleanup_free_ char *digest = digest_of(data, len);
  _cleanup_error_ bothy_error_t err = NULL;

  /* Without the digest the caller checked, there is nothing to name it by. */
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  assert_int_equal(bothy_store_writer_new_unhashed(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, len, &err), 0);
  assert_int_equal(bothy_store_writer_commit(w, NULL, (int64_t) len, NULL, &err), -EINVAL);
  w = bothy_store_writer_abort(w);
  assert_tree(f, (const char *const[]){ NULL });

  /* The size is still checked. */
  assert_int_equal(bothy_store_writer_new_unhashed(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, len - 1, &err), 0);
  assert_int_equal(bothy_store_writer_commit(w, digest, (int64_t) len, NULL, &err), -EBADMSG);
  w = bothy_store_writer_abort(w);
  assert_tree(f, (const char *const[]){ NULL });

  assert_int_equal(bothy_store_writer_new_unhashed(f->store, &w, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data, 1000, &err), 0);
  assert_int_equal(bothy_store_writer_write(w, data + 1000, len - 1000, &err), 0);
  char got[BOTHY_DIGEST_MAX];
  assert_int_equal(bothy_store_writer_commit(w, digest, (int64_t) len, got, &err), 0);
  assert_string_equal(got, digest);
  assert_int_equal(bothy_store_blob_verify(f->store, digest, &err), 0);
}

static void test_invalid_digests(void **state)
{
  struct fixture *f = *state;
  /* A file that "sha256:../../x" would reach if it became a path. */
  _cleanup_free_ char *bait = xasprintf("%s/x", f->path);
  spit(bait, "bait");
  static const char *const bad[] = {
    "sha256:../../x",
    "sha256:../../etc/passwd",
    "sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
    "sha256:abc",
    "sha256:",
    "sha256",
    "",
    "md5:d41d8cd98f00b204e9800998ecf8427e",
    "../sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  };
  _cleanup_error_ bothy_error_t err = NULL;
  for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
    const char *d = bad[i];
    uint64_t size = 0;
    char *data = NULL;
    assert_int_equal(bothy_store_blob_exists(f->store, d, &err), -EINVAL);
    assert_non_null(strstr(err->msg, d));
    assert_int_equal(bothy_store_blob_stat(f->store, d, &size, &err), -EINVAL);
    assert_int_equal(bothy_store_blob_open(f->store, d, &err), -EINVAL);
    assert_int_equal(bothy_store_blob_read(f->store, d, 100, &data, NULL, &err), -EINVAL);
    assert_int_equal(bothy_store_blob_verify(f->store, d, &err), -EINVAL);
    assert_int_equal(bothy_store_blob_delete(f->store, d, &err), -EINVAL);
    assert_int_equal(bothy_store_blob_ingest_buffer(f->store, "bait", 4, d, NULL, &err), -EINVAL);
    _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
    assert_int_equal(bothy_store_writer_new(f->store, &w, &err), 0);
    assert_int_equal(bothy_store_writer_write(w, "bait", 4, &err), 0);
    assert_int_equal(bothy_store_writer_commit(w, d, 4, NULL, &err), -EINVAL);
    struct bothy_store_descriptor desc = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                           .digest = (char *) d,
                                           .size = 4 };
    assert_int_equal(bothy_store_index_set(f->store, "ref", &desc, &err), -EINVAL);
  }
  assert_true(bothy_path_exists(bait));
  assert_tree(f, (const char *const[]){ NULL });
}

static void test_delete_list_gc(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *a = ingest(f, "a");
  _cleanup_free_ char *b = ingest(f, "b");
  _cleanup_free_ char *c = ingest(f, "c");
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_strv_free_ char **list = NULL;
  assert_int_equal(bothy_store_blob_list(f->store, &list, &err), 0);
  assert_int_equal(strv_length(list), 3);
  assert_true(strcmp(list[0], list[1]) < 0 && strcmp(list[1], list[2]) < 0);
  for (size_t i = 0; i < 3; i++)
    assert_true(streq(list[i], a) || streq(list[i], b) || streq(list[i], c));

  assert_int_equal(bothy_store_blob_delete(f->store, b, &err), 1);
  assert_int_equal(bothy_store_blob_delete(f->store, b, &err), 0);
  list = strv_free(list);
  assert_int_equal(bothy_store_blob_list(f->store, &list, &err), 0);
  assert_int_equal(strv_length(list), 2);
  assert_false(streq(list[0], b) || streq(list[1], b));

  /* Leftovers of a killed process: one old, one fresh. */
  _cleanup_free_ char *old = xasprintf("%s/blobs/.tmp/ingest-1-old", f->path);
  _cleanup_free_ char *fresh = xasprintf("%s/blobs/.tmp/ingest-1-fresh", f->path);
  spit(old, "old");
  spit(fresh, "fresh");
  struct timespec times[2] = { { .tv_sec = time(NULL) - 2 * BOTHY_STORE_TMP_MAX_AGE_SEC },
                               { .tv_sec = time(NULL) - 2 * BOTHY_STORE_TMP_MAX_AGE_SEC } };
  assert_int_equal(utimensat(AT_FDCWD, old, times, 0), 0);
  assert_int_equal(bothy_store_gc_tmp(f->store, /* all= */ false, &err), 1);
  assert_false(bothy_path_exists(old));
  assert_true(bothy_path_exists(fresh));
  assert_int_equal(bothy_store_gc_tmp(f->store, /* all= */ true, &err), 1);
  assert_false(bothy_path_exists(fresh));
  assert_int_equal(bothy_store_gc_tmp(f->store, /* all= */ true, &err), 0);
}

static void test_index(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *m1 = ingest(f, "{\"manifest\":1}");
  _cleanup_free_ char *m2 = ingest(f, "{\"manifest\":22}");
  _cleanup_error_ bothy_error_t err = NULL;
  _cleanup_store_descriptor_ struct bothy_store_descriptor *got = NULL;
  assert_int_equal(bothy_store_index_lookup(f->store, "app:1", &got, &err), 0);
  assert_null(got);

  _cleanup_json_ json_t *platform = json_pack("{s:s, s:s}", "architecture", "amd64", "os", "linux");
  _cleanup_json_ json_t *annotations =
      json_pack("{s:s, s:s}", "org.example.note", "kept", BOTHY_OCI_REF_NAME_ANNOTATION, "ignored");
  struct bothy_store_descriptor d1 = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                       .digest = m1,
                                       .size = 14,
                                       .annotations = annotations,
                                       .platform = platform };
  assert_int_equal(bothy_store_index_set(f->store, "app:1", &d1, &err), 0);
  assert_int_equal(bothy_store_index_lookup(f->store, "app:1", &got, &err), 1);
  assert_string_equal(got->media_type, BOTHY_OCI_MEDIA_TYPE_MANIFEST);
  assert_string_equal(got->digest, m1);
  assert_int_equal(got->size, 14);
  assert_string_equal(got->ref_name, "app:1");
  assert_string_equal(json_string_value(json_object_get(got->annotations, "org.example.note")),
                      "kept");
  assert_string_equal(json_string_value(json_object_get(got->platform, "os")), "linux");
  got = bothy_store_descriptor_free(got);

  /* Tagging moves the name: one entry, the new digest. */
  struct bothy_store_descriptor d2 = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                       .digest = m2,
                                       .size = 15 };
  assert_int_equal(bothy_store_index_set(f->store, "app:1", &d2, &err), 0);
  assert_int_equal(bothy_store_index_set(f->store, "example.org/app/web:2", &d1, &err), 0);
  assert_int_equal(bothy_store_index_lookup(f->store, "app:1", &got, &err), 1);
  assert_string_equal(got->digest, m2);
  assert_null(got->platform);
  got = bothy_store_descriptor_free(got);

  _cleanup_store_descriptors_ struct bothy_store_descriptor **list = NULL;
  size_t n = 0;
  assert_int_equal(bothy_store_index_list(f->store, &list, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_string_equal(list[0]->ref_name, "app:1");
  assert_string_equal(list[1]->ref_name, "example.org/app/web:2");
  assert_null(list[2]);
  list = bothy_store_descriptors_free(list);

  /* What is on disk: valid JSON, the fields the spec names. */
  _cleanup_free_ char *index_path = xasprintf("%s/index.json", f->path);
  _cleanup_json_ json_t *index = NULL;
  assert_int_equal(bothy_json_load_file(index_path, &index, &err), 0);
  assert_int_equal(json_integer_value(json_object_get(index, "schemaVersion")), 2);
  json_t *entry = json_array_get(json_object_get(index, "manifests"), 1);
  assert_string_equal(json_string_value(json_object_get(entry, "digest")), m1);
  assert_int_equal(json_integer_value(json_object_get(entry, "size")), 14);
  assert_string_equal(json_string_value(json_object_get(json_object_get(entry, "annotations"),
                                                        BOTHY_OCI_REF_NAME_ANNOTATION)),
                      "example.org/app/web:2");

  /* Remove. */
  assert_int_equal(bothy_store_index_remove(f->store, "app:1", &err), 1);
  assert_int_equal(bothy_store_index_remove(f->store, "app:1", &err), 0);
  assert_int_equal(bothy_store_index_lookup(f->store, "app:1", &got, &err), 0);
  assert_int_equal(bothy_store_index_lookup(f->store, "example.org/app/web:2", &got, &err), 1);
  got = bothy_store_descriptor_free(got);

  /* Refused: a blob not in the store, a wrong size, bad ref names. */
  _cleanup_free_ char *absent = digest_of("absent", 6);
  struct bothy_store_descriptor d3 = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                       .digest = absent,
                                       .size = 6 };
  assert_int_equal(bothy_store_index_set(f->store, "x", &d3, &err), -ENOENT);
  d2.size = 16;
  assert_int_equal(bothy_store_index_set(f->store, "x", &d2, &err), -EBADMSG);
  d2.size = 15;
  static const char *const bad_refs[] = { "",   "a//b", "/a",  "a/",    "a..b",
                                          "a:", "-a",   "a b", "a---b", "ä" };
  for (size_t i = 0; i < ARRAY_SIZE(bad_refs); i++)
    assert_int_equal(bothy_store_index_set(f->store, bad_refs[i], &d2, &err), -EINVAL);
  static const char *const good_refs[] = { "a", "v1.0", "a--b", "reg:5000/x/y@z+1", "A_b-C" };
  for (size_t i = 0; i < ARRAY_SIZE(good_refs); i++)
    assert_int_equal(bothy_store_ref_name_validate(good_refs[i], &err), 0);
  assert_int_equal(bothy_store_index_list(f->store, &list, &n, &err), 0);
  assert_int_equal(n, 1);
}

static void test_index_concurrent(void **state)
{
  struct fixture *f = *state;
  _cleanup_free_ char *m = ingest(f, "{\"manifest\":true}");
  int go[2];
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* The child: its own store object, no cmocka. */
    close(go[1]);
    char c;
    if (read(go[0], &c, 1) != 0)
      _exit(2);
    struct bothy_store *s = NULL;
    if (bothy_store_open(f->path, &s, NULL) < 0)
      _exit(3);
    struct bothy_store_descriptor d = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                        .digest = m,
                                        .size = 17 };
    for (int i = 0; i < 50; i++) {
      _cleanup_free_ char *ref = xasprintf("child-%d", i);
      if (bothy_store_index_set(s, ref, &d, NULL) < 0)
        _exit(4);
    }
    bothy_store_free(s);
    _exit(0);
  }
  close(go[0]);
  close(go[1]); /* both start now */
  _cleanup_error_ bothy_error_t err = NULL;
  struct bothy_store_descriptor d = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                      .digest = m,
                                      .size = 17 };
  for (int i = 0; i < 50; i++) {
    _cleanup_free_ char *ref = xasprintf("parent-%d", i);
    assert_int_equal(bothy_store_index_set(f->store, ref, &d, &err), 0);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  _cleanup_free_ char *index_path = xasprintf("%s/index.json", f->path);
  _cleanup_json_ json_t *index = NULL;
  assert_int_equal(bothy_json_load_file(index_path, &index, &err), 0);
  assert_int_equal(json_array_size(json_object_get(index, "manifests")), 100);
  _cleanup_store_descriptor_ struct bothy_store_descriptor *got = NULL;
  for (int i = 0; i < 50; i++) {
    _cleanup_free_ char *pref = xasprintf("parent-%d", i);
    _cleanup_free_ char *cref = xasprintf("child-%d", i);
    assert_int_equal(bothy_store_index_lookup(f->store, pref, &got, &err), 1);
    got = bothy_store_descriptor_free(got);
    assert_int_equal(bothy_store_index_lookup(f->store, cref, &got, &err), 1);
    got = bothy_store_descriptor_free(got);
  }
}

static void test_verify_detects_corruption(void **state)
{
  struct fixture *f = *state;
  static const char data[] = "{\"config\":\"original\"}";
  _cleanup_free_ char *digest = ingest(f, data);
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_store_blob_verify(f->store, digest, &err), 0);

  _cleanup_free_ char *file = blob_file(f, digest);
  {
    _cleanup_close_ int fd = open(file, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 3), 1);
  }
  _cleanup_free_ char *now = digest_of("{\"cXnfig\":\"original\"}", strlen(data));
  assert_int_equal(bothy_store_blob_verify(f->store, digest, &err), -EBADMSG);
  assert_non_null(strstr(err->msg, digest));
  assert_non_null(strstr(err->msg, now));
  char *content = NULL;
  assert_int_equal(bothy_store_blob_read(f->store, digest, 1024, &content, NULL, &err), -EBADMSG);
  assert_null(content);
}

/* ---- An image skopeo and umoci accept ---- */

static bool have_tool(const char *name)
{
  _cleanup_free_ char *cmd = xasprintf("command -v %s >/dev/null 2>&1", name);
  return system(cmd) == 0;
}

static char *ingest_file(struct fixture *f, const char *path, int64_t *ret_size)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(fstat(fd, &st), 0);
  char *d = xmalloc(BOTHY_DIGEST_MAX);
  bothy_error_t err = NULL;
  assert_int_equal(bothy_store_blob_ingest_fd(f->store, fd, NULL, st.st_size, d, &err), 0);
  *ret_size = st.st_size;
  return d;
}

static char *ingest_json(struct fixture *f, json_t *o, int64_t *ret_size)
{
  _cleanup_free_ char *text = bothy_json_dump(o, /* pretty= */ false);
  *ret_size = (int64_t) strlen(text);
  return ingest(f, text);
}

static void test_skopeo_umoci_read_it(void **state)
{
  struct fixture *f = *state;
  if (!have_tool("skopeo") || !have_tool("umoci") || !have_tool("tar") || !have_tool("gzip"))
    skip();
  /* A layer with one file; diff_id is the digest of the uncompressed tar. */
  _cleanup_free_ char *cmd = xasprintf("set -e; cd %s; mkdir rootfs; echo hi > rootfs/hello;"
                                       " tar -C rootfs -cf layer.tar .; gzip -n -k layer.tar",
                                       f->dir);
  assert_int_equal(system(cmd), 0);
  _cleanup_free_ char *tar_path = xasprintf("%s/layer.tar", f->dir);
  _cleanup_free_ char *tgz_path = xasprintf("%s/layer.tar.gz", f->dir);
  int64_t tar_size = 0, layer_size = 0, config_size = 0, manifest_size = 0;
  /* The uncompressed tar goes in too, only to learn its digest. */
  _cleanup_free_ char *diff_id = ingest_file(f, tar_path, &tar_size);
  _cleanup_free_ char *layer = ingest_file(f, tgz_path, &layer_size);
  _cleanup_error_ bothy_error_t err = NULL;
  assert_int_equal(bothy_store_blob_delete(f->store, diff_id, &err), 1);

  _cleanup_json_ json_t *config =
      json_pack("{s:s, s:s, s:{s:[s]}, s:{s:s, s:[s]}}", "architecture", "amd64", "os", "linux",
                "config", "Cmd", "/hello", "rootfs", "type", "layers", "diff_ids", diff_id);
  _cleanup_free_ char *config_digest = ingest_json(f, config, &config_size);
  _cleanup_json_ json_t *manifest = json_pack(
      "{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "mediaType",
      BOTHY_OCI_MEDIA_TYPE_MANIFEST, "config", "mediaType", BOTHY_OCI_MEDIA_TYPE_CONFIG, "digest",
      config_digest, "size", (json_int_t) config_size, "layers", "mediaType",
      BOTHY_OCI_MEDIA_TYPE_LAYER_GZIP, "digest", layer, "size", (json_int_t) layer_size);
  _cleanup_free_ char *manifest_digest = ingest_json(f, manifest, &manifest_size);
  struct bothy_store_descriptor desc = { .media_type = BOTHY_OCI_MEDIA_TYPE_MANIFEST,
                                         .digest = manifest_digest,
                                         .size = manifest_size };
  assert_int_equal(bothy_store_index_set(f->store, "test:1", &desc, &err), 0);

  free(cmd);
  cmd = xasprintf("skopeo inspect oci:%s:test:1 >/dev/null", f->path);
  assert_int_equal(system(cmd), 0);
  /* copy re-reads and checks every blob against its digest */
  free(cmd);
  cmd = xasprintf("skopeo --insecure-policy copy -q oci:%s:test:1 oci:%s/copy:test:1", f->path,
                  f->dir);
  assert_int_equal(system(cmd), 0);

  free(cmd);
  cmd = xasprintf("umoci ls --layout %s", f->path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  _cleanup_free_ char *out = NULL;
  assert_int_equal(bothy_read_fd(fileno(p), &out, NULL, &err), 0);
  assert_int_equal(pclose(p), 0);
  assert_string_equal(out, "test:1\n");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_create_layout, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refuse_other_version, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_good, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_wrong_digest, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_wrong_size, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_truncated_stream, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ingest_twice_and_abort, setup, teardown),
    cmocka_unit_test_setup_teardown(test_large_blobs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unhashed_writer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_invalid_digests, setup, teardown),
    cmocka_unit_test_setup_teardown(test_delete_list_gc, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index_concurrent, setup, teardown),
    cmocka_unit_test_setup_teardown(test_verify_detects_corruption, setup, teardown),
    cmocka_unit_test_setup_teardown(test_skopeo_umoci_read_it, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
