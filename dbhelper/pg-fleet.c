/* SPDX-License-Identifier: MIT */
/* mbupgraded-db fleet-agent: the long-lived child through which a node's daemon takes part in a
 * fleet (docs/fleet.md). It holds one connection to the coordination database (a database of its
 * own beside the application database, never in its dumps), creates the node table once, and
 * then answers the daemon's lines on stdin, one report a line on stdout (each value there one
 * token of common/lineproto.h: what a row holds, a reason with a newline, can't add a line or a
 * word; common/fleet-protocol.c writes and reads them; a REASON is always there, "-" for none):
 *
 *   heartbeat VERSION STATE STAGED [ROLLOUT STEP [REASON...]]   (each a token; "-" for none)
 *       -> this node's row upserted (last_seen = the server's now()), then the open rollout if
 *          there is one, the newest committed one, and every node:
 *          rollout ID FROM TO SHA256 STATE LEADER BACKUP MODE WHY [REASON...]
 *          committed ID TO SHA256
 *          ended ID STATE [REASON...]    (ROLLOUT, when it is over: how it ended)
 *          node NAME VERSION STATE STAGED AGE_MS ROLLOUT STEP [REASON...]   (a line a node)
 *          fleet N                                                         (the end: N nodes)
 *   propose FROM TO SHA256 [MODE [WHY]]
 *                            -> "proposed ID": a rollout in state staging; "error busy ..." when
 *                               one is open already (at most one is: a unique index says so).
 *                               MODE, fixed for the rollout: rolling (node by node: the release adds
 *                               no migration) or all-stop; WHY, the proposer's reason for it
 *   lead ID                  -> "leader ID" when this agent's session took the rollout's advisory
 *                               lock (held until the agent ends: a dead leader's session releases
 *                               it), else "follower ID LEADER"
 *   set ID STATE [REASON]    -> "set ID STATE", by the leader only ("error notleader ..." else);
 *                               an end state (committed, rolled-back, aborted) lets the lock go
 *   backup ID WHERE          -> "backup ID": where the leader's backup is (clone:DB, or
 *                               dump:NODE:PATH), by the leader only; a clone's changelog
 *                               (COUNT:LATEST) is read from it and recorded as its marker
 *   check-backup ID          -> "backup-ok ID" when the rollout (signed) names a backup that
 *                               exists: the clone on the server, with the recorded marker, of
 *                               this database before its migration; else "error nobackup WHY"
 *
 * With MBUP_FLEET_KEY_FILE (fleet.key_file; the daemon passes the file open as the descriptor
 * MBUP_FLEET_KEY_FD, having checked that it is root's alone) every row is signed (see "Signed
 * rows" below): a heartbeat's answer then also has "forged ID" for a rollout row not signed with the key
 * (not believed, not shown), and "restored ID" when this agent, the leader, wrote its rollout back.
 *
 * Every change (a node's rollout, step, state or version, a proposal, a new state) is also a
 * NOTIFY on the channel mbup_fleet, which every agent LISTENs to: another node's change is the
 * line "notify", on which the daemon sends its next heartbeat at once instead of a period later.
 * So a rollout moves on in milliseconds, not heartbeats.
 *
 * The connection comes from the environment: MBUP_FLEET_CONNINFO (libpq, without the password),
 * PGPASSFILE (0600) or MBUP_DB_SECRET_FD (passed.h), MBUP_FLEET_NODE (this node's name), MBUP_FLEET_HOST
 * (shown to people). A database of that name that does not exist is created, when the role may (CREATEDB),
 * through the application database's connection in MBUP_PG_CONNINFO; else the error says what to run. A lost
 * connection is "error connect MESSAGE" after that heartbeat, and the next heartbeat connects again. EOF on
 * stdin ends it (exit 0). */
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "fleet-protocol.h"
#include "passed.h"
#include "pg-fleet.h"
#include "pg-util.h"
#include "report.h"
#include "strv.h"

#define LINE_MAX_FLEET 1024U
#define TOKEN_MAX 128U
#define REASON_MAX 600U

/* The FleetLine's strings are the rows' own, never changed by fleet_line_format(). */
static char *row_value(const char *s) {
        return (char *) s;
}

static void emit(const FleetLine *l) {
        _cleanup_free_ char *s = fleet_line_format(l);

        if (s)
                printf("%s\n", s);
}

