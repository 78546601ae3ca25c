/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "appdb.h"
#include "dbserver.h"
#include "fileio.h"
#include "http.h"
#include "jar.h"
#include "last-upgrade.h"
#include "log.h"
#include "manager.h"
#include "secrets.h"
#include "strv.h"
#include "worker.h"

char *manager_state_path(Manager *m, const char *name) {
        return path_join(m->config->state_dir, name);
}

void manager_set_status(Manager *m, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return;
        log_info("%s", s);
        (void) sd_notifyf(false, "STATUS=%s", s);
        free(m->status_text);
        m->status_text = TAKE_PTR(s);
        manager_properties_changed(m, "StatusText", NULL);
}

void manager_properties_changed(Manager *m, ...) {
        _cleanup_strv_free_ char **names = NULL;
        const char *n;
        va_list ap;

        if (!m->bus)
                return;
        va_start(ap, m);
        while ((n = va_arg(ap, const char *)))
                (void) strv_extend(&names, n);
        va_end(ap);
        if (names)
                (void) sd_bus_emit_properties_changed_strv(m->bus, MB_BUS_PATH, MB_BUS_INTERFACE, names);
        /* What status shows is what the metrics say: the same moments change them. */
        events_emit(m, &(Event){.kind = EVENT_STATE_CHANGED, .names = names});
}

static void load_hold(Manager *m) {
        _cleanup_free_ char *path = manager_state_path(m, "hold.json"), *text = NULL;
        json_object *o, *v;

        m->hold = m->config->policy.hold;
        m->hold_reason = m->hold ? strdup("policy.hold is set in the configuration") : NULL;
        if (!path || read_full_file(path, 64 * 1024, &text, NULL) < 0)
                return;
        o = json_tokener_parse(text);
        if (o && json_object_object_get_ex(o, "reason", &v)) {
                m->hold = true;
                (void) free_and_strdup(&m->hold_reason, json_object_get_string(v));
        }
        json_object_put(o);
}

int manager_set_hold(Manager *m, bool hold, const char *reason) {
        _cleanup_free_ char *path = manager_state_path(m, "hold.json");
        int r;

        if (!path)
                return -ENOMEM;
        if (hold) {
                json_object *o = json_object_new_object();
                const char *s;

                json_object_object_add(o, "reason", json_object_new_string(strempty(reason)));
                s = json_object_to_json_string(o);
                r = write_file_atomic(path, s, strlen(s), 0644);
                json_object_put(o);
                if (r < 0)
                        return r;
        } else if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        else
                (void) fsync_parent_directory(path);

        free(m->hold_reason);
        m->hold_reason = NULL;
        m->hold = hold || m->config->policy.hold;
        if (hold)
                m->hold_reason = strdup(isempty(reason) ? "held by an administrator" : reason);
        else if (m->config->policy.hold)
                m->hold_reason = strdup("policy.hold is set in the configuration");
        manager_properties_changed(m, "Hold", "HoldReason", NULL);
        return 0;
}

int manager_last_upgrade(
        Manager *m,
        char **ret_from,
        char **ret_to,
        char **ret_kept_jar,
        char **ret_backup,
        char **ret_backup_sha256) {
        LastUpgrade u = {};
        int r;

        r = last_upgrade_read(m->config->state_dir, &u);
        if (r < 0)
                return r;
        *ret_from = TAKE_PTR(u.from);
        *ret_to = TAKE_PTR(u.to);
        *ret_kept_jar = TAKE_PTR(u.kept_jar);
        *ret_backup = TAKE_PTR(u.backup);
        *ret_backup_sha256 = TAKE_PTR(u.backup_sha256);
        return 0;
}

int manager_app_db(Manager *m, const UnitInfo *info, AppDb **ret, char **ret_error) {
        if (!isempty(m->config->backup.app_db))
                return appdb_from_string(m->config->backup.app_db, ret, ret_error);
        if (!info)
                return set_error_message(ret_error, -ENODATA, "%s is not known yet", m->config->service.unit);
        return appdb_from_environment(info->environment, info->working_directory, ret, ret_error);
}

void manager_set_app_db(Manager *m, const char *desc, const char *schema) {
        (void) free_and_strdup(&m->app_db, desc);
        (void) free_and_strdup(&m->app_db_schema, schema);
        manager_properties_changed(m, "AppDatabase", "AppDatabaseSchema", NULL);
}

void manager_set_app_db_changelog(Manager *m, char *const *ids, size_t n, uint64_t count) {
        char **copy = NULL;

        /* only a whole changelog says what is applied; an empty one (a new database) is empty */
        if (n != count)
                return;
        copy = n > 0 ? strv_copy(ids) : calloc(1, sizeof(char *));
        if (!copy)
                return;
        strv_free(m->app_db_changelog);
        m->app_db_changelog = copy;
}

static void on_probe_done(int r, DbReport *report, void *userdata) {
        Manager *m = userdata;

        if (r < 0) {
                log_warning("Cannot read the application database %s: %s", strempty(m->app_db), report->error);
                return;
        }
        manager_set_app_db(m, m->app_db, report->changelog_latest);
        manager_set_app_db_changelog(
                m, report->changelog_ids, report->n_changelog_ids, report->changelog_count);
}

