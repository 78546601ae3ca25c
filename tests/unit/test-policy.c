/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "config.h"
#include "feed.h"
#include "macro.h"
#include "policy.h"
#include "strv.h"

#define HOUR (3600 * USEC_PER_SEC)
#define DAY (24 * HOUR)

/* Midnight UTC */
#define T_2025_06_19 ((uint64_t) 1750291200 * USEC_PER_SEC)
#define T_2025_06_20 ((uint64_t) 1750377600 * USEC_PER_SEC)

/* Buckets for the installed major (the rollout is drawn per installed major, as Metabase's
 * upgrade-threshold is), from `printf %s site-40-56 | sha256sum`: the first 8 hex digits mod 100. */
#define SITE_LOW "site-67"   /* 1, 4 and 8 for majors 54, 55 and 56 */
#define SITE_HIGH "site-765" /* 88, 89 and 98 for majors 54, 55 and 56 */
#define SITE56_BUCKET_0 "site-40"
#define SITE56_BUCKET_19 "site-59"
#define SITE56_BUCKET_20 "site-64"
#define SITE56_BUCKET_48 "site-378"
#define SITE56_BUCKET_94 "site-28"
#define SITE56_BUCKET_99 "site-394"

/* v0.54.x .. v0.57.x as the OSS feed has them: hotfixes in "older", a beta, the newest major in a
 * staged rollout (the %s: a "rollout" member or nothing), a release without a date. */
static const char oss_feed_fmt[] =
        "{\"latest\": {\"version\": \"v0.57.1\", \"released\": \"2025-06-10\", \"patch\": false,"
        "              \"highlights\": [\"New visualizer\"] %s},"
        " \"older\": ["
        "  {\"version\": \"v0.56.6\", \"released\": \"2025-06-18\", \"patch\": true},"
        "  {\"version\": \"v0.56.5\", \"released\": \"2025-06-12\", \"patch\": true},"
        "  {\"version\": \"v0.56.4\", \"released\": \"2025-05-28\", \"patch\": true},"
        "  {\"version\": \"v0.56.3.1\", \"released\": \"2025-05-20\", \"patch\": true},"
        "  {\"version\": \"v0.56.3\", \"released\": \"2025-05-14\", \"patch\": true},"
        "  {\"version\": \"v0.56.2\", \"released\": \"2025-05-01\", \"patch\": true},"
        "  {\"version\": \"v0.56.1\", \"released\": \"2025-04-15\", \"patch\": false, \"rollout\": 100},"
        "  {\"version\": \"v0.55.9\", \"released\": \"2025-04-20\", \"patch\": true},"
        "  {\"version\": \"v0.55.8.1\", \"released\": \"2025-04-02\", \"patch\": true},"
        "  {\"version\": \"v0.55.8\", \"released\": \"2025-03-25\", \"patch\": true},"
        "  {\"version\": \"v0.55.1\", \"released\": \"2025-01-20\", \"patch\": false},"
        "  {\"version\": \"v0.54.12\", \"released\": \"2025-03-10\", \"patch\": true},"
        "  {\"version\": \"v0.54.11\", \"released\": \"2025-02-01\", \"patch\": true},"
        "  {\"version\": \"v0.54.1\", \"released\": \"2024-11-01\", \"patch\": false},"
        "  {\"version\": \"v0.53.20\", \"patch\": true}"
        " ],"
        " \"beta\": {\"version\": \"v0.58.0\", \"released\": \"2025-06-15\", \"patch\": false}}";

static const char ee_feed[] =
        "{\"latest\": {\"version\": \"v1.57.1\", \"released\": \"2025-06-10\", \"rollout\": 100},"
        " \"older\": ["
        "  {\"version\": \"v1.56.5\", \"released\": \"2025-06-12\"},"
        "  {\"version\": \"v1.56.4\", \"released\": \"2025-05-28\"},"
        "  {\"version\": \"v1.56.3.1\", \"released\": \"2025-05-20\"},"
        "  {\"version\": \"v1.56.2\", \"released\": \"2025-05-01\"},"
        "  {\"version\": \"v0.56.9\", \"released\": \"2025-05-01\"},"
        "  {\"version\": \"v1.55.9\", \"released\": \"2025-04-20\"}"
        " ]}";

static Feed *feed_from(const char *json, bool include_beta) {
        Feed *f = NULL;
        char *error = NULL;

        if (feed_parse(json, strlen(json), include_beta, &f, &error) < 0)
                fail_msg("feed_parse: %s", error);
        assert_int_equal(f->n_rejected, 0);
        return f;
}

/* The OSS feed with "rollout": R for v0.57.1, or without one when R < 0. */
static Feed *oss_feed(int rollout) {
        _cleanup_free_ char *member = NULL, *json = NULL;

        member = rollout >= 0 ? strdup_printf(", \"rollout\": %d", rollout) : strdup("");
        assert_non_null(member);
        json = strdup_printf(oss_feed_fmt, member);
        assert_non_null(json);
        return feed_from(json, true);
}

typedef struct Env {
        Config *config;
        PolicyInput in;
} Env;

/* Defaults: allow minor, min_age 7d, stepwise, channel latest, OSS; unattended, 2025-06-20. */
static void env_init(Env *e, const char *installed) {
        *e = (Env){.config = config_new()};
        assert_non_null(e->config);
        e->in = (PolicyInput){
                .config = e->config,
                .mode = POLICY_UNATTENDED,
                .now_usec = T_2025_06_20,
                .site_id = SITE_LOW,
        };
        assert_int_equal(mb_version_parse(installed, &e->in.installed), 0);
}

