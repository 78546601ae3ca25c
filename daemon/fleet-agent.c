/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appdb.h"
#include "child.h"
#include "dbserver.h"
#include "fileio.h"
#include "fleet-agent.h"
#include "lineproto.h"
#include "log.h"
#include "macro.h"
#include "strv.h"

#define FLEET_RESTART_MIN_USEC (1 * USEC_PER_SEC)
#define FLEET_RESTART_MAX_USEC (60 * USEC_PER_SEC)
#define FLEET_QUEUE_MAX 32U
#define FLEET_REASON_MAX 500U

struct FleetAgent {
        Manager *m;
        const FleetAgentOps *ops;
        void *userdata;
        char *node;
        char *secret_file; /* state_dir/fleet.pass, 0600, while the agent runs */
        Child *child;
        bool starting; /* its first line ("ready" or an error) is not an answer */
        sd_event_source *restart_timer;
        uint64_t restart_usec;

        FleetCommand queue[FLEET_QUEUE_MAX]; /* written, not yet answered */
        size_t n_queue;
        char *refused_line; /* the last line of the agent that was none of the protocol's */
};

static void agent_error(FleetAgent *a, const char *fmt, ...) _printf_(2, 3);
static void agent_error(FleetAgent *a, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (s)
                a->ops->error(s, a->userdata);
}

char *fleet_agent_reason(const char *s) {
        size_t n = strlen(strempty(s));
        char *r;

        if (n > FLEET_REASON_MAX)
                n = FLEET_REASON_MAX;
        r = strndup(strempty(s), n);

        for (char *c = r; c && *c; c++)
                if ((unsigned char) *c < 0x20 || (unsigned char) *c >= 0x7f)
                        *c = '?';
        return r;
}

static int agent_send(FleetAgent *a, FleetCommand cmd, const char *line) {
        int r;

        if (!line)
                return -ENOMEM;
        if (!a->child)
                return -ENOTCONN;
        if (a->n_queue >= FLEET_QUEUE_MAX)
                return -ENOBUFS;
        r = child_write_line(a->child, line);
        if (r < 0) {
                agent_error(a, "cannot tell the fleet agent: %s", strerror(-r));
                return r;
        }
        a->queue[a->n_queue++] = cmd;
        return 0;
}

bool fleet_agent_running(FleetAgent *a) {
        return a && a->child;
}

bool fleet_agent_asked(FleetAgent *a, FleetCommand cmd) {
        if (!a)
                return false;
        for (size_t i = 0; i < a->n_queue; i++)
                if (a->queue[i] == cmd)
                        return true;
        return false;
}

/* VERSION STATE STAGED ROLLOUT STEP [REASON] */
int fleet_agent_heartbeat(
        FleetAgent *a,
        const char *version,
        bool busy,
        const char *staged,
        uint64_t rollout,
        const char *step,
        const char *reason) {
        _cleanup_free_ char *clean = fleet_agent_reason(reason), *line = NULL;

        line = strdup_printf(
                "heartbeat %s %s %s %" PRIu64 " %s%s%s",
                fleet_string_to_token(version),
                busy ? "busy" : "idle",
                fleet_string_to_token(staged),
                rollout,
                step,
                isempty(clean) ? "" : " ",
                strempty(clean));
        return agent_send(a, FLEET_COMMAND_HEARTBEAT, line);
}

int fleet_agent_propose(
        FleetAgent *a, const char *from, const char *to, const char *sha256, const char *mode, const char *why) {
        _cleanup_free_ char *clean = fleet_agent_reason(why), *line = NULL;

        line = strdup_printf(
                "propose %s %s %s %s%s%s", from, to, sha256, mode, isempty(clean) ? "" : " ", strempty(clean));
        return agent_send(a, FLEET_COMMAND_PROPOSE, line);
}

int fleet_agent_lead(FleetAgent *a, uint64_t id) {
        _cleanup_free_ char *line = strdup_printf("lead %" PRIu64, id);
        return agent_send(a, FLEET_COMMAND_LEAD, line);
}

int fleet_agent_set(FleetAgent *a, uint64_t id, const char *state, const char *reason) {
        _cleanup_free_ char *clean = fleet_agent_reason(reason), *line = NULL;

        line = strdup_printf("set %" PRIu64 " %s%s%s", id, state, isempty(clean) ? "" : " ", strempty(clean));
        return agent_send(a, FLEET_COMMAND_SET, line);
}

