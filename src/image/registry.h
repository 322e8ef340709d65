/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* A client for one registry host: the Docker Registry HTTP API v2, which the
 * OCI distribution spec standardises. On libcurl; no threads.
 *
 * Ownership: a client is created by bothy_registry_new() and released with
 * bothy_registry_free(); it copies what it needs from the options. Strings
 * returned through ret_* are newly allocated and freed by the caller; ret_*
 * are written only on success.
 *
 * Repository names are paths on the host ("library/busybox" on docker.io,
 * "team/app" on 127.0.0.1:5000), not full references.
 *
 * Authentication (distribution's docs/spec/auth/token.md):
 *  - nothing is sent until the registry asks with a 401;
 *  - a "Basic" challenge: the request is repeated with the configured
 *    username/password; without them it is an authentication error;
 *  - a "Bearer" challenge: a token is fetched from the challenge's realm with
 *    service= and scope=repository:REPO:pull (":pull,push" when pushing),
 *    sending the username/password as Basic when configured, and the request
 *    is repeated with "Authorization: Bearer". Tokens are cached per scope
 *    until they expire ("expires_in", 60 s when absent), and fetched ahead of
 *    the request once the client has seen the registry's challenge. A 401 on
 *    a freshly fetched token is an error. Credentials are not sent to a token
 *    realm over plain http unless the client is insecure.
 *  - Redirects (blob downloads are often redirected to object storage) are
 *    followed for GET and HEAD only, to http(s) only (https only unless
 *    insecure), and without the Authorization header or credentials when the
 *    redirect leaves the registry's host (CURLOPT_UNRESTRICTED_AUTH is off:
 *    a presigned storage URL must not receive the registry token).
 *
 * Retries: connection-level failures, 408, 429 (honouring Retry-After up to
 * BOTHY_REGISTRY_RETRY_AFTER_MAX seconds) and 5xx are retried up to
 * opts.retries times with exponential backoff (250 ms, doubling, at most 8 s).
 * Other 4xx are never retried. A blob download is retried only while nothing
 * has been passed to the sink yet; an upload is restarted from a new upload
 * session.
 *
 * Errors: every message names what was being done, on which host and
 * repository, and why, with the HTTP status and the registry's JSON error
 * codes when it sent some:
 *   pulling manifest 'busybox:latest' from '127.0.0.1:5000': 404 Not Found
 *   (MANIFEST_UNKNOWN: manifest unknown)
 * The error code (and the negative return value) says what kind of failure:
 *   ENOENT   404 (manifest/blob/repository unknown)
 *   EACCES   401: authentication required (bad or missing credentials)
 *   EPERM    403: access denied
 *   EAGAIN   a transient failure (network, 408, 429, 5xx) after all retries
 *   EBADMSG  content does not match its digest or size
 *   EFBIG    a manifest or token response larger than the cap
 *   EPROTO   any other unexpected answer
 *   EINVAL   bad arguments (repository name, reference, digest)
 *   or the code of an error returned by a sink.
 * Library code never prints. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

#define BOTHY_REGISTRY_MEDIA_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define BOTHY_REGISTRY_MEDIA_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define BOTHY_REGISTRY_MEDIA_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define BOTHY_REGISTRY_MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* Manifests and token responses larger than this are refused (containerd and
 * containers/image cap manifests at 4 MiB too). */
#define BOTHY_REGISTRY_MANIFEST_MAX    (4u * 1024 * 1024)
#define BOTHY_REGISTRY_RETRY_AFTER_MAX 60 /* seconds */

/* The four manifest types above, NULL-terminated: the Accept list used when a
 * caller passes NULL. */
extern const char *const bothy_registry_default_accept[];

struct bothy_registry_opts {
  /* "127.0.0.1:5000", "quay.io"; "docker.io" (and "index.docker.io") talk
   * to registry-1.docker.io. Messages use the name as given. Required. */
  const char *host;
  bool insecure; /* plain http instead of https */
  /* Deliberately the negative of the usual "tls_verify": a zeroed options
   * struct must verify certificates. Ignored when insecure. */
  bool tls_skip_verify;
  const char *ca_file;  /* PEM bundle to trust instead of the system's; NULL: system */
  const char *username; /* NULL: anonymous */
  const char *password;
  int retries; /* extra attempts on transient failures; 0: none */
};

struct bothy_registry;

/* Copies opts; does no network I/O. Fails (EINVAL) on a missing host. */
int bothy_registry_new(const struct bothy_registry_opts *opts, struct bothy_registry **ret,
                       bothy_error_t *err);
struct bothy_registry *bothy_registry_free(struct bothy_registry *reg); /* NULL-safe */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_registry *, bothy_registry_free)
#define _cleanup_registry_ _cleanup_(bothy_registry_freep)

/* GET /v2/REPO/manifests/REFERENCE (a tag or a digest). accept: media types
 * for the Accept header, NULL-terminated; NULL means
 * bothy_registry_default_accept. Returns 0 and:
 *   *ret_body, *ret_len   the manifest bytes exactly as served (NUL-terminated
 *                         for convenience; ret_len excludes the NUL)
 *   *ret_media_type       Content-Type without parameters; when the server
 *                         says nothing more useful than application/json, the
 *                         body's "mediaType" (may be "" if neither says)
 *   *ret_digest           sha256 of the body
 * Any ret_* may be NULL. When reference is a digest, the body must hash to it
 * (sha256 only; a sha512 reference fails with EINVAL); when the server sends
 * Docker-Content-Digest (sha256), the body must hash to that too (EBADMSG). */
