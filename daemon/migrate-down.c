/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "appdb.h"
#include "dbserver.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "migrate-down.h"
#include "rehearsal.h"
#include "strv.h"
#include "test-hook.h"

#define POLL_USEC (500 * USEC_PER_MSEC)
#define LOG_MAX (1024 * 1024)
#define EXCERPT_MAX 1200

struct MigrateDown {
        sd_event *event;
        Systemd *systemd;
        sd_event_source *timer;
        char *log_path, *env_path;
        char *result, *excerpt;
        MigrateDownCallback cb;
        void *userdata;
        unsigned pending; /* systemd calls in flight (their callbacks hold this) */
        bool abandoned;   /* freed by its owner while calls were in flight */
        bool ended;       /* its callback was called: nothing is left to stop */
};

static void on_stopped_quietly(int r, const char *result, const char *error, void *userdata) {
        if (r < 0)
                log_warning("Stopping %s failed: %s", MIGRATE_DOWN_UNIT, strempty(error));
}

static void destroy(MigrateDown *d) {
        d->timer = sd_event_source_disable_unref(d->timer);
        if (d->env_path)
                (void) unlink(d->env_path);
        free(d->log_path);
        free(d->env_path);
        free(d->result);
        free(d->excerpt);
        free(d);
}

MigrateDown *migrate_down_free(MigrateDown *d) {
        if (!d)
                return NULL;
        d->timer = sd_event_source_disable_unref(d->timer);
        d->cb = NULL;
        if (d->ended && d->pending == 0) {
                destroy(d);
                return NULL;
        }
        if (d->pending > 0) {
                /* a start job or a load in flight: its callback ends it */
                d->abandoned = true;
                (void) unit_stop_and_forget(d->systemd, MIGRATE_DOWN_UNIT, on_stopped_quietly, NULL);
                return NULL;
        }
        (void) unit_stop_and_forget(d->systemd, MIGRATE_DOWN_UNIT, on_stopped_quietly, NULL);
        destroy(d);
        return NULL;
}

/* A callback of a call in flight returned: whether d is still wanted (else it is gone). */
static bool returned(MigrateDown *d) {
        d->pending--;
        if (!d->abandoned)
                return true;
        if (d->pending == 0)
                destroy(d);
        return false;
}

static void finish(MigrateDown *d, int r, const char *message) {
        MigrateDownCallback cb = d->cb;

        d->cb = NULL;
        d->ended = r >= 0;
        d->timer = sd_event_source_disable_unref(d->timer);
        if (cb)
                cb(r, d->result, message, d->userdata);
}

static void on_forgotten(int r, const char *result, const char *error, void *userdata) {
        MigrateDown *d = userdata;

        if (!returned(d))
                return;
        finish(d, 0, d->excerpt);
}

/* What its output says: the lines that report an error, else its last ones. */
static char *read_excerpt(const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t n;
        int r;

        r = read_full_file(path, LOG_MAX, &text, &n);
        if (r < 0)
                return strdup_printf("(its output in %s can't be read: %s)", path, strerror(-r));
        return rehearsal_log_excerpt(text, n, EXCERPT_MAX);
}

static int schedule(MigrateDown *d);

static void on_info(int r, UnitInfo *info, const char *error, void *userdata) {
        _cleanup_(unit_info_freep) UnitInfo *i = info;
        MigrateDown *d = userdata;

        if (!returned(d))
                return;
        if (r < 0) {
                finish(d, r, error ?: "cannot read its state from systemd");
                return;
        }
        if (!streq_ptr(i->active_state, "inactive") && !streq_ptr(i->active_state, "failed")) {
                r = schedule(d);
                if (r < 0)
                        finish(d, r, "cannot watch it");
                return;
        }
        /* Gone (a transient unit that succeeded is unloaded: "inactive", no result) or failed. */
        d->result = strdup(isempty(i->result) ? "success" : i->result);
        d->excerpt = read_excerpt(d->log_path);
        if (!d->result || !d->excerpt) {
                finish(d, -ENOMEM, "out of memory");
                return;
        }
        (void) unlink(d->env_path);
        log_info("%s ended (%s): %s", MIGRATE_DOWN_UNIT, d->result, d->excerpt);
        r = unit_stop_and_forget(d->systemd, MIGRATE_DOWN_UNIT, on_forgotten, d);
        if (r < 0) {
                finish(d, 0, d->excerpt);
                return;
        }
        d->pending++;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        MigrateDown *d = userdata;
        int r;

        d->timer = sd_event_source_disable_unref(d->timer);
        r = unit_info_load(d->systemd, MIGRATE_DOWN_UNIT, on_info, d);
        if (r < 0) {
                finish(d, r, "cannot ask systemd about it");
                return 0;
        }
        d->pending++;
        return 0;
}

