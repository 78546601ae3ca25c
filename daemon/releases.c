/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "approvals.h"
#include "child.h"
#include "engine.h"
#include "feed.h"
#include "fetchclient.h"
#include "fileio.h"
#include "log.h"
#include "notify.h"
#include "policy.h"
#include "rehearse.h"
#include "history.h"
#include "releases.h"
#include "strv.h"

#define JAR_SIZE_MAX (2ULL * 1024 * 1024 * 1024) /* the biggest Metabase JAR is ~500 MB */
#define SMALL_FILE_MAX (64U * 1024U)             /* metabase.sha256, metabase.jar.sig */
#define CHECK_CALLS_MAX 16
#define STAGED_KEEP 2
#define FIRST_CHECK_DELAY_USEC (5 * USEC_PER_SEC)

static const Initiator immediately = {.kind = INITIATOR_IMMEDIATELY};

typedef struct Plan {
        uint64_t id;
        char **hops;
        size_t next;
        uint64_t flags;
        bool unattended;
        char *from;
        char *last_to;
        uint64_t op_id; /* the engine operation of the current hop */
        Initiator who;  /* who asked for the plan; each hop names it with its place */
} Plan;

struct Releases {
        Manager *m;
        char *site_id;
        Feed *feed;
        char *feed_error;
        char *last_check;
        sd_event_source *timer;
        Child *check_child;
        char *check_output;
        Reply *check_replies[CHECK_CALLS_MAX];
        size_t n_check_calls;
        bool plan_after_check; /* an upgrade waits for the first feed */
        char *newest_allowed;  /* the NewestAllowed property */
        Plan *plan;
        Reply *plan_reply; /* an upgrade that waits for the first feed */
        char *blocked;     /* an unattended upgrade to this version failed: not again unattended */
        char *pending_version;
        uint64_t pending_flags;
        Initiator pending_who;
        bool pending_window;
        bool plan_after_rehearsal; /* the window waits for the running rehearsal's verdict */
        Reply *rehearse_reply;     /* mbctl rehearse, while its release is staged */
        char *rehearse_version;
};

static void plan_free(Plan *p) {
        if (!p)
                return;
        strv_free(p->hops);
        free(p->from);
        free(p->last_to);
        free(p);
}

static char *staging_dir(Manager *m) {
        return manager_state_path(m, "staging");
}

/* Feed */

static void check_reply_all(Manager *m, int r, const char *error) {
        Releases *rl = m->releases;

        for (size_t i = 0; i < rl->n_check_calls; i++) {
                if (r < 0)
                        reply_refused(rl->check_replies[i], OUTCOME_FAILED, error);
                else
                        reply_text(rl->check_replies[i], rl->last_check);
                rl->check_replies[i] = reply_unref(rl->check_replies[i]);
        }
        rl->n_check_calls = 0;
}

static PolicyInput policy_input(Manager *m, PolicyMode mode, bool force, MbVersion *installed_ok) {
        PolicyInput in = {
                .config = m->config,
                .mode = mode,
                .hold = m->hold,
                .force = force,
                .now_usec = now_realtime_usec(),
                .site_id = m->releases->site_id,
        };
        *installed_ok = (MbVersion){};
        if (m->installed_version && mb_version_parse(m->installed_version, &in.installed) >= 0)
                *installed_ok = in.installed;
        return in;
}

static void plan_start_from_pending(Manager *m);

static void
on_auto_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error);

/* After every feed update: what the policy would take unattended, staged ahead of time, and with
 * policy.apply: immediately applied. */
static void releases_decide(Manager *m) {
        Releases *rl = m->releases;
        _cleanup_free_ char *error = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        MbVersion installed;
        PolicyInput in;
        int r;

        if (!rl->feed || !m->installed_version)
                return;
        in = policy_input(m, POLICY_UNATTENDED, false, &installed);
        r = policy_plan(rl->feed, &in, NULL, &hops, &error);
        if (r < 0 || !hops || !hops[0]) {
                free_and_printf(&rl->newest_allowed, "%s", r < 0 ? "" : "");
                manager_properties_changed(m, "NewestAllowed", "NewestAvailable", NULL);
                return;
        }
        free_and_printf(&rl->newest_allowed, "%s", hops[strv_length(hops) - 1]);
        manager_properties_changed(m, "NewestAllowed", "NewestAvailable", NULL);
        if (m->config->policy.apply == APPLY_NEVER && !staging_busy(m))
                log_info("policy.apply is never: %s is staged only", hops[0]);
        if (!staging_busy(m) && !rl->plan && !m->op)
                staging_stage(m, hops[0], on_auto_staged);
}

