/* SPDX-License-Identifier: MIT */
/* mbupgraded-db: the daemon's helper for a PostgreSQL application database (docs/architecture.md §2:
 * work that talks to a database server runs in a short-lived child, so libpq never runs in the core).
 *
 *   mbupgraded-db preflight
 *   mbupgraded-db backup FILE     pg_dump --format=custom of the database into FILE (through a
 *                                 temporary name, fsynced, checked with pg_restore --list), then
 *                                 "done SIZE SHA256"
 *   mbupgraded-db restore FILE    the database, same name, as FILE has it, in one transaction
 *                                 (what the role owns is dropped first); Metabase must be stopped
 *
 * The connection comes from the environment, never from the command line, where other users
 * could read it: MBUP_PG_CONNINFO (a libpq connection string without the password) and
 * PGPASSFILE (a 0600 file with the password). The daemon runs this helper as the unprivileged
 * mbupgrade-db and hands it what is root's as descriptors (passed.h): the password file's lines
 * on MBUP_DB_SECRET_FD (copied into a private directory for libpq and the tools), and for backup
 * and restore FILE itself, open, on MBUP_DB_FILE_FD (FILE then only names it in messages).
 * Reports on stdout, a line each, then "done" (exit 0) or "error KIND MESSAGE" (exit 1):
 *   server_version 150018
 *   database_size BYTES
 *   free_space unknown        (the server's disk is not visible through SQL)
 *   changelog_count N
 *   changelog_latest ID       (the newest Liquibase change set, by ORDEREXECUTED)
 *   changelog_id ID           (every applied change set, one line each, by ORDEREXECUTED)
 *   changelog_major N         (the newest applied major: the greatest first number of the IDs
 *                             'v<N>.…', Metabase's own rule for a downgrade; none without one)
 *   lock free | lock held BY SINCE
 *
 *   mbupgraded-db scratch-copy   a copy of the database, <db>_mbup_rehearsal, while Metabase runs
 *                                (pg_dump | pg_restore; CREATEDB needed), then "scratch NAME",
 *                                "database_size BYTES", "done"
 *   mbupgraded-db drop-scratch   drops that copy (its sessions ended first)
 *   mbupgraded-db activity       read only, for the verifier while Metabase starts: "changelog_count N"
 *                                and "activity N SECONDS" (the statements other sessions of this
 *                                database are running, not waiting on a lock, the oldest's age),
 *                                then "done"
 *   mbupgraded-db fleet-agent    a node's long-lived link to the fleet's coordination database
 *                                (pg-fleet.c)
 *
 * MBUP_DB_KIND=mysql (unset or "postgres": PostgreSQL) makes it the helper for a MySQL or MariaDB
 * application database instead: the same verbs and report lines, with the connection from
 * MBUP_MY_DEFAULTS (a 0600 option file) and MBUP_MY_DATABASE; see mysql.c.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hash.h"
#include "pg-fleet.h"
#include "pg-util.h"
#include "tools.h"
#include "macro.h"
#include "mysql-helper.h"
#include "passed.h"
#include "pg-clone.h"
#include "report.h"
#include "strv.h"

/* The changelog tables' names as this database has them: Liquibase creates them lower case on
 * PostgreSQL, but a database migrated from elsewhere may have them quoted in upper case. */
static int find_table(PGconn *c, const char *lower, char **ret) {
        _cleanup_pgresult_ PGresult *r = NULL;
        const char *params[1] = {lower};

        r = pg_query(
                c,
                "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables "
                "WHERE lower(table_name) = $1 AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema = current_schema() DESC LIMIT 1",
                1,
                params);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
                return -EIO;
        if (PQntuples(r) == 0)
                return -ENOENT;
        *ret = strdup(PQgetvalue(r, 0, 0));
        return *ret ? 0 : -ENOMEM;
}

/* Reports changelog_count (0 without the table); *ret_table is the table's name, or NULL when
 * there is none. Returns 0, or report_failure()'s status once it has reported. */
