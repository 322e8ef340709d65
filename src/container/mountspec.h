/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* docker's mount flags, parsed: -v/--volume, --mount and --tmpfs.
 *
 * Pure parsing: nothing here touches the filesystem. Whether a bind source
 * exists, creating or finding a named volume, copying the image's files into
 * a new volume ("nocopy" says not to): all that is the caller's. The parsers
 * follow docker's rules (cli/opts/mount.go, volume/mounts/linux_parser.go)
 * where bothy has the same concept, and say so where they differ.
 *
 * The target is always an absolute, normalised path: "//a/./b/" becomes
 * "/a/b". A ".." component is refused rather than resolved (docker cleans it
 * away lexically, which hides what the user typed), and so is "/" itself.
 *
 * Errors are EINVAL, with messages in docker's words that quote the spec:
 *   invalid volume specification: "a:b:c:d"
 *   invalid mount spec "type=bind": target is required
 *   invalid tmpfs destination "run": must be absolute */
#include <errno.h>
#include <stdbool.h>
#include "base/error.h"

enum bothy_mount_kind {
  BOTHY_MOUNT_BIND,   /* a host path */
  BOTHY_MOUNT_VOLUME, /* a named volume, or a new anonymous one */
  BOTHY_MOUNT_TMPFS,
  _BOTHY_MOUNT_KIND_MAX,
  _BOTHY_MOUNT_KIND_INVALID = -EINVAL,
};

struct bothy_mount_req {
  enum bothy_mount_kind kind;
  /* bind: an absolute host path (not normalised: the caller resolves it);
   * volume: the volume's name, NULL for an anonymous volume; tmpfs: NULL. */
  char *source;
  char *target; /* absolute, normalised, never "/" */
  bool readonly;
  /* Extra OCI mount options, NULL when none: a bind's propagation
   * ("rprivate", "rshared", ...), a volume's "nocopy" (for the caller, not a
   * mount(2) option), a tmpfs's "size=", "mode=" and mount flags ("noexec",
   * "exec", ...). "ro"/"rw" are in readonly, never here; SELinux's "z"/"Z"
   * are accepted and dropped (bothy does not relabel). */
  char **options;
};

/* -v/--volume SRC:DST[:OPTS] or DST (an anonymous volume). SRC starting with
 * '/' is a bind mount, anything else a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]+,
 * so "./dir" and "~/dir" are refused: binds need an absolute path). OPTS is a
 * comma-separated list of at most one each of ro|rw, z|Z, a propagation mode
 * (private, rprivate, shared, rshared, slave, rslave; binds only) and nocopy
 * (volumes only). */
int bothy_mount_parse_volume(const char *spec, struct bothy_mount_req *ret, bothy_error_t *err);

/* --mount type=bind|volume|tmpfs,source=|src=,target=|destination=|dst=,
 * readonly|ro[=BOOL],bind-propagation=,volume-nocopy[=BOOL],tmpfs-size=,
 * tmpfs-mode=. Fields are CSV (a field may be double-quoted, "" inside quotes
 * is a quote), keys are case-insensitive, type defaults to volume, and
 * "consistency=" is accepted and ignored as docker does on Linux. The
 * bind-*, volume-* and tmpfs-* keys are refused with another type. tmpfs-size
 * takes docker's sizes ("64m", "1.5g"; powers of 1024) and becomes "size=";
 * tmpfs-mode is octal and becomes "mode=". */
int bothy_mount_parse_mount(const char *spec, struct bothy_mount_req *ret, bothy_error_t *err);

/* --tmpfs DST[:OPTS], OPTS comma-separated tmpfs mount options: the mount
 * flags (noexec, nosuid, nodev, ro, ...) and size=, mode=, uid=, gid=,
 * nr_inodes=, nr_blocks=, mpol=. Anything else is refused, as docker does. */
int bothy_mount_parse_tmpfs(const char *spec, struct bothy_mount_req *ret, bothy_error_t *err);

/* Frees m's fields and zeroes it; NULL-safe, and safe to call twice. */
void bothy_mount_req_done(struct bothy_mount_req *m);
