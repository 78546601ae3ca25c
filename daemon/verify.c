/* SPDX-License-Identifier: MIT */
#include <json-c/json.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "http.h"
#include "liveness.h"
#include "log.h"
#include "mblog.h"
#include "macro.h"
#include "strv.h"
#include "verify.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define PROBE_TIMEOUT_USEC (5 * USEC_PER_SEC)
/* Consecutive failed probes tolerated while settling (a busy JVM may miss one). */
#define SETTLE_MISSES_MAX 2
/* What moves is told (VERIFY_PROGRESS) when the progress rose, when what moves changed (at most
 * every STATUS_INTERVAL_USEC), and otherwise every STATUS_REFRESH_USEC: a migration of hours does
 * not flood the log. */
#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)
#define STATUS_REFRESH_USEC (60 * USEC_PER_SEC)

typedef enum Phase {
        PHASE_STARTING,
        PHASE_SETTLING,
        PHASE_VERSION,
        PHASE_FINISHED,
} Phase;

struct Verifier {
        sd_event *event;
        Systemd *systemd;
        char *unit;
        char *health_url;
        char *properties_url;
        char *expect_tag;
        uint32_t main_pid;
        uint32_t n_restarts;
        uint64_t start_timeout_usec, stall_timeout_usec, settle_usec, interval_usec;
        bool limit_from_rehearsal; /* start_timeout_usec follows a rehearsal's time */
        Liveness *liveness;
        char *moving;         /* what liveness_describe() said last, as told */
        uint64_t moving_told; /* when it was told */
        unsigned moving_mask; /* liveness_moving_mask() then */
        MbLogCondition said;  /* the last of Metabase's known messages in its output (mblog.h) */
        char *control_group;  /* the unit's: only its listeners' answers count ("" until known) */
        char *squatter;       /* why the last answer that did not count did not */

        VerifyCallback cb;
        void *userdata;

        Phase phase;
        uint64_t begin, last_progress_time, settle_begin;
        double last_progress;
        unsigned misses;
        sd_event_source *timer;
        HttpRequest *request;
        uint32_t foreign_job;  /* a job systemd queued for the unit that was not ours, e.g. systemctl stop */
        unsigned unit_queries; /* outstanding unit_info_load() calls, plus one while on_tick() runs */
        bool freed;            /* verifier_free() called while unit queries were outstanding */
};

static uint64_t now_mono(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void verifier_release(Verifier *v) {
        if (!v->freed || v->unit_queries > 0)
                return;
        free(v->unit);
        free(v->health_url);
        free(v->properties_url);
        free(v->expect_tag);
        free(v->moving);
        free(v->control_group);
        free(v->squatter);
        free(v);
}

Verifier *verifier_free(Verifier *v) {
        if (!v)
                return NULL;
        v->timer = sd_event_source_disable_unref(v->timer);
        v->request = http_request_cancel(v->request);
        v->liveness = liveness_free(v->liveness);
        systemd_unwatch_foreign_jobs(v->systemd, v);
        v->phase = PHASE_FINISHED;
        v->freed = true;
        verifier_release(v);
        return NULL;
}

static void verifier_finish(Verifier *v, bool passed, const char *fmt, ...) _printf_(3, 4);
static void verifier_finish(Verifier *v, bool passed, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (v->phase == PHASE_FINISHED)
                return;
        v->phase = PHASE_FINISHED;
        v->timer = sd_event_source_disable_unref(v->timer);
        v->request = http_request_cancel(v->request);
        if (!passed && v->liveness)
                liveness_read_output(v->liveness); /* the last lines, for what Metabase said */
        v->liveness = liveness_free(v->liveness);
        systemd_unwatch_foreign_jobs(v->systemd, v);
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!passed && msg && v->squatter) {
                /* Someone else answered on the port: named, as it may be why Metabase could not
                 * bind it. */
                char *m = strdup_printf("%s (answers that did not count: %s)", msg, v->squatter);
                if (m)
                        free_and_replace(msg, m);
        }
        if (!passed && msg && v->said > MB_LOG_NONE) {
                /* Metabase's own words name the cause: "... . Metabase said: migration lock held: ..." */
                char *m = strdup_printf(
                        "%s. Metabase said: %s: %s",
                        msg,
                        mb_log_condition_to_string(v->said),
                        mb_log_condition_explain(v->said));
                if (m)
                        free_and_replace(msg, m);
        }
        v->cb(passed ? VERIFY_PASSED : VERIFY_FAILED, v->last_progress, msg ?: "out of memory", v->userdata);
}

