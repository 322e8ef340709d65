/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "container/network.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/xalloc.h"
#include "container/inventory.h"
#include "net/firewall.h"
#include "net/ipam.h"
#include "net/link.h"
#include "runtime/state.h"

int bothy_ctr_net_overlaps(const char *cidr, void *userdata)
{
  return bothy_net_route_overlaps(cidr, NULL) == 1;
}

static char *netns_path(const char *root, const char *id)
{
  return xasprintf("%s/netns/%s", root, id);
}

/* "10.89.3.0/24" -> "/24" part. */
static const char *prefix_of(const char *cidr)
{
  const char *slash = strchr(cidr, '/');
  return slash ? slash : "/24";
}

enum plumbing {
  PLUMB_FULL,       /* the bridge and the firewall rules, as recorded */
  PLUMB_BRIDGE,     /* the bridge as recorded; the rules only with a new bridge */
  PLUMB_IF_MISSING, /* nothing when the bridge exists */
};

/* The firewall's rules are made with the bridge and go with it at a reboot;
 * loading libnftables and rewriting the rules costs more than the rest of a
 * container's network, so starts do it only when the bridge is new. */
static int plumb(sqlite3 *db, const char *name, enum plumbing how, bothy_error_t *err)
{
  _cleanup_(bothy_network_freep) struct bothy_network *n = NULL;
  if (bothy_network_get(db, name, &n, err) < 0)
    return -1;
  bool existed = bothy_net_link_exists(n->bridge);
  if (how == PLUMB_IF_MISSING && existed)
    return 0;
  _cleanup_free_ char *gw = xasprintf("%s%s", n->gateway, prefix_of(n->subnet));
  struct bothy_fw_network fw = {
    .name = n->name, .bridge = n->bridge, .subnet = n->subnet, .internal = n->internal
  };
  if (bothy_net_bridge_ensure(n->bridge, gw, 0, err) < 0 ||
      ((how == PLUMB_FULL || !existed) && bothy_fw_network_add(&fw, err) < 0))
    return bothy_error_prefix(err, "network \"%s\"", n->name);
  return 0;
}

int bothy_ctr_network_plumb(sqlite3 *db, const char *name, bothy_error_t *err)
{
  return plumb(db, name, PLUMB_FULL, err);
}

int bothy_ctr_network_unplumb(const char *name, const char *bridge, bothy_error_t *err)
{
  if (bothy_fw_network_remove(name, err) < 0 || bothy_net_link_delete(bridge, err) < 0)
    return bothy_error_prefix(err, "network \"%s\"", name);
  return 0;
}

/* The veth's host-side name: stable per (container, network), <= 15 chars. */
static char *veth_name(const char *id, const char *network)
{
  unsigned long h = 5381;
  for (const char *p = network; *p; p++)
    h = h * 33 + (unsigned char) *p;
  return xasprintf("vb%.8s%05lx", id, h & 0xfffff);
}

