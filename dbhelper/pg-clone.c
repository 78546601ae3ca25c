/* SPDX-License-Identifier: MIT */
/* backup.postgres: clone. CREATE DATABASE "<db>_mbup_..." TEMPLATE "<db>" copies the application
 * database inside the server, file by file (no dump to write, read back and replay), and a
 * rollback renames the copy back in place of the database the newer version migrated, which is
 * kept under another name: nothing is dropped but by drop-clone, for retention.
 *
 * Everything runs from the maintenance database (postgres, else template1): PostgreSQL neither
 * copies nor renames a database that has sessions, ours included. So the PGPASSFILE entry must
 * match that database too ("*" in its database field).
 *
 * What CREATE DATABASE does not take from the template is copied after it, as pg_dump --create
 * would restore it: the database's privileges, its settings (ALTER DATABASE ... SET, ALTER ROLE
 * ... IN DATABASE ... SET: a per-database search_path lost would have the old Metabase start on
 * an empty schema), its connection limit and comment. The clone is owned by the database's owner.
 *
 * Reports beyond those in pg-clone.h: "already restored" (restore-clone finds the swap done, as
 * when the daemon resumes after it) and "already gone" (drop-clone of a clone that is not there),
 * each then "done". */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "pg-clone.h"
#include "pg-util.h"
#include "report.h"
#include "strv.h"

#define CLONE_INFIX "_mbup_"
#define PG_NAME_MAX 63 /* NAMEDATALEN - 1: longer names are truncated by the server, not refused */
#define SESSIONS_SHOWN 5

typedef enum Verb {
        VERB_CLONE_CHECK,
        VERB_CLONE,
        VERB_RESTORE_CLONE,
        VERB_DROP_CLONE,
        _VERB_MAX,
        _VERB_INVALID = -EINVAL,
} Verb;

static const char *const verb_table[_VERB_MAX] = {
        [VERB_CLONE_CHECK] = "clone-check",
        [VERB_CLONE] = "clone",
        [VERB_RESTORE_CLONE] = "restore-clone",
        [VERB_DROP_CLONE] = "drop-clone",
};
static const int verb_argc[_VERB_MAX] = {
        [VERB_CLONE_CHECK] = 2,
        [VERB_CLONE] = 3,
        [VERB_RESTORE_CLONE] = 4,
        [VERB_DROP_CLONE] = 3,
};

bool pg_clone_verb(const char *verb) {
        return string_table_lookup(verb_table, _VERB_MAX, verb) >= 0;
}

#define report_error(status, kind, fmt, ...) (report_line("error " kind " " fmt, ##__VA_ARGS__), (status))

/* The primary message of a failed statement (no "ERROR:" prefix, no context lines). */
static const char *result_message(PGconn *c, const PGresult *r) {
        const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        return m ?: PQerrorMessage(c);
}

static bool is_true(const PGresult *r, int row, int col) {
        return !PQgetisnull(r, row, col) && streq(PQgetvalue(r, row, col), "t");
}

