/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "appdb.h"
#include "bridge.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "proxy.h"
#include "rehearsal.h"
#include "strv.h"
#include "unit-command.h"
#include "verify.h"

#define LOG_MAX (1024 * 1024)
#define EXCERPT_MAX 1200

typedef enum BridgePhase {
        BRIDGE_IDLE,
        BRIDGE_STARTING, /* reading the unit, the start job, reading the bridge */
        BRIDGE_VERIFYING,
        BRIDGE_UP,
        BRIDGE_STOPPING,
} BridgePhase;

struct Bridge {
        Manager *m;
        BridgePhase phase;
        unsigned generation; /* a callback of an earlier start that was stopped is ignored */
        char *jar, *version, *control_group, *failure;
        uint16_t port;
        bool unit_started; /* its output is this start's (else bridge.log is an earlier one's) */
        Verifier *verifier;
        Verifier *watcher; /* bridge_watch() */
        BridgeWatchCallback watch_cb;
        void *watch_userdata;
        BridgeCallback cb;
        void *userdata;
        BridgeStopCallback stop_cb;
        void *stop_userdata;
};

/* Callbacks of systemd calls carry the generation they were made in. */
typedef struct BridgeCall {
        Bridge *b;
        unsigned generation;
} BridgeCall;

static BridgeCall *call_new(Bridge *b) {
        BridgeCall *c = malloc(sizeof(BridgeCall));
        if (c)
                *c = (BridgeCall){.b = b, .generation = b->generation};
        return c;
}

/* Whether the call is still about the current start (frees c). */
static Bridge *call_done(BridgeCall *c) {
        Bridge *b = c->b;
        bool current = c->generation == b->generation;

        free(c);
        return current ? b : NULL;
}

static char *bridge_path(Bridge *b, const char *name) {
        return manager_state_path(b->m, name);
}

static void forget_files(Bridge *b) {
        _cleanup_free_ char *env = bridge_path(b, "bridge.env");

        if (env)
                (void) unlink(env);
}

static void reset(Bridge *b) {
        b->verifier = verifier_free(b->verifier);
        bridge_unwatch(b);
        b->jar = mfree_str(b->jar);
        b->version = mfree_str(b->version);
        b->control_group = mfree_str(b->control_group);
        b->failure = mfree_str(b->failure);
        b->port = 0;
        b->unit_started = false;
        b->cb = NULL;
        b->phase = BRIDGE_IDLE;
        b->generation++;
}

/* The failed start's unit is gone (or could not be stopped): its callback. */
static void failed_end(Bridge *b, int r, const char *error) {
        _cleanup_free_ char *message = TAKE_PTR(b->failure);
        BridgeCallback cb = b->cb;
        void *cb_userdata = b->userdata;

        if (r < 0)
                log_warning("Stopping %s failed: %s", BRIDGE_UNIT, strempty(error));
        forget_files(b);
        reset(b);
        if (cb)
                cb(-EIO, strempty(message), 0, NULL, cb_userdata);
}

static void on_failed_stopped(int r, const char *result, const char *error, void *userdata) {
        Bridge *b = call_done(userdata);

        if (b)
                failed_end(b, r, error);
}

/* What its output says: the lines that report an error, else its last ones. */
static char *read_excerpt(Bridge *b) {
        _cleanup_free_ char *path = bridge_path(b, "bridge.log"), *text = NULL;
        size_t n;

        if (!path || read_full_file(path, LOG_MAX, &text, &n) < 0)
                return strdup("");
        return rehearsal_log_excerpt(text, n, EXCERPT_MAX);
}

/* The start failed: the unit is stopped, then cb(-EIO, message) with its output's excerpt. */
static void fail(Bridge *b, const char *fmt, ...) _printf_(2, 3);
static void fail(Bridge *b, const char *fmt, ...) {
        _cleanup_free_ char *why = NULL, *excerpt = NULL;
        BridgeCall *c;
        va_list ap;

        b->verifier = verifier_free(b->verifier);
        va_start(ap, fmt);
        if (vasprintf(&why, fmt, ap) < 0)
                why = NULL;
        va_end(ap);
        excerpt = b->unit_started ? read_excerpt(b) : NULL;
        free(b->failure);
        b->failure = strdup_printf(
                "%s%s%s%s",
                /* Metabase's own refusal under MB_DB_AUTOMIGRATE=false */
                excerpt && strstr(excerpt, "Database requires manual upgrade")
                        ? "the release has migrations to run, which a bridge never runs on the live database: "
                        : "",
                strempty(why),
                isempty(excerpt) ? "" : ": ",
                strempty(excerpt));
        log_warning("The bridge %s failed: %s", strempty(b->version), strempty(b->failure));
        b->phase = BRIDGE_STOPPING;
        c = call_new(b);
        if (!c || unit_stop_and_forget(b->m->systemd, BRIDGE_UNIT, on_failed_stopped, c) < 0) {
                free(c);
                failed_end(b, -ENOMEM, "cannot ask systemd");
        }
}

