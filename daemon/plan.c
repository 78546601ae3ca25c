/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <string.h>

#include "approvals.h"
#include "engine.h"
#include "feed-watch.h"
#include "fileio.h"
#include "history.h"
#include "log.h"
#include "plan.h"
#include "rehearse.h"
#include "staging.h"
#include "strv.h"
#include "zero-downtime-facts.h"

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

struct Planner {
        Manager *m;
        Plan *plan;
        Reply *plan_reply;     /* an upgrade that waits for the first feed or a rehearsal */
        bool plan_after_check; /* it waits for the running read of the feed */
        char *blocked;         /* an unattended upgrade to this version failed: not again unattended */
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

static void plan_finish(Manager *m, Result result, const char *reason) {
        Planner *pl = m->planner;
        Plan *p = pl->plan;
        Operation fake = {
                .id = p->id,
                .kind = OPERATION_UPGRADE,
                .result = result,
                .from_version = p->from,
                .to_version = p->last_to ?: (p->hops[0] ?: ""),
                .reason = (char *) reason,
        };

        pl->plan = NULL;
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
        Planner *pl = m->planner;
        Plan *p = pl->plan;
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
        Plan *p = m->planner->plan;
        const char *hop = p->hops[p->next++];

        manager_set_status(m, "Upgrade to %s: staging", hop);
        staging_stage(m, hop, on_hop_staged);
}

/* Unattended upgrades will not apply version: told to whoever listens (the word of a release). */
static void tell_blocked(Manager *m, const char *version, const char *reason, const char *what_to_do) {
        if (isempty(version))
                return;
        events_emit(
                m,
                &(Event){
                        .kind = EVENT_RELEASE_BLOCKED,
                        .blocked = &(BlockedRelease){
                                .version = version,
                                .reason = strempty(reason),
                                .what_to_do = strempty(what_to_do)}});
}

/* An operation ended: a plan's next hop, or its end. */
static void on_operation_finished(Manager *m, const Event *e, void *userdata) {
        const Operation *op = e->op;
        Plan *p = m->planner ? m->planner->plan : NULL;

        if (!p || op->id != p->op_id)
                return;
        if (op->result != RESULT_COMMITTED) {
                /* Unattended, the same release would fail the same way at the next check; not
                 * so a fleet's node whose proposal lost to another node's (it joins that one). */
                if (p->unattended &&
                    !(m->config->fleet.enabled && op->result == RESULT_REFUSED && !op->fleet_rollout)) {
                        _cleanup_free_ char *todo = strdup_printf(
                                "%s; once fixed: mbctl upgrade now --to %s",
                                op->result == RESULT_REFUSED
                                        ? "pre-flight refused it before any stop: fix what it says"
                                        : "it is not retried unattended: see mbctl history",
                                strempty(op->to_version));
                        (void) free_and_strdup(&m->planner->blocked, op->to_version);
                        tell_blocked(m, op->to_version, op->reason, todo);
                }
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

/* An unattended plan of hops refused (plan_refuses()): told as a blocked release, with what to do.
 * Returns r. */
static int refuses_blocked(Manager *m, char **hops, int r, const Refusal *refusal) {
        const char *version = hops[strv_length(hops) - 1],
                   *then = " outside the window, or widen policy.window_max";
        _cleanup_free_ char *todo = NULL;

        /* Told when it rolled back; and a release waiting for mbctl approve is not blocked. */
        if ((m->planner->blocked && strv_contains(hops, m->planner->blocked)) ||
            approvals_missing(m->config, hops))
                return r;
        for (char **h = hops; *h; h++)
                if (rehearse_blocked(m, *h)) {
                        version = *h;
                        then = " --force";
                        break;
                }
        todo = strdup_printf("mbctl upgrade now --to %s%s", version, then);
        tell_blocked(m, version, refusal ? refusal->reason : NULL, todo);
        return r;
}

/* What refuses hops that the policy allows: the unattended retry of a release that rolled back,
 * a failed rehearsal (but with --force), and a window they would not fit in. */
static int plan_refuses(Manager *m, char **hops, uint64_t flags, bool unattended, Refusal *refusal) {
        Planner *pl = m->planner;

        if (unattended && pl->blocked && strv_contains(hops, pl->blocked))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "the last unattended upgrade to %s failed and was rolled back; it is not "
                        "retried unattended (try it with: mbctl upgrade now --to %s)",
                        pl->blocked,
                        pl->blocked);
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
                /* whether it could serve throughout (zero-downtime.h); later hops are judged
                 * against today's database, so they say no to their predecessors' change sets */
                _cleanup_free_ char *zd = text ? zero_downtime_assess(m, *h, NULL) : NULL;
                line = zd ? strdup_printf("%s\n  %s: zero downtime: %s", text, *h, zd) : NULL;
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
        Planner *pl = m->planner;
        _cleanup_free_ char *err = NULL, *summary = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        Plan *p;
        int r;

        if (m->op || pl->plan)
                return refusal_set(
                        refusal, OUTCOME_BUSY, -EBUSY, "An upgrade is already running; see mbctl status");
        if (!m->installed_version)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "The installed Metabase version is unknown (cannot read the JAR of %s)",
                        m->config->service.unit);
        if (!feed_watch_feed(m))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "No release feed has been read yet%s%s",
                        *feed_watch_error(m) ? ": " : "; run mbctl check",
                        feed_watch_error(m));
        r = feed_watch_plan(
                m,
                unattended ? POLICY_UNATTENDED : POLICY_ADMIN,
                flags & ENGINE_FORCE,
                isempty(version) ? NULL : version,
                &hops,
                &err);
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
                return unattended ? refuses_blocked(m, hops, r, refusal) : r;
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
        pl->plan = p;
        log_notice("Upgrade plan %" PRIu64 ": %s", p->id, strempty(summary));
        reply_accepted(reply, p->id, summary);
        plan_next_hop(m);
        return 1;
}