static int report_changelog_count(PGconn *c, char **ret_table) {
        _cleanup_pgresult_ PGresult *count = NULL;
        _cleanup_free_ char *table = NULL, *q = NULL;
        int r;

        *ret_table = NULL;
        r = find_table(c, "databasechangelog", &table);
        if (r == -ENOENT) {
                printf("changelog_count 0\n");
                return 0;
        }
        if (r < 0)
                return report_failure("query", "cannot look for DATABASECHANGELOG: %s", PQerrorMessage(c));
        q = strdup_printf("SELECT count(*) FROM %s", table);
        count = q ? PQexec(c, q) : NULL;
        if (PQresultStatus(count) != PGRES_TUPLES_OK)
                return report_failure("query", "cannot read DATABASECHANGELOG: %s", PQerrorMessage(c));
        report_value("changelog_count", PQgetvalue(count, 0, 0));
        *ret_table = TAKE_PTR(table);
        return 0;
}

/* Every applied change set, "changelog_id ID" each, in ORDEREXECUTED order: the daemon compares
 * them with the new JAR's (daemon/zero-downtime.h). */
static int report_changelog_ids(PGconn *c, const char *table) {
        _cleanup_pgresult_ PGresult *ids = NULL;
        _cleanup_free_ char *q = strdup_printf("SELECT id FROM %s ORDER BY orderexecuted", table);

        ids = q ? PQexec(c, q) : NULL;
        if (PQresultStatus(ids) != PGRES_TUPLES_OK)
                return report_failure("query", "cannot read DATABASECHANGELOG: %s", PQerrorMessage(c));
        for (int i = 0; i < PQntuples(ids); i++)
                report_value("changelog_id", PQgetvalue(ids, i, 0));
        return 0;
}

static int preflight(PGconn *c) {
        _cleanup_pgresult_ PGresult *size = NULL, *latest = NULL, *major = NULL, *lock = NULL;
        _cleanup_free_ char *changelog = NULL, *locktable = NULL, *q = NULL;
        int r;

        {
                char v[32];
                (void) snprintf(v, sizeof(v), "%d", PQserverVersion(c));
                report_value("server_version", v);
        }
        size = PQexec(c, "SELECT pg_database_size(current_database())");
        if (PQresultStatus(size) != PGRES_TUPLES_OK)
                return report_failure("query", "cannot read the database's size: %s", PQerrorMessage(c));
        report_value("database_size", PQgetvalue(size, 0, 0));
        printf("free_space unknown\n");

        r = report_changelog_count(c, &changelog);
        if (r != 0) /* reported */
                return r;
        if (changelog) {
                q = strdup_printf("SELECT id FROM %s ORDER BY orderexecuted DESC LIMIT 1", changelog);
                latest = q ? PQexec(c, q) : NULL;
                if (PQresultStatus(latest) != PGRES_TUPLES_OK)
                        return report_failure("query", "cannot read DATABASECHANGELOG: %s", PQerrorMessage(c));
                if (PQntuples(latest) > 0)
                        report_value("changelog_latest", PQgetvalue(latest, 0, 0));
                free(q);
                q = strdup_printf(
                        "SELECT max(substring(id from '^v([0-9]{1,5})\\.')::int) FROM %s WHERE id ~ '^v[0-9]{1,5}\\.'",
                        changelog);
                major = q ? PQexec(c, q) : NULL;
                if (PQresultStatus(major) != PGRES_TUPLES_OK)
                        return report_failure("query", "cannot read DATABASECHANGELOG: %s", PQerrorMessage(c));
                if (PQntuples(major) > 0 && !PQgetisnull(major, 0, 0))
                        report_value("changelog_major", PQgetvalue(major, 0, 0));
                r = report_changelog_ids(c, changelog);
                if (r != 0)
                        return r;
        }

        r = find_table(c, "databasechangeloglock", &locktable);
        if (r == -ENOENT)
                printf("lock free\n");
        else if (r < 0)
                return report_failure("query", "cannot look for DATABASECHANGELOGLOCK: %s", PQerrorMessage(c));
        else {
                free(q);
                q = strdup_printf(
                        "SELECT locked, coalesce(lockedby, '?'), coalesce(lockgranted::text, '?') FROM %s "
                        "WHERE locked",
                        locktable);
                lock = q ? PQexec(c, q) : NULL;
                if (PQresultStatus(lock) != PGRES_TUPLES_OK)
                        return report_failure(
                                "query", "cannot read DATABASECHANGELOGLOCK: %s", PQerrorMessage(c));
                if (PQntuples(lock) == 0)
                        printf("lock free\n");
                else
                        report_value("lock held", PQgetvalue(lock, 0, 1), PQgetvalue(lock, 0, 2));
        }
        printf("done\n");
        return 0;
}

