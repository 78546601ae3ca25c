/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "fetchclient.h"
#include "strv.h"

/* After the first attempt: 5s, 30s, 2m, 10m, 30m; then the delivery is given up. */
static const uint64_t webhook_retry_usec[] = {
        5 * USEC_PER_SEC,
        30 * USEC_PER_SEC,
        120 * USEC_PER_SEC,
        600 * USEC_PER_SEC,
        1800 * USEC_PER_SEC,
};
#define WEBHOOK_TIMEOUT_SEC "30"
#define COMMAND_TIMEOUT_USEC (60 * USEC_PER_SEC)
/* More than this many undelivered notifications: the oldest is dropped (a webhook down for days). */
#define DELIVERIES_MAX 32U

typedef enum DeliveryKind {
        DELIVERY_WEBHOOK,
        DELIVERY_COMMAND,
} DeliveryKind;

typedef struct Delivery Delivery;
struct Delivery {
        Notifier *n;
        DeliveryKind kind;
        char *path;             /* state_dir/notify/<id>-<kind>.json: the facts; removed with the delivery */
        char **env;             /* the command's MBUP_* variables */
        unsigned attempts;      /* the webhook's, so far */
        sd_event_source *timer; /* the webhook's next attempt; the command's time limit */
        Child *child;
        Delivery *next;
};

struct Notifier {
        Manager *m;
        Delivery *deliveries;
        char *dir;
        uint64_t seq; /* distinguishes files of the same operation id */
};

static Delivery *delivery_free(Delivery *d, bool unlink_file) {
        if (!d)
                return NULL;
        d->timer = sd_event_source_disable_unref(d->timer);
        d->child = child_kill(d->child);
        if (unlink_file && d->path)
                (void) unlink(d->path);
        free(d->path);
        strv_free(d->env);
        free(d);
        return NULL;
}

/* Takes d out of its notifier's list and frees it. */
static void delivery_done(Delivery *d) {
        for (Delivery **p = &d->n->deliveries; *p; p = &(*p)->next)
                if (*p == d) {
                        *p = d->next;
                        break;
                }
        delivery_free(d, true);
}

static void delivery_add(Notifier *n, Delivery *d) {
        Delivery **p;
        size_t count = 0;

        for (p = &n->deliveries; *p; p = &(*p)->next)
                count++;
        *p = d;
        if (count >= DELIVERIES_MAX) {
                Delivery *oldest = n->deliveries;
                log_warning(
                        "More than %u notifications undelivered; dropping %s", DELIVERIES_MAX, oldest->path);
                delivery_done(oldest);
        }
}

static void webhook_attempt(Delivery *d);

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Delivery *d = userdata;

        d->timer = sd_event_source_disable_unref(d->timer);
        webhook_attempt(d);
        return 0;
}

static void webhook_failed(Delivery *d, const char *error) {
        Manager *m = d->n->m;
        int r;

        if (d->attempts > ELEMENTSOF(webhook_retry_usec)) {
                log_error(
                        "notify.webhook %s: %s; gave up after %u attempts (the facts were in %s)",
                        m->config->notify.webhook,
                        error,
                        d->attempts,
                        d->path);
                delivery_done(d);
                return;
        }
        uint64_t delay = webhook_retry_usec[d->attempts - 1];
        log_warning(
                "notify.webhook %s: %s; trying again in %s",
                m->config->notify.webhook,
                error,
                format_duration(delay, (char[32]){}, 32));
        r = sd_event_add_time_relative(
                m->event, &d->timer, CLOCK_BOOTTIME, delay, USEC_PER_SEC, on_retry_timer, d);
        if (r < 0) {
                log_error_errno(r, "Failed to schedule the webhook's next attempt, dropping it: %m");
                delivery_done(d);
        }
}

static void on_webhook_exit(Child *c, int status, const char *last, void *userdata) {
        Delivery *d = userdata;
        _cleanup_free_ char *error = NULL;
        long code;

        d->child = NULL;
        if (status == 0 && sscanf(last, "posted %ld", &code) == 1) {
                log_info("notify.webhook: delivered %s (HTTP %ld)", d->path, code);
                delivery_done(d);
                return;
        }
        if (startswith(last, "error ")) {
                const char *msg = strchr(last + strlen("error "), ' ');
                error = strdup(msg ? msg + 1 : last);
        } else
                error = status < 0 ? strdup_printf("the helper died (signal %d)", -status - 128)
                                   : strdup_printf("the helper failed (exit %d)", status);
        webhook_failed(d, strempty(error));
}