int bothy_ctr_net_create(sqlite3 *db, const char *root, const char *id,
                         const struct bothy_ctr_net_req *req, char *const *exposed, json_t *cfg,
                         char **ret_netns, int **ret_fds, size_t *ret_n, bothy_error_t *err)
{
  const char *mode = req->mode ? req->mode : "bridge";
  json_t *net = json_object();
  json_object_set_new(cfg, "net", net);
  *ret_netns = NULL;
  *ret_fds = NULL;
  *ret_n = 0;
  if (streq(mode, "none") || streq(mode, "host")) {
    if (req->n_ports || req->publish_all)
      return bothy_error_set(err, EINVAL, "published ports need a bridge network, not --network %s",
                             mode);
    json_object_set_new(net, "mode", json_string(mode));
    return 0;
  }
  if (strncmp(mode, "container:", 10) == 0) {
    if (req->n_ports || req->publish_all)
      return bothy_error_set(err, EINVAL,
                             "conflicting options: port publishing and the container network mode");
    _cleanup_inventory_ struct bothy_inventory *inv = NULL;
    _cleanup_ctr_record_ struct bothy_ctr_record *r = NULL;
    if (bothy_inventory_open(root, &inv, err) < 0 ||
        bothy_inventory_ctr_get(inv, mode + 10, &r, err) < 0)
      return bothy_error_prefix(err, "--network %s", mode);
    json_object_set_new(net, "mode", json_string("container"));
    json_object_set_new(net, "container", json_string(r->id));
    *ret_netns = netns_path(root, id);
    return 0;
  }

  /* A bothy network: the default one for "bridge". */
  _cleanup_(bothy_network_freep) struct bothy_network *n = NULL;
  if (streq(mode, "bridge")) {
    if (bothy_network_default(db, bothy_ctr_net_overlaps, NULL, &n, err) < 0)
      return -1;
  } else if (bothy_network_get(db, mode, &n, err) < 0) {
    return -1;
  }
  /* At create its bridge and rules are made as the record says (a bridge of
   * the same name may be left from elsewhere); each start then only checks
   * the bridge is there. */
  if (plumb(db, n->name, PLUMB_BRIDGE, err) < 0)
    return -1;
  _cleanup_(bothy_endpoint_freep) struct bothy_endpoint *e = NULL;
  if (bothy_endpoint_add(db, n->name, id, NULL, req->aliases, &e, err) < 0)
    return -1;
  json_object_set_new(net, "mode", json_string("bridge"));
  json_object_set_new(net, "networks", json_pack("[s]", n->name));

  /* Ports: -p as given, -P the image's exposed ones on free ports. */
  struct bothy_port_spec *ports = NULL;
  size_t np = 0;
  for (size_t i = 0; i < req->n_ports; i++) {
    ports = xrealloc(ports, (np + 1) * sizeof(*ports));
    ports[np] = req->ports[i];
    ports[np].host_ip = xstrdup(req->ports[i].host_ip);
    np++;
  }
  if (req->publish_all && exposed && bothy_port_from_exposed(exposed, &ports, &np, err) < 0) {
    bothy_port_specs_free(ports, np);
    bothy_endpoint_remove(db, n->name, id, NULL);
    return -1;
  }
  if (np > 0) {
    int *fds = NULL;
    if (bothy_ports_reserve(db, id, ports, np, &fds, err) < 0) {
      bothy_port_specs_free(ports, np);
      bothy_endpoint_remove(db, n->name, id, NULL);
      return -1;
    }
    *ret_fds = fds;
    *ret_n = np;
  }
  bothy_port_specs_free(ports, np);
  *ret_netns = netns_path(root, id);
  return 0;
}

void bothy_ctr_net_release(sqlite3 *db, const char *id)
{
  struct bothy_endpoint **eps = NULL;
  size_t n = 0;
  if (bothy_endpoints_of_container(db, id, &eps, &n, NULL) == 0) {
    for (size_t i = 0; i < n; i++)
      bothy_endpoint_remove(db, eps[i]->network, id, NULL);
    bothy_endpoints_free(eps, n);
  }
  bothy_ports_release(db, id, NULL);
}

/* ---- /etc/hosts ---------------------------------------------------------- */

/* Writes in place: the file is bind-mounted into the running container, and
 * a rename would leave it looking at the old inode. */
static void write_in_place(const char *path, const char *data)
{
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd >= 0)
    (void) bothy_write_all(fd, data, strlen(data));
}

