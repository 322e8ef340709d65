/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/link.h"

/* <net/if.h> before libnl's <linux/if.h>: the kernel header then leaves out
 * what glibc already defined. */
#include <net/if.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/macros.h"
#include "base/process.h"
#include "base/xalloc.h"
#include "net/dl-nl.h"

#define IFNAME_MAX 15 /* IFNAMSIZ - 1 */

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_sock *, nl_socket_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_route *, rtnl_route_put)
#define _cleanup_nl_sock_    _cleanup_(nl_socket_freep)
#define _cleanup_nl_cache_   _cleanup_(nl_cache_freep)
#define _cleanup_nl_addr_    _cleanup_(nl_addr_putp)
#define _cleanup_rtnl_link_  _cleanup_(rtnl_link_putp)
#define _cleanup_rtnl_addr_  _cleanup_(rtnl_addr_putp)
#define _cleanup_rtnl_route_ _cleanup_(rtnl_route_putp)

/* ------------------------------------------------------------- helpers */

/* libnl turns the kernel's errno into its own NLE_* codes; this turns the
 * common ones back, so that callers can test for EEXIST or ENODEV. */
static int nl_errno(int nlerr)
{
  switch (nlerr < 0 ? -nlerr : nlerr) {
  case NLE_INTR:
  case NLE_DUMP_INTR:
    return EINTR;
  case NLE_BAD_SOCK:
    return EBADF;
  case NLE_AGAIN:
    return EAGAIN;
  case NLE_NOMEM:
    return ENOMEM;
  case NLE_EXIST:
    return EEXIST;
  case NLE_INVAL:
  case NLE_MISSING_ATTR:
    return EINVAL;
  case NLE_RANGE:
    return ERANGE;
  case NLE_MSGSIZE:
    return EMSGSIZE;
  case NLE_OPNOTSUPP:
    return EOPNOTSUPP;
  case NLE_AF_NOSUPPORT:
    return EAFNOSUPPORT;
  case NLE_OBJ_NOTFOUND:
    return ENOENT;
  case NLE_NOACCESS:
    return EACCES;
  case NLE_PERM:
    return EPERM;
  case NLE_BUSY:
    return EBUSY;
  case NLE_NODEV:
    return ENODEV;
  case NLE_NOADDR:
    return EADDRNOTAVAIL;
  default:
    return 0;
  }
}

/* Sets *err from a libnl error: "<what>: <strerror>" where an errno matches,
 * else "<what>: <libnl's words>". */
static int nl_fail(bothy_error_t *err, int nlerr, const char *fmt, ...) _printf_(3, 4);
static int nl_fail(bothy_error_t *err, int nlerr, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *what = xvasprintf(fmt, ap);
  va_end(ap);
  int code = nl_errno(nlerr);
  if (code)
    return bothy_error_set(err, code, "%s", what);
  return bothy_error_set(err, 0, "%s: %s", what, nl_geterror(nlerr));
}

static int check_ifname(const char *name, bothy_error_t *err)
{
  if (!name || !*name)
    return bothy_error_set(err, EINVAL, "empty interface name");
  if (strlen(name) > IFNAME_MAX)
    return bothy_error_set(err, EINVAL, "invalid interface name '%s': longer than %d characters",
                           name, IFNAME_MAX);
  /* The kernel's dev_valid_name(), and ':' (alias labels); '/' also keeps
   * the name safe in /proc/sys paths. */
  if (streq(name, ".") || streq(name, ".."))
    return bothy_error_set(err, EINVAL, "invalid interface name '%s'", name);
  for (const char *p = name; *p; p++)
    if (*p == '/' || *p == ':' || isspace((unsigned char) *p))
      return bothy_error_set(err, EINVAL, "invalid interface name '%s'", name);
  return 0;
}

/* Parses an address: "10.89.3.1/24" (with_prefix) or "10.89.3.1". IPv4, or
 * IPv6 when it has a ':'. libnl's own parser also takes words ("default",
 * "any") and hex, which are not addresses a user meant: check first. */
