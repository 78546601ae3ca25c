/* SPDX-License-Identifier: MIT */
/* The journal: an operation survives a save/load round trip field by field, a damaged journal
 * is refused, and results map to mbctl's exit codes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "operation.h"
#include "strv.h"
#include "tmpdir.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static Operation *sample(void) {
        Operation *op = calloc(1, sizeof(Operation));
        op->id = 1795668123307;
        op->kind = OPERATION_ROLLBACK;
        op->step = STEP_ROLLBACK_RESTORE;
        op->result = RESULT_NONE;
        op->force = true;
        op->unit = strdup("metabase.service");
        op->from_version = strdup("v0.56.1");
        op->to_version = strdup("v0.56.2");
        op->from_sha256 = strdup(SHA_A);
        op->jar_path = strdup("/opt/metabase/metabase.jar");
        op->staged_path = strdup("/opt/metabase/.metabase.jar.mbup-staged");
        op->kept_jar = strdup("/var/lib/mbupgraded/releases/v0.56.1/metabase.jar");
        op->jar_uid = 998;
        op->jar_gid = 997;
        op->jar_mode = 0640;
        op->swapped = true;
        op->keep_data = true;
        op->db_kind = strdup("h2");
        op->db_file = strdup("/opt/metabase/metabase.db.mv.db");
        op->backup_path = strdup("/var/lib/mbupgraded/backups/x/metabase.db.mv.db");
        op->backup_sha256 = strdup(SHA_B);
        op->backup_done = true;
        op->main_pid = 4242;
        op->started_usec = 1;
        op->stopped_usec = 2000000;
        op->serving_usec = 3500000;
        op->reason = strdup("Metabase reports version \"v0.56.1\", expected v0.56.2");
        return op;
}

static void test_round_trip(void **state) {
        _cleanup_free_ char *path = path_join(tmpdir, "operation.json");
        Operation *op = sample(), *back = NULL;

        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(operation_load(path, &back), 0);
        assert_int_equal(back->id, op->id);
        assert_int_equal(back->kind, OPERATION_ROLLBACK);
        assert_int_equal(back->step, STEP_ROLLBACK_RESTORE);
        assert_true(back->force);
        assert_true(back->swapped);
        assert_true(back->keep_data);
        assert_true(back->backup_done);
        assert_int_equal(back->jar_uid, 998);
        assert_int_equal(back->jar_gid, 997);
        assert_int_equal(back->jar_mode, 0640);
        assert_int_equal(back->main_pid, 4242);
        assert_string_equal(back->kept_jar, op->kept_jar);
        assert_string_equal(back->backup_sha256, SHA_B);
        assert_string_equal(back->reason, op->reason);
        assert_null(back->restore_path);
        assert_int_equal(back->fleet_rollout, 0);
        assert_false(back->fleet_converge);
        operation_free(op);
        operation_free(back);

        /* A node's part of a fleet's rollout survives a restart; the gates are not kept. */
        op = sample();
        op->fleet_rollout = 17;
        op->fleet_converge = true;
        op->fleet_gate = 2;
        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(operation_load(path, &back), 0);
        assert_int_equal(back->fleet_rollout, 17);
        assert_true(back->fleet_converge);
        assert_int_equal(back->fleet_gate, 0);
        operation_free(op);
        operation_free(back);
}

/* Who started it survives a restart (a resumed operation keeps it), and the history and a person
 * read it; a journal from before it was recorded reads as "unknown", a forged one not at all. */
