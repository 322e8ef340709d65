/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The Containerfile (Dockerfile) parser.
 *
 * Pure parsing: nothing here reads a file, pulls an image or runs anything.
 * The rules are the Dockerfile reference's and BuildKit's (frontend/dockerfile
 * parser, instructions and shell lexer), which are what `docker build` does
 * today; where bothy differs it says so below.
 *
 * Reading, in order:
 *  - parser directives at the very top, "# escape=`" and "# syntax=...", one
 *    of each; the first line that is not a directive (a comment, a blank line,
 *    an instruction, an unknown directive) ends them;
 *  - comments are lines whose first non-blank character is '#'; inside a line
 *    continuation they are skipped, as are blank lines;
 *  - a line ending in the escape character (optionally followed by blanks)
 *    continues on the next line; the pieces are joined as they are;
 *  - instruction names are case-insensitive; leading "--name[=value]" words
 *    are flags, checked against the instruction's own list;
 *  - RUN, COPY and ADD may name heredocs ("<<EOT", "<<-EOT", "<<'EOT'",
 *    "3<<EOT"), whose bodies follow the instruction line, in order.
 *
 * Then the instructions become stages: ARGs before the first FROM are global
 * (usable in FROM lines), every FROM starts a stage, and words are expanded
 * the way BuildKit does it (see bothy_cf_expand()) in FROM, ENV, ARG, LABEL,
 * COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL and in the COPY/ADD
 * flags and RUN --mount fields. RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK
 * are left for the shell, and ONBUILD's instruction for the image that
 * inherits it. The scope within a stage: the base image's environment (from
 * the caller's base_env callback), or the parent stage's ENV and ARGs when
 * FROM names an earlier stage (inheriting the ARGs is what recent BuildKit
 * does, to be checked against docker's own tests), the stage's ARGs and
 * its ENVs; ENV overrides an ARG of the same name. An ARG takes its value from
 * --build-arg, else from its default, else (a bare "ARG NAME") from the global
 * ARG or the builtin argument of that name; otherwise it is declared unset.
 *
 * Errors are EINVAL, with the file name and the instruction's first line:
 *   Containerfile:7: unknown instruction: FORM
 *   Containerfile:3: COPY requires at least two arguments
 *   Containerfile:4: RUN: unterminated heredoc "EOT"
 * and from the callback whatever it set, prefixed with "file:line: FROM". */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "base/error.h"
#include "base/macros.h"

enum bothy_cf_kind {
  BOTHY_CF_FROM,
  BOTHY_CF_RUN,
  BOTHY_CF_COPY,
  BOTHY_CF_ADD,
  BOTHY_CF_ENV,
  BOTHY_CF_ARG,
  BOTHY_CF_WORKDIR,
  BOTHY_CF_USER,
  BOTHY_CF_CMD,
  BOTHY_CF_ENTRYPOINT,
  BOTHY_CF_LABEL,
  BOTHY_CF_EXPOSE,
  BOTHY_CF_VOLUME,
  BOTHY_CF_STOPSIGNAL,
  BOTHY_CF_HEALTHCHECK,
  BOTHY_CF_SHELL,
  BOTHY_CF_ONBUILD,
  BOTHY_CF_MAINTAINER,
  _BOTHY_CF_KIND_MAX,
  _BOTHY_CF_KIND_INVALID = -EINVAL,
};

/* "FROM", "RUN", ...; NULL out of range. */
const char *bothy_cf_kind_to_string(enum bothy_cf_kind k);

/* A name and a value. value is NULL for an "ARG NAME" without default that
 * nothing set, and for a --mount field given without "=". */
struct bothy_cf_kv {
  char *key;
  char *value;
};

enum bothy_cf_mount_type {
  BOTHY_CF_MOUNT_BIND, /* the default, as in BuildKit */
  BOTHY_CF_MOUNT_CACHE,
  BOTHY_CF_MOUNT_TMPFS,
  BOTHY_CF_MOUNT_SECRET,
  BOTHY_CF_MOUNT_SSH,
  _BOTHY_CF_MOUNT_TYPE_MAX,
  _BOTHY_CF_MOUNT_TYPE_INVALID = -EINVAL,
};

/* RUN --mount=type=cache,target=/root/.cache,sharing=locked: the fields
 * other than type, in order, keys lowercased with their aliases resolved
 * (dst and destination -> target, src -> source, ro -> readonly), values
 * expanded. bind, cache and tmpfs need a target; which other keys mean what is
 * the builder's business. */
struct bothy_cf_mount {
  enum bothy_cf_mount_type type;
  struct bothy_cf_kv *opts;
  size_t n_opts;
};
/* The value of key in m ("" for a field without '='), NULL when absent. */
const char *bothy_cf_mount_get(const struct bothy_cf_mount *m, const char *key);

struct bothy_cf_heredoc {
  char *name;    /* the delimiter, quotes removed */
  char *content; /* the lines before the delimiter, each ending in '\n'; for
                  * "<<-" with leading tabs stripped; for COPY/ADD expanded
                  * when expand is set (RUN leaves that to the shell) */
  bool expand;   /* the delimiter was not quoted */
  bool chomp;    /* "<<-" */
  unsigned fd;   /* "3<<EOT"; 0 when not given */
  ssize_t arg;   /* COPY/ADD: the index in args of the source it stands for */
};

struct bothy_cf_healthcheck {
  bool none; /* HEALTHCHECK NONE: the base image's check is disabled */
  /* Durations in nanoseconds; 0 when not given (the defaults apply). */
  int64_t interval, timeout, start_period, start_interval;
  int64_t retries; /* 0 when not given */
};

struct bothy_cf_instr {
  enum bothy_cf_kind kind;
  unsigned line; /* the first line, 1-based */
  char *text;    /* the instruction as written, continuations joined */

  /* Flags; NULL/false/empty when not given. from, chown and chmod (COPY,
   * ADD) are expanded; network and security are RUN's, platform is FROM's
   * (on the stage), checksum and keep_git_dir ADD's, parents COPY's. */
  char *from, *chown, *chmod, *network, *security, *checksum;
  bool link, parents, keep_git_dir;
  char **exclude; /* --exclude=, repeatable (COPY, ADD) */
  struct bothy_cf_mount *mounts;
  size_t n_mounts;

  /* The arguments:
   *   RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK CMD: json set: the exec form's
   *     array; otherwise one string, the shell form's command as written
   *     (heredoc words included). An empty CMD/ENTRYPOINT in shell form has
   *     no element;
   *   COPY, ADD: the sources then the destination, expanded; a heredoc
   *     source stays as written and heredocs[i].arg points at it;
   *   WORKDIR, USER, STOPSIGNAL, MAINTAINER: one string (expanded, but
   *     MAINTAINER's);
   *   EXPOSE, VOLUME: the words, expanded. */
  bool json;
  char **args;
  /* ENV, LABEL, ARG: the pairs, expanded (ARG: the value in effect). */
  struct bothy_cf_kv *kv;
  size_t n_kv;
  struct bothy_cf_heredoc *heredocs;
  size_t n_heredocs;
  struct bothy_cf_healthcheck health;
  /* RUN: the ARGs in scope with a value ("KEY=VALUE"), which the builder
   * passes to the command; an ENV of the same name wins and is not here. */
  char **run_args;
  /* ONBUILD: the instruction it keeps, parsed but neither expanded nor
   * checked against the stage; text is what goes into the image config. */
  struct bothy_cf_instr *onbuild;
};

struct bothy_cf_stage {
  char *name;         /* "AS name", lowercased; NULL when unnamed */
  char *base;         /* FROM's image, expanded with the global ARGs */
  ssize_t base_stage; /* the earlier stage base names, or -1 (an image, scratch) */
  char *platform;     /* FROM --platform, expanded; NULL when not given */
  unsigned line;
  char *text;                    /* the FROM line as written */
  struct bothy_cf_instr *instrs; /* after the FROM */
  size_t n_instrs;
  /* The stage's environment at its end: base image, inherited, ENV. */
  char **env;
};

struct bothy_containerfile {
  char *syntax; /* "# syntax=" directive, NULL when none */
  char escape;  /* '\\' or '`' */
  /* The ARGs before the first FROM with their values in effect. */
  struct bothy_cf_kv *global_args;
  size_t n_global_args;
  struct bothy_cf_stage *stages; /* at least one */
  size_t n_stages;
  /* The --build-arg names that no ARG declared (docker warns about them). */
  char **unused_build_args;
};

/* The base image's environment ("KEY=VALUE" strings, a new strv in *ret_env,
 * NULL when it has none). Called once per stage that starts FROM an image
 * (not for scratch and not for a stage name). On failure it sets *err and
 * returns < 0, which fails the parse. */
typedef int (*bothy_cf_base_env_fn)(const char *image, const char *platform, void *userdata,
                                    char ***ret_env, bothy_error_t *err);

/* The base image's ONBUILD triggers (its config's OnBuild, instructions as
 * text; NULL when none), which the stage that starts FROM it runs first. */
typedef int (*bothy_cf_base_onbuild_fn)(const char *image, void *userdata, char ***ret_triggers,
                                        bothy_error_t *err);

struct bothy_cf_options {
  const char *filename; /* for messages; "Containerfile" when NULL */
  /* --build-arg values, "KEY=VALUE"; an entry without '=' is ignored (the
   * CLI takes such a value from its environment before this). */
  char *const *build_args;
  /* Arguments BuildKit predefines ("TARGETARCH=amd64", "BUILDPLATFORM=..."):
   * visible in FROM lines, and in a stage after a bare "ARG NAME". */
  char *const *builtin_args;
  bothy_cf_base_env_fn base_env;         /* may be NULL: base images have no env */
  bothy_cf_base_onbuild_fn base_onbuild; /* may be NULL: no triggers run */
  void *userdata;
};

/* Parses data[0..size) (need not be NUL-terminated; a NUL in it is an error)
 * into a new *ret_cf, which the caller frees with bothy_containerfile_free().
 * opts may be NULL. On failure *ret_cf is untouched, and *err says why with
 * "file:line:". */
int bothy_containerfile_parse(const char *data, size_t size, const struct bothy_cf_options *opts,
                              struct bothy_containerfile **ret_cf, bothy_error_t *err);

/* NULL-safe; returns NULL. */
struct bothy_containerfile *bothy_containerfile_free(struct bothy_containerfile *cf);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_containerfile *, bothy_containerfile_free)
#define _cleanup_containerfile_ _cleanup_(bothy_containerfile_freep)

