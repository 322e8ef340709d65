/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* A container's root filesystem: an overlay of the image's shared, read-only
 * layers with the container's own upper directory. Layers are never copied:
 * fifty containers from one image use one copy on disk and in page cache. */
#include <stddef.h>
#include "base/error.h"

/* Mounts an overlay at target. lowers[0] is the top layer, lowers[n-1] the
 * base. upper and work may both be NULL for a read-only overlay (needs
 * n >= 2; a single read-only layer is bind-mounted read-only instead).
 *
 * Long layer chains: mount(2) takes at most one page of options, which a
 * few dozen absolute layer paths exceed. With the new mount API and
 * "lowerdir+" (Linux 6.8) each layer is passed on its own and there is no
 * limit; on older kernels the layers are given relative to their common
 * parent directory, as containers/storage does. */
int bothy_overlay_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                        const char *target, bothy_error_t *err);

/* The same for an upper directory that is thrown away with its container
 * (`run --rm`): mounted "volatile" where the kernel takes it (the new mount
 * API), which spares the sync of the whole upper filesystem that an
 * overlay's unmount, and any sync() inside, otherwise does. What an earlier
 * volatile mount left in work (work/work/incompat, which overlayfs refuses)
 * is removed first. Where "volatile" is refused, a usual mount. */
int bothy_overlay_mount_volatile(const char *const *lowers, size_t n, const char *upper,
                                 const char *work, const char *target, bothy_error_t *err);
