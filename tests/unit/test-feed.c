/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "feed.h"
#include "macro.h"
#include "strv.h"

#define DAY (24 * 3600 * USEC_PER_SEC)

/* Shaped like static.metabase.com/version-info.json: hotfixes only in "older", a beta, a nightly,
 * fields we don't know, and the newest major in a staged rollout. */
static const char realistic_feed[] =
        "{\n"
        "  \"latest\": {\"version\": \"v0.57.1\", \"released\": \"2025-06-10\", \"patch\": false,\n"
        "             \"highlights\": [\"New visualizer\", \"Faster dashboards\"], \"rollout\": 20,\n"
        "             \"announcement_url\": \"https://www.metabase.com/releases/metabase-57\"},\n"
        "  \"older\": [\n"
        "    {\"version\": \"v0.56.5\", \"released\": \"2025-06-12\", \"patch\": true, \"highlights\": []},\n"
        "    {\"version\": \"v0.56.4\", \"released\": \"2025-05-28\", \"patch\": true, \"highlights\": [\"Fixes\"]},\n"
        "    {\"version\": \"v0.56.3.1\", \"released\": \"2025-05-20\", \"patch\": true,\n"
        "     \"highlights\": [\"Security fix\"]},\n"
        "    {\"version\": \"v0.56.3\", \"released\": \"2025-05-14\", \"patch\": true, \"highlights\": []},\n"
        "    {\"version\": \"v0.56.1\", \"released\": \"2025-04-15\", \"patch\": false, \"highlights\": [\"Gold\"],\n"
        "     \"rollout\": 100},\n"
        "    {\"version\": \"v0.55.9\", \"released\": \"2025-04-20\", \"patch\": true, \"highlights\": []},\n"
        "    {\"version\": \"v0.55.8.1\", \"released\": \"2025-04-02\", \"patch\": true, \"highlights\": []},\n"
        "    {\"version\": \"v0.54.12\", \"released\": \"2025-03-10\", \"patch\": true, \"highlights\": [],\n"
        "     \"some_future_field\": {\"nested\": [1, 2, {\"x\": null}]}}\n"
        "  ],\n"
        "  \"beta\": {\"version\": \"v0.58.0\", \"released\": \"2025-06-15\", \"patch\": false, \"highlights\": []},\n"
        "  \"nightly\": {\"version\": \"v0.59.0\", \"released\": \"2025-06-19\"},\n"
        "  \"major_version_support\": [{\"major\": 57, \"lts\": false}]\n"
        "}\n";

static Feed *parse_ok(const char *json, bool include_beta) {
        Feed *f = NULL;
        char *error = NULL;
        int r;

        r = feed_parse(json, strlen(json), include_beta, &f, &error);
        if (r < 0)
                fail_msg("feed_parse failed: %d %s\n--- input:\n%s", r, error, json);
        assert_null(error);
        assert_non_null(f);
        return f;
}

static void parse_fails(const char *data, size_t size, int expected, const char *message) {
        Feed *f = NULL;
        char *error = NULL;

        assert_int_equal(feed_parse(data, size, true, &f, &error), expected);
        assert_null(f);
        assert_non_null(error);
        if (!strstr(error, message))
                fail_msg("expected an error containing \"%s\", got \"%s\"", message, error);
        free(error);

        /* ret_error is optional */
        assert_int_equal(feed_parse(data, size, false, &f, NULL), expected);
        assert_null(f);
}

static void parse_fails_str(const char *json, const char *message) {
        parse_fails(json, strlen(json), -EBADMSG, message);
}

