/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Base images made on this machine: a Debian root filesystem built with
 * debootstrap from the Debian mirror this machine's apt uses, imported as a
 * one-layer image (`bothy image bootstrap debian`).
 *
 * The mirror is read from apt's sources at run time, never built in: the
 * deb822 files (NAME.sources in /etc/apt/sources.list.d, in name order)
 * first, then the one-line /etc/apt/sources.list and the NAME.list files.
 * The first "deb" entry (not deb-src, not "Enabled: no") whose suites
 * include the suite gives its first URI (http, https, ftp or file).
 *
 * The image is the tree debootstrap made, with these changes:
 *  - /dev is empty (the runtime gives each container its own);
 *  - /etc/resolv.conf and /etc/hostname, which debootstrap copies from the
 *    host, are removed (the runtime provides them);
 *  - /etc/apt/sources.list names the mirror for SUITE, and SUITE-updates
 *    and SUITE-security where this machine's apt has sources for them;
 *  - /etc/apt/apt.conf.d/90bothy-container keeps apt's caches and the .debs
 *    it fetched out of the image's layers, and fetches no translations
 *    (docker's Debian images do the same);
 *  - /usr/sbin/policy-rc.d exits 101, so that packages installed in a build
 *    do not try to start their services (as in docker's Debian images);
 *  - /var/cache/apt/archives holds no .deb, and /var/lib/apt/lists is empty
 *    (debootstrap's list of the main suite alone would be stale): as with
 *    docker's Debian images, a build runs apt-get update first.
 *
 * Everything happens in ROOT/tmp-bootstrap-XXXXXX, which is removed on every
 * path (mounts debootstrap left under it are detached first). One that a
 * killed run left behind is found by its free lock and removed by the next
 * bootstrap. */
#include <stdbool.h>
#include "base/error.h"
#include "image/images.h"

#define BOTHY_BOOTSTRAP_DEFAULT_SUITE   "bookworm"
#define BOTHY_BOOTSTRAP_DEFAULT_VARIANT "minbase"
/* The default name's repository: localhost/, not docker.io/, because the
 * image is made here and must never be pulled: a missing base image in a
 * build would otherwise be fetched from whoever owns "bothy" on Docker Hub. */
#define BOTHY_BOOTSTRAP_DEFAULT_REPOSITORY "localhost/bothy/debian"

struct bothy_bootstrap_opts {
  const char *suite;   /* NULL: "bookworm" */
  const char *variant; /* debootstrap's --variant; NULL: "minbase" */
  const char *ref;     /* the image's name; NULL: bothy_bootstrap_default_ref(suite) */
  const char *mirror;  /* NULL: from apt's sources (bothy_debian_mirror) */
  const char *apt_dir; /* where apt's sources are; NULL: "/etc/apt" */
  bool force;          /* make it again when the name is taken */
  int output_fd;       /* debootstrap's output goes here; -1: kept in the temporary directory */
};

/* The default name for a suite: "localhost/bothy/debian:12" for bookworm
 * (the release number for the releases this knows, 10 to 14), else the
 * suite's name as tag ("localhost/bothy/debian:sid"). Caller frees. */
char *bothy_bootstrap_default_ref(const char *suite);

/* The URI of the first "deb" source for suite in apt_dir (NULL: /etc/apt),
 * as described above. *ret (caller frees) has no trailing '/'. ENOENT when
 * there is none: "no apt source for 'trixie' in /etc/apt". */
int bothy_debian_mirror(const char *apt_dir, const char *suite, char **ret, bothy_error_t *err);

/* Makes the image and names it. When the name already points at an image
 * and !opts->force, nothing is done: *ret_existed is true and *ret_digest
 * that image's digest. Errors: ENOENT "debootstrap is not installed ..."
 * (or tar), ENOENT for no mirror, EIO "debootstrap failed (exit status N)"
 * followed by the last lines of its log; the store is left as it was on any
 * failure. *ret_digest (caller frees) is the manifest digest. */
int bothy_bootstrap_debian(struct bothy_images *imgs, const struct bothy_bootstrap_opts *opts,
                           char **ret_digest, bool *ret_existed, bothy_error_t *err);