static void plan_start_from_pending(Manager *m) {
        Planner *pl = m->planner;
        _cleanup_(reply_unrefp) Reply *reply = TAKE_PTR(pl->plan_reply);
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;
        _cleanup_free_ char *version = TAKE_PTR(pl->pending_version);
        int r;

        r = plan_begin(m, version, pl->pending_flags, pl->pending_window, &pl->pending_who, reply, &e);
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
        Planner *pl = m->planner;
        int r;

        /* No feed yet (the first check is still running or failed): read it, then plan. */
        if (!feed_watch_feed(m)) {
                if (pl->plan_reply)
                        return refusal_set(
                                refusal, OUTCOME_BUSY, -EBUSY, "An upgrade already waits for the feed");
                pl->plan_reply = reply_ref(reply);
                pl->pending_version = strdup(strempty(version));
                pl->pending_flags = flags;
                pl->pending_who = *who;
                pl->pending_window = window;
                pl->plan_after_check = true;
                r = feed_watch_check(m, NULL, refusal);
                return r < 0 ? r : 1;
        }
        /* The window waits for a rehearsal's verdict rather than apply what it may refuse. Not
         * for the leftover unit's removal at start, which has no version: it never reports a
         * verdict (on_rehearsal_finished()), so the window would wait for ever. */
        if (window && !(flags & ENGINE_DRY_RUN) && rehearse_running_version(m)) {
                if (pl->plan_reply)
                        return refusal_set(refusal, OUTCOME_BUSY, -EBUSY, "An upgrade already waits");
                log_info("The window waits for the rehearsal of %s", rehearse_running_version(m));
                pl->plan_reply = reply_ref(reply);
                pl->pending_version = strdup(strempty(version));
                pl->pending_flags = flags;
                pl->pending_who = *who;
                pl->pending_window = window;
                pl->plan_after_rehearsal = true;
                return 1;
        }
        r = plan_begin(m, version, flags, window, who, reply, refusal);
        return r < 0 ? r : 1;
}

/* A rehearsal ended: the plan that waited for it, or policy.apply: immediately. */
static void on_rehearsal_finished(Manager *m, const Event *ev, void *userdata) {
        Planner *pl = userdata;
        const char *version = ev->rehearsal->version;
        int result = ev->rehearsal->result_code;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;

        if (isempty(version))
                return;
        if (pl->plan_after_rehearsal) {
                pl->plan_after_rehearsal = false;
                plan_start_from_pending(m);
                return;
        }
        if (result == REHEARSAL_CANCELED || m->config->policy.apply != APPLY_IMMEDIATELY || pl->plan || m->op)
                return;
        log_info(
                "policy.apply is immediately: applying what the policy allows after the rehearsal of %s",
                version);
        if (plan_window(m, 0, &immediately, NULL, &e) < 0 && e.reason)
                log_warning("Not applying: %s", e.reason);
}

/* mbctl rehearse: the release staged (downloaded and verified) if need be, then rehearsed. */
static void
on_rehearse_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        Planner *pl = m->planner;
        _cleanup_(reply_unrefp) Reply *reply = TAKE_PTR(pl->rehearse_reply);
        _cleanup_free_ char *version = TAKE_PTR(pl->rehearse_version), *summary = NULL;
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

int plan_rehearse(Manager *m, const char *version, Reply *reply, Refusal *refusal) {
        Planner *pl = m->planner;
        const char *v = version;
        MbVersion a, b;

        if (m->op || pl->plan || rehearse_running(m) || pl->rehearse_reply)
                return refusal_set(
                        refusal,
                        OUTCOME_BUSY,
                        -EBUSY,
                        "%s is running; rehearse when it is done (mbctl status)",
                        rehearse_running(m) ? "A rehearsal" : "An operation");
        if (!feed_watch_feed(m))
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "No release feed has been read yet; run mbctl check first");
        if (isempty(v))
                v = !isempty(feed_watch_newest_allowed(m)) ? feed_watch_newest_allowed(m)
                                                           : feed_watch_newest_available(m);
        if (isempty(v) || !feed_find(feed_watch_feed(m), v))
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
        pl->rehearse_version = strdup(v);
        if (!pl->rehearse_version)
                return -ENOMEM;
        pl->rehearse_reply = reply_ref(reply);
        log_info("Rehearsal of %s asked for: staging it first", v);
        staging_stage(m, v, on_rehearse_staged);
        return 1;
}

