/* SPDX-License-Identifier: MIT */
/* mbupgraded-db fleet-agent: the long-lived child through which a node's daemon takes part in a
 * fleet (docs/fleet.md). It holds one connection to the coordination database (a database of its
 * own beside the application database, never in its dumps), creates the node table once, and
 * then answers the daemon's lines on stdin, one report a line on stdout:
 *
 *   heartbeat VERSION STATE STAGED   (each a token; "-" for none)
 *       -> this node's row upserted (last_seen = the server's now()), then every node:
 *          node NAME VERSION STATE STAGED AGE_MS   (one line a node, by name; "-" for none)
 *          fleet N                                 (the end: N nodes)
 *
 * The connection comes from the environment: MBUP_FLEET_CONNINFO (libpq, without the password),
 * PGPASSFILE (0600), MBUP_FLEET_NODE (this node's name), MBUP_FLEET_HOST (shown to people). A
 * database of that name that does not exist is created, when the role may (CREATEDB), through the
 * application database's connection in MBUP_PG_CONNINFO; else the error says what to run.
 * A lost connection is "error connect MESSAGE" after that heartbeat, and the next heartbeat
 * connects again. EOF on stdin ends it (exit 0). */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "pg-fleet.h"
#include "report.h"
#include "strv.h"

#define LINE_MAX_FLEET 1024U
#define TOKEN_MAX 128U
/* pg_advisory_xact_lock key serializing the schema's creation among nodes starting together. */
#define SCHEMA_LOCK_KEY "7415020661"

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS mbup_nodes ("
                                 " name text PRIMARY KEY,"
                                 " host text NOT NULL DEFAULT '',"
                                 " pid integer NOT NULL DEFAULT 0,"
                                 " version text NOT NULL DEFAULT '',"
                                 " state text NOT NULL DEFAULT '',"
                                 " staged text NOT NULL DEFAULT '',"
                                 " last_seen timestamptz NOT NULL DEFAULT now())";

static PGconn *conn_free(PGconn *c) {
        if (c)
                PQfinish(c);
        return NULL;
}

static void finishp(PGconn **c) {
        *c = conn_free(*c);
}

static void clearp(PGresult **r) {
        if (*r)
                PQclear(*r);
}

/* A token as the protocol has it: printable, no spaces, not too long; "-" for none. */
static bool token_ok(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > TOKEN_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c <= 0x20 || (unsigned char) *c >= 0x7f)
                        return false;
        return true;
}

static const char *none_to_empty(const char *s) {
        return streq(s, "-") ? "" : s;
}

static const char *empty_to_none(const char *s) {
        return isempty(s) ? "-" : s;
}

/* "dbname" of a libpq connection string, or NULL. */
static char *conninfo_dbname(const char *conninfo) {
        PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
        char *db = NULL;

        if (!o)
                return NULL;
        for (PQconninfoOption *i = o; i->keyword; i++)
                if (streq(i->keyword, "dbname") && i->val)
                        db = strdup(i->val);
        PQconninfoFree(o);
        return db;
}

/* The coordination database does not exist yet: create it through the application database's
 * connection (the same server and role). */
static int create_database(const char *db) {
        const char *app = secure_getenv("MBUP_PG_CONNINFO");
        _cleanup_(finishp) PGconn *c = NULL;
        _cleanup_(clearp) PGresult *r = NULL;
        _cleanup_free_ char *sql = NULL;
        char *ident;

        if (isempty(app))
                return report_failure(
                        "connect",
                        "the coordination database %s does not exist; create it: CREATE DATABASE %s",
                        db,
                        db);
        c = PQconnectdb(app);
        if (PQstatus(c) != CONNECTION_OK)
                return report_failure(
                        "connect", "cannot connect to the application database: %s", PQerrorMessage(c));
        ident = PQescapeIdentifier(c, db, strlen(db));
        if (!ident)
                return report_failure("io", "out of memory");
        sql = strdup_printf("CREATE DATABASE %s", ident);
        PQfreemem(ident);
        if (!sql)
                return report_failure("io", "out of memory");
        r = PQexec(c, sql);
        /* 42P04: another node created it meanwhile. */
        if (PQresultStatus(r) != PGRES_COMMAND_OK &&
            !streq(strempty(PQresultErrorField(r, PG_DIAG_SQLSTATE)), "42P04"))
                return report_failure(
                        "connect",
                        "the coordination database %s does not exist and can't be created (%s); create it as a "
                        "superuser: CREATE DATABASE %s OWNER %s",
                        db,
                        PQresultErrorMessage(r),
                        db,
                        PQuser(c));
        report_line("created %s", db);
        return 0;
}

static bool database_missing(PGconn *c) {
        return strstr(PQerrorMessage(c), "does not exist") != NULL;
}