/* "<db>_mbup_" followed by at least one of [0-9A-Za-z_], at most 63 bytes. */
static bool clone_name_ok(const char *db, const char *name) {
        size_t n = strlen(db);

        if (strlen(name) > PG_NAME_MAX || strncmp(name, db, n) != 0 || !startswith(name + n, CLONE_INFIX))
                return false;
        name += n + strlen(CLONE_INFIX);
        if (*name == '\0')
                return false;
        for (; *name; name++)
                if (!strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", *name))
                        return false;
        return true;
}

/* The database MBUP_PG_CONNINFO names (dbname=, or the path of a URI). */
static int conninfo_dbname(const char *conninfo, char **ret, char **ret_error) {
        PQconninfoOption *opts;
        char *err = NULL, *db = NULL;

        opts = PQconninfoParse(conninfo, &err);
        if (!opts) {
                *ret_error = strdup_printf("MBUP_PG_CONNINFO can't be parsed: %s", err ?: "out of memory");
                PQfreemem(err);
                return -EINVAL;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (streq(o->keyword, "dbname") && !isempty(o->val)) {
                        db = strdup(o->val);
                        if (!db) {
                                PQconninfoFree(opts);
                                return -ENOMEM;
                        }
                }
        PQconninfoFree(opts);
        if (!db) {
                *ret_error = strdup("MBUP_PG_CONNINFO names no database (dbname=)");
                return -EINVAL;
        }
        *ret = db;
        return 0;
}

/* A connection as MBUP_PG_CONNINFO describes it, to the maintenance database instead: libpq
 * expands the first dbname (a connection string), and a later dbname wins. */
static PGconn *connect_maintenance(const char *conninfo, char **ret_error) {
        static const char *const maintenance[] = {"postgres", "template1"};
        _cleanup_free_ char *errors = NULL;

        for (size_t i = 0; i < ELEMENTSOF(maintenance); i++) {
                const char *const keys[] = {
                        "connect_timeout", "fallback_application_name", "dbname", "dbname", NULL};
                const char *const values[] = {"10", "mbupgraded-db", conninfo, maintenance[i], NULL};
                _cleanup_pgconn_ PGconn *c = PQconnectdbParams(keys, values, 1);
                const char *m;
                size_t n;
                char *e;

                if (PQstatus(c) == CONNECTION_OK)
                        return TAKE_PTR(c);
                m = PQerrorMessage(c);
                n = strlen(m);
                while (n > 0 && strchr(" \n", m[n - 1]))
                        n--;
                e = strdup_printf(
                        "%s%s%s: %.*s%s",
                        strempty(errors),
                        errors ? "; " : "",
                        maintenance[i],
                        (int) n,
                        m,
                        strstr(m, "no password supplied")
                                ? " (the PGPASSFILE entry must match this database too: \"*\" as its database)"
                                : "");
                free(errors);
                errors = e;
        }
        *ret_error = TAKE_PTR(errors);
        return NULL;
}

typedef struct DbFacts {
        bool exists;
        bool superuser, createdb, owns; /* the role we are */
        char *user;
        char *owner;
} DbFacts;

static void db_facts_done(DbFacts *f) {
        free(f->user);
        free(f->owner);
}

static int db_facts(PGconn *c, const char *db, DbFacts *ret, char **ret_error) {
        _cleanup_pgresult_ PGresult *r = NULL;
        const char *params[] = {db};

        r = pg_query(
                c,
                "SELECT current_user, r.rolsuper, r.rolcreatedb, d.oid IS NOT NULL, "
                "       coalesce(pg_get_userbyid(d.datdba), ''), "
                "       r.rolsuper OR coalesce(pg_has_role(current_user, d.datdba, 'USAGE'), false) "
                "FROM pg_roles r LEFT JOIN pg_database d ON d.datname = $1 "
                "WHERE r.rolname = current_user",
                1,
                params);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
                *ret_error = strdup_printf(
                        "cannot read the role's and the database's facts: %s", result_message(c, r));
                return -EIO;
        }
        *ret = (DbFacts){
                .superuser = is_true(r, 0, 1),
                .createdb = is_true(r, 0, 2),
                .exists = is_true(r, 0, 3),
                .owns = is_true(r, 0, 5),
                .user = strdup(PQgetvalue(r, 0, 0)),
                .owner = strdup(PQgetvalue(r, 0, 4)),
        };
        if (!ret->user || !ret->owner) {
                db_facts_done(ret);
                return -ENOMEM;
        }
        return 0;
}

/* Who else is connected to db (autovacuum aside: the server stops it by itself), for a person:
 * "'Metabase v0.56.1' (pid 1234, user metabase, from 10.0.0.5), ...". Their number, with the
 * description in *ret (NULL when there are none), or -EIO. */
static int list_sessions(PGconn *c, const char *db, char **ret) {
        _cleanup_pgresult_ PGresult *r = NULL;
        _cleanup_free_ char *s = NULL;
        const char *params[] = {db};
        int n;

        r = pg_query(
                c,
                "SELECT pid, coalesce(nullif(application_name, ''), 'no application_name'), "
                "       coalesce(usename, '?'), "
                "       CASE WHEN client_addr IS NOT NULL THEN 'from ' || host(client_addr) "
                "            WHEN client_port = -1 THEN 'on the local socket' "
                "            ELSE 'address hidden from this role' END "
                "FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type <> 'autovacuum worker' "
                "ORDER BY backend_start",
                1,
                params);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
                return -EIO;
        n = PQntuples(r);
        for (int i = 0; i < n && i < SESSIONS_SHOWN; i++) {
                char *e = strdup_printf(
                        "%s%s'%s' (pid %s, user %s, %s)",
                        strempty(s),
                        s ? ", " : "",
                        PQgetvalue(r, i, 1),
                        PQgetvalue(r, i, 0),
                        PQgetvalue(r, i, 2),
                        PQgetvalue(r, i, 3));
                if (!e)
                        return -ENOMEM;
                free(s);
                s = e;
        }
        if (n > SESSIONS_SHOWN) {
                char *e = strdup_printf("%s and %d more", s, n - SESSIONS_SHOWN);
                if (!e)
                        return -ENOMEM;
                free(s);
                s = e;
        }
        *ret = TAKE_PTR(s);
        return n;
}

/* The sessions of a Metabase just stopped end a moment after its process: as the server does
 * before it refuses to copy or rename a database in use, look again for up to 5 s. */
static int other_sessions(PGconn *c, const char *db, char **ret) {
        for (int i = 0;; i++) {
                _cleanup_free_ char *s = NULL;
                int n = list_sessions(c, db, &s);

                if (n <= 0 || i >= 50) {
                        *ret = TAKE_PTR(s);
                        return n;
                }
                (void) usleep(100 * USEC_PER_MSEC);
        }
}

/* Runs a statement that returns no rows; -EIO with its message in *ret_error. */
static int exec_command(PGconn *c, const char *sql, char **ret_error) {
        _cleanup_pgresult_ PGresult *r = NULL;

        if (!sql)
                return -ENOMEM;
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                if (ret_error)
                        *ret_error = strdup(result_message(c, r));
                return -EIO;
        }
        return 0;
}