static void hosts_write(sqlite3 *db, const char *root, const char *id, bothy_ctr_running_fn running,
                        void *ud)
{
  /* db is the caller's connection: a second one would cost an open and a
   * read of the whole write-ahead log. */
  _cleanup_ctr_record_ struct bothy_ctr_record *self = NULL;
  if (bothy_inventory_ctr_get_db(db, id, &self, NULL) < 0)
    return;
  const char *hostname = json_string_value(json_object_get(self->config, "hostname"));
  char *out = xstrdup("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
#define APPEND(...)                                                                                \
  do {                                                                                             \
    char *line = xasprintf(__VA_ARGS__);                                                           \
    char *n2 = xasprintf("%s%s", out, line);                                                       \
    free(line);                                                                                    \
    free(out);                                                                                     \
    out = n2;                                                                                      \
  } while (0)
  struct bothy_endpoint **mine = NULL;
  size_t n_mine = 0;
  bothy_endpoints_of_container(db, id, &mine, &n_mine, NULL);
  if (n_mine == 0)
    APPEND("127.0.1.1\t%s\n", hostname ? hostname : id);
  _cleanup_strv_free_ char **seen = NULL;
  for (size_t i = 0; i < n_mine; i++) {
    if (i == 0)
      APPEND("%s\t%s %s\n", mine[i]->ip, hostname ? hostname : "", self->name);
    struct bothy_endpoint **peers = NULL;
    size_t np = 0;
    if (bothy_endpoints_of_network(db, mine[i]->network, &peers, &np, NULL) < 0)
      continue;
    for (size_t k = 0; k < np; k++) {
      struct bothy_endpoint *p = peers[k];
      if (streq(p->container, id) || strv_contains(seen, p->ip) || !running(p->container, ud))
        continue;
      _cleanup_ctr_record_ struct bothy_ctr_record *pr = NULL;
      if (bothy_inventory_ctr_get_db(db, p->container, &pr, NULL) < 0)
        continue;
      _cleanup_free_ char *aliases = xstrdup("");
      for (size_t a = 0; p->aliases && p->aliases[a]; a++) {
        char *n2 = xasprintf("%s %s", aliases, p->aliases[a]);
        free(aliases);
        aliases = n2;
      }
      APPEND("%s\t%s%s\n", p->ip, pr->name, aliases);
      strv_push(&seen, xstrdup(p->ip));
    }
    bothy_endpoints_free(peers, np);
  }
#undef APPEND
  bothy_endpoints_free(mine, n_mine);
  _cleanup_free_ char *path = xasprintf("%s/containers/%s/etc/hosts", root, id);
  write_in_place(path, out);
  free(out);
}

/* Every running container sharing a network with id. */
static void peers_hosts_write(sqlite3 *db, const char *root, const char *id,
                              bothy_ctr_running_fn running, void *ud)
{
  struct bothy_endpoint **mine = NULL;
  size_t n_mine = 0;
  if (bothy_endpoints_of_container(db, id, &mine, &n_mine, NULL) < 0)
    return;
  _cleanup_strv_free_ char **done = NULL;
  for (size_t i = 0; i < n_mine; i++) {
    struct bothy_endpoint **peers = NULL;
    size_t np = 0;
    if (bothy_endpoints_of_network(db, mine[i]->network, &peers, &np, NULL) < 0)
      continue;
    for (size_t k = 0; k < np; k++) {
      const char *c = peers[k]->container;
      if (streq(c, id) || strv_contains(done, c) || !running(c, ud))
        continue;
      hosts_write(db, root, c, running, ud);
      strv_push(&done, xstrdup(c));
    }
    bothy_endpoints_free(peers, np);
  }
  bothy_endpoints_free(mine, n_mine);
}

/* ---- up and down ---------------------------------------------------------- */

/* The namespace of another container, bound at path for this one. */
static int bind_netns_of(pid_t pid, const char *path, bothy_error_t *err)
{
  _cleanup_free_ char *src = xasprintf("/proc/%d/ns/net", (int) pid);
  if (bothy_netns_exists(path))
    bothy_netns_delete(path, NULL);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return bothy_error_errno(err, "cannot create '%s'", path);
  if (mount(src, path, NULL, MS_BIND, NULL) < 0)
    return bothy_error_errno(err, "cannot bind the network namespace of process %d", (int) pid);
  return 0;
}

/* Containers created since this change on a bridge network get their
 * network namespace from the runtime (a new one, as with --network none),
 * and are plumbed into it through /proc/PID/ns/net while the runtime sets
 * their root filesystem up. Older ones join one that bothy made and
 * bind-mounted under ROOT/netns before the start. */
static bool net_by_runtime(json_t *net)
{
  return json_is_true(json_object_get(net, "netns_by_runtime"));
}

static int plumb_into(sqlite3 *db, const char *root, const char *id, const char *path,
                      bothy_ctr_running_fn running, void *userdata, bothy_error_t *err);

int bothy_ctr_net_up(sqlite3 *db, const char *root, const char *id, const char *name,
                     const char *hostname, json_t *cfg, bothy_ctr_running_fn running,
                     void *userdata, bothy_error_t *err)
{
  json_t *net = json_object_get(cfg, "net");
  const char *mode = json_string_value(json_object_get(net, "mode"));
  if (!mode || streq(mode, "none") || streq(mode, "host"))
    return 0;
  _cleanup_free_ char *dir = xasprintf("%s/netns", root);
  _cleanup_free_ char *path = netns_path(root, id);
  if (bothy_mkdir_p(dir, 0700, err) < 0)
    return -1;
  if (streq(mode, "container")) {
    const char *target = json_string_value(json_object_get(net, "container"));
    _cleanup_free_ char *tdir = xasprintf("%s/containers/%s/status.json", root, target);
    _cleanup_json_ json_t *st = NULL;
    pid_t pid = 0;
    if (target && running(target, userdata) && bothy_json_load_file(tdir, &st, NULL) == 0)
      pid = (pid_t) json_integer_value(json_object_get(st, "pid"));
    if (pid <= 0)
      return bothy_error_set(err, ESRCH,
                             "cannot join the network of container %.12s: it is not running",
                             target ? target : "?");
    return bind_netns_of(pid, path, err);
  }

  /* A namespace left by a run that ended without its cleanup goes first,
   * with what is in it: each start begins from a new one. */
  if (bothy_netns_exists(path))
    bothy_netns_delete(path, NULL);
  if (net_by_runtime(net))
    return 0; /* bothy_ctr_net_plumb_into() does it, once the runtime made it */
  if (bothy_netns_create(path, err) < 0)
    return -1;
  return plumb_into(db, root, id, path, running, userdata, err);
}

int bothy_ctr_net_plumb_into(sqlite3 *db, const char *root, const char *id, json_t *cfg, pid_t pid,
                             bothy_ctr_running_fn running, void *userdata, bothy_error_t *err)
{
  if (!net_by_runtime(json_object_get(cfg, "net")))
    return 0;
  _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int) pid);
  if (bothy_netns_lo_up(path, err) < 0)
    return -1;
  return plumb_into(db, root, id, path, running, userdata, err);
}