static void env_done(Env *e) {
        e->config = config_free(e->config);
}

static void env_skip(Env *e, const char *version) {
        assert_int_equal(strv_extend(&e->config->policy.skip, version), 0);
        e->config->policy.n_skip++;
}

/* The verdict for one version: "" when eligible, the reason otherwise. */
static void check_verdict(const Feed *f, const PolicyInput *in, const char *version, const char *expected) {
        ReleaseVerdict *v = NULL;
        size_t n = 0;
        bool found = false;

        assert_int_equal(policy_evaluate(f, in, &v, &n), 0);
        assert_int_equal(n, f->n);
        for (size_t i = 0; i < n; i++) {
                assert_ptr_equal(v[i].release, &f->releases[i]);
                assert_true(v[i].eligible == (v[i].kind == VERDICT_ELIGIBLE));
                assert_true(v[i].eligible == !v[i].reason);
                if (!streq(v[i].release->version, version))
                        continue;
                found = true;
                if (!streq(v[i].eligible ? "" : v[i].reason, expected))
                        fail_msg("%s: expected \"%s\", got \"%s\"", version, expected, strempty(v[i].reason));
        }
        if (!found)
                fail_msg("%s not in the verdicts", version);
        release_verdicts_free(v, n);
}

/* expected: the hops separated by spaces ("" = nothing to do). */
static void check_plan(const Feed *f, const PolicyInput *in, const char *target, const char *expected) {
        _cleanup_strv_free_ char **hops = NULL;
        _cleanup_free_ char *error = NULL, *joined = NULL;
        int r;

        r = policy_plan(f, in, target, &hops, &error);
        if (r < 0)
                fail_msg("plan to %s: %d %s", strempty(target), r, strempty(error));
        assert_null(error);
        assert_non_null(hops);
        joined = strdup("");
        for (char **h = hops; *h; h++) {
                char *j = strdup_printf("%s%s%s", joined, h == hops ? "" : " ", *h);

                free(joined);
                joined = j;
        }
        if (!streq(joined, expected))
                fail_msg("plan to %s: expected \"%s\", got \"%s\"", strempty(target), expected, joined);
}

static void
check_plan_fails(const Feed *f, const PolicyInput *in, const char *target, int expected, const char *message) {
        char **hops = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = policy_plan(f, in, target, &hops, &error);
        if (r != expected)
                fail_msg("plan to %s: expected %d, got %d (%s)", strempty(target), expected, r, strempty(error));
        assert_null(hops);
        assert_non_null(error);
        if (!streq(error, message))
                fail_msg("plan to %s: expected \"%s\", got \"%s\"", strempty(target), message, error);

        /* ret_error is optional */
        assert_int_equal(policy_plan(f, in, target, &hops, NULL), expected);
        assert_null(hops);
}

static void test_rollout_bucket(void **state) {
        assert_int_equal(policy_rollout_bucket("site-A", 57), 6);
        assert_int_equal(policy_rollout_bucket("site-A", 56), 73);
        assert_int_equal(policy_rollout_bucket("site-A", 55), 60);
        assert_int_equal(policy_rollout_bucket("site-B", 57), 94);
        assert_int_equal(policy_rollout_bucket("site-E", 57), 48);
        assert_int_equal(policy_rollout_bucket("site-206", 57), 0);
        assert_int_equal(policy_rollout_bucket("site-234", 57), 99);
        assert_int_equal(policy_rollout_bucket("5f1c0a8e-3d2b-4c1e-9a77-0c2e1d9b4f10", 55), 5);
        assert_int_equal(policy_rollout_bucket("5f1c0a8e-3d2b-4c1e-9a77-0c2e1d9b4f10", 57), 25);
        assert_int_equal(policy_rollout_bucket(SITE_LOW, 54), 1);
        assert_int_equal(policy_rollout_bucket(SITE_LOW, 55), 4);
        assert_int_equal(policy_rollout_bucket(SITE_LOW, 56), 8);
        assert_int_equal(policy_rollout_bucket(SITE_HIGH, 54), 88);
        assert_int_equal(policy_rollout_bucket(SITE_HIGH, 55), 89);
        assert_int_equal(policy_rollout_bucket(SITE_HIGH, 56), 98);
        assert_int_equal(policy_rollout_bucket(SITE56_BUCKET_0, 56), 0);
        assert_int_equal(policy_rollout_bucket(SITE56_BUCKET_19, 56), 19);
        assert_int_equal(policy_rollout_bucket(SITE56_BUCKET_20, 56), 20);
        assert_int_equal(policy_rollout_bucket(SITE56_BUCKET_48, 56), 48);
        assert_int_equal(policy_rollout_bucket(SITE56_BUCKET_94, 56), 94);
        assert_int_equal(policy_rollout_bucket(SITE56_BUCKET_99, 56), 99);
        for (unsigned m = 0; m < 200; m++)
                assert_true(policy_rollout_bucket("x", m) < 100);
}