/* Settings the server stores as a list of double-quoted identifiers: their elements go back as
 * separate literals, as pg_dump does ("$user", public -> '$user', 'public'). */
static bool guc_is_quoted_list(const char *name) {
        static const char *const lists[] = {
                "local_preload_libraries",
                "search_path",
                "session_preload_libraries",
                "shared_preload_libraries",
                "temp_tablespaces",
                "unix_socket_directories",
        };
        for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                if (strcasecmp(name, lists[i]) == 0)
                        return true;
        return false;
}

static bool is_space(char ch) {
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static int append(char **s, const char *sep, const char *item) {
        char *e = strdup_printf("%s%s%s", strempty(*s), *s ? sep : "", item);
        if (!e)
                return -ENOMEM;
        free(*s);
        *s = e;
        return 0;
}

/* A setting's stored value as SQL after "SET name TO ". NULL with errno set on failure. */
static char *guc_value_sql(PGconn *c, const char *name, const char *value) {
        _cleanup_free_ char *out = NULL, *elem = NULL;
        const char *p = value;

        if (!guc_is_quoted_list(name)) {
                _cleanup_pqfree_ char *lit = PQescapeLiteral(c, value, strlen(value));
                return lit ? strdup(lit) : (errno = EINVAL, NULL);
        }
        elem = malloc(strlen(value) + 1);
        if (!elem)
                return NULL;
        while (is_space(*p))
                p++;
        if (*p == '\0')
                return strdup("''");
        for (;;) {
                _cleanup_pqfree_ char *lit = NULL;
                size_t n = 0;

                while (is_space(*p))
                        p++;
                if (*p == '"') {
                        for (p++;; p++) {
                                if (*p == '\0')
                                        return errno = EINVAL, NULL;
                                if (*p == '"' && p[1] == '"')
                                        p++;
                                else if (*p == '"') {
                                        p++;
                                        break;
                                }
                                elem[n++] = *p;
                        }
                } else {
                        while (*p && *p != ',' && !is_space(*p))
                                elem[n++] = *p++;
                        if (n == 0)
                                return errno = EINVAL, NULL;
                }
                elem[n] = '\0';
                lit = PQescapeLiteral(c, elem, n);
                if (!lit || append(&out, ", ", lit) < 0)
                        return errno = ENOMEM, NULL;
                while (is_space(*p))
                        p++;
                if (*p == '\0')
                        return TAKE_PTR(out);
                if (*p != ',')
                        return errno = EINVAL, NULL;
                p++;
        }
}

/* What CREATE DATABASE does not take from its template, from database `from` to `to`, in the
 * caller's transaction: privileges, settings, connection limit, comment. 0, or -EIO with what
 * failed in *ret_error. */
static int copy_properties(PGconn *c, const char *from, const char *to, char **ret_error) {
        _cleanup_pgresult_ PGresult *db = NULL, *acl = NULL, *settings = NULL;
        _cleanup_pqfree_ char *qto = PQescapeIdentifier(c, to, strlen(to));
        _cleanup_free_ char *err = NULL;
        const char *params[] = {from};
        int r;

        if (!qto)
                return -ENOMEM;
        db = pg_query(
                c,
                "SELECT datconnlimit, datacl IS NOT NULL, shobj_description(oid, 'pg_database'), "
                "       pg_get_userbyid(datdba) "
                "FROM pg_database WHERE datname = $1",
                1,
                params);
        if (PQresultStatus(db) != PGRES_TUPLES_OK || PQntuples(db) != 1)
                return *ret_error = strdup_printf(
                               "cannot read the database %s: %s", from, result_message(c, db)),
                       -EIO;

        if (is_true(db, 0, 1)) {
                /* Not the default privileges: exactly those of the template, from nothing. */
                const char *owner = PQgetvalue(db, 0, 3);
                _cleanup_pqfree_ char *qowner = PQescapeIdentifier(c, owner, strlen(owner));
                _cleanup_free_ char *revoke = NULL;

                if (!qowner)
                        return -ENOMEM;
                revoke = strdup_printf("REVOKE ALL ON DATABASE %s FROM PUBLIC, %s", qto, qowner);
                r = exec_command(c, revoke, &err);
                if (r < 0)
                        goto fail_acl;
                acl = pg_query(
                        c,
                        "SELECT a.grantee = 0, pg_get_userbyid(a.grantee), a.privilege_type, a.is_grantable "
                        "FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1",
                        1,
                        params);
                if (PQresultStatus(acl) != PGRES_TUPLES_OK) {
                        err = strdup(result_message(c, acl));
                        goto fail_acl;
                }
                for (int i = 0; i < PQntuples(acl); i++) {
                        const char *grantee = PQgetvalue(acl, i, 1), *priv = PQgetvalue(acl, i, 2);
                        _cleanup_pqfree_ char *qgrantee = PQescapeIdentifier(c, grantee, strlen(grantee));
                        _cleanup_free_ char *grant = NULL;

                        if (!qgrantee)
                                return -ENOMEM;
                        /* the server's own words, but checked before they go into a statement */
                        if (!streq(priv, "CREATE") && !streq(priv, "CONNECT") && !streq(priv, "TEMPORARY")) {
                                err = strdup_printf("unknown privilege %s", priv);
                                goto fail_acl;
                        }
                        grant = strdup_printf(
                                "GRANT %s ON DATABASE %s TO %s%s",
                                priv,
                                qto,
                                is_true(acl, i, 0) ? "PUBLIC" : qgrantee,
                                is_true(acl, i, 3) ? " WITH GRANT OPTION" : "");
                        r = exec_command(c, grant, &err);
                        if (r < 0)
                                goto fail_acl;
                }
        }

        if (!streq(PQgetvalue(db, 0, 0), "-1")) {
                uint64_t limit;
                _cleanup_free_ char *sql = NULL;

                if (safe_atou64(PQgetvalue(db, 0, 0), &limit) < 0)
                        return *ret_error = strdup("the connection limit is not a number"), -EIO;
                sql = strdup_printf("ALTER DATABASE %s CONNECTION LIMIT %" PRIu64, qto, limit);
                if (exec_command(c, sql, &err) < 0)
                        return *ret_error = strdup_printf(
                                       "cannot copy the connection limit: %s", strempty(err)),
                               -EIO;
        }

        if (!PQgetisnull(db, 0, 2)) {
                const char *comment = PQgetvalue(db, 0, 2);
                _cleanup_pqfree_ char *lit = PQescapeLiteral(c, comment, strlen(comment));
                _cleanup_free_ char *sql = lit ? strdup_printf("COMMENT ON DATABASE %s IS %s", qto, lit)
                                               : NULL;

                if (exec_command(c, sql, &err) < 0)
                        return *ret_error = strdup_printf("cannot copy the comment: %s", strempty(err)), -EIO;
        }

        settings = pg_query(
                c,
                "SELECT s.setrole = 0, pg_get_userbyid(s.setrole), unnest(s.setconfig) "
                "FROM pg_db_role_setting s JOIN pg_database d ON s.setdatabase = d.oid "
                "WHERE d.datname = $1 ORDER BY s.setrole",
                1,
                params);
        if (PQresultStatus(settings) != PGRES_TUPLES_OK)
                return *ret_error = strdup_printf("cannot read the settings: %s", result_message(c, settings)),
                       -EIO;
        for (int i = 0; i < PQntuples(settings); i++) {
                const char *role = PQgetvalue(settings, i, 1), *setting = PQgetvalue(settings, i, 2);
                _cleanup_free_ char *name = NULL, *value = NULL, *sql = NULL;
                _cleanup_pqfree_ char *qname = NULL, *qrole = NULL;
                const char *eq = strchr(setting, '=');

                if (!eq)
                        return *ret_error = strdup_printf("cannot understand the setting '%s'", setting), -EIO;
                name = strndup(setting, eq - setting);
                qname = name ? PQescapeIdentifier(c, name, strlen(name)) : NULL;
                qrole = PQescapeIdentifier(c, role, strlen(role));
                if (!qname || !qrole)
                        return -ENOMEM;
                value = guc_value_sql(c, name, eq + 1);
                if (!value)
                        return *ret_error = strdup_printf("cannot understand the setting '%s'", setting), -EIO;
                if (is_true(settings, i, 0))
                        sql = strdup_printf("ALTER DATABASE %s SET %s TO %s", qto, qname, value);
                else
                        sql = strdup_printf(
                                "ALTER ROLE %s IN DATABASE %s SET %s TO %s", qrole, qto, qname, value);
                if (exec_command(c, sql, &err) < 0)
                        return *ret_error = strdup_printf(
                                       "cannot copy the setting %s%s%s: %s",
                                       name,
                                       is_true(settings, i, 0) ? "" : " of role ",
                                       is_true(settings, i, 0) ? "" : role,
                                       strempty(err)),
                               -EIO;
        }
        return 0;

fail_acl:
        *ret_error = strdup_printf("cannot copy the database's privileges: %s", strempty(err));
        return -EIO;
}

static void rollback(PGconn *c) {
        PQclear(PQexec(c, "ROLLBACK"));
}

static int verb_clone_check(PGconn *c, const char *db) {
        _cleanup_(db_facts_done) DbFacts f = {};
        _cleanup_free_ char *reasons = NULL, *err = NULL, *sessions = NULL, *reason = NULL;
        int n;

        if (db_facts(c, db, &f, &err) < 0)
                return report_error(1, "query", "%s", strempty(err));
        if (!f.exists) {
                report_line("clone impossible there is no database %s", db);
                goto done;
        }
        if (!f.superuser && !f.createdb) {
                reason = strdup_printf(
                        "the role %s has neither SUPERUSER nor CREATEDB (ALTER ROLE %s CREATEDB)",
                        f.user,
                        f.user);
                if (!reason || append(&reasons, "; ", reason) < 0)
                        return report_error(1, "io", "out of memory");
                reason = mfree_str(reason);
        }
        if (!f.owns) {
                reason = strdup_printf(
                        "the role %s does not own the database %s (its owner is %s), which renaming it needs",
                        f.user,
                        db,
                        f.owner);
                if (!reason || append(&reasons, "; ", reason) < 0)
                        return report_error(1, "io", "out of memory");
                reason = mfree_str(reason);
        }
        n = other_sessions(c, db, &sessions);
        if (n < 0)
                return report_error(1, "query", "cannot read pg_stat_activity: %s", PQerrorMessage(c));
        if (n > 0) {
                reason = strdup_printf(
                        "%d other session%s connected to %s: %s", n, n == 1 ? "" : "s", db, sessions);
                if (!reason || append(&reasons, "; ", reason) < 0)
                        return report_error(1, "io", "out of memory");
                reason = mfree_str(reason);
        }
        if (!reasons) {
                /* What clone will do after the copy, tried on the database itself and undone: a
                 * setting only a superuser may set fails here, before a gigabyte is copied. */
                if (exec_command(c, "BEGIN", &err) < 0)
                        return report_error(1, "query", "%s", strempty(err));
                if (copy_properties(c, db, db, &err) < 0)
                        reasons = strdup_printf(
                                "a clone cannot carry the database's properties: %s", strempty(err));
                rollback(c);
        }
        if (reasons)
                report_line("clone impossible %s", reasons);
        else
                printf("clone possible\n");
done:
        printf("done\n");
        return 0;
}

/* A copy, a rename and a drop need nobody else connected to db: 0 when nobody is, else the
 * helper's error line (step, then "what db is in use by ...", then hint) and its status. */
static int refuse_in_use(PGconn *c, const char *step, const char *what, const char *db, const char *hint) {
        _cleanup_free_ char *sessions = NULL;
        int n = other_sessions(c, db, &sessions);

        if (n < 0)
                return report_error(1, "query", "cannot read pg_stat_activity: %s", PQerrorMessage(c));
        if (n > 0) {
                report_line(
                        "error %s %s %s is in use by %d other session%s: %s%s",
                        step,
                        what,
                        db,
                        n,
                        n == 1 ? "" : "s",
                        sessions,
                        hint);
                return 1;
        }
        return 0;
}

static int verb_clone(PGconn *c, const char *db, const char *name) {
        _cleanup_(db_facts_done) DbFacts f = {};
        _cleanup_pgresult_ PGresult *r = NULL, *size = NULL;
        _cleanup_pqfree_ char *qdb = NULL, *qname = NULL, *qowner = NULL;
        _cleanup_free_ char *err = NULL, *sessions = NULL, *sql = NULL, *drop = NULL;
        const char *params[] = {name};
        int n;

        if (db_facts(c, db, &f, &err) < 0)
                return report_error(1, "query", "%s", strempty(err));
        if (!f.exists)
                return report_error(1, "clone", "there is no database %s", db);
        n = refuse_in_use(
                c,
                "clone",
                "the database",
                db,
                "; a database is copied only with nobody connected (is Metabase still running?)");
        if (n != 0)
                return n;

        qdb = PQescapeIdentifier(c, db, strlen(db));
        qname = PQescapeIdentifier(c, name, strlen(name));
        qowner = PQescapeIdentifier(c, f.owner, strlen(f.owner));
        if (!qdb || !qname || !qowner)
                return report_error(1, "io", "out of memory");
        /* FILE_COPY, what servers before 15 always do: a checkpoint and the files copied, where
         * 15's default (WAL_LOG) writes every block through shared buffers and into the WAL: for a
         * gigabyte twice as slow here (bench/db-backup.sh), and that gigabyte sent on to the WAL
         * archive and to standbys. */
        sql = strdup_printf(
                "CREATE DATABASE %s TEMPLATE %s OWNER %s%s",
                qname,
                qdb,
                qowner,
                PQserverVersion(c) >= 150000 ? " STRATEGY FILE_COPY" : "");
        if (!sql)
                return report_error(1, "io", "out of memory");
        r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                /* 55006 object_in_use: someone connected between our look and the copy. */
                if (pg_sqlstate_is(r, "55006") && list_sessions(c, db, &sessions) > 0)
                        return report_error(
                                1,
                                "clone",
                                "cannot copy %s to %s: the database is in use by %s; a database is copied only with nobody connected (is Metabase still running?)",
                                db,
                                name,
                                sessions);
                return report_error(1, "clone", "cannot copy %s to %s: %s", db, name, result_message(c, r));
        }

        if (exec_command(c, "BEGIN", &err) < 0 || copy_properties(c, db, name, &err) < 0 ||
            exec_command(c, "COMMIT", &err) < 0) {
                _cleanup_free_ char *drop_err = NULL;

                /* Our own copy, not yet a backup of anything: it goes. */
                rollback(c);
                drop = strdup_printf("DROP DATABASE %s", qname);
                if (exec_command(c, drop, &drop_err) < 0)
                        return report_error(
                                1,
                                "clone",
                                "%s was copied but %s; the incomplete copy %s could not be dropped either (%s): drop it by hand",
                                db,
                                strempty(err),
                                name,
                                strempty(drop_err));
                return report_error(
                        1, "clone", "%s was copied but %s; the copy was dropped", db, strempty(err));
        }

        size = pg_query(c, "SELECT pg_database_size($1::name)", 1, params);
        if (PQresultStatus(size) != PGRES_TUPLES_OK)
                return report_error(
                        1, "query", "cannot read the size of %s: %s", name, result_message(c, size));
        report_value("size", PQgetvalue(size, 0, 0));
        printf("done\n");
        return 0;
}