static void test_initiator(void **state) {
        _cleanup_free_ char *path = path_join(tmpdir, "operation-who.json"), *s = NULL, *desc = NULL;
        Operation *op = sample(), *back = NULL;

        op->initiator = (Initiator){.kind = INITIATOR_MBCTL, .uid = 1001, .user = "alice", .force = true};
        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(operation_load(path, &back), 0);
        assert_int_equal(back->initiator.kind, INITIATOR_MBCTL);
        assert_int_equal(back->initiator.uid, 1001);
        assert_string_equal(back->initiator.user, "alice");
        assert_true(back->initiator.force);
        assert_false(back->initiator.dry_run);
        desc = initiator_describe(&back->initiator);
        assert_string_equal(desc, "by alice (uid 1001), --force");
        s = operation_to_history_json(back);
        assert_non_null(strstr(
                s,
                "\"initiator\":{\"kind\":\"mbctl\",\"text\":\"by alice (uid 1001), --force\",\"uid\":1001,"
                "\"user\":\"alice\",\"force\":true,\"dry_run\":false}"));
        operation_free(back);
        free(desc);

        /* a plan's second hop, started by the window timer */
        op->initiator = (Initiator){.kind = INITIATOR_WINDOW, .plan = 7, .hop = 2, .hops = 2};
        desc = initiator_describe(&op->initiator);
        assert_string_equal(desc, "by the window timer, hop 2 of 2 of plan 7");
        free(desc);
        op->initiator = (Initiator){.kind = INITIATOR_FLEET, .rollout = 12};
        desc = initiator_describe(&op->initiator);
        assert_string_equal(desc, "by fleet rollout 12");
        free(desc);
        op->initiator = (Initiator){.kind = INITIATOR_IMMEDIATELY};
        desc = initiator_describe(&op->initiator);
        assert_string_equal(desc, "by policy.apply: immediately");
        free(desc);
        desc = NULL;

        /* a journal from before: unknown; an unknown kind or a user with a newline: damaged */
        const char *old =
                "{\"id\":5,\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"m.service\",\"jar_path\":\"\"}";
        assert_int_equal(operation_parse(old, strlen(old), &back), 0);
        assert_int_equal(back->initiator.kind, INITIATOR_UNKNOWN);
        operation_free(back);
        const char *bad_kind = "{\"id\":5,\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"m.service\","
                               "\"jar_path\":\"\",\"initiator\":{\"kind\":\"god\"}}";
        assert_int_equal(operation_parse(bad_kind, strlen(bad_kind), &back), -EBADMSG);
        const char *bad_user = "{\"id\":5,\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"m.service\","
                               "\"jar_path\":\"\",\"initiator\":{\"kind\":\"mbctl\",\"user\":\"a\\nb\"}}";
        assert_int_equal(operation_parse(bad_user, strlen(bad_user), &back), -EBADMSG);
        operation_free(op);
}

static void test_history_json(void **state) {
        Operation *op = sample();
        _cleanup_free_ char *s = NULL;

        op->result = RESULT_ROLLED_BACK;
        /* down from the stop to the new version's first healthy answer, up while it settled,
         * down again from its crash to the old version's healthy answer */
        operation_down_begin(op, op->stopped_usec);
        operation_down_end(op, op->serving_usec);
        operation_down_begin(op, 9000000);
        operation_down_begin(op, 9500000); /* the rollback's stop: the period is open already */
        operation_down_end(op, 11000000);
        operation_down_end(op, 12000000); /* nothing open: nothing added */
        op->finished_usec = 12000000;
        assert_int_equal(operation_downtime_usec(op), 3500000);
        s = operation_to_history_json(op);
        assert_non_null(s);
        assert_non_null(strstr(s, "\"result\":\"rolled-back\""));
        assert_non_null(strstr(s, "\"downtime_ms\":3500"));
        assert_non_null(strstr(s, "\"kind\":\"rollback\""));
        assert_non_null(strstr(s, "\"stopped_usec\":2000000,\"serving_usec\":3500000"));
        assert_null(strstr(s, "fleet_rollout"));
        assert_null(strchr(s, '\n'));
        /* history_append() looks entries up by this prefix */
        assert_true(startswith(s, "{\"id\":1795668123307,"));
        free(s);
        op->fleet_rollout = 3;
        s = operation_to_history_json(op);
        assert_non_null(strstr(s, "\"fleet_rollout\":3"));
        operation_free(op);
}

