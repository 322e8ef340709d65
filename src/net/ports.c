/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "base/db.h"
#include "base/xalloc.h"
#include "net/ipam.h"

/* ---- parsing ------------------------------------------------------------ */

struct range {
  unsigned first, last;
};

/* digits, or digits-digits. Returns 1 and *ret when the token has that
 * shape, 0 when it does not; the values are not checked. Values are capped
 * at 100000 so that a long run of digits cannot overflow. */
static int parse_range_shape(const char *s, size_t len, struct range *ret)
{
  unsigned v[2] = { 0, 0 };
  size_t digits[2] = { 0, 0 };
  int part = 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == '-' && part == 0 && digits[0] > 0) {
      part = 1;
      continue;
    }
    if (c < '0' || c > '9')
      return 0;
    v[part] = v[part] * 10 + (unsigned) (c - '0');
    if (v[part] > 100000)
      v[part] = 100000;
    digits[part]++;
  }
  if (digits[0] == 0 || (part == 1 && digits[1] == 0))
    return 0;
  ret->first = v[0];
  ret->last = part == 1 ? v[1] : v[0];
  return 1;
}

/* A port or a port range; min is 1 for container ports, 0 for a single host
 * port (any). */
static int parse_range(const char *spec, const char *s, size_t len, bool host, struct range *ret,
                       bothy_error_t *err)
{
  if (!parse_range_shape(s, len, ret))
    return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", spec);
  const char *why = NULL;
  if (ret->first > 65535 || ret->last > 65535)
    why = "ports are 1 to 65535";
  else if (ret->first > ret->last)
    why = "the first port is greater than the last";
  else if (ret->first == 0 && !(host && ret->last == 0))
    why = "ports are 1 to 65535";
  if (why)
    return bothy_error_set_code(err, EINVAL, "invalid range \"%.*s\": %s", (int) len, s, why);
  return 0;
}

/* "80", "80/udp", "80-82/tcp": the container side, and what an image
 * exposes. */
static int parse_ctr_part(const char *spec, const char *s, struct range *ret_range,
                          char ret_proto[4], bothy_error_t *err)
{
  const char *slash = strchr(s, '/');
  size_t len = slash ? (size_t) (slash - s) : strlen(s);
  if (len == 0)
    return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", spec);
  if (parse_range(spec, s, len, /* host= */ false, ret_range, err) < 0)
    return -EINVAL;
  const char *proto = slash ? slash + 1 : "";
  /* docker: "80/" is 80/tcp. */
  if (!*proto || !strcasecmp(proto, "tcp"))
    memcpy(ret_proto, "tcp", 4);
  else if (!strcasecmp(proto, "udp"))
    memcpy(ret_proto, "udp", 4);
  else
    return bothy_error_set_code(err, EINVAL,
                                "invalid protocol \"%s\": only tcp and udp are supported", proto);
  return 0;
}

/* An IPv4 address, or an IPv6 one (the brackets already removed), in
 * canonical form. */
static char *canonical_ip(const char *s)
{
  unsigned char buf[sizeof(struct in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s, buf) == 1)
    return xstrdup(inet_ntop(AF_INET, buf, out, sizeof(out)));
  if (inet_pton(AF_INET6, s, buf) == 1)
    return xstrdup(inet_ntop(AF_INET6, buf, out, sizeof(out)));
  return NULL;
}

static void specs_append(struct bothy_port_spec **v, size_t *n, const char *host_ip,
                         struct range host, struct range ctr, const char *proto)
{
  size_t count = ctr.last - ctr.first + 1;
  *v = xrealloc(*v, (*n + count) * sizeof(**v));
  for (size_t i = 0; i < count; i++) {
    struct bothy_port_spec *p = &(*v)[*n + i];
    p->host_ip = xstrdup(host_ip);
    p->host_port = (uint16_t) (host.first == 0 ? 0 : host.first + i);
    p->ctr_port = (uint16_t) (ctr.first + i);
    memcpy(p->proto, proto, 4);
  }
  *n += count;
}

