/* SPDX-License-Identifier: MIT */
/* mbupgraded-db for a MySQL or MariaDB application database: what db.c runs when MBUP_DB_KIND=mysql.
 * The same verbs, report lines and exit statuses as for PostgreSQL (see db.c):
 *
 *   mbupgraded-db preflight      libmariadb, read only, short timeouts: server_version (the server's
 *                                version string, e.g. 10.11.6-MariaDB-0+deb12u1), database_size
 *                                (data + index of the database's tables, information_schema's
 *                                figures), free_space unknown, changelog_count, changelog_latest,
 *                                changelog_major, changelog_id (each applied one), lock free |
 *                                lock held BY since WHEN, done
 *   mbupgraded-db backup FILE    mysqldump --single-transaction --routines --triggers --hex-blob
 *                                --no-tablespaces DATABASE (its tables only, no CREATE DATABASE: it
 *                                restores into the same name) into FILE.tmp, 0600 from the start;
 *                                complete (its last line "-- Dump completed"), fsynced, renamed to
 *                                FILE: "done SIZE SHA256"
 *   mbupgraded-db restore FILE   FILE checked to be a complete dump first (else nothing is touched);
 *                                then every view, table and routine of the database dropped and
 *                                FILE loaded with the mariadb client in --sandbox mode (no \!,
 *                                system, source, tee: a client without --sandbox is refused
 *                                before anything is dropped), which stops at the first error.
 *                                Metabase must be stopped. MySQL can't drop tables inside a
 *                                transaction: a load that fails half-way says the database is
 *                                partly restored, and running the restore again finishes it.
 *
 *   mbupgraded-db scratch-copy   the database copied into DATABASE_mbup_rehearsal while Metabase
 *                                runs (mysqldump --single-transaction piped into the client):
 *                                "scratch NAME", "database_size BYTES", "done"; a copy left from
 *                                before is dropped first, a failed one is dropped
 *   mbupgraded-db drop-scratch   that copy dropped, its connections killed first
 *
 * The connection comes from the environment, the password never from a command line:
 * MBUP_MY_DEFAULTS, a 0600 option file with a [client] section (host=, port=, user=, password=)
 * that libmariadb reads and the clients get as --defaults-extra-file (their first option), and
 * MBUP_MY_DATABASE, the database (from the daemon: the option file's text on MBUP_DB_SECRET_FD and
 * FILE open on MBUP_DB_FILE_FD, see passed.h). The clients are mariadb and mariadb-dump, else mysql and
 * mysqldump, from PATH; without them every verb fails with "error tool ..." (install
 * mariadb-client), so pre-flight finds out before anything is stopped.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <mysql.h>
#include <spawn.h>
#include <sys/mman.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "tools.h"
#include "hash.h"
#include "macro.h"
#include "mysql-helper.h"
#include "passed.h"
#include "report.h"
#include "strv.h"

DEFINE_POINTER_CLEANUP(MYSQL, mysql_close, mysql_closep);
DEFINE_POINTER_CLEANUP(MYSQL_RES, mysql_free_result, mysql_free_resultp);
#define _cleanup_mysql_ _cleanup_(mysql_closep)
#define _cleanup_mysql_res_ _cleanup_(mysql_free_resultp)

/* Seconds: a server that does not answer is an error, not a hang of the upgrade. */
#define CONNECT_TIMEOUT_SEC 10U
#define READ_TIMEOUT_SEC 30U

#define TOOL_MISSING "no mysqldump/mysql client: install mariadb-client (apt install mariadb-client)"

bool mydb_database_name_is_valid(const char *s) {
        size_t n;

        if (isempty(s) || s[0] == '-')
                return false;
        n = strlen(s);
        if (n > 64 || s[n - 1] == ' ')
                return false;
        for (const char *c = s; *c; c++)
                if ((unsigned char) *c < ' ' || *c == 0x7f)
                        return false;
        return true;
}

char *mydb_quote_identifier(const char *name) {
        size_t n = 2;
        char *q, *p;

        for (const char *c = name; *c; c++)
                n += *c == '`' ? 2 : 1;
        q = malloc(n + 1);
        if (!q)
                return NULL;
        p = q;
        *p++ = '`';
        for (const char *c = name; *c; c++) {
                if (*c == '`')
                        *p++ = '`';
                *p++ = *c;
        }
        *p++ = '`';
        *p = '\0';
        return q;
}

static bool line_starts_with(const char *line, size_t n, const char *prefix) {
        size_t k = strlen(prefix);
        return n >= k && memcmp(line, prefix, k) == 0;
}

const char *mydb_dump_head_problem(const char *head, size_t n) {
        /* MariaDB's dump may open with a "sandbox mode" comment line before its header. */
        for (unsigned lines = 0; n > 0 && lines < 3; lines++) {
                const char *nl = memchr(head, '\n', n);
                size_t len = nl ? (size_t) (nl - head) : n;

                if (line_starts_with(head, len, "-- MySQL dump ") ||
                    line_starts_with(head, len, "-- MariaDB dump "))
                        return NULL;
                if (!nl)
                        break;
                n -= len + 1;
                head = nl + 1;
        }
        return "it does not start like a mysqldump file";
}

