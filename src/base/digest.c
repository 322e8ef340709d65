/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void bothy_digest_buffer(const void *buf, size_t len, char *ret)
{
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
