/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of net/link on this machine's kernel (root): namespaces under a
 * temporary directory, bridges and veths named "bt" + pid in hex so that
 * parallel runs never collide, and 10.251.N.0/24 / 10.252.N.0/24 subnets with
 * N from the pid. What is asserted is read from outside the library: statfs,
 * /proc/sys, /sys/class/net, getifaddrs(), ioctls and /proc/net/route inside
 * the namespace, and UDP datagrams that really cross the bridge. Teardown
 * removes every name a test could have made, whether the test passed or not. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "base/xalloc.h"
#include "net/link.h"

#define NNS   3
#define NVETH 4

struct fixture {
  char dir[64];         /* temporary directory of the namespaces */
  char ns[NNS][96];     /* dir/nsI */
  char br[2][16];       /* btPIDb0, btPIDb1 */
  char veth[NVETH][16]; /* btPIDv0 ... */
  unsigned n;           /* the third octet of the test subnets */
};

static void sleep_ms(long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

static int setup(void **state)
{
  struct fixture *f = xmalloc0(sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/bothy-netlink-test.XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  unsigned pid = (unsigned) getpid();
  for (int i = 0; i < NNS; i++) {
    _cleanup_free_ char *ns = xasprintf("%s/ns%d", f->dir, i);
    snprintf(f->ns[i], sizeof(f->ns[i]), "%s", ns);
  }
  for (int i = 0; i < 2; i++)
    snprintf(f->br[i], sizeof(f->br[i]), "bt%xb%d", pid, i);
  for (int i = 0; i < NVETH; i++)
    snprintf(f->veth[i], sizeof(f->veth[i]), "bt%xv%d", pid, i);
  f->n = pid % 250 + 1;
  *state = f;
  return 0;
}

/* Everything a test may have made, made or not: all of it tolerates absence. */
static int teardown(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  for (int i = 0; i < NVETH; i++)
    bothy_net_link_delete(f->veth[i], NULL);
  for (int i = 0; i < 2; i++)
    bothy_net_link_delete(f->br[i], NULL);
  for (int i = 0; i < NNS; i++)
    bothy_netns_delete(f->ns[i], NULL);
  int r = bothy_rm_rf_at(AT_FDCWD, f->dir, &err);
  bothy_error_free(&err);
  free(f);
  return r;
}

static void ok(int r, bothy_error_t *err)
{
  if (r < 0)
    fail_msg("%s", *err ? (*err)->msg : "(no message)");
  bothy_error_free(err);
}

static char *read_str(const char *fmt, ...) _printf_(1, 2);
static char *read_str(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *p = xvasprintf(fmt, ap);
  va_end(ap);
  char *s = NULL;
  if (bothy_read_file(AT_FDCWD, p, &s, NULL, NULL) < 0)
    return NULL;
  return s;
}

static ino_t ino_of(const char *path)
{
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_ino;
}

/* Waits up to 10 s for a link to go: a namespace dies in the kernel's
 * cleanup work, after its last user. */
static bool link_gone_within(const char *name)
{
  for (int i = 0; i < 200; i++) {
    if (!bothy_net_link_exists(name))
      return true;
    sleep_ms(50);
  }
  return false;
}

/* ------------------------------------------------ probes inside a namespace */

struct probe {
  const char *ifname;
  unsigned flags;
  int mtu;
  unsigned char mac[6];
  bool exists;
  bool default_route;
  int fd; /* a socket made inside */
};

/* ifname's flags, mtu and MAC from an ioctl socket opened inside. */
static int probe_link(void *arg, bothy_error_t *err)
{
  struct probe *p = arg;
  _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return bothy_error_errno(err, "socket");
  struct ifreq ifr = { 0 };
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
  p->exists = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  if (!p->exists)
    return 0;
  p->flags = (unsigned short) ifr.ifr_flags;
  if (ioctl(s, SIOCGIFMTU, &ifr) < 0)
    return bothy_error_errno(err, "SIOCGIFMTU");
  p->mtu = ifr.ifr_mtu;
  if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
    return bothy_error_errno(err, "SIOCGIFHWADDR");
  memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
  return 0;
}

/* Is there a default route, as the namespace's own /proc/net/route says? */
static int probe_route(void *arg, bothy_error_t *err)
{
  struct probe *p = arg;
  _cleanup_free_ char *routes = NULL;
  int r = bothy_read_file(AT_FDCWD, "/proc/thread-self/net/route", &routes, NULL, err);
  if (r < 0)
    return r;
  p->default_route = false;
  for (char *line = strchr(routes, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    char ifname[32];
    unsigned dst, gw, flags, mask;
    if (sscanf(line + 1, "%31s %x %x %x %*d %*d %*d %x", ifname, &dst, &gw, &flags, &mask) == 5 &&
        dst == 0 && mask == 0)
      p->default_route = true;
  }
  return 0;
}

/* A UDP socket made inside, bound to ip:port (ip NULL: unbound). */
struct udp {
  const char *ip;
  uint16_t port;
  int fd;
};

static int udp_socket(void *arg, bothy_error_t *err)
{
  struct udp *u = arg;
  _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return bothy_error_errno(err, "socket");
  if (u->ip) {
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(u->port) };
    inet_pton(AF_INET, u->ip, &sa.sin_addr);
    if (bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
      return bothy_error_errno(err, "cannot bind %s:%u", u->ip, u->port);
  }
  u->fd = TAKE_FD(s);
  return 0;
}

static int fail_inside(void *arg, bothy_error_t *err)
{
  return bothy_error_set(err, EPROTO, "failing on purpose");
}

/* Sends from `from` to ip:port until `to` receives (ARP may drop the first
 * datagrams), and checks the payload and the sender's address. */
static void udp_roundtrip(int from, int to, const char *ip, uint16_t port, const char *from_ip)
{
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
  assert_int_equal(inet_pton(AF_INET, ip, &dst.sin_addr), 1);
  const char msg[] = "bothy over a bridge";
  for (int i = 0; i < 50; i++) {
    assert_true(sendto(from, msg, sizeof(msg), 0, (struct sockaddr *) &dst, sizeof(dst)) ==
                (ssize_t) sizeof(msg));
    struct pollfd pfd = { .fd = to, .events = POLLIN };
    if (poll(&pfd, 1, 200) == 1) {
      char buf[64];
      struct sockaddr_in src;
      socklen_t sl = sizeof(src);
      ssize_t n = recvfrom(to, buf, sizeof(buf), 0, (struct sockaddr *) &src, &sl);
      assert_int_equal(n, sizeof(msg));
      assert_memory_equal(buf, msg, sizeof(msg));
      char sip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &src.sin_addr, sip, sizeof(sip));
      assert_string_equal(sip, from_ip);
      return;
    }
  }
  fail_msg("no datagram from %s reached %s:%u", from_ip, ip, port);
}

/* The IPv4 addresses of ifname, as "a.b.c.d/len" joined by spaces. */
static char *ipv4_addrs(const char *ifname)
{
  struct ifaddrs *ifa = NULL;
  assert_int_equal(getifaddrs(&ifa), 0);
  char *out = xstrdup("");
  for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
    if (!streq(i->ifa_name, ifname) || !i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
      continue;
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, a, sizeof(a));
    uint32_t m = ntohl(((struct sockaddr_in *) i->ifa_netmask)->sin_addr.s_addr);
    char *next = xasprintf("%s%s%s/%d", out, *out ? " " : "", a, __builtin_popcount(m));
    free(out);
    out = next;
  }
  freeifaddrs(ifa);
  return out;
}

/* ------------------------------------------------------------- namespaces */

static void test_netns_lifecycle(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;

  assert_false(bothy_netns_exists(f->ns[0]));
  ok(bothy_netns_create(f->ns[0], &err), &err);
  assert_true(bothy_netns_exists(f->ns[0]));
  /* A namespace of its own, not ours. */
  assert_int_not_equal(ino_of(f->ns[0]), ino_of("/proc/self/ns/net"));

  /* lo is up inside. */
  struct probe p = { .ifname = "lo" };
  ok(bothy_netns_run(f->ns[0], probe_link, &p, &err), &err);
  assert_true(p.exists);
  assert_true(p.flags & IFF_UP);

  /* A second create on a mounted namespace: EEXIST, the first untouched. */
  ino_t ino = ino_of(f->ns[0]);
  assert_int_equal(bothy_netns_create(f->ns[0], &err), -EEXIST);
  assert_non_null(err);
  assert_non_null(strstr(err->msg, f->ns[0]));
  bothy_error_free(&err);
  assert_int_equal(ino_of(f->ns[0]), ino);

  /* Delete: unmounted and gone; twice is fine. */
  ok(bothy_netns_delete(f->ns[0], &err), &err);
  assert_false(bothy_netns_exists(f->ns[0]));
  assert_false(bothy_path_exists(f->ns[0]));
  ok(bothy_netns_delete(f->ns[0], &err), &err);

  /* A plain leftover file is not a namespace, and create reuses it. */
  int fd = open(f->ns[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_false(bothy_netns_exists(f->ns[1]));
  ok(bothy_netns_create(f->ns[1], &err), &err);
  assert_true(bothy_netns_exists(f->ns[1]));

  /* No parent directory: an error naming the path, nothing left. */
  _cleanup_free_ char *orphan = xasprintf("%s/missing/ns", f->dir);
  assert_true(bothy_netns_create(orphan, &err) < 0);
  assert_non_null(strstr(err->msg, orphan));
  bothy_error_free(&err);
  assert_false(bothy_path_exists(orphan));
}

static void test_netns_run_restores(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  ok(bothy_netns_create(f->ns[0], &err), &err);
  ino_t home = ino_of("/proc/thread-self/ns/net");

  assert_int_equal(bothy_netns_run(f->ns[0], fail_inside, NULL, &err), -EPROTO);
  assert_string_equal(err->msg, "failing on purpose: Protocol error");
  bothy_error_free(&err);
  assert_int_equal(ino_of("/proc/thread-self/ns/net"), home);

  /* Not a namespace: nothing entered. */
  assert_true(bothy_netns_run(f->dir, fail_inside, NULL, &err) < 0);
  assert_non_null(strstr(err->msg, f->dir));
  bothy_error_free(&err);
  assert_int_equal(ino_of("/proc/thread-self/ns/net"), home);
}

/* --------------------------------------------------------------- bridges */

static void test_bridge_ensure(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  _cleanup_free_ char *gw = xasprintf("10.251.%u.1/24", f->n);
  _cleanup_free_ char *subnet = xasprintf("10.251.%u.0/24", f->n);

  assert_false(bothy_net_link_exists(f->br[0]));
  ok(bothy_net_bridge_ensure(f->br[0], gw, 1400, &err), &err);
  /* Twice: the same, no error. */
  ok(bothy_net_bridge_ensure(f->br[0], gw, 1400, &err), &err);
  assert_true(bothy_net_link_exists(f->br[0]));
  _cleanup_free_ char *brdir = xasprintf("/sys/class/net/%s/bridge", f->br[0]);
  assert_true(bothy_path_exists(brdir));

  _cleanup_free_ char *addrs = ipv4_addrs(f->br[0]);
  assert_string_equal(addrs, gw);
  _cleanup_free_ char *mtu = read_str("/sys/class/net/%s/mtu", f->br[0]);
  assert_string_equal(mtu, "1400\n");
  _cleanup_free_ char *flags = read_str("/sys/class/net/%s/flags", f->br[0]);
  assert_true(strtoul(flags, NULL, 16) & IFF_UP);
  _cleanup_free_ char *rl = read_str("/proc/sys/net/ipv4/conf/%s/route_localnet", f->br[0]);
  assert_string_equal(rl, "1\n");
  _cleanup_free_ char *fwd = read_str("/proc/sys/net/ipv4/ip_forward");
  assert_string_equal(fwd, "1\n");
  /* Its MAC was set, not inherited from a port (addr_assign_type 3: NET_ADDR_SET). */
  _cleanup_free_ char *at = read_str("/sys/class/net/%s/addr_assign_type", f->br[0]);
  assert_string_equal(at, "3\n");

  /* Its subnet is now a route of the host. */
  assert_int_equal(bothy_net_route_overlaps(subnet, &err), 1);

  /* Made as asked: another address replaces the first, another mtu. */
  _cleanup_free_ char *gw2 = xasprintf("10.252.%u.1/25", f->n);
  ok(bothy_net_bridge_ensure(f->br[0], gw2, 1300, &err), &err);
  _cleanup_free_ char *addrs2 = ipv4_addrs(f->br[0]);
  assert_string_equal(addrs2, gw2);
  _cleanup_free_ char *mtu2 = read_str("/sys/class/net/%s/mtu", f->br[0]);
  assert_string_equal(mtu2, "1300\n");
  assert_int_equal(bothy_net_route_overlaps(subnet, &err), 0);

  /* mtu 0 keeps it; NULL gateway removes the address. */
  ok(bothy_net_bridge_ensure(f->br[0], NULL, 0, &err), &err);
  _cleanup_free_ char *addrs3 = ipv4_addrs(f->br[0]);
  assert_string_equal(addrs3, "");
  _cleanup_free_ char *mtu3 = read_str("/sys/class/net/%s/mtu", f->br[0]);
  assert_string_equal(mtu3, "1300\n");

  /* Bad input, refused before anything is made. */
  assert_int_equal(bothy_net_bridge_ensure("averyveryverylongname", NULL, 0, &err), -EINVAL);
  bothy_error_free(&err);
  assert_int_equal(bothy_net_bridge_ensure(f->br[1], "10.251.1.1", 0, &err), -EINVAL);
  bothy_error_free(&err);
  assert_int_equal(bothy_net_bridge_ensure(f->br[1], "default", 0, &err), -EINVAL);
  bothy_error_free(&err);
  assert_false(bothy_net_link_exists(f->br[1]));

  /* Delete; twice is fine. */
  ok(bothy_net_link_delete(f->br[0], &err), &err);
  assert_false(bothy_net_link_exists(f->br[0]));
  ok(bothy_net_link_delete(f->br[0], &err), &err);
}

/* ------------------------------------------------------------------ veths */

static void test_veth_traffic(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  _cleanup_free_ char *gw_cidr = xasprintf("10.251.%u.1/24", f->n);
  _cleanup_free_ char *gw = xasprintf("10.251.%u.1", f->n);
  _cleanup_free_ char *ip0 = xasprintf("10.251.%u.2", f->n);
  _cleanup_free_ char *ip1 = xasprintf("10.251.%u.3", f->n);
  _cleanup_free_ char *cidr0 = xasprintf("%s/24", ip0);
  _cleanup_free_ char *cidr1 = xasprintf("%s/24", ip1);

  ok(bothy_net_bridge_ensure(f->br[0], gw_cidr, 0, &err), &err);
  /* Before a port of smaller mtu lowers it. */
  _cleanup_free_ char *bmtu = read_str("/sys/class/net/%s/mtu", f->br[0]);
  ok(bothy_netns_create(f->ns[0], &err), &err);
  ok(bothy_netns_create(f->ns[1], &err), &err);

  struct bothy_veth_opts o0 = {
    .bridge = f->br[0],
    .host_name = f->veth[0],
    .netns_path = f->ns[0],
    .ifname = "eth0",
    .addr_cidr = cidr0,
    .gateway = gw,
  };
  ok(bothy_net_veth_attach(&o0, &err), &err);
  struct bothy_veth_opts o1 = {
    .bridge = f->br[0],
    .host_name = f->veth[1],
    .netns_path = f->ns[1],
    .ifname = "eth0",
    .addr_cidr = cidr1,
    .gateway = NULL, /* an internal network */
    .mac = "02:42:0a:fb:00:03",
    .mtu = 1280,
  };
  ok(bothy_net_veth_attach(&o1, &err), &err);

  /* Host ends: on the bridge, up. */
  for (int i = 0; i < 2; i++) {
    _cleanup_free_ char *link = xasprintf("/sys/class/net/%s/master", f->veth[i]);
    char target[256] = "";
    assert_true(readlink(link, target, sizeof(target) - 1) > 0);
    const char *base = strrchr(target, '/');
    assert_string_equal(base ? base + 1 : target, f->br[0]);
    _cleanup_free_ char *flags = read_str("/sys/class/net/%s/flags", f->veth[i]);
    assert_true(strtoul(flags, NULL, 16) & IFF_UP);
  }
  _cleanup_free_ char *hmtu = read_str("/sys/class/net/%s/mtu", f->veth[1]);
  assert_string_equal(hmtu, "1280\n");
  /* Inside: eth0 up, the bridge's mtu or the one asked, the MAC asked. */
  struct probe p0 = { .ifname = "eth0" }, p1 = { .ifname = "eth0" };
  ok(bothy_netns_run(f->ns[0], probe_link, &p0, &err), &err);
  ok(bothy_netns_run(f->ns[1], probe_link, &p1, &err), &err);
  assert_true(p0.exists && (p0.flags & IFF_UP));
  assert_true(p1.exists && (p1.flags & IFF_UP));
  assert_int_equal(p0.mtu, (int) strtol(bmtu, NULL, 10));
  assert_int_equal(p1.mtu, 1280);
  const unsigned char want_mac[6] = { 0x02, 0x42, 0x0a, 0xfb, 0x00, 0x03 };
  assert_memory_equal(p1.mac, want_mac, 6);
  assert_true((p0.mac[0] & 0x03) == 0x02); /* random: unicast, locally administered */
  /* The host's veth names are not inside, "eth0" is not in the host (by
   * this test at least: ours are in their namespaces). */
  struct probe hn = { .ifname = f->veth[0] };
  ok(bothy_netns_run(f->ns[0], probe_link, &hn, &err), &err);
  assert_false(hn.exists);

  /* Default route inside ns0, none in ns1. */
  ok(bothy_netns_run(f->ns[0], probe_route, &p0, &err), &err);
  ok(bothy_netns_run(f->ns[1], probe_route, &p1, &err), &err);
  assert_true(p0.default_route);
  assert_false(p1.default_route);

  /* Real traffic: ns0 -> ns1 across the bridge, and ns0 -> the host on the
   * bridge's address. */
  uint16_t port = (uint16_t) (20000 + getpid() % 20000);
  struct udp rx1 = { .ip = ip1, .port = port }, tx0 = { 0 };
  ok(bothy_netns_run(f->ns[1], udp_socket, &rx1, &err), &err);
  ok(bothy_netns_run(f->ns[0], udp_socket, &tx0, &err), &err);
  _cleanup_close_ int rx1fd = rx1.fd;
  _cleanup_close_ int tx0fd = tx0.fd;
  udp_roundtrip(tx0fd, rx1fd, ip1, port, ip0);
  struct udp rxh = { .ip = gw, .port = port };
  ok(udp_socket(&rxh, &err), &err);
  _cleanup_close_ int rxhfd = rxh.fd;
  udp_roundtrip(tx0fd, rxhfd, gw, port, ip0);

  /* Detach: the interface goes, and its host peer with it; again is fine. */
  ok(bothy_net_veth_detach(f->ns[1], "eth0", &err), &err);
  assert_false(bothy_net_link_exists(f->veth[1]));
  ok(bothy_netns_run(f->ns[1], probe_link, &p1, &err), &err);
  assert_false(p1.exists);
  ok(bothy_net_veth_detach(f->ns[1], "eth0", &err), &err);

  /* Deleting the namespace takes the host peer with it (once its last user
   * is gone: our socket in it too). */
  tx0fd = safe_close(tx0fd);
  ok(bothy_netns_delete(f->ns[0], &err), &err);
  assert_true(link_gone_within(f->veth[0]));
  /* A namespace that is no more: nothing to detach. */
  ok(bothy_net_veth_detach(f->ns[0], "eth0", &err), &err);
}

static void test_veth_failures(void **state)
{
  struct fixture *f = *state;
  bothy_error_t err = NULL;
  _cleanup_free_ char *gw_cidr = xasprintf("10.251.%u.1/24", f->n);
  _cleanup_free_ char *cidr = xasprintf("10.251.%u.5/24", f->n);
  ok(bothy_netns_create(f->ns[0], &err), &err);

  struct bothy_veth_opts o = {
    .bridge = f->br[0],
    .host_name = f->veth[0],
    .netns_path = f->ns[0],
    .ifname = "eth0",
    .addr_cidr = cidr,
  };
  struct probe p = { .ifname = "eth0" };

  /* No such bridge: ENODEV naming it, no link left on either side. */
  assert_int_equal(bothy_net_veth_attach(&o, &err), -ENODEV);
  assert_non_null(strstr(err->msg, f->br[0]));
  bothy_error_free(&err);
  assert_false(bothy_net_link_exists(f->veth[0]));
  ok(bothy_netns_run(f->ns[0], probe_link, &p, &err), &err);
  assert_false(p.exists);

  ok(bothy_net_bridge_ensure(f->br[0], gw_cidr, 0, &err), &err);

  /* A failure inside, after the pair exists (a gateway no route reaches):
   * the pair is undone. */
  o.gateway = "198.51.100.1";
  assert_true(bothy_net_veth_attach(&o, &err) < 0);
  assert_non_null(strstr(err->msg, "198.51.100.1"));
  bothy_error_free(&err);
  assert_false(bothy_net_link_exists(f->veth[0]));
  ok(bothy_netns_run(f->ns[0], probe_link, &p, &err), &err);
  assert_false(p.exists);

  /* Bad input is refused before anything is made. */
  o.gateway = NULL;
  o.mac = "01:00:5e:00:00:01"; /* multicast */
  assert_int_equal(bothy_net_veth_attach(&o, &err), -EINVAL);
  bothy_error_free(&err);
  o.mac = "02:42:zz:00:00:01";
  assert_int_equal(bothy_net_veth_attach(&o, &err), -EINVAL);
  bothy_error_free(&err);
  o.mac = NULL;
  o.addr_cidr = "10.251.0.5"; /* no prefix */
  assert_int_equal(bothy_net_veth_attach(&o, &err), -EINVAL);
  bothy_error_free(&err);
  o.addr_cidr = cidr;
  o.netns_path = f->dir; /* not a namespace */
  assert_int_equal(bothy_net_veth_attach(&o, &err), -EINVAL);
  bothy_error_free(&err);
  o.netns_path = f->ns[0];
  assert_false(bothy_net_link_exists(f->veth[0]));

  /* Made; the same host name again: EEXIST, the first one untouched. */
  ok(bothy_net_veth_attach(&o, &err), &err);
  int ifindex = (int) if_nametoindex(f->veth[0]);
  assert_true(ifindex > 0);
  ok(bothy_netns_create(f->ns[1], &err), &err);
  struct bothy_veth_opts again = o;
  again.netns_path = f->ns[1];
  assert_int_equal(bothy_net_veth_attach(&again, &err), -EEXIST);
  assert_non_null(strstr(err->msg, f->veth[0]));
  bothy_error_free(&err);
  assert_int_equal((int) if_nametoindex(f->veth[0]), ifindex);

  /* The name inside taken already: EEXIST, no new host end left. */
  struct bothy_veth_opts twin = o;
  twin.host_name = f->veth[2];
  assert_int_equal(bothy_net_veth_attach(&twin, &err), -EEXIST);
  bothy_error_free(&err);
  assert_false(bothy_net_link_exists(f->veth[2]));

  /* A bridge over a name that is not a bridge: EEXIST. */
  assert_int_equal(bothy_net_bridge_ensure(f->veth[0], NULL, 0, &err), -EEXIST);
  bothy_error_free(&err);

  /* The host end's removal takes the inside one with it. */
  ok(bothy_net_link_delete(f->veth[0], &err), &err);
  ok(bothy_netns_run(f->ns[0], probe_link, &p, &err), &err);
  assert_false(p.exists);
}

/* ---------------------------------------------------------------- routing */

/* Does a.b.c.d/len overlap a non-default route of /proc/net/route? */
static bool proc_route_overlaps(uint32_t net, unsigned len)
{
  _cleanup_free_ char *routes = read_str("/proc/net/route");
  assert_non_null(routes);
  for (char *line = strchr(routes, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    char ifname[32];
    unsigned dst, mask;
    if (sscanf(line + 1, "%31s %x %*x %*x %*d %*d %*d %x", ifname, &dst, &mask) != 3 || !mask)
      continue;
    uint32_t m1 = ntohl(mask), m2 = len ? 0xffffffffu << (32 - len) : 0;
    uint32_t m = m1 & m2;
    if ((ntohl(dst) & m) == (net & m))
      return true;
  }
  return false;
}

static void test_route_overlaps(void **state)
{
  bothy_error_t err = NULL;
  /* One of the host's own subnets, from /proc/net/route. */
  _cleanup_free_ char *routes = read_str("/proc/net/route");
  assert_non_null(routes);
  char *cidr = NULL;
  for (char *line = strchr(routes, '\n'); line && line[1] && !cidr; line = strchr(line + 1, '\n')) {
    char ifname[32];
    unsigned dst, mask;
    if (sscanf(line + 1, "%31s %x %*x %*x %*d %*d %*d %x", ifname, &dst, &mask) == 3 && mask) {
      struct in_addr a = { .s_addr = dst };
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &a, ip, sizeof(ip));
      cidr = xasprintf("%s/%d", ip, __builtin_popcount(mask));
    }
  }
  if (!cidr) {
    print_message("no non-default IPv4 route on this host, skipping\n");
    skip();
  }
  _cleanup_free_ char *owned = cidr;
  assert_int_equal(bothy_net_route_overlaps(owned, &err), 1);
  /* err may be NULL, as network.c calls it. */
  assert_int_equal(bothy_net_route_overlaps(owned, NULL), 1);

  if (!proc_route_overlaps(0x0afa0000u /* 10.250.0.0 */, 24)) {
    assert_int_equal(bothy_net_route_overlaps("10.250.0.0/24", &err), 0);
  } else {
    print_message("10.250.0.0/24 is in use on this host, not checking it\n");
  }

  assert_int_equal(bothy_net_route_overlaps("10.250.0.0", &err), -EINVAL);
  bothy_error_free(&err);
  assert_int_equal(bothy_net_route_overlaps("10.250.0.0/33", &err), -EINVAL);
  bothy_error_free(&err);
  assert_int_equal(bothy_net_route_overlaps("nonsense/8", NULL), -EINVAL);
}

static void test_host_has_ipv6(void **state)
{
  _cleanup_free_ char *lines = read_str("/proc/net/if_inet6");
  bool global = false;
  for (char *l = lines; l && *l;) {
    unsigned idx, plen, scope;
    if (sscanf(l, "%*32s %x %x %x", &idx, &plen, &scope) == 3 && scope == 0)
      global = true;
    char *nl = strchr(l, '\n');
    l = nl ? nl + 1 : NULL;
  }
  assert_int_equal(bothy_net_host_has_ipv6(), global ? 1 : 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_netns_lifecycle, setup, teardown),
    cmocka_unit_test_setup_teardown(test_netns_run_restores, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bridge_ensure, setup, teardown),
    cmocka_unit_test_setup_teardown(test_veth_traffic, setup, teardown),
    cmocka_unit_test_setup_teardown(test_veth_failures, setup, teardown),
    cmocka_unit_test(test_route_overlaps),
    cmocka_unit_test(test_host_has_ipv6),
  };
  if (geteuid() != 0) {
    printf("1..0 # SKIP not root: these tests need CAP_NET_ADMIN and CAP_SYS_ADMIN\n");
    return 0;
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