const char *mydb_dump_tail_problem(const char *tail, size_t n) {
        const char *start;

        /* the last line, without its newline(s) */
        while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
                n--;
        start = memrchr(tail, '\n', n);
        start = start ? start + 1 : tail;
        if (!line_starts_with(start, n - (size_t) (start - tail), "-- Dump completed"))
                return "it does not end with \"-- Dump completed\": the dump was cut short";
        return NULL;
}

static bool is_word_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '$';
}

size_t mydb_dump_client_command(const char *s, size_t n) {
        static const char marker[] = "/*M!999999\\- enable the sandbox mode */";
        static const char *const words[] = {"system", "source", "tee", "pager", "edit", "connect"};
        enum { NORMAL, QUOTED, BLOCK, LINE } state = NORMAL;
        char quote = 0;
        size_t line = 1, i = 0;
        bool line_start = true;

        if (n >= strlen(marker) && memcmp(s, marker, strlen(marker)) == 0)
                i = strlen(marker);
        for (; i < n; i++) {
                char c = s[i];

                if (c == '\n') {
                        line++;
                        line_start = true;
                        if (state == LINE)
                                state = NORMAL;
                        continue;
                }
                switch (state) {
                case NORMAL:
                        if (line_start && (c == ' ' || c == '\t' || c == '\r'))
                                continue;
                        if (line_start) {
                                line_start = false;
                                for (size_t w = 0; w < ELEMENTSOF(words); w++) {
                                        size_t k = strlen(words[w]);
                                        if (n - i >= k && strncasecmp(s + i, words[w], k) == 0 &&
                                            (n - i == k || !is_word_char(s[i + k])))
                                                return line;
                                }
                        }
                        if (c == '\\')
                                return line;
                        if (c == '\'' || c == '"' || c == '`') {
                                state = QUOTED;
                                quote = c;
                        } else if (c == '#')
                                state = LINE;
                        else if (
                                c == '-' && i + 1 < n && s[i + 1] == '-' &&
                                (i + 2 == n || s[i + 2] == ' ' || s[i + 2] == '\t' || s[i + 2] == '\n' ||
                                 s[i + 2] == '\r'))
                                state = LINE;
                        else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
                                /* an executable comment (slash-star-bang, slash-star-M-bang) holds SQL: lexed as SQL */
                                if (!(i + 2 < n && (s[i + 2] == '!' || s[i + 2] == 'M')))
                                        state = BLOCK;
                                i++;
                        }
                        break;
                case QUOTED:
                        line_start = false;
                        if (c == '\\' && quote != '`')
                                i++; /* an escaped character, whatever it is */
                        else if (c == quote) {
                                if (i + 1 < n && s[i + 1] == quote)
                                        i++;
                                else
                                        state = NORMAL;
                        }
                        break;
                case BLOCK:
                        line_start = false;
                        if (c == '\\')
                                return line;
                        if (c == '*' && i + 1 < n && s[i + 1] == '/') {
                                state = NORMAL;
                                i++;
                        }
                        break;
                case LINE:
                        break;
                }
        }
        return 0;
}

/* Reads the first and the last few KiB of a dump and checks both ends; NULL if they are right. */
static const char *dump_problem(int fd) {
        char buf[4096];
        struct stat st;
        ssize_t k;
        const char *problem;

        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return "it is not a regular file";
        k = pread(fd, buf, sizeof(buf), 0);
        if (k < 0)
                return "it can't be read";
        problem = mydb_dump_head_problem(buf, (size_t) k);
        if (problem)
                return problem;
        k = pread(fd, buf, sizeof(buf), st.st_size > (off_t) sizeof(buf) ? st.st_size - (off_t) sizeof(buf) : 0);
        if (k < 0)
                return "it can't be read";
        return mydb_dump_tail_problem(buf, (size_t) k);
}

/* The first executable 'name' in PATH (or the usual directories without one). */
static char *find_program(const char *name) {
        const char *path = secure_getenv("PATH");

        if (isempty(path))
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (const char *p = path; *p;) {
                size_t len = strcspn(p, ":");
                struct stat st;

                if (len > 0) {
                        char *f = strdup_printf("%.*s/%s", (int) len, p, name);
                        if (!f)
                                return NULL;
                        if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0)
                                return f;
                        free(f);
                }
                p += len;
                if (*p == ':')
                        p++;
        }
        return NULL;
}

typedef struct Clients {
        char *client; /* mariadb or mysql */
        char *dump;   /* mariadb-dump or mysqldump */
} Clients;

static void clients_done(Clients *c) {
        c->client = mfree_str(c->client);
        c->dump = mfree_str(c->dump);
}