static int parse_addr(const char *s, bool with_prefix, struct nl_addr **ret, bothy_error_t *err)
{
  if (!s)
    return bothy_error_set(err, EINVAL, "missing address");
  /* libnl's calls below need the library, which may not be loaded yet. */
  int lr = bothy_dlopen_nl(err);
  if (lr < 0)
    return lr;
  int family = strchr(s, ':') ? AF_INET6 : AF_INET;
  unsigned max = family == AF_INET ? 32 : 128;
  const char *slash = strchr(s, '/');
  if (with_prefix != !!slash)
    return bothy_error_set(err, EINVAL, "invalid address '%s': %s", s,
                           with_prefix ? "no /prefix length" : "a /prefix length");
  _cleanup_free_ char *host = slash ? xstrndup(s, (size_t) (slash - s)) : xstrdup(s);
  unsigned char buf[16];
  if (inet_pton(family, host, buf) != 1)
    return bothy_error_set(err, EINVAL, "invalid address '%s'", s);
  if (slash) {
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(slash + 1, &end, 10);
    if (!isdigit((unsigned char) slash[1]) || errno || *end || n > max)
      return bothy_error_set(err, EINVAL, "invalid address '%s': bad prefix length", s);
  }
  struct nl_addr *a = NULL;
  int r = nl_addr_parse(s, family, &a);
  if (r < 0)
    return nl_fail(err, r, "invalid address '%s'", s);
  *ret = a;
  return 0;
}

/* "02:42:ac:11:00:02": a unicast MAC (the kernel refuses a multicast one
 * for a veth: EADDRNOTAVAIL; say so with the user's words instead). */
static int parse_mac(const char *s, struct nl_addr **ret, bothy_error_t *err)
{
  unsigned char mac[6];
  const char *p = s;
  for (size_t i = 0; i < sizeof(mac); i++) {
    if (!isxdigit((unsigned char) p[0]) || !isxdigit((unsigned char) p[1]) ||
        p[2] != (i + 1 < sizeof(mac) ? ':' : '\0'))
      return bothy_error_set(err, EINVAL, "invalid MAC address '%s'", s);
    char hex[3] = { p[0], p[1], '\0' };
    mac[i] = (unsigned char) strtoul(hex, NULL, 16);
    p += 3;
  }
  if (mac[0] & 0x01)
    return bothy_error_set(err, EINVAL, "invalid MAC address '%s': multicast", s);
  struct nl_addr *a = nl_addr_build(AF_LLC, mac, sizeof(mac));
  if (!a)
    return bothy_error_set(err, ENOMEM, "invalid MAC address '%s'", s);
  *ret = a;
  return 0;
}

/* A netlink socket in the calling thread's current network namespace. */
static int nl_open(struct nl_sock **ret, bothy_error_t *err)
{
  int r = bothy_dlopen_nl(err);
  if (r < 0)
    return r;
  _cleanup_nl_sock_ struct nl_sock *sk = nl_socket_alloc();
  if (!sk)
    return bothy_error_set(err, ENOMEM, "cannot allocate a netlink socket");
  r = nl_connect(sk, NETLINK_ROUTE);
  if (r < 0)
    return nl_fail(err, r, "cannot open a netlink socket");
  *ret = TAKE_PTR(sk);
  return 0;
}

/* The link name, or ENODEV. */
static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret,
                    bothy_error_t *err)
{
  struct rtnl_link *l = NULL;
  int r = rtnl_link_get_kernel(sk, /* ifindex= */ 0, name, &l);
  if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
    return bothy_error_set(err, ENODEV, "cannot find interface '%s'", name);
  if (r < 0)
    return nl_fail(err, r, "cannot look up interface '%s'", name);
  *ret = l;
  return 0;
}

static bool link_is(struct rtnl_link *l, const char *kind)
{
  return streq(rtnl_link_get_type(l), kind);
}