static void test_verdicts(void **state) {
        Feed *f = oss_feed(20);
        Env e;

        /* Every verdict of the default policy, from v0.56.2. */
        env_init(&e, "v0.56.2");
        check_verdict(f, &e.in, "v0.58.0", "beta");
        check_verdict(f, &e.in, "v0.57.1", "a major step; policy.allow is minor");
        check_verdict(
                f, &e.in, "v0.56.6", "too new: released 2025-06-18, min_age 7d, eligible from 2025-06-25");
        check_verdict(f, &e.in, "v0.56.5", "");
        check_verdict(f, &e.in, "v0.56.4", "");
        check_verdict(f, &e.in, "v0.56.3.1", "");
        check_verdict(f, &e.in, "v0.56.3", "");
        check_verdict(f, &e.in, "v0.56.2", "installed");
        check_verdict(f, &e.in, "v0.56.1", "older than the installed v0.56.2");
        check_verdict(f, &e.in, "v0.54.1", "older than the installed v0.56.2");
        check_verdict(f, &e.in, "v0.53.20", "older than the installed v0.56.2");
        check_plan(f, &e.in, NULL, "v0.56.5");

        /* Kinds and reasons line up. */
        {
                ReleaseVerdict *v = NULL;
                size_t n;

                assert_int_equal(policy_evaluate(f, &e.in, &v, &n), 0);
                assert_int_equal(v[0].kind, VERDICT_BETA);
                assert_int_equal(v[1].kind, VERDICT_STEP);
                assert_int_equal(v[2].kind, VERDICT_TOO_NEW);
                assert_int_equal(v[3].kind, VERDICT_ELIGIBLE);
                assert_int_equal(v[7].kind, VERDICT_INSTALLED);
                assert_int_equal(v[8].kind, VERDICT_OLDER);
                release_verdicts_free(v, n);
        }
        env_done(&e);

        /* A hotfix of the installed version is a patch step. */
        env_init(&e, "v0.56.3");
        e.config->policy.allow = VERSION_STEP_PATCH;
        check_verdict(f, &e.in, "v0.56.3.1", "");
        check_verdict(f, &e.in, "v0.56.4", "a minor step; policy.allow is patch");
        check_verdict(f, &e.in, "v0.57.1", "a major step; policy.allow is patch");
        check_plan(f, &e.in, NULL, "v0.56.3.1");

        e.config->policy.allow = VERSION_STEP_MINOR;
        check_verdict(f, &e.in, "v0.56.4", "");
        check_plan(f, &e.in, NULL, "v0.56.5");

        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_verdict(f, &e.in, "v0.57.1", "");
        check_plan(f, &e.in, NULL, "v0.57.1");
        env_done(&e);

        feed_free(f);
}

static void test_min_age(void **state) {
        Feed *f = oss_feed(-1);
        Env e;

        env_init(&e, "v0.56.4");

        /* v0.56.5, released 2025-06-12, becomes eligible at 2025-06-19 00:00:00 UTC sharp. */
        e.in.now_usec = T_2025_06_19;
        check_verdict(f, &e.in, "v0.56.5", "");
        check_plan(f, &e.in, NULL, "v0.56.5");
        e.in.now_usec = T_2025_06_19 - 1;
        check_verdict(
                f, &e.in, "v0.56.5", "too new: released 2025-06-12, min_age 7d, eligible from 2025-06-19");
        check_plan(f, &e.in, NULL, "");

        /* A date in the future is too new too. */
        e.in.now_usec = T_2025_06_19 - 30 * DAY;
        check_verdict(
                f, &e.in, "v0.56.5", "too new: released 2025-06-12, min_age 7d, eligible from 2025-06-19");

        /* Durations that are not whole days */
        e.in.now_usec = T_2025_06_19;
        e.config->policy.min_age_usec = 36 * HOUR;
        check_verdict(
                f,
                &e.in,
                "v0.56.6",
                "too new: released 2025-06-18, min_age 36h, eligible from 2025-06-19 12:00:00 UTC");
        e.in.now_usec = T_2025_06_19 + 12 * HOUR;
        check_verdict(f, &e.in, "v0.56.6", "");

        /* A huge min_age does not overflow. */
        e.config->policy.min_age_usec = 3000000 * DAY;
        check_verdict(
                f,
                &e.in,
                "v0.56.5",
                "too new: released 2025-06-12, min_age 3000000d, eligible from a date too far away");
        e.config->policy.min_age_usec = UINT64_MAX - 5;
        {
                char d[64];
                _cleanup_free_ char *m = strdup_printf(
                        "too new: released 2025-06-12, min_age %s, eligible from a date too far away",
                        format_duration(UINT64_MAX - 5, d, sizeof(d)));

                check_verdict(f, &e.in, "v0.56.5", m);
        }

        /* min_age 0: everything at once, even what is dated tomorrow. */
        e.config->policy.min_age_usec = 0;
        e.in.now_usec = T_2025_06_19 - 2 * DAY;
        check_verdict(f, &e.in, "v0.56.6", "");
        env_done(&e);

        /* Without a date a release can't be shown old enough. */
        env_init(&e, "v0.53.1");
        check_verdict(f, &e.in, "v0.53.20", "release date unknown, min_age 7d");
        check_plan(f, &e.in, NULL, "");
        e.config->policy.min_age_usec = 0;
        check_verdict(f, &e.in, "v0.53.20", "");
        check_plan(f, &e.in, NULL, "v0.53.20");
        /* For an admin, min_age doesn't apply. */
        e.config->policy.min_age_usec = 7 * DAY;
        e.in.mode = POLICY_ADMIN;
        check_verdict(f, &e.in, "v0.53.20", "");
        env_done(&e);

        feed_free(f);
}