/* The version a staged JAR is of: state_dir/staging/<version>/metabase.jar */
static char *staged_version(const char *jar) {
        _cleanup_free_ char *dir = path_dirname(jar);
        const char *slash = dir ? strrchr(dir, '/') : NULL;

        return slash && mb_version_is_valid(slash + 1) ? strdup(slash + 1) : NULL;
}

static void
on_auto_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Releases *rl = m->releases;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;

        if (r < 0)
                return;
        /* Rehearsed before it is applied (policy.rehearse), once per release: the verdict decides
         * the unattended upgrade, and with apply: immediately it follows the verdict. */
        _cleanup_free_ char *version = staged_version(jar);
        if (version && m->config->policy.rehearse != REHEARSE_NEVER && !rehearse_has_result(m, version) &&
            !rehearse_running(m) && !rl->plan && !m->op && (!m->config->fleet.enabled || m->fleet_rehearses)) {
                r = rehearse_start(m, version, jar, sha256, REHEARSE_UNATTENDED, NULL, &e);
                if (r < 0)
                        log_warning("Not rehearsing %s: %s", version, e.reason ?: strerror(-r));
                refusal_done(&e);
                if (rehearse_running(m))
                        return; /* on_rehearsal_finished() goes on */
        }
        if (m->config->policy.apply == APPLY_IMMEDIATELY && !rl->plan && !m->op) {
                log_info("policy.apply is immediately: applying what the policy allows");
                if (releases_window(m, 0, &immediately, NULL, &e) < 0 && e.reason)
                        log_warning("Not applying: %s", e.reason);
        }
}

/* The journal hears of a release once: when the feed first lists it as the newest, and it is
 * newer than the installed one. */
static void announce_new_release(Manager *m, const char *was_newest) {
        const char *newest = releases_newest_available(m);
        MbVersion a, b;

        if (isempty(newest) || streq_ptr(newest, was_newest) || !m->installed_version ||
            mb_version_parse(newest, &a) < 0 || mb_version_parse(m->installed_version, &b) < 0 ||
            mb_version_compare(&a, &b) <= 0)
                return;
        notify_new_release(m, newest, m->installed_version);
}

static void on_check_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        Releases *rl = m->releases;
        _cleanup_free_ char *error = NULL, *text = NULL, *cache = NULL;
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        Feed *feed = NULL;
        size_t size;
        int r;

        rl->check_child = NULL;
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        r = fetchclient_verdict(status, last, NULL, NULL, &error);
        if (r >= 0) {
                r = read_full_file(rl->check_output, FEED_SIZE_MAX + 1, &text, &size);
                if (r < 0)
                        error = strdup_printf("cannot read the downloaded feed: %s", strerror(-r));
        }
        (void) unlink(rl->check_output);
        if (r >= 0) {
                r = feed_parse(text, size, m->config->releases.channel == CHANNEL_BETA, &feed, &error);
                if (r < 0 && !error)
                        error = strdup(strerror(-r));
        }
        if (r < 0) {
                /* A broken feed keeps the last good one. */
                free_and_printf(&rl->feed_error, "%s", strempty(error));
                free_and_printf(
                        &rl->last_check,
                        "%s failed: %s%s",
                        stamp,
                        strempty(error),
                        rl->feed ? " (keeping the last good feed)" : "");
                log_warning("Release feed %s: %s", m->config->releases.feed, strempty(error));
                events_emit(m, &(Event){.kind = EVENT_CHECK_FINISHED, .ok = false});
                manager_properties_changed(m, "LastCheck", NULL);
                check_reply_all(m, -EIO, rl->last_check);
                if (rl->plan_after_check) {
                        rl->plan_after_check = false;
                        plan_start_from_pending(m);
                }
                return;
        }
        _cleanup_free_ char *was_newest = strdup(releases_newest_available(m));
        feed_free(rl->feed);
        rl->feed = feed;
        announce_new_release(m, was_newest);
        events_emit(m, &(Event){.kind = EVENT_CHECK_FINISHED, .ok = true});
        free_and_printf(&rl->feed_error, "%s", "");
        free_and_printf(
                &rl->last_check,
                "%s ok: %zu releases, newest %s%s%s",
                stamp,
                feed->n,
                feed->releases[0].version,
                feed->n_rejected ? "; ignored entries: " : "",
                feed->n_rejected ? feed->rejected_reason : "");
        if (feed->n_rejected)
                log_warning(
                        "Release feed: %zu entries ignored, e.g. %s", feed->n_rejected, feed->rejected_reason);
        cache = manager_state_path(m, "feed.json");
        if (cache && write_file_atomic(cache, text, size, 0644) < 0)
                log_warning("Failed to cache the feed in %s, ignoring", cache);
        manager_properties_changed(m, "LastCheck", "NewestAvailable", NULL);
        check_reply_all(m, 0, NULL);
        if (rl->plan_after_check) {
                rl->plan_after_check = false;
                plan_start_from_pending(m);
        } else
                releases_decide(m);
}

