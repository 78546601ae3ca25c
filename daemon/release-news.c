/* SPDX-License-Identifier: MIT */
#include <json-c/json.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "approvals.h"
#include "feed-watch.h"
#include "fileio.h"
#include "log.h"
#include "notify.h"
#include "plan.h"
#include "rehearse.h"
#include "release-news.h"
#include "strv.h"

/* Versions remembered per kind: the oldest are forgotten (they are long installed). */
#define TOLD_MAX 64U
#define TOLD_FILE_MAX (64U * 1024U)
/* The word of a release is of these kinds, the first of NotifyEvent. */
#define NEWS_KINDS (NOTIFY_BLOCKED + 1)

struct ReleaseNews {
        Manager *m;
        char *path;              /* state_dir/release-news.json */
        char **told[NEWS_KINDS]; /* per kind, the versions told, oldest first */
        uint64_t next_window;    /* the window timer's next elapse, µs since the epoch; 0: none */
        sd_bus_slot *window_read;
        bool window_read_again; /* it changed while a read was on its way */
        sd_bus_slot *window_changed;
        sd_bus_slot *reloaded;         /* systemctl daemon-reload draws the timer's random delay again */
        sd_event_source *window_timer; /* reads it again after it elapsed */
};

static void load_told(ReleaseNews *rn) {
        _cleanup_free_ char *text = NULL;
        json_object *o;
        int r;

        r = read_full_file(rn->path, TOLD_FILE_MAX, &text, NULL);
        if (r == -ENOENT)
                return;
        o = r >= 0 ? json_tokener_parse(text) : NULL;
        if (!o || !json_object_is_type(o, json_type_object)) {
                log_warning("Ignoring %s (unreadable): releases may be told again", rn->path);
                json_object_put(o);
                return;
        }
        for (NotifyEvent k = 0; k < NEWS_KINDS; k++) {
                json_object *a;
                if (!json_object_object_get_ex(o, notify_event_to_string(k), &a) ||
                    !json_object_is_type(a, json_type_array))
                        continue;
                for (size_t i = 0; i < json_object_array_length(a) && i < TOLD_MAX; i++) {
                        const char *v = json_object_get_string(json_object_array_get_idx(a, i));
                        if (mb_version_is_valid(v))
                                (void) strv_extend(&rn->told[k], v);
                }
        }
        json_object_put(o);
}

static void save_told(ReleaseNews *rn) {
        json_object *o = json_object_new_object();
        const char *text;
        int r;

        if (!o)
                return;
        for (NotifyEvent k = 0; k < NEWS_KINDS; k++) {
                json_object *a = json_object_new_array();
                for (char **v = rn->told[k]; a && v && *v; v++)
                        json_object_array_add(a, json_object_new_string(*v));
                json_object_object_add(o, notify_event_to_string(k), a);
        }
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        r = write_file_atomic(rn->path, text, strlen(text), 0644);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s, releases may be told again: %m", rn->path);
        json_object_put(o);
}

/* Whether version was told as kind; if not, it is remembered as told (on disk first). */
static bool told_before(ReleaseNews *rn, NotifyEvent kind, const char *version) {
        char ***l = &rn->told[kind];
        size_t n;

        if (strv_contains(*l, version))
                return true;
        if (strv_extend(l, version) < 0)
                return true; /* OOM: rather not tell than tell twice */
        n = strv_length(*l);
        if (n > TOLD_MAX) {
                free((*l)[0]);
                memmove(*l, *l + 1, n * sizeof(char *)); /* with the NULL */
        }
        save_told(rn);
        return false;
}

static void iso_time(uint64_t usec, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        buf[0] = '\0';
        if (usec > 0 && gmtime_r(&t, &tm))
                (void) strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "Sun 2026-12-13 03:07:12 UTC", as systemctl says it; "" for 0. */
static void local_time(uint64_t usec, char *buf, size_t n) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        buf[0] = '\0';
        if (usec > 0 && localtime_r(&t, &tm))
                (void) strftime(buf, n, "%a %Y-%m-%d %H:%M:%S %Z", &tm);
}

