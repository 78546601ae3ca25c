/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "ui.h"

static void test_use_colors(void **state) {
        assert_true(ui_use_colors(true, NULL, "xterm-256color"));
        assert_true(ui_use_colors(true, "", "xterm"));
        assert_true(ui_use_colors(true, NULL, NULL));
        /* no-color.org: any non-empty value, even "0" */
        assert_false(ui_use_colors(true, "1", "xterm"));
        assert_false(ui_use_colors(true, "0", "xterm"));
        assert_false(ui_use_colors(true, NULL, "dumb"));
        assert_false(ui_use_colors(false, NULL, "xterm"));
        assert_string_equal(ui_color_on(UI_BAD, false), "");
        assert_string_equal(ui_color_off(UI_BAD, false), "");
        assert_string_equal(ui_color_on(UI_BAD, true), ANSI_RED);
        assert_string_equal(ui_color_off(UI_PLAIN, true), "");
}

static void test_status_color(void **state) {
        assert_int_equal(ui_status_color("State", "idle"), UI_GOOD);
        assert_int_equal(ui_status_color("State", "upgrading"), UI_NOTICE);
        assert_int_equal(ui_status_color("State", "rolling-back"), UI_BAD);
        assert_int_equal(ui_status_color("UnitActiveState", "active"), UI_GOOD);
        assert_int_equal(ui_status_color("UnitActiveState", "failed"), UI_BAD);
        assert_int_equal(ui_status_color("UnitActiveState", "activating"), UI_NOTICE);
        assert_int_equal(ui_status_color("LastResult", "committed"), UI_GOOD);
        assert_int_equal(ui_status_color("LastResult", "rolled back"), UI_BAD);
        assert_int_equal(ui_status_color("LastResult", "refused"), UI_NOTICE);
        assert_int_equal(ui_status_color("Staged", "v0.56.2 (verified)"), UI_NOTICE);
        assert_int_equal(ui_status_color("Staged", "v0.56.2 (refused: bad checksum)"), UI_BAD);
        assert_int_equal(ui_status_color("StatusText", "Rollback failed, needs a person: x"), UI_BAD);
        assert_int_equal(ui_status_color("LastCheck", "2025-01-01 ok: 3 releases"), UI_PLAIN);
        assert_int_equal(ui_status_color("LastCheck", "2025-01-01 failed: not JSON"), UI_NOTICE);
        assert_int_equal(ui_status_color("JarPath", "/opt/metabase/metabase.jar"), UI_PLAIN);
        assert_int_equal(ui_status_color("State", ""), UI_PLAIN);
}

static void test_parse_staged(void **state) {
        StagedInfo s;

        assert_int_equal(ui_parse_staged("v0.56.4 (downloading 45%, 120 MB)", &s), 0);
        assert_int_equal(s.state, STAGED_DOWNLOADING);
        assert_string_equal(s.version, "v0.56.4");
        assert_int_equal(s.percent, 45);
        assert_int_equal(s.megabytes, 120);
        assert_string_equal(s.detail, "downloading 45%, 120 MB)");

        assert_int_equal(ui_parse_staged("v0.56.4 (downloading, 12 MB)", &s), 0);
        assert_int_equal(s.state, STAGED_DOWNLOADING);
        assert_int_equal(s.percent, -1);
        assert_int_equal(s.megabytes, 12);

        assert_int_equal(ui_parse_staged("v0.56.4 (downloading its checksum)", &s), 0);
        assert_int_equal(s.state, STAGED_DOWNLOADING);
        assert_int_equal(s.percent, -1);
        assert_int_equal(s.megabytes, 0);

        assert_int_equal(ui_parse_staged("v0.56.4 (downloading 100%, 480 MB)", &s), 0);
        assert_int_equal(s.percent, 100);
        /* more than 100 is not a percentage */
        assert_int_equal(ui_parse_staged("v0.56.4 (downloading 250%, 1 MB)", &s), 0);
        assert_int_equal(s.percent, -1);

        assert_int_equal(ui_parse_staged("v1.56.3.1 (verified)", &s), 0);
        assert_int_equal(s.state, STAGED_VERIFIED);
        assert_string_equal(s.version, "v1.56.3.1");

        assert_int_equal(ui_parse_staged("v0.56.4 (refused: the SHA-256 differs)", &s), 0);
        assert_int_equal(s.state, STAGED_REFUSED);
        assert_string_equal(s.detail, "refused: the SHA-256 differs)");

        assert_int_equal(ui_parse_staged("v0.56.4 (verifying)", &s), 0);
        assert_int_equal(s.state, STAGED_OTHER);
        assert_int_equal(ui_parse_staged("v0.56.4", &s), 0);
        assert_int_equal(s.state, STAGED_OTHER);

        assert_int_equal(ui_parse_staged("", &s), 0);
        assert_int_equal(s.state, STAGED_NONE);
        assert_int_equal(ui_parse_staged(NULL, &s), 0);
        assert_int_equal(s.state, STAGED_NONE);

        assert_int_equal(ui_parse_staged("(downloading 3%)", &s), -EINVAL);
        assert_int_equal(ui_parse_staged("v0.56.4567890123456789012345678901234 (verified)", &s), -EINVAL);
}