int releases_check(Manager *m, Reply *reply, Refusal *refusal) {
        Releases *rl = m->releases;
        _cleanup_free_ char *dir = staging_dir(m);
        int r;

        if (reply) {
                if (rl->n_check_calls >= CHECK_CALLS_MAX)
                        return refusal_set(refusal, OUTCOME_BUSY, -EBUSY, "Too many checks waiting; try again");
                rl->check_replies[rl->n_check_calls++] = reply_ref(reply);
        }
        if (rl->check_child)
                return 1; /* answered when the running check ends */
        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self(dir, 0755);
        free(rl->check_output);
        rl->check_output = path_join(dir, "feed.json.download");
        if (r >= 0 && !rl->check_output)
                r = -ENOMEM;
        if (r >= 0)
                r = fetchclient_spawn(
                        m->event,
                        m->config->releases.ca_file,
                        m->config->releases.feed,
                        rl->check_output,
                        FEED_SIZE_MAX,
                        false,
                        NULL,
                        on_check_exit,
                        m,
                        &rl->check_child);
        if (r < 0) {
                _cleanup_free_ char *msg = strdup_printf(
                        "cannot start the download helper %s: %s", fetch_helper(), strerror(-r));
                check_reply_all(m, r, msg);
                return reply ? 1 : r;
        }
        return 1;
}

static int arm_check_timer(Manager *m, uint64_t delay);

static int on_check_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) releases_check(m, NULL, NULL);
        (void) arm_check_timer(m, m->config->releases.check_every_usec);
        return 0;
}

static int arm_check_timer(Manager *m, uint64_t delay) {
        Releases *rl = m->releases;
        uint64_t jitter = 0;

        /* Up to a tenth more, so that a fleet of servers does not poll in step. */
        if (delay >= 10 * USEC_PER_SEC) {
                uint32_t rnd = 0;
                (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
                jitter = (uint64_t) rnd % (delay / 10);
        }
        if (rl->timer) {
                (void) sd_event_source_set_time_accuracy(rl->timer, 60 * USEC_PER_SEC);
                (void) sd_event_source_set_time_relative(rl->timer, delay + jitter);
                return sd_event_source_set_enabled(rl->timer, SD_EVENT_ONESHOT);
        }
        /* Accuracy of a minute (the wake-up can be batched with others), but the first check, a
         * few seconds after start, on time. */
        return sd_event_add_time_relative(
                m->event,
                &rl->timer,
                CLOCK_BOOTTIME,
                delay + jitter,
                delay < 60 * USEC_PER_SEC ? USEC_PER_SEC : 60 * USEC_PER_SEC,
                on_check_timer,
                m);
}

/* Plans */

static void plan_finish(Manager *m, Result result, const char *reason) {
        Releases *rl = m->releases;
        Plan *p = rl->plan;
        Operation fake = {
                .id = p->id,
                .kind = OPERATION_UPGRADE,
                .result = result,
                .from_version = p->from,
                .to_version = p->last_to ?: (p->hops[0] ?: ""),
                .reason = (char *) reason,
        };

        rl->plan = NULL;
        events_emit(m, &(Event){.kind = EVENT_PLAN_FINISHED, .op = &fake});
        if (result != RESULT_COMMITTED)
                manager_set_status(
                        m,
                        "Idle; upgrade to %s: %s: %s",
                        strempty(fake.to_version),
                        result_to_string(result),
                        strempty(reason));
        plan_free(p);
        manager_properties_changed(m, "State", NULL);
}

static void plan_next_hop(Manager *m);

static void
on_hop_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Releases *rl = m->releases;
        Plan *p = rl->plan;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;

        if (!p)
                return;
        if (r < 0) {
                plan_finish(m, refused ? RESULT_REFUSED : RESULT_FAILED, error);
                return;
        }
        Initiator who = p->who;
        if (strv_length(p->hops) > 1) {
                who.plan = p->id;
                who.hop = (unsigned) p->next;
                who.hops = (unsigned) strv_length(p->hops);
        }
        r = engine_upgrade(m, jar, sha256, p->flags & ENGINE_FORCE, &who, NULL, &e);
        if (r < 0) {
                plan_finish(
                        m,
                        e.outcome == OUTCOME_REFUSED ? RESULT_REFUSED : RESULT_FAILED,
                        e.reason ?: strerror(-r));
                return;
        }
        p->op_id = m->op ? m->op->id : 0;
}

static void plan_next_hop(Manager *m) {
        Plan *p = m->releases->plan;
        const char *hop = p->hops[p->next++];

        manager_set_status(m, "Upgrade to %s: staging", hop);
        staging_stage(m, hop, on_hop_staged);
}

