/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Helpers on jansson that check types and word errors the same way
 * everywhere: "'process.args' must be an array of strings". A getter returns
 * 0 when the key is absent (leaving the output untouched), 1 when present and
 * well-typed, negative with *err when present with the wrong type. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"

/* jansson >= 2.9 defines json_decrefp() for this. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Loads a JSON document; the message names path, line and column. */
int bothy_json_load_file(const char *path, json_t **ret, bothy_error_t *err);
int bothy_json_load_data(const char *data, size_t len, const char *what, json_t **ret,
                         bothy_error_t *err);

/* `ctx` is the dotted path used in messages (e.g. "linux.resources.memory"). */
int bothy_json_string(json_t *o, const char *key, const char *ctx, const char **ret,
                      bothy_error_t *err);
int bothy_json_strdup(json_t *o, const char *key, const char *ctx, char **ret, bothy_error_t *err);
int bothy_json_bool(json_t *o, const char *key, const char *ctx, bool *ret, bothy_error_t *err);
int bothy_json_int64(json_t *o, const char *key, const char *ctx, int64_t *ret, bothy_error_t *err);
int bothy_json_uint64(json_t *o, const char *key, const char *ctx, uint64_t *ret,
                      bothy_error_t *err);
int bothy_json_object(json_t *o, const char *key, const char *ctx, json_t **ret,
                      bothy_error_t *err);
int bothy_json_array(json_t *o, const char *key, const char *ctx, json_t **ret, bothy_error_t *err);
/* An array of strings as a new strv (NULL-terminated, owned by the caller). */
int bothy_json_strv(json_t *o, const char *key, const char *ctx, char ***ret, bothy_error_t *err);

/* Serialises with sorted keys and a trailing newline; caller frees. */
char *bothy_json_dump(json_t *o, bool pretty);
