/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "dbserver.h"
#include "fileio.h"
#include "lineproto.h"
#include "macro.h"
#include "strv.h"

struct DbRun {
        Child *child;
        DbReport report;
        DbHelperCallback cb;
        void *userdata;
        DbRun **owner;                 /* cleared when the run ends */
        unsigned seen;                 /* the keys read so far (SEEN_*) */
        char *backup_tmp, *backup_out; /* backup FILE: FILE.tmp, which the helper fills, and FILE */
};

static void run_free(DbRun *run) {
        free(run->backup_tmp);
        free(run->backup_out);
        free(run);
}

static void report_done(DbReport *r) {
        free(r->server_version);
        free(r->changelog_latest);
        strv_free(r->changelog_ids);
        free(r->lock_holder);
        free(r->clone_reason);
        free(r->error_kind);
        free(r->error);
}

const char *dbserver_helper_path(void) {
        const char *p = secure_getenv("MBUPGRADED_DB");
        return !isempty(p) ? p : LIBEXECDIR "/mbupgraded-db";
}

char *dbserver_conninfo(const AppDb *db) {
        _cleanup_free_ char *c = NULL;

        switch (db->kind) {
        case APPDB_POSTGRES:
                /* A server that does not answer fails pre-flight in seconds, not minutes. */
                c = appdb_libpq_conninfo(db, false);
                return c ? strdup_printf("%s connect_timeout='15'", c) : NULL;
        case APPDB_MYSQL:
                return strdup(db->dbname);
        default:
                errno = EINVAL;
                return NULL;
        }
}

char *dbserver_secret(const AppDb *db) {
        switch (db->kind) {
        case APPDB_POSTGRES:
                return appdb_pgpass_line(db);
        case APPDB_MYSQL:
                return appdb_mysql_defaults(db);
        default:
                errno = EINVAL;
                return NULL;
        }
}

int dbserver_write_secret(const char *path, const char *secret) {
        return write_file_atomic(path, secret, strlen(secret), 0600);
}

/* The user the database helper runs as (unit-files/mbupgraded.sysusers): libpq, libmariadb and the
 * client tools, which parse what a server sends, run under it, never as root. */
const char *dbserver_user(void) {
        const char *u = secure_getenv("MBUPGRADED_DB_USER");
        return !isempty(u) ? u : DB_USER;
}

int dbserver_credentials(ChildOptions *o) {
        int r = child_options_user(o, dbserver_user());
        if (r < 0)
                return r;
        o->keep_stderr = true;
        return 0;
}

int dbserver_open_secret(const char *path) {
        /* root's own file in its state directory: root's, a regular file, no link */
        return open_regular(path, OPEN_REGULAR_NOFOLLOW, 0, NULL);
}

/* The helper's keys: a key said twice keeps its first value (a second can only be a forgery or
 * a bug); a key not known is ignored. */
enum {
        SEEN_SERVER_VERSION = 1 << 0,
        SEEN_DATABASE_SIZE = 1 << 1,
        SEEN_CHANGELOG_COUNT = 1 << 2,
        SEEN_CHANGELOG_LATEST = 1 << 3,
        SEEN_ACTIVITY = 1 << 4,
        SEEN_LOCK = 1 << 5,
        SEEN_CLONE = 1 << 6,
        SEEN_SIZE = 1 << 7,
        SEEN_CHANGELOG_MAJOR = 1 << 8,
};

/* More change sets than Metabase has ever had (about 2000 by v0.57) by far. */
#define CHANGELOG_IDS_MAX 200000U

static bool first_time(DbRun *run, unsigned key) {
        if (run->seen & key)
                return false;
        run->seen |= key;
        return true;
}

/* A value as the report keeps it: escaped for people (lineproto_display()). */
static void set_display(char **field, const char *value) {
        char *d = lineproto_display(value);
        if (d) {
                free(*field);
                *field = d;
        }
}

