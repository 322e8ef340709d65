/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/dl-archive.h" /* last: redirects the library calls */

/* manifest.json, index.json, manifests and configs are read whole. */
#define DOC_MAX  (8u * 1024 * 1024)
#define COPY_BUF (128u * 1024)

#define CONTAINERD_NAME_ANNOTATION "io.containerd.image.name"
#define DEFAULT_PATH               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_write_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free)
#define _cleanup_archive_read_  _cleanup_(archive_read_freep)
#define _cleanup_archive_write_ _cleanup_(archive_write_freep)
#define _cleanup_archive_entry_ _cleanup_(archive_entry_freep)

static const char *const format_names[_BOTHY_ARCHIVE_FORMAT_MAX] = {
  [BOTHY_ARCHIVE_DOCKER] = "docker-archive",
  [BOTHY_ARCHIVE_OCI] = "oci-archive",
};

enum bothy_archive_format bothy_archive_format_from_string(const char *s)
{
  for (size_t i = 0; i < ARRAY_SIZE(format_names); i++)
    if (streq(s, format_names[i]))
      return (enum bothy_archive_format) i;
  return _BOTHY_ARCHIVE_FORMAT_INVALID;
}

const char *bothy_archive_format_to_string(enum bothy_archive_format f)
{
  return f >= 0 && f < _BOTHY_ARCHIVE_FORMAT_MAX ? format_names[f] : NULL;
}

struct bothy_loaded *bothy_loaded_free(struct bothy_loaded *l)
{
  if (!l)
    return NULL;
  for (size_t i = 0; i < l->n; i++) {
    free(l->images[i].ref);
    free(l->images[i].digest);
  }
  free(l->images);
  free(l);
  return NULL;
}

static const char *aerr(struct archive *a)
{
  const char *s = archive_error_string(a);
  return s ? s : "unknown error";
}

static struct archive *xarchive_read_new(void)
{
  struct archive *a = archive_read_new();
  if (!a)
    abort(); /* out of memory: the x-allocator policy */
  /* Compression filters by name, not archive_read_support_filter_all(): that
   * one also registers filters that run external programs (lrzip, grzip,
   * lzop), which archive content should not get to start. */
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  return a;
}

typedef int (*sink_fn)(void *userdata, const void *buf, size_t len, bothy_error_t *err);

/* Streams what fd holds, decompressed (gzip, bzip2, xz, zstd, or plain), to
 * sink: libarchive's "raw" format hands the decompressed stream through as
 * one entry. */
static int decompress_fd(int fd, sink_fn sink, void *userdata, bothy_error_t *err)
{
  _cleanup_archive_read_ struct archive *a = xarchive_read_new();
  if (archive_read_support_format_raw(a) != ARCHIVE_OK ||
      archive_read_open_fd(a, fd, COPY_BUF) != ARCHIVE_OK)
    return bothy_error_set_code(err, EIO, "cannot read: %s", aerr(a));
  struct archive_entry *e;
  int r = archive_read_next_header(a, &e);
  if (r == ARCHIVE_EOF)
    return 0;
  if (r < ARCHIVE_WARN)
    return bothy_error_set_code(err, EBADMSG, "cannot decompress: %s", aerr(a));
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      return 0;
    if (r < ARCHIVE_WARN)
      return bothy_error_set_code(err, EBADMSG, "cannot decompress: %s", aerr(a));
    if (len && sink(userdata, buf, len, err) < 0)
      return -1;
  }
}

/* ---- loading: state and undo --------------------------------------------- */

/* An image ready to be named once every image of the archive is in. */
struct pending {
  char *ref; /* full reference, or NULL */
  char *digest, *media_type;
  int64_t size;
};

struct load {
  struct bothy_images *imgs;
  char *tmp;          /* ROOT/tmp-load-XXXXXX, the extracted archive */
  int dirfd;          /* of tmp */
  char **added_blobs; /* what this load put in the stores, taken back on failure */
  char **added_layers;
  struct pending *pending;
  size_t n_pending;
};

static bool strv_has(char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (streq(*v, s))
      return true;
  return false;
}

static void load_undo(struct load *l)
{
  for (char **p = l->added_blobs; p && *p; p++)
    bothy_store_blob_delete(l->imgs->store, *p, NULL);
  for (char **p = l->added_layers; p && *p; p++)
    bothy_rm_rf_at(l->imgs->layers_fd, bothy_digest_hex(*p), NULL);
}

static void load_done(struct load *l)
{
  if (l->dirfd >= 0)
    l->dirfd = safe_close(l->dirfd);
  if (l->tmp) {
    bothy_rm_rf_at(AT_FDCWD, l->tmp, NULL);
    free(l->tmp);
  }
  strv_free(l->added_blobs);
  strv_free(l->added_layers);
  for (size_t i = 0; i < l->n_pending; i++) {
    free(l->pending[i].ref);
    free(l->pending[i].digest);
    free(l->pending[i].media_type);
  }
  free(l->pending);
}

static void note_blob(struct load *l, const char *digest, bool had)
{
  if (!had && !strv_has(l->added_blobs, digest))
    strv_push(&l->added_blobs, xstrdup(digest));
}

static void add_pending(struct load *l, const char *ref, const char *digest, const char *media_type,
                        int64_t size)
{
  l->pending = xrealloc(l->pending, (l->n_pending + 1) * sizeof(*l->pending));
  l->pending[l->n_pending++] = (struct pending){
    .ref = xstrdup(ref),
    .digest = xstrdup(digest),
    .media_type = xstrdup(media_type),
    .size = size,
  };
}

