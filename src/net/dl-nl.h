/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* libnl-3 and libnl-route-3, loaded on first use (base/dlopen.h says why).
 * Include this in a .c file after every other header: it turns the libnl
 * calls of that file into calls through pointers that bothy_dlopen_nl()
 * fills. */
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include "base/error.h"

/* libnl-3.so.200 */
#define BOTHY_NL_SYMBOLS(X)                                                                        \
  X(nl_addr_build)                                                                                 \
  X(nl_addr_get_binary_addr)                                                                       \
  X(nl_addr_get_family)                                                                            \
  X(nl_addr_get_len)                                                                               \
  X(nl_addr_get_prefixlen)                                                                         \
  X(nl_addr_parse)                                                                                 \
  X(nl_addr_put)                                                                                   \
  X(nl_cache_free)                                                                                 \
  X(nl_cache_get_first)                                                                            \
  X(nl_cache_get_next)                                                                             \
  X(nl_connect)                                                                                    \
  X(nl_geterror)                                                                                   \
  X(nl_socket_alloc)                                                                               \
  X(nl_socket_free)

/* libnl-route-3.so.200 */
#define BOTHY_NL_ROUTE_SYMBOLS(X)                                                                  \
  X(rtnl_addr_add)                                                                                 \
  X(rtnl_addr_alloc)                                                                               \
  X(rtnl_addr_alloc_cache)                                                                         \
  X(rtnl_addr_delete)                                                                              \
  X(rtnl_addr_get_family)                                                                          \
  X(rtnl_addr_get_ifindex)                                                                         \
  X(rtnl_addr_get_local)                                                                           \
  X(rtnl_addr_get_prefixlen)                                                                       \
  X(rtnl_addr_put)                                                                                 \
  X(rtnl_addr_set_ifindex)                                                                         \
  X(rtnl_addr_set_local)                                                                           \
  X(rtnl_link_add)                                                                                 \
  X(rtnl_link_alloc)                                                                               \
  X(rtnl_link_bridge_alloc)                                                                        \
  X(rtnl_link_change)                                                                              \
  X(rtnl_link_delete)                                                                              \
  X(rtnl_link_get_flags)                                                                           \
  X(rtnl_link_get_ifindex)                                                                         \
  X(rtnl_link_get_kernel)                                                                          \
  X(rtnl_link_get_mtu)                                                                             \
  X(rtnl_link_get_type)                                                                            \
  X(rtnl_link_put)                                                                                 \
  X(rtnl_link_set_addr)                                                                            \
  X(rtnl_link_set_flags)                                                                           \
  X(rtnl_link_set_master)                                                                          \
  X(rtnl_link_set_mtu)                                                                             \
  X(rtnl_link_set_name)                                                                            \
  X(rtnl_link_set_ns_fd)                                                                           \
  X(rtnl_link_veth_alloc)                                                                          \
  X(rtnl_link_veth_get_peer)                                                                       \
  X(rtnl_route_add)                                                                                \
  X(rtnl_route_add_nexthop)                                                                        \
  X(rtnl_route_alloc)                                                                              \
  X(rtnl_route_alloc_cache)                                                                        \
  X(rtnl_route_get_dst)                                                                            \
  X(rtnl_route_get_table)                                                                          \
  X(rtnl_route_nh_alloc)                                                                           \
  X(rtnl_route_nh_set_gateway)                                                                     \
  X(rtnl_route_nh_set_ifindex)                                                                     \
  X(rtnl_route_put)                                                                                \
  X(rtnl_route_set_dst)                                                                            \
  X(rtnl_route_set_family)                                                                         \
  X(rtnl_route_set_scope)                                                                          \
  X(rtnl_route_set_table)

#define BOTHY_DL_DECLARE(f) extern __typeof__(f) *sym_##f;
BOTHY_NL_SYMBOLS(BOTHY_DL_DECLARE)
BOTHY_NL_ROUTE_SYMBOLS(BOTHY_DL_DECLARE)
#undef BOTHY_DL_DECLARE

/* Loads libnl-3 and libnl-route-3 (once); fails with a message naming the
 * library that did not load. */
int bothy_dlopen_nl(bothy_error_t *err);

