/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: the Containerfile parser (build/containerfile.h). The
 * input is parsed as a Containerfile with build and builtin arguments, and
 * as a word for the expander. Besides not crashing: a failure is EINVAL with
 * a message naming the file; a success has stages, instructions in line
 * order, and a --target answer for every named stage. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "build/containerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int base_env(const char *image, const char *platform, void *userdata, char ***ret_env,
                    bothy_error_t *err)
{
  if (!image || !image[0])
    abort();
  char *env[] = { (char *) "PATH=/usr/bin:/bin", (char *) "HOME=/root", NULL };
  *ret_env = strv_copy(env);
  return 0;
}

static void check_target(const struct bothy_containerfile *cf, const char *name, size_t want)
{
  bool *needed = NULL;
  bothy_error_t err = NULL;
  int r = bothy_containerfile_target(cf, name, &needed, &err);
  if (r < 0 || (size_t) r != want || !needed[want])
    abort();
  free(needed);
}

static void check(const struct bothy_containerfile *cf)
{
  if (!cf->n_stages || (cf->escape != '\\' && cf->escape != '`'))
    abort();
  unsigned last = 0;
  for (size_t s = 0; s < cf->n_stages; s++) {
    const struct bothy_cf_stage *st = &cf->stages[s];
    if (!st->base || !st->base[0] || st->line <= last || !st->env)
      abort();
    if (st->base_stage >= (ssize_t) s)
      abort();
    last = st->line;
    for (size_t i = 0; i < st->n_instrs; i++) {
      const struct bothy_cf_instr *in = &st->instrs[i];
      if (in->line <= last || !in->text || !bothy_cf_kind_to_string(in->kind))
        abort();
      last = in->line;
      if ((in->kind == BOTHY_CF_COPY || in->kind == BOTHY_CF_ADD) && strv_length(in->args) < 2)
        abort();
      for (size_t h = 0; h < in->n_heredocs; h++)
        if (!in->heredocs[h].name || !in->heredocs[h].content)
          abort();
    }
    if (st->name)
      check_target(cf, st->name, s);
  }
  check_target(cf, NULL, cf->n_stages - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 16384)
    return 0;
  char *build_args[] = { (char *) "A=1", (char *) "TAG=x y", (char *) "BASE=alpine", NULL };
  char *builtin[] = { (char *) "TARGETARCH=amd64", (char *) "BUILDPLATFORM=linux/amd64", NULL };
  struct bothy_cf_options opts = {
    .filename = "Fuzzfile",
    .build_args = build_args,
    .builtin_args = builtin,
    .base_env = base_env,
  };
  struct bothy_containerfile *cf = NULL;
  bothy_error_t err = NULL;
  if (bothy_containerfile_parse((const char *) data, size, &opts, &cf, &err) < 0) {
    if (!err || err->code != EINVAL || strncmp(err->msg, "Fuzzfile", 8) != 0 || cf)
      abort();
    bothy_error_free(&err);
  } else {
    if (err)
      abort();
    check(cf);
    bothy_containerfile_free(cf);
  }

  /* The expander on its own, with both escape characters. */
  char *word = xstrndup((const char *) data, size);
  char *env[] = { (char *) "A=a", (char *) "E=", (char *) "S=x  y", NULL };
  for (int e = 0; e < 2; e++) {
    char esc = e ? '`' : '\\';
    char *out = NULL;
    if (bothy_cf_expand(word, env, esc, &out, &err) < 0) {
      if (!err || err->code != EINVAL || out)
        abort();
      bothy_error_free(&err);
    } else {
      free(out);
    }
    char **words = NULL;
    if (bothy_cf_expand_words(word, env, esc, &words, &err) < 0) {
      bothy_error_free(&err);
    } else {
      for (size_t i = 0; words[i]; i++)
        if (!words[i][0])
          abort();
      strv_free(words);
    }
  }
  free(word);
  return 0;
}
