/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"

#define OCI_LAYOUT_FILE "oci-layout"
#define INDEX_FILE      "index.json"
#define LOCK_FILE       ".lock"
#define BLOBS_DIR       "blobs"
#define SHA256_DIR      "blobs/sha256"
#define TMP_DIR         "blobs/.tmp"
#define COPY_CHUNK      (64 * 1024)
/* Blobs are written in chunks of this size with O_DIRECT where the
 * filesystem takes it: a layer blob is not read again soon, and filling the
 * page cache with it cost more CPU than the download itself (on a VM, every
 * new page of it; measured 0.03 to 0.26 s of system time per 100 MB, against
 * 0.01 s direct), and then its fsync had to write it all out at the end.
 * Where O_DIRECT is refused, the page cache is used and handed to writeback
 * every WRITEBACK_CHUNK bytes, so that the fsync before the rename finds
 * little left to write. The last, partial chunk always goes through the page
 * cache (O_DIRECT wants aligned lengths). */
#define DIRECT_CHUNK    (1024 * 1024)
#define DIRECT_ALIGN    4096 /* covers 512-byte and 4 KiB logical blocks */
#define WRITEBACK_CHUNK (8u * 1024 * 1024)

struct bothy_store {
  char *path;
  int dfd;
};

struct bothy_store_writer {
  struct bothy_store *store;
  int fd;
  char *tmp_name;                  /* under TMP_DIR */
  struct bothy_digester *digester; /* NULL: the caller checked the digest (_new_unhashed) */
  uint64_t size;                   /* bytes given to the writer */
  uint64_t flushed;                /* bytes written to the file */
  uint64_t written_back;           /* bytes handed to writeback (page cache mode) */
  unsigned char *chunk; /* DIRECT_CHUNK bytes, DIRECT_ALIGN-aligned; NULL: page cache only */
  size_t chunk_len;
  bool direct;       /* O_DIRECT is set on fd */
  bool direct_tried; /* no further attempt to set it */
  bool failed;
  bool finished; /* committed or failed commit: the temp file is gone */
};

static int check_digest(const char *digest, bothy_error_t *err)
{
  if (bothy_digest_validate(digest, err) < 0) {
    if (err && *err)
      (*err)->code = EINVAL;
    return -EINVAL;
  }
  return 0;
}

static bool is_sha256(const char *digest)
{
  return strncmp(digest, "sha256:", 7) == 0;
}

/* "blobs/<algorithm>/<hex>" for a digest already validated: both parts are
 * from a fixed alphabet without '/' or "..", so the path stays in blobs/. */
static char *blob_path(const char *digest)
{
  const char *colon = strchr(digest, ':');
  return xasprintf(BLOBS_DIR "/%.*s/%s", (int) (colon - digest), digest, colon + 1);
}