/* A line with a rollout's id: left out when id (from a row) is no number. */
static void emit_id(FleetLineKind kind, const char *id) {
        FleetLine l = {.kind = kind};

        if (safe_atou64(id, &l.id) >= 0)
                emit(&l);
}
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
        "ALTER TABLE mbup_rollouts ADD COLUMN IF NOT EXISTS backup_marker text NOT NULL DEFAULT '';"
        "ALTER TABLE mbup_rollouts ADD COLUMN IF NOT EXISTS sig text NOT NULL DEFAULT '';"
        "ALTER TABLE mbup_nodes ADD COLUMN IF NOT EXISTS sig text NOT NULL DEFAULT '';"
        /* A rollout's mode (docs/fleet.md): '' in rows from before modes, which were all-stop. */
        "ALTER TABLE mbup_rollouts ADD COLUMN IF NOT EXISTS mode text NOT NULL DEFAULT '';"
        "ALTER TABLE mbup_rollouts ADD COLUMN IF NOT EXISTS mode_reason text NOT NULL DEFAULT '';"
        "CREATE UNIQUE INDEX IF NOT EXISTS mbup_rollouts_one_open ON mbup_rollouts ((true))"
        " WHERE state NOT IN ('committed', 'rolled-back', 'aborted')";

/* The advisory locks' first key: "mbup". The second is the rollout's id. */
#define ROLLOUT_LOCK_CLASS "1835168112"

