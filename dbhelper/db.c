/* SPDX-License-Identifier: MIT */
/* mbupgraded-db: the daemon's helper for a PostgreSQL application database (DESIGN.md §2: work
 * that talks to a database server runs in a short-lived child, so libpq never runs in the core).
 *
 *   mbupgraded-db preflight
 *
 * The connection comes from the environment, never from the command line, where other users
 * could read it: MBUP_PG_CONNINFO (a libpq connection string without the password) and
 * PGPASSFILE (a 0600 file with the password), as the daemon sets them up.
 * Reports on stdout, a line each, then "done" (exit 0) or "error KIND MESSAGE" (exit 1):
 *   server_version 150018
 *   database_size BYTES
 *   free_space unknown        (the server's disk is not visible through SQL)
 *   changelog_count N
 *   changelog_latest ID       (the newest Liquibase change set, by ORDEREXECUTED)
 *   lock free | lock held BY SINCE
 */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strv.h"

static void pq_finishp(PGconn **c) {
        if (*c)
                PQfinish(*c);
}
static void pq_clearp(PGresult **r) {
        if (*r)
                PQclear(*r);
}
#define _cleanup_pgconn_ _cleanup_(pq_finishp)
#define _cleanup_pgresult_ _cleanup_(pq_clearp)

static int report_error(const char *kind, const char *fmt, ...) _printf_(2, 3);
static int report_error(const char *kind, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        /* one printable line */
        for (char *c = msg; *c; c++)
                if ((unsigned char) *c < ' ')
                        *c = ' ';
        printf("error %s %s\n", kind, msg);
        return 1;
}

/* The changelog tables' names as this database has them: Liquibase creates them lower case on
 * PostgreSQL, but a database migrated from elsewhere may have them quoted in upper case. */
static int find_table(PGconn *c, const char *lower, char **ret) {
        _cleanup_pgresult_ PGresult *r = NULL;
        const char *params[1] = {lower};

        r = PQexecParams(
                c,
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
                "WHERE lower(table_name) = $1 AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema = current_schema() DESC LIMIT 1",
                1,
                NULL,
                params,
                NULL,
                NULL,
                0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
                return -EIO;
        if (PQntuples(r) == 0)
                return -ENOENT;
        *ret = strdup(PQgetvalue(r, 0, 0));
        return *ret ? 0 : -ENOMEM;
}

static int preflight(PGconn *c) {
        _cleanup_pgresult_ PGresult *size = NULL, *count = NULL, *latest = NULL, *lock = NULL;
        _cleanup_free_ char *changelog = NULL, *locktable = NULL, *q = NULL;
        int r;

        printf("server_version %d\n", PQserverVersion(c));
        size = PQexec(c, "SELECT pg_database_size(current_database())");
        if (PQresultStatus(size) != PGRES_TUPLES_OK)
                return report_error("query", "cannot read the database's size: %s", PQerrorMessage(c));
        printf("database_size %s\n", PQgetvalue(size, 0, 0));
        printf("free_space unknown\n");

        r = find_table(c, "databasechangelog", &changelog);
        if (r == -ENOENT)
                printf("changelog_count 0\n");
        else if (r < 0)
                return report_error("query", "cannot look for DATABASECHANGELOG: %s", PQerrorMessage(c));
        else {
                q = strdup_printf("SELECT count(*) FROM %s", changelog);
                count = q ? PQexec(c, q) : NULL;
                if (PQresultStatus(count) != PGRES_TUPLES_OK)
                        return report_error("query", "cannot read DATABASECHANGELOG: %s", PQerrorMessage(c));
                printf("changelog_count %s\n", PQgetvalue(count, 0, 0));
                free(q);
                q = strdup_printf("SELECT id FROM %s ORDER BY orderexecuted DESC LIMIT 1", changelog);
                latest = q ? PQexec(c, q) : NULL;
                if (PQresultStatus(latest) != PGRES_TUPLES_OK)
                        return report_error("query", "cannot read DATABASECHANGELOG: %s", PQerrorMessage(c));
                if (PQntuples(latest) > 0)
                        printf("changelog_latest %s\n", PQgetvalue(latest, 0, 0));
        }

        r = find_table(c, "databasechangeloglock", &locktable);
        if (r == -ENOENT)
                printf("lock free\n");
        else if (r < 0)
                return report_error("query", "cannot look for DATABASECHANGELOGLOCK: %s", PQerrorMessage(c));
        else {
                free(q);
                q = strdup_printf(
                        "SELECT locked, coalesce(lockedby, '?'), coalesce(lockgranted::text, '?') FROM %s "
                        "WHERE locked",
                        locktable);
                lock = q ? PQexec(c, q) : NULL;
                if (PQresultStatus(lock) != PGRES_TUPLES_OK)
                        return report_error(
                                "query", "cannot read DATABASECHANGELOGLOCK: %s", PQerrorMessage(c));
                if (PQntuples(lock) == 0)
                        printf("lock free\n");
                else
                        printf("lock held %s since %s\n", PQgetvalue(lock, 0, 1), PQgetvalue(lock, 0, 2));
        }
        printf("done\n");
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_pgconn_ PGconn *c = NULL;
        const char *conninfo = secure_getenv("MBUP_PG_CONNINFO");

        if (argc != 2 || !streq(argv[1], "preflight")) {
                fprintf(stderr,
                        "usage: %s preflight   (connection from MBUP_PG_CONNINFO and PGPASSFILE)\n",
                        program_invocation_short_name);
                (void) report_error("usage", "expected: preflight");
                return 2;
        }
        if (isempty(conninfo)) {
                (void) report_error("usage", "MBUP_PG_CONNINFO is not set");
                return 2;
        }
        c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK)
                return report_error(
                        "connect", "cannot connect to the application database: %s", PQerrorMessage(c));
        /* Read only, and never waiting long on a lock of Metabase's. */
        PQclear(PQexec(c, "SET default_transaction_read_only = on"));
        PQclear(PQexec(c, "SET statement_timeout = '30s'"));
        return preflight(c) == 0 ? 0 : 1;
}