/* The down periods survive a restart; a journal from before them counts from its stop and first
 * healthy answer; a resumed daemon counts what it could not watch. */
static void test_down_periods(void **state) {
        _cleanup_free_ char *path = path_join(tmpdir, "operation.json");
        Operation *op = sample(), *back = NULL;
        const char *older =
                "{\"id\":1,\"kind\":\"upgrade\",\"step\":\"rollback-start\",\"unit\":\"metabase.service\","
                "\"jar_path\":\"/opt/metabase/metabase.jar\",\"stopped_usec\":2000000,\"serving_usec\":3500000}";

        operation_down_begin(op, 2000000);
        operation_down_end(op, 3500000);
        operation_down_begin(op, 7000000);
        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(operation_load(path, &back), 0);
        assert_int_equal(back->down_usec, 1500000);
        assert_int_equal(back->down_at_usec, 7000000);
        /* dead from 7 s to 20 s: the open period runs on */
        operation_down_resumed(back, 20000000);
        assert_int_equal(back->down_at_usec, 7000000);
        operation_down_end(back, 21000000);
        back->finished_usec = 22000000;
        assert_int_equal(operation_downtime_usec(back), 1500000 + 14000000);
        operation_free(back);

        /* closed when the daemon died (settling), the same Metabase process serving after it: open
         * again from the resume to the first healthy answer */
        op->step = STEP_SETTLE;
        operation_down_end(op, 8000000);
        assert_int_equal(op->up_usec, 8000000);
        operation_down_resumed(op, 30000000);
        assert_int_equal(op->down_at_usec, 30000000);
        operation_down_started(op, 4242);
        assert_int_equal(op->down_at_usec, 30000000);
        operation_down_end(op, 30200000);
        op->finished_usec = 40000000;
        assert_int_equal(operation_downtime_usec(op), 1500000 + 1000000 + 200000);
        /* another process after the resume's start: it went down while nobody watched, counted
         * from the last healthy answer; later starts (the rollback's) change nothing */
        op->main_pid = 4242;
        operation_down_resumed(op, 50000000);
        operation_down_started(op, 5151);
        assert_int_equal(op->down_at_usec, 30200000);
        operation_down_started(op, 6161);
        assert_int_equal(op->down_at_usec, 30200000);
        operation_down_end(op, 51000000);
        assert_int_equal(operation_downtime_usec(op), 2700000 + 20800000);
        op->down_usec = 2700000;
        /* a period still open at the end counts to the end (a failed rollback) */
        operation_down_begin(op, 39000000);
        assert_int_equal(operation_downtime_usec(op), 2700000 + 1000000);
        operation_free(op);

        /* an older daemon's journal, interrupted while rolling back */
        assert_int_equal(operation_parse(older, strlen(older), &back), 0);
        assert_int_equal(back->down_usec, 1500000);
        assert_int_equal(back->down_at_usec, 3500000);
        operation_free(back);
}

