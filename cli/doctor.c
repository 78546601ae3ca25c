/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "appdb.h"
#include "build-config.h"
#include "bus-names.h"
#include "config.h"
#include "child.h"
#include "dbserver.h"
#include "java.h"
#include "unit.h"
#include "doctor.h"
#include "feed.h"
#include "fileio.h"
#include "jar.h"
#include "macro.h"
#include "strv.h"
#include "ui.h"

#define NGINX_SNIPPET PKGDATADIR "/nginx/maintenance.conf"
#define NGINX_UPSTREAM_SNIPPET PKGDATADIR "/nginx/upstream.conf"
#define NGINX_FAILOVER_SNIPPET PKGDATADIR "/nginx/failover.conf"
#define HELPER_TIMEOUT_USEC (60 * USEC_PER_SEC)

typedef enum Level {
        LEVEL_OK,
        LEVEL_WARN,
        LEVEL_FAIL,
} Level;

typedef struct Doctor {
        const char *config_path;
        Config *config;
        bool json;
        bool colors;
        json_object *checks; /* the --json array */
        unsigned n_failed, n_warned;

        sd_bus *bus;  /* NULL when the system bus cannot be reached */
        bool daemon;  /* the daemon answers */
        char *newest; /* the newest release: the daemon's, the cached feed's or the feed's */
        char *staged; /* the daemon's Staged property */
        UnitInfo *unit;
        char *jar_path;
        JarInfo *jar;
        unsigned jar_java; /* the Java the installed JAR needs (jar_java_needed()) */
        AppDb *appdb;
        uint64_t db_size; /* bytes; 0 when unknown */
} Doctor;

static const char *level_to_string(Level l) {
        return (const char *[]){"ok", "warn", "fail"}[l];
}

/* One check's verdict: printed at once (or added to the JSON), fix only for warn and fail. */
static void report(Doctor *d, Level level, const char *name, const char *fix, const char *fmt, ...)
        _printf_(5, 6);
static void report(Doctor *d, Level level, const char *name, const char *fix, const char *fmt, ...) {
        static const UiColor colors[] = {UI_GOOD, UI_NOTICE, UI_BAD};
        _cleanup_free_ char *found = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&found, fmt, ap) < 0)
                found = NULL;
        va_end(ap);

        if (level == LEVEL_FAIL)
                d->n_failed++;
        else if (level == LEVEL_WARN)
                d->n_warned++;
        if (d->json) {
                json_object *o = json_object_new_object();
                if (!o)
                        return;
                json_object_object_add(o, "check", json_object_new_string(name));
                json_object_object_add(o, "result", json_object_new_string(level_to_string(level)));
                json_object_object_add(o, "found", json_object_new_string(strempty(found)));
                if (level != LEVEL_OK && fix)
                        json_object_object_add(o, "fix", json_object_new_string(fix));
                json_object_array_add(d->checks, o);
                return;
        }
        printf("%s%-4s%s  %-10s  %s\n",
               ui_color_on(colors[level], d->colors),
               level_to_string(level),
               ui_color_off(colors[level], d->colors),
               name,
               strempty(found));
        if (level != LEVEL_OK && fix)
                printf("%18s%s\n", "fix: ", fix);
}

/* Helpers run from an event loop, as the daemon runs them; a timer bounds the wait. */
typedef struct HelperRun {
        sd_event *event;
        bool done;
        int status;
        char *last;
        DbReport report;
        int db_r;
} HelperRun;

static void on_helper_exit(Child *c, int status, const char *last_line, void *userdata) {
        HelperRun *h = userdata;

        h->done = true;
        h->status = status;
        h->last = strdup(strempty(last_line));
        (void) sd_event_exit(h->event, 0);
}

static void on_db_done(int r, DbReport *report, void *userdata) {
        HelperRun *h = userdata;

        h->done = true;
        h->db_r = r;
        /* The report is freed after this returns: keep what the checks need. */
        h->report.server_version = report->server_version ? strdup(report->server_version) : NULL;
        h->report.database_size = report->database_size;
        h->report.have_database_size = report->have_database_size;
        h->report.changelog_latest = report->changelog_latest ? strdup(report->changelog_latest) : NULL;
        h->report.lock_holder = report->lock_holder ? strdup(report->lock_holder) : NULL;
        h->report.error = report->error ? strdup(report->error) : NULL;
        (void) sd_event_exit(h->event, 0);
}

static int on_helper_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(userdata, -ETIMEDOUT);
}

static int helper_loop(sd_event *e) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        int r;

        r = sd_event_add_time_relative(
                e, &timer, CLOCK_MONOTONIC, HELPER_TIMEOUT_USEC, 0, on_helper_timeout, e);
        if (r < 0)
                return r;
        return sd_event_loop(e);
}

static void helper_run_done(HelperRun *h) {
        free(h->last);
        free(h->report.server_version);
        free(h->report.changelog_latest);
        free(h->report.lock_holder);
        free(h->report.error);
        h->event = sd_event_unref(h->event);
}