/* A buffer into the content store, checked against digest (NULL: any). */
static int add_blob_buffer(struct load *l, const void *buf, size_t len, const char *digest,
                           char *ret_digest, bothy_error_t *err)
{
  char d[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(buf, len, d);
  if (digest && !streq(d, digest))
    return bothy_error_set_code(err, EBADMSG, "content is %s, expected %s", d, digest);
  bool had = bothy_store_blob_exists(l->imgs->store, d, NULL) == 1;
  if (!had && bothy_store_blob_ingest_buffer(l->imgs->store, buf, len, d, NULL, err) < 0)
    return -1;
  note_blob(l, d, had);
  if (ret_digest)
    memcpy(ret_digest, d, BOTHY_DIGEST_MAX);
  return 0;
}

/* Unpacks a stored blob into the layer store, unless that layer is here. */
static int add_layer_from_blob(struct load *l, const char *blob_digest, const char *diff_id,
                               bothy_error_t *err)
{
  _cleanup_free_ char *have = bothy_images_layer_dir(l->imgs, diff_id);
  if (have)
    return 0;
  _cleanup_close_ int fd = bothy_store_blob_open(l->imgs->store, blob_digest, err);
  if (fd < 0)
    return -1;
  if (bothy_images_add_layer(l->imgs, fd, diff_id, NULL, err) < 0)
    return -1;
  if (!strv_has(l->added_layers, diff_id))
    strv_push(&l->added_layers, xstrdup(diff_id));
  return 0;
}

/* ---- loading: extraction --------------------------------------------------- */

/* A member's name made relative and canonical ("./a//b/" -> "a/b", "./" ->
 * ""). Absolute names and ".." components are refused rather than resolved:
 * no image archive needs them, and a refusal is simpler to trust. */
static int clean_member_name(const char *name, char **ret, bothy_error_t *err)
{
  if (name[0] == '/')
    return bothy_error_set_code(err, EINVAL, "member '%s' has an absolute path", name);
  _cleanup_free_ char *out = xmalloc(strlen(name) + 1);
  size_t n = 0;
  for (const char *p = name; *p;) {
    size_t len = strcspn(p, "/");
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return bothy_error_set_code(err, EINVAL,
                                  "member '%s' points outside the archive (path traversal)", name);
    if (len > 0 && !(len == 1 && p[0] == '.')) {
      if (n)
        out[n++] = '/';
      memcpy(out + n, p, len);
      n += len;
    }
    p += len;
    while (*p == '/')
      p++;
  }
  out[n] = '\0';
  *ret = TAKE_PTR(out);
  return 0;
}

/* Whether a symlink at member (a clean name) to target stays inside the
 * archive, read lexically. docker before 25 links a layer shared by two
 * images as "../<id>/layer.tar". */
static bool link_target_inside(const char *member, const char *target)
{
  if (target[0] == '/' || target[0] == '\0')
    return false;
  long depth = 0;
  for (const char *s = member; (s = strchr(s, '/')); s++)
    depth++;
  for (const char *p = target; *p;) {
    size_t len = strcspn(p, "/");
    if (len == 2 && p[0] == '.' && p[1] == '.') {
      if (--depth < 0)
        return false;
    } else if (len > 0 && !(len == 1 && p[0] == '.')) {
      depth++;
    }
    p += len;
    while (*p == '/')
      p++;
  }
  return true;
}

static int write_at(int fd, const void *buf, size_t len, off_t off)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t k = pwrite(fd, p, len, off);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += k;
    len -= (size_t) k;
    off += k;
  }
  return 0;
}

static int extract_entry(struct load *l, struct archive *a, struct archive_entry *e,
                         bothy_error_t *err)
{
  _cleanup_free_ char *name = NULL;
  if (clean_member_name(archive_entry_pathname(e), &name, err) < 0)
    return -1;
  if (!*name)
    return 0;
  mode_t type = archive_entry_filetype(e);
  const char *hardlink = archive_entry_hardlink(e);
  if (!hardlink && type == AE_IFDIR) {
    _cleanup_close_ int d = bothy_mkdir_p_in_root(l->dirfd, name, 0700, err);
    return d < 0 ? -1 : 0;
  }
  if (!hardlink && type != AE_IFREG && type != AE_IFLNK)
    return 0; /* devices, fifos: nothing an image archive holds */

  const char *slash = strrchr(name, '/');
  const char *base = slash ? slash + 1 : name;
  _cleanup_free_ char *parent = slash ? xstrndup(name, (size_t) (slash - name)) : xstrdup("/");
  _cleanup_close_ int pfd = bothy_mkdir_p_in_root(l->dirfd, parent, 0700, err);
  if (pfd < 0)
    return -1;
  /* A later member of the same name replaces the earlier one, as tar does. */
  if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "cannot replace member '%s'", name);

  if (hardlink) {
    _cleanup_free_ char *target = NULL;
    if (clean_member_name(hardlink, &target, err) < 0)
      return -1;
    _cleanup_close_ int tfd = bothy_open_in_root(l->dirfd, target, O_PATH | O_NOFOLLOW, 0);
    struct stat st;
    if (tfd < 0 || fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode))
      return bothy_error_set_code(err, EINVAL, "member '%s' is a hard link to '%s', not to a file",
                                  name, hardlink);
    if (linkat(tfd, "", pfd, base, AT_EMPTY_PATH) < 0)
      return bothy_error_errno(err, "cannot link member '%s'", name);
    return 0;
  }
  if (type == AE_IFLNK) {
    const char *target = archive_entry_symlink(e);
    if (!target || !link_target_inside(name, target))
      return bothy_error_set_code(err, EINVAL,
                                  "member '%s' is a symlink to '%s', outside the archive (path "
                                  "traversal)",
                                  name, target ? target : "");
    if (symlinkat(target, pfd, base) < 0)
      return bothy_error_errno(err, "cannot create member '%s'", name);
    return 0;
  }

  _cleanup_close_ int fd =
      openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create member '%s'", name);
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN)
      return bothy_error_set_code(err, EBADMSG, "corrupt archive: member '%s': %s", name, aerr(a));
    int k = write_at(fd, buf, len, (off_t) off);
    if (k < 0)
      return bothy_error_set(err, -k, "cannot write member '%s'", name);
  }
  /* Sparse members may end in a hole. */
  if (archive_entry_size_is_set(e) && ftruncate(fd, (off_t) archive_entry_size(e)) < 0)
    return bothy_error_errno(err, "cannot write member '%s'", name);
  return 0;
}

/* The archive's source: fd, counting bytes, so that an empty input can be
 * told from one that is not a tar. */
struct source {
  int fd;
  uint64_t total;
  char buf[COPY_BUF];
};

static la_ssize_t source_read(struct archive *a, void *userdata, const void **ret)
{
  struct source *src = userdata;
  ssize_t k;
  do
    k = read(src->fd, src->buf, sizeof(src->buf));
  while (k < 0 && errno == EINTR);
  if (k < 0) {
    archive_set_error(a, errno, "cannot read the archive");
    return -1;
  }
  src->total += (uint64_t) k;
  *ret = src->buf;
  return k;
}