/* What the application database is and, on a server, its newest change set (for status). Runs
 * mbupgraded-db when idle; an H2 file is locked by the running Metabase, so only named. */
static void manager_probe_app_db(Manager *m) {
        _cleanup_(appdb_freep) AppDb *db = NULL;
        _cleanup_free_ char *desc = NULL, *conninfo = NULL, *path = NULL;
        int r;

        if (m->op || m->probe || manager_app_db(m, m->unit, &db, NULL) < 0)
                return;
        desc = appdb_describe(db);
        if (!streq_ptr(desc, m->app_db))
                manager_set_app_db(m, desc, db->kind == APPDB_H2 ? NULL : m->app_db_schema);
        if (db->kind == APPDB_H2)
                return;
        conninfo = dbserver_conninfo(db);
        path = secret_path(m->config->state_dir, SECRET_PROBE);
        if (!conninfo || !path)
                return;
        r = secret_write(path, db);
        if (r >= 0)
                r = dbserver_run(
                        m->event,
                        appdb_kind_to_string(db->kind),
                        conninfo,
                        path,
                        STRV_MAKE("preflight"),
                        on_probe_done,
                        m,
                        &m->probe);
        /* The helper has it open as fd 3 by now: the copy on disk is of no more use. */
        (void) unlink(path);
        if (r < 0) {
                log_warning_errno(r, "Cannot read the application database %s: %m", strempty(desc));
        }
}

static void jar_info_freep_local(JarInfo **p) {
        jar_info_free(*p);
}

static void manager_read_jar(Manager *m, bool sync);
static void manager_update_from_unit(Manager *m);

/* A JAR that could not be read (missing, a FIFO, not a JAR) is read again every JAR_RETRY_USEC:
 * nothing else would tell the daemon once it is back, unless the unit changes. */
#define JAR_RETRY_USEC (5 * USEC_PER_SEC)

static int on_jar_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->jar_retry = sd_event_source_disable_unref(m->jar_retry);
        manager_update_from_unit(m);
        return 0;
}

static void jar_retry_later(Manager *m) {
        if (!m->jar_retry && m->event)
                (void) sd_event_add_time_relative(
                        m->event, &m->jar_retry, CLOCK_MONOTONIC, JAR_RETRY_USEC, 0, on_jar_retry, m);
}

static void on_running_version(HttpRequest *req, int status, const char *body, void *userdata) {
        Manager *m = userdata;
        json_object *o = NULL, *v, *t;

        if (status == 200 && (o = json_tokener_parse(body)) && json_object_object_get_ex(o, "version", &v) &&
            json_object_object_get_ex(v, "tag", &t) && mb_version_is_valid(json_object_get_string(t))) {
                (void) free_and_strdup(&m->running_version, json_object_get_string(t));
                manager_properties_changed(m, "RunningVersion", NULL);
        }
        json_object_put(o);
}

/* The installed JAR's version.properties, read in a worker: the JAR's directory may be the
 * Metabase user's, who could put a ZIP there whose central directory takes seconds to walk (jar.c
 * bounds it) or a FIFO (jar_inspect() opens O_NONBLOCK and refuses it). */
typedef struct JarRead {
        Manager *m;
        char *path;
        struct stat st;
        char *tag;
        unsigned generation;
} JarRead;

static int jar_read_run(void *userdata) {
        JarRead *j = userdata;
        _cleanup_(jar_info_freep_local) JarInfo *info = NULL;
        int r;

        r = jar_inspect(j->path, JAR_INSPECT_NO_SCAN, &info, NULL);
        if (r < 0)
                return r;
        j->tag = info->tag ? strdup(info->tag) : NULL;
        return j->tag ? 0 : -ENOMEM;
}

static void on_jar_read(int r, void *userdata) {
        JarRead *j = userdata;
        Manager *m = j->m;

        m->jar_reading = false;
        /* a newer read was asked for meanwhile (or the JAR is another): only its result counts */
        if (j->generation == m->jar_generation && streq_ptr(j->path, m->jar_path)) {
                (void) free_and_strdup(&m->installed_version, r >= 0 ? j->tag : NULL);
                m->jar_stat = r >= 0 ? j->st : (struct stat){};
                if (r < 0)
                        jar_retry_later(m);
                manager_properties_changed(m, "InstalledVersion", NULL); /* and the metrics */
        } else if (m->jar_path) {
                m->jar_stat = (struct stat){};
                manager_read_jar(m, false);
        }
        free(j->path);
        free(j->tag);
        free(j);
}