/* A directory of our own under /tmp for what a helper writes; removed with what is in it. */
static void tmpdir_remove(char **dir) {
        DIR *dd;

        if (!*dir)
                return;
        dd = opendir(*dir);
        if (dd) {
                struct dirent *de;
                while ((de = readdir(dd)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                (void) unlinkat(dirfd(dd), de->d_name, 0);
                closedir(dd);
        }
        (void) rmdir(*dir);
        *dir = mfree_str(*dir);
}

static char *tmpdir_make(void) {
        char t[] = "/tmp/mbctl-doctor.XXXXXX";
        return mkdtemp(t) ? strdup(t) : NULL;
}

static const char *fetch_helper_path(void) {
        const char *p = secure_getenv("MBUPGRADED_FETCH");
        return !isempty(p) ? p : LIBEXECDIR "/mbupgraded-fetch";
}

/* Checks */

static void check_config(Doctor *d) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = config_load(d->config_path, &d->config, &error);
        if (r == -ENOENT && streq(d->config_path, CONFIG_DEFAULT_PATH)) {
                d->config = config_new();
                report(d, LEVEL_OK, "config", NULL, "%s does not exist: every key has its default", d->config_path);
        } else if (r < 0) {
                _cleanup_free_ char *fix = strdup_printf(
                        "correct what the message names, then: mbctl config check %s", d->config_path);
                d->config = config_new();
                report(d,
                       LEVEL_FAIL,
                       "config",
                       fix,
                       "%s (the checks below use the defaults)",
                       error ?: strerror(-r));
        } else
                report(d,
                       LEVEL_OK,
                       "config",
                       NULL,
                       "%s: unit %s, state_dir %s, backup.dir %s",
                       d->config_path,
                       d->config->service.unit,
                       d->config->state_dir,
                       d->config->backup.dir);
}

static char *daemon_property(Doctor *d, const char *name) {
        char *v = NULL;
        if (sd_bus_get_property_string(d->bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, name, NULL, &v) < 0)
                return NULL;
        return v;
}

static void check_daemon(Doctor *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL, *installed = NULL;
        char *v = NULL;
        int r;

        r = sd_bus_open_system(&d->bus);
        if (r < 0) {
                d->bus = NULL;
                report(d,
                       LEVEL_WARN,
                       "daemon",
                       "start D-Bus: systemctl start dbus",
                       "cannot connect to the system bus (%s); the checks below run offline",
                       strerror(-r));
                return;
        }
        r = sd_bus_get_property_string(d->bus, MB_BUS_NAME, MB_BUS_PATH, MB_BUS_INTERFACE, "State", &error, &v);
        if (r < 0) {
                report(d,
                       LEVEL_WARN,
                       "daemon",
                       "systemctl enable --now mbupgraded.service",
                       "mbupgraded does not answer on the bus (%s); the checks below run offline",
                       error.message ?: strerror(-r));
                return;
        }
        state = v;
        d->daemon = true;
        installed = daemon_property(d, "InstalledVersion");
        d->staged = daemon_property(d, "Staged");
        v = daemon_property(d, "NewestAvailable");
        if (!isempty(v))
                d->newest = v;
        else
                free(v);
        report(d,
               LEVEL_OK,
               "daemon",
               NULL,
               "mbupgraded is %s; installed %s",
               state,
               isempty(installed) ? "-" : installed);
}

static void check_unit(Doctor *d) {
        _cleanup_free_ char *error = NULL, *fix = NULL;
        const char *unit = d->config->service.unit;
        int r;

        if (!d->bus) {
                report(d, LEVEL_FAIL, "unit", "systemctl start dbus", "cannot read %s without the system bus", unit);
                return;
        }
        r = unit_info_load_bus(d->bus, unit, &d->unit, &error);
        if (r == -EACCES) {
                report(d,
                       LEVEL_WARN,
                       "unit",
                       "run as root: sudo mbctl doctor",
                       "cannot read the EnvironmentFile= of %s: %s",
                       unit,
                       strerror(-r));
                return;
        }
        if (r < 0) {
                report(d, LEVEL_FAIL, "unit", "systemctl status dbus", "%s", error ?: strerror(-r));
                return;
        }
        fix = strdup_printf(
                "set service.unit in %s to the unit that runs Metabase (systemctl list-units --type=service)",
                d->config_path);
        if (!streq_ptr(d->unit->load_state, "loaded")) {
                report(d, LEVEL_FAIL, "unit", fix, "%s is %s", unit, strempty(d->unit->load_state));
                d->unit = unit_info_free(d->unit);
                return;
        }
        if (!d->unit->exec_argv || !d->unit->exec_argv[0]) {
                report(d, LEVEL_FAIL, "unit", fix, "%s has no ExecStart=", unit);
                return;
        }
        _cleanup_free_ char *cmd = NULL;
        for (char **a = d->unit->exec_argv; *a; a++) {
                char *n = strdup_printf("%s%s%s", strempty(cmd), cmd ? " " : "", *a);
                if (!n)
                        return;
                free_and_replace(cmd, n);
        }
        _cleanup_free_ char *start = strdup_printf("systemctl start %s", unit);
        report(d,
               streq_ptr(d->unit->active_state, "active") ? LEVEL_OK : LEVEL_WARN,
               "unit",
               start,
               "%s is %s (%s); ExecStart=%s",
               unit,
               strempty(d->unit->active_state),
               strempty(d->unit->sub_state),
               cmd);
}

/* Secrets at rest (issue 15, item 10): a file that holds a database password must not be readable
 * by every user, nor by a group other than root's and admin_group. Returns the reason, or NULL. */
static char *secret_file_exposed(Doctor *d, const char *path, struct stat *st) {
        struct group *g = NULL;

        if (stat(path, st) < 0)
                return NULL;
        if (st->st_mode & S_IROTH)
                return strdup_printf("every user can read it (mode %04o)", (unsigned) (st->st_mode & 07777));
        if (!(st->st_mode & S_IRGRP) || st->st_gid == 0)
                return NULL;
        if (!isempty(d->config->admin_group))
                g = getgrnam(d->config->admin_group);
        if (g && g->gr_gid == st->st_gid)
                return NULL;
        return strdup_printf(
                "the group %u can read it (mode %04o)",
                (unsigned) st->st_gid,
                (unsigned) (st->st_mode & 07777));
}

/* Whether an EnvironmentFile= holds a password: MB_DB_PASS, or one in MB_DB_CONNECTION_URI. -errno
 * when it cannot be read. */
static int environment_file_has_password(const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[4096];

        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                const char *l = line + strspn(line, " \t"), *v;
                if (startswith(l, "export "))
                        l += strlen("export ");
                if (startswith(l, "MB_DB_PASS=")) {
                        v = l + strlen("MB_DB_PASS=");
                        v += strspn(v, "\"' \t");
                        if (*v && *v != '\n')
                                return 1;
                } else if (startswith(l, "MB_DB_CONNECTION_URI=")) {
                        const char *at = strchr(l, '@'), *scheme = strstr(l, "://");
                        if (strstr(l, "password=") ||
                            (scheme && at && memchr(scheme + 3, ':', (size_t) (at - scheme - 3))))
                                return 1;
                }
        }
        return 0;
}