static void test_damaged_journal(void **state) {
        _cleanup_free_ char *path = path_join(tmpdir, "bad.json");
        Operation *op = NULL;
        const char *bad[] = {
                "",
                "{",
                "[]",
                "{\"kind\":\"upgrade\",\"step\":\"stop\"}", /* no unit, jar */
                "{\"kind\":\"sideways\",\"step\":\"stop\",\"unit\":\"a\",\"jar_path\":\"/b\"}", /* bad kind */
                "{\"kind\":\"upgrade\",\"step\":\"fly\",\"unit\":\"a\",\"jar_path\":\"/b\"}", /* bad step */
                "{\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"a\",\"jar_path\":\"b\"}", /* relative */
                "{\"kind\":\"upgrade\",\"step\":\"swap\",\"unit\":\"a\",\"jar_path\":\"/b\","
                "\"staged_path\":\"/opt/../etc/passwd\"}",
                "{\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"a\",\"jar_path\":\"/b\","
                "\"to_version\":\"v0.56.2/../../x\"}",
                "{\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"a\",\"jar_path\":\"/b\","
                "\"backup_sha256\":\"xyz\"}",
                "{\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"a\",\"jar_path\":\"/b\","
                "\"backup_path\":\"/tmp/a\\nb\"}", /* a newline */
                "{\"kind\":\"upgrade\",\"step\":\"stop\",\"unit\":\"a\",\"jar_path\":\"/b\"}{}", /* trailing */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(write_file_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
                assert_int_equal(operation_load(path, &op), -EBADMSG);
                assert_null(op);
        }
        assert_int_equal(operation_load("/nonexistent/operation.json", &op), -ENOENT);

        /* what the daemon writes before pre-flight has read the unit parses */
        const char *ok = "{\"kind\":\"upgrade\",\"step\":\"preflight\",\"unit\":\"a\",\"jar_path\":\"\"}\n";
        assert_int_equal(operation_parse(ok, strlen(ok), &op), 0);
        op = operation_free(op);
}

/* One rule for writing and reading: whatever operation_save() writes, operation_load() reads
 * back; what it would refuse is never written (and the journal on disk is left as it was). */
static void test_save_load_one_rule(void **state) {
        _cleanup_free_ char *path = path_join(tmpdir, "rule.json"), *text = NULL, *after = NULL;
        const char *bad_paths[] = {
                "/opt/metabase/../metabase/metabase.jar",
                "/opt/metabase/./metabase.jar",
                "/opt//metabase.jar",
                "/opt/metabase/",
                "/opt/metabase/..",
                "opt/metabase.jar",
                "/opt/meta\tbase.jar",
        };
        Operation *op = sample(), *back = NULL;

        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad_paths); i++) {
                char **fields[] = {
                        &op->jar_path, &op->staged_path, &op->kept_jar, &op->db_file, &op->backup_path};
                for (size_t f = 0; f < ELEMENTSOF(fields); f++) {
                        char *was = *fields[f];
                        *fields[f] = (char *) bad_paths[i];
                        assert_int_equal(operation_save(op, path), -EINVAL);
                        /* and what was there is still there, and reads */
                        assert_int_equal(operation_load(path, &back), 0);
                        back = operation_free(back);
                        *fields[f] = was;
                }
        }
        assert_int_equal(read_full_file(path, 1 << 20, &after, NULL), 0);
        assert_string_equal(text, after);

        /* every step, kind and result written reads back */
        for (OperationKind k = 0; k < _OPERATION_KIND_MAX; k++)
                for (Step st = 0; st < _STEP_MAX; st++) {
                        op->kind = k;
                        op->step = st;
                        assert_int_equal(operation_save(op, path), 0);
                        assert_int_equal(operation_load(path, &back), 0);
                        assert_int_equal(back->kind, k);
                        assert_int_equal(back->step, st);
                        back = operation_free(back);
                }
        operation_free(op);
}