#ifndef BOTHY_DL_NL_IMPL
#define nl_addr_build             sym_nl_addr_build
#define nl_addr_get_binary_addr   sym_nl_addr_get_binary_addr
#define nl_addr_get_family        sym_nl_addr_get_family
#define nl_addr_get_len           sym_nl_addr_get_len
#define nl_addr_get_prefixlen     sym_nl_addr_get_prefixlen
#define nl_addr_parse             sym_nl_addr_parse
#define nl_addr_put               sym_nl_addr_put
#define nl_cache_free             sym_nl_cache_free
#define nl_cache_get_first        sym_nl_cache_get_first
#define nl_cache_get_next         sym_nl_cache_get_next
#define nl_connect                sym_nl_connect
#define nl_geterror               sym_nl_geterror
#define nl_socket_alloc           sym_nl_socket_alloc
#define nl_socket_free            sym_nl_socket_free
#define rtnl_addr_add             sym_rtnl_addr_add
#define rtnl_addr_alloc           sym_rtnl_addr_alloc
#define rtnl_addr_alloc_cache     sym_rtnl_addr_alloc_cache
#define rtnl_addr_delete          sym_rtnl_addr_delete
#define rtnl_addr_get_family      sym_rtnl_addr_get_family
#define rtnl_addr_get_ifindex     sym_rtnl_addr_get_ifindex
#define rtnl_addr_get_local       sym_rtnl_addr_get_local
#define rtnl_addr_get_prefixlen   sym_rtnl_addr_get_prefixlen
#define rtnl_addr_put             sym_rtnl_addr_put
#define rtnl_addr_set_ifindex     sym_rtnl_addr_set_ifindex
#define rtnl_addr_set_local       sym_rtnl_addr_set_local
#define rtnl_link_add             sym_rtnl_link_add
#define rtnl_link_alloc           sym_rtnl_link_alloc
#define rtnl_link_bridge_alloc    sym_rtnl_link_bridge_alloc
#define rtnl_link_change          sym_rtnl_link_change
#define rtnl_link_delete          sym_rtnl_link_delete
#define rtnl_link_get_flags       sym_rtnl_link_get_flags
#define rtnl_link_get_ifindex     sym_rtnl_link_get_ifindex
#define rtnl_link_get_kernel      sym_rtnl_link_get_kernel
#define rtnl_link_get_mtu         sym_rtnl_link_get_mtu
#define rtnl_link_get_type        sym_rtnl_link_get_type
#define rtnl_link_put             sym_rtnl_link_put
#define rtnl_link_set_addr        sym_rtnl_link_set_addr
#define rtnl_link_set_flags       sym_rtnl_link_set_flags
#define rtnl_link_set_master      sym_rtnl_link_set_master
#define rtnl_link_set_mtu         sym_rtnl_link_set_mtu
#define rtnl_link_set_name        sym_rtnl_link_set_name
#define rtnl_link_set_ns_fd       sym_rtnl_link_set_ns_fd
#define rtnl_link_veth_alloc      sym_rtnl_link_veth_alloc
#define rtnl_link_veth_get_peer   sym_rtnl_link_veth_get_peer
#define rtnl_route_add            sym_rtnl_route_add
#define rtnl_route_add_nexthop    sym_rtnl_route_add_nexthop
#define rtnl_route_alloc          sym_rtnl_route_alloc
#define rtnl_route_alloc_cache    sym_rtnl_route_alloc_cache
#define rtnl_route_get_dst        sym_rtnl_route_get_dst
#define rtnl_route_get_table      sym_rtnl_route_get_table
#define rtnl_route_nh_alloc       sym_rtnl_route_nh_alloc
#define rtnl_route_nh_set_gateway sym_rtnl_route_nh_set_gateway
#define rtnl_route_nh_set_ifindex sym_rtnl_route_nh_set_ifindex
#define rtnl_route_put            sym_rtnl_route_put
#define rtnl_route_set_dst        sym_rtnl_route_set_dst
#define rtnl_route_set_family     sym_rtnl_route_set_family
#define rtnl_route_set_scope      sym_rtnl_route_set_scope
#define rtnl_route_set_table      sym_rtnl_route_set_table
#endif