static void check_secrets(Doctor *d) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *unit_path = NULL, *fix = NULL, *where = NULL;
        _cleanup_(appdb_freep) AppDb *db = NULL;
        struct stat st;
        bool warned = false;
        int r;

        fix = strdup_printf(
                "chgrp %s FILE && chmod 0640 FILE (root and the admins read it; the daemon runs as root)",
                isempty(d->config->admin_group) ? "root" : d->config->admin_group);
        if (d->config->path && !isempty(d->config->backup.app_db) &&
            appdb_from_string(d->config->backup.app_db, &db, NULL) >= 0 && db && !isempty(db->password)) {
                _cleanup_free_ char *why = secret_file_exposed(d, d->config->path, &st);
                if (why) {
                        report(d,
                               LEVEL_WARN,
                               "secrets",
                               fix,
                               "%s holds the database password (backup.app_db) and %s",
                               d->config->path,
                               why);
                        warned = true;
                } else
                        where = strdup_printf(
                                "%s (mode %04o)", d->config->path, (unsigned) (st.st_mode & 07777));
        }

        /* The unit's EnvironmentFile=s, from systemd: the password Metabase itself reads. */
        if (d->bus &&
            sd_bus_path_encode("/org/freedesktop/systemd1/unit", d->config->service.unit, &unit_path) >= 0 &&
            sd_bus_get_property(
                    d->bus,
                    "org.freedesktop.systemd1",
                    unit_path,
                    "org.freedesktop.systemd1.Service",
                    "EnvironmentFiles",
                    NULL,
                    &reply,
                    "a(sb)") >= 0 &&
            sd_bus_message_enter_container(reply, 'a', "(sb)") >= 0) {
                const char *path;
                int ignore;

                while (sd_bus_message_read(reply, "(sb)", &path, &ignore) > 0) {
                        _cleanup_free_ char *why = secret_file_exposed(d, path, &st);
                        if (!why)
                                continue;
                        r = environment_file_has_password(path);
                        if (r <= 0)
                                continue;
                        report(d,
                               LEVEL_WARN,
                               "secrets",
                               fix,
                               "%s (EnvironmentFile= of %s) holds the database password and %s",
                               path,
                               d->config->service.unit,
                               why);
                        warned = true;
                }
        }
        if (!warned)
                report(d,
                       LEVEL_OK,
                       "secrets",
                       NULL,
                       "no file this checks that holds a password is readable by others%s%s",
                       where ? "; " : "",
                       strempty(where));
}

static void check_jar(Doctor *d) {
        _cleanup_free_ char *error = NULL, *fix = NULL;
        const char *jar = d->config->service.jar;
        int r;

        if (isempty(jar))
                jar = d->unit ? unit_info_jar(d->unit) : NULL;
        if (isempty(jar) || jar[0] != '/') {
                fix = strdup_printf(
                        "set service.jar in %s to the absolute path of metabase.jar", d->config_path);
                report(d,
                       d->unit ? LEVEL_FAIL : LEVEL_WARN,
                       "jar",
                       fix,
                       "%s",
                       d->unit ? "ExecStart= has no '-jar /absolute/path'" : "unknown without the unit");
                return;
        }
        d->jar_path = strdup(jar);
        r = jar_inspect(jar, 0, &d->jar, &error);
        if (r < 0) {
                fix = strdup_printf(
                        "put Metabase's JAR back at %s (the versions mbupgraded kept are under %s/releases/), "
                        "or set service.jar in %s",
                        jar,
                        d->config->state_dir,
                        d->config_path);
                report(d, LEVEL_FAIL, "jar", fix, "%s: %s", jar, error ?: strerror(-r));
                return;
        }
        /* The Java it needs is the highest class-file version among its classes (the main class is
         * a gen-class stub at 49); Metabase's table when they cannot tell. */
        d->jar_java = jar_java_needed(d->jar, NULL);
        report(d,
               LEVEL_OK,
               "jar",
               NULL,
               "%s: %s (%s), main class %s, needs Java %u (%u classes, newest at class-file version %u), "
               "%" PRIu64 " MiB",
               jar,
               d->jar->tag,
               d->jar->version.edition ? "enterprise" : "oss",
               d->jar->main_class,
               d->jar_java,
               d->jar->classes,
               d->jar->class_major,
               d->jar->size >> 20);
}

/* The newest release of the channel in a feed's text. */
static char *feed_newest(const Doctor *d, const char *text, size_t size, size_t *ret_n, char **ret_error) {
        Feed *f = NULL;
        char *v;
        int r;

        r = feed_parse(text, size, d->config->releases.channel == CHANNEL_BETA, &f, ret_error);
        if (r < 0)
                return NULL;
        v = f->n > 0 ? strdup(f->releases[0].version) : NULL;
        if (ret_n)
                *ret_n = f->n;
        feed_free(f);
        return v;
}