/* An operation ended: a plan's next hop, or its end. */
static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        const Operation *op = e->op;
        Plan *p = m->releases ? m->releases->plan : NULL;

        if (!p || op->id != p->op_id)
                return;
        if (op->result != RESULT_COMMITTED) {
                /* Unattended, the same release would fail the same way at the next check; not
                 * so a fleet's node whose proposal lost to another node's (it joins that one). */
                if (p->unattended &&
                    !(m->config->fleet.enabled && op->result == RESULT_REFUSED && !op->fleet_rollout))
                        (void) free_and_strdup(&m->releases->blocked, op->to_version);
                plan_finish(m, op->result, op->reason);
                return;
        }
        (void) free_and_strdup(&p->last_to, op->to_version);
        if (!p->hops[p->next]) {
                plan_finish(m, RESULT_COMMITTED, "");
                return;
        }
        plan_next_hop(m);
}

static char *plan_summary(char **hops, const char *from) {
        _cleanup_free_ char *s = strdup(strempty(from));

        for (char **h = hops; s && h && *h; h++) {
                char *n = strdup_printf("%s -> %s", s, *h);
                free(s);
                s = n;
        }
        return TAKE_PTR(s);
}

/* The longest of the last upgrades (start to end, rolled back ones included: a window must have
 * room for a rollback too), from the history; 0 when there is none. */
static bool is_finished_upgrade(const char *kind, const char *result) {
        return streq(kind, "upgrade") && (streq(result, "committed") || streq(result, "rolled-back"));
}

static uint64_t past_upgrade_usec(Manager *m) {
        return history_longest_usec(m->config->state_dir, is_finished_upgrade);
}

/* What refuses hops that the policy allows: the unattended retry of a release that rolled back,
 * a failed rehearsal (but with --force), and a window they would not fit in. */
static int plan_refuses(Manager *m, char **hops, uint64_t flags, bool unattended, Refusal *refusal) {
        Releases *rl = m->releases;

        if (unattended && rl->blocked && strv_contains(hops, rl->blocked))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "the last unattended upgrade to %s failed and was rolled back; it is not "
                        "retried unattended (try it with: mbctl upgrade now --to %s)",
                        rl->blocked,
                        rl->blocked);
        /* policy.approve: a release waits for mbctl approve (approvals.c) before it is applied unattended. */
        const char *unapproved = unattended ? approvals_missing(m->config, hops) : NULL;
        if (unapproved)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "%s is waiting for approval (mbctl approve %s)",
                        unapproved,
                        unapproved);
        /* A release whose rehearsal failed is not applied but by an admin's --force (issue 8). */
        for (char **h = hops; !(flags & ENGINE_FORCE) && *h; h++) {
                const char *why = rehearse_blocked(m, *h);
                if (why)
                        return refusal_set(
                                refusal,
                                OUTCOME_REFUSED,
                                -EPERM,
                                "the rehearsal of %s on a copy of the application database failed: %s. It is not "
                                "applied%s; to upgrade anyway: mbctl upgrade now --to %s --force",
                                *h,
                                why,
                                unattended ? " unattended" : " without --force",
                                *h);
        }
        if (unattended && m->config->policy.window_max_usec > 0) {
                uint64_t past = past_upgrade_usec(m), need = 0, rehearsed = 0;
                char a[32], b[32];

                /* A rehearsed hop: its measured downtime and the settle period; else the longest
                 * past upgrade. */
                for (char **h = hops; *h; h++) {
                        uint64_t e = rehearse_expected_usec(m, *h);
                        if (e > 0)
                                rehearsed++;
                        need += e > 0 ? e + m->config->service.settle_usec : past;
                }
                if (need > m->config->policy.window_max_usec)
                        return refusal_set(
                                refusal,
                                OUTCOME_REFUSED,
                                -EPERM,
                                "%zu upgrade%s would not fit in the window: they would take about %s (%s), "
                                "policy.window_max is %s; run it by hand (mbctl upgrade now) or widen the window",
                                strv_length(hops),
                                strv_length(hops) == 1 ? "" : "s",
                                format_duration(
                                        (need + USEC_PER_SEC - 1) / USEC_PER_SEC * USEC_PER_SEC, a, sizeof(a)),
                                rehearsed == strv_length(hops)
                                        ? "measured by rehearsals on a copy of the database, plus service.settle"
                                        : rehearsed > 0
                                        ? "rehearsals' measures, and past upgrades for the others"
                                        : "past upgrades' durations",
                                format_duration(m->config->policy.window_max_usec, b, sizeof(b)));
        }
        return 0;
}

