/* SPDX-License-Identifier: MIT */
#include <json-c/json.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "approvals.h"
#include "child.h"
#include "feed-watch.h"
#include "fetchclient.h"
#include "fileio.h"
#include "log.h"
#include "staging.h"
#include "strv.h"
#include "zero-downtime-facts.h"

#define CHECK_CALLS_MAX 16
#define FIRST_CHECK_DELAY_USEC (5 * USEC_PER_SEC)

struct FeedWatch {
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
        char *newest_allowed; /* the NewestAllowed property */
};

static char *staging_dir(Manager *m) {
        return manager_state_path(m, "staging");
}

static void check_reply_all(Manager *m, int r, const char *error) {
        FeedWatch *fw = m->feed_watch;

        for (size_t i = 0; i < fw->n_check_calls; i++) {
                if (r < 0)
                        reply_refused(fw->check_replies[i], OUTCOME_FAILED, error);
                else
                        reply_text(fw->check_replies[i], fw->last_check);
                fw->check_replies[i] = reply_unref(fw->check_replies[i]);
        }
        fw->n_check_calls = 0;
}

static PolicyInput policy_input(Manager *m, PolicyMode mode, bool force) {
        PolicyInput in = {
                .config = m->config,
                .mode = mode,
                .hold = m->hold,
                .force = force,
                .now_usec = now_realtime_usec(),
                .site_id = m->feed_watch->site_id,
        };
        if (m->installed_version)
                (void) mb_version_parse(m->installed_version, &in.installed);
        return in;
}

int feed_watch_plan(
        Manager *m, PolicyMode mode, bool force, const char *version, char ***ret_hops, char **ret_error) {
        FeedWatch *fw = m->feed_watch;
        PolicyInput in;

        if (!fw || !fw->feed)
                return -ENOENT;
        in = policy_input(m, mode, force);
        return policy_plan(fw->feed, &in, version, ret_hops, ret_error);
}

/* The version a staged JAR is of: state_dir/staging/<version>/metabase.jar */
static char *staged_version(const char *jar) {
        _cleanup_free_ char *dir = jar ? path_dirname(jar) : NULL;
        const char *slash = dir ? strrchr(dir, '/') : NULL;

        return slash && mb_version_is_valid(slash + 1) ? strdup(slash + 1) : NULL;
}

/* What the feed staged ahead of time is staged (or not): told to whoever applies it (plan.c). */
static void
on_due_staged(Manager *m, int r, bool refused, const char *jar, const char *sha256, const char *error) {
        _cleanup_free_ char *version = staged_version(jar);
        StagedRelease s = {
                .version = version,
                .jar = jar,
                .sha256 = sha256,
                .refused = refused,
                .error = error,
        };

        events_emit(m, &(Event){.kind = EVENT_RELEASE_STAGED, .staged = &s, .ok = r >= 0});
}

/* After every feed update: what the policy would take unattended (the NewestAllowed property). */
static char **update_allowed(Manager *m) {
        FeedWatch *fw = m->feed_watch;
        _cleanup_strv_free_ char **hops = NULL;
        int r;

        if (!fw->feed || !m->installed_version)
                return NULL;
        r = feed_watch_plan(m, POLICY_UNATTENDED, false, NULL, &hops, NULL);
        free_and_printf(
                &fw->newest_allowed, "%s", r >= 0 && hops && hops[0] ? hops[strv_length(hops) - 1] : "");
        manager_properties_changed(m, "NewestAllowed", "NewestAvailable", NULL);
        return r >= 0 && hops && hops[0] ? TAKE_PTR(hops) : NULL;
}

/* The first hop of what the policy takes unattended, staged ahead of time while the old version
 * serves; with policy.apply: immediately plan.c applies it once EVENT_RELEASE_STAGED says so. Not
 * while an operation or another staging runs (a plan is always one or the other: staging a hop or
 * running its upgrade). */
static void stage_due(Manager *m, char **hops) {
        if (!hops || !hops[0])
                return;
        if (m->config->policy.apply == APPLY_NEVER && !staging_busy(m))
                log_info("policy.apply is never: %s is staged only", hops[0]);
        if (!staging_busy(m) && !m->op)
                staging_stage(m, hops[0], on_due_staged);
}

