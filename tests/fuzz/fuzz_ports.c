/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: -p specifications (bothy_port_parse) and -P keys
 * (bothy_port_from_exposed). Besides not crashing: a failure appends
 * nothing, and every spec appended is well-formed (a canonical address, a
 * container port, tcp or udp), and formatted back in docker's syntax parses
 * to the same spec. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/xalloc.h"
#include "net/ports.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spec(const struct bothy_port_spec *p)
{
  unsigned char buf[16];
  char canon[INET6_ADDRSTRLEN];
  int family = strchr(p->host_ip, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(family, p->host_ip, buf) != 1 || !inet_ntop(family, buf, canon, sizeof(canon)) ||
      strcmp(canon, p->host_ip) != 0)
    abort();
  if (p->ctr_port == 0 || (strcmp(p->proto, "tcp") != 0 && strcmp(p->proto, "udp") != 0))
    abort();
  /* Formatted back as [ip]:host:ctr/proto, it is the same spec. */
  char *again = xasprintf(family == AF_INET6 ? "[%s]:%u:%u/%s" : "%s:%u:%u/%s", p->host_ip,
                          p->host_port, p->ctr_port, p->proto);
  struct bothy_port_spec *v = NULL;
  size_t n = 0;
  if (bothy_port_parse(again, &v, &n, NULL) < 0 || n != 1 || strcmp(v[0].host_ip, p->host_ip) ||
      v[0].host_port != p->host_port || v[0].ctr_port != p->ctr_port ||
      strcmp(v[0].proto, p->proto))
    abort();
  bothy_port_specs_free(v, n);
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > 256)
    return 0;
  char *s = xstrndup((const char *) data, size);
  struct bothy_port_spec *v = NULL;
  size_t n = 0;
  bothy_error_t err = NULL;
  if (bothy_port_parse(s, &v, &n, &err) < 0) {
    if (!err || n != 0 || v)
      abort();
    bothy_error_free(&err);
  } else {
    if (err || n == 0 || n > 65535)
      abort();
    /* Check a few: a range may hold 65535 of them. */
    for (size_t i = 0; i < n && i < 8; i++)
      check_spec(&v[i]);
  }
  bothy_port_specs_free(v, n);

  /* The same bytes as an image's exposed port keys, split on spaces. */
  char *keys[9] = { 0 };
  size_t nkeys = 0;
  for (char *save = NULL, *k = strtok_r(s, " ", &save); k && nkeys < 8;
       k = strtok_r(NULL, " ", &save))
    keys[nkeys++] = k;
  v = NULL;
  n = 0;
  if (bothy_port_from_exposed(keys, &v, &n, &err) < 0) {
    if (!err || n != 0)
      abort();
    bothy_error_free(&err);
  } else {
    for (size_t i = 0; i < n && i < 8; i++)
      if (v[i].host_port != 0 || strcmp(v[i].host_ip, "127.0.0.1") != 0)
        abort();
  }
  bothy_port_specs_free(v, n);
  free(s);
  return 0;
}