/* A dry run's answer: the plan, and what each hop needs first and is expected to cost. */
static char *plan_dry_run_text(Manager *m, char **hops, const char *summary) {
        _cleanup_free_ char *text = NULL, *root = staging_dir(m);

        text = strdup_printf(
                "Plan: %s (%zu hop%s; each: stop, back up the database, swap, start, verify, and roll "
                "back on failure)",
                strempty(summary),
                strv_length(hops),
                strv_length(hops) == 1 ? "" : "s");
        /* What each hop needs first: a staged JAR, or a download and its checks. */
        for (char **h = hops; text && root && *h; h++) {
                _cleanup_free_ char *dir = path_join(root, *h), *url = NULL, *line = NULL;

                if (dir && staging_is_verified(m, dir, *h, NULL, NULL))
                        line = strdup_printf("%s\n  %s: staged and verified", text, *h);
                else {
                        url = feed_download_url(m->config->releases.downloads, m->config->releases.edition, *h);
                        line = strdup_printf(
                                "%s\n  %s: download %s, check %s%s, its version.properties and the Java it needs",
                                text,
                                *h,
                                strempty(url),
                                m->config->releases.require_checksum ? "metabase.sha256 (required)"
                                                                     : "metabase.sha256 (if published)",
                                isempty(m->config->releases.signing_key) ? "" : ", the signature");
                }
                free(text);
                text = TAKE_PTR(line);
                uint64_t e = rehearse_expected_usec(m, *h);
                if (text && e > 0)
                        line = strdup_printf(
                                "%s\n  %s: expected downtime %.1fs (its rehearsal on a copy of the database)",
                                text,
                                *h,
                                (double) e / USEC_PER_SEC);
                else if (text)
                        line = strdup_printf(
                                "%s\n  %s: expected downtime unknown (not rehearsed: mbctl rehearse %s)",
                                text,
                                *h,
                                *h);
                if (line) {
                        free(text);
                        text = TAKE_PTR(line);
                }
        }
        return TAKE_PTR(text);
}

static int plan_begin(
        Manager *m,
        const char *version,
        uint64_t flags,
        bool unattended,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal) {
        Releases *rl = m->releases;
        _cleanup_free_ char *err = NULL, *summary = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        MbVersion installed;
        PolicyInput in;
        Plan *p;
        int r;

        if (m->op || rl->plan)
                return refusal_set(
                        refusal, OUTCOME_BUSY, -EBUSY, "An upgrade is already running; see mbctl status");
        if (!m->installed_version)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "The installed Metabase version is unknown (cannot read the JAR of %s)",
                        m->config->service.unit);
        if (!rl->feed)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "No release feed has been read yet%s%s",
                        rl->feed_error && *rl->feed_error ? ": " : "; run mbctl check",
                        strempty(rl->feed_error));
        in = policy_input(m, unattended ? POLICY_UNATTENDED : POLICY_ADMIN, flags & ENGINE_FORCE, &installed);
        r = policy_plan(rl->feed, &in, isempty(version) ? NULL : version, &hops, &err);
        if (r == -EINVAL)
                return refusal_set(refusal, OUTCOME_INVALID, -EINVAL, "%s", strempty(err));
        if (r < 0)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "%s%s",
                        err ?: strerror(-r),
                        r == -EPERM && m->hold && !unattended ? " (run mbctl unhold, or use --force)" : "");
        if (!hops || !hops[0]) {
                reply_accepted(
                        reply,
                        0,
                        unattended ? "Nothing the policy allows is newer than the installed version; nothing to do"
                                   : "The installed version is the newest; nothing to do");
                return 0;
        }
        r = plan_refuses(m, hops, flags, unattended, refusal);
        if (r < 0)
                return r;
        summary = plan_summary(hops, m->installed_version);
        if (flags & ENGINE_DRY_RUN) {
                _cleanup_free_ char *text = plan_dry_run_text(m, hops, summary);
                reply_accepted(reply, 0, text);
                return 0;
        }
        p = calloc(1, sizeof(Plan));
        if (!p)
                return -ENOMEM;
        p->id = now_realtime_usec() / 1000;
        if (p->id <= m->last_op_id)
                p->id = m->last_op_id + 1;
        m->last_op_id = p->id;
        p->hops = TAKE_PTR(hops);
        p->flags = flags;
        p->unattended = unattended;
        p->who = *who;
        p->from = strdup(m->installed_version);
        rl->plan = p;
        log_notice("Upgrade plan %" PRIu64 ": %s", p->id, strempty(summary));
        reply_accepted(reply, p->id, summary);
        plan_next_hop(m);
        return 1;
}

