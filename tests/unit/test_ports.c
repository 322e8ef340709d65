/* SPDX-License-Identifier: GPL-2.0-or-later */
/* net/ports: the -p and -P syntaxes, and host port reservations in a
 * temporary database, checked against sockets the test binds itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/db.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/xalloc.h"
#include "net/ipam.h"
#include "net/ports.h"

/* ---- parsing ------------------------------------------------------------ */

/* The specs of s as "ip|host|ctr|proto" lines joined by spaces, or the
 * error message prefixed with "error: ". */
static char *parse_str(const char *s)
{
  struct bothy_port_spec *v = NULL;
  size_t n = 0;
  bothy_error_t err = NULL;
  if (bothy_port_parse(s, &v, &n, &err) < 0) {
    assert_int_equal(err->code, EINVAL);
    assert_int_equal(n, 0);
    assert_null(v);
    char *r = xasprintf("error: %s", err->msg);
    bothy_error_free(&err);
    return r;
  }
  char *out = xstrdup("");
  for (size_t i = 0; i < n; i++) {
    char *next = xasprintf("%s%s%s|%u|%u|%s", out, i ? " " : "", v[i].host_ip, v[i].host_port,
                           v[i].ctr_port, v[i].proto);
    free(out);
    out = next;
  }
  bothy_port_specs_free(v, n);
  return out;
}

static void test_parse_good(void **state)
{
  static const struct {
    const char *in, *want;
  } cases[] = {
    { "80", "127.0.0.1|0|80|tcp" },
    { "80/tcp", "127.0.0.1|0|80|tcp" },
    { "80/", "127.0.0.1|0|80|tcp" },
    { "53/udp", "127.0.0.1|0|53|udp" },
    { "53/UDP", "127.0.0.1|0|53|udp" },
    { "8080:80", "127.0.0.1|8080|80|tcp" },
    { "8080:80/udp", "127.0.0.1|8080|80|udp" },
    { ":80", "127.0.0.1|0|80|tcp" },
    { "0:80", "127.0.0.1|0|80|tcp" },
    { "0.0.0.0:8080:80", "0.0.0.0|8080|80|tcp" },
    { "192.168.1.5:8080:80/udp", "192.168.1.5|8080|80|udp" },
    { "127.0.0.1::80", "127.0.0.1|0|80|tcp" },
    { "::80", "127.0.0.1|0|80|tcp" },
    { "[::1]:8080:80", "::1|8080|80|tcp" },
    { "[::]::80/udp", "::|0|80|udp" },
    { "[0:0:0:0:0:0:0:1]:8080:80", "::1|8080|80|tcp" },
    { "[2001:DB8::5]:443:443", "2001:db8::5|443|443|tcp" },
    { "8000-8002:80-82", "127.0.0.1|8000|80|tcp 127.0.0.1|8001|81|tcp 127.0.0.1|8002|82|tcp" },
    { "80-82", "127.0.0.1|0|80|tcp 127.0.0.1|0|81|tcp 127.0.0.1|0|82|tcp" },
    { "10.0.0.1::7000-7001/udp", "10.0.0.1|0|7000|udp 10.0.0.1|0|7001|udp" },
    { "9000-9000:90-90", "127.0.0.1|9000|90|tcp" },
    { "65535:65535", "127.0.0.1|65535|65535|tcp" },
    { "080", "127.0.0.1|0|80|tcp" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    _cleanup_free_ char *got = parse_str(cases[i].in);
    if (strcmp(got, cases[i].want) != 0)
      fail_msg("'%s': got '%s', want '%s'", cases[i].in, got, cases[i].want);
  }
}

static void test_parse_bad(void **state)
{
  static const struct {
    const char *in, *want;
  } cases[] = {
    { "", "invalid port specification: \"\"" },
    { "http", "invalid port specification: \"http\"" },
    { "80:", "invalid port specification: \"80:\"" },
    { "8080:http", "invalid port specification: \"8080:http\"" },
    { "x:80", "invalid port specification: \"x:80\"" },
    { "/tcp", "invalid port specification: \"/tcp\"" },
    { "-80", "invalid port specification: \"-80\"" },
    { "80-", "invalid port specification: \"80-\"" },
    { "80-81-82", "invalid port specification: \"80-81-82\"" },
    { " 80", "invalid port specification: \" 80\"" },
    { "+80", "invalid port specification: \"+80\"" },
    { "1:2:3:4", "invalid port specification: \"1:2:3:4\"" },
    { "::1:8080:80", "invalid port specification: \"::1:8080:80\"" },
    { "[::1]:80", "invalid port specification: \"[::1]:80\"" },
    { "[::1]8080:80", "invalid port specification: \"[::1]8080:80\"" },
    { "0", "invalid range \"0\": ports are 1 to 65535" },
    { "65536", "invalid range \"65536\": ports are 1 to 65535" },
    { "99999999999999999999", "invalid range \"99999999999999999999\": ports are 1 to 65535" },
    { "70000:80", "invalid range \"70000\": ports are 1 to 65535" },
    { "0-2:80-82", "invalid range \"0-2\": ports are 1 to 65535" },
    { "82-80", "invalid range \"82-80\": the first port is greater than the last" },
    { "8000-8002:80", "invalid range \"8000-8002:80\": the host and container ranges must be of "
                      "the same length" },
    { "8000-8001:80-82/udp", "invalid range \"8000-8001:80-82\"" },
    { "8000:80-82", "invalid range \"8000:80-82\"" },
    { "1.2.3:8080:80", "invalid IP address \"1.2.3\"" },
    { "localhost:8080:80", "invalid IP address \"localhost\"" },
    { "256.0.0.1:8080:80", "invalid IP address \"256.0.0.1\"" },
    { "[1.2.3.4]:8080:80", "invalid IP address \"1.2.3.4\"" },
    { "[::g]:8080:80", "invalid IP address \"::g\"" },
    { "[::1:8080:80", "invalid IP address \"[::1:8080:80\"" },
    { "[]:8080:80", "invalid IP address \"[]\"" },
    { "80/sctp", "invalid protocol \"sctp\": only tcp and udp are supported" },
    { "80/tcp/udp", "invalid protocol \"tcp/udp\"" },
    { "8080:80/tcpx", "invalid protocol \"tcpx\"" },
  };
  for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
    _cleanup_free_ char *got = parse_str(cases[i].in);
    _cleanup_free_ char *want = xasprintf("error: %s", cases[i].want);
    if (strncmp(got, want, strlen(want)) != 0)
      fail_msg("'%s': got '%s', want '%s'", cases[i].in, got, want);
  }
}

