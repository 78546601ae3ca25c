/* SPDX-License-Identifier: MIT */
#pragma once

/* Runs a helper process (mbupgraded-fetch, later the database helpers) and watches it from the
 * event loop: its stdout is read line by line, its exit is reaped by sd-event. The daemon never
 * waits on the network itself. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
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
/* What a child gets besides the daemon's environment and /dev/null on stdin. */
typedef struct ChildOptions {
        char *const *extra_env; /* KEY=VALUE strings added to the daemon's environment */
        const char *stdin_path; /* opened by the daemon (as root), NULL: /dev/null */
        /* A descriptor the child gets as fd 3 (CHILD_PASS_FD): a file the daemon opened for it,
         * so that it needs no right to open anything itself. 0 or negative: none (the daemon's
         * stdin is never one). Not closed here. */
        int pass_fd;
        int pass_fd2; /* the same, as fd 4 (CHILD_PASS_FD + 1) */
        /* Run as this user and group (no supplementary groups) with PR_SET_NO_NEW_PRIVS, switched
         * between fork and exec: nothing of the helper ever runs with the daemon's credentials. */
        bool drop;
        /* stderr into the same pipe as stdout (else, with drop, /dev/null; without, the daemon's) */
        bool stderr_to_stdout;
        /* With drop, stderr stays the daemon's all the same (its log): for mbupgraded-db, whose
         * client tools (pg_dump, psql, mariadb) say there why a backup or a restore failed. */
        bool keep_stderr;
        /* A pipe to its stdin for child_write_line() instead of stdin_path (the fleet agent). */
        bool stdin_pipe;
        /* Only extra_env, nothing of the daemon's environment (an administrator's hook). */
        bool clean_env;
        /* In a process group of its own, which child_kill() ends with SIGKILL, whatever the child
         * started meanwhile (a hook's shell and its commands). */
        bool own_group;
        uid_t uid;
        gid_t gid;
        /* Called with userdata when the child is freed, whether on_exit ran or it was killed. */
        void (*destroy)(void *userdata);
} ChildOptions;

#define CHILD_PASS_FD 3

int child_spawn_opts(
        sd_event *e,
        char *const argv[],
        const ChildOptions *o,
        ChildLineCallback on_line,
        ChildExitCallback on_exit,
        void *userdata,
        Child **ret);

/* The uid and primary gid of an unprivileged user: -ENXIO when there is no such user, -EPERM when
 * it is root (uid 0 or gid 0). */
int child_lookup_user(const char *name, uid_t *ret_uid, gid_t *ret_gid);
/* o->uid and o->gid of user, and o->drop; child_lookup_user()'s errors. */
int child_options_user(ChildOptions *o, const char *user);

/* Writes line and a newline to its stdin, never blocking: -EAGAIN when the child is not reading,
 * -EPIPE when it has no stdin pipe or has ended. */
int child_write_line(Child *c, const char *line);
/* Kills the helper (SIGTERM, then the event loop reaps it; own_group: SIGKILL to its process
 * group) without calling on_exit. NULL is fine. */
Child *child_kill(Child *c);