static void test_realistic(void **state) {
        static const char *const order[] = {
                "v0.57.1",
                "v0.56.5",
                "v0.56.4",
                "v0.56.3.1",
                "v0.56.3",
                "v0.56.1",
                "v0.55.9",
                "v0.55.8.1",
                "v0.54.12",
        };
        Feed *f = parse_ok(realistic_feed, false);
        const Release *r;

        assert_int_equal(f->n, ELEMENTSOF(order));
        for (size_t i = 0; i < f->n; i++) {
                assert_string_equal(f->releases[i].version, order[i]);
                assert_false(f->releases[i].beta);
        }
        assert_int_equal(f->n_rejected, 0);
        assert_null(f->rejected_reason);

        r = &f->releases[0];
        assert_ptr_equal(feed_latest(f), r);
        assert_true(r->latest);
        for (size_t i = 1; i < f->n; i++)
                assert_false(f->releases[i].latest);
        assert_int_equal(r->v.major, 57);
        assert_int_equal(r->v.minor, 1);
        assert_string_equal(r->released, "2025-06-10");
        assert_true(r->released_usec == (uint64_t) 1749513600 * USEC_PER_SEC);
        assert_false(r->patch);
        assert_int_equal(strv_length(r->highlights), 2);
        assert_string_equal(r->highlights[0], "New visualizer");
        assert_string_equal(r->highlights[1], "Faster dashboards");
        assert_int_equal(r->rollout, 20);
        assert_string_equal(r->announcement_url, "https://www.metabase.com/releases/metabase-57");

        r = feed_find(f, "v0.56.3.1");
        assert_non_null(r);
        assert_true(r->v.has_hotfix);
        assert_int_equal(r->v.hotfix, 1);
        assert_true(r->patch);
        assert_int_equal(r->rollout, -1);
        assert_null(r->announcement_url);
        assert_string_equal(r->highlights[0], "Security fix");

        r = feed_find(f, "v0.56.1");
        assert_int_equal(r->rollout, 100);
        r = feed_find(f, "v0.56.5");
        assert_non_null(r->highlights);
        assert_null(r->highlights[0]);

        /* Neither the beta (not asked for) nor the nightly (never). */
        assert_null(feed_find(f, "v0.58.0"));
        assert_null(feed_find(f, "v0.59.0"));
        feed_free(f);

        f = parse_ok(realistic_feed, true);
        assert_int_equal(f->n, ELEMENTSOF(order) + 1);
        assert_string_equal(f->releases[0].version, "v0.58.0");
        assert_true(f->releases[0].beta);
        assert_null(feed_find(f, "v0.59.0"));
        assert_int_equal(f->n_rejected, 0);
        feed_free(f);
}

/* As Metabase's release tooling leaves it (release/src/version-info.ts): new releases at the front
 * of "older", one promoted to "latest" later with a rollout, the previous latest back in "older"
 * without its rollout; so "older" is not in order and holds releases newer than "latest" (v0.57.2
 * not promoted yet, the hotfix v0.57.1.1 never). A beta named v0.58.0-beta, a nightly, and
 * major_version_support (read by Metabase's frontend, useEolDate). */
static const char promoted_feed[] =
        "{\"latest\": {\"version\": \"v0.57.1\", \"released\": \"2025-06-01\", \"patch\": true,"
        "            \"highlights\": [\"New visualizer\"], \"rollout\": 20},"
        " \"older\": ["
        "  {\"version\": \"v0.57.2\", \"released\": \"2025-06-09\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.57.1.1\", \"released\": \"2025-06-05\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.56.6\", \"released\": \"2025-05-20\", \"patch\": true, \"highlights\": []},"
        "  {\"version\": \"v0.56.7\", \"released\": \"2025-06-02\", \"patch\": true, \"highlights\": []}"
        " ],"
        " \"beta\": {\"version\": \"v0.58.0-beta\", \"released\": \"2025-06-15\", \"rollout\": 100,"
        "           \"highlights\": []},"
        " \"nightly\": {\"version\": \"v0.58.0-nightly\", \"released\": \"2025-06-19\", \"rollout\": 100,"
        "              \"highlights\": []},"
        " \"major_version_support\": [{\"major\": 57, \"eol\": \"2026-06-01\"}, {\"major\": 56, \"eol\": \"2026-03-01\"}]}";

static void test_promoted(void **state) {
        static const char *const order[] = {"v0.57.2", "v0.57.1.1", "v0.57.1", "v0.56.7", "v0.56.6"};
        Feed *f = parse_ok(promoted_feed, false);

        assert_int_equal(f->n, ELEMENTSOF(order));
        for (size_t i = 0; i < f->n; i++) {
                assert_string_equal(f->releases[i].version, order[i]);
                assert_int_equal(f->releases[i].latest, streq(order[i], "v0.57.1"));
                assert_int_equal(f->releases[i].rollout, streq(order[i], "v0.57.1") ? 20 : -1);
                assert_false(f->releases[i].beta);
        }
        assert_string_equal(feed_latest(f)->version, "v0.57.1");
        assert_true(f->releases[1].v.has_hotfix);
        assert_int_equal(f->n_rejected, 0);
        feed_free(f);

        /* The beta channel: the -beta name is no version that can go into a path or be compared;
         * the entry is ignored and said so. The nightly is never read. */
        f = parse_ok(promoted_feed, true);
        assert_int_equal(f->n, ELEMENTSOF(order));
        assert_int_equal(f->n_rejected, 1);
        assert_string_equal(f->rejected_reason, "'beta': invalid version 'v0.58.0-beta'");
        assert_string_equal(feed_latest(f)->version, "v0.57.1");
        feed_free(f);

        /* A promoted beta is latest, not beta; a latest given twice in older stays latest. */
        f = parse_ok(
                "{\"latest\": {\"version\": \"v0.58.1\", \"rollout\": 5},"
                " \"older\": [{\"version\": \"v0.58.1\"}, {\"version\": \"v0.58.2\"}],"
                " \"beta\": {\"version\": \"v0.58.1\"}}",
                true);
        assert_int_equal(f->n, 2);
        assert_string_equal(feed_latest(f)->version, "v0.58.1");
        assert_int_equal(feed_latest(f)->rollout, 5);
        assert_false(feed_latest(f)->beta);
        assert_false(f->releases[0].latest);
        feed_free(f);
        assert_null(feed_latest(NULL));
}

