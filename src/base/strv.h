/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* NULL-terminated string vectors (char **). A strv owns its strings. */
#include <stdbool.h>
#include <stddef.h>
#include "base/macros.h"

size_t strv_length(char *const *v);
char **strv_free(char **v);       /* NULL-safe; returns NULL */
char **strv_copy(char *const *v); /* NULL in, NULL out */
/* Appends s (ownership taken) to *v, which may be NULL. */
void strv_push(char ***v, char *s);
/* true when s is one of v's strings (NULL-safe). */
bool strv_contains(char *const *v, const char *s);
/* Finds "KEY=" in an environment vector; returns the index or -1. */
ssize_t strv_env_find(char *const *env, const char *key, size_t keylen);
/* Sets KEY=VALUE from "KEY=VALUE" (copied), replacing an existing KEY. */
void strv_env_set(char ***env, const char *kv);
/* Value of KEY in env, or NULL. */
const char *strv_env_get(char *const *env, const char *key);
/* Sorts v in place (strcmp order); NULL-safe. */
void strv_sort(char **v);

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)
#define _cleanup_strv_free_ _cleanup_(strv_freep)