static int extract(struct load *l, int fd, bothy_error_t *err)
{
  _cleanup_free_ char *tmpl = xasprintf("%s/tmp-load-XXXXXX", l->imgs->root);
  if (!mkdtemp(tmpl))
    return bothy_error_errno(err, "cannot create a directory in '%s'", l->imgs->root);
  l->tmp = TAKE_PTR(tmpl);
  l->dirfd = open(l->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (l->dirfd < 0)
    return bothy_error_errno(err, "cannot open '%s'", l->tmp);

  _cleanup_free_ struct source *src = xmalloc0(sizeof(*src));
  src->fd = fd;
  _cleanup_archive_read_ struct archive *a = xarchive_read_new();
  if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_open(a, src, NULL, source_read, NULL) != ARCHIVE_OK)
    return bothy_error_set_code(
        err, EINVAL, src->total == 0 ? "the archive is empty" : "not a tar archive: %s", aerr(a));
  size_t count = 0;
  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    if (r < ARCHIVE_WARN && count == 0 && src->total == 0)
      return bothy_error_set_code(err, EINVAL, "the archive is empty");
    if (r < ARCHIVE_WARN)
      return bothy_error_set_code(err, EINVAL,
                                  count ? "corrupt archive: %s" : "not a tar archive: %s", aerr(a));
    count++;
    if (extract_entry(l, a, e, err) < 0)
      return -1;
  }
  if (count == 0)
    return bothy_error_set_code(err, EINVAL, "the archive is empty");
  return 0;
}

/* Opens a member of the extracted archive for reading, resolved inside it
 * (a symlink cannot lead out); it must be a regular file. */
static int open_member(struct load *l, const char *name, bothy_error_t *err)
{
  _cleanup_close_ int fd = bothy_open_in_root(l->dirfd, name, O_RDONLY | O_NOCTTY, 0);
  if (fd == -ENOENT || fd == -ENOTDIR)
    return bothy_error_set_code(err, ENOENT, "'%s' is missing from the archive", name);
  if (fd < 0)
    return bothy_error_set(err, -fd, "cannot open '%s' in the archive", name);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bothy_error_errno(err, "cannot stat '%s' in the archive", name);
  if (!S_ISREG(st.st_mode))
    return bothy_error_set_code(err, EINVAL, "'%s' in the archive is not a file", name);
  return TAKE_FD(fd);
}

static bool member_exists(struct load *l, const char *name)
{
  _cleanup_close_ int fd = bothy_open_in_root(l->dirfd, name, O_PATH, 0);
  return fd >= 0;
}

static int read_member(struct load *l, const char *name, char **ret, size_t *ret_len,
                       bothy_error_t *err)
{
  _cleanup_close_ int fd = open_member(l, name, err);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat(fd, &st) < 0)
    return bothy_error_errno(err, "cannot stat '%s' in the archive", name);
  if ((uint64_t) st.st_size > DOC_MAX)
    return bothy_error_set_code(err, EFBIG, "'%s' in the archive is larger than %u bytes", name,
                                DOC_MAX);
  if (bothy_read_fd(fd, ret, ret_len, err) < 0)
    return bothy_error_prefix(err, "'%s'", name);
  return 0;
}

/* "blobs/sha256/<hex>" for a valid digest. */
static int blob_member_name(const char *digest, char **ret, bothy_error_t *err)
{
  if (bothy_digest_validate(digest, err) < 0)
    return -1;
  const char *colon = strchr(digest, ':');
  *ret = xasprintf("blobs/%.*s/%s", (int) (colon - digest), digest, colon + 1);
  return 0;
}

/* ---- loading: docker-archive ---------------------------------------------- */

struct writer_sink {
  struct bothy_store_writer *w;
};

static int writer_sink(void *userdata, const void *buf, size_t len, bothy_error_t *err)
{
  struct writer_sink *s = userdata;
  return bothy_store_writer_write(s->w, buf, len, err);
}

/* A docker-archive layer file (a tar, compressed or not) becomes an
 * uncompressed blob named by its diff_id, then a layer. */
static int load_docker_layer(struct load *l, const char *name, const char *diff_id,
                             bothy_error_t *err)
{
  _cleanup_close_ int fd = open_member(l, name, err);
  if (fd < 0)
    return -1;
  bool had = bothy_store_blob_exists(l->imgs->store, diff_id, NULL) == 1;
  if (!had) {
    _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
    if (bothy_store_writer_new(l->imgs->store, &w, err) < 0)
      return -1;
    struct writer_sink s = { w };
    if (decompress_fd(fd, writer_sink, &s, err) < 0)
      return bothy_error_prefix(err, "layer '%s'", name);
    if (bothy_store_writer_commit(w, diff_id, -1, NULL, err) < 0)
      return bothy_error_prefix(err, "layer '%s' does not match the config's diff_id", name);
    note_blob(l, diff_id, false);
  }
  if (add_layer_from_blob(l, diff_id, diff_id, err) < 0)
    return bothy_error_prefix(err, "layer '%s'", name);
  return 0;
}