static void plan_start_from_pending(Manager *m) {
        Releases *rl = m->releases;
        _cleanup_(reply_unrefp) Reply *reply = TAKE_PTR(rl->plan_reply);
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;
        _cleanup_free_ char *version = TAKE_PTR(rl->pending_version);
        int r;

        r = plan_begin(m, version, rl->pending_flags, rl->pending_window, &rl->pending_who, reply, &e);
        if (r < 0)
                (void) reply_refusal(reply, r, &e);
}

static int begin_or_wait(
        Manager *m,
        const char *version,
        uint64_t flags,
        bool window,
        const Initiator *who,
        Reply *reply,
        Refusal *refusal) {
        Releases *rl = m->releases;
        int r;

        /* No feed yet (the first check is still running or failed): read it, then plan. */
        if (!rl->feed) {
                if (rl->plan_reply)
                        return refusal_set(
                                refusal, OUTCOME_BUSY, -EBUSY, "An upgrade already waits for the feed");
                rl->plan_reply = reply_ref(reply);
                rl->pending_version = strdup(strempty(version));
                rl->pending_flags = flags;
                rl->pending_who = *who;
                rl->pending_window = window;
                rl->plan_after_check = true;
                r = releases_check(m, NULL, refusal);
                return r < 0 ? r : 1;
        }
        /* The window waits for a rehearsal's verdict rather than apply what it may refuse. Not
         * for the leftover unit's removal at start, which has no version: it never reports a
         * verdict (on_rehearsal_finished()), so the window would wait for ever. */
        if (window && !(flags & ENGINE_DRY_RUN) && rehearse_running_version(m)) {
                if (rl->plan_reply)
                        return refusal_set(refusal, OUTCOME_BUSY, -EBUSY, "An upgrade already waits");
                log_info("The window waits for the rehearsal of %s", rehearse_running_version(m));
                rl->plan_reply = reply_ref(reply);
                rl->pending_version = strdup(strempty(version));
                rl->pending_flags = flags;
                rl->pending_who = *who;
                rl->pending_window = window;
                rl->plan_after_rehearsal = true;
                return 1;
        }
        r = plan_begin(m, version, flags, window, who, reply, refusal);
        return r < 0 ? r : 1;
}

/* A rehearsal ended: the plan that waited for it, or policy.apply: immediately. */
static void on_rehearsal_finished(Manager *m, const Event *ev, void *userdata) {
        Releases *rl = userdata;
        const char *version = ev->rehearsal->version;
        int result = ev->rehearsal->result_code;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;

        if (isempty(version))
                return;
        if (rl->plan_after_rehearsal) {
                rl->plan_after_rehearsal = false;
                plan_start_from_pending(m);
                return;
        }
        if (result == REHEARSAL_CANCELED || m->config->policy.apply != APPLY_IMMEDIATELY || rl->plan || m->op)
                return;
        log_info(
                "policy.apply is immediately: applying what the policy allows after the rehearsal of %s",
                version);
        if (releases_window(m, 0, &immediately, NULL, &e) < 0 && e.reason)
                log_warning("Not applying: %s", e.reason);
}

/* mbctl rehearse: the release staged (downloaded and verified) if need be, then rehearsed. */
static void
on_rehearse_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Releases *rl = m->releases;
        _cleanup_(reply_unrefp) Reply *reply = TAKE_PTR(rl->rehearse_reply);
        _cleanup_free_ char *version = TAKE_PTR(rl->rehearse_version), *summary = NULL;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;
        uint64_t id = 0;

        if (!reply)
                return;
        if (r < 0) {
                _cleanup_free_ char *why = strdup_printf(
                        "%s can't be rehearsed: staging it %s: %s",
                        strempty(version),
                        refused ? "was refused" : "failed",
                        strempty(error));
                reply_refused(reply, refused ? OUTCOME_REFUSED : OUTCOME_FAILED, why ?: strempty(error));
                return;
        }
        r = rehearse_start(m, version, jar, sha256, 0, &id, &e);
        if (r < 0) {
                (void) reply_refusal(reply, r, &e);
                return;
        }
        summary = strdup_printf(
                "Rehearsing %s on a copy of the application database (%s runs on, untouched)",
                version,
                m->config->service.unit);
        reply_accepted(reply, id, summary);
}