static void check_feed(Doctor *d) {
        _cleanup_(tmpdir_remove) char *dir = NULL;
        _cleanup_free_ char *out = NULL, *text = NULL, *error = NULL, *fix = NULL, *newest = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        HelperRun h = {};
        size_t size = 0, n = 0;
        char max[32];
        int r;

        fix = strdup_printf(
                "check releases.feed in %s (%s)%s",
                d->config_path,
                d->config->releases.feed,
                isempty(d->config->releases.ca_file) ? "" : " and releases.ca_file");
        dir = tmpdir_make();
        out = dir ? path_join(dir, "version-info.json") : NULL;
        if (!out) {
                report(d,
                       LEVEL_WARN,
                       "feed",
                       "make room under /tmp",
                       "cannot make a temporary directory under /tmp");
                return;
        }
        /* The daemon's arguments for a feed, with a shorter connect timeout. */
        snprintf(max, sizeof(max), "%u", FEED_SIZE_MAX);
        if (strv_extend(&argv, fetch_helper_path()) < 0 || strv_extend(&argv, "--url") < 0 ||
            strv_extend(&argv, d->config->releases.feed) < 0 || strv_extend(&argv, "--output") < 0 ||
            strv_extend(&argv, out) < 0 || strv_extend(&argv, "--max-size") < 0 ||
            strv_extend(&argv, max) < 0 || strv_extend(&argv, "--connect-timeout") < 0 ||
            strv_extend(&argv, "15") < 0 ||
            (startswith(d->config->releases.feed, "http://") &&
             strv_extend(&argv, "--allow-http-loopback") < 0) ||
            (!isempty(d->config->releases.ca_file) &&
             (strv_extend(&argv, "--ca-file") < 0 || strv_extend(&argv, d->config->releases.ca_file) < 0)))
                return;
        r = sd_event_new(&h.event);
        if (r >= 0)
                r = child_spawn(h.event, argv, NULL, on_helper_exit, &h, NULL);
        if (r < 0) {
                _cleanup_free_ char *f2 = strdup_printf(
                        "install mbupgraded-fetch (or set MBUPGRADED_FETCH to its path)");
                report(d, LEVEL_FAIL, "feed", f2, "cannot run %s: %s", argv[0], strerror(-r));
                helper_run_done(&h);
                return;
        }
        r = helper_loop(h.event);
        if (r < 0 || !h.done) {
                report(d,
                       LEVEL_FAIL,
                       "feed",
                       fix,
                       "%s: no answer within %" PRIu64 " s",
                       d->config->releases.feed,
                       HELPER_TIMEOUT_USEC / USEC_PER_SEC);
                helper_run_done(&h);
                return;
        }
        if (h.status != 0 || !startswith(strempty(h.last), "done")) {
                /* "error KIND MESSAGE" */
                const char *msg = NULL;
                if (h.last && startswith(h.last, "error ")) {
                        msg = strchr(h.last + strlen("error "), ' ');
                        msg = msg ? msg + 1 : h.last;
                }
                report(d,
                       LEVEL_FAIL,
                       "feed",
                       fix,
                       "%s: %s",
                       d->config->releases.feed,
                       isempty(msg) ? "the download helper failed" : msg);
                helper_run_done(&h);
                return;
        }
        helper_run_done(&h);
        r = read_full_file(out, FEED_SIZE_MAX, &text, &size);
        if (r >= 0)
                newest = feed_newest(d, text, size, &n, &error);
        if (!newest) {
                report(d, LEVEL_FAIL, "feed", fix, "%s: %s", d->config->releases.feed, error ?: "not a release feed");
                return;
        }
        report(d, LEVEL_OK, "feed", NULL, "%s: %zu releases, newest %s", d->config->releases.feed, n, newest);
        /* Fresher than what the daemon read at its last check. */
        free_and_replace(d->newest, newest);
}

/* What the newest release needs, from its staged and verified JAR if there is one, else from
 * Metabase's published requirements (reference/METABASE.md): v0.53+ Java 21, v0.44+ Java 11. */
static unsigned java_needed_for(Doctor *d, const char *version, char **ret_source) {
        _cleanup_free_ char *dir = NULL, *marker = NULL, *text = NULL;
        MbVersion v;

        dir = path_join(d->config->state_dir, "staging");
        marker = dir ? strdup_printf("%s/%s/verified.json", dir, version) : NULL;
        if (marker && read_full_file(marker, 64 * 1024, &text, NULL) >= 0) {
                json_object *o = json_tokener_parse(text), *j;
                int needed = o && json_object_object_get_ex(o, "java_needed", &j) ? json_object_get_int(j) : 0;
                json_object_put(o);
                if (needed > 0) {
                        *ret_source = strdup_printf("its staged, verified JAR (%s)", marker);
                        return (unsigned) needed;
                }
        }
        if (mb_version_parse(version, &v) < 0)
                return 0;
        *ret_source = strdup("Metabase's requirements for its release");
        return jar_java_for_version(&v);
}

static void check_java(Doctor *d) {
        _cleanup_free_ char *error = NULL, *source = NULL, *fix = NULL;
        unsigned have, need;
        int r;

        if (!d->unit) {
                report(d, LEVEL_WARN, "java", "see the unit check above", "unknown without the unit's ExecStart");
                return;
        }
        r = java_feature_version(d->unit->exec_path, &have, &error);
        if (r < 0) {
                report(d, LEVEL_WARN, "java", "name Java by its absolute path in ExecStart=", "%s", strempty(error));
                return;
        }
        if (d->jar && d->jar_java > have) {
                fix = java_fix_message(d->jar_java, d->unit->name, d->jar_path);
                report(d,
                       LEVEL_FAIL,
                       "java",
                       fix,
                       "Java %u (%s), but the installed %s needs Java %u",
                       have,
                       d->unit->exec_path,
                       d->jar->tag,
                       d->jar_java);
                return;
        }
        if (!d->newest) {
                report(d,
                       LEVEL_WARN,
                       "java",
                       "mbctl check",
                       "Java %u (%s); the newest release is not known yet",
                       have,
                       d->unit->exec_path);
                return;
        }
        need = java_needed_for(d, d->newest, &source);

        if (need > have) {
                _cleanup_free_ char *how = java_fix_message(need, d->unit->name, d->jar_path);
                fix = strdup_printf(
                        "before upgrading to %s, install a Java %u runtime: %s", d->newest, need, strempty(how));
                report(d,
                       LEVEL_FAIL,
                       "java",
                       fix,
                       "Java %u (%s), but the newest release %s needs Java %u (from %s)",
                       have,
                       d->unit->exec_path,
                       d->newest,
                       need,
                       strempty(source));
                return;
        }
        report(d,
               LEVEL_OK,
               "java",
               NULL,
               "Java %u (%s); the newest release %s needs Java %u (from %s)",
               have,
               d->unit->exec_path,
               d->newest,
               need,
               strempty(source));
}