static void on_helper_line(Child *c, const char *line, void *userdata) {
        DbRun *run = userdata;
        DbReport *r = &run->report;
        _cleanup_strv_free_ char **w = NULL;
        size_t n;

        /* "error KIND MESSAGE" and "clone impossible REASON" are free text that the helper made
         * one line (report_line()); they are read whole, as they are. */
        if (startswith(line, "error "))
                return;
        if (startswith(line, "clone impossible")) {
                if (first_time(run, SEEN_CLONE)) {
                        r->clone = 0;
                        (void) free_and_strdup(
                                &r->clone_reason, line[16] ? line + 17 : "the helper did not say why");
                }
                return;
        }
        /* A line that does not decode (a tool's output, say) carries no value. */
        if (lineproto_split(line, &w) < 0)
                return;
        n = strv_length(w);
        if (n == 2 && streq(w[0], "server_version") && first_time(run, SEEN_SERVER_VERSION))
                set_display(&r->server_version, w[1]);
        else if (n == 2 && streq(w[0], "database_size") && first_time(run, SEEN_DATABASE_SIZE))
                r->have_database_size = safe_atou64(w[1], &r->database_size) >= 0;
        else if (n == 2 && streq(w[0], "changelog_count") && first_time(run, SEEN_CHANGELOG_COUNT))
                (void) safe_atou64(w[1], &r->changelog_count);
        else if (n == 2 && streq(w[0], "changelog_latest") && first_time(run, SEEN_CHANGELOG_LATEST))
                set_display(&r->changelog_latest, w[1]);
        else if (n == 2 && streq(w[0], "changelog_id") && r->n_changelog_ids < CHANGELOG_IDS_MAX) {
                _cleanup_free_ char *id = lineproto_display(w[1]);
                if (id && strv_extend(&r->changelog_ids, id) >= 0)
                        r->n_changelog_ids++;
        } else if (n == 2 && streq(w[0], "changelog_major") && first_time(run, SEEN_CHANGELOG_MAJOR)) {
                unsigned v;
                r->changelog_major = safe_atou(w[1], &v) >= 0 && v <= 99999 ? (int) v : -1;
        } else if (n == 3 && streq(w[0], "activity") && first_time(run, SEEN_ACTIVITY)) {
                if (safe_atou64(w[1], &r->active_statements) < 0 ||
                    safe_atou64(w[2], &r->active_longest_sec) < 0)
                        r->active_statements = r->active_longest_sec = 0;
        } else if (n == 4 && streq(w[0], "lock") && streq(w[1], "held") && first_time(run, SEEN_LOCK)) {
                _cleanup_free_ char *by = lineproto_display(w[2]), *when = lineproto_display(w[3]);
                if (by && when) {
                        free(r->lock_holder);
                        r->lock_holder = strdup_printf("%s since %s", by, when);
                }
        } else if (n == 2 && streq(w[0], "lock") && streq(w[1], "free"))
                (void) first_time(run, SEEN_LOCK);
        else if (n == 2 && streq(w[0], "clone") && streq(w[1], "possible") && first_time(run, SEEN_CLONE))
                r->clone = 1;
        else if (n == 2 && streq(w[0], "size") && first_time(run, SEEN_SIZE))
                (void) safe_atou64(w[1], &r->size);
}

static void on_helper_exit(Child *c, int status, const char *last, void *userdata) {
        DbRun *run = userdata;
        DbReport *r = &run->report;
        char sha[SHA256_HEX_SIZE + 1];
        uint64_t size;
        int ret = 0;

        if (status == 0 && sscanf(last, "done %" SCNu64 " %64s", &size, sha) == 2 && sha256_hex_is_valid(sha)) {
                r->size = size;
                memcpy(r->sha256, sha, SHA256_HEX_SIZE);
                /* the helper filled FILE.tmp, which it can't rename: that is ours */
                ret = run->backup_tmp ? rename_and_sync(run->backup_tmp, run->backup_out) : 0;
                if (ret < 0) {
                        r->error_kind = strdup("io");
                        r->error = strdup_printf(
                                "cannot rename %s to %s: %s", run->backup_tmp, run->backup_out, strerror(-ret));
                }
        } else if (status == 0 && startswith(last, "done") && !run->backup_tmp)
                ;
        else {
                ret = -EIO;
                if (startswith(last, "error ")) {
                        const char *kind = last + strlen("error "), *msg = strchr(kind, ' ');
                        r->error_kind = strndup(kind, msg ? (size_t) (msg - kind) : strlen(kind));
                        r->error = strdup(msg ? msg + 1 : kind);
                } else if (status < 0)
                        r->error = strdup_printf("the database helper died (signal %d)", -status - 128);
                else
                        r->error = strdup_printf(
                                "the database helper failed (exit %d, '%.200s')", status, last);
        }
        if (ret < 0 && run->backup_tmp)
                (void) unlink(run->backup_tmp);
        if (run->owner)
                *run->owner = NULL;
        run->cb(ret, r, run->userdata);
        report_done(r);
        run_free(run);
}