/* A client and a dump tool of the same family: MariaDB's names first, then MySQL's. */
static int find_clients(Clients *ret) {
        static const char *const pairs[][2] = {{"mariadb", "mariadb-dump"}, {"mysql", "mysqldump"}};

        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                _cleanup_free_ char *client = find_program(pairs[i][0]), *dump = find_program(pairs[i][1]);
                if (client && dump) {
                        ret->client = TAKE_PTR(client);
                        ret->dump = TAKE_PTR(dump);
                        return 0;
                }
        }
        return -ENOENT;
}

extern char **environ;

/* Runs argv with stdin from stdin_fd (negative: ours), its stdout to out_fd (negative: our stderr,
 * as its stderr; our stdout is the report); its exit status. */
static int run_tool(char *const argv[], int stdin_fd, int out_fd) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status, r;

        (void) posix_spawn_file_actions_init(&fa);
        if (stdin_fd >= 0)
                (void) posix_spawn_file_actions_adddup2(&fa, stdin_fd, STDIN_FILENO);
        (void) posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : STDERR_FILENO, STDOUT_FILENO);
        r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static MYSQL *connect_db(const char *defaults, const char *database) {
        _cleanup_mysql_ MYSQL *m = mysql_init(NULL);
        unsigned connect_timeout = CONNECT_TIMEOUT_SEC, rw_timeout = READ_TIMEOUT_SEC, local_infile = 0;

        if (!m) {
                (void) report_failure("io", "out of memory");
                return NULL;
        }
        (void) mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
        (void) mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
        (void) mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
        (void) mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &local_infile);
        (void) mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        (void) mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, defaults);
        (void) mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, "client");
        /* host, port, user and password from the option file */
        if (!mysql_real_connect(m, NULL, NULL, NULL, database, 0, NULL, 0)) {
                (void) report_failure(
                        "connect", "cannot connect to the application database: %s", mysql_error(m));
                return NULL;
        }
        return TAKE_PTR(m);
}

/* Every applied change set, "changelog_id ID" each, in ORDEREXECUTED order (db.c's alike). */
static int report_changelog_ids(MYSQL *m, const char *table) {
        _cleanup_mysql_res_ MYSQL_RES *res = NULL;
        _cleanup_free_ char *q = strdup_printf("SELECT ID FROM %s ORDER BY ORDEREXECUTED", table);
        MYSQL_ROW row;

        if (!q)
                return report_failure("io", "out of memory");
        if (mysql_query(m, q) != 0 || !(res = mysql_store_result(m)))
                return report_failure("query", "cannot read DATABASECHANGELOG: %s", mysql_error(m));
        while ((row = mysql_fetch_row(res)))
                if (row[0])
                        report_value("changelog_id", row[0]);
        return 0;
}

/* The first row of a query's result, ncols columns, each a new string ("" for NULL) in ret[].
 * 1 with a row, 0 without (ret[] untouched), -EIO on an error (mysql_error() says which). */
static int query_row(MYSQL *m, const char *sql, unsigned ncols, char *ret[]) {
        _cleanup_mysql_res_ MYSQL_RES *res = NULL;
        MYSQL_ROW row;

        if (mysql_query(m, sql) != 0)
                return -EIO;
        res = mysql_store_result(m);
        if (!res || mysql_num_fields(res) < ncols)
                return -EIO;
        row = mysql_fetch_row(res);
        if (!row)
                return 0;
        for (unsigned i = 0; i < ncols; i++) {
                unsigned long *len = mysql_fetch_lengths(res);
                /* as the server has it (up to a NUL): report_values() escapes it for the daemon */
                ret[i] = strndup(strempty(row[i]), row[i] ? len[i] : 0);
                if (!ret[i]) {
                        for (unsigned j = 0; j < i; j++)
                                ret[j] = mfree_str(ret[j]);
                        return -ENOMEM;
                }
        }
        return 1;
}

/* The name of a Liquibase table as this database has it, quoted: upper case as Liquibase creates
 * it on MySQL, or lower case (a database that came from elsewhere). -ENOENT if there is none. */
static int find_table(MYSQL *m, const char *upper, char **ret) {
        _cleanup_free_ char *sql = NULL, *name = NULL;
        int r;

        /* information_schema's names compare without case on MariaDB: the exact one wins */
        sql = strdup_printf(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND UPPER(TABLE_NAME) = '%s' ORDER BY CAST(TABLE_NAME AS BINARY) = '%s' DESC LIMIT 1",
                upper,
                upper);
        if (!sql)
                return -ENOMEM;
        r = query_row(m, sql, 1, &name);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        *ret = mydb_quote_identifier(name);
        return *ret ? 0 : -ENOMEM;
}

/* Reports changelog_count (0 without the table); *ret_table is the table's name, or NULL when
 * there is none. Returns 0, or report_failure()'s status once it has reported. */
