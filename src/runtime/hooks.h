/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* OCI hooks: each runs with the container's state JSON on its stdin, in the
 * order listed; the first that fails (non-zero exit or timeout) stops the
 * rest and fails the operation (except poststart and poststop, whose failures
 * the caller only warns about, as the spec says). */
#include "base/error.h"
#include "runtime/spec.h"

/* state_json: the state document given on stdin. */
int bothy_hooks_run(const struct bothy_spec *spec, enum bothy_hook_kind kind,
                    const char *state_json, bothy_error_t *err);