/* Metabase runs v0.53 and later as 'java --add-opens java.base/java.nio=ALL-UNNAMED -jar
 * metabase.jar': warn when the unit's command line lacks it for the installed or the newest release. */
static void check_add_opens(Doctor *d) {
        _cleanup_free_ char *fix = NULL;
        const char *which = NULL;
        MbVersion v;

        if (!d->unit)
                return;
        if (d->jar && jar_wants_add_opens(&d->jar->version))
                which = d->jar->tag;
        else if (d->newest && mb_version_parse(d->newest, &v) >= 0 && jar_wants_add_opens(&v))
                which = d->newest;
        if (!which)
                return;
        if (java_argv_has_add_opens(d->unit->exec_argv)) {
                report(d,
                       LEVEL_OK,
                       "java-opens",
                       NULL,
                       "ExecStart= has --add-opens %s, as Metabase runs %s",
                       JAVA_ADD_OPENS_NIO,
                       which);
                return;
        }
        fix = strdup_printf(
                "systemctl edit %s: 'ExecStart=' then ExecStart= with '--add-opens %s' before -jar",
                d->unit->name,
                JAVA_ADD_OPENS_NIO);
        report(d,
               LEVEL_WARN,
               "java-opens",
               fix,
               "ExecStart= lacks --add-opens %s, with which Metabase says to run %s ('java --add-opens %s -jar "
               "metabase.jar')",
               JAVA_ADD_OPENS_NIO,
               which,
               JAVA_ADD_OPENS_NIO);
}

static void check_database(Doctor *d) {
        _cleanup_free_ char *error = NULL, *desc = NULL, *fix = NULL, *conninfo = NULL, *secret = NULL,
                            *secret_file = NULL;
        _cleanup_(tmpdir_remove) char *dir = NULL;
        HelperRun h = {};
        int r;

        fix = strdup_printf(
                "correct the database settings (MB_DB_*) of %s, or backup.app_db in %s",
                d->config->service.unit,
                d->config_path);
        if (!isempty(d->config->backup.app_db))
                r = appdb_from_string(d->config->backup.app_db, &d->appdb, &error);
        else if (d->unit)
                r = appdb_from_environment(
                        d->unit->environment, strempty(d->unit->working_directory), &d->appdb, &error);
        else {
                report(d, LEVEL_WARN, "database", "see the unit check above", "unknown without the unit");
                return;
        }
        if (r < 0) {
                report(d, LEVEL_FAIL, "database", fix, "%s", error ?: strerror(-r));
                return;
        }
        desc = appdb_describe(d->appdb);
        if (d->appdb->kind == APPDB_H2) {
                struct stat st;
                if (stat(d->appdb->h2_file, &st) < 0) {
                        report(d,
                               LEVEL_WARN,
                               "database",
                               "start Metabase once so that it creates its database, or correct MB_DB_FILE",
                               "%s: %s",
                               strempty(desc),
                               strerror(errno));
                        return;
                }
                d->db_size = (uint64_t) st.st_size;
                report(d, LEVEL_OK, "database", NULL, "%s, %" PRIu64 " MiB", strempty(desc), d->db_size >> 20);
                return;
        }
        if (geteuid() != 0) {
                report(d,
                       LEVEL_WARN,
                       "database",
                       "run as root: sudo mbctl doctor",
                       "%s: not connected (the password is root's to read)",
                       strempty(desc));
                return;
        }
        /* As the daemon does it: the connection in the helper's environment, the password in a
         * 0600 file, here in a directory of our own under /tmp. */
        conninfo = dbserver_conninfo(d->appdb);
        secret = dbserver_secret(d->appdb);
        dir = tmpdir_make();
        secret_file = dir ? path_join(dir, "secret") : NULL;
        if (!conninfo || !secret || !secret_file) {
                report(d, LEVEL_WARN, "database", "make room under /tmp", "cannot prepare the connection");
                return;
        }
        r = dbserver_write_secret(secret_file, secret);
        if (r >= 0)
                r = sd_event_new(&h.event);
        if (r >= 0)
                r = dbserver_run(
                        h.event,
                        appdb_kind_to_string(d->appdb->kind),
                        conninfo,
                        secret_file,
                        STRV_MAKE("preflight"),
                        on_db_done,
                        &h,
                        NULL);
        if (r < 0) {
                report(d,
                       LEVEL_FAIL,
                       "database",
                       "install mbupgraded-db (or set MBUPGRADED_DB to its path)",
                       "cannot run %s: %s",
                       dbserver_helper_path(),
                       strerror(-r));
                helper_run_done(&h);
                return;
        }
        r = helper_loop(h.event);
        if (r < 0 || !h.done)
                report(d,
                       LEVEL_FAIL,
                       "database",
                       fix,
                       "%s: no answer within %" PRIu64 " s",
                       strempty(desc),
                       HELPER_TIMEOUT_USEC / USEC_PER_SEC);
        else if (h.db_r < 0)
                report(d, LEVEL_FAIL, "database", fix, "%s: %s", strempty(desc), strempty(h.report.error));
        else {
                _cleanup_free_ char *server = NULL;
                unsigned v;

                /* PostgreSQL says 150020 for 15.20. */
                if (d->appdb->kind == APPDB_POSTGRES && safe_atou(strempty(h.report.server_version), &v) >= 0)
                        server = strdup_printf("PostgreSQL %u.%u", v / 10000, v % 10000);
                d->db_size = h.report.database_size;
                if (h.report.lock_holder)
                        report(d,
                               LEVEL_WARN,
                               "database",
                               "java --add-opens java.base/java.nio=ALL-UNNAMED -jar metabase.jar migrate release-locks "
                               "(with Metabase stopped)",
                               "%s: Liquibase's DATABASECHANGELOGLOCK is held (%s): an upgrade would be refused",
                               strempty(desc),
                               h.report.lock_holder);
                else
                        report(d,
                               LEVEL_OK,
                               "database",
                               NULL,
                               "%s: server %s, %" PRIu64 " MiB, schema %s",
                               strempty(desc),
                               server ?: strempty(h.report.server_version),
                               d->db_size >> 20,
                               h.report.changelog_latest ?: "empty");
        }
        helper_run_done(&h);
}