static int report_changelog_count(MYSQL *m, char **ret_table) {
        _cleanup_free_ char *table = NULL, *q = NULL, *count = NULL;
        int r;

        *ret_table = NULL;
        r = find_table(m, "DATABASECHANGELOG", &table);
        if (r == -ENOENT) {
                printf("changelog_count 0\n");
                return 0;
        }
        if (r < 0)
                return report_failure("query", "cannot look for DATABASECHANGELOG: %s", mysql_error(m));
        q = strdup_printf("SELECT COUNT(*) FROM %s", table);
        if (!q)
                return report_failure("io", "out of memory");
        if (query_row(m, q, 1, &count) <= 0)
                return report_failure("query", "cannot read DATABASECHANGELOG: %s", mysql_error(m));
        report_value("changelog_count", count);
        *ret_table = TAKE_PTR(table);
        return 0;
}

static int preflight(MYSQL *m) {
        _cleanup_free_ char *version = NULL, *size = NULL, *changelog = NULL, *locktable = NULL, *q = NULL,
                            *latest = NULL, *major = NULL;
        char *lock[2] = {};
        int r;

        /* read only, and never waiting long on a lock of Metabase's; a server that does not know
         * one of these settings (MySQL or MariaDB only) still answers the queries */
        (void) mysql_query(m, "SET SESSION TRANSACTION READ ONLY");
        (void) mysql_query(m, "SET SESSION lock_wait_timeout = 10");

        version = strdup(mysql_get_server_info(m));
        if (!version)
                return report_failure("io", "out of memory");
        for (char *c = version; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f)
                        *c = '_';
        report_value("server_version", version);

        r = query_row(
                m,
                "SELECT CAST(COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS UNSIGNED) "
                "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
                1,
                &size);
        if (r <= 0)
                return report_failure("query", "cannot read the database's size: %s", mysql_error(m));
        report_value("database_size", size);
        printf("free_space unknown\n");

        r = report_changelog_count(m, &changelog);
        if (r != 0) /* reported */
                return r;
        if (changelog) {
                q = strdup_printf("SELECT ID FROM %s ORDER BY ORDEREXECUTED DESC LIMIT 1", changelog);
                if (!q)
                        return report_failure("io", "out of memory");
                r = query_row(m, q, 1, &latest);
                if (r < 0)
                        return report_failure("query", "cannot read DATABASECHANGELOG: %s", mysql_error(m));
                if (r > 0)
                        report_value("changelog_latest", latest);
                free(q);
                q = strdup_printf(
                        "SELECT CAST(MAX(CAST(SUBSTRING_INDEX(SUBSTRING(ID, 2), '.', 1) AS UNSIGNED)) AS CHAR) "
                        "FROM %s WHERE ID REGEXP '^v[0-9]{1,5}[.]'",
                        changelog);
                if (!q)
                        return report_failure("io", "out of memory");
                r = query_row(m, q, 1, &major);
                if (r < 0)
                        return report_failure("query", "cannot read DATABASECHANGELOG: %s", mysql_error(m));
                if (r > 0 && !isempty(major))
                        report_value("changelog_major", major);
                r = report_changelog_ids(m, changelog);
                if (r != 0)
                        return r;
        }

        r = find_table(m, "DATABASECHANGELOGLOCK", &locktable);
        if (r == -ENOENT)
                printf("lock free\n");
        else if (r < 0)
                return report_failure("query", "cannot look for DATABASECHANGELOGLOCK: %s", mysql_error(m));
        else {
                free(q);
                /* LOCKED is BIT(1) under Liquibase on MySQL: compared as a number */
                q = strdup_printf(
                        "SELECT COALESCE(LOCKEDBY, '?'), COALESCE(CAST(LOCKGRANTED AS CHAR), '?') FROM %s "
                        "WHERE LOCKED <> 0 LIMIT 1",
                        locktable);
                if (!q)
                        return report_failure("io", "out of memory");
                r = query_row(m, q, 2, lock);
                if (r < 0)
                        return report_failure("query", "cannot read DATABASECHANGELOGLOCK: %s", mysql_error(m));
                if (r == 0)
                        printf("lock free\n");
                else
                        report_value("lock held", lock[0], lock[1]);
                free(lock[0]);
                free(lock[1]);
        }
        printf("done\n");
        return 0;
}

/* As db.c's activity(): DATABASECHANGELOG's rows and the statements other sessions of this
 * database run now, not waiting on a lock. PROCESSLIST shows a user its own sessions (Metabase's
 * are the same user's). */
static int activity(MYSQL *m) {
        _cleanup_free_ char *changelog = NULL;
        char *act[2] = {};
        int r;

        (void) mysql_query(m, "SET SESSION TRANSACTION READ ONLY");
        (void) mysql_query(m, "SET SESSION lock_wait_timeout = 1");
        r = report_changelog_count(m, &changelog);
        if (r != 0) /* reported */
                return r;
        r = query_row(
                m,
                "SELECT COUNT(*), COALESCE(MAX(TIME), 0) FROM information_schema.PROCESSLIST "
                "WHERE DB = DATABASE() AND COMMAND = 'Query' AND ID <> CONNECTION_ID() "
                "AND COALESCE(STATE, '') NOT LIKE 'Waiting for%lock'",
                2,
                act);
        if (r <= 0)
                return report_failure("query", "cannot read PROCESSLIST: %s", mysql_error(m));
        report_value("activity", act[0], act[1]);
        free(act[0]);
        free(act[1]);
        printf("done\n");
        return 0;
}

