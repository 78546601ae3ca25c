/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appdb.h"
#include "child.h"
#include "dbserver.h"
#include "fleet.h"
#include "log.h"
#include "macro.h"
#include "releases.h"
#include "strv.h"

#define FLEET_RESTART_MIN_USEC (1 * USEC_PER_SEC)
#define FLEET_RESTART_MAX_USEC (60 * USEC_PER_SEC)
#define FLEET_NODES_MAX 1000U

typedef struct FleetNode {
        char *name, *version, *state, *staged;
        uint64_t age_ms;
} FleetNode;

struct Fleet {
        Manager *m;
        char *node;
        char *secret_file; /* state_dir/fleet.pass, 0600, while the agent runs */
        Child *agent;
        sd_event_source *heartbeat_timer;
        sd_event_source *restart_timer;
        uint64_t restart_usec;
        FleetNode *nodes, *pending; /* the last full answer, and the one being read */
        size_t n_nodes, n_pending;
        uint64_t answered_usec; /* CLOCK_MONOTONIC of the last full answer, 0 before the first */
        unsigned unanswered;    /* heartbeats written that the agent has not answered yet */
        char *error;            /* why the fleet can't be seen, "" when it can */
};

static uint64_t now_monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void nodes_free(FleetNode *n, size_t k) {
        for (size_t i = 0; i < k; i++) {
                free(n[i].name);
                free(n[i].version);
                free(n[i].state);
                free(n[i].staged);
        }
        free(n);
}

static void set_error(Fleet *f, const char *fmt, ...) _printf_(2, 3);
static void set_error(Fleet *f, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s || streq_ptr(s, f->error))
                return;
        if (!isempty(s))
                log_warning("Fleet: %s", s);
        free(f->error);
        f->error = TAKE_PTR(s);
        manager_properties_changed(f->m, "Fleet", NULL);
}

/* "-" for none, as the agent's protocol has it. */
static const char *none_to_empty(const char *s) {
        return streq(s, "-") ? "" : s;
}

static void on_agent_line(Child *c, const char *line, void *userdata) {
        Fleet *f = userdata;
        char name[129], version[129], state[129], staged[129];
        uint64_t age;
        unsigned n;

        if (sscanf(line, "node %128s %128s %128s %128s %" SCNu64, name, version, state, staged, &age) == 5) {
                FleetNode *p;
                if (f->n_pending >= FLEET_NODES_MAX)
                        return;
                p = reallocarray(f->pending, f->n_pending + 1, sizeof(FleetNode));
                if (!p)
                        return;
                f->pending = p;
                p[f->n_pending] = (FleetNode){
                        .name = strdup(name),
                        .version = strdup(none_to_empty(version)),
                        .state = strdup(none_to_empty(state)),
                        .staged = strdup(none_to_empty(staged)),
                        .age_ms = age,
                };
                f->n_pending++;
        } else if (sscanf(line, "fleet %u", &n) == 1) {
                nodes_free(f->nodes, f->n_nodes);
                f->nodes = TAKE_PTR(f->pending);
                f->n_nodes = f->n_pending;
                f->n_pending = 0;
                f->answered_usec = now_monotonic_usec();
                if (f->unanswered > 0)
                        f->unanswered--;
                f->restart_usec = 0; /* it works: a later failure starts again quickly */
                set_error(f, "%s", "");
                manager_properties_changed(f->m, "Fleet", NULL);
        } else if (startswith(line, "error ")) {
                const char *msg = strchr(line + strlen("error "), ' ');
                if (f->unanswered > 0)
                        f->unanswered--;
                nodes_free(f->pending, f->n_pending);
                f->pending = NULL;
                f->n_pending = 0;
                set_error(f, "%s", msg ? msg + 1 : line);
        } else if (startswith(line, "created "))
                log_info("Fleet: created the coordination database %s", line + strlen("created "));
        else if (streq(line, "ready"))
                log_info("Fleet: connected to the coordination database as node %s", f->node);
}

static int fleet_start_agent(Fleet *f);

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Fleet *f = userdata;

        f->restart_timer = sd_event_source_disable_unref(f->restart_timer);
        (void) fleet_start_agent(f);
        return 0;
}