static void test_canonical_paths(void **state) {
        _cleanup_free_ char *dir = path_join(tmpdir, "canon"), *sub = path_join(tmpdir, "canon/sub"),
                            *in = NULL, *out = NULL;
        char *c = NULL;

        assert_true(path_is_canonical("/"));
        assert_true(path_is_canonical("/opt/metabase/metabase.jar"));
        assert_true(path_is_canonical("/opt/.metabase.jar.mbup-staged"));
        assert_true(path_is_canonical("/opt/..x/x.."));
        assert_false(path_is_canonical("/opt/../x"));
        assert_false(path_is_canonical("/opt/.."));
        assert_false(path_is_canonical("/opt/./x"));
        assert_false(path_is_canonical("/opt//x"));
        assert_false(path_is_canonical("//x"));
        assert_false(path_is_canonical("/opt/"));
        assert_false(path_is_canonical("x"));
        assert_false(path_is_canonical(""));
        assert_false(path_is_canonical("/a\nb"));

        assert_int_equal(mkdir_parents_and_self(sub, 0755), 0);
        /* "..", "." and "//" in the directory part resolved; the last component kept */
        in = strdup_printf("%s/sub/.././/sub/../metabase.jar", dir);
        out = path_join(dir, "metabase.jar");
        assert_int_equal(path_make_canonical(in, &c), 0);
        assert_true(path_is_canonical(c));
        assert_string_equal(c, out);
        c = mfree_str(c);
        /* a symbolic link before "..": the kernel's meaning differs from the text's, refused */
        {
                _cleanup_free_ char *deeper = path_join(sub, "deeper"), *link = path_join(dir, "link"),
                                    *via = path_join(dir, "link/../metabase.jar");
                assert_int_equal(mkdir_parents_and_self(deeper, 0755), 0);
                assert_int_equal(symlink(deeper, link), 0);
                assert_int_equal(path_make_canonical(via, &c), -ELOOP);
                assert_null(c);
        }
        c = mfree_str(c);
        assert_int_equal(path_make_canonical("/opt/metabase/metabase.jar", &c), 0);
        assert_string_equal(c, "/opt/metabase/metabase.jar");
        c = mfree_str(c);
        assert_int_equal(path_make_canonical("/opt/..", &c), -EINVAL);
        assert_int_equal(path_make_canonical("relative/x", &c), -EINVAL);
        assert_int_equal(path_make_canonical("/nonexistent-dir-mbup/../../x/../y/z", &c), -ENOENT);
        assert_null(c);
}

/* The zero-downtime path's journal: the flag, and the result its hand-back ends with (a daemon
 * that dies in switch-back ends the operation the same way). */
static void test_bridged_round_trip(void **state) {
        _cleanup_free_ char *path = path_join(tmpdir, "operation-bridged.json"), *history = NULL;
        Operation *op = sample(), *back = NULL;

        op->kind = OPERATION_UPGRADE;
        op->keep_data = false;
        op->bridged = true;
        op->step = STEP_SWITCH_BACK;
        op->result = RESULT_ROLLED_BACK;
        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(operation_load(path, &back), 0);
        assert_true(back->bridged);
        assert_int_equal(back->step, STEP_SWITCH_BACK);
        assert_int_equal(back->result, RESULT_ROLLED_BACK);
        assert_string_equal(step_to_string(STEP_BRIDGE_SETTLE), "bridge-settle");
        history = operation_to_history_json(op);
        assert_non_null(strstr(history, "\"bridged\":true"));
        operation_free(back);
        back = NULL;
        op->bridged = false;
        assert_int_equal(operation_save(op, path), 0);
        assert_int_equal(operation_load(path, &back), 0);
        assert_false(back->bridged);
        operation_free(back);
        operation_free(op);
}

static void test_tables(void **state) {
        for (Step s = 0; s < _STEP_MAX; s++)
                assert_int_equal(step_from_string(step_to_string(s)), s);
        for (Result r = 0; r < _RESULT_MAX; r++)
                assert_int_equal(result_from_string(result_to_string(r)), r);
        assert_int_equal(step_from_string("nope"), _STEP_INVALID);
        assert_int_equal(result_to_exit_status(RESULT_COMMITTED), 0);
        assert_int_equal(result_to_exit_status(RESULT_FAILED), 1);
        assert_int_equal(result_to_exit_status(RESULT_ROLLED_BACK), 3);
        assert_int_equal(result_to_exit_status(RESULT_ROLLBACK_FAILED), 4);
        assert_int_equal(result_to_exit_status(RESULT_REFUSED), 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_bridged_round_trip),
                cmocka_unit_test(test_initiator),
                cmocka_unit_test(test_history_json),
                cmocka_unit_test(test_down_periods),
                cmocka_unit_test(test_damaged_journal),
                cmocka_unit_test(test_save_load_one_rule),
                cmocka_unit_test(test_canonical_paths),
                cmocka_unit_test(test_tables),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