/* How far the migration is, read from outside: DATABASECHANGELOG's rows (which other sessions
 * may only see once Metabase commits) and the statements the database's other sessions are
 * running now (a long ALTER leaves Metabase's JVM idle: the server is what works). A statement
 * waiting on a lock is not working. Read only, bounded by the statement_timeout main() sets. */
static int activity(PGconn *c) {
        _cleanup_pgresult_ PGresult *act = NULL;
        _cleanup_free_ char *changelog = NULL;
        int r;

        r = report_changelog_count(c, &changelog);
        if (r != 0) /* reported */
                return r;
        act = PQexec(
                c,
                "SELECT count(*), coalesce(max(extract(epoch FROM now() - query_start))::bigint, 0) "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND state = 'active' AND backend_type = 'client backend' "
                "AND coalesce(wait_event_type, '') <> 'Lock'");
        if (PQresultStatus(act) != PGRES_TUPLES_OK)
                return report_failure("query", "cannot read pg_stat_activity: %s", PQerrorMessage(c));
        report_value("activity", PQgetvalue(act, 0, 0), PQgetvalue(act, 0, 1));
        printf("done\n");
        return 0;
}

extern char **environ;

/* The client tool for this server: /usr/lib/postgresql/MAJOR/bin/TOOL of the server's major, else
 * the newest installed one that is newer (pg_dump reads older servers, not newer ones). */