#define DUMP_ARGV_MAX 12

/* The dump tool's command line for the whole database: its tables, routines and triggers, one
 * consistent snapshot, into result_arg ("--result-file=FILE") or to stdout (NULL). */
static void
dump_argv(const Clients *c, char *defarg, char *result_arg, const char *database, char *argv[DUMP_ARGV_MAX]) {
        size_t n = 0;

        argv[n++] = c->dump;
        argv[n++] = defarg; /* first, or the tool ignores it */
        argv[n++] = (char *) "--single-transaction";
        argv[n++] = (char *) "--routines";
        argv[n++] = (char *) "--triggers";
        argv[n++] = (char *) "--hex-blob";
        argv[n++] = (char *) "--no-tablespaces";
        argv[n++] = (char *) "--default-character-set=utf8mb4";
        argv[n++] = (char *) "--max-allowed-packet=1G";
        if (result_arg)
                argv[n++] = result_arg;
        else
                /* into the client directly: no comment lines, where mariadb-dump writes names as
                 * they are (a newline in one would start a client command line) */
                argv[n++] = (char *) "--skip-comments";
        argv[n++] = (char *) database;
        argv[n] = NULL;
}

/* Into FILE.tmp, renamed to FILE when it is whole; or, with MBUP_DB_FILE_FD, into the file the
 * daemon opened (FILE.tmp in its backup directory, O_EXCL, root's 0600), which the daemon renames
 * on "done": this helper can then write nothing else there. */
static int backup(const Clients *c, const char *defaults, const char *database, const char *out) {
        _cleanup_free_ char *tmp = NULL, *defarg = NULL, *resarg = NULL;
        char *argv[DUMP_ARGV_MAX];
        _cleanup_close_ int fd = passed_file_fd();
        bool passed = fd >= 0;
        char sha[SHA256_HEX_SIZE];
        const char *problem;
        uint64_t size;
        int r;

        tmp = passed ? strdup(out) : strdup_printf("%s.tmp", out);
        defarg = strdup_printf("--defaults-extra-file=%s", defaults);
        /* into the descriptor: stdout, with the comments (the default; "-- Dump completed" is one)
         * where --result-file would stand */
        resarg = !tmp ? NULL : passed ? strdup("--comments") : strdup_printf("--result-file=%s", tmp);
        if (!defarg || !resarg)
                return report_failure("io", "out of memory");
        if (!passed)
                (void) unlink(tmp);
        dump_argv(c, defarg, resarg, database, argv);
        r = run_tool(argv, -1, fd);
        if (r != 0) {
                if (!passed)
                        (void) unlink(tmp);
                return report_failure("dump", "%s failed (exit %d); see the daemon's log", c->dump, r);
        }
        if (!passed)
                fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                (void) unlink(tmp);
                return report_failure("io", "cannot open the dump %s: %m", tmp);
        }
        /* Complete, to its last line, before it counts as a backup. */
        problem = dump_problem(fd);
        if (problem) {
                if (!passed)
                        (void) unlink(tmp);
                return report_failure("dump", "the dump %s is not complete: %s", tmp, problem);
        }
        if (fsync(fd) < 0 || sha256_fd(fd, sha, &size) < 0 || (!passed && fchmod(fd, 0600) < 0)) {
                if (!passed)
                        (void) unlink(tmp);
                return report_failure("io", "cannot write %s to disk: %m", tmp);
        }
        if (!passed) {
                r = rename_and_sync(tmp, out);
                if (r < 0) {
                        (void) unlink(tmp);
                        return report_failure("io", "cannot rename %s to %s: %s", tmp, out, strerror(-r));
                }
        }
        printf("done %" PRIu64 " %s\n", size, sha);
        return 0;
}

/* One "DROP VIEW|TABLE|PROCEDURE|FUNCTION IF EXISTS `a`[, `b`...]" per kind of object the
 * database holds (routines one at a time: MySQL drops them singly); -EIO with mysql_error(). */