static void fmt_dur(uint64_t usec, char *buf, size_t n) {
        format_duration(usec, buf, n);
}

static void on_properties(HttpRequest *req, int status, const char *body, void *userdata) {
        Verifier *v = userdata;
        json_object *o, *version, *tag;
        const char *got = NULL;

        v->request = NULL;
        if (status == HTTP_NOT_THE_UNIT || status == HTTP_OWNER_UNKNOWN) {
                verifier_finish(
                        v,
                        false,
                        "/api/session/properties: the listener on the port does not count as %s's: %s",
                        v->unit,
                        body);
                return;
        }
        if (status != 200) {
                const char *hint = http_status_explain(status);
                verifier_finish(
                        v,
                        false,
                        "/api/session/properties answered %d instead of 200%s%s",
                        status,
                        hint ? ": " : "",
                        hint ?: "");
                return;
        }
        o = json_tokener_parse(body);
        if (o && json_object_object_get_ex(o, "version", &version) &&
            json_object_object_get_ex(version, "tag", &tag) && json_object_is_type(tag, json_type_string))
                got = json_object_get_string(tag);
        if (!got)
                verifier_finish(v, false, "/api/session/properties did not report version.tag");
        else if (!streq(got, v->expect_tag))
                verifier_finish(v, false, "Metabase reports version %s, expected %s", got, v->expect_tag);
        else
                verifier_finish(v, true, "Metabase %s is healthy", got);
        json_object_put(o);
}

static int arm_timer(Verifier *v);

/* Returns the progress in a 503 {"status":"initializing","progress":p} body, or -1. */
static double parse_progress(const char *body) {
        json_object *o = json_tokener_parse(body), *p;
        double d = -1;

        if (o && json_object_object_get_ex(o, "progress", &p) &&
            (json_object_is_type(p, json_type_double) || json_object_is_type(p, json_type_int)))
                d = json_object_get_double(p);
        json_object_put(o);
        return d;
}

static bool body_is_ok(const char *body) {
        json_object *o = json_tokener_parse(body), *s;
        bool ok = false;

        if (o && json_object_object_get_ex(o, "status", &s) && json_object_is_type(s, json_type_string))
                ok = streq(json_object_get_string(s), "ok");
        json_object_put(o);
        return ok;
}

/* "HTTP 503" or "connection refused", for messages. */
static const char *describe_answer(int status, char *buf, size_t n) {
        if (status > 0)
                snprintf(buf, n, "HTTP %d", status);
        else
                snprintf(buf, n, "%s", strerror(-status));
        return buf;
}

/* Tells the owner what moves (VERIFY_PROGRESS) when it changed, at most every STATUS_INTERVAL_USEC
 * unless the progress rose. */
static void tell_moving(Verifier *v, uint64_t now, bool rose) {
        unsigned mask = liveness_moving_mask(v->liveness, now);
        _cleanup_free_ char *text = NULL;

        if (!rose && v->moving &&
            (now - v->moving_told < STATUS_INTERVAL_USEC ||
             (mask == v->moving_mask && now - v->moving_told < STATUS_REFRESH_USEC)))
                return;
        text = liveness_describe(v->liveness, now);
        if (!text || (!rose && streq_ptr(text, v->moving)))
                return;
        v->moving_mask = mask;
        free(v->moving);
        v->moving = TAKE_PTR(text);
        v->moving_told = now;
        v->cb(VERIFY_PROGRESS, v->last_progress < 0 ? 0 : v->last_progress, v->moving, v->userdata);
}

