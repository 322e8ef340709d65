/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The runtime's state directory, laid out like runc's:
 *   ROOT/ID/state.json   what `state` needs, and under "config" the container's
 *                        configuration, for `exec` (written atomically)
 *   ROOT/ID/exec.fifo    present from `create` until `start` (not for `run`)
 * One file, not runc's two: each file created costs an inode, and inode
 * allocation is a measurable part of a start on a busy filesystem.
 * The status is not stored: it is derived, as runc does, from whether the
 * init process still lives (pid and its start time, so a reused pid is not
 * mistaken for it), whether exec.fifo still exists, and the freezer. */
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>
#include "base/error.h"

enum bothy_status {
  BOTHY_STATUS_CREATING,
  BOTHY_STATUS_CREATED,
  BOTHY_STATUS_RUNNING,
  BOTHY_STATUS_PAUSED,
  BOTHY_STATUS_STOPPED,
  _BOTHY_STATUS_MAX,
};

struct bothy_state {
  char *id;
  pid_t pid;
  unsigned long long start_time; /* /proc/PID/stat field 22 */
  char *bundle;
  char *rootfs;
  char *created; /* RFC 3339, UTC */
  char *owner;
  json_t *annotations; /* owned, may be NULL */
  json_t *cgroup;      /* owned: the cgroup module's serialised paths */
  json_t *config;      /* the configuration (owned when loaded), may be NULL */
  bool own_pidns;      /* the container has its own pid namespace */
};

const char *bothy_status_name(enum bothy_status s);

/* Container ids as runc accepts them: [A-Za-z0-9_+.-]+, not "." or "..". */
int bothy_id_validate(const char *id, bothy_error_t *err);

/* Opens (creating it 0700 if missing) the state root. */
int bothy_state_root_open(const char *root, bool create, bothy_error_t *err);

/* Creates ROOT/ID exclusively; a second container with the same id fails
 * with EEXIST ("container with id exists: ID"). Returns the dir fd. */
int bothy_state_dir_create(int rootfd, const char *id, bothy_error_t *err);
/* Opens ROOT/ID; ENOENT: "container does not exist". */
int bothy_state_dir_open(int rootfd, const char *id, bothy_error_t *err);

int bothy_state_save(int dirfd, const struct bothy_state *st, bothy_error_t *err);
int bothy_state_load(int dirfd, struct bothy_state **ret, bothy_error_t *err);
void bothy_state_free(struct bothy_state *st);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct bothy_state *, bothy_state_free)
#define _cleanup_state_ _cleanup_(bothy_state_freep)

/* Status as derived now from the process and exec.fifo; the caller checks
 * the freezer to tell "paused" from "running". */
enum bothy_status bothy_state_status(int dirfd, const struct bothy_state *st);

/* runc's `state` document for st with status. */
json_t *bothy_state_to_json(const struct bothy_state *st, enum bothy_status status);

/* Start time of pid (field 22 of /proc/PID/stat), 0 if it does not exist or
 * is a zombie. */
unsigned long long bothy_proc_start_time(pid_t pid);

/* Removes ROOT/ID. reuse: the directory of a container that ran is kept,
 * emptied and hidden, for the next one to take (a failed create leaves
 * nothing). */
int bothy_state_dir_remove(int rootfd, const char *id, bool reuse, bothy_error_t *err);

/* RFC 3339 time with nanoseconds, UTC, of now. Caller frees. */
char *bothy_time_now_rfc3339(void);
