/* SPDX-License-Identifier: MIT */
/* mbupgraded-db fleet-agent: the long-lived child through which a node's daemon takes part in a
 * fleet (docs/fleet.md). It holds one connection to the coordination database (a database of its
 * own beside the application database, never in its dumps), creates the node table once, and
 * then answers the daemon's lines on stdin, one report a line on stdout:
 *
 *   heartbeat VERSION STATE STAGED [ROLLOUT STEP [REASON...]]   (each a token; "-" for none)
 *       -> this node's row upserted (last_seen = the server's now()), then the open rollout if
 *          there is one, the newest committed one, and every node:
 *          rollout ID FROM TO SHA256 STATE LEADER BACKUP [REASON...]
 *          committed ID TO SHA256
 *          ended ID STATE [REASON...]    (ROLLOUT, when it is over: how it ended)
 *          node NAME VERSION STATE STAGED AGE_MS ROLLOUT STEP [REASON...]   (a line a node)
 *          fleet N                                                         (the end: N nodes)
 *   propose FROM TO SHA256   -> "proposed ID": a rollout in state staging; "error busy ..." when
 *                               one is open already (at most one is: a unique index says so)
 *   lead ID                  -> "leader ID" when this agent's session took the rollout's advisory
 *                               lock (held until the agent ends: a dead leader's session releases
 *                               it), else "follower ID LEADER"
 *   set ID STATE [REASON]    -> "set ID STATE", by the leader only ("error notleader ..." else);
 *                               an end state (committed, rolled-back, aborted) lets the lock go
 *   backup ID WHERE          -> "backup ID": where the leader's backup is (clone:DB, or
 *                               dump:NODE:PATH), by the leader only
 *
 * Every change (a node's rollout, step, state or version, a proposal, a new state) is also a
 * NOTIFY on the channel mbup_fleet, which every agent LISTENs to: another node's change is the
 * line "notify", on which the daemon sends its next heartbeat at once instead of a period later.
 * So a rollout moves on in milliseconds, not heartbeats.
 *
 * The connection comes from the environment: MBUP_FLEET_CONNINFO (libpq, without the password),
 * PGPASSFILE (0600), MBUP_FLEET_NODE (this node's name), MBUP_FLEET_HOST (shown to people). A
 * database of that name that does not exist is created, when the role may (CREATEDB), through the
 * application database's connection in MBUP_PG_CONNINFO; else the error says what to run.
 * A lost connection is "error connect MESSAGE" after that heartbeat, and the next heartbeat
 * connects again. EOF on stdin ends it (exit 0). */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

#include "macro.h"
#include "fleet-protocol.h"
#include "pg-fleet.h"
#include "pg-util.h"
#include "report.h"
#include "strv.h"

#define LINE_MAX_FLEET 1024U
#define TOKEN_MAX 128U
#define REASON_MAX 600U
/* pg_advisory_xact_lock key serializing the schema's creation among nodes starting together. */
#define SCHEMA_LOCK_KEY "7415020661"

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS mbup_nodes ("
        " name text PRIMARY KEY,"
        " host text NOT NULL DEFAULT '',"
        " pid integer NOT NULL DEFAULT 0,"
        " version text NOT NULL DEFAULT '',"
        " state text NOT NULL DEFAULT '',"
        " staged text NOT NULL DEFAULT '',"
        " last_seen timestamptz NOT NULL DEFAULT now());"
        "ALTER TABLE mbup_nodes ADD COLUMN IF NOT EXISTS rollout bigint NOT NULL DEFAULT 0;"
        "ALTER TABLE mbup_nodes ADD COLUMN IF NOT EXISTS step text NOT NULL DEFAULT '';"
        "ALTER TABLE mbup_nodes ADD COLUMN IF NOT EXISTS reason text NOT NULL DEFAULT '';"
        "CREATE TABLE IF NOT EXISTS mbup_rollouts ("
        " id bigserial PRIMARY KEY,"
        " from_version text NOT NULL,"
        " to_version text NOT NULL,"
        " sha256 text NOT NULL,"
        " state text NOT NULL DEFAULT 'staging',"
        " leader text NOT NULL DEFAULT '',"
        " reason text NOT NULL DEFAULT '',"
        " proposer text NOT NULL,"
        " created timestamptz NOT NULL DEFAULT now(),"
        " updated timestamptz NOT NULL DEFAULT now());"
        "ALTER TABLE mbup_rollouts ADD COLUMN IF NOT EXISTS backup text NOT NULL DEFAULT '';"
        "CREATE UNIQUE INDEX IF NOT EXISTS mbup_rollouts_one_open ON mbup_rollouts ((true))"
        " WHERE state NOT IN ('committed', 'rolled-back', 'aborted')";

/* The advisory locks' first key: "mbup". The second is the rollout's id. */
#define ROLLOUT_LOCK_CLASS "1835168112"

static const char *const rollout_states[] = {
        "staging",
        "stopping",
        "leading",
        "following",
        "committed",
        "rolling-back",
        "rolled-back",
        "aborted",
};

static bool rollout_state_ok(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(rollout_states); i++)
                if (streq(s, rollout_states[i]))
                        return true;
        return false;
}