typedef struct News {
        NotifyEvent kind;
        const char *version;
        const char *text;       /* after "Metabase on HOST: " */
        const char *reason;     /* why (held, blocked), or NULL */
        const char *what_to_do; /* for people, or NULL */
        const char *policy;     /* the policy's verdict (verdict_kind_to_string()), or NULL */
        const char *plan;       /* "v0.56.1 -> v0.56.2", or NULL */
        bool window;            /* the next window matters: say when */
} News;

/* Tells n once per release and kind. */
static void tell(ReleaseNews *rn, const News *n) {
        Manager *m = rn->m;
        char host[256] = "", stamp[64], next[64], next_local[64];
        _cleanup_free_ char *text = NULL, *json = NULL;
        uint64_t now = now_realtime_usec();
        json_object *o;

        if (isempty(n->version) || told_before(rn, n->kind, n->version))
                return;
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                strcpy(host, "localhost");
        iso_time(now, stamp, sizeof(stamp));
        iso_time(n->window ? rn->next_window : 0, next, sizeof(next));
        local_time(n->window ? rn->next_window : 0, next_local, sizeof(next_local));
        text = strdup_printf("Metabase on %s: %s", host, n->text);
        o = json_object_new_object();
        if (!text || !o) {
                json_object_put(o);
                return;
        }
        json_object_object_add(o, "text", json_object_new_string(text));
        json_object_object_add(o, "host", json_object_new_string(host));
        json_object_object_add(o, "operation", json_object_new_string("release"));
        json_object_object_add(o, "result", json_object_new_string(notify_event_to_string(n->kind)));
        json_object_object_add(o, "version_from", json_object_new_string(strempty(m->installed_version)));
        json_object_object_add(o, "version_to", json_object_new_string(n->version));
        json_object_object_add(
                o, "apply", json_object_new_string(apply_mode_to_string(m->config->policy.apply)));
        json_object_object_add(o, "policy", n->policy ? json_object_new_string(n->policy) : NULL);
        json_object_object_add(o, "plan", n->plan ? json_object_new_string(n->plan) : NULL);
        json_object_object_add(o, "next_window", *next ? json_object_new_string(next) : NULL);
        json_object_object_add(o, "next_window_local", *next_local ? json_object_new_string(next_local) : NULL);
        json_object_object_add(o, "reason", n->reason ? json_object_new_string(n->reason) : NULL);
        json_object_object_add(o, "what_to_do", n->what_to_do ? json_object_new_string(n->what_to_do) : NULL);
        json_object_object_add(o, "id", json_object_new_uint64(now / 1000));
        json_object_object_add(o, "time", json_object_new_string(stamp));
        json = strdup(
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        if (json)
                notify_tell(
                        m,
                        n->kind,
                        now / 1000,
                        n->kind == NOTIFY_BLOCKED ? LOG_WARNING : LOG_NOTICE,
                        n->kind == NOTIFY_AVAILABLE ? MESSAGE_ID_NEW_RELEASE : NULL,
                        json);
}

/* "the next window, Sun 2026-12-13 03:07:12 UTC," or what to do when the timer is not active. */
static char *window_words(ReleaseNews *rn) {
        char when[64];

        local_time(rn->next_window, when, sizeof(when));
        if (!*when)
                return strdup("the next window (but " WINDOW_TIMER_UNIT
                              " is not active: systemctl enable --now " WINDOW_TIMER_UNIT ")");
        return strdup_printf("the next window (%s)", when);
}

static char *plan_words(Manager *m, char **hops) {
        _cleanup_free_ char *s = strdup(strempty(m->installed_version));

        for (char **h = hops; s && h && *h; h++) {
                char *n = strdup_printf("%s -> %s", s, *h);
                free(s);
                s = n;
        }
        return TAKE_PTR(s);
}

/* A release newer than the installed one that the feed lists: what the policy will do with it. */
static void tell_available(ReleaseNews *rn, const char *version) {
        Manager *m = rn->m;
        const char *allowed = feed_watch_newest_allowed(m);
        _cleanup_free_ char *reason = NULL, *what = NULL, *text = NULL, *window = window_words(rn);
        VerdictKind kind;
        bool target = streq(version, allowed);

        if (feed_watch_verdict(m, version, &kind, &reason) < 0 || !window)
                return;
        if (kind != VERDICT_ELIGIBLE)
                what = strdup_printf(
                        "not applied unattended: %s%s%s%s",
                        strempty(reason),
                        kind == VERDICT_HOLD ? " (mbctl unhold ends the hold)" : "",
                        isempty(allowed) ? "" : "; the policy takes ",
                        strempty(allowed));
        else if (!target)
                what = strdup_printf("the policy takes %s first", isempty(allowed) ? "nothing" : allowed);
        else if (m->config->policy.apply != APPLY_NEVER && approvals_waiting(m->config, version))
                what = strdup_printf(
                        "staged now, applied %s once approved (policy.approve): mbctl approve %s",
                        m->config->policy.apply == APPLY_IMMEDIATELY ? "at once" : "in the next window",
                        version);
        else if (m->config->policy.apply == APPLY_NEVER)
                what = strdup_printf(
                        "staged only (policy.apply is never); apply it with: mbctl upgrade now --to %s",
                        version);
        else if (m->config->policy.apply == APPLY_IMMEDIATELY)
                what = strdup("applied as soon as it is staged and verified (policy.apply is immediately)");
        else
                what = strdup_printf("staged now, applied in %s", window);
        if (!what)
                return;
        text = strdup_printf(
                "new Metabase release %s available (installed: %s); %s",
                version,
                strempty(m->installed_version),
                what);
        if (!text)
                return;
        tell(rn,
             &(News){.kind = NOTIFY_AVAILABLE,
                     .version = version,
                     .text = text,
                     .reason = reason,
                     .what_to_do = what,
                     .policy = verdict_kind_to_string(kind),
                     .window = target && kind == VERDICT_ELIGIBLE && m->config->policy.apply == APPLY_WINDOW});
}

static bool newer_than_installed(Manager *m, const char *version) {
        MbVersion a, b;

        return !isempty(version) && m->installed_version && mb_version_parse(version, &a) >= 0 &&
                mb_version_parse(m->installed_version, &b) >= 0 && mb_version_compare(&a, &b) > 0;
}

static void refresh_window(ReleaseNews *rn);

/* A read of the feed: the newest release, and the one the policy takes if another. */
static void on_check_finished(Manager *m, const Event *e, void *userdata) {
        ReleaseNews *rn = userdata;
        const char *newest = feed_watch_newest_available(m), *allowed = feed_watch_newest_allowed(m);

        refresh_window(rn);
        if (!e->ok)
                return;
        if (newer_than_installed(m, newest))
                tell_available(rn, newest);
        if (!streq(allowed, newest) && newer_than_installed(m, allowed))
                tell_available(rn, allowed);
}

/* version is staged (and rehearsed, if it is to be): due when the window would apply it now. */
static void tell_if_due(ReleaseNews *rn, const char *version) {
        Manager *m = rn->m;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;
        _cleanup_strv_free_ char **hops = NULL;
        _cleanup_free_ char *plan = NULL, *window = NULL, *text = NULL;

        if (m->config->policy.apply != APPLY_WINDOW || m->op)
                return;
        /* Refused: a blocked release, told by the plans (EVENT_RELEASE_BLOCKED). */
        if (plan_window_preview(m, &hops, &e) < 0 || !hops || !streq_ptr(hops[0], version))
                return;
        plan = plan_words(m, hops);
        window = window_words(rn);
        if (!plan || !window)
                return;
        text = strdup_printf("%s is due: %s applies it (%s)", version, window, plan);
        if (text)
                tell(rn,
                     &(News){.kind = NOTIFY_DUE,
                             .version = version,
                             .text = text,
                             .plan = plan,
                             .policy = "eligible",
                             .window = true});
}

static void tell_blocked(ReleaseNews *rn, const char *version, const char *reason, const char *what_to_do) {
        _cleanup_free_ char *text = strdup_printf(
                "%s won't be applied unattended: %s. What to do: %s",
                version,
                strempty(reason),
                strempty(what_to_do));

        if (text)
                tell(rn,
                     &(News){.kind = NOTIFY_BLOCKED,
                             .version = version,
                             .text = text,
                             .reason = reason,
                             .what_to_do = what_to_do});
}

static void on_release_staged(Manager *m, const Event *ev, void *userdata) {
        ReleaseNews *rn = userdata;
        const StagedRelease *s = ev->staged;
        const char *version = s->version ?: feed_watch_newest_allowed(m);
        _cleanup_free_ char *text = NULL, *todo = NULL;

        if (isempty(version))
                return;
        if (!ev->ok) {
                /* A download that failed is tried again; one refused is bad content, or needs
                 * what this host lacks (a newer Java). */
                if (!s->refused)
                        return;
                todo = strdup_printf(
                        "fix what the reason says (mbctl doctor helps); it is staged again at the next check "
                        "(mbctl check)");
                tell_blocked(rn, version, s->error, todo);
                return;
        }
        text = strdup_printf(
                "%s is staged: downloaded and verified (SHA-256 %s), ready to apply",
                version,
                strempty(s->sha256));
        if (text)
                tell(rn,
                     &(News){.kind = NOTIFY_STAGED,
                             .version = version,
                             .text = text,
                             .policy = "eligible",
                             .window = m->config->policy.apply == APPLY_WINDOW});
        /* With a rehearsal to come, its verdict decides (on_rehearsal_finished()). */
        if (m->config->policy.rehearse == REHEARSE_NEVER || rehearse_has_result(m, version))
                tell_if_due(rn, version);
}

static void on_rehearsal_finished(Manager *m, const Event *ev, void *userdata) {
        ReleaseNews *rn = userdata;
        const RehearsalEnd *r = ev->rehearsal;
        _cleanup_free_ char *todo = NULL;

        if (isempty(r->version))
                return;
        if (r->result_code == REHEARSAL_FAILED) {
                todo = strdup_printf(
                        "read the rehearsal's reason (mbctl status, the journal); once fixed: mbctl rehearse %s; or "
                        "apply it anyway: mbctl upgrade now --to %s --force",
                        r->version,
                        r->version);
                tell_blocked(rn, r->version, r->reason, todo);
                return;
        }
        /* passed, a warning, or skipped (policy.rehearse: auto on a host that can't): the window
         * would apply it; canceled: an upgrade was asked for, it says nothing */
        if (r->result_code != REHEARSAL_CANCELED)
                tell_if_due(rn, r->version);
}

static void on_release_blocked(Manager *m, const Event *ev, void *userdata) {
        tell_blocked(userdata, ev->blocked->version, ev->blocked->reason, ev->blocked->what_to_do);
}

/* The window timer */

static int arm_window_timer(ReleaseNews *rn);
static void refresh_window(ReleaseNews *rn);

static void on_window_read(int r, uint64_t next, void *userdata) {
        ReleaseNews *rn = userdata;

        rn->window_read = sd_bus_slot_unref(rn->window_read);
        if (r < 0 && r != -ENOENT)
                log_debug("Cannot read %s's next elapse: %s", WINDOW_TIMER_UNIT, strerror(-r));
        if (r < 0)
                next = 0;
        if (next != rn->next_window) {
                char when[64];
                local_time(next, when, sizeof(when));
                log_info("%s elapses next: %s", WINDOW_TIMER_UNIT, *when ? when : "never (not active)");
                rn->next_window = next;
                manager_properties_changed(rn->m, "NextWindow", NULL);
        }
        (void) arm_window_timer(rn);
        if (rn->window_read_again) {
                rn->window_read_again = false;
                refresh_window(rn);
        }
}

static void refresh_window(ReleaseNews *rn) {
        int r;

        if (rn->window_read) {
                rn->window_read_again = true; /* once it is back */
                return;
        }
        r = unit_timer_next_elapse_async(rn->m->bus, WINDOW_TIMER_UNIT, &rn->window_read, on_window_read, rn);
        if (r < 0)
                log_debug("Cannot ask for %s's next elapse: %s", WINDOW_TIMER_UNIT, strerror(-r));
}

static int on_window_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        refresh_window(userdata);
        return 0;
}