static void test_skip(void **state) {
        Feed *f = oss_feed(20);
        Env e;

        env_init(&e, "v0.56.2");
        env_skip(&e, "v0.56.5");
        env_skip(&e, "v0.56.3.1");
        check_verdict(f, &e.in, "v0.56.5", "skipped (policy.skip)");
        check_verdict(f, &e.in, "v0.56.3.1", "skipped (policy.skip)");
        check_verdict(f, &e.in, "v0.56.4", "");
        check_plan(f, &e.in, NULL, "v0.56.4");
        check_plan_fails(f, &e.in, "v0.56.5", -EPERM, "v0.56.5: skipped (policy.skip)");
        check_plan_fails(f, &e.in, "0.56.5", -EPERM, "v0.56.5: skipped (policy.skip)");

        /* An admin: skip applies unless named. */
        e.in.mode = POLICY_ADMIN;
        check_verdict(f, &e.in, "v0.56.5", "skipped (policy.skip)");
        check_plan(f, &e.in, "v0.56.5", "v0.56.5");
        check_plan(f, &e.in, "0.56.5", "v0.56.5");
        env_skip(&e, "v0.57.1");
        check_plan(f, &e.in, NULL, "v0.56.6");
        env_done(&e);

        feed_free(f);
}

static void test_hold(void **state) {
        Feed *f = oss_feed(20);
        Env e;

        for (int runtime = 0; runtime < 2; runtime++) {
                env_init(&e, "v0.56.2");
                if (runtime)
                        e.in.hold = true;
                else
                        e.config->policy.hold = true;

                check_verdict(f, &e.in, "v0.56.5", "upgrades are on hold");
                check_verdict(f, &e.in, "v0.56.6", "upgrades are on hold");
                check_verdict(f, &e.in, "v0.57.1", "upgrades are on hold");
                check_verdict(f, &e.in, "v0.58.0", "beta");
                check_verdict(f, &e.in, "v0.56.2", "installed");
                check_verdict(f, &e.in, "v0.56.1", "older than the installed v0.56.2");
                /* A hold names what it holds back. */
                check_plan_fails(f, &e.in, NULL, -EPERM, "v0.56.5: upgrades are on hold");
                check_plan_fails(f, &e.in, "v0.56.4", -EPERM, "v0.56.4: upgrades are on hold");
                /* --force is for admins only. */
                e.in.force = true;
                check_verdict(f, &e.in, "v0.56.5", "upgrades are on hold");
                check_plan_fails(f, &e.in, NULL, -EPERM, "v0.56.5: upgrades are on hold");

                e.in.mode = POLICY_ADMIN;
                e.in.force = false;
                check_verdict(f, &e.in, "v0.57.1", "upgrades are on hold");
                check_plan_fails(f, &e.in, NULL, -EPERM, "v0.57.1: upgrades are on hold");
                check_plan_fails(f, &e.in, "v0.56.4", -EPERM, "v0.56.4: upgrades are on hold");
                e.in.force = true;
                check_verdict(f, &e.in, "v0.57.1", "");
                check_plan(f, &e.in, NULL, "v0.57.1");
                check_plan(f, &e.in, "v0.56.4", "v0.56.4");
                env_done(&e);
        }

        /* On hold with nothing newer: nothing to do, not a refusal. */
        env_init(&e, "v0.56.2");
        e.in.hold = true;
        e.in.now_usec = T_2025_06_19 - 30 * DAY;
        check_plan(f, &e.in, NULL, "");
        env_done(&e);
        env_init(&e, "v0.57.1");
        e.in.hold = true;
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, NULL, "");
        check_plan(f, &e.in, "v0.57.1", "");
        env_done(&e);

        feed_free(f);
}

static void test_rollout(void **state) {
        static const struct {
                int rollout; /* -1: none */
                const char *site;
                const char *expected;
        } cases[] = {
                {20, SITE56_BUCKET_0, ""},
                {20, SITE56_BUCKET_94, "staged rollout at 20%; this installation's bucket is 94"},
                {20, SITE56_BUCKET_19, ""},
                {20, SITE56_BUCKET_20, "staged rollout at 20%; this installation's bucket is 20"},
                {48, SITE56_BUCKET_48, "staged rollout at 48%; this installation's bucket is 48"},
                {49, SITE56_BUCKET_48, ""},
                {0, SITE56_BUCKET_0, "staged rollout at 0%; this installation's bucket is 0"},
                {0, SITE_LOW, "staged rollout at 0%; this installation's bucket is 8"},
                {1, SITE56_BUCKET_0, ""},
                {99, SITE56_BUCKET_99, "staged rollout at 99%; this installation's bucket is 99"},
                {100, SITE56_BUCKET_99, ""},
                {100, SITE56_BUCKET_94, ""},
                {-1, SITE56_BUCKET_99, ""},
                {20, NULL, "staged rollout at 20%; this installation has no site id"},
                {100, NULL, ""},
                {-1, NULL, ""},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Feed *f = oss_feed(cases[i].rollout);
                Env e;

                env_init(&e, "v0.56.5");
                e.config->policy.allow = VERSION_STEP_MAJOR;
                e.in.site_id = cases[i].site;
                check_verdict(f, &e.in, "v0.57.1", cases[i].expected);
                /* Held back by the rollout and v0.56.6 still too new: nothing to do. */
                check_plan(f, &e.in, NULL, isempty(cases[i].expected) ? "v0.57.1" : "");

                /* An admin is not subject to the rollout. */
                e.in.mode = POLICY_ADMIN;
                check_verdict(f, &e.in, "v0.57.1", "");
                check_plan(f, &e.in, NULL, "v0.57.1");
                env_done(&e);
                feed_free(f);
        }
}