static int load_docker_image(struct load *l, json_t *entry, size_t idx, bothy_error_t *err)
{
  _cleanup_free_ char *ctx = xasprintf("manifest.json[%zu]", idx);
  if (!json_is_object(entry))
    return bothy_error_set_code(err, EINVAL, "%s is not an object", ctx);
  const char *config_name = NULL;
  json_t *layers = NULL;
  if (bothy_json_string(entry, "Config", ctx, &config_name, err) < 0 ||
      bothy_json_array(entry, "Layers", ctx, &layers, err) < 0)
    return -1;
  if (!config_name || !layers)
    return bothy_error_set_code(err, EINVAL, "%s needs 'Config' and 'Layers'", ctx);
  _cleanup_strv_free_ char **tags = NULL;
  json_t *rt = json_object_get(entry, "RepoTags");
  if (rt && !json_is_null(rt) && bothy_json_strv(entry, "RepoTags", ctx, &tags, err) < 0)
    return -1;

  _cleanup_free_ char *cfg_data = NULL;
  size_t cfg_len = 0;
  if (read_member(l, config_name, &cfg_data, &cfg_len, err) < 0)
    return -1;
  _cleanup_image_config_ struct bothy_image_config *cfg = NULL;
  if (bothy_image_config_parse(cfg_data, cfg_len, config_name, &cfg, err) < 0)
    return -1;
  size_t n = json_array_size(layers);
  if (cfg->n_diff_ids != n)
    return bothy_error_set_code(err, EBADMSG, "%s lists %zu layers, its config '%s' %zu diff_ids",
                                ctx, n, config_name, cfg->n_diff_ids);

  json_t *descs = json_array();
  _cleanup_json_ json_t *m =
      json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                BOTHY_MT_OCI_MANIFEST, "config", "mediaType", BOTHY_MT_OCI_CONFIG, "digest", "",
                "size", (json_int_t) cfg_len, "layers", descs);
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(layers, i));
    if (!name)
      return bothy_error_set_code(err, EINVAL, "%s: 'Layers' must be an array of strings", ctx);
    if (load_docker_layer(l, name, cfg->diff_ids[i], err) < 0)
      return -1;
    uint64_t size = 0;
    if (bothy_store_blob_stat(l->imgs->store, cfg->diff_ids[i], &size, err) < 0)
      return -1;
    json_array_append_new(descs, json_pack("{s:s, s:s, s:I}", "mediaType", BOTHY_MT_OCI_LAYER,
                                           "digest", cfg->diff_ids[i], "size", (json_int_t) size));
  }

  /* The config byte for byte, so the image keeps docker's image ID. */
  char cfg_digest[BOTHY_DIGEST_MAX], digest[BOTHY_DIGEST_MAX];
  if (add_blob_buffer(l, cfg_data, cfg_len, NULL, cfg_digest, err) < 0)
    return bothy_error_prefix(err, "config '%s'", config_name);
  json_object_set_new(json_object_get(m, "config"), "digest", json_string(cfg_digest));
  _cleanup_free_ char *body = bothy_json_dump(m, false);
  if (add_blob_buffer(l, body, strlen(body), NULL, digest, err) < 0)
    return -1;

  if (strv_length(tags) == 0)
    add_pending(l, NULL, digest, BOTHY_MT_OCI_MANIFEST, (int64_t) strlen(body));
  for (char **t = tags; t && *t; t++) {
    _cleanup_reference_ struct bothy_reference *ref = NULL;
    if (bothy_reference_parse(*t, &ref, err) < 0)
      return bothy_error_prefix(err, "%s: RepoTags", ctx);
    if (ref->digest)
      return bothy_error_set_code(err, EINVAL, "%s: RepoTags: '%s' is not a tag", ctx, *t);
    _cleanup_free_ char *full = bothy_reference_string(ref);
    add_pending(l, full, digest, BOTHY_MT_OCI_MANIFEST, (int64_t) strlen(body));
  }
  return 0;
}

static int load_docker(struct load *l, bothy_error_t *err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (read_member(l, "manifest.json", &data, &len, err) < 0)
    return -1;
  _cleanup_json_ json_t *list = NULL;
  if (bothy_json_load_data(data, len, "manifest.json", &list, err) < 0)
    return -1;
  if (!json_is_array(list) || json_array_size(list) == 0)
    return bothy_error_set_code(err, EINVAL, "manifest.json must be a non-empty array");
  size_t i;
  json_t *entry;
  json_array_foreach (list, i, entry)
    if (load_docker_image(l, entry, i, err) < 0)
      return -1;
  return 0;
}

/* ---- loading: oci-archive --------------------------------------------------- */

/* A small blob of the layout (index, manifest, config), checked. */
static int read_oci_blob(struct load *l, const struct bothy_descriptor *d, char **ret,
                         size_t *ret_len, bothy_error_t *err)
{
  _cleanup_free_ char *name = NULL;
  if (blob_member_name(d->digest, &name, err) < 0)
    return -1;
  if (strncmp(d->digest, "sha256:", 7) != 0)
    return bothy_error_set_code(err, EOPNOTSUPP, "blob %s: only sha256 digests are supported",
                                d->digest);
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (read_member(l, name, &data, &len, err) < 0)
    return -1;
  char have[BOTHY_DIGEST_MAX];
  bothy_digest_buffer(data, len, have);
  if (!streq(have, d->digest))
    return bothy_error_set_code(err, EBADMSG, "blob '%s' has digest %s", name, have);
  if (d->size >= 0 && (uint64_t) d->size != len)
    return bothy_error_set_code(
        err, EBADMSG, "blob '%s' is %zu bytes, its descriptor says %" PRId64, name, len, d->size);
  *ret = TAKE_PTR(data);
  *ret_len = len;
  return 0;
}

static int load_oci_image(struct load *l, const struct bothy_descriptor *md, const char *ref,
                          bothy_error_t *err)
{
  _cleanup_free_ char *body = NULL, *cfg_data = NULL;
  size_t len = 0, cfg_len = 0;
  if (read_oci_blob(l, md, &body, &len, err) < 0)
    return bothy_error_prefix(err, "manifest");
  _cleanup_manifest_ struct bothy_manifest *m = NULL;
  if (bothy_manifest_parse(body, len, md->media_type, md->digest, &m, err) < 0)
    return -1;
  if (m->kind != BOTHY_MANIFEST_IMAGE)
    return bothy_error_set_code(err, EINVAL, "manifest %s: an index inside an index", md->digest);
  if (read_oci_blob(l, &m->config, &cfg_data, &cfg_len, err) < 0)
    return bothy_error_prefix(err, "config");
  _cleanup_image_config_ struct bothy_image_config *cfg = NULL;
  if (bothy_image_config_parse(cfg_data, cfg_len, m->config.digest, &cfg, err) < 0)
    return -1;
  if (cfg->n_diff_ids != m->n_layers)
    return bothy_error_set_code(err, EBADMSG, "manifest %s has %zu layers, its config %zu diff_ids",
                                md->digest, m->n_layers, cfg->n_diff_ids);

  for (size_t i = 0; i < m->n_layers; i++) {
    const struct bothy_descriptor *d = &m->layers[i];
    if (!bothy_layer_media_type_ok(d->media_type))
      return bothy_error_set_code(err, EINVAL,
                                  "layer %s: media type '%s' is not a layer bothy unpacks",
                                  d->digest, d->media_type);
    bool had = bothy_store_blob_exists(l->imgs->store, d->digest, NULL) == 1;
    if (!had) {
      _cleanup_free_ char *name = NULL;
      if (blob_member_name(d->digest, &name, err) < 0)
        return bothy_error_prefix(err, "layer");
      _cleanup_close_ int fd = open_member(l, name, err);
      if (fd < 0)
        return bothy_error_prefix(err, "layer %s", d->digest);
      if (bothy_store_blob_ingest_fd(l->imgs->store, fd, d->digest, d->size, NULL, err) < 0)
        return bothy_error_prefix(err, "layer '%s'", name);
      note_blob(l, d->digest, false);
    }
    if (add_layer_from_blob(l, d->digest, cfg->diff_ids[i], err) < 0)
      return bothy_error_prefix(err, "layer %s", d->digest);
  }
  if (add_blob_buffer(l, cfg_data, cfg_len, m->config.digest, NULL, err) < 0 ||
      add_blob_buffer(l, body, len, md->digest, NULL, err) < 0)
    return -1;
  add_pending(l, ref, md->digest, m->media_type, (int64_t) len);
  return 0;
}