static int on_window_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        refresh_window(userdata);
        return 0;
}

/* A minute after the window elapsed, its next elapse is read again. */
static int arm_window_timer(ReleaseNews *rn) {
        uint64_t when = rn->next_window + 60 * USEC_PER_SEC;
        int r;

        if (rn->next_window == 0)
                return rn->window_timer ? sd_event_source_set_enabled(rn->window_timer, SD_EVENT_OFF) : 0;
        if (rn->window_timer) {
                r = sd_event_source_set_time(rn->window_timer, when);
                return r < 0 ? r : sd_event_source_set_enabled(rn->window_timer, SD_EVENT_ONESHOT);
        }
        return sd_event_add_time(
                rn->m->event, &rn->window_timer, CLOCK_REALTIME, when, USEC_PER_SEC, on_window_timer, rn);
}

/* The timer's next elapse now (before the loop runs), and whenever systemd says it changed. */
static void watch_window(ReleaseNews *rn) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = unit_timer_next_elapse(rn->m->bus, WINDOW_TIMER_UNIT, &rn->next_window);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Cannot read %s's next elapse, ignoring: %m", WINDOW_TIMER_UNIT);
        (void) arm_window_timer(rn);
        r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", WINDOW_TIMER_UNIT, &path);
        if (r >= 0)
                r = sd_bus_match_signal_async(
                        rn->m->bus,
                        &rn->window_changed,
                        "org.freedesktop.systemd1",
                        path,
                        "org.freedesktop.DBus.Properties",
                        "PropertiesChanged",
                        on_window_changed,
                        NULL,
                        rn);
        if (r >= 0)
                r = sd_bus_match_signal_async(
                        rn->m->bus,
                        &rn->reloaded,
                        "org.freedesktop.systemd1",
                        "/org/freedesktop/systemd1",
                        "org.freedesktop.systemd1.Manager",
                        "Reloading",
                        on_window_changed,
                        NULL,
                        rn);
        if (r < 0)
                log_warning_errno(r, "Cannot watch %s, ignoring: %m", WINDOW_TIMER_UNIT);
}