static void test_stepwise(void **state) {
        Feed *f = oss_feed(20);
        Env e;

        env_init(&e, "v0.55.8");
        e.config->policy.allow = VERSION_STEP_MAJOR;

        /* Two majors: the newest eligible of the one between (v0.56.6 is too new), then the target. */
        check_plan(f, &e.in, NULL, "v0.56.5 v0.57.1");
        check_plan(f, &e.in, "v0.57.1", "v0.56.5 v0.57.1");
        /* One major: a single hop. */
        check_plan(f, &e.in, "v0.56.3.1", "v0.56.3.1");
        /* Within the major */
        check_plan(f, &e.in, "v0.55.9", "v0.55.9");

        /* Without stepwise, one hop whatever the distance. */
        e.config->policy.stepwise = false;
        check_plan(f, &e.in, NULL, "v0.57.1");
        check_plan(f, &e.in, "v0.57.1", "v0.57.1");
        e.config->policy.stepwise = true;

        /* Staged out of v0.57.1: the newest of major 56 is the target, one hop. */
        e.in.site_id = SITE_HIGH;
        check_plan(f, &e.in, NULL, "v0.56.5");
        check_plan_fails(
                f, &e.in, "v0.57.1", -EPERM, "v0.57.1: staged rollout at 20%; this installation's bucket is 89");
        e.in.site_id = SITE_LOW;

        /* Unattended, crossing majors needs allow: major. */
        e.config->policy.allow = VERSION_STEP_MINOR;
        check_plan(f, &e.in, NULL, "v0.55.9");
        check_plan_fails(f, &e.in, "v0.57.1", -EPERM, "v0.57.1: a major step; policy.allow is minor");
        check_plan_fails(f, &e.in, "v0.56.4", -EPERM, "v0.56.4: a major step; policy.allow is minor");

        /* An admin: allow and min_age don't apply, to the target or to the hops. */
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, NULL, "v0.56.6 v0.57.1");
        check_plan(f, &e.in, "v0.57.1", "v0.56.6 v0.57.1");
        env_done(&e);

        /* Three majors: three hops. */
        env_init(&e, "v0.54.11");
        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_plan(f, &e.in, NULL, "v0.55.9 v0.56.5 v0.57.1");
        check_plan(f, &e.in, "v0.56.4", "v0.55.9 v0.56.4");

        /* A skipped release is no hop: the next newest of its major is, a hotfix here. */
        env_skip(&e, "v0.55.9");
        check_plan(f, &e.in, "v0.56.4", "v0.55.8.1 v0.56.4");
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, "v0.56.4", "v0.55.8.1 v0.56.4");
        /* ... even when the admin named it as the target elsewhere: only the target is named. */
        check_plan(f, &e.in, "v0.55.9", "v0.55.9");

        /* No usable release of a major between: refused, saying why. */
        e.in.mode = POLICY_UNATTENDED;
        env_skip(&e, "v0.55.8.1");
        env_skip(&e, "v0.55.8");
        env_skip(&e, "v0.55.1");
        check_plan_fails(
                f,
                &e.in,
                "v0.56.4",
                -EPERM,
                "no release of major 55 can be a step on the way to v0.56.4 (policy.stepwise); the newest, "
                "v0.55.9: skipped (policy.skip)");
        check_plan_fails(
                f,
                &e.in,
                NULL,
                -EPERM,
                "no release of major 55 can be a step on the way to v0.57.1 (policy.stepwise); the newest, "
                "v0.55.9: skipped (policy.skip)");
        e.config->policy.stepwise = false;
        check_plan(f, &e.in, "v0.56.4", "v0.56.4");
        env_done(&e);

        feed_free(f);

        /* A gap in the feed: no release of major 56 at all. */
        f = feed_from(
                "{\"latest\": {\"version\": \"v0.57.1\", \"released\": \"2025-06-10\"},"
                " \"older\": [{\"version\": \"v0.55.9\", \"released\": \"2025-04-20\"},"
                "            {\"version\": \"v1.56.5\", \"released\": \"2025-04-20\"}]}",
                false);
        env_init(&e, "v0.55.1");
        e.in.mode = POLICY_ADMIN;
        check_plan_fails(
                f,
                &e.in,
                NULL,
                -ENOENT,
                "the feed has no release of major 56 to step through on the way to v0.57.1 (policy.stepwise)");
        e.config->policy.stepwise = false;
        check_plan(f, &e.in, NULL, "v0.57.1");
        env_done(&e);
        feed_free(f);

        /* A beta is never a hop. */
        f = feed_from(
                "{\"latest\": {\"version\": \"v0.58.1\", \"released\": \"2025-06-10\"},"
                " \"older\": [{\"version\": \"v0.57.3\", \"released\": \"2025-04-20\"},"
                "            {\"version\": \"v0.56.1\", \"released\": \"2025-04-20\"}],"
                " \"beta\": {\"version\": \"v0.57.9\", \"released\": \"2025-04-20\"}}",
                true);
        env_init(&e, "v0.56.1");
        e.config->releases.channel = CHANNEL_BETA;
        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_verdict(f, &e.in, "v0.57.9", "");
        check_plan(f, &e.in, NULL, "v0.57.3 v0.58.1");
        check_plan(f, &e.in, "v0.57.9", "v0.57.9");
        env_done(&e);
        feed_free(f);
}