static bool rollout_state_is_end(const char *s) {
        return streq(s, "committed") || streq(s, "rolled-back") || streq(s, "aborted");
}

/* A rollout id as the protocol has it: 1 to 2^31-1 (the advisory lock's second key is an int). */
static bool rollout_id_ok(const char *s) {
        unsigned v;
        return safe_atou(s, &v) >= 0 && v >= 1 && v <= INT32_MAX;
}

static PGconn *conn_free(PGconn *c) {
        if (c)
                PQfinish(c);
        return NULL;
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
        _cleanup_pgconn_ PGconn *c = NULL;
        _cleanup_pgresult_ PGresult *r = NULL;
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
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !pg_sqlstate_is(r, "42P04"))
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
        _cleanup_pgconn_ PGconn *c = conninfo ? PQconnectdb(conninfo) : NULL;
        _cleanup_pgresult_ PGresult *r = NULL;

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
        PQclear(PQexec(c, "SET statement_timeout = '10s'; LISTEN mbup_fleet"));
        return TAKE_PTR(c);
}

/* A reason as the protocol carries it: printable ASCII (spaces too), not too long; rows that
 * are not are shown without one. */
static bool reason_ok(const char *s) {
        if (strlen(s) > REASON_MAX)
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                        return false;
        return true;
}

/* Tells the other agents that something changed. Best effort: their next heartbeat sees it. */
static void notify_change(PGconn *c) {
        PQclear(PQexec(c, "NOTIFY mbup_fleet"));
}

/* args: VERSION STATE STAGED [ROLLOUT STEP]; reason: what follows them, "" for none. last: what
 * this node said the heartbeat before, to notify the others only of changes. */
