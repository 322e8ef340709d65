/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once
/* The contract between bothy and bothy-monitor, the small process that
 * watches one detached container. There is no daemon: each detached
 * container has its own monitor, a separate static executable (no shared
 * libraries, so an idle monitor stays well under 0.5 MB resident). The
 * monitor holds the container's stdio, writes its log, records how it ends,
 * applies the restart policy and runs health checks. Everything that needs
 * the runtime (starting the container, cleaning up after it, running a health
 * command inside it) the monitor delegates to `bothy` itself, through the
 * hidden helper commands below; it never links the runtime.
 *
 * This header is included by both sides; it holds only constants.
 *
 * Invocation (bothy forks, the child calls setsid() and execs):
 *   bothy-monitor --dir DIR --id ID --bothy PATH [options]
 *     --dir DIR            ROOT/containers/ID (absolute)
 *     --id ID              the container's full id
 *     --bothy PATH         the bothy binary to run the helpers with
 *     --root ROOT          passed to the helpers as `bothy --root ROOT`
 *     --restart POLICY     no | always | unless-stopped | on-failure (default no)
 *     --max-retries N      on-failure's limit (0: unlimited)
 *     --log-max-size BYTES rotate container.log when it would pass this (default 10 MiB)
 *     --log-max-files N    container.log plus N-1 rotated files (default 3)
 *     --stop-signal N      signal number (default 15)
 *     --stop-timeout S     seconds before SIGKILL (default 10)
 *     --tty                the container has a terminal (see MONITOR_CONSOLE_SOCKET)
 *     --interactive        keep a pipe on the container's stdin open (else /dev/null)
 *     --health-interval MS --health-timeout MS --health-retries N
 *     --health-start-period MS   health checks on (interval > 0)
 *     --hold-fds N         fds 4 .. 4+N-1 are kept open (CLOEXEC) for the
 *                          monitor's life: sockets bound to the container's
 *                          published ports, so nothing else takes them
 *   fd 3: the report pipe. The monitor writes one line and closes it:
 *     "ok PID\n" once the container runs, or "error MESSAGE\n" when the first
 *     start failed (the monitor then exits 1 after the cleanup helper).
 *
 * Helpers the monitor runs (argv[0] = --bothy PATH, then "--root", ROOT):
 *   __start ID [--console-socket PATH]
 *                   starts the container. fd 0/1/2 are the container's
 *                   stdin/stdout/stderr (with --tty: fd 1/2 are the monitor's
 *                   own and the console socket below receives the pty master);
 *                   with --tty the monitor adds `--console-socket DIR/console.sock`
 *                   (MONITOR_CONSOLE_SOCKET, listening, created afresh before
 *                   each start): the helper connects and sends the pty master
 *                   as SCM_RIGHTS, as runc's --console-socket does;
 *                   fd 3 is a pipe on which the helper writes one line:
 *                   "PID\n" on success, "error MESSAGE\n" on failure (then
 *                   it exits non-zero).
 *                   The container's init is the helper's child; the helper
 *                   exits right after the start, the monitor is a child
 *                   subreaper (PR_SET_CHILD_SUBREAPER) and inherits it.
 *   __cleanup ID    after the last exit (no restart follows): removes the
 *                   runtime state and unmounts the root filesystem; with
 *                   --rm the container's whole record. Exit 0 on success.
 *   __health ID     runs the health command inside the container once,
 *                   within the timeout the helper enforces itself; its
 *                   output on stdout (the monitor keeps the first 4 KiB);
 *                   exit 0 healthy, 1 unhealthy, 125 could not run.
 *
 * Files in DIR the monitor writes:
 *   container.log, container.log.1 .. : one JSON object per line, docker's
 *     json-file format: {"log":"text\n","stream":"stdout","time":"RFC3339Nano"}
 *     (time in UTC with nanoseconds, "2026-11-23T13:55:00.123456789Z").
 *     A line longer than 16 KiB is split in records of 16 KiB; every record
 *     of a split line but the last has no "\n" (as docker: concatenating the
 *     "log" fields gives the output back). Rotation: container.log.(N-2) ->
 *     container.log.(N-1) ... container.log -> container.log.1, by rename.
 *   status.json, replaced atomically (write tmp, fsync, rename) on every change:
 *     {"status": "starting"|"running"|"restarting"|"stopping"|"exited",
 *      "pid": N (0 when none), "pid_start": /proc/PID/stat field 22,
 *      "monitor_pid": N, "monitor_start": its field 22,
 *      "started_at": "RFC3339Nano" | "", "finished_at": "RFC3339Nano" | "",
 *      "exit_code": N (128+signal when killed), "restart_count": N,
 *      "manual_stop": true|false  (the user stopped or killed it),
 *      "error": "why the last start failed" | "",
 *      "health": {"status": "none"|"starting"|"healthy"|"unhealthy",
 *                 "failing_streak": N,
 *                 "log": [{"start","end","exit_code","output"}] (last 5)}}
 *
 * Signals the monitor acts on (bothy sends them with sigqueue):
 *   SIGUSR1, value = timeout in seconds (-1: --stop-timeout): `bothy stop`.
 *     Marks manual_stop, sends the stop signal to the container, SIGKILL
 *     after the timeout, then no restart: cleanup helper, final status, exit.
 *   SIGUSR2, value = signal number: `bothy kill`. Sends that signal to the
 *     container and marks manual_stop (an exit that follows is not restarted).
 *   SIGTERM, SIGINT: as SIGUSR1 with the default timeout, but manual_stop
 *     stays false (the machine is going down; `bothy boot` brings it back).
 *
 * Restart policy, on an exit that was not a manual stop:
 *   always, unless-stopped: restart; on-failure: restart if exit_code != 0
 *   and (max-retries == 0 or restart_count < max-retries); no: never.
 *   Delay before restart N (N = restart_count before it): 100 ms * 2^N, at
 *   most 60 s; a run that lasted 10 s or more resets the delay to 100 ms.
 * Health: after start_period, every interval one check; failing_streak
 *   counts consecutive failures (failures inside start_period do not count);
 *   retries failures in a row -> "unhealthy". An unhealthy container whose
 *   policy is not "no" is stopped like SIGTERM (stop signal, timeout, KILL)
 *   without manual_stop, so its policy restarts it.
 */

#define MONITOR_BINARY         "bothy-monitor"
#define INIT_BINARY            "bothy-init"
#define MONITOR_STATUS_FILE    "status.json"
#define MONITOR_LOG_FILE       "container.log"
#define MONITOR_CONSOLE_SOCKET "console.sock" /* in DIR, created by the monitor with --tty */
#define MONITOR_LOG_MAX_SIZE   (10 * 1024 * 1024)
#define MONITOR_LOG_MAX_FILES  3
#define MONITOR_LOG_LINE_MAX   (16 * 1024)
