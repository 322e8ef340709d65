/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* process.capabilities: names to bitmasks, and applying them (libcap).
 *
 * bothy_caps_parse() runs in the runtime process before the container is
 * cloned, so that mistakes fail `create` early and the container's init needs
 * neither /proc nor name lookups. The init then, in this order:
 *
 *   bothy_caps_apply_bounding()   while still root (needs CAP_SETPCAP);
 *   prctl(PR_SET_KEEPCAPS, 1); setresgid/setgroups/setresuid
 *                                 (the caller; keepcaps keeps the permitted set
 *                                 across the change of uid);
 *   bothy_caps_apply()            effective, permitted and inheritable exactly
 *                                 as given, then the ambient set, then
 *                                 keepcaps cleared.
 *
 * Capability numbers above 63 cannot be represented; none exist (Linux 6.x
 * stops at 40). */
#include <stdint.h>
#include "base/error.h"
#include "runtime/spec.h"

struct bothy_capset {
  uint64_t bounding;
  uint64_t effective;
  uint64_t inheritable;
  uint64_t permitted;
  uint64_t ambient;
  unsigned last_cap; /* the running kernel's, when parsed */
};

/* The running kernel's highest capability number: /proc/sys/kernel/cap_last_cap,
 * else what libcap probed. Read once and cached. */
unsigned bothy_caps_last_cap(void);

/* The number of a capability libcap knows by its exact name ("CAP_CHOWN" -> 0),
 * or -1. */
int bothy_caps_from_name(const char *name);

/* Parses spec into *ret (an all-NULL spec gives empty sets: everything dropped).
 *  - a name that does not start with "CAP_" followed by [A-Z0-9_] is an error
 *    naming the place: "process.capabilities.bounding[2]: malformed
 *    capability name 'chown'";
 *  - a well-formed name libcap does not know is ignored with a warning, once
 *    per name ("unknown capability 'CAP_FOO', ignoring"), as runc does;
 *  - a capability above the running kernel's last one is dropped with a
 *    debug message (a profile for a newer kernel still runs);
 *  - an effective capability that is not permitted is an error (capset(2)
 *    would refuse it);
 *  - an ambient capability that is not both permitted and inheritable is
 *    dropped with a warning (the kernel refuses to raise it; runc warns too).
 * *ret is written only on success. */
int bothy_caps_parse(const struct bothy_caps_spec *spec, struct bothy_capset *ret,
                     bothy_error_t *err);

/* Drops from the bounding set every capability (up to c->last_cap) that is not
 * in c->bounding. Needs CAP_SETPCAP; call while still root in the container's
 * user namespace. Already-dropped ones are left alone. */
int bothy_caps_apply_bounding(const struct bothy_capset *c, bothy_error_t *err);

/* Sets effective, permitted and inheritable to exactly c's (capset(2) through
 * libcap), clears the ambient set and raises each of c->ambient, then clears
 * keepcaps. Call after the uid change (with keepcaps set before it when the
 * new uid is not 0, or the permitted set is gone). EPERM from the kernel when
 * asking for a capability the process does not have. */
int bothy_caps_apply(const struct bothy_capset *c, bothy_error_t *err);

/* "CAP_..." names of the bits of mask that libcap knows, in numeric order
 * (unknown bits are left out). Caller frees (strv). */
char **bothy_caps_names(uint64_t mask);
/* Every capability libcap knows, up to the running kernel's last one (for
 * `features`). Caller frees (strv). */
char **bothy_caps_all_names(void);