static int lock_store(struct bothy_store *s, bothy_error_t *err)
{
  _cleanup_close_ int fd =
      openat(s->dfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s/" LOCK_FILE "'", s->path);
  while (flock(fd, LOCK_EX) < 0)
    if (errno != EINTR)
      return bothy_error_errno(err, "cannot lock '%s/" LOCK_FILE "'", s->path);
  return TAKE_FD(fd);
}

/* ---- Opening ---- */

static int check_layout(struct bothy_store *s, bothy_error_t *err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  int r = bothy_read_file(s->dfd, OCI_LAYOUT_FILE, &data, &len, err);
  if (r < 0)
    return r;
  _cleanup_json_ json_t *o = NULL;
  _cleanup_free_ char *what = xasprintf("'%s/" OCI_LAYOUT_FILE "'", s->path);
  r = bothy_json_load_data(data, len, what, &o, err);
  if (r < 0)
    return r;
  const char *version = NULL;
  r = bothy_json_string(o, "imageLayoutVersion", NULL, &version, err);
  if (r < 0)
    return bothy_error_prefix(err, "%s", what);
  if (r == 0)
    return bothy_error_set_code(err, EINVAL, "%s has no imageLayoutVersion", what);
  if (!streq(version, BOTHY_OCI_LAYOUT_VERSION))
    return bothy_error_set_code(
        err, EINVAL, "%s has image layout version '%s', bothy supports " BOTHY_OCI_LAYOUT_VERSION,
        what, version);
  return 0;
}

static bool exists_at(int dfd, const char *name)
{
  struct stat st;
  return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int mkdir_at(struct bothy_store *s, const char *name, bothy_error_t *err)
{
  if (mkdirat(s->dfd, name, 0755) < 0 && errno != EEXIST)
    return bothy_error_errno(err, "cannot create directory '%s/%s'", s->path, name);
  return 0;
}

static int create_missing(struct bothy_store *s, bothy_error_t *err)
{
  _cleanup_close_ int lock = lock_store(s, err);
  if (lock < 0)
    return lock;
  int r;
  if ((r = mkdir_at(s, BLOBS_DIR, err)) < 0 || (r = mkdir_at(s, SHA256_DIR, err)) < 0 ||
      (r = mkdir_at(s, TMP_DIR, err)) < 0)
    return r;
  if (!exists_at(s->dfd, INDEX_FILE)) {
    _cleanup_json_ json_t *index = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType",
                                             BOTHY_OCI_MEDIA_TYPE_INDEX, "manifests");
    _cleanup_free_ char *text = bothy_json_dump(index, /* pretty= */ false);
    r = bothy_write_file_atomic(s->dfd, INDEX_FILE, text, strlen(text), 0644, err);
    if (r < 0)
      return bothy_error_prefix(err, "creating store '%s'", s->path);
  }
  /* oci-layout last: a store that has it is complete. */
  if (!exists_at(s->dfd, OCI_LAYOUT_FILE)) {
    static const char layout[] = "{\"imageLayoutVersion\":\"" BOTHY_OCI_LAYOUT_VERSION "\"}";
    r = bothy_write_file_atomic(s->dfd, OCI_LAYOUT_FILE, layout, strlen(layout), 0644, err);
    if (r < 0)
      return bothy_error_prefix(err, "creating store '%s'", s->path);
  }
  return 0;
}

int bothy_store_open(const char *path, struct bothy_store **ret, bothy_error_t *err)
{
  _cleanup_store_ struct bothy_store *s = xmalloc0(sizeof(*s));
  s->path = xstrdup(path);
  s->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dfd < 0 && errno == ENOENT) {
    int r = bothy_mkdir_p(path, 0755, err);
    if (r < 0)
      return r;
    s->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  if (s->dfd < 0)
    return bothy_error_errno(err, "cannot open store '%s'", path);

  /* An existing layout of another version is refused before anything is
   * added to it. */
  if (exists_at(s->dfd, OCI_LAYOUT_FILE)) {
    int r = check_layout(s, err);
    if (r < 0)
      return r;
  }
  /* The common case, a complete store, needs no write access. */
  if (!exists_at(s->dfd, OCI_LAYOUT_FILE) || !exists_at(s->dfd, INDEX_FILE) ||
      !exists_at(s->dfd, SHA256_DIR) || !exists_at(s->dfd, TMP_DIR)) {
    int r = create_missing(s, err);
    if (r < 0)
      return r;
    /* Another process may have created it meanwhile, with another version. */
    r = check_layout(s, err);
    if (r < 0)
      return r;
  }
  *ret = TAKE_PTR(s);
  return 0;
}

struct bothy_store *bothy_store_free(struct bothy_store *s)
{
  if (s) {
    safe_close(s->dfd);
    free(s->path);
    free(s);
  }
  return NULL;
}

const char *bothy_store_path(const struct bothy_store *s)
{
  return s->path;
}

int bothy_store_dirfd(const struct bothy_store *s)
{
  return s->dfd;
}

/* ---- Writing blobs ---- */

static int writer_new(struct bothy_store *s, bool hashed, struct bothy_store_writer **ret,
                      bothy_error_t *err)
{
  _cleanup_close_ int fd = -1;
  _cleanup_free_ char *name = NULL;
  for (int attempt = 0; fd < 0; attempt++) {
    uint64_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
      rnd = ((uint64_t) getpid() << 32) ^ (uint64_t) time(NULL) ^ (uint64_t) attempt;
    free(name);
    name = xasprintf(TMP_DIR "/ingest-%d-%016" PRIx64, (int) getpid(), rnd);
    /* O_EXCL: the name is ours alone, even against a racing process. */
    fd = openat(s->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT && attempt == 0) {
      /* blobs/.tmp removed by hand: recreate it. */
      int r = mkdir_at(s, TMP_DIR, err);
      if (r < 0)
        return r;
      continue;
    }
    if (fd < 0 && (errno != EEXIST || attempt > 8))
      return bothy_error_errno(err, "cannot create a temporary file in '%s/" TMP_DIR "'", s->path);
  }
  struct bothy_store_writer *w = xmalloc0(sizeof(*w));
  w->store = s;
  w->fd = TAKE_FD(fd);
  w->tmp_name = TAKE_PTR(name);
  w->digester = hashed ? bothy_digester_new() : NULL;
  void *chunk = NULL;
  if (posix_memalign(&chunk, DIRECT_ALIGN, DIRECT_CHUNK) == 0)
    w->chunk = chunk; /* else: the page cache, as where O_DIRECT is refused */
  *ret = w;
  return 0;
}

int bothy_store_writer_new(struct bothy_store *s, struct bothy_store_writer **ret,
                           bothy_error_t *err)
{
  return writer_new(s, /* hashed= */ true, ret, err);
}

int bothy_store_writer_new_unhashed(struct bothy_store *s, struct bothy_store_writer **ret,
                                    bothy_error_t *err)
{
  return writer_new(s, /* hashed= */ false, ret, err);
}

static void writer_drop_tmp(struct bothy_store_writer *w)
{
  if (!w->finished) {
    (void) unlinkat(w->store->dfd, w->tmp_name, 0);
    w->finished = true;
  }
}

static int set_direct(struct bothy_store_writer *w, bool on)
{
  int fl = fcntl(w->fd, F_GETFL);
  if (fl < 0 || fcntl(w->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0)
    return -errno;
  w->direct = on;
  return 0;
}

/* Appends len bytes to the file, at w->flushed. */
static int writer_append(struct bothy_store_writer *w, const unsigned char *buf, size_t len,
                         bothy_error_t *err)
{
  while (len > 0) {
    ssize_t n = pwrite(w->fd, buf, len, (off_t) w->flushed);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EINVAL && w->direct && set_direct(w, false) == 0)
      continue; /* an alignment this filesystem does not take: the page cache then */
    if (n < 0) {
      w->failed = true;
      return bothy_error_errno(err, "cannot write '%s/%s'", w->store->path, w->tmp_name);
    }
    buf += n;
    len -= (size_t) n;
    w->flushed += (uint64_t) n;
  }
  if (!w->direct && w->flushed - w->written_back >= WRITEBACK_CHUNK) {
    /* Only starts the writeback (no wait); the fsync at commit still
     * decides, and failures show there. */
    (void) sync_file_range(w->fd, (off64_t) w->written_back,
                           (off64_t) (w->flushed - w->written_back), SYNC_FILE_RANGE_WRITE);
    w->written_back = w->flushed;
  }
  return 0;
}

int bothy_store_writer_write(struct bothy_store_writer *w, const void *buf, size_t len,
                             bothy_error_t *err)
{
  if (w->failed || w->finished)
    return bothy_error_set(err, EINVAL, "cannot write to a finished blob writer");
  if (w->digester)
    bothy_digester_update(w->digester, buf, len);
  w->size += len;
  if (!w->chunk)
    return writer_append(w, buf, len, err);
  const unsigned char *p = buf;
  while (len > 0) {
    size_t n = DIRECT_CHUNK - w->chunk_len < len ? DIRECT_CHUNK - w->chunk_len : len;
    memcpy(w->chunk + w->chunk_len, p, n);
    w->chunk_len += n;
    p += n;
    len -= n;
    if (w->chunk_len < DIRECT_CHUNK)
      break;
    if (!w->direct_tried) {
      w->direct_tried = true;
      (void) set_direct(w, true); /* EINVAL: not on this filesystem (tmpfs before 6.6) */
    }
    int r = writer_append(w, w->chunk, DIRECT_CHUNK, err);
    if (r < 0)
      return r;
    w->chunk_len = 0;
  }
  return 0;
}

uint64_t bothy_store_writer_size(const struct bothy_store_writer *w)
{
  return w->size;
}

int bothy_store_writer_commit(struct bothy_store_writer *w, const char *expected_digest,
                              int64_t expected_size, char *ret_digest, bothy_error_t *err)
{
  struct bothy_store *s = w->store;
  int r;
  if (w->failed || w->finished)
    return bothy_error_set(err, EINVAL, "cannot commit a finished blob writer");
  if (!w->digester && !expected_digest) {
    writer_drop_tmp(w);
    return bothy_error_set(err, EINVAL, "cannot commit an unhashed blob without its digest");
  }
  if (expected_digest) {
    r = check_digest(expected_digest, err);
    if (r < 0) {
      writer_drop_tmp(w);
      return r;
    }
    if (!is_sha256(expected_digest)) {
      writer_drop_tmp(w);
      return bothy_error_set(err, EOPNOTSUPP, "cannot verify '%s'", expected_digest);
    }
  }
  char digest[BOTHY_DIGEST_MAX];
  if (w->digester)
    bothy_digester_final(w->digester, digest);
  else
    snprintf(digest, sizeof(digest), "%s", expected_digest); /* checked by the caller */

  if (expected_size >= 0 && w->size != (uint64_t) expected_size) {
    writer_drop_tmp(w);
    return bothy_error_set_code(
        err, EBADMSG, "size mismatch for blob %s: expected %" PRId64 " bytes, got %" PRIu64,
        expected_digest ? expected_digest : digest, expected_size, w->size);
  }
  if (expected_digest && !streq(expected_digest, digest)) {
    writer_drop_tmp(w);
    return bothy_error_set_code(err, EBADMSG, "digest mismatch: expected %s, got %s",
                                expected_digest, digest);
  }

  /* The rest of the data, through the page cache. */
  if (w->direct && set_direct(w, false) < 0) {
    r = bothy_error_errno(err, "cannot write '%s/%s'", s->path, w->tmp_name);
    writer_drop_tmp(w);
    return r;
  }
  if (w->chunk_len > 0 && (r = writer_append(w, w->chunk, w->chunk_len, err)) < 0) {
    writer_drop_tmp(w);
    return r;
  }
  w->chunk_len = 0;

  /* fchmod: the mode must not depend on the umask of whoever ingested. */
  if (fchmod(w->fd, 0644) < 0 || fsync(w->fd) < 0) {
    r = bothy_error_errno(err, "cannot sync '%s/%s'", s->path, w->tmp_name);
    writer_drop_tmp(w);
    return r;
  }
  _cleanup_free_ char *dest = blob_path(digest);
  /* RENAME_NOREPLACE: a blob that exists is never rewritten (a reader may be
   * hashing it); its content is ours by definition. Filesystems without it
   * (EINVAL) get a plain rename, equally correct for equal content. */
  r = renameat2(s->dfd, w->tmp_name, s->dfd, dest, RENAME_NOREPLACE);
  if (r < 0 && errno == EINVAL)
    r = renameat(s->dfd, w->tmp_name, s->dfd, dest);
  if (r < 0 && errno == EEXIST) {
    writer_drop_tmp(w);
  } else if (r < 0) {
    r = bothy_error_errno(err, "cannot rename '%s/%s' to '%s/%s'", s->path, w->tmp_name, s->path,
                          dest);
    writer_drop_tmp(w);
    return r;
  } else {
    w->finished = true;
    /* Make the rename durable before anything (index.json) points at it. */
    _cleanup_close_ int dir = openat(s->dfd, SHA256_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0)
      (void) fsync(dir);
  }
  if (ret_digest)
    memcpy(ret_digest, digest, strlen(digest) + 1);
  return 0;
}

struct bothy_store_writer *bothy_store_writer_abort(struct bothy_store_writer *w)
{
  if (w) {
    writer_drop_tmp(w);
    safe_close(w->fd);
    free(w->chunk);
    free(w->tmp_name);
    bothy_digester_free(w->digester);
    free(w);
  }
  return NULL;
}

int bothy_store_blob_ingest_buffer(struct bothy_store *s, const void *buf, size_t len,
                                   const char *expected_digest, char *ret_digest,
                                   bothy_error_t *err)
{
  int r;
  if (expected_digest) {
    r = check_digest(expected_digest, err);
    if (r < 0)
      return r;
    if (!is_sha256(expected_digest))
      return bothy_error_set(err, EOPNOTSUPP, "cannot verify '%s'", expected_digest);
  }
  char digest[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(buf, len, digest);
  if (expected_digest && !streq(expected_digest, digest))
    return bothy_error_set_code(err, EBADMSG, "digest mismatch: expected %s, got %s",
                                expected_digest, digest);
  r = bothy_store_blob_exists(s, digest, err);
  if (r < 0)
    return r;
  if (r == 0) {
    _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
    /* Hashed above: not again on the way in. */
    if ((r = bothy_store_writer_new_unhashed(s, &w, err)) < 0 ||
        (r = bothy_store_writer_write(w, buf, len, err)) < 0 ||
        (r = bothy_store_writer_commit(w, digest, (int64_t) len, NULL, err)) < 0)
      return r;
  }
  if (ret_digest)
    memcpy(ret_digest, digest, strlen(digest) + 1);
  return 0;
}

int bothy_store_blob_ingest_fd(struct bothy_store *s, int fd, const char *expected_digest,
                               int64_t expected_size, char *ret_digest, bothy_error_t *err)
{
  int r;
  if (expected_digest && (r = check_digest(expected_digest, err)) < 0)
    return r;
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  r = bothy_store_writer_new(s, &w, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
  for (;;) {
    ssize_t n = read(fd, buf, COPY_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bothy_error_errno(err, "cannot read blob %s", expected_digest ? expected_digest : "");
    if (n == 0)
      break;
    r = bothy_store_writer_write(w, buf, (size_t) n, err);
    if (r < 0)
      return r;
  }
  return bothy_store_writer_commit(w, expected_digest, expected_size, ret_digest, err);
}

/* ---- Reading blobs ---- */

int bothy_store_blob_exists(struct bothy_store *s, const char *digest, bothy_error_t *err)
{
  int r = check_digest(digest, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = blob_path(digest);
  struct stat st;
  if (fstatat(s->dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot stat blob %s", digest);
  }
  return S_ISREG(st.st_mode) ? 1 : 0;
}

int bothy_store_blob_open(struct bothy_store *s, const char *digest, bothy_error_t *err)
{
  int r = check_digest(digest, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = blob_path(digest);
  /* O_NOFOLLOW: a blob is a regular file, never a link to elsewhere. */
  int fd = openat(s->dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open blob %s", digest);
  return fd;
}

int bothy_store_blob_stat(struct bothy_store *s, const char *digest, uint64_t *ret_size,
                          bothy_error_t *err)
{
  int r = check_digest(digest, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = blob_path(digest);
  struct stat st;
  if (fstatat(s->dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return bothy_error_errno(err, "cannot stat blob %s", digest);
  if (!S_ISREG(st.st_mode))
    return bothy_error_set(err, EINVAL, "blob %s is not a regular file", digest);
  *ret_size = (uint64_t) st.st_size;
  return 0;
}

/* Hashes fd from its current offset to EOF. */
static int hash_fd(int fd, const char *digest, char *ret, bothy_error_t *err)
{
  _cleanup_digester_ struct bothy_digester *d = bothy_digester_new();
  _cleanup_free_ char *buf = xmalloc(COPY_CHUNK);
  for (;;) {
    ssize_t n = read(fd, buf, COPY_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return bothy_error_errno(err, "cannot read blob %s", digest);
    if (n == 0)
      break;
    bothy_digester_update(d, buf, (size_t) n);
  }
  bothy_digester_final(d, ret);
  return 0;
}

int bothy_store_blob_verify(struct bothy_store *s, const char *digest, bothy_error_t *err)
{
  int r = check_digest(digest, err);
  if (r < 0)
    return r;
  if (!is_sha256(digest))
    return bothy_error_set(err, EOPNOTSUPP, "cannot verify '%s'", digest);
  _cleanup_close_ int fd = bothy_store_blob_open(s, digest, err);
  if (fd < 0)
    return fd;
  char actual[BOTHY_DIGEST_MAX];
  r = hash_fd(fd, digest, actual, err);
  if (r < 0)
    return r;
  if (!streq(actual, digest))
    return bothy_error_set_code(err, EBADMSG, "blob %s is corrupt: its content hashes to %s",
                                digest, actual);
  return 0;
}

int bothy_store_blob_read(struct bothy_store *s, const char *digest, size_t max_size, char **ret,
                          size_t *ret_len, bothy_error_t *err)
{
  _cleanup_close_ int fd = bothy_store_blob_open(s, digest, err);
  if (fd < 0)
    return fd;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bothy_error_errno(err, "cannot stat blob %s", digest);
  if (!S_ISREG(st.st_mode))
    return bothy_error_set(err, EINVAL, "blob %s is not a regular file", digest);
  if ((uint64_t) st.st_size > max_size)
    return bothy_error_set_code(err, EFBIG,
                                "blob %s is %" PRIu64 " bytes, more than the %zu allowed", digest,
                                (uint64_t) st.st_size, max_size);
  size_t size = (size_t) st.st_size;
  _cleanup_free_ char *buf = xmalloc(size + 1);
  ssize_t n = bothy_read_all(fd, buf, size);
  if (n < 0)
    return bothy_error_set(err, (int) -n, "cannot read blob %s", digest);
  buf[n] = '\0';
  if (is_sha256(digest)) {
    char actual[BOTHY_DIGEST_MAX];
    bothy_digest_buffer(buf, (size_t) n, actual);
    if (!streq(actual, digest))
      return bothy_error_set_code(err, EBADMSG, "blob %s is corrupt: its content hashes to %s",
                                  digest, actual);
  }
  if (ret_len)
    *ret_len = (size_t) n;
  *ret = TAKE_PTR(buf);
  return 0;
}

int bothy_store_blob_delete(struct bothy_store *s, const char *digest, bothy_error_t *err)
{
  int r = check_digest(digest, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *path = blob_path(digest);
  if (unlinkat(s->dfd, path, 0) < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot delete blob %s", digest);
  }
  return 1;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *) a, *(char *const *) b);
}

int bothy_store_blob_list(struct bothy_store *s, char ***ret, bothy_error_t *err)
{
  int fd = openat(s->dfd, SHA256_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open '%s/" SHA256_DIR "'", s->path);
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (!d) {
    safe_close(fd);
    return bothy_error_errno(err, "cannot open '%s/" SHA256_DIR "'", s->path);
  }
  _cleanup_strv_free_ char **v = xmalloc0(sizeof(char *));
  size_t n = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d))) {
    _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
    /* Skips ".", "..", and anything a human left there. */
    if (bothy_digest_validate(digest, NULL) < 0)
      continue;
    if (de->d_type != DT_REG) {
      struct stat st;
      if (de->d_type != DT_UNKNOWN || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
          !S_ISREG(st.st_mode))
        continue;
    }
    strv_push(&v, TAKE_PTR(digest));
    n++;
    errno = 0;
  }
  if (errno != 0)
    return bothy_error_errno(err, "cannot read '%s/" SHA256_DIR "'", s->path);
  qsort(v, n, sizeof(char *), cmp_str);
  *ret = TAKE_PTR(v);
  return 0;
}

/* The store's temporary directory, for a sweep: 1 and *ret, or 0 when there
 * is none. */
static int open_tmp_dir(struct bothy_store *s, DIR **ret, bothy_error_t *err)
{
  int fd = openat(s->dfd, TMP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return 0;
    return bothy_error_errno(err, "cannot open '%s/" TMP_DIR "'", s->path);
  }
  *ret = fdopendir(fd);
  if (!*ret) {
    safe_close(fd);
    return bothy_error_errno(err, "cannot open '%s/" TMP_DIR "'", s->path);
  }
  return 1;
}

int bothy_store_gc_tmp_of(struct bothy_store *s, pid_t pid, bothy_error_t *err)
{
  _cleanup_closedir_ DIR *d = NULL;
  int opened = open_tmp_dir(s, &d, err);
  if (opened <= 0)
    return opened;
  /* The writer's names: "ingest-PID-RANDOM". */
  _cleanup_free_ char *prefix = xasprintf("ingest-%d-", (int) pid);
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
      continue;
    if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
      if (errno == ENOENT)
        continue;
      return bothy_error_errno(err, "cannot remove '%s/" TMP_DIR "/%s'", s->path, de->d_name);
    }
    removed++;
  }
  return removed;
}

int bothy_store_gc_tmp(struct bothy_store *s, bool all, bothy_error_t *err)
{
  _cleanup_closedir_ DIR *d = NULL;
  int opened = open_tmp_dir(s, &d, err);
  if (opened <= 0)
    return opened;
  time_t now = time(NULL);
  int removed = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (streq(de->d_name, ".") || streq(de->d_name, ".."))
      continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue; /* gone meanwhile */
    if (!all && now - st.st_mtime < BOTHY_STORE_TMP_MAX_AGE_SEC)
      continue;
    if (S_ISDIR(st.st_mode)) {
      int r = bothy_rm_rf_at(dirfd(d), de->d_name, err);
      if (r < 0)
        return r;
    } else if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
      if (errno == ENOENT)
        continue;
      return bothy_error_errno(err, "cannot remove '%s/" TMP_DIR "/%s'", s->path, de->d_name);
    }
    removed++;
  }
  return removed;
}

/* ---- The index ---- */

struct bothy_store_descriptor *bothy_store_descriptor_free(struct bothy_store_descriptor *d)
{
  if (d) {
    free(d->media_type);
    free(d->digest);
    free(d->ref_name);
    json_decref(d->annotations);
    json_decref(d->platform);
    free(d);
  }
  return NULL;
}

struct bothy_store_descriptor **bothy_store_descriptors_free(struct bothy_store_descriptor **v)
{
  if (v) {
    for (struct bothy_store_descriptor **p = v; *p; p++)
      bothy_store_descriptor_free(*p);
    free(v);
  }
  return NULL;
}

static bool is_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int bothy_store_ref_name_validate(const char *ref_name, bothy_error_t *err)
{
  if (!ref_name || !*ref_name)
    return bothy_error_set(err, EINVAL, "empty ref name");
  /* Walks runs of alphanumerics separated by one separator, "--", or "/". */
  const char *p = ref_name;
  for (;;) {
    if (!is_alnum(*p))
      goto bad;
    while (is_alnum(*p))
      p++;
    if (*p == '\0')
      return 0;
    if (p[0] == '-' && p[1] == '-')
      p += 2;
    else if (strchr("-._:@+/", *p))
      p++;
    else
      goto bad;
  }
bad:
  return bothy_error_set_code(err, EINVAL, "invalid ref name '%s'", ref_name);
}

static int index_load(struct bothy_store *s, json_t **ret, bothy_error_t *err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  int r = bothy_read_file(s->dfd, INDEX_FILE, &data, &len, err);
  if (r < 0)
    return r;
  _cleanup_free_ char *what = xasprintf("'%s/" INDEX_FILE "'", s->path);
  _cleanup_json_ json_t *index = NULL;
  r = bothy_json_load_data(data, len, what, &index, err);
  if (r < 0)
    return r;
  if (!json_is_object(index))
    return bothy_error_set_code(err, EINVAL, "%s is not a JSON object", what);
  json_t *manifests = NULL;
  r = bothy_json_array(index, "manifests", NULL, &manifests, err);
  if (r < 0)
    return bothy_error_prefix(err, "%s", what);
  if (r == 0)
    json_object_set_new(index, "manifests", json_array());
  *ret = TAKE_PTR(index);
  return 0;
}

static int index_save(struct bothy_store *s, json_t *index, bothy_error_t *err)
{
  _cleanup_free_ char *text = bothy_json_dump(index, /* pretty= */ false);
  return bothy_write_file_atomic(s->dfd, INDEX_FILE, text, strlen(text), 0644, err);
}

static const char *entry_ref_name(json_t *entry)
{
  return json_string_value(
      json_object_get(json_object_get(entry, "annotations"), BOTHY_OCI_REF_NAME_ANNOTATION));
}

/* Removes entries naming ref_name; returns how many. */
static size_t index_drop_ref(json_t *manifests, const char *ref_name)
{
  size_t removed = 0;
  for (size_t i = json_array_size(manifests); i-- > 0;)
    if (streq(entry_ref_name(json_array_get(manifests, i)), ref_name)) {
      json_array_remove(manifests, i);
      removed++;
    }
  return removed;
}

static int descriptor_from_json(json_t *entry, size_t i, struct bothy_store_descriptor **ret,
                                bothy_error_t *err)
{
  _cleanup_free_ char *ctx = xasprintf("manifests[%zu]", i);
  if (!json_is_object(entry))
    return bothy_error_set_code(err, EINVAL, "'%s' must be an object", ctx);
  _cleanup_store_descriptor_ struct bothy_store_descriptor *d = xmalloc0(sizeof(*d));
  int r;
  if ((r = bothy_json_strdup(entry, "mediaType", ctx, &d->media_type, err)) < 0 ||
      (r = bothy_json_strdup(entry, "digest", ctx, &d->digest, err)) < 0 ||
      (r = bothy_json_int64(entry, "size", ctx, &d->size, err)) < 0)
    return r;
  if (!d->media_type || !d->digest || !json_object_get(entry, "size"))
    return bothy_error_set_code(err, EINVAL, "'%s' needs mediaType, digest and size", ctx);
  if ((r = check_digest(d->digest, err)) < 0)
    return bothy_error_prefix(err, "'%s'", ctx);
  if (d->size < 0)
    return bothy_error_set_code(err, EINVAL, "'%s.size' must not be negative", ctx);
  json_t *annotations = NULL, *platform = NULL;
  if ((r = bothy_json_object(entry, "annotations", ctx, &annotations, err)) < 0 ||
      (r = bothy_json_object(entry, "platform", ctx, &platform, err)) < 0)
    return r;
  d->annotations = json_incref(annotations);
  d->platform = json_incref(platform);
  d->ref_name = xstrdup(entry_ref_name(entry));
  *ret = TAKE_PTR(d);
  return 0;
}

int bothy_store_index_set(struct bothy_store *s, const char *ref_name,
                          const struct bothy_store_descriptor *desc, bothy_error_t *err)
{
  int r;
  if ((r = bothy_store_ref_name_validate(ref_name, err)) < 0 ||
      (r = check_digest(desc->digest, err)) < 0)
    return r;
  if (!desc->media_type || !*desc->media_type)
    return bothy_error_set(err, EINVAL, "descriptor for '%s' has no media type", ref_name);
  if ((desc->annotations && !json_is_object(desc->annotations)) ||
      (desc->platform && !json_is_object(desc->platform)))
    return bothy_error_set(
        err, EINVAL, "descriptor for '%s': annotations and platform must be objects", ref_name);
  uint64_t size = 0;
  r = bothy_store_blob_stat(s, desc->digest, &size, err);
  if (r < 0)
    return bothy_error_prefix(err, "tagging '%s'", ref_name);
  if (desc->size < 0 || size != (uint64_t) desc->size)
    return bothy_error_set_code(
        err, EBADMSG, "tagging '%s': blob %s is %" PRIu64 " bytes, the descriptor says %" PRId64,
        ref_name, desc->digest, size, desc->size);

  _cleanup_json_ json_t *entry = json_pack("{s:s, s:s, s:I}", "mediaType", desc->media_type,
                                           "digest", desc->digest, "size", (json_int_t) desc->size);
  json_t *annotations = desc->annotations ? json_deep_copy(desc->annotations) : json_object();
  json_object_set_new(annotations, BOTHY_OCI_REF_NAME_ANNOTATION, json_string(ref_name));
  json_object_set_new(entry, "annotations", annotations);
  if (desc->platform)
    json_object_set_new(entry, "platform", json_deep_copy(desc->platform));

  _cleanup_close_ int lock = lock_store(s, err);
  if (lock < 0)
    return lock;
  _cleanup_json_ json_t *index = NULL;
  r = index_load(s, &index, err);
  if (r < 0)
    return r;
  json_t *manifests = json_object_get(index, "manifests");
  index_drop_ref(manifests, ref_name);
  json_array_append(manifests, entry);
  return index_save(s, index, err);
}

int bothy_store_index_remove(struct bothy_store *s, const char *ref_name, bothy_error_t *err)
{
  int r = bothy_store_ref_name_validate(ref_name, err);
  if (r < 0)
    return r;
  _cleanup_close_ int lock = lock_store(s, err);
  if (lock < 0)
    return lock;
  _cleanup_json_ json_t *index = NULL;
  r = index_load(s, &index, err);
  if (r < 0)
    return r;
  if (index_drop_ref(json_object_get(index, "manifests"), ref_name) == 0)
    return 0;
  r = index_save(s, index, err);
  return r < 0 ? r : 1;
}

int bothy_store_index_lookup(struct bothy_store *s, const char *ref_name,
                             struct bothy_store_descriptor **ret, bothy_error_t *err)
{
  int r = bothy_store_ref_name_validate(ref_name, err);
  if (r < 0)
    return r;
  /* No lock: index.json is replaced atomically. */
  _cleanup_json_ json_t *index = NULL;
  r = index_load(s, &index, err);
  if (r < 0)
    return r;
  json_t *manifests = json_object_get(index, "manifests");
  for (size_t i = 0; i < json_array_size(manifests); i++) {
    json_t *entry = json_array_get(manifests, i);
    if (!streq(entry_ref_name(entry), ref_name))
      continue;
    r = descriptor_from_json(entry, i, ret, err);
    if (r < 0)
      return bothy_error_prefix(err, "'%s/" INDEX_FILE "'", s->path);
    return 1;
  }
  return 0;
}

int bothy_store_index_list(struct bothy_store *s, struct bothy_store_descriptor ***ret,
                           size_t *ret_n, bothy_error_t *err)
{
  _cleanup_json_ json_t *index = NULL;
  int r = index_load(s, &index, err);
  if (r < 0)
    return r;
  json_t *manifests = json_object_get(index, "manifests");
  size_t n = json_array_size(manifests);
  _cleanup_store_descriptors_ struct bothy_store_descriptor **v = xcalloc(n + 1, sizeof(*v));
  for (size_t i = 0; i < n; i++) {
    r = descriptor_from_json(json_array_get(manifests, i), i, &v[i], err);
    if (r < 0)
      return bothy_error_prefix(err, "'%s/" INDEX_FILE "'", s->path);
  }
  if (ret_n)
    *ret_n = n;
  *ret = TAKE_PTR(v);
  return 0;
}
