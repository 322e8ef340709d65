/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Image references ("busybox", "quay.io/team/app:1", "app@sha256:...") parsed
 * and normalised as docker and podman do (distribution/reference's grammar and
 * normalize.go):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component ( "/" path-component )*
 *   domain    := host [ ":" port ]        host: hostname, or "[" IPv6 "]"
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := what bothy_digest_validate() accepts (sha256 or sha512)
 *
 * Normalisation: the first component is a domain only if the name has more
 * than one component and it contains '.' or ':' or is "localhost"; otherwise
 * the domain is "docker.io". "index.docker.io" becomes "docker.io". A
 * one-component docker.io path gets "library/". With neither tag nor digest
 * the tag is "latest"; with a digest and no tag, no tag is added.
 *
 * Deliberate differences from distribution/reference v0.5+:
 *  - an uppercase first component ("UPPER/lower") is not taken as a domain,
 *    so it is refused as uppercase (docker before v0.5 and containers/image);
 *  - a first component that looks like a domain but is not a valid host name
 *    ("a_b.c/x") is refused; docker accepts it as a domain-less path, which
 *    would quietly send a mistyped registry name to Docker Hub.
 *
 * Every error message quotes the input: "invalid reference 'a b': invalid
 * reference format". The fields are owned by the reference and are never
 * modified after parsing. */
#include <stdbool.h>
#include "base/error.h"

#define BOTHY_REFERENCE_DEFAULT_DOMAIN "docker.io"
#define BOTHY_REFERENCE_DEFAULT_TAG    "latest"
#define BOTHY_REFERENCE_NAME_MAX       255 /* domain + "/" + path, normalised */

struct bothy_reference {
  char *domain; /* "docker.io", "localhost:5000", "[::1]:5000"; never NULL */
  char *path;   /* "library/busybox"; never NULL */
  char *tag;    /* "latest", or NULL when only a digest was given */
  char *digest; /* "sha256:<hex>", or NULL */
};

/* Parses and normalises s (NULL is treated as ""). *ret is written only on
 * success. Errors (code 0, return -1): the grammar above, an uppercase path
 * ("... repository name must be lowercase"), a bare 64-hex string ("cannot
 * specify 64-byte hexadecimal strings", it would be read as an image id),
 * a name longer than BOTHY_REFERENCE_NAME_MAX. */
int bothy_reference_parse(const char *s, struct bothy_reference **ret, bothy_error_t *err);

struct bothy_reference *bothy_reference_free(struct bothy_reference *ref); /* NULL-safe */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_reference *, bothy_reference_free)
#define _cleanup_reference_ _cleanup_(bothy_reference_freep)

/* A deep copy. Never NULL for a non-NULL ref. */
struct bothy_reference *bothy_reference_copy(const struct bothy_reference *ref);

/* A copy of ref with its tag replaced by tag (validated; the digest is kept).
 * *ret is written only on success. */
int bothy_reference_with_tag(const struct bothy_reference *ref, const char *tag,
                             struct bothy_reference **ret, bothy_error_t *err);

/* The strings below are newly allocated; the caller frees them. */

/* Full normalised form: "docker.io/library/busybox:latest",
 * "quay.io/a/b@sha256:...", "docker.io/library/app:1@sha256:...". */
char *bothy_reference_string(const struct bothy_reference *ref);

/* docker's short form: "busybox:latest", "user/app:1", "localhost:5000/x:1".
 * docker.io is dropped, and "library/" too when nothing follows it but one
 * component. */
char *bothy_reference_familiar(const struct bothy_reference *ref);

/* Domain and path only: "docker.io/library/busybox". */
char *bothy_reference_repository(const struct bothy_reference *ref);