/* sync: before the loop runs (start-up), when nothing else waits on it. */
static void manager_read_jar(Manager *m, bool sync) {
        _cleanup_(jar_info_freep_local) JarInfo *info = NULL;
        const char *jar = m->jar_path;
        struct stat st;
        JarRead *j;

        /* systemd tells about every state change of the unit: read the JAR only when the file itself
         * changed. stat() of a FIFO does not block. */
        if (!jar || stat(jar, &st) < 0 || !S_ISREG(st.st_mode)) {
                (void) free_and_strdup(&m->installed_version, NULL);
                m->jar_stat = (struct stat){};
                if (jar)
                        jar_retry_later(m);
                return;
        }
        if (st.st_ino == m->jar_stat.st_ino && st.st_dev == m->jar_stat.st_dev &&
            st.st_size == m->jar_stat.st_size && st.st_mtim.tv_sec == m->jar_stat.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == m->jar_stat.st_mtim.tv_nsec && m->installed_version)
                return;
        m->jar_generation++;
        if (sync) {
                if (jar_inspect(jar, JAR_INSPECT_NO_SCAN, &info, NULL) >= 0) {
                        (void) free_and_strdup(&m->installed_version, info->tag);
                        m->jar_stat = st;
                } else {
                        (void) free_and_strdup(&m->installed_version, NULL);
                        m->jar_stat = (struct stat){};
                        jar_retry_later(m);
                }
                return;
        }
        if (m->jar_reading) /* on_jar_read() sees the new generation and reads again */
                return;
        j = calloc(1, sizeof(JarRead));
        if (!j || !(j->path = strdup(jar))) {
                free(j);
                return;
        }
        j->m = m;
        j->st = st;
        j->generation = m->jar_generation;
        if (worker_run(m->event, jar_read_run, on_jar_read, j) < 0) {
                free(j->path);
                free(j);
                return;
        }
        m->jar_reading = true;
}

static void manager_update_from_unit_full(Manager *m, bool sync) {
        const char *jar;

        jar = !isempty(m->config->service.jar) ? m->config->service.jar
                                               : (m->unit ? unit_info_jar(m->unit) : NULL);
        (void) free_and_strdup(&m->jar_path, jar);
        manager_read_jar(m, sync);

        if (m->unit && m->unit->active_state && streq(m->unit->active_state, "active")) {
                const char *port = unit_info_getenv(m->unit, "MB_JETTY_PORT");
                _cleanup_free_ char *url = NULL;

                if (!isempty(m->config->service.health_url))
                        url = http_url_with_path(m->config->service.health_url, "/api/session/properties");
                else
                        url = strdup_printf(
                                "http://127.0.0.1:%s/api/session/properties", isempty(port) ? "3000" : port);
                if (url)
                        /* Only the unit's own listener is believed (http.h). */
                        (void) http_get_owned(
                                m->event,
                                url,
                                strempty(m->unit->control_group),
                                5 * USEC_PER_SEC,
                                on_running_version,
                                m,
                                NULL);
        } else if (!m->op)
                (void) free_and_strdup(&m->running_version, NULL);
        manager_properties_changed(m, "InstalledVersion", "RunningVersion", "UnitActiveState", "JarPath", NULL);
        if (m->probe_app_db && !m->op) {
                m->probe_app_db = false;
                manager_probe_app_db(m);
        }
}

static void manager_update_from_unit(Manager *m) {
        manager_update_from_unit_full(m, false);
}

static void on_unit_refreshed(int r, UnitInfo *info, const char *error, void *userdata) {
        Manager *m = userdata;

        m->unit_refreshing = false;
        if (r < 0)
                return;
        unit_info_free(m->unit);
        m->unit = info;
        manager_update_from_unit(m);
}

void manager_refresh(Manager *m) {
        _cleanup_free_ char *from = NULL, *to = NULL, *kept = NULL, *backup = NULL, *sha = NULL;

        if (manager_last_upgrade(m, &from, &to, &kept, &backup, &sha) >= 0)
                (void) free_and_strdup(&m->previous_version, from);
        else
                (void) free_and_strdup(&m->previous_version, NULL);
        manager_properties_changed(m, "PreviousVersion", NULL);
        if (m->unit_refreshing)
                return;
        if (unit_info_load(m->systemd, m->config->service.unit, on_unit_refreshed, m) >= 0)
                m->unit_refreshing = true;
}

static void on_unit_changed(void *userdata) {
        manager_refresh(userdata);
}

int manager_load(Manager *m) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = systemd_new(m->bus, &m->systemd);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to systemd's manager on the bus: %m");
        r = systemd_watch_unit(m->systemd, m->config->service.unit, on_unit_changed, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch %s: %m", m->config->service.unit);

        load_hold(m);
        m->probe_app_db = true;
        r = unit_info_load_sync(m->systemd, m->config->service.unit, &m->unit, &error);
        if (r < 0)
                log_warning("%s; will retry when an operation starts", strempty(error));
        manager_update_from_unit_full(m, true);
        manager_refresh(m);
        return 0;
}

void manager_done(Manager *m) {
        m->probe = dbserver_cancel(m->probe);
        systemd_free(m->systemd);
        m->jar_retry = sd_event_source_disable_unref(m->jar_retry);
        unit_info_free(m->unit);
        free(m->jar_path);
        free(m->installed_version);
        free(m->running_version);
        free(m->previous_version);
        free(m->hold_reason);
        free(m->last_result);
        free(m->status_text);
        free(m->app_db);
        free(m->app_db_schema);
        strv_free(m->app_db_changelog);
}