/* The name an index entry gives its image: containerd's (and docker 25's)
 * full name first, then the OCI ref name; NULL if neither is a reference. */
static char *ref_from_annotations(json_t *annotations)
{
  const char *keys[] = { CONTAINERD_NAME_ANNOTATION, BOTHY_OCI_REF_NAME_ANNOTATION };
  for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
    const char *s = json_string_value(json_object_get(annotations, keys[i]));
    _cleanup_reference_ struct bothy_reference *ref = NULL;
    if (s && bothy_reference_parse(s, &ref, NULL) == 0 && !ref->digest)
      return bothy_reference_string(ref);
  }
  return NULL;
}

static int load_oci(struct load *l, bothy_error_t *err)
{
  _cleanup_free_ char *layout = NULL, *data = NULL;
  size_t len = 0;
  _cleanup_json_ json_t *lj = NULL;
  if (read_member(l, "oci-layout", &layout, &len, err) < 0 ||
      bothy_json_load_data(layout, len, "oci-layout", &lj, err) < 0)
    return -1;
  const char *version = json_string_value(json_object_get(lj, "imageLayoutVersion"));
  if (!streq(version, BOTHY_OCI_LAYOUT_VERSION))
    return bothy_error_set_code(err, EINVAL, "oci-layout: imageLayoutVersion '%s' is not supported",
                                version ? version : "");
  if (read_member(l, "index.json", &data, &len, err) < 0)
    return -1;
  _cleanup_manifest_ struct bothy_manifest *index = NULL;
  if (bothy_manifest_parse(data, len, NULL, "index.json", &index, err) < 0)
    return -1;
  if (index->kind != BOTHY_MANIFEST_INDEX)
    return bothy_error_set_code(err, EINVAL, "index.json is not an image index");
  if (index->n_manifests == 0)
    return bothy_error_set_code(err, EINVAL, "index.json lists no images");

  for (size_t i = 0; i < index->n_manifests; i++) {
    const struct bothy_descriptor *d = &index->manifests[i];
    _cleanup_free_ char *ref = ref_from_annotations(d->annotations);
    if (!streq(d->media_type, BOTHY_MT_OCI_INDEX) && !streq(d->media_type, BOTHY_MT_DOCKER_LIST)) {
      if (load_oci_image(l, d, ref, err) < 0)
        return -1;
      continue;
    }
    /* A multi-platform image: this machine's platform, as pull picks it. */
    _cleanup_free_ char *body = NULL;
    size_t blen = 0;
    _cleanup_manifest_ struct bothy_manifest *sub = NULL;
    if (read_oci_blob(l, d, &body, &blen, err) < 0 ||
        bothy_manifest_parse(body, blen, d->media_type, d->digest, &sub, err) < 0)
      return -1;
    if (sub->kind != BOTHY_MANIFEST_INDEX)
      return bothy_error_set_code(err, EINVAL, "%s is not an index", d->digest);
    const char *os, *arch, *variant;
    bothy_platform_native(&os, &arch, &variant);
    const struct bothy_descriptor *sel = NULL;
    if (bothy_manifest_select(sub, os, arch, variant, &sel, err) < 0 ||
        load_oci_image(l, sel, ref, err) < 0)
      return -1;
  }
  return 0;
}

/* ---- loading: naming ---------------------------------------------------- */

