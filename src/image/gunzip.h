/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Streaming gzip decompression with ISA-L's igzip (libisal, loaded on first
 * use; dl-isal.h): about 2.5 times as fast as zlib on layers, which is why
 * layers are not inflated through libarchive when libisal is there.
 *
 * A gzip file may be several members one after another (RFC 1952 2.2): they
 * are inflated in turn, as gzip -d does. Bytes after the last member that do
 * not start another one are ignored, as gzip and libarchive do. Each
 * member's CRC-32 is checked.
 *
 * Use: give input with bothy_gunzip_input(), then call bothy_gunzip_output()
 * until it returns 0; it then needs more input, or the stream has ended
 * (bothy_gunzip_ended()). At the end of the input, bothy_gunzip_finish()
 * says whether the stream was complete. The input must stay valid until
 * bothy_gunzip_output() has returned 0; the output until the next call. */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "base/error.h"
#include "base/macros.h"

struct bothy_gunzip;

/* Fails (with a message naming libisal) when libisal cannot be loaded. */
int bothy_gunzip_new(struct bothy_gunzip **ret, bothy_error_t *err);
struct bothy_gunzip *bothy_gunzip_free(struct bothy_gunzip *g); /* NULL-safe */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_gunzip *, bothy_gunzip_free)
#define _cleanup_gunzip_ _cleanup_(bothy_gunzip_freep)

/* The next len compressed bytes (after bothy_gunzip_output() returned 0). */
void bothy_gunzip_input(struct bothy_gunzip *g, const void *buf, size_t len);

/* Inflates from the input given: a block of output (> 0 bytes at *ret_out),
 * 0 when the input is used up or the stream has ended, or negative with
 * *err ("gzip: ...") when the data is not valid gzip. */
ssize_t bothy_gunzip_output(struct bothy_gunzip *g, const void **ret_out, bothy_error_t *err);

/* The last member ended and what followed it is not another one: any
 * further input is ignored. */
bool bothy_gunzip_ended(const struct bothy_gunzip *g);

/* At the end of the input (after bothy_gunzip_output() returned 0): 0 when
 * at least one member was complete and none is cut short, negative with
 * *err otherwise. */
int bothy_gunzip_finish(struct bothy_gunzip *g, bothy_error_t *err);