int bothy_port_parse(const char *s, struct bothy_port_spec **v, size_t *n, bothy_error_t *err)
{
  if (!s || !*s)
    return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", s ? s : "");
  /* [ip:]: an IPv6 address in brackets, or the first of three parts. */
  _cleanup_free_ char *ip_word = NULL;
  const char *rest = s;
  bool have_ip = false;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close)
      return bothy_error_set_code(err, EINVAL, "invalid IP address \"%s\"", s);
    if (close[1] != ':')
      return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", s);
    ip_word = xstrndup(s + 1, (size_t) (close - s - 1));
    rest = close + 2;
    have_ip = true;
    /* After an address, a host port part (maybe empty) must follow. */
    if (!strchr(rest, ':'))
      return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", s);
  }
  /* Split the rest on ':': [ip:][host:]ctr. */
  const char *parts[3];
  size_t lens[3], count = 0;
  for (const char *p = rest;;) {
    const char *colon = strchr(p, ':');
    if (count == 3)
      return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", s);
    parts[count] = p;
    lens[count] = colon ? (size_t) (colon - p) : strlen(p);
    count++;
    if (!colon)
      break;
    p = colon + 1;
  }
  if (have_ip && count != 2)
    return bothy_error_set_code(err, EINVAL, "invalid port specification: \"%s\"", s);
  const char *host_word = NULL, *ctr_word = parts[count - 1];
  size_t host_len = 0;
  if (count >= 2) {
    host_word = parts[count - 2];
    host_len = lens[count - 2];
  }
  if (count == 3) {
    ip_word = xstrndup(parts[0], lens[0]);
    have_ip = true;
  }

  _cleanup_free_ char *host_ip = NULL;
  if (have_ip && *ip_word) {
    /* An IPv6 address is only taken in brackets (its colons would be read
     * as separators); an IPv4 one only without. */
    struct in6_addr a6;
    struct in_addr a4;
    bool bracketed = s[0] == '[';
    if (bracketed ? inet_pton(AF_INET6, ip_word, &a6) != 1 : inet_pton(AF_INET, ip_word, &a4) != 1)
      return bothy_error_set_code(err, EINVAL, "invalid IP address \"%s\"", ip_word);
    host_ip = canonical_ip(ip_word);
  } else if (have_ip && s[0] == '[') {
    return bothy_error_set_code(err, EINVAL, "invalid IP address \"[]\"");
  } else {
    host_ip = xstrdup(BOTHY_PORT_DEFAULT_HOST_IP);
  }

  struct range ctr;
  char proto[4];
  if (parse_ctr_part(s, ctr_word, &ctr, proto, err) < 0)
    return -EINVAL;
  struct range host = { 0, 0 };
  if (host_word && host_len > 0) {
    if (parse_range(s, host_word, host_len, /* host= */ true, &host, err) < 0)
      return -EINVAL;
    if (host.last - host.first != ctr.last - ctr.first) {
      /* Either side of the spec, without the protocol and the address. */
      size_t ctr_len = strcspn(ctr_word, "/");
      return bothy_error_set_code(
          err, EINVAL,
          "invalid range \"%.*s:%.*s\": the host and container ranges must be of "
          "the same length",
          (int) host_len, host_word, (int) ctr_len, ctr_word);
    }
  }
  specs_append(v, n, host_ip, host, ctr, proto);
  return 0;
}

int bothy_port_from_exposed(char *const *exposed, struct bothy_port_spec **v, size_t *n,
                            bothy_error_t *err)
{
  size_t n0 = *n;
  for (size_t i = 0; exposed && exposed[i]; i++) {
    struct range ctr;
    char proto[4];
    if (parse_ctr_part(exposed[i], exposed[i], &ctr, proto, err) < 0) {
      /* Leave *v as it was: drop what this call appended. */
      for (size_t j = n0; j < *n; j++)
        free((*v)[j].host_ip);
      *n = n0;
      return bothy_error_prefix(err, "invalid exposed port \"%s\"", exposed[i]);
    }
    specs_append(v, n, BOTHY_PORT_DEFAULT_HOST_IP, (struct range){ 0, 0 }, ctr, proto);
  }
  return 0;
}

void bothy_port_specs_free(struct bothy_port_spec *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    free(v[i].host_ip);
  free(v);
}

/* ---- reservations ------------------------------------------------------- */

/* "127.0.0.1:8080/tcp", "[::1]:8080/tcp". */
static char *port_string(const char *ip, unsigned port, const char *proto)
{
  bool v6 = strchr(ip, ':') != NULL;
  return xasprintf("%s%s%s:%u/%s", v6 ? "[" : "", ip, v6 ? "]" : "", port, proto);
}

