/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "base/db.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"

int bothy_db_error(sqlite3 *db, bothy_error_t *err, const char *what)
{
  return bothy_error_set(err, 0, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

int bothy_db_exec(sqlite3 *db, const char *sql, bothy_error_t *err)
{
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int r = bothy_error_set(err, 0, "database: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return r;
  }
  return 0;
}

int bothy_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, bothy_error_t *err)
{
  if (sqlite3_prepare_v2(db, sql, -1, ret, NULL) != SQLITE_OK)
    return bothy_db_error(db, err, "database");
  return 0;
}

int bothy_db_begin(sqlite3 *db, bothy_error_t *err)
{
  return bothy_db_exec(db, "BEGIN IMMEDIATE", err);
}

int bothy_db_commit(sqlite3 *db, bothy_error_t *err)
{
  return bothy_db_exec(db, "COMMIT", err);
}

void bothy_db_rollback(sqlite3 *db)
{
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int bothy_db_tx_begin(sqlite3 *db, bothy_error_t *err)
{
  if (!sqlite3_get_autocommit(db))
    return bothy_db_exec(db, "SAVEPOINT bothy_tx", err) < 0 ? -1 : 1;
  return bothy_db_begin(db, err) < 0 ? -1 : 0;
}

int bothy_db_tx_commit(sqlite3 *db, int tx, bothy_error_t *err)
{
  if (tx == 1)
    return bothy_db_exec(db, "RELEASE bothy_tx", err);
  if (bothy_db_commit(db, err) < 0) {
    bothy_db_rollback(db);
    return -1;
  }
  return 0;
}

void bothy_db_tx_rollback(sqlite3 *db, int tx)
{
  if (tx == 1)
    sqlite3_exec(db, "ROLLBACK TO bothy_tx; RELEASE bothy_tx", NULL, NULL, NULL);
  else
    bothy_db_rollback(db);
}

int bothy_db_open(const char *path, sqlite3 **ret, bothy_error_t *err)
{
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(
      path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (rc != SQLITE_OK) {
    int r = bothy_error_set(err, 0, "cannot open the inventory '%s': %s", path,
                            db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return r;
  }
  sqlite3_busy_timeout(db, 30000);
  /* WAL: readers never block the writer; synchronous=NORMAL is durable
   * across process crashes and consistent across power loss in WAL mode.
   * Switching a new database to WAL needs an exclusive lock, and SQLite does
   * not call the busy handler for it: retry while another process creating
   * the same database holds it. */
  int rc2 = SQLITE_BUSY;
  for (int tries = 0; tries < 3000 && rc2 == SQLITE_BUSY; tries++) {
    rc2 = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    if (rc2 == SQLITE_BUSY)
      usleep(10000);
  }
  if (rc2 != SQLITE_OK ||
      bothy_db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err) < 0) {
    if (rc2 != SQLITE_OK)
      bothy_db_error(db, err, "database");
    sqlite3_close_v2(db);
    return bothy_error_prefix(err, "inventory '%s'", path);
  }
  /* Short-lived commands open and close the database many times a second:
   * the last one out would otherwise checkpoint and delete the WAL, and the
   * next one create it again (four fsyncs each time). The WAL stays, and is
   * checkpointed every 64 pages: the first connection of a command reads
   * what was written since the last checkpoint to rebuild the WAL index, so
   * that is kept short too. */
  int persist = 1;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  sqlite3_wal_autocheckpoint(db, 64);
  *ret = db;
  return 0;
}

static int schema_version(sqlite3 *db, const char *name, int *ret, bothy_error_t *err)
{
  _cleanup_stmt_ sqlite3_stmt *st = NULL;
  if (bothy_db_prepare(db, "SELECT version FROM schema WHERE name = ?", &st, err) < 0)
    return -1;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *ret = sqlite3_column_int(st, 0);
  else if (rc == SQLITE_DONE)
    *ret = 0;
  else
    return bothy_db_error(db, err, "reading the schema version");
  return 0;
}

int bothy_db_migrate(sqlite3 *db, const char *name, const char *const *migrations, size_t n,
                     bothy_error_t *err)
{
  if (bothy_db_exec(db,
                    "CREATE TABLE IF NOT EXISTS schema (name TEXT PRIMARY KEY, version "
                    "INTEGER NOT NULL)",
                    err) < 0)
    return -1;
  for (;;) {
    int v = 0;
    if (schema_version(db, name, &v, err) < 0)
      return -1;
    if ((size_t) v >= n)
      return 0;
    int tx = bothy_db_tx_begin(db, err);
    if (tx < 0)
      return -1;
    /* Read again under the write lock: another process may have migrated. */
    if (schema_version(db, name, &v, err) < 0) {
      bothy_db_tx_rollback(db, tx);
      return -1;
    }
    if ((size_t) v >= n) {
      bothy_db_tx_rollback(db, tx);
      return 0;
    }
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (bothy_db_exec(db, migrations[v], err) < 0 ||
        bothy_db_prepare(db, "INSERT OR REPLACE INTO schema (name, version) VALUES (?, ?)", &st,
                         err) < 0) {
      bothy_db_tx_rollback(db, tx);
      return bothy_error_prefix(err, "migrating '%s' to version %d", name, v + 1);
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, v + 1);
    if (sqlite3_step(st) != SQLITE_DONE) {
      bothy_db_error(db, err, "recording the schema version");
      bothy_db_tx_rollback(db, tx);
      return -1;
    }
    if (bothy_db_tx_commit(db, tx, err) < 0)
      return -1;
  }
}