static const char *const rollout_states[] = {
        "staging",
        "stopping",
        "leading",
        "following",
        "rolling",
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

/* Signed rows (README, "What a writer of the coordination database can do"). With fleet.key_file,
 * every row an agent writes carries sig, the HMAC-SHA256 with the fleet's key of its fields (each
 * as LENGTH:VALUE, so that no field can run into the next); a row whose sig does not verify was
 * written by someone without the key and is not believed: an open rollout or a committed one so
 * written is reported as "forged ID", a node row so written is left out. The leader keeps the
 * last rollout row it signed and writes it back when it finds it changed or gone. Without a key
 * rows are not signed and every row is believed (the daemon says so). */
#define FLEET_KEY_MAX 4096U
static uint8_t fleet_key[FLEET_KEY_MAX];
static size_t fleet_key_len;

#define ROLLOUT_FIELDS                                                                                               \
        "id::text, from_version, to_version, sha256, state, leader, backup, backup_marker, reason, proposer, mode, " \
        "mode_reason"
enum {
        RF_ID,
        RF_FROM,
        RF_TO,
        RF_SHA256,
        RF_STATE,
        RF_LEADER,
        RF_BACKUP,
        RF_MARKER,
        RF_REASON,
        RF_PROPOSER,
        RF_MODE,        /* signed only when not empty (then with mode_reason, as mbup-rollout-2): */
        RF_MODE_REASON, /* the rows from before modes keep their mbup-rollout-1 signature */
        RF_SIG,         /* not signed: the signature */
        _RF_MAX,
};
#define NODE_FIELDS "name, host, pid::text, version, state, staged, rollout::text, step, reason"
#define NODE_NFIELDS 9

/* The rollout row this agent signed last, while it leads: written back when changed. */
static char *kept[_RF_MAX];

/* From passed_fd, the daemon's descriptor (it checked the owner and the mode), else by path. */
static int load_key(const char *path, int passed_fd) {
        _cleanup_close_ int fd = passed_fd >= 0 ? passed_fd
                                                : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        ssize_t n;

        if (fd < 0)
                return report_failure("key", "cannot open fleet.key_file %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return report_failure("key", "fleet.key_file %s is not a regular file", path);
        if (passed_fd < 0 && (st.st_uid != geteuid() || (st.st_mode & 0077)))
                return report_failure(
                        "key",
                        "fleet.key_file %s must be this user's alone (uid %u, mode 0600 or 0400): whoever reads it "
                        "can sign the fleet's rows",
                        path,
                        (unsigned) geteuid());
        n = read(fd, fleet_key, sizeof(fleet_key));
        while (n > 0 && (fleet_key[n - 1] == '\n' || fleet_key[n - 1] == '\r' || fleet_key[n - 1] == ' '))
                n--;
        if (n < 16)
                return report_failure(
                        "key",
                        "fleet.key_file %s holds fewer than 16 bytes; make one on a node with: head -c 32 /dev/urandom "
                        "| base64 >%s; chmod 0600 %s (and copy it to every node)",
                        path,
                        path,
                        path);
        fleet_key_len = (size_t) n;
        return 0;
}

/* out: the hex HMAC-SHA256 of kind and the n fields; "" without a key (or on OOM). */
static void sign_fields(const char *kind, const char *const *v, size_t n, char out[65]) {
        _cleanup_free_ char *text = NULL;
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        size_t size = strlen(kind) + 2;
        char *p;

        out[0] = '\0';
        if (fleet_key_len == 0)
                return;
        for (size_t i = 0; i < n; i++)
                size += strlen(v[i]) + 24;
        text = malloc(size);
        if (!text)
                return;
        p = stpcpy(text, kind);
        *p++ = '\n';
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%zu:%s,", strlen(v[i]), v[i]);
        if (!HMAC(EVP_sha256(),
                  fleet_key,
                  (int) fleet_key_len,
                  (const uint8_t *) text,
                  (size_t) (p - text),
                  mac,
                  &len) ||
            len != 32)
                return;
        for (unsigned k = 0; k < len; k++)
                (void) sprintf(out + 2 * k, "%02x", mac[k]);
}

static bool fields_signed(const char *kind, const char *const *v, size_t n, const char *sig) {
        char want[65];

        if (fleet_key_len == 0)
                return true;
        sign_fields(kind, v, n, want);
        return want[0] && strlen(sig) == 64 && CRYPTO_memcmp(want, sig, 64) == 0;
}

/* A rollout row's fields as signed: without a mode, those of the rows from before modes
 * (mbup-rollout-1); with one, every field (mbup-rollout-2). A mode taken out of a row signed
 * with one leaves a signature over other text: it does not verify. */
static const char *rollout_sig_kind(const char *const *v, size_t *ret_n) {
        bool v2 = !isempty(v[RF_MODE]) || !isempty(v[RF_MODE_REASON]);

        *ret_n = v2 ? RF_SIG : RF_MODE;
        return v2 ? "mbup-rollout-2" : "mbup-rollout-1";
}

static void sign_rollout(const char *const *v, char out[65]) {
        size_t n;
        const char *kind = rollout_sig_kind(v, &n);

        sign_fields(kind, v, n, out);
}

/* Row `row` of a result whose columns are ROLLOUT_FIELDS then sig. */
static bool rollout_row_signed(const PGresult *r, int row) {
        const char *v[RF_SIG], *kind;
        size_t n;

        for (int k = 0; k < RF_SIG; k++)
                v[k] = PQgetvalue(r, row, k);
        kind = rollout_sig_kind(v, &n);
        return fields_signed(kind, v, n, PQgetvalue(r, row, RF_SIG));
}

static void keep_row(const char *const *v, const char *sig) {
        for (int k = 0; k < _RF_MAX; k++) {
                free(kept[k]);
                kept[k] = strdup(k == RF_SIG ? sig : v[k]);
        }
}

static void restore_kept(PGconn *c);

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
        emit(&(FleetLine){.kind = FLEET_LINE_CREATED, .name = row_value(db)});
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
        char pid[16], said[LINE_MAX_FLEET], sig[65];
        const char *params[10];
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
        sign_fields("mbup-node-1", params, NODE_NFIELDS, sig);
        params[9] = sig;
        up = pg_query(
                c,
                "INSERT INTO mbup_nodes (name, host, pid, version, state, staged, rollout, step, reason, sig, last_seen) "
                "VALUES ($1, $2, $3::integer, $4, $5, $6, $7::bigint, $8, $9, $10, now()) "
                "ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
                "version = EXCLUDED.version, state = EXCLUDED.state, staged = EXCLUDED.staged, "
                "rollout = EXCLUDED.rollout, step = EXCLUDED.step, reason = EXCLUDED.reason, sig = EXCLUDED.sig, "
                "last_seen = now()",
                10,
                params);
        if (PQresultStatus(up) != PGRES_COMMAND_OK)
                return report_failure("connect", "cannot record the heartbeat: %s", PQresultErrorMessage(up));
        (void) snprintf(
                said, sizeof(said), "%s %s %s %s %s", params[3], params[4], params[5], params[6], params[7]);
        if (!streq(said, last)) {
                notify_change(c);
                memcpy(last, said, sizeof(said));
        }
        /* The leader puts its rollout back as it signed it, before anyone reads it. */
        restore_kept(c);
        open = PQexec(
                c,
                "SELECT " ROLLOUT_FIELDS ", sig FROM mbup_rollouts "
                "WHERE state NOT IN ('committed', 'rolled-back', 'aborted')");
        if (PQresultStatus(open) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the rollout: %s", PQresultErrorMessage(open));
        if (PQntuples(open) == 1 && !rollout_row_signed(open, 0)) {
                FleetLine l = {.kind = FLEET_LINE_FORGED}; /* id 0 when the row's is no number */
                (void) safe_atou64(PQgetvalue(open, 0, RF_ID), &l.id);
                emit(&l);
        } else if (PQntuples(open) == 1) {
                FleetLine l = {
                        .kind = FLEET_LINE_ROLLOUT,
                        .from = row_value(PQgetvalue(open, 0, RF_FROM)),
                        .to = row_value(PQgetvalue(open, 0, RF_TO)),
                        .sha256 = row_value(PQgetvalue(open, 0, RF_SHA256)),
                        .state = row_value(PQgetvalue(open, 0, RF_STATE)),
                        .leader = row_value(PQgetvalue(open, 0, RF_LEADER)),
                        .backup = row_value(PQgetvalue(open, 0, RF_BACKUP)),
                        .mode = row_value(PQgetvalue(open, 0, RF_MODE)),
                        .mode_reason = row_value(PQgetvalue(open, 0, RF_MODE_REASON)),
                        .reason = row_value(PQgetvalue(open, 0, RF_REASON)),
                };
                if (safe_atou64(PQgetvalue(open, 0, RF_ID), &l.id) >= 0)
                        emit(&l);
        }
        /* The rollout this node is in, when it is over: how it ended, and why. */
        if (args[3] && !streq(args[3], "0")) {
                const char *p1[1] = {args[3]};
                ended = pg_query(
                        c,
                        "SELECT " ROLLOUT_FIELDS ", sig FROM mbup_rollouts WHERE id = $1::bigint "
                        "AND state IN ('committed', 'rolled-back', 'aborted')",
                        1,
                        p1);
                if (PQresultStatus(ended) != PGRES_TUPLES_OK)
                        return report_failure(
                                "connect", "cannot read the rollout: %s", PQresultErrorMessage(ended));
                /* (no row: libpq's PQgetvalue() says so on stderr, the daemon's log) */
                bool one = PQntuples(ended) == 1;
                FleetLine l = {
                        .kind = FLEET_LINE_ENDED,
                        .state = row_value(one ? PQgetvalue(ended, 0, RF_STATE) : ""),
                        .reason = row_value(one ? PQgetvalue(ended, 0, RF_REASON) : ""),
                };
                if (one && !rollout_row_signed(ended, 0))
                        emit_id(FLEET_LINE_FORGED, args[3]);
                else if (one && safe_atou64(args[3], &l.id) >= 0)
                        emit(&l);
        }
        /* The version the fleet last committed to, signed: a node that was away converges on it. */
        done = PQexec(
                c,
                "SELECT " ROLLOUT_FIELDS ", sig FROM mbup_rollouts WHERE state = 'committed' "
                "ORDER BY id DESC LIMIT 20");
        if (PQresultStatus(done) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the rollouts: %s", PQresultErrorMessage(done));
        for (int i = 0; i < PQntuples(done); i++) {
                FleetLine l = {
                        .kind = FLEET_LINE_COMMITTED,
                        .to = row_value(PQgetvalue(done, i, RF_TO)),
                        .sha256 = row_value(PQgetvalue(done, i, RF_SHA256)),
                };
                if (!rollout_row_signed(done, i)) {
                        emit_id(FLEET_LINE_FORGED, PQgetvalue(done, i, RF_ID));
                        continue;
                }
                if (safe_atou64(PQgetvalue(done, i, RF_ID), &l.id) >= 0)
                        emit(&l);
                break;
        }
        /* now() is this statement's transaction's start: a heartbeat whose transaction started a
         * moment later may have committed before this one's snapshot, its last_seen after now().
         * A negative age is no number of the protocol, and the row would be left out: the node
         * "lost", "never seen" (rollouts were aborted and rolled back for it). */
        all = PQexec(
                c,
                "SELECT " NODE_FIELDS ", sig, "
                "greatest(0, (extract(epoch FROM (now() - last_seen)) * 1000)::bigint) "
                "FROM mbup_nodes ORDER BY name");
        if (PQresultStatus(all) != PGRES_TUPLES_OK)
                return report_failure("connect", "cannot read the nodes: %s", PQresultErrorMessage(all));
        n = PQntuples(all);
        for (int i = 0; i < n; i++) {
                const char *v[NODE_NFIELDS];
                for (int k = 0; k < NODE_NFIELDS; k++)
                        v[k] = PQgetvalue(all, i, k);
                FleetLine l = {
                        .kind = FLEET_LINE_NODE,
                        .name = row_value(v[0]),
                        .version = row_value(v[3]),
                        .state = row_value(v[4]),
                        .staged = row_value(v[5]),
                        .step = row_value(v[7]),
                        .reason = row_value(v[8]),
                };
                /* Rows are written by every node: one not signed with the fleet's key, or not what a
                 * node writes, is skipped. */
                if (!fields_signed("mbup-node-1", v, NODE_NFIELDS, PQgetvalue(all, i, NODE_NFIELDS)))
                        continue;
                /* A node's name, version, state... are tokens (the daemon refuses a line with
                 * another); its reason is anything, escaped. */
                if (!token_ok(l.name) || safe_atou64(PQgetvalue(all, i, NODE_NFIELDS + 1), &l.age_ms) < 0 ||
                    safe_atou64(v[6], &l.id) < 0)
                        continue;
                emit(&l);
        }
        emit(&(FleetLine){.kind = FLEET_LINE_FLEET, .id = (uint64_t) n});
        return 0;
}

/* Rollout id's row, signed: 1 with *ret (ROLLOUT_FIELDS, then sig); 0 when there is none;
 * -EBADMSG when it is not signed with the fleet's key; -EIO after reporting why (unless quiet:
 * a heartbeat's own lines are its answer). */
static int load_rollout_full(PGconn *c, const char *id, bool quiet, PGresult **ret) {
        _cleanup_pgresult_ PGresult *r = NULL;
        const char *params[1] = {id};

        r = pg_query(c, "SELECT " ROLLOUT_FIELDS ", sig FROM mbup_rollouts WHERE id = $1::bigint", 1, params);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                if (!quiet)
                        (void) report_failure(
                                "connect", "cannot read the rollout: %s", PQresultErrorMessage(r));
                return -EIO;
        }
        if (PQntuples(r) != 1)
                return 0;
        if (!rollout_row_signed(r, 0))
                return -EBADMSG;
        *ret = TAKE_PTR(r);
        return 1;
}

static int load_rollout(PGconn *c, const char *id, PGresult **ret) {
        return load_rollout_full(c, id, false, ret);
}

/* Writes the rollout row v, signed, over the one signed old_sig read; 0, or < 0 after reporting. */
static int store_rollout(PGconn *c, const char *const v[RF_SIG], const char *old_sig) {
        _cleanup_pgresult_ PGresult *up = NULL;
        const char *params[_RF_MAX + 1];
        char sig[65];

        sign_rollout(v, sig);
        for (int k = 0; k < RF_SIG; k++)
                params[k] = v[k];
        params[RF_SIG] = sig;
        params[_RF_MAX] = old_sig;
        up = pg_query(
                c,
                "UPDATE mbup_rollouts SET from_version = $2, to_version = $3, sha256 = $4, state = $5, leader = $6, "
                "backup = $7, backup_marker = $8, reason = $9, proposer = $10, mode = $11, mode_reason = $12, "
                "sig = $13, updated = now() WHERE id = $1::bigint AND sig = $14",
                _RF_MAX + 1,
                params);
        if (PQresultStatus(up) != PGRES_COMMAND_OK)
                return -report_failure("connect", "cannot write the rollout: %s", PQresultErrorMessage(up));
        if (!streq(PQcmdTuples(up), "1"))
                return -report_failure(
                        "forged", "rollout %s was changed by someone else meanwhile; not written", v[RF_ID]);
        keep_row(v, sig);
        return 0;
}

/* A copy of row r's fields, to change some before store_rollout(). */
static void row_fields(const PGresult *r, const char *v[RF_SIG]) {
        for (int k = 0; k < RF_SIG; k++)
                v[k] = PQgetvalue(r, 0, k);
}

/* args: FROM TO SHA256 [MODE]; why: the mode's reason ("" for none). */
static int propose(PGconn *c, const char *node, char *const args[4], const char *why) {
        _cleanup_pgresult_ PGresult *seq = NULL, *r = NULL, *open = NULL;
        const char *v[RF_SIG], *params[8];
        char sig[65];

        seq = PQexec(c, "SELECT nextval(pg_get_serial_sequence('mbup_rollouts', 'id'))::text");
        if (PQresultStatus(seq) != PGRES_TUPLES_OK || PQntuples(seq) != 1)
                return report_failure("connect", "cannot propose the rollout: %s", PQresultErrorMessage(seq));
        v[RF_ID] = PQgetvalue(seq, 0, 0);
        v[RF_FROM] = args[0];
        v[RF_TO] = args[1];
        v[RF_SHA256] = args[2];
        v[RF_STATE] = "staging";
        v[RF_LEADER] = v[RF_BACKUP] = v[RF_MARKER] = v[RF_REASON] = "";
        v[RF_PROPOSER] = node;
        v[RF_MODE] = args[3] ? args[3] : "";
        v[RF_MODE_REASON] = args[3] && reason_ok(why) ? why : "";
        sign_rollout(v, sig);
        params[0] = v[RF_ID];
        params[1] = args[0];
        params[2] = args[1];
        params[3] = args[2];
        params[4] = node;
        params[5] = v[RF_MODE];
        params[6] = v[RF_MODE_REASON];
        params[7] = sig;
        r = pg_query(
                c,
                "INSERT INTO mbup_rollouts (id, from_version, to_version, sha256, proposer, mode, mode_reason, sig) "
                "VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                8,
                params);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
                keep_row(v, sig);
                notify_change(c);
                emit_id(FLEET_LINE_PROPOSED, PQgetvalue(r, 0, 0));
                return 0;
        }
        /* 23505: the unique index of open rollouts. */
        if (!pg_sqlstate_is(r, "23505"))
                return report_failure("connect", "cannot propose the rollout: %s", PQresultErrorMessage(r));
        open = PQexec(
                c,
                "SELECT id, state, proposer FROM mbup_rollouts "
                "WHERE state NOT IN ('committed', 'rolled-back', 'aborted')");
        if (PQresultStatus(open) == PGRES_TUPLES_OK && PQntuples(open) == 1 &&
            token_ok(fleet_string_to_token(PQgetvalue(open, 0, 2))))
                return report_failure(
                        "busy",
                        "rollout %s (%s, proposed by %s) is open; it must end first",
                        PQgetvalue(open, 0, 0),
                        token_ok(PQgetvalue(open, 0, 1)) ? PQgetvalue(open, 0, 1) : "?",
                        fleet_string_to_token(PQgetvalue(open, 0, 2)));
        return report_failure("busy", "another rollout is open; it must end first");
}

/* Whether this agent's session holds rollout id's lock: 1, 0, or < 0 when it can't be asked. */
static int lock_held(PGconn *c, const char *id) {
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
                return -EIO;
        return streq(PQgetvalue(held, 0, 0), "1");
}

static int lead(PGconn *c, const char *node, const char *id) {
        _cleanup_pgresult_ PGresult *lock = NULL, *row = NULL, *unlock = NULL;
        const char *params[1] = {id}, *v[RF_SIG];
        int r;

        lock = pg_query(c, "SELECT pg_try_advisory_lock(" ROLLOUT_LOCK_CLASS ", $1::integer)", 1, params);
        if (PQresultStatus(lock) != PGRES_TUPLES_OK)
                return report_failure(
                        "connect", "cannot try the rollout's lock: %s", PQresultErrorMessage(lock));
        r = load_rollout(c, id, &row);
        if (r == -EIO)
                return 1;
        if (streq(PQgetvalue(lock, 0, 0), "t")) {
                if (r <= 0) {
                        /* Nothing signed to lead: the lock goes. */
                        unlock = pg_query(
                                c, "SELECT pg_advisory_unlock(" ROLLOUT_LOCK_CLASS ", $1::integer)", 1, params);
                        return report_failure(
                                "forged",
                                "rollout %s %s",
                                id,
                                r == 0 ? "is gone" : "is not signed with the fleet's key; not led");
                }
                row_fields(row, v);
                v[RF_LEADER] = node;
                if (store_rollout(c, v, PQgetvalue(row, 0, RF_SIG)) < 0)
                        return 1;
                notify_change(c);
                emit_id(FLEET_LINE_LEADER, id);
                return 0;
        }
        /* The answer the daemon waits for: its leader a token, or none. */
        FleetLine l = {.kind = FLEET_LINE_FOLLOWER};
        if (r > 0 && token_ok(PQgetvalue(row, 0, RF_LEADER)))
                l.leader = row_value(PQgetvalue(row, 0, RF_LEADER));
        if (safe_atou64(id, &l.id) >= 0)
                emit(&l);
        return 0;
}

/* Whether this agent's session holds rollout id's lock: 1, 0, or < 0 after reporting why not. */
static int holds_lock(PGconn *c, const char *id) {
        int r = lock_held(c, id);

        if (r < 0)
                return -report_failure("connect", "cannot check the rollout's lock: %s", PQerrorMessage(c));
        if (r == 0) {
                (void) report_failure(
                        "notleader", "this node does not lead rollout %s (lead %s first)", id, id);
                return 0;
        }
        return 1;
}

static int set_state(PGconn *c, const char *id, const char *state, const char *reason) {
        _cleanup_pgresult_ PGresult *row = NULL, *unlock = NULL;
        const char *params[1] = {id}, *v[RF_SIG];
        int r;

        r = holds_lock(c, id);
        if (r <= 0)
                return 1;
        r = load_rollout(c, id, &row);
        if (r == -EIO)
                return 1;
        if (r <= 0)
                return report_failure(
                        "forged", "rollout %s is not signed with the fleet's key; not moved on", id);
        row_fields(row, v);
        v[RF_STATE] = state;
        v[RF_REASON] = reason_ok(reason) ? reason : "";
        if (store_rollout(c, v, PQgetvalue(row, 0, RF_SIG)) < 0)
                return 1;
        /* An ended rollout has nothing left to lead. */
        if (rollout_state_is_end(state))
                unlock = pg_query(
                        c, "SELECT pg_advisory_unlock(" ROLLOUT_LOCK_CLASS ", $1::integer)", 1, params);
        notify_change(c);
        FleetLine l = {.kind = FLEET_LINE_SET, .state = row_value(state)};
        if (safe_atou64(id, &l.id) >= 0)
                emit(&l);
        return 0;
}

/* A connection string for database db (NULL: the one base names) on base's server. */
static char *conninfo_for(const char *base, const char *db) {
        _cleanup_free_ char *q = NULL;
        char *p;

        if (!db)
                return strdup_printf("%s connect_timeout=10", base);
        q = malloc(2 * strlen(db) + 1);
        if (!q)
                return NULL;
        p = q;
        for (const char *s = db; *s; s++) {
                if (*s == '\'' || *s == '\\')
                        *p++ = '\\';
                *p++ = *s;
        }
        *p = '\0';
        return strdup_printf("%s connect_timeout=10 dbname='%s'", base, q);
}

/* The changelog of database db (NULL: the application database) as "COUNT:LATEST" (LATEST "-"
 * when empty), and whether it has a change set of id has_id; < 0 with *ret_error. */
static int changelog_read(const char *db, const char *has_id, char **ret_marker, bool *ret_has, char **ret_error) {
        const char *app = secure_getenv("MBUP_PG_CONNINFO"),
                   *base = !isempty(app) ? app : secure_getenv("MBUP_FLEET_CONNINFO");
        _cleanup_free_ char *conninfo = conninfo_for(strempty(base), db), *q = NULL;
        _cleanup_pgconn_ PGconn *c = NULL;
        _cleanup_pgresult_ PGresult *t = NULL, *r = NULL;
        const char *params[2] = {"databasechangelog", has_id ?: ""};

        if (!conninfo)
                return -ENOMEM;
        c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK) {
                *ret_error = strdup_printf(
                        "cannot connect to the %s database%s%s: %s",
                        db ? "backup" : "application",
                        db ? " " : "",
                        strempty(db),
                        PQerrorMessage(c));
                return -ENOENT;
        }
        t = pg_query(
                c,
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
                "WHERE lower(table_name) = $1 AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema = current_schema() DESC LIMIT 1",
                1,
                params);
        if (PQresultStatus(t) != PGRES_TUPLES_OK) {
                *ret_error = strdup_printf("cannot read %s: %s", strempty(db), PQresultErrorMessage(t));
                return -EIO;
        }
        if (PQntuples(t) == 0) {
                *ret_marker = strdup("0:-");
                *ret_has = false;
                return *ret_marker ? 0 : -ENOMEM;
        }
        q = strdup_printf(
                "SELECT count(*)::text, coalesce((SELECT id FROM %1$s ORDER BY orderexecuted DESC LIMIT 1), '-'), "
                "(SELECT count(*) FROM %1$s WHERE id = $1) > 0 FROM %1$s",
                PQgetvalue(t, 0, 0));
        if (!q)
                return -ENOMEM;
        r = pg_query(c, q, 1, params + 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
                *ret_error = strdup_printf("cannot read the changelog: %s", PQresultErrorMessage(r));
                return -EIO;
        }
        *ret_marker = strdup_printf("%s:%s", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
        *ret_has = streq(PQgetvalue(r, 0, 2), "t");
        return *ret_marker ? 0 : -ENOMEM;
}

static int set_backup(PGconn *c, const char *id, const char *where) {
        _cleanup_pgresult_ PGresult *row = NULL;
        _cleanup_free_ char *marker = NULL, *error = NULL;
        const char *v[RF_SIG];
        bool has;
        int r;

        r = holds_lock(c, id);
        if (r <= 0)
                return 1;
        /* A clone's marker, read from it now, before any migration: its changelog. */
        if (startswith(where, "clone:")) {
                r = changelog_read(where + strlen("clone:"), NULL, &marker, &has, &error);
                if (r < 0)
                        return report_failure("connect", "cannot read the backup: %s", strempty(error));
        }
        r = load_rollout(c, id, &row);
        if (r == -EIO)
                return 1;
        if (r <= 0)
                return report_failure(
                        "forged", "rollout %s is not signed with the fleet's key; not recorded", id);
        row_fields(row, v);
        v[RF_BACKUP] = where;
        v[RF_MARKER] = strempty(marker);
        if (store_rollout(c, v, PQgetvalue(row, 0, RF_SIG)) < 0)
                return 1;
        emit_id(FLEET_LINE_BACKUP, id);
        return 0;
}

/* check-backup ID: before a node starts the new version on the migrated database, the rollout
 * (signed) must name a backup that exists: the clone by name on the shared server, with the
 * changelog the leader recorded when it took it, which the application database's changelog
 * goes on from (the clone is of this database, before the migration). A dump is on its node:
 * the leader's signed record is all there is to check. */
static int check_backup(PGconn *c, const char *id) {
        _cleanup_pgresult_ PGresult *row = NULL;
        _cleanup_free_ char *marker = NULL, *live = NULL, *error = NULL;
        const char *backup, *want, *latest;
        unsigned long long n_clone = 0, n_live = 0;
        bool has;
        int r;

        r = load_rollout(c, id, &row);
        if (r == -EIO)
                return 1;
        if (r == 0)
                return report_failure("nobackup", "rollout %s is not in the coordination database", id);
        if (r < 0)
                return report_failure("nobackup", "rollout %s is not signed with the fleet's key", id);
        backup = PQgetvalue(row, 0, RF_BACKUP);
        want = PQgetvalue(row, 0, RF_MARKER);
        if (isempty(backup))
                return report_failure("nobackup", "rollout %s records no backup of the database", id);
        if (startswith(backup, "dump:")) {
                emit_id(FLEET_LINE_BACKUP_OK, id);
                return 0;
        }
        if (!startswith(backup, "clone:") || isempty(want))
                return report_failure("nobackup", "rollout %s records no backup this node can check", id);
        r = changelog_read(backup + strlen("clone:"), NULL, &marker, &has, &error);
        if (r < 0)
                return report_failure(
                        "nobackup",
                        "the backup of rollout %s, the database %s, can't be read: %s",
                        id,
                        backup + strlen("clone:"),
                        error ?: "no such database");
        if (!streq(marker, want))
                return report_failure(
                        "nobackup",
                        "the backup of rollout %s, the database %s, is not the one recorded (its changelog is %s, "
                        "recorded %s)",
                        id,
                        backup + strlen("clone:"),
                        reason_ok(marker) ? marker : "?",
                        reason_ok(want) ? want : "?");
        latest = strchr(marker, ':') + 1;
        r = changelog_read(NULL, latest, &live, &has, &error);
        if (r < 0)
                return report_failure("connect", "%s", strempty(error));
        (void) sscanf(marker, "%llu", &n_clone);
        (void) sscanf(live, "%llu", &n_live);
        if (n_live < n_clone || (!streq(latest, "-") && !has))
                return report_failure(
                        "nobackup",
                        "the backup of rollout %s, the database %s, is not of this database before its migration "
                        "(changelog %s, the database's %s)",
                        id,
                        backup + strlen("clone:"),
                        reason_ok(marker) ? marker : "?",
                        reason_ok(live) ? live : "?");
        emit_id(FLEET_LINE_BACKUP_OK, id);
        return 0;
}

/* The leader's rollout row, changed or deleted by someone without the fleet's key: written back
 * as this agent signed it last. */
static void restore_kept(PGconn *c) {
        _cleanup_pgresult_ PGresult *row = NULL, *up = NULL;
        const char *params[_RF_MAX];
        int r;

        if (!kept[RF_ID] || !kept[RF_STATE] || rollout_state_is_end(kept[RF_STATE]) ||
            lock_held(c, kept[RF_ID]) != 1)
                return;
        r = load_rollout_full(c, kept[RF_ID], true, &row);
        if (r == -EIO || (r > 0 && streq(PQgetvalue(row, 0, RF_SIG), strempty(kept[RF_SIG]))))
                return;
        for (int k = 0; k < _RF_MAX; k++)
                params[k] = strempty(kept[k]);
        up = pg_query(
                c,
                "INSERT INTO mbup_rollouts (id, from_version, to_version, sha256, state, leader, backup, "
                "backup_marker, reason, proposer, mode, mode_reason, sig) "
                "VALUES ($1::bigint, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                "ON CONFLICT (id) DO UPDATE SET from_version = $2, to_version = $3, sha256 = $4, state = $5, "
                "leader = $6, backup = $7, backup_marker = $8, reason = $9, proposer = $10, mode = $11, "
                "mode_reason = $12, sig = $13, updated = now()",
                _RF_MAX,
                params);
        if (PQresultStatus(up) == PGRES_COMMAND_OK) {
                emit_id(FLEET_LINE_RESTORED, kept[RF_ID]);
                notify_change(c);
        }
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
                emit(&(FleetLine){.kind = FLEET_LINE_NOTIFY});
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
                ok = (k == 3 && !rest) ||
                        (k >= 4 && (streq(args[3], "rolling") || streq(args[3], "all-stop")) &&
                         reason_ok(fleet_after_words(copy, 5)));
        else if (streq(verb, "lead"))
                ok = k == 1 && rollout_id_ok(args[0]) && !rest;
        else if (streq(verb, "set"))
                ok = k >= 2 && rollout_id_ok(args[0]) && rollout_state_ok(args[1]) &&
                        reason_ok(fleet_after_words(copy, 3));
        else if (streq(verb, "backup"))
                ok = k == 2 && rollout_id_ok(args[0]) && !rest;
        else if (streq(verb, "check-backup"))
                ok = k == 1 && rollout_id_ok(args[0]) && !rest;
        else
                ok = false;
        if (!ok) {
                (void) report_failure(
                        "usage",
                        "expected: heartbeat VERSION STATE STAGED [ROLLOUT STEP [REASON]], propose FROM TO SHA256 "
                        "[MODE [WHY]], "
                        "lead ID, set ID STATE [REASON], backup ID WHERE or check-backup ID");
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
                r = propose(a->c, a->node, args, k >= 4 ? fleet_after_words(copy, 5) : "");
        else if (streq(verb, "lead"))
                r = lead(a->c, a->node, args[0]);
        else if (streq(verb, "set"))
                r = set_state(a->c, args[0], args[1], fleet_after_words(copy, 3)); /* REASON as it came */
        else if (streq(verb, "backup"))
                r = set_backup(a->c, args[0], args[1]);
        else
                r = check_backup(a->c, args[0]);
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
        {
                const char *key_file = secure_getenv("MBUP_FLEET_KEY_FILE");
                int key_fd = passed_fd("MBUP_FLEET_KEY_FD");
                if ((key_fd >= 0 || !isempty(key_file)) && load_key(strempty(key_file), key_fd) != 0)
                        return 2;
        }
        a.c = fleet_connect(a.conninfo);
        if (a.c)
                emit(&(FleetLine){.kind = FLEET_LINE_READY});

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
        explicit_bzero(fleet_key, sizeof(fleet_key));
        for (int k = 0; k < _RF_MAX; k++)
                kept[k] = mfree_str(kept[k]);
        return 0;
}
