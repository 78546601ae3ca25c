/* SPDX-License-Identifier: MIT */
/* state_dir/history.jsonl through its one owner: appends in order, the newest whole lines, the
 * queries metrics and releases ask, an entry an operation resumed after a crash must not write
 * twice, a missing file, and a line torn by a crash in the middle of an append. */
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
#include "history.h"
#include "strv.h"
#include "tmpdir.h"

#define E1 \
        "{\"id\":1,\"kind\":\"upgrade\",\"result\":\"committed\",\"from\":\"v0.55.1\",\"to\":\"v0.56.1\",\"started_usec\":1000000,\"finished_usec\":91000000,\"downtime_ms\":4200}"
#define E2 \
        "{\"id\":2,\"kind\":\"upgrade\",\"result\":\"canceled\",\"from\":\"v0.56.1\",\"to\":\"v0.56.2\",\"started_usec\":100000000,\"finished_usec\":400000000}"
#define E3 \
        "{\"id\":3,\"kind\":\"rehearsal\",\"result\":\"passed\",\"from\":\"v0.56.1\",\"to\":\"v0.56.2\",\"started_usec\":500000000,\"finished_usec\":900000000}"
#define E4 \
        "{\"id\":4,\"kind\":\"rollback\",\"result\":\"rolled-back\",\"from\":\"v0.56.2\",\"to\":\"v0.56.1\",\"started_usec\":1000000000,\"finished_usec\":1030000000,\"downtime_ms\":1500}"

/* A state directory of its own for each test. */
static char *state_dir(const char *name) {
        char *d = path_join(tmpdir, name);
        assert_non_null(d);
        assert_int_equal(mkdir(d, 0700), 0);
        return d;
}

static char *file_text(const char *dir) {
        _cleanup_free_ char *path = path_join(dir, "history.jsonl");
        char *text = NULL;
        assert_int_equal(read_full_file(path, 1024 * 1024, &text, NULL), 0);
        return text;
}

static void write_raw(const char *dir, const char *text) {
        _cleanup_free_ char *path = path_join(dir, "history.jsonl");
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static bool any_upgrade(const char *kind, const char *result) {
        return (streq(kind, "upgrade") || streq(kind, "rollback")) && !streq(result, "canceled");
}

static bool finished_upgrade(const char *kind, const char *result) {
        return streq(kind, "upgrade") && (streq(result, "committed") || streq(result, "rolled-back"));
}

static bool any(const char *kind, const char *result) {
        return true;
}

static void test_missing_file(void **state) {
        _cleanup_free_ char *dir = state_dir("missing"), *text = NULL, *after = NULL, *path = NULL;
        HistoryEntry e = {};
        struct stat st;

        assert_int_equal(history_read_tail(dir, 4096, &text), 0);
        assert_string_equal(text, "");
        assert_int_equal(history_find_last(dir, any, &e), 0);
        assert_null(e.kind);
        assert_int_equal(history_longest_usec(dir, any), 0);

        /* the first append creates it, with one line */
        assert_int_equal(history_append(dir, E1), 0);
        after = file_text(dir);
        assert_string_equal(after, E1 "\n");
        path = path_join(dir, "history.jsonl");
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));

        /* a directory that is not there is an error, not an empty history */
        _cleanup_free_ char *gone = path_join(tmpdir, "no-such-dir");
        assert_int_equal(history_append(gone, E1), -ENOENT);
}

static void test_append_and_tail(void **state) {
        _cleanup_free_ char *dir = state_dir("tail"), *all = NULL, *tail = NULL, *whole = NULL;

        assert_int_equal(history_append(dir, E1), 0);
        assert_int_equal(history_append(dir, E2), 0);
        assert_int_equal(history_append(dir, E3), 0);
        whole = file_text(dir);
        assert_string_equal(whole, E1 "\n" E2 "\n" E3 "\n");

        assert_int_equal(history_read_tail(dir, 1024 * 1024, &all), 0);
        assert_string_equal(all, whole);
        /* room for the last line and a piece of the one before: only whole lines come back */
        assert_int_equal(history_read_tail(dir, strlen(E3) + 10, &tail), 0);
        assert_string_equal(tail, E3 "\n");
}