/* Brings l up and sets its mtu (0: leave it), if it is not so already. */
static int link_update(struct nl_sock *sk, struct rtnl_link *l, const char *name, unsigned mtu,
                       bothy_error_t *err)
{
  bool up = rtnl_link_get_flags(l) & IFF_UP;
  bool mtu_ok = !mtu || rtnl_link_get_mtu(l) == mtu;
  if (up && mtu_ok)
    return 0;
  _cleanup_rtnl_link_ struct rtnl_link *change = rtnl_link_alloc();
  if (!change)
    return bothy_error_set(err, ENOMEM, "cannot change interface '%s'", name);
  if (!mtu_ok)
    rtnl_link_set_mtu(change, mtu);
  if (!up)
    rtnl_link_set_flags(change, IFF_UP);
  int r = rtnl_link_change(sk, l, change, 0);
  if (r < 0)
    return nl_fail(err, r, "cannot %s interface '%s'", !up ? "bring up" : "set the mtu of", name);
  return 0;
}

static int link_delete_sk(struct nl_sock *sk, const char *name, bothy_error_t *err)
{
  _cleanup_rtnl_link_ struct rtnl_link *l = rtnl_link_alloc();
  if (!l)
    return bothy_error_set(err, ENOMEM, "cannot delete interface '%s'", name);
  rtnl_link_set_name(l, name);
  int r = rtnl_link_delete(sk, l);
  if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
    return 0;
  if (r < 0)
    return nl_fail(err, r, "cannot delete interface '%s'", name);
  return 0;
}

static bool same_addr(struct nl_addr *a, unsigned alen, struct nl_addr *b, unsigned blen)
{
  return a && b && alen == blen && nl_addr_get_family(a) == nl_addr_get_family(b) &&
         nl_addr_get_len(a) == nl_addr_get_len(b) &&
         memcmp(nl_addr_get_binary_addr(a), nl_addr_get_binary_addr(b), nl_addr_get_len(a)) == 0;
}

/* Do a/alen and b/blen share an address: are their first min(alen, blen)
 * bits equal? */
static bool prefixes_overlap(struct nl_addr *a, unsigned alen, struct nl_addr *b, unsigned blen)
{
  if (!a || !b || nl_addr_get_family(a) != nl_addr_get_family(b) ||
      nl_addr_get_len(a) != nl_addr_get_len(b))
    return false;
  const unsigned char *x = nl_addr_get_binary_addr(a), *y = nl_addr_get_binary_addr(b);
  unsigned bits = alen < blen ? alen : blen;
  if (bits > nl_addr_get_len(a) * 8)
    bits = nl_addr_get_len(a) * 8;
  unsigned bytes = bits / 8;
  if (memcmp(x, y, bytes) != 0)
    return false;
  if (bits % 8 == 0)
    return true;
  unsigned char mask = (unsigned char) (0xff00 >> (bits % 8));
  return ((x[bytes] ^ y[bytes]) & mask) == 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, const char *ifname, struct nl_addr *local,
                    const char *text, bothy_error_t *err)
{
  _cleanup_rtnl_addr_ struct rtnl_addr *a = rtnl_addr_alloc();
  if (!a)
    return bothy_error_set(err, ENOMEM, "cannot add address '%s' to '%s'", text, ifname);
  rtnl_addr_set_ifindex(a, ifindex);
  int r = rtnl_addr_set_local(a, local);
  if (r >= 0)
    r = rtnl_addr_add(sk, a, 0);
  if (r < 0)
    return nl_fail(err, r, "cannot add address '%s' to '%s'", text, ifname);
  return 0;
}

/* Makes the IPv4 addresses of ifindex exactly want (NULL: none). Deletes
 * first: deleting a primary address also deletes the secondaries of its
 * subnet, which the wanted one could otherwise have become. */
static int addr_sync(struct nl_sock *sk, int ifindex, const char *ifname, struct nl_addr *want,
                     const char *want_text, bothy_error_t *err)
{
  _cleanup_nl_cache_ struct nl_cache *cache = NULL;
  int r = rtnl_addr_alloc_cache(sk, &cache);
  if (r < 0)
    return nl_fail(err, r, "cannot list the addresses of '%s'", ifname);
  bool have = false;
  for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    struct rtnl_addr *a = (struct rtnl_addr *) o;
    if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET)
      continue;
    if (want && same_addr(rtnl_addr_get_local(a), (unsigned) rtnl_addr_get_prefixlen(a), want,
                          nl_addr_get_prefixlen(want))) {
      have = true;
      continue;
    }
    r = rtnl_addr_delete(sk, a, 0);
    /* Gone already: a secondary that went with its primary. */
    if (r < 0 && r != -NLE_NOADDR && r != -NLE_OBJ_NOTFOUND)
      return nl_fail(err, r, "cannot remove an old address from '%s'", ifname);
  }
  if (want && !have)
    return addr_add(sk, ifindex, ifname, want, want_text, err);
  return 0;
}

