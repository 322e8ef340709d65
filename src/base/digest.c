/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/xalloc.h"
#include "base/dl-crypto.h" /* last: redirects the library calls */

struct bothy_digester {
  EVP_MD_CTX *ctx;
};

struct bothy_digester *bothy_digester_new(void)
{
  bothy_dlopen_crypto_or_die();
  struct bothy_digester *d = xmalloc0(sizeof(*d));
  d->ctx = EVP_MD_CTX_new();
  if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
    abort(); /* only out of memory can make this fail */
  return d;
}

void bothy_digester_update(struct bothy_digester *d, const void *buf, size_t len)
{
  if (len)
    EVP_DigestUpdate(d->ctx, buf, len);
}

void bothy_digester_final(struct bothy_digester *d, char *ret)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(d->ctx, md, &n);
  static const char hex[] = "0123456789abcdef";
  memcpy(ret, "sha256:", 7);
  for (unsigned i = 0; i < n; i++) {
    ret[7 + 2 * i] = hex[md[i] >> 4];
    ret[7 + 2 * i + 1] = hex[md[i] & 15];
  }
  ret[7 + 2 * n] = '\0';
}

struct bothy_digester *bothy_digester_free(struct bothy_digester *d)
{
  if (d) {
    EVP_MD_CTX_free(d->ctx);
    free(d);
  }
  return NULL;
}

/* ---- SHA-256 (FIPS 180-4) for small buffers ---------------------------------
 * Loading and initialising libcrypto takes about 2.5 ms, more than anything
 * else in reading an image's manifest and config on a container's start; for
 * the small blobs read whole (manifests, configs, indexes) this plain
 * implementation does the job in microseconds. Streams (layers, uploads) use
 * libcrypto's, which is several times faster on large inputs. */

static const uint32_t sha256_k[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
           (uint32_t) p[4 * i + 2] << 8 | (uint32_t) p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 =
        k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += k;
}

#undef ROR

void bothy_sha256_plain(const void *buf, size_t len, unsigned char out[32])
{
  uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  const unsigned char *p = buf;
  size_t left = len;
  for (; left >= 64; p += 64, left -= 64)
    sha256_block(h, p);
  /* The last block(s): the rest, 0x80, zeros, the length in bits. */
  unsigned char tail[128] = { 0 };
  memcpy(tail, p, left);
  tail[left] = 0x80;
  size_t n = left + 9 <= 64 ? 64 : 128;
  uint64_t bits = (uint64_t) len * 8;
  for (int i = 0; i < 8; i++)
    tail[n - 1 - i] = (unsigned char) (bits >> (8 * i));
  sha256_block(h, tail);
  if (n == 128)
    sha256_block(h, tail + 64);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char) (h[i] >> 24);
    out[4 * i + 1] = (unsigned char) (h[i] >> 16);
    out[4 * i + 2] = (unsigned char) (h[i] >> 8);
    out[4 * i + 3] = (unsigned char) h[i];
  }
}

#define PLAIN_MAX (1024 * 1024)

void bothy_digest_buffer(const void *buf, size_t len, char *ret)
{
  if (len <= PLAIN_MAX) {
    unsigned char md[32];
    bothy_sha256_plain(buf, len, md);
    memcpy(ret, "sha256:", 7);
    for (int i = 0; i < 32; i++)
      snprintf(ret + 7 + 2 * i, 3, "%02x", md[i]);
    return;
  }
  _cleanup_digester_ struct bothy_digester *d = bothy_digester_new();
  bothy_digester_update(d, buf, len);
  bothy_digester_final(d, ret);
}

int bothy_digest_validate(const char *digest, bothy_error_t *err)
{
  const char *colon = digest ? strchr(digest, ':') : NULL;
  if (!colon || colon == digest || colon[1] == '\0')
    return bothy_error_set(err, 0, "invalid digest '%s': want ALGORITHM:HEX", digest ? digest : "");
  /* algorithm: [a-z0-9]+([+._-][a-z0-9]+)* */
  for (const char *p = digest; p < colon; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+._-", *p)))
      return bothy_error_set(err, 0, "invalid digest '%s': bad algorithm", digest);
  size_t alen = (size_t) (colon - digest), hlen = strlen(colon + 1);
  size_t want = 0;
  if (alen == 6 && strncmp(digest, "sha256", 6) == 0)
    want = 64;
  else if (alen == 6 && strncmp(digest, "sha512", 6) == 0)
    want = 128;
  else
    return bothy_error_set(err, 0, "unsupported digest algorithm in '%s'", digest);
  if (hlen != want || strspn(colon + 1, "0123456789abcdef") != hlen)
    return bothy_error_set(err, 0, "invalid digest '%s': want %zu lowercase hex digits", digest,
                           want);
  return 0;
}

const char *bothy_digest_hex(const char *digest)
{
  if (bothy_digest_validate(digest, NULL) < 0)
    return NULL;
  return strchr(digest, ':') + 1;
}

char *bothy_random_hex(size_t nbytes)
{
  unsigned char raw[64];
  if (nbytes > sizeof(raw) || getrandom(raw, nbytes, 0) != (ssize_t) nbytes)
    abort();
  char *s = xmalloc(2 * nbytes + 1);
  for (size_t i = 0; i < nbytes; i++)
    snprintf(s + 2 * i, 3, "%02x", raw[i]);
  s[2 * nbytes] = '\0';
  return s;
}