/* Which of the names exist, as a bit each. */
static int existing_databases(PGconn *c, const char *const names[3], bool ret[3]) {
        _cleanup_pgresult_ PGresult *r = NULL;

        r = pg_query(c, "SELECT datname = $1, datname = $2, datname = $3 FROM pg_database", 3, names);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
                return -EIO;
        ret[0] = ret[1] = ret[2] = false;
        for (int i = 0; i < PQntuples(r); i++)
                for (int j = 0; j < 3; j++)
                        ret[j] = ret[j] || is_true(r, i, j);
        return 0;
}

/* Both renames in one transaction (ALTER DATABASE ... RENAME is transactional): if the second
 * fails, the first is undone with it, and a crash between them leaves the names as they were. */
static int verb_restore_clone(PGconn *c, const char *db, const char *name, const char *keep_as) {
        _cleanup_pqfree_ char *qdb = NULL, *qname = NULL, *qkeep = NULL;
        _cleanup_free_ char *err = NULL, *sql1 = NULL, *sql2 = NULL;
        const char *names[3] = {db, name, keep_as};
        bool exists[3];

        if (existing_databases(c, names, exists) < 0)
                return report_error(1, "query", "cannot read pg_database: %s", PQerrorMessage(c));
        if (exists[0] && !exists[1] && exists[2]) {
                /* What this verb leaves behind: done already (the daemon resuming after it). */
                printf("already restored\n");
                printf("done\n");
                return 0;
        }
        if (!exists[1])
                return report_error(1, "restore", "there is no clone %s to put back", name);
        if (!exists[0])
                return report_error(1, "restore", "there is no database %s to put aside as %s", db, keep_as);
        if (exists[2])
                return report_error(1, "restore", "a database %s exists already; nothing was renamed", keep_as);
        for (size_t i = 0; i < 2; i++) {
                int n = refuse_in_use(
                        c,
                        "restore",
                        "the database",
                        names[i],
                        "; it is renamed only with nobody connected (is Metabase still running?)");
                if (n != 0)
                        return n;
        }

        qdb = PQescapeIdentifier(c, db, strlen(db));
        qname = PQescapeIdentifier(c, name, strlen(name));
        qkeep = PQescapeIdentifier(c, keep_as, strlen(keep_as));
        if (!qdb || !qname || !qkeep)
                return report_error(1, "io", "out of memory");
        sql1 = strdup_printf("ALTER DATABASE %s RENAME TO %s", qdb, qkeep);
        sql2 = strdup_printf("ALTER DATABASE %s RENAME TO %s", qname, qdb);
        if (exec_command(c, "BEGIN", &err) < 0)
                return report_error(1, "restore", "%s", strempty(err));
        if (exec_command(c, sql1, &err) < 0) {
                rollback(c);
                return report_error(
                        1,
                        "restore",
                        "cannot rename %s to %s: %s; nothing was renamed",
                        db,
                        keep_as,
                        strempty(err));
        }
        if (exec_command(c, sql2, &err) < 0) {
                rollback(c);
                return report_error(
                        1,
                        "restore",
                        "cannot rename %s to %s: %s; %s keeps its name (the rename to %s was undone)",
                        name,
                        db,
                        strempty(err),
                        db,
                        keep_as);
        }
        if (exec_command(c, "COMMIT", &err) < 0)
                return report_error(
                        1, "restore", "cannot commit the renames: %s; nothing was renamed", strempty(err));
        printf("done\n");
        return 0;
}

