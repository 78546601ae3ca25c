/* SPDX-License-Identifier: MIT */
/* daemon/zero-downtime.c: the decision whether an upgrade may take the zero-downtime path. Each
 * condition failing alone gives its own reason; all holding gives yes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "strv.h"
#include "zero-downtime.h"

static bool memory_fits(void *userdata, char **ret_reason) {
        const char *why = userdata;

        if (!why)
                return true;
        *ret_reason = strdup(why);
        return false;
}

static char *jar_ids[] = {"v55.001", "v56.2025-06-05T16:48:48", "v56.2025-06-06T20:11:53", NULL};
static char *applied_all[] = {"v56.2025-06-06T20:11:53", "v54.999", "v55.001", "v56.2025-06-05T16:48:48", NULL};

/* Every condition holds. */
static ZeroDowntimeFacts eligible(void) {
        return (ZeroDowntimeFacts){
                .to = "v0.56.4",
                .db_kind = "postgres",
                .jar_changesets = jar_ids,
                .staged = true,
                .applied = applied_all,
                .proxy = 0,
                .memory_ok = memory_fits,
        };
}

static void assert_no(const ZeroDowntimeFacts *f, ZeroDowntimeCheck expect, const char *says) {
        _cleanup_free_ char *reason = NULL, *summary = NULL;
        ZeroDowntimeCheck failed = _ZERO_DOWNTIME_CHECK_MAX;

        assert_int_equal(zero_downtime_decide(f, &failed, &reason), 0);
        assert_int_equal(failed, expect);
        assert_non_null(reason);
        if (!strstr(reason, says))
                fail_msg("reason \"%s\" does not say \"%s\"", reason, says);
        summary = zero_downtime_summary(f);
        assert_non_null(summary);
        assert_true(strncmp(summary, "no: ", 4) == 0);
        assert_string_equal(summary + 4, reason);
}

static void test_all_hold(void **state) {
        ZeroDowntimeFacts f = eligible();
        _cleanup_free_ char *reason = NULL, *summary = NULL;

        (void) state;
        assert_int_equal(zero_downtime_decide(&f, NULL, &reason), 1);
        assert_null(reason);
        summary = zero_downtime_summary(&f);
        assert_string_equal(summary, "yes");
        /* MySQL/MariaDB too */
        f.db_kind = "mysql";
        assert_int_equal(zero_downtime_decide(&f, NULL, &reason), 1);
}

static void test_setting_never(void **state) {
        ZeroDowntimeFacts f = eligible();

        (void) state;
        f.never = true;
        assert_no(&f, ZERO_DOWNTIME_SETTING, "upgrade.zero_downtime is never");
}

static void test_h2(void **state) {
        ZeroDowntimeFacts f = eligible();

        (void) state;
        f.db_kind = "h2";
        assert_no(&f, ZERO_DOWNTIME_DATABASE, "H2, which two Metabase processes can't open");
        f.db_kind = NULL;
        assert_no(&f, ZERO_DOWNTIME_DATABASE, "not known");
}

static void test_migration_in_jar(void **state) {
        char *more[] = {
                "v55.001", "v56.2025-06-05T16:48:48", "v56.2025-06-06T20:11:53", "v56.2025-07-02T11:52:19", NULL};
        char *many[] = {"a1", "a2", "a3", "a4", "a5", "a6", "a7", NULL};
        ZeroDowntimeFacts f = eligible();

        (void) state;
        f.jar_changesets = more;
        assert_no(
                &f,
                ZERO_DOWNTIME_MIGRATIONS,
                "v0.56.4 adds 1 change set to the application database (v56.2025-07-02T11:52:19)");
        f.jar_changesets = many;
        assert_no(
                &f,
                ZERO_DOWNTIME_MIGRATIONS,
                "adds 7 change sets to the application database (a1, a2, a3, a4, a5 and 2 more)");
        /* not recorded, not downloaded yet, not read */
        f.jar_changesets = NULL;
        assert_no(
                &f,
                ZERO_DOWNTIME_MIGRATIONS,
                "were not recorded when it was staged (stage it again, or rehearse it: mbctl rehearse v0.56.4)");
        f.staged = false;
        assert_no(
                &f,
                ZERO_DOWNTIME_MIGRATIONS,
                "is known once it is downloaded (staged) or rehearsed (mbctl rehearse v0.56.4)");
        f.staged = true;
        f.jar_changesets = jar_ids;
        f.applied = NULL;
        assert_no(&f, ZERO_DOWNTIME_MIGRATIONS, "DATABASECHANGELOG could not be read");
        /* an empty database (nothing applied) lacks them all */
        char *none[] = {NULL};
        f.applied = none;
        assert_no(&f, ZERO_DOWNTIME_MIGRATIONS, "adds 3 change sets");
}