static int schedule(MigrateDown *d) {
        return sd_event_add_time_relative(d->event, &d->timer, CLOCK_MONOTONIC, POLL_USEC, 0, on_timer, d);
}

static void on_started(int r, const char *result, const char *error, void *userdata) {
        MigrateDown *d = userdata;

        if (!returned(d))
                return;
        if (r < 0) {
                finish(d, r, error ?: strempty(result));
                return;
        }
        test_hook_crash_point("migrate-down-running"); /* systemd runs it on without the daemon */
        r = schedule(d);
        if (r < 0)
                finish(d, r, "cannot watch it");
}

void migrate_down_command_done(MigrateDownCommand *c) {
        metabase_command_done(c);
}

int migrate_down_command(const UnitInfo *info, const char *jar, MigrateDownCommand *ret) {
        return metabase_command(info, jar, STRV_MAKE("migrate", "down"), ret);
}

int migrate_down_start(
        sd_event *e,
        Systemd *s,
        const MigrateDownCommand *c,
        const char *state_dir,
        uint64_t timeout_usec,
        MigrateDownCallback cb,
        void *userdata,
        MigrateDown **ret) {
        MigrateDown *d;
        int r;

        d = calloc(1, sizeof(MigrateDown));
        if (!d)
                return -ENOMEM;
        *d = (MigrateDown){.event = e, .systemd = s, .cb = cb, .userdata = userdata};
        d->log_path = path_join(state_dir, "migrate-down.log");
        d->env_path = path_join(state_dir, "migrate-down.env");
        if (!d->log_path || !d->env_path) {
                destroy(d);
                return -ENOMEM;
        }
        MetabaseUnit u = {
                .name = MIGRATE_DOWN_UNIT,
                .description = "mbupgraded: Metabase's migrate down, the schema one major back",
                .env_path = d->env_path,
                .log_path = d->log_path,
                .runtime_max_usec = timeout_usec,
        };
        r = metabase_command_start(s, c, &u, on_started, d);
        if (r < 0) {
                destroy(d);
                return r;
        }
        d->pending++;
        *ret = d;
        return 0;
}

int migrate_down_cleanup(Systemd *s, const char *state_dir, JobCallback cb, void *userdata) {
        _cleanup_free_ char *env = path_join(state_dir, "migrate-down.env");

        if (env)
                (void) unlink(env);
        return unit_stop_and_forget(s, MIGRATE_DOWN_UNIT, cb, userdata);
}

/* The rehearsal on a scratch copy */

struct MigrateDownRehearsal {
        sd_event *event;
        Systemd *systemd;
        MigrateDownCommand cmd;
        char *kind, *conninfo, *scratch_conninfo, *secret_file, *state_dir;
        unsigned target_major;
        uint64_t timeout_usec;
        DbRun *db_run;
        MigrateDown *run;
        int verdict;
        char *message, *said;
        MigrateDownRehearsalCallback cb;
        void *userdata;
};

MigrateDownRehearsal *migrate_down_rehearsal_free(MigrateDownRehearsal *r) {
        if (!r)
                return NULL;
        /* a copy left behind goes with the next scratch copy */
        r->db_run = dbserver_cancel(r->db_run);
        r->run = migrate_down_free(r->run);
        migrate_down_command_done(&r->cmd);
        free(r->kind);
        free(r->conninfo);
        free(r->scratch_conninfo);
        free(r->secret_file);
        free(r->state_dir);
        free(r->message);
        free(r->said);
        free(r);
        return NULL;
}

static void rehearsal_end(MigrateDownRehearsal *r) {
        MigrateDownRehearsalCallback cb = r->cb;

        r->cb = NULL;
        if (cb)
                cb(r->verdict, r->message, r->userdata);
}

static void on_scratch_dropped(int k, DbReport *report, void *userdata) {
        MigrateDownRehearsal *r = userdata;

        if (k < 0)
                log_warning(
                        "Dropping the scratch copy of the migrate down rehearsal failed: %s", report->error);
        rehearsal_end(r);
}

/* verdict: 1 passed, 0 failed, -1 could not rehearse; then the copy is dropped. */
static void rehearsal_verdict(MigrateDownRehearsal *r, int verdict, const char *fmt, ...) _printf_(3, 4);
static void rehearsal_verdict(MigrateDownRehearsal *r, int verdict, const char *fmt, ...) {
        va_list ap;

        r->verdict = verdict;
        free(r->message);
        va_start(ap, fmt);
        if (vasprintf(&r->message, fmt, ap) < 0)
                r->message = NULL;
        va_end(ap);
        if (dbserver_run(
                    r->event,
                    r->kind,
                    r->conninfo,
                    r->secret_file,
                    STRV_MAKE("drop-scratch"),
                    on_scratch_dropped,
                    r,
                    &r->db_run) < 0)
                rehearsal_end(r);
}