static void schedule_restart(Fleet *f) {
        int r;

        if (f->restart_usec == 0)
                f->restart_usec = FLEET_RESTART_MIN_USEC;
        else if (f->restart_usec < FLEET_RESTART_MAX_USEC / 2)
                f->restart_usec *= 2;
        else
                f->restart_usec = FLEET_RESTART_MAX_USEC;
        r = sd_event_add_time_relative(
                f->m->event,
                &f->restart_timer,
                CLOCK_BOOTTIME,
                f->restart_usec,
                USEC_PER_SEC / 10,
                on_restart_timer,
                f);
        if (r < 0)
                log_error_errno(r, "Fleet: cannot schedule the agent's restart: %m");
}

static void on_agent_exit(Child *c, int status, const char *last, void *userdata) {
        Fleet *f = userdata;

        f->agent = NULL;
        f->unanswered = 0;
        if (!startswith(last, "error "))
                set_error(
                        f,
                        "the fleet agent ended (%s %d)%s%s",
                        status < 0 ? "signal" : "exit status",
                        status < 0 ? -status - 128 : status,
                        *last ? ": " : "",
                        last);
        schedule_restart(f);
}

/* The coordination database's connection: fleet.database, or the application database's server
 * and role with the database <name>_mbupgraded. */
static int fleet_connection(Fleet *f, char **ret_conninfo, char **ret_app_conninfo, char **ret_secret) {
        Manager *m = f->m;
        _cleanup_(appdb_freep) AppDb *db = NULL, *app = NULL;
        _cleanup_free_ char *error = NULL, *conninfo = NULL, *app_conninfo = NULL, *secret = NULL;
        int r;

        if (!isempty(m->config->fleet.database)) {
                r = appdb_from_string(m->config->fleet.database, &db, &error);
                if (r < 0 || db->kind != APPDB_POSTGRES) {
                        set_error(f, "fleet.database: %s", error ?: "not a PostgreSQL database");
                        return -EINVAL;
                }
        } else {
                r = manager_app_db(m, m->unit, &app, &error);
                if (r < 0 || app->kind != APPDB_POSTGRES) {
                        set_error(
                                f,
                                "the application database %s, so fleet.database must name the coordination "
                                "database",
                                r < 0 ? strempty(error) : "is not PostgreSQL");
                        return r < 0 ? r : -EINVAL;
                }
                db = calloc(1, sizeof(AppDb));
                if (!db)
                        return -ENOMEM;
                *db = (AppDb){
                        .kind = APPDB_POSTGRES,
                        .host = strdup(strempty(app->host)),
                        .port = app->port,
                        .dbname = strdup_printf("%s_mbupgraded", app->dbname),
                        .user = app->user ? strdup(app->user) : NULL,
                        .password = app->password ? strdup(app->password) : NULL,
                        .options = strv_copy(app->options),
                };
                if (!db->host || !db->dbname || (app->user && !db->user) ||
                    (app->password && !db->password) || (app->options && !db->options))
                        return -ENOMEM;
                app_conninfo = appdb_libpq_conninfo(app, false);
        }
        conninfo = appdb_libpq_conninfo(db, false);
        if (!conninfo)
                return -ENOMEM;
        if (db->password) {
                secret = appdb_pgpass_line(db);
                if (!secret)
                        return -ENOMEM;
        }
        *ret_conninfo = TAKE_PTR(conninfo);
        *ret_app_conninfo = TAKE_PTR(app_conninfo);
        *ret_secret = TAKE_PTR(secret);
        return 0;
}