static void test_named_target(void **state) {
        Feed *f = oss_feed(20);
        Env e;

        env_init(&e, "v0.56.2");
        check_plan_fails(f, &e.in, "v0.56.4/../x", -EINVAL, "'v0.56.4/../x' is not a valid version");
        check_plan_fails(f, &e.in, "v0.56.\x1b[2J", -EINVAL, "'v0.56.?[2J' is not a valid version");
        check_plan_fails(f, &e.in, "", -EINVAL, "'' is not a valid version");
        check_plan_fails(f, &e.in, "v0.56.9", -ENOENT, "v0.56.9 is not in the release feed");
        check_plan_fails(f, &e.in, "v0.56.1", -EPERM, "v0.56.1: older than the installed v0.56.2");
        check_plan_fails(
                f,
                &e.in,
                "v0.56.6",
                -EPERM,
                "v0.56.6: too new: released 2025-06-18, min_age 7d, eligible from 2025-06-25");
        check_plan_fails(f, &e.in, "v0.58.0", -EPERM, "v0.58.0: beta");
        check_plan(f, &e.in, "v0.56.2", "");
        check_plan(f, &e.in, "v0.56.4", "v0.56.4");

        /* An admin: min_age, allow and rollout don't apply; a beta named is taken; a downgrade is
         * still no upgrade. */
        e.in.mode = POLICY_ADMIN;
        e.in.site_id = SITE_HIGH;
        check_plan(f, &e.in, "v0.56.6", "v0.56.6");
        check_plan(f, &e.in, "v0.57.1", "v0.57.1");
        check_plan(f, &e.in, "v0.58.0", "v0.57.1 v0.58.0");
        check_plan(f, &e.in, NULL, "v0.57.1");
        check_plan(f, &e.in, "v0.56.2", "");
        check_plan_fails(f, &e.in, "v0.56.1", -EPERM, "v0.56.1: older than the installed v0.56.2");
        check_plan_fails(f, &e.in, "v0.53.20", -EPERM, "v0.53.20: older than the installed v0.56.2");
        env_done(&e);

        feed_free(f);
}

static void test_beta_channel(void **state) {
        Feed *f = oss_feed(20);
        Env e;

        env_init(&e, "v0.57.1");
        e.config->releases.channel = CHANNEL_BETA;
        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_verdict(
                f, &e.in, "v0.58.0", "too new: released 2025-06-15, min_age 7d, eligible from 2025-06-22");
        check_plan(f, &e.in, NULL, "");
        e.in.now_usec = T_2025_06_20 + 2 * DAY;
        check_verdict(f, &e.in, "v0.58.0", "");
        check_plan(f, &e.in, NULL, "v0.58.0");

        e.config->releases.channel = CHANNEL_LATEST;
        check_verdict(f, &e.in, "v0.58.0", "beta");
        check_plan(f, &e.in, NULL, "");
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, NULL, "");
        env_done(&e);

        feed_free(f);
}

static void test_enterprise(void **state) {
        Feed *f = feed_from(ee_feed, false);
        _cleanup_free_ char *url = NULL;
        Env e;

        env_init(&e, "v1.56.2");
        e.config->releases.edition = EDITION_ENTERPRISE;
        check_verdict(f, &e.in, "v1.57.1", "a major step; policy.allow is minor");
        check_verdict(f, &e.in, "v1.56.5", "");
        check_verdict(f, &e.in, "v1.56.3.1", "");
        check_verdict(f, &e.in, "v1.56.2", "installed");
        check_verdict(f, &e.in, "v0.56.9", "other edition (oss)");
        check_verdict(f, &e.in, "v1.55.9", "older than the installed v1.56.2");
        check_plan(f, &e.in, NULL, "v1.56.5");
        check_plan_fails(f, &e.in, "v0.56.9", -EPERM, "v0.56.9: other edition (oss)");

        url = feed_download_url(e.config->releases.downloads, e.config->releases.edition, "v1.56.5");
        assert_string_equal(url, "https://downloads.metabase.com/enterprise/v1.56.5/metabase.jar");

        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_plan(f, &e.in, NULL, "v1.57.1");
        env_done(&e);

        /* Stepwise, never through the other edition's releases. */
        env_init(&e, "v1.55.9");
        e.config->releases.edition = EDITION_ENTERPRISE;
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, NULL, "v1.56.5 v1.57.1");
        env_done(&e);

        /* An OSS installation sees nothing it may install in the enterprise feed. */
        env_init(&e, "v0.56.2");
        check_verdict(f, &e.in, "v1.56.5", "other edition (enterprise)");
        check_verdict(f, &e.in, "v0.56.9", "");
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, NULL, "v0.56.9");
        check_plan_fails(f, &e.in, "v1.57.1", -EPERM, "v1.57.1: other edition (enterprise)");
        env_done(&e);

        /* Configured for enterprise with the OSS JAR installed: the same version in the enterprise
         * edition is no step, so moving over is allowed. */
        env_init(&e, "v0.56.2");
        e.config->releases.edition = EDITION_ENTERPRISE;
        check_verdict(f, &e.in, "v1.56.2", "");
        check_verdict(f, &e.in, "v0.56.9", "other edition (oss)");
        check_plan(f, &e.in, NULL, "v1.56.5");
        env_done(&e);

        feed_free(f);
}