static void test_minimal(void **state) {
        Feed *f = parse_ok("{\"latest\":{\"version\":\"v0.56.3\"}}", true);

        assert_int_equal(f->n, 1);
        assert_string_equal(f->releases[0].version, "v0.56.3");
        assert_null(f->releases[0].released);
        assert_true(f->releases[0].released_usec == 0);
        assert_false(f->releases[0].patch);
        assert_non_null(f->releases[0].highlights);
        assert_null(f->releases[0].highlights[0]);
        assert_int_equal(f->releases[0].rollout, -1);
        assert_null(f->releases[0].announcement_url);
        assert_false(f->releases[0].beta);
        feed_free(f);

        /* Whitespace around it, null members, and a version without 'v' (kept in canonical form). */
        f = parse_ok(" \r\n\t{\"latest\":{\"version\":\"0.56.3\"},\"older\":null,\"beta\":null} \n\n", true);
        assert_int_equal(f->n, 1);
        assert_string_equal(f->releases[0].version, "v0.56.3");
        feed_free(f);

        assert_null(feed_free(NULL));
}

static void test_rejected_versions(void **state) {
        Feed *f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\"}, \"older\": ["
                "{\"version\": \"v0.56.4/../../x\"},"
                "{\"version\": \"v0.56.4?x=1\"},"
                "{\"version\": \"v0.56.2\"},"
                "{\"version\": \"../../../etc/passwd\"},"
                "{\"version\": \"v0.56.4\\u0000/../x\"},"
                "{\"version\": \"v0.56.x\"},"
                "{\"version\": \"v0.56.3-beta\"},"
                "{\"version\": \"v0.56.1 \"},"
                "{\"version\": \"v0.56.1\\n\"},"
                "{\"version\": 56},"
                "{\"version\": null},"
                "{\"released\": \"2025-01-01\"},"
                "\"v0.55.1\","
                "null,"
                "[],"
                "{\"version\": \"v0.55.1\"}"
                "]}",
                true);

        assert_int_equal(f->n, 3);
        assert_string_equal(f->releases[0].version, "v0.56.3");
        assert_string_equal(f->releases[1].version, "v0.56.2");
        assert_string_equal(f->releases[2].version, "v0.55.1");
        assert_int_equal(f->n_rejected, 14);
        assert_string_equal(f->rejected_reason, "'older'[0]: invalid version 'v0.56.4/../../x'");
        feed_free(f);

        /* The reason quotes the feed sanitized and cut. */
        f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\"}, \"older\": ["
                "{\"version\": \"\\u001b[31mv0.56.4\\u00e9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]}",
                true);
        assert_int_equal(f->n_rejected, 1);
        assert_string_equal(
                f->rejected_reason,
                "'older'[0]: invalid version '?[31mv0.56.4??aaaaaaaaaaaaaaaaaaaaaaaaaa...'");
        feed_free(f);

        f = parse_ok("{\"latest\": {\"version\": \"v0.56.3\"}, \"older\": {\"version\": \"v0.56.2\"}}", true);
        assert_int_equal(f->n, 1);
        assert_int_equal(f->n_rejected, 1);
        assert_string_equal(f->rejected_reason, "'older': not a list");
        feed_free(f);

        /* An invalid beta is rejected only when it was asked for. */
        f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\"}, \"beta\": {\"version\": \"v0.57.0-beta\"}}", true);
        assert_int_equal(f->n, 1);
        assert_int_equal(f->n_rejected, 1);
        assert_string_equal(f->rejected_reason, "'beta': invalid version 'v0.57.0-beta'");
        feed_free(f);
        f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\"}, \"beta\": {\"version\": \"v0.57.0-beta\"}}", false);
        assert_int_equal(f->n_rejected, 0);
        feed_free(f);
}

