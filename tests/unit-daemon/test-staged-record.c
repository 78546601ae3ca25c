/* SPDX-License-Identifier: MIT */
/* verified.json through its one owner: what staging records is what a later start and pre-flight
 * read back (field by field, the optional ones absent as NULL); none and a damaged one are told
 * apart; a record from a laxer past reads as unchecked, never as checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "staged-record.h"
#include "strv.h"
#include "tmpdir.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char *stage_dir(const char *name) {
        char *d = path_join(tmpdir, name);
        assert_non_null(d);
        assert_int_equal(mkdir(d, 0755), 0);
        return d;
}

static void write_raw(const char *dir, const char *text) {
        _cleanup_free_ char *path = path_join(dir, "verified.json");
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void test_round_trip(void **state) {
        _cleanup_free_ char *dir = stage_dir("v0.56.2"), *path = NULL;
        StagedRecord in = {
                .version = (char *) "v0.56.2",
                .sha256 = (char *) SHA_A,
                .size = 482345678,
                .java_needed = 21,
                .class_major = 65,
                .main_class_major = 49,
                .classes = 61234,
                .newest_class = (char *) "metabase/core$main.class",
                .checksum = true,
                .checksum_sha256 = (char *) SHA_A,
                .signature = true,
                .signing_key_sha256 = (char *) SHA_B,
                .verified_usec = 1795668123307000,
        };
        StagedRecord out = {};
        struct stat st;

        assert_int_equal(staged_record_write(dir, &in), 0);
        path = path_join(dir, "verified.json");
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644); /* a rehearsal reads the stage as the unit's user */
        assert_int_equal(staged_record_read(dir, &out), 0);
        assert_string_equal(out.version, "v0.56.2");
        assert_string_equal(out.sha256, SHA_A);
        assert_int_equal(out.size, 482345678);
        assert_int_equal(out.java_needed, 21);
        assert_int_equal(out.class_major, 65);
        assert_int_equal(out.main_class_major, 49);
        assert_int_equal(out.classes, 61234);
        assert_string_equal(out.newest_class, "metabase/core$main.class");
        assert_true(out.checksum);
        assert_string_equal(out.checksum_sha256, SHA_A);
        assert_true(out.signature);
        assert_string_equal(out.signing_key_sha256, SHA_B);
        assert_int_equal(out.verified_usec, 1795668123307000);
        staged_record_done(&out);

        /* no checksum published, no signature: absent, not "" */
        in.checksum = in.signature = false;
        in.checksum_sha256 = in.signing_key_sha256 = in.newest_class = NULL;
        assert_int_equal(staged_record_write(dir, &in), 0);
        assert_int_equal(staged_record_read(dir, &out), 0);
        assert_false(out.checksum);
        assert_null(out.checksum_sha256);
        assert_false(out.signature);
        assert_null(out.signing_key_sha256);
        assert_null(out.newest_class);
        staged_record_done(&out);

        assert_int_equal(staged_record_remove(dir), 0);
        assert_int_equal(staged_record_read(dir, &out), -ENOENT);
        assert_int_equal(staged_record_remove(dir), -ENOENT);
}

static void test_missing_and_damaged(void **state) {
        _cleanup_free_ char *dir = stage_dir("damaged");
        StagedRecord out = {};

        assert_int_equal(staged_record_read(dir, &out), -ENOENT);
        write_raw(dir, "{\"version\":\"v0.56.2\",\"sha256\":");
        assert_int_equal(staged_record_read(dir, &out), -EBADMSG);
        write_raw(dir, "[1,2,3]");
        assert_int_equal(staged_record_read(dir, &out), -EBADMSG);

        /* an older record, before checksums and signatures were recorded: reads as unchecked, and
         * a negative class version is no Java at all */
        write_raw(dir, "{\"version\":\"v0.56.2\",\"size\":12,\"class_major\":-1}");
        assert_int_equal(staged_record_read(dir, &out), 0);
        assert_string_equal(out.version, "v0.56.2");
        assert_string_equal(out.sha256, "");
        assert_int_equal(out.size, 12);
        assert_int_equal(out.class_major, 0);
        assert_false(out.checksum);
        assert_false(out.signature);
        assert_null(out.signing_key_sha256);
        staged_record_done(&out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_missing_and_damaged),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