static void on_verify(VerifyEvent ev, double progress, const char *message, void *userdata) {
        Bridge *b = userdata;
        _cleanup_free_ char *text = NULL;

        switch (ev) {
        case VERIFY_PROGRESS:
        case VERIFY_HEALTHY:
                return;
        case VERIFY_PASSED:
                b->verifier = verifier_free(b->verifier);
                b->phase = BRIDGE_UP;
                text = strdup_printf(
                        "%s is healthy on 127.0.0.1:%u (%s)", b->version, b->port, b->control_group);
                log_info("The bridge: %s", strempty(text));
                if (b->cb)
                        b->cb(0, strempty(text), b->port, b->control_group, b->userdata);
                b->cb = NULL;
                return;
        case VERIFY_FAILED:
                fail(b, "it did not verify: %s", strempty(message));
                return;
        }
}

/* The bridge as read right after its start (i) watched as the engine watches a start (verify.h),
 * for settle_usec once healthy: its own listener on its port, its main process, its version. */
static int verify_bridge(Bridge *b, const UnitInfo *i, uint64_t settle_usec, VerifyCallback cb, Verifier **ret) {
        _cleanup_free_ char *url = strdup_printf("http://127.0.0.1:%u/api/health", b->port);
        const Config *c = b->m->config;

        if (!url)
                return -ENOMEM;
        VerifyParams p = {
                .unit = BRIDGE_UNIT,
                .health_url = url,
                .expect_tag = b->version,
                .main_pid = i->main_pid,
                .n_restarts = i->n_restarts,
                .start_timeout_usec = c->service.start_timeout_usec,
                .stall_timeout_usec = c->service.stall_timeout_usec,
                .settle_usec = settle_usec,
                .started = i,
        };
        return verifier_start(b->m->event, b->m->systemd, &p, cb, b, ret);
}

static void on_started_info(int r, UnitInfo *info, const char *error, void *userdata) {
        _cleanup_(unit_info_freep) UnitInfo *i = info;
        Bridge *b = call_done(userdata);

        if (!b)
                return;
        if (r < 0 || isempty(i->control_group)) {
                fail(b, "cannot read %s: %s", BRIDGE_UNIT, r < 0 ? strempty(error) : "it has no control group");
                return;
        }
        if (free_and_strdup(&b->control_group, i->control_group) < 0) {
                fail(b, "out of memory");
                return;
        }
        b->phase = BRIDGE_VERIFYING;
        r = verify_bridge(b, i, b->m->config->service.settle_usec, on_verify, &b->verifier);
        if (r < 0)
                fail(b, "cannot watch it: %s", strerror(-r));
}

static void on_started(int r, const char *result, const char *error, void *userdata) {
        Bridge *b = call_done(userdata);
        BridgeCall *c;

        if (!b)
                return;
        if (r < 0) {
                fail(b, "systemd did not start it (%s): %s", strempty(result), strempty(error));
                return;
        }
        c = call_new(b);
        r = c ? unit_info_load(b->m->systemd, BRIDGE_UNIT, on_started_info, c) : -ENOMEM;
        if (r < 0) {
                free(c);
                fail(b, "cannot ask systemd about it: %s", strerror(-r));
        }
}

/* Why the unit's own settings would make the bridge unsafe or unreachable; NULL when none. */
static const char *unfit(const UnitInfo *i, const AppDb *db) {
        const char *ssl = unit_info_getenv(i, "MB_JETTY_SSL");

        if (db->kind == APPDB_H2)
                return "the application database is H2, which one process at a time can open: a "
                       "bridge needs PostgreSQL or MySQL/MariaDB";
        for (char **a = i->exec_argv; a && *a; a++)
                if (startswith(*a, "-Dmb.jetty.port=") || startswith(*a, "-Dmb.jetty.host=") ||
                    startswith(*a, "-Dmb.db.automigrate="))
                        return "the unit's Java options set mb.jetty.port, mb.jetty.host or "
                               "mb.db.automigrate, which would win over the bridge's environment";
        if (ssl && (strcasecmp(ssl, "true") == 0 || streq(ssl, "1")))
                return "Metabase serves HTTPS itself (MB_JETTY_SSL): the bridge would need its SSL port";
        return NULL;
}