int bothy_registry_get_manifest(struct bothy_registry *reg, const char *repo, const char *reference,
                                const char *const *accept, char **ret_body, size_t *ret_len,
                                char **ret_media_type, char **ret_digest, bothy_error_t *err);

/* HEAD /v2/REPO/manifests/REFERENCE. Returns 1 when it exists (filling the
 * optional ret_*: media type, Docker-Content-Digest or "" when not sent,
 * Content-Length or -1), 0 on 404, negative on error. */
int bothy_registry_head_manifest(struct bothy_registry *reg, const char *repo,
                                 const char *reference, const char *const *accept,
                                 char **ret_media_type, char **ret_digest, int64_t *ret_size,
                                 bothy_error_t *err);

/* PUT /v2/REPO/manifests/REFERENCE (a tag, or the body's digest) with
 * Content-Type media_type. Every blob the manifest references must already be
 * in the repository. *ret_digest (optional) is the body's sha256. */
int bothy_registry_put_manifest(struct bothy_registry *reg, const char *repo, const char *reference,
                                const void *body, size_t len, const char *media_type,
                                char **ret_digest, bothy_error_t *err);

/* HEAD /v2/REPO/blobs/DIGEST. Returns 1 when it exists (*ret_size, optional:
 * its Content-Length, or -1 when not sent), 0 on 404, negative on error. */
int bothy_registry_head_blob(struct bothy_registry *reg, const char *repo, const char *digest,
                             int64_t *ret_size, bothy_error_t *err);
/* The same without the size, for pushing. */
int bothy_registry_blob_exists(struct bothy_registry *reg, const char *repo, const char *digest,
                               bothy_error_t *err);

/* A blob's bytes go to a sink as they arrive. The sink returns >= 0, or a
 * negative value with *err set to abort the transfer; that error is passed up
 * with context added. */
typedef int (*bothy_registry_sink_t)(void *data, const void *buf, size_t len, bothy_error_t *err);

/* GET /v2/REPO/blobs/DIGEST, streamed to sink (no temporary file), following
 * redirects as described above. expected_size >= 0 is the size from the
 * descriptor: more bytes than that abort the transfer, fewer fail at the end.
 * The bytes are hashed on the way; a mismatch with digest fails with EBADMSG
 * after the whole blob went to the sink, so the sink's consumer must hold its
 * writes until this returns 0 (write to a temporary name, commit on success). */
int bothy_registry_get_blob(struct bothy_registry *reg, const char *repo, const char *digest,
                            int64_t expected_size, bothy_registry_sink_t sink, void *data,
                            bothy_error_t *err);

/* The same download as an object whose CURL handle the caller runs, so that a
 * curl_multi handle can drive several at once; bothy_registry_get_blob() is
 * new + curl_easy_perform + done in a loop.
 *
 *   new()   prepares the handle; it may fetch a token first (blocking) when
 *           the client already knows the registry's Bearer challenge.
 *   curl()  the handle to run (owned by the transfer; do not clean it up).
 *   done()  after the handle finished (curl_easy_perform's result, or
 *           CURLMSG_DONE's data.result), and after it was removed from any
 *           multi handle. Returns 0 when the blob arrived and was verified,
 *           negative with *err on failure, or 1 when the same handle must be
 *           run again after *ret_delay_ms milliseconds (a 401 answered with a
 *           fresh token, which done() fetched blocking, or a retryable
 *           failure before any byte went to the sink).
 */
struct bothy_registry_transfer;
int bothy_registry_blob_transfer_new(struct bothy_registry *reg, const char *repo,
                                     const char *digest, int64_t expected_size,
                                     bothy_registry_sink_t sink, void *data,
                                     struct bothy_registry_transfer **ret, bothy_error_t *err);
CURL *bothy_registry_transfer_curl(struct bothy_registry_transfer *t);
int bothy_registry_transfer_done(struct bothy_registry_transfer *t, CURLcode result,
                                 unsigned *ret_delay_ms, bothy_error_t *err);
struct bothy_registry_transfer *bothy_registry_transfer_free(struct bothy_registry_transfer *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_registry_transfer *, bothy_registry_transfer_free)
#define _cleanup_registry_transfer_ _cleanup_(bothy_registry_transfer_freep)

/* POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=FROM_REPO. Returns 1 when
 * the registry mounted the blob (201), 0 when it did not (202: the upload
 * session it opened instead is cancelled; upload the blob), negative on
 * error. */
int bothy_registry_mount_blob(struct bothy_registry *reg, const char *repo, const char *digest,
                              const char *from_repo, bothy_error_t *err);

/* Uploads size bytes read from fd (with pread, from offset 0; the fd's
 * position is not used or moved) as blob digest. chunk_size 0: monolithic
 * (POST, then one PUT ?digest= with the body); otherwise chunked (POST, PATCH
 * chunks of chunk_size bytes with Content-Range, then PUT ?digest=). The
 * registry checks the digest; a mismatch fails (its DIGEST_INVALID). */
int bothy_registry_upload_blob(struct bothy_registry *reg, const char *repo, int fd, uint64_t size,
                               const char *digest, uint64_t chunk_size, bothy_error_t *err);
