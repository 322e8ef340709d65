/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Protection against CVE-2019-5736: a process inside a container that opens
 * /proc/PID/exe of a runtime process entering it could write to the runtime
 * binary on the host. Before entering a container, the runtime re-executes
 * itself from a sealed memfd copy: what a container could reach is then an
 * anonymous, write-sealed file, never the binary on disk. */
#include "base/error.h"

/* Returns 0 when already running from a sealed copy; otherwise execs itself
 * from one and does not return, or fails with *err. */
int bothy_ensure_cloned_binary(char **argv, bothy_error_t *err);
