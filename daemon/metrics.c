/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backups.h"
#include "fileio.h"
#include "history.h"
#include "log.h"
#include "macro.h"
#include "metrics.h"
#include "rehearse.h"
#include "feed-watch.h"
#include "strv.h"
#include "version.h"

/* The last upgrade or rollback (an operation that changes the version or tried to). */
typedef struct LastOperation {
        char *kind, *result, *from, *to;
        uint64_t finished_usec, duration_usec, downtime_usec;
} LastOperation;

struct Metrics {
        LastOperation last;
        bool have_last;
        bool have_check;
        bool check_ok;
        uint64_t check_usec;
        uint64_t backups, backup_bytes;
        uint64_t down_total_usec; /* every operation's downtime in the history, and since */
        char *written;            /* the text last written */
        bool failed;              /* writing failed: said once, not at every change */
};

static void last_clear(LastOperation *l) {
        free(l->kind);
        free(l->result);
        free(l->from);
        free(l->to);
        *l = (LastOperation){};
}

static bool counts_as_upgrade(const char *kind, const char *result) {
        return (streq(kind, "upgrade") || streq(kind, "rollback")) && !streq(result, "canceled");
}

/* The newest upgrade or rollback in the history, from before this start. */
static void load_last_from_history(Manager *m, Metrics *x) {
        HistoryEntry e = {};

        if (history_find_last(m->config->state_dir, counts_as_upgrade, &e) <= 0)
                return;
        x->last = (LastOperation){
                .kind = TAKE_PTR(e.kind),
                .result = TAKE_PTR(e.result),
                .from = TAKE_PTR(e.from),
                .to = TAKE_PTR(e.to),
                .finished_usec = e.finished_usec,
                .duration_usec = e.finished_usec > e.started_usec ? e.finished_usec - e.started_usec : 0,
                .downtime_usec = e.downtime_usec,
        };
        x->have_last = true;
}

static void on_operation_finished(Manager *m, const Event *e, void *userdata);
static void on_check_finished(Manager *m, const Event *e, void *userdata);

/* Whatever changed what status shows changes the metrics too. */
static void on_changed(Manager *m, const Event *e, void *userdata) {
        metrics_update(m);
}

int metrics_new(Manager *m, Metrics **ret) {
        Metrics *x = calloc(1, sizeof(Metrics));
        int r;

        if (!x)
                return -ENOMEM;
        load_last_from_history(m, x);
        x->down_total_usec = history_downtime_total_usec(m->config->state_dir);
        *ret = x;
        m->metrics = x;
        metrics_count_backups(m);
        r = events_subscribe(m->events, EVENT_OPERATION_FINISHED, EVENT_ORDER_RECORD, on_operation_finished, x);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_STATE_CHANGED, EVENT_ORDER_RECORD, on_changed, x);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_REHEARSAL_FINISHED, EVENT_ORDER_RECORD, on_changed, x);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_CHECK_FINISHED, EVENT_ORDER_RECORD, on_check_finished, x);
        return r;
}

Metrics *metrics_free(Metrics *x) {
        if (!x)
                return NULL;
        last_clear(&x->last);
        free(x->written);
        free(x);
        return NULL;
}

static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        Metrics *x = userdata;
        const Operation *op = e->op;
        const char *kind = operation_kind_to_string(op->kind), *result = result_to_string(op->result);

        x->down_total_usec += operation_downtime_usec(op);
        if (counts_as_upgrade(kind, result)) {
                last_clear(&x->last);
                x->last = (LastOperation){
                        .kind = strdup(kind),
                        .result = strdup(result),
                        .from = strdup(strempty(op->from_version)),
                        .to = strdup(strempty(op->to_version)),
                        .finished_usec = op->finished_usec,
                        .duration_usec = op->finished_usec > op->started_usec
                                ? op->finished_usec - op->started_usec
                                : 0,
                        .downtime_usec = operation_downtime_usec(op),
                };
                x->have_last = x->last.kind && x->last.result && x->last.from && x->last.to;
        }
        metrics_count_backups(m);
        metrics_update(m);
}

/* A read of the feed ended, well or not. */
static void on_check_finished(Manager *m, const Event *e, void *userdata) {
        Metrics *x = userdata;

        x->have_check = true;
        x->check_ok = e->ok;
        x->check_usec = now_realtime_usec();
        metrics_update(m);
}

void metrics_count_backups(Manager *m) {
        if (m->metrics && !isempty(m->config->metrics_file))
                backups_usage(m, &m->metrics->backups, &m->metrics->backup_bytes);
}

/* A label value: backslash, double quote and newline escaped (versions never have them; the
 * format says how anyway). */
static void put_label(FILE *f, const char *s) {
        for (; *s; s++)
                if (*s == '\\' || *s == '"')
                        fprintf(f, "\\%c", *s);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
}