int fleet_agent_backup(FleetAgent *a, uint64_t id, const char *where) {
        _cleanup_free_ char *line = strdup_printf("backup %" PRIu64 " %s", id, where);
        return agent_send(a, FLEET_COMMAND_BACKUP, line);
}

int fleet_agent_check_backup(FleetAgent *a, uint64_t id) {
        _cleanup_free_ char *line = strdup_printf("check-backup %" PRIu64, id);
        return agent_send(a, FLEET_COMMAND_CHECK, line);
}

/* The lines that end no answer: the parts of a heartbeat's answer, another node's news. */
static bool line_answers_nothing(FleetLineKind k) {
        switch (k) {
        case FLEET_LINE_NODE:
        case FLEET_LINE_ROLLOUT:
        case FLEET_LINE_COMMITTED:
        case FLEET_LINE_ENDED:
        case FLEET_LINE_FORGED:
        case FLEET_LINE_RESTORED:
        case FLEET_LINE_NOTIFY:
                return true;
        default:
                return false;
        }
}

static void on_parsed_line(FleetAgent *a, FleetLine *l) {
        FleetCommand cmd;

        if (line_answers_nothing(l->kind)) {
                a->ops->line(l, a->userdata);
                return;
        }
        if (l->kind == FLEET_LINE_CREATED) {
                log_info("Fleet: created the coordination database %s", l->name);
                return;
        }
        if (a->starting && (l->kind == FLEET_LINE_READY || l->kind == FLEET_LINE_ERROR)) {
                a->starting = false;
                if (l->kind == FLEET_LINE_READY)
                        log_info("Fleet: connected to the coordination database as node %s", a->node);
                else
                        a->ops->error(l->reason, a->userdata);
                return;
        }
        if (a->n_queue == 0)
                return; /* nothing asked: not an answer */
        cmd = a->queue[0];
        memmove(a->queue, a->queue + 1, (a->n_queue - 1) * sizeof(FleetCommand));
        a->n_queue--;
        if (cmd == FLEET_COMMAND_HEARTBEAT && l->kind == FLEET_LINE_FLEET)
                a->restart_usec = 0; /* it works: a later failure starts again quickly */
        a->ops->answer(cmd, l, a->userdata);
}

static void on_agent_line(Child *c, const char *line, void *userdata) {
        _cleanup_(fleet_line_done) FleetLine l = {};
        FleetAgent *a = userdata;

        /* One parser for every line (common/fleet-protocol.c): a line that is none of the agent's
         * (a value that is no token, a word too many) is not acted on. */
        if (fleet_line_parse(line, &l) < 0) {
                _cleanup_free_ char *shown = lineproto_display(line);
                /* said once, not at every heartbeat that brings the row again */
                if (!streq_ptr(shown, a->refused_line))
                        log_warning(
                                "Fleet: the agent's line \"%s\" is none of the protocol's: ignored",
                                shown ?: "?");
                free_and_replace(a->refused_line, shown);
                return;
        }
        on_parsed_line(a, &l);
}

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        FleetAgent *a = userdata;

        a->restart_timer = sd_event_source_disable_unref(a->restart_timer);
        (void) fleet_agent_start(a);
        return 0;
}

static void schedule_restart(FleetAgent *a) {
        int r;

        if (a->restart_usec == 0)
                a->restart_usec = FLEET_RESTART_MIN_USEC;
        else if (a->restart_usec < FLEET_RESTART_MAX_USEC / 2)
                a->restart_usec *= 2;
        else
                a->restart_usec = FLEET_RESTART_MAX_USEC;
        r = sd_event_add_time_relative(
                a->m->event,
                &a->restart_timer,
                CLOCK_BOOTTIME,
                a->restart_usec,
                USEC_PER_SEC / 10,
                on_restart_timer,
                a);
        if (r < 0)
                log_error_errno(r, "Fleet: cannot schedule the agent's restart: %m");
}

static void on_agent_exit(Child *c, int status, const char *last, void *userdata) {
        FleetAgent *a = userdata;
        FleetCommand unanswered[FLEET_QUEUE_MAX];
        size_t n = a->n_queue;

        a->child = NULL;
        /* What was asked is lost with it (and so is whatever its session held). */
        memcpy(unanswered, a->queue, n * sizeof(FleetCommand));
        a->n_queue = 0;
        a->ops->ended(unanswered, n, a->userdata);
        if (!startswith(last, "error "))
                agent_error(
                        a,
                        "the fleet agent ended (%s %d)%s%s",
                        status < 0 ? "signal" : "exit status",
                        status < 0 ? -status - 128 : status,
                        *last ? ": " : "",
                        last);
        schedule_restart(a);
}