static int drop_everything(MYSQL *m) {
        static const struct {
                const char *list, *drop;
                bool single;
        } kinds[] = {
                {"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                 "AND TABLE_TYPE = 'VIEW'",
                 "DROP VIEW IF EXISTS",
                 false},
                {"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                 "AND TABLE_TYPE <> 'VIEW'",
                 "DROP TABLE IF EXISTS",
                 false},
                {"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                 "AND ROUTINE_TYPE = 'PROCEDURE'",
                 "DROP PROCEDURE IF EXISTS",
                 true},
                {"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() "
                 "AND ROUTINE_TYPE = 'FUNCTION'",
                 "DROP FUNCTION IF EXISTS",
                 true},
        };

        /* a table still in use (Metabase not stopped after all) is an error soon, not a hang */
        (void) mysql_query(m, "SET SESSION lock_wait_timeout = 10");
        if (mysql_query(m, "SET FOREIGN_KEY_CHECKS = 0") != 0)
                return -EIO;
        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                _cleanup_mysql_res_ MYSQL_RES *res = NULL;
                _cleanup_strv_free_ char **stmts = NULL;
                _cleanup_free_ char *sql = NULL;
                MYSQL_ROW row;

                if (mysql_query(m, kinds[k].list) != 0)
                        return -EIO;
                res = mysql_store_result(m);
                if (!res)
                        return -EIO;
                while ((row = mysql_fetch_row(res))) {
                        _cleanup_free_ char *id = mydb_quote_identifier(strempty(row[0]));
                        char *s;

                        if (!id)
                                return -ENOMEM;
                        s = sql ? strdup_printf("%s, %s", sql, id) : strdup_printf("%s %s", kinds[k].drop, id);
                        if (!s)
                                return -ENOMEM;
                        free(sql);
                        sql = s;
                        if (kinds[k].single) {
                                if (strv_extend(&stmts, sql) < 0)
                                        return -ENOMEM;
                                sql = mfree_str(sql);
                        }
                }
                if (sql && strv_extend(&stmts, sql) < 0)
                        return -ENOMEM;
                for (char **s = stmts; s && *s; s++)
                        if (mysql_query(m, *s) != 0)
                                return -EIO;
        }
        return 0;
}

/* Whether the client has --sandbox (MariaDB's client from 10.5.25, 10.6.18, 10.11.8, 11.0.6 on):
 * "Disallow commands that access the file system". Read from its --help, which lists it; the
 * client exits 0 on an unknown option next to --help or --version, so trying the option says
 * nothing. */
