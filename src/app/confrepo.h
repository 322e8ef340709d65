/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The desired state's history: /etc/bothy (or ROOT/etc when the root is
 * moved) is a git repository, kept with libgit2 (dlopen'ed when first
 * needed). Every install and change is a commit whose message names the
 * command; the files are the user's to read and edit, and a hand edit is
 * seen as a file that differs from the last commit.
 *
 * Paths are relative to the repository's top ("instances/blog.ini").
 * Secrets are not in the repository: "secrets/" is in .gitignore and the
 * caller keeps them there (0700 directory, 0600 files).
 *
 * Concurrency: every writing call takes an flock on .git/bothy.lock, so two
 * bothy commands never interleave their commits. Writes of files are
 * atomic (write, fsync, rename). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

struct bothy_confrepo;

/* Opens dir as the repository, creating the directory, `git init` (branch
 * "main"), .gitignore ("secrets/\n") and a first commit "bothy: init" when
 * it is not one yet. Author and committer: "bothy <bothy@localhost>". */
int bothy_confrepo_open(const char *dir, struct bothy_confrepo **ret, bothy_error_t *err);
struct bothy_confrepo *bothy_confrepo_free(struct bothy_confrepo *c); /* NULL-safe */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_confrepo *, bothy_confrepo_free)
#define _cleanup_confrepo_ _cleanup_(bothy_confrepo_freep)

const char *bothy_confrepo_dir(const struct bothy_confrepo *c);

/* Writes files (atomically) and removes others, then commits exactly those
 * paths with message (first line: the command, e.g. "bothy install
 * wordpress --name blog"). paths[i] gets contents[i]; a NULL content removes
 * the path. Nothing else in the working tree is committed (a hand edit of
 * another file stays a hand edit). A commit that changes nothing is not made
 * (returns 0 with *ret_commit NULL). *ret_commit (optional): the new
 * commit's hex id. */
int bothy_confrepo_commit(struct bothy_confrepo *c, char *const *paths, char *const *contents,
                          size_t n, const char *message, char **ret_commit, bothy_error_t *err);

/* The file's content in the working tree (*ret NULL when absent), and
 * whether it differs from the last commit (added, changed or removed by
 * hand). */
int bothy_confrepo_read(struct bothy_confrepo *c, const char *path, char **ret, bool *ret_modified,
                        bothy_error_t *err);

/* The file's content at a revision (a commit id, a unique prefix of one, or
 * "HEAD~N"); *ret NULL when the file did not exist there. ENOENT for an
 * unknown revision. */
int bothy_confrepo_read_at(struct bothy_confrepo *c, const char *path, const char *rev, char **ret,
                           bothy_error_t *err);

struct bothy_confrepo_entry {
  char *commit;  /* hex id */
  int64_t time;  /* commit time, seconds */
  char *message; /* first line */
};

/* The commits that changed path (or every commit when path is NULL), newest
 * first. Frees with bothy_confrepo_entries_free. */
int bothy_confrepo_log(struct bothy_confrepo *c, const char *path,
                       struct bothy_confrepo_entry **ret, size_t *ret_n, bothy_error_t *err);
void bothy_confrepo_entries_free(struct bothy_confrepo_entry *e, size_t n);

/* A unified diff (as `git diff REV -- path` prints it) of path between rev
 * (NULL: the last commit) and the working tree; "" when they are the same. */
int bothy_confrepo_diff(struct bothy_confrepo *c, const char *path, const char *rev, char **ret,
                        bothy_error_t *err);