static void webhook_attempt(Delivery *d) {
        Manager *m = d->n->m;
        const char *url = m->config->notify.webhook;
        const char *argv[20];
        size_t k = 0;
        int r;

        d->attempts++;
        argv[k++] = fetch_helper();
        argv[k++] = "--url";
        argv[k++] = url;
        /* The body on stdin, opened by the daemon: the helper's user cannot read the notify
         * directory. */
        argv[k++] = "--post-json";
        argv[k++] = "-";
        argv[k++] = "--connect-timeout";
        argv[k++] = "10";
        argv[k++] = "--timeout";
        argv[k++] = WEBHOOK_TIMEOUT_SEC;
        if (startswith(url, "http://"))
                argv[k++] = "--allow-http-loopback";
        _cleanup_close_ int ca_fd = -EBADF;
        if (!isempty(m->config->releases.ca_file)) {
                argv[k++] = "--ca-file";
                argv[k++] = m->config->releases.ca_file;
                argv[k++] = "--ca-fd";
                argv[k++] = "4";
                ca_fd = fetch_open_ca(m->config->releases.ca_file);
        }
        argv[k] = NULL;
        ChildOptions o = {.stdin_path = d->path, .pass_fd = -EBADF, .pass_fd2 = ca_fd};
        r = isempty(m->config->releases.ca_file) || ca_fd >= 0 ? fetch_credentials(&o) : ca_fd;
        if (r >= 0)
                r = child_spawn_opts(m->event, (char *const *) argv, &o, NULL, on_webhook_exit, d, &d->child);
        if (r < 0)
                webhook_failed(d, strerror(-r));
}

static int on_command_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Delivery *d = userdata;

        log_warning(
                "notify.command ran longer than %s; killed it",
                format_duration(COMMAND_TIMEOUT_USEC, (char[32]){}, 32));
        delivery_done(d);
        return 0;
}

static void on_command_exit(Child *c, int status, const char *last, void *userdata) {
        Delivery *d = userdata;

        d->child = NULL;
        if (status == 0)
                log_info("notify.command: done for %s", d->path);
        else if (status < 0)
                log_warning("notify.command died from signal %d", -status - 128);
        else
                log_warning("notify.command exited with status %d%s%s", status, *last ? ": " : "", last);
        delivery_done(d);
}

static void command_run(Delivery *d) {
        Manager *m = d->n->m;
        const char *argv[] = {"/bin/sh", "-c", m->config->notify.command, NULL};
        const char *user = m->config->notify.user;
        ChildOptions o = {.extra_env = d->env, .stdin_path = d->path, .pass_fd = -EBADF};
        int r;

        /* Never as root: as notify.user (nobody unless configured), its only group its own, no
         * new privileges. The facts come on stdin and in MBUP_* variables. */
        r = child_lookup_user(user, &o.uid, &o.gid);
        if (r < 0) {
                log_warning_errno(
                        r,
                        "notify.command not run: notify.user %s: %s",
                        user,
                        r == -ENXIO           ? "no such user"
                                : r == -EPERM ? "is root; refused"
                                              : strerror(-r));
                delivery_done(d);
                return;
        }
        o.drop = true;
        o.stderr_to_stdout = true; /* its last line, an error message maybe, is logged */
        r = child_spawn_opts(m->event, (char *const *) argv, &o, NULL, on_command_exit, d, &d->child);
        if (r < 0) {
                log_warning_errno(r, "Failed to run notify.command: %m");
                delivery_done(d);
                return;
        }
        r = sd_event_add_time_relative(
                m->event, &d->timer, CLOCK_BOOTTIME, COMMAND_TIMEOUT_USEC, USEC_PER_SEC, on_command_timeout, d);
        if (r < 0)
                log_warning_errno(r, "Failed to limit notify.command's time, ignoring: %m");
}