/* Connects and makes sure the table is there; NULL after reporting why not. */
static PGconn *fleet_connect(const char *conninfo_env) {
        /* A node cut off from the server must learn it in seconds, not after TCP's minutes of
         * retransmissions: unacknowledged data, a silent connection and a connect all time out
         * (what follows a key in a connection string wins over what came before). */
        _cleanup_free_ char *conninfo = strdup_printf(
                "%s connect_timeout=10 tcp_user_timeout=10000 keepalives=1 keepalives_idle=5 "
                "keepalives_interval=2 keepalives_count=3",
                conninfo_env);
        _cleanup_(finishp) PGconn *c = conninfo ? PQconnectdb(conninfo) : NULL;
        _cleanup_(clearp) PGresult *r = NULL;

        if (PQstatus(c) != CONNECTION_OK && database_missing(c)) {
                _cleanup_free_ char *db = conninfo_dbname(conninfo);
                if (!db || create_database(db) != 0)
                        return NULL;
                PQfinish(c);
                c = PQconnectdb(conninfo);
        }
        if (PQstatus(c) != CONNECTION_OK) {
                (void) report_failure(
                        "connect", "cannot connect to the coordination database: %s", PQerrorMessage(c));
                return NULL;
        }
        /* Nodes starting together: one creates the table, the others wait and see it there. */
        r = PQexec(
                c,
                "BEGIN; SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY
                "); SET LOCAL statement_timeout = '30s';");
        PQclear(TAKE_PTR(r));
        r = PQexec(c, schema_sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                (void) report_failure("schema", "cannot create the fleet's table: %s", PQresultErrorMessage(r));
                PQclear(PQexec(c, "ROLLBACK"));
                return NULL;
        }
        PQclear(TAKE_PTR(r));
        r = PQexec(c, "COMMIT");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                (void) report_failure("schema", "cannot create the fleet's table: %s", PQresultErrorMessage(r));
                return NULL;
        }
        PQclear(PQexec(c, "SET statement_timeout = '10s'"));
        return TAKE_PTR(c);
}

static int heartbeat(PGconn *c, const char *node, const char *host, char *const args[3]) {
        _cleanup_(clearp) PGresult *up = NULL, *all = NULL;
        char pid[16];
        const char *params[6];
        int n;

        (void) snprintf(pid, sizeof(pid), "%d", (int) getppid());
        params[0] = node;
        params[1] = host;
        params[2] = pid;
        params[3] = none_to_empty(args[0]);
        params[4] = none_to_empty(args[1]);
        params[5] = none_to_empty(args[2]);
        up = PQexecParams(
                c,
                "INSERT INTO mbup_nodes (name, host, pid, version, state, staged, last_seen) "
                "VALUES ($1, $2, $3::integer, $4, $5, $6, now()) "
                "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
                "version = EXCLUDED.version, state = EXCLUDED.state, staged = EXCLUDED.staged, "
                "last_seen = now()",
                6,
                NULL,
                params,
                NULL,
                NULL,
                0);
        if (PQresultStatus(up) != PGRES_COMMAND_OK)
                return report_failure("connect", "cannot record the heartbeat: %s", PQresultErrorMessage(up));
        all = PQexec(
                c,
                "SELECT name, version, state, staged, "
                "(extract(epoch FROM (now() - last_seen)) * 1000)::bigint FROM mbup_nodes ORDER BY name");
        if (PQresultStatus(all) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the nodes: %s", PQresultErrorMessage(all));
        n = PQntuples(all);
        for (int i = 0; i < n; i++) {
                const char *name = PQgetvalue(all, i, 0), *version = PQgetvalue(all, i, 1),
                           *state = PQgetvalue(all, i, 2), *staged = PQgetvalue(all, i, 3),
                           *age = PQgetvalue(all, i, 4);
                /* Rows are written by every node: one that is not what a node writes is skipped. */
                if (!token_ok(name) || !token_ok(empty_to_none(version)) ||
                    !token_ok(empty_to_none(state)) || !token_ok(empty_to_none(staged)) || !token_ok(age))
                        continue;
                report_line(
                        "node %s %s %s %s %s",
                        name,
                        empty_to_none(version),
                        empty_to_none(state),
                        empty_to_none(staged),
                        age);
        }
        report_line("fleet %d", n);
        return 0;
}

int pg_fleet_main(int argc, char *argv[]) {
        const char *conninfo = secure_getenv("MBUP_FLEET_CONNINFO"),
                   *node = secure_getenv("MBUP_FLEET_NODE"), *host = secure_getenv("MBUP_FLEET_HOST");
        _cleanup_(finishp) PGconn *c = NULL;
        char line[LINE_MAX_FLEET];

        if (argc != 2) {
                (void) report_failure("usage", "fleet-agent takes no arguments");
                return 2;
        }
        if (isempty(conninfo) || isempty(node) || !token_ok(node)) {
                (void) report_failure("usage", "MBUP_FLEET_CONNINFO and MBUP_FLEET_NODE (a name) are needed");
                return 2;
        }
        /* A line at a time into the daemon's pipe. */
        (void) setvbuf(stdout, NULL, _IOLBF, 0);
        c = fleet_connect(conninfo);
        if (c)
                report_line("ready");

        while (fgets(line, sizeof(line), stdin)) {
                char *args[4] = {}, *save = NULL, *verb;
                size_t k = 0;

                line[strcspn(line, "\n")] = '\0';
                verb = strtok_r(line, " ", &save);
                while (k < ELEMENTSOF(args) && (args[k] = strtok_r(NULL, " ", &save)))
                        k++;
                if (!verb || !streq(verb, "heartbeat") || k != 3 || !token_ok(args[0]) ||
                    !token_ok(args[1]) || !token_ok(args[2])) {
                        (void) report_failure("usage", "expected: heartbeat VERSION STATE STAGED");
                        continue;
                }
                if (!c || PQstatus(c) != CONNECTION_OK) {
                        c = conn_free(c);
                        c = fleet_connect(conninfo);
                        if (!c)
                                continue;
                }
                if (heartbeat(c, node, strempty(host), args) != 0 && PQstatus(c) != CONNECTION_OK)
                        c = conn_free(c);
        }
        return 0;
}
