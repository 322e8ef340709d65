/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The content store: a directory that is a valid OCI image layout
 * (image-spec image-layout.md), so skopeo, umoci and podman can read it as is:
 *
 *   oci-layout          {"imageLayoutVersion":"1.0.0"}
 *   index.json          an image index; its manifests[] are the store's refs
 *   blobs/sha256/<hex>  content, named by its digest, mode 0644
 *   blobs/.tmp/         blobs being written (not part of the layout)
 *   .lock               flock()ed around every index.json read-modify-write
 *
 * Invariants:
 * - A blob file under its digest is always complete and has that digest: data
 *   is streamed into a temporary file, hashed on the way (by the writer, or by
 *   the caller of bothy_store_writer_new_unhashed()), checked, fsynced and
 *   only then renamed into place. A blob that exists is never rewritten.
 * - index.json is replaced atomically (bothy_write_file_atomic) under the lock,
 *   so concurrent bothy processes never lose each other's updates and readers
 *   (who take no lock) see the old or the new file, never a mix.
 * - Blob ingest takes no lock: temporary names are unique, the rename atomic.
 * - Every function taking a digest checks it with bothy_digest_validate()
 *   before touching the filesystem ("sha256:../../x" never becomes a path) and
 *   fails with -EINVAL. Reading accepts any digest the validator accepts;
 *   writing and verifying need sha256 (-EOPNOTSUPP otherwise).
 *
 * Errors follow base/error.h. Codes worth testing for: -ENOENT (no such blob),
 * -EBADMSG (content does not match its digest or size; the message names both
 * digests, or both sizes), -EINVAL (invalid digest or ref name), -EFBIG (blob
 * larger than the caller's cap). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "base/error.h"

#define BOTHY_OCI_LAYOUT_VERSION        "1.0.0"
#define BOTHY_OCI_REF_NAME_ANNOTATION   "org.opencontainers.image.ref.name"
#define BOTHY_OCI_MEDIA_TYPE_INDEX      "application/vnd.oci.image.index.v1+json"
#define BOTHY_OCI_MEDIA_TYPE_MANIFEST   "application/vnd.oci.image.manifest.v1+json"
#define BOTHY_OCI_MEDIA_TYPE_CONFIG     "application/vnd.oci.image.config.v1+json"
#define BOTHY_OCI_MEDIA_TYPE_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

/* Temporary files older than this are removed by bothy_store_gc_tmp(). */
#define BOTHY_STORE_TMP_MAX_AGE_SEC 3600

struct bothy_store;

/* Opens the store at path, creating the directory, oci-layout, index.json
 * ({"schemaVersion":2,"mediaType":<index>,"manifests":[]}) and blobs/sha256/
 * when missing (under the lock, so two processes creating it at once agree).
 * An existing store whose oci-layout is not valid JSON or names another
 * version than 1.0.0 is refused. Opening an existing, complete store only
 * reads it. *ret is owned by the caller (bothy_store_free). */
int bothy_store_open(const char *path, struct bothy_store **ret, bothy_error_t *err);
struct bothy_store *bothy_store_free(struct bothy_store *s); /* NULL-safe, returns NULL */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_store *, bothy_store_free)
#define _cleanup_store_ _cleanup_(bothy_store_freep)

/* The path given to bothy_store_open (borrowed). */
const char *bothy_store_path(const struct bothy_store *s);
/* The store directory's fd (borrowed, O_DIRECTORY). */
int bothy_store_dirfd(const struct bothy_store *s);

/* ---- Writing blobs ---- */

/* A blob being written. It borrows the store, which must outlive it. */
struct bothy_store_writer;

/* Starts a blob: creates a uniquely named file in blobs/.tmp/. */
int bothy_store_writer_new(struct bothy_store *s, struct bothy_store_writer **ret,
                           bothy_error_t *err);
/* The same for bytes whose digest the caller computes and checks itself as
 * they go by, before it commits (a registry download: the client hashes the
 * very bytes it hands to the writer, and fails on a mismatch), so that they
 * are not hashed twice. The writer takes the caller's word: commit needs
 * expected_digest (EINVAL without it), checks the size only, and names the
 * blob expected_digest. */
int bothy_store_writer_new_unhashed(struct bothy_store *s, struct bothy_store_writer **ret,
                                    bothy_error_t *err);
/* Appends len bytes (hashed on the way). After a failed write the writer only
 * accepts bothy_store_writer_abort(). */
int bothy_store_writer_write(struct bothy_store_writer *w, const void *buf, size_t len,
                             bothy_error_t *err);
/* Bytes written so far. */
uint64_t bothy_store_writer_size(const struct bothy_store_writer *w);
/* Finishes the blob: checks the size against expected_size (skipped when
 * negative) and the digest against expected_digest (skipped when NULL; must be
 * sha256), then fsyncs and renames it to blobs/sha256/<hex>; when that blob
 * already exists the temporary file is dropped (same name, same content).
 * On a mismatch (-EBADMSG) the temporary file is removed and nothing is left
 * behind. Either way the writer is finished: free it with _abort(). The
 * computed digest goes to ret_digest (optional, BOTHY_DIGEST_MAX bytes) on
 * success. */
int bothy_store_writer_commit(struct bothy_store_writer *w, const char *expected_digest,
                              int64_t expected_size, char *ret_digest, bothy_error_t *err);
/* Frees the writer; if it was not committed, removes its temporary file.
 * NULL-safe, returns NULL. */
struct bothy_store_writer *bothy_store_writer_abort(struct bothy_store_writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_store_writer *, bothy_store_writer_abort)
#define _cleanup_store_writer_ _cleanup_(bothy_store_writer_abortp)