static char *find_tool(const char *tool, int server_version) {
        int major = server_version / 10000;

        for (int v = major; v <= major + 10; v++) {
                char *p = strdup_printf("/usr/lib/postgresql/%d/bin/%s", v, tool);
                if (p && access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* Runs argv, its stdout to stderr (our stdout is the report) or, with quiet, to /dev/null; its
 * stderr to ours. Its exit status. */
static int run_tool_full(char *const argv[], bool quiet) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, r;

        (void) posix_spawn_file_actions_init(&fa);
        if (quiet)
                (void) posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        else
                (void) posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
        r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_tool(char *const argv[]) {
        return run_tool_full(argv, false);
}

/* Runs argv with stdin from in_fd and stdout to out_fd (-1: /dev/null); its exit status. */
static int run_tool_fds(char *const argv[], int in_fd, int out_fd) {
        pid_t pid;
        int r;

        r = spawn_piped(argv, in_fd, out_fd, &pid);
        return r < 0 ? r : wait_exit(pid);
}

/* Into FILE.tmp, renamed to FILE when it is whole; or, with MBUP_DB_FILE_FD, into the file the
 * daemon opened (FILE.tmp in its backup directory, O_EXCL, root's 0600), which the daemon renames
 * on "done": this helper can then write nothing else there. */
static int backup(PGconn *c, const char *conninfo, const char *out) {
        _cleanup_free_ char *pg_dump = find_tool("pg_dump", PQserverVersion(c)),
                            *pg_restore = find_tool("pg_restore", PQserverVersion(c)), *tmp = NULL,
                            *dbarg = NULL;
        _cleanup_close_ int fd = passed_file_fd();
        bool passed = fd >= 0;
        char sha[SHA256_HEX_SIZE];
        uint64_t size;
        int r;

        if (!pg_dump || !pg_restore)
                return report_failure(
                        "tool",
                        "no pg_dump for PostgreSQL %d: install postgresql-client-%d",
                        PQserverVersion(c) / 10000,
                        PQserverVersion(c) / 10000);
        tmp = passed ? strdup(out) : strdup_printf("%s.tmp", out);
        dbarg = strdup_printf("--dbname=%s", conninfo);
        if (!tmp || !dbarg)
                return report_failure("io", "out of memory");
        if (passed)
                /* a seekable stdout: pg_dump writes the table of contents' offsets back */
                r = run_tool_fds(
                        (char *[]){pg_dump, (char *) "--format=custom", (char *) "--no-password", dbarg, NULL},
                        -1,
                        fd);
        else {
                (void) unlink(tmp);
                r = run_tool((char *[]){
                        pg_dump,
                        (char *) "--format=custom",
                        (char *) "--no-password",
                        dbarg,
                        (char *) "--file",
                        tmp,
                        NULL});
        }
        if (r != 0) {
                if (!passed)
                        (void) unlink(tmp);
                return report_failure("dump", "%s failed (exit %d); see the daemon's log", pg_dump, r);
        }
        /* Readable, to the last entry, before it counts as a backup (the list itself is of no use). */
        if (passed)
                r = lseek(fd, 0, SEEK_SET) < 0
                        ? -errno
                        : run_tool_fds((char *[]){pg_restore, (char *) "--list", NULL}, fd, -1);
        else
                r = run_tool_full((char *[]){pg_restore, (char *) "--list", tmp, NULL}, true);
        if (r != 0) {
                if (!passed)
                        (void) unlink(tmp);
                return report_failure("dump", "the dump %s does not read back with pg_restore --list", tmp);
        }
        if (!passed)
                fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fsync(fd) < 0 || sha256_fd(fd, sha, &size) < 0) {
                if (!passed)
                        (void) unlink(tmp);
                return report_failure("io", "cannot write %s to disk: %m", tmp);
        }
        if (!passed) {
                (void) fchmod(fd, 0600);
                r = rename_and_sync(tmp, out);
                if (r < 0) {
                        (void) unlink(tmp);
                        return report_failure("io", "cannot rename %s to %s: %s", tmp, out, strerror(-r));
                }
        }
        printf("done %" PRIu64 " %s\n", size, sha);
        return 0;
}

/* Reads pg_restore's output up to and including its first line that is neither blank nor a "--"
 * comment, into buf (at most size bytes); that line must be "\restrict KEY" with our key: psql then
 * refuses every meta-command (\!, \i, \o, \copy ..., CVE-2025-8714) until "\unrestrict KEY",
 * which nothing in the archive can know. The bytes read, or -EPROTO when the line is another
 * (a pg_restore older than 15.14/16.10/17.6 refuses --restrict-key and writes nothing: -EPROTO). */
static ssize_t read_restrict_line(int fd, char *buf, size_t size, const char *key) {
        size_t have = 0, line = 0;

        for (;;) {
                char *nl = memchr(buf + line, '\n', have - line);
                if (!nl) {
                        if (have >= size)
                                return -EPROTO;
                        ssize_t n = read(fd, buf + have, size - have);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return -EPROTO;
                        have += (size_t) n;
                        continue;
                }
                size_t len = (size_t) (nl - (buf + line));
                const char *l = buf + line;
                if (len > 0 && !(len >= 2 && l[0] == '-' && l[1] == '-')) {
                        _cleanup_free_ char *want = strdup_printf("\\restrict %s", key);
                        if (!want || len != strlen(want) || memcmp(l, want, len) != 0)
                                return -EPROTO;
                        return (ssize_t) have;
                }
                line += len + 1;
        }
}

/* One pass: pg_restore writes the dump as SQL into a pipe, this copies it to psql inside a
 * transaction that first drops everything the role owns in this database (the newer version's
 * tables too, which pg_restore --clean would leave behind and whose CREATE would fail at the next
 * upgrade; pg_restore --dbname --single-transaction can't run that DROP in its own transaction,
 * hence psql). COMMIT is sent only when pg_restore read the whole dump and psql took every
 * statement (ON_ERROR_STOP): a damaged dump, or any error, ends in ROLLBACK or a dropped
 * connection, and the database stays as it was.
 *
 * psql runs no meta-command from the dump (issue 15): pg_restore reads only custom-format
 * archives (a plain-text dump is refused: "appears to be a text format dump"), and its output
 * starts with "\restrict KEY", a random key of ours, checked here before psql gets a byte of the
 * archive: from there psql accepts no backslash command but "\unrestrict KEY". A hostile archive
 * (a tampered backup, or object names chosen by a hostile server) can only carry SQL, run as the
 * application database's role. */
static int restore(int server_version, const char *conninfo, const char *in, int in_fd) {
        _cleanup_free_ char *pg_restore = find_tool("pg_restore", server_version),
                            *psql = find_tool("psql", server_version), *dbarg = NULL, *keyarg = NULL;
        int from[2] = {-1, -1}, to[2] = {-1, -1}, r_restore, r_psql;
        uint8_t rnd[16];
        char key[sizeof(rnd) * 2 + 1];
        ssize_t head;
        pid_t restore_pid = 0, psql_pid = 0;
        bool write_failed = false;
        static char buf[256 * 1024];
        ssize_t n;
        int r;

        if (!pg_restore || !psql)
                return report_failure(
                        "tool",
                        "no pg_restore/psql for PostgreSQL %d: install postgresql-client-%d",
                        server_version / 10000,
                        server_version / 10000);
        if (in_fd < 0 && access(in, R_OK) < 0)
                return report_failure("io", "cannot read the backup %s: %m", in);
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
                return report_failure("io", "cannot get random bytes: %m");
        for (size_t i = 0; i < sizeof(rnd); i++)
                (void) snprintf(key + 2 * i, 3, "%02x", rnd[i]);
        dbarg = strdup_printf("--dbname=%s", conninfo);
        keyarg = strdup_printf("--restrict-key=%s", key);
        if (!dbarg || !keyarg)
                return report_failure("io", "out of memory");
        if (pipe2(from, O_CLOEXEC) < 0 || pipe2(to, O_CLOEXEC) < 0)
                return report_failure("io", "cannot create a pipe: %m");
        /* psql's result rows (setval, ...) are of no use: its stdout goes nowhere. */
        r = spawn_piped(
                (char *[]){
                        psql,
                        (char *) "--no-psqlrc",
                        (char *) "--quiet",
                        (char *) "--no-password",
                        (char *) "--set=ON_ERROR_STOP=1",
                        dbarg,
                        NULL},
                to[0],
                -1,
                &psql_pid);
        if (r >= 0)
                r = spawn_piped(
                        (char *[]){
                                pg_restore,
                                (char *) "--no-owner",
                                (char *) "--no-privileges",
                                keyarg,
                                (char *) "--file=-",
                                /* the daemon's descriptor on stdin, or the path */
                                in_fd >= 0 ? NULL : (char *) in,
                                NULL},
                        in_fd,
                        from[1],
                        &restore_pid);
        (void) close(to[0]);
        (void) close(from[1]);
        if (r < 0) {
                (void) close(to[1]);
                (void) close(from[0]);
                if (psql_pid > 0)
                        (void) wait_exit(psql_pid);
                return report_failure(
                        "restore", "cannot run %s: %s", psql_pid > 0 ? pg_restore : psql, strerror(-r));
        }
        (void) signal(SIGPIPE, SIG_IGN);
        static const char begin[] = "BEGIN;\nDROP OWNED BY CURRENT_USER;\n";
        head = read_restrict_line(from[0], buf, sizeof(buf), key);
        if (head < 0) {
                /* psql gets nothing: EOF without COMMIT, nothing done */
                (void) close(to[1]);
                (void) close(from[0]);
                r_restore = wait_exit(restore_pid);
                (void) wait_exit(psql_pid);
                return report_failure(
                        "restore",
                        "the backup %s is not a PostgreSQL custom-format archive, or %s can't restrict psql's "
                        "meta-commands (pg_restore exit %d; --restrict-key needs postgresql-client 15.14, 16.10, "
                        "17.6 or newer); nothing was run, the database is as it was before",
                        in,
                        pg_restore,
                        r_restore);
        }
        write_failed = write_all(to[1], begin, strlen(begin)) < 0 || write_all(to[1], buf, (size_t) head) < 0;
        /* Pipe to pipe inside the kernel; read and write where splice can't. */
        bool can_splice = true, copied_all = false;
        while (!write_failed) {
                if (can_splice) {
                        n = splice(from[0], NULL, to[1], NULL, sizeof(buf), SPLICE_F_MOVE | SPLICE_F_MORE);
                        if (n < 0 && errno == EINVAL) {
                                can_splice = false;
                                continue;
                        }
                        if (n < 0 && errno == EPIPE)
                                write_failed = true;
                } else {
                        n = read(from[0], buf, sizeof(buf));
                        if (n > 0)
                                write_failed = write_all(to[1], buf, (size_t) n) < 0;
                }
                if (n == 0) {
                        copied_all = true; /* pg_restore's end of output */
                        break;
                }
                if (n < 0 && errno != EINTR)
                        break;
        }
        (void) close(from[0]); /* pg_restore gets EPIPE if psql stopped early */
        r_restore = wait_exit(restore_pid);
        if (!write_failed) {
                const char *end = r_restore == 0 && copied_all ? "COMMIT;\n" : "ROLLBACK;\n";
                write_failed = write_all(to[1], end, strlen(end)) < 0;
        }
        (void) close(to[1]);
        r_psql = wait_exit(psql_pid);
        if (r_restore != 0)
                return report_failure(
                        "restore",
                        "the backup %s can't be read (pg_restore exit %d); the database is as it was before",
                        in,
                        r_restore);
        if (r_psql != 0 || write_failed || !copied_all)
                return report_failure(
                        "restore",
                        "restoring %s failed (psql exit %d: an SQL error, or a meta-command the restricted psql refused; see "
                        "the daemon's log); the database is as it was before",
                        in,
                        r_psql);
        printf("done\n");
        return 0;
}

/* Rehearsals (issue 8): a scratch copy of the application database, <db>_mbup_rehearsal, taken
 * while Metabase keeps running (pg_dump's snapshot is consistent), for the new version to migrate;
 * and its removal. The name is always made here, from the application database's: no other
 * database can be dropped through these verbs. */
#define SCRATCH_SUFFIX "_mbup_rehearsal"

static char *scratch_name(PGconn *c) {
        return strdup_printf("%s" SCRATCH_SUFFIX, PQdb(c));
}

static int exec_ok(PGconn *c, const char *sql, char **ret_error) {
        _cleanup_pgresult_ PGresult *r = PQexec(c, sql);

        if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK)
                return 0;
        *ret_error = strdup(PQresultErrorMessage(r));
        return -EIO;
}

/* DROP DATABASE, its sessions ended first (a rehearsal's Metabase may still hold one). */
static int drop_scratch_database(PGconn *c, const char *name, char **ret_error) {
        _cleanup_free_ char *sql = NULL;
        char *ident = PQescapeIdentifier(c, name, strlen(name));

        if (!ident)
                return -ENOMEM;
        sql = strdup_printf(
                PQserverVersion(c) >= 130000 ? "DROP DATABASE IF EXISTS %s WITH (FORCE)"
                                             : "DROP DATABASE IF EXISTS %s",
                ident);
        PQfreemem(ident);
        if (!sql)
                return -ENOMEM;
        return exec_ok(c, sql, ret_error);
}

/* conninfo with dbname=name after it (libpq's quoting: ' and \\ escaped by a backslash). */
static char *conninfo_with_dbname(const char *conninfo, const char *name) {
        _cleanup_free_ char *q = malloc(strlen(name) * 2 + 1);
        char *p = q;

        if (!q)
                return NULL;
        for (const char *c = name; *c; c++) {
                if (*c == '\'' || *c == '\\')
                        *p++ = '\\';
                *p++ = *c;
        }
        *p = '\0';
        return strdup_printf("%s dbname='%s'", conninfo, q);
}

static int drop_scratch(PGconn *c) {
        _cleanup_free_ char *name = scratch_name(c), *error = NULL;

        if (!name)
                return report_failure("io", "out of memory");
        if (drop_scratch_database(c, name, &error) < 0)
                return report_failure("drop", "cannot drop %s: %s", name, strempty(error));
        printf("done\n");
        return 0;
}

static int scratch_copy(PGconn *c, const char *conninfo) {
        _cleanup_free_ char *name = scratch_name(c), *error = NULL, *sql = NULL, *dbarg = NULL,
                            *scratch_conninfo = NULL, *scratch_arg = NULL,
                            *pg_dump = find_tool("pg_dump", PQserverVersion(c)),
                            *pg_restore = find_tool("pg_restore", PQserverVersion(c));
        _cleanup_pgresult_ PGresult *size = NULL;
        int r_dump, r_restore, r;
        char *ident;

        if (!name)
                return report_failure("io", "out of memory");
        if (!pg_dump || !pg_restore)
                return report_failure(
                        "tool",
                        "no pg_dump/pg_restore for PostgreSQL %d: install postgresql-client-%d",
                        PQserverVersion(c) / 10000,
                        PQserverVersion(c) / 10000);
        /* A copy left by a rehearsal that was killed goes first. */
        if (drop_scratch_database(c, name, &error) < 0)
                return report_failure("drop", "cannot drop the old %s: %s", name, strempty(error));
        ident = PQescapeIdentifier(c, name, strlen(name));
        sql = ident ? strdup_printf("CREATE DATABASE %s", ident) : NULL;
        PQfreemem(ident);
        if (!sql)
                return report_failure("io", "out of memory");
        if (exec_ok(c, sql, &error) < 0)
                return report_failure(
                        "create",
                        "cannot create the scratch database %s: %s; a rehearsal needs a role that may create "
                        "databases: ALTER ROLE %s CREATEDB",
                        name,
                        strempty(error),
                        PQuser(c));
        /* What follows a key in a connection string wins: the same server and role, the copy. */
        scratch_conninfo = conninfo_with_dbname(conninfo, name);
        dbarg = strdup_printf("--dbname=%s", conninfo);
        scratch_arg = scratch_conninfo ? strdup_printf("--dbname=%s", scratch_conninfo) : NULL;
        if (!dbarg || !scratch_arg)
                return report_failure("io", "out of memory");
        r = run_pipeline(
                (char *[]){pg_dump, (char *) "--format=custom", (char *) "--no-password", dbarg, NULL},
                (char *[]){
                        pg_restore,
                        (char *) "--no-password",
                        (char *) "--no-owner",
                        (char *) "--no-privileges",
                        (char *) "--single-transaction",
                        (char *) "--exit-on-error",
                        scratch_arg,
                        NULL},
                &r_dump,
                &r_restore);
        if (r < 0 || r_dump != 0 || r_restore != 0) {
                free(error);
                error = NULL;
                (void) drop_scratch_database(c, name, &error);
                return report_failure(
                        "copy",
                        "copying %s into %s failed (pg_dump exit %d, pg_restore exit %d%s%s); the scratch copy is "
                        "dropped, the application database untouched",
                        PQdb(c),
                        name,
                        r_dump,
                        r_restore,
                        r < 0 ? ", " : "",
                        r < 0 ? strerror(-r) : "");
        }
        {
                const char *params[1] = {name};
                size = pg_query(c, "SELECT pg_database_size($1)", 1, params);
        }
        report_value("scratch", name);
        if (PQresultStatus(size) == PGRES_TUPLES_OK && PQntuples(size) == 1)
                report_value("database_size", PQgetvalue(size, 0, 0));
        printf("done\n");
        return 0;
}

/* The verbs both kinds have: preflight, backup FILE, restore FILE; else usage (exit 2). */
static int check_verb(int argc, char *argv[], const char *connection) {
        if ((argc == 2 &&
             (streq(argv[1], "preflight") || streq(argv[1], "scratch-copy") ||
              streq(argv[1], "drop-scratch") || streq(argv[1], "activity"))) ||
            (argc == 3 && (streq(argv[1], "backup") || streq(argv[1], "restore"))))
                return 0;
        fprintf(stderr,
                "usage: %s preflight | activity | backup FILE | restore FILE | scratch-copy | drop-scratch   (%s)\n",
                program_invocation_short_name,
                connection);
        (void) report_failure(
                "usage",
                "expected: preflight, activity, backup FILE, restore FILE, scratch-copy or drop-scratch");
        return 2;
}

int main(int argc, char *argv[]) {
        _cleanup_pgconn_ PGconn *c = NULL;
        const char *conninfo = secure_getenv("MBUP_PG_CONNINFO"), *kind = secure_getenv("MBUP_DB_KIND");

        if (streq(strempty(kind), "mysql"))
                return check_verb(
                               argc,
                               argv,
                               "MBUP_DB_KIND=mysql: connection from MBUP_MY_DATABASE and MBUP_MY_DEFAULTS or "
                               "MBUP_DB_SECRET_FD; FILE, or open on MBUP_DB_FILE_FD")
                        ?: passed_secret_setup("MBUP_MY_DEFAULTS") ?: mysql_main(argc, argv); /* mysql.c */
        if (!isempty(kind) && !streq(kind, "postgres")) {
                (void) report_failure("usage", "MBUP_DB_KIND=%s: expected postgres or mysql", kind);
                return 2;
        }
        /* The daemon's credentials, from a descriptor: PGPASSFILE for every verb below. */
        if (passed_secret_setup("PGPASSFILE") != 0)
                return 1;
        if (argc >= 2 && pg_clone_verb(argv[1]))
                return pg_clone_main(argc, argv);
        if (argc >= 2 && streq(argv[1], "fleet-agent"))
                return pg_fleet_main(argc, argv);
        if (check_verb(
                    argc,
                    argv,
                    "connection from MBUP_PG_CONNINFO and PGPASSFILE or MBUP_DB_SECRET_FD; FILE, or open on "
                    "MBUP_DB_FILE_FD") != 0)
                return 2;
        if (isempty(conninfo)) {
                (void) report_failure("usage", "MBUP_PG_CONNINFO is not set");
                return 2;
        }
        c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK)
                return report_failure(
                        "connect", "cannot connect to the application database: %s", PQerrorMessage(c));
        if (streq(argv[1], "backup"))
                return backup(c, conninfo, argv[2]) == 0 ? 0 : 1;
        if (streq(argv[1], "scratch-copy"))
                return scratch_copy(c, conninfo) == 0 ? 0 : 1;
        if (streq(argv[1], "drop-scratch"))
                return drop_scratch(c) == 0 ? 0 : 1;
        if (streq(argv[1], "restore")) {
                /* pg_restore connects on its own; ours is only for the server's version. */
                int version = PQserverVersion(c);
                _cleanup_close_ int in_fd = passed_file_fd();
                PQfinish(TAKE_PTR(c));
                return restore(version, conninfo, argv[2], in_fd) == 0 ? 0 : 1;
        }
        /* Read only, and never waiting long on a lock of Metabase's. */
        PQclear(PQexec(c, "SET default_transaction_read_only = on"));
        if (streq(argv[1], "activity")) {
                /* asked every few seconds while Metabase migrates: short */
                PQclear(PQexec(c, "SET statement_timeout = '5s'"));
                PQclear(PQexec(c, "SET lock_timeout = '1s'"));
                return activity(c) == 0 ? 0 : 1;
        }
        PQclear(PQexec(c, "SET statement_timeout = '30s'"));
        return preflight(c) == 0 ? 0 : 1;
}