static void test_duplicates(void **state) {
        /* The first one wins: latest over older, older over beta. A beta that became a release is
         * not a beta. */
        Feed *f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\", \"rollout\": 50},"
                " \"older\": [{\"version\": \"v0.56.3\", \"rollout\": 10}, {\"version\": \"0.56.3\"},"
                "             {\"version\": \"v0.56.2\", \"patch\": true}, {\"version\": \"v0.56.2\"},"
                "             {\"version\": \"v0.56.3.0\"}, {\"version\": \"v1.56.3\"}],"
                " \"beta\": {\"version\": \"v0.56.2\"}}",
                true);

        assert_int_equal(f->n, 4);
        assert_string_equal(f->releases[0].version, "v1.56.3");
        assert_string_equal(f->releases[1].version, "v0.56.3.0");
        assert_string_equal(f->releases[2].version, "v0.56.3");
        assert_int_equal(f->releases[2].rollout, 50);
        assert_string_equal(f->releases[3].version, "v0.56.2");
        assert_true(f->releases[3].patch);
        assert_false(f->releases[3].beta);
        assert_int_equal(f->n_rejected, 0);
        feed_free(f);
}

static void check_date(const char *date, bool valid, uint64_t epoch) {
        _cleanup_free_ char *json = strdup_printf(
                "{\"latest\": {\"version\": \"v0.56.3\", \"released\": %s}}", date);
        Feed *f = parse_ok(json, false);

        if (valid) {
                assert_non_null(f->releases[0].released);
                assert_true(f->releases[0].released_usec == epoch * USEC_PER_SEC);
        } else {
                if (f->releases[0].released)
                        fail_msg("%s was accepted as a date", date);
                assert_true(f->releases[0].released_usec == 0);
        }
        feed_free(f);
}

static void test_dates(void **state) {
        check_date("\"2025-01-01\"", true, 1735689600);
        check_date("\"1970-01-02\"", true, 86400);
        check_date("\"2024-02-29\"", true, 1709164800);
        check_date("\"2000-02-29\"", true, 951782400);
        check_date("\"2025-12-31\"", true, 1767139200);
        check_date("\"9999-12-31\"", true, 253402214400);

        check_date("\"2025-02-29\"", false, 0);
        check_date("\"1900-02-29\"", false, 0);
        check_date("\"2100-02-29\"", false, 0);
        check_date("\"2025-04-31\"", false, 0);
        check_date("\"2025-13-01\"", false, 0);
        check_date("\"2025-00-10\"", false, 0);
        check_date("\"2025-01-00\"", false, 0);
        check_date("\"1969-12-31\"", false, 0);
        check_date("\"2025-1-01\"", false, 0);
        check_date("\"2025-01-1\"", false, 0);
        check_date("\"2025/01/01\"", false, 0);
        check_date("\"2025-01-01T00:00:00Z\"", false, 0);
        check_date("\" 2025-01-01\"", false, 0);
        check_date("\"+025-01-01\"", false, 0);
        check_date("\"2025-01-0\\u0000\"", false, 0);
        check_date("\"\"", false, 0);
        check_date("20250101", false, 0);
        check_date("null", false, 0);
        check_date("[\"2025-01-01\"]", false, 0);
}

static void check_rollout(const char *value, int expected) {
        _cleanup_free_ char *json = strdup_printf(
                "{\"latest\": {\"version\": \"v0.56.3\", \"rollout\": %s}}", value);
        Feed *f = parse_ok(json, false);

        if (f->releases[0].rollout != expected)
                fail_msg("rollout %s: expected %d, got %d", value, expected, f->releases[0].rollout);
        feed_free(f);
}

static void test_rollout(void **state) {
        check_rollout("0", 0);
        check_rollout("1", 1);
        check_rollout("50", 50);
        check_rollout("100", 100);
        check_rollout("-1", -1);
        check_rollout("101", -1);
        check_rollout("-100", -1);
        check_rollout("4294967346", -1); /* 2^32 + 50 */
        check_rollout("99999999999999999999999", -1);
        check_rollout("50.0", -1);
        check_rollout("5e1", -1);
        check_rollout("\"50\"", -1);
        check_rollout("true", -1);
        check_rollout("null", -1);
        check_rollout("[50]", -1);
        check_rollout("NaN", -1); /* json-c takes NaN and Infinity even when strict */
        check_rollout("-Infinity", -1);
}