static int fleet_start_agent(Fleet *f) {
        Manager *m = f->m;
        _cleanup_free_ char *conninfo = NULL, *app_conninfo = NULL, *secret = NULL, *e_conn = NULL,
                            *e_app = NULL, *e_pass = NULL, *e_node = NULL, *e_host = NULL;
        char host[256] = "";
        const char *env[6];
        size_t k = 0;
        int r;

        r = fleet_connection(f, &conninfo, &app_conninfo, &secret);
        if (r < 0) {
                schedule_restart(f);
                return r;
        }
        if (secret) {
                r = dbserver_write_secret(f->secret_file, secret);
                explicit_bzero(secret, strlen(secret));
                if (r < 0) {
                        set_error(f, "cannot write %s: %s", f->secret_file, strerror(-r));
                        schedule_restart(f);
                        return r;
                }
        }
        (void) gethostname(host, sizeof(host) - 1);
        e_conn = strdup_printf("MBUP_FLEET_CONNINFO=%s", conninfo);
        e_app = app_conninfo ? strdup_printf("MBUP_PG_CONNINFO=%s", app_conninfo) : NULL;
        e_pass = secret ? strdup_printf("PGPASSFILE=%s", f->secret_file) : NULL;
        e_node = strdup_printf("MBUP_FLEET_NODE=%s", f->node);
        e_host = strdup_printf("MBUP_FLEET_HOST=%s", host);
        if (!e_conn || !e_node || !e_host || (app_conninfo && !e_app) || (secret && !e_pass))
                return -ENOMEM;
        env[k++] = e_conn;
        env[k++] = e_node;
        env[k++] = e_host;
        if (e_app)
                env[k++] = e_app;
        if (e_pass)
                env[k++] = e_pass;
        env[k] = NULL;
        r = child_spawn_writable(
                m->event,
                STRV_MAKE((char *) dbserver_helper_path(), "fleet-agent"),
                (char *const *) env,
                on_agent_line,
                on_agent_exit,
                f,
                &f->agent);
        if (r < 0) {
                set_error(f, "cannot start %s fleet-agent: %s", dbserver_helper_path(), strerror(-r));
                schedule_restart(f);
        }
        return r;
}

/* What this node says of itself: VERSION STATE STAGED, each a token. */
static void send_heartbeat(Fleet *f) {
        Manager *m = f->m;
        const char *version = m->running_version ?: m->installed_version, *staged = releases_staged(m);
        _cleanup_free_ char *line = NULL, *staged_version = NULL;
        int r;

        if (!f->agent)
                return;
        /* An agent waiting on the server (a cut link, until its TCP timeouts) is not sent a
         * backlog to work through when it is back: one heartbeat in hand is enough. */
        if (f->unanswered > 0)
                return;
        if (endswith(strempty(staged), " (verified)"))
                staged_version = strndup(staged, strcspn(staged, " "));
        line = strdup_printf(
                "heartbeat %s %s %s",
                isempty(version) ? "-" : version,
                m->op ? "busy" : "idle",
                isempty(staged_version) ? "-" : staged_version);
        if (!line)
                return;
        r = child_write_line(f->agent, line);
        if (r < 0)
                set_error(f, "cannot tell the fleet agent: %s", strerror(-r));
        else
                f->unanswered++;
}

static int on_heartbeat_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Fleet *f = userdata;

        send_heartbeat(f);
        return sd_event_source_set_time_relative(s, f->m->config->fleet.heartbeat_usec);
}

int fleet_new(Manager *m, Fleet **ret) {
        Fleet *f;
        char host[256] = "";
        int r;

        *ret = NULL;
        if (!m->config->fleet.enabled)
                return 0;
        f = calloc(1, sizeof(Fleet));
        if (!f)
                return -ENOMEM;
        f->m = m;
        if (isempty(m->config->fleet.node))
                (void) gethostname(host, sizeof(host) - 1);
        f->node = strdup(isempty(m->config->fleet.node) ? host : m->config->fleet.node);
        f->secret_file = manager_state_path(m, "fleet.pass");
        f->error = strdup("");
        if (!f->node || !f->secret_file || !f->error) {
                fleet_free(f);
                return -ENOMEM;
        }
        r = sd_event_add_time_relative(
                m->event,
                &f->heartbeat_timer,
                CLOCK_BOOTTIME,
                m->config->fleet.heartbeat_usec,
                USEC_PER_SEC / 10,
                on_heartbeat_timer,
                f);
        if (r >= 0)
                r = sd_event_source_set_enabled(f->heartbeat_timer, SD_EVENT_ON);
        if (r < 0) {
                fleet_free(f);
                return r;
        }
        (void) fleet_start_agent(f);
        /* The first heartbeat at once, not after a period. */
        send_heartbeat(f);
        *ret = f;
        return 0;
}

