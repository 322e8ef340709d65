/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Named volumes, in docker's layout: the data of volume NAME is in
 * ROOT/volumes/NAME/_data, its record in the inventory's `volumes` table,
 * and which containers use it in `container_volumes` (container/inventory.h
 * maintains those links).
 *
 * The record and the directory stay consistent: every change of
 * ROOT/volumes/NAME happens while the inventory's write lock is held, and
 * a directory appears or disappears under its name by rename() only. A new
 * volume is made in ROOT/volumes/.tmp-PID-START-RANDOM/ and renamed to
 * NAME before the record's transaction commits (and renamed back if the
 * commit fails); a removed one is renamed to a .tmp-* name first and
 * deleted after. A crash leaves only a .tmp-* directory whose process is
 * gone; create and prune delete those (never one whose process still runs).
 * A directory NAME without a record (a crash between rename and commit) is
 * replaced by the next create of NAME and removed by prune. */
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/error.h"
#include "container/inventory.h"

struct bothy_volume {
  char *name;
  char *created;    /* RFC 3339 with nanoseconds, UTC */
  char *mountpoint; /* ROOT/volumes/NAME/_data */
  json_t *labels;   /* an object, never NULL */
  bool anonymous;
  char **users; /* full ids of the containers using it (NULL-terminated, may be NULL) */
};

void bothy_volume_free(struct bothy_volume *v); /* NULL-safe */
void bothy_volumes_free(struct bothy_volume **v, size_t n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_volume *, bothy_volume_free)
#define _cleanup_volume_ _cleanup_(bothy_volume_freep)

/* Creates volume name, or with name NULL an anonymous volume with a random
 * 64-hex name (name NULL implies anonymous, as docker). An existing name is
 * not an error: *ret_name gets it and nothing changes (docker returns the
 * existing volume; its labels stay). labels: an object of strings, borrowed,
 * may be NULL. *ret_name (optional): the name, caller frees.
 * Errors: EINVAL 'invalid volume name "x": ...' (docker's
 * [a-zA-Z0-9][a-zA-Z0-9_.-]+, at most 255 characters). */
int bothy_volume_create(struct bothy_inventory *inv, const char *root, const char *name,
                        json_t *labels, bool anonymous, char **ret_name, bothy_error_t *err);

/* ENOENT 'no such volume: NAME'. */
int bothy_volume_get(struct bothy_inventory *inv, const char *root, const char *name,
                     struct bothy_volume **ret, bothy_error_t *err);

/* Every volume, by name. *ret: an array of *ret_n (NULL when none); free
 * with bothy_volumes_free(). */
int bothy_volume_list(struct bothy_inventory *inv, const char *root, struct bothy_volume ***ret,
                      size_t *ret_n, bothy_error_t *err);

/* Removes the record, then the directory. A volume a container uses is
 * never removed: EBUSY 'volume NAME is in use by container SHORTID', force
 * or not (as docker's `volume rm -f`); force only makes a missing volume
 * (ENOENT 'no such volume: NAME') a success. */
int bothy_volume_remove(struct bothy_inventory *inv, const char *root, const char *name, bool force,
                        bothy_error_t *err);

/* Removes the volumes no container uses: all false, only anonymous ones
 * (docker >= 23); all true, every unused one. Also deletes what crashes
 * left (stale .tmp-* directories, directories without a record).
 * *ret_removed (optional): the names removed (a strv, NULL when none;
 * caller frees); *ret_bytes (optional): the bytes their files took. */
int bothy_volume_prune(struct bothy_inventory *inv, const char *root, bool all, char ***ret_removed,
                       uint64_t *ret_bytes, bothy_error_t *err);

/* ROOT/volumes/NAME/_data; caller frees. */
char *bothy_volume_path(const char *root, const char *name);