/* Writes "1" to a /proc/sys file unless it holds 1 already. */
static int sysctl_enable(const char *path, bothy_error_t *err)
{
  _cleanup_free_ char *cur = NULL;
  if (bothy_read_file(AT_FDCWD, path, &cur, NULL, NULL) == 0 && streq(cur, "1\n"))
    return 0;
  return bothy_write_string(AT_FDCWD, path, "1", err);
}

/* ------------------------------------------------------------ namespaces */

bool bothy_netns_exists(const char *path)
{
  struct statfs s;
  return path && statfs(path, &s) == 0 && s.f_type == NSFS_MAGIC;
}

static int lo_up(void *arg, bothy_error_t *err)
{
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  _cleanup_rtnl_link_ struct rtnl_link *lo = NULL;
  int r = nl_open(&sk, err);
  if (r == 0)
    r = link_get(sk, "lo", &lo, err);
  if (r == 0)
    r = link_update(sk, lo, "lo", /* mtu= */ 0, err);
  /* The namespace is the container's own: any of its users may bind any
   * port in it, as docker sets it up (since 20.10). Without this the root of
   * a --userns=auto container could not listen on port 80: its user
   * namespace does not own this network namespace, the host does. */
  if (r == 0)
    r = bothy_write_string(AT_FDCWD, "/proc/sys/net/ipv4/ip_unprivileged_port_start", "0", err);
  return r;
}

/* Makes a network namespace and bind-mounts it onto path: this process
 * (single-threaded, as all of bothy) moves into a new one, mounts it, brings
 * its loopback up from inside, and comes back. No child to fork, wait for
 * and kill, no second setns() round trip for the loopback. */