/* Writes the facts to a file of their own and starts the delivery. */
static void deliver(Notifier *n, DeliveryKind kind, uint64_t id, const char *json, char **env) {
        _cleanup_free_ char *path = NULL;
        Delivery *d;
        int r;

        r = mkdir_parents_and_self(n->dir, 0700);
        if (r < 0) {
                log_warning_errno(r, "Failed to create %s, no notification: %m", n->dir);
                return;
        }
        path = strdup_printf(
                "%s/%" PRIu64 "-%" PRIu64 "-%s.json",
                n->dir,
                id,
                ++n->seq,
                kind == DELIVERY_WEBHOOK ? "webhook" : "command");
        if (!path)
                return;
        r = write_file_atomic(path, json, strlen(json), 0600);
        if (r < 0) {
                log_warning_errno(r, "Failed to write %s, no notification: %m", path);
                return;
        }
        d = calloc(1, sizeof(Delivery));
        if (!d)
                return;
        *d = (Delivery){.n = n, .kind = kind, .path = TAKE_PTR(path)};
        if (env) {
                d->env = strv_copy(env);
                if (!d->env) {
                        delivery_free(d, true);
                        return;
                }
        }
        delivery_add(n, d);
        if (kind == DELIVERY_WEBHOOK)
                webhook_attempt(d);
        else
                command_run(d);
}

/* The facts */

char *notify_text(const Operation *op, const char *host) {
        const char *from = strempty(op->from_version), *to = strempty(op->to_version),
                   *reason = strempty(op->reason);
        uint64_t down = operation_downtime_usec(op);

        switch (op->kind) {
        case OPERATION_BACKUP:
                if (op->result == RESULT_COMMITTED)
                        return strdup_printf(
                                "Metabase on %s: application database backed up (%s) to %s",
                                host,
                                from,
                                strempty(op->backup_path));
                break;
        case OPERATION_RESTORE:
                if (op->result == RESULT_COMMITTED)
                        return strdup_printf(
                                "Metabase on %s: application database restored from %s (Metabase down %.0f s)",
                                host,
                                strempty(op->restore_path),
                                (double) down / USEC_PER_SEC);
                break;
        case OPERATION_ROLLBACK:
                if (op->result == RESULT_COMMITTED)
                        return strdup_printf(
                                "Metabase on %s rolled back from %s to %s (Metabase down %.0f s)",
                                host,
                                from,
                                to,
                                (double) down / USEC_PER_SEC);
                break;
        case OPERATION_UPGRADE:
                if (op->result == RESULT_COMMITTED)
                        return strdup_printf(
                                "Metabase on %s upgraded from %s to %s (Metabase down %.0f s)",
                                host,
                                from,
                                to,
                                (double) down / USEC_PER_SEC);
                break;
        default:
                break;
        }
        switch (op->result) {
        case RESULT_NONE: /* a hook's facts, while it runs */
                return strdup_printf(
                        "Metabase on %s: the %s %s -> %s is under way (step %s)",
                        host,
                        operation_kind_to_string(op->kind),
                        from,
                        to,
                        step_to_string(op->step));
        case RESULT_ROLLED_BACK:
                return strdup_printf(
                        "Metabase on %s: the %s %s -> %s failed and was rolled back, %s is serving (Metabase "
                        "down %.0f s): %s",
                        host,
                        operation_kind_to_string(op->kind),
                        from,
                        to,
                        from,
                        (double) down / USEC_PER_SEC,
                        reason);
        case RESULT_ROLLBACK_FAILED:
                return strdup_printf(
                        "Metabase on %s NEEDS A PERSON: the %s %s -> %s failed and so did its rollback: %s "
                        "(see mbctl status)",
                        host,
                        operation_kind_to_string(op->kind),
                        from,
                        to,
                        reason);
        default:
                return strdup_printf(
                        "Metabase on %s: the %s %s -> %s %s, nothing was changed: %s",
                        host,
                        operation_kind_to_string(op->kind),
                        from,
                        to,
                        op->result == RESULT_REFUSED ? "was refused" : "failed",
                        reason);
        }
}

static json_object *json_string_or_null(const char *s) {
        return isempty(s) ? NULL : json_object_new_string(s);
}

/* Who started it, flat (the command gets MBUP_INITIATOR, MBUP_INITIATOR_USER, ...). */
static void notify_add_initiator(json_object *o, const Initiator *who) {
        _cleanup_free_ char *desc = initiator_describe(who);

        json_object_object_add(o, "initiator", json_object_new_string(initiator_kind_to_string(who->kind)));
        json_object_object_add(o, "initiated_by", json_object_new_string(strempty(desc)));
        if (who->kind == INITIATOR_MBCTL || who->kind == INITIATOR_WINDOW) {
                json_object_object_add(o, "initiator_uid", json_object_new_uint64(who->uid));
                json_object_object_add(o, "initiator_user", json_object_new_string(who->user));
        }
        if (who->rollout)
                json_object_object_add(o, "initiator_rollout", json_object_new_uint64(who->rollout));
}