/* Way (b): a passed rehearsal decides, whatever the JAR's record says. */
static void test_rehearsal(void **state) {
        char *applied[] = {"v56.004", NULL};
        ZeroDowntimeFacts f = eligible();
        _cleanup_free_ char *reason = NULL;

        (void) state;
        f.jar_changesets = NULL;
        f.rehearsal = ZERO_DOWNTIME_REHEARSAL_NO_CHANGE;
        assert_int_equal(zero_downtime_decide(&f, NULL, &reason), 1);
        f.rehearsal = ZERO_DOWNTIME_REHEARSAL_MIGRATED;
        f.rehearsal_applied = applied;
        assert_no(&f, ZERO_DOWNTIME_MIGRATIONS, "its rehearsal applied v56.004");
}

static void test_proxy(void **state) {
        ZeroDowntimeFacts f = eligible();

        (void) state;
        f.proxy = -EOPNOTSUPP;
        assert_no(&f, ZERO_DOWNTIME_PROXY, "proxy.url and proxy.upstream_file");
        f.proxy_reason = "proxy.upstream_file's directory /run/x is not root's alone";
        assert_no(&f, ZERO_DOWNTIME_PROXY, "/run/x is not root's alone");
}

static void test_memory(void **state) {
        ZeroDowntimeFacts f = eligible();

        (void) state;
        f.memory_userdata = (void *) "MemAvailable 700 MiB, a second Metabase needs 1.2 GiB";
        assert_no(&f, ZERO_DOWNTIME_MEMORY, "MemAvailable 700 MiB");
        f.memory_ok = NULL;
        assert_no(&f, ZERO_DOWNTIME_MEMORY, "can't check the memory");
}

/* The first failing condition is the one named. */
static void test_order(void **state) {
        ZeroDowntimeFacts f = eligible();

        (void) state;
        f.db_kind = "h2";
        f.proxy = -EOPNOTSUPP;
        f.memory_ok = NULL;
        assert_no(&f, ZERO_DOWNTIME_DATABASE, "H2");
        assert_string_equal(zero_downtime_check_to_string(ZERO_DOWNTIME_MIGRATIONS), "migrations");
        assert_null(zero_downtime_check_to_string(_ZERO_DOWNTIME_CHECK_MAX));
}

/* A fleet's rolling rollout asks neither nginx nor the memory, and still the rest. */
static void test_rolling(void **state) {
        static char *jar_more[] = {"v55.001", "v56.002", NULL};
        ZeroDowntimeFacts f = eligible();
        _cleanup_free_ char *yes = NULL, *never = NULL, *h2 = NULL, *migrates = NULL, *whole = NULL;

        (void) state;
        f.proxy = -EOPNOTSUPP;
        f.memory_ok = NULL;
        yes = zero_downtime_summary_rolling(&f);
        assert_string_equal(yes, "yes");
        whole = zero_downtime_summary(&f);
        assert_true(strncmp(whole, "no: ", 4) == 0);
        f.jar_changesets = jar_more;
        migrates = zero_downtime_summary_rolling(&f);
        assert_non_null(
                strstr(migrates, "no: v0.56.4 adds 1 change set to the application database (v56.002)"));
        f.db_kind = "h2";
        h2 = zero_downtime_summary_rolling(&f);
        assert_true(strncmp(h2, "no: the application database is H2", 34) == 0);
        f.never = true;
        never = zero_downtime_summary_rolling(&f);
        assert_true(strncmp(never, "no: upgrade.zero_downtime is never", 34) == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_hold),
                cmocka_unit_test(test_setting_never),
                cmocka_unit_test(test_h2),
                cmocka_unit_test(test_migration_in_jar),
                cmocka_unit_test(test_rehearsal),
                cmocka_unit_test(test_proxy),
                cmocka_unit_test(test_memory),
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_rolling),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