static bool client_has_sandbox(const Clients *c) {
        _cleanup_free_ char *out = NULL;
        size_t have = 0, size = 256 * 1024;
        int p[2];
        pid_t pid;
        bool found;

        out = malloc(size + 1);
        if (!out || pipe2(p, O_CLOEXEC) < 0)
                return false;
        if (spawn_piped(
                    (char *[]){c->client, (char *) "--no-defaults", (char *) "--help", NULL}, -1, p[1], &pid) <
            0) {
                (void) close(p[0]);
                (void) close(p[1]);
                return false;
        }
        (void) close(p[1]);
        for (;;) {
                ssize_t n = read(p[0], out + have, size - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
                if (have == size)
                        break;
        }
        (void) close(p[0]);
        (void) wait_exit(pid);
        out[have] = '\0';
        found = strstr(out, "\n  --sandbox ") != NULL;
        return found;
}

/* FILE from MBUP_DB_FILE_FD's descriptor (the daemon opened it), else by its path. */
static int restore(const Clients *c, const char *defaults, const char *database, const char *in) {
        _cleanup_mysql_ MYSQL *m = NULL;
        _cleanup_free_ char *defarg = NULL, *dbarg = NULL;
        _cleanup_close_ int fd = passed_file_fd();
        const char *problem;
        int r;

        /* The whole check before anything is touched: a dump cut short stops here, and so does one
         * that carries client commands (issue 15). */
        {
                if (fd < 0)
                        fd = open(in, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return report_failure(
                                "restore",
                                "cannot read the backup %s: %m; the database is as it was before",
                                in);
                problem = dump_problem(fd);
                if (!problem) {
                        struct stat st;
                        void *map = MAP_FAILED;
                        if (fstat(fd, &st) < 0 ||
                            (st.st_size > 0 &&
                             (map = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
                                     MAP_FAILED))
                                return report_failure(
                                        "restore",
                                        "cannot read the backup %s: %m; the database is as it was before",
                                        in);
                        size_t line = map == MAP_FAILED ? 0
                                                        : mydb_dump_client_command(map, (size_t) st.st_size);
                        if (map != MAP_FAILED)
                                (void) munmap(map, (size_t) st.st_size);
                        if (line > 0)
                                return report_failure(
                                        "restore",
                                        "the backup %s can't be used: line %zu is a client command (\\!, system, "
                                        "source ...), which mariadb-dump never writes: the dump was tampered with; "
                                        "nothing was run, the database is as it was before",
                                        in,
                                        line);
                }
        }
        if (problem)
                return report_failure(
                        "restore",
                        "the backup %s can't be used: %s; the database is as it was before",
                        in,
                        problem);

        /* The dump is text for the client, which would run its \! (system), \. (source), \T (tee)
         * and \o lines as root: only in sandbox mode, or not at all (issue 15). */
        if (!client_has_sandbox(c))
                return report_failure(
                        "restore",
                        "%s has no --sandbox mode, and the dump %s would be run by a client that executes "
                        "\\! system commands: install MariaDB's client 10.5.25, 10.6.18, 10.11.8 or newer; "
                        "nothing was run, the database is as it was before",
                        c->client,
                        in);
        defarg = strdup_printf("--defaults-extra-file=%s", defaults);
        dbarg = strdup_printf("--database=%s", database);
        if (!defarg || !dbarg)
                return report_failure("io", "out of memory");
        m = connect_db(defaults, database);
        if (!m)
                return 1;
        r = drop_everything(m);
        if (r == -ENOMEM)
                return report_failure("io", "out of memory");
        if (r < 0)
                return report_failure(
                        "restore",
                        "cannot empty the database before loading %s: %s; some of it may be dropped: run the restore again",
                        in,
                        mysql_error(m));
        mysql_close(TAKE_PTR(m));

        if (lseek(fd, 0, SEEK_SET) < 0)
                return report_failure(
                        "restore",
                        "cannot read the backup %s: %m; the database is emptied: run the restore again",
                        in);
        r = run_tool(
                (char *[]){
                        c->client,
                        defarg, /* first, or the tool ignores it */
                        (char *) "--default-character-set=utf8mb4",
                        (char *) "--max-allowed-packet=1G",
                        (char *) "--batch",
                        (char *) "--sandbox",
                        (char *) "--skip-local-infile", /* LOAD DATA LOCAL would read root's files */
                        dbarg,
                        NULL},
                fd,
                -1);
        if (r != 0)
                return report_failure(
                        "restore",
                        "loading %s failed (%s exit %d); the database is partly restored: run the restore again",
                        in,
                        c->client,
                        r);
        printf("done\n");
        return 0;
}

/* The scratch copy's name: the database's with the suffix, if that is still a name (64 at most). */
static char *scratch_name(const char *database) {
        _cleanup_free_ char *name = strdup_printf("%s_mbup_rehearsal", database);

        if (!name || !mydb_database_name_is_valid(name))
                return NULL;
        return TAKE_PTR(name);
}

/* `name`, backquotes doubled. */
static char *quote_ident(const char *name) {
        _cleanup_free_ char *q = malloc(strlen(name) * 2 + 3);
        char *p = q;

        if (!q)
                return NULL;
        *p++ = '`';
        for (const char *c = name; *c; c++) {
                if (*c == '`')
                        *p++ = '`';
                *p++ = *c;
        }
        *p++ = '`';
        *p = '\0';
        return TAKE_PTR(q);
}

/* The copy's connections (a rehearsal's Metabase) killed, then the copy dropped. */
static int drop_scratch_database(MYSQL *m, const char *name) {
        _cleanup_free_ char *ident = quote_ident(name), *esc = malloc(strlen(name) * 2 + 1), *sql = NULL,
                            *drop = NULL;
        _cleanup_mysql_res_ MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        int r;

        if (!ident || !esc)
                return -ENOMEM;
        (void) mysql_real_escape_string(m, esc, name, strlen(name));
        sql = strdup_printf(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '%s' AND ID <> CONNECTION_ID()",
                esc);
        if (!sql)
                return -ENOMEM;
        if (mysql_query(m, sql) == 0 && (res = mysql_store_result(m)))
                while ((row = mysql_fetch_row(res))) {
                        _cleanup_free_ char *kill = strdup_printf("KILL %s", row[0]);
                        if (kill)
                                (void) mysql_query(m, kill); /* gone meanwhile: fine */
                }
        /* Not there: nothing to do (and a user who may not create it may not "DROP ... IF
         * EXISTS" it either). */
        free(sql);
        sql = strdup_printf("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '%s'", esc);
        if (!sql)
                return -ENOMEM;
        char *exists[1] = {};
        r = query_row(m, sql, 1, exists);
        free(exists[0]);
        if (r < 0)
                return -EIO;
        if (r == 0)
                return 0;
        drop = strdup_printf("DROP DATABASE IF EXISTS %s", ident);
        if (!drop)
                return -ENOMEM;
        return mysql_query(m, drop) == 0 ? 0 : -EIO;
}

static int drop_scratch(MYSQL *m, const char *database) {
        _cleanup_free_ char *name = scratch_name(database);

        if (!name)
                return report_failure("usage", "%s is too long a name for a scratch copy beside it", database);
        if (drop_scratch_database(m, name) < 0)
                return report_failure("drop", "cannot drop %s: %s", name, mysql_error(m));
        printf("done\n");
        return 0;
}

static int scratch_copy(const Clients *c, MYSQL *m, const char *defaults, const char *database) {
        _cleanup_free_ char *name = scratch_name(database), *ident = NULL, *esc = NULL, *sql = NULL,
                            *defarg = NULL, *dbarg = NULL;
        char *cols[2] = {};
        char *argv[DUMP_ARGV_MAX];
        int r, r_dump, r_load;

        if (!name)
                return report_failure("usage", "%s is too long a name for a scratch copy beside it", database);
        ident = quote_ident(name);
        esc = malloc(strlen(database) * 2 + 1);
        defarg = strdup_printf("--defaults-extra-file=%s", defaults);
        dbarg = strdup_printf("--database=%s", name);
        if (!ident || !esc || !defarg || !dbarg)
                return report_failure("io", "out of memory");
        if (drop_scratch_database(m, name) < 0)
                return report_failure("drop", "cannot drop the old %s: %s", name, mysql_error(m));
        /* The copy in the character set and collation of the database. */
        (void) mysql_real_escape_string(m, esc, database, strlen(database));
        sql = strdup_printf(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                "WHERE SCHEMA_NAME = '%s'",
                esc);
        if (!sql || query_row(m, sql, 2, cols) <= 0)
                return report_failure(
                        "connect", "cannot read the database's character set: %s", mysql_error(m));
        free(sql);
        sql = strdup_printf("CREATE DATABASE %s CHARACTER SET %s COLLATE %s", ident, cols[0], cols[1]);
        free(cols[0]);
        free(cols[1]);
        if (!sql)
                return report_failure("io", "out of memory");
        if (mysql_query(m, sql) != 0)
                return report_failure(
                        "create",
                        "cannot create the scratch database %s: %s; a rehearsal needs the right to: GRANT ALL ON "
                        "%s.* TO the application database's user",
                        name,
                        mysql_error(m),
                        ident);
        if (!client_has_sandbox(c)) {
                (void) drop_scratch_database(m, name);
                return report_failure(
                        "copy",
                        "%s has no --sandbox mode, and it would run the dump's \\! system commands: install "
                        "MariaDB's client 10.5.25, 10.6.18, 10.11.8 or newer",
                        c->client);
        }
        dump_argv(c, defarg, NULL, database, argv);
        r = run_pipeline(
                argv,
                (char *[]){
                        c->client,
                        defarg,
                        (char *) "--default-character-set=utf8mb4",
                        (char *) "--max-allowed-packet=1G",
                        (char *) "--batch",
                        (char *) "--sandbox",
                        (char *) "--skip-local-infile",
                        dbarg,
                        NULL},
                &r_dump,
                &r_load);
        if (r < 0 || r_dump != 0 || r_load != 0) {
                (void) drop_scratch_database(m, name);
                return report_failure(
                        "copy",
                        "copying %s into %s failed (%s exit %d, %s exit %d); the scratch copy is dropped, the "
                        "application database untouched",
                        database,
                        name,
                        c->dump,
                        r_dump,
                        c->client,
                        r_load);
        }
        report_value("scratch", name);
        {
                _cleanup_free_ char *size_sql = strdup_printf(
                        "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE "
                        "TABLE_SCHEMA = '%s_mbup_rehearsal'",
                        esc);
                char *size[1] = {};
                if (size_sql && query_row(m, size_sql, 1, size) > 0)
                        report_value("database_size", size[0]);
                free(size[0]);
        }
        printf("done\n");
        return 0;
}

int mysql_main(int argc, char *argv[]) {
        _cleanup_mysql_ MYSQL *m = NULL;
        _cleanup_(clients_done) Clients clients = {};
        const char *defaults = secure_getenv("MBUP_MY_DEFAULTS"),
                   *database = secure_getenv("MBUP_MY_DATABASE");
        int r;

        if (isempty(defaults)) {
                (void) report_failure("usage", "MBUP_MY_DEFAULTS is not set");
                return 2;
        }
        if (!mydb_database_name_is_valid(database)) {
                (void) report_failure("usage", "MBUP_MY_DATABASE is not set or not a database name");
                return 2;
        }
        /* the dump holds the data: 0600 from its first byte */
        (void) umask(0077);
        /* The client's \e and "edit" run $EDITOR (else vi, whose input would be the rest of the
         * dump: ":!cmd") even in --sandbox mode (MariaDB 10.11.19, tried); the dump is scanned for
         * them, and the editor is one that does nothing besides. */
        if (setenv("EDITOR", "/bin/false", 1) < 0 || setenv("VISUAL", "/bin/false", 1) < 0) {
                (void) report_failure("io", "out of memory");
                return 1;
        }

        if (streq(argv[1], "activity")) { /* needs no client tools */
                m = connect_db(defaults, database);
                return m && activity(m) == 0 ? 0 : 1;
        }

        r = find_clients(&clients);
        if (r == -ENOENT)
                return report_failure("tool", TOOL_MISSING);
        if (r < 0)
                return report_failure("io", "out of memory");
        if (access(defaults, R_OK) < 0)
                return report_failure("io", "cannot read the option file %s: %m", defaults);

        if (streq(argv[1], "restore"))
                return restore(&clients, defaults, database, argv[2]) == 0 ? 0 : 1;
        m = connect_db(defaults, database);
        if (!m)
                return 1;
        if (streq(argv[1], "scratch-copy"))
                return scratch_copy(&clients, m, defaults, database) == 0 ? 0 : 1;
        if (streq(argv[1], "drop-scratch"))
                return drop_scratch(m, database) == 0 ? 0 : 1;
        if (streq(argv[1], "backup")) {
                /* ours was to say "error connect" clearly; mysqldump connects on its own */
                mysql_close(TAKE_PTR(m));
                return backup(&clients, defaults, database, argv[2]) == 0 ? 0 : 1;
        }
        return preflight(m) == 0 ? 0 : 1;
}
