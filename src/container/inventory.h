/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The container inventory: the static record of every container (what it
 * was created from and how), in ROOT/bothy.db. What a container is doing
 * now (running, exited) is not here: the monitor's status.json says that.
 *
 * Many bothy commands run at once (30 `bothy run -d` in parallel), so
 * every change of more than one row is one transaction, and uniqueness
 * (ids, names) is a UNIQUE constraint the database enforces, never a check
 * followed by an insert.
 *
 * Tables (migration "inventory"; the volume module's tables are created by
 * the same migrations, because container_volumes refers to both):
 *   containers        one row per container
 *   volumes           named volumes (see container/volume.h)
 *   container_volumes which container uses which named volume; a volume with
 *                     a row here is in use and cannot be removed
 *
 * Every function below may be called inside a transaction the caller opened
 * on bothy_inventory_db() (BEGIN IMMEDIATE ... COMMIT): it then uses a
 * SAVEPOINT instead of a transaction of its own, and its change becomes
 * durable with the caller's COMMIT. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include "base/error.h"

struct bothy_inventory; /* an open ROOT/bothy.db */

/* Creates ROOT (0700) and the database if needed, and brings the tables up
 * to date. */
int bothy_inventory_open(const char *root, struct bothy_inventory **ret, bothy_error_t *err);
struct bothy_inventory *bothy_inventory_close(struct bothy_inventory *inv); /* NULL-safe */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_inventory *, bothy_inventory_close)
#define _cleanup_inventory_ _cleanup_(bothy_inventory_closep)

/* The connection, for callers that need a transaction across calls. Owned
 * by inv. */
/* With on, a closed connection is kept for the next open in this process
 * (a command opens the inventory several times; the first connection to the
 * database in a process rebuilds the WAL index from the log). Off by
 * default: a process that forks children which open the inventory
 * themselves must not turn it on (SQLite's locks do not survive fork()). */
void bothy_inventory_reuse_connection(bool on);

sqlite3 *bothy_inventory_db(struct bothy_inventory *inv);

struct bothy_ctr_record {
  char *id;          /* 64 lowercase hex */
  char *name;        /* unique; [a-zA-Z0-9][a-zA-Z0-9_.-]*; a leading '/' is dropped */
  char *image;       /* the reference as the user gave it */
  char *image_id;    /* "sha256:..." of the image config */
  char *created;     /* RFC 3339 with nanoseconds, UTC */
  char *state;       /* "creating" | "created" | "removing" */
  pid_t creator_pid; /* the process creating/removing it (0 once created) */
  unsigned long long creator_start; /* its /proc/PID/stat field 22 */
  bool user_stopped;                /* the user stopped it (restart unless-stopped at boot) */
  json_t *config; /* owned; the creation request, opaque here (stored as JSON text) */
  char **volumes; /* names of the named volumes it mounts (NULL-terminated, may be NULL;
                   as read back: sorted, each once) */
};

/* Records returned by get and list own every field; free them with these.
 * NULL-safe. */
void bothy_ctr_record_free(struct bothy_ctr_record *r);
void bothy_ctr_records_free(struct bothy_ctr_record **v, size_t n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_ctr_record *, bothy_ctr_record_free)
#define _cleanup_ctr_record_ _cleanup_(bothy_ctr_record_freep)

/* Inserts r, with a link to each volume in r->volumes, in one transaction.
 * r is only read, except: r->name NULL gets a generated docker-like
 * "adjective_surname" name nobody uses, stored into r->name (a new string
 * the caller frees). A leading '/' of r->name is not stored (r->name itself
 * is left alone). r->created NULL stores now; r->state NULL "creating";
 * r->config NULL stores no configuration (get returns NULL).
 * Errors:
 *   EEXIST  the container name "NAME" is already in use by container SHORTID
 *   EEXIST  a container with the same id exists
 *   EINVAL  invalid container name "NAME": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed
 *           (also an id that is not 64 lowercase hex, or an unknown state)
 *   ENOENT  no such volume: NAME (a volume in r->volumes does not exist) */
int bothy_inventory_ctr_add(struct bothy_inventory *inv, struct bothy_ctr_record *r,
                            bothy_error_t *err);

/* ref: a full id, a name ('/' before it allowed), or a unique prefix of an id
 * (at least one character). As docker: an exact id wins, then an exact
 * name, then a prefix.
 * Errors: ENOENT "no such container: REF"; EINVAL "multiple containers match "REF"". */
int bothy_inventory_ctr_get(struct bothy_inventory *inv, const char *ref,
                            struct bothy_ctr_record **ret, bothy_error_t *err);
/* The same on an open connection (bothy_inventory_db()). */
int bothy_inventory_ctr_get_db(sqlite3 *db, const char *ref, struct bothy_ctr_record **ret,
                               bothy_error_t *err);

/* Every record, newest first (by created, then by insertion). *ret is an
 * array of *ret_n records (NULL when there are none); free it with
 * bothy_ctr_records_free(). */
int bothy_inventory_ctr_list(struct bothy_inventory *inv, struct bothy_ctr_record ***ret,
                             size_t *ret_n, bothy_error_t *err);

/* The setters take a full id; ENOENT "no such container: ID" if absent. */
int bothy_inventory_ctr_set_state(struct bothy_inventory *inv, const char *id, const char *state,
                                  pid_t creator_pid, unsigned long long creator_start,
                                  bothy_error_t *err);
int bothy_inventory_ctr_set_user_stopped(struct bothy_inventory *inv, const char *id, bool stopped,
                                         bothy_error_t *err);
/* config is borrowed (serialised); NULL clears it. */
int bothy_inventory_ctr_set_config(struct bothy_inventory *inv, const char *id, json_t *config,
                                   bothy_error_t *err);

/* Adds a link from the container to an existing volume (one made after the
 * record, such as an anonymous volume), so that the volume counts as in use.
 * Linking twice is fine. ENOENT "no such container: ID" / "no such volume:
 * NAME". To leave no moment in which a new volume is unused (and a
 * concurrent prune could take it), create it and link it in one transaction
 * of the caller's. */
int bothy_inventory_ctr_link_volume(struct bothy_inventory *inv, const char *id, const char *volume,
                                    bothy_error_t *err);

/* Removes the record and its volume links (the volumes stay). ENOENT
 * "no such container: ID" if absent. */
int bothy_inventory_ctr_remove(struct bothy_inventory *inv, const char *id, bothy_error_t *err);

/* Gives container id a private uid/gid range of size ids (--userns=auto):
 * the lowest free start >= base, aligned on size; the whole range below
 * limit. It goes with the container's record. ENOSPC when none is left. */
int bothy_inventory_userns_alloc(struct bothy_inventory *inv, const char *id, uint32_t base,
                                 uint32_t size, uint32_t limit, uint32_t *ret_start,
                                 bothy_error_t *err);

/* Transactions across calls: bothy_db_tx_begin/commit/rollback (base/db.h)
 * on bothy_inventory_db(); every function here nests inside them. */