/* The stages `--target target` needs: the target stage (target NULL: the
 * last one), the stage it is FROM, the stages its COPY --from and RUN
 * --mount from= name, and theirs. On success returns the target's index and
 * sets *ret_needed to a new array of cf->n_stages flags (the caller frees
 * it). EINVAL when no stage is called target: 'target stage "x" could not be
 * found'. */
int bothy_containerfile_target(const struct bothy_containerfile *cf, const char *target,
                               bool **ret_needed, bothy_error_t *err);

/* Expands one word as BuildKit's shell lexer does: $VAR and ${VAR},
 * ${VAR:-word} (VAR unset or empty), ${VAR-word} (unset), ${VAR:+word} (set
 * and not empty), ${VAR+word} (set), ${VAR:?msg} and ${VAR?msg} (an error);
 * single quotes keep everything, double quotes keep all but '$' and escapes
 * of '"', '$' and the escape character; escape elsewhere takes the next
 * character as it is. Quotes and escapes are removed. env holds "KEY=VALUE"
 * strings (NULL: nothing is set); escape is '\\' or '`'. On success *ret is a
 * new string; on failure EINVAL: "unexpected end of statement while looking
 * for matching double-quote", "syntax error: missing '}'", ... */
int bothy_cf_expand(const char *word, char *const *env, char escape, char **ret,
                    bothy_error_t *err);
/* The same, then split into words at unquoted blanks (an expansion's own
 * blanks split too, unless quoted), as EXPOSE does; *ret is a new strv. */
int bothy_cf_expand_words(const char *word, char *const *env, char escape, char ***ret,
                          bothy_error_t *err);