/* The feed as Metabase's release tooling leaves it (release/src/version-info.ts): every release
 * went to the front of "older" when it was made; v0.57.1 was promoted to "latest" later with a
 * rollout of 20%, and the previous latest (v0.56.6) went back to the front of "older" without its
 * rollout. v0.57.2 came out after the promotion and is not promoted yet; v0.57.1.1 is a hotfix
 * (never "latest"). The beta is named like v0.58.0-beta, the nightly is a single entry, and the
 * feed lists each major's end of support. */
static const char promoted_feed[] =
        "{\"latest\": {\"version\": \"v0.57.1\", \"released\": \"2025-06-01\", \"patch\": true,"
        "              \"highlights\": [\"New visualizer\"], \"rollout\": 20},"
        " \"older\": ["
        "  {\"version\": \"v0.57.2\", \"released\": \"2025-06-09\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.57.1.1\", \"released\": \"2025-06-05\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.56.6\", \"released\": \"2025-05-20\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.56.7\", \"released\": \"2025-06-02\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.56.5\", \"released\": \"2025-05-10\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.55.9\", \"released\": \"2025-04-20\", \"patch\": true, \"highlights\": []}"
        " ],"
        " \"beta\": {\"version\": \"v0.58.0-beta\", \"released\": \"2025-06-15\", \"rollout\": 100, \"highlights\": []},"
        " \"nightly\": {\"version\": \"v0.58.0-nightly\", \"released\": \"2025-06-19\", \"rollout\": 100,"
        "             \"highlights\": []},"
        " \"major_version_support\": [{\"major\": 57, \"eol\": \"2026-06-01\"},"
        "                             {\"major\": 56, \"eol\": \"2026-03-01\"}]}";

#define UNPROMOTED_V0_57_2 \
        "newer than latest v0.57.1: not promoted by Metabase yet (releases.follow: latest)"
#define UNPROMOTED_V0_57_1_1                                                                             \
        "a hotfix newer than latest v0.57.1: Metabase never promotes hotfixes (releases.follow: newest " \
        "takes them)"

static void test_follow_latest(void **state) {
        Feed *f = feed_from(promoted_feed, false);
        Env e;

        assert_string_equal(feed_latest(f)->version, "v0.57.1");
        assert_string_equal(f->releases[0].version, "v0.57.2");

        /* The default: latest, and nothing past it. */
        env_init(&e, "v0.56.6");
        e.config->policy.allow = VERSION_STEP_MAJOR;
        assert_int_equal(e.config->releases.follow, FOLLOW_LATEST);
        check_verdict(f, &e.in, "v0.57.2", UNPROMOTED_V0_57_2);
        check_verdict(f, &e.in, "v0.57.1.1", UNPROMOTED_V0_57_1_1);
        check_verdict(f, &e.in, "v0.57.1", "");
        check_verdict(f, &e.in, "v0.56.7", "");
        check_plan(f, &e.in, NULL, "v0.57.1");
        check_plan_fails(f, &e.in, "v0.57.2", -EPERM, "v0.57.2: " UNPROMOTED_V0_57_2);
        {
                ReleaseVerdict *v = NULL;
                size_t n;

                assert_int_equal(policy_evaluate(f, &e.in, &v, &n), 0);
                assert_int_equal(v[0].kind, VERDICT_UNPROMOTED);
                assert_int_equal(v[1].kind, VERDICT_UNPROMOTED);
                assert_int_equal(v[2].kind, VERDICT_ELIGIBLE);
                release_verdicts_free(v, n);
        }

        /* Outside latest's rollout: not latest, and still nothing past it; a release of the
         * installed major older than latest is fine. */
        e.in.site_id = SITE_HIGH;
        check_verdict(f, &e.in, "v0.57.1", "staged rollout at 20%; this installation's bucket is 98");
        check_verdict(f, &e.in, "v0.57.2", UNPROMOTED_V0_57_2);
        check_plan(f, &e.in, NULL, "v0.56.7");
        env_done(&e);
        env_init(&e, "v0.56.7");
        e.config->policy.allow = VERSION_STEP_MAJOR;
        e.in.site_id = SITE_HIGH;
        check_plan(f, &e.in, NULL, "");
        /* ... while an admin's upgrade now takes latest (no rollout for admins), and --to any. */
        e.in.mode = POLICY_ADMIN;
        check_verdict(f, &e.in, "v0.57.2", UNPROMOTED_V0_57_2);
        check_plan(f, &e.in, NULL, "v0.57.1");
        check_plan(f, &e.in, "v0.57.2", "v0.57.2");
        check_plan(f, &e.in, "v0.57.1.1", "v0.57.1.1");
        env_done(&e);

        /* Stepwise across majors: a hop through 56, then latest. */
        env_init(&e, "v0.55.9");
        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_plan(f, &e.in, NULL, "v0.56.7 v0.57.1");
        check_plan_fails(f, &e.in, "v0.57.2", -EPERM, "v0.57.2: " UNPROMOTED_V0_57_2);
        e.in.mode = POLICY_ADMIN;
        check_plan(f, &e.in, "v0.57.2", "v0.56.7 v0.57.2");
        env_done(&e);

        /* Metabase stages only major upgrades: latest of the installed major is for everyone. */
        env_init(&e, "v0.57.0");
        e.in.site_id = SITE_HIGH;
        check_verdict(f, &e.in, "v0.57.1", "");
        check_plan(f, &e.in, NULL, "v0.57.1");
        e.in.site_id = NULL;
        check_plan(f, &e.in, NULL, "v0.57.1");
        env_done(&e);

        /* Installed past latest (by hand): nothing newer is taken unattended. */
        env_init(&e, "v0.57.1.1");
        check_verdict(f, &e.in, "v0.57.2", UNPROMOTED_V0_57_2);
        check_plan(f, &e.in, NULL, "");
        env_done(&e);

        feed_free(f);
}