static int netns_mount(const char *path, bothy_error_t *err)
{
  _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return bothy_error_errno(err, "cannot open the current network namespace");
  if (unshare(CLONE_NEWNET) < 0)
    return bothy_error_errno(err, "cannot create network namespace '%s': unshare", path);
  int r = 0;
  if (mount("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0)
    r = bothy_error_errno(err, "cannot bind-mount network namespace onto '%s'", path);
  if (r == 0)
    r = lo_up(NULL, err);
  if (setns(self, CLONE_NEWNET) < 0) {
    /* Nothing sensible can follow in the wrong namespace. */
    bothy_error_free(err);
    return bothy_error_errno(err, "cannot return from network namespace '%s'", path);
  }
  return r;
}

int bothy_netns_create(const char *path, bothy_error_t *err)
{
  if (bothy_netns_exists(path))
    return bothy_error_set(err, EEXIST, "cannot create network namespace '%s'", path);
  /* libnl before anything exists: failing to load it leaves nothing behind. */
  int r = bothy_dlopen_nl(err);
  if (r < 0)
    return r;
  {
    /* O_NOFOLLOW: the mount goes on this file, never on where a symlink
     * planted here points. */
    _cleanup_close_ int fd =
        open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
      return bothy_error_errno(err, "cannot create '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
      return bothy_error_errno(err, "cannot stat '%s'", path);
    if (!S_ISREG(st.st_mode))
      return bothy_error_set(err, EEXIST, "cannot create network namespace '%s': not a file", path);
  }
  r = netns_mount(path, err);
  if (r < 0) {
    bothy_netns_delete(path, NULL);
    return r;
  }
  return 0;
}

int bothy_netns_lo_up(const char *path, bothy_error_t *err)
{
  int r = bothy_dlopen_nl(err);
  if (r < 0)
    return r;
  return bothy_netns_run(path, lo_up, NULL, err);
}

int bothy_netns_delete(const char *path, bothy_error_t *err)
{
  /* More than one namespace may be mounted there (a racing create); take
   * them all off. */
  for (int i = 0; i < 16 && bothy_netns_exists(path); i++)
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
      return bothy_error_errno(err, "cannot unmount network namespace '%s'", path);
  if (unlink(path) < 0 && errno != ENOENT)
    return bothy_error_errno(err, "cannot remove '%s'", path);
  return 0;
}

int bothy_netns_run(const char *path, int (*fn)(void *arg, bothy_error_t *err), void *arg,
                    bothy_error_t *err)
{
  /* thread-self: setns() moves the calling thread only. */
  _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0)
    return bothy_error_errno(err, "cannot open the current network namespace");
  _cleanup_close_ int target = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (target < 0)
    return bothy_error_errno(err, "cannot open network namespace '%s'", path);
  if (setns(target, CLONE_NEWNET) < 0)
    return bothy_error_errno(err, "cannot enter network namespace '%s'", path);
  int r = fn(arg, err);
  if (setns(self, CLONE_NEWNET) < 0)
    return bothy_error_errno(err, "cannot return from network namespace '%s'", path);
  return r;
}

/* --------------------------------------------------------------- links */

bool bothy_net_link_exists(const char *name)
{
  return check_ifname(name, NULL) == 0 && if_nametoindex(name) != 0;
}

int bothy_net_link_delete(const char *name, bothy_error_t *err)
{
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  int r = check_ifname(name, err);
  if (r == 0)
    r = nl_open(&sk, err);
  if (r == 0)
    r = link_delete_sk(sk, name, err);
  return r;
}

/* A bridge's MAC address follows its lowest port's unless it was set
 * explicitly (br_stp_recalculate_bridge_id() keeps NET_ADDR_SET): then
 * containers would see their gateway's MAC change as others come and go,
 * and lose traffic until their ARP entry expires. So a bridge gets a random
 * locally administered address of its own. */
static int bridge_mac(struct nl_addr **ret, bothy_error_t *err)
{
  unsigned char mac[6];
  if (getrandom(mac, sizeof(mac), 0) != (ssize_t) sizeof(mac))
    return bothy_error_errno(err, "cannot get random bytes");
  mac[0] = (unsigned char) ((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
  struct nl_addr *a = nl_addr_build(AF_LLC, mac, sizeof(mac));
  if (!a)
    return bothy_error_set(err, ENOMEM, "cannot build a MAC address");
  *ret = a;
  return 0;
}

static int bridge_create(struct nl_sock *sk, const char *name, unsigned mtu, bothy_error_t *err)
{
  _cleanup_nl_addr_ struct nl_addr *mac = NULL;
  _cleanup_rtnl_link_ struct rtnl_link *b = rtnl_link_bridge_alloc();
  if (!b)
    return bothy_error_set(err, ENOMEM, "cannot create bridge '%s'", name);
  int r = bridge_mac(&mac, err);
  if (r < 0)
    return r;
  rtnl_link_set_name(b, name);
  rtnl_link_set_addr(b, mac);
  if (mtu)
    rtnl_link_set_mtu(b, mtu);
  rtnl_link_set_flags(b, IFF_UP);
  r = rtnl_link_add(sk, b, NLM_F_CREATE | NLM_F_EXCL);
  if (r < 0)
    return nl_fail(err, r, "cannot create bridge '%s'", name);
  return 0;
}

int bothy_net_bridge_ensure(const char *name, const char *gateway_cidr, unsigned mtu,
                            bothy_error_t *err)
{
  _cleanup_nl_addr_ struct nl_addr *gw = NULL;
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  _cleanup_rtnl_link_ struct rtnl_link *br = NULL;
  int r = check_ifname(name, err);
  if (r == 0 && gateway_cidr) {
    r = parse_addr(gateway_cidr, /* with_prefix= */ true, &gw, err);
    if (r == 0 && nl_addr_get_family(gw) != AF_INET)
      r = bothy_error_set(err, EINVAL, "invalid gateway '%s' of bridge '%s': not IPv4",
                          gateway_cidr, name);
  }
  if (r == 0)
    r = nl_open(&sk, err);
  if (r < 0)
    return r;

  bool created = false;
  r = rtnl_link_get_kernel(sk, /* ifindex= */ 0, name, &br);
  if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV) {
    r = bridge_create(sk, name, mtu, err);
    /* EEXIST: made meanwhile by another bothy; use it as it is. */
    if (r < 0 && r != -EEXIST)
      return r;
    created = r == 0;
    r = link_get(sk, name, &br, err);
  } else if (r < 0) {
    r = nl_fail(err, r, "cannot look up interface '%s'", name);
  }
  if (r == 0 && !link_is(br, "bridge")) {
    const char *kind = rtnl_link_get_type(br);
    if (kind)
      r = bothy_error_set(err, EEXIST, "cannot create bridge '%s': a %s interface has that name",
                          name, kind);
    else
      r = bothy_error_set(err, EEXIST, "cannot create bridge '%s': another interface has that name",
                          name);
  }
  if (r == 0)
    r = link_update(sk, br, name, mtu, err);
  if (r == 0)
    r = addr_sync(sk, rtnl_link_get_ifindex(br), name, gw, gateway_cidr, err);
  if (r == 0) {
    _cleanup_free_ char *p = xasprintf("/proc/sys/net/ipv4/conf/%s/route_localnet", name);
    r = sysctl_enable(p, err);
  }
  if (r == 0)
    r = sysctl_enable("/proc/sys/net/ipv4/ip_forward", err);
  if (r < 0 && created)
    link_delete_sk(sk, name, NULL);
  return r;
}

/* ----------------------------------------------------------------- veth */

struct veth_inside {
  const char *ifname;
  struct nl_addr *addr;
  const char *addr_text;
  struct nl_addr *gateway;
  const char *gateway_text;
};

static int default_route_add(struct nl_sock *sk, int ifindex, const struct veth_inside *v,
                             bothy_error_t *err)
{
  _cleanup_nl_addr_ struct nl_addr *any = NULL;
  _cleanup_rtnl_route_ struct rtnl_route *rt = rtnl_route_alloc();
  struct rtnl_nexthop *nh = rt ? rtnl_route_nh_alloc() : NULL;
  if (!nh)
    return bothy_error_set(err, ENOMEM, "cannot add the default route via '%s'", v->gateway_text);
  int family = nl_addr_get_family(v->gateway);
  rtnl_route_set_family(rt, (uint8_t) family);
  rtnl_route_set_table(rt, RT_TABLE_MAIN);
  rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_nh_set_gateway(nh, v->gateway);
  rtnl_route_add_nexthop(rt, nh); /* rt owns nh from here */
  int r = nl_addr_parse(family == AF_INET ? "0.0.0.0/0" : "::/0", family, &any);
  if (r >= 0)
    r = rtnl_route_set_dst(rt, any);
  if (r >= 0)
    r = rtnl_route_add(sk, rt, NLM_F_EXCL);
  if (r < 0)
    return nl_fail(err, r, "cannot add the default route via '%s' on '%s'", v->gateway_text,
                   v->ifname);
  return 0;
}

/* Inside the namespace: ifname up, its address, the default route. */
static int veth_configure(void *arg, bothy_error_t *err)
{
  const struct veth_inside *v = arg;
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  _cleanup_rtnl_link_ struct rtnl_link *l = NULL;
  int r = nl_open(&sk, err);
  if (r == 0)
    r = link_get(sk, v->ifname, &l, err);
  if (r == 0)
    r = link_update(sk, l, v->ifname, /* mtu= */ 0, err);
  if (r == 0)
    r = addr_add(sk, rtnl_link_get_ifindex(l), v->ifname, v->addr, v->addr_text, err);
  if (r == 0 && v->gateway)
    r = default_route_add(sk, rtnl_link_get_ifindex(l), v, err);
  return r;
}

static int veth_check(const struct bothy_veth_opts *o, bothy_error_t *err)
{
  int r = check_ifname(o->host_name, err);
  if (r == 0)
    r = check_ifname(o->ifname, err);
  if (r == 0)
    r = check_ifname(o->bridge, err);
  if (r == 0 && !o->netns_path)
    r = bothy_error_set(err, EINVAL, "veth '%s': no network namespace", o->host_name);
  return r;
}

/* Opens netns_path, which must be a network namespace. */
static int netns_open(const char *path, bothy_error_t *err)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return bothy_error_errno(err, "cannot open network namespace '%s'", path);
  struct statfs s;
  if (fstatfs(fd, &s) < 0)
    return bothy_error_errno(err, "cannot stat '%s'", path);
  if (s.f_type != NSFS_MAGIC)
    return bothy_error_set(err, EINVAL, "'%s' is not a network namespace", path);
  return TAKE_FD(fd);
}

int bothy_net_veth_attach(const struct bothy_veth_opts *o, bothy_error_t *err)
{
  _cleanup_nl_addr_ struct nl_addr *addr = NULL;
  _cleanup_nl_addr_ struct nl_addr *gateway = NULL;
  _cleanup_nl_addr_ struct nl_addr *mac = NULL;
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  _cleanup_rtnl_link_ struct rtnl_link *br = NULL;
  _cleanup_rtnl_link_ struct rtnl_link *veth = NULL;
  _cleanup_close_ int nsfd = -1;

  int r = veth_check(o, err);
  if (r == 0)
    r = parse_addr(o->addr_cidr, /* with_prefix= */ true, &addr, err);
  if (r == 0 && o->gateway)
    r = parse_addr(o->gateway, /* with_prefix= */ false, &gateway, err);
  if (r == 0 && gateway && nl_addr_get_family(gateway) != nl_addr_get_family(addr))
    r = bothy_error_set(err, EINVAL, "gateway '%s' and address '%s' are of different families",
                        o->gateway, o->addr_cidr);
  if (r == 0 && o->mac)
    r = parse_mac(o->mac, &mac, err);
  if (r == 0)
    r = nl_open(&sk, err);
  if (r == 0) {
    r = link_get(sk, o->bridge, &br, err);
    if (r == -ENODEV)
      r = bothy_error_set(err, ENODEV, "cannot find bridge '%s'", o->bridge);
  }
  if (r == 0 && !link_is(br, "bridge"))
    r = bothy_error_set(err, EINVAL, "'%s' is not a bridge", o->bridge);
  if (r == 0 && bothy_net_link_exists(o->host_name))
    r = bothy_error_set(err, EEXIST, "cannot create veth '%s'", o->host_name);
  if (r == 0) {
    nsfd = netns_open(o->netns_path, err);
    r = nsfd < 0 ? nsfd : 0;
  }
  if (r == 0) {
    veth = rtnl_link_veth_alloc();
    if (!veth)
      r = bothy_error_set(err, ENOMEM, "cannot create veth '%s'", o->host_name);
  }
  if (r < 0)
    return r;

  /* One RTM_NEWLINK makes the whole pair: the host end on the bridge and up,
   * the other end born inside the namespace with its final name, MAC and
   * MTU (IFLA_NET_NS_FD in the peer's attributes). The kernel does it all or
   * nothing: no half-made pair, no temporary name in the host to collide. */
  unsigned mtu = o->mtu ? o->mtu : rtnl_link_get_mtu(br);
  rtnl_link_set_name(veth, o->host_name);
  rtnl_link_set_master(veth, rtnl_link_get_ifindex(br));
  rtnl_link_set_mtu(veth, mtu);
  rtnl_link_set_flags(veth, IFF_UP);
  {
    _cleanup_rtnl_link_ struct rtnl_link *peer = rtnl_link_veth_get_peer(veth);
    rtnl_link_set_name(peer, o->ifname);
    rtnl_link_set_ns_fd(peer, nsfd);
    rtnl_link_set_mtu(peer, mtu);
    if (mac)
      rtnl_link_set_addr(peer, mac);
  }
  r = rtnl_link_add(sk, veth, NLM_F_CREATE | NLM_F_EXCL);
  if (r < 0)
    return nl_fail(err, r, "cannot create veth '%s' (peer '%s' in '%s') on bridge '%s'",
                   o->host_name, o->ifname, o->netns_path, o->bridge);

  struct veth_inside v = {
    .ifname = o->ifname,
    .addr = addr,
    .addr_text = o->addr_cidr,
    .gateway = gateway,
    .gateway_text = o->gateway,
  };
  r = bothy_netns_run(o->netns_path, veth_configure, &v, err);
  if (r < 0) {
    /* Deleting the host end deletes its peer in the namespace too. */
    link_delete_sk(sk, o->host_name, NULL);
    bothy_error_prefix(err, "in network namespace '%s'", o->netns_path);
    return r;
  }
  return 0;
}

struct veth_detach {
  const char *ifname;
};

static int veth_delete_inside(void *arg, bothy_error_t *err)
{
  const struct veth_detach *d = arg;
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  int r = nl_open(&sk, err);
  if (r == 0)
    r = link_delete_sk(sk, d->ifname, err);
  return r;
}

int bothy_net_veth_detach(const char *netns_path, const char *ifname, bothy_error_t *err)
{
  int r = check_ifname(ifname, err);
  if (r < 0)
    return r;
  /* No namespace: it took its interfaces with it. */
  if (!bothy_netns_exists(netns_path))
    return 0;
  struct veth_detach d = { .ifname = ifname };
  r = bothy_netns_run(netns_path, veth_delete_inside, &d, err);
  if (r < 0)
    bothy_error_prefix(err, "in network namespace '%s'", netns_path);
  return r;
}

/* -------------------------------------------------------------- routing */

int bothy_net_route_overlaps(const char *cidr, bothy_error_t *err)
{
  _cleanup_nl_addr_ struct nl_addr *want = NULL;
  _cleanup_nl_sock_ struct nl_sock *sk = NULL;
  _cleanup_nl_cache_ struct nl_cache *routes = NULL;
  _cleanup_nl_cache_ struct nl_cache *addrs = NULL;
  int r = parse_addr(cidr, /* with_prefix= */ true, &want, err);
  if (r == 0)
    r = nl_open(&sk, err);
  if (r < 0)
    return r;
  int family = nl_addr_get_family(want);
  unsigned wlen = nl_addr_get_prefixlen(want);

  r = rtnl_route_alloc_cache(sk, family, 0, &routes);
  if (r < 0)
    return nl_fail(err, r, "cannot list the host's routes");
  for (struct nl_object *o = nl_cache_get_first(routes); o; o = nl_cache_get_next(o)) {
    struct rtnl_route *rt = (struct rtnl_route *) o;
    struct nl_addr *dst = rtnl_route_get_dst(rt);
    /* The default route covers everything and says nothing about a free
     * subnet; the local table holds the host's own addresses, seen below. */
    if (rtnl_route_get_table(rt) != RT_TABLE_MAIN || !dst || nl_addr_get_prefixlen(dst) == 0)
      continue;
    if (prefixes_overlap(dst, nl_addr_get_prefixlen(dst), want, wlen))
      return 1;
  }

  r = rtnl_addr_alloc_cache(sk, &addrs);
  if (r < 0)
    return nl_fail(err, r, "cannot list the host's addresses");
  for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
    struct rtnl_addr *a = (struct rtnl_addr *) o;
    if (rtnl_addr_get_family(a) != family)
      continue;
    if (prefixes_overlap(rtnl_addr_get_local(a), (unsigned) rtnl_addr_get_prefixlen(a), want, wlen))
      return 1;
  }
  return 0;
}

int bothy_net_host_has_ipv6(void)
{
  _cleanup_fclose_ FILE *f = fopen("/proc/net/if_inet6", "re");
  if (!f)
    return 0;
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  /* "<32 hex address> <ifindex> <prefix len> <scope> <flags> <name>" */
  while (getline(&line, &cap, f) > 0) {
    unsigned idx, plen, scope;
    if (sscanf(line, "%*32s %x %x %x", &idx, &plen, &scope) == 3 && scope == 0)
      return 1;
  }
  return 0;
}
