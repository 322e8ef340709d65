/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Content digests as OCI writes them: "sha256:<64 lowercase hex>" (sha512 is
 * accepted when parsing, for completeness; bothy computes sha256). Streaming,
 * on OpenSSL's EVP interface. */
#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

#define BOTHY_DIGEST_MAX 136 /* "sha512:" + 128 hex + NUL, rounded */

struct bothy_digester;

/* A new sha256 digester. Never NULL (allocation failure aborts). */
struct bothy_digester *bothy_digester_new(void);
void bothy_digester_update(struct bothy_digester *d, const void *buf, size_t len);
/* Writes "sha256:<hex>" into ret (at least BOTHY_DIGEST_MAX bytes). The
 * digester may not be updated afterwards. */
void bothy_digester_final(struct bothy_digester *d, char *ret);
struct bothy_digester *bothy_digester_free(struct bothy_digester *d); /* NULL-safe */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_digester *, bothy_digester_free)
#define _cleanup_digester_ _cleanup_(bothy_digester_freep)

/* One-shot sha256 of a buffer ("sha256:<hex>" into ret). */
void bothy_digest_buffer(const void *buf, size_t len, char *ret);
/* SHA-256 without libcrypto (what bothy_digest_buffer uses up to 1 MiB). */
void bothy_sha256_plain(const void *buf, size_t len, unsigned char out[32]);

/* Checks "algorithm:encoded" per the OCI image spec's descriptor rules, and
 * that sha256/sha512 have the right length of lowercase hex. The message
 * quotes the digest. */
int bothy_digest_validate(const char *digest, bothy_error_t *err);

/* nbytes random bytes (getrandom) as lowercase hex; 32 bytes: the 64-hex
 * ids of containers, networks and anonymous volumes. Caller frees. */
char *bothy_random_hex(size_t nbytes);

/* The hex part of a valid digest ("sha256:ab.." -> "ab.."), or NULL. */
const char *bothy_digest_hex(const char *digest);