static int verb_drop_clone(PGconn *c, const char *db, const char *name) {
        _cleanup_pqfree_ char *qname = NULL;
        _cleanup_free_ char *err = NULL, *sql = NULL;
        const char *names[3] = {name, name, name};
        bool exists[3];
        int n;

        /* clone_name_ok() already rules it out; this is the one database never to drop. */
        if (streq(name, db))
                return report_error(2, "usage", "drop-clone never drops the database %s itself", db);
        if (existing_databases(c, names, exists) < 0)
                return report_error(1, "query", "cannot read pg_database: %s", PQerrorMessage(c));
        if (!exists[0]) {
                printf("already gone\n");
                printf("done\n");
                return 0;
        }
        n = refuse_in_use(c, "drop", "the clone", name, "");
        if (n != 0)
                return n;
        qname = PQescapeIdentifier(c, name, strlen(name));
        sql = qname ? strdup_printf("DROP DATABASE %s", qname) : NULL;
        if (exec_command(c, sql, &err) < 0)
                return report_error(1, "drop", "cannot drop %s: %s", name, strempty(err));
        printf("done\n");
        return 0;
}

int pg_clone_main(int argc, char *argv[]) {
        _cleanup_pgconn_ PGconn *c = NULL;
        _cleanup_free_ char *db = NULL, *err = NULL;
        const char *conninfo = secure_getenv("MBUP_PG_CONNINFO");
        Verb verb = string_table_lookup(verb_table, _VERB_MAX, argv[1]);
        int r;

        if (verb < 0 || argc != verb_argc[verb]) {
                fprintf(stderr,
                        "usage: %s clone-check | clone NAME | restore-clone NAME KEEP_AS | drop-clone NAME\n"
                        "       NAME, KEEP_AS: <db>_mbup_[0-9A-Za-z_]+, at most 63 bytes\n",
                        program_invocation_short_name);
                return report_error(
                        2,
                        "usage",
                        "expected: clone-check, clone NAME, restore-clone NAME KEEP_AS or drop-clone NAME");
        }
        if (isempty(conninfo))
                return report_error(2, "usage", "MBUP_PG_CONNINFO is not set");
        r = conninfo_dbname(conninfo, &db, &err);
        if (r == -ENOMEM)
                return report_error(1, "io", "out of memory");
        if (r < 0)
                return report_error(2, "usage", "%s", strempty(err));
        for (int i = 2; i < argc; i++)
                if (!clone_name_ok(db, argv[i]))
                        return report_error(
                                2,
                                "usage",
                                "'%s' is not a clone's name: %s" CLONE_INFIX
                                " then letters, digits or _, at most %d bytes",
                                argv[i],
                                db,
                                PG_NAME_MAX);
        if (verb == VERB_RESTORE_CLONE && streq(argv[2], argv[3]))
                return report_error(2, "usage", "the clone and the name to keep the database as are the same");

        c = connect_maintenance(conninfo, &err);
        if (!c && verb == VERB_CLONE_CHECK) {
                report_line("clone impossible cannot connect to a maintenance database: %s", strempty(err));
                printf("done\n");
                return 0;
        }
        if (!c)
                return report_error(
                        1, "connect", "cannot connect to a maintenance database: %s", strempty(err));

        switch (verb) {
        case VERB_CLONE_CHECK:
                return verb_clone_check(c, db);
        case VERB_CLONE:
                return verb_clone(c, db, argv[2]);
        case VERB_RESTORE_CLONE:
                return verb_restore_clone(c, db, argv[2], argv[3]);
        case VERB_DROP_CLONE:
                return verb_drop_clone(c, db, argv[2]);
        default:
                return 2;
        }
}