/* The container's endpoints into the namespace at path: veths, published
 * ports, /etc/hosts. */
static int plumb_into(sqlite3 *db, const char *root, const char *id, const char *path,
                      bothy_ctr_running_fn running, void *userdata, bothy_error_t *err)
{
  struct bothy_endpoint **eps = NULL;
  size_t n = 0;
  if (bothy_endpoints_of_container(db, id, &eps, &n, err) < 0)
    return -1;
  int ret = -1;
  _cleanup_free_ char *first_ip = NULL, *first_bridge = NULL;
  for (size_t i = 0; i < n; i++) {
    _cleanup_(bothy_network_freep) struct bothy_network *nw = NULL;
    if (bothy_network_get(db, eps[i]->network, &nw, err) < 0 ||
        plumb(db, nw->name, PLUMB_IF_MISSING, err) < 0)
      goto out;
    _cleanup_free_ char *host = veth_name(id, nw->name);
    _cleanup_free_ char *addr = xasprintf("%s%s", eps[i]->ip, prefix_of(nw->subnet));
    _cleanup_free_ char *ifname = xasprintf("eth%zu", i);
    /* The same name from the previous run may still be on its way out. */
    for (int w = 0; w < 200 && bothy_net_link_exists(host); w++) {
      struct timespec ts = { 0, 10 * 1000 * 1000 };
      nanosleep(&ts, NULL);
    }
    bothy_net_link_delete(host, NULL);
    {
      struct bothy_veth_opts vo = {
        .bridge = nw->bridge,
        .host_name = host,
        .netns_path = path,
        .ifname = ifname,
        .addr_cidr = addr,
        .gateway = nw->internal ? NULL : nw->gateway,
        .mac = eps[i]->mac,
      };
      if (bothy_net_veth_attach(&vo, err) < 0)
        goto out;
    }
    if (i == 0) {
      first_ip = xstrdup(eps[i]->ip);
      first_bridge = xstrdup(nw->bridge);
    }
  }
  /* Published ports lead to the first network's address. */
  struct bothy_port_spec *ports = NULL;
  size_t np = 0;
  if (first_ip && bothy_ports_of_container(db, id, &ports, &np, err) < 0)
    goto out;
  if (np > 0) {
    struct bothy_fw_port *fp = xcalloc(np, sizeof(*fp));
    for (size_t i = 0; i < np; i++)
      fp[i] = (struct bothy_fw_port){ .host_ip = ports[i].host_ip,
                                      .host_port = ports[i].host_port,
                                      .proto = ports[i].proto,
                                      .ctr_ip = first_ip,
                                      .ctr_port = ports[i].ctr_port,
                                      .bridge = first_bridge };
    bothy_fw_ports_remove(id, NULL);
    int r = bothy_fw_ports_add(id, fp, np, err);
    free(fp);
    bothy_port_specs_free(ports, np);
    if (r < 0)
      goto out;
  }
  hosts_write(db, root, id, running, userdata);
  peers_hosts_write(db, root, id, running, userdata);
  ret = 0;
out:
  bothy_endpoints_free(eps, n);
  return ret;
}