/* A socket bound to ip:port of proto (port 0: the kernel picks one, read
 * back into *ret_port). Returns the fd or -errno. */
static int bind_port(const char *ip, const char *proto, unsigned port, unsigned *ret_port)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int family;
  struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
  if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
    family = sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    len = sizeof(*sin);
  } else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
    family = sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t) port);
    len = sizeof(*sin6);
  } else {
    return -EINVAL;
  }
  int type = streq(proto, "udp") ? SOCK_DGRAM : SOCK_STREAM;
  _cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  /* SO_REUSEADDR stays off (the default): with it, a TCP port another
   * socket has bound but not yet listens on could be bound again, and the
   * check would pass for a port that is taken. */
  if (bind(fd, (struct sockaddr *) &ss, len) < 0)
    return -errno;
  if (ret_port) {
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
      return -errno;
    *ret_port = ntohs(family == AF_INET ? sin->sin_port : sin6->sin6_port);
  }
  return TAKE_FD(fd);
}

/* The container that has ip:port/proto recorded, or one that has a port
 * there that conflicts with it (a wildcard address on either side): 1 and
 * *ret_container, or 0. */
static int recorded_conflict(sqlite3 *db, const char *ip, unsigned port, const char *proto,
                             char **ret_container, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "SELECT container FROM ports WHERE host_port = ?2 AND proto = ?3 AND "
                       "(host_ip = ?1 OR host_ip IN ('0.0.0.0', '::') OR "
                       "?1 IN ('0.0.0.0', '::')) LIMIT 1",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, ip, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, (int) port);
  sqlite3_bind_text(st, 3, proto, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return bothy_db_error(db, err, "reading the published ports");
  *ret_container = xstrdup((const char *) sqlite3_column_text(st, 0));
  return 1;
}

static int conflict_error(const char *container, const char *other, const char *ip, unsigned port,
                          const char *proto, bothy_error_t *err)
{
  _cleanup_free_ char *what = port_string(ip, port, proto);
  if (streq(other, container))
    return bothy_error_set_code(err, EADDRINUSE, "port %s is already in use by this container",
                                what);
  return bothy_error_set_code(err, EADDRINUSE, "port %s is already in use by container %.12s", what,
                              other ? other : "");
}

/* Binds spec's port (choosing one for port 0 that no container has
 * recorded). Returns the fd, with the port in *ret_port. */
static int take_port(sqlite3 *db, const char *container, const struct bothy_port_spec *p,
                     unsigned *ret_port, bothy_error_t *err)
{
  if (p->host_port != 0) {
    _cleanup_free_ char *other = NULL;
    int r = recorded_conflict(db, p->host_ip, p->host_port, p->proto, &other, err);
    if (r < 0)
      return r;
    if (r > 0)
      return conflict_error(container, other, p->host_ip, p->host_port, p->proto, err);
    int fd = bind_port(p->host_ip, p->proto, p->host_port, NULL);
    if (fd < 0) {
      _cleanup_free_ char *what = port_string(p->host_ip, p->host_port, p->proto);
      if (fd == -EADDRINUSE)
        return bothy_error_set_code(err, EADDRINUSE, "port %s is already in use", what);
      return bothy_error_set(err, -fd, "cannot bind %s", what);
    }
    *ret_port = p->host_port;
    return fd;
  }
  /* The kernel's choice may be a port a stopped container has recorded:
   * keep the socket (so that it is not offered again) and ask again. */
  enum { TRIES = 64 };
  int spare[TRIES];
  size_t nspare = 0;
  int fd = -1;
  for (;;) {
    unsigned port = 0;
    fd = bind_port(p->host_ip, p->proto, 0, &port);
    if (fd < 0) {
      _cleanup_free_ char *what = port_string(p->host_ip, 0, p->proto);
      bothy_error_set(err, -fd, "cannot bind %s", what);
      break;
    }
    _cleanup_free_ char *other = NULL;
    int r = recorded_conflict(db, p->host_ip, port, p->proto, &other, err);
    if (r == 0) {
      *ret_port = port;
      break;
    }
    fd = safe_close(fd);
    if (r < 0)
      break;
    /* Keep it bound: closing it would let the kernel offer it again. */
    int again = bind_port(p->host_ip, p->proto, port, NULL);
    if (again >= 0)
      spare[nspare++] = again;
    if (nspare == TRIES) {
      _cleanup_free_ char *what = port_string(p->host_ip, 0, p->proto);
      bothy_error_set_code(err, EADDRINUSE, "no free port for %s: every one offered is recorded",
                           what);
      break;
    }
  }
  for (size_t i = 0; i < nspare; i++)
    safe_close(spare[i]);
  return fd < 0 ? bothy_error_ret(err) : fd;
}

