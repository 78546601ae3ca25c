/* SPDX-License-Identifier: MIT */
#pragma once

/* Runs a helper process (mbupgraded-fetch, later the database helpers) and watches it from the
 * event loop: its stdout is read line by line, its exit is reaped by sd-event. The daemon never
 * waits on the network itself. */

#include <stdint.h>
#include <systemd/sd-event.h>

typedef struct Child Child;

/* Each complete line of the helper's stdout, without the newline. */
typedef void (*ChildLineCallback)(Child *c, const char *line, void *userdata);
/* The helper ended: status is its exit status (>= 0), or a negative errno / -(128+signal) when it
 * died from a signal. last_line is its last line of output (the verdict), "" if none. The child is
 * freed after this returns. */
typedef void (*ChildExitCallback)(Child *c, int status, const char *last_line, void *userdata);

int child_spawn(
        sd_event *e,
        char *const argv[],
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret);
/* The same, with extra_env's KEY=VALUE strings added to (or replacing those of) the daemon's
 * environment: how secrets' file names and connection strings reach a helper without appearing
 * on its command line. */
int child_spawn_env(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret);
/* The same, with stdin read from stdin_path rather than /dev/null (NULL: /dev/null). */
int child_spawn_full(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        const char *stdin_path,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret);
/* The same, with a pipe to the child's stdin for child_write_line(): a long-lived helper the
 * daemon talks to (the fleet agent). */
int child_spawn_writable(
        sd_event *e,
        char *const argv[],
        char *const extra_env[],
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret);
/* Writes line and a newline to its stdin, never blocking: -EAGAIN when the child is not reading,
 * -EPIPE when it has no stdin pipe or has ended. */
int child_write_line(Child *c, const char *line);
/* Kills the helper (SIGTERM, then the event loop reaps it) without calling on_exit. NULL is fine. */
Child *child_kill(Child *c);