static void on_health(HttpRequest *req, int status, const char *body, void *userdata) {
        Verifier *v = userdata;
        uint64_t now = now_mono();
        char a[64], b[64];

        v->request = NULL;
        if (status == HTTP_NOT_THE_UNIT) {
                /* Not Metabase's answer (whatever it would have said): the same as no answer. */
                if (!streq_ptr(v->squatter, body))
                        log_warning("%s: an answer on its port does not count: %s", v->unit, body);
                (void) free_and_strdup(&v->squatter, body);
                body = "";
        } else if (status == HTTP_OWNER_UNKNOWN) {
                /* Whose it is cannot be told (the unit gone, say): no answer either. */
                log_debug("%s: an answer on its port cannot count: %s", v->unit, body);
                body = "";
        }
        if (v->phase == PHASE_STARTING) {
                uint64_t last_moved;
                bool rose = false;

                if (status == 200 && body_is_ok(body)) {
                        v->phase = PHASE_SETTLING;
                        v->settle_begin = now;
                        v->misses = 0;
                        v->liveness = liveness_free(v->liveness);
                        v->cb(VERIFY_HEALTHY, 1.0, "health ok, settling", v->userdata);
                        return;
                }
                if (status == 503) {
                        double p = parse_progress(body);
                        if (p > v->last_progress) {
                                v->last_progress = p;
                                v->last_progress_time = now;
                                rose = true;
                        }
                }
                /* The progress figure stands still for all of the migrations: what else moves? */
                last_moved = v->last_progress_time;
                if (v->liveness) {
                        last_moved = MAX(last_moved, liveness_last_moved(v->liveness));
                        tell_moving(v, now, rose);
                } else if (rose)
                        v->cb(VERIFY_PROGRESS, v->last_progress, "initializing", v->userdata);
                if (now - last_moved > v->stall_timeout_usec) {
                        _cleanup_free_ char *watched = v->liveness ? liveness_watched(v->liveness) : NULL;

                        fmt_dur(v->stall_timeout_usec, a, sizeof(a));
                        verifier_finish(
                                v,
                                false,
                                "Metabase made no start-up progress for %s (stall_timeout): nothing moved, a stall "
                                "(progress at %.0f%%, last answer: %s; watched: the progress figure%s%s)",
                                a,
                                v->last_progress < 0 ? 0 : v->last_progress * 100,
                                describe_answer(status, b, sizeof(b)),
                                watched ? ", " : "",
                                strempty(watched));
                        return;
                }
                if (now - v->begin > v->start_timeout_usec) {
                        fmt_dur(v->start_timeout_usec, b, sizeof(b));
                        verifier_finish(
                                v,
                                false,
                                "Metabase was not ready within %s (%s; progress %.0f%%)",
                                b,
                                v->limit_from_rehearsal ? "start_timeout from this release's rehearsal: "
                                                          "its time x3 + 10m"
                                                        : "start_timeout",
                                v->last_progress < 0 ? 0 : v->last_progress * 100);
                        return;
                }
                return;
        }

        if (v->phase == PHASE_SETTLING) {
                if (status == 200 && body_is_ok(body))
                        v->misses = 0;
                else if (++v->misses >= SETTLE_MISSES_MAX) {
                        verifier_finish(
                                v,
                                false,
                                "Metabase stopped being healthy while settling (%s%s%.100s)",
                                describe_answer(status, a, sizeof(a)),
                                isempty(body) ? "" : ": ",
                                body);
                        return;
                }
                if (now - v->settle_begin >= v->settle_usec) {
                        int r;

                        v->phase = PHASE_VERSION;
                        r = http_get_owned(
                                v->event,
                                v->properties_url,
                                v->control_group,
                                PROBE_TIMEOUT_USEC,
                                on_properties,
                                v,
                                &v->request);
                        if (r < 0)
                                verifier_finish(
                                        v, false, "could not ask /api/session/properties: %s", strerror(-r));
                }
        }
}