/* A read failed: the last good feed is kept. */
static void check_failed(Manager *m, const char *stamp, const char *error) {
        FeedWatch *fw = m->feed_watch;

        free_and_printf(&fw->feed_error, "%s", strempty(error));
        free_and_printf(
                &fw->last_check,
                "%s failed: %s%s",
                stamp,
                strempty(error),
                fw->feed ? " (keeping the last good feed)" : "");
        log_warning("Release feed %s: %s", m->config->releases.feed, strempty(error));
        manager_properties_changed(m, "LastCheck", NULL);
        check_reply_all(m, -EIO, fw->last_check);
}

/* A read gave feed (parsed from text): it replaces the last good one, and is cached. */
static void check_succeeded(Manager *m, const char *stamp, Feed *feed, const char *text, size_t size) {
        FeedWatch *fw = m->feed_watch;
        _cleanup_free_ char *cache = NULL;

        feed_free(fw->feed);
        fw->feed = feed;
        free_and_printf(&fw->feed_error, "%s", "");
        free_and_printf(
                &fw->last_check,
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
}

static void on_check_exit(Child *c, int status, const char *last, void *userdata) {
        Manager *m = userdata;
        FeedWatch *fw = m->feed_watch;
        _cleanup_free_ char *error = NULL, *text = NULL;
        _cleanup_strv_free_ char **due = NULL;
        char stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        Feed *feed = NULL;
        size_t size;
        int r;

        fw->check_child = NULL;
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
        r = fetchclient_verdict(status, last, NULL, NULL, &error);
        if (r >= 0) {
                r = read_full_file(fw->check_output, FEED_SIZE_MAX + 1, &text, &size);
                if (r < 0)
                        error = strdup_printf("cannot read the downloaded feed: %s", strerror(-r));
        }
        (void) unlink(fw->check_output);
        if (r >= 0) {
                r = feed_parse(text, size, m->config->releases.channel == CHANNEL_BETA, &feed, &error);
                if (r < 0 && !error)
                        error = strdup(strerror(-r));
        }
        if (r < 0)
                check_failed(m, stamp, error);
        else {
                check_succeeded(m, stamp, feed, text, size);
                due = update_allowed(m);
        }
        /* The metrics count it; an upgrade that waited for the feed begins (plan.c). */
        events_emit(m, &(Event){.kind = EVENT_CHECK_FINISHED, .ok = r >= 0});
        stage_due(m, due);
}

static int arm_check_timer(Manager *m, uint64_t delay);

int feed_watch_check(Manager *m, Reply *reply, Refusal *refusal) {
        FeedWatch *fw = m->feed_watch;
        _cleanup_free_ char *dir = staging_dir(m);
        int r;

        if (reply) {
                if (fw->n_check_calls >= CHECK_CALLS_MAX)
                        return refusal_set(refusal, OUTCOME_BUSY, -EBUSY, "Too many checks waiting; try again");
                fw->check_replies[fw->n_check_calls++] = reply_ref(reply);
        }
        if (fw->check_child)
                return 1; /* answered when the running check ends */
        /* Whoever asked, the next periodic check is check_every from this one: a check right
         * after mbctl check (the first one, seconds after start) would read the same feed again. */
        (void) arm_check_timer(m, m->config->releases.check_every_usec);
        if (!dir)
                return -ENOMEM;
        r = mkdir_parents_and_self(dir, 0755);
        free(fw->check_output);
        fw->check_output = path_join(dir, "feed.json.download");
        if (r >= 0 && !fw->check_output)
                r = -ENOMEM;
        if (r >= 0)
                r = fetchclient_spawn(
                        m->event,
                        m->config->releases.ca_file,
                        m->config->releases.feed,
                        fw->check_output,
                        FEED_SIZE_MAX,
                        false,
                        NULL,
                        on_check_exit,
                        m,
                        &fw->check_child);
        if (r < 0) {
                _cleanup_free_ char *msg = strdup_printf(
                        "cannot start the download helper %s: %s", fetch_helper(), strerror(-r));
                check_reply_all(m, r, msg);
                return reply ? 1 : r;
        }
        return 1;
}

static int on_check_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        (void) feed_watch_check(m, NULL, NULL);
        return 0;
}