uint64_t release_news_next_window(Manager *m) {
        return m->release_news ? m->release_news->next_window : 0;
}

int release_news_new(Manager *m, ReleaseNews **ret) {
        ReleaseNews *rn = calloc(1, sizeof(ReleaseNews));
        int r;

        if (!rn)
                return -ENOMEM;
        rn->m = m;
        *ret = rn;
        rn->path = manager_state_path(m, "release-news.json");
        if (!rn->path)
                return -ENOMEM;
        load_told(rn);
        watch_window(rn);
        /* After the metrics and the plans' records, before what starts new work (plan.c). */
        r = events_subscribe(m->events, EVENT_CHECK_FINISHED, EVENT_ORDER_TELL, on_check_finished, rn);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_RELEASE_STAGED, EVENT_ORDER_TELL, on_release_staged, rn);
        if (r >= 0)
                r = events_subscribe(
                        m->events, EVENT_REHEARSAL_FINISHED, EVENT_ORDER_TELL, on_rehearsal_finished, rn);
        if (r >= 0)
                r = events_subscribe(
                        m->events, EVENT_RELEASE_BLOCKED, EVENT_ORDER_TELL, on_release_blocked, rn);
        return r;
}

ReleaseNews *release_news_free(ReleaseNews *rn) {
        if (!rn)
                return NULL;
        sd_bus_slot_unref(rn->window_read);
        sd_bus_slot_unref(rn->window_changed);
        sd_bus_slot_unref(rn->reloaded);
        sd_event_source_disable_unref(rn->window_timer);
        for (NotifyEvent k = 0; k < NEWS_KINDS; k++)
                strv_free(rn->told[k]);
        free(rn->path);
        free(rn);
        return NULL;
}