/* The coordination database as fleet.database names it; the application database beside it when
 * it is PostgreSQL (a rollout's backup, a clone on its server, is checked there). */
static int connection_named(FleetAgent *a, AppDb **ret_db, char **ret_app_conninfo, char **ret_secret) {
        Manager *m = a->m;
        _cleanup_(appdb_freep) AppDb *db = NULL, *app = NULL;
        _cleanup_free_ char *error = NULL, *app_error = NULL;
        int r;

        r = appdb_from_string(m->config->fleet.database, &db, &error);
        if (r < 0 || db->kind != APPDB_POSTGRES) {
                agent_error(a, "fleet.database: %s", error ?: "not a PostgreSQL database");
                return -EINVAL;
        }
        *ret_app_conninfo = NULL;
        *ret_secret = NULL;
        if (manager_app_db(m, m->unit, &app, &app_error) >= 0 && app->kind == APPDB_POSTGRES) {
                *ret_app_conninfo = appdb_libpq_conninfo(app, false);
                if (app->password)
                        *ret_secret = appdb_pgpass_line(app);
        }
        *ret_db = TAKE_PTR(db);
        return 0;
}

/* The database <name>_mbupgraded on the application database's server, as its role. */
static int connection_beside_app(FleetAgent *a, AppDb **ret_db, char **ret_app_conninfo) {
        Manager *m = a->m;
        _cleanup_(appdb_freep) AppDb *db = NULL, *app = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = manager_app_db(m, m->unit, &app, &error);
        if (r < 0 || app->kind != APPDB_POSTGRES) {
                agent_error(
                        a,
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
        if (!db->host || !db->dbname || (app->user && !db->user) || (app->password && !db->password) ||
            (app->options && !db->options))
                return -ENOMEM;
        *ret_app_conninfo = appdb_libpq_conninfo(app, false);
        *ret_db = TAKE_PTR(db);
        return 0;
}

/* The coordination database's connection: fleet.database, or the application database's server
 * and role with the database <name>_mbupgraded. */
static int fleet_connection(FleetAgent *a, char **ret_conninfo, char **ret_app_conninfo, char **ret_secret) {
        _cleanup_(appdb_freep) AppDb *db = NULL;
        _cleanup_free_ char *conninfo = NULL, *app_conninfo = NULL, *secret = NULL;
        int r;

        if (!isempty(a->m->config->fleet.database))
                r = connection_named(a, &db, &app_conninfo, &secret);
        else
                r = connection_beside_app(a, &db, &app_conninfo);
        if (r < 0)
                return r;
        conninfo = appdb_libpq_conninfo(db, false);
        if (!conninfo)
                return -ENOMEM;
        if (db->password) {
                _cleanup_free_ char *line = appdb_pgpass_line(db);
                if (!line)
                        return -ENOMEM;
                if (secret) {
                        char *both = strdup_printf("%s%s", line, secret);
                        explicit_bzero(secret, strlen(secret));
                        explicit_bzero(line, strlen(line));
                        free(secret);
                        secret = both;
                } else
                        secret = TAKE_PTR(line);
                if (!secret)
                        return -ENOMEM;
        }
        *ret_conninfo = TAKE_PTR(conninfo);
        *ret_app_conninfo = TAKE_PTR(app_conninfo);
        *ret_secret = TAKE_PTR(secret);
        return 0;
}

/* The fleet's key file, root's alone (whoever reads it can sign the fleet's rows), opened for the
 * agent's fd 4: the agent runs as dbserver_user() and can't open it. */
static int open_key_file(FleetAgent *a, const char *path) {
        struct stat st;
        int fd = open_regular(path, OPEN_REGULAR_NOFOLLOW, 0, &st);

        if (fd == -EPERM || (fd >= 0 && (st.st_mode & 0077))) {
                if (fd >= 0)
                        (void) close(fd);
                agent_error(
                        a,
                        "fleet.key_file %s must be root's alone (mode 0600 or 0400): whoever reads it can sign the fleet's rows",
                        path);
                return -EPERM;
        }
        if (fd < 0)
                agent_error(a, "cannot open fleet.key_file %s: %s", path, strerror(-fd));
        return fd;
}

/* The credentials written to secret_file and opened for the agent's fd 3. */
static int open_secret(FleetAgent *a, char *secret) {
        int r;

        r = dbserver_write_secret(a->secret_file, secret);
        explicit_bzero(secret, strlen(secret));
        if (r >= 0)
                r = dbserver_open_secret(a->secret_file);
        if (r < 0)
                agent_error(a, "cannot write %s: %s", a->secret_file, strerror(-r));
        return r;
}

int fleet_agent_start(FleetAgent *a) {
        Manager *m = a->m;
        _cleanup_free_ char *conninfo = NULL, *app_conninfo = NULL, *secret = NULL, *e_conn = NULL,
                            *e_app = NULL, *e_node = NULL, *e_host = NULL, *e_key = NULL;
        _cleanup_close_ int secret_fd = -EBADF, key_fd = -EBADF;
        ChildOptions o = {.stdin_pipe = true};
        char host[256] = "";
        const char *env[9];
        size_t k = 0;
        int r;

        r = fleet_connection(a, &conninfo, &app_conninfo, &secret);
        if (r < 0)
                goto fail;
        if (secret) {
                r = secret_fd = open_secret(a, secret);
                if (r < 0)
                        goto fail;
        }
        /* The agent runs as the database helper's user; what is root's it gets as fd 3 and 4. */
        r = dbserver_credentials(&o);
        if (r < 0) {
                agent_error(a, "no user %s for %s fleet-agent", dbserver_user(), dbserver_helper_path());
                goto fail;
        }
        (void) gethostname(host, sizeof(host) - 1);
        e_conn = strdup_printf("MBUP_FLEET_CONNINFO=%s", conninfo);
        e_app = app_conninfo ? strdup_printf("MBUP_PG_CONNINFO=%s", app_conninfo) : NULL;
        e_node = strdup_printf("MBUP_FLEET_NODE=%s", a->node);
        e_host = strdup_printf("MBUP_FLEET_HOST=%s", host);
        if (!e_conn || !e_node || !e_host || (app_conninfo && !e_app))
                return -ENOMEM;
        env[k++] = e_conn;
        env[k++] = e_node;
        env[k++] = e_host;
        if (e_app)
                env[k++] = e_app;
        if (secret)
                env[k++] = "MBUP_DB_SECRET_FD=3";
        /* The fleet's key: the agent signs and checks rows with it (README, the fleet). */
        if (!isempty(m->config->fleet.key_file)) {
                r = key_fd = open_key_file(a, m->config->fleet.key_file);
                if (r < 0)
                        goto fail;
                e_key = strdup_printf("MBUP_FLEET_KEY_FILE=%s", m->config->fleet.key_file);
                if (!e_key)
                        return -ENOMEM;
                env[k++] = e_key;
                env[k++] = "MBUP_FLEET_KEY_FD=4";
        }
        env[k] = NULL;
        o.extra_env = (char *const *) env;
        o.pass_fd = secret_fd;
        o.pass_fd2 = key_fd;
        a->starting = true;
        r = child_spawn_opts(
                m->event,
                STRV_MAKE((char *) dbserver_helper_path(), "fleet-agent"),
                &o,
                on_agent_line,
                on_agent_exit,
                a,
                &a->child);
        if (r >= 0)
                return r;
        agent_error(a, "cannot start %s fleet-agent: %s", dbserver_helper_path(), strerror(-r));
fail:
        schedule_restart(a);
        return r;
}

int fleet_agent_new(Manager *m, const char *node, const FleetAgentOps *ops, void *userdata, FleetAgent **ret) {
        FleetAgent *a;

        a = calloc(1, sizeof(FleetAgent));
        if (!a)
                return -ENOMEM;
        *a = (FleetAgent){
                .m = m,
                .ops = ops,
                .userdata = userdata,
                .node = strdup(node),
                .secret_file = manager_state_path(m, "fleet.pass"),
        };
        if (!a->node || !a->secret_file) {
                fleet_agent_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

FleetAgent *fleet_agent_free(FleetAgent *a) {
        if (!a)
                return NULL;
        a->restart_timer = sd_event_source_disable_unref(a->restart_timer);
        a->child = child_kill(a->child);
        if (a->secret_file)
                (void) unlink(a->secret_file);
        free(a->refused_line);
        free(a->node);
        free(a->secret_file);
        free(a);
        return NULL;
}