DbRun *dbserver_cancel(DbRun *run) {
        if (!run)
                return NULL;
        if (run->owner)
                *run->owner = NULL;
        (void) child_kill(run->child);
        if (run->backup_tmp)
                (void) unlink(run->backup_tmp);
        report_done(&run->report);
        run_free(run);
        return NULL;
}

int dbserver_run(
        sd_event *e,
        const char *kind,
        const char *conninfo,
        const char *secret_file,
        char *const args[],
        DbHelperCallback cb,
        void *userdata,
        DbRun **ret) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_close_ int secret_fd = -EBADF, file_fd = -EBADF;
        ChildOptions o = {};
        DbRun *run;
        int r;

        if (strv_extend(&argv, dbserver_helper_path()) < 0)
                return -ENOMEM;
        for (char *const *a = args; *a; a++)
                if (strv_extend(&argv, *a) < 0)
                        return -ENOMEM;
        if (streq(kind, "mysql")) {
                _cleanup_free_ char *db = strdup_printf("MBUP_MY_DATABASE=%s", conninfo);
                if (!db || strv_extend(&env, "MBUP_DB_KIND=mysql") < 0 || strv_extend(&env, db) < 0)
                        return -ENOMEM;
        } else if (streq(kind, "postgres")) {
                _cleanup_free_ char *ci = strdup_printf("MBUP_PG_CONNINFO=%s", conninfo);
                if (!ci || strv_extend(&env, "MBUP_DB_KIND=postgres") < 0 || strv_extend(&env, ci) < 0)
                        return -ENOMEM;
        } else
                return -EINVAL;

        run = calloc(1, sizeof(DbRun));
        if (!run)
                return -ENOMEM;
        run->report.clone = -1;
        run->report.changelog_major = -1;
        run->cb = cb;
        run->userdata = userdata;
        /* Everything of root's that the helper needs, opened here and handed over as a
         * descriptor: it runs as dbserver_user() and can open none of it itself. */
        r = dbserver_credentials(&o);
        if (r < 0)
                goto fail;
        secret_fd = dbserver_open_secret(secret_file);
        if (secret_fd < 0) {
                r = secret_fd;
                goto fail;
        }
        if (args[0] && args[1] && streq(args[0], "backup")) {
                /* In root's backup directory: a stale FILE.tmp goes, the new one is ours, 0600,
                 * the helper's output; renamed to FILE on its "done" (on_helper_exit()). */
                run->backup_tmp = strdup_printf("%s.tmp", args[1]);
                run->backup_out = strdup(args[1]);
                if (!run->backup_tmp || !run->backup_out) {
                        r = -ENOMEM;
                        goto fail;
                }
                (void) unlink(run->backup_tmp);
                file_fd = open(run->backup_tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (file_fd < 0) {
                        r = negative_errno();
                        run->backup_tmp = mfree_str(run->backup_tmp);
                        goto fail;
                }
        } else if (args[0] && args[1] && streq(args[0], "restore")) {
                /* a backup root made: root's, a regular file, no link */
                file_fd = open_regular(args[1], OPEN_REGULAR_NOFOLLOW, 0, NULL);
                if (file_fd < 0) {
                        r = file_fd;
                        goto fail;
                }
        }
        if (strv_extend(&env, "MBUP_DB_SECRET_FD=3") < 0 ||
            (file_fd >= 0 && strv_extend(&env, "MBUP_DB_FILE_FD=4") < 0)) {
                r = -ENOMEM;
                goto fail;
        }
        o.extra_env = env;
        o.pass_fd = secret_fd;
        o.pass_fd2 = file_fd;
        r = child_spawn_opts(e, argv, &o, on_helper_line, on_helper_exit, run, &run->child);
        if (r < 0)
                goto fail;
        run->owner = ret;
        if (ret)
                *ret = run;
        return 0;
fail:
        if (run->backup_tmp)
                (void) unlink(run->backup_tmp);
        run_free(run);
        return r;
}