static void test_parse_appends(void **state)
{
  struct bothy_port_spec *v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_port_parse("8080:80", &v, &n, NULL), 0);
  assert_int_equal(bothy_port_parse("53/udp", &v, &n, NULL), 0);
  /* A failure leaves what is there. */
  assert_int_equal(bothy_port_parse("nope", &v, &n, NULL), -EINVAL);
  assert_int_equal(n, 2);
  assert_int_equal(v[0].host_port, 8080);
  assert_int_equal(v[1].ctr_port, 53);
  assert_string_equal(v[1].proto, "udp");

  char *exposed[] = { "80/tcp", "53/udp", "8443", "7000-7001/tcp", NULL };
  assert_int_equal(bothy_port_from_exposed(exposed, &v, &n, NULL), 0);
  assert_int_equal(n, 7);
  const unsigned ports[] = { 80, 53, 8443, 7000, 7001 };
  const char *protos[] = { "tcp", "udp", "tcp", "tcp", "tcp" };
  for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
    assert_string_equal(v[2 + i].host_ip, "127.0.0.1");
    assert_int_equal(v[2 + i].host_port, 0);
    assert_int_equal(v[2 + i].ctr_port, ports[i]);
    assert_string_equal(v[2 + i].proto, protos[i]);
  }
  /* A bad key appends nothing, not even the good ones before it. */
  char *bad[] = { "81/tcp", "80/sctp", NULL };
  bothy_error_t err = NULL;
  assert_int_equal(bothy_port_from_exposed(bad, &v, &n, &err), -EINVAL);
  assert_string_equal(err->msg, "invalid exposed port \"80/sctp\": invalid protocol \"sctp\": "
                                "only tcp and udp are supported");
  bothy_error_free(&err);
  assert_int_equal(n, 7);
  assert_int_equal(bothy_port_from_exposed(NULL, &v, &n, NULL), 0);
  assert_int_equal(n, 7);
  bothy_port_specs_free(v, n);
}

/* ---- reservations ------------------------------------------------------- */

struct fixture {
  char *dir;
  sqlite3 *db;
};

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  f->dir = xstrdup("/tmp/bothy-ports.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  _cleanup_free_ char *path = xasprintf("%s/bothy.db", f->dir);
  assert_int_equal(bothy_db_open(path, &f->db, NULL), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  sqlite3_close_v2(f->db);
  assert_int_equal(bothy_rm_rf_at(AT_FDCWD, f->dir, NULL), 0);
  free(f->dir);
  free(f);
  return 0;
}

#define CTR_A "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000"
#define CTR_B "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000"

/* A socket of type bound to 127.0.0.1:port (0: any); its port in *ret_port. */
static int bind_local(int type, unsigned port, unsigned *ret_port)
{
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
    close(fd);
    return -errno;
  }
  socklen_t len = sizeof(sin);
  assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
  if (ret_port)
    *ret_port = ntohs(sin.sin_port);
  return fd;
}