int releases_rehearse(Manager *m, const char *version, Reply *reply, Refusal *refusal) {
        Releases *rl = m->releases;
        const char *v = version;
        MbVersion a, b;

        if (m->op || rl->plan || rehearse_running(m) || rl->rehearse_reply)
                return refusal_set(
                        refusal,
                        OUTCOME_BUSY,
                        -EBUSY,
                        "%s is running; rehearse when it is done (mbctl status)",
                        rehearse_running(m) ? "A rehearsal" : "An operation");
        if (!rl->feed)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "No release feed has been read yet; run mbctl check first");
        if (isempty(v))
                v = !isempty(rl->newest_allowed) ? rl->newest_allowed : releases_newest_available(m);
        if (isempty(v) || !feed_find(rl->feed, v))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "%s%s is not in the release feed; mbctl list shows what is",
                        isempty(v) ? "No release" : v,
                        "");
        if (m->installed_version && mb_version_parse(v, &a) >= 0 &&
            mb_version_parse(m->installed_version, &b) >= 0 && mb_version_compare(&a, &b) <= 0)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "%s is not newer than the installed %s: there is no migration to rehearse",
                        v,
                        m->installed_version);
        rl->rehearse_version = strdup(v);
        if (!rl->rehearse_version)
                return -ENOMEM;
        rl->rehearse_reply = reply_ref(reply);
        log_info("Rehearsal of %s asked for: staging it first", v);
        staging_stage(m, v, on_rehearse_staged);
        return 1;
}

int releases_upgrade(
        Manager *m, const char *version, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        return begin_or_wait(m, version, flags, false, who, reply, refusal);
}

int releases_window(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        if (m->config->policy.apply == APPLY_NEVER)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "policy.apply is never: releases are only staged; upgrade with mbctl upgrade now");
        return begin_or_wait(m, NULL, flags & ENGINE_DRY_RUN, true, who, reply, refusal);
}