/* A directory mbupgraded writes to: writable (access(), nothing is written) with room for need
 * bytes. A missing one is made by the daemon under a writable parent. */
static void
check_dir(Doctor *d, const char *name, const char *key, const char *path, uint64_t need, const char *what) {
        _cleanup_free_ char *fix = NULL, *existing = strdup(path);
        uint64_t free_bytes = 0;
        int r;

        if (!existing)
                return;
        fix = strdup_printf(
                "make %s writable for root (a read-only mount? chattr +i?), or set %s in %s to a directory that is",
                path,
                key,
                d->config_path);
        /* Walk up to what exists: the daemon creates the rest. */
        while (access(existing, F_OK) < 0 && errno == ENOENT && strrchr(existing, '/') &&
               !streq(existing, "/")) {
                char *slash = strrchr(existing, '/');
                if (slash == existing)
                        slash[1] = '\0';
                else
                        *slash = '\0';
        }
        if (access(existing, W_OK) < 0) {
                report(d,
                       LEVEL_FAIL,
                       name,
                       fix,
                       "%s%s%s is not writable: %s",
                       existing,
                       streq(existing, path) ? "" : ", the parent of ",
                       streq(existing, path) ? "" : path,
                       strerror(errno));
                return;
        }
        r = disk_free_bytes(path, &free_bytes, NULL);
        if (r < 0) {
                report(d, LEVEL_WARN, name, fix, "%s: cannot tell the free space: %s", path, strerror(-r));
                return;
        }
        if (need > free_bytes) {
                free(fix);
                fix = strdup_printf(
                        "free %" PRIu64 " MiB under %s, or set %s in %s to a file system with room",
                        (need - free_bytes + (1 << 20) - 1) >> 20,
                        path,
                        key,
                        d->config_path);
                report(d,
                       LEVEL_FAIL,
                       name,
                       fix,
                       "%s: %" PRIu64 " MiB free, %s needs %" PRIu64 " MiB",
                       path,
                       free_bytes >> 20,
                       what,
                       (need + (1 << 20) - 1) >> 20);
                return;
        }
        report(d,
               LEVEL_OK,
               name,
               NULL,
               "%s: writable%s, %" PRIu64 " MiB free (%s: %" PRIu64 " MiB)",
               path,
               streq(existing, path) ? "" : " (made when first needed)",
               free_bytes >> 20,
               what,
               (need + (1 << 20) - 1) >> 20);
}

/* Metabase's port as the daemon checks it: service.health_url's, else the unit's MB_JETTY_PORT,
 * else 3000. 0 when it can't be told. */
static unsigned metabase_port(Doctor *d) {
        const char *url = d->config->service.health_url, *p, *env;
        unsigned port = 3000;

        if (!isempty(url)) {
                p = strstr(url, "://");
                p = p ? p + 3 : url;
                p += strcspn(p, "/");
                while (p > url && p[-1] >= '0' && p[-1] <= '9')
                        p--;
                if (p == url || p[-1] != ':' || sscanf(p, "%u", &port) != 1)
                        return startswith(url, "https:") ? 443 : 80;
                return port;
        }
        env = d->unit ? unit_info_getenv(d->unit, "MB_JETTY_PORT") : NULL;
        if (!isempty(env) && (safe_atou(env, &port) < 0 || port == 0 || port > 65535))
                return 0;
        return port;
}

/* A squatted port (issue 15, item 4): a port at or above net.ipv4.ip_unprivileged_port_start is one
 * any local user may bind while Metabase is stopped for an upgrade; the daemon then does not stop
 * it, or does not start the new version, but the admin can close the window for good. */
