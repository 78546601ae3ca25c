/* SPDX-License-Identifier: MIT */
/* What notify_text() and notify_facts_json() say of each kind of finished operation: the webhook's
 * JSON, the command's environment and the journal entry are all made from them. */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "notify.h"
#include "operation.h"

#define T0 1795680000000000ULL /* 2026-11-26T08:00:00Z */

static Operation *op_new(OperationKind kind, Result result, const char *from, const char *to, const char *reason) {
        Operation *op = calloc(1, sizeof(Operation));

        assert_non_null(op);
        op->id = 42;
        op->kind = kind;
        op->result = result;
        op->step = STEP_DONE;
        op->from_version = from ? strdup(from) : NULL;
        op->to_version = to ? strdup(to) : NULL;
        op->reason = reason ? strdup(reason) : NULL;
        op->started_usec = T0;
        op->stopped_usec = T0 + 2 * 1000000ULL;
        op->serving_usec = T0 + 47 * 1000000ULL;
        op->down_usec = op->serving_usec - op->stopped_usec; /* down from the stop to healthy */
        op->finished_usec = T0 + 110 * 1000000ULL;
        return op;
}

static json_object *facts(const Operation *op) {
        char *s = notify_facts_json(op, "mb1.example.com");
        json_object *o;

        assert_non_null(s);
        o = json_tokener_parse(s);
        assert_non_null(o);
        free(s);
        return o;
}

static const char *member(json_object *o, const char *key) {
        json_object *v;
        assert_true(json_object_object_get_ex(o, key, &v));
        return json_object_get_string(v);
}

static double number(json_object *o, const char *key) {
        json_object *v;
        assert_true(json_object_object_get_ex(o, key, &v));
        return json_object_get_double(v);
}

static void test_committed(void **state) {
        Operation *op = op_new(OPERATION_UPGRADE, RESULT_COMMITTED, "v0.56.1", "v0.56.2", NULL);
        json_object *o = facts(op);

        assert_string_equal(
                member(o, "text"),
                "Metabase on mb1.example.com upgraded from v0.56.1 to v0.56.2 (Metabase down 45 s)");
        assert_string_equal(member(o, "host"), "mb1.example.com");
        assert_string_equal(member(o, "operation"), "upgrade");
        assert_string_equal(member(o, "result"), "committed");
        assert_string_equal(member(o, "version_from"), "v0.56.1");
        assert_string_equal(member(o, "version_to"), "v0.56.2");
        assert_true(number(o, "duration_sec") == 110.0);
        assert_true(number(o, "downtime_sec") == 45.0);   /* the stop to the first healthy answer */
        assert_null(json_object_object_get(o, "reason")); /* null, not "" */
        assert_int_equal(json_object_get_int64(json_object_object_get(o, "id")), 42);
        assert_string_equal(member(o, "time"), "2026-11-26T08:01:50Z");
        json_object_put(o);
        operation_free(op);
}

static void test_rolled_back(void **state) {
        Operation *op = op_new(
                OPERATION_UPGRADE, RESULT_ROLLED_BACK, "v0.56.1", "v0.56.2", "Metabase exited (status 1)");
        json_object *o;

        /* the new version crashed at 80 s while settling, the old one healthy again at 100 s */
        operation_down_begin(op, T0 + 80 * 1000000ULL);
        operation_down_end(op, T0 + 100 * 1000000ULL);
        o = facts(op);
        assert_string_equal(
                member(o, "text"),
                "Metabase on mb1.example.com: the upgrade v0.56.1 -> v0.56.2 failed and was rolled back, v0.56.1 is "
                "serving (Metabase down 65 s): Metabase exited (status 1)");
        assert_string_equal(member(o, "result"), "rolled-back");
        assert_string_equal(member(o, "reason"), "Metabase exited (status 1)");
        assert_true(number(o, "downtime_sec") == 65.0); /* both periods, not the healthy 33 s between */
        json_object_put(o);
        operation_free(op);
}

static void test_rollback_failed_and_refused(void **state) {
        Operation *op = op_new(
                OPERATION_UPGRADE, RESULT_ROLLBACK_FAILED, "v0.56.1", "v0.56.2", "the kept JAR changed");
        char *t = notify_text(op, "h");

        assert_string_equal(
                t,
                "Metabase on h NEEDS A PERSON: the upgrade v0.56.1 -> v0.56.2 failed and so did its rollback: the "
                "kept JAR changed (see mbctl status)");
        free(t);
        operation_free(op);

        op = op_new(OPERATION_UPGRADE, RESULT_REFUSED, "v0.56.1", "v0.57.0", "needs Java 21");
        op->stopped_usec = op->serving_usec = 0;
        t = notify_text(op, "h");
        assert_string_equal(
                t,
                "Metabase on h: the upgrade v0.56.1 -> v0.57.0 was refused, nothing was changed: needs Java 21");
        free(t);
        json_object *o = facts(op);
        assert_true(number(o, "downtime_sec") == 0.0);
        json_object_put(o);
        operation_free(op);
}

static void test_rollback_backup_restore(void **state) {
        Operation *op = op_new(OPERATION_ROLLBACK, RESULT_COMMITTED, "v0.56.2", "v0.56.1", NULL);
        char *t = notify_text(op, "h");

        assert_string_equal(t, "Metabase on h rolled back from v0.56.2 to v0.56.1 (Metabase down 45 s)");
        free(t);
        operation_free(op);

        op = op_new(OPERATION_BACKUP, RESULT_COMMITTED, "v0.56.1", NULL, NULL);
        op->backup_path = strdup("/var/lib/mbupgraded/backups/x/metabase.dump");
        t = notify_text(op, "h");
        assert_string_equal(
                t,
                "Metabase on h: application database backed up (v0.56.1) to /var/lib/mbupgraded/backups/x/metabase.dump");
        free(t);
        json_object *o = facts(op);
        assert_null(json_object_object_get(o, "version_to"));
        json_object_put(o);
        operation_free(op);
}

/* Quotes, newlines and non-ASCII in a reason stay valid JSON (json-c writes it). */
static void test_hostile_reason(void **state) {
        Operation *op = op_new(
                OPERATION_UPGRADE,
                RESULT_FAILED,
                "v0.56.1",
                "v0.56.2",
                "a \"quoted\"\nline\\ and \x01 ctl, ünïcode");
        json_object *o = facts(op);

        assert_string_equal(member(o, "reason"), "a \"quoted\"\nline\\ and \x01 ctl, ünïcode");
        json_object_put(o);
        operation_free(op);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_committed),
                cmocka_unit_test(test_rolled_back),
                cmocka_unit_test(test_rollback_failed_and_refused),
                cmocka_unit_test(test_rollback_backup_restore),
                cmocka_unit_test(test_hostile_reason),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
