/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Reading a container's log: what `bothy logs` prints.
 *
 * The monitor (container/monitor.h) writes DIR/container.log and the rotated
 * DIR/container.log.1 .. .N-1 (.1 the newest rotated one), one JSON object a
 * line in docker's json-file format:
 *   {"log":"text\n","stream":"stdout"|"stderr","time":"2026-11-23T13:55:00.123456789Z"}
 * A line longer than 16 KiB is split into records of at most 16 KiB; all but
 * the last lack the "\n". Output lines are those lines joined back: a "line"
 * below is one such joined line, whatever the number of its records. A record
 * without "\n" that is the last of its stream (the container ended without a
 * newline) is a line of its own.
 *
 * This module only reads; it never writes to DIR. */
#include <stdbool.h>
#include <stdint.h>
#include "base/error.h"

struct bothy_logs_opts {
  bool follow;      /* -f: after the existing records, wait for new ones */
  bool timestamps;  /* prefix each output line with its record's time and a space, as docker */
  int64_t since_ns; /* only records at or after (unix ns); 0: no bound */
  int64_t until_ns; /* only records before; 0: no bound */
  long tail;        /* only the last N lines (-1: all), counted over all files */
};

/* Called while following, about every 200 ms and on every wakeup: false when
 * the container is gone for good; then reading stops after draining what is
 * written. May be NULL (follow until out_fd is closed). */
typedef bool (*bothy_logs_alive_fn)(void *userdata);

/* Writes the records' text to out_fd (stream stdout) and err_fd (stderr),
 * oldest first, across the rotated files. The two fds may be the same; the
 * order of lines between them is kept (a switch flushes the other's data).
 *
 * since/until filter records by their own time; tail then keeps the last N of
 * the lines that remain (docker applies --tail first; the order here gives
 * "the last N lines of that window", which is what a user asks for). With
 * --timestamps a joined line carries the time of its first record, in
 * RFC 3339 with 9 fraction digits ("2026-11-23T13:55:00.123456789Z ").
 *
 * --tail reads the files backwards by blocks from the end, so its cost is that
 * of the lines it prints, not of the log's size. (A line longer than 1 MiB,
 * which the monitor never writes, ends the backward search: what is before it
 * is not shown.)
 *
 * Follow mode watches DIR with inotify and survives rotation: the file being
 * read is renamed to .1 and a new container.log appears; the old one is read
 * to its end, then the new one from its start (several rotations in a row
 * included, as long as the file being read still exists). A container.log
 * truncated in place (--log-max-files 1) is read again from its start.
 *
 * A truncated last record (the writer is mid-record) is not an error: follow
 * mode waits for the rest, otherwise it is skipped. A corrupt line is
 * skipped. A DIR or a container.log that does not exist yet prints nothing
 * (in follow mode: waits for it). EPIPE on out_fd or err_fd ends quietly with
 * 0 (SIGPIPE is blocked while writing and a pending one discarded, the
 * caller's signal mask is restored). Other write errors and read errors are
 * returned with *err. */
int bothy_logs_read(const char *dir, const struct bothy_logs_opts *o, int out_fd, int err_fd,
                    bothy_logs_alive_fn alive, void *userdata, bothy_error_t *err);

/* --since/--until values as docker takes them: RFC 3339 (with or without
 * fraction, Z or ±hh:mm; without a zone: local time, as docker), a date
 * "2026-11-23" (local midnight, or with a zone), "2026-11-23T13" and
 * "2026-11-23T13:55", unix seconds "1700000000" or "1700000000.5", or a
 * duration before now in Go's syntax ("10m", "1h30m", "45s", "2h", "1.5h",
 * "300ms"). "0" is unix time 0 (no bound). EINVAL with
 * 'invalid value for "since": "x"' (what = "since"/"until"). */
int bothy_logs_parse_time(const char *s, const char *what, int64_t now_ns, int64_t *ret_ns,
                          bothy_error_t *err);

/* RFC 3339 ("2026-11-23T13:55:00.123456789Z", any number of fraction digits,
 * nanoseconds kept, "Z" or "±hh:mm") to unix ns. 0, or -EINVAL (malformed or
 * outside what int64 ns holds: years 1678-2262); *ret_ns untouched then. */
int bothy_time_parse_rfc3339(const char *s, int64_t *ret_ns);

/* unix ns to RFC 3339 in UTC with 9 fraction digits, the monitor's and
 * docker's format; buf holds at least BOTHY_RFC3339_MAX bytes. Returns buf. */
#define BOTHY_RFC3339_MAX 40
char *bothy_time_format_rfc3339(int64_t ns, char *buf);