/* The unit's environment without what the bridge sets, then the bridge's. */
static int bridge_environment(char ***env, uint16_t port) {
        static const char *const ours[] = {"MB_JETTY_HOST=", "MB_JETTY_PORT=", "MB_DB_AUTOMIGRATE="};
        _cleanup_strv_free_ char **l = NULL;
        char buf[32];

        for (char **e = *env; e && *e; e++) {
                bool skip = false;
                for (size_t k = 0; k < ELEMENTSOF(ours); k++)
                        skip = skip || startswith(*e, ours[k]);
                if (!skip && strv_extend(&l, *e) < 0)
                        return -ENOMEM;
        }
        (void) snprintf(buf, sizeof(buf), "MB_JETTY_PORT=%u", port);
        if (strv_extend(&l, "MB_JETTY_HOST=127.0.0.1") < 0 || strv_extend(&l, buf) < 0 ||
            /* a release with migrations refuses to start instead of migrating the live database */
            strv_extend(&l, "MB_DB_AUTOMIGRATE=false") < 0)
                return -ENOMEM;
        strv_free(*env);
        *env = TAKE_PTR(l);
        return 0;
}

static void on_unit_info(int r, UnitInfo *info, const char *error, void *userdata) {
        _cleanup_(unit_info_freep) UnitInfo *i = info;
        _cleanup_(metabase_command_done) MetabaseCommand c = {};
        _cleanup_(appdb_freep) AppDb *db = NULL;
        _cleanup_free_ char *db_error = NULL, *env_path = NULL, *log_path = NULL;
        Bridge *b = call_done(userdata);
        BridgeCall *call;
        const char *why;
        unsigned port;

        if (!b)
                return;
        if (r < 0) {
                fail(b, "cannot read %s: %s", b->m->config->service.unit, strempty(error));
                return;
        }
        r = manager_app_db(b->m, i, &db, &db_error);
        if (r < 0) {
                fail(b, "cannot tell the application database: %s", strempty(db_error));
                return;
        }
        why = unfit(i, db);
        if (why) {
                fail(b, "no bridge: %s", why);
                return;
        }
        r = metabase_command(i, b->jar, NULL, &c);
        if (r < 0) {
                fail(b,
                     "cannot make its command line: %s",
                     r == -EINVAL ? "no -jar JAR in ExecStart" : strerror(-r));
                return;
        }
        /* Free now (bind-tested, below the ephemeral range); a listener that takes it before
         * the bridge does is not its control group's: the verifier never counts its answers. */
        if (rehearsal_pick_port(&port) < 0) {
                fail(b, "no free port on 127.0.0.1 for the bridge");
                return;
        }
        b->port = (uint16_t) port;
        env_path = bridge_path(b, "bridge.env");
        log_path = bridge_path(b, "bridge.log");
        if (!env_path || !log_path || bridge_environment(&c.env, b->port) < 0) {
                fail(b, "out of memory");
                return;
        }
        MetabaseUnit u = {
                .name = BRIDGE_UNIT,
                .description = "mbupgraded: the new Metabase beside the running one (zero-downtime bridge)",
                .env_path = env_path,
                .log_path = log_path,
        };
        call = call_new(b);
        b->unit_started = true;
        r = call ? metabase_command_start(b->m->systemd, &c, &u, on_started, call) : -ENOMEM;
        if (r < 0) {
                free(call);
                fail(b, "cannot start %s: %s", BRIDGE_UNIT, strerror(-r));
        }
}

int bridge_start(Bridge *b, const char *jar, const char *expected_version, BridgeCallback cb, void *userdata) {
        BridgeCall *c;
        int r;

        if (isempty(jar) || isempty(expected_version))
                return -EINVAL;
        if (b->phase != BRIDGE_IDLE)
                return -EBUSY;
        b->jar = strdup(jar);
        b->version = strdup(expected_version);
        c = call_new(b);
        if (!b->jar || !b->version || !c) {
                free(c);
                reset(b);
                return -ENOMEM;
        }
        r = unit_info_load(b->m->systemd, b->m->config->service.unit, on_unit_info, c);
        if (r < 0) {
                free(c);
                reset(b);
                return r;
        }
        b->phase = BRIDGE_STARTING;
        b->cb = cb;
        b->userdata = userdata;
        log_info("Starting the bridge %s from %s", expected_version, jar);
        return 0;
}

