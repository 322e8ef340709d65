/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Saved registry credentials (`bothy login/logout`), used by push and pull
 * when no --creds is given.
 *
 * The file is ROOT/auth.json (ROOT is --root / $BOTHY_ROOT, /var/lib/bothy
 * by default): bothy's state lives under one root, which tests relocate, and
 * a root-run platform has no business in some user's ~/.config. Its format
 * is docker's and podman's, so the file can be copied from or to them:
 *
 *   {"auths": {"127.0.0.1:5000": {"auth": "<base64 of user:password>"}}}
 *
 * Invariants:
 * - The file is written atomically (bothy_write_file_atomic) with mode 0600,
 *   under an flock() of ROOT/auth.json.lock, so concurrent logins do not lose
 *   each other's entries and a reader never sees half a file. Entries and
 *   fields bothy does not know (other tools' "identitytoken", "credHelpers")
 *   are kept as they are.
 * - Hosts are keys in normalised form (bothy_auth_host_normalize): what the
 *   user typed, minus a scheme and path, lowercased, with Docker Hub's
 *   aliases folded into "docker.io". Lookups normalise the file's keys the
 *   same way, so entries written by docker ("https://index.docker.io/v1/")
 *   are found too.
 * - A password never appears in an error message.
 *
 * Errors follow base/error.h. A corrupt file (not JSON, "auths" not an
 * object, an "auth" that is not base64 of "user:password") fails every
 * function with a message naming the file and the entry; it is never
 * silently rewritten. */
#include <stdbool.h>
#include <string.h>
#include "base/error.h"

#define BOTHY_AUTH_FILE "auth.json"

/* Frees a string holding a secret, wiping it first. */
static inline void bothy_auth_secret_freep(char **p)
{
  if (*p) {
    explicit_bzero(*p, strlen(*p));
    free(*p);
  }
}
#define _cleanup_secret_ _cleanup_(bothy_auth_secret_freep)

/* "https://Quay.io/v2/" -> "quay.io", "index.docker.io" -> "docker.io".
 * EINVAL when nothing is left or the host has characters no registry host
 * has. *ret (caller frees) written only on success. */
int bothy_auth_host_normalize(const char *host, char **ret, bothy_error_t *err);

/* Whether host ("127.0.0.1:5000", "localhost", "[::1]:5000") is this
 * machine: bothy speaks plain http to such registries, as pull does. Exact:
 * "localhost.example.com" and "127.example.com" are not loopback. */
bool bothy_auth_host_is_loopback(const char *host);

/* The credentials saved for host: 1 with *ret_user and *ret_pass (caller
 * frees; the password with _cleanup_secret_), or 0 with both set to NULL
 * when there is no file or no entry for host. Negative on a corrupt file. */
int bothy_auth_lookup(const char *root, const char *host, char **ret_user, char **ret_pass,
                      bothy_error_t *err);

/* Saves (replacing) the entry for host; creates ROOT (0700) and the file.
 * EINVAL: an empty username or one containing ':' (the format could not
 * tell it from the password). */
int bothy_auth_save(const char *root, const char *host, const char *user, const char *pass,
                    bothy_error_t *err);

/* Removes the entry for host: 1 when there was one, 0 when not (the file is
 * then left as it is). */
int bothy_auth_remove(const char *root, const char *host, bothy_error_t *err);

/* Removes every entry: the number removed. */
int bothy_auth_remove_all(const char *root, bothy_error_t *err);

struct bothy_login_opts {
  bool tls_verify_off; /* --tls-verify=false: plain http, or https without checks */
  const char *ca_file;
};

/* Checks user/pass against the registry at host, and saves them only when
 * it accepts them. The check asks for a manifest that does not exist (the
 * registry client has no bare GET /v2/): a 404, or a 200, after the
 * registry's Basic or token challenge was answered means the credentials
 * were accepted; a 401 means they were not (EACCES, "wrong username or
 * password"). A registry that asks for no credentials at all accepts any.
 * Limitation: a token registry that refuses even authenticated users pull
 * access to an unknown repository in their own namespace answers 401 too. */
int bothy_auth_login(const char *root, const char *host, const char *user, const char *pass,
                     const struct bothy_login_opts *opts, bothy_error_t *err);