char *notify_facts_json(const Operation *op, const char *host) {
        _cleanup_free_ char *text = notify_text(op, host);
        json_object *o = json_object_new_object();
        char stamp[64] = "";
        time_t t = (time_t) ((op->finished_usec ?: now_realtime_usec()) / USEC_PER_SEC);
        struct tm tm;
        char *s;

        if (!o || !text) {
                json_object_put(o);
                return NULL;
        }
        if (gmtime_r(&t, &tm))
                (void) strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_object_add(o, "text", json_object_new_string(text));
        json_object_object_add(o, "host", json_object_new_string(host));
        json_object_object_add(o, "operation", json_object_new_string(operation_kind_to_string(op->kind)));
        json_object_object_add(o, "result", json_object_new_string(result_to_string(op->result)));
        json_object_object_add(o, "version_from", json_string_or_null(op->from_version));
        json_object_object_add(o, "version_to", json_string_or_null(op->to_version));
        json_object_object_add(
                o,
                "duration_sec",
                json_object_new_double(
                        op->finished_usec > op->started_usec
                                ? (double) (op->finished_usec - op->started_usec) / USEC_PER_SEC
                                : 0));
        json_object_object_add(
                o, "downtime_sec", json_object_new_double((double) operation_downtime_usec(op) / USEC_PER_SEC));
        json_object_object_add(o, "reason", json_string_or_null(op->reason));
        json_object_object_add(o, "id", json_object_new_uint64(op->id));
        json_object_object_add(o, "time", json_object_new_string(stamp));
        notify_add_initiator(o, &op->initiator);
        s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return s;
}