static void test_highlights(void **state) {
        _cleanup_free_ char *json = NULL, *many = NULL, *big = NULL;
        Feed *f;

        /* Control characters (C0, DEL, C1) become '?', the rest of UTF-8 stays. */
        f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\", \"highlights\": ["
                "\"a\\u001b]0;pwned\\u0007b\", 1, null, \"caf\\u00e9 \\u2192 ok\", \"x\\u007fy\\u009bz\","
                "\"nul\\u0000byte\", [\"nested\"], \"\"]}}",
                false);
        assert_int_equal(strv_length(f->releases[0].highlights), 4);
        assert_string_equal(f->releases[0].highlights[0], "a?]0;pwned?b");
        assert_string_equal(f->releases[0].highlights[1], "caf\xc3\xa9 \xe2\x86\x92 ok");
        assert_string_equal(f->releases[0].highlights[2], "x?y??z");
        assert_string_equal(f->releases[0].highlights[3], "");
        feed_free(f);

        /* json-c lets overlong forms, surrogates and raw control characters through. */
        f = parse_ok(
                "{\"latest\": {\"version\": \"v0.56.3\", \"highlights\": ["
                "\"a\xc0\xaf"
                "b\", \"c\xed\xa0\x80\", \"d\x01\x1b\", \"\xe0\x80\xaf\", \"\xf4\x90\x80\x80|\xf0\x9f\x98\x80\"]}}",
                false);
        assert_int_equal(strv_length(f->releases[0].highlights), 5);
        assert_string_equal(f->releases[0].highlights[0], "a??b");
        assert_string_equal(f->releases[0].highlights[1], "c???");
        assert_string_equal(f->releases[0].highlights[2], "d??");
        assert_string_equal(f->releases[0].highlights[3], "???");
        assert_string_equal(f->releases[0].highlights[4], "????|\xf0\x9f\x98\x80");
        feed_free(f);

        /* At most FEED_HIGHLIGHTS_MAX, each at most FEED_STRING_MAX bytes. */
        many = strdup("");
        for (unsigned i = 0; i < 80; i++) {
                char *s = strdup_printf("%s%s\"h%u\"", many, i ? "," : "", i);

                free(many);
                many = s;
        }
        big = malloc(FEED_STRING_MAX + 2);
        assert_non_null(big);
        memset(big, 'x', FEED_STRING_MAX + 1);
        big[FEED_STRING_MAX + 1] = '\0';
        json = strdup_printf(
                "{\"latest\": {\"version\": \"v0.56.3\", \"highlights\": [\"%s\", \"%.*s\", %s]}}",
                big,
                (int) FEED_STRING_MAX,
                big,
                many);
        f = parse_ok(json, false);
        assert_int_equal(strv_length(f->releases[0].highlights), FEED_HIGHLIGHTS_MAX);
        assert_int_equal(strlen(f->releases[0].highlights[0]), FEED_STRING_MAX);
        assert_string_equal(f->releases[0].highlights[1], "h0");
        assert_string_equal(f->releases[0].highlights[FEED_HIGHLIGHTS_MAX - 1], "h48");
        feed_free(f);

        /* Not a list: none. */
        f = parse_ok("{\"latest\": {\"version\": \"v0.56.3\", \"highlights\": \"text\"}}", false);
        assert_null(f->releases[0].highlights[0]);
        feed_free(f);
}

static void check_url(const char *value, const char *expected) {
        _cleanup_free_ char *json = strdup_printf(
                "{\"latest\": {\"version\": \"v0.56.3\", \"announcement_url\": %s}}", value);
        Feed *f = parse_ok(json, false);

        if (expected)
                assert_string_equal(f->releases[0].announcement_url, expected);
        else if (f->releases[0].announcement_url)
                fail_msg("%s was accepted as a URL", value);
        feed_free(f);
}

static void test_announcement_url(void **state) {
        check_url(
                "\"https://www.metabase.com/releases/metabase-56\"",
                "https://www.metabase.com/releases/metabase-56");
        check_url("\"http://mirror.example/x?y=1#z\"", "http://mirror.example/x?y=1#z");
        check_url("\"javascript:alert(1)\"", NULL);
        check_url("\"file:///etc/passwd\"", NULL);
        check_url("\"https://a b\"", NULL);
        check_url("\"https://a\\nb\"", NULL);
        check_url("\"https://a\\u00e9\"", NULL);
        check_url("\"https://a\\u0000b\"", NULL);
        check_url("\"HTTPS://A\"", NULL);
        check_url("42", NULL);
        check_url("null", NULL);
}