void bothy_ctr_net_down(sqlite3 *db, const char *root, const char *id, json_t *cfg,
                        bothy_ctr_running_fn running, void *userdata)
{
  json_t *net = json_object_get(cfg, "net");
  const char *mode = json_string_value(json_object_get(net, "mode"));
  if (!mode || streq(mode, "none") || streq(mode, "host"))
    return;
  struct bothy_port_spec *ports = NULL;
  size_t np = 0;
  if (bothy_ports_of_container(db, id, &ports, &np, NULL) == 0 && np > 0)
    bothy_fw_ports_remove(id, NULL);
  bothy_port_specs_free(ports, np);
  /* The host ends of its veths go with the namespace: the kernel removes
   * them from a work queue, without keeping this command waiting (deleting
   * one here waits for the network stack to let go of it, ~10 ms). */
  _cleanup_free_ char *path = netns_path(root, id);
  bothy_netns_delete(path, NULL);
  if (streq(mode, "bridge"))
    peers_hosts_write(db, root, id, running, userdata);
}

int bothy_ctr_net_hold(sqlite3 *db, const char *id, int **ret_fds, size_t *ret_n,
                       bothy_error_t *err)
{
  struct bothy_port_spec *ports = NULL;
  size_t n = 0;
  *ret_fds = NULL;
  *ret_n = 0;
  if (bothy_ports_of_container(db, id, &ports, &n, err) < 0)
    return -1;
  int *fds = xcalloc(n + 1, sizeof(int));
  size_t got = 0;
  int ret = 0;
  for (size_t i = 0; i < n; i++) {
    bool v6 = strchr(ports[i].host_ip, ':') != NULL;
    bool udp = streq(ports[i].proto, "udp");
    int fd = socket(v6 ? AF_INET6 : AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    union {
      struct sockaddr sa;
      struct sockaddr_in in;
      struct sockaddr_in6 in6;
    } a = { 0 };
    socklen_t len;
    if (v6) {
      a.in6.sin6_family = AF_INET6;
      a.in6.sin6_port = htons(ports[i].host_port);
      inet_pton(AF_INET6, ports[i].host_ip, &a.in6.sin6_addr);
      len = sizeof(a.in6);
    } else {
      a.in.sin_family = AF_INET;
      a.in.sin_port = htons(ports[i].host_port);
      inet_pton(AF_INET, ports[i].host_ip, &a.in.sin_addr);
      len = sizeof(a.in);
    }
    if (fd < 0 || bind(fd, &a.sa, len) < 0) {
      ret = bothy_error_errno(err, "port %s:%u/%s is already in use", ports[i].host_ip,
                              (unsigned) ports[i].host_port, ports[i].proto);
      if (fd >= 0)
        close(fd);
      break;
    }
    fds[got++] = fd;
  }
  bothy_port_specs_free(ports, n);
  if (ret < 0) {
    for (size_t i = 0; i < got; i++)
      close(fds[i]);
    free(fds);
    return ret;
  }
  *ret_fds = fds;
  *ret_n = got;
  return 0;
}

int bothy_ctr_net_connect(sqlite3 *db, const char *root, const char *id, json_t *cfg,
                          const char *network, char *const *aliases, bool running_now, pid_t pid,
                          bothy_ctr_running_fn running, void *userdata, bothy_error_t *err)
{
  const char *mode = json_string_value(json_object_get(json_object_get(cfg, "net"), "mode"));
  if (!mode || !streq(mode, "bridge"))
    return bothy_error_set(err, EINVAL,
                           "container %.12s has no network namespace of its own on bothy's "
                           "networks (--network %s)",
                           id, mode ? mode : "none");
  _cleanup_(bothy_network_freep) struct bothy_network *nw = NULL;
  if (bothy_network_get(db, network, &nw, err) < 0)
    return -1;
  struct bothy_endpoint **eps = NULL;
  size_t n = 0;
  if (bothy_endpoints_of_container(db, id, &eps, &n, err) < 0)
    return -1;
  bool already = false;
  for (size_t i = 0; i < n; i++)
    already |= streq(eps[i]->network, nw->name);
  bothy_endpoints_free(eps, n);
  if (already)
    return bothy_error_set(err, EEXIST, "container %.12s is already on network \"%s\"", id,
                           nw->name);
  _cleanup_(bothy_endpoint_freep) struct bothy_endpoint *e = NULL;
  if (plumb(db, nw->name, PLUMB_BRIDGE, err) < 0 ||
      bothy_endpoint_add(db, nw->name, id, NULL, aliases, &e, err) < 0)
    return -1;
  if (!running_now)
    return 0;
  /* A namespace the runtime made (see net_by_runtime) is the process's. */
  _cleanup_free_ char *path = net_by_runtime(json_object_get(cfg, "net")) && pid > 0
                                  ? xasprintf("/proc/%d/ns/net", (int) pid)
                                  : netns_path(root, id);
  _cleanup_free_ char *host = veth_name(id, nw->name);
  _cleanup_free_ char *addr = xasprintf("%s%s", e->ip, prefix_of(nw->subnet));
  _cleanup_free_ char *ifname = xasprintf("eth%zu", n);
  struct bothy_veth_opts vo = {
    .bridge = nw->bridge,
    .host_name = host,
    .netns_path = path,
    .ifname = ifname,
    .addr_cidr = addr,
    /* The first network keeps the default route. */
    .gateway = NULL,
    .mac = e->mac,
  };
  if (bothy_net_veth_attach(&vo, err) < 0) {
    bothy_endpoint_remove(db, nw->name, id, NULL);
    return -1;
  }
  hosts_write(db, root, id, running, userdata);
  peers_hosts_write(db, root, id, running, userdata);
  return 0;
}

int bothy_ctr_net_disconnect(sqlite3 *db, const char *root, const char *id, const char *network,
                             bothy_ctr_running_fn running, void *userdata, bothy_error_t *err)
{
  _cleanup_(bothy_network_freep) struct bothy_network *nw = NULL;
  if (bothy_network_get(db, network, &nw, err) < 0)
    return -1;
  struct bothy_endpoint **eps = NULL;
  size_t n = 0;
  if (bothy_endpoints_of_container(db, id, &eps, &n, err) < 0)
    return -1;
  bool on = false;
  for (size_t i = 0; i < n; i++)
    on |= streq(eps[i]->network, nw->name);
  bothy_endpoints_free(eps, n);
  if (!on)
    return bothy_error_set(err, ENOENT, "container %.12s is not on network \"%s\"", id, nw->name);
  /* Its former peers, told before the record goes. */
  struct bothy_endpoint **peers = NULL;
  size_t np = 0;
  bothy_endpoints_of_network(db, nw->name, &peers, &np, NULL);
  _cleanup_free_ char *host = veth_name(id, nw->name);
  bothy_net_link_delete(host, NULL);
  int r = bothy_endpoint_remove(db, nw->name, id, err);
  if (r == 0) {
    hosts_write(db, root, id, running, userdata);
    for (size_t i = 0; i < np; i++)
      if (!streq(peers[i]->container, id) && running(peers[i]->container, userdata))
        hosts_write(db, root, peers[i]->container, running, userdata);
  }
  bothy_endpoints_free(peers, np);
  return r;
}