static void test_progress_bar(void **state) {
        char buf[64];

        assert_string_equal(ui_progress_bar(0, 10, buf, sizeof(buf)), "[----------]");
        assert_string_equal(ui_progress_bar(45, 10, buf, sizeof(buf)), "[####------]");
        assert_string_equal(ui_progress_bar(100, 10, buf, sizeof(buf)), "[##########]");
        assert_string_equal(ui_progress_bar(150, 4, buf, sizeof(buf)), "[####]");
        assert_string_equal(ui_progress_bar(-1, 4, buf, sizeof(buf)), "[----]");
        assert_string_equal(ui_progress_bar(50, 0, buf, sizeof(buf)), "[]");
        /* truncated, still terminated */
        assert_string_equal(ui_progress_bar(50, 10, buf, 5), "[###");
        assert_string_equal(ui_progress_bar(50, 10, buf, 1), "");
}

static void assert_steps(const StepList *l, const char *expect) {
        char got[512] = "";
        static const char mark[] = {'.', '>', '+', 'x'};

        for (size_t i = 0; i < l->n; i++) {
                size_t k = strlen(got);
                snprintf(
                        got + k,
                        sizeof(got) - k,
                        "%s%c%s",
                        i ? " " : "",
                        mark[l->steps[i].state],
                        l->steps[i].name);
        }
        assert_string_equal(got, expect);
}

static void test_step_list_upgrade(void **state) {
        StepList l;

        step_list_init(&l, "upgrade");
        assert_steps(&l, ".preflight .stop .backup .swap .start .verify .settle");
        assert_int_equal(step_list_current(&l), -1);
        step_list_set(&l, "preflight");
        assert_steps(&l, ">preflight .stop .backup .swap .start .verify .settle");
        step_list_set(&l, "preflight"); /* the same again: nothing changes */
        assert_steps(&l, ">preflight .stop .backup .swap .start .verify .settle");
        step_list_set(&l, "stop");
        step_list_set(&l, "");
        assert_steps(&l, "+preflight >stop .backup .swap .start .verify .settle");
        /* a step not announced (no database to back up) is dropped, not claimed */
        step_list_set(&l, "swap");
        assert_steps(&l, "+preflight +stop >swap .start .verify .settle");
        step_list_set(&l, "start");
        step_list_set(&l, "verify");
        step_list_set(&l, "settle");
        assert_int_equal(step_list_current(&l), 5);
        step_list_finish(&l, "committed");
        assert_steps(&l, "+preflight +stop +swap +start +verify +settle");
}

static void test_step_list_rollback(void **state) {
        StepList l;

        step_list_init(&l, "upgrade");
        step_list_set(&l, "preflight");
        step_list_set(&l, "stop");
        step_list_set(&l, "backup");
        step_list_set(&l, "swap");
        step_list_set(&l, "start");
        step_list_set(&l, "verify");
        /* verification failed: the step it left is the failed one, the rollback is planned */
        step_list_set(&l, "rollback-stop");
        assert_steps(
                &l,
                "+preflight +stop +backup +swap +start xverify >rollback-stop .rollback-restore "
                ".rollback-start .rollback-verify");
        step_list_set(&l, "rollback-restore");
        step_list_set(&l, "rollback-start");
        step_list_set(&l, "rollback-verify");
        step_list_finish(&l, "rolled-back");
        assert_steps(
                &l,
                "+preflight +stop +backup +swap +start xverify +rollback-stop +rollback-restore "
                "+rollback-start +rollback-verify");

        /* the rollback failed too */
        step_list_init(&l, "upgrade");
        step_list_set(&l, "settle");
        step_list_set(&l, "rollback-start");
        step_list_finish(&l, "rollback-failed");
        assert_steps(&l, "xsettle xrollback-start");

        /* refused in pre-flight */
        step_list_init(&l, "upgrade");
        step_list_set(&l, "preflight");
        step_list_finish(&l, "refused");
        assert_steps(&l, "xpreflight");
}

static void test_step_list_other_kinds(void **state) {
        StepList l;

        step_list_init(&l, "backup");
        assert_steps(&l, ".preflight .backup");
        step_list_init(&l, "restore");
        assert_steps(&l, ".preflight .stop .backup .restore-database .start .verify .settle");
        step_list_init(&l, "rollback");
        step_list_set(&l, "preflight");
        step_list_set(&l, "stop");
        step_list_set(&l, "backup");
        step_list_set(&l, "swap");
        step_list_set(&l, "restore-database");
        assert_steps(&l, "+preflight +stop +backup +swap >restore-database .start .verify .settle");
        /* a kind it does not know: the steps as they come */
        step_list_init(&l, "migrate");
        assert_int_equal(l.n, 0);
        step_list_set(&l, "stop");
        step_list_set(&l, "start");
        step_list_finish(&l, "committed");
        assert_steps(&l, "+stop +start");
        step_list_init(&l, NULL);
        assert_int_equal(l.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_use_colors),
                cmocka_unit_test(test_status_color),
                cmocka_unit_test(test_parse_staged),
                cmocka_unit_test(test_progress_bar),
                cmocka_unit_test(test_step_list_upgrade),
                cmocka_unit_test(test_step_list_rollback),
                cmocka_unit_test(test_step_list_other_kinds),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