static int arm_check_timer(Manager *m, uint64_t delay) {
        FeedWatch *fw = m->feed_watch;
        uint64_t jitter = 0;

        /* Up to a tenth more, so that a fleet of servers does not poll in step. */
        if (delay >= 10 * USEC_PER_SEC) {
                uint32_t rnd = 0;
                (void) getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
                jitter = (uint64_t) rnd % (delay / 10);
        }
        if (fw->timer) {
                (void) sd_event_source_set_time_accuracy(fw->timer, 60 * USEC_PER_SEC);
                (void) sd_event_source_set_time_relative(fw->timer, delay + jitter);
                return sd_event_source_set_enabled(fw->timer, SD_EVENT_ONESHOT);
        }
        /* Accuracy of a minute (the wake-up can be batched with others), but the first check, a
         * few seconds after start, on time. */
        return sd_event_add_time_relative(
                m->event,
                &fw->timer,
                CLOCK_BOOTTIME,
                delay + jitter,
                delay < 60 * USEC_PER_SEC ? USEC_PER_SEC : 60 * USEC_PER_SEC,
                on_check_timer,
                m);
}

/* One release of mbctl list: the policy's verdict v, whether it is staged, how Metabase's
 * recommendation applies here (rs), and its place in what unattended upgrades would do (hops,
 * the last of which is target). */