static int
heartbeat(PGconn *c, const char *node, const char *host, char *const args[5], const char *reason, char *last) {
        _cleanup_pgresult_ PGresult *up = NULL, *all = NULL, *open = NULL, *done = NULL, *ended = NULL;
        char pid[16], said[LINE_MAX_FLEET];
        const char *params[9];
        int n;

        (void) snprintf(pid, sizeof(pid), "%d", (int) getppid());
        params[0] = node;
        params[1] = host;
        params[2] = pid;
        params[3] = fleet_token_to_string(args[0]);
        params[4] = fleet_token_to_string(args[1]);
        params[5] = fleet_token_to_string(args[2]);
        params[6] = args[3] ? args[3] : "0";
        params[7] = args[4] ? fleet_token_to_string(args[4]) : "";
        params[8] = reason;
        up = pg_query(
                c,
                "INSERT INTO mbup_nodes (name, host, pid, version, state, staged, rollout, step, reason, last_seen) "
                "VALUES ($1, $2, $3::integer, $4, $5, $6, $7::bigint, $8, $9, now()) "
                "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
                "version = EXCLUDED.version, state = EXCLUDED.state, staged = EXCLUDED.staged, "
                "rollout = EXCLUDED.rollout, step = EXCLUDED.step, reason = EXCLUDED.reason, last_seen = now()",
                9,
                params);
        if (PQresultStatus(up) != PGRES_COMMAND_OK)
                return report_failure("connect", "cannot record the heartbeat: %s", PQresultErrorMessage(up));
        (void) snprintf(
                said, sizeof(said), "%s %s %s %s %s", params[3], params[4], params[5], params[6], params[7]);
        if (!streq(said, last)) {
                notify_change(c);
                memcpy(last, said, sizeof(said));
        }
        open = PQexec(
                c,
                "SELECT id, from_version, to_version, sha256, state, leader, backup, reason FROM mbup_rollouts "
                "WHERE state NOT IN ('committed', 'rolled-back', 'aborted')");
        if (PQresultStatus(open) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the rollout: %s", PQresultErrorMessage(open));
        if (PQntuples(open) == 1) {
                bool ok = true;
                for (int k = 0; k < 7; k++)
                        ok = ok && token_ok(fleet_string_to_token(PQgetvalue(open, 0, k)));
                if (ok)
                        report_line(
                                "rollout %s %s %s %s %s %s %s%s%s",
                                PQgetvalue(open, 0, 0),
                                PQgetvalue(open, 0, 1),
                                PQgetvalue(open, 0, 2),
                                PQgetvalue(open, 0, 3),
                                PQgetvalue(open, 0, 4),
                                fleet_string_to_token(PQgetvalue(open, 0, 5)),
                                fleet_string_to_token(PQgetvalue(open, 0, 6)),
                                reason_ok(PQgetvalue(open, 0, 7)) && *PQgetvalue(open, 0, 7) ? " " : "",
                                reason_ok(PQgetvalue(open, 0, 7)) ? PQgetvalue(open, 0, 7) : "");
        }
        /* The rollout this node is in, when it is over: how it ended, and why. */
        if (args[3] && !streq(args[3], "0")) {
                const char *p1[1] = {args[3]};
                ended = pg_query(
                        c,
                        "SELECT state, reason FROM mbup_rollouts WHERE id = $1::bigint "
                        "AND state IN ('committed', 'rolled-back', 'aborted')",
                        1,
                        p1);
                if (PQresultStatus(ended) != PGRES_TUPLES_OK)
                        return report_failure(
                                "connect", "cannot read the rollout: %s", PQresultErrorMessage(ended));
                if (PQntuples(ended) == 1)
                        report_line(
                                "ended %s %s%s%s",
                                args[3],
                                PQgetvalue(ended, 0, 0),
                                reason_ok(PQgetvalue(ended, 0, 1)) && *PQgetvalue(ended, 0, 1) ? " " : "",
                                reason_ok(PQgetvalue(ended, 0, 1)) ? PQgetvalue(ended, 0, 1) : "");
        }
        /* The version the fleet last committed to: a node that was away converges on it. */
        done = PQexec(
                c,
                "SELECT id, to_version, sha256 FROM mbup_rollouts WHERE state = 'committed' "
                "ORDER BY id DESC LIMIT 1");
        if (PQresultStatus(done) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the rollouts: %s", PQresultErrorMessage(done));
        if (PQntuples(done) == 1 && token_ok(PQgetvalue(done, 0, 1)) && token_ok(PQgetvalue(done, 0, 2)))
                report_line(
                        "committed %s %s %s",
                        PQgetvalue(done, 0, 0),
                        PQgetvalue(done, 0, 1),
                        PQgetvalue(done, 0, 2));
        all = PQexec(
                c,
                "SELECT name, version, state, staged, "
                "(extract(epoch FROM (now() - last_seen)) * 1000)::bigint, rollout, step, reason "
                "FROM mbup_nodes ORDER BY name");
        if (PQresultStatus(all) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the nodes: %s", PQresultErrorMessage(all));
        n = PQntuples(all);
        for (int i = 0; i < n; i++) {
                const char *name = PQgetvalue(all, i, 0), *version = PQgetvalue(all, i, 1),
                           *state = PQgetvalue(all, i, 2), *staged = PQgetvalue(all, i, 3),
                           *age = PQgetvalue(all, i, 4), *rollout = PQgetvalue(all, i, 5),
                           *step = PQgetvalue(all, i, 6), *why = PQgetvalue(all, i, 7);
                /* Rows are written by every node: one that is not what a node writes is skipped. */
                if (!token_ok(name) || !token_ok(fleet_string_to_token(version)) ||
                    !token_ok(fleet_string_to_token(state)) || !token_ok(fleet_string_to_token(staged)) ||
                    !token_ok(age) || !token_ok(rollout) || !token_ok(fleet_string_to_token(step)))
                        continue;
                if (!reason_ok(why))
                        why = "";
                report_line(
                        "node %s %s %s %s %s %s %s%s%s",
                        name,
                        fleet_string_to_token(version),
                        fleet_string_to_token(state),
                        fleet_string_to_token(staged),
                        age,
                        rollout,
                        fleet_string_to_token(step),
                        *why ? " " : "",
                        why);
        }
        report_line("fleet %d", n);
        return 0;
}

static int propose(PGconn *c, const char *node, char *const args[3]) {
        _cleanup_pgresult_ PGresult *r = NULL, *open = NULL;
        const char *params[4] = {args[0], args[1], args[2], node};

        r = pg_query(
                c,
                "INSERT INTO mbup_rollouts (from_version, to_version, sha256, proposer) VALUES ($1, $2, $3, $4) "
                "RETURNING id",
                4,
                params);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
                notify_change(c);
                report_line("proposed %s", PQgetvalue(r, 0, 0));
                return 0;
        }
        /* 23505: the unique index of open rollouts. */
        if (!pg_sqlstate_is(r, "23505"))
                return report_failure("connect", "cannot propose the rollout: %s", PQresultErrorMessage(r));
        open = PQexec(
                c,
                "SELECT id, state, proposer FROM mbup_rollouts "
                "WHERE state NOT IN ('committed', 'rolled-back', 'aborted')");
        if (PQresultStatus(open) == PGRES_TUPLES_OK && PQntuples(open) == 1)
                return report_failure(
                        "busy",
                        "rollout %s (%s, proposed by %s) is open; it must end first",
                        PQgetvalue(open, 0, 0),
                        PQgetvalue(open, 0, 1),
                        PQgetvalue(open, 0, 2));
        return report_failure("busy", "another rollout is open; it must end first");
}

static int lead(PGconn *c, const char *node, const char *id) {
        _cleanup_pgresult_ PGresult *lock = NULL, *up = NULL, *who = NULL;
        const char *params[2] = {id, node};

        lock = pg_query(c, "SELECT pg_try_advisory_lock(" ROLLOUT_LOCK_CLASS ", $1::integer)", 1, params);
        if (PQresultStatus(lock) != PGRES_TUPLES_OK)
                return report_failure(
                        "connect", "cannot try the rollout's lock: %s", PQresultErrorMessage(lock));
        if (streq(PQgetvalue(lock, 0, 0), "t")) {
                up = pg_query(
                        c,
                        "UPDATE mbup_rollouts SET leader = $2, updated = now() WHERE id = $1::bigint",
                        2,
                        params);
                if (PQresultStatus(up) != PGRES_COMMAND_OK)
                        return report_failure(
                                "connect", "cannot record the leader: %s", PQresultErrorMessage(up));
                notify_change(c);
                report_line("leader %s", id);
                return 0;
        }
        who = pg_query(c, "SELECT leader FROM mbup_rollouts WHERE id = $1::bigint", 1, params);
        report_line(
                "follower %s %s",
                id,
                PQresultStatus(who) == PGRES_TUPLES_OK && PQntuples(who) == 1 &&
                                token_ok(fleet_string_to_token(PQgetvalue(who, 0, 0)))
                        ? fleet_string_to_token(PQgetvalue(who, 0, 0))
                        : "-");
        return 0;
}

/* Whether this agent's session holds rollout id's lock: 1, 0, or < 0 after reporting why not. */
static int holds_lock(PGconn *c, const char *id) {
        _cleanup_pgresult_ PGresult *held = NULL;
        const char *params[1] = {id};

        /* pg_try_advisory_lock(int, int) takes a lock with objsubid 2. */
        held = pg_query(
                c,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = " ROLLOUT_LOCK_CLASS
                " AND objid = $1::integer AND objsubid = 2 AND pid = pg_backend_pid() AND granted",
                1,
                params);
        if (PQresultStatus(held) != PGRES_TUPLES_OK)
                return -report_failure(
                        "connect", "cannot check the rollout's lock: %s", PQresultErrorMessage(held));
        if (!streq(PQgetvalue(held, 0, 0), "1")) {
                (void) report_failure(
                        "notleader", "this node does not lead rollout %s (lead %s first)", id, id);
                return 0;
        }
        return 1;
}

static int set_state(PGconn *c, const char *id, const char *state, const char *reason) {
        _cleanup_pgresult_ PGresult *up = NULL, *unlock = NULL;
        const char *params[3] = {id, state, reason_ok(reason) ? reason : ""};
        int r;

        r = holds_lock(c, id);
        if (r <= 0)
                return 1;
        up = pg_query(
                c,
                "UPDATE mbup_rollouts SET state = $2, reason = $3, updated = now() WHERE id = $1::bigint",
                3,
                params);
        if (PQresultStatus(up) != PGRES_COMMAND_OK)
                return report_failure("connect", "cannot move the rollout on: %s", PQresultErrorMessage(up));
        /* An ended rollout has nothing left to lead. */
        if (rollout_state_is_end(state))
                unlock = pg_query(
                        c, "SELECT pg_advisory_unlock(" ROLLOUT_LOCK_CLASS ", $1::integer)", 1, params);
        notify_change(c);
        report_line("set %s %s", id, state);
        return 0;
}

static int set_backup(PGconn *c, const char *id, const char *where) {
        _cleanup_pgresult_ PGresult *up = NULL;
        const char *params[2] = {id, where};
        int r;

        r = holds_lock(c, id);
        if (r <= 0)
                return 1;
        up = pg_query(
                c, "UPDATE mbup_rollouts SET backup = $2, updated = now() WHERE id = $1::bigint", 2, params);
        if (PQresultStatus(up) != PGRES_COMMAND_OK)
                return report_failure("connect", "cannot record the backup: %s", PQresultErrorMessage(up));
        report_line("backup %s", id);
        return 0;
}

/* "notify" once for any number of other agents' notifications waiting; our own are not news. */
static void drain_notifications(PGconn *c) {
        bool other = false;
        PGnotify *n;

        while ((n = PQnotifies(c))) {
                if (n->be_pid != PQbackendPID(c))
                        other = true;
                PQfreemem(n);
        }
        if (other)
                report_line("notify");
}

typedef struct Agent {
        const char *conninfo, *node, *host;
        PGconn *c;
        char last[LINE_MAX_FLEET]; /* what the last heartbeat said, "" after a (re)connect */
} Agent;

static void agent_line(Agent *a, char *line) {
        char *args[6] = {}, *save = NULL, *verb, *rest, copy[LINE_MAX_FLEET];
        size_t k = 0;
        bool ok = true;
        int r;

        (void) snprintf(copy, sizeof(copy), "%s", line);
        verb = strtok_r(line, " ", &save);
        while (k < ELEMENTSOF(args) - 1 && (args[k] = strtok_r(NULL, " ", &save)))
                k++;
        rest = save && *save ? save : NULL; /* a REASON goes on past its first word */
        for (size_t i = 0; i < k; i++)
                if (!token_ok(args[i]))
                        ok = false;
        if (!verb || !ok)
                ok = false;
        else if (streq(verb, "heartbeat"))
                ok = (k == 3 && !rest) ||
                        (k == 5 && (streq(args[3], "0") || rollout_id_ok(args[3])) &&
                         reason_ok(fleet_after_words(copy, 6)));
        else if (streq(verb, "propose"))
                ok = k == 3 && !rest;
        else if (streq(verb, "lead"))
                ok = k == 1 && rollout_id_ok(args[0]) && !rest;
        else if (streq(verb, "set"))
                ok = k >= 2 && rollout_id_ok(args[0]) && rollout_state_ok(args[1]) &&
                        reason_ok(fleet_after_words(copy, 3));
        else if (streq(verb, "backup"))
                ok = k == 2 && rollout_id_ok(args[0]) && !rest;
        else
                ok = false;
        if (!ok) {
                (void) report_failure(
                        "usage",
                        "expected: heartbeat VERSION STATE STAGED [ROLLOUT STEP [REASON]], propose FROM TO SHA256, "
                        "lead ID, set ID STATE [REASON] or backup ID WHERE");
                return;
        }
        if (!a->c || PQstatus(a->c) != CONNECTION_OK) {
                a->c = conn_free(a->c);
                a->c = fleet_connect(a->conninfo);
                a->last[0] = '\0';
                if (!a->c)
                        return;
        }
        if (streq(verb, "heartbeat"))
                r = heartbeat(
                        a->c, a->node, strempty(a->host), args, k == 5 ? fleet_after_words(copy, 6) : "", a->last);
        else if (streq(verb, "propose"))
                r = propose(a->c, a->node, args);
        else if (streq(verb, "lead"))
                r = lead(a->c, a->node, args[0]);
        else if (streq(verb, "set"))
                r = set_state(a->c, args[0], args[1], fleet_after_words(copy, 3)); /* REASON as it came */
        else
                r = set_backup(a->c, args[0], args[1]);
        if (r != 0 && PQstatus(a->c) != CONNECTION_OK)
                a->c = conn_free(a->c);
        else
                drain_notifications(a->c);
}

int pg_fleet_main(int argc, char *argv[]) {
        Agent a = {
                .conninfo = secure_getenv("MBUP_FLEET_CONNINFO"),
                .node = secure_getenv("MBUP_FLEET_NODE"),
                .host = secure_getenv("MBUP_FLEET_HOST"),
        };
        char buf[LINE_MAX_FLEET];
        size_t have = 0;
        bool eof = false, skipping = false;

        if (argc != 2) {
                (void) report_failure("usage", "fleet-agent takes no arguments");
                return 2;
        }
        if (isempty(a.conninfo) || isempty(a.node) || !token_ok(a.node)) {
                (void) report_failure("usage", "MBUP_FLEET_CONNINFO and MBUP_FLEET_NODE (a name) are needed");
                return 2;
        }
        /* A line at a time into the daemon's pipe. */
        (void) setvbuf(stdout, NULL, _IOLBF, 0);
        a.c = fleet_connect(a.conninfo);
        if (a.c)
                report_line("ready");

        /* stdin and the connection's socket at once: the other agents' notifications come in
         * between the daemon's lines. */
        while (!eof) {
                struct pollfd p[2] = {
                        {.fd = STDIN_FILENO, .events = POLLIN},
                        {.fd = a.c ? PQsocket(a.c) : -1, .events = POLLIN},
                };
                char *nl;
                ssize_t n;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (a.c && p[1].revents) {
                        if (!PQconsumeInput(a.c))
                                a.c = conn_free(a.c); /* the next line connects again */
                        else
                                drain_notifications(a.c);
                }
                if (!p[0].revents)
                        continue;
                n = read(STDIN_FILENO, buf + have, sizeof(buf) - have);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        eof = true;
                else
                        have += (size_t) n;
                while ((nl = memchr(buf, '\n', have))) {
                        size_t len = (size_t) (nl - buf) + 1;
                        *nl = '\0';
                        if (!skipping)
                                agent_line(&a, buf);
                        skipping = false;
                        memmove(buf, buf + len, have - len);
                        have -= len;
                }
                if (have == sizeof(buf)) {
                        /* A line longer than any the protocol has: refused, and its end dropped. */
                        (void) report_failure("usage", "a line longer than %u bytes", LINE_MAX_FLEET - 1);
                        skipping = true;
                        have = 0;
                }
        }
        a.c = conn_free(a.c);
        return 0;
}
