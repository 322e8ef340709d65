/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The error contract, used by every layer.
 *
 * A function that can fail returns int: >= 0 on success, negative on failure.
 * On failure it fills *err (if err is not NULL) at the place where the failure
 * happened, with an errno-like code (0 when no errno applies) and a message
 * that says what failed and why: "cannot open 'x': No such file or directory".
 * Callers going up may add context with bothy_error_prefix(): "pulling 'x': ...".
 *
 * The value returned on failure is -code, or -1 when code is 0, so a caller
 * may test for a specific errno without reading the message.
 *
 * Library code never prints or exits: the CLI prints the message once.
 * An error is owned by whoever holds the bothy_error_t and is released with
 * bothy_error_free() (or _cleanup_error_). Setting an error when one is
 * already set replaces it. */
#include <stdarg.h>
#include "base/macros.h"

struct bothy_error {
  int code;  /* errno value, or 0 */
  char *msg; /* never NULL */
};
typedef struct bothy_error *bothy_error_t;

/* Sets *err to a new error; appends ": strerror(code)" when code != 0.
 * Returns -code (or -1). err may be NULL. */
int bothy_error_set(bothy_error_t *err, int code, const char *fmt, ...) _printf_(3, 4);
int bothy_error_setv(bothy_error_t *err, int code, const char *fmt, va_list ap) _printf_(3, 0);
/* Same, with code = errno at the time of the call. */
#define bothy_error_errno(err, ...) bothy_error_set((err), errno, __VA_ARGS__)
/* Sets *err with that code but a message of its own: no strerror appended
 * (when the message already says what went wrong). Returns -code (or -1). */
int bothy_error_set_code(bothy_error_t *err, int code, const char *fmt, ...) _printf_(3, 4);

/* Prefixes the current error's message: "<fmt>: <old message>". Returns the
 * same negative value bothy_error_set would for the existing code. */
int bothy_error_prefix(bothy_error_t *err, const char *fmt, ...) _printf_(2, 3);

/* The negative return value matching an error (for propagating). */
int bothy_error_ret(const bothy_error_t *err);

void bothy_error_free(bothy_error_t *err);
#define _cleanup_error_ _cleanup_(bothy_error_free)