static json_object *
list_entry(Manager *m, const ReleaseVerdict *v, const RolloutState *rs, char **hops, const char *target) {
        const Release *rel = v->release;
        _cleanup_free_ char *dir = staging_dir(m), *sdir = dir ? path_join(dir, rel->version) : NULL;
        json_object *o = json_object_new_object();

        json_object_object_add(o, "version", json_object_new_string(rel->version));
        json_object_object_add(o, "released", json_object_new_string(strempty(rel->released)));
        json_object_object_add(o, "eligible", json_object_new_boolean(v->eligible));
        json_object_object_add(o, "verdict", json_object_new_string(verdict_kind_to_string(v->kind)));
        json_object_object_add(o, "reason", json_object_new_string(strempty(v->reason)));
        json_object_object_add(o, "beta", json_object_new_boolean(rel->beta));
        if (rel->rollout >= 0)
                json_object_object_add(o, "rollout", json_object_new_int(rel->rollout));
        json_object_object_add(
                o,
                "staged",
                json_object_new_boolean(sdir && staging_is_verified(m, sdir, rel->version, NULL, NULL)));
        /* Metabase's recommendation, and how its staged rollout applies here. */
        json_object_object_add(o, "latest", json_object_new_boolean(rel->latest));
        if (rel->latest) {
                json_object_object_add(
                        o, "follow", json_object_new_string(follow_to_string(m->config->releases.follow)));
                json_object_object_add(o, "rollout_applies", json_object_new_boolean(rs->applies));
                json_object_object_add(o, "in_rollout", json_object_new_boolean(rs->admitted));
                if (rs->has_bucket)
                        json_object_object_add(o, "bucket", json_object_new_int((int) rs->bucket));
        }
        /* Whether upgrading to it now could serve throughout (zero-downtime.h): for the releases one
         * could upgrade to, not the installed one or older ones, nor the other edition's. */
        if (v->kind != VERDICT_INSTALLED && v->kind != VERDICT_OLDER && v->kind != VERDICT_EDITION) {
                _cleanup_free_ char *zd = zero_downtime_assess(m, rel->version, NULL);
                if (zd)
                        json_object_object_add(o, "zero_downtime", json_object_new_string(zd));
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
        return o;
}

int feed_watch_list_json(Manager *m, char **ret) {
        FeedWatch *fw = m->feed_watch;
        ReleaseVerdict *v = NULL;
        _cleanup_strv_free_ char **hops = NULL;
        RolloutState rs = {};
        json_object *a;
        PolicyInput in;
        const char *target = NULL;
        size_t n = 0;
        int r;

        a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        if (fw->feed && m->installed_version) {
                in = policy_input(m, POLICY_UNATTENDED, false);
                r = policy_evaluate(fw->feed, &in, &v, &n);
                if (r < 0) {
                        json_object_put(a);
                        return r;
                }
                policy_rollout_state(feed_latest(fw->feed), &in, &rs);
                /* What unattended upgrades would install last; none when refused (a hold). */
                if (policy_plan(fw->feed, &in, NULL, &hops, NULL) >= 0 && hops && hops[0])
                        target = hops[strv_length(hops) - 1];
        }
        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, list_entry(m, &v[i], &rs, hops, target));
        release_verdicts_free(v, n);
        *ret = strdup(
                json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(a);
        return *ret ? 0 : -ENOMEM;
}

int feed_watch_verdict(Manager *m, const char *version, VerdictKind *ret_kind, char **ret_reason) {
        FeedWatch *fw = m->feed_watch;
        ReleaseVerdict *v = NULL;
        PolicyInput in;
        size_t n = 0;
        int r;

        if (!fw || !fw->feed || !m->installed_version)
                return -ENOENT;
        in = policy_input(m, POLICY_UNATTENDED, false);
        r = policy_evaluate(fw->feed, &in, &v, &n);
        if (r < 0)
                return r;
        r = -ENOENT;
        for (size_t i = 0; i < n; i++)
                if (streq(v[i].release->version, version)) {
                        *ret_kind = v[i].kind;
                        *ret_reason = v[i].reason ? strdup(v[i].reason) : NULL;
                        r = 0;
                        break;
                }
        release_verdicts_free(v, n);
        return r;
}

const Feed *feed_watch_feed(Manager *m) {
        return m->feed_watch ? m->feed_watch->feed : NULL;
}

const char *feed_watch_error(Manager *m) {
        return m->feed_watch ? strempty(m->feed_watch->feed_error) : "";
}

const char *feed_watch_newest_available(Manager *m) {
        FeedWatch *fw = m->feed_watch;

        if (!fw || !fw->feed)
                return "";
        for (size_t i = 0; i < fw->feed->n; i++)
                if (!fw->feed->releases[i].beta || m->config->releases.channel == CHANNEL_BETA)
                        return fw->feed->releases[i].version;
        return "";
}

const char *feed_watch_newest_allowed(Manager *m) {
        return m->feed_watch ? strempty(m->feed_watch->newest_allowed) : "";
}

const char *feed_watch_last_check(Manager *m) {
        return m->feed_watch ? strempty(m->feed_watch->last_check) : "";
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

int feed_watch_new(Manager *m, FeedWatch **ret) {
        _cleanup_free_ char *cache = NULL, *text = NULL, *error = NULL;
        FeedWatch *fw;
        size_t size;
        int r;

        fw = calloc(1, sizeof(FeedWatch));
        if (!fw)
                return -ENOMEM;
        fw->m = m;
        m->feed_watch = fw;
        r = load_site_id(m, &fw->site_id);
        if (r < 0)
                return log_error_errno(r, "Failed to create the installation id in state_dir: %m");
        /* The last good feed, so that a restart does not forget what was available. */
        cache = manager_state_path(m, "feed.json");
        if (cache && read_full_file(cache, FEED_SIZE_MAX, &text, &size) >= 0 &&
            feed_parse(text, size, m->config->releases.channel == CHANNEL_BETA, &fw->feed, &error) < 0)
                log_warning("Ignoring the cached feed %s: %s", cache, strempty(error));
        free_and_printf(
                &fw->last_check, "%s", fw->feed ? "not yet since start (using the cached feed)" : "not yet");
        r = arm_check_timer(m, FIRST_CHECK_DELAY_USEC);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the release check timer: %m");
        *ret = fw;
        return 0;
}

FeedWatch *feed_watch_free(FeedWatch *fw) {
        if (!fw)
                return NULL;
        sd_event_source_disable_unref(fw->timer);
        child_kill(fw->check_child);
        for (size_t i = 0; i < fw->n_check_calls; i++)
                reply_unref(fw->check_replies[i]);
        feed_free(fw->feed);
        free(fw->site_id);
        free(fw->feed_error);
        free(fw->last_check);
        free(fw->check_output);
        free(fw->newest_allowed);
        free(fw);
        return NULL;
}

/* Fleet: why this node's policy, unattended, does not take version (hold, skip, allow, min_age,
 * edition, stepwise...), NULL when it does. A rollout another node proposed is joined only then. */
char *feed_watch_policy_refuses(Manager *m, const char *version) {
        FeedWatch *fw = m->feed_watch;
        _cleanup_strv_free_ char **hops = NULL;
        char *err = NULL;
        int r;

        if (!fw || !fw->feed)
                return strdup("this node has not read the release feed yet, so its policy can't say yes");
        r = feed_watch_plan(m, POLICY_UNATTENDED, false, version, &hops, &err);
        if (r < 0)
                return err ?: strdup_printf("this node's policy does not allow %s: %s", version, strerror(-r));
        free(err);
        if (!hops || !hops[0] || !streq(hops[0], version) || hops[1])
                return strdup_printf(
                        "this node's policy would not go to %s in one step (policy.stepwise)", version);
        return NULL;
}
