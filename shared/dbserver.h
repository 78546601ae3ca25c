/* SPDX-License-Identifier: MIT */
#pragma once

/* The application database on a server (PostgreSQL, MySQL/MariaDB), through the helper
 * mbupgraded-db: every step is a short-lived child that the event loop watches, run as the
 * unprivileged dbserver_user(). The connection reaches it in its environment and the password as
 * a descriptor, never on a command line nor as a path:
 *   PostgreSQL  MBUP_PG_CONNINFO (libpq, no password); the PGPASSFILE lines on fd 3
 *   MySQL       MBUP_DB_KIND=mysql, MBUP_MY_DATABASE; the option file on fd 3
 * (MBUP_DB_SECRET_FD=3). backup FILE and restore FILE get FILE.tmp (then renamed here) or FILE
 * on fd 4 (MBUP_DB_FILE_FD=4), opened by the daemon in its backup directory. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "appdb.h"
#include "child.h"
#include "hash.h"

typedef struct DbRun DbRun;

typedef struct DbReport {
        char *server_version;
        uint64_t database_size;
        bool have_database_size;
        uint64_t active_statements;  /* activity: statements other sessions run in the database now */
        uint64_t active_longest_sec; /* activity: how long the oldest of them has run */
        uint64_t changelog_count;
        char *changelog_latest; /* the newest Liquibase change set, NULL when none */
        int changelog_major;    /* the newest applied major ('v57.…': 57), -1 when none or not read */
        char *lock_holder;      /* "BY since WHEN" when DATABASECHANGELOGLOCK is held */
        int clone;              /* clone-check: 1 possible, 0 impossible, -1 not asked */
        char *clone_reason;
        /* preflight: every applied change set ID, ORDEREXECUTED order (display forms); the whole
         * changelog only when there are changelog_count of them */
        char **changelog_ids;
        size_t n_changelog_ids;
        uint64_t size; /* "done SIZE SHA" of a dump, "size BYTES" of a clone */
        char sha256[SHA256_HEX_SIZE];
        char *error_kind; /* "connect", "tool", "dump", "restore", ... */
        char *error;      /* the helper's message, or why it failed */
} DbReport;

/* r < 0 when the helper failed (report->error says why); the report is freed after. */
typedef void (*DbHelperCallback)(int r, DbReport *report, void *userdata);

/* What the helper is told to connect to: for PostgreSQL a libpq connection string without the
 * password, for MySQL the database name. NULL with errno EINVAL for H2. */
char *dbserver_conninfo(const AppDb *db);
/* The credentials file's text: a PGPASSFILE line or a MySQL option file. Holds the password. */
char *dbserver_secret(const AppDb *db);
/* Writes the credentials file, 0600, atomically. Blocking: for a worker thread. */
int dbserver_write_secret(const char *path, const char *secret);

/* Runs "mbupgraded-db ARGS..." for a database of kind ("postgres", "mysql"). *ret, if given,
 * points to the run until it ends (then it is set to NULL, before cb is called). */
int dbserver_run(
        sd_event *e,
        const char *kind,
        const char *conninfo,
        const char *secret_file,
        char *const args[],
        DbHelperCallback cb,
        void *userdata,
        DbRun **ret);
/* Kills the helper; the callback is not called. NULL is fine. Returns NULL. */
DbRun *dbserver_cancel(DbRun *run);

/* The helper's path: $MBUPGRADED_DB or LIBEXECDIR/mbupgraded-db. */
const char *dbserver_helper_path(void);

/* The user it runs as (MBUPGRADED_DB_USER, else mbupgrade-db), and ChildOptions for it: that
 * user, no supplementary groups, no_new_privs, stderr the daemon's log. */
const char *dbserver_user(void);
int dbserver_credentials(ChildOptions *o);
/* Opens a credentials file dbserver_write_secret() wrote, for the helper's fd 3. */
int dbserver_open_secret(const char *path);
