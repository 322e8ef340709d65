/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* .containerignore / .dockerignore: which paths of a build context are left
 * out. The rules are docker's (moby/patternmatcher and its ignorefile):
 *
 *  - one pattern a line; surrounding blanks are trimmed; a line starting
 *    with '#' is a comment; blank lines are skipped; a UTF-8 BOM is dropped;
 *  - a pattern is cleaned as a path ("./a//b/" is "a/b", ".." is resolved
 *    lexically) and a leading '/' dropped: patterns are relative to the
 *    context's root, never to a directory;
 *  - '*' is any run of characters but '/', '?' any one character but '/',
 *    "[a-z]" and "[^a-z]" a character class, '\\' quotes the next character,
 *    "**" any number of directories, zero too ("**" then "/main.go" is every
 *    main.go);
 *  - "!pattern" is an exception that takes back what an earlier pattern
 *    left out; the last pattern that matches a path decides;
 *  - a pattern that matches a directory matches everything below it.
 *
 * Pure matching: the caller reads the file and walks the context. */
#include <stdbool.h>
#include <stddef.h>
#include "base/error.h"

struct bothy_ignore;

/* Parses data[0..size) (need not be NUL-terminated). filename is for
 * messages (".containerignore" when NULL). On success *ret is a new matcher
 * the caller frees with bothy_ignore_free(). EINVAL for a malformed pattern,
 * with the file and line: '.dockerignore:3: bad pattern "[a-"'. */
int bothy_ignore_parse(const char *data, size_t size, const char *filename,
                       struct bothy_ignore **ret, bothy_error_t *err);

/* NULL-safe; returns NULL. */
struct bothy_ignore *bothy_ignore_free(struct bothy_ignore *ig);

/* Whether relpath (relative to the context; "./" and a leading '/' are
 * cleaned away) is left out. A NULL ig leaves nothing out. */
bool bothy_ignore_match(const struct bothy_ignore *ig, const char *relpath);

/* Whether the walk may skip the directory reldir altogether: it is left out
 * and no exception could take back anything below it. False is always safe
 * (it only costs a walk). */
bool bothy_ignore_can_skip_dir(const struct bothy_ignore *ig, const char *reldir);

/* The patterns after cleaning, in order, for messages and tests: the i-th
 * (NULL past the end), and whether it is an exception ('!' is not part of
 * the string). */
size_t bothy_ignore_count(const struct bothy_ignore *ig);
const char *bothy_ignore_pattern(const struct bothy_ignore *ig, size_t i, bool *ret_exception);
