/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of `bothy doctor` below the instances:
 *   - directories under ROOT/containers and ROOT/volumes without an
 *     inventory row (a crash or a hand edit left them);
 *   - inventory rows that hold an address or a host port for a container
 *     that has no row;
 *   - unpacked layers that no image, container or build cache record uses.
 * Each finding appends a line to *found; with fix, it is repaired (removed,
 * released) and the line says so. The checks of the instances themselves
 * are in instance.c (bothy_doctor). */
#pragma once

#include <stdbool.h>
#include "app/instance.h"
#include "base/error.h"
#include "container/inventory.h"
#include "image/images.h"

int bothy_doctor_below(const struct bothy_app_ctx *a, struct bothy_inventory *inv,
                       struct bothy_images *imgs, bool fix, char ***found, bothy_error_t *err);
