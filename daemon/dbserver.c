/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "dbserver.h"
#include "fileio.h"
#include "macro.h"
#include "strv.h"

struct DbRun {
        Child *child;
        DbReport report;
        DbHelperCallback cb;
        void *userdata;
        DbRun **owner; /* cleared when the run ends */
};

static void report_done(DbReport *r) {
        free(r->server_version);
        free(r->changelog_latest);
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

static void on_helper_line(Child *c, const char *line, void *userdata) {
        DbReport *r = &((DbRun *) userdata)->report;
        const char *v;

        if ((v = startswith(line, "server_version ") ? line + strlen("server_version ") : NULL))
                (void) free_and_strdup(&r->server_version, v);
        else if (startswith(line, "database_size "))
                r->have_database_size = safe_atou64(line + strlen("database_size "), &r->database_size) >= 0;
        else if (startswith(line, "changelog_count "))
                (void) safe_atou64(line + strlen("changelog_count "), &r->changelog_count);
        else if (startswith(line, "changelog_latest "))
                (void) free_and_strdup(&r->changelog_latest, line + strlen("changelog_latest "));
        else if (startswith(line, "activity "))
                (void) sscanf(
                        line + strlen("activity "),
                        "%" SCNu64 " %" SCNu64,
                        &r->active_statements,
                        &r->active_longest_sec);
        else if (startswith(line, "lock held "))
                (void) free_and_strdup(&r->lock_holder, line + strlen("lock held "));
        else if (streq(line, "clone possible"))
                r->clone = 1;
        else if (startswith(line, "clone impossible")) {
                r->clone = 0;
                (void) free_and_strdup(&r->clone_reason, line[16] ? line + 17 : "the helper did not say why");
        } else if (startswith(line, "size "))
                (void) safe_atou64(line + strlen("size "), &r->size);
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
        } else if (status == 0 && startswith(last, "done"))
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
        if (run->owner)
                *run->owner = NULL;
        run->cb(ret, r, run->userdata);
        report_done(r);
        free(run);
}

DbRun *dbserver_cancel(DbRun *run) {
        if (!run)
                return NULL;
        if (run->owner)
                *run->owner = NULL;
        (void) child_kill(run->child);
        report_done(&run->report);
        free(run);
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
        DbRun *run;
        int r;

        if (strv_extend(&argv, dbserver_helper_path()) < 0)
                return -ENOMEM;
        for (char *const *a = args; *a; a++)
                if (strv_extend(&argv, *a) < 0)
                        return -ENOMEM;
        if (streq(kind, "mysql")) {
                _cleanup_free_ char *db = strdup_printf("MBUP_MY_DATABASE=%s", conninfo),
                                    *defaults = strdup_printf("MBUP_MY_DEFAULTS=%s", secret_file);
                if (!db || !defaults || strv_extend(&env, "MBUP_DB_KIND=mysql") < 0 ||
                    strv_extend(&env, db) < 0 || strv_extend(&env, defaults) < 0)
                        return -ENOMEM;
        } else if (streq(kind, "postgres")) {
                _cleanup_free_ char *ci = strdup_printf("MBUP_PG_CONNINFO=%s", conninfo),
                                    *pass = strdup_printf("PGPASSFILE=%s", secret_file);
                if (!ci || !pass || strv_extend(&env, "MBUP_DB_KIND=postgres") < 0 ||
                    strv_extend(&env, ci) < 0 || strv_extend(&env, pass) < 0)
                        return -ENOMEM;
        } else
                return -EINVAL;

        run = calloc(1, sizeof(DbRun));
        if (!run)
                return -ENOMEM;
        run->report.clone = -1;
        run->cb = cb;
        run->userdata = userdata;
        r = child_spawn_env(e, argv, env, on_helper_line, on_helper_exit, run, &run->child);
        if (r < 0) {
                free(run);
                return r;
        }
        run->owner = ret;
        if (ret)
                *ret = run;
        return 0;
}
