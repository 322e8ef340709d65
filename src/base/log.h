/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* Logging, in runc's two formats (peers such as containerd and conmon read the
 * runtime's --log file to find out why it failed):
 *   text: time="2024-01-02T03:04:05Z" level=error msg="..."
 *   json: {"level":"error","msg":"...","time":"2024-01-02T03:04:05Z"}
 * Without a log file, messages go to stderr in text form. Debug messages are
 * dropped unless debug was enabled. Logging is not printing to the user: the
 * library may log debug detail; only the CLI logs errors. */
#include <stdbool.h>
#include "base/macros.h"

enum bothy_log_level {
  BOTHY_LOG_ERROR,
  BOTHY_LOG_WARNING,
  BOTHY_LOG_INFO,
  BOTHY_LOG_DEBUG,
};

enum bothy_log_format {
  BOTHY_LOG_TEXT,
  BOTHY_LOG_JSON,
};

/* path NULL: stderr. Returns negative errno if the file cannot be opened. */
int bothy_log_init(const char *path, enum bothy_log_format format, bool debug);
/* Also copy error messages to stderr when logging to a file (runc does). */
void bothy_log_set_stderr_copy(bool on);
bool bothy_log_debug_enabled(void);
void bothy_log(enum bothy_log_level level, const char *fmt, ...) _printf_(2, 3);
/* The fd of the log file, or -1: kept open across exec by nobody (O_CLOEXEC). */
int bothy_log_fd(void);

#define log_debug(...)                                                                             \
  do {                                                                                             \
    if (_unlikely_(bothy_log_debug_enabled()))                                                     \
      bothy_log(BOTHY_LOG_DEBUG, __VA_ARGS__);                                                     \
  } while (0)
#define log_warning(...) bothy_log(BOTHY_LOG_WARNING, __VA_ARGS__)
#define log_error(...)   bothy_log(BOTHY_LOG_ERROR, __VA_ARGS__)