static void on_stopped(int r, const char *result, const char *error, void *userdata) {
        Bridge *b = userdata;
        BridgeStopCallback cb = b->stop_cb;
        _cleanup_free_ char *message = NULL;

        b->stop_cb = NULL;
        message = r < 0 ? strdup_printf("stopping %s failed: %s", BRIDGE_UNIT, strempty(error))
                        : strdup_printf("%s is stopped and gone", BRIDGE_UNIT);
        if (r >= 0) {
                forget_files(b);
                b->phase = BRIDGE_IDLE;
        } else
                b->phase = BRIDGE_UP; /* it may still run: stop it again */
        log_info("The bridge: %s", strempty(message));
        if (cb)
                cb(r, strempty(message), b->stop_userdata);
}

int bridge_stop(Bridge *b, BridgeStopCallback cb, void *userdata) {
        uint16_t port = b->phase == BRIDGE_UP ? b->port : 0;
        int r;

        if (b->stop_cb)
                return -EBUSY;
        if (port != 0 && proxy_port(b->m->proxy) == port)
                log_warning(
                        "Stopping the bridge while %s names its port %u",
                        b->m->config->proxy.upstream_file,
                        port);
        reset(b); /* a start in progress: its callbacks are ignored from here on */
        b->phase = BRIDGE_STOPPING;
        r = unit_stop_and_forget(b->m->systemd, BRIDGE_UNIT, on_stopped, b);
        if (r < 0) {
                b->phase = BRIDGE_IDLE;
                return r;
        }
        b->stop_cb = cb;
        b->stop_userdata = userdata;
        return 0;
}

void bridge_unwatch(Bridge *b) {
        b->watcher = verifier_free(b->watcher);
        b->watch_cb = NULL;
        b->watch_userdata = NULL;
}

static void on_watch(VerifyEvent ev, double progress, const char *message, void *userdata) {
        Bridge *b = userdata;
        BridgeWatchCallback cb = b->watch_cb;
        void *cb_userdata = b->watch_userdata;
        _cleanup_free_ char *text = NULL;

        if (ev != VERIFY_PASSED && ev != VERIFY_FAILED)
                return;
        bridge_unwatch(b);
        if (ev == VERIFY_PASSED)
                text = strdup_printf("%s stayed healthy under traffic", strempty(b->version));
        else {
                text = strdup(strempty(message));
                log_warning("The bridge %s failed under traffic: %s", strempty(b->version), strempty(text));
        }
        if (cb)
                cb(ev == VERIFY_PASSED ? 0 : -EIO, strempty(text), cb_userdata);
}

typedef struct WatchCall {
        BridgeCall call;
        uint64_t settle_usec;
} WatchCall;

static void on_watch_info(int r, UnitInfo *info, const char *error, void *userdata) {
        _cleanup_(unit_info_freep) UnitInfo *i = info;
        _cleanup_free_ WatchCall *w = userdata;
        _cleanup_free_ char *why = NULL;
        Bridge *b = w->call.b;

        if (w->call.generation != b->generation || !b->watch_cb)
                return; /* stopped or unwatched meanwhile */
        if (r >= 0 && !streq_ptr(i->control_group, b->control_group))
                why = strdup_printf(
                        "%s is another process now (control group %s)",
                        BRIDGE_UNIT,
                        strempty(i->control_group));
        else if (r < 0)
                why = strdup_printf("cannot read %s: %s", BRIDGE_UNIT, strempty(error));
        if (!why) {
                r = verify_bridge(b, i, w->settle_usec, on_watch, &b->watcher);
                if (r >= 0)
                        return;
                why = strdup_printf("cannot watch it: %s", strerror(-r));
        }
        BridgeWatchCallback cb = b->watch_cb;
        void *cb_userdata = b->watch_userdata;
        bridge_unwatch(b);
        cb(-EIO, why ?: "out of memory", cb_userdata);
}

int bridge_watch(Bridge *b, uint64_t settle_usec, BridgeWatchCallback cb, void *userdata) {
        WatchCall *w;
        int r;

        if (b->phase != BRIDGE_UP || isempty(b->version))
                return -ESRCH;
        if (b->watch_cb)
                return -EBUSY;
        w = malloc(sizeof(WatchCall));
        if (!w)
                return -ENOMEM;
        *w = (WatchCall){.call = {.b = b, .generation = b->generation}, .settle_usec = settle_usec};
        r = unit_info_load(b->m->systemd, BRIDGE_UNIT, on_watch_info, w);
        if (r < 0) {
                free(w);
                return r;
        }
        b->watch_cb = cb;
        b->watch_userdata = userdata;
        return 0;
}

bool bridge_busy(const Bridge *b) {
        return b && b->phase != BRIDGE_IDLE;
}

uint16_t bridge_port(const Bridge *b) {
        return b && b->phase == BRIDGE_UP ? b->port : 0;
}