Fleet *fleet_free(Fleet *f) {
        if (!f)
                return NULL;
        f->heartbeat_timer = sd_event_source_disable_unref(f->heartbeat_timer);
        f->restart_timer = sd_event_source_disable_unref(f->restart_timer);
        f->agent = child_kill(f->agent);
        if (f->secret_file)
                (void) unlink(f->secret_file);
        nodes_free(f->nodes, f->n_nodes);
        nodes_free(f->pending, f->n_pending);
        free(f->node);
        free(f->secret_file);
        free(f->error);
        free(f);
        return NULL;
}

char *fleet_json(Manager *m) {
        Fleet *f = m->fleet;
        const Config *c = m->config;
        json_object *o, *nodes, *missing;
        size_t expected = strv_length(c->fleet.nodes) ?: c->fleet.expect, present = 0;
        uint64_t since_ms = 0;
        _cleanup_free_ char *stale = NULL;
        char *s;

        if (!f)
                return strdup("");
        /* The ages are as of the last answer: a node whose agent hears nothing (its link to the
         * server cut, the server gone) sees every node age, itself included, and says why. */
        if (f->answered_usec > 0) {
                since_ms = (now_monotonic_usec() - f->answered_usec) / USEC_PER_MSEC;
                if (since_ms * USEC_PER_MSEC > c->fleet.lost_after_usec && isempty(f->error))
                        stale = strdup_printf(
                                "no answer from the coordination database for %" PRIu64 " s", since_ms / 1000);
        }
        o = json_object_new_object();
        nodes = json_object_new_array();
        missing = json_object_new_array();
        if (!o || !nodes || !missing) {
                json_object_put(o);
                json_object_put(nodes);
                json_object_put(missing);
                return NULL;
        }
        json_object_object_add(o, "node", json_object_new_string(f->node));
        json_object_object_add(o, "expected", json_object_new_uint64(expected));
        json_object_object_add(o, "error", json_object_new_string(stale ?: strempty(f->error)));
        json_object_object_add(
                o, "heartbeat_ms", json_object_new_uint64(c->fleet.heartbeat_usec / USEC_PER_MSEC));
        json_object_object_add(
                o, "lost_after_ms", json_object_new_uint64(c->fleet.lost_after_usec / USEC_PER_MSEC));
        for (size_t i = 0; i < f->n_nodes; i++) {
                const FleetNode *n = f->nodes + i;
                json_object *e = json_object_new_object();
                uint64_t age_ms = n->age_ms + since_ms;
                bool lost = age_ms * USEC_PER_MSEC > c->fleet.lost_after_usec;
                json_object_object_add(e, "name", json_object_new_string(n->name));
                json_object_object_add(e, "version", json_object_new_string(strempty(n->version)));
                json_object_object_add(e, "state", json_object_new_string(strempty(n->state)));
                json_object_object_add(e, "staged", json_object_new_string(strempty(n->staged)));
                json_object_object_add(e, "age_ms", json_object_new_uint64(age_ms));
                json_object_object_add(e, "lost", json_object_new_boolean(lost));
                json_object_object_add(e, "self", json_object_new_boolean(streq(n->name, f->node)));
                json_object_array_add(nodes, e);
                if (!lost)
                        present++;
        }
        /* Named nodes that never said anything; or, counted, how many are short. */
        for (char **name = c->fleet.nodes; name && *name; name++) {
                bool seen = false;
                for (size_t i = 0; i < f->n_nodes; i++)
                        seen = seen || streq(f->nodes[i].name, *name);
                if (!seen)
                        json_object_array_add(missing, json_object_new_string(*name));
        }
        json_object_object_add(o, "nodes", nodes);
        json_object_object_add(o, "missing", missing);
        json_object_object_add(o, "healthy", json_object_new_uint64(present));
        json_object_object_add(o, "answered", json_object_new_boolean(f->answered_usec > 0));
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}
