/* SPDX-License-Identifier: MIT */
/* state_dir/last-upgrade.json through its one owner: what a committed upgrade writes is what a
 * rollback reads back; none, a damaged one and one without valid versions are told apart; a
 * committed rollback removes it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "last-upgrade.h"
#include "strv.h"
#include "tmpdir.h"

static char *state_dir(const char *name) {
        char *d = path_join(tmpdir, name);
        assert_non_null(d);
        assert_int_equal(mkdir(d, 0700), 0);
        return d;
}

static void write_raw(const char *dir, const char *text) {
        _cleanup_free_ char *path = path_join(dir, "last-upgrade.json");
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void test_round_trip(void **state) {
        _cleanup_free_ char *dir = state_dir("round-trip"), *path = NULL;
        LastUpgrade in = {
                .id = 1795668123307,
                .from = (char *) "v0.55.1",
                .to = (char *) "v0.56.2",
                .kept_jar = (char *) "/var/lib/mbupgraded/releases/v0.55.1/metabase.jar",
                .backup = (char *) "/var/lib/mbupgraded/backups/x/metabase.db.mv.db",
                .backup_sha256 = (char *) "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                .backup_usec = 1795668000000000,
                .committed_usec = 1795668123307000,
        };
        LastUpgrade out = {};
        struct stat st;

        assert_int_equal(last_upgrade_write(dir, &in), 0);
        path = path_join(dir, "last-upgrade.json");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(last_upgrade_read(dir, &out), 0);
        assert_int_equal(out.id, in.id);
        assert_string_equal(out.from, in.from);
        assert_string_equal(out.to, in.to);
        assert_string_equal(out.kept_jar, in.kept_jar);
        assert_string_equal(out.backup, in.backup);
        assert_string_equal(out.backup_sha256, in.backup_sha256);
        assert_int_equal(out.backup_usec, in.backup_usec);
        assert_int_equal(out.committed_usec, in.committed_usec);
        last_upgrade_done(&out);
        assert_null(out.from);

        /* no backup, no kept JAR: read back as "" */
        in.kept_jar = in.backup = in.backup_sha256 = NULL;
        assert_int_equal(last_upgrade_write(dir, &in), 0);
        assert_int_equal(last_upgrade_read(dir, &out), 0);
        assert_string_equal(out.kept_jar, "");
        assert_string_equal(out.backup, "");
        assert_string_equal(out.backup_sha256, "");
        last_upgrade_done(&out);

        /* a committed rollback removes it: nothing to roll back to any more */
        assert_int_equal(last_upgrade_remove(dir), 0);
        assert_int_equal(last_upgrade_read(dir, &out), -ENOENT);
        assert_int_equal(last_upgrade_remove(dir), -ENOENT);
}

static void test_missing_and_damaged(void **state) {
        _cleanup_free_ char *dir = state_dir("damaged");
        LastUpgrade out = {};

        assert_int_equal(last_upgrade_read(dir, &out), -ENOENT);
        write_raw(dir, "{\"from\":\"v0.55.1\",\"to\":");
        assert_int_equal(last_upgrade_read(dir, &out), -EBADMSG);
        write_raw(dir, "{\"from\":\"v0.55.1\"}");
        assert_int_equal(last_upgrade_read(dir, &out), -EBADMSG);
        write_raw(dir, "{\"from\":\"v0.55.1\",\"to\":\"../../etc\"}");
        assert_int_equal(last_upgrade_read(dir, &out), -EBADMSG);
        assert_null(out.from);
        /* written by an older mbupgraded without an id: still a record */
        write_raw(dir, "{\"from\":\"v0.55.1\",\"to\":\"v0.56.2\",\"backup\":\"/b\"}");
        assert_int_equal(last_upgrade_read(dir, &out), 0);
        assert_int_equal(out.id, 0);
        assert_string_equal(out.backup, "/b");
        assert_string_equal(out.kept_jar, "");
        last_upgrade_done(&out);
}

/* A rollback past settle says what it throws away; within settle, or without a backup, it does not ask. */
static void test_rollback_loses_data(void **state) {
        LastUpgrade u = {
                .from = (char *) "v0.55.1",
                .to = (char *) "v0.56.2",
                .backup = (char *) "/var/lib/mbupgraded/backups/x/metabase.db.mv.db",
                .backup_usec = 1000 * USEC_PER_SEC,
                .committed_usec = 1100 * USEC_PER_SEC,
        };
        _cleanup_free_ char *why = NULL;
        const uint64_t settle = 60 * USEC_PER_SEC;

        assert_int_equal(last_upgrade_rollback_loses_data(&u, settle, 1150 * USEC_PER_SEC, &why), 0);
        assert_null(why);
        assert_int_equal(
                last_upgrade_rollback_loses_data(&u, settle, (1000 + 3 * 86400) * USEC_PER_SEC, &why), 1);
        assert_non_null(strstr(why, "backup taken on "));
        assert_non_null(strstr(why, "3 days ago"));
        assert_non_null(strstr(why, "everything written to the application database since"));
        assert_non_null(strstr(why, "--yes"));
        why = mfree_str(why);
        /* an older daemon's record: when is unknown, so it asks */
        u.backup_usec = u.committed_usec = 0;
        assert_int_equal(last_upgrade_rollback_loses_data(&u, settle, 1150 * USEC_PER_SEC, &why), 1);
        assert_non_null(strstr(why, "at a time this record does not keep"));
        why = mfree_str(why);
        u.backup = (char *) "";
        assert_int_equal(last_upgrade_rollback_loses_data(&u, settle, 1150 * USEC_PER_SEC, &why), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_missing_and_damaged),
                cmocka_unit_test(test_rollback_loses_data),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