/* A TCP port nothing uses right now. */
static unsigned free_port(void)
{
  unsigned port = 0;
  close(bind_local(SOCK_STREAM, 0, &port));
  return port;
}

static struct bothy_port_spec spec(const char *ip, unsigned host, unsigned ctr, const char *proto)
{
  struct bothy_port_spec p = { .host_ip = (char *) ip,
                               .host_port = (uint16_t) host,
                               .ctr_port = (uint16_t) ctr };
  snprintf(p.proto, sizeof(p.proto), "%s", proto);
  return p;
}

static size_t recorded(struct fixture *f, const char *ctr)
{
  struct bothy_port_spec *v = NULL;
  size_t n = 0;
  assert_int_equal(bothy_ports_of_container(f->db, ctr, &v, &n, NULL), 0);
  bothy_port_specs_free(v, n);
  return n;
}

static int reserve(struct fixture *f, const char *ctr, struct bothy_port_spec *v, size_t n,
                   char **ret_msg)
{
  bothy_error_t err = NULL;
  int r = bothy_ports_reserve(f->db, ctr, v, n, NULL, &err);
  if (r < 0) {
    assert_int_equal(r, -err->code);
    if (ret_msg)
      *ret_msg = xstrdup(err->msg);
    bothy_error_free(&err);
  }
  return r;
}

static void test_reserve_held_by_socket(void **state)
{
  struct fixture *f = *state;
  unsigned port = 0;
  int held = bind_local(SOCK_STREAM, 0, &port);
  /* Another free port first: it must not stay recorded or bound. */
  unsigned other = free_port();
  struct bothy_port_spec v[] = { spec("127.0.0.1", other, 81, "tcp"),
                                 spec("127.0.0.1", port, 80, "tcp") };
  _cleanup_free_ char *msg = NULL;
  assert_int_equal(reserve(f, CTR_A, v, 2, &msg), -EADDRINUSE);
  _cleanup_free_ char *want = xasprintf("port 127.0.0.1:%u/tcp is already in use", port);
  assert_string_equal(msg, want);
  assert_int_equal(recorded(f, CTR_A), 0);
  int again = bind_local(SOCK_STREAM, other, NULL);
  assert_true(again >= 0);
  close(again);
  /* The same port over UDP is another port. */
  struct bothy_port_spec u = spec("127.0.0.1", port, 80, "udp");
  assert_int_equal(reserve(f, CTR_A, &u, 1, NULL), 0);
  assert_int_equal(recorded(f, CTR_A), 1);
  close(held);
}

static void test_reserve_two_containers(void **state)
{
  struct fixture *f = *state;
  unsigned port = free_port();
  struct bothy_port_spec a = spec("127.0.0.1", port, 80, "tcp");
  assert_int_equal(reserve(f, CTR_A, &a, 1, NULL), 0);
  /* Nothing holds the port now (no ret_fds): only the record refuses B. */
  int probe = bind_local(SOCK_STREAM, port, NULL);
  assert_true(probe >= 0);
  close(probe);

  struct bothy_port_spec b[] = {
    spec("127.0.0.1", port, 8080, "tcp"),
    spec("0.0.0.0", port, 8080, "tcp"), /* the wildcard conflicts with every address */
  };
  for (size_t i = 0; i < ARRAY_SIZE(b); i++) {
    char *msg = NULL;
    assert_int_equal(reserve(f, CTR_B, &b[i], 1, &msg), -EADDRINUSE);
    _cleanup_free_ char *w =
        xasprintf("port %s:%u/tcp is already in use by container aaaaaaaaaaaa", b[i].host_ip, port);
    assert_string_equal(msg, w);
    free(msg);
  }
  assert_int_equal(recorded(f, CTR_B), 0);

  /* And the reverse: a wildcard recorded conflicts with a specific address. */
  unsigned port2 = free_port();
  struct bothy_port_spec wild = spec("0.0.0.0", port2, 80, "tcp");
  assert_int_equal(reserve(f, CTR_A, &wild, 1, NULL), 0);
  struct bothy_port_spec specific = spec("127.0.0.1", port2, 80, "tcp");
  assert_int_equal(reserve(f, CTR_B, &specific, 1, NULL), -EADDRINUSE);

  /* Twice in one request. */
  unsigned port3 = free_port();
  struct bothy_port_spec twice[] = { spec("127.0.0.1", port3, 80, "tcp"),
                                     spec("127.0.0.1", port3, 81, "tcp") };
  _cleanup_free_ char *msg = NULL;
  assert_int_equal(reserve(f, CTR_B, twice, 2, &msg), -EADDRINUSE);
  assert_non_null(strstr(msg, "already in use by this container"));
  assert_int_equal(recorded(f, CTR_B), 0);

  /* Once A releases, B gets it. */
  assert_int_equal(bothy_ports_release(f->db, CTR_A, NULL), 0);
  assert_int_equal(recorded(f, CTR_A), 0);
  assert_int_equal(reserve(f, CTR_B, &b[0], 1, NULL), 0);
  assert_int_equal(recorded(f, CTR_B), 1);
  assert_int_equal(bothy_ports_release(f->db, CTR_A, NULL), 0);
}