static void put_metric(FILE *f, const char *name, const char *help, const char *type) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_version_info(FILE *f, const char *name, const char *help, const char *version) {
        if (isempty(version))
                return;
        put_metric(f, name, help, "gauge");
        fprintf(f, "%s{version=\"", name);
        put_label(f, version);
        fputs("\"} 1\n", f);
}

static void put_gauge(FILE *f, const char *name, const char *help, double value) {
        put_metric(f, name, help, "gauge");
        fprintf(f, "%s %.17g\n", name, value);
}

char *metrics_format(Manager *m) {
        Metrics *x = m->metrics;
        const char *newest = feed_watch_newest_available(m);
        MbVersion a, b;
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        if (!x)
                return NULL;
        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        put_version_info(
                f,
                "mbupgraded_installed_version_info",
                "Metabase version of the JAR the unit runs.",
                m->installed_version);
        put_version_info(
                f,
                "mbupgraded_running_version_info",
                "Metabase version the running Metabase last reported.",
                m->running_version);
        put_version_info(
                f,
                "mbupgraded_newest_available_version_info",
                "Newest Metabase release of the channel in the release feed.",
                newest);
        if (!isempty(newest) && !isempty(m->installed_version) && mb_version_parse(newest, &a) >= 0 &&
            mb_version_parse(m->installed_version, &b) >= 0)
                put_gauge(
                        f,
                        "mbupgraded_update_available",
                        "1 when the feed has a newer release than the installed one.",
                        mb_version_compare(&a, &b) > 0);
        if (x->have_check) {
                put_gauge(
                        f,
                        "mbupgraded_last_check_timestamp_seconds",
                        "When the release feed was last read (successfully or not).",
                        (double) (x->check_usec / USEC_PER_SEC));
                put_gauge(
                        f,
                        "mbupgraded_last_check_success",
                        "1 when the last read of the release feed succeeded.",
                        x->check_ok);
        }
        if (x->have_last) {
                put_metric(
                        f,
                        "mbupgraded_last_upgrade_info",
                        "The last upgrade or rollback: operation, result, versions.",
                        "gauge");
                fputs("mbupgraded_last_upgrade_info{operation=\"", f);
                put_label(f, x->last.kind);
                fputs("\",result=\"", f);
                put_label(f, x->last.result);
                fputs("\",from=\"", f);
                put_label(f, x->last.from);
                fputs("\",to=\"", f);
                put_label(f, x->last.to);
                fputs("\"} 1\n", f);
                put_gauge(
                        f,
                        "mbupgraded_last_upgrade_timestamp_seconds",
                        "When the last upgrade or rollback ended.",
                        (double) (x->last.finished_usec / USEC_PER_SEC));
                put_gauge(
                        f,
                        "mbupgraded_last_upgrade_success",
                        "1 when the last upgrade or rollback committed.",
                        streq(x->last.result, "committed"));
                put_gauge(
                        f,
                        "mbupgraded_last_upgrade_duration_seconds",
                        "How long the last upgrade or rollback took, from pre-flight to the end.",
                        (double) x->last.duration_usec / USEC_PER_SEC);
                put_gauge(
                        f,
                        "mbupgraded_last_upgrade_downtime_seconds",
                        "How long Metabase was down during the last upgrade or rollback: every period "
                        "it did not answer healthy, a rollback's included.",
                        (double) x->last.downtime_usec / USEC_PER_SEC);
        }
        put_metric(
                f,
                "mbupgraded_downtime_seconds_total",
                "How long Metabase did not answer healthy during the operations in the history (upgrades, "
                "rollbacks, restores, backups that stop it).",
                "counter");
        fprintf(f, "mbupgraded_downtime_seconds_total %.17g\n", (double) x->down_total_usec / USEC_PER_SEC);
        put_gauge(
                f,
                "mbupgraded_backups",
                "Backups of the application database under backup.dir.",
                (double) x->backups);
        put_gauge(f, "mbupgraded_backups_size_bytes", "Their size in all.", (double) x->backup_bytes);
        put_gauge(f, "mbupgraded_hold", "1 when upgrades are held.", m->hold);
        put_gauge(f, "mbupgraded_operation_in_progress", "1 while an operation runs.", m->op != NULL);
        rehearse_metrics(m, f);
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        return text;
}

void metrics_update(Manager *m) {
        Metrics *x = m->metrics;
        _cleanup_free_ char *text = NULL;
        int r;

        if (!x || isempty(m->config->metrics_file))
                return;
        text = metrics_format(m);
        if (!text || streq_ptr(text, x->written))
                return;
        r = write_file_atomic(m->config->metrics_file, text, strlen(text), 0644);
        if (r < 0) {
                if (!x->failed)
                        log_warning_errno(
                                r, "Failed to write metrics_file %s, ignoring: %m", m->config->metrics_file);
                x->failed = true;
                return;
        }
        x->failed = false;
        free(x->written);
        x->written = TAKE_PTR(text);
}