static void on_unit_info(int r, UnitInfo *info, const char *msg, void *userdata) {
        Verifier *v = userdata;

        v->unit_queries--;
        if (v->freed || v->phase == PHASE_FINISHED || v->phase == PHASE_VERSION) {
                unit_info_free(info);
                verifier_release(v);
                return;
        }
        if (r < 0) {
                /* systemd not answering is not Metabase's fault: the health checks decide. */
                return;
        }
        if (!isempty(info->control_group) && !streq_ptr(info->control_group, v->control_group))
                (void) free_and_strdup(&v->control_group, info->control_group);
        if (v->liveness && v->phase == PHASE_STARTING)
                liveness_feed_unit(v->liveness, info, now_mono());
        /* Stopped or restarted by someone else (systemctl stop, a person, a script): the new version
         * did not prove itself either, but the reason must not blame Metabase. (A JVM stopped in the
         * middle of a migration may exit with a failure: "failed" counts too.) */
        if (v->foreign_job && info->active_state &&
            (streq(info->active_state, "inactive") || streq(info->active_state, "deactivating") ||
             streq(info->active_state, "failed")))
                verifier_finish(
                        v,
                        false,
                        "%s was stopped by someone else (job %u, not queued by mbupgraded: systemctl stop?) %s",
                        v->unit,
                        v->foreign_job,
                        v->phase == PHASE_SETTLING ? "while settling, after it was healthy"
                                                   : "while starting");
        else if (
                v->foreign_job && v->main_pid != 0 && info->main_pid != 0 && info->main_pid != v->main_pid &&
                info->n_restarts == v->n_restarts) /* systemd's own Restart= queues a job too */
                verifier_finish(
                        v,
                        false,
                        "%s was restarted by someone else (job %u, not queued by mbupgraded: systemctl restart?) %s",
                        v->unit,
                        v->foreign_job,
                        v->phase == PHASE_SETTLING ? "while settling, after it was healthy"
                                                   : "while starting");
        else if (
                info->active_state &&
                (streq(info->active_state, "failed") || streq(info->active_state, "inactive") ||
                 streq(info->active_state, "deactivating")))
                verifier_finish(
                        v,
                        false,
                        "Metabase exited %s (%s is %s)",
                        v->phase == PHASE_SETTLING ? "while settling, after it was healthy" : "while starting",
                        v->unit,
                        info->active_state);
        else if (v->main_pid != 0 && info->main_pid != 0 && info->main_pid != v->main_pid)
                verifier_finish(
                        v,
                        false,
                        "%s was restarted (main PID %u, was %u): Metabase crashed",
                        v->unit,
                        info->main_pid,
                        v->main_pid);
        else if (info->n_restarts > v->n_restarts)
                verifier_finish(v, false, "%s was restarted by systemd: Metabase crashed", v->unit);
        unit_info_free(info);
}

static void on_foreign_job(uint32_t job_id, const char *job_type, void *userdata) {
        Verifier *v = userdata;

        /* A job that stops the unit, or one gone before its type could be read (a fast stop, or a
         * no-op start): noted, not acted on; the unit's state decides. A start (at boot, say) or a
         * reload is not a stop. */
        if (v->phase != PHASE_FINISHED && (!job_type || streq(job_type, "stop") || strstr(job_type, "restart")))
                v->foreign_job = job_id;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Verifier *v = userdata;
        bool query_unit = v->unit_queries == 0;
        int r;

        if (v->phase == PHASE_FINISHED)
                return 0;
        v->unit_queries++; /* keeps v alive if the callback below frees it */
        if (v->phase == PHASE_STARTING && v->liveness)
                liveness_poll(v->liveness, now_mono());
        if (v->phase != PHASE_VERSION && !v->request && isempty(v->control_group))
                /* Whose answers count is not known before the unit's control group is: a
                 * probe that found nothing. */
                on_health(NULL, -ENODATA, "", v);
        else if (v->phase != PHASE_VERSION && !v->request) {
                r = http_get_owned(
                        v->event, v->health_url, v->control_group, PROBE_TIMEOUT_USEC, on_health, v, &v->request);
                if (r < 0) {
                        /* Refused at once (nothing listens yet): the same as a failed probe. */
                        v->request = NULL;
                        on_health(NULL, r, "", v);
                }
        }
        if (v->phase != PHASE_FINISHED && query_unit &&
            unit_info_load(v->systemd, v->unit, on_unit_info, v) >= 0)
                v->unit_queries++;
        if (v->phase != PHASE_FINISHED)
                (void) arm_timer(v);
        v->unit_queries--;
        verifier_release(v);
        return 0;
}