/* Whether index.json names digest under any ref. */
static bool digest_named(struct bothy_images *imgs, const char *digest)
{
  _cleanup_store_descriptors_ struct bothy_store_descriptor **all = NULL;
  size_t n = 0;
  if (bothy_store_index_list(imgs->store, &all, &n, NULL) < 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (streq(all[i]->digest, digest))
      return true;
  return false;
}

/* Points ref (or, without one, the digest itself) at the image. */
static int name_image(struct bothy_images *imgs, const char *ref, const char *digest,
                      const char *media_type, int64_t size, bothy_error_t *err)
{
  if (!ref && digest_named(imgs, digest))
    return 0;
  struct bothy_store_descriptor d = {
    .media_type = (char *) media_type,
    .digest = (char *) digest,
    .size = size,
  };
  return bothy_store_index_set(imgs->store, ref ? ref : digest, &d, err);
}

static int set_refs(struct load *l, struct bothy_loaded **ret, bothy_error_t *err)
{
  _cleanup_loaded_ struct bothy_loaded *out = xmalloc0(sizeof(*out));
  out->images = xcalloc(l->n_pending + 1, sizeof(*out->images));
  /* Names first, then the unnamed images: one that another entry of the
   * archive names needs no entry under its digest. */
  for (int named = 1; named >= 0; named--)
    for (size_t i = 0; i < l->n_pending; i++) {
      struct pending *p = &l->pending[i];
      if (!!p->ref != named)
        continue;
      if (name_image(l->imgs, p->ref, p->digest, p->media_type, p->size, err) < 0)
        return -1;
      out->images[out->n].ref = xstrdup(p->ref);
      out->images[out->n].digest = xstrdup(p->digest);
      out->n++;
    }
  *ret = TAKE_PTR(out);
  return 0;
}

int bothy_archive_load(struct bothy_images *imgs, int fd, const char *what,
                       struct bothy_loaded **ret, bothy_error_t *err)
{
  if (bothy_dlopen_archive(err) < 0)
    return -1;
  struct load l = { .imgs = imgs, .dirfd = -1 };
  int r = extract(&l, fd, err);
  if (r == 0) {
    if (member_exists(&l, "manifest.json"))
      r = load_docker(&l, err);
    else if (member_exists(&l, "index.json"))
      r = load_oci(&l, err);
    else
      r = bothy_error_set_code(err, EINVAL,
                               "neither a docker-archive (no manifest.json) nor an oci-archive (no "
                               "index.json)");
  }
  /* References last: until here a failure leaves no name pointing at
   * anything, and the undo takes back every blob and layer. Once a name is
   * set, the content stays: a later failure to set another name must not
   * leave the first pointing at deleted blobs. */
  if (r < 0)
    load_undo(&l);
  else
    r = set_refs(&l, ret, err);
  if (r < 0)
    r = bothy_error_prefix(err, "loading '%s'", what);
  load_done(&l);
  return r;
}

/* ---- saving ------------------------------------------------------------------ */

struct save_image {
  struct bothy_image *img;
  char **refs; /* full references it is saved under; may be empty */
};

struct save {
  struct bothy_images *imgs;
  struct save_image *images;
  size_t n;
  struct archive *a;
  char **written; /* member names already in the archive */
};

static void save_done(struct save *s)
{
  for (size_t i = 0; i < s->n; i++) {
    bothy_image_free(s->images[i].img);
    strv_free(s->images[i].refs);
  }
  free(s->images);
  if (s->a)
    archive_write_free(s->a);
  strv_free(s->written);
}

static int collect_images(struct save *s, char *const *names, bothy_error_t *err)
{
  for (char *const *n = names; n && *n; n++) {
    _cleanup_image_ struct bothy_image *img = NULL;
    if (bothy_images_get(s->imgs, *n, &img, err) < 0)
      return -1;
    struct save_image *si = NULL;
    for (size_t i = 0; i < s->n; i++)
      if (streq(s->images[i].img->digest, img->digest))
        si = &s->images[i];
    if (!si) {
      s->images = xrealloc(s->images, (s->n + 1) * sizeof(*s->images));
      si = &s->images[s->n++];
      *si = (struct save_image){ .img = TAKE_PTR(img), .refs = xcalloc(1, sizeof(char *)) };
    }
    const char *ref = img ? img->ref : si->img->ref;
    if (ref && !strv_has(si->refs, ref))
      strv_push(&si->refs, xstrdup(ref));
  }
  if (s->n == 0)
    return bothy_error_set_code(err, EINVAL, "no image to save");
  return 0;
}

static int write_header(struct save *s, const char *name, mode_t mode, int64_t size,
                        bothy_error_t *err)
{
  _cleanup_archive_entry_ struct archive_entry *e = archive_entry_new();
  if (!e)
    abort();
  archive_entry_set_pathname(e, name);
  archive_entry_set_mode(e, mode);
  archive_entry_set_size(e, S_ISDIR(mode) ? 0 : size);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  /* A fixed time: saving the same images twice gives the same bytes. */
  archive_entry_set_mtime(e, 0, 0);
  if (archive_write_header(s->a, e) < ARCHIVE_WARN)
    return bothy_error_set_code(err, EIO, "cannot write '%s': %s", name, aerr(s->a));
  strv_push(&s->written, xstrdup(name));
  return 0;
}

static int write_dir(struct save *s, const char *name, bothy_error_t *err)
{
  if (strv_has(s->written, name))
    return 0;
  return write_header(s, name, S_IFDIR | 0755, 0, err);
}

static int write_data(struct save *s, const char *name, const void *buf, size_t len,
                      bothy_error_t *err)
{
  if (archive_write_data(s->a, buf, len) != (la_ssize_t) len)
    return bothy_error_set_code(err, EIO, "cannot write '%s': %s", name, aerr(s->a));
  return 0;
}

static int write_buffer(struct save *s, const char *name, const void *buf, size_t len,
                        bothy_error_t *err)
{
  if (write_header(s, name, S_IFREG | 0644, (int64_t) len, err) < 0)
    return -1;
  return write_data(s, name, buf, len, err);
}

/* fd's content from its start, size bytes of it. */
static int write_fd(struct save *s, const char *name, int fd, uint64_t size, bothy_error_t *err)
{
  if (write_header(s, name, S_IFREG | 0644, (int64_t) size, err) < 0)
    return -1;
  _cleanup_free_ char *buf = xmalloc(COPY_BUF);
  uint64_t done = 0;
  while (done < size) {
    size_t want = size - done < COPY_BUF ? (size_t) (size - done) : COPY_BUF;
    ssize_t k = pread(fd, buf, want, (off_t) done);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      return bothy_error_errno(err, "cannot read the content of '%s'", name);
    if (k == 0)
      return bothy_error_set_code(
          err, EBADMSG, "the content of '%s' is shorter than %" PRIu64 " bytes", name, size);
    if (write_data(s, name, buf, (size_t) k, err) < 0)
      return -1;
    done += (uint64_t) k;
  }
  return 0;
}

static int write_blob(struct save *s, const char *digest, const char *name, bothy_error_t *err)
{
  if (strv_has(s->written, name))
    return 0;
  uint64_t size = 0;
  if (bothy_store_blob_stat(s->imgs->store, digest, &size, err) < 0)
    return -1;
  _cleanup_close_ int fd = bothy_store_blob_open(s->imgs->store, digest, err);
  if (fd < 0)
    return -1;
  return write_fd(s, name, fd, size, err);
}

struct file_sink {
  int fd;
  struct bothy_digester *d;
};

static int file_sink(void *userdata, const void *buf, size_t len, bothy_error_t *err)
{
  struct file_sink *f = userdata;
  bothy_digester_update(f->d, buf, len);
  int r = bothy_write_all(f->fd, buf, len);
  if (r < 0)
    return bothy_error_set(err, -r, "cannot write a temporary file");
  return 0;
}

/* A docker-archive layer: the uncompressed tar, whose sha256 is diff_id. A
 * compressed blob is decompressed into an unnamed temporary file first, since
 * a tar header states the size before the data. */
static int write_docker_layer(struct save *s, const struct bothy_descriptor *blob,
                              const char *diff_id, const char *name, bothy_error_t *err)
{
  if (strv_has(s->written, name))
    return 0;
  if (streq(blob->digest, diff_id))
    return write_blob(s, diff_id, name, err);
  _cleanup_close_ int src = bothy_store_blob_open(s->imgs->store, blob->digest, err);
  if (src < 0)
    return -1;
  _cleanup_close_ int tmp = open(s->imgs->root, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (tmp < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
    /* A filesystem without O_TMPFILE: a named file, unlinked at once. */
    _cleanup_free_ char *path = xasprintf("%s/tmp-save-XXXXXX", s->imgs->root);
    tmp = mkostemp(path, O_CLOEXEC);
    if (tmp >= 0)
      unlink(path);
  }
  if (tmp < 0)
    return bothy_error_errno(err, "cannot create a temporary file in '%s'", s->imgs->root);
  _cleanup_digester_ struct bothy_digester *d = bothy_digester_new();
  struct file_sink f = { tmp, d };
  if (decompress_fd(src, file_sink, &f, err) < 0)
    return bothy_error_prefix(err, "layer %s", blob->digest);
  char have[BOTHY_DIGEST_MAX];
  bothy_digester_final(d, have);
  if (!streq(have, diff_id))
    return bothy_error_set_code(err, EBADMSG, "layer %s decompresses to %s, the config says %s",
                                blob->digest, have, diff_id);
  struct stat st;
  if (fstat(tmp, &st) < 0)
    return bothy_error_errno(err, "cannot stat a temporary file");
  return write_fd(s, name, tmp, (uint64_t) st.st_size, err);
}

static int save_docker(struct save *s, bothy_error_t *err)
{
  _cleanup_json_ json_t *manifest = json_array();
  for (size_t i = 0; i < s->n; i++) {
    struct bothy_image *img = s->images[i].img;
    const struct bothy_manifest *m = img->manifest;
    if (m->n_layers != img->config->n_diff_ids)
      return bothy_error_set_code(err, EBADMSG, "image %s: %zu layers, %zu diff_ids", img->digest,
                                  m->n_layers, img->config->n_diff_ids);
    _cleanup_free_ char *cfg_name = xasprintf("%s.json", bothy_digest_hex(m->config.digest));
    json_t *layers = json_array();
    json_t *entry = json_pack("{s:s, s:o}", "Config", cfg_name, "Layers", layers);
    json_array_append_new(manifest, entry);
    for (size_t k = 0; k < m->n_layers; k++) {
      const char *diff_id = img->config->diff_ids[k];
      _cleanup_free_ char *dir = xasprintf("%s/", bothy_digest_hex(diff_id));
      _cleanup_free_ char *name = xasprintf("%slayer.tar", dir);
      if (write_dir(s, dir, err) < 0 ||
          write_docker_layer(s, &m->layers[k], diff_id, name, err) < 0)
        return bothy_error_prefix(err, "image '%s'", img->ref ? img->ref : img->digest);
      json_array_append_new(layers, json_string(name));
    }
    if (write_blob(s, m->config.digest, cfg_name, err) < 0)
      return bothy_error_prefix(err, "image '%s'", img->ref ? img->ref : img->digest);
    /* Full names, not docker's short ones: docker reads both alike, but
     * podman takes "busybox:latest" for "localhost/busybox:latest". */
    json_t *tags = json_array();
    for (char **r = s->images[i].refs; *r; r++)
      json_array_append_new(tags, json_string(*r));
    /* docker writes null for an image saved by ID. */
    json_object_set_new(entry, "RepoTags", json_array_size(tags) ? tags : json_null());
    if (!json_array_size(tags))
      json_decref(tags);
  }
  _cleanup_free_ char *body = bothy_json_dump(manifest, false);
  return write_buffer(s, "manifest.json", body, strlen(body), err);
}

static int save_oci(struct save *s, bothy_error_t *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"" BOTHY_OCI_LAYOUT_VERSION "\"}";
  if (write_buffer(s, "oci-layout", layout, strlen(layout), err) < 0 ||
      write_dir(s, "blobs/", err) < 0 || write_dir(s, "blobs/sha256/", err) < 0)
    return -1;
  json_t *entries = json_array();
  _cleanup_json_ json_t *index = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
                                           BOTHY_MT_OCI_INDEX, "manifests", entries);
  for (size_t i = 0; i < s->n; i++) {
    struct bothy_image *img = s->images[i].img;
    const struct bothy_manifest *m = img->manifest;
    /* The layers, then the config. */
    for (size_t k = 0; k <= m->n_layers; k++) {
      const char *digest = k < m->n_layers ? m->layers[k].digest : m->config.digest;
      _cleanup_free_ char *name = NULL;
      if (blob_member_name(digest, &name, err) < 0 || write_blob(s, digest, name, err) < 0)
        return bothy_error_prefix(err, "image '%s'", img->ref ? img->ref : img->digest);
    }
    _cleanup_free_ char *mname = NULL;
    uint64_t msize = 0;
    if (blob_member_name(img->digest, &mname, err) < 0 ||
        write_blob(s, img->digest, mname, err) < 0 ||
        bothy_store_blob_stat(s->imgs->store, img->digest, &msize, err) < 0)
      return bothy_error_prefix(err, "image '%s'", img->ref ? img->ref : img->digest);
    size_t nrefs = strv_length(s->images[i].refs);
    for (size_t k = 0; k < (nrefs ? nrefs : 1); k++) {
      json_t *e = json_pack("{s:s, s:s, s:I}", "mediaType", m->media_type, "digest", img->digest,
                            "size", (json_int_t) msize);
      if (nrefs)
        json_object_set_new(e, "annotations",
                            json_pack("{s:s, s:s}", BOTHY_OCI_REF_NAME_ANNOTATION,
                                      s->images[i].refs[k], CONTAINERD_NAME_ANNOTATION,
                                      s->images[i].refs[k]));
      json_array_append_new(entries, e);
    }
  }
  _cleanup_free_ char *body = bothy_json_dump(index, false);
  return write_buffer(s, "index.json", body, strlen(body), err);
}

static int save_to_fd(struct save *s, enum bothy_archive_format format, int fd, bothy_error_t *err)
{
  s->a = archive_write_new();
  if (!s->a)
    abort();
  /* ustar where it fits, pax headers only for what ustar cannot say (a
   * layer over 8 GiB): what docker and skopeo write and every tar reads. */
  if (archive_write_set_format_pax_restricted(s->a) != ARCHIVE_OK ||
      archive_write_add_filter_none(s->a) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(s->a, 1) != ARCHIVE_OK ||
      archive_write_open_fd(s->a, fd) != ARCHIVE_OK)
    return bothy_error_set_code(err, EIO, "cannot write the archive: %s", aerr(s->a));
  int r = format == BOTHY_ARCHIVE_DOCKER ? save_docker(s, err) : save_oci(s, err);
  if (r < 0)
    return r;
  if (archive_write_close(s->a) != ARCHIVE_OK)
    return bothy_error_set_code(err, EIO, "cannot write the archive: %s", aerr(s->a));
  return 0;
}

int bothy_archive_save(struct bothy_images *imgs, char *const *names,
                       enum bothy_archive_format format, const char *path, int fd,
                       bothy_error_t *err)
{
  if (bothy_dlopen_archive(err) < 0)
    return -1;
  if (!bothy_archive_format_to_string(format))
    return bothy_error_set_code(err, EINVAL, "unknown archive format");
  struct save s = { .imgs = imgs };
  int r = collect_images(&s, names, err);
  if (r < 0 || !path) {
    if (r == 0)
      r = save_to_fd(&s, format, fd, err);
    save_done(&s);
    return r < 0 ? bothy_error_prefix(err, "saving") : 0;
  }

  /* Beside path, so the rename stays in one filesystem. */
  const char *slash = strrchr(path, '/');
  _cleanup_free_ char *tmp =
      slash ? xasprintf("%.*s/.%s.tmp-XXXXXX", (int) (slash - path), path, slash + 1)
            : xasprintf(".%s.tmp-XXXXXX", path);
  _cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
  if (out < 0) {
    r = bothy_error_errno(err, "cannot create a file beside '%s'", path);
  } else {
    r = save_to_fd(&s, format, out, err);
    if (r == 0 && fchmod(out, 0644) < 0)
      r = bothy_error_errno(err, "cannot chmod '%s'", tmp);
    if (r == 0 && fsync(out) < 0)
      r = bothy_error_errno(err, "cannot write '%s'", tmp);
    if (r == 0 && rename(tmp, path) < 0)
      r = bothy_error_errno(err, "cannot rename '%s' to '%s'", tmp, path);
    if (r < 0)
      unlink(tmp);
  }
  save_done(&s);
  return r < 0 ? bothy_error_prefix(err, "saving '%s'", path) : 0;
}

/* ---- import -------------------------------------------------------------------- */

struct import_sink {
  struct bothy_store_writer *w;
  struct bothy_digester *d;
};

static int import_sink(void *userdata, const void *buf, size_t len, bothy_error_t *err)
{
  struct import_sink *s = userdata;
  bothy_digester_update(s->d, buf, len);
  return bothy_store_writer_write(s->w, buf, len, err);
}

static int import_layer(struct load *l, int fd, char *ret_diff_id, uint64_t *ret_size,
                        bothy_error_t *err)
{
  _cleanup_store_writer_ struct bothy_store_writer *w = NULL;
  if (bothy_store_writer_new(l->imgs->store, &w, err) < 0)
    return -1;
  _cleanup_digester_ struct bothy_digester *d = bothy_digester_new();
  struct import_sink s = { w, d };
  if (decompress_fd(fd, import_sink, &s, err) < 0)
    return -1;
  char diff_id[BOTHY_DIGEST_MAX];
  bothy_digester_final(d, diff_id);
  uint64_t size = bothy_store_writer_size(w);
  if (size == 0)
    return bothy_error_set_code(err, EINVAL, "the tarball is empty");
  bool had = bothy_store_blob_exists(l->imgs->store, diff_id, NULL) == 1;
  if (bothy_store_writer_commit(w, diff_id, (int64_t) size, NULL, err) < 0)
    return -1;
  note_blob(l, diff_id, had);
  if (add_layer_from_blob(l, diff_id, diff_id, err) < 0)
    return -1;
  memcpy(ret_diff_id, diff_id, BOTHY_DIGEST_MAX);
  *ret_size = size;
  return 0;
}

static int import_image(struct load *l, int fd, const char *full, char **ret_digest,
                        bothy_error_t *err)
{
  char diff_id[BOTHY_DIGEST_MAX];
  uint64_t size = 0;
  if (import_layer(l, fd, diff_id, &size, err) < 0)
    return -1;

  const char *os, *arch, *variant;
  bothy_platform_native(&os, &arch, &variant);
  char created[64];
  struct tm tm;
  time_t now = time(NULL);
  strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  _cleanup_json_ json_t *cfg = json_pack(
      "{s:s, s:s, s:s, s:{s:[s]}, s:{s:s, s:[s]}, s:[{s:s, s:s}]}", "created", created, "os", os,
      "architecture", arch, "config", "Env", DEFAULT_PATH, "rootfs", "type", "layers", "diff_ids",
      diff_id, "history", "created", created, "created_by", "bothy import");
  if (variant)
    json_object_set_new(cfg, "variant", json_string(variant));
  _cleanup_free_ char *cfg_body = bothy_json_dump(cfg, false);
  char cfg_digest[BOTHY_DIGEST_MAX], digest[BOTHY_DIGEST_MAX];
  if (add_blob_buffer(l, cfg_body, strlen(cfg_body), NULL, cfg_digest, err) < 0)
    return -1;
  _cleanup_json_ json_t *m =
      json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2,
                "mediaType", BOTHY_MT_OCI_MANIFEST, "config", "mediaType", BOTHY_MT_OCI_CONFIG,
                "digest", cfg_digest, "size", (json_int_t) strlen(cfg_body), "layers", "mediaType",
                BOTHY_MT_OCI_LAYER, "digest", diff_id, "size", (json_int_t) size);
  _cleanup_free_ char *body = bothy_json_dump(m, false);
  if (add_blob_buffer(l, body, strlen(body), NULL, digest, err) < 0)
    return -1;
  if (name_image(l->imgs, full, digest, BOTHY_MT_OCI_MANIFEST, (int64_t) strlen(body), err) < 0)
    return -1;
  if (ret_digest)
    *ret_digest = xstrdup(digest);
  return 0;
}

int bothy_archive_import(struct bothy_images *imgs, int fd, const char *what, const char *ref,
                         char **ret_digest, bothy_error_t *err)
{
  if (bothy_dlopen_archive(err) < 0)
    return -1;
  _cleanup_free_ char *full = NULL;
  if (ref) {
    _cleanup_reference_ struct bothy_reference *r = NULL;
    if (bothy_reference_parse(ref, &r, err) < 0)
      return -1;
    if (r->digest)
      return bothy_error_set_code(err, EINVAL, "cannot name an image with a digest: '%s'", ref);
    full = bothy_reference_string(r);
  }
  struct load l = { .imgs = imgs, .dirfd = -1 };
  int r = import_image(&l, fd, full, ret_digest, err);
  if (r < 0) {
    load_undo(&l);
    r = bothy_error_prefix(err, "importing '%s'", what);
  }
  load_done(&l);
  return r;
}