int plan_upgrade(
        Manager *m, const char *version, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        return begin_or_wait(m, version, flags, false, who, reply, refusal);
}

int plan_window(Manager *m, uint64_t flags, const Initiator *who, Reply *reply, Refusal *refusal) {
        if (m->config->policy.apply == APPLY_NEVER)
                return refusal_set(
                        refusal,
                        OUTCOME_REFUSED,
                        -EPERM,
                        "policy.apply is never: releases are only staged; upgrade with mbctl upgrade now");
        return begin_or_wait(m, NULL, flags & ENGINE_DRY_RUN, true, who, reply, refusal);
}

/* A read of the feed ended: the upgrade that waited for the first feed begins (or is refused). */
static void on_check_finished(Manager *m, const Event *e, void *userdata) {
        Planner *pl = userdata;

        if (!pl->plan_after_check)
                return;
        pl->plan_after_check = false;
        plan_start_from_pending(m);
}

/* What the policy takes unattended is staged (feed-watch.c): rehearsed first (policy.rehearse),
 * once per release, whose verdict decides the unattended upgrade; with policy.apply: immediately,
 * applied (after the rehearsal: on_rehearsal_finished()). */
static void on_release_staged(Manager *m, const Event *ev, void *userdata) {
        Planner *pl = userdata;
        const StagedRelease *s = ev->staged;
        _cleanup_(refusal_done) Refusal e = REFUSAL_NULL;
        int r;

        if (!ev->ok)
                return;
        if (s->version && m->config->policy.rehearse != REHEARSE_NEVER &&
            !rehearse_has_result(m, s->version) && !rehearse_running(m) && !pl->plan && !m->op &&
            (!m->config->fleet.enabled || m->fleet_rehearses)) {
                r = rehearse_start(m, s->version, s->jar, s->sha256, REHEARSE_UNATTENDED, NULL, &e);
                if (r < 0)
                        log_warning("Not rehearsing %s: %s", s->version, e.reason ?: strerror(-r));
                refusal_done(&e);
                if (rehearse_running(m))
                        return; /* on_rehearsal_finished() goes on */
        }
        if (m->config->policy.apply == APPLY_IMMEDIATELY && !pl->plan && !m->op) {
                log_info("policy.apply is immediately: applying what the policy allows");
                if (plan_window(m, 0, &immediately, NULL, &e) < 0 && e.reason)
                        log_warning("Not applying: %s", e.reason);
        }
}

int plan_window_preview(Manager *m, char ***ret_hops, Refusal *refusal) {
        _cleanup_strv_free_ char **hops = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = feed_watch_plan(m, POLICY_UNATTENDED, false, NULL, &hops, &err);
        if (r < 0)
                return refusal_set(refusal, OUTCOME_REFUSED, r, "%s", err ?: strerror(-r));
        if (hops && hops[0]) {
                r = plan_refuses(m, hops, 0, true, refusal);
                if (r < 0)
                        return refuses_blocked(m, hops, r, refusal);
        }
        *ret_hops = TAKE_PTR(hops);
        return 0;
}

bool plan_busy(Manager *m) {
        return m->planner && m->planner->plan;
}

int planner_new(Manager *m, Planner **ret) {
        Planner *pl;
        int r;

        pl = calloc(1, sizeof(Planner));
        if (!pl)
                return -ENOMEM;
        pl->m = m;
        m->planner = pl;
        /* Last among the listeners: they start new work, which needs the engine idle and the
         * others told. */
        r = events_subscribe(m->events, EVENT_OPERATION_FINISHED, EVENT_ORDER_NEXT, on_operation_finished, pl);
        if (r >= 0)
                r = events_subscribe(
                        m->events, EVENT_REHEARSAL_FINISHED, EVENT_ORDER_NEXT, on_rehearsal_finished, pl);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_CHECK_FINISHED, EVENT_ORDER_NEXT, on_check_finished, pl);
        if (r >= 0)
                r = events_subscribe(m->events, EVENT_RELEASE_STAGED, EVENT_ORDER_NEXT, on_release_staged, pl);
        if (r < 0)
                return log_error_errno(r, "Failed to listen to the daemon's events: %m");
        *ret = pl;
        return 0;
}

Planner *planner_free(Planner *pl) {
        if (!pl)
                return NULL;
        reply_unref(pl->plan_reply);
        plan_free(pl->plan);
        free(pl->pending_version);
        free(pl->rehearse_version);
        reply_unref(pl->rehearse_reply);
        free(pl->blocked);
        free(pl);
        return NULL;
}