static void test_follow_newest(void **state) {
        Feed *f = feed_from(promoted_feed, false);
        Env e;

        env_init(&e, "v0.56.6");
        e.config->releases.follow = FOLLOW_NEWEST;
        e.config->policy.allow = VERSION_STEP_MAJOR;
        check_verdict(f, &e.in, "v0.57.2", "");
        check_verdict(f, &e.in, "v0.57.1.1", "");
        check_plan(f, &e.in, NULL, "v0.57.2");
        check_plan(f, &e.in, "v0.57.1.1", "v0.57.1.1");
        /* latest's rollout is latest's: it holds back latest, not the releases after it. */
        e.in.site_id = SITE_HIGH;
        check_verdict(f, &e.in, "v0.57.1", "staged rollout at 20%; this installation's bucket is 98");
        check_verdict(f, &e.in, "v0.57.2", "");
        check_plan(f, &e.in, NULL, "v0.57.2");
        /* The rules still apply: min_age holds back the newest, and the next one is taken. */
        e.in.now_usec = T_2025_06_19 - 4 * DAY;
        check_verdict(
                f, &e.in, "v0.57.2", "too new: released 2025-06-09, min_age 7d, eligible from 2025-06-16");
        check_plan(f, &e.in, NULL, "v0.57.1.1");
        e.in.now_usec = T_2025_06_20;
        e.config->policy.allow = VERSION_STEP_MINOR;
        check_plan(f, &e.in, NULL, "v0.56.7");
        env_done(&e);

        /* A hotfix that is the newest release is taken at once (once min_age allows). */
        env_init(&e, "v0.57.1");
        e.config->releases.follow = FOLLOW_NEWEST;
        e.config->policy.allow = VERSION_STEP_PATCH;
        check_plan(f, &e.in, NULL, "v0.57.1.1");
        e.config->releases.follow = FOLLOW_LATEST;
        check_plan(f, &e.in, NULL, "");
        env_done(&e);
        feed_free(f);

        /* Never a beta (nor a nightly, which is never read): the -beta name is not a version it
         * could install, and a beta named like a release is still the beta channel's. */
        f = feed_from(
                "{\"latest\": {\"version\": \"v0.57.1\", \"released\": \"2025-06-01\", \"rollout\": 100},"
                " \"older\": [{\"version\": \"v0.57.2\", \"released\": \"2025-06-09\"}],"
                " \"beta\": {\"version\": \"v0.58.0\", \"released\": \"2025-06-01\", \"rollout\": 100},"
                " \"nightly\": {\"version\": \"v0.58.1\", \"released\": \"2025-06-01\", \"rollout\": 100}}",
                true);
        assert_null(feed_find(f, "v0.58.1"));
        env_init(&e, "v0.57.1");
        e.config->policy.allow = VERSION_STEP_MAJOR;
        e.config->releases.follow = FOLLOW_NEWEST;
        check_verdict(f, &e.in, "v0.58.0", "beta");
        check_plan(f, &e.in, NULL, "v0.57.2");
        /* On the beta channel the beta is its own recommendation, under either setting. */
        e.config->releases.channel = CHANNEL_BETA;
        check_plan(f, &e.in, NULL, "v0.58.0");
        e.config->releases.follow = FOLLOW_LATEST;
        check_verdict(f, &e.in, "v0.57.2", UNPROMOTED_V0_57_2);
        check_plan(f, &e.in, NULL, "v0.58.0");
        env_done(&e);
        feed_free(f);
}

static void test_strings(void **state) {
        for (int i = 0; i < _POLICY_MODE_MAX; i++)
                assert_int_equal(policy_mode_from_string(policy_mode_to_string(i)), i);
        for (int i = 0; i < _VERDICT_KIND_MAX; i++)
                assert_int_equal(verdict_kind_from_string(verdict_kind_to_string(i)), i);
        assert_string_equal(policy_mode_to_string(POLICY_ADMIN), "admin");
        assert_string_equal(verdict_kind_to_string(VERDICT_TOO_NEW), "too-new");
        assert_string_equal(verdict_kind_to_string(VERDICT_UNPROMOTED), "unpromoted");
        assert_null(policy_mode_to_string(_POLICY_MODE_MAX));
        assert_null(verdict_kind_to_string(_VERDICT_KIND_INVALID));
        assert_int_equal(verdict_kind_from_string("nope"), _VERDICT_KIND_INVALID);
        assert_int_equal(policy_mode_from_string(NULL), _POLICY_MODE_INVALID);
        assert_null(release_verdicts_free(NULL, 0));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rollout_bucket),
                cmocka_unit_test(test_verdicts),
                cmocka_unit_test(test_min_age),
                cmocka_unit_test(test_skip),
                cmocka_unit_test(test_hold),
                cmocka_unit_test(test_rollout),
                cmocka_unit_test(test_stepwise),
                cmocka_unit_test(test_named_target),
                cmocka_unit_test(test_beta_channel),
                cmocka_unit_test(test_enterprise),
                cmocka_unit_test(test_follow_latest),
                cmocka_unit_test(test_follow_newest),
                cmocka_unit_test(test_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