static int record_port(sqlite3 *db, const char *container, const struct bothy_port_spec *p,
                       unsigned port, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "INSERT INTO ports (container, host_ip, host_port, proto, ctr_port) "
                       "VALUES (?, ?, ?, ?, ?)",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, container, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, p->host_ip, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, (int) port);
  sqlite3_bind_text(st, 4, p->proto, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, p->ctr_port);
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(db, err, "recording the published ports");
  return 0;
}

static void close_all(int *fds, size_t n)
{
  for (size_t i = 0; fds && i < n; i++)
    safe_close(fds[i]);
}

int bothy_ports_reserve(sqlite3 *db, const char *container, struct bothy_port_spec *v, size_t n,
                        int **ret_fds, bothy_error_t *err)
{
  for (size_t i = 0; i < n; i++)
    if (!v[i].host_ip || (!streq(v[i].proto, "tcp") && !streq(v[i].proto, "udp")) ||
        v[i].ctr_port == 0)
      return bothy_error_set_code(err, EINVAL, "invalid port specification for container %.12s",
                                  container);
  int tx = bothy_net_tx_begin(db, err);
  if (tx < 0)
    return -1;
  _cleanup_free_ int *fds = xmalloc((n ? n : 1) * sizeof(*fds));
  _cleanup_free_ unsigned *ports = xmalloc((n ? n : 1) * sizeof(*ports));
  size_t done = 0;
  int r = 0;
  for (; done < n; done++) {
    /* The rows recorded so far are in the transaction: a port twice in v
     * conflicts with itself. */
    r = take_port(db, container, &v[done], &ports[done], err);
    if (r < 0)
      break;
    fds[done] = r;
    r = record_port(db, container, &v[done], ports[done], err);
    if (r < 0) {
      done++;
      break;
    }
  }
  if (r < 0) {
    bothy_db_tx_rollback(db, tx);
    close_all(fds, done);
    return r;
  }
  if (bothy_db_tx_commit(db, tx, err) < 0) {
    close_all(fds, n);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    v[i].host_port = (uint16_t) ports[i];
  if (ret_fds) {
    *ret_fds = n ? TAKE_PTR(fds) : NULL;
  } else {
    close_all(fds, n);
  }
  return 0;
}

int bothy_ports_release(sqlite3 *db, const char *container, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "DELETE FROM ports WHERE container = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, container, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    return bothy_db_error(db, err, "removing the published ports");
  return 0;
}

int bothy_ports_of_container(sqlite3 *db, const char *container, struct bothy_port_spec **ret,
                             size_t *ret_n, bothy_error_t *err)
{
  if (bothy_net_migrate(db, err) < 0)
    return -1;
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db,
                       "SELECT host_ip, host_port, proto, ctr_port FROM ports WHERE container = ? "
                       "ORDER BY rowid",
                       &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, container, -1, SQLITE_STATIC);
  struct bothy_port_spec *v = NULL;
  size_t n = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    v = xrealloc(v, (n + 1) * sizeof(*v));
    struct bothy_port_spec *p = &v[n++];
    p->host_ip = xstrdup((const char *) sqlite3_column_text(st, 0));
    p->host_port = (uint16_t) sqlite3_column_int(st, 1);
    const char *proto = (const char *) sqlite3_column_text(st, 2);
    snprintf(p->proto, sizeof(p->proto), "%s", proto ? proto : "");
    p->ctr_port = (uint16_t) sqlite3_column_int(st, 3);
  }
  if (rc != SQLITE_DONE) {
    bothy_port_specs_free(v, n);
    return bothy_db_error(db, err, "reading the published ports");
  }
  *ret = v;
  *ret_n = n;
  return 0;
}