static void test_not_json(void **state) {
        static const char nul[] = "{\"latest\": {\"version\": \"v0.56.3\"}}\0";

        parse_fails("", 0, -EBADMSG, "the feed is empty");
        parse_fails_str("<html>502 Bad Gateway</html>", "the feed is not JSON: ");
        parse_fails_str(
                "{\"latest\": {\"version\": \"v0.56.3\"}", "the feed is not JSON: it ends in the middle");
        parse_fails_str("{\"latest\": {\"version\": \"v0.56.3\"}} x", "the feed is not JSON: ");
        parse_fails_str("{\"latest\": {\"version\": \"v0.56.3\"}}{}", "the feed is not JSON: ");
        parse_fails(nul, sizeof(nul), -EBADMSG, "the feed is not JSON: it contains a NUL byte");
        /* strict JSON only */
        parse_fails_str("{\"latest\": {\"version\": \"v0.56.3\"},}", "the feed is not JSON: ");
        parse_fails_str("{'latest': {'version': 'v0.56.3'}}", "the feed is not JSON: ");
        parse_fails_str("/* x */ {\"latest\": {\"version\": \"v0.56.3\"}}", "the feed is not JSON: ");
        parse_fails_str(
                "{\"latest\": {\"version\": \"v0.56.3\", \"x\": \"\xff\xfe\"}}", "the feed is not JSON: ");
        parse_fails_str(
                "{\"latest\": {\"version\": \"v0.56.3\", \"x\": \"\xe2\x82\"}}", "the feed is not JSON: ");
        parse_fails_str("{\"latest\": {\"version\": \"v0.56.3\", \"x\": [1,]}}", "the feed is not JSON: ");
        parse_fails_str("{\"latest\": {\"version\": \"v0.56.3\", \"x\": 01}}", "the feed is not JSON: ");

        parse_fails_str("[]", "the feed is not a JSON object");
        parse_fails_str("\"latest\"", "the feed is not a JSON object");
        parse_fails_str("null", "the feed is not a JSON object");
        parse_fails_str("42", "the feed is not a JSON object");
}

static void test_no_latest(void **state) {
        parse_fails_str("{}", "the feed has no 'latest' release");
        parse_fails_str("{\"latest\": null}", "the feed has no 'latest' release");
        parse_fails_str(
                "{\"older\": [{\"version\": \"v0.56.3\"}], \"beta\": {\"version\": \"v0.57.0\"}}",
                "the feed has no 'latest' release");
        parse_fails_str(
                "{\"latest\": {\"version\": \"v0.56.4/../../x\"}, \"older\": [{\"version\": \"v0.56.3\"}]}",
                "the feed's 'latest' release is not valid: invalid version 'v0.56.4/../../x'");
        parse_fails_str("{\"latest\": \"v0.56.3\"}", "the feed's 'latest' release is not valid: not an object");
        parse_fails_str("{\"latest\": {}}", "the feed's 'latest' release is not valid: no version");
        parse_fails_str(
                "{\"latest\": {\"version\": [\"v0.56.3\"]}}",
                "the feed's 'latest' release is not valid: the version is not a string");
}

static void test_too_big(void **state) {
        size_t n = FEED_SIZE_MAX + 1;
        char *s = malloc(n);

        assert_non_null(s);
        memset(s, ' ', n);
        memcpy(s,
               "{\"latest\": {\"version\": \"v0.56.3\"}}",
               strlen("{\"latest\": {\"version\": \"v0.56.3\"}}"));
        parse_fails(s, n, -EFBIG, "the feed is larger than 4 MiB");

        /* Exactly the limit is fine. */
        {
                Feed *f = NULL;

                assert_int_equal(feed_parse(s, n - 1, false, &f, NULL), 0);
                assert_int_equal(f->n, 1);
                feed_free(f);
        }
        free(s);
}

static void test_deep_nesting(void **state) {
        /* Refused by json-c's own depth limit, which keeps an explicit stack: no recursion. */
        size_t n = 10000;
        char *s = malloc(2 * n + 64), *p;
        struct timespec a, b;
        Feed *f = NULL;

        assert_non_null(s);
        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.56.3\"}, \"x\": ");
        memset(p, '[', n);
        p += n;
        memset(p, ']', n);
        p += n;
        strcpy(p, "}");

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &a), 0);
        parse_fails_str(s, "the feed is not JSON: nested deeper than 16 levels");
        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &b), 0);
        assert_true((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 500000000L);

        /* 16 levels in all are fine: the top object and 15 arrays. */
        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.56.3\"}, \"x\": ");
        memset(p, '[', 15);
        p += 15;
        memset(p, ']', 15);
        p += 15;
        strcpy(p, "}");
        assert_int_equal(feed_parse(s, strlen(s), false, &f, NULL), 0);
        feed_free(f);

        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.56.3\"}, \"x\": ");
        memset(p, '[', 16);
        p += 16;
        memset(p, ']', 16);
        p += 16;
        strcpy(p, "}");
        parse_fails_str(s, "nested deeper than 16 levels");
        free(s);
}

