/* SPDX-License-Identifier: MIT */
/* The files of state_dir that say what an interrupted operation did, through their owners: the
 * journal (journal.c) reads back what it wrote, tells "none" from "unreadable", sets an unreadable
 * one aside and says so again at the next start; the password copies (secrets.c) are root's 0600
 * files, and the stale ones go at start while an operation to resume keeps its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "journal.h"
#include "macro.h"
#include "secrets.h"
#include "strv.h"
#include "tmpdir.h"

static char *state_dir(const char *name) {
        char *d = path_join(tmpdir, name);
        assert_non_null(d);
        assert_int_equal(mkdir(d, 0700), 0);
        return d;
}

static bool exists(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join(dir, name);
        return access(p, F_OK) >= 0;
}

static void touch(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = path_join(dir, name);
        assert_int_equal(write_file_atomic(p, text, strlen(text), 0600), 0);
}

static Operation *sample(void) {
        Operation *op = calloc(1, sizeof(Operation));
        assert_non_null(op);
        op->id = 1795668123307;
        op->kind = OPERATION_UPGRADE;
        op->step = STEP_STOP;
        op->unit = strdup("metabase.service");
        op->from_version = strdup("v0.56.1");
        op->to_version = strdup("v0.56.2");
        op->jar_path = strdup("/opt/metabase/metabase.jar");
        op->db_kind = strdup("h2");
        op->db_file = strdup("/opt/metabase/metabase.db.mv.db");
        op->reason = strdup("");
        return op;
}

static void test_round_trip_and_remove(void **state) {
        _cleanup_free_ char *dir = state_dir("round-trip"), *bad = NULL;
        Operation *op = sample(), *back = NULL;
        int error = 1;

        assert_int_equal(journal_load(dir, &back, &bad, &error), 0); /* none */
        assert_null(back);
        assert_null(bad);
        assert_int_equal(error, 0);

        assert_int_equal(journal_save(dir, op), 0);
        assert_true(exists(dir, "operation.json"));
        assert_int_equal(journal_load(dir, &back, &bad, &error), 1);
        assert_non_null(back);
        assert_null(bad);
        assert_int_equal(back->id, op->id);
        assert_int_equal(back->step, STEP_STOP);
        assert_string_equal(back->to_version, "v0.56.2");
        operation_free(back);

        journal_remove(dir);
        assert_false(exists(dir, "operation.json"));
        assert_int_equal(journal_load(dir, &back, &bad, &error), 0);
        operation_free(op);
}

static void test_unreadable_set_aside(void **state) {
        _cleanup_free_ char *dir = state_dir("unreadable"), *bad = NULL, *expected = NULL;
        Operation *back = NULL;
        int error = 0;

        touch(dir, "operation.json", "{\"id\": 1, \"kind\": \"upgrade\", \"step\":");
        assert_int_equal(journal_load(dir, &back, &bad, &error), 0);
        assert_null(back);
        expected = journal_unreadable_path(dir);
        assert_string_equal(bad, expected);
        assert_true(error < 0);
        assert_false(exists(dir, "operation.json")); /* never read twice as if new */
        assert_true(exists(dir, "operation.json.unreadable"));
        bad = mfree_str(bad);

        /* the next start says it again until a person removes it */
        assert_int_equal(journal_load(dir, &back, &bad, &error), 0);
        assert_string_equal(bad, expected);
        assert_int_equal(error, -EBADMSG);
        bad = mfree_str(bad);
        assert_int_equal(unlink(expected), 0);
        assert_int_equal(journal_load(dir, &back, &bad, &error), 0);
        assert_null(bad);
        assert_int_equal(error, 0);
}

static void test_secret_written_for_root_alone(void **state) {
        _cleanup_free_ char *dir = state_dir("secret"), *path = NULL, *text = NULL;
        AppDb pg = {
                .kind = APPDB_POSTGRES,
                .host = (char *) "db.example",
                .port = 5432,
                .dbname = (char *) "metabase",
                .user = (char *) "mb",
                .password = (char *) "s3cr:t",
        };
        AppDb h2 = {.kind = APPDB_H2, .h2_file = (char *) "/opt/metabase/metabase.db.mv.db"};
        struct stat st;
        size_t n;

        path = secret_path(dir, SECRET_OPERATION);
        assert_non_null(path);
        assert_int_equal(secret_write(path, &pg), 0);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(read_full_file(path, 4096, &text, &n), 0);
        assert_non_null(strstr(text, "s3cr\\:t")); /* a .pgpass line, ':' escaped */
        /* H2 has no password to copy */
        assert_int_equal(secret_write(path, &h2), -EINVAL);
}

static void test_stale_cleared(void **state) {
        _cleanup_free_ char *dir = state_dir("stale");

        touch(dir, "appdb.secret", "x");
        touch(dir, "appdb.drop", "x");
        touch(dir, "appdb.probe", "x");
        touch(dir, "last-upgrade.json", "{}");
        /* an operation to resume keeps its own */
        secrets_clear_stale(dir, true);
        assert_true(exists(dir, "appdb.secret"));
        assert_false(exists(dir, "appdb.drop"));
        assert_false(exists(dir, "appdb.probe"));
        secrets_clear_stale(dir, false);
        assert_false(exists(dir, "appdb.secret"));
        assert_true(exists(dir, "last-upgrade.json")); /* nothing but its own */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip_and_remove),
                cmocka_unit_test(test_unreadable_set_aside),
                cmocka_unit_test(test_secret_written_for_root_alone),
                cmocka_unit_test(test_stale_cleared),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