static void on_scratch_read(int k, DbReport *report, void *userdata) {
        MigrateDownRehearsal *r = userdata;

        if (k < 0)
                rehearsal_verdict(r, -1, "cannot read the copy's changelog: %s", strempty(report->error));
        else if (report->changelog_major < 0 || (unsigned) report->changelog_major > r->target_major)
                rehearsal_verdict(
                        r,
                        0,
                        "on a copy of the database it left change sets of v%d (newest %s), above v%u: %s",
                        report->changelog_major,
                        strempty(report->changelog_latest),
                        r->target_major,
                        strempty(r->said));
        else
                rehearsal_verdict(
                        r, 1, "on a copy of the database it went to v%d's schema", report->changelog_major);
}

static void on_scratch_migrated(int k, const char *result, const char *message, void *userdata) {
        MigrateDownRehearsal *r = userdata;

        (void) free_and_strdup(&r->said, message);
        if (k < 0) {
                rehearsal_verdict(r, -1, "it could not run on the copy: %s", strempty(message));
                return;
        }
        k = dbserver_run(
                r->event,
                r->kind,
                r->scratch_conninfo,
                r->secret_file,
                STRV_MAKE("preflight"),
                on_scratch_read,
                r,
                &r->db_run);
        if (k < 0)
                rehearsal_verdict(r, -1, "cannot run %s: %s", dbserver_helper_path(), strerror(-k));
}

static void on_scratch_copied(int k, DbReport *report, void *userdata) {
        MigrateDownRehearsal *r = userdata;

        if (k < 0) {
                /* the helper dropped what it made */
                r->verdict = -1;
                r->message = strdup_printf("cannot copy the database: %s", strempty(report->error));
                rehearsal_end(r);
                return;
        }
        k = migrate_down_start(
                r->event, r->systemd, &r->cmd, r->state_dir, r->timeout_usec, on_scratch_migrated, r, &r->run);
        if (k < 0)
                rehearsal_verdict(r, -1, "cannot start it on the copy: %s", strerror(-k));
}

int migrate_down_rehearse(
        sd_event *e,
        Systemd *s,
        const UnitInfo *info,
        const AppDb *appdb,
        const char *jar,
        const char *secret_file,
        const char *state_dir,
        unsigned target_major,
        uint64_t timeout_usec,
        MigrateDownRehearsalCallback cb,
        void *userdata,
        MigrateDownRehearsal **ret) {
        _cleanup_free_ char *name = NULL;
        MigrateDownRehearsal *r;
        int k;

        if (appdb->kind == APPDB_H2 || isempty(appdb->dbname))
                return -EOPNOTSUPP;
        r = calloc(1, sizeof(MigrateDownRehearsal));
        if (!r)
                return -ENOMEM;
        *r = (MigrateDownRehearsal){
                .event = e,
                .systemd = s,
                .target_major = target_major,
                .timeout_usec = timeout_usec,
                .cb = cb,
                .userdata = userdata,
        };
        k = migrate_down_command(info, jar, &r->cmd);
        if (k < 0) {
                migrate_down_rehearsal_free(r);
                return k;
        }
        /* The same server, role and password under the copy's name (mbupgraded-db's). */
        name = strdup_printf("%s" REHEARSAL_SCRATCH_SUFFIX, appdb->dbname);
        AppDb scratch = *appdb;
        scratch.dbname = name;
        r->cmd.env = strv_free(r->cmd.env);
        r->cmd.env = name ? rehearsal_environment(info->environment ?: STRV_MAKE(NULL), &scratch, 0) : NULL;
        r->kind = strdup(appdb_kind_to_string(appdb->kind));
        r->conninfo = dbserver_conninfo(appdb);
        r->scratch_conninfo = name ? dbserver_conninfo(&scratch) : NULL;
        r->secret_file = strdup(secret_file);
        r->state_dir = strdup(state_dir);
        if (!r->cmd.env || !r->kind || !r->conninfo || !r->scratch_conninfo || !r->secret_file ||
            !r->state_dir) {
                migrate_down_rehearsal_free(r);
                return -ENOMEM;
        }
        k = dbserver_run(
                e, r->kind, r->conninfo, r->secret_file, STRV_MAKE("scratch-copy"), on_scratch_copied, r, &r->db_run);
        if (k < 0) {
                migrate_down_rehearsal_free(r);
                return k;
        }
        *ret = r;
        return 0;
}