int releases_list_json(Manager *m, char **ret) {
        Releases *rl = m->releases;
        ReleaseVerdict *v = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        RolloutState rs = {};
        json_object *a;
        MbVersion installed;
        PolicyInput in;
        const char *target = NULL;
        size_t n = 0;
        int r;

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        if (rl->feed && m->installed_version) {
                in = policy_input(m, POLICY_UNATTENDED, false, &installed);
                r = policy_evaluate(rl->feed, &in, &v, &n);
                if (r < 0) {
                        json_object_put(a);
                        return r;
                }
                policy_rollout_state(feed_latest(rl->feed), &in, &rs);
                /* What unattended upgrades would install last; none when refused (a hold). */
                if (policy_plan(rl->feed, &in, NULL, &hops, NULL) >= 0 && hops && hops[0])
                        target = hops[strv_length(hops) - 1];
        }
        for (size_t i = 0; i < n; i++) {
                const Release *rel = v[i].release;
                _cleanup_free_ char *dir = staging_dir(m), *sdir = dir ? path_join(dir, rel->version) : NULL;
                json_object *o = json_object_new_object();

                json_object_object_add(o, "version", json_object_new_string(rel->version));
                json_object_object_add(o, "released", json_object_new_string(strempty(rel->released)));
                json_object_object_add(o, "eligible", json_object_new_boolean(v[i].eligible));
                json_object_object_add(o, "verdict", json_object_new_string(verdict_kind_to_string(v[i].kind)));
                json_object_object_add(o, "reason", json_object_new_string(strempty(v[i].reason)));
                json_object_object_add(o, "beta", json_object_new_boolean(rel->beta));
                if (rel->rollout >= 0)
                        json_object_object_add(o, "rollout", json_object_new_int(rel->rollout));
                json_object_object_add(
                        o,
                        "staged",
                        json_object_new_boolean(
                                sdir && staging_is_verified(m, sdir, rel->version, NULL, NULL)));
                /* Metabase's recommendation, and how its staged rollout applies here. */
                json_object_object_add(o, "latest", json_object_new_boolean(rel->latest));
                if (rel->latest) {
                        json_object_object_add(
                                o,
                                "follow",
                                json_object_new_string(follow_to_string(m->config->releases.follow)));
                        json_object_object_add(o, "rollout_applies", json_object_new_boolean(rs.applies));
                        json_object_object_add(o, "in_rollout", json_object_new_boolean(rs.admitted));
                        if (rs.has_bucket)
                                json_object_object_add(o, "bucket", json_object_new_int((int) rs.bucket));
                }
                json_object_object_add(o, "target", json_object_new_boolean(streq_ptr(target, rel->version)));
                json_object_object_add(
                        o,
                        "step",
                        json_object_new_boolean(
                                hops && strv_contains(hops, rel->version) && !streq_ptr(target, rel->version)));
                json_object_object_add(
                        o,
                        "waiting_approval",
                        json_object_new_boolean(
                                hops && strv_contains(hops, rel->version) &&
                                approvals_waiting(m->config, rel->version)));
                json_object_array_add(a, o);
        }
        release_verdicts_free(v, n);
        *ret = strdup(
                json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(a);
        return *ret ? 0 : -ENOMEM;
}

const char *releases_newest_available(Manager *m) {
        Releases *rl = m->releases;

        if (!rl || !rl->feed)
                return "";
        for (size_t i = 0; i < rl->feed->n; i++)
                if (!rl->feed->releases[i].beta || m->config->releases.channel == CHANNEL_BETA)
                        return rl->feed->releases[i].version;
        return "";
}

const char *releases_newest_allowed(Manager *m) {
        return m->releases ? strempty(m->releases->newest_allowed) : "";
}

const char *releases_last_check(Manager *m) {
        return m->releases ? strempty(m->releases->last_check) : "";
}

bool releases_busy(Manager *m) {
        return m->releases && m->releases->plan;
}

/* The installation's stable id for staged rollouts, made once. */
static int load_site_id(Manager *m, char **ret) {
        _cleanup_free_ char *path = manager_state_path(m, "site-id"), *text = NULL;
        uint8_t raw[16];
        char hex[33];
        int r;

        if (!path)
                return -ENOMEM;
        if (read_full_file(path, 256, &text, NULL) >= 0) {
                text[strcspn(text, "\n")] = '\0';
                if (strlen(text) == 32) {
                        *ret = TAKE_PTR(text);
                        return 0;
                }
        }
        if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
                return -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(hex + 2 * i, 3, "%02x", raw[i]);
        r = write_file_atomic(path, hex, 32, 0644);
        if (r < 0)
                return r;
        *ret = strdup(hex);
        return *ret ? 0 : -ENOMEM;
}

int releases_new(Manager *m, Releases **ret) {
        _cleanup_free_ char *cache = NULL, *text = NULL, *error = NULL;
        Releases *rl;
        size_t size;
        int r;

        rl = calloc(1, sizeof(Releases));
        if (!rl)
                return -ENOMEM;
        rl->m = m;
        m->releases = rl;
        r = load_site_id(m, &rl->site_id);
        if (r < 0)
                return log_error_errno(r, "Failed to create the installation id in state_dir: %m");
        /* The last good feed, so that a restart does not forget what was available. */
        cache = manager_state_path(m, "feed.json");
        if (cache && read_full_file(cache, FEED_SIZE_MAX, &text, &size) >= 0 &&
            feed_parse(text, size, m->config->releases.channel == CHANNEL_BETA, &rl->feed, &error) < 0)
                log_warning("Ignoring the cached feed %s: %s", cache, strempty(error));
        free_and_printf(
                &rl->last_check, "%s", rl->feed ? "not yet since start (using the cached feed)" : "not yet");
        r = arm_check_timer(m, FIRST_CHECK_DELAY_USEC);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the release check timer: %m");
        /* Last among the listeners: they start new work, which needs the engine idle and the
         * others told. */
        r = events_subscribe(m->events, EVENT_OPERATION_FINISHED, EVENT_ORDER_NEXT, on_operation_finished, rl);
        if (r >= 0)
                r = events_subscribe(
                        m->events, EVENT_REHEARSAL_FINISHED, EVENT_ORDER_NEXT, on_rehearsal_finished, rl);
        if (r < 0)
                return log_error_errno(r, "Failed to listen to the daemon's events: %m");
        *ret = rl;
        return 0;
}

Releases *releases_free(Releases *rl) {
        if (!rl)
                return NULL;
        sd_event_source_disable_unref(rl->timer);
        child_kill(rl->check_child);
        for (size_t i = 0; i < rl->n_check_calls; i++)
                reply_unref(rl->check_replies[i]);
        reply_unref(rl->plan_reply);
        plan_free(rl->plan);
        feed_free(rl->feed);
        free(rl->site_id);
        free(rl->feed_error);
        free(rl->last_check);
        free(rl->check_output);
        free(rl->newest_allowed);
        free(rl->pending_version);
        free(rl->rehearse_version);
        reply_unref(rl->rehearse_reply);
        free(rl->blocked);
        free(rl);
        return NULL;
}

/* Fleet: why this node's policy, unattended, does not take version (hold, skip, allow, min_age,
 * edition, stepwise...), NULL when it does. A rollout another node proposed is joined only then. */
char *releases_policy_refuses(Manager *m, const char *version) {
        Releases *rl = m->releases;
        _cleanup_strv_free_ char **hops = NULL;
        char *err = NULL;
        MbVersion installed;
        PolicyInput in;
        int r;

        if (!rl || !rl->feed)
                return strdup("this node has not read the release feed yet, so its policy can't say yes");
        in = policy_input(m, POLICY_UNATTENDED, false, &installed);
        r = policy_plan(rl->feed, &in, version, &hops, &err);
        if (r < 0)
                return err ?: strdup_printf("this node's policy does not allow %s: %s", version, strerror(-r));
        free(err);
        if (!hops || !hops[0] || !streq(hops[0], version) || hops[1])
                return strdup_printf(
                        "this node's policy would not go to %s in one step (policy.stepwise)", version);
        return NULL;
}