/* The JSON's members as MBUP_<NAME>=value, for the command. */
static char **facts_env(const char *json) {
        _cleanup_strv_free_ char **env = NULL;
        json_object *o = json_tokener_parse(json);

        if (!o)
                return NULL;
        json_object_object_foreach(o, key, value) {
                _cleanup_free_ char *name = strdup_printf("MBUP_%s", key), *e = NULL;
                if (!name)
                        break;
                for (char *c = name; *c; c++)
                        *c = (char) (*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
                /* "operation" -> MBUP_OPERATION, "version_from" -> MBUP_VERSION_FROM, ... */
                e = strdup_printf(
                        "%s=%s",
                        name,
                        value ? (json_object_is_type(value, json_type_double)
                                         ? json_object_to_json_string_ext(value, JSON_C_TO_STRING_PLAIN)
                                         : json_object_get_string(value))
                              : "");
                if (!e || strv_extend(&env, e) < 0)
                        break;
        }
        json_object_put(o);
        return TAKE_PTR(env);
}

static const char *message_id_for(const Operation *op) {
        if (op->result == RESULT_ROLLBACK_FAILED)
                return MESSAGE_ID_ROLLBACK_FAILED;
        if (op->result == RESULT_ROLLED_BACK ||
            (op->kind == OPERATION_ROLLBACK && op->result == RESULT_COMMITTED))
                return MESSAGE_ID_ROLLED_BACK;
        if (op->kind == OPERATION_UPGRADE && op->result == RESULT_COMMITTED)
                return MESSAGE_ID_UPGRADE_COMMITTED;
        return NULL;
}

static char *hostname(void) {
        char buf[256] = "";

        if (gethostname(buf, sizeof(buf) - 1) < 0 || !buf[0])
                return strdup("localhost");
        return strdup(buf);
}

/* The kind notify.*_events filters a finished operation by. */
static NotifyEvent notify_event_of(Result result) {
        switch (result) {
        case RESULT_COMMITTED:
                return NOTIFY_COMMITTED;
        case RESULT_ROLLED_BACK:
                return NOTIFY_ROLLED_BACK;
        case RESULT_ROLLBACK_FAILED:
                return NOTIFY_ROLLBACK_FAILED;
        case RESULT_REFUSED:
                return NOTIFY_REFUSED;
        default:
                return NOTIFY_FAILED;
        }
}

static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        const Operation *op = e->op;
        _cleanup_free_ char *host = hostname(), *json = NULL, *text = NULL, *f_from = NULL, *f_to = NULL,
                            *f_result = NULL, *f_op = NULL, *f_id = NULL, *f_reason = NULL, *by = NULL,
                            *f_by = NULL, *f_who = NULL, *f_uid = NULL, *f_user = NULL;
        _cleanup_strv_free_ char **env = NULL;
        int level;

        /* Nothing changed and nothing failed. */
        if (op->result == RESULT_CANCELED || op->result == RESULT_NONE || !host)
                return;
        text = notify_text(op, host);
        f_from = strdup_printf("MBUP_VERSION_FROM=%s", strempty(op->from_version));
        f_to = strdup_printf("MBUP_VERSION_TO=%s", strempty(op->to_version));
        f_result = strdup_printf("MBUP_RESULT=%s", result_to_string(op->result));
        f_op = strdup_printf("MBUP_OPERATION=%s", operation_kind_to_string(op->kind));
        f_id = strdup_printf("MBUP_OPERATION_ID=%" PRIu64, op->id);
        f_reason = strdup_printf("MBUP_REASON=%s", strempty(op->reason));
        by = initiator_describe(&op->initiator);
        f_by = strdup_printf("MBUP_INITIATED_BY=%s", strempty(by));
        f_who = strdup_printf("MBUP_INITIATOR=%s", initiator_kind_to_string(op->initiator.kind));
        /* The caller, where there is one (mbctl, the window): its uid and user name. */
        bool caller = op->initiator.kind == INITIATOR_MBCTL || op->initiator.kind == INITIATOR_WINDOW;
        f_uid = caller ? strdup_printf("MBUP_INITIATOR_UID=%u", (unsigned) op->initiator.uid)
                       : strdup("MBUP_INITIATOR_UID=");
        f_user = strdup_printf("MBUP_INITIATOR_USER=%s", caller ? op->initiator.user : "");
        if (!text || !f_from || !f_to || !f_result || !f_op || !f_id || !f_reason || !by || !f_by ||
            !f_who || !f_uid || !f_user)
                return;
        level = op->result == RESULT_ROLLBACK_FAILED ? LOG_ERR
                : op->result == RESULT_COMMITTED     ? LOG_NOTICE
                                                     : LOG_WARNING;
        log_struct(
                level,
                message_id_for(op),
                (char *const[]){f_from, f_to, f_result, f_op, f_id, f_reason, f_by, f_who, f_uid, f_user, NULL},
                "%s (%s)",
                text,
                by);

        if (!m->notifier || (isempty(m->config->notify.webhook) && isempty(m->config->notify.command)))
                return;
        json = notify_facts_json(op, host);
        if (!json)
                return;
        NotifyEvent kind = notify_event_of(op->result);
        if (!isempty(m->config->notify.webhook) && notify_events_has(&m->config->notify.webhook_events, kind))
                deliver(m->notifier, DELIVERY_WEBHOOK, op->id, json, NULL);
        if (!isempty(m->config->notify.command) && notify_events_has(&m->config->notify.command_events, kind)) {
                env = facts_env(json);
                if (env)
                        deliver(m->notifier, DELIVERY_COMMAND, op->id, json, env);
        }
}

char **notify_facts_env(const Operation *op) {
        _cleanup_free_ char *host = hostname(), *json = host ? notify_facts_json(op, host) : NULL;

        return json ? facts_env(json) : NULL;
}