static void test_too_complex(void **state) {
        /* "{}," costs json-c ~750 bytes: 4 MiB of them would take a gigabyte. */
        size_t n = FEED_CONTAINERS_MAX + 10;
        char *s = malloc(3 * n + 128), *p;
        Feed *f = NULL;

        assert_non_null(s);
        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.56.3\"}, \"x\": [");
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, i ? ",{}" : "{}");
        strcpy(p, "]}");
        parse_fails_str(s, "the feed is too complex: more than 16384 objects and arrays");
        free(s);

        n = FEED_COMMAS_MAX + 10;
        s = malloc(2 * n + 128);
        assert_non_null(s);
        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.56.3\"}, \"x\": [");
        for (size_t i = 0; i < n; i++)
                p = stpcpy(p, i ? ",0" : "0");
        strcpy(p, "]}");
        parse_fails_str(s, "the feed is too complex: more than 262144 values");
        free(s);

        /* What is inside strings does not count, escaped quotes included. */
        n = 3 * FEED_CONTAINERS_MAX;
        s = malloc(n + 128);
        assert_non_null(s);
        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.56.3\"}, \"x\": \"\\\"");
        for (size_t i = 0; i < n / 3; i++)
                p = stpcpy(p, "{[,");
        strcpy(p, "\\\\\"}");
        assert_int_equal(feed_parse(s, strlen(s), false, &f, NULL), 0);
        assert_int_equal(f->n, 1);
        feed_free(f);
        free(s);
}

static void test_release_limit(void **state) {
        size_t n = FEED_RELEASES_MAX + 500;
        char *s = malloc(40 * n + 128), *p;
        Feed *f;

        assert_non_null(s);
        p = stpcpy(s, "{\"latest\": {\"version\": \"v0.99.0\"}, \"older\": [");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s{\"version\": \"v0.%zu.%zu\"}", i ? "," : "", 98 - i / 100, 99 - i % 100);
        strcpy(p, "]}");

        f = parse_ok(s, false);
        assert_int_equal(f->n, FEED_RELEASES_MAX);
        assert_int_equal(f->n_rejected, 501);
        assert_string_equal(
                f->rejected_reason, "'older'[1999]: more than 2000 releases in the feed, the rest is ignored");
        assert_string_equal(f->releases[0].version, "v0.99.0");
        assert_string_equal(f->releases[1].version, "v0.98.99");
        for (size_t i = 1; i < f->n; i++)
                assert_true(mb_version_compare(&f->releases[i - 1].v, &f->releases[i].v) > 0);
        feed_free(f);
        free(s);
}

static void test_find(void **state) {
        Feed *f = parse_ok(realistic_feed, false);

        assert_string_equal(feed_find(f, "v0.56.3")->version, "v0.56.3");
        assert_string_equal(feed_find(f, "0.56.3")->version, "v0.56.3");
        assert_string_equal(feed_find(f, "v0.56.3.1")->version, "v0.56.3.1");
        assert_null(feed_find(f, "v0.56.3.0"));
        assert_null(feed_find(f, "v1.56.3"));
        assert_null(feed_find(f, "v0.56.2"));
        assert_null(feed_find(f, "v0.56.x"));
        assert_null(feed_find(f, ""));
        assert_null(feed_find(f, NULL));
        assert_null(feed_find(NULL, "v0.56.3"));
        feed_free(f);
}

#define H_LOWER "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H_MIXED "0123456789ABCDEF0123456789abcdef0123456789AbCdEf0123456789abcdef"