static void test_queries(void **state) {
        _cleanup_free_ char *dir = state_dir("queries");
        HistoryEntry e = {};

        write_raw(dir, E1 "\nnot json at all\n[1,2]\n" E2 "\n" E3 "\n");
        /* the canceled upgrade and the rehearsal are newer, but they don't count */
        assert_int_equal(history_find_last(dir, any_upgrade, &e), 1);
        assert_string_equal(e.kind, "upgrade");
        assert_string_equal(e.result, "committed");
        assert_string_equal(e.from, "v0.55.1");
        assert_string_equal(e.to, "v0.56.1");
        assert_int_equal(e.started_usec, 1000000);
        assert_int_equal(e.finished_usec, 91000000);
        assert_int_equal(e.downtime_usec, 4200000);
        history_entry_done(&e);
        assert_null(e.kind);

        assert_int_equal(history_longest_usec(dir, finished_upgrade), 90000000);
        assert_int_equal(history_longest_usec(dir, any), 400000000); /* the rehearsal's */

        assert_int_equal(history_append(dir, E4), 0);
        assert_int_equal(history_find_last(dir, any_upgrade, &e), 1);
        assert_string_equal(e.kind, "rollback");
        assert_string_equal(e.to, "v0.56.1");
        assert_int_equal(e.downtime_usec, 1500000);
        history_entry_done(&e);
        /* a rolled-back rollback is no upgrade: the longest upgrade stays the first */
        assert_int_equal(history_longest_usec(dir, finished_upgrade), 90000000);
}

static void test_append_once(void **state) {
        _cleanup_free_ char *dir = state_dir("once"), *text = NULL;
        const char *same_id_other_kind =
                "{\"id\":1,\"kind\":\"rehearsal\",\"result\":\"passed\",\"from\":\"v0.55.1\",\"to\":\"v0.56.1\"}";

        assert_int_equal(history_append(dir, E1), 0);
        assert_int_equal(history_append(dir, E2), 0);
        /* resumed after a crash between the append and the journal's removal: not twice */
        assert_int_equal(history_append_once(dir, E1), 0);
        assert_int_equal(history_append_once(dir, same_id_other_kind), 0);
        text = file_text(dir);
        assert_string_equal(
                text,
                E1
                "\n" E2 "\n"
                "{\"id\":1,\"kind\":\"rehearsal\",\"result\":\"passed\",\"from\":\"v0.55.1\",\"to\":\"v0.56.1\"}\n");
        assert_int_equal(history_append_once(dir, "{\"id\":"), -EINVAL);
}

static void test_torn_last_line(void **state) {
        _cleanup_free_ char *dir = state_dir("torn"), *tail = NULL, *text = NULL;
        _cleanup_free_ char *dir2 = state_dir("torn-after-brace"), *text2 = NULL;
        HistoryEntry e = {};

        /* a crash in the middle of the append of entry 4: its line has no end */
        write_raw(dir, E1 "\n" E3 "\n{\"id\":4,\"kind\":\"rollback\",\"result\":\"rolled-b");
        assert_int_equal(history_find_last(dir, any_upgrade, &e), 1);
        assert_string_equal(e.kind, "upgrade"); /* entry 1: the torn one is skipped */
        history_entry_done(&e);
        assert_int_equal(history_longest_usec(dir, finished_upgrade), 90000000);
        assert_int_equal(history_read_tail(dir, 4096, &tail), 0);
        assert_true(strstr(tail, E3 "\n") != NULL);

        /* the resumed rollback writes its entry: the torn piece does not count as it, and the new
         * line is not glued to the piece */
        assert_int_equal(history_append_once(dir, E4), 0);
        text = file_text(dir);
        assert_string_equal(
                text, E1 "\n" E3 "\n{\"id\":4,\"kind\":\"rollback\",\"result\":\"rolled-b\n" E4 "\n");
        assert_int_equal(history_find_last(dir, any_upgrade, &e), 1);
        assert_string_equal(e.kind, "rollback");
        assert_string_equal(e.result, "rolled-back");
        history_entry_done(&e);

        /* torn right after the closing brace: the entry is whole and counts; the next starts on a
         * line of its own */
        write_raw(dir2, E1 "\n" E4);
        assert_int_equal(history_append_once(dir2, E4), 0);
        assert_int_equal(history_append(dir2, E2), 0);
        text2 = file_text(dir2);
        assert_string_equal(text2, E1 "\n" E4 "\n" E2 "\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_append_and_tail),
                cmocka_unit_test(test_queries),
                cmocka_unit_test(test_append_once),
                cmocka_unit_test(test_torn_last_line),
        };
        return cmocka_run_group_tests(tests, tmpdir_setup, tmpdir_teardown);
}
