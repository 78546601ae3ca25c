/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "migrate-down.h"
#include "rehearsal.h"
#include "strv.h"

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
        r = schedule(d);
        if (r < 0)
                finish(d, r, "cannot watch it");
}

int migrate_down_start(
        sd_event *e,
        Systemd *s,
        const UnitInfo *info,
        const char *jar,
        const char *state_dir,
        uint64_t timeout_usec,
        MigrateDownCallback cb,
        void *userdata,
        MigrateDown **ret) {
        _cleanup_strv_free_ char **argv = unit_info_argv_with_jar(
                info, unit_info_jar(info), jar, STRV_MAKE("migrate", "down"));
        _cleanup_free_ char *env = NULL, *wd = NULL;
        MigrateDown *d;
        int r;

        if (!argv)
                return -EINVAL; /* no "-jar JAR" in ExecStart (pre-flight found one) */
        d = calloc(1, sizeof(MigrateDown));
        if (!d)
                return -ENOMEM;
        *d = (MigrateDown){.event = e, .systemd = s, .cb = cb, .userdata = userdata};
        d->log_path = path_join(state_dir, "migrate-down.log");
        d->env_path = path_join(state_dir, "migrate-down.env");
        /* The unit's environment as it is: its database settings with their password, so 0600,
         * read by systemd before it drops privileges. */
        env = rehearsal_environment_file(info->environment ?: STRV_MAKE(NULL));
        wd = info->working_directory ? strdup_printf("-%s", info->working_directory) : NULL;
        if (!d->log_path || !d->env_path || !env || (info->working_directory && !wd)) {
                destroy(d);
                return -ENOMEM;
        }
        r = write_file_atomic(d->env_path, env, strlen(env), 0600);
        explicit_bzero(env, strlen(env));
        if (r < 0) {
                destroy(d);
                return r;
        }
        char *rw[2] = {wd, NULL};
        TransientService t = {
                .name = MIGRATE_DOWN_UNIT,
                .description = "mbupgraded: Metabase's migrate down, the schema one major back",
                .argv = argv,
                .environment_file = d->env_path,
                .working_directory = info->working_directory,
                .user = info->user,
                .group = info->group,
                .runtime_max_usec = timeout_usec,
                .output_file = d->log_path,
                /* Hardened; it writes only Metabase's working directory (./plugins), if any. */
                .read_write_paths = rw,
        };
        r = unit_start_transient(s, &t, on_started, d);
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