static void test_reserve_any_port(void **state)
{
  struct fixture *f = *state;
  unsigned fixed = free_port();
  struct bothy_port_spec v[] = { spec("127.0.0.1", 0, 80, "tcp"),
                                 spec("127.0.0.1", fixed, 81, "tcp"),
                                 spec("127.0.0.1", 0, 53, "udp") };
  int *fds = NULL;
  assert_int_equal(bothy_ports_reserve(f->db, CTR_A, v, 3, &fds, NULL), 0);
  assert_non_null(fds);
  assert_int_not_equal(v[0].host_port, 0);
  assert_int_equal(v[1].host_port, fixed);
  assert_int_not_equal(v[2].host_port, 0);
  /* The sockets hold the ports, in spec order, and are close-on-exec. */
  for (size_t i = 0; i < 3; i++) {
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(getsockname(fds[i], (struct sockaddr *) &sin, &len), 0);
    assert_int_equal(ntohs(sin.sin_port), v[i].host_port);
    assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
  }
  assert_int_equal(bind_local(SOCK_STREAM, v[0].host_port, NULL), -EADDRINUSE);
  assert_int_equal(bind_local(SOCK_DGRAM, v[2].host_port, NULL), -EADDRINUSE);
  for (size_t i = 0; i < 3; i++)
    close(fds[i]);
  free(fds);

  /* Read back in order. */
  struct bothy_port_spec *got = NULL;
  size_t n = 0;
  assert_int_equal(bothy_ports_of_container(f->db, CTR_A, &got, &n, NULL), 0);
  assert_int_equal(n, 3);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(got[i].host_ip, "127.0.0.1");
    assert_int_equal(got[i].host_port, v[i].host_port);
    assert_int_equal(got[i].ctr_port, v[i].ctr_port);
    assert_string_equal(got[i].proto, v[i].proto);
  }
  bothy_port_specs_free(got, n);

  /* A failure gives back port 0 to the specs that had it. */
  unsigned port = 0;
  int held = bind_local(SOCK_STREAM, 0, &port);
  struct bothy_port_spec w[] = { spec("127.0.0.1", 0, 80, "tcp"),
                                 spec("127.0.0.1", port, 81, "tcp") };
  assert_int_equal(reserve(f, CTR_B, w, 2, NULL), -EADDRINUSE);
  assert_int_equal(w[0].host_port, 0);
  assert_int_equal(recorded(f, CTR_B), 0);
  close(held);
}

static void test_reserve_errors(void **state)
{
  struct fixture *f = *state;
  /* An address the host does not have. */
  struct bothy_port_spec v = spec("192.0.2.1", free_port(), 80, "tcp");
  _cleanup_free_ char *msg = NULL;
  assert_int_equal(reserve(f, CTR_A, &v, 1, &msg), -EADDRNOTAVAIL);
  _cleanup_free_ char *want = xasprintf("cannot bind 192.0.2.1:%u/tcp: ", v.host_port);
  assert_true(strncmp(msg, want, strlen(want)) == 0);
  assert_int_equal(recorded(f, CTR_A), 0);
  /* Nothing to reserve is fine. */
  int *fds = (int *) 1;
  assert_int_equal(bothy_ports_reserve(f->db, CTR_A, NULL, 0, &fds, NULL), 0);
  assert_null(fds);
  /* Releasing nothing is fine. */
  assert_int_equal(bothy_ports_release(f->db, CTR_B, NULL), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_good),
    cmocka_unit_test(test_parse_bad),
    cmocka_unit_test(test_parse_appends),
    cmocka_unit_test_setup_teardown(test_reserve_held_by_socket, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reserve_two_containers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reserve_any_port, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reserve_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