const char *bridge_control_group(const Bridge *b) {
        return b && b->phase == BRIDGE_UP ? b->control_group : NULL;
}

/* A leftover from a daemon that died */

static void on_leftover_stopped(int r, const char *result, const char *error, void *userdata) {
        if (r < 0)
                log_warning("Failed to stop a bridge left by an earlier run: %s", strempty(error));
        else
                log_info("Stopped a bridge left by an earlier run");
}

static void on_leftover_info(int r, UnitInfo *info, const char *error, void *userdata) {
        _cleanup_(unit_info_freep) UnitInfo *i = info;
        Bridge *b = userdata;
        const char *p = r >= 0 ? unit_info_getenv(i, "MB_JETTY_PORT") : NULL;
        unsigned port = 0;

        if (r >= 0 && (streq_ptr(i->active_state, "active") || streq_ptr(i->active_state, "activating")) &&
            p && safe_atou(p, &port) >= 0 && port > 0 && port <= UINT16_MAX &&
            proxy_may_use(b->m->proxy, (uint16_t) port) && b->phase == BRIDGE_IDLE) {
                /* nginx sends users to it, or may until a switch away is judged: never pulled away
                 * under them (bridge.h's contract); whoever switches nginx away stops it */
                log_warning(
                        "A bridge left by an earlier run serves on 127.0.0.1:%u, which %s names: kept",
                        port,
                        b->m->config->proxy.upstream_file);
                b->port = (uint16_t) port;
                b->phase = BRIDGE_UP;
                (void) free_and_strdup(&b->control_group, i->control_group);
                return;
        }
        forget_files(b);
        if (r >= 0 && streq_ptr(i->load_state, "not-found"))
                return; /* none */
        if (unit_stop_and_forget(b->m->systemd, BRIDGE_UNIT, on_leftover_stopped, NULL) < 0)
                log_warning("Cannot ask systemd to stop %s", BRIDGE_UNIT);
}

int bridge_new(Manager *m, Bridge **ret) {
        Bridge *b = calloc(1, sizeof(Bridge));
        int r;

        if (!b)
                return -ENOMEM;
        b->m = m;
        r = unit_info_load(m->systemd, BRIDGE_UNIT, on_leftover_info, b);
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

Bridge *bridge_free(Bridge *b) {
        if (!b)
                return NULL;
        /* the daemon exits: a running bridge is left to systemd (the next start stops it) */
        reset(b);
        free(b);
        return NULL;
}

/* Memory for a second Metabase */

static uint64_t meminfo_available(void) {
        _cleanup_free_ char *text = NULL;
        unsigned long long kb;
        const char *p;

        if (read_full_file("/proc/meminfo", 64 * 1024, &text, NULL) < 0)
                return UINT64_MAX;
        p = strstr(text, "MemAvailable:");
        if (!p || sscanf(p, "MemAvailable: %llu kB", &kb) != 1)
                return UINT64_MAX;
        return (uint64_t) kb * 1024;
}

static uint64_t main_pid_rss(uint32_t pid) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        unsigned long long kb;
        const char *p;

        path = pid > 0 ? strdup_printf("/proc/%u/status", pid) : NULL;
        if (!path || read_full_file(path, 64 * 1024, &text, NULL) < 0)
                return UINT64_MAX;
        p = strstr(text, "VmRSS:");
        if (!p || sscanf(p, "VmRSS: %llu kB", &kb) != 1)
                return UINT64_MAX;
        return (uint64_t) kb * 1024;
}

int bridge_memory_ok(Manager *m, char **ret_reason) {
        uint64_t avail = meminfo_available(), used = UINT64_MAX;

        if (m->unit)
                used = m->unit->memory_current != UINT64_MAX ? m->unit->memory_current
                                                             : main_pid_rss(m->unit->main_pid);
        if (avail == UINT64_MAX || used == UINT64_MAX) {
                *ret_reason = strdup(
                        avail == UINT64_MAX ? "MemAvailable is unknown (/proc/meminfo)"
                                            : "Metabase's memory is unknown (MemoryCurrent, VmRSS)");
                return *ret_reason ? -ENODATA : -ENOMEM;
        }
        *ret_reason = strdup_printf(
                "%" PRIu64 "M available, Metabase uses %" PRIu64 "M, a second one needs that and %" PRIu64
                "M more",
                avail >> 20,
                used >> 20,
                (uint64_t) BRIDGE_MEMORY_MARGIN >> 20);
        if (!*ret_reason)
                return -ENOMEM;
        return avail >= used + BRIDGE_MEMORY_MARGIN;
}
