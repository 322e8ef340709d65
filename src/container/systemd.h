/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* systemd integration without libsystemd: the unit `bothy systemd generate
 * NAME` prints, and sd_notify(3). */
#include "base/error.h"

struct bothy_unit_opts {
  const char *bothy;   /* absolute path of the bothy binary */
  const char *root;    /* bothy's --root, NULL for the default /var/lib/bothy (then omit --root) */
  const char *name;    /* container name */
  const char *restart; /* policy: "no", "always", "unless-stopped", "on-failure" (NULL: "no") */
  int max_retries;     /* on-failure:N (0: none) */
  int stop_timeout;    /* seconds */
  const char *description; /* NULL: "bothy container NAME" */
};

/* The text of a unit that runs the container in the foreground under
 * systemd:
 *   [Unit]     Description=, Wants= and After=network-online.target; with
 *              on-failure:N, StartLimitBurst=N+1 (the first start and N
 *              restarts) and StartLimitIntervalSec=60*(N+1), so a container
 *              that keeps failing within a minute of its start gets N
 *              restarts, and one that ran longer is not held to it forever
 *   [Service]  Type=notify (bothy sends READY=1 and MAINPID= once the
 *              container's process runs), NotifyAccess=main,
 *              ExecStart=BOTHY [--root ROOT] start --attach NAME,
 *              ExecStop=BOTHY [--root ROOT] stop -t STOP_TIMEOUT NAME,
 *              TimeoutStopSec=STOP_TIMEOUT+10, Restart= (always and
 *              unless-stopped: always, on-failure: on-failure, no: no; a
 *              `systemctl stop` is never restarted, which is
 *              unless-stopped's meaning), RestartSec=1, KillMode=mixed
 *   [Install]  WantedBy=multi-user.target
 * Arguments are quoted for systemd's command-line syntax: a word with
 * anything but [A-Za-z0-9/._,:=+@-] is put in double quotes with C escapes,
 * "%" becomes "%%" (specifiers) and "$" becomes "$$" (variables).
 * Description= escapes "%" and turns control characters into spaces.
 * An unknown restart policy is treated as "no". Caller frees. */
char *bothy_systemd_unit(const struct bothy_unit_opts *o);

/* sd_notify(3) without libsystemd: sends msg ("READY=1\nMAINPID=123") as one
 * datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract namespace).
 * 0 when NOTIFY_SOCKET is unset or empty (nothing to do), 1 when sent,
 * negative with *err on failure (an address of another kind, "vsock:...",
 * is EAFNOSUPPORT). */
int bothy_sd_notify(const char *msg, bothy_error_t *err);