static void check_port(Doctor *d) {
        _cleanup_free_ char *text = NULL, *fix = NULL;
        unsigned port = metabase_port(d), start = 1024;

        if (port == 0)
                return;
        if (read_full_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", 64, &text, NULL) >= 0)
                (void) sscanf(text, "%u", &start);
        if (port < start) {
                report(d,
                       LEVEL_OK,
                       "port",
                       NULL,
                       "Metabase's port %u is below net.ipv4.ip_unprivileged_port_start (%u): only root can bind it",
                       port,
                       start);
                return;
        }
        fix = strdup_printf(
                "move Metabase to a port below %u: MB_JETTY_PORT=PORT and AmbientCapabilities=CAP_NET_BIND_SERVICE "
                "in a drop-in (systemctl edit %s), and the proxy in front (nginx) sent there; the daemon checks "
                "the port before it stops Metabase and before it starts it",
                start,
                d->config->service.unit);
        report(d,
               LEVEL_WARN,
               "port",
               fix,
               "Metabase's port %u is at or above net.ipv4.ip_unprivileged_port_start (%u): any local user can bind "
               "it while Metabase is stopped for an upgrade, and keep it from starting (the daemon then waits or "
               "rolls back, naming the user)",
               port,
               start);
}

/* fleet.key_file (README, "What a writer of the coordination database can do"): without it the
 * coordination database's rows are not signed and whoever can write them (every node's Metabase
 * has the role's password) forges a rollout that skips the backup. The file: regular, root's
 * alone, and a key in it (the agent refuses fewer than 16 bytes). Config only: no daemon needed. */
static void check_fleet_key(Doctor *d) {
        static const char make[] =
                "head -c 32 /dev/urandom | base64 > /etc/mbupgraded/fleet.key; chmod 0600 /etc/mbupgraded/fleet.key; "
                "copy the same file to every node (root's, mode 0600), set fleet.key_file: /etc/mbupgraded/fleet.key "
                "and restart mbupgraded on each";
        const char *path = d->config->fleet.key_file;
        _cleanup_free_ char *fix = NULL;
        struct stat st;

        if (!d->config->fleet.enabled)
                return;
        if (isempty(path)) {
                report(d,
                       LEVEL_FAIL,
                       "fleet-key",
                       make,
                       "fleet.enabled without fleet.key_file: the coordination database's rows are not signed, so "
                       "whoever can write it (any node's Metabase has the role's password) can forge a rollout "
                       "that skips the backup");
                return;
        }
        if (lstat(path, &st) < 0) {
                report(d, LEVEL_FAIL, "fleet-key", make, "fleet.key_file %s: %s", path, strerror(errno));
                return;
        }
        fix = strdup_printf("chown root:root %s && chmod 0600 %s (the same file on every node)", path, path);
        if (!S_ISREG(st.st_mode))
                report(d,
                       LEVEL_FAIL,
                       "fleet-key",
                       make,
                       "fleet.key_file %s is not a regular file (a symlink, a directory...): the agent refuses it",
                       path);
        else if (st.st_uid != 0 || (st.st_mode & 0077))
                report(d,
                       LEVEL_FAIL,
                       "fleet-key",
                       fix,
                       "fleet.key_file %s is owned by uid %u with mode %04o: whoever else can read it can sign the "
                       "fleet's rows (it must be root's alone, 0600 or 0400; the agent refuses it)",
                       path,
                       (unsigned) st.st_uid,
                       (unsigned) (st.st_mode & 07777));
        else if (st.st_size < 16)
                report(d,
                       LEVEL_FAIL,
                       "fleet-key",
                       make,
                       "fleet.key_file %s holds %jd bytes, fewer than 16: no key",
                       path,
                       (intmax_t) st.st_size);
        else
                report(d,
                       LEVEL_OK,
                       "fleet-key",
                       NULL,
                       "%s, root's alone (mode %04o): the fleet's rows are signed",
                       path,
                       (unsigned) (st.st_mode & 07777));
}

/* fleet.enabled: the daemon reaches the coordination database, and sees every node it expects
 * alive. Only with the daemon: the fleet is what its agent last heard. */
static void check_fleet(Doctor *d) {
        _cleanup_free_ char *text = NULL;
        json_object *o, *v;
        uint64_t expected, healthy;

        if (!d->config->fleet.enabled)
                return;
        if (!d->daemon) {
                report(d,
                       LEVEL_WARN,
                       "fleet",
                       "start mbupgraded",
                       "fleet.enabled, but the daemon does not answer: the fleet is not checked");
                return;
        }
        text = daemon_property(d, "Fleet");
        o = isempty(text) ? NULL : json_tokener_parse(text);
        if (!o) {
                report(d,
                       LEVEL_WARN,
                       "fleet",
                       "systemctl restart mbupgraded.service",
                       "fleet.enabled in the configuration, but the daemon is not in a fleet (started before the change?)");
                return;
        }
        expected = json_object_object_get_ex(o, "expected", &v) ? json_object_get_uint64(v) : 0;
        healthy = json_object_object_get_ex(o, "healthy", &v) ? json_object_get_uint64(v) : 0;
        if (json_object_object_get_ex(o, "error", &v) && !isempty(json_object_get_string(v)))
                report(d,
                       LEVEL_FAIL,
                       "fleet",
                       "check fleet.database and that this node reaches its PostgreSQL server (mbctl fleet status)",
                       "the coordination database can't be reached: %s",
                       json_object_get_string(v));
        else if (healthy < expected)
                report(d,
                       LEVEL_WARN,
                       "fleet",
                       "see mbctl fleet status: a node whose daemon is down or cut off blocks every rollout",
                       "%" PRIu64 " of %" PRIu64 " nodes healthy",
                       healthy,
                       expected);
        else
                report(d, LEVEL_OK, "fleet", NULL, "%" PRIu64 " of %" PRIu64 " nodes healthy", healthy, expected);
        json_object_put(o);
}

static char *find_in_path(const char *name) {
        _cleanup_free_ char *path = strdup(secure_getenv("PATH") ?: "/usr/bin:/bin");
        char *save = NULL;

        if (!path)
                return NULL;
        for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *p = path_join(dir, name);
                if (p && access(p, X_OK) == 0)
                        return TAKE_PTR(p);
        }
        return NULL;
}

/* The upstream snippet (daemon/proxy.h): without it nginx can't be switched to a second Metabase,
 * so an upgrade can't be without downtime. Seen in nginx -T as its proxy_pass, and the file's
 * header says whether it is the shipped one or a copy (the snippet's comments name its path). */
static void check_nginx_upstream(Doctor *d, const char *dump) {
        const char *file = d->config ? d->config->proxy.upstream_file : "/run/mbupgraded/upstream.conf";
        _cleanup_free_ char *fix = NULL;

        if (isempty(file)) {
                report(d, LEVEL_OK, "nginx upstream", NULL, "proxy.upstream_file is \"\": no switching wanted");
                return;
        }
        if (strstr(dump, "proxy_pass http://$mbupgraded_upstream")) {
                report(d,
                       LEVEL_OK,
                       "nginx upstream",
                       NULL,
                       "the configuration (nginx -T) %s",
                       strstr(dump, "# configuration file " NGINX_UPSTREAM_SNIPPET ":")
                               ? "includes " NGINX_UPSTREAM_SNIPPET
                               : "proxies to $mbupgraded_upstream");
                return;
        }
        fix = strdup_printf(
                "replace the proxy_pass line in the location that proxies Metabase with 'include %s;', then: "
                "nginx -t && systemctl reload nginx",
                NGINX_UPSTREAM_SNIPPET);
        report(d,
               LEVEL_WARN,
               "nginx upstream",
               fix,
               "the configuration (nginx -T) does not include %s: nginx can't be switched to a second Metabase, "
               "so upgrades without downtime are not possible",
               NGINX_UPSTREAM_SNIPPET);
}

