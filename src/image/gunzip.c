/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "image/gunzip.h"

#include <stdint.h>
#include <string.h>

#include "base/xalloc.h"
#include "image/dl-isal.h" /* last: redirects the library calls */

/* Output comes in blocks of this size. */
#define OUT_SIZE (256 * 1024)

struct bothy_gunzip {
  struct inflate_state s; /* s.next_in/avail_in: the input the inflater has now */
  const uint8_t *pend;    /* input given, not yet handed to the inflater */
  size_t pend_len;
  /* The single byte that followed a member, kept until the next input says
   * whether it starts another one. */
  uint8_t carry;
  bool has_carry;
  bool ended;
  uint8_t out[OUT_SIZE];
};

int bothy_gunzip_new(struct bothy_gunzip **ret, bothy_error_t *err)
{
  if (bothy_dlopen_isal(err) < 0)
    return -1;
  struct bothy_gunzip *g = xmalloc0(sizeof(*g));
  isal_inflate_init(&g->s);
  g->s.crc_flag = ISAL_GZIP; /* parse the header, check the trailer's CRC */
  *ret = g;
  return 0;
}

struct bothy_gunzip *bothy_gunzip_free(struct bothy_gunzip *g)
{
  free(g);
  return NULL;
}

void bothy_gunzip_input(struct bothy_gunzip *g, const void *buf, size_t len)
{
  g->pend = buf;
  g->pend_len = len;
}

bool bothy_gunzip_ended(const struct bothy_gunzip *g)
{
  return g->ended;
}

static const char *isal_strerror(int r)
{
  switch (r) {
  case ISAL_INVALID_BLOCK:
    return "invalid deflate block";
  case ISAL_INVALID_SYMBOL:
    return "invalid deflate symbol";
  case ISAL_INVALID_LOOKBACK:
    return "invalid deflate distance";
  case ISAL_INVALID_WRAPPER:
    return "invalid header";
  case ISAL_UNSUPPORTED_METHOD:
    return "unsupported compression method";
  case ISAL_INCORRECT_CHECKSUM:
    return "checksum mismatch";
  default:
    return "the stream is corrupt";
  }
}

/* Hands the inflater the next piece of the given input, when it has none. */
static void feed(struct bothy_gunzip *g)
{
  if (g->s.avail_in > 0 || g->pend_len == 0)
    return;
  size_t n = g->pend_len < UINT32_MAX ? g->pend_len : UINT32_MAX;
  g->s.next_in = (uint8_t *) g->pend;
  g->s.avail_in = (uint32_t) n;
  g->pend += n;
  g->pend_len -= n;
}

/* After a member: starts the next one if the input goes on with gzip's
 * magic (1f 8b). 1: started, 0: ended or more input needed (ended says). */
static int next_member(struct bothy_gunzip *g)
{
  struct inflate_state *s = &g->s;
  feed(g);
  if ((g->has_carry ? 1 : 0) + s->avail_in < 2) {
    if (s->avail_in == 1) {
      g->carry = s->next_in[0];
      g->has_carry = true;
      s->avail_in = 0;
    }
    return 0;
  }
  uint8_t b0 = g->has_carry ? g->carry : s->next_in[0];
  uint8_t b1 = g->has_carry ? s->next_in[0] : s->next_in[1];
  if (b0 != 0x1f || b1 != 0x8b) {
    g->ended = true;
    return 0;
  }
  uint8_t *next_in = s->next_in;
  uint32_t avail_in = s->avail_in;
  isal_inflate_reset(s);
  s->crc_flag = ISAL_GZIP;
  if (g->has_carry) {
    /* The carried byte first, then the rest of the input. */
    g->has_carry = false;
    s->next_in = &g->carry;
    s->avail_in = 1;
    g->pend = next_in;
    g->pend_len += avail_in; /* pend_len is 0 here: feed() moved it all */
  } else {
    s->next_in = next_in;
    s->avail_in = avail_in;
  }
  return 1;
}

ssize_t bothy_gunzip_output(struct bothy_gunzip *g, const void **ret_out, bothy_error_t *err)
{
  struct inflate_state *s = &g->s;
  for (;;) {
    if (g->ended)
      return 0;
    if (s->block_state == ISAL_BLOCK_FINISH && next_member(g) == 0)
      return 0;
    feed(g);
    uint32_t avail_in = s->avail_in;
    s->next_out = g->out;
    s->avail_out = OUT_SIZE;
    int r = isal_inflate(s);
    if (r != ISAL_DECOMP_OK)
      return bothy_error_set(err, 0, "gzip: %s", isal_strerror(r));
    size_t n = OUT_SIZE - s->avail_out;
    if (n > 0) {
      *ret_out = g->out;
      return (ssize_t) n;
    }
    if (s->block_state == ISAL_BLOCK_FINISH || s->avail_in != avail_in)
      continue; /* a member ended, or a header was read: go on */
    if (s->avail_in > 0)
      /* igzip takes all the input it is given (it keeps what it cannot
       * decode yet): not taking any must not loop. */
      return bothy_error_set(err, 0, "gzip: %s", isal_strerror(ISAL_INVALID_BLOCK));
    if (g->pend_len == 0)
      return 0; /* needs input */
  }
}

int bothy_gunzip_finish(struct bothy_gunzip *g, bothy_error_t *err)
{
  /* A byte carried after the last member is trailing data, ignored. */
  if (g->ended || g->s.block_state == ISAL_BLOCK_FINISH) {
    g->ended = true;
    return 0;
  }
  return bothy_error_set(err, 0, "gzip: the stream is truncated");
}
