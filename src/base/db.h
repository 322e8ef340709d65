/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The inventory database: SQLite in WAL mode with a busy timeout, so many
 * concurrent bothy commands read and write it safely. Each layer owns its
 * tables and brings its own migrations; the schema version of each is kept
 * in a `schema` table (name, version). */
#include <sqlite3.h>
#include "base/error.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3 *, sqlite3_close_v2)
DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)
#define _cleanup_db_   _cleanup_(sqlite3_close_v2p)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* Opens (creating) the database at path: WAL, busy timeout 30 s, foreign
 * keys on. */
int bothy_db_open(const char *path, sqlite3 **ret, bothy_error_t *err);

/* Brings the tables of `name` to the latest of its migrations: migrations[i]
 * takes version i to i+1. Each runs in its own IMMEDIATE transaction, so two
 * processes migrating at once do it once (or in a savepoint of the caller's
 * transaction when one is open). */
int bothy_db_migrate(sqlite3 *db, const char *name, const char *const *migrations, size_t n,
                     bothy_error_t *err);

int bothy_db_exec(sqlite3 *db, const char *sql, bothy_error_t *err);
int bothy_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, bothy_error_t *err);
/* BEGIN IMMEDIATE (takes the write lock now, waiting up to the timeout). */
int bothy_db_begin(sqlite3 *db, bothy_error_t *err);
int bothy_db_commit(sqlite3 *db, bothy_error_t *err);
void bothy_db_rollback(sqlite3 *db);
/* A transaction that nests: BEGIN IMMEDIATE when none is open (returns 0),
 * else a savepoint inside the caller's (returns 1), so that a failure undoes
 * only this part. commit and rollback take that value. */
int bothy_db_tx_begin(sqlite3 *db, bothy_error_t *err);
int bothy_db_tx_commit(sqlite3 *db, int tx, bothy_error_t *err);
void bothy_db_tx_rollback(sqlite3 *db, int tx);
/* Formats the connection's last error: "<what>: <sqlite message>". */
int bothy_db_error(sqlite3 *db, bothy_error_t *err, const char *what);