static void test_checksum(void **state) {
        static const char *const good[] = {
                H_LOWER,
                H_LOWER "\n",
                H_LOWER "\r\n",
                H_MIXED,
                H_LOWER "  metabase.jar",
                H_LOWER "  metabase.jar\n",
                H_LOWER " *metabase.jar\n",
                H_MIXED " *metabase.jar\r\n",
                H_LOWER "  target/uberjar/metabase.jar\n",
                H_LOWER "  /tmp/build/metabase.jar",
        };
        static const char *const bad[] = {
                "",
                "\n",
                H_LOWER "0",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
                " " H_LOWER,
                H_LOWER " ",
                H_LOWER "\n\n",
                H_LOWER "\r",
                H_LOWER "\n" H_LOWER "\n",
                H_LOWER " metabase.jar",
                H_LOWER "\tmetabase.jar",
                H_LOWER "   metabase.jar",
                H_LOWER "  metabase.jar ",
                H_LOWER "  other.jar",
                H_LOWER "  evilmetabase.jar",
                H_LOWER "  metabase.jar.sig",
                H_LOWER "  /metabase.jar\n",
                H_LOWER "  ",
                H_LOWER "  \n",
                H_LOWER "  metabase.jar\nx",
                H_LOWER "  dir/\x1b[2Jmetabase.jar",
                "SHA256 (metabase.jar) = " H_LOWER,
                "\\" H_LOWER "  metabase.jar",
        };
        char hex[65];

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                memset(hex, 'z', sizeof(hex));
                if (feed_checksum_parse(good[i], strlen(good[i]), hex) != 0)
                        fail_msg("rejected: \"%s\"", good[i]);
                assert_string_equal(hex, H_LOWER);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                memset(hex, 'z', sizeof(hex));
                if (feed_checksum_parse(bad[i], strlen(bad[i]), hex) != -EBADMSG)
                        fail_msg("accepted: \"%s\"", bad[i]);
                assert_true(hex[0] == 'z'); /* untouched */
        }

        /* A NUL inside is not a line ending. */
        assert_int_equal(feed_checksum_parse(H_LOWER "\0", 65, hex), -EBADMSG);
        assert_int_equal(feed_checksum_parse(H_LOWER "  metabase.jar\0", 79, hex), -EBADMSG);
        /* Only 'size' bytes count. */
        assert_int_equal(feed_checksum_parse(H_LOWER "garbage", 64, hex), 0);
        assert_int_equal(feed_checksum_parse(NULL, 0, hex), -EBADMSG);
}

static void check_url_for(const char *base, Edition e, const char *version, const char *expected) {
        _cleanup_free_ char *url = NULL;

        errno = 0;
        url = feed_download_url(base, e, version);
        if (expected) {
                if (!url)
                        fail_msg("no URL for %s %s", strempty(base), strempty(version));
                assert_string_equal(url, expected);
        } else {
                if (url)
                        fail_msg("a URL for %s %s: %s", strempty(base), strempty(version), url);
                assert_int_equal(errno, EINVAL);
        }
}

static void test_download_url(void **state) {
        check_url_for(
                "https://downloads.metabase.com",
                EDITION_OSS,
                "v0.56.3",
                "https://downloads.metabase.com/v0.56.3/metabase.jar");
        check_url_for(
                "https://downloads.metabase.com/",
                EDITION_OSS,
                "v0.56.3.1",
                "https://downloads.metabase.com/v0.56.3.1/metabase.jar");
        check_url_for(
                "https://downloads.metabase.com//",
                EDITION_ENTERPRISE,
                "v1.56.3",
                "https://downloads.metabase.com/enterprise/v1.56.3/metabase.jar");
        check_url_for(
                "https://mirror.example/metabase",
                EDITION_OSS,
                "0.56.3",
                "https://mirror.example/metabase/v0.56.3/metabase.jar");

        check_url_for("https://downloads.metabase.com", EDITION_OSS, "v0.56.4/../../x", NULL);
        check_url_for("https://downloads.metabase.com", EDITION_OSS, "v0.56.4?x=1", NULL);
        check_url_for("https://downloads.metabase.com", EDITION_OSS, "v0.56.x", NULL);
        check_url_for("https://downloads.metabase.com", EDITION_OSS, "", NULL);
        check_url_for("https://downloads.metabase.com", EDITION_OSS, NULL, NULL);
        check_url_for("https://downloads.metabase.com", EDITION_OSS, "v1.56.3", NULL);
        check_url_for("https://downloads.metabase.com", EDITION_ENTERPRISE, "v0.56.3", NULL);
        check_url_for("https://downloads.metabase.com", _EDITION_INVALID, "v0.56.3", NULL);
        check_url_for("", EDITION_OSS, "v0.56.3", NULL);
        check_url_for("/", EDITION_OSS, "v0.56.3", NULL);
        check_url_for(NULL, EDITION_OSS, "v0.56.3", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_realistic),
                cmocka_unit_test(test_promoted),
                cmocka_unit_test(test_minimal),
                cmocka_unit_test(test_rejected_versions),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_dates),
                cmocka_unit_test(test_rollout),
                cmocka_unit_test(test_highlights),
                cmocka_unit_test(test_announcement_url),
                cmocka_unit_test(test_not_json),
                cmocka_unit_test(test_no_latest),
                cmocka_unit_test(test_too_big),
                cmocka_unit_test(test_deep_nesting),
                cmocka_unit_test(test_too_complex),
                cmocka_unit_test(test_release_limit),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_checksum),
                cmocka_unit_test(test_download_url),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