static int arm_timer(Verifier *v) {
        if (v->timer)
                return sd_event_source_set_time_relative(v->timer, v->interval_usec) < 0
                        ? -EIO
                        : sd_event_source_set_enabled(v->timer, SD_EVENT_ONESHOT);
        return sd_event_add_time_relative(
                v->event, &v->timer, CLOCK_MONOTONIC, v->interval_usec, 0, on_tick, v);
}

uint64_t verify_start_limit(uint64_t start_timeout_usec, uint64_t rehearsed_usec) {
        uint64_t l;

        if (rehearsed_usec == 0 || rehearsed_usec > UINT64_MAX / (2 * VERIFY_REHEARSAL_FACTOR))
                return start_timeout_usec;
        l = rehearsed_usec * VERIFY_REHEARSAL_FACTOR + VERIFY_REHEARSAL_MARGIN_USEC;
        return l > start_timeout_usec ? l : start_timeout_usec;
}

static void on_output_line(const char *line, void *userdata) {
        Verifier *v = userdata;
        MbLogCondition c = mb_log_classify(line);

        /* Each line Metabase writes while it starts: the last of its known messages is named in the
         * reason of a failure. "Initialization FAILED" says no more than that it exited: not named. */
        if (c > MB_LOG_NONE && c != MB_LOG_INIT_FAILED)
                v->said = c;
}

int verifier_start(
        sd_event *e, Systemd *systemd, const VerifyParams *p, VerifyCallback cb, void *userdata, Verifier **ret) {
        Verifier *v;
        int r;

        v = calloc(1, sizeof(Verifier));
        if (!v)
                return -ENOMEM;
        *v = (Verifier){
                .event = e,
                .systemd = systemd,
                .unit = strdup(p->unit),
                .health_url = strdup(p->health_url),
                .properties_url = http_url_with_path(p->health_url, "/api/session/properties"),
                .expect_tag = strdup(p->expect_tag),
                .main_pid = p->main_pid,
                .n_restarts = p->n_restarts,
                .start_timeout_usec = verify_start_limit(p->start_timeout_usec, p->rehearsed_usec),
                .limit_from_rehearsal = verify_start_limit(p->start_timeout_usec, p->rehearsed_usec) >
                        p->start_timeout_usec,
                .stall_timeout_usec = p->stall_timeout_usec,
                .settle_usec = p->settle_usec,
                .interval_usec = p->interval_usec ?: 200 * USEC_PER_MSEC,
                .cb = cb,
                .userdata = userdata,
                .begin = now_mono(),
                .last_progress = -1,
                .control_group = strdup(p->started ? strempty(p->started->control_group) : ""),
        };
        v->last_progress_time = v->begin;
        if (!v->unit || !v->health_url || !v->properties_url || !v->expect_tag || !v->control_group) {
                v->freed = true;
                verifier_release(v);
                return -ENOMEM;
        }
        r = liveness_new(
                e,
                &(LivenessParams){
                        .unit = p->unit,
                        .h2_file = p->h2_file,
                        .db_kind = p->db_kind,
                        .db_conninfo = p->db_conninfo,
                        .db_secret = p->db_secret,
                        .stall_timeout_usec = p->stall_timeout_usec,
                        .on_line = on_output_line,
                        .userdata = v,
                },
                &v->liveness);
        if (r < 0) {
                v->freed = true;
                verifier_release(v);
                return r;
        }
        if (p->started) {
                /* the output file's size now is where following it starts, not at the first poll */
                liveness_feed_unit(v->liveness, p->started, v->begin);
                liveness_read_output(v->liveness);
        }
        r = systemd_watch_foreign_jobs(systemd, p->unit, on_foreign_job, v);
        if (r < 0) {
                v->liveness = liveness_free(v->liveness);
                v->freed = true;
                verifier_release(v);
                return r;
        }
        /* First probe right away: a fast start is noticed without waiting an interval. */
        r = sd_event_add_time_relative(e, &v->timer, CLOCK_MONOTONIC, 0, 0, on_tick, v);
        if (r < 0) {
                verifier_free(v);
                return r;
        }
        *ret = v;
        return 0;
}