/* A rehearsal's facts: the same fields as an operation's, to the same places. */
static void on_rehearsal_finished(Manager *m, const Event *e, void *userdata) {
        const RehearsalEnd *r = e->rehearsal;
        _cleanup_free_ char *host = hostname(), *text = NULL;
        json_object *facts;
        double migrated = (double) r->migration_usec / USEC_PER_SEC;
        char stamp[64] = "";
        time_t t = (time_t) (r->finished_usec / USEC_PER_SEC);
        struct tm tm;

        if (!host)
                return;
        if (streq(r->result, "passed"))
                text = strdup_printf(
                        "Metabase on %s: the rehearsal of %s passed: it migrated a copy of the database in %.1fs",
                        host,
                        r->version,
                        migrated);
        else
                text = strdup_printf(
                        "Metabase on %s: the rehearsal of %s %s: %s",
                        host,
                        r->version,
                        streq(r->result, "warning") ? "failed (a warning, not a block)" : r->result,
                        strempty(r->reason));
        if (!text)
                return;
        /* canceled or skipped: no verdict, nothing to tell but the journal */
        if (!r->verdict) {
                log_info("%s", text);
                return;
        }
        facts = json_object_new_object();
        if (!facts)
                return;
        if (gmtime_r(&t, &tm))
                (void) strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_object_add(facts, "text", json_object_new_string(text));
        json_object_object_add(facts, "host", json_object_new_string(host));
        json_object_object_add(facts, "operation", json_object_new_string("rehearsal"));
        json_object_object_add(facts, "result", json_object_new_string(r->result));
        json_object_object_add(facts, "version_from", json_object_new_string(strempty(r->from_version)));
        json_object_object_add(facts, "version_to", json_object_new_string(r->version));
        json_object_object_add(
                facts,
                "duration_sec",
                json_object_new_double((double) (r->finished_usec - r->started_usec) / USEC_PER_SEC));
        json_object_object_add(facts, "downtime_sec", json_object_new_double(0));
        json_object_object_add(facts, "rehearsal_sec", json_object_new_double(migrated));
        json_object_object_add(facts, "reason", json_object_new_string(strempty(r->reason)));
        json_object_object_add(facts, "id", json_object_new_uint64(r->id));
        json_object_object_add(facts, "time", json_object_new_string(stamp));
        notify_tell(
                m,
                NOTIFY_REHEARSAL,
                r->id,
                streq(r->result, "passed") ? LOG_NOTICE : LOG_WARNING,
                NULL,
                json_object_to_json_string_ext(facts, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(facts);
}

void notify_tell(Manager *m, NotifyEvent kind, uint64_t id, int level, const char *message_id, const char *json) {
        _cleanup_strv_free_ char **env = facts_env(json);
        json_object *o = json_tokener_parse(json), *text;

        if (!env || !o) {
                json_object_put(o);
                return;
        }
        if (json_object_object_get_ex(o, "text", &text))
                log_struct(level, message_id, env, "%s", json_object_get_string(text));
        json_object_put(o);
        if (!m->notifier)
                return;
        if (!isempty(m->config->notify.webhook) && notify_events_has(&m->config->notify.webhook_events, kind))
                deliver(m->notifier, DELIVERY_WEBHOOK, id, json, NULL);
        if (!isempty(m->config->notify.command) && notify_events_has(&m->config->notify.command_events, kind))
                deliver(m->notifier, DELIVERY_COMMAND, id, json, env);
}

DEFINE_POINTER_CLEANUP(DIR, closedir, closedirp);

/* Webhooks a previous run had not delivered are sent again; commands are not run twice. */
static void resend_leftovers(Notifier *n) {
        _cleanup_(closedirp) DIR *d = opendir(n->dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                Delivery *del;

                if (de->d_name[0] == '.' || !endswith(de->d_name, ".json"))
                        continue;
                path = strdup_printf("%s/%s", n->dir, de->d_name);
                if (!path)
                        return;
                if (!endswith(de->d_name, "-webhook.json") || isempty(n->m->config->notify.webhook)) {
                        (void) unlink(path);
                        continue;
                }
                del = calloc(1, sizeof(Delivery));
                if (!del)
                        return;
                *del = (Delivery){.n = n, .kind = DELIVERY_WEBHOOK, .path = TAKE_PTR(path)};
                log_info("notify.webhook: sending %s again (not delivered before the daemon stopped)", del->path);
                delivery_add(n, del);
                webhook_attempt(del);
        }
}

int notifier_new(Manager *m, Notifier **ret) {
        Notifier *n = calloc(1, sizeof(Notifier));
        int r;

        if (!n)
                return -ENOMEM;
        n->m = m;
        n->dir = manager_state_path(m, "notify");
        if (!n->dir) {
                free(n);
                return -ENOMEM;
        }
        resend_leftovers(n);
        *ret = n;
        r = events_subscribe(m->events, EVENT_OPERATION_FINISHED, EVENT_ORDER_TELL, on_operation_finished, n);
        if (r >= 0)
                r = events_subscribe(
                        m->events, EVENT_REHEARSAL_FINISHED, EVENT_ORDER_TELL, on_rehearsal_finished, n);
        return r;
}

Notifier *notifier_free(Notifier *n) {
        if (!n)
                return NULL;
        /* Undelivered webhooks stay on disk for the next start. */
        while (n->deliveries) {
                Delivery *d = n->deliveries;
                n->deliveries = d->next;
                delivery_free(d, d->kind == DELIVERY_COMMAND);
        }
        free(n->dir);
        free(n);
        return NULL;
}