/* A whole buffer, checked against expected_digest (NULL: any). When the blob
 * is already there nothing is written. */
int bothy_store_blob_ingest_buffer(struct bothy_store *s, const void *buf, size_t len,
                                   const char *expected_digest, char *ret_digest,
                                   bothy_error_t *err);
/* Everything readable from fd until EOF (fd stays open and the caller's),
 * checked as bothy_store_writer_commit() does. A stream that ends early fails
 * with -EBADMSG naming both sizes. */
int bothy_store_blob_ingest_fd(struct bothy_store *s, int fd, const char *expected_digest,
                               int64_t expected_size, char *ret_digest, bothy_error_t *err);

/* ---- Reading blobs ---- */

/* 1 if the blob is there, 0 if not. */
int bothy_store_blob_exists(struct bothy_store *s, const char *digest, bothy_error_t *err);
/* The blob's size; -ENOENT if it is not there. */
int bothy_store_blob_stat(struct bothy_store *s, const char *digest, uint64_t *ret_size,
                          bothy_error_t *err);
/* A read-only O_CLOEXEC fd on the blob (the caller closes it), returned as the
 * non-negative result; -ENOENT if the blob is not there. The content is not
 * re-hashed: use bothy_store_blob_verify() or hash while reading. */
int bothy_store_blob_open(struct bothy_store *s, const char *digest, bothy_error_t *err);
/* Reads a whole blob (manifests, configs) into *ret (NUL-terminated, the
 * caller frees), refusing one larger than max_size (-EFBIG), and checks its
 * digest (-EBADMSG) since such small documents are about to be trusted. */
int bothy_store_blob_read(struct bothy_store *s, const char *digest, size_t max_size, char **ret,
                          size_t *ret_len, bothy_error_t *err);
/* Re-hashes the blob on disk: 0 if it matches its name, -EBADMSG naming both
 * digests if not. */
int bothy_store_blob_verify(struct bothy_store *s, const char *digest, bothy_error_t *err);

/* Removes a blob (for prune; the caller makes sure nothing references it).
 * 1 if removed, 0 if it was not there. */
int bothy_store_blob_delete(struct bothy_store *s, const char *digest, bothy_error_t *err);
/* All sha256 blobs as "sha256:<hex>", sorted; *ret is a strv the caller frees
 * (an empty store gives an empty, non-NULL strv). */
int bothy_store_blob_list(struct bothy_store *s, char ***ret, bothy_error_t *err);

/* Removes temporary files under blobs/.tmp/ left by killed processes: those
 * not modified for BOTHY_STORE_TMP_MAX_AGE_SEC, or all of them when `all` is
 * set (only when no other bothy process may be writing a blob). Returns how
 * many were removed. */
int bothy_store_gc_tmp(struct bothy_store *s, bool all, bothy_error_t *err);
/* Removes the temporary files that the process pid (gone: killed before it
 * could commit or abort its writers) left. Returns how many were removed. */
int bothy_store_gc_tmp_of(struct bothy_store *s, pid_t pid, bothy_error_t *err);

/* ---- The index (index.json manifests[]) ---- */

/* A descriptor of index.json's manifests[]. All fields are owned by the
 * descriptor. */
struct bothy_store_descriptor {
  char *media_type;
  char *digest;
  int64_t size;
  char *ref_name;      /* the org.opencontainers.image.ref.name annotation, or NULL */
  json_t *annotations; /* object or NULL; includes the ref name when there is one */
  json_t *platform;    /* object or NULL */
};
struct bothy_store_descriptor *bothy_store_descriptor_free(struct bothy_store_descriptor *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_store_descriptor *, bothy_store_descriptor_free)
#define _cleanup_store_descriptor_ _cleanup_(bothy_store_descriptor_freep)
/* Frees a NULL-terminated array of descriptors. NULL-safe, returns NULL. */
struct bothy_store_descriptor **bothy_store_descriptors_free(struct bothy_store_descriptor **v);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_store_descriptor **, bothy_store_descriptors_free)
#define _cleanup_store_descriptors_ _cleanup_(bothy_store_descriptors_freep)

/* Checks a ref name against the image-layout grammar
 * (component ("/" component)*, component = alphanum (separator alphanum)*,
 * separator = [-._:@+] or "--"); -EINVAL with a message quoting it. */
int bothy_store_ref_name_validate(const char *ref_name, bothy_error_t *err);

/* Points ref_name at desc: every descriptor carrying that ref name is removed
 * and desc is appended with the ref name annotation set to ref_name
 * (desc->ref_name is ignored; desc->annotations and desc->platform are
 * copied). The blob must be in the store with desc->size bytes (-ENOENT,
 * -EBADMSG), so index.json never points at missing content. Other entries
 * and fields of index.json are kept as they are. */
int bothy_store_index_set(struct bothy_store *s, const char *ref_name,
                          const struct bothy_store_descriptor *desc, bothy_error_t *err);
/* Removes every descriptor with that ref name: 1 if any was, 0 if none. */
int bothy_store_index_remove(struct bothy_store *s, const char *ref_name, bothy_error_t *err);
/* 1 and *ret (caller frees) if ref_name is in the index, 0 if not. */
int bothy_store_index_lookup(struct bothy_store *s, const char *ref_name,
                             struct bothy_store_descriptor **ret, bothy_error_t *err);
/* Every descriptor of index.json in order, with or without a ref name, as a
 * NULL-terminated array (caller frees with bothy_store_descriptors_free). */
int bothy_store_index_list(struct bothy_store *s, struct bothy_store_descriptor ***ret,
                           size_t *ret_n, bothy_error_t *err);
