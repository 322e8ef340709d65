/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Published ports (docker's -p and -P): parsing the specifications, and
 * reserving host ports for a container in the inventory database (the
 * "ports" table of the "net" migration, net/ipam.h).
 *
 * A reservation is both a row in the table (so that two containers never
 * get the same host port, whether they run or not) and, while the caller
 * wants it, a bound socket (so that nothing else on the host takes the port
 * between the check and the container's start). */
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"

/* bothy publishes on the loopback address unless told otherwise: the front
 * end (nginx) is what listens publicly. */
#define BOTHY_PORT_DEFAULT_HOST_IP "127.0.0.1"

struct bothy_port_spec {
  char *host_ip;      /* an IPv4 or IPv6 address in canonical form ("::1", no brackets) */
  uint16_t host_port; /* 0: any free one, chosen by bothy_ports_reserve */
  uint16_t ctr_port;  /* 1..65535 */
  char proto[4];      /* "tcp" | "udp" */
};

/* Parses one -p value: [ip:][hostPort:]containerPort[/proto], as docker:
 *   80                 127.0.0.1:<any>  -> 80/tcp
 *   8080:80            127.0.0.1:8080   -> 80/tcp
 *   0.0.0.0:8080:80    0.0.0.0:8080     -> 80/tcp
 *   127.0.0.1::80      127.0.0.1:<any>  -> 80/tcp
 *   [::1]:8080:80      [::1]:8080       -> 80/tcp (an IPv6 address in brackets)
 *   8080:80/udp        127.0.0.1:8080   -> 80/udp (the protocol is case-insensitive)
 *   8000-8002:80-82    three specs, 8000->80, 8001->81, 8002->82
 *   80-82              three specs, each to any free host port
 * A host port range with a single container port is an error here (docker
 * takes it as a range to choose from).
 * Appends one spec per port to the array *v of *n specs (both may be
 * NULL/0 at first); on failure *v and *n are left as they were.
 * Errors (EINVAL):
 *   invalid port specification: "x"      (the shape: empty parts, too many ':')
 *   invalid range "x"                    (not a port or a port range, 0, > 65535,
 *                                         backwards, or ranges of different lengths)
 *   invalid IP address "x"
 *   invalid protocol "x": only tcp and udp are supported */
int bothy_port_parse(const char *s, struct bothy_port_spec **v, size_t *n, bothy_error_t *err);

/* -P: every exposed port of an image ("80/tcp", "53/udp", "8080" meaning tcp:
 * the keys of its config's ExposedPorts; NULL-terminated, may be NULL) to a
 * free host port on 127.0.0.1. Appends as bothy_port_parse does.
 * Errors: EINVAL invalid exposed port "x". */
int bothy_port_from_exposed(char *const *exposed, struct bothy_port_spec **v, size_t *n,
                            bothy_error_t *err);

void bothy_port_specs_free(struct bothy_port_spec *v, size_t n); /* NULL-safe */

/* Reserves the n ports of v for container, in one transaction (or a
 * savepoint of the caller's):
 *  - a port recorded for any container already (0.0.0.0 and :: conflict with
 *    every address of the same port and protocol, and the reverse) or twice
 *    in v is refused;
 *  - each port is bound on the host (SO_REUSEADDR off), which proves it free;
 *  - host_port 0 gets the port the kernel chooses (written back into v).
 * With ret_fds, *ret_fds receives an array of the n bound sockets (O_CLOEXEC)
 * in the order of v, which the caller keeps to hold the ports or closes, and
 * frees; else they are closed. On failure nothing is recorded, v is as it
 * was and no socket is left open.
 * Errors:
 *   EADDRINUSE  port 127.0.0.1:8080/tcp is already in use
 *               (by a process on the host, or "... by container SHORTID")
 *   other errno cannot bind 10.0.0.9:8080/tcp: <strerror> (an address the host
 *               does not have, ...) */
int bothy_ports_reserve(sqlite3 *db, const char *container, struct bothy_port_spec *v, size_t n,
                        int **ret_fds, bothy_error_t *err);

/* Forgets every port of container (none is success). */
int bothy_ports_release(sqlite3 *db, const char *container, bothy_error_t *err);

/* The ports recorded for container, in the order they were reserved; *ret
 * (NULL when none) is freed with bothy_port_specs_free(). */
int bothy_ports_of_container(sqlite3 *db, const char *container, struct bothy_port_spec **ret,
                             size_t *ret_n, bothy_error_t *err);