/* proxy.failover_file is of use only once nginx includes it at its http level (the shipped
 * snippet); without that, the group it names is unknown to nginx and every request through a
 * bridge fails (the switch is undone, the upgrade fails). Said only when the key is set. */
static void check_nginx_failover(Doctor *d, const char *dump) {
        const char *file = d->config ? d->config->proxy.failover_file : "";
        _cleanup_free_ char *fix = NULL;

        if (isempty(file))
                return;
        if (strstr(dump, "# configuration file " NGINX_FAILOVER_SNIPPET ":")) {
                report(d,
                       LEVEL_OK,
                       "nginx failover",
                       NULL,
                       "the configuration (nginx -T) includes " NGINX_FAILOVER_SNIPPET);
                return;
        }
        fix = strdup_printf(
                "add 'include %s;' at nginx's http level (outside any server {}), then: nginx -t && "
                "systemctl reload nginx; or set proxy.failover_file to \"\"",
                NGINX_FAILOVER_SNIPPET);
        report(d,
               LEVEL_FAIL,
               "nginx failover",
               fix,
               "proxy.failover_file is %s, but the configuration (nginx -T) does not include %s: every request "
               "through a bridge would fail, and upgrades without downtime with it",
               file,
               NGINX_FAILOVER_SNIPPET);
}

static void check_nginx(Doctor *d) {
        _cleanup_free_ char *nginx = find_in_path("nginx"), *out = NULL, *fix = NULL;
        const char *flag = d->config ? d->config->maintenance_flag : "/run/mbupgraded/maintenance";
        int status = 0, r;

        if (!nginx) {
                report(d, LEVEL_OK, "nginx", NULL, "nginx not installed");
                return;
        }
        /* nginx -T: the whole configuration, includes and all */
        r = run_capture(STRV_MAKE(nginx, "-T"), 64U << 20, &out, &status);
        if (r < 0 || status != 0) {
                /* nginx says what is wrong on its last line. */
                char *last = NULL;
                if (out) {
                        size_t n = strlen(out);
                        while (n > 0 && out[n - 1] == '\n')
                                out[--n] = '\0';
                        last = strrchr(out, '\n');
                        last = last ? last + 1 : out;
                }
                report(d,
                       LEVEL_WARN,
                       "nginx",
                       "correct nginx's configuration: nginx -t",
                       "%s -T failed: %s",
                       nginx,
                       r < 0 ? strerror(-r) : strempty(last));
                return;
        }
        check_nginx_upstream(d, out);
        check_nginx_failover(d, out);
        if (isempty(flag)) {
                report(d, LEVEL_OK, "nginx", NULL, "maintenance_flag is \"\": no maintenance page wanted");
                return;
        }
        if (strstr(out, flag) || strstr(out, NGINX_SNIPPET)) {
                report(d,
                       LEVEL_OK,
                       "nginx",
                       NULL,
                       "the configuration (nginx -T) %s",
                       strstr(out, NGINX_SNIPPET) ? "includes " NGINX_SNIPPET : "checks the maintenance flag");
                return;
        }
        fix = strdup_printf(
                "add 'include %s;' to the server block that proxies Metabase, then: nginx -t && "
                "systemctl reload nginx",
                NGINX_SNIPPET);
        report(d,
               LEVEL_WARN,
               "nginx",
               fix,
               "the configuration (nginx -T) neither includes %s nor checks %s: visitors get 502 errors, not "
               "a maintenance page, while Metabase is down for an upgrade",
               NGINX_SNIPPET,
               flag);
}

int doctor_run(const char *config_path, bool json) {
        Doctor d = {
                .config_path = config_path,
                .json = json,
                .colors = ui_use_colors(isatty(STDOUT_FILENO) > 0, getenv("NO_COLOR"), getenv("TERM")),
        };
        sigset_t mask;
        uint64_t jar_size;

        /* sd_event_add_child() wants SIGCHLD blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        if (json) {
                d.checks = json_object_new_array();
                if (!d.checks)
                        return 1;
        }

        check_config(&d);
        if (!d.config) {
                fprintf(stderr, "Out of memory\n");
                return 1;
        }
        check_daemon(&d);
        check_unit(&d);
        check_secrets(&d);
        check_jar(&d);
        check_feed(&d);
        check_java(&d);
        check_add_opens(&d);
        check_database(&d);
        check_dir(&d, "backup dir", "backup.dir", d.config->backup.dir, d.db_size, "a backup of the database");
        /* A download is staged under state_dir, and the installed JAR kept under it. */
        jar_size = d.jar ? d.jar->size : 0;
        check_dir(&d, "state dir", "state_dir", d.config->state_dir, 2 * jar_size, "a staged download and a kept JAR");
        check_nginx(&d);
        check_port(&d);
        check_fleet_key(&d);
        check_fleet(&d);

        if (json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "checks", d.checks);
                json_object_object_add(o, "failed", json_object_new_int((int) d.n_failed));
                json_object_object_add(o, "warnings", json_object_new_int((int) d.n_warned));
                puts(json_object_to_json_string_ext(
                        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(o);
        } else
                printf("\n%u failed, %u warning%s.%s\n",
                       d.n_failed,
                       d.n_warned,
                       d.n_warned == 1 ? "" : "s",
                       d.n_failed ? " Nothing was changed; apply the fixes above and run mbctl doctor again."
                                  : "");

        config_free(d.config);
        sd_bus_flush_close_unref(d.bus);
        free(d.newest);
        free(d.staged);
        unit_info_free(d.unit);
        free(d.jar_path);
        jar_info_free(d.jar);
        appdb_free(d.appdb);
        return d.n_failed > 0 ? 1 : 0;
}
